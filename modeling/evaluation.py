"""Metrics of a propensity model on a test set, and the baselines it must beat.

Scores are ranked highest first. Tied scores are handled as their expected
value under a random order within the tie (as ROC AUC does), so a baseline with
few distinct values is neither flattered nor punished by how ties happen to sort.

- ``roc_auc``: area under the ROC curve (scikit-learn), with its standard
  error (Hanley and McNeil, 1982) as ``roc_auc_se``: a few dozen test positives
  leave AUCs uncertain by several hundredths.
- ``pr_auc``: average precision (scikit-learn), the area under the
  precision-recall curve as a step function.
- ``alift``: area under the cumulative gains curve, as in Moro, Cortez and Rita
  (2014): customers sorted by score, x = fraction of customers contacted, y =
  fraction of all positives captured, both from 0 to 1, the curve linear between
  the ends of tied blocks. A random order scores 0.5 and a perfect one
  1 - p/2, where p is the positive rate; exactly, ALIFT = p/2 + (1 - p) * AUC.
- ``top_decile_lift``: the gains curve at x = 0.1 divided by 0.1, i.e. the
  positive rate among the top 10 % over the overall rate.
- ``brier``: mean squared error of the probabilities (only meaningful for
  calibrated probabilities, which the model's and the baselines' are).
- Curves for the UI, downsampled to about ``CURVE_POINTS`` points: ROC (actual
  vertices), gains (at evenly spaced x) and calibration (scikit-learn's
  ``calibration_curve`` over quantile bins).

Baselines, fitted on the same training rows in the same run:

- ``logistic``: scikit-learn logistic regression on the same features: numbers
  imputed with the median, put through sign(x) * log(1 + |x|) (balances and
  amounts are heavy-tailed) and standardised; categories one-hot encoded;
  L2-regularised with C chosen among a few values by cross-validated AUC on the
  training rows (3 stratified folds of customers, so no customer is on both
  sides); seeded.
- ``popularity``: the product's training take-up rate by number of products
  held (0, 1, ..., 5 or more), shrunk towards the overall rate with the weight of
  ``POPULARITY_PRIOR_ROWS`` rows. A single overall rate would rank nobody (AUC
  0.5); by products held it is the "customers like you took it" rule of thumb
  a bank uses without a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from modeling.feature_catalogue import Kind, feature_get

CURVE_POINTS = 50
CALIBRATION_BINS = 10
POPULARITY_PRIOR_ROWS = 50.0
POPULARITY_MAX_HELD = 5
LOGISTIC_CS = (0.0003, 0.001, 0.003, 0.01, 0.1, 1.0)


def _arrays(
    labels: Sequence[float] | np.ndarray, scores: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels and scores must be 1-d and of one length, got {y.shape} and {s.shape}")
    return y, s


def _both_classes(y: np.ndarray) -> bool:
    return 0 < y.sum() < len(y)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC, or None when the labels hold one class only."""
    y, s = _arrays(labels, scores)
    return float(roc_auc_score(y, s)) if _both_classes(y) else None


def roc_auc_se(auc: float | None, positives: int, negatives: int) -> float | None:
    """Standard error of a ROC AUC (Hanley and McNeil, 1982): how far apart two
    AUCs on the same small test set must be before the gap means anything."""
    if auc is None or positives < 1 or negatives < 1:
        return None
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)) / (
        positives * negatives
    )
    return float(np.sqrt(max(variance, 0.0)))


def pr_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    y, s = _arrays(labels, scores)
    return float(average_precision_score(y, s)) if _both_classes(y) else None


def brier(labels: np.ndarray, probabilities: np.ndarray) -> float:
    y, p = _arrays(labels, probabilities)
    return float(brier_score_loss(y, p))


