"""Import errors: each names the file, line, column and reason; at most
``MAX_ERRORS_PER_FILE`` are kept per file, the rest only counted."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

MAX_ERRORS_PER_FILE = 50


@dataclass(frozen=True)
class RowError:
    file: str
    line: int  # 1 is the header; 0 when the problem is the whole file
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}, line {self.line}" if self.line else self.file
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.reason}"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class ErrorSink:
    """Collects one file's errors."""

    file: str
    errors: list[RowError] = field(default_factory=list)
    count: int = 0

    def add(self, *, line: int, column: str, reason: str) -> None:
        self.count += 1
        if len(self.errors) < MAX_ERRORS_PER_FILE:
            self.errors.append(RowError(file=self.file, line=line, column=column, reason=reason))

    @property
    def full(self) -> bool:
        return len(self.errors) >= MAX_ERRORS_PER_FILE


class ImportFailed(Exception):
    """The files did not validate; nothing was written.

    ``errors`` lists at most ``MAX_ERRORS_PER_FILE`` errors per file, in file
    order; ``counts`` gives every file's full error count."""

    def __init__(self, errors: list[RowError], counts: dict[str, int]) -> None:
        self.errors = errors
        self.counts = counts
        total = sum(counts.values())
        lines = [str(e) for e in errors[:5]]
        more = f" (and {total - len(lines)} more)" if total > len(lines) else ""
        super().__init__(f"{total} error(s) in the import files{more}: " + "; ".join(lines))

    def report(self) -> str:
        """Every listed error, one per line, with a count per file that had more."""
        out = [str(e) for e in self.errors]
        for file, count in self.counts.items():
            listed = sum(1 for e in self.errors if e.file == file)
            if count > listed:
                out.append(f"{file}: {count - listed} more error(s) not listed")
        return "\n".join(out)
