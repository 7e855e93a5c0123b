"""Every kind of bad input gets an error naming file, line and column, and the
database keeps the state it had before the import."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from customers.importing.errors import MAX_ERRORS_PER_FILE
from customers.importing.services import ImportFailed, import_files
from tests.customers.importing.conftest import FILES, table_counts, write

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
TX_HEADER = "transaction_id,account_id,booked_at,amount,currency,category,mcc,channel\n"
TX_OK = "T7,A1,2025-03-14T09:26:53+00:00,-42.80,EUR,groceries,5411,card_present\n"

pytestmark = pytest.mark.django_db

CASES = [
    pytest.param(
        "transactions.csv",
        TX_HEADER.replace(",", ";") + TX_OK.replace(",", ";"),
        (1, TX_HEADER.strip().replace(",", ";"), "delimiter must be a comma"),
        id="wrong-delimiter",
    ),
    pytest.param(
        "customers.csv",
        FILES["customers"].encode()
        + "C9,1984-03-17,F,married,Bragança,employed,1.00,EUR,2012-06-01,verified,,clear,low,,,\n".encode("latin-1"),
        (5, "region", "not valid UTF-8"),
        id="latin-1-encoding",
    ),
    pytest.param(
        "transactions.csv",
        TX_HEADER.replace(",amount", "") + TX_OK.replace(",-42.80", ""),
        (1, "amount", "required column missing"),
        id="missing-column",
    ),
    pytest.param(
        "transactions.csv",
        TX_HEADER.strip() + ",note\n" + TX_OK.strip() + ",x\n",
        (1, "note", "unknown column"),
        id="extra-column",
    ),
    pytest.param("transactions.csv", "", (1, "", "empty"), id="empty-file"),
    pytest.param(
        "customers.csv",
        FILES["customers"] + "C9,1984-02-30,F,married,,employed,,,2012-06-01,verified,,clear,low,,,\n",
        (5, "birth_date", "'1984-02-30' is not a date as YYYY-MM-DD"),
        id="bad-date",
    ),
    pytest.param(
        "transactions.csv",
        TX_HEADER + TX_OK + "T8,A1,2025-03-14T09:26:53+00:00,12,50,EUR,groceries,5411,card_present\n",
        (3, "", "expected 8 fields, found 9"),
        id="too-many-fields",
    ),
    pytest.param(
        "transactions.csv",
        TX_HEADER + TX_OK + "T8,A1,2025-03-14T09:26:53+00:00,abc,EUR,groceries,5411,card_present\n",
        (3, "amount", "'abc' is not a number"),
        id="non-numeric-amount",
    ),
    pytest.param(
        "transactions.csv",
        TX_HEADER + TX_OK + "T8,A1,2025-03-14T09:26:53+00:00,-1.00,EUR,groceries,5411,carrier_pigeon\n",
        (3, "channel", "'carrier_pigeon' is not one of"),
        id="unknown-enum",
    ),
    pytest.param(
        "transactions.csv",
        TX_HEADER + TX_OK + "T8,A404,2025-03-14T09:26:53+00:00,-1.00,EUR,groceries,5411,atm\n",
        (3, "account_id", "unknown account 'A404'"),
        id="unknown-account",
    ),
    pytest.param(
        "accounts.csv",
        "account_id,customer_id,product_code,opened_on,closed_on,status,currency,joint_holder_ids\n"
        "A8,C404,CURRENT,2019-04-02,,open,EUR,\n",
        (2, "customer_id", "unknown customer 'C404'"),
        id="unknown-customer",
    ),
    pytest.param(
        "transactions.csv",
        TX_HEADER + TX_OK + "T9,A1,2025-03-14T09:26:53+00:00,-1.00,EUR,groceries,5411,atm\n" + TX_OK,
        (4, "transaction_id, booked_at", "duplicate: the same transaction_id, booked_at as line 2"),
        id="duplicate-id",
    ),
    pytest.param(
        "transactions.csv",
        TX_HEADER
        + TX_OK
        + 'T8,A1,2025-03-14T09:26:53+00:00,-1.00,EUR,"groceries,5411,atm\n'
        + TX_OK.replace("T7", "T6"),
        (3, "category", "unterminated quote"),
        id="unterminated-quote",
    ),
    pytest.param(
        "transactions.csv",
        TX_HEADER + TX_OK + "T8,A1,14/03/2025 09:26,-1.00,EUR,groceries,5411,atm\n",
        (3, "booked_at", "is not an ISO 8601 date-time"),
        id="bad-timestamp",
    ),
    pytest.param(
        "customers.csv",
        FILES["customers"] + "C9,1984-03-17,F,married,,employed,100.00,,2012-06-01,verified,,clear,low,,,\n",
        (5, "income_currency", "required when income is given"),
        id="income-without-currency",
    ),
]


@pytest.mark.parametrize(("name", "content", "expected"), CASES)
def test_bad_input_is_refused_with_its_place_and_nothing_changes(bank_files, tmp_path, name, content, expected):
    # Given a database already holding the bank's files
    import_files(paths=[bank_files], now=NOW)
    before = table_counts()
    folder = tmp_path / "bad"
    write(folder, name, content.encode() if isinstance(content, str) else content)

    # When a bad file is imported
    with pytest.raises(ImportFailed) as failed:
        import_files(paths=[folder], now=NOW)

    # Then the error names the file, line and column, and nothing changed
    line, column, reason = expected
    places = [(e.file, e.line, e.column) for e in failed.value.errors]
    assert (name, line, column) in places, failed.value.report()
    [error] = [e for e in failed.value.errors if (e.file, e.line, e.column) == (name, line, column)]
    assert reason in error.reason
    assert name in str(error)
    assert f"line {line}" in str(error)
    assert table_counts() == before


def test_a_utf8_bom_is_accepted(bank_files, tmp_path):
    folder = tmp_path / "bom"
    write(folder, "products.csv", b"\xef\xbb\xbf" + FILES["products"].encode())

    report = import_files(paths=[folder], now=NOW)

    assert report.files[0].inserted == 3


def test_an_error_in_a_later_file_rolls_back_the_earlier_ones(bank_files):
    write(bank_files, "consents.csv", FILES["consents"].replace("granted", "maybe"))

    with pytest.raises(ImportFailed) as failed:
        import_files(paths=[bank_files], now=NOW)

    assert [(e.file, e.line, e.column) for e in failed.value.errors] == [("consents.csv", 2, "status")]
    assert {count for count, _ in table_counts().values()} == {0}


def test_an_unknown_file_name_is_an_error_naming_it(bank_files):
    write(bank_files, "customer.csv", FILES["customers"])

    with pytest.raises(ImportFailed) as failed:
        import_files(paths=[bank_files], now=NOW)

    assert failed.value.errors[0].file == "customer.csv"
    assert "not a known import file" in failed.value.errors[0].reason
    assert {count for count, _ in table_counts().values()} == {0}


def test_at_most_fifty_errors_are_listed_per_file_but_all_are_counted(bank_files, tmp_path):
    import_files(paths=[bank_files], now=NOW)
    rows = "".join(f"T{i},A1,2025-03-14T09:26:53+00:00,x{i},EUR,groceries,,atm\n" for i in range(120))
    folder = tmp_path / "many"
    write(folder, "transactions.csv", TX_HEADER + rows)
    write(folder, "credit_scores.csv", "customer_id,scored_on,score,source\nC1,2025-02-01,2000,\n")

    with pytest.raises(ImportFailed) as failed:
        import_files(paths=[folder], now=NOW)

    listed = [e for e in failed.value.errors if e.file == "transactions.csv"]
    assert len(listed) == MAX_ERRORS_PER_FILE
    assert [e.line for e in listed] == list(range(2, 52))
    assert failed.value.counts == {"transactions.csv": 120, "credit_scores.csv": 1}
    assert "70 more error(s) not listed" in failed.value.report()
    assert [e.reason for e in failed.value.errors if e.file == "credit_scores.csv"] == [
        "'2000' is above the maximum 1000"
    ]


def test_line_numbers_stay_right_after_a_row_with_too_few_fields(bank_files, tmp_path):
    import_files(paths=[bank_files], now=NOW)
    folder = tmp_path / "short"
    write(folder, "transactions.csv", TX_HEADER + "T1,A1\n" + TX_OK + "T8,A1,2025-03-14T09:26:53Z,-1.00,EUR,bad,,atm\n")

    with pytest.raises(ImportFailed) as failed:
        import_files(paths=[folder], now=NOW)

    assert [(e.line, e.column) for e in failed.value.errors] == [(2, ""), (4, "category")]


def test_crlf_line_ends_and_padded_values_are_accepted(tmp_path):
    folder = tmp_path / "crlf"
    text = FILES["products"].replace(",card,", ", card ,").replace("\n", "\r\n")
    write(folder, "products.csv", text.encode())

    report = import_files(paths=[folder], now=NOW)

    assert report.files[0].inserted == 3
