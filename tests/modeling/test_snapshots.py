"""Feature snapshots: the stored table is exactly what compute_features returns,
a damaged file is refused with the reason, a failed build leaves a failed row and
no file, recent snapshots are reused and referenced ones survive pruning."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from customers import choices
from customers.models import CustomerAttributeChange, MarketIndicator
from modeling import snapshots
from modeling.features import compute_features
from modeling.models import FeatureSnapshot, Segmentation, SnapshotStatus
from modeling.snapshots import (
    SnapshotError,
    bank_today,
    feature_snapshot_build,
    feature_snapshot_get_or_build,
    feature_snapshot_latest,
    feature_snapshot_load,
    feature_snapshots_prune,
)
from tests.factories.customers import (
    AccountFactory,
    CreditScoreFactory,
    CustomerFactory,
    InteractionFactory,
    MonthlyBalanceFactory,
    ProductFactory,
    TransactionFactory,
)

CUTOFF = dt.date(2025, 7, 1)
NOW = dt.datetime(2025, 7, 1, 9, 0, tzinfo=dt.UTC)
EARLY = dt.datetime(2024, 12, 1, tzinfo=dt.UTC)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _model_dir(settings, tmp_path):
    settings.MODEL_DIR = tmp_path
    settings.BANK_TIME_ZONE = "Europe/London"
    settings.BASE_CURRENCY = "EUR"


@pytest.fixture
def bank(db) -> list[int]:
    """Five customers with varied history: text, numbers, flags and missing values."""
    products = [
        ProductFactory(code="CA_PLUS", family=choices.ProductFamily.CURRENT_ACCOUNT),
        ProductFactory(code="SV_EASY", family=choices.ProductFamily.SAVINGS),
    ]
    categories = [choices.TransactionCategory.SALARY, choices.TransactionCategory.TRAVEL, "groceries"]
    ids = []
    for n in range(5):
        customer = CustomerFactory(
            external_id=f"S{n}",
            birth_date=dt.date(1960 + 7 * n, 1 + n, 10),
            income=None if n == 2 else Decimal(20000 + 10000 * n),
        )
        ids.append(customer.pk)
        if n == 4:
            continue  # no history at all: every missing-value rule applies
        account = AccountFactory(customer=customer, product=products[n % 2], opened_on=dt.date(2020, 1, 1))
        for day in range(1, 6 + 3 * n):
            TransactionFactory(
                account=account,
                booked_at=utc(2025, 6, day, 10) - dt.timedelta(days=11 * day),
                amount=Decimal(f"{(-1) ** day * 13.37 * (day + n):.2f}"),
                category=categories[day % 3],
            )
        InteractionFactory(customer=customer, occurred_at=utc(2025, 6, 20 + n), satisfaction=1 + n)
        InteractionFactory(
            customer=customer,
            occurred_at=utc(2025, 6, 25),
            event_type=choices.InteractionType.PRODUCT_PAGE_VIEW,
            product=products[1],
        )
        MonthlyBalanceFactory(account=account, month=dt.date(2025, 5, 1), average_balance=Decimal(1234 * (n + 1)))
        CreditScoreFactory(customer=customer, scored_on=dt.date(2025, 4, 1), score=600 + 25 * n)
        CustomerAttributeChange.objects.create(
            customer=customer,
            attribute="region",
            value=f"Region {n}",
            effective_from=dt.date(2015, 1, 1),
            received_at=EARLY,
        )
    MarketIndicator.objects.create(name="base_rate", date=dt.date(2025, 6, 1), value=Decimal("4.5"), received_at=EARLY)
    return ids


def _file(snapshot: FeatureSnapshot) -> Path:
    from django.conf import settings

    return Path(settings.MODEL_DIR) / snapshot.path


def _feature_files(root: Path) -> list[Path]:
    folder = root / snapshots.SNAPSHOT_DIR
    return sorted(folder.iterdir()) if folder.exists() else []


def test_a_stored_table_reads_back_exactly_as_compute_features_returned_it(bank):
    snapshot = feature_snapshot_build(cutoff=CUTOFF, now=NOW)

    expected = compute_features(cutoff=CUTOFF, known_at=NOW)
    loaded = feature_snapshot_load(snapshot)

    pd.testing.assert_frame_equal(loaded, expected, check_exact=True)
    assert snapshot.status == SnapshotStatus.READY
    assert snapshot.known_at == NOW
    assert snapshot.customer_count == len(bank)
    assert snapshot.columns == list(expected.columns)
    assert snapshot.data_fingerprint == snapshots.frame_fingerprint(expected)
    assert snapshot.sha256 == snapshots.file_sha256(_file(snapshot))


def test_a_subset_of_customers_reads_back_as_compute_features_gives_it(bank):
    snapshot = feature_snapshot_build(cutoff=CUTOFF, now=NOW)
    wanted = [bank[3], bank[0], 10**6]

    loaded = feature_snapshot_load(snapshot, customer_ids=wanted)

    pd.testing.assert_frame_equal(loaded, compute_features(cutoff=CUTOFF, known_at=NOW, customer_ids=wanted))
    assert list(loaded.index) == sorted(bank[i] for i in (0, 3))


def test_some_columns_read_back_with_their_types(bank):
    snapshot = feature_snapshot_build(cutoff=CUTOFF, now=NOW)
    columns = ["region", "avg_balance_3m", "no_credit_score"]

    loaded = feature_snapshot_load(snapshot, columns=columns)

    pd.testing.assert_frame_equal(loaded, compute_features(cutoff=CUTOFF, known_at=NOW)[columns])


def test_a_column_the_table_does_not_have_is_named(bank):
    snapshot = feature_snapshot_build(cutoff=CUTOFF, now=NOW)

    with pytest.raises(SnapshotError, match="no column.*not_a_feature"):
        feature_snapshot_load(snapshot, columns=["age", "not_a_feature"])


def test_a_bank_without_customers_makes_an_empty_table_of_the_same_shape(db):
    snapshot = feature_snapshot_build(cutoff=CUTOFF, now=NOW)

    pd.testing.assert_frame_equal(feature_snapshot_load(snapshot), compute_features(cutoff=CUTOFF, known_at=NOW))
    assert snapshot.customer_count == 0


def test_a_tampered_file_is_refused_because_its_hash_changed(bank):
    snapshot = feature_snapshot_build(cutoff=CUTOFF, now=NOW)
    path = _file(snapshot)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    with pytest.raises(SnapshotError, match="does not match its recorded sha256"):
        feature_snapshot_load(snapshot)


def test_a_truncated_file_is_refused_because_its_hash_changed(bank):
    snapshot = feature_snapshot_build(cutoff=CUTOFF, now=NOW)
    path = _file(snapshot)
    path.write_bytes(path.read_bytes()[:-100])

    with pytest.raises(SnapshotError, match="truncated or changed"):
        feature_snapshot_load(snapshot)


def test_a_missing_file_is_refused_by_name(bank):
    snapshot = feature_snapshot_build(cutoff=CUTOFF, now=NOW)
    _file(snapshot).unlink()

    with pytest.raises(SnapshotError, match="is missing"):
        feature_snapshot_load(snapshot)


def test_a_file_with_the_right_hash_that_is_no_table_is_refused(bank):
    snapshot = feature_snapshot_build(cutoff=CUTOFF, now=NOW)
    _file(snapshot).write_bytes(b"not parquet")
    snapshot.sha256 = snapshots.file_sha256(_file(snapshot))

    with pytest.raises(SnapshotError, match="not a readable table"):
        feature_snapshot_load(snapshot)


def test_a_snapshot_that_is_not_ready_cannot_be_read(db):
    snapshot = FeatureSnapshot.objects.create(cutoff=CUTOFF, known_at=NOW)

    with pytest.raises(SnapshotError, match="building, not ready"):
        feature_snapshot_load(snapshot)


def test_a_failed_computation_leaves_a_failed_row_with_the_error_and_no_file(bank, monkeypatch, tmp_path):
    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(snapshots, "compute_features", broken)

    with pytest.raises(RuntimeError):
        feature_snapshot_build(cutoff=CUTOFF, now=NOW)

    snapshot = FeatureSnapshot.objects.get()
    assert snapshot.status == SnapshotStatus.FAILED
    assert "database went away" in snapshot.error
    assert snapshot.path == ""
    assert _feature_files(tmp_path) == []
    assert feature_snapshot_latest(cutoff=CUTOFF) is None


def test_a_write_that_fails_half_way_leaves_no_file_behind(bank, monkeypatch, tmp_path):
    def half_written(self, path, **kwargs):
        Path(path).write_bytes(b"PAR1 half a table")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_written)

    with pytest.raises(OSError, match="disk full"):
        feature_snapshot_build(cutoff=CUTOFF, now=NOW)

    snapshot = FeatureSnapshot.objects.get()
    assert (snapshot.status, snapshot.error) == (SnapshotStatus.FAILED, "OSError: disk full")
    assert _feature_files(tmp_path) == []


def test_a_recent_snapshot_is_reused_and_an_old_one_rebuilt(bank):
    first = feature_snapshot_get_or_build(cutoff=CUTOFF, now=NOW)

    again = feature_snapshot_get_or_build(cutoff=CUTOFF, now=NOW + dt.timedelta(hours=11))
    later = feature_snapshot_get_or_build(cutoff=CUTOFF, now=NOW + dt.timedelta(hours=13))

    assert again.pk == first.pk
    assert later.pk != first.pk
    assert later.known_at == NOW + dt.timedelta(hours=13)
    assert FeatureSnapshot.objects.count() == 2


def test_a_recent_snapshot_whose_file_is_gone_is_rebuilt(bank):
    first = feature_snapshot_get_or_build(cutoff=CUTOFF, now=NOW)
    _file(first).unlink()

    again = feature_snapshot_get_or_build(cutoff=CUTOFF, now=NOW + dt.timedelta(hours=1))

    assert again.pk != first.pk
    pd.testing.assert_frame_equal(
        feature_snapshot_load(again), compute_features(cutoff=CUTOFF, known_at=again.known_at)
    )


def test_a_snapshot_of_another_cut_off_is_not_reused(bank):
    first = feature_snapshot_get_or_build(cutoff=CUTOFF, now=NOW)

    other = feature_snapshot_get_or_build(cutoff=dt.date(2025, 6, 1), now=NOW)

    assert other.pk != first.pk
    assert other.cutoff == dt.date(2025, 6, 1)


def test_pruning_keeps_the_newest_and_referenced_snapshots_and_deletes_the_rest(
    bank, tmp_path, django_capture_on_commit_callbacks
):
    referenced = feature_snapshot_build(cutoff=CUTOFF, now=NOW)
    Segmentation.objects.create(kind="behavioural", method="kmeans", version=1, snapshot=referenced)
    stale = feature_snapshot_build(cutoff=CUTOFF, now=NOW + dt.timedelta(hours=1))
    newest = feature_snapshot_build(cutoff=CUTOFF, now=NOW + dt.timedelta(hours=2))
    failed = FeatureSnapshot.objects.create(cutoff=CUTOFF, known_at=NOW, status=SnapshotStatus.FAILED)
    building = FeatureSnapshot.objects.create(cutoff=CUTOFF, known_at=NOW)  # another worker's, in progress
    other_cutoff = feature_snapshot_build(cutoff=dt.date(2025, 6, 1), now=NOW)
    stale_file = _file(stale)

    with django_capture_on_commit_callbacks(execute=True):
        removed = feature_snapshots_prune()

    assert removed == 2
    left = set(FeatureSnapshot.objects.values_list("pk", flat=True))
    assert left == {referenced.pk, newest.pk, building.pk, other_cutoff.pk}
    assert failed.pk not in left
    assert not stale_file.exists()
    assert _feature_files(tmp_path) == sorted(_file(s) for s in (referenced, newest, other_cutoff))


def test_the_bank_date_is_taken_in_the_bank_time_zone():
    assert bank_today(utc(2025, 6, 30, 23, 30)) == dt.date(2025, 7, 1)
