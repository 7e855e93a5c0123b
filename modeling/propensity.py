"""Propensity models: the only module that trains, saves, loads and predicts LightGBM.

Nothing else knows the file format. The API, lowest level first:

``propensity_fit(*, frame, labels, periods, product_code, seed, params=None, features=None) -> FittedModel``
    Fits one binary LightGBM model on feature rows (catalogue columns, as
    ``compute_features`` returns them, indexed by customer id), 0/1 ``labels``
    and a sortable ``periods`` key per row (the cut-off date of the row's
    snapshot). Some rows are held out: the booster never trains on them, the
    calibrator is fitted on its predictions for them and, when they hold at least
    ``min_holdout_positives`` positives, early stopping picks the number of rounds
    on them (otherwise ``fixed_rounds`` are trained). Which rows:
    - customers repeated across periods (stacked cut-offs): a seeded ``HOLDOUT_SHARE``
      of the customers, with all their rows, stratified on ever taking the
      product up. A time slice would not do: the same take-up is a positive at
      several overlapping cut-offs, so a booster trained on older periods has
      seen the newest period's positives (see ``_holdout``);
    - one row per customer (e.g. contacts of a campaign file): the newest
      periods, newest first until they hold ``HOLDOUT_SHARE`` of the rows (the
      oldest always trains), or the customer split when they lack a class.
    ``FittedModel.holdout`` says which, ``FittedModel.rounds`` how the rounds were
    chosen. ``FittedModel.model`` is the ``LoadedModel`` exactly as ``model_load``
    would return it after saving (the booster is round-tripped through its text
    form), with ``model_version_id=None``. ``params`` override ``DEFAULT_PARAMS``
    and ``FIT_DEFAULTS``; ``fit_params(params, seed)`` shows the result.

With ``params={"refit": True}`` the rounds are chosen as above, then the shipped
booster is trained on every row and its calibrator fitted on out-of-fold
predictions (``calibration_folds`` boosters, whole customers per fold): for
drifting data whose newest rows matter most (bench/model_quality.py).

``model_save(*, fitted, directory, manifest_extra) -> (directory, manifest_sha256)``
    Writes the artifact directory (which must not exist) through a temporary
    sibling renamed into place: ``booster.txt`` (LightGBM text format),
    ``calibrator.json`` (thresholds as data) and ``manifest.json`` (format
    version, library versions, ordered features, kinds, categories, parameters,
    seed, training info, a sha256 per file, plus ``manifest_extra``: cut-offs,
    metrics...). The manifest holds no timestamp or path, so the same data and
    seed give byte-identical files and the same hash.

``model_load(*, path, expected_sha256, model_version_id=None) -> LoadedModel``
    Verifies the manifest's sha256, the format version, LightGBM's major.minor
    version and every listed file's sha256, then loads; otherwise raises
    ``ArtifactError`` saying why.

``LoadedModel``: ``matrix(frame)`` (float64 rows in ``features`` order; categories
as codes, a value outside the vocabulary as the code of ``unknown``; booleans
0/1; ``MissingFeatureError`` names absent columns; models with the same
``features`` and ``categories`` give the same matrix, so build it once per
customer, not once per model), ``vector(values)`` (the same single row from a
feature name -> value mapping, no frame: for stored online rows), ``predict_raw``,
``calibrate``, ``predict`` and ``contributions`` (SHAP values in log-odds, last
column the bias), all on one thread, for web workers (see STYLE.md section 12).

Calibration: Platt scaling (``sigmoid``, the default) fits a logistic regression
on the booster's log-odds for the held-out rows, so the calibrated probability
is a strictly increasing function of the raw one: the ranking, hence AUC and
lift, is exactly the booster's, and two parameters stay stable on the thin
held-out slices of small banks. It is stored as a dense grid of (raw,
calibrated) points and applied with ``numpy.interp``, which is linear between
grid points and so still strictly increasing. ``params={"calibration":
"isotonic"}`` stores scikit-learn's isotonic thresholds instead: better
calibrated with plenty of held-out positives, but its steps tie scores and
lower AUC.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import math
import operator
import os
import platform
import shutil
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import lightgbm.basic as _lgb_basic
import numpy as np
import pandas as pd
import sklearn
from django.conf import settings
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from modeling.feature_catalogue import UNKNOWN, Kind, Use, feature_get, model_feature_names

FORMAT_VERSION = 1
BOOSTER_FILE = "booster.txt"
CALIBRATOR_FILE = "calibrator.json"
MANIFEST_FILE = "manifest.json"
PREDICT_THREADS = 1  # OpenMP does not survive fork(); one thread is also fastest for a few rows
HOLDOUT_SHARE = 0.2
SIGMOID_GRID = np.linspace(-20.0, 20.0, 801)  # log-odds points of the stored Platt curve

# Parameters for small tabular data (a few thousand customers, tens to hundreds of
# positives), where a strongly regularised linear model is hard to beat: shallow
# trees on a random 30 % of the features, large leaves, L2 on leaf values, and
# extremely randomised split thresholds (``extra_trees``). Measured on the demo
# bank's 7 trainable products (time holdout, seed 42), mean test AUC: 0.651 with
# 15 leaves, 0.667 with 4 leaves, 0.684 with extra_trees too (logistic baseline 0.681).
DEFAULT_PARAMS: dict[str, Any] = {
    "learning_rate": 0.02,
    "num_leaves": 4,
    "max_depth": -1,
    "min_data_in_leaf": 50,
    "min_sum_hessian_in_leaf": 1.0,
    "extra_trees": True,
    "feature_fraction": 0.3,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 20.0,
    "max_bin": 63,
    "min_data_per_group": 50,
    "cat_smooth": 20.0,
    "max_cat_to_onehot": 8,
    "metric": "binary_logloss",
}
# Not LightGBM parameters: how propensity_fit runs. Early stopping picks the
# number of rounds on the held-out rows when they hold at least
# ``min_holdout_positives`` positives; with fewer, its pick is noise (on the demo
# bank it stopped after 3 rounds for one product and ran 1,500 for another), so
# ``fixed_rounds`` are trained instead and the held-out rows only calibrate.
# The round cap bounds batch scoring, whose cost grows with the trees: 10 products of
# 300 trees score about 8,000 customers/s here, of 2,000 trees about 1,100/s.
FIT_DEFAULTS: dict[str, Any] = {
    "num_boost_round": 500,
    "early_stopping_rounds": 100,
    "min_holdout_positives": 100,
    "fixed_rounds": 300,
    "calibration": "sigmoid",
    # refit: after the held-out slice has chosen the rounds, train the shipped booster
    # on every row with them, and fit its calibrator on out-of-fold predictions
    # (``calibration_folds`` boosters, each blind to its fold). Costs folds + 1 more
    # trainings; worth it when the newest rows matter most (drifting data, see
    # bench/model_quality.py), off by default.
    "refit": False,
    "calibration_folds": 3,
}
# Always set by propensity_fit, whatever the caller passes.
FIXED_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "deterministic": True,
    "force_col_wise": True,
    "verbosity": -1,
}


class ArtifactError(Exception):
    """A model artifact that cannot be used; the message says why."""


class MissingFeatureError(KeyError):
    """Feature columns a model needs are absent from the frame; ``missing`` names them."""

    def __init__(self, missing: Sequence[str], product_code: str = "") -> None:
        self.missing = tuple(missing)
        whose = f" of the {product_code} model" if product_code else ""
        super().__init__(f"missing feature column(s){whose}: {', '.join(self.missing)}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "lightgbm": lgb.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def json_safe(value: Any) -> Any:
    """``value`` with numpy scalars as Python ones and NaN/inf as None, so JSON is strict and stable."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        return float(value) if math.isfinite(value) else None
    return value


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(json_safe(value), sort_keys=True, indent=1, allow_nan=False) + "\n").encode()


