"""The demo bank loads with the bulk importer, and the command around the generator."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from customers.demo.generator import DemoBankOptions, demo_bank_generate
from customers.importing.formats import LOAD_ORDER
from customers.importing.services import import_files
from customers.models import (
    Account,
    Consent,
    ContactHistory,
    Customer,
    FxRate,
    Interaction,
    MarketIndicator,
    MonthlyBalance,
    Product,
    Transaction,
)

NOW = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_a_small_demo_bank_imports_cleanly_and_a_second_import_changes_nothing(tmp_path):
    # Given a demo bank of 50 customers
    summary = demo_bank_generate(
        options=DemoBankOptions(customers=50, seed=21, as_of=dt.date(2026, 11, 1)), out_dir=tmp_path
    )

    # When it is imported
    report = import_files(paths=[tmp_path], dry_run=False, progress=None, now=NOW)

    # Then every row of every file is read and stored
    assert {f.entity for f in report.files} == set(LOAD_ORDER)
    assert {f.entity: f.rows_read for f in report.files} == summary.rows
    assert Customer.objects.count() == 50
    assert Product.objects.count() == summary.rows["products"]
    assert Account.objects.count() == summary.rows["accounts"]
    assert MonthlyBalance.objects.count() == summary.rows["balances"]
    assert Transaction.objects.count() == summary.rows["transactions"]
    assert Interaction.objects.count() == summary.rows["interactions"]
    assert Consent.objects.count() == summary.rows["consents"]
    assert ContactHistory.objects.count() == summary.rows["campaign_history"]
    assert MarketIndicator.objects.count() + FxRate.objects.count() == summary.rows["market_data"]
    premium = Product.objects.get(code="CC_PREMIUM")
    assert set(premium.complementary.values_list("code", flat=True)) == {"TRAVEL_INS", "INVEST_FUND"}

    # And importing the same files again changes nothing
    again = import_files(paths=[tmp_path], dry_run=False, progress=None, now=NOW)
    assert sum(f.inserted + f.updated for f in again.files) == 0
    assert Transaction.objects.count() == summary.rows["transactions"]


def test_the_command_writes_the_files_and_prints_rows_per_file_and_seconds(tmp_path):
    out = StringIO()
    call_command(
        "generate_demo_bank",
        "--customers",
        "20",
        "--seed",
        "2",
        "--out",
        str(tmp_path),
        "--as-of",
        "2026-11-01",
        "--months",
        "13",
        stdout=out,
    )
    text = out.getvalue()
    for name in LOAD_ORDER:
        assert (tmp_path / f"{name}.csv").exists()
        assert name in text
    assert "20 customers" in text
    assert " s" in text


def test_the_command_refuses_to_overwrite_a_bank_without_force(tmp_path):
    call_command(
        "generate_demo_bank", "--customers", "5", "--out", str(tmp_path), "--as-of", "2026-11-01", stdout=StringIO()
    )
    with pytest.raises(CommandError, match="already holds products, customers"):
        call_command(
            "generate_demo_bank", "--customers", "5", "--out", str(tmp_path), "--as-of", "2026-11-01", stdout=StringIO()
        )
    call_command(
        "generate_demo_bank",
        "--customers",
        "5",
        "--out",
        str(tmp_path),
        "--as-of",
        "2026-11-01",
        "--force",
        stdout=StringIO(),
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "2026-11-15"], "first day of a month"),
        (["--as-of", "next month"], "--as-of: 'next month' is not a date"),
        (["--customers", "0"], "customers must be at least 1"),
        (["--months", "0"], "months must be between"),
    ],
)
def test_the_command_explains_bad_arguments(tmp_path, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("generate_demo_bank", "--out", str(tmp_path), *args, stdout=StringIO())
