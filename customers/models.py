"""The bank's data as Crossell keeps it.

Every record carries the bank's own identifier (``external_id`` or ``code``), so a
re-import or a repeated event updates the row instead of adding a copy. Money is
``Decimal`` with an ISO currency; timestamps are UTC; business dates (months,
cut-offs) follow ``settings.BANK_TIME_ZONE``. Every fact records ``received_at``,
when Crossell learnt it, which point-in-time features rely on.

The fact tables (transactions, interactions, balances, contact history) have
unique keys that include their time column, so they keep working if the table
is partitioned by time in PostgreSQL.
"""

from __future__ import annotations

import uuid

from django.db import models

from customers import choices

MONEY = {"max_digits": 18, "decimal_places": 2}


class Customer(models.Model):
    """A customer and the current value of each attribute.

    Attributes that change over time also have dated rows in
    ``CustomerAttributeChange``; point-in-time reads use those, not this row.
    """

    external_id = models.CharField(max_length=64, unique=True)
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    birth_date = models.DateField()
    gender = models.CharField(max_length=1, choices=choices.Gender.choices, default=choices.Gender.UNKNOWN)
    marital_status = models.CharField(
        max_length=16, choices=choices.MaritalStatus.choices, default=choices.MaritalStatus.UNKNOWN
    )
    region = models.CharField(max_length=64, blank=True)
    employment_type = models.CharField(
        max_length=16, choices=choices.EmploymentType.choices, default=choices.EmploymentType.UNKNOWN
    )
    income = models.DecimalField(null=True, blank=True, **MONEY)
    income_currency = models.CharField(max_length=3, blank=True)
    customer_since = models.DateField()
    kyc_status = models.CharField(max_length=16, choices=choices.KycStatus.choices)
    kyc_date = models.DateField(null=True, blank=True)
    sanctions_status = models.CharField(
        max_length=16, choices=choices.SanctionsStatus.choices, default=choices.SanctionsStatus.CLEAR
    )
    risk_rating = models.CharField(max_length=8, choices=choices.RiskRating.choices, default=choices.RiskRating.LOW)
    do_not_contact = models.BooleanField(default=False)
    vulnerable = models.BooleanField(default=False)
    received_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["external_id"]

    def __str__(self) -> str:
        return self.external_id


class CustomerAttributeChange(models.Model):
    """The value an attribute took on ``effective_from``, kept for point-in-time reads."""

    id = models.BigAutoField(primary_key=True)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="attribute_changes")
    attribute = models.CharField(max_length=24, choices=choices.TrackedAttribute.choices)
    value = models.CharField(max_length=64, blank=True)
    effective_from = models.DateField()
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["customer_id", "attribute", "effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "attribute", "effective_from"], name="attribute_change_unique_per_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.attribute}={self.value} from {self.effective_from}"


class ContactDetails(models.Model):
    """Personal contact data, apart from the facts so it can be hidden or erased alone."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="contact")
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=32, blank=True)
    device_tokens = models.JSONField(default=list, blank=True)
    language = models.CharField(max_length=8, blank=True)
    erased_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["customer_id"]
        verbose_name_plural = "contact details"

    def __str__(self) -> str:
        return f"contact of {self.customer_id}"


class Product(models.Model):
    """A product of the bank's catalogue. Retired, never deleted: history refers to it."""

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=120)
    family = models.CharField(max_length=24, choices=choices.ProductFamily.choices)
    tier = models.PositiveSmallIntegerField(default=1, help_text="Rank within the family; higher is an upgrade.")
    complementary = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="complemented_by")
    value = models.DecimalField(help_text="Expected value to the bank of one take-up.", **MONEY)
    currency = models.CharField(max_length=3)
    is_credit = models.BooleanField(default=False)
    min_age = models.PositiveSmallIntegerField(default=18)
    retired_on = models.DateField(null=True, blank=True)
    received_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["family", "tier", "code"]

    def __str__(self) -> str:
        return f"{self.code} ({self.name})"


