"""Training: one calibrated propensity model per product, evaluated on a time
holdout against baselines, registered as a candidate ``ModelVersion``.

Cut-offs are first days of months. The test cut-off is the latest whose
``horizon_days`` label window ends on or before the data's last day (the latest
transaction booked, account opened or offer made). The training cut-offs are
the ``MODEL_TRAINING_CUTOFFS - 1`` months up to the latest whose own label
window closes by the test cut-off: a model evaluated as of the test cut-off is
trained only on outcomes known by then, so no take-up counted in the test
window is ever a training label. (Consecutive months up to the test cut-off
would let the same take-up be a positive in both.)

Labels, per product and cut-off: the eligible rows are the customers of the
cut-off's feature snapshot who did not hold the product at the cut-off (an
account of it opened before the cut-off and not closed before it, as primary or
joint holder); a row is positive when the customer opened an account of it as
holder on a day in [cut-off, cut-off + horizon), or accepted an offer of it
(``ContactHistory`` outcome ``accepted``, at ``responded_at``, or
``offered_at`` when no response time is recorded) in that window.

The shipped model is the evaluated one: trained on the training cut-offs (the
newest of them held out inside ``propensity_fit`` for early stopping and
calibration), tested on the test cut-off. It is not refitted on the test
cut-off afterwards, so every metric stored with it describes the very artifact
that scores; the price is a model a few months older than the data.

A product whose training or test rows hold fewer than ``MODEL_MIN_POSITIVES``
positives is skipped with the reason in the report; the others are trained. The
training-data fingerprint (snapshot fingerprints, cut-offs, customers, labels,
parameters, seed, features, format version) is stored on each version: when it
equals the product's latest version's, nothing is trained for that product
unless ``force``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q

from core.models import User
from core.services import audit_record
from customers.choices import OfferOutcome
from customers.models import Account, AccountHolder, ContactHistory, Product, Transaction
from modeling import evaluation
from modeling.feature_catalogue import model_feature_names
from modeling.features import day_start, minus_months
from modeling.models import FeatureSnapshot, ModelStatus, ModelVersion, Segmentation, SegmentMembership
from modeling.propensity import (
    FORMAT_VERSION,
    FittedModel,
    artifact_name,
    fit_params,
    json_safe,
    library_versions,
    model_save,
    propensity_fit,
)
from modeling.snapshots import bank_today, feature_snapshot_build, feature_snapshot_latest, feature_snapshot_load

logger = logging.getLogger(__name__)
MODELS_DIR = "models"
IMPORTANCE_TOP = 30
Progress = Callable[[int, int, str], None]


@dataclass
class TrainingReport:
    """What one training run did: versions created, products skipped (with why),
    products whose data had not changed, the cut-offs used."""

    trained: list[ModelVersion] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    unchanged: bool = False  # nothing trained because no product's training data changed
    unchanged_products: list[str] = field(default_factory=list)
    train_cutoffs: list[dt.date] = field(default_factory=list)
    test_cutoff: dt.date | None = None
    horizon_days: int = 0
    data_end: dt.date | None = None
    snapshot_ids: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        parts = [f"{len(self.trained)} trained"]
        if self.unchanged_products:
            parts.append(f"{len(self.unchanged_products)} unchanged")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        return ", ".join(parts) + f" in {self.seconds:.1f} s"


# --- Cut-offs -------------------------------------------------------------------------------------------------------


def data_end_date() -> dt.date | None:
    """The bank's last day with data: the latest transaction booked, account opened or offer made."""
    booked = Transaction.objects.aggregate(last=Max("booked_at"))["last"]
    opened = Account.objects.aggregate(last=Max("opened_on"))["last"]
    offered = ContactHistory.objects.aggregate(last=Max("offered_at"))["last"]
    days = [d for d in (bank_today(booked) if booked else None, opened, bank_today(offered) if offered else None) if d]
    return max(days) if days else None


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _latest_month_start(*, window_ends_by: dt.date, horizon_days: int) -> dt.date:
    """The latest first-of-month whose label window [c, c + horizon) ends on or before ``window_ends_by``."""
    cutoff = _month_start(window_ends_by - dt.timedelta(days=horizon_days))
    while cutoff + dt.timedelta(days=horizon_days) > window_ends_by:  # never, for a first of month; kept for safety
        cutoff = minus_months(cutoff, 1)
    return cutoff


