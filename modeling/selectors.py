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


def model_version_report(version: ModelVersion) -> dict[str, Any]:
    """The figures the model page shows, in one shape whatever the metrics layout:
    a metrics table (model and baselines side by side), chart series and the
    feature importance, with catalogue descriptions."""
    metrics = version.metrics if isinstance(version.metrics, dict) else {}
    model = metrics.get("model") or {}
    baselines = metrics.get("baselines") or {}
    columns = [("model", "This model", model)] + [
        (name, name.replace("_", " ").capitalize(), values) for name, values in baselines.items()
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
    importance = [
        {"feature": name, "label": _feature_label(name), "gain": float(gain)}
        for name, gain in (metrics.get("feature_importance") or [])[:20]
    ]
    return {
        "columns": [label for _, label, _ in columns],
        "table": table,
        "charts": {
            "roc": curves.get("roc") or [],
            "gains": curves.get("gains") or [],
            "calibration": curves.get("calibration") or [],
            "importance": importance,
        },
        "segments": metrics.get("segment_auc") or {},
        "counts": [(k.replace("_", " ").capitalize(), v) for k, v in (metrics.get("counts") or {}).items()],
        "importance": importance,
        "importance_height": 60 + 24 * len(importance),
    }
