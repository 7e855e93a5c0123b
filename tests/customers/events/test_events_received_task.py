"""customers.events_received: the follow-up that records what a batch brought."""

from __future__ import annotations

import pytest

from customers.events.tasks import events_received_task
from tests.customers.events.conftest import URL, batch, consent_event, kyc_event, transaction_event

pytestmark = pytest.mark.django_db


def test_it_summarises_the_events_by_type_without_personal_data(core_banking, bank):
    core_banking.api().post(URL, batch(transaction_event(), consent_event(), kyc_event()), format="json")
    from customers.models import InboundEvent

    ids = list(InboundEvent.objects.values_list("id", flat=True))
    assert events_received_task(inbound_event_ids=ids, customer_ids=[bank.customer.pk]) == {
        "received": 3,
        "missing": 0,
        "by_type": {"consent": 1, "kyc_status": 1, "transaction": 1},
        "customers": 1,
    }


def test_it_counts_rows_gone_since_the_batch_instead_of_failing(db):
    assert events_received_task(inbound_event_ids=[999_998, 999_999]) == {
        "received": 0,
        "missing": 2,
        "by_type": {},
        "customers": 0,
    }


def test_running_it_twice_gives_the_same_answer(mobile_app, bank):
    from customers.models import InboundEvent

    mobile_app.api().post(URL, batch(consent_event()), format="json")
    ids = list(InboundEvent.objects.values_list("id", flat=True))
    assert events_received_task(inbound_event_ids=ids) == events_received_task(inbound_event_ids=ids)