def _gains_vertices(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The gains curve's vertices: the end of each block of tied scores, highest first."""
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    ends = np.r_[np.nonzero(np.diff(s_sorted))[0], len(s) - 1]
    x = np.r_[0.0, (ends + 1) / len(s)]
    captured = np.r_[0.0, np.cumsum(y_sorted)[ends] / y.sum()]
    return x, captured


def gains_at(labels: np.ndarray, scores: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Share of all positives captured when contacting the top ``fractions`` of customers."""
    y, s = _arrays(labels, scores)
    if y.sum() == 0:
        return np.zeros_like(np.asarray(fractions, dtype=float))
    x, captured = _gains_vertices(y, s)
    return np.interp(fractions, x, captured)


def alift(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the cumulative gains curve (see the module docstring)."""
    y, s = _arrays(labels, scores)
    if not _both_classes(y):
        return None
    x, captured = _gains_vertices(y, s)
    return float(np.sum(np.diff(x) * (captured[1:] + captured[:-1]) / 2))


def top_decile_lift(labels: np.ndarray, scores: np.ndarray) -> float | None:
    y, s = _arrays(labels, scores)
    if not _both_classes(y):
        return None
    return float(gains_at(y, s, np.array([0.1]))[0] / 0.1)


def gains_curve(labels: np.ndarray, scores: np.ndarray, points: int = CURVE_POINTS) -> dict[str, list[float]]:
    """The gains curve at ``points + 1`` evenly spaced contact fractions, for charts."""
    x = np.linspace(0.0, 1.0, points + 1)
    return {"x": _rounded(x), "y": _rounded(gains_at(labels, scores, x))}


def roc_points(labels: np.ndarray, scores: np.ndarray, points: int = CURVE_POINTS) -> dict[str, list[float]]:
    """ROC curve vertices, at most about ``points`` of them, always with both ends."""
    y, s = _arrays(labels, scores)
    if not _both_classes(y):
        return {"fpr": [], "tpr": []}
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=True)
    if len(fpr) > points:
        keep = np.unique(np.linspace(0, len(fpr) - 1, points).round().astype(int))
        fpr, tpr = fpr[keep], tpr[keep]
    return {"fpr": _rounded(fpr), "tpr": _rounded(tpr)}


def calibration_points(
    labels: np.ndarray, probabilities: np.ndarray, bins: int = CALIBRATION_BINS
) -> dict[str, list[float]]:
    """Mean predicted against observed take-up over quantile bins of the prediction."""
    y, p = _arrays(labels, probabilities)
    if len(y) == 0:
        return {"predicted": [], "observed": []}
    observed, predicted = calibration_curve(y, p, n_bins=bins, strategy="quantile")
    return {"predicted": _rounded(predicted), "observed": _rounded(observed)}


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in values]


def segment_aucs(labels: np.ndarray, scores: np.ndarray, segments: Sequence[str] | np.ndarray) -> dict[str, dict]:
    """ROC AUC per segment, for segments with both classes; others are left out."""
    y, s = _arrays(labels, scores)
    segments = np.asarray(segments, dtype=object)
    if segments.shape != y.shape:
        raise ValueError("one segment per row is needed")
    out: dict[str, dict] = {}
    for segment in sorted({str(v) for v in segments}):
        rows = segments.astype(str) == segment
        if not _both_classes(y[rows]):
            continue
        out[segment] = {
            "auc": round(float(roc_auc_score(y[rows], s[rows])), 6),
            "rows": int(rows.sum()),
            "positives": int(y[rows].sum()),
        }
    return out


def scores_evaluate(labels: np.ndarray, scores: np.ndarray, *, probabilities: bool = True) -> dict[str, Any]:
    """Every scalar metric of one set of scores; ``brier`` only when they are probabilities."""
    y, s = _arrays(labels, scores)
    auc = roc_auc(y, s)
    out: dict[str, Any] = {
        "roc_auc": auc,
        "roc_auc_se": roc_auc_se(auc, int(y.sum()), int(len(y) - y.sum())),
        "pr_auc": pr_auc(y, s),
        "alift": alift(y, s),
        "top_decile_lift": top_decile_lift(y, s),
    }
    if probabilities:
        out["brier"] = brier(y, s)
        out["mean_prediction"] = float(s.mean()) if len(s) else None
    return out


