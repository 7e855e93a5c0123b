"""Create a channel system's API token from the command line (printed once)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.models import Scope
from core.services import api_client_create


class Command(BaseCommand):
    help = "Create an API client (channel system) with the given scopes and print its token once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="A unique name, e.g. mobile-app")
        parser.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            required=True,
            choices=Scope.values,
            help="A scope to grant; repeat for several.",
        )

    def handle(self, *args: Any, name: str, scopes: list[str], **options: Any) -> None:
        try:
            _client, token = api_client_create(name=name, scopes=scopes, actor=None)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        except Exception as exc:  # the unique name is the usual cause
            raise CommandError(f"could not create {name!r}: {exc}") from exc
        self.stdout.write(token)
