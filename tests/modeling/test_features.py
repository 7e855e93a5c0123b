"""compute_features: known values on a hand-built customer, point-in-time reads
(nothing dated or received after the cut-off is seen), attribute history, and a
query count that does not grow with the number of customers."""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from customers import choices
from customers.models import CustomerAttributeChange, FxRate, MarketIndicator
from modeling.feature_catalogue import Kind, feature_get
from modeling.features import _Sums, compute_features, day_start
from tests.factories.customers import (
    AccountFactory,
    AccountHolderFactory,
    CreditScoreFactory,
    CustomerFactory,
    InteractionFactory,
    MonthlyBalanceFactory,
    ProductFactory,
    TransactionFactory,
)

CUTOFF = dt.date(2025, 7, 1)
# Europe/London is on summer time: the cut-off instant is 23:00 UTC the day before.
AT = dt.datetime(2025, 6, 30, 23, 0, tzinfo=dt.UTC)
EARLY = dt.datetime(2024, 12, 1, tzinfo=dt.UTC)
_SOURCES = itertools.count()  # a distinct credit-score source per hypothesis example


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _bank_time_zone(settings):
    settings.BANK_TIME_ZONE = "Europe/London"
    settings.BASE_CURRENCY = "EUR"


def _history(customer, attribute: str, value: str, effective_from: dt.date, received_at: dt.datetime = EARLY):
    CustomerAttributeChange.objects.create(
        customer=customer, attribute=attribute, value=value, effective_from=effective_from, received_at=received_at
    )


@pytest.fixture
def jane(db):
    """A customer whose every feature is known by hand (see the test below)."""
    customer = CustomerFactory(
        external_id="JANE", birth_date=dt.date(1985, 6, 15), customer_since=dt.date(2015, 3, 1), income=55000
    )
    _history(customer, "income", "40000", dt.date(2015, 3, 1))
    _history(customer, "income", "55000", dt.date(2025, 7, 15), received_at=utc(2025, 7, 15))
    _history(customer, "region", "Wales", dt.date(2015, 3, 1))
    current = AccountFactory(
        customer=customer,
        product=ProductFactory(code="CA_PLUS", family=choices.ProductFamily.CURRENT_ACCOUNT),
        opened_on=dt.date(2016, 5, 1),
    )
    AccountFactory(
        customer=customer,
        product=ProductFactory(code="SV_EASY", family=choices.ProductFamily.SAVINGS),
        opened_on=dt.date(2020, 1, 1),
        closed_on=dt.date(2025, 6, 15),
        status=choices.AccountStatus.CLOSED,
    )
    AccountFactory(
        customer=customer,
        product=ProductFactory(code="CC_GOLD", family=choices.ProductFamily.CARD),
        opened_on=CUTOFF,
    )
    overdrawn = {3: 5, 4: 3, 6: 2}
    for month in range(1, 7):
        MonthlyBalanceFactory(
            account=current,
            month=dt.date(2025, month, 1),
            average_balance=Decimal(1000 * month),
            days_overdrawn=overdrawn.get(month, 0),
        )
    MonthlyBalanceFactory(account=current, month=dt.date(2025, 7, 1), average_balance=Decimal("99999"))
    for month in (4, 5, 6):
        TransactionFactory(
            account=current,
            booked_at=utc(2025, month, 25, 12),
            amount=Decimal("3000.00"),
            category=choices.TransactionCategory.SALARY,
            channel=choices.TransactionChannel.TRANSFER,
        )
    for month in (1, 2, 3):
        TransactionFactory(
            account=current,
            booked_at=utc(2025, month, 25, 12),
            amount=Decimal("2500.00"),
            category=choices.TransactionCategory.SALARY,
            channel=choices.TransactionChannel.TRANSFER,
        )
    TransactionFactory(account=current, booked_at=utc(2025, 6, 29, 23), amount=Decimal("-50.00"))
    InteractionFactory(customer=customer, occurred_at=utc(2025, 6, 28, 23))
    InteractionFactory(customer=customer, occurred_at=utc(2025, 5, 1, 9))
    InteractionFactory(
        customer=customer,
        occurred_at=utc(2025, 6, 27, 10),
        event_type=choices.InteractionType.PRODUCT_PAGE_VIEW,
        channel=choices.InteractionChannel.WEB,
        product=current.product,
    )
    InteractionFactory(
        customer=customer,
        occurred_at=utc(2025, 5, 15, 10),
        event_type=choices.InteractionType.COMPLAINT,
        channel=choices.InteractionChannel.CALL_CENTRE,
    )
    for day, score in ((utc(2025, 6, 1, 10), 4), (utc(2025, 3, 1, 10), 2)):
        InteractionFactory(
            customer=customer,
            occurred_at=day,
            event_type=choices.InteractionType.SURVEY,
            channel=choices.InteractionChannel.EMAIL,
            satisfaction=score,
        )
    CreditScoreFactory(customer=customer, scored_on=dt.date(2024, 12, 1), score=700)
    CreditScoreFactory(customer=customer, scored_on=dt.date(2025, 6, 1), score=720)
    for day, value in ((dt.date(2025, 5, 31), "4.5"), (dt.date(2025, 6, 30), "4.25"), (CUTOFF, "3.0")):
        MarketIndicator.objects.create(name="base_rate", date=day, value=Decimal(value), received_at=EARLY)
    return customer


