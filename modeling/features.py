"""Point-in-time features: what Crossell knew about each customer at a cut-off.

One function, ``compute_features``, serves training, batch scoring and real-time
scoring, so the three cannot disagree. It reads with a fixed number of SQL
queries whatever the number of customers (aggregations run in the database,
portable between SQLite and PostgreSQL) and computes with numpy and pandas on
whole columns, never a loop per customer. The columns are declared in
``modeling.feature_catalogue``.

Speed (bench/feature_bench.py): 100,000 customers with 36 million transactions in
well under two minutes on two cores. The large aggregates come back from
PostgreSQL through COPY into pyarrow, are summed per customer with
``np.bincount``, and money is summed in whole cents, so the result is the same
bit for bit whatever order a parallel query returns rows in.
"""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from django.conf import settings
from django.db import connection, transaction

from modeling.feature_catalogue import (
    AGE_BANDS,
    CATALOGUE,
    CATEGORY_GROUPS,
    CHANNELS,
    CREDIT_SCORE_CHANGE_DAYS,
    DAY_WINDOWS,
    GROUP_OF_CATEGORY,
    MARKET_CHANGE_DAYS,
    MOBILE_PREFIXES,
    OFFER_LOOKBACK_DAYS,
    OFFER_WINDOWS,
    PRODUCT_FAMILIES,
    RECENCY_LOOKBACK_DAYS,
    SATISFACTION_LOOKBACK_DAYS,
    SPEND_CATEGORIES,
    UNKNOWN,
    Kind,
    feature_get,
    feature_key,
)

# Up to this many ids go into an IN list; more are read by id range and filtered
# in pandas, so the query count stays fixed and SQLite's parameter limit is never hit.
MAX_IN_LIST = 500
PG_WORK_MEM = "256MB"
TRACKED = ("income", "employment_type", "region", "risk_rating", "marital_status")


@dataclass(frozen=True)
class _Bounds:
    """The instants and dates one computation reads between, all derived from the cut-off."""

    cutoff: dt.date
    at: dt.datetime  # the cut-off instant (UTC)
    known: dt.datetime  # facts received from this instant on are ignored
    month: dt.date  # first day of the cut-off's month: balance months end before it

    def days_back(self, days: int) -> dt.datetime:
        return day_start(self.cutoff - dt.timedelta(days=days))

    def months_back(self, months: int) -> dt.datetime:
        return day_start(minus_months(self.cutoff, months))


def day_start(day: dt.date) -> dt.datetime:
    """The start of ``day`` in the bank's time zone, as an aware UTC datetime."""
    local = dt.datetime.combine(day, dt.time.min, tzinfo=zoneinfo.ZoneInfo(settings.BANK_TIME_ZONE))
    return local.astimezone(dt.UTC)


def minus_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved back whole calendar months, clamped to the month's last day."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    next_first = dt.date(year + (month == 12), month % 12 + 1, 1)
    return dt.date(year, month, min(day.day, (next_first - dt.timedelta(days=1)).day))


class _Reader:
    """Runs the SQL with parameters adapted for the database in use."""

    def __init__(self, customer_ids: Sequence[int] | None) -> None:
        self.ids = sorted(set(customer_ids)) if customer_ids is not None else None

    def dt(self, value: dt.datetime) -> Any:
        return connection.ops.adapt_datetimefield_value(value)

    def date(self, value: dt.date) -> Any:
        return connection.ops.adapt_datefield_value(value)

    def customer_filter(self, column: str) -> tuple[str, list[Any]]:
        if self.ids is None:
            return "", []
        if not self.ids:
            return " AND 1 = 0", []
        if len(self.ids) <= MAX_IN_LIST:
            return f" AND {column} IN ({', '.join(['%s'] * len(self.ids))})", list(self.ids)
        return f" AND {column} BETWEEN %s AND %s", [self.ids[0], self.ids[-1]]

    def instant(self, sql: str) -> str:
        """A timestamp expression for an ``"instant"`` column (see ``frame``)."""
        if connection.vendor == "postgresql":
            return f"CAST(EXTRACT(EPOCH FROM {sql}) AS DOUBLE PRECISION)"
        return sql

    def frame(self, sql: str, params: list[Any], columns: Sequence[str] | Mapping[str, str]) -> pd.DataFrame:
        """The rows of ``sql``. With ``columns`` a mapping of name to type ("int",
        "float", "text", "code": text with few distinct values, as a categorical, or
        "instant": seconds since the epoch, from ``instant``), both databases give the
        same dtypes, and PostgreSQL streams the rows as CSV through COPY into pyarrow's
        parser, with no Python object per value: millions of rows cost a second, not a
        minute of fetchall and gigabytes of memory."""
        if isinstance(columns, Mapping) and connection.vendor == "postgresql":
            return _copy_frame(sql, params, columns)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        frame = pd.DataFrame.from_records(rows, columns=list(columns))
        if not isinstance(columns, Mapping):
            return frame
        for name, kind in columns.items():
            if kind == "instant":
                frame[name] = (_timestamps(frame[name]) - EPOCH).dt.total_seconds()
            elif kind in ("int", "float"):
                values = pd.to_numeric(frame[name], errors="coerce")
                frame[name] = values.astype("int64" if kind == "int" and values.notna().all() else "float64")
            elif kind == "code":
                frame[name] = frame[name].astype("category")
        return frame


