"""Customer search and Customer 360 reads (customers/selectors.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers import choices
from customers.selectors import (
    MASK,
    TRANSACTIONS_PER_PAGE,
    contact_view,
    customer_360,
    customer_balance_trend,
    customer_consents_current,
    customer_contact_history,
    customer_holdings,
    customer_interactions_recent,
    customer_search,
    customer_spending_by_category,
    customer_transactions_page,
    spending_chart,
)
from tests.factories.customers import (
    AccountFactory,
    AccountHolderFactory,
    ConsentFactory,
    ContactDetailsFactory,
    ContactHistoryFactory,
    CustomerFactory,
    InteractionFactory,
    MonthlyBalanceFactory,
    ProductFactory,
    TransactionFactory,
    customer_with_history,
)

NOW = dt.datetime(2026, 5, 20, 12, 0, tzinfo=dt.UTC)
pytestmark = pytest.mark.django_db


# --- search ------------------------------------------------------------------------------------------------------------


def test_search_finds_customers_by_the_start_of_their_bank_id():
    CustomerFactory(external_id="C000123")
    CustomerFactory(external_id="C000124")
    CustomerFactory(external_id="X000123")

    found = customer_search(query="c00012", include_contact=False)

    assert [r.customer.external_id for r in found] == ["C000123", "C000124"]


def test_search_by_name_or_email_works_only_for_roles_that_see_contact_details():
    ContactDetailsFactory(
        customer=CustomerFactory(external_id="C1"), first_name="Jane", last_name="Okafor", email="jane@example.org"
    )

    assert customer_search(query="okafor", include_contact=False) == []
    assert customer_search(query="jane@example.org", include_contact=False) == []
    assert [r.customer.external_id for r in customer_search(query="Jane Okafor", include_contact=True)] == ["C1"]
    assert [r.customer.external_id for r in customer_search(query="JANE@example.org", include_contact=True)] == ["C1"]


def test_search_does_not_find_a_customer_by_a_name_that_was_erased():
    ContactDetailsFactory(
        customer=CustomerFactory(external_id="C1"), first_name="Jane", last_name="Okafor", erased_at=NOW
    )

    assert customer_search(query="Okafor", include_contact=True) == []


def test_search_results_carry_masked_contact_details_for_roles_without_the_right():
    ContactDetailsFactory(customer=CustomerFactory(external_id="C1"), first_name="Jane", last_name="Okafor")

    [result] = customer_search(query="C1", include_contact=False)

    assert result.contact.masked
    assert result.contact.name == MASK
    assert "Okafor" not in repr(result.contact)


def test_search_ignores_a_blank_query_and_caps_the_results():
    for n in range(5):
        CustomerFactory(external_id=f"C{n}")

    assert customer_search(query="   ", include_contact=True) == []
    assert len(customer_search(query="C", include_contact=False, limit=3)) == 3


def test_contact_view_masks_every_personal_field_and_keeps_the_language():
    contact = ContactDetailsFactory.build(
        first_name="Jane", last_name="Okafor", email="j@example.org", phone="+44 1", language="en"
    )

    masked = contact_view(contact, show=False)
    shown = contact_view(contact, show=True)

    assert (masked.name, masked.email, masked.phone, masked.language) == (MASK, MASK, MASK, "en")
    assert (shown.name, shown.email, shown.phone) == ("Jane Okafor", "j@example.org", "+44 1")
    assert contact_view(None, show=True).missing


# --- consents ------------------------------------------------------------------------------------------------------------


def test_the_latest_consent_change_up_to_now_is_in_force_for_each_channel_and_purpose():
    customer = CustomerFactory()
    email, marketing = choices.ConsentChannel.EMAIL, choices.ConsentPurpose.MARKETING
    ConsentFactory(
        customer=customer, channel=email, purpose=marketing, status="granted", effective_at=NOW - dt.timedelta(days=30)
    )
    ConsentFactory(
        customer=customer, channel=email, purpose=marketing, status="withdrawn", effective_at=NOW - dt.timedelta(days=2)
    )
    # Dated in the future: not in force yet.
    ConsentFactory(
        customer=customer, channel=email, purpose=marketing, status="granted", effective_at=NOW + dt.timedelta(days=2)
    )
    ConsentFactory(
        customer=customer,
        channel=choices.ConsentChannel.SMS,
        purpose=choices.ConsentPurpose.PROFILING,
        status="granted",
        effective_at=NOW - dt.timedelta(days=1),
    )

    cells = {(c.channel, c.purpose): c for c in customer_consents_current(customer=customer, now=NOW)}

    assert len(cells) == len(choices.ConsentChannel) * len(choices.ConsentPurpose)
    assert cells[("email", "marketing")].status == "withdrawn"
    assert cells[("sms", "profiling")].status == "granted"
    assert cells[("phone", "marketing")].status == ""


# --- holdings and balances -------------------------------------------------------------------------------------------


def test_holdings_include_joint_accounts_with_the_other_holders_and_the_latest_balance():
    customer, partner = CustomerFactory(external_id="C1"), CustomerFactory(external_id="C2")
    own = AccountFactory(customer=customer, external_id="A-OWN")
    joint = AccountFactory(customer=partner, external_id="A-JOINT")
    AccountHolderFactory(account=joint, customer=customer, role=choices.HolderRole.JOINT)
    AccountFactory(customer=partner, external_id="A-NOT-MINE")
    MonthlyBalanceFactory(account=own, month=dt.date(2026, 3, 1), end_balance=Decimal("10.00"))
    MonthlyBalanceFactory(account=own, month=dt.date(2026, 4, 1), end_balance=Decimal("20.00"))
    MonthlyBalanceFactory(account=joint, month=dt.date(2026, 4, 1), end_balance=None, average_balance=Decimal("7.50"))

    holdings = {h.account.external_id: h for h in customer_holdings(customer=customer)}

    assert set(holdings) == {"A-OWN", "A-JOINT"}
    assert (holdings["A-OWN"].role, holdings["A-OWN"].other_holders) == ("primary", [])
    assert (holdings["A-JOINT"].role, holdings["A-JOINT"].other_holders) == ("joint", ["C2"])
    assert holdings["A-OWN"].latest_balance == Decimal("20.00")
    assert holdings["A-OWN"].latest_month == dt.date(2026, 4, 1)
    assert holdings["A-JOINT"].latest_balance == Decimal("7.50")  # no end balance: the average


def test_balance_trend_sums_average_balances_per_month_and_keeps_currencies_apart():
    customer = CustomerFactory()
    first, second = AccountFactory(customer=customer), AccountFactory(customer=customer)
    dollars = AccountFactory(customer=customer, currency="USD")
    for account, amount in ((first, "100.00"), (second, "50.50"), (dollars, "9.00")):
        MonthlyBalanceFactory(account=account, month=dt.date(2026, 4, 1), average_balance=Decimal(amount))
    MonthlyBalanceFactory(account=first, month=dt.date(2026, 5, 1), average_balance=Decimal("200.00"))
    MonthlyBalanceFactory(account=first, month=dt.date(2023, 1, 1), average_balance=Decimal("1.00"))  # too old

    trend = customer_balance_trend(customer=customer, now=NOW)

    assert trend.labels == ["2026-04", "2026-05"]
    assert [(s.label, s.values) for s in trend.series] == [("EUR", [150.5, 200.0]), ("USD", [9.0, None])]


# --- transactions ------------------------------------------------------------------------------------------------------


def test_transactions_come_newest_first_a_page_at_a_time():
    account = AccountFactory()
    for n in range(TRANSACTIONS_PER_PAGE + 5):
        TransactionFactory(account=account, booked_at=NOW - dt.timedelta(hours=n))
    TransactionFactory()  # someone else's

    first = customer_transactions_page(customer=account.customer, page=1)
    second = customer_transactions_page(customer=account.customer, page="2")

    assert first.paginator.count == TRANSACTIONS_PER_PAGE + 5
    assert first.object_list[0].booked_at == NOW
    assert len(second.object_list) == 5
    assert customer_transactions_page(customer=account.customer, page="nonsense").number == 1


def test_spending_counts_money_out_over_the_last_three_months_per_category():
    account = AccountFactory()
    book = TransactionFactory
    book(account=account, booked_at=NOW - dt.timedelta(days=3), category="groceries", amount=Decimal("-40.00"))
    book(account=account, booked_at=NOW - dt.timedelta(days=80), category="groceries", amount=Decimal("-2.50"))
    book(account=account, booked_at=NOW - dt.timedelta(days=5), category="travel", amount=Decimal("-300.00"))
    book(account=account, booked_at=NOW - dt.timedelta(days=5), category="salary", amount=Decimal("3000.00"))
    # 20 Feb 2026 is just over three months before 20 May: left out.
    book(account=account, booked_at=dt.datetime(2026, 2, 19, tzinfo=dt.UTC), category="dining", amount=Decimal("-9"))

    spends = customer_spending_by_category(customer=account.customer, now=NOW)

    assert [(s.category, s.amount) for s in spends] == [("travel", Decimal("300.00")), ("groceries", Decimal("42.50"))]
    chart = spending_chart(spends)
    assert chart.labels == ["Travel", "Groceries"]
    assert chart.series[0].values == [300.0, 42.5]


# --- timelines ------------------------------------------------------------------------------------------------------


def test_interactions_and_offers_are_the_latest_fifty_newest_first():
    customer = CustomerFactory()
    for n in range(55):
        InteractionFactory(customer=customer, occurred_at=NOW - dt.timedelta(hours=n))
    product = ProductFactory()
    for n in range(3):
        ContactHistoryFactory(customer=customer, product=product, offered_at=NOW - dt.timedelta(days=n))

    interactions = customer_interactions_recent(customer=customer)
    offers = customer_contact_history(customer=customer)

    assert len(interactions) == 50
    assert interactions[0].occurred_at == NOW
    assert [o.offered_at for o in offers] == sorted((o.offered_at for o in offers), reverse=True)


# --- the whole page ------------------------------------------------------------------------------------------------------


def test_customer_360_gathers_every_part(django_assert_max_num_queries):
    customer = customer_with_history(now=NOW)

    with django_assert_max_num_queries(10):
        data = customer_360(customer=customer, show_contact=True, now=NOW)

    assert data.contact.name == "Jane Okafor"
    assert {h.account.external_id for h in data.holdings} == {"C000123-CA", "C000123-SV"}
    assert len(data.balance_trend.labels) == 12
    assert data.transactions.paginator.count == 63
    assert {s.category for s in data.spending} == {"groceries", "dining", "travel", "utilities", "shopping"}
    assert len(data.interactions) == 12
    assert [s.score for s in data.credit_scores][-1] == 744
    assert len(data.contact_history) == 2


def test_customer_360_costs_the_same_number_of_queries_whatever_the_customer_holds():
    small = CustomerFactory(external_id="SMALL")
    big = customer_with_history(now=NOW, external_id="BIG")
    for _ in range(6):
        account = AccountFactory(customer=big)
        AccountHolderFactory(account=account, customer=CustomerFactory())
        MonthlyBalanceFactory(account=account, month=dt.date(2026, 4, 1))

    with CaptureQueriesContext(connection) as small_queries:
        customer_360(customer=small, show_contact=False, now=NOW)
    with CaptureQueriesContext(connection) as big_queries:
        data = customer_360(customer=big, show_contact=False, now=NOW)

    assert len(data.holdings) == 8
    # The empty customer's transaction page skips the page query (nothing to fetch after a zero count).
    assert len(big_queries) - len(small_queries) <= 1
    assert data.contact.masked
