"""``manage.py demo_catalogue``: the demo bank's offers, treatments, rules and contact
policies, loaded as a named business user."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from core.models import User
from decisioning.demo import DemoCatalogueError, demo_catalogue_load


class Command(BaseCommand):
    help = (
        "Load the demo bank's decisioning setup for the imported demo products: business issues, offer groups, "
        "one offer per product with a treatment on every channel, the published rule set and the contact "
        "policies. Re-running changes nothing; rows edited since are kept unless --reset."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--as", dest="username", default="bianca", help="The business user acting (default bianca)."
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Put edited rows back to the demo definitions and publish the demo rules if they differ.",
        )

    def handle(self, *args: Any, username: str, reset: bool, **options: Any) -> None:
        actor = User.objects.filter(username=username).first()
        if actor is None:
            raise CommandError(f"--as: no user named {username!r} (manage.py demo_users creates bianca)")
        try:
            report = demo_catalogue_load(actor=actor, now=timezone.now(), reset=reset)
        except (DemoCatalogueError, PermissionDenied) as exc:
            raise CommandError(str(exc)) from None
        except ValidationError as exc:
            raise CommandError(f"the demo catalogue does not validate: {exc}") from None
        for label in report.created:
            self.stdout.write(f"created {label}")
        for label in report.updated:
            self.stdout.write(f"reset {label}")
        for label in report.kept:
            self.stdout.write(f"kept {label}: edited since (--reset puts the demo definition back)")
        self.stdout.write(report.rule_set + (" (--reset to publish the demo rules)" if report.rule_set_kept else ""))
        self.stdout.write(
            f"{len(report.created)} created, {len(report.updated)} reset, {len(report.kept)} kept as edited, "
            f"{report.unchanged} unchanged"
        )