def curves(labels: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    return {
        "roc": roc_points(labels, scores),
        "gains": gains_curve(labels, scores),
        "calibration": calibration_points(labels, scores),
    }


# --- Baselines ------------------------------------------------------------------------------------------------------


def _signed_log1p(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def _logistic_inputs(frame: pd.DataFrame, features: Sequence[str]) -> tuple[pd.DataFrame, list[str], list[str]]:
    numeric = [f for f in features if feature_get(f).kind is not Kind.CATEGORICAL]
    categorical = [f for f in features if feature_get(f).kind is Kind.CATEGORICAL]
    data = frame[list(features)].copy()
    for name in numeric:
        data[name] = data[name].astype("float64")
    for name in categorical:
        data[name] = data[name].astype(object).where(data[name].notna(), "unknown").astype(str)
    return data, numeric, categorical


def baseline_logistic(
    *,
    train: pd.DataFrame,
    train_labels: np.ndarray,
    test: pd.DataFrame,
    features: Sequence[str],
    seed: int,
) -> np.ndarray:
    """Test-set probabilities of the logistic-regression baseline (see the module docstring)."""
    x_train, numeric, categorical = _logistic_inputs(train, features)
    x_test, _, _ = _logistic_inputs(test, features)
    y = np.asarray(train_labels, dtype=int)
    transformers = []
    if numeric:
        transformers.append(
            (
                "numeric",
                make_pipeline(
                    SimpleImputer(strategy="median", keep_empty_features=True),
                    FunctionTransformer(_signed_log1p),
                    StandardScaler(),
                ),
                numeric,
            )
        )
    if categorical:
        transformers.append(("categorical", OneHotEncoder(handle_unknown="ignore"), categorical))
    # Folds by customer: stacked cut-offs repeat customers, and a fold that has seen
    # a customer flatters the weakly regularised fits.
    groups = train.index.to_numpy()
    folds = list(StratifiedGroupKFold(n_splits=3, shuffle=True, random_state=seed).split(x_train, y, groups))
    model = Pipeline(
        [
            ("prepare", ColumnTransformer(transformers)),
            (
                "logistic",
                LogisticRegressionCV(
                    Cs=list(LOGISTIC_CS),
                    l1_ratios=(0.0,),
                    cv=folds,
                    scoring="roc_auc",
                    solver="newton-cholesky",
                    max_iter=1000,
                    random_state=seed,
                    use_legacy_attributes=False,
                ),
            ),
        ]
    )
    model.fit(x_train, y)
    return model.predict_proba(x_test)[:, 1]


def _held_bucket(frame: pd.DataFrame) -> np.ndarray:
    if "products_held" not in frame.columns:
        return np.zeros(len(frame), dtype=int)
    held = frame["products_held"].to_numpy(dtype=np.float64, na_value=0.0)
    return np.clip(np.nan_to_num(held), 0, POPULARITY_MAX_HELD).astype(int)


def baseline_popularity(*, train: pd.DataFrame, train_labels: np.ndarray, test: pd.DataFrame) -> np.ndarray:
    """Test-set probabilities of the popularity baseline: the smoothed training
    take-up rate of customers holding as many products (see the module docstring)."""
    y = np.asarray(train_labels, dtype=np.float64)
    overall = float(y.mean()) if len(y) else 0.0
    buckets = _held_bucket(train)
    rates = {}
    for bucket in range(POPULARITY_MAX_HELD + 1):
        rows = buckets == bucket
        rates[bucket] = (y[rows].sum() + POPULARITY_PRIOR_ROWS * overall) / (rows.sum() + POPULARITY_PRIOR_ROWS)
    return np.array([rates[b] for b in _held_bucket(test)], dtype=np.float64)
