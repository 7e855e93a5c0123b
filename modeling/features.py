"""Point-in-time features: what Crossell knew about each customer at a cut-off.

One function, ``compute_features``, serves training, batch scoring and real-time
scoring, so the three cannot disagree. It reads with a fixed number of SQL
queries whatever the number of customers (aggregations run in the database,
portable between SQLite and PostgreSQL) and computes with pandas on whole
columns, never a loop per customer. The columns are declared in
``modeling.feature_catalogue``.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
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

    def frame(self, sql: str, params: list[Any], columns: list[str]) -> pd.DataFrame:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        return pd.DataFrame.from_records(rows, columns=columns)


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


def _to_base(frame: pd.DataFrame, rates: dict[str, float], columns: list[str]) -> None:
    rate = frame["currency"].map(rates).astype("float64")
    for column in columns:
        # A currency without a rate before the cut-off adds nothing to money features.
        frame[column] = (frame[column].astype("float64") * rate).fillna(0.0)


def _customers(reader: _Reader, b: _Bounds, rates: dict[str, float]) -> pd.DataFrame:
    where, params = reader.customer_filter("id")
    rows = reader.frame(
        "SELECT id, birth_date, customer_since, gender, marital_status, region, employment_type, risk_rating, "
        f"{_float('income')}, income_currency FROM customers_customer WHERE customer_since < %s{where}",
        [reader.date(b.cutoff), *params],
        [
            "id",
            "birth_date",
            "customer_since",
            "gender",
            "marital_status",
            "region",
            "employment_type",
            "risk_rating",
            "income",
            "income_currency",
        ],
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
    rows = reader.frame(sql, [*bound, *bound, *TRACKED, *params], ["customer_id", "attribute", "value", "in_force"])
    values: dict[str, pd.Series] = {}
    has: dict[str, pd.Series] = {}
    for attribute, group in rows.groupby("attribute"):
        group = group.set_index("customer_id")
        value = group["value"].where(group["in_force"].astype(int) == 1)
        value = value.where(value != "")
        values[str(attribute)] = value.reindex(index).astype(object)
        has[str(attribute)] = pd.Series(True, index=group.index).reindex(index, fill_value=False)
    return {"value": values, "has": has}


def _balances(reader: _Reader, b: _Bounds, rates: dict[str, float], index: pd.Index) -> pd.DataFrame:
    where, params = reader.customer_filter("customer_id")
    first = minus_months(b.month, 12)
    rows = reader.frame(
        f"SELECT customer_id, month, currency, {_float('SUM(average_balance)')}, SUM(days_overdrawn), "
        f"SUM(missed_payments) FROM customers_monthlybalance WHERE month >= %s AND month < %s AND received_at < %s"
        f"{where} GROUP BY customer_id, month, currency",
        [reader.date(first), reader.date(b.month), reader.dt(b.known), *params],
        ["customer_id", "month", "currency", "balance", "overdrawn", "missed"],
    )
    _to_base(rows, rates, ["balance"])
    month = _dates(rows["month"])
    # Months back from the cut-off's month: 1 is the last complete month.
    rows["back"] = (b.month.year - month.dt.year) * 12 + (b.month.month - month.dt.month)
    monthly = rows.groupby(["customer_id", "back"], sort=False)[["balance", "overdrawn", "missed"]].sum()
    monthly = monthly.reset_index()
    out: dict[str, Any] = {}
    for months in (3, 6, 12):
        window = monthly[monthly["back"] <= months]
        out[f"avg_balance_{months}m"] = window.groupby("customer_id")["balance"].mean()
    last6 = monthly[monthly["back"] <= 6].copy()
    last6["x"] = -last6["back"].astype("float64")
    grouped = last6.groupby("customer_id")
    x_mean, y_mean = grouped["x"].transform("mean"), grouped["balance"].transform("mean")
    last6["sxy"] = (last6["x"] - x_mean) * (last6["balance"] - y_mean)
    last6["sxx"] = (last6["x"] - x_mean) ** 2
    sums = last6.groupby("customer_id")[["sxy", "sxx"]].sum()
    out["balance_trend_6m"] = (sums["sxy"] / sums["sxx"].where(sums["sxx"] > 0)).reindex(index)
    out["no_balance_history"] = ~index.isin(monthly["customer_id"])
    last3 = monthly[monthly["back"] <= 3].groupby("customer_id")
    out["days_overdrawn_3m"] = last3["overdrawn"].sum()
    out["missed_payments_3m"] = last3["missed"].sum()
    return pd.DataFrame(out, index=index)


def _wide(rows: pd.DataFrame, key: str, column: str, keys: list[str], index: pd.Index) -> pd.DataFrame:
    """Sum of ``column`` per customer (rows of ``index``) and ``key`` (columns ``keys``), 0 where none."""
    if rows.empty:
        return pd.DataFrame(0.0, index=index, columns=keys)
    table = rows.groupby(["customer_id", key])[column].sum().unstack(fill_value=0.0)
    return table.reindex(index=index, columns=keys, fill_value=0.0).fillna(0.0)


def _transactions(reader: _Reader, b: _Bounds, rates: dict[str, float], index: pd.Index) -> pd.DataFrame:
    """One aggregate query by customer, category, channel and currency, with
    conditional sums per window; everything else is pandas on that."""
    where, params = reader.customer_filter("customer_id")
    d30, d90, d120 = b.days_back(30), b.days_back(90), b.days_back(120)
    m3, m6 = b.months_back(3), b.months_back(6)
    start = min(b.days_back(RECENCY_LOOKBACK_DAYS), m6, d120)
    p = reader.dt
    since = "booked_at >= %s"
    sums = [
        ("n30", "1", since, [p(d30)]),
        ("n90", "1", since, [p(d90)]),
        ("abs30", "ABS(amount)", since, [p(d30)]),
        ("abs90", "ABS(amount)", since, [p(d90)]),
        ("debit30", "-amount", f"{since} AND amount < 0", [p(d30)]),
        ("debit90", "-amount", f"{since} AND amount < 0", [p(d90)]),
        ("debit_prior", "-amount", "booked_at >= %s AND booked_at < %s AND amount < 0", [p(d120), p(d30)]),
        ("credit_m3", "amount", f"{since} AND amount > 0", [p(m3)]),
        ("credit_prev", "amount", "booked_at >= %s AND booked_at < %s AND amount > 0", [p(m6), p(m3)]),
    ]
    selects, sum_params = [], []
    for name, value, condition, cond_params in sums:
        selects.append(_float(f"SUM(CASE WHEN {condition} THEN {value} ELSE 0 END)") + f" AS {name}")
        sum_params += cond_params
    names = [s[0] for s in sums]
    rows = reader.frame(
        f"SELECT customer_id, category, channel, currency, {', '.join(selects)}, MAX(booked_at) "
        # Amounts as floats before aggregating: PostgreSQL sums numerics several times slower.
        f"FROM (SELECT customer_id, category, channel, currency, booked_at, {_float('amount')} AS amount "
        f"FROM customers_transaction WHERE booked_at >= %s AND booked_at < %s AND received_at < %s{where}) txn "
        "GROUP BY customer_id, category, channel, currency",
        [*sum_params, p(start), p(b.at), p(b.known), *params],
        ["customer_id", "category", "channel", "currency", *names, "last"],
    )
    _to_base(rows, rates, [n for n in names if not n.startswith("n")])
    for n in ("n30", "n90"):
        rows[n] = rows[n].astype("float64")
    rows["group"] = rows["category"].map(GROUP_OF_CATEGORY).fillna("cash_fees_other")
    out: dict[str, Any] = {}
    by_customer = rows.groupby("customer_id")
    totals = by_customer[names].sum()
    for days in DAY_WINDOWS:
        out[f"txn_count_{days}d"] = totals[f"n{days}"]
        out[f"spend_{days}d"] = totals[f"debit{days}"]
    for key, keys in (("group", list(CATEGORY_GROUPS)), ("channel", list(CHANNELS))):
        for days in DAY_WINDOWS:
            counts = _wide(rows, key, f"n{days}", keys, index)
            amounts = _wide(rows, key, f"abs{days}", keys, index)
            for k in keys:
                out[f"txn_count_{k}_{days}d"] = counts[k]
                out[f"txn_amount_{k}_{days}d"] = amounts[k]
    debit90 = _wide(rows, "category", "debit90", list(SPEND_CATEGORIES), index)
    total_spend = totals["debit90"].reindex(index).where(lambda v: v > 0)
    for category in SPEND_CATEGORIES:
        out[f"spend_share_{category}_90d"] = debit90[category] / total_spend
    out["no_spend_90d"] = total_spend.isna()

    def of(category: str, column: str) -> pd.Series:
        return _wide(rows, "category", column, [category], index)[category]

    travel30 = of("travel", "debit30")
    travel_prior = of("travel", "debit_prior")
    out["travel_spend_30d"] = travel30
    out["travel_spend_spike"] = np.log1p(travel30) - np.log1p(travel_prior / 3)
    spend30 = out["spend_30d"].reindex(index).fillna(0.0)
    spend_prior = totals["debit_prior"].reindex(index, fill_value=0.0)
    out["spend_spike"] = np.log1p(spend30) - np.log1p(spend_prior / 3)
    last = _timestamps(rows["last"]) if len(rows) else pd.Series(dtype="datetime64[ns, UTC]")
    latest = last.groupby(rows["customer_id"]).max()
    out["days_since_last_transaction"] = (pd.Timestamp(b.at) - latest).dt.total_seconds() / 86_400
    out["no_recent_transaction"] = ~index.isin(latest.index)
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
        f"SELECT customer_id, event_type, channel, product_id, {counts}, MAX(occurred_at) "
        "FROM customers_interaction WHERE occurred_at >= %s AND occurred_at < %s AND received_at < %s"
        f"{where} GROUP BY customer_id, event_type, channel, product_id",
        [p(d7), p(d30), p(d90), p(b.days_back(RECENCY_LOOKBACK_DAYS)), p(b.at), p(b.known), *params],
        ["customer_id", "event_type", "channel", "product_id", "n7", "n30", "n90", "last"],
    )
    for n in ("n7", "n30", "n90"):
        rows[n] = rows[n].astype("float64")
    out: dict[str, Any] = {}

    def count(mask: pd.Series, column: str) -> pd.Series:
        return rows[mask].groupby("customer_id")[column].sum().reindex(index, fill_value=0.0)

    event = rows["event_type"]
    logins = rows[event == "login"]
    last = _timestamps(logins["last"]) if len(logins) else pd.Series(dtype="datetime64[ns, UTC]")
    latest = last.groupby(logins["customer_id"]).max()
    out["days_since_last_login"] = (pd.Timestamp(b.at) - latest).dt.total_seconds() / 86_400
    out["no_recent_login"] = ~index.isin(latest.index)
    out["logins_30d"] = count(event == "login", "n30")
    out["logins_90d"] = count(event == "login", "n90")
    out["digital_events_30d"] = count(rows["channel"].isin(["web", "app"]), "n30")
    out["complaints_90d"] = count(event == "complaint", "n90")
    out["service_calls_90d"] = count(event == "service_call", "n90")
    out["calculator_uses_30d"] = count(event == "calculator_use", "n30")
    out["applications_started_30d"] = count(event == "application_started", "n30")
    views = rows[event == "product_page_view"]
    products = _products(reader, b)
    keys = [feature_key(str(code)) for code in products["code"]]
    if len(set(keys)) != len(keys):
        raise ValueError(f"product codes collide as feature keys: {sorted(products['code'])}")
    key_of = dict(zip(products["id"].astype("int64"), keys, strict=True))
    views = views[views["product_id"].notna()].copy()
    views["key"] = views["product_id"].astype("int64").map(key_of)
    for days in (7, 30):
        out[f"product_page_views_{days}d"] = count(event == "product_page_view", f"n{days}")
        table = _wide(views, "key", f"n{days}", sorted(keys), index)
        for key in sorted(keys):
            out[f"views_{days}d_{key}"] = table[key]
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
        sql, [p(b.days_back(SATISFACTION_LOOKBACK_DAYS)), p(b.at), p(b.known), *params], ["customer_id", "value"]
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
        ["customer_id", "family", "products"],
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
        rows = reader.frame(sql, [reader.date(before), reader.dt(b.known), *params], ["customer_id", "score"])
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