def test_it_computes_known_values_for_a_hand_built_customer(jane):
    row = compute_features(cutoff=CUTOFF).loc[jane.pk]

    assert row["age"] == 40
    assert row["age_band"] == "35-44"
    assert row["tenure_months"] == 124
    # Balances: complete months Jan..Jun at 1000..6000; July is not complete.
    assert row["avg_balance_3m"] == pytest.approx(5000)
    assert row["avg_balance_6m"] == pytest.approx(3500)
    assert row["avg_balance_12m"] == pytest.approx(3500)
    assert row["balance_trend_6m"] == pytest.approx(1000)
    assert not row["no_balance_history"]
    assert row["days_overdrawn_3m"] == 5
    # Transactions: salaries of 3000 (Apr-Jun) and 2500 (Jan-Mar), one grocery debit.
    assert row["salary_monthly_3m"] == pytest.approx(3000)
    assert row["salary_monthly_prev_3m"] == pytest.approx(2500)
    assert row["salary_change_3m"] == pytest.approx(500)
    assert row["salary_detected"]
    assert row["txn_count_30d"] == 2
    assert row["txn_count_90d"] == 4
    assert row["txn_count_income_90d"] == 3
    assert row["txn_amount_income_90d"] == pytest.approx(9000)
    assert row["txn_count_transfer_90d"] == 3
    assert row["spend_30d"] == pytest.approx(50)
    assert row["spend_share_groceries_90d"] == pytest.approx(1.0)
    assert row["spend_share_dining_90d"] == 0
    assert row["days_since_last_transaction"] == pytest.approx(1.0)
    # Interactions.
    assert row["days_since_last_login"] == pytest.approx(2.0)
    assert row["logins_30d"] == 1
    assert row["logins_90d"] == 2
    assert row["views_7d_ca_plus"] == 1
    assert row["views_30d_ca_plus"] == 1
    assert row["views_30d_cc_gold"] == 0
    assert row["product_page_views_30d"] == 1
    assert row["complaints_90d"] == 1
    assert row["latest_satisfaction"] == 4
    # Holdings: the savings account closed and the card opened on the cut-off day do not count.
    assert row["holds_current_account"]
    assert not row["holds_savings"]
    assert not row["holds_card"]
    assert row["products_held"] == 1
    assert row["credit_score"] == 720
    assert row["credit_score_change_6m"] == 20
    assert row["market_base_rate"] == pytest.approx(4.25)
    assert row["income"] == pytest.approx(40000)
    assert row["region"] == "Wales"
    assert row["employment_type"] == "employed"  # no history: the customer's row