def training_cutoffs(
    *, data_end: dt.date, horizon_days: int, count: int, cutoffs: Sequence[dt.date] | None = None
) -> tuple[list[dt.date], dt.date]:
    """(training cut-offs, test cut-off). Given ``cutoffs`` are checked: the latest
    is the test cut-off; none may have its label window run past the data, nor a
    training cut-off's window past the test cut-off."""
    horizon = dt.timedelta(days=horizon_days)
    if cutoffs is None:
        if count < 2:
            raise ValueError("training needs at least 2 cut-offs: training ones and the test one")
        test = _latest_month_start(window_ends_by=data_end, horizon_days=horizon_days)
        last_train = _latest_month_start(window_ends_by=test, horizon_days=horizon_days)
        train = [minus_months(last_train, k) for k in reversed(range(count - 1))]
        return train, test
    chosen = sorted(set(cutoffs))
    if len(chosen) < 2:
        raise ValueError("training needs at least 2 cut-offs: training ones and the test one")
    for cutoff in chosen:
        if cutoff + horizon > data_end:
            raise ValueError(
                f"cut-off {cutoff.isoformat()}: its {horizon_days}-day label window ends "
                f"{(cutoff + horizon).isoformat()}, after the data ends ({data_end.isoformat()})"
            )
    *train, test = chosen
    for cutoff in train:
        if cutoff + horizon > test:
            raise ValueError(
                f"training cut-off {cutoff.isoformat()}: its {horizon_days}-day label window runs past the test "
                f"cut-off {test.isoformat()}, so test-period take-ups would be training labels"
            )
    return train, test


# --- Snapshots and labels -------------------------------------------------------------------------------------------


def _latest_received_at() -> dt.datetime | None:
    """When Crossell last received any fact of the bank's data."""
    latest = None
    for model in apps.get_app_config("customers").get_models():
        if any(f.name == "received_at" for f in model._meta.get_fields()):
            value = model.objects.aggregate(last=Max("received_at"))["last"]
            if value is not None and (latest is None or value > latest):
                latest = value
    return latest


def _snapshot_for(cutoff: dt.date, *, received: dt.datetime | None, now: dt.datetime) -> FeatureSnapshot:
    """A ready snapshot of ``cutoff`` built after the last fact arrived (so it saw
    everything there is), or a new one."""
    if received is not None:
        existing = feature_snapshot_latest(cutoff=cutoff, known_after=received + dt.timedelta(microseconds=1))
        if existing is not None and (Path(settings.MODEL_DIR) / existing.path).is_file():
            return existing
    return feature_snapshot_build(cutoff=cutoff, now=now)


def _pairs(rows: Any) -> dict[int, set[int]]:
    """product id -> customer ids, from (customer_id, product_id) rows."""
    out: dict[int, set[int]] = {}
    for customer_id, product_id in rows:
        out.setdefault(product_id, set()).add(customer_id)
    return out


@dataclass
class _CutoffLabels:
    held: dict[int, set[int]]  # product id -> customers holding it at the cut-off
    took_up: dict[int, set[int]]  # product id -> customers who took it up in the window