class Account(models.Model):
    """A holding of a product by one customer, or jointly by several."""

    external_id = models.CharField(max_length=64, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="accounts")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="accounts")
    opened_on = models.DateField()
    closed_on = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=choices.AccountStatus.choices, default=choices.AccountStatus.OPEN)
    currency = models.CharField(max_length=3)
    received_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["external_id"]
        indexes = [models.Index(fields=["customer", "opened_on"])]

    def __str__(self) -> str:
        return self.external_id


class AccountHolder(models.Model):
    """Every holder of an account; the primary holder is also ``Account.customer``."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="holders")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="holdings")
    role = models.CharField(max_length=8, choices=choices.HolderRole.choices)

    class Meta:
        ordering = ["account_id", "role", "customer_id"]
        constraints = [models.UniqueConstraint(fields=["account", "customer"], name="account_holder_unique")]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.role} holder of {self.account_id}"


class MonthlyBalance(models.Model):
    """An account's balance figures for one calendar month of the bank's time zone."""

    id = models.BigAutoField(primary_key=True)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="balances")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    month = models.DateField(help_text="First day of the month.")
    average_balance = models.DecimalField(**MONEY)
    end_balance = models.DecimalField(null=True, blank=True, **MONEY)
    currency = models.CharField(max_length=3)
    days_overdrawn = models.PositiveSmallIntegerField(default=0)
    missed_payments = models.PositiveSmallIntegerField(default=0)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["account_id", "month"]
        constraints = [models.UniqueConstraint(fields=["account", "month"], name="balance_unique_per_month")]
        indexes = [models.Index(fields=["customer", "month"])]

    def __str__(self) -> str:
        return f"{self.account_id} {self.month:%Y-%m} {self.average_balance} {self.currency}"


class Transaction(models.Model):
    """A booked transaction. ``customer`` is the account's primary holder, copied for
    per-customer time-range reads without a join.

    No database foreign keys here: imports and the event API check every reference
    before writing, and FK triggers on a table of tens of millions of rows cost
    more than the load itself.
    """

    id = models.BigAutoField(primary_key=True)
    external_id = models.CharField(max_length=64)
    account = models.ForeignKey(Account, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    booked_at = models.DateTimeField()
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    category = models.CharField(max_length=24, choices=choices.TransactionCategory.choices)
    mcc = models.CharField(max_length=4, blank=True)
    channel = models.CharField(max_length=16, choices=choices.TransactionChannel.choices)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["booked_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["external_id", "booked_at"], name="transaction_unique_external_id"),
        ]
        indexes = [models.Index(fields=["customer", "booked_at"], name="txn_customer_time")]

    def __str__(self) -> str:
        return f"{self.external_id} {self.amount} {self.currency}"


class Interaction(models.Model):
    """A customer's contact with the bank: logins, page views, calls, complaints, surveys."""

    id = models.BigAutoField(primary_key=True)
    external_id = models.CharField(max_length=64)
    customer = models.ForeignKey(Customer, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    occurred_at = models.DateTimeField()
    channel = models.CharField(max_length=16, choices=choices.InteractionChannel.choices)
    event_type = models.CharField(max_length=24, choices=choices.InteractionType.choices)
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    satisfaction = models.PositiveSmallIntegerField(null=True, blank=True)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["external_id", "occurred_at"], name="interaction_unique_external_id"),
            models.CheckConstraint(
                condition=models.Q(satisfaction__isnull=True) | models.Q(satisfaction__gte=1, satisfaction__lte=5),
                name="interaction_satisfaction_1_to_5",
            ),
        ]
        indexes = [models.Index(fields=["customer", "occurred_at"], name="interaction_customer_time")]

    def __str__(self) -> str:
        return f"{self.external_id} {self.event_type} via {self.channel}"