EPOCH = pd.Timestamp(0, tz="UTC")
_ARROW_TYPES = {
    "int": pa.int64(),
    "float": pa.float64(),
    "text": pa.string(),
    "code": pa.dictionary(pa.int32(), pa.string()),  # few distinct values: a pandas categorical
    "instant": pa.float64(),
}


def _copy_frame(sql: str, params: list[Any], columns: Mapping[str, str]) -> pd.DataFrame:
    statement = f"COPY ({connection.ops.compose_sql(sql, params)}) TO STDOUT (FORMAT CSV)"
    buffer = io.BytesIO()
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        for block in copy:
            buffer.write(block)
    types = {name: _ARROW_TYPES[kind] for name, kind in columns.items()}
    if not buffer.getbuffer().nbytes:
        return pa.schema(list(types.items())).empty_table().to_pandas()
    table = pa_csv.read_csv(
        pa.BufferReader(buffer.getbuffer()),
        # Text may hold line breaks; PostgreSQL writes NULL as an empty field and '' quoted.
        parse_options=pa_csv.ParseOptions(newlines_in_values=bool({"text", "code"} & set(columns.values()))),
        read_options=pa_csv.ReadOptions(column_names=list(columns), block_size=1 << 24),
        convert_options=pa_csv.ConvertOptions(
            column_types=types, null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=False
        ),
    )
    return table.to_pandas()


def _float(sql: str) -> str:
    return f"CAST({sql} AS DOUBLE PRECISION)"


def _latest_sql(table: str, columns: str, partition: str, order: str, where: str) -> str:
    """The newest row per ``partition`` among the rows matching ``where``."""
    return (
        f"SELECT {columns} FROM (SELECT {columns}, ROW_NUMBER() OVER (PARTITION BY {partition} ORDER BY {order}) "
        f"AS rn FROM {table} WHERE {where}) ranked WHERE rn = 1"
    )


def _timestamps(values: pd.Series) -> pd.Series:
    # SQLite returns text, PostgreSQL datetimes; both are UTC.
    return pd.to_datetime(values, utc=True, format="ISO8601")


def _dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values.astype(str), format="ISO8601")


def compute_features(
    *, cutoff: dt.date, customer_ids: Sequence[int] | None = None, known_at: dt.datetime | None = None
) -> pd.DataFrame:
    """Features of each customer as of the start of ``cutoff`` (bank time), one row
    per customer who joined before it, indexed by customer id.

    Only facts dated before the cut-off instant and received before ``known_at``
    (default: the cut-off instant) are read. Pass a later ``known_at`` only for
    history loaded in bulk after the fact, whose ``received_at`` is the load time.
    """
    at = day_start(cutoff)
    bounds = _Bounds(cutoff=cutoff, at=at, known=known_at or at, month=cutoff.replace(day=1))
    reader = _Reader(customer_ids)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Enough memory to aggregate by hash rather than sort on disk; this transaction only.
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL work_mem = '{PG_WORK_MEM}'")
        return _compute(reader, bounds)


def _compute(reader: _Reader, bounds: _Bounds) -> pd.DataFrame:
    rates = _fx_rates(reader, bounds)
    customers = _customers(reader, bounds, rates)
    index = customers.index
    parts = [
        customers,
        _balances(reader, bounds, rates, index),
        _transactions(reader, bounds, rates, index),
        _interactions(reader, bounds, index),
        _satisfaction(reader, bounds, index),
        _holdings(reader, bounds, index),
        _credit_scores(reader, bounds, index),
        _market(reader, bounds, index),
        _market_change(reader, bounds, index),
        _contact_history(reader, bounds, index),
        _phone(reader, bounds, index),
        _calendar(bounds, index),
    ]
    frame = pd.concat(parts, axis=1)
    frame.index.name = "customer_id"
    return _finish(frame)


def _finish(frame: pd.DataFrame) -> pd.DataFrame:
    """Apply each column's declared missing-value handling and type, in catalogue order."""
    order = {f.name: i for i, f in enumerate(CATALOGUE)}
    columns = sorted(frame.columns, key=lambda c: (order[feature_get(c).name], c))
    out = {}
    for column in columns:
        feature = feature_get(column)
        values = frame[column]
        if feature.kind is Kind.NUMERIC:
            out[column] = pd.to_numeric(values, errors="coerce").astype("float64").fillna(feature.fill)
        elif feature.kind is Kind.BOOLEAN:
            out[column] = values.fillna(feature.fill).astype(bool)
        else:
            text = values.astype(object).where(values.notna(), UNKNOWN).astype(str)
            if feature.categories:
                text = text.where(text.isin(feature.categories), UNKNOWN)
            out[column] = text.astype(object)
    return pd.DataFrame(out, index=frame.index)


