"""``manage.py model_registry``: list model versions and move them through the
registry (approve, activate, rollback, retire) as a named person, audited."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from core.models import User
from customers.models import Product
from modeling import registry
from modeling.models import ModelStatus, ModelVersion


class Command(BaseCommand):
    help = "List model versions, or approve / reject / activate / retire / roll back as a named user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["list", "approve", "reject", "activate", "retire", "rollback"])
        parser.add_argument("--as", dest="username", default="", help="The person acting (required for changes).")
        parser.add_argument("--product", default="", help="Product code; with approve/activate, its latest version.")
        parser.add_argument(
            "--model-version", dest="version", type=int, default=0, help="Version number (with --product)."
        )
        parser.add_argument(
            "--all-candidates", action="store_true", help="approve: every candidate; activate: every approved one."
        )
        parser.add_argument("--note", default="", help="Why (required to reject).")

    def handle(self, *args: Any, action: str, username: str, product: str, version: int, **options: Any) -> None:
        if action == "list":
            for v in ModelVersion.objects.select_related("product").order_by("product__code", "-version"):
                auc = (v.metrics.get("test") or {}).get("roc_auc") if isinstance(v.metrics, dict) else None
                shown = f"AUC {auc:.3f}" if isinstance(auc, float) else ""
                self.stdout.write(f"{v.product.code:<20} v{v.version:<4} {v.status:<10} {shown}")
            self.stdout.write(registry.scoring_status()["summary"])
            return
        actor = User.objects.filter(username=username).first() if username else None
        if actor is None:
            raise CommandError("--as USERNAME is required, naming an existing user")
        now = timezone.now()
        try:
            if action == "rollback":
                target = Product.objects.filter(code=product).first()
                if target is None:
                    raise CommandError(f"--product: unknown product code {product!r}")
                done = registry.model_version_rollback(product=target, actor=actor, now=now)
                self.stdout.write(f"{target.code}: v{done.version} is active again")
                return
            targets = self._targets(action, product, version, options["all_candidates"])
            if not targets:
                self.stdout.write(f"nothing to {action}")
            for v in targets:
                if action == "approve":
                    registry.model_version_approve(version=v, actor=actor, now=now, note=options["note"])
                elif action == "reject":
                    registry.model_version_reject(version=v, actor=actor, now=now, note=options["note"])
                elif action == "activate":
                    registry.model_version_activate(version=v, actor=actor, now=now)
                else:
                    registry.model_version_retire(version=v, actor=actor, now=now, note=options["note"])
                self.stdout.write(f"{v.product.code} v{v.version}: {action} done")
        except (registry.RegistryError, PermissionDenied) as exc:
            raise CommandError(str(exc)) from None

    def _targets(self, action: str, product: str, version: int, every: bool) -> list[ModelVersion]:
        wanted = {"approve": ModelStatus.CANDIDATE, "reject": ModelStatus.CANDIDATE, "activate": ModelStatus.APPROVED}
        qs = ModelVersion.objects.select_related("product")
        if every:
            if action not in ("approve", "activate"):
                raise CommandError("--all-candidates works with approve and activate only")
            # The latest version per product in the wanted state.
            latest: dict[int, ModelVersion] = {}
            for v in qs.filter(status=wanted[action]).order_by("product_id", "-version"):
                latest.setdefault(v.product_id, v)
            return list(latest.values())
        if not product:
            raise CommandError("name a --product (and --model-version), or use --all-candidates")
        qs = qs.filter(product__code=product)
        if version:
            found = qs.filter(version=version).first()
        elif action == "retire":
            found = qs.filter(status=ModelStatus.ACTIVE).first()
        else:
            found = qs.filter(status=wanted.get(action, ModelStatus.CANDIDATE)).order_by("-version").first()
        if found is None:
            raise CommandError(f"no matching model version of {product!r}")
        return [found]