def test_it_fills_missing_values_as_declared_and_flags_them(db):
    customer = CustomerFactory(customer_since=dt.date(2020, 1, 1), income=None)

    row = compute_features(cutoff=CUTOFF).loc[customer.pk]

    assert row["no_balance_history"]
    assert row["avg_balance_3m"] == 0
    assert row["no_recent_transaction"]
    assert row["days_since_last_transaction"] == 183
    assert row["no_recent_login"]
    assert row["days_since_last_login"] == 183
    assert row["no_credit_score"]
    assert row["credit_score"] == 0
    assert row["income_missing"]
    assert row["income"] == 0
    assert row["no_spend_90d"]
    assert row["spend_share_groceries_90d"] == 0
    assert row["no_satisfaction"]
    assert row["latest_satisfaction"] == 0


def test_it_reads_attributes_in_force_at_the_cut_off_not_todays(db):
    customer = CustomerFactory(income=Decimal("90000"), employment_type=choices.EmploymentType.RETIRED)
    _history(customer, "income", "30000", dt.date(2015, 3, 1))
    _history(customer, "income", "90000", dt.date(2025, 9, 1), received_at=utc(2025, 9, 1))
    _history(customer, "employment_type", "employed", dt.date(2015, 3, 1))
    _history(customer, "employment_type", "retired", dt.date(2025, 8, 1), received_at=utc(2025, 8, 1))
    # A change effective before the cut-off but learnt after it is not known yet.
    _history(customer, "risk_rating", "low", dt.date(2015, 3, 1))
    _history(customer, "risk_rating", "high", dt.date(2025, 6, 1), received_at=utc(2025, 7, 2))

    row = compute_features(cutoff=CUTOFF).loc[customer.pk]
    later = compute_features(cutoff=dt.date(2025, 10, 1)).loc[customer.pk]

    assert (row["income"], row["employment_type"], row["risk_rating"]) == (30000, "employed", "low")
    assert (later["income"], later["employment_type"], later["risk_rating"]) == (90000, "retired", "high")


def test_an_attribute_with_history_but_none_in_force_is_unknown_not_todays_value(db):
    customer = CustomerFactory(income=Decimal("70000"))
    _history(customer, "income", "70000", dt.date(2025, 8, 1), received_at=utc(2025, 8, 1))

    row = compute_features(cutoff=CUTOFF).loc[customer.pk]

    assert row["income_missing"]
    assert row["income"] == 0


def _plant_after_cutoff(customer) -> None:
    """Facts dated on or after the cut-off, or dated before it but received after."""
    account = customer.accounts.first()
    late = utc(2025, 7, 2)
    TransactionFactory(account=account, booked_at=utc(2025, 6, 30, 23, 30), amount=Decimal("-999.00"))
    TransactionFactory(
        account=account,
        booked_at=utc(2025, 6, 20),
        amount=Decimal("5000.00"),
        category=choices.TransactionCategory.SALARY,
        received_at=late,
    )
    TransactionFactory(
        account=account, booked_at=utc(2025, 6, 25), category=choices.TransactionCategory.TRAVEL, received_at=late
    )
    InteractionFactory(customer=customer, occurred_at=utc(2025, 7, 1, 8))
    InteractionFactory(customer=customer, occurred_at=utc(2025, 6, 29), received_at=late)
    InteractionFactory(
        customer=customer,
        occurred_at=utc(2025, 6, 30, 23, 5),
        event_type=choices.InteractionType.SURVEY,
        satisfaction=1,
    )
    other = AccountFactory(customer=customer, product=account.product, opened_on=dt.date(2020, 1, 1), received_at=late)
    MonthlyBalanceFactory(
        account=other, month=dt.date(2025, 6, 1), average_balance=Decimal("1000000"), received_at=late
    )
    MonthlyBalanceFactory(account=account, month=dt.date(2025, 8, 1), average_balance=Decimal("777"))
    AccountFactory(customer=customer, product=account.product, opened_on=dt.date(2025, 7, 3))
    CreditScoreFactory(customer=customer, scored_on=CUTOFF, score=300)
    CreditScoreFactory(customer=customer, scored_on=dt.date(2025, 6, 20), score=310, received_at=late)
    _history(customer, "income", "1000000", dt.date(2025, 7, 1), received_at=late)
    _history(customer, "region", "Capital", dt.date(2025, 6, 1), received_at=late)
    MarketIndicator.objects.create(name="base_rate", date=dt.date(2025, 6, 29), value=9, received_at=late)
    MarketIndicator.objects.create(name="new_index", date=dt.date(2025, 7, 5), value=1, received_at=late)
    FxRate.objects.create(currency="USD", date=dt.date(2025, 7, 1), rate=Decimal("0.5"), received_at=late)
    ProductFactory(code="NEW_PRODUCT", received_at=late)
    CustomerFactory(external_id="LATECOMER", customer_since=CUTOFF)


