"""models_train on a small bank: labels and eligibility by cut-off, candidates
registered with honest metrics, products with too few take-ups skipped, unchanged
data trains nothing, the same data and seed give the same artifact, and cut-offs
without enough data after them are refused."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from core.models import AuditEvent
from customers import choices
from customers.models import AccountHolder, ContactHistory, Interaction, Transaction
from modeling import training
from modeling.models import FeatureSnapshot, ModelStatus, ModelVersion
from modeling.propensity import FORMAT_VERSION, model_load
from modeling.training import models_train, training_cutoffs
from tests.factories.customers import (
    AccountFactory,
    ContactHistoryFactory,
    CustomerFactory,
    InteractionFactory,
    ProductFactory,
    TransactionFactory,
)

TRAIN_CUTOFFS = [dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)]
TEST_CUTOFF = dt.date(2026, 4, 1)
CUTOFFS = [*TRAIN_CUTOFFS, TEST_CUTOFF]
HORIZON = 30
NOW = dt.datetime(2026, 5, 10, 9, 0, tzinfo=dt.UTC)
CUSTOMERS = 60
QUICK = {
    "fixed_rounds": 60,
    "learning_rate": 0.1,
    "min_data_in_leaf": 10,
    "feature_fraction": 0.8,
    "extra_trees": False,
}  # tiny data


def utc(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _settings(settings, tmp_path):
    settings.MODEL_DIR = tmp_path
    settings.BANK_TIME_ZONE = "UTC"
    settings.BASE_CURRENCY = "EUR"
    settings.MODEL_MIN_POSITIVES = 5
    settings.MODEL_TRAINING_THREADS = 1


def keen(i: int) -> bool:
    return i % 4 == 0


@pytest.fixture
def bank(db):
    """120 customers. Keen ones (every 4th) log in often before each cut-off and
    mostly accept a card offer after it; every 12th customer opens a savings
    account 10 days after the cut-off numbered by its index; two mortgages only."""
    savings = ProductFactory(code="SAVER", family=choices.ProductFamily.SAVINGS)
    card = ProductFactory(code="CARD", family=choices.ProductFamily.CARD)
    mortgage = ProductFactory(code="MORTGAGE", family=choices.ProductFamily.MORTGAGE)
    current = ProductFactory(code="CURRENT", family=choices.ProductFamily.CURRENT_ACCOUNT)
    customers = [CustomerFactory(customer_since=dt.date(2020, 1, 1)) for _ in range(CUSTOMERS)]
    logins, offers = [], []
    for i, customer in enumerate(customers):
        AccountFactory(customer=customer, product=current, opened_on=dt.date(2020, 1, 1))
        for cutoff in CUTOFFS:
            for day in range(1, (6 if keen(i) else 1 + i % 2) + 1):
                logins.append(
                    InteractionFactory.build(
                        customer=customer,
                        occurred_at=utc(cutoff - dt.timedelta(days=day * 3)),
                        event_type=choices.InteractionType.LOGIN,
                    )
                )
            if (keen(i) and i % 3 != 0) or i % 13 == 1:
                offers.append(
                    ContactHistoryFactory.build(
                        customer=customer,
                        product=card,
                        offered_at=utc(cutoff + dt.timedelta(days=3)),
                        responded_at=utc(cutoff + dt.timedelta(days=5)),
                        outcome=choices.OfferOutcome.ACCEPTED,
                    )
                )
        if i % 12 < len(CUTOFFS):
            AccountFactory(customer=customer, product=savings, opened_on=CUTOFFS[i % 12] + dt.timedelta(days=10))
    for i in (0, 1):
        AccountFactory(customer=customers[i], product=mortgage, opened_on=TEST_CUTOFF + dt.timedelta(days=4))
    Interaction.objects.bulk_create(logins)
    ContactHistory.objects.bulk_create(offers)
    # The data runs to 2026-05-02: the test cut-off's 30-day window is covered.
    TransactionFactory(account=customers[0].accounts.first(), booked_at=utc(dt.date(2026, 5, 2)))
    return {"savings": savings, "card": card, "mortgage": mortgage, "current": current, "customers": customers}


def train(bank, **kwargs):
    kwargs.setdefault("products", [bank["savings"], bank["card"], bank["mortgage"]])
    kwargs.setdefault("cutoffs", CUTOFFS)
    kwargs.setdefault("params", QUICK)
    kwargs.setdefault("now", NOW)
    return models_train(actor=kwargs.pop("actor", None), horizon_days=HORIZON, **kwargs)


@pytest.fixture
def trained(bank, bianca):
    steps = []
    report = train(bank, actor=bianca, progress=lambda done, total, message: steps.append((done, total, message)))
    return report, steps


def test_each_product_with_enough_take_ups_gets_a_candidate_version(bank, trained, bianca, settings):
    report, _ = trained
    assert [v.product.code for v in report.trained] == ["SAVER", "CARD"]
    version = ModelVersion.objects.get(product=bank["card"])
    assert version.version == 1
    assert version.status == ModelStatus.CANDIDATE
    assert version.trained_by == bianca
    assert version.seed == settings.MODEL_SEED
    assert version.format_version == FORMAT_VERSION
    assert version.artifact_path.startswith("models/CARD/v1-")
    assert version.cutoffs == {
        "train": ["2026-01-01", "2026-02-01", "2026-03-01"],
        "test": "2026-04-01",
        "horizon_days": 30,
        "data_end": "2026-05-02",
    }
    assert "logins_30d" in version.features
    assert "age_band" not in version.features
    assert version.params["deterministic"] is True
    assert version.params["rounds"] == "fixed"
    assert set(version.library_versions) >= {"python", "lightgbm", "scikit-learn", "numpy"}
    assert AuditEvent.objects.filter(action="model.train", object_id=str(version.pk), actor=bianca).exists()
    # The artifact loads with the registered hash and carries the same figures.
    path = Path(settings.MODEL_DIR) / version.artifact_path
    model = model_load(path=path, expected_sha256=version.artifact_sha256, model_version_id=version.pk)
    assert model.product_code == "CARD"
    assert list(model.features) == version.features
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["data_fingerprint"] == version.data_fingerprint
    assert manifest["cutoffs"] == version.cutoffs
    assert manifest["metrics"]["test"] == version.metrics["test"]


def test_metrics_describe_the_test_cut_off_next_to_both_baselines(bank, trained):
    metrics = ModelVersion.objects.get(product=bank["card"]).metrics
    for name in ("roc_auc", "roc_auc_se", "pr_auc", "alift", "top_decile_lift", "brier"):
        assert metrics["test"][name] is not None
    assert set(metrics["baselines"]) == {"logistic", "popularity"}
    assert metrics["baselines"]["logistic"]["roc_auc"] is not None
    assert set(metrics["curves"]["model"]) == {"roc", "gains", "calibration"}
    assert metrics["feature_importance"][0]["feature"]
    assert len(metrics["feature_importance"]) <= training.IMPORTANCE_TOP
    assert "products_held" in metrics["segments"]
    # Keen customers log in and accept: the model finds them.
    assert metrics["test"]["roc_auc"] > 0.8
    assert isinstance(metrics["beats_logistic"], bool)


def test_labels_count_accepted_offers_and_new_accounts_among_customers_not_holding_the_product(bank, trained):
    card = ModelVersion.objects.get(product=bank["card"]).metrics["counts"]
    accepting = sum(1 for i in range(CUSTOMERS) if (keen(i) and i % 3 != 0) or i % 13 == 1)
    assert card["test"] == {"rows": CUSTOMERS, "positives": accepting}
    assert card["train"]["positives"] == 3 * accepting
    saver = ModelVersion.objects.get(product=bank["savings"]).metrics["counts"]
    # Every 12th customer opens a savings account after "their" cut-off and holds it after.
    per_cutoff = CUSTOMERS // 12
    assert saver["train"]["by_cutoff"] == {
        "2026-01-01": {"rows": CUSTOMERS, "positives": per_cutoff},
        "2026-02-01": {"rows": CUSTOMERS - per_cutoff, "positives": per_cutoff},
        "2026-03-01": {"rows": CUSTOMERS - 2 * per_cutoff, "positives": per_cutoff},
    }
    assert saver["test"] == {"rows": CUSTOMERS - 3 * per_cutoff, "positives": per_cutoff}


def test_a_product_with_too_few_take_ups_is_skipped_with_the_reason(trained):
    report, _ = trained
    assert list(report.skipped) == ["MORTGAGE"]
    assert report.skipped["MORTGAGE"].startswith("too few take-ups to train: 0 positives in training")
    assert "at least 5 needed" in report.skipped["MORTGAGE"]
    # Progress is reported after each product, the skipped one included.
    _, steps = trained
    assert [(done, total) for done, total, _ in steps] == [(1, 3), (2, 3), (3, 3)]
    assert steps[0][2].startswith("SAVER: v1: test AUC")
    assert steps[2][2].startswith("MORTGAGE: skipped")


def test_unchanged_data_trains_nothing_and_reuses_the_snapshots(bank, trained):
    snapshots = FeatureSnapshot.objects.count()
    report = train(bank)
    assert report.unchanged is True
    assert report.trained == []
    assert report.unchanged_products == ["SAVER", "CARD"]
    assert ModelVersion.objects.count() == 2
    assert FeatureSnapshot.objects.count() == snapshots


def test_forcing_a_retrain_on_the_same_data_and_seed_gives_the_same_artifact(bank, trained):
    first = ModelVersion.objects.get(product=bank["card"], version=1)
    report = train(bank, products=[bank["card"]], force=True)
    second = report.trained[0]
    assert second.version == 2
    assert second.artifact_path != first.artifact_path
    assert second.artifact_sha256 == first.artifact_sha256
    assert second.data_fingerprint == first.data_fingerprint


def test_new_data_builds_new_snapshots_and_a_new_version(bank, trained):
    snapshots = FeatureSnapshot.objects.count()
    customer = bank["customers"][5]
    ContactHistoryFactory(
        customer=customer,
        product=bank["card"],
        offered_at=utc(TEST_CUTOFF + dt.timedelta(days=2)),
        responded_at=utc(TEST_CUTOFF + dt.timedelta(days=3)),
        outcome=choices.OfferOutcome.ACCEPTED,
        received_at=NOW + dt.timedelta(hours=1),  # arrived after the first training's snapshots
    )
    report = train(bank, products=[bank["card"]], now=NOW + dt.timedelta(days=1))
    assert report.unchanged is False
    assert [v.version for v in report.trained] == [2]
    assert FeatureSnapshot.objects.count() == snapshots + len(CUTOFFS)


def test_a_cut_off_whose_horizon_runs_past_the_data_is_refused(bank):
    with pytest.raises(ValueError, match="cut-off 2026-04-15: its 30-day label window ends 2026-05-15, after the data"):
        train(bank, cutoffs=[*TRAIN_CUTOFFS, dt.date(2026, 4, 15)])
    assert not ModelVersion.objects.exists()


def test_a_training_cut_off_whose_window_overlaps_the_test_one_is_refused(bank):
    with pytest.raises(ValueError, match="training cut-off 2026-03-15: .* runs past the test cut-off 2026-04-01"):
        train(bank, cutoffs=[dt.date(2026, 3, 15), TEST_CUTOFF])


def test_default_cut_offs_end_where_the_data_allows_a_full_window():
    train_cutoffs, test = training_cutoffs(data_end=dt.date(2026, 10, 31), horizon_days=90, count=6)
    assert test == dt.date(2026, 8, 1)
    assert train_cutoffs == [dt.date(2026, m, 1) for m in (1, 2, 3, 4, 5)]
    # A window may end on the data's last day itself.
    train_cutoffs, test = training_cutoffs(data_end=dt.date(2026, 5, 31), horizon_days=30, count=3)
    assert test == dt.date(2026, 5, 1)
    assert train_cutoffs == [dt.date(2026, 3, 1), dt.date(2026, 4, 1)]


def test_the_data_end_is_the_latest_transaction_account_or_offer(bank):
    assert training.data_end_date() == dt.date(2026, 5, 2)
    ContactHistoryFactory(customer=bank["customers"][3], product=bank["card"], offered_at=utc(dt.date(2026, 6, 9)))
    assert training.data_end_date() == dt.date(2026, 6, 9)


def test_training_without_any_data_is_refused(db):
    assert not Transaction.objects.exists()
    assert not AccountHolder.objects.exists()
    with pytest.raises(ValueError, match="no data to train on"):
        models_train(actor=None, now=NOW)


def test_turning_on_refit_retrains_with_boosters_calibrated_out_of_fold(bank, trained, settings):
    # Given models trained without refit, when the bank turns MODEL_REFIT on
    settings.MODEL_REFIT = True
    report = train(bank, products=[bank["card"]])

    # Then the changed training settings count as new training data, and the new version says how it was fitted
    [version] = report.trained
    assert version.version == 2
    assert version.params["refit"] is True
    assert version.metrics["training"]["holdout"]["refit"] is True