def _fx_rates(reader: _Reader, b: _Bounds) -> dict[str, float]:
    sql = _latest_sql("customers_fxrate", "currency, rate", "currency", "date DESC", "date < %s AND received_at < %s")
    rows = reader.frame(sql, [reader.date(b.cutoff), reader.dt(b.known)], ["currency", "rate"])
    rates = {str(c): float(r) for c, r in zip(rows["currency"], rows["rate"], strict=True)}
    rates[settings.BASE_CURRENCY] = 1.0
    return rates


def _customers(reader: _Reader, b: _Bounds, rates: dict[str, float]) -> pd.DataFrame:
    where, params = reader.customer_filter("id")
    rows = reader.frame(
        "SELECT id, birth_date, customer_since, gender, marital_status, region, employment_type, risk_rating, "
        f"{_float('income')}, income_currency FROM customers_customer WHERE customer_since < %s{where}",
        [reader.date(b.cutoff), *params],
        {
            "id": "int",
            "birth_date": "text",
            "customer_since": "text",
            "gender": "text",
            "marital_status": "text",
            "region": "text",
            "employment_type": "text",
            "risk_rating": "text",
            "income": "float",
            "income_currency": "text",
        },
    )
    if reader.ids is not None:
        rows = rows[rows["id"].isin(reader.ids)]
    rows = rows.set_index("id").sort_index()
    rows.index = rows.index.astype("int64")
    out = pd.DataFrame(index=rows.index)
    born, since = _dates(rows["birth_date"]), _dates(rows["customer_since"])
    c = b.cutoff
    before_birthday = (born.dt.month > c.month) | ((born.dt.month == c.month) & (born.dt.day > c.day))
    age = c.year - born.dt.year - before_birthday.astype(int)
    out["age"] = age.astype("float64")
    bands = np.select(
        [age < 18, age < 25, age < 35, age < 45, age < 55, age < 65], [AGE_BANDS[6], *AGE_BANDS[:5]], AGE_BANDS[5]
    )
    out["age_band"] = pd.Series(bands, index=rows.index)
    out["tenure_months"] = (
        (c.year - since.dt.year) * 12 + (c.month - since.dt.month) - (since.dt.day > c.day).astype(int)
    ).astype("float64")
    out["gender"] = rows["gender"]
    history = _attribute_history(reader, b, rows.index)
    for attribute in TRACKED:
        current = rows[attribute]
        value = history["value"].get(attribute)
        has = history["has"].get(attribute)
        if value is None:
            value = pd.Series(np.nan, index=rows.index, dtype=object)
            has = pd.Series(False, index=rows.index)
        # The current row only when there is no history at all: a value recorded
        # later than the cut-off must not stand in for an unknown earlier one.
        out[attribute] = value.where(has.astype(bool), current)
    income = pd.to_numeric(out["income"], errors="coerce")
    # A blank income currency is the bank's own.
    currency = rows["income_currency"].fillna("").replace("", settings.BASE_CURRENCY)
    income = income * currency.map(rates).astype("float64")
    out["income"] = income
    out["income_missing"] = income.isna()
    return out


def _attribute_history(reader: _Reader, b: _Bounds, index: pd.Index) -> dict[str, dict[str, pd.Series]]:
    """Per tracked attribute: the value in force at the cut-off, and whether the
    customer has any history for it. One query: rows in force rank first, so the
    first row per customer and attribute is the value in force, if any."""
    where, params = reader.customer_filter("customer_id")
    in_force = "effective_from < %s AND received_at < %s"
    sql = (
        "SELECT customer_id, attribute, value, in_force FROM (SELECT customer_id, attribute, value, "
        f"CASE WHEN {in_force} THEN 1 ELSE 0 END AS in_force, ROW_NUMBER() OVER (PARTITION BY customer_id, attribute "
        f"ORDER BY CASE WHEN {in_force} THEN 0 ELSE 1 END, effective_from DESC) AS rn "
        f"FROM customers_customerattributechange WHERE attribute IN ({', '.join(['%s'] * len(TRACKED))}){where}) "
        "ranked WHERE rn = 1"
    )
    bound = [reader.date(b.cutoff), reader.dt(b.known)]
    rows = reader.frame(
        sql,
        [*bound, *bound, *TRACKED, *params],
        {"customer_id": "int", "attribute": "text", "value": "text", "in_force": "int"},
    )
    values: dict[str, pd.Series] = {}
    has: dict[str, pd.Series] = {}
    for attribute, group in rows.groupby("attribute"):
        group = group.set_index("customer_id")
        value = group["value"].where(group["in_force"].astype(int) == 1)
        value = value.where(value != "")
        values[str(attribute)] = value.reindex(index).astype(object)
        has[str(attribute)] = pd.Series(True, index=group.index).reindex(index, fill_value=False)
    return {"value": values, "has": has}


def _cents(column: str) -> str:
    """A money column in whole cents, as a float: sums of whole numbers are exact, so
    they do not depend on the order a parallel aggregate adds rows in."""
    if connection.vendor == "postgresql":
        # Exact numeric to integer, several times cheaper than numeric to float (via text).
        return f"CAST(CAST({column} * 100 AS BIGINT) AS DOUBLE PRECISION)"
    return f"ROUND({column} * 100)"  # SQLite keeps decimals as floats