def test_facts_dated_or_received_after_the_cut_off_change_no_feature(jane):
    before = compute_features(cutoff=CUTOFF)

    _plant_after_cutoff(jane)

    pd.testing.assert_frame_equal(compute_features(cutoff=CUTOFF), before)
    # The planted facts are real: a later cut-off sees them.
    later = compute_features(cutoff=dt.date(2025, 7, 10)).loc[jane.pk]
    assert later["credit_score"] == 300
    assert later["income"] == pytest.approx(1000000)


@pytest.mark.django_db
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    booked_hours=st.integers(min_value=-24 * 200, max_value=24 * 200),
    received_hours=st.integers(min_value=-24 * 200, max_value=24 * 400),
    kind=st.sampled_from(["transaction", "interaction", "score", "balance"]),
    amount=st.decimals(min_value=-5000, max_value=5000, places=2),
)
def test_no_fact_unknown_at_the_cut_off_ever_changes_a_feature(jane, booked_hours, received_hours, kind, amount):
    # Given a fact dated at or after the cut-off, or received at or after it.
    booked = AT + dt.timedelta(hours=booked_hours)
    received = AT + dt.timedelta(hours=received_hours)
    assume(booked >= AT or received >= AT)
    before = compute_features(cutoff=CUTOFF, customer_ids=[jane.pk])
    account = jane.accounts.order_by("pk").first()
    day = booked.astimezone(zoneinfo.ZoneInfo("Europe/London")).date()  # the fact's business date
    # When it is stored.
    if kind == "transaction":
        TransactionFactory(account=account, booked_at=booked, amount=amount, received_at=received)
    elif kind == "interaction":
        InteractionFactory(customer=jane, occurred_at=booked, received_at=received, satisfaction=3)
    elif kind == "score":
        CreditScoreFactory(customer=jane, scored_on=day, score=400, received_at=received, source=f"s{next(_SOURCES)}")
    else:
        month = day.replace(day=1)
        MonthlyBalanceFactory(
            account=AccountFactory(customer=jane, product=account.product), month=month, received_at=received
        )
    # Then no feature changes.
    pd.testing.assert_frame_equal(compute_features(cutoff=CUTOFF, customer_ids=[jane.pk]), before)


def test_the_cut_off_is_the_start_of_the_day_in_the_bank_time_zone(settings, db):
    settings.BANK_TIME_ZONE = "America/New_York"
    assert day_start(CUTOFF) == utc(2025, 7, 1, 4)
    customer = CustomerFactory()
    account = AccountFactory(customer=customer)
    TransactionFactory(account=account, booked_at=utc(2025, 7, 1, 3, 59))
    TransactionFactory(account=account, booked_at=utc(2025, 7, 1, 4, 0))

    assert compute_features(cutoff=CUTOFF).loc[customer.pk, "txn_count_30d"] == 1


