"""The model registry: the life of a ``ModelVersion`` and the models that score.

candidate -> approved (by a compliance officer who did not train it) -> active
-> retired; a candidate may also be rejected. One version per product is active
at a time: activating one retires the one before, and ``model_version_rollback``
puts the previous active version back in one action. Every change is made by a
person and audited in its own transaction.

Scoring reads ``active_models()``: the active versions, each loaded once per
process and checked against its hash, reloaded only when the active set
changes. A version whose artifact fails to load is left out (and logged), so
the engine degrades to rules alone for that product instead of failing.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction

from core.models import User
from core.permissions import user_can
from core.services import audit_record
from customers.models import Product
from modeling.models import ModelStatus, ModelVersion
from modeling.propensity import ArtifactError, LoadedModel, model_load

logger = logging.getLogger(__name__)
# How long a process trusts its view of the active set before asking the database again.
ACTIVE_SET_RECHECK_SECONDS = 1.0


class RegistryError(ValueError):
    """A registry action that the version's state does not allow; the message says why."""


def _snapshot(version: ModelVersion) -> dict[str, Any]:
    return {"status": version.status, "version": version.version, "product": version.product.code}


def _locked(version: ModelVersion) -> ModelVersion:
    return ModelVersion.objects.select_for_update().select_related("product").get(pk=version.pk)


def _require(actor: User, capability: str, what: str) -> None:
    if not user_can(actor, capability):
        raise PermissionDenied(f"{actor.get_username()} may not {what}")


def _transition(
    version: ModelVersion, *, action: str, actor: User, now: dt.datetime, note: str = "", **fields: Any
) -> ModelVersion:
    """Set ``fields`` on a locked version, save them and audit the change, in the caller's transaction."""
    before = _snapshot(version)
    for name, value in fields.items():
        setattr(version, name, value)
    version.save(update_fields=[*fields, "updated_at"])
    audit_record(
        actor=actor,
        action=action,
        object_type="model_version",
        object_id=version.pk,
        before=before,
        after=_snapshot(version),
        note=note,
        now=now,
    )
    return version


def artifact_dir(version: ModelVersion) -> Path:
    return Path(settings.MODEL_DIR) / version.artifact_path


def model_version_load(version: ModelVersion) -> LoadedModel:
    """Load and verify a version's artifact; ArtifactError says why it cannot be used."""
    return model_load(path=artifact_dir(version), expected_sha256=version.artifact_sha256, model_version_id=version.pk)


@transaction.atomic
def model_version_approve(*, version: ModelVersion, actor: User, now: dt.datetime, note: str = "") -> ModelVersion:
    """A compliance officer's sign-off. The four-eyes rule: whoever trained a model
    (or asked for its training) may not approve it."""
    _require(actor, "approve", "approve models")
    version = _locked(version)
    if version.status != ModelStatus.CANDIDATE:
        raise RegistryError(
            f"{version.product.code} v{version.version} is {version.status}; only a candidate can be approved"
        )
    if version.trained_by_id is not None and version.trained_by_id == actor.pk:
        raise RegistryError("a model must be approved by someone other than the person who trained it")
    return _transition(
        version,
        action="model.approve",
        actor=actor,
        now=now,
        note=note,
        status=ModelStatus.APPROVED,
        approved_by=actor,
        approved_at=now,
        status_note=note,
    )


@transaction.atomic
def model_version_reject(*, version: ModelVersion, actor: User, now: dt.datetime, note: str) -> ModelVersion:
    _require(actor, "approve", "reject models")
    version = _locked(version)
    if version.status not in (ModelStatus.CANDIDATE, ModelStatus.APPROVED):
        raise RegistryError(f"{version.product.code} v{version.version} is {version.status}; it cannot be rejected")
    if not note.strip():
        raise RegistryError("say why the model is rejected")
    return _transition(
        version, action="model.reject", actor=actor, now=now, note=note, status=ModelStatus.REJECTED, status_note=note
    )


def _retire_active(product: Product, *, actor: User, now: dt.datetime, note: str) -> ModelVersion | None:
    current = ModelVersion.objects.select_for_update().filter(product=product, status=ModelStatus.ACTIVE).first()
    if current is None:
        return None
    return _transition(
        current, action="model.retire", actor=actor, now=now, note=note, status=ModelStatus.RETIRED, retired_at=now
    )


@transaction.atomic
def model_version_activate(*, version: ModelVersion, actor: User, now: dt.datetime) -> ModelVersion:
    """Make an approved version the one that scores its product, retiring the
    active one. The artifact is loaded and verified first: a tampered or
    incompatible artifact is never activated."""
    _require(actor, "manage_models", "activate models")
    version = _locked(version)
    if version.status != ModelStatus.APPROVED:
        raise RegistryError(
            f"{version.product.code} v{version.version} is {version.status}; only an approved model can be activated"
        )
    try:
        model_version_load(version)
    except ArtifactError as exc:
        raise RegistryError(f"{version.product.code} v{version.version} cannot be activated: {exc}") from exc
    _retire_active(version.product, actor=actor, now=now, note=f"replaced by v{version.version}")
    return _transition(
        version,
        action="model.activate",
        actor=actor,
        now=now,
        status=ModelStatus.ACTIVE,
        activated_at=now,
        retired_at=None,
    )