# --- Encoding feature frames ----------------------------------------------------------------------------------------


class _Encoder:
    """Turns a feature frame into the model's float64 matrix, with the column plan worked out once."""

    SMALL = 64  # up to this many rows, one object-array pass beats selecting columns (real-time scoring)

    def __init__(self, features: tuple[str, ...], categories: Mapping[str, tuple[str, ...]]) -> None:
        self.features = features
        positions = {name: i for i, name in enumerate(features)}
        self.plain = [name for name in features if name not in categories]
        self.plain_idx = np.array([positions[name] for name in self.plain], dtype=np.intp)
        self.categorical = []
        for name, vocabulary in categories.items():
            codes = {value: float(code) for code, value in enumerate(vocabulary)}
            self.categorical.append((positions[name], name, codes, codes.get(UNKNOWN, np.nan)))
        self._layout: tuple[pd.Index, np.ndarray, np.ndarray, list[int]] | None = None
        # vector(): every feature's value in one C-level lookup (a 1-tuple needs its own getter).
        self._values_of: Callable[[Mapping[str, Any]], tuple[Any, ...]] = (
            operator.itemgetter(*features) if len(features) > 1 else lambda values: tuple(values[n] for n in features)
        )
        self._codes_at = [(position, codes, unknown) for position, _, codes, unknown in self.categorical]

    def _columns(self, columns: pd.Index, product_code: str) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """Positions in ``columns`` of the plain and categorical features, cached per column layout."""
        layout = self._layout
        if layout is not None and (layout[0] is columns or layout[0].equals(columns)):
            return layout[1], layout[2], layout[3]
        found = columns.get_indexer(self.features)
        if (found < 0).any():
            raise MissingFeatureError([n for n, i in zip(self.features, found, strict=True) if i < 0], product_code)
        plain = found[self.plain_idx]
        categorical = [int(found[position]) for position, *_ in self.categorical]
        self._layout = (columns, found, plain, categorical)
        return found, plain, categorical

    def matrix(self, frame: pd.DataFrame, product_code: str = "") -> np.ndarray:
        if not frame.columns.is_unique:
            raise ValueError("feature frame has duplicate column names")
        _, plain, categorical = self._columns(frame.columns, product_code)
        n = len(frame)
        out = np.empty((n, len(self.features)), dtype=np.float64)
        if n <= self.SMALL:
            values = frame.to_numpy(dtype=object)
            if len(plain):
                try:
                    out[:, self.plain_idx] = values[:, plain].astype(np.float64)
                except TypeError:  # None in an object column: missing
                    out[:, self.plain_idx] = pd.DataFrame(values[:, plain]).astype("float64").to_numpy()
            columns = [values[:, j] for j in categorical]
        else:
            if len(plain):
                out[:, self.plain_idx] = frame.iloc[:, plain].to_numpy(dtype=np.float64, na_value=np.nan)
            columns = [frame.iloc[:, j].to_numpy() for j in categorical]
        for (position, _, codes, unknown), column in zip(self.categorical, columns, strict=True):
            out[:, position] = np.fromiter((codes.get(v, unknown) for v in column), dtype=np.float64, count=n)
        return out

    def vector(self, values: Mapping[str, Any], product_code: str = "") -> np.ndarray:
        """One row from a feature name -> value mapping, exactly as ``matrix`` encodes
        the same row of a frame: None (or NaN) is missing, booleans are 0/1, a
        category outside the vocabulary takes the code of ``unknown``. No frame is
        built: real time reads stored rows (``modeling.online``) at hundreds a second."""
        try:
            row: Sequence[Any] = self._values_of(values)
        except KeyError:
            raise MissingFeatureError([n for n in self.features if n not in values], product_code) from None
        if self._codes_at:
            row = list(row)
            for position, codes, unknown in self._codes_at:
                row[position] = codes.get(row[position], unknown)
        # float64 conversion as matrix's astype: None -> NaN, True -> 1.0, numeric text -> its number.
        return np.array(row, dtype=np.float64).reshape(1, len(self.features))