def test_a_customer_who_joined_on_or_after_the_cut_off_has_no_row(db):
    old, new = CustomerFactory(customer_since=dt.date(2020, 1, 1)), CustomerFactory(customer_since=CUTOFF)

    frame = compute_features(cutoff=CUTOFF)

    assert old.pk in frame.index
    assert new.pk not in frame.index


def test_one_customer_alone_gets_the_same_features_as_in_the_whole_bank(jane):
    for n in range(3):
        other = CustomerFactory(external_id=f"OTHER{n}")
        TransactionFactory(account=AccountFactory(customer=other), booked_at=utc(2025, 6, 10))

    alone = compute_features(cutoff=CUTOFF, customer_ids=[jane.pk])
    everyone = compute_features(cutoff=CUTOFF)

    pd.testing.assert_frame_equal(alone, everyone.loc[[jane.pk]])


def test_a_joint_holder_holds_the_product_too(db):
    primary, partner = CustomerFactory(), CustomerFactory()
    account = AccountFactory(customer=primary, product=ProductFactory(family=choices.ProductFamily.MORTGAGE))
    AccountHolderFactory(account=account, customer=partner)

    frame = compute_features(cutoff=CUTOFF)

    assert frame.loc[primary.pk, "holds_mortgage"]
    assert frame.loc[partner.pk, "holds_mortgage"]


def test_money_is_converted_to_the_base_currency_at_the_rate_known_at_the_cut_off(db):
    customer = CustomerFactory()
    account = AccountFactory(customer=customer, currency="USD")
    FxRate.objects.create(currency="USD", date=dt.date(2025, 6, 1), rate=Decimal("0.9"), received_at=EARLY)
    FxRate.objects.create(currency="USD", date=dt.date(2025, 7, 2), rate=Decimal("0.5"), received_at=EARLY)
    TransactionFactory(account=account, booked_at=utc(2025, 6, 20), amount=Decimal("-100.00"))

    assert compute_features(cutoff=CUTOFF).loc[customer.pk, "spend_30d"] == pytest.approx(90)


def test_a_customer_with_money_in_two_currencies_has_both_converted_at_their_rates(db):
    customer = CustomerFactory()
    euros = AccountFactory(customer=customer, currency="EUR")
    dollars = AccountFactory(customer=customer, currency="USD")
    FxRate.objects.create(currency="USD", date=dt.date(2025, 6, 1), rate=Decimal("0.9"), received_at=EARLY)
    TransactionFactory(account=euros, booked_at=utc(2025, 6, 20), amount=Decimal("-10.10"), currency="EUR")
    TransactionFactory(account=dollars, booked_at=utc(2025, 6, 21), amount=Decimal("-100.00"), currency="USD")
    TransactionFactory(account=dollars, booked_at=utc(2025, 6, 22), amount=Decimal("-0.01"), currency="USD")
    MonthlyBalanceFactory(account=euros, month=dt.date(2025, 6, 1), average_balance=Decimal("1000.00"), currency="EUR")
    MonthlyBalanceFactory(account=dollars, month=dt.date(2025, 6, 1), average_balance=Decimal("200.00"), currency="USD")

    row = compute_features(cutoff=CUTOFF).loc[customer.pk]

    assert row["spend_30d"] == pytest.approx(10.10 + 100.01 * 0.9)
    assert row["txn_count_30d"] == 3
    assert row["avg_balance_3m"] == pytest.approx(1000 + 200 * 0.9)


def test_text_with_commas_quotes_and_line_breaks_reads_back_unchanged(db):
    tricky = 'North, "East"\nside; 100%'
    customer = CustomerFactory(region="")
    blank = CustomerFactory(region="")
    _history(customer, "region", tricky, dt.date(2015, 3, 1))

    frame = compute_features(cutoff=CUTOFF)

    assert frame.loc[customer.pk, "region"] == tricky
    assert frame.loc[blank.pk, "region"] == ""


