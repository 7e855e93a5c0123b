"""The OpenAPI schema builds without a single drf-spectacular warning and validates."""

from __future__ import annotations

import pytest
from django.core.management import call_command


def test_the_schema_generates_without_warnings_and_validates(tmp_path):
    # --fail-on-warn turns every warning (unnamed serializer, enum collision,
    # untyped field...) into an error, so the schema cannot silently degrade.
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(out))
    text = out.read_text()
    assert "/api/v1/events:" in text
    assert "Idempotency-Key" in text


@pytest.mark.django_db
def test_the_docs_page_loads_its_assets_from_this_server(api_as, bianca, settings):
    # The manifest storage needs collectstatic; the plain one names the same files.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    response = api_as(bianca).get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr.net" not in html
    assert "unpkg.com" not in html
    assert "/static/drf_spectacular_sidecar/" in html
