"""Contact-history, phone, calendar and market-change features: known values on a
hand-built customer, and nothing dated, answered or received after the cut-off
(offers made later, answers recorded later, rows received later) changes them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from customers import choices
from customers.models import MarketIndicator
from modeling.feature_catalogue import OFFER_LOOKBACK_DAYS, feature_get
from modeling.features import compute_features
from tests.factories.customers import ContactDetailsFactory, ContactHistoryFactory, CustomerFactory, ProductFactory

CUTOFF = dt.date(2025, 7, 1)
# Europe/London is on summer time: the cut-off instant is 23:00 UTC the day before.
AT = dt.datetime(2025, 6, 30, 23, 0, tzinfo=dt.UTC)
EARLY = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
Outcome = choices.OfferOutcome


@pytest.fixture(autouse=True)
def _bank_time_zone(settings):
    settings.BANK_TIME_ZONE = "Europe/London"


def _before(days: float) -> dt.datetime:
    return AT - dt.timedelta(days=days)


def _offer(customer, product, days_before: float, outcome: str, *, campaign: str = "SUMMER", answered: float | None = 0,
           received_at: dt.datetime = EARLY, offered_at: dt.datetime | None = None):  # fmt: skip
    """An offer ``days_before`` the cut-off instant, answered ``answered`` days after it was made (None: never)."""
    offered = offered_at or _before(days_before)
    return ContactHistoryFactory(
        customer=customer,
        product=product,
        campaign_code=campaign,
        offered_at=offered,
        outcome=outcome,
        responded_at=None if answered is None else offered + dt.timedelta(days=answered),
        received_at=received_at,
    )


@pytest.fixture
def products(db):
    return (
        ProductFactory(code="TD_1Y", family=choices.ProductFamily.DEPOSIT),
        ProductFactory(code="CC_GOLD", family=choices.ProductFamily.CARD),
    )


@pytest.fixture
def maria(products):
    """Offered the deposit twice in an old campaign (rejected the last), once in the current
    one (no answer yet), and the card twice (accepted once, dismissed once)."""
    deposit, card = products
    customer = CustomerFactory(external_id="MARIA")
    _offer(customer, deposit, 200, Outcome.NO_RESPONSE, campaign="SPRING", answered=None)
    _offer(customer, deposit, 100, Outcome.REJECTED, campaign="SPRING", answered=1)
    _offer(customer, card, 60, Outcome.ACCEPTED, campaign="CARDS", answered=2)
    _offer(customer, card, 20, Outcome.DISMISSED, campaign="CARDS", answered=0.5)
    _offer(customer, deposit, 3, Outcome.PENDING, campaign="SUMMER", answered=None)
    ContactDetailsFactory(customer=customer, phone="+351 912 345 678", received_at=EARLY)
    return customer


def _row(customer, **kwargs):
    return compute_features(cutoff=CUTOFF, customer_ids=[customer.pk], **kwargs).loc[customer.pk]


def test_it_counts_and_dates_a_customers_offers_and_answers(maria):
    row = _row(maria)

    assert (row["offers_30d"], row["offers_90d"], row["offers_365d"]) == (2.0, 3.0, 5.0)
    assert row["offers_accepted_365d"] == 1.0
    assert row["offers_rejected_365d"] == 2.0  # rejected and dismissed
    assert row["days_since_last_offer"] == pytest.approx(3.0)
    assert not row["no_offer_365d"]
    assert row["days_since_last_response"] == pytest.approx(19.5)  # the card dismissed 20 - 0.5 days ago
    assert row["last_offer_response"] == "no_response"
    assert row["campaigns_365d"] == 3.0
    assert row["offers_latest_campaign"] == 1.0
    assert row["offers_earlier_campaigns_365d"] == 4.0
    assert (row["offers_365d_td_1y"], row["accepted_365d_td_1y"], row["rejected_365d_td_1y"]) == (3.0, 0.0, 1.0)
    assert (row["offers_365d_cc_gold"], row["accepted_365d_cc_gold"], row["rejected_365d_cc_gold"]) == (2.0, 1.0, 1.0)
    assert row["phone_type"] == "mobile"
    assert row["calendar_month"] == 7.0


def test_a_customer_never_offered_anything_gets_the_declared_fills(products):
    customer = CustomerFactory(external_id="NEW")

    row = _row(customer)

    assert row["offers_365d"] == row["offers_accepted_365d"] == row["campaigns_365d"] == 0.0
    assert row["days_since_last_offer"] == row["days_since_last_response"] == float(OFFER_LOOKBACK_DAYS)
    assert row["no_offer_365d"]
    assert row["last_offer_response"] == "none"
    assert row["offers_365d_td_1y"] == 0.0
    assert row["phone_type"] == "none"
    for name in ("days_since_last_offer", "days_since_last_response", "last_offer_response", "phone_type"):
        assert row[name] == feature_get(name).fill


def test_offers_made_answered_or_received_after_the_cut_off_change_no_feature(maria, products):
    deposit, card = products
    before = _row(maria, known_at=NOW)

    # Given an offer made at the cut-off instant, one answered after it, one received after it,
    # and one made longer ago than the look-back
    _offer(maria, card, 0, Outcome.ACCEPTED, campaign="LATE", offered_at=AT)
    _offer(maria, deposit, 1, Outcome.ACCEPTED, campaign="SUMMER", answered=2)
    _offer(maria, deposit, 5, Outcome.REJECTED, campaign="SUMMER", received_at=NOW)
    _offer(maria, deposit, OFFER_LOOKBACK_DAYS + 1, Outcome.ACCEPTED, campaign="OLD")
    after = _row(maria, known_at=NOW - dt.timedelta(days=1))

    # Then only the offer made before the cut-off and received in time counts, as unanswered
    changed = {c for c in before.index if before[c] != after[c]}
    assert changed == {
        "offers_30d",
        "offers_90d",
        "offers_365d",
        "offers_365d_td_1y",
        "days_since_last_offer",
        "offers_latest_campaign",
    }
    assert after["offers_365d"] == before["offers_365d"] + 1
    assert after["days_since_last_offer"] == pytest.approx(1.0)
    assert after["last_offer_response"] == "no_response"
    assert after["offers_accepted_365d"] == before["offers_accepted_365d"]


def test_the_latest_offer_answered_in_time_gives_its_answer(products):
    deposit, card = products
    customer = CustomerFactory(external_id="ANA")
    _offer(customer, card, 10, Outcome.NO_RESPONSE, campaign="A", answered=None)
    _offer(customer, deposit, 4, Outcome.ACCEPTED, campaign="B", answered=1)

    row = _row(customer)

    assert row["last_offer_response"] == "accepted"
    assert row["days_since_last_response"] == pytest.approx(3.0)
    assert (row["offers_latest_campaign"], row["offers_earlier_campaigns_365d"]) == (1.0, 1.0)


def test_offers_made_at_the_same_instant_read_accepted_first(products):
    deposit, card = products
    customer = CustomerFactory(external_id="TIE")
    _offer(customer, card, 2, Outcome.REJECTED, campaign="A")
    _offer(customer, deposit, 2, Outcome.ACCEPTED, campaign="B")

    assert _row(customer)["last_offer_response"] == "accepted"


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("+447700900123", "mobile"),
        ("0044 7700 900123", "mobile"),
        ("+351 (91) 234-5678", "mobile"),
        ("+441632960123", "other"),
        ("+351212345678", "other"),
        ("07700900123", "other"),  # no country code: not classified
        ("", "none"),
    ],
)
def test_the_phone_on_file_reads_as_mobile_other_or_none(db, phone, expected):
    customer = CustomerFactory(external_id="P")
    ContactDetailsFactory(customer=customer, phone=phone, received_at=EARLY)

    assert _row(customer)["phone_type"] == expected


def test_an_erased_phone_or_one_received_after_the_cut_off_reads_as_none(db):
    erased = CustomerFactory(external_id="ERASED")
    ContactDetailsFactory(customer=erased, phone="+447700900001", erased_at=EARLY, received_at=EARLY)
    late = CustomerFactory(external_id="LATE")
    ContactDetailsFactory(customer=late, phone="+447700900002", received_at=AT)

    assert _row(erased)["phone_type"] == "none"
    assert _row(late)["phone_type"] == "none"
    assert _row(late, known_at=NOW)["phone_type"] == "mobile"


def _indicator(name: str, date: dt.date, value: str, received_at: dt.datetime = EARLY) -> None:
    MarketIndicator.objects.create(name=name, date=date, value=Decimal(value), received_at=received_at)


def test_market_change_is_the_latest_value_minus_the_one_known_30_days_earlier(db):
    customer = CustomerFactory(external_id="M")
    _indicator("euribor3m", dt.date(2025, 5, 20), "2.5")
    _indicator("euribor3m", dt.date(2025, 5, 31), "2.0")  # the latest dated more than 30 days before
    _indicator("euribor3m", dt.date(2025, 6, 2), "1.8")
    _indicator("euribor3m", dt.date(2025, 6, 30), "1.25")
    _indicator("euribor3m", dt.date(2025, 7, 1), "9.0")  # on the cut-off day: not yet
    _indicator("cpi", dt.date(2025, 6, 15), "100")  # no value 30 days before

    row = _row(customer)

    assert row["market_euribor3m"] == 1.25
    assert row["market_change_30d_euribor3m"] == pytest.approx(-0.75)
    assert row["market_change_30d_cpi"] == 0.0
    assert feature_get("market_change_30d_euribor3m").name == "market_change_30d_{key}"
    assert feature_get("market_euribor3m").name == "market_{key}"


def test_one_customer_alone_gets_the_same_contact_features_as_in_the_whole_bank(maria, products):
    other = CustomerFactory(external_id="OTHER")
    _offer(other, products[0], 5, Outcome.ACCEPTED, campaign="SUMMER")

    alone = _row(maria)
    together = compute_features(cutoff=CUTOFF).loc[maria.pk]

    assert alone.equals(together)
