"""The online feature store: stored rows score exactly as computed ones, writes are
idempotent and never move a row back in time, and events keep rows current."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pytest

from customers.models import Customer
from modeling.feature_catalogue import Use, feature_get
from modeling.features import compute_features
from modeling.models import OnlineFeatures
from modeling.online import (
    OnlineRow,
    online_features_ensure,
    online_features_get,
    online_features_load,
    online_features_refresh,
    online_features_refresh_all,
    online_values,
)
from modeling.propensity import MissingFeatureError, _Encoder
from modeling.registry import active_models
from modeling.scoring import (
    REALTIME_CUTOFF_DAYS_AHEAD,
    UnknownCustomerError,
    product_reasons,
    score_features,
    score_values,
    scoring_run_start,
    values_reasons,
)
from modeling.snapshots import bank_today, feature_snapshot_load
from modeling.tasks import refresh_online_features_task, score_customers_task
from tests.factories.customers import CustomerFactory
from tests.modeling.scoring_setup import NOW, bank_build, caches_clear

LATER = NOW + dt.timedelta(hours=3)
REALTIME_CUTOFF = bank_today(NOW) + dt.timedelta(days=REALTIME_CUTOFF_DAYS_AHEAD)


@pytest.fixture
def bank(settings, tmp_path, db):
    settings.MODEL_DIR = tmp_path
    settings.BANK_TIME_ZONE = "Europe/London"
    yield bank_build()
    caches_clear()


def _stored(frame: pd.DataFrame, customer_id: int) -> dict:
    """The customer's row as the store keeps it: through JSON text and back."""
    _, texts = online_values(frame.loc[[customer_id]])
    return json.loads(texts[0])


# --- vector == matrix ----------------------------------------------------------------------------------------------

FEATURES = ("amount", "flag", "colour", "size", "count")
CATEGORIES = {"colour": ("red", "blue", "unknown"), "size": ("small", "large")}  # size has no "unknown"


@pytest.mark.parametrize(
    "row",
    [
        {"amount": 12.5, "flag": True, "colour": "blue", "size": "large", "count": 3},
        {"amount": None, "flag": False, "colour": "green", "size": "huge", "count": 0},
        {"amount": float("nan"), "flag": True, "colour": None, "size": None, "count": None},
        {"amount": -0.0, "flag": np.bool_(True), "colour": "unknown", "size": "small", "count": np.int64(7)},
        {"amount": 1e-300, "flag": False, "colour": "RED", "size": "Small", "count": 2**40},
    ],
)
def test_a_vector_from_values_is_exactly_the_matrix_of_the_same_row(row):
    encoder = _Encoder(FEATURES, CATEGORIES)
    frame = pd.DataFrame([row], index=[1])

    vector = encoder.vector(row)

    assert vector.dtype == np.float64
    assert vector.shape == (1, len(FEATURES))
    np.testing.assert_array_equal(vector, encoder.matrix(frame))


def test_an_unknown_category_takes_the_unknown_code_or_is_missing_without_one():
    encoder = _Encoder(FEATURES, CATEGORIES)
    vector = encoder.vector({"amount": 1.0, "flag": True, "colour": "green", "size": "huge", "count": 1})
    assert vector[0, FEATURES.index("colour")] == CATEGORIES["colour"].index("unknown")
    assert math.isnan(vector[0, FEATURES.index("size")])
    assert vector[0, FEATURES.index("flag")] == 1.0


def test_a_missing_key_names_the_feature_like_a_missing_column():
    encoder = _Encoder(FEATURES, CATEGORIES)
    with pytest.raises(MissingFeatureError) as caught:
        encoder.vector({"amount": 1.0, "flag": True, "colour": "red"}, "CARD")
    assert caught.value.missing == ("size", "count")
    assert "CARD" in str(caught.value)


def test_extra_keys_are_ignored_and_a_one_feature_model_works():
    encoder = _Encoder(("amount",), {})
    np.testing.assert_array_equal(encoder.vector({"amount": 2, "other": "x"}), [[2.0]])