def cutoff_labels(*, cutoff: dt.date, horizon_days: int) -> _CutoffLabels:
    """Holdings at ``cutoff`` and take-ups in [cutoff, cutoff + horizon), for every product."""
    end = cutoff + dt.timedelta(days=horizon_days)
    held = AccountHolder.objects.filter(account__opened_on__lt=cutoff).filter(
        Q(account__closed_on__isnull=True) | Q(account__closed_on__gte=cutoff)
    )
    opened = AccountHolder.objects.filter(account__opened_on__gte=cutoff, account__opened_on__lt=end)
    start_at, end_at = day_start(cutoff), day_start(end)
    accepted = ContactHistory.objects.filter(outcome=OfferOutcome.ACCEPTED).filter(
        Q(responded_at__gte=start_at, responded_at__lt=end_at)
        | Q(responded_at__isnull=True, offered_at__gte=start_at, offered_at__lt=end_at)
    )
    took_up = _pairs(opened.values_list("customer_id", "account__product_id").distinct())
    for product_id, customers in _pairs(accepted.values_list("customer_id", "product_id").distinct()).items():
        took_up.setdefault(product_id, set()).update(customers)
    return _CutoffLabels(
        held=_pairs(held.values_list("customer_id", "account__product_id").distinct()), took_up=took_up
    )


@dataclass
class _Stack:
    """Every cut-off's feature rows stacked, with the cut-off of each row."""

    frame: pd.DataFrame  # index: customer_id (repeats across cut-offs)
    cutoff: np.ndarray  # datetime64[D] per row
    labels: dict[dt.date, _CutoffLabels]

    def rows(self, product_id: int, cutoffs: Sequence[dt.date]) -> tuple[np.ndarray, np.ndarray]:
        """(row mask of eligible rows at ``cutoffs``, 0/1 label per row) for one product."""
        customers = self.frame.index.to_numpy()
        mask = np.zeros(len(self.frame), dtype=bool)
        labels = np.zeros(len(self.frame), dtype=np.float64)
        for cutoff in cutoffs:
            at = self.cutoff == np.datetime64(cutoff, "D")
            info = self.labels[cutoff]
            held = np.isin(customers, list(info.held.get(product_id, ())))
            took = np.isin(customers, list(info.took_up.get(product_id, ())))
            mask |= at & ~held
            labels[at & took] = 1.0
        labels[~mask] = 0.0
        return mask, labels


def _stack(snapshots: dict[dt.date, FeatureSnapshot], labels: dict[dt.date, _CutoffLabels]) -> _Stack:
    frames = {cutoff: feature_snapshot_load(snapshot) for cutoff, snapshot in snapshots.items()}
    latest = frames[max(frames)]
    # Columns present at every cut-off (per-product and market columns follow the data), in the latest's order.
    columns = [c for c in latest.columns if all(c in f.columns for f in frames.values())]
    ordered = sorted(frames)
    frame = pd.concat([frames[c][columns] for c in ordered])
    cutoff = np.concatenate([np.full(len(frames[c]), np.datetime64(c, "D")) for c in ordered])
    return _Stack(frame=frame, cutoff=cutoff, labels=labels)


# --- Evaluation -----------------------------------------------------------------------------------------------------


def _segments_of(test: pd.DataFrame) -> dict[str, np.ndarray]:
    """Segment labels of the test rows: current segmentations if any, plus products
    held and age band from the features (age band is for fairness reporting only)."""
    out: dict[str, np.ndarray] = {}
    customers = test.index.to_numpy()
    for segmentation in Segmentation.objects.filter(is_current=True).order_by("kind"):
        codes = dict(
            SegmentMembership.objects.filter(segmentation=segmentation).values_list("customer_id", "segment__code")
        )
        out[f"{segmentation.kind} v{segmentation.version}"] = np.array(
            [codes.get(int(c), "none") for c in customers], dtype=object
        )
    if "products_held" in test.columns:
        held = np.clip(test["products_held"].to_numpy(dtype=np.float64, na_value=0.0), 0, 5).astype(int)
        out["products_held"] = np.array([f"{h}+" if h == 5 else str(h) for h in held], dtype=object)
    if "age_band" in test.columns:
        out["age_band"] = test["age_band"].astype(str).to_numpy(dtype=object)
    return out


