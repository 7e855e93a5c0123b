"""Reads of the bank's data for people: customer search and the Customer 360 view.

Each function does its own ``select_related``/``prefetch_related`` and
aggregation, so a page costs a fixed number of queries whatever the customer
holds. Contact details leave this module already masked for roles that may not
see them, so no template can show them by mistake.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery, Sum

from customers import choices
from customers.models import (
    Account,
    AccountHolder,
    Consent,
    ContactDetails,
    ContactHistory,
    CreditScore,
    Customer,
    Interaction,
    MonthlyBalance,
    Transaction,
)

SEARCH_MAX_RESULTS = 50
TRANSACTIONS_PER_PAGE = 50
TIMELINE_LENGTH = 50
BALANCE_TREND_MONTHS = 24
SPENDING_MONTHS = 3
MASK = "•••••"


# --- Contact details -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContactView:
    """Contact details as one role may see them: real values, or masks that give nothing away."""

    name: str
    email: str
    phone: str
    language: str
    masked: bool
    erased: bool
    missing: bool


def contact_view(contact: ContactDetails | None, *, show: bool) -> ContactView:
    """What a person may see of ``contact``. Masks are fixed strings, not partial
    values: even an initial or an e-mail domain can identify a customer."""
    if contact is None:
        return ContactView(name="", email="", phone="", language="", masked=not show, erased=False, missing=True)
    erased = contact.erased_at is not None
    if not show:
        return ContactView(
            name=MASK, email=MASK, phone=MASK, language=contact.language, masked=True, erased=erased, missing=False
        )
    name = f"{contact.first_name} {contact.last_name}".strip()
    return ContactView(
        name=name,
        email=contact.email,
        phone=contact.phone,
        language=contact.language,
        masked=False,
        erased=erased,
        missing=False,
    )


def _contact_of(customer: Customer) -> ContactDetails | None:
    try:
        return customer.contact
    except ContactDetails.DoesNotExist:
        return None


# --- Search ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerSearchResult:
    customer: Customer
    contact: ContactView


def customer_search(
    *, query: str, include_contact: bool, limit: int = SEARCH_MAX_RESULTS
) -> list[CustomerSearchResult]:
    """Customers whose bank id starts with ``query`` and, only when
    ``include_contact`` (the role may see contact details), whose name or e-mail
    matches it. A role without that right cannot find someone by name, because a
    hit would confirm who is a customer."""
    query = query.strip()
    if not query:
        return []
    condition = Q(external_id__istartswith=query)
    if include_contact:
        condition |= Q(contact__email__iexact=query)
        name_terms = query.split()
        if name_terms:
            name_match = Q()
            for term in name_terms:
                name_match &= Q(contact__first_name__icontains=term) | Q(contact__last_name__icontains=term)
            condition |= name_match & Q(contact__erased_at__isnull=True)
    customers = Customer.objects.filter(condition).select_related("contact").order_by("external_id")[:limit]
    return [
        CustomerSearchResult(customer=c, contact=contact_view(_contact_of(c), show=include_contact)) for c in customers
    ]


def customer_get(*, external_id: str) -> Customer | None:
    return Customer.objects.select_related("contact").filter(external_id=external_id).first()


# --- Customer 360 parts ----------------------------------------------------------------------------------------------


def _bank_today(now: dt.datetime) -> dt.date:
    return now.astimezone(zoneinfo.ZoneInfo(settings.BANK_TIME_ZONE)).date()


def _month_start(day: dt.date, months_back: int) -> dt.date:
    """First day of the month ``months_back`` months before ``day``'s month."""
    index = day.year * 12 + (day.month - 1) - months_back
    return dt.date(index // 12, index % 12 + 1, 1)


def _months_before(now: dt.datetime, months: int) -> dt.datetime:
    """The same instant ``months`` calendar months earlier, the day clamped to the month's end."""
    first = _month_start(now.date(), months)
    next_first = _month_start(first, -1)
    day = min(now.day, (next_first - dt.timedelta(days=1)).day)
    return now.replace(year=first.year, month=first.month, day=day)


@dataclass(frozen=True)
class ConsentCell:
    channel: str
    channel_label: str
    purpose: str
    purpose_label: str
    status: str  # "granted", "withdrawn" or "" when nothing was recorded
    effective_at: dt.datetime | None
    source: str


def customer_consents_current(*, customer: Customer, now: dt.datetime) -> list[ConsentCell]:
    """The consent in force for every channel x purpose, recorded or not: the
    latest change with ``effective_at`` up to ``now`` wins (changes dated in the
    future are not in force yet)."""
    latest: dict[tuple[str, str], Consent] = {}
    rows = customer.consents.filter(effective_at__lte=now).order_by("channel", "purpose", "effective_at")
    for row in rows:
        latest[(row.channel, row.purpose)] = row  # ascending order: the last one seen is the latest
    cells = []
    for channel in choices.ConsentChannel:
        for purpose in choices.ConsentPurpose:
            row = latest.get((channel.value, purpose.value))
            cells.append(
                ConsentCell(
                    channel=channel.value,
                    channel_label=channel.label,
                    purpose=purpose.value,
                    purpose_label=purpose.label,
                    status=row.status if row else "",
                    effective_at=row.effective_at if row else None,
                    source=row.source if row else "",
                )
            )
    return cells


@dataclass(frozen=True)
class Holding:
    account: Account
    role: str  # this customer's role on the account
    other_holders: list[str]  # bank ids of the other holders
    latest_month: dt.date | None
    latest_balance: Decimal | None


def _held_accounts(customer: Customer) -> QuerySet[Account]:
    joint = AccountHolder.objects.filter(customer=customer).values("account_id")
    return Account.objects.filter(Q(customer=customer) | Q(pk__in=Subquery(joint)))


def customer_holdings(*, customer: Customer) -> list[Holding]:
    """Every account the customer holds, alone or jointly, with its product, its
    other holders and the latest month's balance (end balance, or the average
    when the bank sent none)."""
    latest = MonthlyBalance.objects.filter(account=OuterRef("pk")).order_by("-month")
    accounts = (
        _held_accounts(customer)
        .select_related("product")
        .prefetch_related(Prefetch("holders", queryset=AccountHolder.objects.select_related("customer")))
        .annotate(
            latest_month=Subquery(latest.values("month")[:1]),
            latest_end=Subquery(latest.values("end_balance")[:1]),
            latest_average=Subquery(latest.values("average_balance")[:1]),
        )
        .order_by("closed_on", "product__family", "opened_on", "external_id")
    )
    holdings = []
    for account in accounts:
        role = choices.HolderRole.PRIMARY if account.customer_id == customer.pk else choices.HolderRole.JOINT
        for holder in account.holders.all():
            if holder.customer_id == customer.pk:
                role = holder.role
        others = sorted(h.customer.external_id for h in account.holders.all() if h.customer_id != customer.pk)
        holdings.append(
            Holding(
                account=account,
                role=role,
                other_holders=others,
                latest_month=account.latest_month,
                latest_balance=account.latest_end if account.latest_end is not None else account.latest_average,
            )
        )
    return holdings


@dataclass(frozen=True)
class Series:
    """One chart line or bar set: values aligned with the chart's labels; ``None`` where there is no value."""

    label: str
    values: list[float | None]


@dataclass(frozen=True)
class ChartData:
    labels: list[str]
    series: list[Series] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.labels

    def as_json(self) -> dict[str, object]:
        return {"labels": self.labels, "series": [{"label": s.label, "values": s.values} for s in self.series]}


def customer_balance_trend(*, customer: Customer, now: dt.datetime, months: int = BALANCE_TREND_MONTHS) -> ChartData:
    """Sum of the average balances of all accounts the customer holds, per month
    and currency (amounts in different currencies are never added together)."""
    since = _month_start(_bank_today(now), months - 1)
    rows = (
        MonthlyBalance.objects.filter(account__in=_held_accounts(customer), month__gte=since)
        .values("month", "currency")
        .annotate(total=Sum("average_balance"))
        .order_by("month", "currency")
    )
    by_currency: dict[str, dict[dt.date, Decimal]] = {}
    month_set: set[dt.date] = set()
    for row in rows:
        by_currency.setdefault(row["currency"], {})[row["month"]] = row["total"]
        month_set.add(row["month"])
    ordered = sorted(month_set)
    series = [
        Series(label=currency, values=[float(totals[m]) if m in totals else None for m in ordered])
        for currency, totals in sorted(by_currency.items())
    ]
    return ChartData(labels=[m.strftime("%Y-%m") for m in ordered], series=series)


def customer_transactions_page(*, customer: Customer, page: int | str | None = 1) -> Page:
    """One page of the customer's transactions, newest first. An out-of-range or
    malformed page number gives the nearest valid page."""
    transactions = Transaction.objects.filter(customer=customer).select_related("account").order_by("-booked_at", "-id")
    result = Paginator(transactions, TRANSACTIONS_PER_PAGE).get_page(page)
    # Fetch the rows here, so their query counts against this selector and not the template.
    result.object_list = list(result.object_list)
    return result


@dataclass(frozen=True)
class CategorySpend:
    category: str
    label: str
    currency: str
    amount: Decimal  # positive: money out


def customer_spending_by_category(
    *, customer: Customer, now: dt.datetime, months: int = SPENDING_MONTHS
) -> list[CategorySpend]:
    """Money out (negative amounts) per category over the last ``months`` months,
    largest first, per currency."""
    rows = (
        Transaction.objects.filter(customer=customer, booked_at__gte=_months_before(now, months), booked_at__lte=now)
        .filter(amount__lt=0)
        .values("category", "currency")
        .annotate(total=Sum("amount"))
    )
    labels = dict(choices.TransactionCategory.choices)
    spends = [
        CategorySpend(
            category=row["category"],
            label=str(labels.get(row["category"], row["category"])),
            currency=row["currency"],
            amount=-row["total"],
        )
        for row in rows
    ]
    return sorted(spends, key=lambda s: (s.currency, -s.amount, s.category))


def spending_chart(spends: list[CategorySpend]) -> ChartData:
    """Spending as chart data: one bar set per currency over the union of categories."""
    categories: list[str] = []
    for spend in sorted(spends, key=lambda s: -s.amount):
        if spend.label not in categories:
            categories.append(spend.label)
    currencies = sorted({s.currency for s in spends})
    series = []
    for currency in currencies:
        amounts = {s.label: float(s.amount) for s in spends if s.currency == currency}
        series.append(Series(label=currency, values=[amounts.get(c) for c in categories]))
    return ChartData(labels=categories, series=series)


def customer_interactions_recent(*, customer: Customer, limit: int = TIMELINE_LENGTH) -> list[Interaction]:
    return list(
        Interaction.objects.filter(customer=customer).select_related("product").order_by("-occurred_at", "-id")[:limit]
    )


def customer_credit_scores(*, customer: Customer) -> list[CreditScore]:
    return list(CreditScore.objects.filter(customer=customer).order_by("scored_on", "source"))


def customer_contact_history(*, customer: Customer, limit: int = TIMELINE_LENGTH) -> list[ContactHistory]:
    """Offers made to the customer and their outcomes, newest first."""
    return list(
        ContactHistory.objects.filter(customer=customer)
        .select_related("product")
        .order_by("-offered_at", "-id")[:limit]
    )


# --- Customer 360 ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Customer360:
    customer: Customer
    contact: ContactView
    consents: list[ConsentCell]
    holdings: list[Holding]
    balance_trend: ChartData
    transactions: Page
    spending: list[CategorySpend]
    spending_chart: ChartData
    interactions: list[Interaction]
    credit_scores: list[CreditScore]
    contact_history: list[ContactHistory]

    @property
    def credit_score_chart(self) -> ChartData:
        labels = [s.scored_on.isoformat() for s in self.credit_scores]
        return ChartData(labels=labels, series=[Series(label="Score", values=[s.score for s in self.credit_scores])])

    @property
    def consents_by_channel(self) -> list[tuple[str, list[ConsentCell]]]:
        rows: dict[str, list[ConsentCell]] = {}
        for cell in self.consents:
            rows.setdefault(cell.channel_label, []).append(cell)
        return list(rows.items())


def customer_360(
    *, customer: Customer, show_contact: bool, now: dt.datetime, transaction_page: int | str | None = 1
) -> Customer360:
    """Everything the Customer 360 page shows, in a fixed number of queries
    (ten, whatever the customer holds)."""
    spending = customer_spending_by_category(customer=customer, now=now)
    return Customer360(
        customer=customer,
        contact=contact_view(_contact_of(customer), show=show_contact),
        consents=customer_consents_current(customer=customer, now=now),
        holdings=customer_holdings(customer=customer),
        balance_trend=customer_balance_trend(customer=customer, now=now),
        transactions=customer_transactions_page(customer=customer, page=transaction_page),
        spending=spending,
        spending_chart=spending_chart(spending),
        interactions=customer_interactions_recent(customer=customer),
        credit_scores=customer_credit_scores(customer=customer),
        contact_history=customer_contact_history(customer=customer),
    )
