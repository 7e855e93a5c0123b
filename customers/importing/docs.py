"""Render docs/data-format.md from formats.py, so the document cannot drift from
what the importer checks: ``manage.py data_format_doc > docs/data-format.md``."""

from __future__ import annotations

from customers.importing.errors import MAX_ERRORS_PER_FILE
from customers.importing.formats import FORMATS, LOAD_ORDER, Column, ColumnType, EntityFormat
from customers.importing.validation import DECIMAL_PLACES, DEFAULT_DECIMAL_PLACES, FALSE_WORDS, TRUE_WORDS

TYPE_TEXT = {
    ColumnType.STRING: "text",
    ColumnType.INTEGER: "whole number",
    ColumnType.DECIMAL: "decimal number",
    ColumnType.BOOLEAN: "boolean",
    ColumnType.DATE: "date `YYYY-MM-DD`",
    ColumnType.MONTH: "month `YYYY-MM`",
    ColumnType.DATETIME: "timestamp (ISO 8601)",
    ColumnType.CURRENCY: "currency (ISO 4217)",
    ColumnType.ENUM: "one of a list",
    ColumnType.LIST: "list, `;`-separated",
}

PARQUET_TYPES = {
    ColumnType.STRING: "string",
    ColumnType.INTEGER: "int8/16/32/64 or string",
    ColumnType.DECIMAL: "decimal128, int or string (float accepted but not advised)",
    ColumnType.BOOLEAN: "bool or string",
    ColumnType.DATE: "date32 or string",
    ColumnType.MONTH: "string `YYYY-MM`",
    ColumnType.DATETIME: "timestamp with time zone (stored UTC), timestamp without (read as bank time) or string",
    ColumnType.CURRENCY: "string",
    ColumnType.ENUM: "string (or dictionary of strings)",
    ColumnType.LIST: "string with `;` separators",
}


def _rules(fmt: EntityFormat, column: Column) -> str:
    parts = []
    if column.allowed:
        parts.append("allowed: " + ", ".join(f"`{v}`" for v in column.allowed))
    if column.max_length:
        parts.append(f"at most {column.max_length} characters")
    if column.type is ColumnType.DECIMAL:
        places = DECIMAL_PLACES.get((fmt.name, column.name), DEFAULT_DECIMAL_PLACES)
        parts.append(f"at most {places} decimals")
    if column.minimum is not None:
        parts.append(f"minimum {column.minimum:g}")
    if column.maximum is not None:
        parts.append(f"maximum {column.maximum:g}")
    return "; ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _entity(fmt: EntityFormat) -> list[str]:
    lines = [
        f"### `{fmt.name}`",
        "",
        fmt.description,
        "",
        f"- File: `{fmt.name}.csv` (or `{fmt.name}.csv.gz`, `{fmt.name}.parquet`)",
        "- Natural key (unique within the file; a re-import updates the row with this key): "
        + ", ".join(f"`{k}`" for k in fmt.key),
    ]
    if fmt.depends_on:
        lines.append("- Loaded after: " + ", ".join(f"`{d}`" for d in fmt.depends_on))
    lines += [
        "",
        "| Column | Type | Required | Rules | Description | Example |",
        "|---|---|---|---|---|---|",
    ]
    for c in fmt.columns:
        lines.append(
            f"| `{c.name}` | {TYPE_TEXT[c.type]} | {'yes' if c.required else 'no'} | {_cell(_rules(fmt, c))} | "
            f"{_cell(c.description)} | {'`' + c.example + '`' if c.example else ''} |"
        )
    header = ",".join(fmt.column_names)
    row = ",".join(c.example for c in fmt.columns)
    lines += ["", "Example:", "", "```csv", header, row, "```", ""]
    return lines


