"""UCI Bank Marketing through the import format: dates from row order, the mapping, no duration anywhere."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from hypothesis import given
from hypothesis import strategies as st

from customers.models import Account, ContactDetails, ContactHistory, Customer, MarketIndicator, Product
from customers.public_datasets import (
    MORTGAGE,
    PERSONAL_LOAN,
    TERM_DEPOSIT,
    PublicDatasetError,
    bank_marketing_contact_dates,
    bank_marketing_convert,
    public_dataset_import,
)
from tests.customers.demo.conformance import check_folder

SHIPPED = Path(settings.BASE_DIR) / "data" / "public" / "bank-marketing"
FULL = SHIPPED / "bank-additional-full.csv"
FULL_SHA256 = "74adfc578bf77a7ff4bb1ba4a9f8709d9e3c6907342959c2c8416847e0afb4d8"
NOW = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def _head(tmp_path: Path, rows: int, edit=None) -> Path:  # noqa: ANN001 - optional row editor
    """The header and first ``rows`` rows of the full file (in date order, unlike bank-additional.csv)."""
    path = tmp_path / "bank-head.csv"
    with FULL.open(newline="") as source, path.open("w", newline="") as target:
        reader = csv.reader(source, delimiter=";")
        writer = csv.writer(target, delimiter=";", quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        header = next(reader)
        writer.writerow(header)
        for i, row in enumerate(reader):
            if i >= rows:
                break
            writer.writerow(edit(header, row) if edit else row)
    return path


def _contacts(tables: dict[str, list[dict[str, str]]]) -> dict[str, dict[str, str]]:
    """Each customer's call: its offer with id ``<customer>O``."""
    return {o["customer_id"]: o for o in tables["campaign_history"] if o["offer_id"] == f"{o['customer_id']}O"}


def _setting(**values: str):  # noqa: ANN202 - a row editor for _head
    """A row editor giving the first row the ``values`` (by column name)."""

    def edit(header: list[str], row: list[str]) -> list[str]:
        if edit.done:  # type: ignore[attr-defined]
            return row
        edit.done = True  # type: ignore[attr-defined]
        row = list(row)
        for column, value in values.items():
            row[header.index(column)] = value
        return row

    edit.done = False  # type: ignore[attr-defined]
    return edit