class CreditScore(models.Model):
    id = models.BigAutoField(primary_key=True)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="credit_scores")
    scored_on = models.DateField()
    score = models.PositiveSmallIntegerField()
    source = models.CharField(max_length=32, default="bureau")
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["customer_id", "scored_on"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "scored_on", "source"], name="credit_score_unique_per_day"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.score} on {self.scored_on}"


class MarketIndicator(models.Model):
    """A market or macro-economic figure (base rate, CPI, confidence index...) by date."""

    name = models.CharField(max_length=64)
    date = models.DateField()
    value = models.DecimalField(max_digits=20, decimal_places=6)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "date"]
        constraints = [models.UniqueConstraint(fields=["name", "date"], name="market_indicator_unique_per_day")]

    def __str__(self) -> str:
        return f"{self.name} {self.date} = {self.value}"


class FxRate(models.Model):
    """Units of ``BASE_CURRENCY`` for one unit of ``currency`` on ``date``."""

    currency = models.CharField(max_length=3)
    date = models.DateField()
    rate = models.DecimalField(max_digits=20, decimal_places=8)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["currency", "date"]
        constraints = [models.UniqueConstraint(fields=["currency", "date"], name="fx_rate_unique_per_day")]

    def __str__(self) -> str:
        return f"{self.currency} {self.date} = {self.rate}"


class Consent(models.Model):
    """One change of a customer's consent for a channel and purpose; the latest by
    ``effective_at`` is in force. Rows are never updated, so the history is complete."""

    id = models.BigAutoField(primary_key=True)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(max_length=16, choices=choices.ConsentChannel.choices)
    purpose = models.CharField(max_length=16, choices=choices.ConsentPurpose.choices)
    status = models.CharField(max_length=16, choices=choices.ConsentStatus.choices)
    effective_at = models.DateTimeField()
    source = models.CharField(max_length=64, blank=True)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["customer_id", "channel", "purpose", "effective_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "channel", "purpose", "effective_at"], name="consent_unique_change"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.channel}/{self.purpose} {self.status} from {self.effective_at:%Y-%m-%d}"


class ContactHistory(models.Model):
    """An offer made to a customer and how the customer responded.

    Imported from the bank's past campaigns and appended to by Crossell's own
    decisions, so models learn from both the same way.
    """

    id = models.BigAutoField(primary_key=True)
    external_id = models.CharField(max_length=64)
    # No index of its own: "contact_history_customer_time" starts with the customer and
    # serves the same lookups; every decision writes rows here, and each index costs.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+", db_index=False)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    campaign_code = models.CharField(max_length=64)
    channel = models.CharField(max_length=16, choices=choices.OfferChannel.choices)
    offered_at = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=choices.OfferOutcome.choices)
    responded_at = models.DateTimeField(null=True, blank=True)
    revenue = models.DecimalField(null=True, blank=True, **MONEY)
    source = models.CharField(max_length=16, default="import")
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["offered_at", "id"]
        verbose_name_plural = "contact history"
        constraints = [
            models.UniqueConstraint(fields=["external_id", "offered_at"], name="contact_history_unique_external_id"),
        ]
        indexes = [models.Index(fields=["customer", "offered_at"], name="contact_history_customer_time")]

    def __str__(self) -> str:
        return f"{self.external_id} {self.product_id} via {self.channel}: {self.outcome}"


class InboundEvent(models.Model):
    """An event received through the event API, by the sender's event id, so a
    retried event is recognised and stored only once."""

    id = models.BigAutoField(primary_key=True)
    source = models.CharField(max_length=80)
    event_id = models.CharField(max_length=100)
    event_type = models.CharField(max_length=16, choices=choices.EventType.choices)
    customer = models.ForeignKey(Customer, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    payload_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [models.UniqueConstraint(fields=["source", "event_id"], name="inbound_event_unique_id")]
        indexes = [models.Index(fields=["customer", "received_at"], name="inbound_event_customer_time")]

    def __str__(self) -> str:
        return f"{self.source} {self.event_id} ({self.event_type})"
