"""Roles and access across the API: every endpoint needs authentication and checks the role.

The walk over the URL conf covers endpoints added later, so a new staff API
that forgets its permission fails here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def _api_endpoints() -> Iterator[tuple[str, type]]:
    """(path, view class) of every DRF view under /api/v1/, with path parameters filled in."""

    def walk(patterns, prefix: str) -> Iterator[tuple[str, object]]:
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern), p.callback

    for route, callback in walk(get_resolver().url_patterns, "/"):
        cls = getattr(callback, "cls", None)
        if cls is None or not route.startswith("/api/v1/"):
            continue
        yield re.sub(r"<(?:\w+:)?\w+>", "x1", route), cls


def _is_channel_api(cls: type) -> bool:
    return any(p.__name__.startswith("Scope_") for p in getattr(cls, "permission_classes", []))


# Open on purpose to every authenticated caller, channel or person (tests/core/test_whoami.py).
OPEN_TO_EVERY_CALLER = {"/api/v1/whoami"}

STAFF_APIS = sorted(
    (path, cls)
    for path, cls in _api_endpoints()
    if not _is_channel_api(cls)
    and path not in OPEN_TO_EVERY_CALLER
    and "schema" not in path
    and "docs" not in path
    and "redoc" not in path
)


def test_the_walk_finds_the_staff_apis():
    paths = {path for path, _ in STAFF_APIS}
    assert "/api/v1/task-runs/x1" in paths
    assert "/api/v1/customers/x1/consents" in paths


@pytest.mark.parametrize(("path", "cls"), STAFF_APIS, ids=[p for p, _ in STAFF_APIS])
def test_a_channel_token_cannot_reach_a_staff_api(mobile_app, path, cls):
    api = mobile_app.api()
    for method in ("get", "post"):
        response = getattr(api, method)(path, {}, format="json")
        assert response.status_code == 403, (method, path, response.content)
        assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(("path", "cls"), sorted(_api_endpoints()), ids=[p for p, _ in sorted(_api_endpoints())])
def test_every_api_needs_authentication(path, cls):
    for method in ("get", "post"):
        response = getattr(APIClient(), method)(path, {}, format="json")
        assert response.status_code == 401, (method, path, response.status_code)


@pytest.mark.parametrize(("path", "cls"), STAFF_APIS, ids=[p for p, _ in STAFF_APIS])
def test_a_person_without_a_role_reaches_no_staff_api(api_as, oscar, path, cls):
    api = api_as(oscar)
    for method in ("get", "post"):
        assert getattr(api, method)(path, {}, format="json").status_code == 403


def test_the_task_run_api_is_closed_to_channel_tokens_but_open_to_business_users(mobile_app, bianca, api_as):
    from core.models import TaskRun

    TaskRun.objects.create(task_id="t-1", name="customers.events_received")
    assert mobile_app.api().get("/api/v1/task-runs/t-1").status_code == 403
    assert api_as(bianca).get("/api/v1/task-runs/t-1").status_code == 200


def test_the_schema_needs_credentials_and_is_served_to_a_channel(mobile_app):
    assert APIClient().get("/api/v1/schema/").status_code == 401
    response = mobile_app.api().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "/api/v1/events" in response.json()["paths"]