def render() -> str:
    """The whole document as Markdown."""
    true_words, false_words = "/".join(TRUE_WORDS), "/".join(FALSE_WORDS)
    out = [
        "# Crossell import data format",
        "",
        "<!-- Generated from customers/importing/formats.py by `manage.py data_format_doc`; do not edit by hand. -->",
        "",
        "This is everything a bank's data engineer needs to export data for Crossell. Load it with",
        "`python manage.py import_data FOLDER` (or upload the files in the UI or to `POST /api/v1/imports`).",
        "Add `--dry-run` to check the files without writing anything.",
        "",
        "## Files",
        "",
        "- One file per entity, named after it: " + ", ".join(f"`{n}.csv`" for n in LOAD_ORDER) + ".",
        "  Each may instead be gzip-compressed CSV (`customers.csv.gz`) or Parquet (`customers.parquet`).",
        "  Send only the files you have; a file with any other name is refused.",
        "- Files are loaded in this order, whatever the order given: " + " → ".join(LOAD_ORDER) + ".",
        "  A reference (an account's customer, a transaction's account...) must name a row of the same",
        "  import or one already stored.",
        "",
        "## CSV rules",
        "",
        "- Encoding **UTF-8**. A byte-order mark (BOM) at the start is accepted. Other encodings (Latin-1,",
        "  Windows-1252) are refused with the line and column of the first bad character.",
        '- Delimiter: **comma** `,`. Quote character: double quote `"`; a quote inside a quoted value is',
        '  doubled (`"a ""b"" c"`). Quote any value that contains a comma.',
        "- Line breaks inside values are **not supported** (a quote left open is reported as an",
        "  unterminated quote). Lines end with LF or CRLF.",
        "- A **header line is required**, with the column names below, in any order. Required columns must",
        "  be present; optional ones may be left out (they take their default). Unknown columns are refused.",
        "- Every row has exactly as many fields as the header.",
        "- Empty value = not given. Leading and trailing spaces are ignored.",
        "",
        "## Value types",
        "",
        "| Type | Written as |",
        "|---|---|",
        "| text | any UTF-8 text up to the length given |",
        "| whole number | `42`, `-3` |",
        "| decimal number | `.` as decimal point, no thousands separator: `1234.50`, `-42.8` |",
        f"| boolean | `{true_words}` or `{false_words}` (any case) |",
        "| date | `YYYY-MM-DD`, e.g. `2025-03-14` |",
        "| month | `YYYY-MM`, e.g. `2025-03` (stored as the first day of the month) |",
        "| timestamp | ISO 8601: `2025-03-14T09:26:53+01:00`, `2025-03-14T08:26:53Z`, `2025-03-14 09:26:53`; "
        "seconds and fractions optional |",
        "| currency | ISO 4217 code in capitals: `EUR`, `GBP`, `USD` |",
        "| one of a list | exactly one of the allowed values (lower case as shown) |",
        "| list | values separated by `;`, e.g. `C000124;C000125` |",
        "",
        "**Time zone rule.** A timestamp with an offset (`+01:00`, `Z`) is exact. A timestamp without an",
        "offset is read as the bank's local time (setting `BANK_TIME_ZONE`, default Europe/London); in the",
        "hour skipped when clocks go forward it is read as the first valid time after, and in the hour",
        "repeated when they go back as the first occurrence. Everything is stored in UTC.",
        "",
        "## Parquet",
        "",
        "Parquet files use the same column names. Accepted column types:",
        "",
        "| Type | Parquet types |",
        "|---|---|",
        *[f"| {TYPE_TEXT[t]} | {p} |" for t, p in PARQUET_TYPES.items()],
        "",
        'Nulls are empty values. Errors in Parquet files give the row as a "line" counted as in the',
        "equivalent CSV: the first row is line 2.",
        "",
        "## Loading rules: upsert, idempotency, all or nothing",
        "",
        "- Each file's natural key (below) identifies a row. A row whose key is already stored replaces the",
        "  stored values (missing optional columns take their defaults); a new key adds a row. Importing the",
        "  same files again changes nothing: identical rows are left untouched (not even their timestamps).",
        "- A key may appear only once in a file.",
        "- `customers`: the attributes income, employment type, region, marital status, risk rating, KYC and",
        "  sanctions status keep their history: a changed value is recorded from `effective_date` (default:",
        "  the import date; for a new customer, `customer_since`).",
        "- `accounts`: the holders become exactly the primary holder (`customer_id`) plus `joint_holder_ids`.",
        "- `products`: `complementary_codes` (when the column is present) replaces the product's bundle list;",
        "  the codes may name products of the same file.",
        "- `balances` and `transactions` are attributed to the account's primary holder.",
        "- `market_data`: `kind=indicator` rows are market indicators, `kind=fx_rate` rows are exchange rates",
        "  whose `name` is the currency code.",
        "- `consents`: each row is one change, kept as history.",
        "- `campaign_history`: stored as contact history with source `import`.",
        "- The whole import runs in **one transaction**: if any row of any file is refused, nothing is",
        "  written. An interrupted import (crash, killed process) leaves the database as it was.",
        "",
        "## Error report",
        "",
        "Every error names the file, the line (the header is line 1, the first data row line 2), the column",
        "and the reason, for example:",
        "",
        "```",
        "transactions.csv, line 3, column amount: 'abc' is not a number with a '.' decimal point and at most 2"
        " decimals",
        "accounts.csv, line 2, column customer_id: unknown customer 'C404': not in this import nor already stored",
        "transactions.csv, line 4, column transaction_id, booked_at: duplicate: the same transaction_id, booked_at "
        "as line 2",
        "```",
        "",
        f"At most {MAX_ERRORS_PER_FILE} errors are listed per file, followed by the count of the others.",
        "",
        "## Files and columns",
        "",
    ]
    for fmt in FORMATS:
        out += _entity(fmt)
    return "\n".join(out).rstrip() + "\n"
