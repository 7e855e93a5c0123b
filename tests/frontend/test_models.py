"""Model pages: who sees them, what they show, and the registry actions behind their buttons."""

from __future__ import annotations

import pytest
from django.urls import reverse

from core.models import AuditEvent, TaskRun
from modeling.models import ModelStatus
from tests.factories.customers import ProductFactory
from tests.factories.modeling import model_version_create


@pytest.fixture
def candidate(db, bianca):
    return model_version_create(product=ProductFactory(code="MORTGAGE", name="Home mortgage"), trained_by=bianca)


def test_people_without_a_role_cannot_see_models(client_as, oscar, candidate):
    response = client_as(oscar).get(reverse("frontend:model-list"))
    assert response.status_code == 403


def test_the_model_list_shows_each_product_with_its_latest_version(client_as, bianca, candidate):
    response = client_as(bianca).get(reverse("frontend:model-list"))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Home mortgage" in page
    assert "0.810" in page
    assert "0.770" in page
    assert "rules" in page  # nothing active yet
    assert 'id="train-models"' in page


def test_a_compliance_officer_sees_metrics_against_baselines_and_can_approve(client_as, carlos, candidate):
    response = client_as(carlos).get(reverse("frontend:model-detail", args=[candidate.public_id]))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Logistic regression" in page
    assert "Popularity" in page
    assert 'id="approve"' in page
    assert 'id="train-models"' not in page
    assert 'id="model-charts"' in page


def test_approving_from_the_page_goes_through_the_registry_and_is_audited(client_as, carlos, candidate):
    response = client_as(carlos).post(
        reverse("frontend:model-action", args=[candidate.public_id, "approve"]), {"note": "ok"}
    )

    assert response.status_code == 302
    candidate.refresh_from_db()
    assert candidate.status == ModelStatus.APPROVED
    assert AuditEvent.objects.filter(action="model.approve", actor=carlos).exists()


def test_a_business_user_cannot_approve_even_by_posting(client_as, bianca, candidate):
    response = client_as(bianca).post(reverse("frontend:model-action", args=[candidate.public_id, "approve"]))

    assert response.status_code == 403
    candidate.refresh_from_db()
    assert candidate.status == ModelStatus.CANDIDATE


def test_a_refused_action_is_explained_on_the_page(client_as, bianca, candidate):
    response = client_as(bianca).post(
        reverse("frontend:model-action", args=[candidate.public_id, "activate"]), follow=True
    )

    assert "only an approved model can be activated" in response.content.decode()


def test_the_train_button_queues_a_training_task_and_opens_its_page(client_as, bianca, candidate, monkeypatch):
    from modeling import tasks

    sent = []
    monkeypatch.setattr(tasks.train_models_task, "apply_async", lambda **kw: sent.append(kw))

    response = client_as(bianca).post(reverse("frontend:models-train"))

    run = TaskRun.objects.get(name="modeling.train_models")
    assert response.status_code == 302
    assert response["Location"] == reverse("frontend:task-run-detail", args=[run.task_id])
    assert run.requested_by == bianca


def test_the_score_button_queues_a_scoring_run(client_as, bianca, candidate, monkeypatch):
    from modeling import tasks

    monkeypatch.setattr(tasks.scoring_start_task, "apply_async", lambda **kw: None)

    response = client_as(bianca).post(reverse("frontend:scoring-start"))

    run = TaskRun.objects.get(name="modeling.start_scoring")
    assert response.status_code == 302
    assert run.requested_by == bianca


def test_starting_scoring_without_an_active_model_fails_with_the_reason(bianca, candidate):
    from modeling.tasks import scoring_start_task

    result = scoring_start_task.apply(kwargs={"requested_by_id": bianca.pk}).get()

    assert result["ok"] is False
    assert "rules alone" in result["error"]