@transaction.atomic
def model_version_retire(*, version: ModelVersion, actor: User, now: dt.datetime, note: str = "") -> ModelVersion:
    """Stop a version scoring without a replacement: its product goes back to rules alone."""
    _require(actor, "manage_models", "retire models")
    version = _locked(version)
    if version.status != ModelStatus.ACTIVE:
        raise RegistryError(f"{version.product.code} v{version.version} is {version.status}, not active")
    retired = _retire_active(version.product, actor=actor, now=now, note=note or "retired")
    if retired is None:  # the row lock above makes this impossible; say so if it ever happens
        raise RegistryError(f"{version.product.code} v{version.version} was not active")
    return retired


@transaction.atomic
def model_version_rollback(*, product: Product, actor: User, now: dt.datetime) -> ModelVersion:
    """Put back the version that was active before the current one, in one action."""
    _require(actor, "manage_models", "roll back models")
    current = ModelVersion.objects.select_for_update().filter(product=product, status=ModelStatus.ACTIVE).first()
    if current is None:
        raise RegistryError(f"{product.code} has no active model to roll back")
    previous = (
        ModelVersion.objects.select_for_update()
        .select_related("product")
        .filter(product=product, status=ModelStatus.RETIRED, activated_at__isnull=False)
        .exclude(pk=current.pk)
        .order_by("-activated_at", "-version")
        .first()
    )
    if previous is None:
        raise RegistryError(f"{product.code} v{current.version} has no earlier active version to roll back to")
    try:
        model_version_load(previous)
    except ArtifactError as exc:
        raise RegistryError(f"cannot roll back to {product.code} v{previous.version}: {exc}") from exc
    _retire_active(product, actor=actor, now=now, note=f"rolled back to v{previous.version}")
    return _transition(
        previous,
        action="model.rollback",
        actor=actor,
        now=now,
        note=f"from v{current.version}",
        status=ModelStatus.ACTIVE,
        activated_at=now,
        retired_at=None,
    )


def active_model_versions() -> list[ModelVersion]:
    return list(
        ModelVersion.objects.filter(status=ModelStatus.ACTIVE).select_related("product").order_by("product__code")
    )


@dataclass
class _Cache:
    key: tuple[tuple[int, str], ...] | None = None
    models: dict[int, LoadedModel] | None = None
    checked_at: float = 0.0


_cache = _Cache()
_cache_lock = threading.Lock()


def active_models(*, recheck_seconds: float = ACTIVE_SET_RECHECK_SECONDS) -> dict[int, LoadedModel]:
    """Product id -> loaded active model, loaded once per process.

    The active set is re-read at most every ``recheck_seconds`` (one small query),
    and models are reloaded only when it changed. Loading happens in the process
    that scores, never before a fork (LightGBM's OpenMP does not survive one).
    """
    with _cache_lock:
        fresh = time.monotonic() - _cache.checked_at < recheck_seconds
        if _cache.models is not None and fresh:
            return _cache.models
        rows = list(
            ModelVersion.objects.filter(status=ModelStatus.ACTIVE)
            .order_by("product_id")
            .values_list("pk", "artifact_sha256", "product_id")
        )
        key = tuple((pk, sha) for pk, sha, _ in rows)
        if key != _cache.key or _cache.models is None:
            by_pk = {v.pk: v for v in ModelVersion.objects.filter(pk__in=[pk for pk, _ in key])}
            models: dict[int, LoadedModel] = {}
            for pk, _sha, product_id in rows:
                try:
                    models[product_id] = model_version_load(by_pk[pk])
                except ArtifactError:
                    logger.exception("model version %s cannot be loaded; its product scores on rules alone", pk)
            _cache.key, _cache.models = key, models
        _cache.checked_at = time.monotonic()
        return _cache.models


def active_models_clear() -> None:
    """Forget loaded models (tests, and after a fork)."""
    with _cache_lock:
        _cache.key, _cache.models, _cache.checked_at = None, None, 0.0


def scoring_status() -> dict[str, Any]:
    """What scores now, in words for the UI and decisions: which products have an
    active model, and whether the engine runs on rules alone."""
    versions = active_model_versions()
    products = list(Product.objects.filter(retired_on__isnull=True).order_by("code").values_list("code", flat=True))
    scored = {v.product.code: v.version for v in versions}
    unscored = [code for code in products if code not in scored]
    if not versions:
        summary = "No active propensity model: decisions use rules and historical acceptance rates alone."
    elif unscored:
        summary = f"{len(scored)} products scored by models; {', '.join(unscored)} on rules alone."
    else:
        summary = f"All {len(scored)} products scored by active models."
    return {"rules_only": not versions, "active": scored, "unscored": unscored, "summary": summary}
