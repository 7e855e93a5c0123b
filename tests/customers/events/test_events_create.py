"""POST /api/v1/events: each event type is stored, once, with the per-item outcome."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from core.models import TaskRun, TaskRunState
from customers import choices
from customers.models import (
    Consent,
    CreditScore,
    CustomerAttributeChange,
    InboundEvent,
    Interaction,
    Transaction,
)
from tests.customers.events.conftest import (
    URL,
    batch,
    consent_event,
    credit_score_event,
    interaction_event,
    kyc_event,
    transaction_event,
)
from tests.factories.customers import AccountFactory, AccountHolderFactory, CustomerFactory

pytestmark = pytest.mark.django_db


def test_it_stores_one_event_of_each_type_and_answers_202_with_each_outcome(core_banking, bank):
    # when a channel sends one event of each type
    response = core_banking.api().post(
        URL,
        batch(transaction_event(), interaction_event(), credit_score_event(), consent_event(), kyc_event()),
        format="json",
    )
    # then all are accepted
    assert response.status_code == 202, response.content
    assert response.json() == {
        "accepted": 5,
        "duplicates": 0,
        "events": [
            {"index": 0, "event_id": "evt-txn-1", "status": "accepted"},
            {"index": 1, "event_id": "evt-int-1", "status": "accepted"},
            {"index": 2, "event_id": "evt-cs-1", "status": "accepted"},
            {"index": 3, "event_id": "evt-con-1", "status": "accepted"},
            {"index": 4, "event_id": "evt-kyc-1", "status": "accepted"},
        ],
    }
    # and every fact is where the models keep it
    txn = Transaction.objects.get()
    assert (txn.external_id, txn.account_id, txn.customer_id) == ("T00000000001", bank.account.pk, bank.customer.pk)
    assert txn.amount == Decimal("-42.80")
    assert txn.booked_at == dt.datetime(2025, 3, 14, 9, 26, 53, tzinfo=dt.UTC)
    assert (txn.category, txn.mcc, txn.channel) == ("groceries", "5411", "card_present")
    interaction = Interaction.objects.get()
    assert interaction.external_id == "evt-int-1"  # no interaction_id: the event id names it
    assert interaction.product_id == bank.product.pk
    score = CreditScore.objects.get()
    assert (score.score, score.source, score.scored_on) == (712, "bureau", dt.date(2025, 2, 1))
    consent = Consent.objects.get()
    assert (consent.status, consent.source) == ("withdrawn", "core-banking")
    assert consent.effective_at == dt.datetime(2025, 3, 1, 10, tzinfo=dt.UTC)
    # and each event is logged under the sender's name
    assert list(InboundEvent.objects.values_list("source", "event_type").order_by("id")) == [
        ("core-banking", "transaction"),
        ("core-banking", "interaction"),
        ("core-banking", "credit_score"),
        ("core-banking", "consent"),
        ("core-banking", "kyc_status"),
    ]


def test_a_kyc_change_updates_the_customer_and_dates_the_history_in_the_bank_time_zone(core_banking, bank, settings):
    settings.BANK_TIME_ZONE = "Europe/London"
    # 23:30 UTC on 31 March 2025 is already 1 April in London (BST)
    response = core_banking.api().post(
        URL, batch(kyc_event(kyc_date="2025-03-31", sanctions_status="potential_match")), format="json"
    )
    assert response.status_code == 202, response.content
    bank.customer.refresh_from_db()
    assert bank.customer.kyc_status == "expired"
    assert bank.customer.kyc_date == dt.date(2025, 3, 31)
    assert bank.customer.sanctions_status == "potential_match"
    changes = CustomerAttributeChange.objects.filter(customer=bank.customer)
    assert sorted(changes.values_list("attribute", "value", "effective_from")) == [
        ("kyc_status", "expired", dt.date(2025, 4, 1)),
        ("sanctions_status", "potential_match", dt.date(2025, 4, 1)),
    ]


def test_a_late_kyc_event_is_kept_in_history_but_does_not_roll_back_the_current_status(core_banking, bank):
    # given a KYC change in April already known
    core_banking.api().post(
        URL, batch(kyc_event(1, occurred_at="2025-04-10T12:00:00+00:00", kyc_status="verified")), format="json"
    )
    # when an older change from March arrives late
    response = core_banking.api().post(
        URL, batch(kyc_event(2, occurred_at="2025-03-10T12:00:00+00:00", kyc_status="pending")), format="json"
    )
    # then history has both, and the current value is still the April one
    assert response.status_code == 202
    bank.customer.refresh_from_db()
    assert bank.customer.kyc_status == "verified"
    assert list(
        CustomerAttributeChange.objects.filter(attribute="kyc_status").values_list("effective_from", "value")
    ) == [(dt.date(2025, 3, 10), "pending"), (dt.date(2025, 4, 10), "verified")]


def test_the_same_event_sent_twice_is_stored_once_and_reported_as_duplicate(mobile_app, bank):
    api = mobile_app.api()
    first = api.post(URL, batch(transaction_event()), format="json")
    second = api.post(URL, batch(transaction_event(), transaction_event(2)), format="json")
    assert first.status_code == second.status_code == 202
    assert second.json()["accepted"] == 1
    assert second.json()["duplicates"] == 1
    assert second.json()["events"][0] == {"index": 0, "event_id": "evt-txn-1", "status": "duplicate"}
    assert Transaction.objects.count() == 2
    assert InboundEvent.objects.count() == 2


def test_an_event_repeated_within_one_batch_is_stored_once(mobile_app, bank):
    response = mobile_app.api().post(URL, batch(consent_event(), consent_event()), format="json")
    assert response.status_code == 202
    assert [e["status"] for e in response.json()["events"]] == ["accepted", "duplicate"]
    assert Consent.objects.count() == 1
    assert InboundEvent.objects.count() == 1


def test_the_same_fact_under_two_event_ids_is_upserted_by_its_natural_key(mobile_app, bank):
    # given a transaction stored under one event id
    mobile_app.api().post(URL, batch(transaction_event(1)), format="json")
    # when a corrected copy (same transaction id and booking time) comes under another event id
    corrected = transaction_event(1, amount="-43.10")
    corrected["event_id"] = "evt-txn-correction"
    response = mobile_app.api().post(URL, batch(corrected), format="json")
    # then one transaction, with the corrected amount
    assert response.status_code == 202
    assert Transaction.objects.get().amount == Decimal("-43.10")
    assert InboundEvent.objects.count() == 2


def test_two_copies_of_one_fact_in_a_batch_keep_the_later_one(mobile_app, bank):
    second = credit_score_event(2, score=730)
    response = mobile_app.api().post(URL, batch(credit_score_event(1), second), format="json")
    assert response.status_code == 202
    assert list(CreditScore.objects.values_list("score", flat=True)) == [730]


def test_the_same_event_id_from_another_sender_is_a_different_event(mobile_app, alice_admin, api_as, bank):
    mobile_app.api().post(URL, batch(consent_event()), format="json")
    response = api_as(alice_admin).post(URL, batch(consent_event()), format="json")
    assert response.json()["events"][0]["status"] == "accepted"
    assert set(InboundEvent.objects.values_list("source", flat=True)) == {"mobile-app", "user:alice"}


def test_a_joint_holder_may_report_a_transaction_booked_to_the_primary_holder(mobile_app, bank):
    partner = CustomerFactory(external_id="C000124")
    AccountHolderFactory(account=bank.account, customer=partner, role=choices.HolderRole.JOINT)
    event = transaction_event()
    event["customer_id"] = "C000124"
    response = mobile_app.api().post(URL, batch(event), format="json")
    assert response.status_code == 202, response.content
    assert Transaction.objects.get().customer_id == bank.customer.pk


def test_amounts_may_be_numbers_and_times_without_offset_are_bank_local(mobile_app, bank, settings):
    settings.BANK_TIME_ZONE = "America/New_York"
    event = transaction_event(amount=12.5, booked_at="2025-07-01T10:00:00")
    response = mobile_app.api().post(URL, batch(event), format="json")
    assert response.status_code == 202, response.content
    txn = Transaction.objects.get()
    assert txn.amount == Decimal("12.50")
    assert txn.booked_at == dt.datetime(2025, 7, 1, 14, 0, tzinfo=dt.UTC)


def test_follow_up_tasks_are_sent_by_name_after_commit(mobile_app, bank, settings, django_capture_on_commit_callbacks):
    settings.EVENT_FOLLOW_UP_TASKS = ["customers.events_received"]
    # when a batch is accepted
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = mobile_app.api().post(URL, batch(transaction_event(), consent_event()), format="json")
    assert response.status_code == 202
    # then nothing ran before the commit
    assert not TaskRun.objects.filter(name="customers.events_received").exists()
    # and after it, the task ran and recorded what arrived
    assert len(callbacks) == 1
    callbacks[0]()
    run = TaskRun.objects.get(name="customers.events_received")
    assert run.state == TaskRunState.SUCCESS
    assert run.result == {
        "received": 2,
        "missing": 0,
        "by_type": {"consent": 1, "transaction": 1},
        "customers": 1,
    }


def test_follow_ups_go_to_the_broker_by_name_when_one_is_configured(
    mobile_app, bank, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from celery import current_app

    settings.EVENT_FOLLOW_UP_TASKS = ["campaigns.evaluate_triggers", "modeling.rescore"]
    sent = []
    monkeypatch.setitem(current_app.conf, "task_always_eager", False)
    monkeypatch.setattr(current_app, "send_task", lambda name, kwargs: sent.append((name, kwargs)))
    with django_capture_on_commit_callbacks(execute=True):
        mobile_app.api().post(URL, batch(transaction_event()), format="json")
    ids = list(InboundEvent.objects.values_list("id", flat=True))
    assert sent == [
        ("campaigns.evaluate_triggers", {"inbound_event_ids": ids, "customer_ids": [bank.customer.pk]}),
        ("modeling.rescore", {"inbound_event_ids": ids, "customer_ids": [bank.customer.pk]}),
    ]


def test_no_follow_up_is_sent_when_every_event_was_a_duplicate(
    mobile_app, bank, settings, django_capture_on_commit_callbacks
):
    settings.EVENT_FOLLOW_UP_TASKS = ["customers.events_received"]
    mobile_app.api().post(URL, batch(consent_event()), format="json")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        mobile_app.api().post(URL, batch(consent_event()), format="json")
    assert callbacks == []


def test_a_batch_costs_a_fixed_number_of_queries_whatever_its_size(mobile_app, bank, django_assert_max_num_queries):
    accounts = [AccountFactory(customer=bank.customer) for _ in range(5)]
    events = []
    for n in range(200):
        event = transaction_event(n, account_id=accounts[n % 5].external_id)
        events.append(event)
        events.append(interaction_event(n))
    with django_assert_max_num_queries(20):
        response = mobile_app.api().post(URL, batch(*events), format="json")
    assert response.status_code == 202
    assert Transaction.objects.count() == 200
    assert Interaction.objects.count() == 200


def test_a_follow_up_that_cannot_start_is_logged_and_does_not_stop_the_others(
    mobile_app, bank, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from customers.events import services

    errors: list[str] = []
    monkeypatch.setattr(services.logger, "error", lambda msg, *args: errors.append(msg % args))
    settings.EVENT_FOLLOW_UP_TASKS = ["nobody.registered_this", "customers.events_received"]
    with django_capture_on_commit_callbacks(execute=True):
        response = mobile_app.api().post(URL, batch(consent_event()), format="json")
    # the events are committed, so the sender still gets its 202
    assert response.status_code == 202
    assert errors == ["follow-up task nobody.registered_this is not registered; not run"]
    assert TaskRun.objects.filter(name="customers.events_received", state=TaskRunState.SUCCESS).exists()
