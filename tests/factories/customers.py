"""factory-boy factories for the bank's data. Every factory fills the required
fields with plausible values, so a test names only what it is about.

``build()`` works without a database for the models that need no related row.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

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
    Product,
    Transaction,
)

RECEIVED = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer
        django_get_or_create = ("external_id",)

    external_id = factory.Sequence(lambda n: f"C{n:06d}")
    birth_date = dt.date(1985, 6, 15)
    gender = choices.Gender.FEMALE
    marital_status = choices.MaritalStatus.MARRIED
    region = "North West"
    employment_type = choices.EmploymentType.EMPLOYED
    income = Decimal("48000.00")
    income_currency = "EUR"
    customer_since = dt.date(2015, 3, 1)
    kyc_status = choices.KycStatus.VERIFIED
    kyc_date = dt.date(2024, 2, 1)
    sanctions_status = choices.SanctionsStatus.CLEAR
    risk_rating = choices.RiskRating.LOW
    received_at = RECEIVED


class ContactDetailsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactDetails

    customer = factory.SubFactory(CustomerFactory)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda o: f"{o.first_name}.{o.last_name}@example.org".lower())
    phone = factory.Sequence(lambda n: f"+44 7700 9{n:05d}")
    language = "en"
    received_at = RECEIVED


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"PRD{n:03d}")
    name = factory.LazyAttribute(lambda o: f"Product {o.code}")
    family = choices.ProductFamily.CURRENT_ACCOUNT
    tier = 1
    value = Decimal("120.00")
    currency = "EUR"
    received_at = RECEIVED


class AccountFactory(factory.django.DjangoModelFactory):
    """An account and its primary-holder row, as the importer writes them."""

    class Meta:
        model = Account
        skip_postgeneration_save = True

    external_id = factory.Sequence(lambda n: f"A{n:07d}")
    customer = factory.SubFactory(CustomerFactory)
    product = factory.SubFactory(ProductFactory)
    opened_on = dt.date(2016, 5, 1)
    status = choices.AccountStatus.OPEN
    currency = "EUR"
    received_at = RECEIVED

    @factory.post_generation
    def primary_holder(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            AccountHolder.objects.get_or_create(
                account=self, customer=self.customer, defaults={"role": choices.HolderRole.PRIMARY}
            )


class AccountHolderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccountHolder

    account = factory.SubFactory(AccountFactory)
    customer = factory.SubFactory(CustomerFactory)
    role = choices.HolderRole.JOINT


class MonthlyBalanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MonthlyBalance

    account = factory.SubFactory(AccountFactory)
    customer = factory.LazyAttribute(lambda o: o.account.customer)
    month = dt.date(2025, 1, 1)
    average_balance = Decimal("1500.00")
    end_balance = Decimal("1600.00")
    currency = factory.LazyAttribute(lambda o: o.account.currency)
    received_at = RECEIVED


class TransactionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Transaction

    external_id = factory.Sequence(lambda n: f"T{n:011d}")
    account = factory.SubFactory(AccountFactory)
    customer = factory.LazyAttribute(lambda o: o.account.customer)
    booked_at = factory.LazyFunction(timezone.now)
    amount = Decimal("-42.80")
    currency = factory.LazyAttribute(lambda o: o.account.currency)
    category = choices.TransactionCategory.GROCERIES
    mcc = "5411"
    channel = choices.TransactionChannel.CARD_PRESENT
    received_at = RECEIVED


class InteractionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Interaction

    external_id = factory.Sequence(lambda n: f"I{n:010d}")
    customer = factory.SubFactory(CustomerFactory)
    occurred_at = factory.LazyFunction(timezone.now)
    channel = choices.InteractionChannel.APP
    event_type = choices.InteractionType.LOGIN
    received_at = RECEIVED


class CreditScoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CreditScore

    customer = factory.SubFactory(CustomerFactory)
    scored_on = factory.Sequence(lambda n: dt.date(2024, 1, 1) + dt.timedelta(days=30 * n))
    score = 720
    source = "bureau"
    received_at = RECEIVED


class ConsentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Consent

    customer = factory.SubFactory(CustomerFactory)
    channel = choices.ConsentChannel.EMAIL
    purpose = choices.ConsentPurpose.MARKETING
    status = choices.ConsentStatus.GRANTED
    effective_at = factory.Sequence(lambda n: dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=n))
    source = "app_onboarding"
    received_at = RECEIVED


class ContactHistoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactHistory

    external_id = factory.Sequence(lambda n: f"O{n:09d}")
    customer = factory.SubFactory(CustomerFactory)
    product = factory.SubFactory(ProductFactory)
    campaign_code = "SPRING25_CARDS"
    channel = choices.OfferChannel.EMAIL
    offered_at = factory.LazyFunction(timezone.now)
    outcome = choices.OfferOutcome.NO_RESPONSE
    received_at = RECEIVED


def customer_with_history(*, now: dt.datetime, external_id: str = "C000123", months: int = 12) -> Customer:
    """A customer with a bit of everything the Customer 360 page shows: contact
    details, a current account held jointly, a savings account, a year of balances,
    transactions in several categories, interactions, credit scores, consents and
    offers with their outcomes. Deterministic for a given ``now``."""
    customer = CustomerFactory(external_id=external_id)
    ContactDetailsFactory(
        customer=customer,
        first_name="Jane",
        last_name="Okafor",
        email="jane.okafor@example.org",
        phone="+44 7700 900123",
    )
    partner = CustomerFactory(external_id=f"{external_id}-P")
    current = AccountFactory(
        customer=customer,
        external_id=f"{external_id}-CA",
        product=ProductFactory(code="CA_PLUS", name="Current account Plus"),
    )
    AccountHolderFactory(account=current, customer=partner, role=choices.HolderRole.JOINT)
    savings = AccountFactory(
        customer=customer,
        external_id=f"{external_id}-SV",
        product=ProductFactory(code="SV_EASY", name="Easy saver", family=choices.ProductFamily.SAVINGS),
    )
    this_month = now.date().replace(day=1)
    for back in range(months):
        index = this_month.year * 12 + this_month.month - 1 - back
        month = dt.date(index // 12, index % 12 + 1, 1)
        current_balance, savings_balance = Decimal(2000 + 37 * back), Decimal(10000 - 150 * back)
        MonthlyBalanceFactory(
            account=current, month=month, average_balance=current_balance, end_balance=current_balance - 25
        )
        MonthlyBalanceFactory(
            account=savings, month=month, average_balance=savings_balance, end_balance=savings_balance + 40
        )
    spending = [
        (choices.TransactionCategory.GROCERIES, "-64.20"),
        (choices.TransactionCategory.DINING, "-31.50"),
        (choices.TransactionCategory.TRAVEL, "-412.00"),
        (choices.TransactionCategory.UTILITIES, "-96.10"),
        (choices.TransactionCategory.SHOPPING, "-58.99"),
    ]
    for day in range(60):
        category, amount = spending[day % len(spending)]
        TransactionFactory(
            account=current, booked_at=now - dt.timedelta(days=day, hours=3), category=category, amount=Decimal(amount)
        )
    for back in range(3):
        TransactionFactory(
            account=current,
            booked_at=now - dt.timedelta(days=30 * back + 1),
            category=choices.TransactionCategory.SALARY,
            amount=Decimal("3150.00"),
            channel=choices.TransactionChannel.TRANSFER,
        )
    events = [
        choices.InteractionType.LOGIN,
        choices.InteractionType.PRODUCT_PAGE_VIEW,
        choices.InteractionType.CALCULATOR_USE,
        choices.InteractionType.SERVICE_CALL,
    ]
    mortgage = ProductFactory(
        code="MG_FIX5", name="5-year fixed mortgage", family=choices.ProductFamily.MORTGAGE, is_credit=True
    )
    for n, event in enumerate(events * 3):
        InteractionFactory(
            customer=customer,
            occurred_at=now - dt.timedelta(days=2 * n, hours=1),
            event_type=event,
            product=mortgage if event != choices.InteractionType.LOGIN else None,
        )
    for n, score in enumerate((688, 701, 715, 709, 731, 744)):
        CreditScoreFactory(customer=customer, scored_on=now.date() - dt.timedelta(days=60 * (5 - n)), score=score)
    ConsentFactory(customer=customer, channel=choices.ConsentChannel.EMAIL, effective_at=now - dt.timedelta(days=400))
    ConsentFactory(
        customer=customer,
        channel=choices.ConsentChannel.EMAIL,
        status=choices.ConsentStatus.WITHDRAWN,
        effective_at=now - dt.timedelta(days=20),
    )
    ConsentFactory(
        customer=customer, channel=choices.ConsentChannel.APP_PUSH, effective_at=now - dt.timedelta(days=300)
    )
    ConsentFactory(
        customer=customer,
        channel=choices.ConsentChannel.ANY,
        purpose=choices.ConsentPurpose.PROFILING,
        effective_at=now - dt.timedelta(days=300),
    )
    card = ProductFactory(code="CC_GOLD", name="Gold credit card", family=choices.ProductFamily.CARD, is_credit=True)
    ContactHistoryFactory(
        customer=customer,
        product=card,
        offered_at=now - dt.timedelta(days=90),
        outcome=choices.OfferOutcome.REJECTED,
        responded_at=now - dt.timedelta(days=88),
    )
    ContactHistoryFactory(
        customer=customer,
        product=mortgage,
        offered_at=now - dt.timedelta(days=10),
        channel=choices.OfferChannel.APP_PUSH,
        outcome=choices.OfferOutcome.CLICK,
        responded_at=now - dt.timedelta(days=9),
    )
    return customer
