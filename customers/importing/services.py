"""Bulk import of the bank's files: ``import_files`` (command, task) and
``import_start`` (API, UI: save the uploads and enqueue the task).

1. Files are recognised by name (``customers.csv``, ``transactions.parquet``,
   ``accounts.csv.gz``) and read in ``formats.LOAD_ORDER``.
2. Each file is streamed in batches, checked column by column and its
   references resolved against this run's earlier files and stored rows.
3. Valid rows go to a staging table, then one upsert per table by natural key.
4. Everything happens in one transaction: any error rolls all files back, and
   ``dry_run`` always rolls back, so the database is never half-loaded.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.utils import timezone

from core.models import TaskRun, User
from core.permissions import user_can
from core.services import audit_record
from customers.importing.entities import (
    DIRECT,
    REFERENCES,
    TARGETS,
    FileContext,
    Lookups,
    after_upsert,
    before_upsert,
    prepare,
)
from customers.importing.errors import MAX_ERRORS_PER_FILE, ErrorSink, ImportFailed, RowError
from customers.importing.formats import FORMATS_BY_NAME, LOAD_ORDER
from customers.importing.reading import FileReader
from customers.importing.staging import DirectConflict, Stager
from customers.importing.validation import BatchChecker

__all__ = ["MAX_ERRORS_PER_FILE", "FileReport", "ImportFailed", "ImportReport", "import_files", "import_start"]

logger = logging.getLogger(__name__)

SUFFIXES = (".csv", ".csv.gz", ".parquet")
SQLITE_CACHE_KIB = 256 * 1024
Progress = Callable[[int, int | None, str], None]


@dataclass
class FileReport:
    file: str
    entity: str
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    seconds: float = 0.0


@dataclass
class ImportReport:
    files: list[FileReport] = field(default_factory=list)
    dry_run: bool = False
    seconds: float = 0.0

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    def as_dict(self) -> dict[str, object]:
        return {"dry_run": self.dry_run, "seconds": round(self.seconds, 3), "files": [asdict(f) for f in self.files]}


def _entity_of(path: Path) -> str | None:
    name = path.name.lower()
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            stem = path.name[: -len(suffix)]
            return stem if stem in FORMATS_BY_NAME else None
    return None


def import_plan(paths: Iterable[Path]) -> list[tuple[str, Path]]:
    """The files to load, in load order. Unknown or repeated names fail the import."""
    files: list[Path] = []
    errors: list[RowError] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")))
        elif path.is_file():
            files.append(path)
        else:
            errors.append(RowError(file=str(path), line=0, column="", reason="no such file or folder"))
    found: dict[str, Path] = {}
    expected = ", ".join(f"{name}.csv" for name in LOAD_ORDER)
    for file in files:
        entity = _entity_of(file)
        if entity is None:
            reason = f"not a known import file: name it after its entity ({expected}; or .parquet, .csv.gz)"
            errors.append(RowError(file=file.name, line=0, column="", reason=reason))
        elif entity in found:
            reason = f"{entity} given twice: {found[entity]} and {file}"
            errors.append(RowError(file=file.name, line=0, column="", reason=reason))
        else:
            found[entity] = file
    if not files and not errors:
        errors.append(RowError(file="", line=0, column="", reason="no import files given"))
    if errors:
        raise ImportFailed(errors, {e.file: 1 for e in errors})
    return [(name, found[name]) for name in LOAD_ORDER if name in found]


class _ProgressMeter:
    """Rows done and an estimate of the total, from bytes read so far."""

    def __init__(self, callback: Progress | None, total_bytes: int) -> None:
        self.callback = callback
        self.total_bytes = max(total_bytes, 1)
        self.rows = 0
        self.bytes_before = 0  # bytes of files already finished

    def update(self, reader: FileReader, file_rows: int) -> None:
        if self.callback is None:
            return
        done_bytes = self.bytes_before + min(reader.bytes_read, reader.size)
        total = int(self.rows * self.total_bytes / done_bytes) if done_bytes and self.rows else None
        if total is not None:
            total = max(total, self.rows)
        self.callback(self.rows, total, f"{reader.path.name}: {file_rows:,} rows")


def import_files(
    *,
    paths: list[Path],
    dry_run: bool = False,
    progress: Progress | None = None,
    now: datetime | None = None,
    actor: User | None = None,
) -> ImportReport:
    """Validate and load the files in one transaction; raise ``ImportFailed``
    (with every file's errors, at most 50 each) and write nothing if any row is bad.

    ``actor``, for an import a person started, is audited with the rows written."""
    started = time.monotonic()
    now = now or timezone.now()
    today = timezone.localtime(now, zoneinfo.ZoneInfo(settings.BANK_TIME_ZONE)).date()
    plan = import_plan(paths)
    report = ImportReport(dry_run=dry_run)
    sinks: list[ErrorSink] = []
    meter = _ProgressMeter(progress, sum(p.stat().st_size for _, p in plan))
    lookups = Lookups()

    with _sqlite_cache(), transaction.atomic():
        for entity, path in plan:
            file_started = time.monotonic()
            errors = ErrorSink(file=path.name)
            sinks.append(errors)
            file_report = FileReport(file=path.name, entity=entity)
            report.files.append(file_report)
            try:
                _load_file(entity, path, errors, lookups, now, today, meter, file_report)
            except DatabaseError as exc:
                logger.warning("import of %s failed in the database: %s", path.name, type(exc).__name__)
                errors.add(line=0, column="", reason=f"the database refused the rows: {exc}".strip())
                break
            finally:
                file_report.seconds = round(time.monotonic() - file_started, 3)
            meter.bytes_before += path.stat().st_size
        failed = [s for s in sinks if s.count]
        if failed:
            raise ImportFailed([e for s in sinks for e in s.errors], {s.file: s.count for s in failed})
        if dry_run:
            transaction.set_rollback(True)
        elif actor is not None:
            audit_record(
                actor=actor,
                action="import.apply",
                object_type="import",
                object_id=Path(plan[0][1]).parent.name if plan else "",
                after={"files": [asdict(f) for f in report.files]},
                now=now,
            )
    report.seconds = round(time.monotonic() - started, 3)
    logger.info("import %s: %d file(s), %d rows", "checked" if dry_run else "done", len(plan), report.rows_read)
    return report


@contextmanager
def _sqlite_cache() -> Iterator[None]:
    """A bigger SQLite page cache while importing: with the default 2 MB, index
    pages of a multi-million-row table are read back from disk on every insert."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        before = cursor.fetchone()[0]
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(before)}")


