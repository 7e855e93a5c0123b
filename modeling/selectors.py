"""Reads of the model registry for the UI and APIs, each with its own joins."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet

from customers.models import Product
from modeling.feature_catalogue import feature_get
from modeling.models import ModelStatus, ModelVersion, ScoringRun

METRIC_LABELS = {
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "alift": "ALIFT",
    "top_decile_lift": "Lift, top decile",
    "brier": "Brier score",
}
# Higher is better for all but the Brier score.
LOWER_IS_BETTER = frozenset({"brier"})


@dataclass
class ProductModels:
    product: Product
    active: ModelVersion | None = None
    latest: ModelVersion | None = None
    versions: list[ModelVersion] = field(default_factory=list)


def model_versions_by_product(*, per_product: int = 5) -> list[ProductModels]:
    """Every product with its active version and its latest versions, newest first."""
    rows: dict[int, ProductModels] = {
        p.pk: ProductModels(product=p) for p in Product.objects.order_by("code") if p.retired_on is None
    }
    for version in ModelVersion.objects.select_related("product", "trained_by", "approved_by").order_by(
        "product__code", "-version"
    ):
        entry = rows.setdefault(version.product_id, ProductModels(product=version.product))
        if version.status == ModelStatus.ACTIVE:
            entry.active = version
        if entry.latest is None:
            entry.latest = version
        if len(entry.versions) < per_product:
            entry.versions.append(version)
    return list(rows.values())


def model_version_get(*, public_id: str) -> ModelVersion | None:
    try:
        return ModelVersion.objects.select_related("product", "trained_by", "approved_by").get(public_id=public_id)
    except (ModelVersion.DoesNotExist, ValueError):
        return None


def model_version_history(*, version: ModelVersion) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(product=version.product).select_related("trained_by", "approved_by")


def scoring_run_list(*, limit: int = 10) -> list[ScoringRun]:
    return list(ScoringRun.objects.select_related("snapshot", "requested_by").order_by("-created_at")[:limit])


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _feature_label(name: str) -> str:
    try:
        return feature_get(name).description
    except KeyError:
        return name


def _pairs(curve: Any, x: str, y: str) -> list[list[float]]:
    if not isinstance(curve, dict):
        return []
    return [[float(a), float(b)] for a, b in zip(curve.get(x) or [], curve.get(y) or [], strict=False)]


BASELINE_LABELS = {"logistic": "Logistic regression", "popularity": "Popularity"}


def model_headline(version: ModelVersion) -> dict[str, float | None]:
    """Test ROC AUC of a version and of its logistic-regression baseline, for lists."""
    metrics = version.metrics if isinstance(version.metrics, dict) else {}
    return {
        "auc": _number((metrics.get("test") or {}).get("roc_auc")),
        "baseline_auc": _number(((metrics.get("baselines") or {}).get("logistic") or {}).get("roc_auc")),
    }


def model_version_report(version: ModelVersion) -> dict[str, Any]:
    """The figures the model page shows: a metrics table (model and baselines side by
    side), chart series (model and baselines), feature importance with catalogue
    descriptions, AUC per segment and the row counts."""
    metrics = version.metrics if isinstance(version.metrics, dict) else {}
    baselines = metrics.get("baselines") or {}
    columns = [("model", "This model", metrics.get("test") or {})] + [
        (name, BASELINE_LABELS.get(name, name.replace("_", " ").capitalize()), values)
        for name, values in baselines.items()
    ]
    table = []
    for key, label in METRIC_LABELS.items():
        values = [_number(values.get(key)) for _, _, values in columns]
        if all(v is None for v in values):
            continue
        mine, others = values[0], [v for v in values[1:] if v is not None]
        better = None
        if mine is not None and others:
            better = mine < min(others) if key in LOWER_IS_BETTER else mine > max(others)
        table.append({"key": key, "label": label, "values": values, "better": better})
    curves = metrics.get("curves") or {}
    series: dict[str, list[dict[str, Any]]] = {"roc": [], "gains": [], "calibration": []}
    for name, label, _ in columns:
        curve = curves.get(name) or {}
        series["roc"].append({"label": label, "points": _pairs(curve.get("roc"), "fpr", "tpr")})
        series["gains"].append({"label": label, "points": _pairs(curve.get("gains"), "x", "y")})
        if name == "model":
            series["calibration"].append(
                {"label": label, "points": _pairs(curve.get("calibration"), "predicted", "observed")}
            )
    importance = [
        {"feature": item["feature"], "label": _feature_label(item["feature"]), "gain": float(item["gain"])}
        for item in (metrics.get("feature_importance") or [])[:20]
        if isinstance(item, dict)
    ]
    segments = []
    for segmentation, groups in (metrics.get("segments") or {}).items():
        for segment, figures in (groups or {}).items():
            segments.append(
                {
                    "segmentation": segmentation,
                    "segment": segment,
                    "rows": figures.get("rows"),
                    "positives": figures.get("positives"),
                    "auc": _number(figures.get("auc")),
                }
            )
    counts = metrics.get("counts") or {}
    return {
        "columns": [label for _, label, _ in columns],
        "table": table,
        "charts": {**series, "importance": importance},
        "segments": segments,
        "counts": [(str(k).replace("_", " ").capitalize(), v) for k, v in counts.items() if _number(v) is not None],
        "importance": importance,
        "importance_height": 60 + 24 * len(importance),
    }
