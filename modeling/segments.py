"""Customer segments: four ways of grouping the customers of a feature snapshot,
each kept as immutable versions with every customer's membership.

- **behavioural** (k-means) and **value** (Gaussian mixture) are learnt from
  standardised model-usable features (skewed ones log-transformed first; a value
  the catalogue flags as missing is replaced by the median, not its 0 fill). k is
  chosen within a range, by silhouette for k-means and by BIC for mixtures, among
  the candidates whose smallest segment holds at least ``MIN_SEGMENT_SHARE`` of
  customers; every candidate's score is stored. k-means is the default for
  behaviour because its spend shares and counts are skewed, zero-heavy columns
  where a mixture piles components onto point masses (BIC then always asks for
  more); the value columns (balances, income, salary, spend, credit score,
  tenure) are smooth after a log, so a mixture fits them and gives each customer
  a membership probability. Overdraft days were left out of value for the same
  reason: most customers (84% in the demo bank) have none. Either kind can be fitted with either
  method (``method=``).
- **demographic** and **value_tier** are declared rules below (method ``rules``).

Labels stay stable across refits: a new cluster whose centre lies near a centre
of the current version (Hungarian matching in the new standardised space) keeps
that segment's label, code and name; others get labels never used before.

Each segment is described by its distinguishing features: the largest
standardised mean differences against all customers, phrased with the short
names declared beside each input below; the profile keeps the catalogue's full
description of each. Models are stored as JSON (scaler, centres or mixture
parameters), never pickles, and ``segmentation_assign`` reproduces memberships
from that JSON alone.

Only features the catalogue allows models to use feed the clusters (checked at
import). The demographic rules read ``age``, a rules-only feature; the
fairness-only ``age_band`` is not read, and no segment built from age should be
fed to a propensity model.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, QuerySet

from core.models import User
from core.services import audit_record
from customers.models import Customer
from modeling.feature_catalogue import Use, feature_get
from modeling.models import (
    FeatureSnapshot,
    Segment,
    Segmentation,
    SegmentationKind,
    SegmentationMethod,
    SegmentMembership,
)
from modeling.snapshots import feature_snapshot_load

logger = logging.getLogger(__name__)

DEFAULT_K_RANGE = (3, 8)
KMEANS_N_INIT = 4  # fixed, so a refit on the same data and seed gives the same clusters
GMM_N_INIT = 2
GMM_REG_COVAR = 1e-3  # keeps covariances invertible on zero-heavy columns
SELECTION_SAMPLE = 20_000  # candidate k are fitted on at most this many customers (seeded sample)
SILHOUETTE_SAMPLE = 4_000  # silhouette is quadratic: scored on a seeded sample
MIN_SEGMENT_SHARE = 0.02  # a candidate k whose smallest segment is smaller than this is not chosen
THREADS = 1  # BLAS/OpenMP threads: fixed for reproducibility; more threads on a shared box were slower
MEMBERSHIP_BATCH_SIZE = 5_000
MATCH_MAX_DISTANCE = 0.75  # root-mean-square distance (in standard deviations) for a cluster to keep a label
NOTABLE = 0.3  # |standardised mean difference| from which a feature distinguishes a segment
MARKED = 1.0  # ... and from which it is "well" above or below average
DESCRIBED_FEATURES = 4
NAMED_FEATURES = 2


class SegmentationError(ValueError):
    """A segmentation that cannot be built from this input, with the reason."""


# --- Declared inputs ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Input:
    """One clustering input: a catalogue feature, the transform that makes it
    roughly symmetric before standardising, and the words a segment name uses."""

    name: str
    transform: str  # "log": log(1 + x) of x >= 0; "signed_log": sign(x) log(1 + |x|); "none"
    noun: str
    high: str = ""  # phrase for a segment above average; default "high <noun>"
    low: str = ""
    below_zero: str = ""  # phrase for a segment below average whose median is negative (net debt)
    unit: str = "count"  # how pages show its values: count, share, money, score, months

    def phrase(self, z: float, median: float = 0.0) -> str:
        if z > 0:
            return self.high or f"high {self.noun}"
        if self.below_zero and median < 0:
            return self.below_zero
        return self.low or f"low {self.noun}"


BEHAVIOURAL_INPUTS: tuple[Input, ...] = (
    Input("txn_count_90d", "log", "transaction activity"),
    Input("logins_90d", "log", "digital engagement"),
    Input("txn_count_card_online_90d", "log", "online card use"),
    Input("txn_count_card_present_90d", "log", "in-store card use"),
    Input("spend_share_cash_90d", "none", "cash use", unit="share"),
    Input("spend_share_groceries_90d", "none", "grocery spending", unit="share"),
    Input("spend_share_dining_90d", "none", "dining out", unit="share"),
    Input("spend_share_travel_90d", "none", "travel spending", unit="share"),
    Input("spend_share_shopping_90d", "none", "shopping", unit="share"),
    Input("spend_share_entertainment_90d", "none", "entertainment spending", unit="share"),
    Input("spend_share_gambling_90d", "none", "gambling", unit="share"),
    Input("spend_share_savings_90d", "none", "saving", unit="share"),
    Input("spend_share_investment_90d", "none", "investing", unit="share"),
    Input("service_calls_90d", "log", "service calls", high="frequent service calls", low="few service calls"),
)
VALUE_INPUTS: tuple[Input, ...] = (
    Input("avg_balance_3m", "signed_log", "balances", below_zero="net borrowers", unit="money"),
    Input("income", "log", "income", unit="money"),
    Input("salary_monthly_3m", "log", "salary", high="high salary", low="little or no salary", unit="money"),
    Input("products_held", "none", "products held", high="many products", low="few products"),
    Input("spend_90d", "log", "spending", unit="money"),
    Input("credit_score", "none", "credit score", unit="score"),
    Input("tenure_months", "none", "tenure", high="long-standing", low="recent customers", unit="months"),
)
INPUTS: dict[str, tuple[Input, ...]] = {
    SegmentationKind.BEHAVIOURAL: BEHAVIOURAL_INPUTS,
    SegmentationKind.VALUE: VALUE_INPUTS,
}
# Rule-defined segments are profiled on every clustering input, so they are described alike.
PROFILE_INPUTS: tuple[Input, ...] = BEHAVIOURAL_INPUTS + VALUE_INPUTS
DEFAULT_METHOD = {
    SegmentationKind.BEHAVIOURAL: SegmentationMethod.KMEANS,
    SegmentationKind.VALUE: SegmentationMethod.GMM,
}
VALUE_FIGURES = ("avg_balance_3m", "income", "products_held", "salary_monthly_3m", "spend_90d")

for _input in PROFILE_INPUTS:
    assert feature_get(_input.name).use is Use.MODEL, f"{_input.name} may not be a clustering input"


# --- Declared rules -------------------------------------------------------------------------------------------------

WORKING = ("employed", "self_employed")
# Value tiers, in BASE_CURRENCY: a customer is in the first tier whose balance or income floor they reach.
# avg_balance_3m is net of loans and mortgages, so a borrower reaches a tier through income.
VALUE_TIERS = (
    ("premier", "Premier", 100_000, 100_000),
    ("affluent", "Affluent", 25_000, 60_000),
    ("core", "Core", 2_500, 25_000),
)


@dataclass(frozen=True)
class Rule:
    """A rule-defined segment: the first rule of its kind a customer meets decides.
    Labels follow declaration order, so add new rules at the end to keep labels."""

    key: str
    name: str
    description: str
    test: Callable[[pd.DataFrame], pd.Series]


def _working(f: pd.DataFrame) -> pd.Series:
    return f["employment_type"].isin(WORKING)


def _tier_test(balance: float, income: float) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda f: (f["avg_balance_3m"] >= balance) | (f["income"] >= income)


def _money(amount: float) -> str:
    return f"{amount:,.0f} {settings.BASE_CURRENCY}"


def _value_tier_rules() -> tuple[Rule, ...]:
    rules = [
        Rule(
            key,
            name,
            f"Average balance over 3 months of at least {_money(balance)}, or yearly income of at least "
            f"{_money(income)}.",
            _tier_test(balance, income),
        )
        for key, name, balance, income in VALUE_TIERS
    ]
    rules.append(Rule("emerging", "Emerging", "Below every other tier's balance and income floors.", _always))
    return tuple(rules)


def _always(f: pd.DataFrame) -> pd.Series:
    return pd.Series(True, index=f.index)


DEMOGRAPHIC_RULES: tuple[Rule, ...] = (
    Rule("student", "Students", "Employment type student, any age.", lambda f: f["employment_type"] == "student"),
    Rule(
        "young_working",
        "Young working adults",
        "Aged under 35, employed or self-employed.",
        lambda f: _working(f) & (f["age"] < 35),
    ),
    Rule(
        "midlife_working",
        "Working, mid-life",
        "Aged 35 to 54, employed or self-employed.",
        lambda f: _working(f) & (f["age"] >= 35) & (f["age"] < 55),
    ),
    Rule(
        "late_career",
        "Late career",
        "Aged 55 or over, employed or self-employed.",
        lambda f: _working(f) & (f["age"] >= 55),
    ),
    Rule("retired", "Retired", "Employment type retired.", lambda f: f["employment_type"] == "retired"),
    Rule("not_working", "Not in paid work", "Unemployed, homemaker, other or unknown employment.", _always),
)
RULE_COLUMNS = {
    SegmentationKind.DEMOGRAPHIC: ("age", "employment_type"),
    SegmentationKind.VALUE_TIER: ("avg_balance_3m", "income"),
}


def rules_of(kind: str) -> tuple[Rule, ...]:
    if kind == SegmentationKind.DEMOGRAPHIC:
        return DEMOGRAPHIC_RULES
    if kind == SegmentationKind.VALUE_TIER:
        return _value_tier_rules()
    raise SegmentationError(f"{kind!r} is not a rule-defined segmentation kind")


# --- Preparing the inputs -------------------------------------------------------------------------------------------


@dataclass
class _Prepared:
    inputs: list[Input]
    x: np.ndarray  # transformed and standardised, (n, len(inputs))
    mean: np.ndarray  # of the transformed columns
    scale: np.ndarray
    impute: dict[str, float]
    dropped: dict[str, str]


def _transform(values: np.ndarray, transform: str) -> np.ndarray:
    if transform == "log":
        return np.log1p(np.maximum(values, 0.0))
    if transform == "signed_log":
        return np.sign(values) * np.log1p(np.abs(values))
    if transform == "none":
        return values
    raise SegmentationError(f"unknown transform {transform!r}")


def _raw(frame: pd.DataFrame, name: str, impute: dict[str, float]) -> np.ndarray:
    """The column as float, a value flagged missing by its catalogue indicator
    replaced by the median of the known ones (a fill of 0 would be an outlier)."""
    values = frame[name].to_numpy(dtype=float, copy=True)
    indicator = feature_get(name).indicator
    if name in impute and indicator and indicator in frame.columns:
        values[frame[indicator].to_numpy(dtype=bool)] = impute[name]
    return values


def _prepare(frame: pd.DataFrame, inputs: Sequence[Input]) -> _Prepared:
    used: list[Input] = []
    columns: list[np.ndarray] = []
    impute: dict[str, float] = {}
    dropped: dict[str, str] = {}
    for item in inputs:
        if item.name not in frame.columns:
            dropped[item.name] = "not in the feature table"
            continue
        indicator = feature_get(item.name).indicator
        if indicator and indicator in frame.columns:
            flagged = frame[indicator].to_numpy(dtype=bool)
            if flagged.any() and not flagged.all():
                impute[item.name] = float(np.median(frame[item.name].to_numpy(dtype=float)[~flagged]))
        values = _transform(_raw(frame, item.name, impute), item.transform)
        if not np.isfinite(values).all():
            dropped[item.name] = "has missing or infinite values"
            continue
        if np.std(values) < 1e-9:
            dropped[item.name] = "the same for every customer"
            impute.pop(item.name, None)
            continue
        used.append(item)
        columns.append(values)
    if len(used) < 2:
        raise SegmentationError(f"fewer than 2 usable inputs (dropped: {dropped})")
    matrix = np.column_stack(columns)
    mean = matrix.mean(axis=0)
    scale = matrix.std(axis=0)
    return _Prepared(used, (matrix - mean) / scale, mean, scale, impute, dropped)


def _standardise_with(frame: pd.DataFrame, model: dict[str, Any]) -> np.ndarray:
    """The stored scaler applied to a feature table (for assignment and profiles)."""
    columns = [
        _transform(_raw(frame, name, model["impute"]), transform)
        for name, transform in zip(model["features"], model["transforms"], strict=True)
    ]
    return (np.column_stack(columns) - np.asarray(model["scaler"]["mean"])) / np.asarray(model["scaler"]["scale"])


# --- Fitting --------------------------------------------------------------------------------------------------------


@dataclass
class _Fit:
    assignment: np.ndarray  # cluster index per customer (0..k-1)
    centres: np.ndarray  # (k, d) in the standardised space
    probability: np.ndarray | None
    selection: dict[str, Any]
    extra: dict[str, Any]  # mixture parameters


def _sample(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    return np.arange(n) if n <= size else np.sort(rng.choice(n, size=size, replace=False))


def _silhouette(x: np.ndarray, labels: np.ndarray, seed: int) -> float | None:
    from sklearn.metrics import silhouette_score

    if len(np.unique(labels)) < 2:
        return None
    size = min(len(x), SILHOUETTE_SAMPLE)
    return float(silhouette_score(x, labels, sample_size=size, random_state=seed))


def _smallest_share(labels: np.ndarray, k: int) -> float:
    return round(float(np.bincount(labels, minlength=k).min()) / len(labels), 6)


def _choose(scores: list[dict[str, Any]], key: Callable[[dict[str, Any]], float]) -> int:
    """The best k by ``key`` (lower is better) among candidates whose smallest segment
    is big enough to act on; the smallest k when none is."""
    eligible = [s for s in scores if s["smallest_share"] >= MIN_SEGMENT_SHARE]
    return min(eligible, key=key)["k"] if eligible else scores[0]["k"]


def _fit_kmeans(x: np.ndarray, k_range: tuple[int, int], seed: int) -> _Fit:
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(seed)
    rows = _sample(len(x), SELECTION_SAMPLE, rng)
    candidates, scores = {}, []
    for k in range(k_range[0], k_range[1] + 1):
        model = KMeans(n_clusters=k, n_init=KMEANS_N_INIT, random_state=seed).fit(x[rows])
        candidates[k] = model
        silhouette = _silhouette(x[rows], model.labels_, seed)
        scores.append(
            {
                "k": k,
                "silhouette": silhouette,
                "inertia": float(model.inertia_) / len(rows),
                "smallest_share": _smallest_share(model.labels_, k),
            }
        )
    k = _choose(scores, key=lambda s: -(s["silhouette"] if s["silhouette"] is not None else -1.0))
    final = candidates[k]
    if len(rows) < len(x):
        # Candidates were fitted on a sample: refine the winner on everyone, starting from its centres.
        final = KMeans(n_clusters=k, init=final.cluster_centers_, n_init=1, random_state=seed).fit(x)
    selection = {
        "criterion": "silhouette",
        "better": "higher",
        "scores": scores,
        "k": k,
        "sample": len(rows),
        "min_segment_share": MIN_SEGMENT_SHARE,
    }
    return _Fit(final.predict(x), final.cluster_centers_, None, selection, {})


def _fit_gmm(x: np.ndarray, k_range: tuple[int, int], seed: int) -> _Fit:
    from sklearn.mixture import GaussianMixture

    def mixture(k: int) -> GaussianMixture:
        return GaussianMixture(
            n_components=k, covariance_type="full", n_init=GMM_N_INIT, reg_covar=GMM_REG_COVAR, random_state=seed
        )

    rng = np.random.default_rng(seed)
    rows = _sample(len(x), SELECTION_SAMPLE, rng)
    candidates, scores = {}, []
    for k in range(k_range[0], k_range[1] + 1):
        model = mixture(k).fit(x[rows])
        candidates[k] = model
        assigned = model.predict(x[rows])
        scores.append(
            {
                "k": k,
                "bic": float(model.bic(x[rows])),
                "silhouette": _silhouette(x[rows], assigned, seed),
                "smallest_share": _smallest_share(assigned, k),
            }
        )
    k = _choose(scores, key=lambda s: s["bic"])
    final = candidates[k]
    if len(rows) < len(x):
        # Candidates were fitted on a sample: refine the winner on everyone, starting from its parameters.
        start = final
        final = GaussianMixture(
            n_components=k,
            covariance_type="full",
            n_init=1,
            reg_covar=GMM_REG_COVAR,
            random_state=seed,
            weights_init=start.weights_,
            means_init=start.means_,
            precisions_init=start.precisions_,
        ).fit(x)
    posterior = final.predict_proba(x)
    selection = {
        "criterion": "bic",
        "better": "lower",
        "scores": scores,
        "k": k,
        "sample": len(rows),
        "min_segment_share": MIN_SEGMENT_SHARE,
    }
    extra = {"weights": final.weights_.tolist(), "covariances": final.covariances_.tolist()}
    return _Fit(posterior.argmax(axis=1), final.means_, posterior.max(axis=1), selection, extra)


# --- Stable labels --------------------------------------------------------------------------------------------------


def _match(
    centres: np.ndarray, prepared: _Prepared, previous: Segmentation | None
) -> tuple[dict[int, Segment], dict[str, Any]]:
    """Clusters of the new fit that match a segment of ``previous``: new index -> old segment.

    Both sets of centres are compared in the new standardised space, on the inputs
    both versions used with the same transform."""
    from scipy.optimize import linear_sum_assignment

    if previous is None or previous.method == SegmentationMethod.RULES or not previous.model.get("centres"):
        return {}, {}
    old = previous.model
    old_index = {name: i for i, name in enumerate(old["features"])}
    common = [
        (i, old_index[item.name])
        for i, item in enumerate(prepared.inputs)
        if item.name in old_index and old["transforms"][old_index[item.name]] == item.transform
    ]
    if not common:
        return {}, {"previous": previous.pk, "note": "no input in common"}
    new_cols = [i for i, _ in common]
    old_cols = [j for _, j in common]
    old_centres = np.asarray(old["centres"])[:, old_cols]
    old_raw = old_centres * np.asarray(old["scaler"]["scale"])[old_cols] + np.asarray(old["scaler"]["mean"])[old_cols]
    old_in_new = (old_raw - prepared.mean[new_cols]) / prepared.scale[new_cols]
    diff = centres[:, None, new_cols] - old_in_new[None, :, :]
    cost = np.sqrt((diff**2).mean(axis=2))
    rows, cols = linear_sum_assignment(cost)
    segments = {s.label: s for s in previous.segments.all()}
    matched: dict[int, Segment] = {}
    pairs = []
    for r, c in zip(rows, cols, strict=True):
        old_label = old["labels"][c]
        distance = float(cost[r, c])
        keep = distance <= MATCH_MAX_DISTANCE and old_label in segments
        pairs.append({"old_label": old_label, "distance": round(distance, 4), "kept": keep})
        if keep:
            matched[int(r)] = segments[old_label]
    return matched, {"previous": previous.pk, "max_distance": MATCH_MAX_DISTANCE, "pairs": pairs}


# --- Describing segments --------------------------------------------------------------------------------------------


def _level(z: float) -> str:
    if z >= MARKED:
        return "well above average"
    if z > 0:
        return "above average"
    if z <= -MARKED:
        return "well below average"
    return "below average"


def _profile(frame: pd.DataFrame, x: np.ndarray, inputs: Sequence[Input], mask: np.ndarray) -> dict[str, Any]:
    """Every input's segment mean against all customers', as a standardised mean
    difference (in the standardised space the clusters live in), largest first."""
    rows = []
    if mask.any():
        z = x[mask].mean(axis=0)
        for i, item in enumerate(inputs):
            raw = frame[item.name].to_numpy(dtype=float)
            median = float(np.median(raw[mask]))
            rows.append(
                {
                    "feature": item.name,
                    "description": feature_get(item.name).description,
                    "z": round(float(z[i]), 4),
                    "noun": item.noun,
                    "unit": item.unit,
                    "phrase": item.phrase(float(z[i]), median),
                    "level": _level(float(z[i])),
                    "segment_mean": round(float(raw[mask].mean()), 4),
                    "population_mean": round(float(raw.mean()), 4),
                }
            )
    rows.sort(key=lambda r: (-abs(r["z"]), r["feature"]))
    return {"features": rows}


def _value(frame: pd.DataFrame, mask: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {"currency": settings.BASE_CURRENCY}
    for name in VALUE_FIGURES:
        if name in frame.columns and mask.any():
            out[f"mean_{name}"] = round(float(frame[name].to_numpy(dtype=float)[mask].mean()), 2)
    if "avg_balance_3m" in frame.columns and mask.any():
        out["median_avg_balance_3m"] = round(float(np.median(frame["avg_balance_3m"].to_numpy(dtype=float)[mask])), 2)
    return out


def _notable(profile: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in profile["features"] if abs(r["z"]) >= NOTABLE]


def _describe(profile: dict[str, Any]) -> str:
    notable = _notable(profile)[:DESCRIBED_FEATURES]
    if not notable:
        return "Close to the average customer on every input."
    text = "; ".join(f"{r['noun']} {r['level']}" for r in notable)
    return text[0].upper() + text[1:] + "."


def _name(profile: dict[str, Any], taken: set[str], label: int) -> str:
    notable = _notable(profile)
    for count in range(NAMED_FEATURES, max(NAMED_FEATURES, len(notable)) + 1):
        phrases = [r["phrase"] for r in notable[:count]]
        name = ", ".join(phrases) if phrases else "Average profile"
        name = name[0].upper() + name[1:]
        if name not in taken:
            return name[:120]
        if count >= len(notable):
            break
    return f"{name} ({label})"[:120]


# --- Services -------------------------------------------------------------------------------------------------------


def _next_version(kind: str) -> int:
    latest = Segmentation.objects.filter(kind=kind).aggregate(top=Max("version"))["top"]
    return (latest or 0) + 1


def _load(snapshot: FeatureSnapshot, frame: pd.DataFrame | None) -> pd.DataFrame:
    frame = feature_snapshot_load(snapshot) if frame is None else frame
    # Customers erased since the snapshot was built get no membership.
    known = set(Customer.objects.values_list("pk", flat=True))
    frame = frame.loc[frame.index.isin(list(known))].sort_index()
    if frame.empty:
        raise SegmentationError(f"feature snapshot {snapshot.pk} has no customer")
    return frame


@transaction.atomic
def segmentation_fit(
    *,
    kind: str,
    snapshot: FeatureSnapshot,
    actor: User | None,
    now: dt.datetime,
    seed: int | None = None,
    k_range: tuple[int, int] = DEFAULT_K_RANGE,
    method: str | None = None,
    frame: pd.DataFrame | None = None,
) -> Segmentation:
    """Build a new (not yet current) version of ``kind`` from ``snapshot``, with a
    membership for every customer in it. ``frame`` is the snapshot's table when the
    caller has loaded it already."""
    if kind not in SegmentationKind.values:
        raise SegmentationError(f"unknown segmentation kind {kind!r}; expected one of {SegmentationKind.values}")
    seed = settings.MODEL_SEED if seed is None else seed
    frame = _load(snapshot, frame)
    previous = Segmentation.objects.filter(kind=kind, is_current=True).first()
    if kind in RULE_COLUMNS:
        return _rules_build(kind=kind, snapshot=snapshot, actor=actor, frame=frame, previous=previous)
    method = method or DEFAULT_METHOD[kind]
    if method not in (SegmentationMethod.KMEANS, SegmentationMethod.GMM):
        raise SegmentationError(f"a {kind} segmentation is fitted by kmeans or gmm, not {method!r}")
    low, high = k_range
    if low < 2 or high < low:
        raise SegmentationError(f"k range {k_range} must satisfy 2 <= low <= high")
    if len(frame) <= high:
        raise SegmentationError(f"{len(frame)} customers are too few to try up to {high} segments")

    # Imported here (not at the top) so that reading segments, as the web pages and
    # the decision API do, never loads scikit-learn.
    import sklearn.cluster  # noqa: F401
    import sklearn.mixture  # noqa: F401
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    prepared = _prepare(frame, INPUTS[kind])
    with threadpool_limits(limits=THREADS):
        fit = (_fit_kmeans if method == SegmentationMethod.KMEANS else _fit_gmm)(prepared.x, k_range, seed)
    fit_seconds = time.perf_counter() - started

    # A mixture component may win no customer outright: it is dropped, not kept empty.
    sizes = np.bincount(fit.assignment, minlength=len(fit.centres))
    kept = [i for i in range(len(fit.centres)) if sizes[i] > 0]
    fit.selection["empty_components"] = len(fit.centres) - len(kept)

    matched, matching = _match(fit.centres[kept], prepared, previous)
    matched = {kept[i]: segment for i, segment in matched.items()}
    next_label = (Segment.objects.filter(segmentation__kind=kind).aggregate(top=Max("label"))["top"] or 0) + 1
    labels: dict[int, int] = {}
    for index in sorted(kept, key=lambda i: (i not in matched, -sizes[i], i)):
        if index in matched:
            labels[index] = matched[index].label
        else:
            labels[index] = next_label
            next_label += 1
    fit.selection["matching"] = matching

    segmentation = Segmentation.objects.create(
        kind=kind,
        method=method,
        version=_next_version(kind),
        snapshot=snapshot,
        previous=previous,
        features=[item.name for item in prepared.inputs],
        params={
            "seed": seed,
            "k_range": list(k_range),
            "n_init": KMEANS_N_INIT if method == SegmentationMethod.KMEANS else GMM_N_INIT,
            "selection_sample": SELECTION_SAMPLE,
            "silhouette_sample": SILHOUETTE_SAMPLE,
            "dropped_inputs": prepared.dropped,
            "customers": len(frame),
            "fit_seconds": round(fit_seconds, 3),
        },
        selection=fit.selection,
        model={
            "features": [item.name for item in prepared.inputs],
            "transforms": [item.transform for item in prepared.inputs],
            "impute": prepared.impute,
            "scaler": {"mean": prepared.mean.tolist(), "scale": prepared.scale.tolist()},
            "labels": [labels[i] for i in kept],
            "centres": fit.centres[kept].tolist(),
            **(
                {
                    "covariance_type": "full",
                    "weights": [fit.extra["weights"][i] for i in kept],
                    "covariances": [fit.extra["covariances"][i] for i in kept],
                }
                if method == SegmentationMethod.GMM
                else {}
            ),
        },
        created_by=actor,
    )
    total = len(frame)
    segments: dict[int, Segment] = {}
    # A matched segment keeps its name too, unless the inputs changed: the name may cite one no longer used.
    same_inputs = previous is not None and previous.features == segmentation.features
    keep_name = {i for i in kept if i in matched and same_inputs}
    taken = {matched[i].name for i in keep_name}
    for index in sorted(kept, key=lambda i: (i not in keep_name, labels[i])):
        mask = fit.assignment == index
        profile = _profile(frame, prepared.x, prepared.inputs, mask)
        label = labels[index]
        if index in keep_name:
            name = matched[index].name
            profile["generated_name"] = _name(profile, set(), label)
        else:
            name = _name(profile, taken, label)
            taken.add(name)
        segments[index] = Segment.objects.create(
            segmentation=segmentation,
            label=label,
            code=f"{kind}_{label}",
            name=name,
            description=_describe(profile),
            size=int(mask.sum()),
            share=round(float(mask.sum()) / total, 6),
            value=_value(frame, mask),
            profile=profile,
        )
    _memberships_write(
        segmentation=segmentation,
        customer_ids=frame.index.to_numpy(),
        segment_ids=np.array([segments[i].pk for i in kept])[np.searchsorted(kept, fit.assignment)],
        probability=fit.probability,
    )
    logger.info(
        "%s: k=%d by %s in %.2f s on %d customers",
        segmentation,
        len(kept),
        fit.selection["criterion"],
        fit_seconds,
        total,
    )
    return segmentation


def _rules_build(
    *, kind: str, snapshot: FeatureSnapshot, actor: User | None, frame: pd.DataFrame, previous: Segmentation | None
) -> Segmentation:
    missing = [c for c in RULE_COLUMNS[kind] if c not in frame.columns]
    if missing:
        raise SegmentationError(f"the feature table lacks {', '.join(missing)}, needed by the {kind} rules")
    rules = rules_of(kind)
    assignment = np.full(len(frame), -1)
    for position, rule in enumerate(rules):
        hit = rule.test(frame).to_numpy(dtype=bool) & (assignment < 0)
        assignment[hit] = position
    assert (assignment >= 0).all(), "the last rule of a kind catches everyone"
    prepared = _prepare(frame, PROFILE_INPUTS)
    segmentation = Segmentation.objects.create(
        kind=kind,
        method=SegmentationMethod.RULES,
        version=_next_version(kind),
        snapshot=snapshot,
        previous=previous,
        features=list(RULE_COLUMNS[kind]),
        params={"customers": len(frame), "currency": settings.BASE_CURRENCY},
        selection={},
        model={
            "rules": [
                {"label": position + 1, "key": rule.key, "name": rule.name, "description": rule.description}
                for position, rule in enumerate(rules)
            ]
        },
        created_by=actor,
    )
    segment_ids = []
    for position, rule in enumerate(rules):
        mask = assignment == position
        segment_ids.append(
            Segment.objects.create(
                segmentation=segmentation,
                label=position + 1,
                code=f"{kind}_{rule.key}",
                name=rule.name,
                description=rule.description,
                size=int(mask.sum()),
                share=round(float(mask.sum()) / len(frame), 6),
                value=_value(frame, mask),
                profile=_profile(frame, prepared.x, prepared.inputs, mask),
            ).pk
        )
    _memberships_write(
        segmentation=segmentation,
        customer_ids=frame.index.to_numpy(),
        segment_ids=np.array(segment_ids)[assignment],
        probability=None,
    )
    return segmentation


def _memberships_write(
    *, segmentation: Segmentation, customer_ids: np.ndarray, segment_ids: np.ndarray, probability: np.ndarray | None
) -> None:
    """One row per customer: a COPY on PostgreSQL (100,000 rows in well under a
    second, against several seconds of INSERTs), batched INSERTs elsewhere."""
    if connection.vendor == "postgresql":
        rows = pd.DataFrame(
            {
                "segmentation_id": segmentation.pk,
                "customer_id": customer_ids.astype("int64"),
                "segment_id": segment_ids.astype("int64"),
                "probability": np.round(probability, 6) if probability is not None else np.nan,
            }
        )
        text = rows.to_csv(sep="\t", header=False, index=False, na_rep="\\N")
        table = SegmentMembership._meta.db_table
        sql = f"COPY {table} (segmentation_id, customer_id, segment_id, probability) FROM STDIN"
        with connection.cursor() as cursor, cursor.copy(sql) as copy:
            copy.write(text)
        return
    for start in range(0, len(customer_ids), MEMBERSHIP_BATCH_SIZE):
        stop = start + MEMBERSHIP_BATCH_SIZE
        chunk = probability[start:stop] if probability is not None else [None] * len(customer_ids[start:stop])
        SegmentMembership.objects.bulk_create(
            [
                SegmentMembership(
                    segmentation_id=segmentation.pk,
                    customer_id=int(customer),
                    segment_id=int(segment),
                    probability=None if p is None else round(float(p), 6),
                )
                for customer, segment, p in zip(customer_ids[start:stop], segment_ids[start:stop], chunk, strict=True)
            ],
            batch_size=MEMBERSHIP_BATCH_SIZE,
        )


@transaction.atomic
def segmentation_make_current(*, segmentation: Segmentation, actor: User | None, now: dt.datetime) -> Segmentation:
    """Make ``segmentation`` the one current version of its kind; the one before stays, not current."""
    before = Segmentation.objects.select_for_update().filter(kind=segmentation.kind, is_current=True).first()
    if before is not None and before.pk == segmentation.pk:
        return segmentation
    Segmentation.objects.filter(kind=segmentation.kind, is_current=True).update(is_current=False, updated_at=now)
    Segmentation.objects.filter(pk=segmentation.pk).update(is_current=True, updated_at=now)
    segmentation.is_current = True
    audit_record(
        actor=actor,
        action="segmentation.make_current",
        object_type="segmentation",
        object_id=segmentation.pk,
        before={"kind": segmentation.kind, "version": before.version if before else None},
        after={
            "kind": segmentation.kind,
            "version": segmentation.version,
            "method": segmentation.method,
            "segments": segmentation.segments.count(),
            "snapshot": segmentation.snapshot_id,
        },
        now=now,
    )
    return segmentation


@transaction.atomic
def segmentations_build(
    *,
    snapshot: FeatureSnapshot,
    actor: User | None,
    now: dt.datetime,
    seed: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[Segmentation]:
    """Build a new version of every kind from ``snapshot`` and make them current,
    all or nothing: one transaction, so readers see the old set or the new set."""
    frame = feature_snapshot_load(snapshot)
    kinds = list(SegmentationKind.values)
    built = []
    for done, kind in enumerate(kinds):
        if progress:
            progress(done, len(kinds), f"{kind} segments")
        built.append(segmentation_fit(kind=kind, snapshot=snapshot, actor=actor, now=now, seed=seed, frame=frame))
    for segmentation in built:
        segmentation_make_current(segmentation=segmentation, actor=actor, now=now)
    if progress:
        progress(len(kinds), len(kinds), "done")
    return built


# --- Using a stored segmentation ------------------------------------------------------------------------------------


def segmentation_assign(*, segmentation: Segmentation, frame: pd.DataFrame) -> pd.DataFrame:
    """Assign customers (rows of a feature table) to the segments of a stored
    version from its JSON alone: columns ``label`` and ``probability`` (mixtures)."""
    if segmentation.method == SegmentationMethod.RULES:
        rules = rules_of(segmentation.kind)
        label = pd.Series(0, index=frame.index)
        for position, rule in reversed(list(enumerate(rules))):
            label[rule.test(frame).to_numpy(dtype=bool)] = position + 1
        return pd.DataFrame({"label": label, "probability": np.nan}, index=frame.index)
    model = segmentation.model
    x = _standardise_with(frame, model)
    centres = np.asarray(model["centres"])
    labels = np.asarray(model["labels"])
    if segmentation.method == SegmentationMethod.KMEANS:
        distance = ((x[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        return pd.DataFrame({"label": labels[distance.argmin(axis=1)], "probability": np.nan}, index=frame.index)
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal

    log_density = np.column_stack(
        [
            math.log(weight) + multivariate_normal(mean=centre, cov=np.asarray(cov)).logpdf(x)
            for weight, centre, cov in zip(model["weights"], centres, model["covariances"], strict=True)
        ]
    )
    posterior = np.exp(log_density - logsumexp(log_density, axis=1, keepdims=True))
    # The stored weights cover kept components only, so renormalised posteriors can differ
    # slightly from the fit's when a component was dropped; the winner is the same.
    return pd.DataFrame(
        {"label": labels[posterior.argmax(axis=1)], "probability": posterior.max(axis=1)}, index=frame.index
    )


# --- Selectors ------------------------------------------------------------------------------------------------------


def customer_segments(*, customer_id: int) -> dict[str, Segment]:
    """The customer's segment in the current version of each kind: kind -> segment
    (with ``segmentation`` loaded). Kinds without a current version are absent."""
    memberships = SegmentMembership.objects.filter(
        customer_id=customer_id, segmentation__is_current=True
    ).select_related("segment", "segment__segmentation")
    return {m.segment.segmentation.kind: m.segment for m in memberships}


def segment_current_get(*, code: str) -> Segment:
    """The segment with ``code`` in the current version of its kind; KeyError names
    an unknown code (a segment a refit no longer has), so a rule cannot silently
    target nobody."""
    segment = Segment.objects.select_related("segmentation").filter(code=code, segmentation__is_current=True).first()
    if segment is None:
        raise KeyError(f"no current segment with code {code!r}")
    return segment


def segment_customer_ids(*, code: str) -> QuerySet[SegmentMembership, int]:
    """Ids of the customers in the current segment ``code``, in id order: a lazy
    query, usable as ``customer_id__in=`` subquery or turned into a list."""
    segment = segment_current_get(code=code)
    return (
        SegmentMembership.objects.filter(segment=segment).order_by("customer_id").values_list("customer_id", flat=True)
    )


def segmentations_current() -> list[Segmentation]:
    """The current version of each kind, in kind order, with their segments."""
    order = {kind: i for i, kind in enumerate(SegmentationKind.values)}
    found = Segmentation.objects.filter(is_current=True).select_related("snapshot").prefetch_related("segments")
    return sorted(found, key=lambda s: order[s.kind])


def segmentation_versions(*, kind: str) -> list[Segmentation]:
    """Every version of ``kind``, newest first."""
    return list(Segmentation.objects.filter(kind=kind).select_related("snapshot", "created_by").order_by("-version"))


def segmentation_get(*, kind: str, version: int | None = None) -> Segmentation | None:
    """One version of ``kind`` with its segments (``None``: the current one)."""
    found = Segmentation.objects.filter(kind=kind).select_related("snapshot", "created_by", "previous")
    found = found.filter(version=version) if version is not None else found.filter(is_current=True)
    return found.prefetch_related("segments").first()