def test_every_stored_row_of_the_bank_gives_the_matrix_of_its_frame_row(bank):
    frame = feature_snapshot_load(bank.snapshot)
    models = active_models()
    assert any(model.categories for model in models.values())
    assert any(frame[name].dtype == bool for name in next(iter(models.values())).features)
    # given rows with a missing number and unknown categories, as a feed can bring
    cid = bank.customers[1].pk
    frame.loc[cid, "income"] = np.nan
    frame.loc[cid, "region"] = "Atlantis"
    frame.loc[cid, "employment_type"] = None

    for customer in bank.customers:
        values = _stored(frame, customer.pk)
        for model in models.values():
            np.testing.assert_array_equal(model.vector(values), model.matrix(frame.loc[[customer.pk]]))
    assert _stored(frame, cid)["income"] is None


# --- scores and reasons ---------------------------------------------------------------------------------------------


def test_scores_and_reasons_from_stored_values_equal_those_from_the_frame(bank):
    models = active_models()
    online_features_refresh(customer_ids=[c.pk for c in bank.customers], now=NOW)

    for customer in bank.customers[::6]:
        frame = compute_features(cutoff=REALTIME_CUTOFF, customer_ids=[customer.pk], known_at=NOW)
        row = online_features_get(customer.pk)

        from_values = score_values(row.values, models)
        from_frame = score_features(frame, models, with_reasons=0).scores

        assert from_values == list(from_frame)
        for model in models.values():
            assert values_reasons(model, row.values) == product_reasons(frame, model)
            assert values_reasons(model, row.values, limit=1) == product_reasons(frame, model, limit=1)


def test_scores_come_best_first_and_without_models_there_are_none(bank):
    online_features_refresh(customer_ids=[bank.customers[0].pk], now=NOW)
    values = online_features_get(bank.customers[0].pk).values

    scores = score_values(values, active_models())

    assert [s.propensity for s in scores] == sorted((s.propensity for s in scores), reverse=True)
    assert all(s.reasons == () for s in scores)
    assert score_values(values, {}) == []


# --- what a row holds ------------------------------------------------------------------------------------------------


def test_a_row_holds_every_model_and_rules_column_and_no_protected_one(bank):
    customer = bank.customers[0]
    frame = compute_features(cutoff=REALTIME_CUTOFF, customer_ids=[customer.pk], known_at=NOW)

    row = online_features_ensure(customer.pk, now=NOW)

    uses = {name: feature_get(name).use for name in frame.columns}
    assert set(row.values) == {name for name, use in uses.items() if use is not Use.FAIRNESS_ONLY}
    assert Use.RULES in {uses[name] for name in row.values}
    for name, value in row.values.items():
        expected = frame.at[customer.pk, name]
        if isinstance(value, bool):
            assert frame[name].dtype == bool
        assert value == expected or (value is None and pd.isna(expected)), name


def test_values_are_json_safe_whatever_the_frame_holds():
    frame = pd.DataFrame(
        {
            "income": [np.nan, np.inf],
            "holds_card": [True, False],
            "region": ["North", None],
            "tenure_months": np.array([3, 4], dtype="int64"),
        },
        index=[5, 6],
    )
    ids, texts = online_values(frame)
    assert ids == [5, 6]
    assert [json.loads(t) for t in texts] == [
        {"income": None, "holds_card": True, "region": "North", "tenure_months": 3},
        {"income": None, "holds_card": False, "region": None, "tenure_months": 4},
    ]


# --- reading and ensuring ------------------------------------------------------------------------------------------


def test_a_stored_row_is_read_in_one_query(bank, django_assert_num_queries):
    customer = bank.customers[2]
    online_features_refresh(customer_ids=[customer.pk], now=NOW)

    with django_assert_num_queries(1):
        row = online_features_get(customer.pk)
    with django_assert_num_queries(1):
        ensured = online_features_ensure(customer.pk, now=LATER)

    assert row == ensured
    assert row == OnlineRow(customer_id=customer.pk, values=row.values, cutoff=REALTIME_CUTOFF, known_at=NOW)
    assert online_features_get(bank.customers[3].pk) is None


