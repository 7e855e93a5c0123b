"""``manage.py import_data PATH...``: load the bank's files (see docs/data-format.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from customers.importing.services import ImportFailed, import_files


class Command(BaseCommand):
    help = "Import CSV or Parquet files named by entity (customers.csv, transactions.parquet...) from files or folders."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, help="Files or folders to import.")
        parser.add_argument("--dry-run", action="store_true", help="Validate only; write nothing.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, paths: list[Path], dry_run: bool, no_progress: bool, **options: Any) -> None:
        bar = None if no_progress else tqdm(unit=" rows", unit_scale=True, dynamic_ncols=True, file=self.stderr._out)

        def progress(done: int, total: int | None, message: str) -> None:
            if bar is None:
                return
            if total is not None:
                bar.total = total
            bar.set_description(message.split(":")[0], refresh=False)
            bar.update(done - bar.n)

        try:
            report = import_files(paths=paths, dry_run=dry_run, progress=progress)
        except ImportFailed as failed:
            if bar is not None:
                bar.close()
            self.stderr.write(failed.report())
            raise CommandError(f"import failed: {sum(failed.counts.values())} error(s); nothing was written") from None
        if bar is not None:
            bar.total = bar.n
            bar.close()
        for f in report.files:
            self.stdout.write(
                f"{f.file}: {f.rows_read} read, {f.inserted} inserted, {f.updated} updated, "
                f"{f.unchanged} unchanged in {f.seconds:.1f} s"
            )
        verb = "checked (dry run, nothing written)" if dry_run else "imported"
        rate = report.rows_read / report.seconds if report.seconds else 0
        self.stdout.write(
            self.style.SUCCESS(f"{report.rows_read} rows {verb} in {report.seconds:.1f} s ({rate:,.0f} rows/s)")
        )
