"""Load public banking data sets through the import format (docs/public-datasets.md).

UCI Bank Marketing (Moro, Cortez & Rita, 2014; CC BY 4.0): each row of
``bank-additional-full.csv`` is one telephone contact of a term-deposit
campaign and its outcome. Each becomes a synthetic customer, its mortgage and
personal-loan holdings, its phone (mobile or landline, as ``contact`` says), its
contact history (the earlier calls of this campaign, ``campaign``; the contacts
of a previous campaign, ``previous``, ``pdays`` and ``poutcome``; then this call
with its outcome ``y``), and the economic indicators. Everything but ``y`` was
known to the bank before the call. The call's ``duration`` is known only after
the call and would leak the outcome into any model: it is read past and stored
nowhere.

The file has month and weekday but no year. Its rows run in date order from
May 2008 to November 2010, so the year is derived from the row order (see
``bank_marketing_contact_dates``).
"""

from __future__ import annotations

import csv
import datetime as dt
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from customers.importing.formats import FORMATS_BY_NAME

BANK_MARKETING = "bank-marketing"
DATASETS: tuple[str, ...] = (BANK_MARKETING,)

BANK_MARKETING_FIRST_YEAR = 2008
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
# The columns we read. ``duration`` is in the file but deliberately not here.
BANK_MARKETING_COLUMNS = (
    "age",
    "job",
    "marital",
    "default",
    "housing",
    "loan",
    "contact",
    "month",
    "day_of_week",
    "campaign",
    "pdays",
    "previous",
    "poutcome",
    "emp.var.rate",
    "cons.price.idx",
    "cons.conf.idx",
    "euribor3m",
    "nr.employed",
    "y",
)
# Monthly and quarterly indicators: one value per month, dated the 1st.
INDICATORS = {
    "emp.var.rate": "emp_var_rate",
    "cons.price.idx": "cons_price_idx",
    "cons.conf.idx": "cons_conf_idx",
    "nr.employed": "nr_employed",
}
# A daily indicator: one value per contact date, dated that day.
DAILY_INDICATORS = {"euribor3m": "euribor3m"}
EMPLOYMENT_OF_JOB = {
    "admin.": "employed",
    "blue-collar": "employed",
    "housemaid": "employed",
    "management": "employed",
    "services": "employed",
    "technician": "employed",
    "entrepreneur": "self_employed",
    "self-employed": "self_employed",
    "retired": "retired",
    "student": "student",
    "unemployed": "unemployed",
    "unknown": "unknown",
}
MARITAL = {"married": "married", "single": "single", "divorced": "divorced", "unknown": "unknown"}
YES_NO_UNKNOWN = ("yes", "no", "unknown")
RISK_OF_DEFAULT = {"yes": "high", "no": "low", "unknown": ""}
CONTACT_TYPES = ("cellular", "telephone")
# The phone on file, by the contact type of the calls. Fictional numbers from Ofcom's ranges
# reserved for drama (07700 900xxx mobile, 01632 960xxx landline): they look like a mobile and a
# landline to anything that reads numbers, and no real person can ever be reached on them.
PHONE_PREFIX = {"cellular": "+447700900", "telephone": "+441632960"}
POUTCOMES = {"nonexistent": None, "failure": "rejected", "success": "accepted"}
NOT_PREVIOUSLY_CONTACTED = 999  # pdays when the client was not contacted in a recent previous campaign
# When the file gives no pdays for an earlier campaign (999 with previous > 0), its last contact is
# dated this many days back: longer ago than any pdays in the file (27 at most).
UNKNOWN_PDAYS_DAYS = 182
PREVIOUS_CAMPAIGN = "UCIBM_PREVIOUS"
CURRENCY = "EUR"
# Product codes carry a prefix so loading the data set never rewrites a bank's own products.
TERM_DEPOSIT = "UCI_TERM_DEPOSIT"
MORTGAGE = "UCI_MORTGAGE"
PERSONAL_LOAN = "UCI_PERSONAL_LOAN"
PRODUCTS = (
    # code, name, family, value, is_credit
    (TERM_DEPOSIT, "Term deposit (UCI Bank Marketing)", "deposit", "100.00", "false"),
    (MORTGAGE, "Housing loan (UCI Bank Marketing)", "mortgage", "0.00", "true"),
    (PERSONAL_LOAN, "Personal loan (UCI Bank Marketing)", "loan", "0.00", "true"),
)
CUSTOMER_PREFIX = "UCIBM"
OFFER_HOUR = 12  # the data has no time of day; contacts are put at noon, bank time
# A previous campaign's contacts come before this campaign's calls of the same day.
PREVIOUS_HOUR = 10


