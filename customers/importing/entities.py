"""Per file: which tables it writes, how checked columns become table rows,
and what follows the upsert (attribute history, account holders, bundles)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from django.db import connection

from customers import choices
from customers.importing.errors import ErrorSink
from customers.importing.reading import Batch
from customers.importing.staging import Stager, Target, db_value, distinct, is_postgres
from customers.importing.validation import BatchChecker

CUSTOMER = Target(
    table="customers_customer",
    columns=(
        "external_id", "public_id", "birth_date", "gender", "marital_status", "region", "employment_type", "income",
        "income_currency", "customer_since", "kyc_status", "kyc_date", "sanctions_status", "risk_rating",
        "do_not_contact", "vulnerable", "effective_date",
    ),
    key=("external_id",),
    compare=(
        "birth_date", "gender", "marital_status", "region", "employment_type", "income", "income_currency",
        "customer_since", "kyc_status", "kyc_date", "sanctions_status", "risk_rating", "do_not_contact", "vulnerable",
    ),
    insert_only=("public_id",),
    timestamps=True,
    extra=(("effective_date", "date"),),
)  # fmt: skip
CONTACT = Target(
    table="customers_contactdetails",
    columns=("customer_id", "first_name", "last_name", "email", "phone", "device_tokens", "language"),
    key=("customer_id",),
    compare=("first_name", "last_name", "email", "phone", "device_tokens", "language"),
    timestamps=True,
    # Erased contact details stay erased: a later import must not bring them back.
    update_guard="customers_contactdetails.erased_at IS NULL",
)
PRODUCT = Target(
    table="customers_product",
    columns=("code", "name", "family", "tier", "value", "currency", "is_credit", "min_age", "retired_on"),
    key=("code",),
    compare=("name", "family", "tier", "value", "currency", "is_credit", "min_age", "retired_on"),
    timestamps=True,
)
ACCOUNT = Target(
    table="customers_account",
    columns=("external_id", "customer_id", "product_id", "opened_on", "closed_on", "status", "currency"),
    key=("external_id",),
    compare=("customer_id", "product_id", "opened_on", "closed_on", "status", "currency"),
    timestamps=True,
)
BALANCE = Target(
    table="customers_monthlybalance",
    columns=("account_id", "customer_id", "month", "average_balance", "end_balance", "currency", "days_overdrawn",
             "missed_payments"),
    key=("account_id", "month"),
    compare=("customer_id", "average_balance", "end_balance", "currency", "days_overdrawn", "missed_payments"),
)  # fmt: skip
TRANSACTION = Target(
    table="customers_transaction",
    columns=("external_id", "account_id", "customer_id", "booked_at", "amount", "currency", "category", "mcc",
             "channel"),
    key=("external_id", "booked_at"),
    compare=("account_id", "customer_id", "amount", "currency", "category", "mcc", "channel"),
)  # fmt: skip
INTERACTION = Target(
    table="customers_interaction",
    columns=("external_id", "customer_id", "occurred_at", "channel", "event_type", "product_id", "satisfaction"),
    key=("external_id", "occurred_at"),
    compare=("customer_id", "channel", "event_type", "product_id", "satisfaction"),
)
CREDIT_SCORE = Target(
    table="customers_creditscore",
    columns=("customer_id", "scored_on", "score", "source"),
    key=("customer_id", "scored_on", "source"),
    compare=("score",),
)
INDICATOR = Target(
    table="customers_marketindicator",
    columns=("name", "date", "value"),
    key=("name", "date"),
    compare=("value",),
)
FX_RATE = Target(
    table="customers_fxrate",
    columns=("currency", "date", "rate"),
    key=("currency", "date"),
    compare=("rate",),
)
CONSENT = Target(
    table="customers_consent",
    columns=("customer_id", "channel", "purpose", "status", "effective_at", "source"),
    key=("customer_id", "channel", "purpose", "effective_at"),
    compare=("status", "source"),
)
CONTACT_HISTORY = Target(
    table="customers_contacthistory",
    columns=("external_id", "customer_id", "product_id", "campaign_code", "channel", "offered_at", "outcome",
             "responded_at", "revenue", "source"),
    key=("external_id", "offered_at"),
    compare=("customer_id", "product_id", "campaign_code", "channel", "outcome", "responded_at", "revenue",
             "source"),
)  # fmt: skip

TARGETS: dict[str, tuple[Target, ...]] = {
    "products": (PRODUCT,),
    "customers": (CUSTOMER,),
    "contacts": (CONTACT,),
    "accounts": (ACCOUNT,),
    "balances": (BALANCE,),
    "transactions": (TRANSACTION,),
    "interactions": (INTERACTION,),
    "credit_scores": (CREDIT_SCORE,),
    "market_data": (INDICATOR, FX_RATE),
    "consents": (CONSENT,),
    "campaign_history": (CONTACT_HISTORY,),
}

# Files written straight into their table on a first load (no follow-up writes).
DIRECT = frozenset({"balances", "transactions", "interactions", "credit_scores", "consents", "campaign_history"})
# The reference maps each file needs, read before its rows.
_C, _P, _A = "customers_customer", "customers_product", "customers_account"
REFERENCES: dict[str, tuple[str, ...]] = {
    "products": (),
    "customers": (),
    "contacts": (_C,),
    "accounts": (_C, _P),
    "balances": (_A,),
    "transactions": (_A,),
    "interactions": (_C, _P),
    "credit_scores": (_C,),
    "market_data": (),
    "consents": (_C,),
    "campaign_history": (_C, _P),
}


@dataclass
class KeyMap:
    """Natural key -> primary key (and, for accounts, the primary holder)."""

    keys: pa.Array
    ids: np.ndarray
    owners: np.ndarray | None = None

    def find(self, values: pa.Array) -> pa.Array:
        """Index into ``keys`` of each value (null when unknown)."""
        return pc.index_in(values, value_set=self.keys)


class Lookups:
    """Reference maps, read from the database when first needed and again after
    a file in this run wrote to the table (same transaction, so it sees them)."""

    def __init__(self) -> None:
        self._maps: dict[str, KeyMap] = {}

    def invalidate(self, table: str) -> None:
        self._maps.pop(table, None)

    def get(self, table: str) -> KeyMap:
        if table not in self._maps:
            self._maps[table] = self._load(table)
        return self._maps[table]

    def _load(self, table: str) -> KeyMap:
        sql = {
            "customers_customer": "SELECT external_id, id FROM customers_customer",
            "customers_product": "SELECT code, id FROM customers_product",
            "customers_account": "SELECT external_id, id, customer_id FROM customers_account",
        }[table]
        with connection.cursor() as cursor:
            cursor.execute(sql)
            rows = cursor.fetchall()
        keys = pa.array([r[0] for r in rows], type=pa.string())
        ids = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
        owners = None
        if table == "customers_account":
            owners = np.fromiter((r[2] for r in rows), dtype=np.int64, count=len(rows))
        return KeyMap(keys=keys, ids=ids, owners=owners)


@dataclass
class FileContext:
    """What a file's handler needs while reading one file."""

    name: str
    checker: BatchChecker
    errors: ErrorSink
    lookups: Lookups
    now: datetime
    today: date
    present: set[str]
    stagers: dict[str, Stager]
    extra_rows: list = field(default_factory=list)  # small side data (holders, bundles)