# --- One row at a time ------------------------------------------------------------------------------------------------

# Real time predicts one row with each of many boosters. ``Booster.predict`` spends
# most of its time per call setting up (about 80 us, against about 10 us of tree
# walking); LightGBM's "fast" single-row C API keeps that setup in a handle made
# once per booster and thread. Same C predictor, same numbers (a test compares them).
_PREDICT_NORMAL, _PREDICT_CONTRIB = 0, 3
_DTYPE_FLOAT64 = 1
_fast = threading.local()


class _FastConfig:
    def __init__(self, booster: lgb.Booster, predict_type: int) -> None:
        self.handle = ctypes.c_void_p()
        self.columns = booster.num_feature()
        _lgb_basic._safe_call(
            _lgb_basic._LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(predict_type),
                ctypes.c_int(0),  # start iteration
                ctypes.c_int(-1),  # every iteration (the booster keeps only the best ones)
                ctypes.c_int(_DTYPE_FLOAT64),
                ctypes.c_int32(self.columns),
                _lgb_basic._c_str(f"num_threads={PREDICT_THREADS}"),
                ctypes.byref(self.handle),
            )
        )
        width = self.columns + 1 if predict_type == _PREDICT_CONTRIB else 1
        # Buffers and their pointers made once: numpy's ``ctypes.data_as`` costs more
        # per call than LightGBM's walk of a small model.
        self.row = np.empty(self.columns, dtype=np.float64)
        self.row_pointer = ctypes.c_void_p(self.row.ctypes.data)
        self.out = np.empty(width, dtype=np.float64)
        self.out_pointer = self.out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self.out_len = ctypes.c_int64(0)
        self.out_len_ref = ctypes.byref(self.out_len)
        weakref.finalize(self, _lgb_basic._LIB.LGBM_FastConfigFree, self.handle)