class PublicDatasetError(ValueError):
    """The source file is not what the data set's documentation describes."""


@dataclass
class ConversionSummary:
    out_dir: Path
    rows: dict[str, int]
    first_contact: dt.date | None
    last_contact: dt.date | None

    @property
    def paths(self) -> list[Path]:
        return [self.out_dir / f"{name}.csv" for name in self.rows]


def _first_weekday(year: int, month: int, weekday: int) -> dt.date:
    """The first ``weekday`` (0 = Monday) of the month."""
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(weekday - first.weekday()) % 7)


def _in_week(anchor: dt.date, week: int, weekday: int) -> dt.date:
    """The ``weekday`` of the ``week``-th week after the one holding ``anchor``, kept in anchor's month."""
    day = anchor - dt.timedelta(days=anchor.weekday()) + dt.timedelta(days=7 * week + weekday)
    while day.month != anchor.month:
        day -= dt.timedelta(days=7)
    return day


def bank_marketing_contact_dates(
    months_and_weekdays: Iterable[tuple[str, str]], *, first_year: int = BANK_MARKETING_FIRST_YEAR
) -> list[dt.date]:
    """A date for each contact, from its month and weekday and the order of the rows.

    1. The first row is in ``first_year``; a new year starts whenever the month
       goes back (``dec`` then ``mar``), since the rows are in date order.
    2. A month's first row falls on the first such weekday of the month.
    3. Within the month, the weekdays go mon..fri and start again; each restart
       is the next calendar week.
    4. The date is that weekday in that week, moved back a week at a time while
       it falls after the month's end.
    """
    dates: list[dt.date] = []
    year = first_year
    previous_month = previous_weekday = -1
    week = 0
    anchor = dt.date(first_year, 1, 1)
    for line, (month_name, weekday_name) in enumerate(months_and_weekdays, start=2):
        try:
            month = MONTHS.index(month_name) + 1
        except ValueError:
            raise PublicDatasetError(f"line {line}, column month: {month_name!r} is not one of {MONTHS}") from None
        try:
            weekday = WEEKDAYS.index(weekday_name)
        except ValueError:
            raise PublicDatasetError(
                f"line {line}, column day_of_week: {weekday_name!r} is not one of {WEEKDAYS}"
            ) from None
        if previous_month != -1 and month < previous_month:
            year += 1
        if month != previous_month:
            week = 0
            anchor = _first_weekday(year, month, weekday)
        elif weekday < previous_weekday:
            week += 1
        dates.append(_in_week(anchor, week, weekday))
        previous_month, previous_weekday = month, weekday
    return dates


def _birth_date(contact: dt.date, age: int) -> dt.date:
    """Born ``age`` years and about half a year before the contact, so the age at the contact is ``age``."""
    year = contact.year - age
    anniversary = contact.replace(year=year) if not (contact.month == 2 and contact.day == 29) else dt.date(year, 2, 28)
    return anniversary - dt.timedelta(days=182)


def _read_bank_marketing(source: Path, limit: int | None) -> list[dict[str, str]]:
    try:
        handle = source.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise PublicDatasetError(f"{source}: cannot be read ({exc.strerror})") from exc
    with handle:
        reader = csv.reader(handle, delimiter=";")
        header = next(reader, None)
        if header is None:
            raise PublicDatasetError(f"{source}: the file is empty")
        missing = [c for c in BANK_MARKETING_COLUMNS if c not in header]
        if missing:
            raise PublicDatasetError(
                f"{source}, line 1: missing column(s) {', '.join(missing)}; expected the ';'-separated "
                "bank-additional-full.csv of UCI Bank Marketing"
            )
        index = {c: header.index(c) for c in BANK_MARKETING_COLUMNS}
        rows = []
        for line, values in enumerate(reader, start=2):
            if limit is not None and len(rows) >= limit:
                break
            if len(values) != len(header):
                raise PublicDatasetError(f"{source}, line {line}: {len(values)} fields, expected {len(header)}")
            rows.append({c: values[i] for c, i in index.items()} | {"_line": str(line)})
    if not rows:
        raise PublicDatasetError(f"{source}: no data rows")
    return rows