def test_ensure_computes_and_stores_a_missing_row(bank):
    customer = bank.customers[4]
    assert not OnlineFeatures.objects.filter(pk=customer.pk).exists()

    row = online_features_ensure(customer.pk, now=NOW)

    stored = OnlineFeatures.objects.get(pk=customer.pk)
    assert (stored.cutoff, stored.known_at, stored.snapshot_id) == (REALTIME_CUTOFF, NOW, None)
    assert row == online_features_get(customer.pk)
    frame = compute_features(cutoff=REALTIME_CUTOFF, customer_ids=[customer.pk], known_at=NOW)
    assert row.values == _stored(frame, customer.pk)


def test_ensure_refuses_a_customer_who_does_not_exist(bank):
    missing = Customer.objects.order_by("-pk").first().pk + 100
    with pytest.raises(UnknownCustomerError):
        online_features_ensure(missing, now=NOW)
    assert not OnlineFeatures.objects.filter(pk=missing).exists()


# --- writing -------------------------------------------------------------------------------------------------------


def test_refreshing_twice_stores_the_same_rows_once(bank):
    ids = [c.pk for c in bank.customers]

    first = online_features_refresh(customer_ids=ids, now=NOW, batch_size=7)
    before = {r.pk: r.values for r in OnlineFeatures.objects.all()}
    second = online_features_refresh(customer_ids=ids + ids[:3], now=NOW, batch_size=7)

    assert first == second == len(ids)
    assert OnlineFeatures.objects.count() == len(ids)
    assert {r.pk: r.values for r in OnlineFeatures.objects.all()} == before


def test_a_refresh_never_moves_a_row_back_in_time(bank):
    customer = bank.customers[0]
    online_features_refresh(customer_ids=[customer.pk], now=LATER)

    # a slower (or redelivered) task that computed earlier writes after it
    written = online_features_refresh(customer_ids=[customer.pk], now=NOW)

    assert written == 0
    assert online_features_get(customer.pk).known_at == LATER
    assert online_features_refresh(customer_ids=[customer.pk], now=LATER + dt.timedelta(seconds=1)) == 1


def test_unknown_ids_in_a_refresh_are_skipped(bank):
    missing = Customer.objects.order_by("-pk").first().pk + 100
    assert online_features_refresh(customer_ids=[missing, bank.customers[0].pk], now=NOW) == 1
    assert online_features_refresh(customer_ids=[], now=NOW) == 0


def test_the_whole_bank_is_refreshed_by_chunks_and_resumes_after_its_cursor(bank):
    ids = sorted(c.pk for c in bank.customers)

    part = online_features_refresh_all(now=NOW, batch_size=25, max_seconds=0.0)
    assert (part.written, part.cursor, part.more) == (25, ids[24], True)
    rest = online_features_refresh_all(now=NOW, after=part.cursor, batch_size=25)
    assert (rest.written, rest.cursor, rest.more) == (35, ids[-1], False)

    assert online_features_refresh(customer_ids=None, now=NOW) == 60
    assert OnlineFeatures.objects.count() == 60


def test_a_snapshot_load_copies_its_rows_and_keeps_fresher_ones(bank):
    fresh = bank.customers[0]
    online_features_refresh(customer_ids=[fresh.pk], now=NOW)
    before = online_features_get(fresh.pk)

    progress = online_features_load(snapshot=bank.snapshot, now=NOW, batch_size=16)

    assert (progress.written, progress.more) == (59, False)
    assert online_features_get(fresh.pk) == before  # a later cut-off than the snapshot's
    other = OnlineFeatures.objects.get(pk=bank.customers[1].pk)
    assert (other.cutoff, other.known_at, other.snapshot_id) == (
        bank.snapshot.cutoff,
        bank.snapshot.known_at,
        bank.snapshot.pk,
    )
    frame = feature_snapshot_load(bank.snapshot)
    assert other.values == _stored(frame, other.pk)
    # loading again changes nothing and writes the same rows
    again = online_features_load(snapshot=bank.snapshot, now=NOW)
    assert again.written == 59
    assert OnlineFeatures.objects.get(pk=other.pk).values == other.values


# --- tasks ---------------------------------------------------------------------------------------------------------


def test_the_task_refreshes_the_customers_it_is_given_and_is_idempotent(bank):
    ids = [c.pk for c in bank.customers[:5]]
    kwargs = {"customer_ids": ids, "inbound_event_ids": [1, 2]}

    first = refresh_online_features_task.delay(**kwargs).get()
    second = refresh_online_features_task.delay(**kwargs).get()

    assert first == {"ok": True, "customers": 5, "written": 5}
    assert second["ok"]
    assert set(OnlineFeatures.objects.values_list("pk", flat=True)) == set(ids)