def test_sums_per_customer_do_not_depend_on_the_order_rows_arrive_in():
    # A parallel aggregate returns its groups in any order: the money sums must not move.
    rng = np.random.default_rng(7)
    rows = pd.DataFrame(
        {
            "customer_id": rng.integers(1, 40, 5000),
            "currency": rng.choice(["EUR", "USD", "GBP", "XXX"], 5000),
            "cents": rng.integers(-(10**9), 10**9, 5000).astype("float64"),
            "key": rng.choice(["a", "b", "c"], 5000),
        }
    )
    index = pd.Index(range(1, 41), dtype="int64")
    rates = {"EUR": 1.0, "USD": 0.9123456789, "GBP": 1.1711}

    def sums(frame: pd.DataFrame) -> np.ndarray:
        table = _Sums(frame, index, rates)
        return table.sum("cents", table.codes("key", ["a", "b", "c"]), 3, money=True)

    first = sums(rows)
    for seed in range(5):
        shuffled = rows.sample(frac=1, random_state=seed).reset_index(drop=True)
        np.testing.assert_array_equal(sums(shuffled), first)
    assert first[39].sum() == 0  # customer 40 has no rows


def _bank(customers: int, prefix: str = "Q") -> list[int]:
    ids = []
    for n in range(customers):
        customer = CustomerFactory(external_id=f"{prefix}{n:04d}")
        account = AccountFactory(customer=customer)
        TransactionFactory(account=account, booked_at=utc(2025, 6, 10))
        InteractionFactory(customer=customer, occurred_at=utc(2025, 6, 11))
        MonthlyBalanceFactory(account=account, month=dt.date(2025, 5, 1))
        CreditScoreFactory(customer=customer, scored_on=dt.date(2025, 5, 1))
        ids.append(customer.pk)
    return ids


def _queries(**kwargs) -> int:
    with CaptureQueriesContext(connection) as captured:
        compute_features(cutoff=CUTOFF, **kwargs)
    return len(captured.captured_queries)


def test_it_issues_a_fixed_number_of_queries_whatever_the_number_of_customers(db, django_assert_max_num_queries):
    few = _bank(2)
    assert _queries() == _queries(customer_ids=few)
    many = few + _bank(20, prefix="R")

    # One read per block (15 today), plus on PostgreSQL a savepoint, SET LOCAL work_mem and the release.
    with django_assert_max_num_queries(20):
        frame = compute_features(cutoff=CUTOFF)

    assert len(frame) == 22
    assert _queries() == _queries(customer_ids=many) == _queries(customer_ids=[*many, *range(10**6, 10**6 + 600)])


def test_a_long_list_of_customer_ids_returns_exactly_those_customers(db):
    ids = _bank(4)
    wanted = [ids[1], ids[3], *range(10**6, 10**6 + 600)]

    frame = compute_features(cutoff=CUTOFF, customer_ids=wanted)

    assert list(frame.index) == [ids[1], ids[3]]


def test_every_column_has_the_type_its_declaration_gives(jane):
    frame = compute_features(cutoff=CUTOFF)

    for column in frame.columns:
        kind = feature_get(column).kind
        dtype = frame[column].dtype
        if kind is Kind.NUMERIC:
            assert dtype == "float64", column
        elif kind is Kind.BOOLEAN:
            assert dtype == "bool", column
        else:
            assert dtype == "object", column
            assert frame[column].map(type).eq(str).all(), column
    assert not frame.isna().any().any()


def test_an_income_without_a_currency_is_in_the_base_currency(db):
    customer = CustomerFactory(income=Decimal("30000"), income_currency="")

    row = compute_features(cutoff=CUTOFF).loc[customer.pk]

    assert row["income"] == pytest.approx(30000)
    assert not row["income_missing"]