def _lines(batch: Batch) -> pa.Array:
    return pa.array(np.arange(batch.first_row, batch.first_row + batch.num_rows, dtype=np.int64) + 2)


def _resolve(
    ctx: FileContext, batch: Batch, valid: np.ndarray, values: pa.Array, table: str, column: str, what: str
) -> tuple[pa.Array, pa.Array]:
    """Primary keys of the referenced rows (null when the value is empty);
    unknown references are reported. Returns (ids, index into the map)."""
    key_map = ctx.lookups.get(table)
    index = key_map.find(values)
    unknown = pc.and_(pc.is_null(index), pc.is_valid(values))
    unknown = pc.and_(unknown, pc.not_equal(values, ""))

    def reason(i: int) -> str:
        return f"unknown {what} {values[i].as_py()!r}: not in this import nor already stored"

    ctx.checker.report(unknown, batch, valid, column, reason)
    ids = pc.take(pa.array(key_map.ids), index)
    return ids, index


def _table(columns: dict[str, pa.Array], lines: pa.Array, valid: np.ndarray) -> pa.Table:
    table = pa.table({"line": lines, **columns})
    return table.filter(pa.array(valid)) if not valid.all() else table


def _fill(values: pa.Array, default: object) -> pa.Array:
    return pc.fill_null(values, default)


