"""Write a synthetic demo bank in the import format: ``generate_demo_bank --customers N --seed S --out DIR``."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from customers.demo.generator import DemoBankOptions, demo_bank_generate
from customers.importing.formats import LOAD_ORDER


def _first_of_this_month() -> dt.date:
    today = timezone.now().astimezone(zoneinfo.ZoneInfo(settings.BANK_TIME_ZONE)).date()
    return today.replace(day=1)


class Command(BaseCommand):
    help = "Generate a synthetic bank (customers, accounts, transactions, campaigns...) as import-format CSV files."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=2_000, help="Number of customers (default 2000).")
        parser.add_argument("--seed", type=int, default=42, help="Random seed; a seed always gives the same files.")
        parser.add_argument("--out", required=True, help="Folder to write the CSV files into (created if missing).")
        parser.add_argument("--months", type=int, default=18, help="History window in months (default 18).")
        parser.add_argument(
            "--as-of",
            dest="as_of",
            help="First day after the window, YYYY-MM-DD, a first of month (default: this month's first day "
            "in BANK_TIME_ZONE).",
        )
        parser.add_argument(
            "--transactions-per-month",
            dest="transactions_per_month",
            type=float,
            default=30.0,
            help="Average transactions per customer and month (default 30).",
        )
        parser.add_argument("--force", action="store_true", help="Overwrite import files already in --out.")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["as_of"]:
            try:
                as_of = dt.date.fromisoformat(opts["as_of"])
            except ValueError as exc:
                raise CommandError(f"--as-of: {opts['as_of']!r} is not a date (YYYY-MM-DD)") from exc
        else:
            as_of = _first_of_this_month()
        out = Path(opts["out"])
        if out.exists() and not out.is_dir():
            raise CommandError(f"--out: {out} exists and is not a folder")
        existing = [name for name in LOAD_ORDER if (out / f"{name}.csv").exists()]
        if existing and not opts["force"]:
            raise CommandError(f"--out: {out} already holds {', '.join(existing)} (use --force to overwrite)")
        try:
            options = DemoBankOptions(
                customers=opts["customers"],
                seed=opts["seed"],
                as_of=as_of,
                months=opts["months"],
                transactions_per_month=opts["transactions_per_month"],
                currency=settings.BASE_CURRENCY,
                time_zone=settings.BANK_TIME_ZONE,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        summary = demo_bank_generate(options=options, out_dir=out)
        width = max(len(name) for name in summary.rows)
        for name, count in summary.rows.items():
            self.stdout.write(f"  {name:<{width}}  {count:>12,}")
        self.stdout.write(
            f"Wrote {summary.total_rows:,} rows for {options.customers:,} customers "
            f"({options.months} months to {as_of.isoformat()}) to {out} in {summary.seconds:.1f} s"
        )
