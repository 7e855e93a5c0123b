"""From an event to the queued offer through a real Celery worker (.ci/run: Redis + PostgreSQL).

Events are posted to ``/api/v1/events`` and committed; the worker runs the
``campaigns.evaluate_triggers`` follow-up, the trigger fires, and the offer is
queued in the outbox. The latency is the firing's record of it: from the
event's receipt (taken before the batch commits, so the figure errs long) to
the offer queued.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import time

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import Campaign, CampaignSchedule, CampaignStatus, Delivery, TriggerFiring
from campaigns.triggers import trigger_create
from core.services import api_client_create
from tests.factories.customers import AccountFactory

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    # Without a broker, tasks run in-process and no worker could pick this up.
    pytest.mark.skipif(not os.environ.get("CELERY_BROKER_URL"), reason="needs CELERY_BROKER_URL and a worker"),
]

EVENTS = 20
P95_LIMIT_MS = 2000
# One batch a second: each costs the worker's two processes about a second of work
# on CI's two cores (a decision on freshly computed features, the online-feature
# refresh, the event summary, the delivery), so this is a steady load, not a backlog.
PACE_SECONDS = 1.0


def deposit_event(n: int, customer_id: str, account_id: str, at: dt.datetime) -> dict:
    return {
        "event_id": f"evt-deposit-{n}",
        "type": "transaction",
        "occurred_at": at.isoformat(),
        "customer_id": customer_id,
        "data": {
            "transaction_id": f"TDEP{n:08d}",
            "account_id": account_id,
            "amount": "25000.00",
            "currency": "EUR",
            "category": "transfer_in",
            "channel": "transfer",
        },
    }


def test_an_event_through_the_api_queues_the_triggered_offer_within_two_seconds(wait_for):
    from decisioning.inputs import caches_clear
    from modeling.online import online_features_refresh
    from tests.decisioning.decision_setup import decision_bank_build

    # given a triggered campaign on a small bank (no models: the worker has its own model directory)
    caches_clear()
    world = decision_bank_build(models=False)
    # A running bank has every customer's online features stored (refreshed on events).
    online_features_refresh(customer_ids=None, now=timezone.now())
    campaign = Campaign.objects.create(
        code="big-deposit",
        name="Big deposit",
        owner=world.editor,
        status=CampaignStatus.ACTIVE,
        schedule=CampaignSchedule.TRIGGERED,
        channels=["email"],
        control_percent=0,
    )
    campaign.offers.set([world.offers["EASY_SAVER"]])
    trigger = trigger_create(
        campaign=campaign,
        code="deposit-10k",
        name="A deposit of 10,000 or more",
        definition={"kind": "large_deposit", "amount": "10000.00", "days": 3},
        actor=world.editor,
        now=timezone.now(),
    )
    warm_up, *customers = world.bank.customers[: EVENTS + 1]
    accounts = [AccountFactory(customer=c, currency="EUR", product=world.bank.products[0]) for c in customers]
    _, token = api_client_create(name="core-banking", scopes=["events"], actor=None)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    # A long-running worker has its caches warm: one event first, not measured.
    warm_account = AccountFactory(customer=warm_up, currency="EUR", product=world.bank.products[0])
    api.post(
        "/api/v1/events",
        {"events": [deposit_event(999, warm_up.external_id, warm_account.external_id, timezone.now())]},
        format="json",
    )
    wait_for(lambda: TriggerFiring.objects.filter(customer=warm_up).exists(), timeout=60)

    # when a large deposit arrives for each customer, one batch each, one a second
    for n, (customer, account) in enumerate(zip(customers, accounts, strict=True)):
        response = api.post(
            "/api/v1/events",
            {"events": [deposit_event(n, customer.external_id, account.external_id, timezone.now())]},
            format="json",
        )
        assert response.status_code == 202, response.content
        time.sleep(PACE_SECONDS)

    # then the worker fires the trigger once per customer and queues the offer
    measured = TriggerFiring.objects.filter(trigger=trigger).exclude(customer=warm_up)
    firings = wait_for(lambda: (found := list(measured)) and len(found) == EVENTS and found, timeout=120)
    assert {f.customer_id for f in firings} == {c.pk for c in customers}
    deliveries = Delivery.objects.filter(trigger=trigger).exclude(customer=warm_up)
    assert {d.customer_id for d in deliveries} == {c.pk for c in customers}
    assert {d.decision_id for d in deliveries} == {f.decision_id for f in firings}
    assert all(d.campaign_id == campaign.pk and d.channel == "email" for d in deliveries)

    # and the offer is queued within two seconds of the event's commit (p95)
    latencies = sorted((f.queued_at - f.event_committed_at).total_seconds() * 1000 for f in firings)
    p95 = statistics.quantiles(latencies, n=20, method="inclusive")[18]
    print(
        f"trigger latency over {EVENTS} events: p50 {statistics.median(latencies):.0f} ms, p95 {p95:.0f} ms;"
        f" each: {', '.join(f'{ms:.0f}' for ms in latencies)}"
    )
    assert all(f.event_committed_at <= f.fired_at <= f.queued_at for f in firings)
    assert p95 <= P95_LIMIT_MS
