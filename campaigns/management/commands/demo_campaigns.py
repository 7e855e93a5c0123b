"""``manage.py demo_campaigns``: three weeks of campaigns on the demo bank, delivered,
responded to and attributed, so the performance pages open on real numbers."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from campaigns.demo import demo_history_build
from core.models import User


class Command(BaseCommand):
    help = (
        "Run the demo campaigns over the last three weeks on a simulated clock (decide, queue, deliver to the "
        "email file backend and the web channel), simulate the customers' responses, product openings and "
        "surveys, and attribute conversions. Skips itself when the demo campaigns exist."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--as", dest="username", default="bianca", help="The business user acting (default bianca)."
        )

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        actor = User.objects.filter(username=username).first()
        if actor is None:
            raise CommandError(f"--as: no user named {username!r} (manage.py demo_users creates bianca)")
        history = demo_history_build(actor=actor)
        if not history.runs:
            self.stdout.write("demo campaigns already there: nothing to do")
            return
        self.stdout.write(
            f"{history.runs} campaign runs ({', '.join(history.campaigns)}): {history.sent:,} messages sent, "
            f"{history.responses:,} responses, {history.accounts_opened:,} products opened, "
            f"{history.conversions:,} conversions attributed, {history.surveys:,} surveys"
        )
