"""``manage.py build_segments``: a new current version of every segmentation."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from core.models import User
from modeling.segments import SegmentationError, segmentations_build
from modeling.snapshots import SnapshotError, bank_today, feature_snapshot_get_or_build


class Command(BaseCommand):
    help = (
        "Build the behavioural (k-means), value (Gaussian mixture), demographic and value-tier (rules) "
        "segmentations from the feature snapshot of a cut-off (built if there is no recent one) and make them "
        "current. Earlier versions are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cutoff", default="", help="Cut-off date YYYY-MM-DD; default today in bank time.")
        parser.add_argument("--seed", type=int, default=None, help="Random seed; default MODEL_SEED.")
        parser.add_argument("--as", dest="username", default="", help="Record this user as the builder.")

    def handle(self, *args: Any, cutoff: str, seed: int | None, username: str, **options: Any) -> None:
        now = timezone.now()
        try:
            day = dt.date.fromisoformat(cutoff) if cutoff else bank_today(now)
        except ValueError:
            raise CommandError(f"--cutoff: expected a date as YYYY-MM-DD, got {cutoff!r}") from None
        actor = None
        if username:
            actor = User.objects.filter(username=username).first()
            if actor is None:
                raise CommandError(f"--as: no user named {username!r}")
        snapshot = feature_snapshot_get_or_build(cutoff=day, now=now)
        self.stdout.write(f"feature snapshot {snapshot.pk}: {snapshot.customer_count} customers as of {day}")
        try:
            built = segmentations_build(snapshot=snapshot, actor=actor, now=now, seed=seed)
        except (SegmentationError, SnapshotError) as exc:
            raise CommandError(str(exc)) from None
        for segmentation in built:
            if segmentation.selection:
                chosen = f"k={segmentation.selection['k']} by {segmentation.selection['criterion']}"
                how = f"{segmentation.get_method_display()}, {chosen}"
            else:
                how = "rules"
            self.stdout.write(f"{segmentation.get_kind_display()} v{segmentation.version} ({how})")
            for segment in segmentation.segments.all():
                self.stdout.write(f"  {segment.code:<32} {segment.size:>8} {segment.share:>7.1%}  {segment.name}")
