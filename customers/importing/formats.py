"""The bulk-import formats: one file per entity, its columns, types and allowed values.

This module is the single source of truth: the importer validates against it,
the demo-bank generator writes to it, and ``docs/data-format.md`` documents it
(a test checks the document lists every column named here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from customers import choices


class ColumnType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"  # YYYY-MM-DD
    MONTH = "month"  # YYYY-MM
    DATETIME = "datetime"  # ISO 8601; without an offset it is read in BANK_TIME_ZONE
    CURRENCY = "currency"  # ISO 4217, three capital letters
    ENUM = "enum"
    LIST = "list"  # values separated by ';'


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    required: bool = False
    allowed: tuple[str, ...] = ()
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    description: str = ""
    example: str = ""


@dataclass(frozen=True)
class EntityFormat:
    name: str  # file stem: customers.csv, customers.parquet
    description: str
    key: tuple[str, ...]  # natural key: duplicate within a file is an error; re-import upserts
    columns: tuple[Column, ...]
    depends_on: tuple[str, ...] = field(default=())

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _enum(values: type[choices.models.TextChoices]) -> tuple[str, ...]:
    return tuple(values.values)


ID = {"type": ColumnType.STRING, "max_length": 64}

FORMATS: tuple[EntityFormat, ...] = (
    EntityFormat(
        name="products",
        description="The bank's product catalogue. A product is never deleted: set retired_on.",
        key=("product_code",),
        columns=(
            Column(
                "product_code",
                required=True,
                description="The bank's product code.",
                example="CC_GOLD",
                type=ColumnType.STRING,
                max_length=32,
            ),
            Column("name", ColumnType.STRING, required=True, max_length=120, example="Gold credit card"),
            Column("family", ColumnType.ENUM, required=True, allowed=_enum(choices.ProductFamily), example="card"),
            Column(
                "tier",
                ColumnType.INTEGER,
                minimum=1,
                maximum=9,
                description="Rank within the family, higher is an upgrade (default 1).",
                example="2",
            ),
            Column(
                "complementary_codes",
                ColumnType.LIST,
                description="Codes of products offered with it in a bundle.",
                example="TRAVEL_INS;CURRENT",
            ),
            Column(
                "value",
                ColumnType.DECIMAL,
                required=True,
                minimum=0,
                description="Expected value to the bank of one take-up.",
                example="180.00",
            ),
            Column("currency", ColumnType.CURRENCY, required=True, example="EUR"),
            Column("is_credit", ColumnType.BOOLEAN, required=True, example="true"),
            Column(
                "min_age",
                ColumnType.INTEGER,
                minimum=0,
                maximum=120,
                description="Minimum age to hold it (default 18).",
                example="18",
            ),
            Column("retired_on", ColumnType.DATE, description="Date it stopped being sold.", example=""),
        ),
    ),
    EntityFormat(
        name="customers",
        description=(
            "One row per customer with the values in force on effective_date. Changes of income, employment, "
            "region, marital status, risk rating, KYC or sanctions status are kept as history: send the row "
            "again with the new values and a later effective_date."
        ),
        key=("customer_id",),
        columns=(
            Column("customer_id", **ID, required=True, description="The bank's customer id.", example="C000123"),
            Column("birth_date", ColumnType.DATE, required=True, example="1984-03-17"),
            Column("gender", ColumnType.ENUM, allowed=_enum(choices.Gender), example="F"),
            Column("marital_status", ColumnType.ENUM, allowed=_enum(choices.MaritalStatus), example="married"),
            Column("region", ColumnType.STRING, max_length=64, example="North West"),
            Column("employment_type", ColumnType.ENUM, allowed=_enum(choices.EmploymentType), example="employed"),
            Column(
                "income", ColumnType.DECIMAL, minimum=0, description="Declared gross yearly income.", example="42000.00"
            ),
            Column("income_currency", ColumnType.CURRENCY, description="Required when income is given.", example="EUR"),
            Column("customer_since", ColumnType.DATE, required=True, example="2012-06-01"),
            Column("kyc_status", ColumnType.ENUM, required=True, allowed=_enum(choices.KycStatus), example="verified"),
            Column("kyc_date", ColumnType.DATE, description="Date of the last KYC check.", example="2025-01-15"),
            Column(
                "sanctions_status",
                ColumnType.ENUM,
                required=True,
                allowed=_enum(choices.SanctionsStatus),
                example="clear",
            ),
            Column("risk_rating", ColumnType.ENUM, allowed=_enum(choices.RiskRating), example="low"),
            Column("do_not_contact", ColumnType.BOOLEAN, example="false"),
            Column("vulnerable", ColumnType.BOOLEAN, description="Flagged as a vulnerable customer.", example="false"),
            Column(
                "effective_date",
                ColumnType.DATE,
                description="Date these values took effect (default: customer_since for a new customer, "
                "the import date otherwise).",
                example="2025-01-15",
            ),
        ),
    ),
    EntityFormat(
        name="contacts",
        description="Personal contact details, kept apart from the facts the models use.",
        key=("customer_id",),
        depends_on=("customers",),
        columns=(
            Column("customer_id", **ID, required=True, example="C000123"),
            Column("first_name", ColumnType.STRING, max_length=100, example="Ana"),
            Column("last_name", ColumnType.STRING, max_length=100, example="Silva"),
            Column("email", ColumnType.STRING, max_length=254, example="ana.silva@example.org"),
            Column("phone", ColumnType.STRING, max_length=32, example="+351912345678"),
            Column(
                "device_tokens",
                ColumnType.LIST,
                description="Push tokens of the customer's devices.",
                example="tok_a1;tok_b2",
            ),
            Column("language", ColumnType.STRING, max_length=8, description="ISO 639-1 code.", example="pt"),
        ),
    ),
    EntityFormat(
        name="accounts",
        description="Holdings of products, possibly joint.",
        key=("account_id",),
        depends_on=("customers", "products"),
        columns=(
            Column("account_id", **ID, required=True, example="A0000456"),
            Column("customer_id", **ID, required=True, description="Primary holder.", example="C000123"),
            Column("product_code", ColumnType.STRING, max_length=32, required=True, example="CURRENT"),
            Column("opened_on", ColumnType.DATE, required=True, example="2019-04-02"),
            Column("closed_on", ColumnType.DATE, example=""),
            Column("status", ColumnType.ENUM, required=True, allowed=_enum(choices.AccountStatus), example="open"),
            Column("currency", ColumnType.CURRENCY, required=True, example="EUR"),
            Column("joint_holder_ids", ColumnType.LIST, description="Other holders' customer ids.", example="C000124"),
        ),
    ),
    EntityFormat(
        name="balances",
        description="Monthly balance figures per account (months in the bank's time zone).",
        key=("account_id", "month"),
        depends_on=("accounts",),
        columns=(
            Column("account_id", **ID, required=True, example="A0000456"),
            Column("month", ColumnType.MONTH, required=True, example="2025-03"),
            Column("average_balance", ColumnType.DECIMAL, required=True, example="2450.17"),
            Column("end_balance", ColumnType.DECIMAL, example="1980.00"),
            Column("currency", ColumnType.CURRENCY, required=True, example="EUR"),
            Column("days_overdrawn", ColumnType.INTEGER, minimum=0, maximum=31, example="0"),
            Column("missed_payments", ColumnType.INTEGER, minimum=0, maximum=99, example="0"),
        ),
    ),
    EntityFormat(
        name="transactions",
        description="Booked transactions. Amounts are signed: money in is positive, money out negative.",
        key=("transaction_id", "booked_at"),
        depends_on=("accounts",),
        columns=(
            Column("transaction_id", **ID, required=True, example="T00000000017"),
            Column("account_id", **ID, required=True, example="A0000456"),
            Column("booked_at", ColumnType.DATETIME, required=True, example="2025-03-14T09:26:53+00:00"),
            Column("amount", ColumnType.DECIMAL, required=True, example="-42.80"),
            Column("currency", ColumnType.CURRENCY, required=True, example="EUR"),
            Column(
                "category",
                ColumnType.ENUM,
                required=True,
                allowed=_enum(choices.TransactionCategory),
                example="groceries",
            ),
            Column(
                "mcc", ColumnType.STRING, max_length=4, description="Merchant category code (4 digits).", example="5411"
            ),
            Column(
                "channel",
                ColumnType.ENUM,
                required=True,
                allowed=_enum(choices.TransactionChannel),
                example="card_present",
            ),
        ),
    ),
    EntityFormat(
        name="interactions",
        description="Contacts with the bank: logins, page views, calculator use, calls, complaints, surveys.",
        key=("interaction_id", "occurred_at"),
        depends_on=("customers", "products"),
        columns=(
            Column("interaction_id", **ID, required=True, example="I0000000091"),
            Column("customer_id", **ID, required=True, example="C000123"),
            Column("occurred_at", ColumnType.DATETIME, required=True, example="2025-03-14T19:02:11+00:00"),
            Column("channel", ColumnType.ENUM, required=True, allowed=_enum(choices.InteractionChannel), example="app"),
            Column(
                "event_type",
                ColumnType.ENUM,
                required=True,
                allowed=_enum(choices.InteractionType),
                example="product_page_view",
            ),
            Column(
                "product_code",
                ColumnType.STRING,
                max_length=32,
                description="Product concerned, if any.",
                example="MORTGAGE",
            ),
            Column(
                "satisfaction", ColumnType.INTEGER, minimum=1, maximum=5, description="Survey score 1-5.", example=""
            ),
        ),
    ),
    EntityFormat(
        name="credit_scores",
        description="Credit-score history per customer.",
        key=("customer_id", "scored_on", "source"),
        depends_on=("customers",),
        columns=(
            Column("customer_id", **ID, required=True, example="C000123"),
            Column("scored_on", ColumnType.DATE, required=True, example="2025-02-01"),
            Column("score", ColumnType.INTEGER, required=True, minimum=0, maximum=1000, example="712"),
            Column(
                "source",
                ColumnType.STRING,
                max_length=32,
                description="Bureau or model (default bureau).",
                example="bureau",
            ),
        ),
    ),
    EntityFormat(
        name="market_data",
        description="Market indicators and FX rates by date. An FX rate is the number of BASE_CURRENCY units "
        "for one unit of the named currency.",
        key=("kind", "name", "date"),
        columns=(
            Column("date", ColumnType.DATE, required=True, example="2025-03-31"),
            Column("kind", ColumnType.ENUM, required=True, allowed=_enum(choices.MarketDataKind), example="indicator"),
            Column(
                "name",
                ColumnType.STRING,
                max_length=64,
                required=True,
                description="Indicator name, or the ISO currency of an FX rate.",
                example="euribor3m",
            ),
            Column("value", ColumnType.DECIMAL, required=True, example="3.412"),
        ),
    ),
    EntityFormat(
        name="consents",
        description="Consent changes per customer, channel and purpose. Each row is one change; history is kept.",
        key=("customer_id", "channel", "purpose", "effective_at"),
        depends_on=("customers",),
        columns=(
            Column("customer_id", **ID, required=True, example="C000123"),
            Column("channel", ColumnType.ENUM, required=True, allowed=_enum(choices.ConsentChannel), example="email"),
            Column(
                "purpose", ColumnType.ENUM, required=True, allowed=_enum(choices.ConsentPurpose), example="marketing"
            ),
            Column("status", ColumnType.ENUM, required=True, allowed=_enum(choices.ConsentStatus), example="granted"),
            Column("effective_at", ColumnType.DATETIME, required=True, example="2024-11-02T10:00:00+00:00"),
            Column(
                "source", ColumnType.STRING, max_length=64, description="Where it was given.", example="app_onboarding"
            ),
        ),
    ),
    EntityFormat(
        name="campaign_history",
        description="Offers the bank made in past campaigns and the customers' responses.",
        key=("offer_id", "offered_at"),
        depends_on=("customers", "products"),
        columns=(
            Column("offer_id", **ID, required=True, example="O000000451"),
            Column("customer_id", **ID, required=True, example="C000123"),
            Column("campaign_code", ColumnType.STRING, max_length=64, required=True, example="SPRING25_CARDS"),
            Column("product_code", ColumnType.STRING, max_length=32, required=True, example="CC_GOLD"),
            Column("channel", ColumnType.ENUM, required=True, allowed=_enum(choices.OfferChannel), example="email"),
            Column("offered_at", ColumnType.DATETIME, required=True, example="2025-03-01T08:00:00+00:00"),
            Column("outcome", ColumnType.ENUM, required=True, allowed=_enum(choices.OfferOutcome), example="accepted"),
            Column("responded_at", ColumnType.DATETIME, example="2025-03-03T12:41:00+00:00"),
            Column("revenue", ColumnType.DECIMAL, description="Revenue attributed, if known.", example="180.00"),
        ),
    ),
)

FORMATS_BY_NAME: dict[str, EntityFormat] = {f.name: f for f in FORMATS}
# Load order: every file after the ones it references.
LOAD_ORDER: tuple[str, ...] = tuple(f.name for f in FORMATS)