def _evaluate(
    *,
    fitted: FittedModel,
    train: pd.DataFrame,
    train_labels: np.ndarray,
    test: pd.DataFrame,
    test_labels: np.ndarray,
    seed: int,
) -> dict[str, Any]:
    model = fitted.model
    x_test = model.matrix(test)
    raw = model.predict_raw(x_test)
    predicted = model.calibrate(raw)
    features = list(model.features)
    logistic = evaluation.baseline_logistic(
        train=train, train_labels=train_labels, test=test, features=features, seed=seed
    )
    popularity = evaluation.baseline_popularity(train=train, train_labels=train_labels, test=test)
    test_metrics = evaluation.scores_evaluate(test_labels, predicted)
    test_metrics["brier_uncalibrated"] = evaluation.brier(test_labels, raw)
    baselines = {
        "logistic": evaluation.scores_evaluate(test_labels, logistic),
        "popularity": evaluation.scores_evaluate(test_labels, popularity),
    }
    importance = [
        {"feature": name, "gain": round(gain, 4)}
        for name, gain in list(fitted.feature_importance.items())[:IMPORTANCE_TOP]
        if gain > 0
    ]
    segments = {
        name: evaluation.segment_aucs(test_labels, predicted, values) for name, values in _segments_of(test).items()
    }
    auc, lr_auc = test_metrics["roc_auc"], baselines["logistic"]["roc_auc"]
    return {
        "test": test_metrics,
        "baselines": baselines,
        "beats_logistic": bool(auc is not None and lr_auc is not None and auc > lr_auc),
        "curves": {
            "model": evaluation.curves(test_labels, predicted),
            "logistic": evaluation.curves(test_labels, logistic),
            "popularity": evaluation.curves(test_labels, popularity),
        },
        "feature_importance": importance,
        "segments": segments,
        "training": {
            "best_iteration": fitted.best_iteration,
            "rounds": fitted.rounds,
            "holdout": fitted.holdout,
            "calibration": fitted.calibration,
        },
    }


# --- The service ----------------------------------------------------------------------------------------------------