def _correct_lines(batch: Batch, lines: pa.Array) -> pa.Array:
    if not batch.lines.skipped:
        return lines
    return pa.array([batch.line(i) for i in range(batch.num_rows)], type=pa.int64())


def prepare(ctx: FileContext, batch: Batch) -> None:
    """Check one batch, resolve its references, and stage its valid rows."""
    cols, valid = ctx.checker.check(batch)
    lines = _correct_lines(batch, _lines(batch))
    handler = HANDLERS[ctx.name]
    tables = handler(ctx, batch, cols, valid, lines)
    for target_table, table in tables.items():
        ctx.stagers[target_table].append(table)


# --- one handler per file ------------------------------------------------------------------
def _products(ctx, batch, c, valid, lines):
    table = _table(
        {
            "code": c["product_code"],
            "name": c["name"],
            "family": c["family"],
            "tier": _fill(c["tier"], 1),
            "value": c["value"],
            "currency": c["currency"],
            "is_credit": c["is_credit"],
            "min_age": _fill(c["min_age"], 18),
            "retired_on": c["retired_on"],
        },
        lines,
        valid,
    )
    if "complementary_codes" in ctx.present:
        codes = c["complementary_codes"].to_pylist()
        own = c["product_code"].to_pylist()
        line_list = lines.to_pylist()
        for i in np.flatnonzero(valid):
            wanted = sorted({x.strip() for x in codes[i].split(";") if x.strip()})
            ctx.extra_rows.append((line_list[i], own[i], wanted))
    return {PRODUCT.table: table}


def _customers(ctx, batch, c, valid, lines):
    income_given = pc.is_valid(c["income"])
    no_currency = pc.and_(income_given, pc.is_null(c["income_currency"]))
    ctx.checker.report(no_currency, batch, valid, "income_currency", lambda i: "required when income is given")
    n = batch.num_rows
    public_ids = pa.array([str(uuid.uuid4()) if is_postgres() else uuid.uuid4().hex for _ in range(n)])
    table = _table(
        {
            "external_id": c["customer_id"],
            "public_id": public_ids,
            "birth_date": c["birth_date"],
            "gender": _fill(c["gender"], choices.Gender.UNKNOWN.value),
            "marital_status": _fill(c["marital_status"], choices.MaritalStatus.UNKNOWN.value),
            "region": c["region"],
            "employment_type": _fill(c["employment_type"], choices.EmploymentType.UNKNOWN.value),
            "income": c["income"],
            "income_currency": _fill(c["income_currency"], ""),
            "customer_since": c["customer_since"],
            "kyc_status": c["kyc_status"],
            "kyc_date": c["kyc_date"],
            "sanctions_status": c["sanctions_status"],
            "risk_rating": _fill(c["risk_rating"], choices.RiskRating.LOW.value),
            "do_not_contact": _fill(c["do_not_contact"], False),
            "vulnerable": _fill(c["vulnerable"], False),
            "effective_date": c["effective_date"],
        },
        lines,
        valid,
    )
    return {CUSTOMER.table: table}


def _contacts(ctx, batch, c, valid, lines):
    ids, _ = _resolve(ctx, batch, valid, c["customer_id"], "customers_customer", "customer_id", "customer")
    tokens = [
        json.dumps([t.strip() for t in value.split(";") if t.strip()]) for value in c["device_tokens"].to_pylist()
    ]
    table = _table(
        {
            "customer_id": ids,
            "first_name": c["first_name"],
            "last_name": c["last_name"],
            "email": c["email"],
            "phone": c["phone"],
            "device_tokens": pa.array(tokens, type=pa.string()),
            "language": c["language"],
        },
        lines,
        valid,
    )
    return {CONTACT.table: table}


