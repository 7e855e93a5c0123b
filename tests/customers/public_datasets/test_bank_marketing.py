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

from customers.models import Account, ContactHistory, Customer, MarketIndicator, Product
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
    assert len(tables["customers"]) == len(tables["campaign_history"]) == 2_000
    # Row 1: 56, housemaid, married, no housing or personal loan, telephone, May, Monday, y=no.
    first = tables["customers"][0]
    assert first["employment_type"] == "employed"
    assert first["marital_status"] == "married"
    assert first["birth_date"] == "1951-11-05"  # 56 on the contact date 2008-05-05
    offer = tables["campaign_history"][0]
    assert offer["customer_id"] == first["customer_id"]
    assert (offer["product_code"], offer["channel"], offer["outcome"]) == (TERM_DEPOSIT, "call_centre", "rejected")
    assert offer["offered_at"].startswith("2008-05-05T")
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
    for row, customer, offer in zip(rows, tables["customers"], tables["campaign_history"], strict=True):
        cid = customer["customer_id"]
        assert ((cid, MORTGAGE) in held) == (row["housing"] == "yes")
        assert ((cid, PERSONAL_LOAN) in held) == (row["loan"] == "yes")
        assert offer["outcome"] == ("accepted" if row["y"] == "yes" else "rejected")


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

    # Then each contact is a customer with one offer of the term deposit
    assert Customer.objects.count() == 2_000
    assert ContactHistory.objects.filter(product__code=TERM_DEPOSIT).count() == 2_000
    assert Product.objects.get(code=TERM_DEPOSIT).family == "deposit"
    assert (
        Account.objects.filter(product__code=MORTGAGE).count()
        == summary.rows["accounts"] - Account.objects.filter(product__code=PERSONAL_LOAN).count()
    )
    first = ContactHistory.objects.order_by("offered_at", "external_id").first()
    assert first.offered_at.date() == dt.date(2008, 5, 5)
    assert MarketIndicator.objects.get(name="euribor3m", date=dt.date(2008, 5, 1)).value == Decimal("4.857")
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