def _fingerprint(
    *,
    snapshots: dict[dt.date, FeatureSnapshot],
    test_cutoff: dt.date,
    horizon_days: int,
    customers: np.ndarray,
    cutoff: np.ndarray,
    labels: np.ndarray,
    params: dict[str, Any],
    seed: int,
    features: Sequence[str],
) -> str:
    digest = hashlib.sha256()
    head = {
        "format_version": FORMAT_VERSION,
        "snapshots": {c.isoformat(): s.data_fingerprint for c, s in sorted(snapshots.items())},
        "test_cutoff": test_cutoff.isoformat(),
        "horizon_days": horizon_days,
        "params": params,
        "seed": seed,
        "features": list(features),
    }
    digest.update(json.dumps(json_safe(head), sort_keys=True).encode())
    digest.update(np.ascontiguousarray(customers, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(cutoff.astype("datetime64[D]").astype(np.int64)).tobytes())
    digest.update(np.ascontiguousarray(labels, dtype=np.int8).tobytes())
    return digest.hexdigest()


def _product_dir(product: Product) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", product.code) or f"product-{product.pk}"


def _register(
    *,
    product: Product,
    fitted: FittedModel,
    metrics: dict[str, Any],
    cutoffs: dict[str, Any],
    fingerprint: str,
    actor: User | None,
    seconds: float,
    now: dt.datetime,
) -> ModelVersion:
    """Write the artifact, then its ModelVersion row; the row never points at a missing directory."""
    with transaction.atomic():
        # Lock the product row: two trainings of one product number their versions one after the other.
        Product.objects.select_for_update().filter(pk=product.pk).first()
        latest = ModelVersion.objects.filter(product=product).aggregate(v=Max("version"))["v"] or 0
        version = latest + 1
        relative = Path(MODELS_DIR) / _product_dir(product) / artifact_name(version)
        extra = {"cutoffs": cutoffs, "data_fingerprint": fingerprint, "metrics": metrics}
        directory, sha = model_save(
            fitted=fitted, directory=Path(settings.MODEL_DIR) / relative, manifest_extra=json_safe(extra)
        )
        try:
            row = ModelVersion.objects.create(
                product=product,
                version=version,
                status=ModelStatus.CANDIDATE,
                artifact_path=str(relative),
                artifact_sha256=sha,
                format_version=FORMAT_VERSION,
                data_fingerprint=fingerprint,
                features=list(fitted.model.features),
                params=json_safe({**fitted.params, **_fit_settings(fitted)}),
                library_versions=library_versions(),
                metrics=json_safe({**metrics, "seconds": round(seconds, 3)}),
                cutoffs=cutoffs,
                seed=fitted.seed,
                trained_by=actor,
            )
            audit_record(
                actor=actor,
                action="model.train",
                object_type="model_version",
                object_id=row.pk,
                after={"product": product.code, "version": version, "status": row.status, "sha256": sha},
                now=now,
            )
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
    return row


def _fit_settings(fitted: FittedModel) -> dict[str, Any]:
    return {
        "num_boost_round": fitted.num_boost_round,
        "early_stopping_rounds": fitted.early_stopping_rounds,
        "calibration": fitted.calibration["method"],
        "rounds": fitted.rounds,
        "best_iteration": fitted.best_iteration,
        "refit": bool(fitted.holdout.get("refit", False)),
    }


def models_train(
    *,
    products: Sequence[Product] | None = None,
    actor: User | None,
    now: dt.datetime,
    cutoffs: Sequence[dt.date] | None = None,
    horizon_days: int | None = None,
    seed: int | None = None,
    force: bool = False,
    params: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> TrainingReport:
    """Train, evaluate and register one candidate model per product (see the module docstring)."""
    started = time.perf_counter()
    horizon_days = int(horizon_days if horizon_days is not None else settings.MODEL_HORIZON_DAYS)
    seed = int(seed if seed is not None else settings.MODEL_SEED)
    min_positives = int(settings.MODEL_MIN_POSITIVES)
    if horizon_days < 1:
        raise ValueError("horizon_days must be at least 1")
    data_end = data_end_date()
    if data_end is None:
        raise ValueError("there is no data to train on: no transaction, account or offer")
    train_cutoffs, test_cutoff = training_cutoffs(
        data_end=data_end, horizon_days=horizon_days, count=int(settings.MODEL_TRAINING_CUTOFFS), cutoffs=cutoffs
    )
    if products is None:
        today = bank_today(now)
        products = list(Product.objects.filter(Q(retired_on__isnull=True) | Q(retired_on__gt=today)).order_by("code"))
    report = TrainingReport(
        train_cutoffs=train_cutoffs, test_cutoff=test_cutoff, horizon_days=horizon_days, data_end=data_end
    )
    all_cutoffs = [*train_cutoffs, test_cutoff]
    received = _latest_received_at()
    snapshots = {c: _snapshot_for(c, received=received, now=now) for c in all_cutoffs}
    report.snapshot_ids = [s.pk for s in snapshots.values()]
    stack = _stack(snapshots, {c: cutoff_labels(cutoff=c, horizon_days=horizon_days) for c in all_cutoffs})
    features = model_feature_names(stack.frame.columns)
    if getattr(settings, "MODEL_REFIT", False):
        params = {"refit": True, **(params or {})}
    booster_params, fit_settings = fit_params(params, seed)
    resolved_params = {**booster_params, **fit_settings}
    cutoffs_info = {
        "train": [c.isoformat() for c in train_cutoffs],
        "test": test_cutoff.isoformat(),
        "horizon_days": horizon_days,
        "data_end": data_end.isoformat(),
    }
    total = len(products)
    for done, product in enumerate(products, start=1):
        message = _train_one(
            product=product,
            stack=stack,
            snapshots=snapshots,
            train_cutoffs=train_cutoffs,
            test_cutoff=test_cutoff,
            horizon_days=horizon_days,
            features=features,
            params=params,
            resolved_params=resolved_params,
            seed=seed,
            force=force,
            min_positives=min_positives,
            cutoffs_info=cutoffs_info,
            actor=actor,
            now=now,
            report=report,
        )
        logger.info("training %s: %s", product.code, message)
        if progress is not None:
            progress(done, total, f"{product.code}: {message}")
    report.unchanged = not report.trained and bool(report.unchanged_products)
    report.seconds = time.perf_counter() - started
    return report


def _train_one(
    *,
    product: Product,
    stack: _Stack,
    snapshots: dict[dt.date, FeatureSnapshot],
    train_cutoffs: list[dt.date],
    test_cutoff: dt.date,
    horizon_days: int,
    features: list[str],
    params: dict[str, Any] | None,
    resolved_params: dict[str, Any],
    seed: int,
    force: bool,
    min_positives: int,
    cutoffs_info: dict[str, Any],
    actor: User | None,
    now: dt.datetime,
    report: TrainingReport,
) -> str:
    """Train one product, recording the outcome in ``report``; returns a one-line message."""
    started = time.perf_counter()
    train_mask, train_labels_all = stack.rows(product.pk, train_cutoffs)
    test_mask, test_labels_all = stack.rows(product.pk, [test_cutoff])
    train_labels, test_labels = train_labels_all[train_mask], test_labels_all[test_mask]
    train_pos, test_pos = int(train_labels.sum()), int(test_labels.sum())
    if train_pos < min_positives or test_pos < min_positives:
        where = (
            f"{train_pos} positives in training ({len(train_labels)} rows)"
            if train_pos < min_positives
            else f"{test_pos} positives at the test cut-off {test_cutoff.isoformat()} ({len(test_labels)} rows)"
        )
        reason = f"too few take-ups to train: {where}, at least {min_positives} needed (MODEL_MIN_POSITIVES)"
        report.skipped[product.code] = reason
        return f"skipped, {reason}"
    both = train_mask | test_mask
    fingerprint = _fingerprint(
        snapshots=snapshots,
        test_cutoff=test_cutoff,
        horizon_days=horizon_days,
        customers=stack.frame.index.to_numpy()[both],
        cutoff=stack.cutoff[both],
        labels=(train_labels_all + test_labels_all)[both],
        params=resolved_params,
        seed=seed,
        features=features,
    )
    latest = ModelVersion.objects.filter(product=product).order_by("-version").first()
    if latest is not None and latest.data_fingerprint == fingerprint and not force:
        report.unchanged_products.append(product.code)
        return f"unchanged since v{latest.version}"
    train = stack.frame.iloc[np.nonzero(train_mask)[0]]
    test = stack.frame.iloc[np.nonzero(test_mask)[0]]
    fitted = propensity_fit(
        frame=train,
        labels=train_labels,
        periods=stack.cutoff[train_mask],
        product_code=product.code,
        seed=seed,
        params=params,
        features=features,
    )
    metrics = _evaluate(
        fitted=fitted, train=train, train_labels=train_labels, test=test, test_labels=test_labels, seed=seed
    )
    metrics["counts"] = {
        "train": {
            "rows": len(train_labels),
            "positives": train_pos,
            "by_cutoff": _by_cutoff(stack, train_mask, train_labels_all),
        },
        "test": {"rows": len(test_labels), "positives": test_pos},
        "holdout": {"rows": fitted.holdout["rows"], "positives": fitted.holdout["positives"]},
    }
    row = _register(
        product=product,
        fitted=fitted,
        metrics=metrics,
        cutoffs=cutoffs_info,
        fingerprint=fingerprint,
        actor=actor,
        seconds=time.perf_counter() - started,
        now=now,
    )
    report.trained.append(row)
    test_metrics, lr = metrics["test"], metrics["baselines"]["logistic"]
    return (
        f"v{row.version}: test AUC {test_metrics['roc_auc']:.3f} (logistic {lr['roc_auc']:.3f}), "
        f"{test_pos} test positives"
    )


def _by_cutoff(stack: _Stack, mask: np.ndarray, labels: np.ndarray) -> dict[str, dict[str, int]]:
    out = {}
    for value in np.unique(stack.cutoff[mask]):
        rows = mask & (stack.cutoff == value)
        out[str(value)] = {"rows": int(rows.sum()), "positives": int(labels[rows].sum())}
    return out