def _accounts(ctx, batch, c, valid, lines):
    customer_ids, _ = _resolve(ctx, batch, valid, c["customer_id"], "customers_customer", "customer_id", "customer")
    product_ids, _ = _resolve(ctx, batch, valid, c["product_code"], "customers_product", "product_code", "product")
    customers = ctx.lookups.get("customers_customer")
    joint = c["joint_holder_ids"].to_pylist()
    account = c["account_id"].to_pylist()
    primary = customer_ids.to_pylist()
    for i in range(batch.num_rows):
        if not joint[i]:
            continue
        holders = [x.strip() for x in joint[i].split(";") if x.strip()]
        found = customers.find(pa.array(holders, type=pa.string())).to_pylist()
        for holder, index in zip(holders, found, strict=True):
            if index is None:
                if valid[i]:
                    ctx.errors.add(
                        line=batch.line(i),
                        column="joint_holder_ids",
                        reason=f"unknown customer {holder!r}: not in this import nor already stored",
                    )
                valid[i] = False
            elif valid[i] and int(customers.ids[index]) != primary[i]:
                ctx.extra_rows.append((account[i], int(customers.ids[index]), choices.HolderRole.JOINT.value))
    for i in np.flatnonzero(valid):
        ctx.extra_rows.append((account[i], primary[i], choices.HolderRole.PRIMARY.value))
    table = _table(
        {
            "external_id": c["account_id"],
            "customer_id": customer_ids,
            "product_id": product_ids,
            "opened_on": c["opened_on"],
            "closed_on": c["closed_on"],
            "status": c["status"],
            "currency": c["currency"],
        },
        lines,
        valid,
    )
    return {ACCOUNT.table: table}


def _account_and_holder(ctx, batch, c, valid):
    account_map = ctx.lookups.get("customers_account")
    ids, index = _resolve(ctx, batch, valid, c["account_id"], "customers_account", "account_id", "account")
    owners = pc.take(pa.array(account_map.owners), index)
    return ids, owners


def _balances(ctx, batch, c, valid, lines):
    account_ids, owners = _account_and_holder(ctx, batch, c, valid)
    table = _table(
        {
            "account_id": account_ids,
            "customer_id": owners,
            "month": c["month"],
            "average_balance": c["average_balance"],
            "end_balance": c["end_balance"],
            "currency": c["currency"],
            "days_overdrawn": _fill(c["days_overdrawn"], 0),
            "missed_payments": _fill(c["missed_payments"], 0),
        },
        lines,
        valid,
    )
    return {BALANCE.table: table}


def _transactions(ctx, batch, c, valid, lines):
    account_ids, owners = _account_and_holder(ctx, batch, c, valid)
    table = _table(
        {
            "external_id": c["transaction_id"],
            "account_id": account_ids,
            "customer_id": owners,
            "booked_at": c["booked_at"],
            "amount": c["amount"],
            "currency": c["currency"],
            "category": c["category"],
            "mcc": c["mcc"],
            "channel": c["channel"],
        },
        lines,
        valid,
    )
    return {TRANSACTION.table: table}


def _interactions(ctx, batch, c, valid, lines):
    customer_ids, _ = _resolve(ctx, batch, valid, c["customer_id"], "customers_customer", "customer_id", "customer")
    product_ids, _ = _resolve(ctx, batch, valid, c["product_code"], "customers_product", "product_code", "product")
    table = _table(
        {
            "external_id": c["interaction_id"],
            "customer_id": customer_ids,
            "occurred_at": c["occurred_at"],
            "channel": c["channel"],
            "event_type": c["event_type"],
            "product_id": product_ids,
            "satisfaction": c["satisfaction"],
        },
        lines,
        valid,
    )
    return {INTERACTION.table: table}


def _credit_scores(ctx, batch, c, valid, lines):
    customer_ids, _ = _resolve(ctx, batch, valid, c["customer_id"], "customers_customer", "customer_id", "customer")
    source = pc.if_else(pc.equal(c["source"], ""), "bureau", c["source"])
    table = _table(
        {"customer_id": customer_ids, "scored_on": c["scored_on"], "score": c["score"], "source": source},
        lines,
        valid,
    )
    return {CREDIT_SCORE.table: table}


