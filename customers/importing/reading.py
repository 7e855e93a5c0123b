"""Stream an import file as batches of text columns, never the whole file.

CSV goes through ``pyarrow.csv.open_csv`` (single-threaded, so rows that have
too many or too few fields are reported with their line number); Parquet
through ``ParquetFile.iter_batches``. Every column comes out as UTF-8 text, so
one set of checks (``validation.py``) serves both formats.

Line numbers: the header is line 1 and data row ``i`` (from 0) is line
``i + 2``. Line breaks inside quoted values are not supported: such a value is
reported as an error on the line where it starts.
"""

from __future__ import annotations

import bisect
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq

from customers.importing.errors import ErrorSink
from customers.importing.formats import EntityFormat

CSV_BLOCK_SIZE = 4 << 20  # bytes parsed per batch: big enough to be fast, small enough to stay lean
PARQUET_BATCH_ROWS = 65_536


class _CountingFile(io.RawIOBase):
    """A read-only file that counts the bytes read, for progress estimates."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        self.bytes_read += n or 0
        return n

    def close(self) -> None:
        self.raw.close()
        super().close()


@dataclass
class Batch:
    """Text columns of consecutive data rows, with the line of each row."""

    columns: dict[str, pa.Array]  # every format column; absent ones are all ""
    first_row: int  # index among the file's accepted rows
    num_rows: int
    lines: LineMap

    def line(self, index: int) -> int:
        return self.lines.line_of(self.first_row + index)


@dataclass
class LineMap:
    """Maps an accepted row's index to its line, given the lines the parser skipped."""

    skipped: list[int] = field(default_factory=list)  # sorted physical line numbers
    offset: int = 2  # line of row 0

    def line_of(self, row: int) -> int:
        # The row is the (row+1)-th line not skipped, counting from ``offset``.
        line = row + self.offset
        while True:
            before = bisect.bisect_right(self.skipped, line)
            candidate = row + self.offset + before
            if candidate == line:
                return line
            line = candidate


