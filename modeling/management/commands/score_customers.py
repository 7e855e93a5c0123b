"""``manage.py score_customers``: score every customer for every product with an active model."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from core.models import User
from modeling.models import ScoringRun, ScoringRunStatus
from modeling.online import online_features_load
from modeling.propensity import MissingFeatureError
from modeling.scoring import NoActiveModelError, scoring_run_start, scoring_run_work
from modeling.snapshots import feature_snapshot_get_or_build


class Command(BaseCommand):
    help = (
        "Batch-score every customer x product with the active models, from the feature table as of a cut-off "
        "(default today, bank time). Resumes an unfinished run with --resume RUN_ID."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cutoff", type=dt.date.fromisoformat, help="Features as of this date (YYYY-MM-DD).")
        parser.add_argument("--resume", type=int, default=0, help="Finish this unfinished run instead.")
        parser.add_argument("--as", dest="username", default="", help="Record this user as the requester.")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, cutoff: dt.date | None, resume: int, username: str, **options: Any) -> None:
        actor = User.objects.filter(username=username).first() if username else None
        if username and actor is None:
            raise CommandError(f"--as: no user named {username!r}")
        now = timezone.now()
        if resume:
            run = ScoringRun.objects.filter(pk=resume).first()
            if run is None or run.status == ScoringRunStatus.DONE:
                raise CommandError(f"--resume: no unfinished scoring run {resume}")
        else:
            snapshot = feature_snapshot_get_or_build(cutoff=cutoff, now=now) if cutoff else None
            try:
                run = scoring_run_start(snapshot=snapshot, actor=actor, now=now)
            except NoActiveModelError as exc:
                self.stdout.write(str(exc))
                return
            except MissingFeatureError as exc:
                raise CommandError(str(exc)) from None
        bar = None if options["no_progress"] else tqdm(total=run.total, unit=" customers", file=self.stderr._out)

        def progress(done: int, total: int) -> None:
            if bar is not None:
                bar.update(done - bar.n)

        started = time.perf_counter()
        scoring_run_work(run_id=run.pk, max_seconds=None, progress=progress)
        seconds = time.perf_counter() - started
        if bar is not None:
            bar.close()
        run.refresh_from_db()
        self.stdout.write(
            f"scoring run {run.pk}: {run.done:,} customers x {run.model_versions.count()} products, "
            f"{run.status} in {seconds:.1f} s"
        )
        if run.status == ScoringRunStatus.DONE:
            # The decision API reads each customer's features from the online store: fill it
            # from the snapshot just scored (events refresh single customers later).
            started = time.perf_counter()
            loaded = online_features_load(snapshot=run.snapshot, now=timezone.now())
            self.stdout.write(
                f"online features: {loaded.written:,} customers from snapshot {run.snapshot_id} "
                f"in {time.perf_counter() - started:.1f} s"
            )
