"""Campaigns: launch, control group, the outbox, send-time checks, retries, sweeps."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

import campaigns.channels as channels_module
from campaigns.channels.base import ChannelRejected, ChannelUnavailable
from campaigns.models import Campaign, CampaignMember, CampaignRun, CampaignStatus, Delivery, DeliveryStatus, RunStatus
from campaigns.outbox import (
    deliveries_claim,
    deliveries_send_due,
    deliveries_sweep,
    delivery_retry,
    in_control,
    offers_queue_for_customer,
)
from campaigns.services import campaign_launch, campaign_stop, campaign_update
from core.models import AuditEvent
from customers.models import Consent, ContactHistory, Customer
from decisioning.inputs import caches_clear
from decisioning.models import Decision, DecisionKind
from tests.campaigns.campaign_setup import campaign_launched, campaign_make
from tests.decisioning.decision_setup import NOW, decision_bank_build, policy

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    caches_clear()
    return decision_bank_build()


@pytest.fixture
def sent(monkeypatch):
    """Messages handed to the channel, by message id."""
    out: list[str] = []

    def send(delivery, *, now):
        out.append(str(delivery.public_id))
        return "accepted"

    monkeypatch.setattr(channels_module, "channel_send", send)
    return out


def test_launching_a_campaign_decides_for_the_audience_and_queues_only_the_treated(
    world, sent, django_capture_on_commit_callbacks
):
    # Given a one-off email campaign with a 20% control group
    with django_capture_on_commit_callbacks(execute=True):
        campaign = campaign_launched(world)

    # Then every customer was decided for once, by the campaign's batch run
    run = CampaignRun.objects.get(campaign=campaign)
    customers = len(world.bank.customers)
    assert Decision.objects.filter(batch_run=run.batch_run).count() == customers
    members = dict(CampaignMember.objects.filter(campaign=campaign).values_list("customer_id", "control"))
    assert len(members) == customers
    control = {pk for pk, held in members.items() if held}
    assert 0 < len(control) < customers
    assert all(in_control(campaign, pk) == held for pk, held in members.items())
    # and the control group got nothing, while the treated got every offer decided, sent once
    deliveries = list(Delivery.objects.filter(campaign=campaign))
    assert deliveries
    assert not {d.customer_id for d in deliveries} & control
    treated_offers = sum(
        len(d.offers) for d in Decision.objects.filter(batch_run=run.batch_run).exclude(customer_id__in=control)
    )
    assert len(deliveries) == treated_offers
    assert sorted(sent) == sorted(str(d.public_id) for d in deliveries)
    assert {d.status for d in deliveries} == {DeliveryStatus.SENT}
    # and each message is in the contact history under the campaign's code
    history = set(ContactHistory.objects.filter(campaign_code="spring").values_list("external_id", flat=True))
    assert history == {d.contact_id for d in deliveries}
    run.refresh_from_db()
    assert (run.status, run.audience, run.control, run.queued) == (RunStatus.DONE, customers, len(control), len(sent))
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED
    assert AuditEvent.objects.filter(action="campaign.launch", object_id="spring").exists()


def test_the_control_split_is_random_across_customers_and_sticky(world):
    campaign = campaign_make(world, control_percent="10")
    share = sum(in_control(campaign, pk) for pk in range(20_000)) / 20_000
    assert 0.09 < share < 0.11
    assert [in_control(campaign, pk) for pk in range(500)] == [in_control(campaign, pk) for pk in range(500)]
    other = campaign_make(world, "autumn", control_percent="10")
    assert [in_control(campaign, pk) for pk in range(500)] != [in_control(other, pk) for pk in range(500)]


def test_a_campaign_keeps_to_its_offers_and_its_audience_rule(world, sent, django_capture_on_commit_callbacks):
    offer = next(iter(world.offers.values()))
    north = [c.pk for c in world.bank.customers[::3]]
    Customer.objects.filter(pk__in=north).update(region="North")
    with django_capture_on_commit_callbacks(execute=True):
        campaign = campaign_launched(
            world,
            offers=[offer.code],
            control_percent="0",
            audience_rule={"field": "customer.region", "op": "eq", "value": "North"},
        )
    run = CampaignRun.objects.get(campaign=campaign)
    decided = Decision.objects.filter(batch_run=run.batch_run)
    assert {o["offer_code"] for d in decided for o in d.offers} <= {offer.code}
    assert run.left_out > 0
    assert run.audience == decided.count() == len(world.bank.customers) - run.left_out
    assert sorted(d.customer_id for d in decided) == sorted(north)


def test_the_volume_limit_caps_the_messages_of_a_run(world, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        campaign = campaign_launched(world, volume_limit=5, control_percent="0")
    run = CampaignRun.objects.get(campaign=campaign)
    assert run.queued == 5 == len(sent)
    assert run.over_limit > 0


def test_bad_campaigns_are_refused_naming_each_field(world):
    with pytest.raises(ValidationError) as caught:
        campaign_make(
            world,
            "bad code!",
            channels=["fax"],
            control_percent="80",
            schedule="recurring",
            audience_segment="nope",
            audience_rule={"field": "customer.shoe_size", "op": "eq", "value": 1},
            offers=["ghost"],
        )
    fields = caught.value.message_dict
    assert {"code", "channels", "control_percent", "audience_segment", "audience_rule", "offers"} <= set(fields)
    assert "ghost" in fields["offers"][0]
    assert "/field" in fields["audience_rule"][0]
    assert not Campaign.objects.exists()


def test_the_control_share_is_frozen_once_launched(world):
    campaign = campaign_launched(world, schedule="triggered")
    with pytest.raises(ValidationError) as caught:
        campaign_update(campaign=campaign, values={"control_percent": "30"}, actor=world.editor, now=NOW)
    assert "control_percent" in caught.value.message_dict


def _queued_for(world, customer, campaign):
    decision, deliveries = offers_queue_for_customer(
        campaign=campaign, customer_id=customer.pk, channel="email", now=NOW
    )
    return decision, deliveries


def _treated_customer(world, campaign):
    return next(c for c in world.bank.customers if not in_control(campaign, c.pk))


def test_a_triggered_offer_is_decided_and_queued_in_one_transaction(world):
    campaign = campaign_launched(world, schedule="triggered", control_percent="0")
    customer = _treated_customer(world, campaign)
    decision, deliveries = _queued_for(world, customer, campaign)
    assert decision.kind == DecisionKind.REALTIME
    assert deliveries
    assert {d.decision_id for d in deliveries} == {decision.public_id}
    assert set(ContactHistory.objects.filter(customer=customer).values_list("external_id", flat=True)) >= {
        d.contact_id for d in deliveries
    }
    assert ContactHistory.objects.filter(customer=customer, campaign_code=campaign.code).count() == len(deliveries)


def test_a_control_customer_is_decided_for_but_sent_nothing(world):
    campaign = campaign_launched(world, schedule="triggered", control_percent="50")
    customer = next(c for c in world.bank.customers if in_control(campaign, c.pk))
    decision, deliveries = _queued_for(world, customer, campaign)
    assert decision.kind == DecisionKind.HELD_OUT
    assert deliveries == []
    assert not ContactHistory.objects.filter(customer=customer).exists()
    assert CampaignMember.objects.get(campaign=campaign, customer=customer).control


def test_two_claims_never_take_the_same_row(world):
    campaign = campaign_launched(world, schedule="triggered", control_percent="0")
    for customer in world.bank.customers[:10]:
        _queued_for(world, customer, campaign)
    now = timezone.now()
    first_token, first = deliveries_claim(worker="a", now=now, limit=3)
    second_token, second = deliveries_claim(worker="b", now=now, limit=1000)
    assert first
    assert second
    assert not set(first) & set(second)
    assert Delivery.objects.filter(claimed_by=first_token).count() == len(first)
    assert deliveries_claim(worker="c", now=now)[1] == []


def test_consent_withdrawn_after_queueing_blocks_the_message_and_unrecords_it(world, sent):
    campaign = campaign_launched(world, schedule="triggered", control_percent="0")
    customer = _treated_customer(world, campaign)
    _decision, deliveries = _queued_for(world, customer, campaign)
    Consent.objects.create(
        customer=customer,
        channel="email",
        purpose="marketing",
        status="withdrawn",
        effective_at=timezone.now() - dt.timedelta(seconds=1),
        source="test",
        received_at=timezone.now(),
    )
    report = deliveries_send_due(worker="w")
    assert report.blocked == len(deliveries)
    assert sent == []
    row = Delivery.objects.get(pk=deliveries[0].pk)
    assert row.status == DeliveryStatus.BLOCKED
    assert "consent withdrawn" in row.last_error
    assert not ContactHistory.objects.filter(external_id__in=[d.contact_id for d in deliveries]).exists()


def test_caps_are_checked_again_at_send_time(world, sent):
    policy("one-email-a-week", "channel_cap", limit=1, period_days=7, channel="email")
    caches_clear()
    first = campaign_launched(world, "first", schedule="triggered", control_percent="0")
    second = campaign_launched(world, "second", schedule="triggered", control_percent="0")
    customer = next(c for c in world.bank.customers if not in_control(first, c.pk) and not in_control(second, c.pk))
    # Both decided before either was sent: each decision saw room for one email.
    _queued_for(world, customer, first)
    ContactHistory.objects.filter(customer=customer).delete()
    _queued_for(world, customer, second)
    report = deliveries_send_due(worker="w")
    assert report.sent == 1
    assert report.blocked >= 1
    blocked = Delivery.objects.get(customer=customer, status=DeliveryStatus.BLOCKED)
    assert "one email a week" in blocked.last_error


def test_transient_failures_back_off_then_go_to_the_dead_letter_and_can_be_retried(world, monkeypatch, settings):
    settings.DELIVERY_MAX_ATTEMPTS = 3
    campaign = campaign_launched(world, schedule="triggered", control_percent="0")
    customer = _treated_customer(world, campaign)
    _decision, deliveries = _queued_for(world, customer, campaign)
    row_id = deliveries[0].pk

    def down(delivery, *, now):
        raise ChannelUnavailable("gateway timed out")

    clock = [timezone.now()]
    for attempt in range(1, 4):
        report = deliveries_send_due(worker="w", send=down, clock=lambda: clock[0])
        row = Delivery.objects.get(pk=row_id)
        assert row.attempts == attempt
        if attempt < 3:
            assert row.status == DeliveryStatus.RETRY
            assert row.due_at > clock[0]
            # nothing is due before the back-off has passed
            assert deliveries_send_due(worker="w", send=down, clock=lambda: clock[0]).claimed == 0
            clock[0] = row.due_at
    assert row.status == DeliveryStatus.DEAD
    assert "gave up after 3" in row.last_error
    assert report.dead >= 1

    delivery_retry(delivery=row, actor=world.editor, now=NOW)
    ok = deliveries_send_due(worker="w", send=lambda delivery, *, now: "ok", clock=lambda: clock[0])
    assert ok.sent >= 1
    assert Delivery.objects.get(pk=row_id).status == DeliveryStatus.SENT
    assert AuditEvent.objects.filter(action="delivery.retry").exists()


def test_a_permanent_refusal_is_a_dead_letter_at_once(world):
    campaign = campaign_launched(world, schedule="triggered", control_percent="0")
    _decision, deliveries = _queued_for(world, _treated_customer(world, campaign), campaign)

    def refuse(delivery, *, now):
        raise ChannelRejected("no email address on file")

    deliveries_send_due(worker="w", send=refuse)
    row = Delivery.objects.get(pk=deliveries[0].pk)
    assert (row.status, row.attempts) == (DeliveryStatus.DEAD, 1)


def test_the_sweeper_hands_a_dead_workers_rows_to_another(world, sent, settings):
    campaign = campaign_launched(world, schedule="triggered", control_percent="0")
    _decision, deliveries = _queued_for(world, _treated_customer(world, campaign), campaign)
    long_ago = timezone.now() - dt.timedelta(seconds=settings.DELIVERY_CLAIM_TIMEOUT + 5)
    token, ids = deliveries_claim(worker="dies", now=long_ago)
    assert ids
    assert deliveries_send_due(worker="other").claimed == 0  # still held
    assert deliveries_sweep(now=timezone.now())["reclaimed"] == len(ids)
    assert deliveries_send_due(worker="other").sent == len(ids)
    # the dead worker waking up cannot overwrite the outcome
    assert Delivery.objects.filter(claimed_by=token).count() == 0


def test_stopping_a_campaign_cancels_what_is_not_sent(world, sent):
    campaign = campaign_launched(world, schedule="triggered", control_percent="0")
    customer = _treated_customer(world, campaign)
    _decision, deliveries = _queued_for(world, customer, campaign)
    campaign_stop(campaign=campaign, actor=world.editor, now=NOW)
    assert set(Delivery.objects.filter(campaign=campaign).values_list("status", flat=True)) == {
        DeliveryStatus.CANCELLED
    }
    assert not ContactHistory.objects.filter(external_id__in=[d.contact_id for d in deliveries]).exists()
    assert deliveries_send_due(worker="w").claimed == 0
    assert sent == []
    with pytest.raises(ValidationError):
        campaign_stop(campaign=campaign, actor=world.editor, now=NOW)
    campaign_launch(campaign=campaign, actor=world.editor, now=NOW)


def test_a_call_centre_message_needs_the_phone_consent_at_send_time(world, sent):
    campaign = campaign_launched(world, schedule="triggered", control_percent="0", channels=["call_centre"])
    customer = _treated_customer(world, campaign)
    Consent.objects.create(
        customer=customer,
        channel="phone",
        purpose="marketing",
        status="granted",
        effective_at=NOW - dt.timedelta(days=1),
        source="test",
        received_at=NOW,
    )
    decision, deliveries = offers_queue_for_customer(
        campaign=campaign, customer_id=customer.pk, channel="call_centre", now=NOW
    )
    assert deliveries
    Consent.objects.create(
        customer=customer,
        channel="phone",
        purpose="marketing",
        status="withdrawn",
        effective_at=timezone.now() - dt.timedelta(seconds=1),
        source="test",
        received_at=timezone.now(),
    )
    deliveries_send_due(worker="w")
    row = Delivery.objects.get(pk=deliveries[0].pk)
    assert row.status == DeliveryStatus.BLOCKED
    assert "withdrawn for phone" in row.last_error