class _Sums:
    """The rows of an aggregate query, summed per customer of ``index`` (and per
    key) with ``np.bincount`` rather than pandas group-bys over millions of rows.

    Money arrives in whole cents of each row's currency: the cents are summed per
    currency, exactly, then converted at the cut-off's rate in a fixed currency
    order, so no result depends on the order the database returns rows in.
    """

    def __init__(self, rows: pd.DataFrame, index: pd.Index, rates: dict[str, float] | None = None) -> None:
        position = index.get_indexer(rows["customer_id"].to_numpy(dtype="int64"))
        known = position >= 0
        self.rows = rows if known.all() else rows[known]
        self.position = position[known]
        self.size = len(index)
        self.factors: dict[str, tuple[np.ndarray, Any]] = {}
        self.rates: list[float | None] = []
        if rates is not None:
            self.currency, currencies = pd.factorize(self.rows["currency"], sort=True)
            # A currency without a rate before the cut-off adds nothing to money features.
            self.rates = [rates.get(str(c)) for c in currencies]

    def codes(
        self,
        column: str,
        keys: Sequence[Any] | Mapping[Any, int],
        default: int = -1,
        key: Callable[[Any], Any] | None = None,
    ) -> np.ndarray:
        """Each row's position of ``column`` (or of ``key`` of it) in ``keys``, or
        its code if ``keys`` maps values to codes; ``default`` if absent."""
        lookup = keys if isinstance(keys, Mapping) else {k: i for i, k in enumerate(keys)}
        if column not in self.factors:
            self.factors[column] = pd.factorize(self.rows[column])
        codes, uniques = self.factors[column]
        mapped = [lookup.get(key(u) if key else u, default) for u in uniques]
        return np.array([*mapped, -1], dtype=np.int64)[codes]  # code -1 (a NULL) maps to the last: -1

    def sum(
        self, column: str | None, codes: np.ndarray | None = None, width: int = 1, money: bool = False
    ) -> np.ndarray:
        """An array (customers, ``width``): per customer and code, the sum of
        ``column`` (of rows if None), in base currency if ``money``. Rows whose code
        is negative count nowhere."""
        bins = self.position * width
        keep = np.ones(len(bins), dtype=bool)
        if codes is not None:
            bins = bins + codes
            keep = codes >= 0
        size = self.size * width
        values = None if column is None else self.rows[column].to_numpy(dtype="float64")
        if not money:
            out = np.bincount(bins[keep], weights=None if values is None else values[keep], minlength=size)
        else:
            out = np.zeros(size)
            for code, rate in enumerate(self.rates):
                if rate is not None:
                    mask = keep & (self.currency == code)
                    out += np.bincount(bins[mask], weights=values[mask], minlength=size) / 100 * rate
        return out.astype("float64").reshape(self.size, width)

    def max(self, column: str, where: np.ndarray | None = None) -> np.ndarray:
        """Per customer, the largest ``column`` among the rows ``where`` holds; NaN if none."""
        out = np.full(self.size, -np.inf)
        position, values = self.position, self.rows[column].to_numpy(dtype="float64")
        if where is not None:
            position, values = position[where], values[where]
        np.maximum.at(out, position, values)
        return np.where(np.isneginf(out), np.nan, out)


def _balances(reader: _Reader, b: _Bounds, rates: dict[str, float], index: pd.Index) -> pd.DataFrame:
    where, params = reader.customer_filter("customer_id")
    first = minus_months(b.month, 12)
    rows = reader.frame(
        f"SELECT customer_id, month, currency, SUM({_cents('average_balance')}), SUM(days_overdrawn), "
        f"SUM(missed_payments) FROM customers_monthlybalance WHERE month >= %s AND month < %s AND received_at < %s"
        f"{where} GROUP BY customer_id, month, currency",
        [reader.date(first), reader.date(b.month), reader.dt(b.known), *params],
        {
            "customer_id": "int",
            "month": "code",
            "currency": "code",
            "balance": "float",
            "overdrawn": "int",
            "missed": "int",
        },
    )
    sums = _Sums(rows, index, rates)
    # Months back from the cut-off's month: 1 is the last complete month.
    backs = {minus_months(b.month, back).isoformat(): back for back in range(1, 13)}
    back = sums.codes("month", backs, key=lambda month: str(month)[:10])
    balance = sums.sum("balance", back, 13, money=True)
    present = sums.sum(None, back, 13) > 0
    months = np.arange(13)
    out: dict[str, Any] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for window_months in (3, 6, 12):
            window = present & (months <= window_months)
            out[f"avg_balance_{window_months}m"] = np.where(window, balance, 0.0).sum(axis=1) / window.sum(axis=1)
        # Least-squares slope over the last 6 months present, x = -months back.
        window = present & (months <= 6)
        count = window.sum(axis=1)
        x = np.where(window, -months.astype("float64"), 0.0)
        y = np.where(window, balance, 0.0)
        dx = np.where(window, x - (x.sum(axis=1) / count)[:, None], 0.0)
        dy = np.where(window, y - (y.sum(axis=1) / count)[:, None], 0.0)
        sxx = (dx**2).sum(axis=1)
        out["balance_trend_6m"] = np.where(sxx > 0, (dx * dy).sum(axis=1) / sxx, np.nan)
    out["no_balance_history"] = ~present.any(axis=1)
    out["days_overdrawn_3m"] = sums.sum("overdrawn", back, 13)[:, 1:4].sum(axis=1)
    out["missed_payments_3m"] = sums.sum("missed", back, 13)[:, 1:4].sum(axis=1)
    return pd.DataFrame(out, index=index)


