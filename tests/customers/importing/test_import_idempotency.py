from __future__ import annotations

from datetime import UTC, datetime

import pytest

from customers import models
from customers.importing.services import import_files
from tests.customers.importing.conftest import FILES, table_counts, write

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
LATER = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


def test_importing_the_same_files_again_changes_nothing(bank_files):
    import_files(paths=[bank_files], now=NOW)
    counts = table_counts()
    stamps = dict(models.Customer.objects.values_list("external_id", "updated_at"))
    received = dict(models.Transaction.objects.values_list("external_id", "received_at"))
    holders = list(models.AccountHolder.objects.values_list("id", "account_id", "customer_id", "role"))

    report = import_files(paths=[bank_files], now=LATER)

    assert table_counts() == counts
    assert all(f.inserted == 0 and f.updated == 0 and f.unchanged == f.rows_read for f in report.files)
    assert dict(models.Customer.objects.values_list("external_id", "updated_at")) == stamps
    assert dict(models.Transaction.objects.values_list("external_id", "received_at")) == received
    assert list(models.AccountHolder.objects.values_list("id", "account_id", "customer_id", "role")) == holders


def test_a_changed_row_is_updated_and_counted(bank_files):
    import_files(paths=[bank_files], now=NOW)
    text = FILES["transactions"].replace("-42.80", "-43.80")
    write(bank_files, "transactions.csv", text)

    report = import_files(paths=[bank_files / "transactions.csv"], now=LATER)

    [file] = report.files
    assert (file.rows_read, file.inserted, file.updated, file.unchanged) == (3, 0, 1, 2)
    t1 = models.Transaction.objects.get(external_id="T1")
    assert str(t1.amount) == "-43.80"
    assert t1.received_at == LATER


def test_dry_run_validates_but_writes_nothing(bank_files):
    before = table_counts()

    report = import_files(paths=[bank_files], dry_run=True, now=NOW)

    assert report.dry_run
    assert sum(f.inserted for f in report.files) > 0
    assert table_counts() == before


def test_a_changed_tracked_attribute_is_kept_as_history(bank_files):
    import_files(paths=[bank_files], now=NOW)
    text = (
        FILES["customers"]
        .replace(
            "C2,1990-12-01,M,single,London,self_employed,,,2020-02-02,pending,,clear,medium,1,0,",
            "C2,1990-12-01,M,married,London,self_employed,,,2020-02-02,verified,,clear,medium,1,0,2025-05-20",
        )
        .replace("42000.00,EUR,2012-06-01", "45000.00,EUR,2012-06-01")
    )
    write(bank_files, "customers.csv", text)

    import_files(paths=[bank_files / "customers.csv"], now=LATER)

    c2 = models.CustomerAttributeChange.objects.filter(customer__external_id="C2")
    history = sorted((a, v, str(d)) for a, v, d in c2.values_list("attribute", "value", "effective_from"))
    assert ("marital_status", "single", "2020-02-02") in history
    assert ("marital_status", "married", "2025-05-20") in history
    assert ("kyc_status", "verified", "2025-05-20") in history
    # Without effective_date, a change takes effect on the import date (bank time).
    c1_income = models.CustomerAttributeChange.objects.filter(customer__external_id="C1", attribute="income")
    assert sorted((v, str(d)) for v, d in c1_income.values_list("value", "effective_from")) == [
        ("42000.00", "2012-06-01"),
        ("45000.00", "2025-06-02"),
    ]
    assert models.Customer.objects.get(external_id="C2").marital_status == "married"


def test_references_may_point_to_rows_already_stored(bank_files, tmp_path):
    import_files(paths=[bank_files], now=NOW)
    folder = tmp_path / "next"
    write(
        folder,
        "transactions.csv",
        "transaction_id,account_id,booked_at,amount,currency,category,mcc,channel\n"
        "T9,A3,2025-04-01T00:00:00Z,-1.00,EUR,fees,,other\n",
    )

    report = import_files(paths=[folder], now=LATER)

    assert report.files[0].inserted == 1
    assert models.Transaction.objects.get(external_id="T9").customer.external_id == "C3"


def test_parquet_files_are_imported_like_csv(bank_files, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    import_files(
        paths=[bank_files / "products.csv", bank_files / "customers.csv", bank_files / "accounts.csv"], now=NOW
    )
    table = pa.table(
        {
            "transaction_id": ["P1", "P2"],
            "account_id": ["A1", "A2"],
            "booked_at": pa.array(
                [datetime(2025, 3, 1, 9, 0, tzinfo=UTC), datetime(2025, 3, 2, 9, 0, 0, 500000, tzinfo=UTC)],
                type=pa.timestamp("us", tz="UTC"),
            ),
            "amount": pa.array(["-10.50", "20.00"]).cast(pa.decimal128(18, 2)),
            "currency": ["EUR", "EUR"],
            "category": ["groceries", "salary"],
            "channel": ["card_present", "transfer"],
        }
    )
    folder = tmp_path / "pq"
    folder.mkdir()
    pq.write_table(table, folder / "transactions.parquet")

    report = import_files(paths=[folder], now=LATER)

    assert report.files[0].inserted == 2
    p2 = models.Transaction.objects.get(external_id="P2")
    assert p2.booked_at == datetime(2025, 3, 2, 9, 0, 0, 500000, tzinfo=UTC)
    assert str(p2.amount) == "20.00"
    again = import_files(paths=[folder], now=LATER)
    assert again.files[0].unchanged == 2


def test_gzipped_csv_is_read(bank_files, tmp_path):
    import gzip

    folder = tmp_path / "gz"
    folder.mkdir()
    (folder / "products.csv.gz").write_bytes(gzip.compress(FILES["products"].encode()))

    report = import_files(paths=[folder], now=NOW)

    assert report.files[0].inserted == 3


def test_a_blank_income_is_recorded_as_unknown_not_zero(bank_files):
    # C2 has no income in the fixture files.
    import_files(paths=[bank_files], now=NOW)

    income = models.CustomerAttributeChange.objects.filter(customer__external_id="C2", attribute="income")
    assert list(income.values_list("value", flat=True)) == [""]