def _load_file(
    entity: str,
    path: Path,
    errors: ErrorSink,
    lookups: Lookups,
    now: datetime,
    today: date,
    meter: _ProgressMeter,
    file_report: FileReport,
) -> None:
    """Load one file: straight into its table when it may be (see ``Stager``),
    through staging tables otherwise or when a stored key turns up."""
    if entity in DIRECT:
        rows_before = meter.rows
        try:
            _load_file_once(entity, path, errors, lookups, now, today, meter, file_report, direct=True)
            return
        except DirectConflict:
            logger.info("import of %s: keys already stored, loading through the staging table", path.name)
            errors.errors.clear()
            errors.count = 0
            meter.rows = rows_before
            file_report.rows_read = file_report.inserted = file_report.updated = file_report.unchanged = 0
    _load_file_once(entity, path, errors, lookups, now, today, meter, file_report, direct=False)


def _load_file_once(
    entity: str,
    path: Path,
    errors: ErrorSink,
    lookups: Lookups,
    now: datetime,
    today: date,
    meter: _ProgressMeter,
    file_report: FileReport,
    *,
    direct: bool,
) -> None:
    fmt = FORMATS_BY_NAME[entity]
    reader = FileReader(path, fmt, errors)
    for table in REFERENCES[entity]:
        lookups.get(table)  # read before any COPY starts: no query can run during one
    stagers = {
        t.table: Stager(target=t, name=f"import_stage_{i}", direct=direct, now=now)
        for i, t in enumerate(TARGETS[entity])
    }
    for stager in stagers.values():
        stager.create()
    ctx = FileContext(
        name=entity,
        checker=BatchChecker(fmt, errors),
        errors=errors,
        lookups=lookups,
        now=now,
        today=today,
        present=set(),
        stagers=stagers,
    )
    try:
        for batch in reader.batches():
            ctx.present = reader.present
            prepare(ctx, batch)
            file_report.rows_read += batch.num_rows
            meter.rows += batch.num_rows
            meter.update(reader, file_report.rows_read)
        for stager in stagers.values():
            stager.finish()
        file_report.rows_read += len(reader.lines.skipped)
        key_label = ", ".join(fmt.key)
        before_upsert(ctx)
        for stager in stagers.values():
            counts = stager.upsert(now=now, errors=errors, key_label=key_label)
            file_report.inserted += counts.inserted
            file_report.updated += counts.updated
        file_report.unchanged = file_report.rows_read - file_report.inserted - file_report.updated
        after_upsert(ctx)
    except DirectConflict:
        for stager in stagers.values():
            stager.rollback()
        raise
    finally:
        for stager in stagers.values():
            stager.drop()