def test_the_task_hands_the_rest_of_a_snapshot_to_a_fresh_task(bank, monkeypatch):
    from modeling import online

    monkeypatch.setattr(online, "ONLINE_TASK_SECONDS", 0.0)
    sent = []
    monkeypatch.setattr(refresh_online_features_task, "apply_async", lambda **kw: sent.append(kw))

    # run as a worker would (not eagerly): one chunk, then re-enqueue
    result = refresh_online_features_task.run(snapshot_id=bank.snapshot.pk, batch_size=10)

    assert (result["more"], result["written"]) == (True, 10)
    cursor = max(OnlineFeatures.objects.values_list("pk", flat=True))
    assert sent == [{"kwargs": {"snapshot_id": bank.snapshot.pk, "after": cursor, "batch_size": 10}, "queue": None}]
    # and the next task goes on after the cursor
    rest = refresh_online_features_task.run(snapshot_id=bank.snapshot.pk, after=cursor, batch_size=100)
    assert (rest["more"], rest["written"]) == (False, 50)
    assert OnlineFeatures.objects.count() == 60


def test_the_task_says_when_the_snapshot_is_gone(bank):
    assert refresh_online_features_task.delay(snapshot_id=10_000).get()["ok"] is False


def test_a_finished_batch_scoring_run_loads_its_snapshot_into_the_store(bank):
    run = scoring_run_start(snapshot=bank.snapshot, actor=None, now=NOW)

    score_customers_task.delay(run_id=run.pk).get()

    assert OnlineFeatures.objects.count() == 60
    assert set(OnlineFeatures.objects.values_list("snapshot_id", flat=True)) == {bank.snapshot.pk}


# --- events --------------------------------------------------------------------------------------------------------


@pytest.fixture
def events_bank(db, settings, tmp_path):
    from tests.customers.events.conftest import Bank
    from tests.factories.customers import AccountFactory, ProductFactory

    settings.MODEL_DIR = tmp_path
    customer = CustomerFactory(external_id="C000123", customer_since=dt.date(2020, 1, 1))
    product = ProductFactory(code="MORTGAGE")
    account = AccountFactory(external_id="A0000456", customer=customer)
    return Bank(customer=customer, account=account, product=product)


def test_accepted_events_send_the_refresh_by_name_after_commit(
    events_bank, mobile_app, monkeypatch, django_capture_on_commit_callbacks
):
    from celery import current_app

    from customers.models import InboundEvent
    from tests.customers.events.conftest import URL, batch, transaction_event

    sent = []
    monkeypatch.setitem(current_app.conf, "task_always_eager", False)
    monkeypatch.setattr(current_app, "send_task", lambda name, kwargs: sent.append((name, kwargs)))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = mobile_app.api().post(URL, batch(transaction_event()), format="json")
    assert response.status_code == 202
    assert sent == []  # nothing before the commit
    for callback in callbacks:
        callback()

    ids = list(InboundEvent.objects.values_list("id", flat=True))
    assert (
        "modeling.refresh_online_features",
        {"inbound_event_ids": ids, "customer_ids": [events_bank.customer.pk]},
    ) in sent


def test_without_a_broker_an_accepted_event_refreshes_the_row_in_process(
    events_bank, mobile_app, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    from tests.customers.events.conftest import URL, batch, transaction_event

    customer = events_bank.customer
    online_features_refresh(customer_ids=[customer.pk], now=timezone.now() - dt.timedelta(minutes=5))
    stale = online_features_get(customer.pk)
    assert stale.values["txn_count_30d"] == 0
    event = transaction_event()
    event["occurred_at"] = (timezone.now() - dt.timedelta(hours=1)).isoformat()

    with django_capture_on_commit_callbacks(execute=True):
        response = mobile_app.api().post(URL, batch(event), format="json")

    assert response.status_code == 202, response.content
    row = online_features_get(customer.pk)
    assert row.known_at > stale.known_at
    assert row.values["txn_count_30d"] == 1