def _single_row(booster: lgb.Booster, x: np.ndarray, *, contributions: bool) -> np.ndarray:
    configs: weakref.WeakKeyDictionary[lgb.Booster, dict[int, _FastConfig]] | None = getattr(_fast, "configs", None)
    if configs is None:
        configs = _fast.configs = weakref.WeakKeyDictionary()
    per_booster = configs.setdefault(booster, {})
    kind = _PREDICT_CONTRIB if contributions else _PREDICT_NORMAL
    config = per_booster.get(kind)
    if config is None:
        config = per_booster[kind] = _FastConfig(booster, kind)
    if x.shape[-1] != config.columns:
        raise ValueError(f"the model takes {config.columns} features, the row has {x.shape[-1]}")
    config.row[:] = x[0]  # float64, contiguous: what the handle was made for
    _lgb_basic._safe_call(
        _lgb_basic._LIB.LGBM_BoosterPredictForMatSingleRowFast(
            config.handle, config.row_pointer, config.out_len_ref, config.out_pointer
        )
    )
    return config.out.copy()


# --- The loaded model -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A propensity model ready to score. ``features`` are its ordered inputs,
    ``categories`` the vocabulary of each categorical one (the code is the index)."""

    model_version_id: int | None
    product_code: str
    features: tuple[str, ...]
    categories: dict[str, tuple[str, ...]]
    booster: lgb.Booster = field(repr=False)
    calibration_x: np.ndarray = field(repr=False)
    calibration_y: np.ndarray = field(repr=False)
    manifest: dict[str, Any] = field(repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_encoder", _Encoder(self.features, self.categories))

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """float64 (n, len(features)) in ``features`` order. Models trained on the
        same features and categories give the same matrix: build it once for all."""
        return self._encoder.matrix(frame, self.product_code)  # type: ignore[attr-defined]

    def vector(self, values: Mapping[str, Any]) -> np.ndarray:
        """float64 (1, len(features)) from one customer's feature values by name (as
        ``modeling.online`` stores them): the same array ``matrix`` gives for the
        same row, without a DataFrame. MissingFeatureError names absent keys."""
        return self._encoder.vector(values, self.product_code)  # type: ignore[attr-defined]

    def predict_raw(self, x: np.ndarray) -> np.ndarray:
        """The booster's probability, before calibration."""
        if x.shape[0] == 1:
            return _single_row(self.booster, x, contributions=False)
        return self.booster.predict(x, num_threads=PREDICT_THREADS)

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        return np.interp(raw, self.calibration_x, self.calibration_y)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probabilities."""
        return np.interp(self.booster.predict(x, num_threads=PREDICT_THREADS), self.calibration_x, self.calibration_y)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """SHAP contributions in log-odds, shape (n, F + 1); the last column is the bias."""
        if x.shape[0] == 1:
            return _single_row(self.booster, x, contributions=True).reshape(1, -1)
        return self.booster.predict(x, pred_contrib=True, num_threads=PREDICT_THREADS)


@dataclass(frozen=True, eq=False)
class FittedModel:
    """A freshly fitted model and how it was fitted (all of it goes into the manifest)."""

    model: LoadedModel
    kinds: dict[str, str]
    params: dict[str, Any]  # the LightGBM parameters used
    num_boost_round: int
    best_iteration: int
    early_stopping_rounds: int
    rounds: str  # "early_stopping" or "fixed"
    calibration: dict[str, Any]  # method, parameters, held-out rows and positives
    holdout: dict[str, Any]  # how the held-out slice was chosen
    train_rows: int
    train_positives: int
    feature_importance: dict[str, float]  # total gain per feature, largest first
    seed: int
    seconds: float

    def training_info(self) -> dict[str, Any]:
        return {
            "product_code": self.model.product_code,
            "features": list(self.model.features),
            "kinds": self.kinds,
            "categories": {k: list(v) for k, v in self.model.categories.items()},
            "params": self.params,
            "num_boost_round": self.num_boost_round,
            "best_iteration": self.best_iteration,
            "early_stopping_rounds": self.early_stopping_rounds,
            "rounds": self.rounds,
            "calibration": self.calibration,
            "holdout": self.holdout,
            "train_rows": self.train_rows,
            "train_positives": self.train_positives,
            "seed": self.seed,
        }


# --- Fitting --------------------------------------------------------------------------------------------------------


def fit_params(params: Mapping[str, Any] | None, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(LightGBM parameters, fitting settings) that ``propensity_fit`` uses for ``params`` and ``seed``."""
    given = dict(params or {})
    fit = {key: given.pop(key, default) for key, default in FIT_DEFAULTS.items()}
    if fit["calibration"] not in ("sigmoid", "isotonic"):
        raise ValueError(f"calibration must be 'sigmoid' or 'isotonic', not {fit['calibration']!r}")
    # The thread count is fixed (settings.MODEL_TRAINING_THREADS, recorded in the manifest): LightGBM's
    # sums, hence its trees, may differ with it.
    threads = int(getattr(settings, "MODEL_TRAINING_THREADS", 1))
    booster = {**DEFAULT_PARAMS, "num_threads": threads, **given, **FIXED_PARAMS, "seed": int(seed)}
    return booster, fit