def _market_data(ctx, batch, c, valid, lines):
    is_fx = pc.fill_null(pc.equal(c["kind"], choices.MarketDataKind.FX_RATE.value), False)
    bad_currency = pc.and_(is_fx, pc.invert(pc.match_substring_regex(c["name"], r"^[A-Z]{3}$")))
    ctx.checker.report(
        bad_currency, batch, valid, "name", lambda i: "an fx_rate needs an ISO 4217 currency code as its name"
    )
    fx = is_fx.to_numpy(zero_copy_only=False)
    indicators = _table({"name": c["name"], "date": c["date"], "value": c["value"]}, lines, valid & ~fx)
    rates = _table({"currency": c["name"], "date": c["date"], "rate": c["value"]}, lines, valid & fx)
    return {INDICATOR.table: indicators, FX_RATE.table: rates}


def _consents(ctx, batch, c, valid, lines):
    customer_ids, _ = _resolve(ctx, batch, valid, c["customer_id"], "customers_customer", "customer_id", "customer")
    table = _table(
        {
            "customer_id": customer_ids,
            "channel": c["channel"],
            "purpose": c["purpose"],
            "status": c["status"],
            "effective_at": c["effective_at"],
            "source": c["source"],
        },
        lines,
        valid,
    )
    return {CONSENT.table: table}


def _campaign_history(ctx, batch, c, valid, lines):
    customer_ids, _ = _resolve(ctx, batch, valid, c["customer_id"], "customers_customer", "customer_id", "customer")
    product_ids, _ = _resolve(ctx, batch, valid, c["product_code"], "customers_product", "product_code", "product")
    table = _table(
        {
            "external_id": c["offer_id"],
            "customer_id": customer_ids,
            "product_id": product_ids,
            "campaign_code": c["campaign_code"],
            "channel": c["channel"],
            "offered_at": c["offered_at"],
            "outcome": c["outcome"],
            "responded_at": c["responded_at"],
            "revenue": c["revenue"],
            "source": pa.array(["import"] * batch.num_rows, type=pa.string()),
        },
        lines,
        valid,
    )
    return {CONTACT_HISTORY.table: table}


HANDLERS = {
    "products": _products,
    "customers": _customers,
    "contacts": _contacts,
    "accounts": _accounts,
    "balances": _balances,
    "transactions": _transactions,
    "interactions": _interactions,
    "credit_scores": _credit_scores,
    "market_data": _market_data,
    "consents": _consents,
    "campaign_history": _campaign_history,
}


# --- after staging, around the upsert ----------------------------------------------------------
def _value_text(column: str) -> str:
    """A tracked attribute's value as text, the same on both databases."""
    if column == "income":
        if is_postgres():
            return "CAST(s.income AS text)"
        # printf turns NULL into '0.00': a blank income must stay blank (unknown), not become 0.
        return "CASE WHEN s.income IS NULL THEN NULL ELSE printf('%%.2f', s.income) END"
    return f"s.{column}"


ATTRIBUTES = [a.value for a in choices.TrackedAttribute]


def before_upsert(ctx: FileContext) -> None:
    """Customers: record tracked attributes whose value differs from the stored one,
    and remember which customers are new (their history is written after)."""
    if ctx.name != "customers":
        return
    stage = ctx.stagers[CUSTOMER.table].name
    now, today = db_value(ctx.now), ctx.today.isoformat()
    with connection.cursor() as cursor:
        for attribute in ATTRIBUTES:
            cursor.execute(
                "INSERT INTO customers_customerattributechange (customer_id, attribute, value, effective_from, "
                f"received_at) SELECT c.id, %s, COALESCE({_value_text(attribute)}, ''), "
                f"COALESCE(s.effective_date, %s), %s FROM {stage} s JOIN customers_customer c "
                f"ON c.external_id = s.external_id WHERE {distinct(f'c.{attribute}', f's.{attribute}')} "
                "ON CONFLICT (customer_id, attribute, effective_from) DO UPDATE SET value = excluded.value, "
                "received_at = excluded.received_at WHERE customers_customerattributechange.value <> excluded.value",
                [attribute, today, now],
            )
        cursor.execute("DROP TABLE IF EXISTS import_new_customers")
        cursor.execute(
            f"CREATE TEMP TABLE import_new_customers AS SELECT s.external_id FROM {stage} s WHERE NOT EXISTS "
            "(SELECT 1 FROM customers_customer c WHERE c.external_id = s.external_id)"
        )