def _transactions(reader: _Reader, b: _Bounds, rates: dict[str, float], index: pd.Index) -> pd.DataFrame:
    """One aggregate query by customer, category, channel and currency, with
    conditional sums per window; everything else is sums of its rows per customer."""
    where, params = reader.customer_filter("customer_id")
    d30, d90, d120 = b.days_back(30), b.days_back(90), b.days_back(120)
    m3, m6 = b.months_back(3), b.months_back(6)
    start = min(b.days_back(RECENCY_LOOKBACK_DAYS), m6, d120)
    p = reader.dt
    since = "booked_at >= %s"
    # Money in whole cents of the transaction's currency. FILTER rather than CASE, and
    # conditions on the stored amount: the conversion to cents (the costly part, once
    # per reference) runs only for the rows a sum takes.
    sums = [
        ("n30", "COUNT(*)", since, [p(d30)]),
        ("n90", "COUNT(*)", since, [p(d90)]),
        ("abs30", "SUM(ABS(cents))", since, [p(d30)]),
        ("abs90", "SUM(ABS(cents))", since, [p(d90)]),
        ("debit30", "SUM(-cents)", f"{since} AND amount < 0", [p(d30)]),
        ("debit90", "SUM(-cents)", f"{since} AND amount < 0", [p(d90)]),
        ("debit_prior", "SUM(-cents)", "booked_at >= %s AND booked_at < %s AND amount < 0", [p(d120), p(d30)]),
        ("credit_m3", "SUM(cents)", f"{since} AND amount > 0", [p(m3)]),
        ("credit_prev", "SUM(cents)", "booked_at >= %s AND booked_at < %s AND amount > 0", [p(m6), p(m3)]),
    ]
    selects, sum_params = [], []
    for name, aggregate, condition, cond_params in sums:
        selects.append(f"COALESCE({aggregate} FILTER (WHERE {condition}), 0) AS {name}")
        sum_params += cond_params
    names = [s[0] for s in sums]
    rows = reader.frame(
        f"SELECT customer_id, category, channel, currency, {', '.join(selects)}, {reader.instant('MAX(booked_at)')} "
        f"FROM (SELECT customer_id, category, channel, currency, booked_at, amount, {_cents('amount')} AS cents "
        f"FROM customers_transaction WHERE booked_at >= %s AND booked_at < %s AND received_at < %s{where}) txn "
        "GROUP BY customer_id, category, channel, currency",
        [*sum_params, p(start), p(b.at), p(b.known), *params],
        {"customer_id": "int", "category": "code", "channel": "code", "currency": "code"}
        | {n: "int" if n.startswith("n") else "float" for n in names}
        | {"last": "instant"},
    )
    table = _Sums(rows, index, rates)
    total = {n: table.sum(n, money=not n.startswith("n"))[:, 0] for n in names}
    out: dict[str, Any] = {}
    for days in DAY_WINDOWS:
        out[f"txn_count_{days}d"] = total[f"n{days}"]
        out[f"spend_{days}d"] = total[f"debit{days}"]
    groups = list(CATEGORY_GROUPS)
    group = table.codes(
        "category", {c: groups.index(g) for c, g in GROUP_OF_CATEGORY.items()}, default=groups.index("cash_fees_other")
    )
    for codes, keys in ((group, groups), (table.codes("channel", CHANNELS), list(CHANNELS))):
        for days in DAY_WINDOWS:
            counts = table.sum(f"n{days}", codes, len(keys))
            amounts = table.sum(f"abs{days}", codes, len(keys), money=True)
            for i, k in enumerate(keys):
                out[f"txn_count_{k}_{days}d"] = counts[:, i]
                out[f"txn_amount_{k}_{days}d"] = amounts[:, i]
    debit90 = table.sum("debit90", table.codes("category", SPEND_CATEGORIES), len(SPEND_CATEGORIES), money=True)
    total_spend = np.where(total["debit90"] > 0, total["debit90"], np.nan)
    for i, category in enumerate(SPEND_CATEGORIES):
        out[f"spend_share_{category}_90d"] = debit90[:, i] / total_spend
    out["no_spend_90d"] = np.isnan(total_spend)

    def of(category: str, column: str) -> np.ndarray:
        return table.sum(column, table.codes("category", [category]), money=True)[:, 0]

    travel30 = of("travel", "debit30")
    travel_prior = of("travel", "debit_prior")
    out["travel_spend_30d"] = travel30
    out["travel_spend_spike"] = np.log1p(travel30) - np.log1p(travel_prior / 3)
    out["spend_spike"] = np.log1p(total["debit30"]) - np.log1p(total["debit_prior"] / 3)
    latest = table.max("last")
    out["days_since_last_transaction"] = (b.at.timestamp() - latest) / 86_400
    out["no_recent_transaction"] = np.isnan(latest)
    salary = of("salary", "credit_m3") / 3
    salary_prev = of("salary", "credit_prev") / 3
    out["salary_monthly_3m"] = salary
    out["salary_monthly_prev_3m"] = salary_prev
    out["salary_change_3m"] = salary - salary_prev
    out["salary_detected"] = salary > 0
    return pd.DataFrame(out, index=index)