class FileReader:
    """Iterate over one file's batches; structural problems go to ``errors``."""

    def __init__(self, path: Path, fmt: EntityFormat, errors: ErrorSink) -> None:
        self.path = path
        self.fmt = fmt
        self.errors = errors
        self.size = path.stat().st_size
        self.total_rows: int | None = None
        self._counter: _CountingFile | None = None
        self.lines = LineMap()
        self.present: set[str] = set()  # format columns found in the header

    @property
    def bytes_read(self) -> int:
        return self._counter.bytes_read if self._counter else self.size

    def batches(self) -> Iterator[Batch]:
        name = self.path.name.lower()
        if name.endswith(".parquet"):
            yield from self._parquet()
        else:
            yield from self._csv(gzipped=name.endswith(".gz"))

    # --- header ------------------------------------------------------------
    def _check_header(self, names: list[str]) -> list[str] | None:
        """The columns to read, or None when the header is unusable."""
        ok = True
        known = set(self.fmt.column_names)
        seen: set[str] = set()
        for name in names:
            if name in seen:
                self.errors.add(line=1, column=name, reason="the column appears twice in the header")
                ok = False
            seen.add(name)
            if name not in known:
                hint = ""
                if any(sep in name for sep in (";", "\t", "|")):
                    hint = " (the delimiter must be a comma)"
                self.errors.add(line=1, column=name, reason=f"unknown column{hint}")
                ok = False
        for required in self.fmt.required_columns:
            if required not in seen:
                self.errors.add(line=1, column=required, reason="required column missing from the header")
                ok = False
        self.present = {n for n in names if n in known}
        return [n for n in names if n in known] if ok else None

    def _complete(self, found: dict[str, pa.Array], num_rows: int) -> dict[str, pa.Array]:
        empty: pa.Array | None = None
        out = {}
        for name in self.fmt.column_names:
            if name in found:
                out[name] = found[name]
            else:
                if empty is None:
                    empty = pa.array([""] * num_rows, type=pa.string())
                out[name] = empty
        return out

    # --- CSV -------------------------------------------------------------------
    def _csv(self, *, gzipped: bool) -> Iterator[Batch]:
        if self.size == 0:
            self.errors.add(line=1, column="", reason="the file is empty: a header line is required")
            return
        raw = open(self.path, "rb")  # noqa: SIM115 - closed in finally
        self._counter = _CountingFile(raw)
        source: BinaryIO = io.BufferedReader(self._counter, buffer_size=1 << 20)
        if gzipped:
            source = gzip.GzipFile(fileobj=source, mode="rb")  # type: ignore[assignment]
        try:
            header = self._read_header_names()
            if header is None:
                return
            names = self._check_header(header)
            if names is None:
                return

            def on_invalid(row: pv.InvalidRow) -> str:
                self.lines.skipped.append(row.number)
                text = row.text or ""
                if text.count('"') % 2 or "\n" in text.rstrip("\r\n"):
                    # A quote left open swallows the following lines into one field.
                    opened = _open_quote_field(text)
                    column = header[opened] if opened is not None and opened < len(header) else ""
                    self.errors.add(
                        line=row.number,
                        column=column,
                        reason="unterminated quote (or a line break inside a quoted value, not supported)",
                    )
                    return "skip"
                self.errors.add(
                    line=row.number,
                    column="",
                    reason=f"expected {row.expected_columns} fields, found {row.actual_columns}",
                )
                return "skip"

            reader = pv.open_csv(
                source,
                read_options=pv.ReadOptions(use_threads=False, block_size=CSV_BLOCK_SIZE),
                parse_options=pv.ParseOptions(
                    delimiter=",", quote_char='"', newlines_in_values=False, invalid_row_handler=on_invalid
                ),
                convert_options=pv.ConvertOptions(
                    column_types=dict.fromkeys(header, pa.binary()),
                    include_columns=names,
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
            row = 0
            for record_batch in reader:
                n = record_batch.num_rows
                if n == 0:
                    continue
                self.lines.skipped.sort()
                batch = Batch(columns={}, first_row=row, num_rows=n, lines=self.lines)
                found = {name: self._text(record_batch.column(name), name, batch) for name in names}
                batch.columns = self._complete(found, n)
                row += n
                yield batch
        except pa.ArrowInvalid as exc:
            self.errors.add(line=0, column="", reason=f"cannot parse the file: {_arrow_message(exc)}")
        finally:
            source.close()
            raw.close()

    def _read_header_names(self) -> list[str] | None:
        with open(self.path, "rb") as f:
            first = f.readline(1 << 20)
            if self.path.name.lower().endswith(".gz"):
                f.seek(0)
                with gzip.GzipFile(fileobj=f) as g:
                    first = g.readline(1 << 20)
        first = first.removeprefix(b"\xef\xbb\xbf").rstrip(b"\r\n")
        if not first.strip():
            self.errors.add(line=1, column="", reason="the first line is empty: a header line is required")
            return None
        try:
            text = first.decode("utf-8")
        except UnicodeDecodeError:
            self.errors.add(line=1, column="", reason="the header is not valid UTF-8: save the file as UTF-8")
            return None
        try:
            table = pv.read_csv(io.BytesIO(text.encode() + b"\n"), read_options=pv.ReadOptions(use_threads=False))
        except pa.ArrowInvalid as exc:
            self.errors.add(line=1, column="", reason=f"cannot parse the header: {_arrow_message(exc)}")
            return None
        return [name.strip() for name in table.column_names]

    def _text(self, column: pa.ChunkedArray, name: str, batch: Batch) -> pa.Array:
        """Binary cells to text: reject invalid UTF-8 and line breaks (unterminated quotes)."""
        array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        try:
            text = array.cast(pa.string())
            text.validate(full=True)
        except (pa.ArrowInvalid, UnicodeDecodeError):
            values = array.to_pylist()
            fixed = []
            for i, value in enumerate(values):
                try:
                    fixed.append(value.decode("utf-8"))
                except UnicodeDecodeError:
                    self.errors.add(line=batch.line(i), column=name, reason="not valid UTF-8: save the file as UTF-8")
                    fixed.append("")
            text = pa.array(fixed, type=pa.string())
        broken = pc.match_substring_regex(text, r"[\r\n]")
        if pc.any(broken).as_py():
            for i in pc.indices_nonzero(broken).to_pylist():
                self.errors.add(
                    line=batch.line(i),
                    column=name,
                    reason="unterminated quote or a line break inside a quoted value (not supported)",
                )
            text = pc.if_else(broken, "", text)
        return text

    # --- Parquet ---------------------------------------------------------------
    def _parquet(self) -> Iterator[Batch]:
        try:
            parquet = pq.ParquetFile(self.path)
        except (pa.ArrowInvalid, OSError) as exc:
            self.errors.add(line=0, column="", reason=f"not a readable Parquet file: {_arrow_message(exc)}")
            return
        names = self._check_header(list(parquet.schema_arrow.names))
        if names is None:
            return
        self.total_rows = parquet.metadata.num_rows
        row = 0
        for record_batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=names):
            n = record_batch.num_rows
            batch = Batch(columns={}, first_row=row, num_rows=n, lines=self.lines)
            found = {}
            for name in names:
                found[name] = _parquet_text(record_batch.column(name))
            batch.columns = self._complete(found, n)
            row += n
            yield batch


def _parquet_text(array: pa.Array) -> pa.Array:
    """A typed Parquet column as the text the CSV checks expect."""
    t = array.type
    if pa.types.is_dictionary(t):
        array = array.dictionary_decode()
        t = array.type
    if pa.types.is_timestamp(t):
        if t.tz is not None:
            array = array.cast(pa.timestamp("us", tz="UTC"))
            text = pc.strftime(array, format="%Y-%m-%dT%H:%M:%S", locale="C")
            text = pc.binary_join_element_wise(text, "+00:00", "")
        else:
            text = pc.strftime(array.cast(pa.timestamp("us")), format="%Y-%m-%dT%H:%M:%S")
    elif pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        text = array.cast(pa.string())
    elif pa.types.is_boolean(t):
        text = pc.if_else(array, "true", "false")
    else:
        text = array.cast(pa.string())
    return pc.fill_null(text, "")


def _arrow_message(exc: Exception) -> str:
    return str(exc).split("\n")[0]


def _open_quote_field(text: str) -> int | None:
    """Index of the field whose opening quote is never closed."""
    field_index, quoted, opened_at = 0, False, None
    i = 0
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == '"':
                if i + 1 < len(text) and text[i + 1] == '"':
                    i += 1
                else:
                    quoted = False
        elif ch == '"':
            quoted, opened_at = True, field_index
        elif ch == ",":
            field_index += 1
        elif ch == "\n":
            break
        i += 1
    return opened_at if quoted else None
