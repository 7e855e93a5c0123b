"""The import page hands the uploaded files to the importing service and shows the run."""

from __future__ import annotations

import sys
import types

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.models import TaskRun
from customers.importing.errors import ImportFailed, RowError


@pytest.fixture
def import_calls(monkeypatch, bianca):
    """Stand in for ``customers.importing.services.import_start``, recording its calls.

    The page talks to the service only through that function; the service has its own tests.
    """
    calls = []

    def import_start(*, uploaded, dry_run, actor):
        calls.append({"uploaded": uploaded, "dry_run": dry_run, "actor": actor})
        if any(f.name == "customers_bad.csv" for f in uploaded):
            errors = [
                RowError(file="customers_bad.csv", line=3, column="birth_date", reason="not a date: '1985-13-01'")
            ]
            raise ImportFailed(errors, {"customers_bad.csv": 4})
        if any(f.name == "bad.csv" for f in uploaded):
            raise ValidationError("bad.csv: unknown file; expected one of customers, accounts, ...")
        return TaskRun.objects.create(task_id="import-1", name="customers.import_files", label="Import")

    try:
        from customers.importing import services
    except ImportError:
        services = types.ModuleType("customers.importing.services")
        monkeypatch.setitem(sys.modules, "customers.importing.services", services)
    monkeypatch.setattr(services, "import_start", import_start, raising=False)
    return calls


def upload(name: str, content: bytes = b"customer_id\nC1\n") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def test_the_import_page_lists_the_files_it_reads(client_as, bianca):
    html = client_as(bianca).get(reverse("frontend:import")).content.decode()

    for name in ("customers", "accounts", "transactions", "consents", "campaign_history"):
        assert f'<span class="mono">{name}</span>' in html
    assert 'enctype="multipart/form-data"' in html
    assert "multiple" in html


def test_uploading_files_starts_an_import_and_shows_its_run(client_as, bianca, import_calls):
    response = client_as(bianca).post(
        reverse("frontend:import"),
        {"files": [upload("customers.csv"), upload("accounts.csv")], "dry_run": "on"},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("frontend:task-run-detail", kwargs={"task_id": "import-1"})
    [call] = import_calls
    assert [f.name for f in call["uploaded"]] == ["customers.csv", "accounts.csv"]
    assert call["dry_run"] is True
    assert call["actor"] == bianca


def test_an_unticked_dry_run_box_means_a_real_import(client_as, bianca, import_calls):
    client_as(bianca).post(reverse("frontend:import"), {"files": [upload("customers.csv")]})

    assert import_calls[0]["dry_run"] is False


def test_the_services_refusal_is_shown_on_the_form(client_as, bianca, import_calls):
    response = client_as(bianca).post(reverse("frontend:import"), {"files": [upload("bad.csv")]})

    assert response.status_code == 200
    assert "bad.csv: unknown file" in response.content.decode()
    assert not TaskRun.objects.exists()


def test_the_services_file_errors_are_listed_with_file_line_and_column(client_as, bianca, import_calls):
    response = client_as(bianca).post(reverse("frontend:import"), {"files": [upload("customers_bad.csv")]})

    html = response.content.decode()
    assert response.status_code == 200
    assert "customers_bad.csv, line 3, column birth_date: not a date: &#x27;1985-13-01&#x27;" in html
    assert "and 3 more error(s) not shown" in html


def test_no_file_no_import(client_as, bianca, import_calls):
    response = client_as(bianca).post(reverse("frontend:import"), {"dry_run": "on"})

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert import_calls == []


def test_a_compliance_officer_cannot_start_an_import(client_as, carlos, import_calls):
    response = client_as(carlos).post(reverse("frontend:import"), {"files": [upload("customers.csv")]})

    assert response.status_code == 403
    assert import_calls == []
