"""Planted segments, for the segmentation tests and the segment explorer's.

``planted_frame`` builds a feature table (the columns the segmentations read) in
which customers fall into three behavioural groups and three value groups of
known shape, so a fit has something true to find. ``snapshot_of`` stores such a
table as a ready ``FeatureSnapshot`` without computing features from raw data,
which keeps these tests fast.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings

from customers.models import Customer
from modeling.models import FeatureSnapshot, SnapshotStatus
from modeling.snapshots import file_sha256
from tests.factories.customers import CustomerFactory

CUTOFF = dt.date(2026, 3, 1)
NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
# Behavioural groups: what each group does more of than the others.
DIGITAL, CASH, TRAVEL = 0, 1, 2
# Value groups.
WEALTHY, EVERYDAY, STRETCHED = 0, 1, 2
EMPLOYMENT = ("employed", "self_employed", "student", "retired", "unemployed")
_NUMBERS = itertools.count()


def customers_create(count: int) -> list[int]:
    """``count`` customers; their ids in order."""
    built = [CustomerFactory.build(external_id=f"S{next(_NUMBERS):06d}") for _ in range(count)]
    return [c.pk for c in Customer.objects.bulk_create(built)]


def planted_frame(ids: list[int], *, seed: int = 7, groups: int = 3) -> pd.DataFrame:
    """A feature table for ``ids``: customer i is in behavioural group ``i % groups``
    and value group ``(i // groups) % 3``. ``groups=4`` adds a fourth behavioural
    group (heavy gamblers) to the first three."""
    rng = np.random.default_rng(seed)
    n = len(ids)
    behaviour = np.arange(n) % groups
    value = (np.arange(n) // groups) % 3

    def around(centres: dict[int, float], spread: float, of: np.ndarray = behaviour) -> np.ndarray:
        centre = np.array([centres[int(g)] if int(g) in centres else centres[-1] for g in of])
        return np.maximum(centre * (1 + spread * rng.standard_normal(n)), 0.0)

    def share(centres: dict[int, float]) -> np.ndarray:
        return np.clip(around(centres, 0.15), 0.0, 1.0)

    frame = pd.DataFrame(
        {
            "txn_count_90d": around({-1: 90.0}, 0.1),
            "logins_90d": around({DIGITAL: 60.0, CASH: 2.0, -1: 15.0}, 0.15),
            "txn_count_card_online_90d": around({DIGITAL: 40.0, CASH: 1.0, -1: 10.0}, 0.15),
            "txn_count_card_present_90d": around({CASH: 10.0, -1: 40.0}, 0.15),
            "spend_share_cash_90d": share({CASH: 0.45, -1: 0.02}),
            "spend_share_groceries_90d": share({CASH: 0.35, -1: 0.12}),
            "spend_share_dining_90d": share({DIGITAL: 0.15, -1: 0.03}),
            "spend_share_travel_90d": share({TRAVEL: 0.35, -1: 0.01}),
            "spend_share_shopping_90d": share({TRAVEL: 0.2, -1: 0.05}),
            "spend_share_entertainment_90d": share({DIGITAL: 0.1, -1: 0.02}),
            "spend_share_gambling_90d": share({3: 0.5, -1: 0.005}),
            "spend_share_savings_90d": share({-1: 0.02}),
            "spend_share_investment_90d": share({TRAVEL: 0.15, -1: 0.03}),
            "service_calls_90d": around({CASH: 4.0, -1: 0.5}, 0.3),
            "no_spend_90d": np.zeros(n, dtype=bool),
            "avg_balance_3m": around({WEALTHY: 150_000.0, EVERYDAY: 8_000.0, STRETCHED: 300.0}, 0.1, value),
            "no_balance_history": np.zeros(n, dtype=bool),
            "income": around({WEALTHY: 140_000.0, EVERYDAY: 40_000.0, STRETCHED: 15_000.0}, 0.1, value),
            "income_missing": np.zeros(n, dtype=bool),
            "salary_monthly_3m": around({WEALTHY: 9_000.0, EVERYDAY: 2_800.0, STRETCHED: 1_000.0}, 0.1, value),
            "products_held": np.round(around({WEALTHY: 7.0, EVERYDAY: 4.0, STRETCHED: 1.5}, 0.1, value)),
            "spend_90d": around({WEALTHY: 20_000.0, EVERYDAY: 6_000.0, STRETCHED: 2_500.0}, 0.1, value),
            "credit_score": around({WEALTHY: 820.0, EVERYDAY: 700.0, STRETCHED: 520.0}, 0.04, value),
            "no_credit_score": np.zeros(n, dtype=bool),
            "tenure_months": around({WEALTHY: 180.0, EVERYDAY: 90.0, STRETCHED: 20.0}, 0.1, value),
            "age": (18 + np.arange(n) * 7 % 70).astype(float),
            "employment_type": np.array([EMPLOYMENT[i % len(EMPLOYMENT)] for i in range(n)], dtype=object),
            "age_band": np.array(["25-34"] * n, dtype=object),
        },
        index=pd.Index(ids, dtype="int64", name="customer_id"),
    )
    # One customer with no credit score: the catalogue's fill (0) is imputed, not clustered as an outlier.
    frame.iloc[0, frame.columns.get_loc("credit_score")] = 0.0
    frame.iloc[0, frame.columns.get_loc("no_credit_score")] = True
    return frame


def snapshot_of(frame: pd.DataFrame, *, cutoff: dt.date = CUTOFF, known_at: dt.datetime = NOW) -> FeatureSnapshot:
    """``frame`` stored as a ready feature snapshot under MODEL_DIR."""
    relative = Path("features") / f"test-{uuid.uuid4().hex}.parquet"
    path = Path(settings.MODEL_DIR) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, engine="pyarrow", index=True)
    return FeatureSnapshot.objects.create(
        cutoff=cutoff,
        known_at=known_at,
        status=SnapshotStatus.READY,
        path=str(relative),
        sha256=file_sha256(path),
        columns=list(frame.columns),
        customer_count=len(frame),
    )
