"""Load a public data set: ``import_public_dataset bank-marketing path/to/bank-additional-full.csv``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from customers.importing.services import ImportFailed
from customers.public_datasets import DATASETS, PublicDatasetError, public_dataset_import


class Command(BaseCommand):
    help = "Convert a public banking data set to the import format and load it (all or nothing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("dataset", choices=DATASETS, help="Which data set the file is.")
        parser.add_argument(
            "path", help="The data set's file, e.g. data/public/bank-marketing/bank-additional-full.csv"
        )
        parser.add_argument("--limit", type=int, help="Load only the first N rows (they are in date order).")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["limit"] is not None and opts["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        try:
            summary, report = public_dataset_import(
                name=opts["dataset"], source=Path(opts["path"]), limit=opts["limit"]
            )
        except PublicDatasetError as exc:
            raise CommandError(str(exc)) from exc
        except ImportFailed as exc:
            raise CommandError(f"the converted files were refused, nothing was written:\n{exc.report()}") from exc
        for file in report.files:
            self.stdout.write(
                f"  {file.entity:<17} {file.rows_read:>8,} read, {file.inserted:>8,} inserted, "
                f"{file.updated:>6,} updated in {file.seconds:.1f} s"
            )
        self.stdout.write(
            f"Loaded {opts['dataset']}: contacts from {summary.first_contact} to {summary.last_contact}, "
            f"{report.rows_read:,} rows in {report.seconds:.1f} s"
        )
