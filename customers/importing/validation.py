"""Vectorised checks of one batch's text columns against the format.

Each check is one pyarrow compute pass over the whole batch; only failing rows
are turned into messages. The result is typed columns ready to be written:
strings (blank optional text is ""), int64, decimal text, bool, date32 and UTC
timestamps, with nulls where an optional value was left empty.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from django.conf import settings

from customers.importing.errors import ErrorSink
from customers.importing.formats import Column, ColumnType, EntityFormat
from customers.importing.reading import Batch

TRUE_WORDS = ["true", "1", "yes"]
FALSE_WORDS = ["false", "0", "no"]
INTEGER_RE = r"^[+-]?[0-9]+$"
DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
MONTH_RE = r"^[0-9]{4}-[0-9]{2}$"
DATETIME_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:?[0-9]{2})?$"
OFFSET_RE = r"(Z|[+-][0-9]{2}:?[0-9]{2})$"
CURRENCY_RE = r"^[A-Z]{3}$"
# Decimal places the database keeps per column; more are refused rather than rounded.
DECIMAL_PLACES: dict[tuple[str, str], int] = {("market_data", "value"): 8}
DEFAULT_DECIMAL_PLACES = 2
DECIMAL_INTEGER_DIGITS = 16


def _decimal_re(places: int) -> str:
    return rf"^[+-]?[0-9]{{1,{DECIMAL_INTEGER_DIGITS}}}(\.[0-9]{{1,{places}}})?$"


class BatchChecker:
    """Checks batches of one file, reporting into its error sink."""

    def __init__(self, fmt: EntityFormat, errors: ErrorSink) -> None:
        self.fmt = fmt
        self.errors = errors
        self.bank_tz = settings.BANK_TIME_ZONE

    def check(self, batch: Batch) -> tuple[dict[str, pa.Array], np.ndarray]:
        """Typed columns and a mask of the rows that passed every check."""
        valid = np.ones(batch.num_rows, dtype=bool)
        out: dict[str, pa.Array] = {}
        for column in self.fmt.columns:
            text = batch.columns[column.name]
            out[column.name] = self._column(column, text, batch, valid)
        return out, valid

    # --- reporting ----------------------------------------------------------------
    def report(
        self, bad: pa.Array | np.ndarray, batch: Batch, valid: np.ndarray, column: str, reason: Callable[[int], str]
    ) -> None:
        """Record an error for each row where ``bad`` is true (nulls count as false)."""
        mask = bad if isinstance(bad, np.ndarray) else pc.fill_null(bad, False).to_numpy(zero_copy_only=False)
        if not mask.any():
            return
        indices = np.flatnonzero(mask)
        valid[indices] = False
        room = max(0, 50 - len(self.errors.errors))
        for i in indices[:room]:
            self.errors.add(line=batch.line(int(i)), column=column, reason=reason(int(i)))
        self.errors.count += max(0, len(indices) - room)

    # --- one column -------------------------------------------------------------
    def _column(self, column: Column, text: pa.Array, batch: Batch, valid: np.ndarray) -> pa.Array:
        name = column.name
        stripped = pc.utf8_trim_whitespace(text)
        blank = pc.equal(stripped, "")
        if column.required:

            def missing(_: int) -> str:
                return "a value is required"

            self.report(blank, batch, valid, name, missing)

        def shown(i: int) -> str:
            value = text[i].as_py()
            return repr(value if len(value) <= 40 else value[:40] + "...")

        match column.type:
            case ColumnType.STRING | ColumnType.LIST:
                if column.max_length:
                    too_long = pc.greater(pc.utf8_length(stripped), column.max_length)
                    self.report(too_long, batch, valid, name, lambda i: f"longer than {column.max_length} characters")
                return stripped
            case ColumnType.ENUM:
                allowed = pa.array(column.allowed, type=pa.string())
                unknown = pc.and_(pc.invert(blank), pc.invert(pc.is_in(stripped, value_set=allowed)))
                self.report(
                    unknown, batch, valid, name, lambda i: f"{shown(i)} is not one of: {', '.join(column.allowed)}"
                )
                return pc.if_else(blank, None, stripped)
            case ColumnType.CURRENCY:
                wrong = pc.and_(pc.invert(blank), pc.invert(pc.match_substring_regex(stripped, CURRENCY_RE)))
                self.report(wrong, batch, valid, name, lambda i: f"{shown(i)} is not an ISO 4217 code such as EUR")
                return pc.if_else(blank, None, stripped)
            case ColumnType.INTEGER:
                ok = pc.match_substring_regex(stripped, INTEGER_RE)
                wrong = pc.and_(pc.invert(blank), pc.invert(ok))
                self.report(wrong, batch, valid, name, lambda i: f"{shown(i)} is not a whole number")
                numbers = pc.if_else(ok, stripped, None).cast(pa.int64(), safe=False)
                self._range(column, numbers, batch, valid, shown)
                return numbers
            case ColumnType.DECIMAL:
                places = DECIMAL_PLACES.get((self.fmt.name, name), DEFAULT_DECIMAL_PLACES)
                ok = pc.match_substring_regex(stripped, _decimal_re(places))
                wrong = pc.and_(pc.invert(blank), pc.invert(ok))
                self.report(
                    wrong,
                    batch,
                    valid,
                    name,
                    lambda i: f"{shown(i)} is not a number with a '.' decimal point and at most {places} decimals",
                )
                decimal_text = pc.if_else(ok, stripped, None)
                if column.minimum is not None or column.maximum is not None:
                    self._range(column, decimal_text.cast(pa.float64()), batch, valid, shown)
                return decimal_text
            case ColumnType.BOOLEAN:
                lower = pc.utf8_lower(stripped)
                is_true = pc.is_in(lower, value_set=pa.array(TRUE_WORDS))
                is_false = pc.is_in(lower, value_set=pa.array(FALSE_WORDS))
                wrong = pc.invert(pc.or_(pc.or_(is_true, is_false), blank))
                self.report(wrong, batch, valid, name, lambda i: f"{shown(i)} is not true/false, 1/0 or yes/no")
                return pc.if_else(blank, None, is_true)
            case ColumnType.DATE | ColumnType.MONTH:
                return self._date(column, stripped, blank, batch, valid, shown)
            case ColumnType.DATETIME:
                return self._datetime(column, stripped, blank, batch, valid, shown)
        raise ValueError(f"unhandled column type {column.type}")

    def _range(self, column: Column, numbers: pa.Array, batch: Batch, valid: np.ndarray, shown) -> None:
        if column.minimum is not None:
            low = pc.less(numbers, column.minimum)
            self.report(low, batch, valid, column.name, lambda i: f"{shown(i)} is below the minimum {column.minimum:g}")
        if column.maximum is not None:
            high = pc.greater(numbers, column.maximum)
            self.report(
                high, batch, valid, column.name, lambda i: f"{shown(i)} is above the maximum {column.maximum:g}"
            )

    def _date(self, column: Column, stripped, blank, batch: Batch, valid: np.ndarray, shown) -> pa.Array:
        if column.type is ColumnType.MONTH:
            shape_ok = pc.match_substring_regex(stripped, MONTH_RE)
            full = pc.binary_join_element_wise(stripped, "01", "-")
            expected = "a month as YYYY-MM"
        else:
            shape_ok = pc.match_substring_regex(stripped, DATE_RE)
            full = stripped
            expected = "a date as YYYY-MM-DD"
        candidate = pc.if_else(shape_ok, full, None)
        parsed = pc.strptime(candidate, format="%Y-%m-%d", unit="s", error_is_null=True)
        # strptime rolls 2025-02-30 over to March: a real date formats back to itself.
        real = pc.equal(parsed.cast(pa.date32()).cast(pa.string()), candidate)
        ok = pc.fill_null(real, False)
        wrong = pc.and_(pc.invert(blank), pc.invert(ok))
        self.report(wrong, batch, valid, column.name, lambda i: f"{shown(i)} is not {expected}")
        return pc.if_else(ok, parsed, None).cast(pa.date32())

    def _datetime(self, column: Column, stripped, blank, batch: Batch, valid: np.ndarray, shown) -> pa.Array:
        shape_ok = pc.match_substring_regex(stripped, DATETIME_RE)
        has_offset = pc.and_(shape_ok, pc.match_substring_regex(stripped, OFFSET_RE))
        local_ok = pc.and_(shape_ok, pc.invert(has_offset))
        utc = pa.timestamp("us", tz="UTC")
        n = len(stripped)
        result = pa.nulls(n, type=utc)
        ok = np.zeros(n, dtype=bool)
        if pc.any(has_offset).as_py():
            values = pc.replace_substring_regex(
                pc.if_else(has_offset, stripped, None), r"([+-][0-9]{2})([0-9]{2})$", r"\1:\2"
            )
            parsed, good = _safe_cast(values, utc)
            result = pc.if_else(has_offset, parsed, result)
            ok |= good & pc.fill_null(has_offset, False).to_numpy(zero_copy_only=False)
        if pc.any(local_ok).as_py():
            parsed, good = _safe_cast(pc.if_else(local_ok, stripped, None), pa.timestamp("us"))
            aware = pc.assume_timezone(parsed, timezone=self.bank_tz, ambiguous="earliest", nonexistent="latest")
            result = pc.if_else(local_ok, aware.cast(utc), result)
            ok |= good & pc.fill_null(local_ok, False).to_numpy(zero_copy_only=False)
        wrong = ~ok & ~pc.fill_null(blank, False).to_numpy(zero_copy_only=False)
        self.report(
            wrong,
            batch,
            valid,
            column.name,
            lambda i: f"{shown(i)} is not an ISO 8601 date-time such as 2025-03-14T09:26:53+00:00",
        )
        return pc.if_else(pa.array(ok), result, None)


def _safe_cast(values: pa.Array, target: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """Cast, or, when some value fails, cast value by value to find which."""
    present = pc.is_valid(values).to_numpy(zero_copy_only=False)
    try:
        return values.cast(target), present
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        out = []
        good = np.zeros(len(values), dtype=bool)
        for i, value in enumerate(values):
            if not value.is_valid:
                out.append(None)
                continue
            try:
                out.append(pa.array([value.as_py()]).cast(target)[0].as_py())
                good[i] = True
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                out.append(None)
        return pa.array(out, type=target), good