def _products(reader: _Reader, b: _Bounds) -> pd.DataFrame:
    return reader.frame(
        "SELECT id, code FROM customers_product WHERE received_at < %s", [reader.dt(b.known)], ["id", "code"]
    )


def _interactions(reader: _Reader, b: _Bounds, index: pd.Index) -> pd.DataFrame:
    where, params = reader.customer_filter("customer_id")
    p = reader.dt
    d7, d30, d90 = b.days_back(7), b.days_back(30), b.days_back(90)
    counts = ", ".join(f"SUM(CASE WHEN occurred_at >= %s THEN 1 ELSE 0 END) AS n{d}" for d in (7, 30, 90))
    rows = reader.frame(
        f"SELECT customer_id, event_type, channel, product_id, {counts}, {reader.instant('MAX(occurred_at)')} "
        "FROM customers_interaction WHERE occurred_at >= %s AND occurred_at < %s AND received_at < %s"
        f"{where} GROUP BY customer_id, event_type, channel, product_id",
        [p(d7), p(d30), p(d90), p(b.days_back(RECENCY_LOOKBACK_DAYS)), p(b.at), p(b.known), *params],
        {
            "customer_id": "int",
            "event_type": "code",
            "channel": "code",
            "product_id": "int",
            "n7": "int",
            "n30": "int",
            "n90": "int",
            "last": "instant",
        },
    )
    table = _Sums(rows, index)
    events = ("login", "complaint", "service_call", "calculator_use", "application_started", "product_page_view")
    event = table.codes("event_type", events)

    def count(mask: np.ndarray, column: str) -> np.ndarray:
        return table.sum(column, np.where(mask, 0, -1))[:, 0]

    login = event == events.index("login")
    latest = table.max("last", where=login)
    out: dict[str, Any] = {}
    out["days_since_last_login"] = (b.at.timestamp() - latest) / 86_400
    out["no_recent_login"] = np.isnan(latest)
    out["logins_30d"] = count(login, "n30")
    out["logins_90d"] = count(login, "n90")
    out["digital_events_30d"] = count(table.codes("channel", ["web", "app"]) >= 0, "n30")
    out["complaints_90d"] = count(event == events.index("complaint"), "n90")
    out["service_calls_90d"] = count(event == events.index("service_call"), "n90")
    out["calculator_uses_30d"] = count(event == events.index("calculator_use"), "n30")
    out["applications_started_30d"] = count(event == events.index("application_started"), "n30")
    views = event == events.index("product_page_view")
    products = _products(reader, b)
    keys = [feature_key(str(code)) for code in products["code"]]
    if len(set(keys)) != len(keys):
        raise ValueError(f"product codes collide as feature keys: {sorted(products['code'])}")
    columns = sorted(keys)
    column_of = {int(pk): columns.index(key) for pk, key in zip(products["id"], keys, strict=True)}
    product = np.where(views, table.codes("product_id", column_of), -1)
    for days in (7, 30):
        out[f"product_page_views_{days}d"] = count(views, f"n{days}")
        per_product = table.sum(f"n{days}", product, len(columns))
        for i, key in enumerate(columns):
            out[f"views_{days}d_{key}"] = per_product[:, i]
    return pd.DataFrame(out, index=index)


def _satisfaction(reader: _Reader, b: _Bounds, index: pd.Index) -> pd.DataFrame:
    where, params = reader.customer_filter("customer_id")
    sql = _latest_sql(
        "customers_interaction",
        "customer_id, satisfaction",
        "customer_id",
        "occurred_at DESC, id DESC",
        f"satisfaction IS NOT NULL AND occurred_at >= %s AND occurred_at < %s AND received_at < %s{where}",
    )
    p = reader.dt
    rows = reader.frame(
        sql,
        [p(b.days_back(SATISFACTION_LOOKBACK_DAYS)), p(b.at), p(b.known), *params],
        {"customer_id": "int", "value": "float"},
    )
    latest = rows.set_index("customer_id")["value"].astype("float64")
    out: dict[str, Any] = {}
    out["latest_satisfaction"] = latest
    out["no_satisfaction"] = ~index.isin(latest.index)
    return pd.DataFrame(out, index=index)


