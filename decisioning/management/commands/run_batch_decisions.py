"""Run a batch next-best-action for one channel and audience, here and now."""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, connections
from django.utils import timezone

from core.models import User
from decisioning.batch import batch_run_start, batch_run_work
from decisioning.models import BatchDecisionRun


class Command(BaseCommand):
    help = "Decide the next best offers for every customer of an audience on one channel (a batch run)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--channel", required=True, help="email, push, web or call_centre")
        parser.add_argument("--segment", default="", help="Only the customers of this current segment (its code).")
        parser.add_argument("--max-results", type=int, default=1, help="Offers per customer (1 to 25, default 1).")
        parser.add_argument("--as", dest="username", default="", help="The person starting the run (audited).")
        parser.add_argument("--batch-size", type=int, default=500, help="Customers per chunk (default 500).")
        parser.add_argument(
            "--processes",
            type=int,
            default=1,
            help="Worker processes sharing the run (PostgreSQL; SQLite has one writer at a time).",
        )

    def handle(
        self,
        *args: Any,
        channel: str,
        segment: str,
        max_results: int,
        username: str,
        batch_size: int,
        processes: int,
        **options: Any,
    ) -> None:
        if processes < 1 or (processes > 1 and connection.vendor != "postgresql"):
            raise CommandError("--processes: 1, or more on PostgreSQL")
        actor = None
        if username:
            actor = User.objects.filter(username=username).first()
            if actor is None:
                raise CommandError(f"no user named {username!r}")
        started = time.perf_counter()
        try:
            run = batch_run_start(
                channel=channel,
                audience={"segment": segment} if segment else {},
                max_results=max_results,
                actor=actor,
                now=timezone.now(),
                batch_size=batch_size,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        if processes > 1:
            _work_in_processes(run.pk, processes)
        else:
            batch_run_work(run_id=run.pk, max_seconds=None)
        seconds = time.perf_counter() - started
        run = BatchDecisionRun.objects.get(pk=run.pk)
        rate = run.done / seconds if seconds else 0.0
        self.stdout.write(
            f"batch run {run.public_id} on {run.channel}: {run.done} customers decided, {run.offers_made} offers "
            f"proposed in {seconds:.1f} s ({rate:,.0f} customers/s, {processes} process{'es' if processes > 1 else ''})"
        )


def _work(run_id: int) -> None:
    batch_run_work(run_id=run_id, max_seconds=None)
    connections.close_all()


def _work_in_processes(run_id: int, processes: int) -> None:
    """Forked workers, each claiming chunks until none is left. Forked before any
    model is loaded here (LightGBM's OpenMP does not survive a fork) and with no
    database connection open (each child opens its own)."""
    connections.close_all()
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=_work, args=(run_id,)) for _ in range(processes)]
    for child in children:
        child.start()
    for child in children:
        child.join()
    failed = [child.exitcode for child in children if child.exitcode]
    if failed:
        raise CommandError(f"{len(failed)} worker process(es) failed; run the command's chunks again to finish")