def _history_of(tmp_path: Path, **values: str) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The first row, edited, converted: its offers oldest first, and its customer row."""
    bank_marketing_convert(source=_head(tmp_path, 1, _setting(**values)), out_dir=tmp_path / "out")
    tables = check_folder(tmp_path / "out")
    offers = sorted(tables["campaign_history"], key=lambda o: (o["offered_at"], o["offer_id"]))
    return offers, tables["customers"][0]


@pytest.fixture(scope="module")
def full_rows() -> list[list[str]]:
    with FULL.open(newline="") as handle:
        return list(csv.reader(handle, delimiter=";"))


def test_the_shipped_file_is_the_published_one():
    assert hashlib.sha256(FULL.read_bytes()).hexdigest() == FULL_SHA256
    readme = (SHIPPED / "README.md").read_text()
    assert FULL_SHA256 in readme
    assert "CC BY 4.0" in readme
    assert "Moro, Cortez & Rita" in readme or "Moro, P. Cortez and P. Rita" in readme


def test_contact_dates_run_from_may_2008_to_november_2010_in_row_order(full_rows):
    header, rows = full_rows[0], full_rows[1:]
    month, weekday = header.index("month"), header.index("day_of_week")
    dates = bank_marketing_contact_dates((r[month], r[weekday]) for r in rows)
    assert len(dates) == 41_188
    assert (dates[0].year, dates[0].month) == (2008, 5)
    assert (dates[-1].year, dates[-1].month) == (2010, 11)
    assert all(a <= b for a, b in zip(dates, dates[1:], strict=False)), "dates never go back"
    names = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    for row, day in zip(rows, dates, strict=True):
        assert names[day.month - 1] == row[month]
        assert ("mon", "tue", "wed", "thu", "fri")[day.weekday()] == row[weekday]
    assert sorted({d.year for d in dates}) == [2008, 2009, 2010]


def test_a_new_year_starts_when_the_month_goes_back_and_weeks_follow_the_weekday_restarts():
    dates = bank_marketing_contact_dates(
        [("nov", "thu"), ("nov", "fri"), ("nov", "mon"), ("dec", "wed"), ("mar", "mon"), ("mar", "mon")],
        first_year=2008,
    )
    assert dates == [
        dt.date(2008, 11, 6),  # the first Thursday of November 2008
        dt.date(2008, 11, 7),
        dt.date(2008, 11, 10),  # the weekdays restarted: next week
        dt.date(2008, 12, 3),
        dt.date(2009, 3, 2),  # March after December: a new year
        dt.date(2009, 3, 2),
    ]


def test_a_week_past_the_month_end_is_moved_back_into_the_month():
    # Eight restarts in February 2009 cannot all fit: the date stays in February.
    rows = [("feb", day) for _ in range(8) for day in ("mon", "fri")]
    dates = bank_marketing_contact_dates(rows, first_year=2009)
    assert all(d.month == 2 and d.year == 2009 for d in dates)
    assert dates[-1] == dt.date(2009, 2, 27)


def test_an_unknown_month_names_its_line_and_column():
    with pytest.raises(PublicDatasetError, match=r"line 3, column month: 'mai'"):
        bank_marketing_contact_dates([("may", "mon"), ("mai", "mon")])


def test_the_first_two_thousand_rows_convert_to_conforming_import_files(tmp_path):
    summary = bank_marketing_convert(source=_head(tmp_path, 2_000), out_dir=tmp_path / "out")
    tables = check_folder(tmp_path / "out")
    assert summary.rows == {name: len(rows) for name, rows in tables.items()}
    assert len(tables["customers"]) == len(tables["contacts"]) == len(_contacts(tables)) == 2_000
    # Row 1: 56, housemaid, married, no housing or personal loan, telephone, May, Monday, y=no.
    first = tables["customers"][0]
    assert first["employment_type"] == "employed"
    assert first["marital_status"] == "married"
    assert first["birth_date"] == "1951-11-05"  # 56 on the contact date 2008-05-05
    assert first["customer_since"] == first["effective_date"] == "2008-05-01"
    offer = _contacts(tables)[first["customer_id"]]
    assert (offer["product_code"], offer["channel"], offer["outcome"]) == (TERM_DEPOSIT, "call_centre", "rejected")
    assert offer["offered_at"].startswith("2008-05-05T")
    assert tables["contacts"][0]["phone"] == "+441632960001"  # telephone: a landline
    products = {row["product_code"]: row["family"] for row in tables["products"]}
    assert products == {TERM_DEPOSIT: "deposit", MORTGAGE: "mortgage", PERSONAL_LOAN: "loan"}
    indicators = {row["name"] for row in tables["market_data"]}
    assert indicators == {"emp_var_rate", "cons_price_idx", "cons_conf_idx", "euribor3m", "nr_employed"}


def test_housing_and_personal_loans_become_accounts_and_y_becomes_the_outcome(tmp_path):
    source = _head(tmp_path, 2_000)
    with source.open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    bank_marketing_convert(source=source, out_dir=tmp_path / "out")
    tables = check_folder(tmp_path / "out")
    held = {(row["customer_id"], row["product_code"]) for row in tables["accounts"]}
    contacts = _contacts(tables)
    for row, customer in zip(rows, tables["customers"], strict=True):
        cid = customer["customer_id"]
        assert ((cid, MORTGAGE) in held) == (row["housing"] == "yes")
        assert ((cid, PERSONAL_LOAN) in held) == (row["loan"] == "yes")
        assert contacts[cid]["outcome"] == ("accepted" if row["y"] == "yes" else "rejected")


def test_duration_is_never_written_anywhere(tmp_path):
    # Given the same rows with every call's duration changed
    plain = bank_marketing_convert(source=_head(tmp_path, 500), out_dir=tmp_path / "plain")

    def scramble(header: list[str], row: list[str]) -> list[str]:
        row = list(row)
        row[header.index("duration")] = str(int(row[header.index("duration")]) * 7 + 3)
        return row

    other = tmp_path / "other"
    other.mkdir()
    changed = bank_marketing_convert(source=_head(other, 500, scramble), out_dir=other / "out")

    # Then the converted files are byte for byte the same, and none has a duration column
    for a, b in zip(plain.paths, changed.paths, strict=True):
        assert a.read_bytes() == b.read_bytes()
        assert "duration" not in a.read_text().splitlines()[0]


def test_a_file_without_the_expected_columns_is_refused_with_its_name(tmp_path):
    path = tmp_path / "bank.csv"
    path.write_text('"age";"job"\n30;"admin."\n')
    with pytest.raises(PublicDatasetError, match=r"line 1: missing column\(s\) marital"):
        bank_marketing_convert(source=path, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_unexpected_value_names_line_and_column(tmp_path):
    def bad_housing(header: list[str], row: list[str]) -> list[str]:
        row = list(row)
        row[header.index("housing")] = "maybe"
        return row

    source = _head(tmp_path, 3, bad_housing)
    with pytest.raises(PublicDatasetError, match=r"line 2, column housing: unexpected value 'maybe'"):
        bank_marketing_convert(source=source, out_dir=tmp_path / "out")


@pytest.mark.django_db
def test_the_first_two_thousand_rows_load_end_to_end(tmp_path):
    # When the head of the full file is loaded through the bulk importer
    summary, report = public_dataset_import(name="bank-marketing", source=_head(tmp_path, 2_000), now=NOW)

    # Then each contact is a customer with its offers of the term deposit, the call last
    assert Customer.objects.count() == ContactDetails.objects.count() == 2_000
    assert ContactHistory.objects.filter(product__code=TERM_DEPOSIT).count() == summary.rows["campaign_history"]
    assert ContactHistory.objects.filter(external_id__endswith="O").count() == 2_000
    assert Product.objects.get(code=TERM_DEPOSIT).family == "deposit"
    assert (
        Account.objects.filter(product__code=MORTGAGE).count()
        == summary.rows["accounts"] - Account.objects.filter(product__code=PERSONAL_LOAN).count()
    )
    first = ContactHistory.objects.filter(external_id__endswith="O").order_by("offered_at", "external_id").first()
    assert first.offered_at.date() == dt.date(2008, 5, 5)
    assert MarketIndicator.objects.get(name="emp_var_rate", date=dt.date(2008, 5, 1)).value == Decimal("1.1")
    assert MarketIndicator.objects.get(name="euribor3m", date=dt.date(2008, 5, 5)).value == Decimal("4.857")
    assert report.rows_read == sum(summary.rows.values())


@pytest.mark.django_db
def test_the_command_loads_the_file_and_reports_the_date_range(tmp_path):
    out = StringIO()
    call_command("import_public_dataset", "bank-marketing", str(_head(tmp_path, 300)), stdout=out)
    assert "contacts from 2008-05-05 to 2008-05-" in out.getvalue()
    assert Customer.objects.count() == 300


@pytest.mark.django_db
def test_the_command_refuses_a_missing_file_and_writes_nothing(tmp_path):
    with pytest.raises(CommandError, match="cannot be read"):
        call_command("import_public_dataset", "bank-marketing", str(tmp_path / "nope.csv"), stdout=StringIO())
    assert Customer.objects.count() == 0


@given(
    start=st.dates(min_value=dt.date(2008, 1, 1), max_value=dt.date(2012, 12, 31)),
    gaps=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=120),
)
def test_derived_dates_keep_year_month_and_weekday_and_never_go_back(start, gaps):
    # Given real weekday contact dates in order, never two months apart
    days = []
    day = start
    for gap in gaps:
        day += dt.timedelta(days=gap)
        while day.weekday() > 4:
            day += dt.timedelta(days=1)
        days.append(day)
    names = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    weekdays = ("mon", "tue", "wed", "thu", "fri")

    # When only their month and weekday are kept, and the dates derived again
    derived = bank_marketing_contact_dates(
        [(names[d.month - 1], weekdays[d.weekday()]) for d in days], first_year=days[0].year
    )

    # Then year, month and weekday are the true ones and the order is kept
    assert [(d.year, d.month, d.weekday()) for d in derived] == [(d.year, d.month, d.weekday()) for d in days]
    assert all(a <= b for a, b in zip(derived, derived[1:], strict=False))


def test_earlier_calls_of_this_campaign_come_on_the_days_before_unanswered(tmp_path):
    offers, customer = _history_of(tmp_path, campaign="3")

    assert [(o["offer_id"][-2:], o["offered_at"], o["outcome"], o["responded_at"]) for o in offers] == [
        ("A2", "2008-05-03T12:00:00", "no_response", ""),
        ("A1", "2008-05-04T12:00:00", "no_response", ""),
        ("1O", "2008-05-05T12:00:00", "rejected", "2008-05-05T12:00:00"),
    ]
    assert {o["campaign_code"] for o in offers} == {"UCIBM_200805"}
    assert customer["customer_since"] == "2008-05-01"


def test_a_previous_campaign_ends_pdays_before_the_call_with_its_outcome(tmp_path):
    offers, customer = _history_of(tmp_path, previous="2", pdays="3", poutcome="success")

    assert [(o["campaign_code"], o["offered_at"], o["outcome"], o["responded_at"]) for o in offers] == [
        ("UCIBM_PREVIOUS", "2008-05-01T10:00:00", "no_response", ""),
        ("UCIBM_PREVIOUS", "2008-05-02T10:00:00", "accepted", "2008-05-02T10:00:00"),
        ("UCIBM_200805", "2008-05-05T12:00:00", "rejected", "2008-05-05T12:00:00"),
    ]
    # A client since before the first contact
    assert customer["customer_since"] == customer["effective_date"] == "2008-04-01"


@pytest.mark.parametrize(
    ("pdays", "last_contact"),
    [("999", "2007-11-05T10:00:00"), ("0", "2008-05-04T10:00:00")],
    ids=["unknown pdays: 182 days back", "same day: the day before"],
)
def test_a_previous_contact_without_a_usable_pdays_is_dated_before_the_call(tmp_path, pdays, last_contact):
    offers, _ = _history_of(tmp_path, previous="1", pdays=pdays, poutcome="failure")

    assert [(o["offered_at"], o["outcome"]) for o in offers[:-1]] == [(last_contact, "rejected")]


def test_previous_columns_that_disagree_are_refused_with_the_line(tmp_path):
    source = _head(tmp_path, 2, _setting(previous="0", poutcome="success"))
    with pytest.raises(PublicDatasetError, match=r"line 2: previous=0, pdays=999 and poutcome='success' disagree"):
        bank_marketing_convert(source=source, out_dir=tmp_path / "out")


def test_the_contact_type_is_the_kind_of_phone_on_file(tmp_path):
    bank_marketing_convert(source=_head(tmp_path, 1, _setting(contact="cellular")), out_dir=tmp_path / "out")
    assert check_folder(tmp_path / "out")["contacts"][0]["phone"] == "+447700900001"  # Ofcom's drama mobile range


def test_the_answer_y_is_written_only_as_the_outcome_of_the_call_itself(tmp_path):
    # Given the same rows with every answer flipped
    plain = bank_marketing_convert(source=_head(tmp_path, 500), out_dir=tmp_path / "plain")

    def flip(header: list[str], row: list[str]) -> list[str]:
        row = list(row)
        row[header.index("y")] = "yes" if row[header.index("y")] == "no" else "no"
        return row

    other = tmp_path / "other"
    other.mkdir()
    flipped = bank_marketing_convert(source=_head(other, 500, flip), out_dir=other / "out")

    # Then only the calls' outcomes differ: nothing known before a call depends on its answer
    for a, b in zip(plain.paths, flipped.paths, strict=True):
        rows_a, rows_b = a.read_text().splitlines(), b.read_text().splitlines()
        differ = [(x, y) for x, y in zip(rows_a, rows_b, strict=True) if x != y]
        if a.name != "campaign_history.csv":
            assert not differ, a.name
            continue
        assert len(differ) == 500
        for x, y in differ:
            assert x.split(",")[0].endswith("O")
            assert x.replace(",rejected,", ",accepted,") == y or y.replace(",rejected,", ",accepted,") == x


def test_on_the_full_file_every_fact_before_a_call_is_dated_before_its_day(tmp_path):
    bank_marketing_convert(source=FULL, out_dir=tmp_path)
    with (tmp_path / "customers.csv").open() as handle:
        since = {r["customer_id"]: r["customer_since"] for r in csv.DictReader(handle)}
    with (tmp_path / "accounts.csv").open() as handle:
        assert all(r["opened_on"] == since[r["customer_id"]] for r in csv.DictReader(handle))
    calls, earlier = {}, []
    with (tmp_path / "campaign_history.csv").open() as handle:
        for offer in csv.DictReader(handle):
            if offer["offer_id"] == f"{offer['customer_id']}O":
                calls[offer["customer_id"]] = offer["offered_at"][:10]
            else:
                earlier.append(offer)
    assert len(calls) == 41_188
    assert len(earlier) == 112_878 - 41_188
    for offer in earlier:
        day = offer["offered_at"][:10]
        assert since[offer["customer_id"]] < day < calls[offer["customer_id"]]
        assert offer["outcome"] == "no_response" or offer["campaign_code"] == "UCIBM_PREVIOUS"
    assert all(since[c] < day for c, day in calls.items())