def _holdings(reader: _Reader, b: _Bounds, index: pd.Index) -> pd.DataFrame:
    where, params = reader.customer_filter("h.customer_id")
    rows = reader.frame(
        "SELECT h.customer_id, p.family, COUNT(DISTINCT p.id) FROM customers_accountholder h "
        "JOIN customers_account a ON a.id = h.account_id JOIN customers_product p ON p.id = a.product_id "
        "WHERE a.opened_on < %s AND (a.closed_on IS NULL OR a.closed_on >= %s) AND a.received_at < %s"
        f"{where} GROUP BY h.customer_id, p.family",
        [reader.date(b.cutoff), reader.date(b.cutoff), reader.dt(b.known), *params],
        {"customer_id": "int", "family": "text", "products": "int"},
    )
    rows["products"] = rows["products"].astype("float64")
    table = rows.pivot_table(index="customer_id", columns="family", values="products", aggfunc="sum", fill_value=0)
    table = table.reindex(index=index, columns=list(PRODUCT_FAMILIES), fill_value=0.0).fillna(0.0)
    out: dict[str, Any] = {}
    for family in PRODUCT_FAMILIES:
        out[f"holds_{family}"] = table[family] > 0
    out["products_held"] = table.sum(axis=1)
    return pd.DataFrame(out, index=index)


def _credit_scores(reader: _Reader, b: _Bounds, index: pd.Index) -> pd.DataFrame:
    where, params = reader.customer_filter("customer_id")
    out: dict[str, Any] = {}
    latest = {}
    for name, before in (("now", b.cutoff), ("then", b.cutoff - dt.timedelta(days=CREDIT_SCORE_CHANGE_DAYS))):
        sql = _latest_sql(
            "customers_creditscore",
            "customer_id, score",
            "customer_id",
            "scored_on DESC, id DESC",
            f"scored_on < %s AND received_at < %s{where}",
        )
        rows = reader.frame(
            sql, [reader.date(before), reader.dt(b.known), *params], {"customer_id": "int", "score": "float"}
        )
        latest[name] = rows.set_index("customer_id")["score"].astype("float64").reindex(index)
    out["credit_score"] = latest["now"]
    out["no_credit_score"] = latest["now"].isna()
    out["credit_score_change_6m"] = latest["now"] - latest["then"]
    return pd.DataFrame(out, index=index)


def _market(reader: _Reader, b: _Bounds, index: pd.Index) -> pd.DataFrame:
    sql = _latest_sql("customers_marketindicator", "name, value", "name", "date DESC", "date < %s AND received_at < %s")
    rows = reader.frame(sql, [reader.date(b.cutoff), reader.dt(b.known)], ["name", "value"])
    out: dict[str, Any] = {}
    for name, value in sorted(zip(rows["name"], rows["value"], strict=True)):
        column = f"market_{feature_key(str(name))}"
        if column in out:
            raise ValueError(f"market indicator names collide as feature keys: {column}")
        out[column] = float(value)
    return pd.DataFrame(out, index=index)


# --- Contact history, phone and calendar -----------------------------------------------------------------------------


def _market_change(reader: _Reader, b: _Bounds, index: pd.Index) -> pd.DataFrame:
    """Each indicator's latest value before the cut-off minus its latest value dated more than
    ``MARKET_CHANGE_DAYS`` before it, in one query."""
    latest = _latest_sql(
        "customers_marketindicator", "name, value", "name", "date DESC", "date < %s AND received_at < %s"
    )
    rows = reader.frame(
        f"SELECT 'now' AS side, name, value FROM ({latest}) now_values UNION ALL "
        f"SELECT 'then' AS side, name, value FROM ({latest}) then_values",
        [
            reader.date(b.cutoff),
            reader.dt(b.known),
            reader.date(b.cutoff - dt.timedelta(days=MARKET_CHANGE_DAYS)),
            reader.dt(b.known),
        ],
        {"side": "text", "name": "text", "value": "float"},
    )
    values = {(str(side), str(name)): float(value) for side, name, value in rows.itertuples(index=False)}
    out: dict[str, Any] = {}
    for side, name in sorted(values):
        if side != "now":
            continue
        key = feature_key(name)
        if key.startswith(f"change_{MARKET_CHANGE_DAYS}d_"):
            raise ValueError(f"market indicator {name!r} reads as a change feature: rename it")
        then = values.get(("then", name))
        out[f"market_change_{MARKET_CHANGE_DAYS}d_{key}"] = np.nan if then is None else values[(side, name)] - then
    return pd.DataFrame(out, index=index)