def _check(source: Path, row: dict[str, str], column: str, allowed: Iterable[str]) -> str:
    value = row[column]
    if value not in allowed:
        raise PublicDatasetError(f"{source}, line {row['_line']}, column {column}: unexpected value {value!r}")
    return value


def _number(source: Path, row: dict[str, str], column: str) -> float:
    try:
        return float(row[column])
    except ValueError:
        raise PublicDatasetError(
            f"{source}, line {row['_line']}, column {column}: {row[column]!r} is not a number"
        ) from None


def _write(out_dir: Path, entity: str, rows: Iterable[Sequence[str]]) -> int:
    """Write one import file, its header taken from the import format itself."""
    count = 0
    with (out_dir / f"{entity}.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(FORMATS_BY_NAME[entity].column_names)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def _integer(source: Path, row: dict[str, str], column: str, low: int, high: int) -> int:
    try:
        value = int(row[column])
    except ValueError:
        raise PublicDatasetError(
            f"{source}, line {row['_line']}, column {column}: {row[column]!r} is not a whole number"
        ) from None
    if not low <= value <= high:
        raise PublicDatasetError(f"{source}, line {row['_line']}, column {column}: {value} is out of range")
    return value


@dataclass(frozen=True)
class _Offer:
    offer_id: str
    campaign_code: str
    offered_at: dt.datetime
    outcome: str
    responded: bool


def _history(source: Path, row: dict[str, str], customer_id: str, contact: dt.date) -> list[_Offer]:
    """The contact history the bank had before this call, from ``campaign``, ``previous``,
    ``pdays`` and ``poutcome``, oldest first (see docs/public-datasets.md)."""
    campaign = _integer(source, row, "campaign", 1, 999)
    pdays = _integer(source, row, "pdays", 0, NOT_PREVIOUSLY_CONTACTED)
    previous = _integer(source, row, "previous", 0, 999)
    poutcome = POUTCOMES[_check(source, row, "poutcome", POUTCOMES)]
    if (previous == 0) != (poutcome is None) or (previous == 0 and pdays != NOT_PREVIOUSLY_CONTACTED):
        raise PublicDatasetError(
            f"{source}, line {row['_line']}: previous={previous}, pdays={pdays} and poutcome={row['poutcome']!r} "
            "disagree (no previous contact must be previous=0, pdays=999, poutcome=nonexistent)"
        )
    offers = []
    if previous:
        # The previous campaign: its last contact pdays before this call (a same-day one, pdays 0,
        # the day before, so that it precedes the call's cut-off), its earlier ones a day apart
        # before that, unanswered; the last one with the campaign's outcome.
        back = UNKNOWN_PDAYS_DAYS if pdays == NOT_PREVIOUSLY_CONTACTED else max(pdays, 1)
        last = contact - dt.timedelta(days=back)
        for k in range(previous, 0, -1):
            day = last - dt.timedelta(days=k - 1)
            outcome = poutcome if k == 1 else "no_response"
            at = dt.datetime.combine(day, dt.time(PREVIOUS_HOUR))
            offers.append(_Offer(f"{customer_id}P{k}", PREVIOUS_CAMPAIGN, at, outcome, k == 1))
    # This campaign's earlier calls, one a day on the days before this one, unanswered.
    code = f"UCIBM_{contact:%Y%m}"
    for k in range(campaign - 1, 0, -1):
        at = dt.datetime.combine(contact - dt.timedelta(days=k), dt.time(OFFER_HOUR))
        offers.append(_Offer(f"{customer_id}A{k}", code, at, "no_response", False))
    return offers


def bank_marketing_convert(*, source: Path, out_dir: Path, limit: int | None = None) -> ConversionSummary:
    """Write UCI Bank Marketing rows as import-format CSVs (products, customers, contacts,
    accounts, market_data, campaign_history) into ``out_dir``; ``limit`` keeps the first rows only.

    Every value is checked first, so a bad file writes nothing.
    """
    rows = _read_bank_marketing(source, limit)
    dates = bank_marketing_contact_dates((r["month"], r["day_of_week"]) for r in rows)
    width = max(6, len(str(len(rows))))
    customers, contacts, accounts, offers = [], [], [], []
    indicators: dict[dt.date, dict[str, str]] = {}
    daily: dict[dt.date, dict[str, str]] = {}
    for number, (row, contact) in enumerate(zip(rows, dates, strict=True), start=1):
        age = _integer(source, row, "age", 16, 110)
        job = _check(source, row, "job", EMPLOYMENT_OF_JOB)
        marital = _check(source, row, "marital", MARITAL)
        default = _check(source, row, "default", YES_NO_UNKNOWN)
        housing = _check(source, row, "housing", YES_NO_UNKNOWN)
        loan = _check(source, row, "loan", YES_NO_UNKNOWN)
        contact_type = _check(source, row, "contact", CONTACT_TYPES)
        outcome = "accepted" if _check(source, row, "y", ("yes", "no")) == "yes" else "rejected"
        for column in (*INDICATORS, *DAILY_INDICATORS):
            _number(source, row, column)
        # The month's value is the one on its first contact, dated the 1st: every contact of the
        # month sees it, as every row of the source does. A daily rate is dated its contact day.
        indicators.setdefault(contact.replace(day=1), {k: row[c] for c, k in INDICATORS.items()})
        daily.setdefault(contact, {k: row[c] for c, k in DAILY_INDICATORS.items()})
        customer_id = f"{CUSTOMER_PREFIX}{number:0{width}d}"
        history = _history(source, row, customer_id, contact)
        # A client since before the first contact the bank had with them: the first of the month
        # before that contact's day, so every fact about them is dated after it.
        first = min([contact, *(o.offered_at.date() for o in history)])
        since = (first - dt.timedelta(days=1)).replace(day=1).isoformat()
        customers.append(
            (
                customer_id,
                _birth_date(contact, age).isoformat(),
                "U",
                MARITAL[marital],
                "",
                EMPLOYMENT_OF_JOB[job],
                "",
                "",
                since,
                "verified",
                "",
                "clear",
                RISK_OF_DEFAULT[default],
                "false",
                "false",
                since,
            )
        )
        contacts.append((customer_id, "", "", "", f"{PHONE_PREFIX[contact_type]}{number % 1000:03d}", "", ""))
        for held, product, suffix in ((housing, MORTGAGE, "M"), (loan, PERSONAL_LOAN, "L")):
            if held == "yes":
                accounts.append((f"{customer_id}{suffix}", customer_id, product, since, "", "open", CURRENCY, ""))
        offered = dt.datetime.combine(contact, dt.time(OFFER_HOUR))
        history.append(_Offer(f"{customer_id}O", f"UCIBM_{contact:%Y%m}", offered, outcome, True))
        for offer in history:
            at = offer.offered_at.isoformat()
            offers.append(
                (
                    offer.offer_id,
                    customer_id,
                    offer.campaign_code,
                    TERM_DEPOSIT,
                    "call_centre",
                    at,
                    offer.outcome,
                    at if offer.responded else "",
                    "",
                )
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {
        "products": _write(
            out_dir,
            "products",
            (
                (code, name, family, "1", "", value, CURRENCY, credit, "18", "")
                for code, name, family, value, credit in PRODUCTS
            ),
        ),
        "customers": _write(out_dir, "customers", customers),
        "contacts": _write(out_dir, "contacts", contacts),
        "accounts": _write(out_dir, "accounts", accounts),
        "market_data": _write(
            out_dir,
            "market_data",
            (
                (day.isoformat(), "indicator", name, value)
                for values_by_day in (indicators, daily)
                for day, values in sorted(values_by_day.items())
                for name, value in values.items()
            ),
        ),
        "campaign_history": _write(out_dir, "campaign_history", offers),
    }
    return ConversionSummary(out_dir=out_dir, rows=counts, first_contact=dates[0], last_contact=dates[-1])


def public_dataset_import(
    *,
    name: str,
    source: Path,
    limit: int | None = None,
    now: dt.datetime | None = None,
    progress: Callable[..., Any] | None = None,
) -> tuple[ConversionSummary, Any]:
    """Convert a public data set to import files in a temporary folder and load them with the
    bulk importer (all or nothing); return the conversion summary and the importer's report."""
    from customers.importing.services import import_files

    if name != BANK_MARKETING:
        raise PublicDatasetError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    with tempfile.TemporaryDirectory(prefix="crossell-public-") as folder:
        summary = bank_marketing_convert(source=source, out_dir=Path(folder), limit=limit)
        report = import_files(paths=summary.paths, dry_run=False, progress=progress, now=now)
    return summary, report
