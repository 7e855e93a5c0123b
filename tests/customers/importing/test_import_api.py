from __future__ import annotations

from io import BytesIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.models import AuditEvent, TaskRun, TaskRunState
from customers import models
from tests.customers.importing.conftest import FILES

URL = "/api/v1/imports"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _import_dir(settings, tmp_path):
    settings.IMPORT_DIR = tmp_path / "imports"


def _files(*entities: str, **overrides: str) -> list[SimpleUploadedFile]:
    return [
        SimpleUploadedFile(f"{e}.csv", overrides.get(e, FILES[e]).encode(), content_type="text/csv") for e in entities
    ]


def test_a_business_user_starts_an_import_and_follows_its_progress(
    api_as, bianca, django_capture_on_commit_callbacks, settings
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(bianca).post(URL, {"files": _files("products", "customers")}, format="multipart")

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["url"].endswith(f"/api/v1/task-runs/{body['task_id']}")
    run = TaskRun.objects.get(task_id=body["task_id"])
    assert run.name == "customers.import_files"
    assert run.requested_by == bianca
    assert run.state == TaskRunState.SUCCESS
    assert (run.done, run.total) == (6, 6)
    assert run.result["ok"] is True
    assert models.Customer.objects.count() == 3
    event = AuditEvent.objects.get(action="import.start")
    assert event.actor == bianca
    assert event.object_id == run.task_id
    applied = AuditEvent.objects.get(action="import.apply")
    assert applied.actor == bianca
    assert [f["file"] for f in applied.after["files"]] == ["products.csv", "customers.csv"]
    # the uploads are deleted once imported: they may hold personal data
    assert not list(settings.IMPORT_DIR.glob("*/*.csv"))


def test_a_business_user_may_not_import_consents_or_contact_details(api_as, bianca):
    response = api_as(bianca).post(URL, {"files": _files("consents", "contacts")}, format="multipart")
    assert response.status_code == 400
    assert not TaskRun.objects.exists()
    text = response.content.decode()
    assert "consents.csv" in text
    assert "contacts.csv" in text
    assert "may not import" in text


def test_a_failed_import_keeps_its_errors_in_the_task_run(api_as, bianca, django_capture_on_commit_callbacks):
    bad = FILES["products"].replace("180.00", "lots")
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(bianca).post(URL, {"files": _files("products", products=bad)}, format="multipart")

    assert response.status_code == 202
    run = TaskRun.objects.get(task_id=response.json()["task_id"])
    # Refused, shown as failed; it ran to the end, so it is not retried.
    assert run.state == TaskRunState.FAILURE
    assert run.attempts == 1
    assert run.result["ok"] is False
    assert run.result["errors"] == [
        {
            "file": "products.csv",
            "line": 3,
            "column": "value",
            "reason": "'lots' is not a number with a '.' decimal point and at most 2 decimals",
        }
    ]
    assert "products.csv, line 3, column value" in run.error
    assert models.Product.objects.count() == 0


def test_a_dry_run_through_the_api_writes_nothing(api_as, bianca, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(bianca).post(URL, {"files": _files("products"), "dry_run": "true"}, format="multipart")

    assert response.status_code == 202
    assert TaskRun.objects.get(task_id=response.json()["task_id"]).result["dry_run"] is True
    assert models.Product.objects.count() == 0


def test_a_misnamed_upload_is_refused_at_once(api_as, bianca):
    upload = SimpleUploadedFile("clients.csv", b"a,b\n", content_type="text/csv")

    response = api_as(bianca).post(URL, {"files": [upload]}, format="multipart")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["detail"].startswith("clients.csv: not a known import file name")
    assert TaskRun.objects.count() == 0


def test_oscar_without_a_role_is_forbidden(api_as, oscar):
    response = api_as(oscar).post(URL, {"files": _files("products")}, format="multipart")
    assert response.status_code == 403


def test_a_channel_token_cannot_start_imports(mobile_app):
    response = mobile_app.api().post(URL, {"files": _files("products")}, format="multipart")
    assert response.status_code == 403


def test_anonymous_requests_are_refused_with_401(client):
    response = client.post(URL, {"files": [BytesIO(b"x")]})
    assert response.status_code == 401
