"""The demo's campaign history: the product's services on a simulated clock."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from campaigns import demo
from campaigns.models import Campaign, CampaignRun, Conversion, Delivery, DeliveryStatus, OfferResponse, RunStatus
from customers.models import ContactDetails
from decisioning.inputs import caches_clear
from tests.decisioning.decision_setup import NOW, decision_bank_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(monkeypatch):
    caches_clear()
    bank = decision_bank_build()
    for customer in bank.bank.customers:
        ContactDetails.objects.update_or_create(
            customer=customer, defaults={"email": f"c{customer.pk}@example.org", "received_at": timezone.now()}
        )
    first = next(iter(bank.offers.values()))
    monkeypatch.setattr(
        demo,
        "DEMO_CAMPAIGNS",
        (
            {
                "code": "weekly",
                "values": {
                    "name": "Weekly",
                    "channels": ["email"],
                    "schedule": "recurring",
                    "every_days": 7,
                    "control_percent": "20",
                },
                "days": (0, 7),
            },
            {
                "code": "banner",
                "values": {"name": "Banner", "channels": ["web"], "schedule": "once", "offers": [first.code]},
                "days": (3,),
            },
        ),
    )
    return bank


def test_the_demo_history_runs_campaigns_delivers_and_records_outcomes_once(world):
    end = NOW + dt.timedelta(days=25)
    history = demo.demo_history_build(actor=world.editor, end=end, seed=7)

    assert history.runs == 3
    runs = CampaignRun.objects.all()
    assert {run.status for run in runs} == {RunStatus.DONE}
    sent = Delivery.objects.filter(status=DeliveryStatus.SENT)
    assert history.sent == sent.count() > 0
    assert len(mail.outbox) == sent.filter(channel="email").count()
    # every message went out at its run's simulated time, and every response came after it
    for run in runs:
        assert all(
            run.started_at <= d.sent_at <= run.started_at + dt.timedelta(minutes=10)
            for d in Delivery.objects.filter(run=run)
        )
    assert history.responses == OfferResponse.objects.count() > 0
    assert all(r.occurred_at < end for r in OfferResponse.objects.all())
    assert history.conversions == Conversion.objects.count()
    # the recurring campaign's next run is after the demo's weeks
    assert Campaign.objects.get(code="weekly").next_run_at > end

    again = demo.demo_history_build(actor=world.editor, end=end, seed=7)
    assert again.runs == 0
    assert OfferResponse.objects.count() == history.responses
