"""An independent, slow and simple reading of import files against customers/importing/formats.py.

It checks what the importer would refuse (columns, types, allowed values,
lengths, ranges, duplicate keys) and that every reference points at a row of
another file in the folder, so generator tests do not depend on the importer.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

from customers.importing.formats import FORMATS, ColumnType, EntityFormat

DECIMAL = re.compile(r"^-?[0-9]{1,16}(\.[0-9]{1,8})?$")
INTEGER = re.compile(r"^-?[0-9]+$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_PROBLEMS = 20

# (file, column) -> (file, key column) it refers to.
REFERENCES = {
    ("contacts", "customer_id"): ("customers", "customer_id"),
    ("accounts", "customer_id"): ("customers", "customer_id"),
    ("accounts", "product_code"): ("products", "product_code"),
    ("accounts", "joint_holder_ids"): ("customers", "customer_id"),
    ("balances", "account_id"): ("accounts", "account_id"),
    ("transactions", "account_id"): ("accounts", "account_id"),
    ("interactions", "customer_id"): ("customers", "customer_id"),
    ("interactions", "product_code"): ("products", "product_code"),
    ("credit_scores", "customer_id"): ("customers", "customer_id"),
    ("consents", "customer_id"): ("customers", "customer_id"),
    ("campaign_history", "customer_id"): ("customers", "customer_id"),
    ("campaign_history", "product_code"): ("products", "product_code"),
    ("products", "complementary_codes"): ("products", "product_code"),
}


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def _value_problem(fmt: EntityFormat, name: str, value: str) -> str | None:
    column = fmt.column(name)
    if value == "":
        return "required value is empty" if column.required else None
    if column.max_length is not None and len(value) > column.max_length:
        return f"{value!r} is longer than {column.max_length}"
    number: float | None = None
    match column.type:
        case ColumnType.INTEGER:
            if not INTEGER.match(value):
                return f"{value!r} is not an integer"
            number = int(value)
        case ColumnType.DECIMAL:
            if not DECIMAL.match(value):
                return f"{value!r} is not a decimal"
            try:
                number = float(Decimal(value))
            except InvalidOperation:
                return f"{value!r} is not a decimal"
        case ColumnType.BOOLEAN:
            if value not in ("true", "false"):
                return f"{value!r} is not true/false"
        case ColumnType.DATE:
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                return f"{value!r} is not a YYYY-MM-DD date"
            if len(value) != 10:
                return f"{value!r} is not a YYYY-MM-DD date"
        case ColumnType.MONTH:
            if not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", value):
                return f"{value!r} is not a YYYY-MM month"
        case ColumnType.DATETIME:
            try:
                dt.datetime.fromisoformat(value)
            except ValueError:
                return f"{value!r} is not an ISO 8601 datetime"
        case ColumnType.CURRENCY:
            if not CURRENCY.match(value):
                return f"{value!r} is not an ISO currency"
        case ColumnType.ENUM:
            if value not in column.allowed:
                return f"{value!r} is not one of {column.allowed}"
        case ColumnType.LIST:
            if any(part == "" for part in value.split(";")):
                return f"{value!r} has an empty item"
    if number is not None:
        if column.minimum is not None and number < column.minimum:
            return f"{value} is below {column.minimum}"
        if column.maximum is not None and number > column.maximum:
            return f"{value} is above {column.maximum}"
    return None


def check_folder(folder: Path) -> dict[str, list[dict[str, str]]]:
    """Read every import file in ``folder`` and assert it conforms; return the rows by entity."""
    problems: list[str] = []
    tables: dict[str, list[dict[str, str]]] = {}
    for fmt in FORMATS:
        path = folder / f"{fmt.name}.csv"
        if not path.exists():
            continue
        raw = path.read_bytes()
        if b"\r" in raw:
            problems.append(f"{path.name}: has carriage returns")
        header, rows = read_rows(path)
        if tuple(header) != fmt.column_names:
            problems.append(f"{path.name}: header {header} is not {list(fmt.column_names)}")
            continue
        seen: set[tuple[str, ...]] = set()
        for line, row in enumerate(rows, start=2):
            if None in row or any(v is None for v in row.values()):
                problems.append(f"{path.name}, line {line}: wrong number of fields")
                continue
            for name in fmt.column_names:
                problem = _value_problem(fmt, name, row[name])
                if problem:
                    problems.append(f"{path.name}, line {line}, column {name}: {problem}")
            key = tuple(row[k] for k in fmt.key)
            if key in seen:
                problems.append(f"{path.name}, line {line}: duplicate key {key}")
            seen.add(key)
            if len(problems) > MAX_PROBLEMS:
                break
        tables[fmt.name] = rows
    for (source, column), (target, key) in REFERENCES.items():
        if source not in tables or target not in tables:
            continue
        known = {row[key] for row in tables[target]}
        for line, row in enumerate(tables[source], start=2):
            for value in filter(None, row[column].split(";")):
                if value not in known:
                    problems.append(f"{source}.csv, line {line}, column {column}: {value!r} is not in {target}.csv")
                    break
            if len(problems) > MAX_PROBLEMS:
                break
    assert not problems, "\n".join(problems[:MAX_PROBLEMS])
    return tables