# --- starting an import from the API or the UI -------------------------------------------------
class Upload(Protocol):
    name: str

    def chunks(self) -> Iterable[bytes]: ...


# Files that change what a customer allows, or hold personal data, need more than run_imports.
CAPABILITY_BY_ENTITY = {"consents": "edit_consents", "contacts": "view_contact_details"}


@transaction.atomic
def import_start(*, uploaded: list[Upload], dry_run: bool, actor: User) -> TaskRun:
    """Save uploaded files under ``IMPORT_DIR/<uuid>/`` and enqueue the import task.

    File names are checked here (entity and suffix), so a misnamed upload is
    refused at once rather than by the worker."""
    from core.task_runs import task_run_enqueue
    from customers.importing.tasks import import_files_task

    if not uploaded:
        raise ImportFailed([RowError(file="", line=0, column="", reason="no files uploaded")], {"": 1})
    errors = []
    names = []
    for upload in uploaded:
        name = Path(upload.name).name
        if _entity_of(Path(name)) is None:
            errors.append(RowError(file=name, line=0, column="", reason="not a known import file name"))
        names.append(name)
    if len(set(names)) != len(names):
        errors.append(RowError(file="", line=0, column="", reason="the same file name is uploaded twice"))
    for name in names:
        needed = CAPABILITY_BY_ENTITY.get(_entity_of(Path(name)) or "")
        if needed and not user_can(actor, needed):
            reason = f"your role may not import this file (it needs the {needed.replace('_', ' ')} permission)"
            errors.append(RowError(file=name, line=0, column="", reason=reason))
    if errors:
        raise ImportFailed(errors, {e.file: 1 for e in errors})
    folder = Path(settings.IMPORT_DIR) / uuid.uuid4().hex
    folder.mkdir(parents=True, exist_ok=False)
    try:
        for upload, name in zip(uploaded, names, strict=True):
            with open(folder / name, "wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
        plan = import_plan([folder])
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    label = ("Check " if dry_run else "Import ") + ", ".join(p.name for _, p in plan)
    run = task_run_enqueue(
        import_files_task, kwargs={"paths": [str(folder)], "dry_run": dry_run}, label=label, requested_by=actor
    )
    audit_record(
        actor=actor,
        action="import.start",
        object_type="task_run",
        object_id=run.task_id,
        after={"files": names, "dry_run": dry_run, "folder": folder.name},
    )
    return run
