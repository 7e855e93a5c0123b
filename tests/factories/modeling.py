"""Model registry rows and real (tiny) model artifacts for tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from customers.models import Product
from modeling.models import ModelStatus, ModelVersion


def _curves(shift: float) -> dict[str, Any]:
    return {
        "roc": {"fpr": [0.0, 0.1, 0.3, 1.0], "tpr": [0.0, 0.45 - shift, 0.75 - shift, 1.0]},
        "gains": {"x": [0.0, 0.1, 0.5, 1.0], "y": [0.0, 0.31 - shift, 0.82 - shift, 1.0]},
        "calibration": {"predicted": [0.01, 0.05, 0.2], "observed": [0.012, 0.047, 0.21]},
    }


# The layout modeling.training stores on a ModelVersion.
METRICS: dict[str, Any] = {
    "test": {"roc_auc": 0.81, "pr_auc": 0.22, "alift": 0.74, "top_decile_lift": 3.1, "brier": 0.051},
    "baselines": {
        "logistic": {"roc_auc": 0.77, "pr_auc": 0.18, "alift": 0.71, "top_decile_lift": 2.6, "brier": 0.053},
        "popularity": {"roc_auc": 0.62, "pr_auc": 0.08, "alift": 0.6, "top_decile_lift": 1.4, "brier": 0.06},
    },
    "curves": {"model": _curves(0.0), "logistic": _curves(0.05), "popularity": _curves(0.15)},
    "feature_importance": [
        {"feature": "views_30d_mortgage", "gain": 120.5},
        {"feature": "age", "gain": 80.0},
        {"feature": "avg_balance_3m", "gain": 42.0},
    ],
    "segments": {"behavioural": {"behavioural_1": {"rows": 500, "positives": 20, "auc": 0.79}}},
    "counts": {"train_rows": 9000, "train_positives": 180, "test_rows": 1900, "test_positives": 41},
}


def feature_frame(n: int = 400, seed: int = 7) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """A small frame of catalogue features whose label depends on two of them, over two periods."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n).astype("float64"),
            "tenure_months": rng.integers(0, 240, n).astype("float64"),
            "products_held": rng.integers(0, 6, n).astype("float64"),
            "logins_30d": rng.poisson(4, n).astype("float64"),
            "employment_type": rng.choice(["employed", "retired", "student", "unknown"], n).astype(object),
        },
        index=pd.Index(np.arange(1, n + 1), dtype="int64", name="customer_id"),
    )
    logit = -2.0 + 0.08 * frame["logins_30d"] - 0.03 * (frame["age"] - 45).abs() + rng.normal(0, 0.5, n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    periods = np.where(np.arange(n) < n * 0.7, "2026-01-01", "2026-02-01")
    return frame, labels, periods


def model_version_create(
    *, product: Product, version: int = 1, status: str = ModelStatus.CANDIDATE, trained_by=None, **fields: Any
) -> ModelVersion:
    """A registry row without an artifact (enough for pages and state rules)."""
    defaults: dict[str, Any] = {
        "artifact_path": f"models/{product.code}/v{version}",
        "artifact_sha256": "0" * 64,
        "format_version": 1,
        "data_fingerprint": "f" * 64,
        "features": ["age", "tenure_months"],
        "params": {"num_leaves": 15},
        "library_versions": {"lightgbm": "4.7.0"},
        "metrics": METRICS,
        "cutoffs": {"train": ["2026-01-01"], "test": "2026-02-01", "horizon_days": 90},
        "seed": 42,
    }
    defaults.update(fields)
    return ModelVersion.objects.create(
        product=product, version=version, status=status, trained_by=trained_by, **defaults
    )


def trained_model_version(
    *, product: Product, model_dir, version: int = 1, status: str = ModelStatus.CANDIDATE, trained_by=None
) -> ModelVersion:
    """A registry row with a real artifact under ``model_dir`` (settings.MODEL_DIR)."""
    from modeling.propensity import model_save, propensity_fit

    frame, labels, periods = feature_frame(seed=version)
    fitted = propensity_fit(frame=frame, labels=labels, periods=periods, product_code=product.code, seed=42)
    relative = f"models/{product.code}/v{version}"
    directory, sha = model_save(fitted=fitted, directory=model_dir / relative, manifest_extra={})
    return model_version_create(
        product=product,
        version=version,
        status=status,
        trained_by=trained_by,
        artifact_path=relative,
        artifact_sha256=sha,
        features=list(fitted.model.features),
        activated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC) if status == ModelStatus.RETIRED else None,
    )
