"""``manage.py data_format_doc > docs/data-format.md``: the import format document."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from customers.importing.docs import render


class Command(BaseCommand):
    help = "Print docs/data-format.md, generated from customers/importing/formats.py."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(render(), ending="")
