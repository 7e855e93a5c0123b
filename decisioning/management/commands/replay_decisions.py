"""Replay stored decisions and report how many come out exactly the same."""

from __future__ import annotations

import json as jsonlib
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from decisioning.models import Decision
from decisioning.replay import decisions_replay


class Command(BaseCommand):
    help = (
        "Re-run gates, rules, caps and arbitration on stored decisions (and their scores where the model "
        "version still loads) and report how many match exactly."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--sample", type=int, default=100, help="How many decisions, drawn at random (default 100)."
        )
        parser.add_argument("--seed", type=int, default=42, help="Seed of the random draw.")
        parser.add_argument("--json", action="store_true", help="Print the figures as one JSON line.")

    def handle(self, *args: Any, sample: int, seed: int, json: bool = False, **options: Any) -> None:
        if sample < 1:
            raise CommandError("--sample is at least 1")
        ids = list(Decision.objects.order_by("pk").values_list("pk", flat=True))
        if not ids:
            raise CommandError("there are no decisions to replay")
        import random

        chosen = sorted(random.Random(seed).sample(ids, min(sample, len(ids))))
        decisions = Decision.objects.filter(pk__in=chosen).select_related("rule_set", "catalogue").order_by("pk")
        results = decisions_replay(decisions)
        matched = sum(r.match for r in results)
        figures = {
            "replayed": len(results),
            "matched": matched,
            "mismatched": len(results) - matched,
            "scores_recomputed": sum(r.scores_recomputed for r in results),
            "scores_unavailable": sum(r.scores_unavailable for r in results),
        }
        for r in results:
            if not r.match:
                self.stderr.write(f"decision {r.decision_id}: {'; '.join(r.differences)}")
        if json:
            self.stdout.write(_dumps(figures))
        else:
            self.stdout.write(
                f"replayed {figures['replayed']} decisions: {matched} match exactly, {figures['mismatched']} differ; "
                f"{figures['scores_recomputed']} scores recomputed from their model versions, "
                f"{figures['scores_unavailable']} with a model version that no longer loads"
            )
        if matched != len(results):
            raise CommandError(f"{len(results) - matched} of {len(results)} decisions did not replay exactly")


def _dumps(value: Any) -> str:
    return jsonlib.dumps(value)
