"""The modeling commands: registry moves as a named person, and clear refusals."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from modeling import registry
from modeling.models import ModelStatus
from tests.factories.customers import ProductFactory
from tests.factories.modeling import trained_model_version


@pytest.fixture(autouse=True)
def _model_dir(settings, tmp_path):
    settings.MODEL_DIR = tmp_path
    registry.active_models_clear()


def test_candidates_are_approved_then_activated_from_the_command_line(bianca, carlos, settings, capsys):
    version = trained_model_version(product=ProductFactory(code="SAVINGS"), model_dir=settings.MODEL_DIR)

    call_command("model_registry", "approve", "--all-candidates", "--as", "carlos", "--note", "checked")
    call_command("model_registry", "activate", "--product", "SAVINGS", "--model-version", "1", "--as", "bianca")
    call_command("model_registry", "list")

    version.refresh_from_db()
    assert version.status == ModelStatus.ACTIVE
    assert version.approved_by == carlos
    assert "All 1 products scored by active models." in capsys.readouterr().out


def test_the_registry_command_refuses_an_approval_by_the_trainer(carlos, settings):
    trained_model_version(product=ProductFactory(code="SAVINGS"), model_dir=settings.MODEL_DIR, trained_by=carlos)

    with pytest.raises(CommandError, match="someone other than"):
        call_command("model_registry", "approve", "--product", "SAVINGS", "--as", "carlos")


def test_the_registry_command_needs_a_person(db):
    with pytest.raises(CommandError, match="--as"):
        call_command("model_registry", "approve", "--all-candidates")


def test_training_refuses_an_unknown_product(db):
    with pytest.raises(CommandError, match="NOPE"):
        call_command("train_models", "--product", "NOPE")


def test_scoring_without_an_active_model_says_rules_alone(db, capsys):
    call_command("score_customers", "--no-progress")

    assert "rules alone" in capsys.readouterr().out