def _model_features(frame: pd.DataFrame, features: Sequence[str] | None) -> tuple[str, ...]:
    if features is None:
        return tuple(model_feature_names(frame.columns))
    refused = []
    for name in features:
        try:
            if feature_get(name).use is not Use.MODEL:
                refused.append(f"{name} (not a model input)")
        except KeyError:
            refused.append(f"{name} (not in the feature catalogue)")
    if refused:
        raise ValueError("refused feature(s): " + ", ".join(refused))
    return tuple(features)


def _vocabularies(frame: pd.DataFrame, features: tuple[str, ...]) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    kinds: dict[str, str] = {}
    categories: dict[str, tuple[str, ...]] = {}
    for name in features:
        feature = feature_get(name)
        kinds[name] = feature.kind.value
        if feature.kind is not Kind.CATEGORICAL:
            continue
        if feature.categories:
            vocabulary = list(feature.categories)
        else:
            # An open vocabulary: the values seen in training, stored with the model.
            seen = frame[name].dropna().astype(str).unique().tolist() if name in frame.columns else []
            vocabulary = sorted(seen)
        if UNKNOWN not in vocabulary:
            vocabulary.append(UNKNOWN)
        categories[name] = tuple(vocabulary)
    return kinds, categories


def _holdout(ids: np.ndarray, periods: np.ndarray, labels: np.ndarray, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """A boolean mask of the rows held out for early stopping and calibration.

    Held-out rows never share a customer (the frame's index) with training rows:
    stacked cut-offs repeat customers, and their take-ups, in overlapping label
    windows, so a booster shown a customer's older rows recognises the same
    take-up in the newer ones (measured on the demo bank: held-out AUC 0.95
    where the next cut-off gave 0.77, and early stopping that never stopped)."""
    distinct = np.unique(periods)
    if len(np.unique(ids)) == len(ids) and distinct.size >= 2:
        # One row per customer: the newest periods, as the future looks most like them.
        held = np.zeros(len(periods), dtype=bool)
        chosen = []
        for period in distinct[::-1][:-1]:  # newest first; the oldest always trains
            held |= periods == period
            chosen.append(period)
            if held.sum() >= HOLDOUT_SHARE * len(periods):
                break
        if 0 < labels[held].sum() < held.sum():
            return held, {"method": "newest_periods", "periods": [str(p) for p in sorted(chosen)]}
    # Customers repeat (or one period): a seeded sample of customers with all their
    # rows, stratified on whether the customer ever took the product up.
    customers, inverse = np.unique(ids, return_inverse=True)
    ever = np.zeros(len(customers))
    np.maximum.at(ever, inverse, labels)
    stratify = ever if 2 <= ever.sum() <= len(ever) - 2 else None
    _, held_customers = train_test_split(
        np.arange(len(customers)), test_size=HOLDOUT_SHARE, random_state=seed, stratify=stratify
    )
    chosen_customers = np.zeros(len(customers), dtype=bool)
    chosen_customers[held_customers] = True
    held = chosen_customers[inverse]
    return held, {"method": "customers", "share": HOLDOUT_SHARE, "customers": int(len(held_customers))}


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return expit(z)


def _fit_calibration(
    raw: np.ndarray, labels: np.ndarray, method: str, seed: int
) -> tuple[np.ndarray, np.ndarray, dict]:
    info: dict[str, Any] = {"method": method, "rows": int(len(labels)), "positives": int(labels.sum())}
    if method == "isotonic":
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(raw, labels)
        # sklearn's own predict is this interpolation over its thresholds.
        return np.asarray(iso.X_thresholds_, dtype=float), np.asarray(iso.y_thresholds_, dtype=float), info
    z = _logit(raw).reshape(-1, 1)
    # Platt's targets ((n+ + 1)/(n+ + 2) and 1/(n- + 2)) keep the fit finite when
    # the held-out classes separate; a large C leaves the slope almost unpenalised.
    pos, neg = labels.sum(), len(labels) - labels.sum()
    targets = np.where(labels == 1, (pos + 1.0) / (pos + 2.0), 1.0 / (neg + 2.0))
    z2 = np.concatenate([z, z])
    y2 = np.concatenate([np.ones(len(z)), np.zeros(len(z))])
    weights = np.concatenate([targets, 1.0 - targets])
    lr = LogisticRegression(C=1e4, max_iter=1000, random_state=seed).fit(z2, y2, sample_weight=weights)
    slope, intercept = float(lr.coef_[0, 0]), float(lr.intercept_[0])
    if slope <= 1e-6:
        # The booster does not rank the held-out rows: keep its order, flatten its scale.
        info["warning"] = f"held-out slope {slope:.4g} <= 0: calibrated scores are nearly the held-out rate"
        slope = 1e-6
    info.update(slope=slope, intercept=intercept)
    grid_x, grid_y = _sigmoid(SIGMOID_GRID), _sigmoid(slope * SIGMOID_GRID + intercept)
    # Keep the points where the calibrated value is strictly between 0 and 1 in
    # float64 (a steep slope saturates the ends), so the curve stays strictly increasing.
    keep = (grid_y > 0.0) & (grid_y < 1.0) & (np.r_[True, np.diff(grid_y) > 0])
    x = np.concatenate([[0.0], grid_x[keep], [1.0]])
    y = np.concatenate([[0.0], grid_y[keep], [1.0]])
    return x, y, info


def _refit_all(
    x: np.ndarray,
    labels: np.ndarray,
    ids: np.ndarray,
    names: tuple[str, ...],
    categorical: list[int],
    params: dict[str, Any],
    rounds: int,
    folds: int,
    seed: int,
) -> tuple[lgb.Booster, np.ndarray, np.ndarray, int]:
    """A booster of ``rounds`` trained on every row, and out-of-fold raw predictions
    to calibrate it: each fold (whole customers, seeded) is predicted by a booster
    trained the same way on the other folds, so no calibration row was seen by the
    booster that scored it."""
    from sklearn.model_selection import GroupKFold

    def train(rows: np.ndarray) -> lgb.Booster:
        data = lgb.Dataset(
            x[rows], labels[rows], feature_name=list(names), categorical_feature=categorical, params=params
        )
        return lgb.train(params, data, num_boost_round=rounds)

    everything = np.ones(len(labels), dtype=bool)
    final = train(everything)
    out_of_fold = np.empty(len(labels), dtype=np.float64)
    splitter = GroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_rows, fold_rows in splitter.split(x, labels, groups=ids):
        mask = np.zeros(len(labels), dtype=bool)
        mask[train_rows] = True
        out_of_fold[fold_rows] = train(mask).predict(x[fold_rows], num_threads=PREDICT_THREADS)
    return final, out_of_fold, labels, folds


def propensity_fit(
    *,
    frame: pd.DataFrame,
    labels: np.ndarray,
    periods: np.ndarray,
    product_code: str,
    seed: int,
    params: dict | None = None,
    features: Sequence[str] | None = None,
) -> FittedModel:
    """Fit, early-stop and calibrate one product's model (see the module docstring)."""
    started = time.perf_counter()
    labels = np.asarray(labels, dtype=np.float64)
    periods = np.asarray(periods)
    if not (len(frame) == len(labels) == len(periods)):
        raise ValueError(f"frame, labels and periods differ in length: {len(frame)}, {len(labels)}, {len(periods)}")
    if not np.isin(labels, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1")
    positives = int(labels.sum())
    if positives < 2 or positives > len(labels) - 2:
        raise ValueError(f"{product_code}: need at least 2 positives and 2 negatives, got {positives} of {len(labels)}")
    booster_params, fit = fit_params(params, seed)
    names = _model_features(frame, features)
    kinds, categories = _vocabularies(frame, names)
    encoder = _Encoder(names, categories)
    x = encoder.matrix(frame, product_code)
    held, holdout = _holdout(frame.index.to_numpy(), periods, labels, seed)
    categorical = [names.index(name) for name in categories]
    train = lgb.Dataset(
        x[~held], labels[~held], feature_name=list(names), categorical_feature=categorical, params=booster_params
    )
    patience = int(fit["early_stopping_rounds"])
    early_stopping = patience > 0 and labels[held].sum() >= int(fit["min_holdout_positives"])
    if early_stopping:
        valid = lgb.Dataset(x[held], labels[held], reference=train)
        booster = lgb.train(
            booster_params,
            train,
            num_boost_round=int(fit["num_boost_round"]),
            valid_sets=[valid],
            valid_names=["holdout"],
            callbacks=[lgb.early_stopping(patience, first_metric_only=True, verbose=False)],
        )
    else:  # a fixed number of rounds; the held-out rows only calibrate
        booster = lgb.train(booster_params, train, num_boost_round=int(fit["fixed_rounds"]))
    best = int(booster.best_iteration or booster.current_iteration())
    if fit["refit"]:
        booster, raw_cal, labels_cal, folds = _refit_all(
            x,
            labels,
            frame.index.to_numpy(),
            names,
            categorical,
            booster_params,
            best,
            int(fit["calibration_folds"]),
            seed,
        )
        holdout = {**holdout, "refit": True, "calibration_folds": folds}
    # Round-trip through the text form: the model in hand is the one a load gives back.
    text = booster.model_to_string(num_iteration=best)
    final = lgb.Booster(model_str=text)
    if not fit["refit"]:
        raw_cal, labels_cal = final.predict(x[held], num_threads=PREDICT_THREADS), labels[held]
    cal_x, cal_y, calibration = _fit_calibration(raw_cal, labels_cal, fit["calibration"], seed)
    gains = final.feature_importance(importance_type="gain")
    importance = sorted(zip(names, (float(g) for g in gains), strict=True), key=lambda item: (-item[1], item[0]))
    model = LoadedModel(
        model_version_id=None,
        product_code=product_code,
        features=names,
        categories=categories,
        booster=final,
        calibration_x=cal_x,
        calibration_y=cal_y,
    )
    return FittedModel(
        model=model,
        kinds=kinds,
        params=booster_params,
        num_boost_round=int(fit["num_boost_round"] if early_stopping else fit["fixed_rounds"]),
        best_iteration=best,
        early_stopping_rounds=int(fit["early_stopping_rounds"]),
        rounds="early_stopping" if early_stopping else "fixed",
        calibration=calibration,
        holdout={**holdout, "rows": int(held.sum()), "positives": int(labels[held].sum())},
        train_rows=int((~held).sum()),
        train_positives=int(labels[~held].sum()),
        feature_importance=dict(importance),
        seed=int(seed),
        seconds=time.perf_counter() - started,
    )


# --- Saving and loading ---------------------------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def model_save(*, fitted: FittedModel, directory: Path, manifest_extra: dict) -> tuple[Path, str]:
    """Write the artifact directory atomically; returns it and the manifest's sha256.

    ``manifest_extra`` must be JSON-able and should hold no timestamp or path, so
    that the same data and seed give the same hash."""
    directory = Path(directory)
    if directory.exists():
        raise ArtifactError(f"artifact directory {directory} already exists; artifacts are never overwritten")
    model = fitted.model
    files = {
        BOOSTER_FILE: model.booster.model_to_string().encode(),
        CALIBRATOR_FILE: _json_bytes(
            {"method": fitted.calibration["method"], "x": model.calibration_x, "y": model.calibration_y}
        ),
    }
    manifest = {
        **manifest_extra,
        **fitted.training_info(),
        "format_version": FORMAT_VERSION,
        "library_versions": library_versions(),
        "files": {name: _sha256_bytes(data) for name, data in files.items()},
    }
    files[MANIFEST_FILE] = _json_bytes(manifest)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".tmp-{directory.name}-"))
    try:
        for name, data in files.items():
            with (tmp / name).open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp, 0o755)
        _fsync_dir(tmp)
        if directory.exists():
            raise ArtifactError(f"artifact directory {directory} already exists; artifacts are never overwritten")
        os.rename(tmp, directory)
        _fsync_dir(directory.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory, _sha256_bytes(files[MANIFEST_FILE])


def _read_manifest(path: Path, expected_sha256: str) -> dict[str, Any]:
    manifest_path = path / MANIFEST_FILE
    if not path.is_dir():
        raise ArtifactError(f"model artifact {path} is missing")
    if not manifest_path.is_file():
        raise ArtifactError(f"model artifact {path}: {MANIFEST_FILE} is missing")
    data = manifest_path.read_bytes()
    if _sha256_bytes(data) != expected_sha256:
        raise ArtifactError(
            f"model artifact {path}: {MANIFEST_FILE} does not match the registered sha256 (edited or replaced)"
        )
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise ArtifactError(f"model artifact {path}: {MANIFEST_FILE} is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise ArtifactError(f"model artifact {path}: {MANIFEST_FILE} is not a JSON object")
    return manifest


def _check_compatible(path: Path, manifest: dict[str, Any]) -> None:
    found = manifest.get("format_version")
    if found != FORMAT_VERSION:
        raise ArtifactError(
            f"model artifact {path}: format version {found!r}, this Crossell reads {FORMAT_VERSION}: retrain the model"
        )
    built = str((manifest.get("library_versions") or {}).get("lightgbm", "?"))
    if _major_minor(built) != _major_minor(lgb.__version__):
        raise ArtifactError(
            f"model artifact {path}: built with lightgbm {built}, this process runs {lgb.__version__} "
            "(major.minor must match): retrain the model"
        )


def _check_files(path: Path, manifest: dict[str, Any]) -> None:
    listed = manifest.get("files")
    if not isinstance(listed, dict) or set(listed) != {BOOSTER_FILE, CALIBRATOR_FILE}:
        raise ArtifactError(f"model artifact {path}: the manifest does not list {BOOSTER_FILE} and {CALIBRATOR_FILE}")
    for name, expected in sorted(listed.items()):
        file = path / name
        if not file.is_file():
            raise ArtifactError(f"model artifact {path}: {name} is missing")
        if _sha256_file(file) != expected:
            raise ArtifactError(f"model artifact {path}: {name} does not match its sha256 in the manifest (tampered)")


def model_load(*, path: Path, expected_sha256: str, model_version_id: int | None = None) -> LoadedModel:
    """Load a verified artifact; ``ArtifactError`` says why one cannot be used."""
    path = Path(path)
    manifest = _read_manifest(path, expected_sha256)
    _check_compatible(path, manifest)
    _check_files(path, manifest)
    try:
        features = tuple(str(f) for f in manifest["features"])
        categories = {str(k): tuple(str(v) for v in values) for k, values in manifest["categories"].items()}
        product_code = str(manifest["product_code"])
        calibrator = json.loads((path / CALIBRATOR_FILE).read_bytes())
        cal_x = np.asarray(calibrator["x"], dtype=np.float64)
        cal_y = np.asarray(calibrator["y"], dtype=np.float64)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ArtifactError(f"model artifact {path}: manifest or calibrator is malformed ({exc!r})") from exc
    if cal_x.ndim != 1 or cal_x.shape != cal_y.shape or cal_x.size < 2 or np.any(np.diff(cal_x) < 0):
        raise ArtifactError(f"model artifact {path}: calibrator thresholds are malformed")
    try:
        booster = lgb.Booster(model_str=(path / BOOSTER_FILE).read_text())
    except lgb.basic.LightGBMError as exc:
        raise ArtifactError(f"model artifact {path}: {BOOSTER_FILE} does not load ({exc})") from exc
    if tuple(booster.feature_name()) != features:
        raise ArtifactError(f"model artifact {path}: the booster's features differ from the manifest's")
    return LoadedModel(
        model_version_id=model_version_id,
        product_code=product_code,
        features=features,
        categories=categories,
        booster=booster,
        calibration_x=cal_x,
        calibration_y=cal_y,
        manifest=manifest,
    )


def artifact_name(version: int) -> str:
    """A fresh directory name for a product's model version: v<version>-<short random id>."""
    return f"v{version}-{uuid.uuid4().hex[:8]}"
