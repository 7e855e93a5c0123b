"""``manage.py train_models``: train a candidate propensity model per product."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from core.models import User
from customers.models import Product
from modeling.training import models_train


class Command(BaseCommand):
    help = (
        "Train one calibrated LightGBM propensity model per product on stacked monthly cut-offs, evaluate it on "
        "the latest cut-off and register it as a candidate. Does nothing when the training data is unchanged "
        "since the last run, unless --force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--product", action="append", default=[], help="Product code (repeatable); default all.")
        parser.add_argument("--force", action="store_true", help="Train even if the training data is unchanged.")
        parser.add_argument("--as", dest="username", default="", help="Record this user as the trainer.")

    def handle(self, *args: Any, product: list[str], force: bool, username: str, **options: Any) -> None:
        actor = None
        if username:
            actor = User.objects.filter(username=username).first()
            if actor is None:
                raise CommandError(f"--as: no user named {username!r}")
        products = None
        if product:
            found = {p.code: p for p in Product.objects.filter(code__in=product)}
            unknown = sorted(set(product) - set(found))
            if unknown:
                raise CommandError(f"--product: unknown product code(s): {', '.join(unknown)}")
            products = [found[code] for code in product]

        def progress(done: int, total: int, message: str) -> None:
            self.stdout.write(f"[{done}/{total}] {message}")

        try:
            report = models_train(products=products, actor=actor, now=timezone.now(), force=force, progress=progress)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if report.unchanged:
            self.stdout.write("The training data has not changed since the last run: nothing trained (--force).")
            return
        for version in report.trained:
            metrics = version.metrics.get("test", {}) if isinstance(version.metrics, dict) else {}
            auc = metrics.get("roc_auc")
            shown = f"test AUC {auc:.3f}" if isinstance(auc, float) else ""
            self.stdout.write(f"trained {version.product.code} v{version.version} (candidate) {shown}")
        for code, reason in sorted(report.skipped.items()):
            self.stdout.write(f"skipped {code}: {reason}")
