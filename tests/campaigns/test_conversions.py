"""``conversions_attribute``: products opened after an offer of them, joined back to it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from campaigns.models import Conversion, DeliveryStatus
from campaigns.outcomes import conversions_attribute, response_record
from campaigns.tasks import attribute_conversions_task
from decisioning.models import DecisionKind
from tests.campaigns.outcome_setup import (
    NOW,
    account_open,
    campaign_create,
    campaign_reach,
    campaign_run_create,
    decision_store,
    small_bank,
)

pytestmark = pytest.mark.django_db
OFFER_DAY = NOW.date()  # 2 March 2026, the same day in the bank's time zone
LATER = NOW + dt.timedelta(days=45)


def attribute() -> int:
    return conversions_attribute(now=LATER, since=NOW - dt.timedelta(days=1))


@pytest.fixture
def bank():
    return small_bank(12)


@pytest.fixture
def run(bank):
    return campaign_run_create(campaign_create(bank, "spring", offers=["card"], attribution_days=30))


@pytest.mark.parametrize(
    ("days_after", "counted"),
    [(-1, False), (0, True), (1, True), (30, True), (31, False)],
)
def test_an_opening_counts_from_the_offer_day_to_the_last_day_of_the_window(bank, run, days_after, counted):
    customer = bank.customers[0]
    campaign_reach(run, customer, [bank.offers["card"]])
    account_open(customer, bank.offers["card"].product, OFFER_DAY + dt.timedelta(days=days_after))

    assert attribute() == int(counted)
    assert Conversion.objects.filter(customer=customer).exists() is counted


def test_a_conversion_is_joined_to_the_decision_channel_and_campaign_with_the_offer_value(bank, run):
    customer = bank.customers[0]
    decision = campaign_reach(run, customer, [bank.offers["card"]])
    account = account_open(customer, bank.offers["card"].product, OFFER_DAY + dt.timedelta(days=3))

    attribute()

    conversion = Conversion.objects.get()
    assert conversion.decision_id == decision.public_id
    assert (conversion.offer_code, conversion.channel, conversion.campaign, conversion.control) == (
        "card",
        "email",
        run.campaign,
        False,
    )
    assert (conversion.revenue, conversion.currency) == (Decimal("100.00"), "EUR")
    assert (conversion.source, conversion.evidence) == ("account", f"account:{account.external_id}")
    assert conversion.converted_at.date() == OFFER_DAY + dt.timedelta(days=3)


def test_another_product_opened_is_no_conversion(bank, run):
    customer = bank.customers[0]
    campaign_reach(run, customer, [bank.offers["card"]])
    account_open(customer, bank.offers["saver"].product, OFFER_DAY + dt.timedelta(days=3))
    assert attribute() == 0


def test_a_control_customer_converts_on_the_offer_they_would_have_received(bank, run):
    # Given a held-out customer: a batch decision, no delivery
    customer = bank.customers[1]
    decision = campaign_reach(run, customer, [bank.offers["card"]], control=True)
    account_open(customer, bank.offers["card"].product, OFFER_DAY + dt.timedelta(days=5))

    assert attribute() == 1

    conversion = Conversion.objects.get()
    assert (conversion.decision_id, conversion.control, conversion.campaign) == (decision.public_id, True, run.campaign)


def test_a_triggered_campaigns_held_out_decision_counts_for_its_control_group(bank, run):
    from campaigns.models import CampaignMember

    customer = bank.customers[2]
    CampaignMember.objects.create(campaign=run.campaign, customer=customer, control=True, assigned_at=NOW)
    held_out = decision_store(
        customer, [bank.offers["card"]], kind=DecisionKind.HELD_OUT, requested_by="campaign:spring", channel="push"
    )
    account_open(customer, bank.offers["card"].product, OFFER_DAY + dt.timedelta(days=2))

    assert attribute() == 1
    conversion = Conversion.objects.get()
    assert (conversion.decision_id, conversion.control, conversion.channel) == (held_out.public_id, True, "push")


def test_running_twice_writes_nothing_twice(bank, run):
    for customer in bank.customers[:4]:
        campaign_reach(run, customer, [bank.offers["card"]])
        account_open(customer, bank.offers["card"].product, OFFER_DAY + dt.timedelta(days=1))
    assert attribute() == 4
    assert attribute() == 0
    assert attribute_conversions_task(since=NOW.isoformat()) == {"new": 0}
    assert Conversion.objects.count() == 4


def test_an_offer_never_sent_has_no_conversion(bank, run):
    customer = bank.customers[0]
    campaign_reach(run, customer, [bank.offers["card"]], status=DeliveryStatus.BLOCKED)
    account_open(customer, bank.offers["card"].product, OFFER_DAY + dt.timedelta(days=1))
    assert attribute() == 0


def test_a_real_time_offer_outside_campaigns_has_thirty_days(bank):
    customer = bank.customers[3]
    decision_store(customer, [bank.offers["saver"]], channel="web")
    account_open(customer, bank.offers["saver"].product, OFFER_DAY + dt.timedelta(days=30))
    other = bank.customers[4]
    decision_store(other, [bank.offers["saver"]], channel="web")
    account_open(other, bank.offers["saver"].product, OFFER_DAY + dt.timedelta(days=31))

    assert attribute() == 1
    conversion = Conversion.objects.get()
    assert (conversion.customer, conversion.campaign, conversion.channel) == (customer, None, "web")
    assert conversion.revenue == Decimal("40.00")


def test_the_last_offer_before_the_opening_takes_it_within_a_campaign(bank, run):
    customer = bank.customers[0]
    campaign_reach(run, customer, [bank.offers["card"]])
    second_run = campaign_run_create(run.campaign, now=NOW + dt.timedelta(days=7))
    later = campaign_reach(second_run, customer, [bank.offers["card"]], made_at=NOW + dt.timedelta(days=7))
    account_open(customer, bank.offers["card"].product, OFFER_DAY + dt.timedelta(days=9))

    assert attribute() == 1
    assert Conversion.objects.get().decision_id == later.public_id


def test_a_campaign_offer_takes_the_opening_from_an_offer_outside_campaigns(bank, run):
    customer = bank.customers[0]
    decision_store(customer, [bank.offers["card"]], channel="web", made_at=NOW + dt.timedelta(days=1))
    campaign_reach(run, customer, [bank.offers["card"]])
    account_open(customer, bank.offers["card"].product, OFFER_DAY + dt.timedelta(days=2))

    assert attribute() == 1
    assert Conversion.objects.get().campaign == run.campaign


def test_a_reported_amount_is_the_revenue_and_the_account_adds_no_second_conversion(bank, run):
    customer = bank.customers[0]
    decision = campaign_reach(run, customer, [bank.offers["card"]])
    response_record(
        decision_id=decision.public_id,
        offer_code="card",
        kind="accept",
        occurred_at=NOW + dt.timedelta(hours=1),
        amount=Decimal("900.00"),
        source="call-centre",
        now=NOW + dt.timedelta(hours=1),
    )
    account_open(customer, bank.offers["card"].product, OFFER_DAY + dt.timedelta(days=1))

    assert attribute() == 0
    conversion = Conversion.objects.get()
    assert (conversion.revenue, conversion.source) == (Decimal("900.00"), "response")


def test_an_amount_reported_after_the_account_was_seen_becomes_the_revenue(bank, run):
    customer = bank.customers[0]
    decision = campaign_reach(run, customer, [bank.offers["card"]])
    account_open(customer, bank.offers["card"].product, OFFER_DAY)
    attribute()
    response_record(
        decision_id=decision.public_id,
        offer_code="card",
        kind="accept",
        occurred_at=NOW + dt.timedelta(hours=1),
        amount=Decimal("75.50"),
        source="web",
        now=LATER,
    )
    conversion = Conversion.objects.get()
    assert (conversion.revenue, conversion.source) == (Decimal("75.50"), "account")


def test_by_default_it_reads_openings_of_the_last_window_and_late_imports(bank, run):
    # Given two converted customers: one opened lately, one opened long ago but imported only now
    lately, imported = bank.customers[0], bank.customers[1]
    campaign_reach(run, lately, [bank.offers["card"]])
    account_open(lately, bank.offers["card"].product, OFFER_DAY + dt.timedelta(days=20))
    campaign_reach(run, imported, [bank.offers["card"]])
    account_open(imported, bank.offers["card"].product, OFFER_DAY + dt.timedelta(days=2), received_at=LATER)
    # and one opened long ago and known long ago, which an earlier run had the chance to see
    known = bank.customers[2]
    campaign_reach(run, known, [bank.offers["card"]])
    account_open(known, bank.offers["card"].product, OFFER_DAY + dt.timedelta(days=2))

    assert conversions_attribute(now=LATER) == 2
    assert set(Conversion.objects.values_list("customer", flat=True)) == {lately.pk, imported.pk}