def after_upsert(ctx: FileContext) -> None:
    """The writes that follow a file's upsert, and the maps it made stale."""
    with connection.cursor() as cursor:
        if ctx.name == "customers":
            stage = ctx.stagers[CUSTOMER.table].name
            for attribute in ATTRIBUTES:
                cursor.execute(
                    "INSERT INTO customers_customerattributechange (customer_id, attribute, value, effective_from, "
                    f"received_at) SELECT c.id, %s, COALESCE({_value_text(attribute)}, ''), "
                    f"COALESCE(s.effective_date, s.customer_since), %s FROM {stage} s "
                    "JOIN import_new_customers n ON n.external_id = s.external_id "
                    "JOIN customers_customer c ON c.external_id = s.external_id WHERE true "
                    "ON CONFLICT (customer_id, attribute, effective_from) DO NOTHING",
                    [attribute, db_value(ctx.now)],
                )
            cursor.execute("DROP TABLE IF EXISTS import_new_customers")
            ctx.lookups.invalidate("customers_customer")
        elif ctx.name == "products":
            ctx.lookups.invalidate("customers_product")
            _sync_bundles(ctx)
        elif ctx.name == "accounts":
            ctx.lookups.invalidate("customers_account")
            _sync_holders(ctx, cursor)


def _sync_holders(ctx: FileContext, cursor) -> None:
    """Make each imported account's holders exactly the primary plus the joint ones."""
    stage = ctx.stagers[ACCOUNT.table].name
    cursor.execute("DROP TABLE IF EXISTS import_holders")
    cursor.execute("CREATE TEMP TABLE import_holders (account_ext varchar(64), customer_id bigint, role varchar(8))")
    if ctx.extra_rows:
        cursor.executemany("INSERT INTO import_holders VALUES (%s, %s, %s)", ctx.extra_rows)
    # Without it SQLite's NOT EXISTS below scans the holders once per stored holder.
    cursor.execute("CREATE INDEX import_holders_key ON import_holders (account_ext, customer_id)")
    cursor.execute(
        "INSERT INTO customers_accountholder (account_id, customer_id, role) SELECT DISTINCT a.id, h.customer_id, "
        "h.role FROM import_holders h JOIN customers_account a ON a.external_id = h.account_ext WHERE true "
        "ON CONFLICT (account_id, customer_id) DO UPDATE SET role = excluded.role "
        "WHERE customers_accountholder.role <> excluded.role"
    )
    cursor.execute(
        "DELETE FROM customers_accountholder WHERE account_id IN (SELECT a.id FROM customers_account a "
        f"JOIN {stage} s ON s.external_id = a.external_id) AND NOT EXISTS (SELECT 1 FROM import_holders h "
        "JOIN customers_account a2 ON a2.external_id = h.account_ext WHERE a2.id = customers_accountholder.account_id "
        "AND h.customer_id = customers_accountholder.customer_id)"
    )
    cursor.execute("DROP TABLE import_holders")


def _sync_bundles(ctx: FileContext) -> None:
    """Set each imported product's complementary products (codes may name products of the same file)."""
    if not ctx.extra_rows:
        return
    products = ctx.lookups.get("customers_product")
    index = {code: int(pk) for code, pk in zip(products.keys.to_pylist(), products.ids, strict=True)}
    wanted: set[tuple[int, int]] = set()
    touched: list[int] = []
    for line, code, codes in ctx.extra_rows:
        own = index[code]
        touched.append(own)
        for other in codes:
            if other not in index:
                ctx.errors.add(
                    line=line,
                    column="complementary_codes",
                    reason=f"unknown product {other!r}: not in this import nor already stored",
                )
            elif index[other] != own:
                wanted.add((own, index[other]))
    if ctx.errors.count:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT from_product_id, to_product_id FROM customers_product_complementary")
        existing = {(a, b) for a, b in cursor.fetchall() if a in set(touched)}
        missing = sorted(wanted - existing)
        extra = sorted(existing - wanted)
        if missing:
            cursor.executemany(
                "INSERT INTO customers_product_complementary (from_product_id, to_product_id) VALUES (%s, %s)", missing
            )
        if extra:
            cursor.executemany(
                "DELETE FROM customers_product_complementary WHERE from_product_id = %s AND to_product_id = %s", extra
            )
