"""Two batches carrying the same new event, committing at the same moment."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection

from customers.events import services
from customers.events.services import EventIn, events_ingest
from customers.models import Consent, InboundEvent
from tests.factories.customers import CustomerFactory

NOW = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_batch_that_loses_the_race_reports_the_event_as_a_duplicate(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time: the second batch waits instead of racing")
    customer = CustomerFactory(external_id="C1")
    event = EventIn(
        event_id="evt-1",
        type="consent",
        occurred_at=NOW,
        customer_id="C1",
        data={"channel": "email", "purpose": "marketing", "status": "granted"},
    )
    real_upsert = services._consents_upsert
    calls = []

    def upsert_while_another_batch_commits(*args, **kwargs):
        real_upsert(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            # after our duplicate check, another batch stores the same event and commits
            def other_batch() -> None:
                InboundEvent.objects.create(
                    source="mobile-app",
                    event_id="evt-1",
                    event_type="consent",
                    customer=customer,
                    occurred_at=NOW,
                    received_at=NOW,
                    payload_hash="x",
                )
                connection.close()

            thread = threading.Thread(target=other_batch)
            thread.start()
            thread.join(timeout=20)

    monkeypatch.setattr(services, "_consents_upsert", upsert_while_another_batch_commits)
    result = events_ingest(events=[event], source="mobile-app", now=NOW)
    # our insert lost on the unique constraint, rolled back, and the retry saw the winner's row
    assert len(calls) == 2
    assert [o.status for o in result.outcomes] == ["duplicate"]
    assert InboundEvent.objects.count() == 1
    assert Consent.objects.count() == 0  # the winner here logged the event only; our upsert was rolled back