def _contact_history(reader: _Reader, b: _Bounds, index: pd.Index) -> pd.DataFrame:
    """Offers made to each customer in the last ``OFFER_LOOKBACK_DAYS`` and their answers as
    known at the cut-off. One aggregate query by customer, product, campaign and answer."""
    where, params = reader.customer_filter("customer_id")
    p = reader.dt
    answered = "responded_at IS NOT NULL AND responded_at < %s"
    sql = (
        "SELECT customer_id, product_id, campaign_code, response, "
        "SUM(CASE WHEN offered_at >= %s THEN 1 ELSE 0 END), SUM(CASE WHEN offered_at >= %s THEN 1 ELSE 0 END), "
        f"COUNT(*), {reader.instant('MAX(offered_at)')}, {reader.instant('MAX(answered_at)')} "
        "FROM (SELECT customer_id, product_id, campaign_code, offered_at, "
        f"CASE WHEN {answered} AND outcome = 'accepted' THEN 'accepted' "
        f"WHEN {answered} AND outcome IN ('rejected', 'dismissed') THEN 'rejected' ELSE 'no_response' END "
        "AS response, "
        f"CASE WHEN {answered} AND outcome IN ('accepted', 'rejected', 'dismissed') THEN responded_at END "
        "AS answered_at FROM customers_contacthistory WHERE offered_at >= %s AND offered_at < %s "
        f"AND received_at < %s{where}) offers GROUP BY customer_id, product_id, campaign_code, response"
    )
    windows = [p(b.days_back(days)) for days in OFFER_WINDOWS[:2]]
    rows = reader.frame(
        sql,
        [*windows, p(b.at), p(b.at), p(b.at), p(b.days_back(OFFER_LOOKBACK_DAYS)), p(b.at), p(b.known), *params],
        {
            "customer_id": "int",
            "product_id": "int",
            "campaign_code": "text",
            "response": "text",
            "n30": "int",
            "n90": "int",
            "n365": "int",
            "last": "instant",
            "answered": "instant",
        },
    )
    rows = rows[rows["customer_id"].isin(index)]
    at = b.at.timestamp()
    by = rows.groupby("customer_id")
    response = rows["response"]
    out: dict[str, Any] = {}
    for days in OFFER_WINDOWS:
        out[f"offers_{days}d"] = by[f"n{days}"].sum()
    out["offers_accepted_365d"] = rows[response == "accepted"].groupby("customer_id")["n365"].sum()
    out["offers_rejected_365d"] = rows[response == "rejected"].groupby("customer_id")["n365"].sum()
    last = by["last"].max()
    out["days_since_last_offer"] = (at - last) / 86_400
    out["no_offer_365d"] = ~index.isin(last.index)
    out["days_since_last_response"] = (at - by["answered"].max()) / 86_400
    # The latest offer's group; offers made at the same instant read accepted first, then rejected.
    rank = response.map({"accepted": 2, "rejected": 1}).fillna(0)
    ordered = rows.assign(rank=rank).sort_values(["customer_id", "last", "rank", "campaign_code"], kind="stable")
    latest = ordered.groupby("customer_id").tail(1).set_index("customer_id")
    out["last_offer_response"] = latest["response"].reindex(index).fillna("none")
    out["campaigns_365d"] = by["campaign_code"].nunique()
    pairs = pd.MultiIndex.from_arrays([rows["customer_id"], rows["campaign_code"]])
    in_latest = pairs.isin(pd.MultiIndex.from_arrays([latest.index, latest["campaign_code"]]))
    out["offers_latest_campaign"] = rows[in_latest].groupby("customer_id")["n365"].sum()
    out["offers_earlier_campaigns_365d"] = rows[~in_latest].groupby("customer_id")["n365"].sum()
    products = _products(reader, b)
    keys = sorted(feature_key(str(code)) for code in products["code"])
    key_of = {int(i): feature_key(str(c)) for i, c in zip(products["id"], products["code"], strict=True)}
    rows = rows.assign(key=rows["product_id"].map(key_of))
    for name, mask in (
        ("offers_365d", np.ones(len(rows), dtype=bool)),
        ("accepted_365d", (response == "accepted").to_numpy()),
        ("rejected_365d", (response == "rejected").to_numpy()),
    ):
        chosen = rows[mask]
        table = pd.DataFrame(0.0, index=index, columns=keys)
        if len(chosen):
            sums = chosen.groupby(["customer_id", "key"])["n365"].sum().unstack(fill_value=0)
            table = sums.reindex(index=index, columns=keys).fillna(0.0)
        for key in keys:
            out[f"{name}_{key}"] = table[key]
    return pd.DataFrame(out, index=index)


def _phone(reader: _Reader, b: _Bounds, index: pd.Index) -> pd.DataFrame:
    """The kind of phone number on file; contact details keep no history, so the current one."""
    where, params = reader.customer_filter("customer_id")
    rows = reader.frame(
        "SELECT customer_id, phone FROM customers_contactdetails "
        f"WHERE received_at < %s AND erased_at IS NULL AND phone <> ''{where}",
        [reader.dt(b.known), *params],
        {"customer_id": "int", "phone": "text"},
    )
    number = rows["phone"].astype(str).str.replace(r"[\s().\-/]", "", regex=True).str.replace(r"^00", "+", regex=True)
    kind = np.where(number.str.startswith(MOBILE_PREFIXES), "mobile", "other")
    phone = pd.Series(kind, index=rows["customer_id"].to_numpy(dtype="int64"), dtype=object)
    phone = phone[~phone.index.duplicated()]
    return pd.DataFrame({"phone_type": phone.reindex(index).fillna("none")}, index=index)


def _calendar(b: _Bounds, index: pd.Index) -> pd.DataFrame:
    return pd.DataFrame({"calendar_month": float(b.cutoff.month)}, index=index)
