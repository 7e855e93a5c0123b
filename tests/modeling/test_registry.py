"""The model registry: four-eyes approval, activation that verifies the artifact,
one-action rollback, audit of every change, and the per-process model cache."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied

from core.models import AuditEvent, Role, User
from modeling import registry
from modeling.models import ModelStatus
from tests.factories.customers import ProductFactory
from tests.factories.modeling import model_version_create, trained_model_version

NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _model_dir(settings, tmp_path):
    settings.MODEL_DIR = tmp_path
    registry.active_models_clear()
    yield
    registry.active_models_clear()


@pytest.fixture
def mortgage(db):
    return ProductFactory(code="MORTGAGE")


@pytest.fixture
def diana(db) -> User:
    """A second compliance officer."""
    return User.objects.create_user(username="diana", password="pw", role=Role.COMPLIANCE)


def test_a_compliance_officer_approves_a_candidate_and_it_is_audited(mortgage, bianca, carlos):
    version = model_version_create(product=mortgage, trained_by=bianca)

    registry.model_version_approve(version=version, actor=carlos, now=NOW, note="metrics checked")

    version.refresh_from_db()
    assert version.status == ModelStatus.APPROVED
    assert version.approved_by == carlos
    assert version.approved_at == NOW
    event = AuditEvent.objects.get(action="model.approve")
    assert event.actor == carlos
    assert event.before["status"] == "candidate"
    assert event.after["status"] == "approved"


def test_whoever_trained_a_model_may_not_approve_it(mortgage, carlos):
    version = model_version_create(product=mortgage, trained_by=carlos)

    with pytest.raises(registry.RegistryError, match="someone other than"):
        registry.model_version_approve(version=version, actor=carlos, now=NOW)

    version.refresh_from_db()
    assert version.status == ModelStatus.CANDIDATE
    assert not AuditEvent.objects.exists()


def test_a_business_user_may_not_approve_a_model(mortgage, bianca):
    version = model_version_create(product=mortgage)

    with pytest.raises(PermissionDenied):
        registry.model_version_approve(version=version, actor=bianca, now=NOW)


def test_a_rejection_needs_a_reason(mortgage, carlos):
    version = model_version_create(product=mortgage)

    with pytest.raises(registry.RegistryError, match="why"):
        registry.model_version_reject(version=version, actor=carlos, now=NOW, note=" ")
    registry.model_version_reject(version=version, actor=carlos, now=NOW, note="lags the baseline")

    version.refresh_from_db()
    assert version.status == ModelStatus.REJECTED


def test_only_an_approved_model_can_be_activated(mortgage, bianca):
    version = model_version_create(product=mortgage)

    with pytest.raises(registry.RegistryError, match="only an approved model"):
        registry.model_version_activate(version=version, actor=bianca, now=NOW)


def test_activating_a_version_retires_the_active_one(mortgage, bianca, settings):
    old = trained_model_version(product=mortgage, model_dir=settings.MODEL_DIR, version=1, status=ModelStatus.APPROVED)
    new = trained_model_version(product=mortgage, model_dir=settings.MODEL_DIR, version=2, status=ModelStatus.APPROVED)

    registry.model_version_activate(version=old, actor=bianca, now=NOW)
    registry.model_version_activate(version=new, actor=bianca, now=NOW + dt.timedelta(days=1))

    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.status, new.status) == (ModelStatus.RETIRED, ModelStatus.ACTIVE)
    assert old.retired_at == NOW + dt.timedelta(days=1)
    assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == [
        "model.activate",
        "model.retire",
        "model.activate",
    ]


def test_rolling_back_puts_the_previous_version_back_in_one_action(mortgage, bianca, settings):
    old = trained_model_version(product=mortgage, model_dir=settings.MODEL_DIR, version=1, status=ModelStatus.APPROVED)
    new = trained_model_version(product=mortgage, model_dir=settings.MODEL_DIR, version=2, status=ModelStatus.APPROVED)
    registry.model_version_activate(version=old, actor=bianca, now=NOW)
    registry.model_version_activate(version=new, actor=bianca, now=NOW + dt.timedelta(hours=1))

    restored = registry.model_version_rollback(product=mortgage, actor=bianca, now=NOW + dt.timedelta(hours=2))

    new.refresh_from_db()
    assert restored.pk == old.pk
    assert restored.status == ModelStatus.ACTIVE
    assert new.status == ModelStatus.RETIRED
    assert AuditEvent.objects.filter(action="model.rollback", object_id=str(old.pk)).exists()


def test_there_is_nothing_to_roll_back_to_without_an_earlier_active_version(mortgage, bianca, settings):
    only = trained_model_version(product=mortgage, model_dir=settings.MODEL_DIR, status=ModelStatus.APPROVED)
    registry.model_version_activate(version=only, actor=bianca, now=NOW)

    with pytest.raises(registry.RegistryError, match="no earlier active version"):
        registry.model_version_rollback(product=mortgage, actor=bianca, now=NOW)
    only.refresh_from_db()
    assert only.status == ModelStatus.ACTIVE


def test_a_tampered_artifact_is_never_activated(mortgage, bianca, settings):
    version = trained_model_version(product=mortgage, model_dir=settings.MODEL_DIR, status=ModelStatus.APPROVED)
    directory = settings.MODEL_DIR / version.artifact_path
    booster = next(p for p in directory.iterdir() if p.suffix == ".txt")
    booster.write_text(booster.read_text().replace("leaf_value=", "leaf_value=1", 1))

    with pytest.raises(registry.RegistryError, match="cannot be activated"):
        registry.model_version_activate(version=version, actor=bianca, now=NOW)

    version.refresh_from_db()
    assert version.status == ModelStatus.APPROVED


def test_without_an_active_model_the_engine_says_it_runs_on_rules_alone(mortgage):
    model_version_create(product=mortgage)

    status = registry.scoring_status()

    assert status["rules_only"] is True
    assert "rules" in status["summary"]
    assert registry.active_models() == {}


def test_active_models_are_loaded_once_and_reloaded_when_the_active_set_changes(mortgage, bianca, settings):
    first = trained_model_version(
        product=mortgage, model_dir=settings.MODEL_DIR, version=1, status=ModelStatus.APPROVED
    )
    second = trained_model_version(
        product=mortgage, model_dir=settings.MODEL_DIR, version=2, status=ModelStatus.APPROVED
    )
    registry.model_version_activate(version=first, actor=bianca, now=NOW)

    loaded = registry.active_models(recheck_seconds=0)
    again = registry.active_models(recheck_seconds=0)
    assert loaded[mortgage.pk] is again[mortgage.pk]
    assert loaded[mortgage.pk].model_version_id == first.pk

    registry.model_version_activate(version=second, actor=bianca, now=NOW)
    assert registry.active_models(recheck_seconds=0)[mortgage.pk].model_version_id == second.pk


def test_an_active_version_whose_artifact_went_missing_leaves_its_product_on_rules(mortgage, bianca, settings):
    version = trained_model_version(product=mortgage, model_dir=settings.MODEL_DIR, status=ModelStatus.APPROVED)
    registry.model_version_activate(version=version, actor=bianca, now=NOW)
    for path in (settings.MODEL_DIR / version.artifact_path).iterdir():
        path.unlink()

    assert registry.active_models(recheck_seconds=0) == {}
