"""Shared fixtures. Four personas turn permission tests into short stories:
bianca (business user), carlos (compliance officer), mobile_app (a channel
system with a token) and oscar (logged in, no role)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from core.models import ApiClient, Role, User
from core.services import api_client_create


@dataclass
class Channel:
    client: ApiClient
    token: str

    def api(self) -> APIClient:
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {self.token}")
        return api


def _user(username: str, role: str) -> User:
    return User.objects.create_user(username=username, password="pw-" + username, role=role)


@pytest.fixture
def bianca(db) -> User:
    return _user("bianca", Role.BUSINESS)


@pytest.fixture
def carlos(db) -> User:
    return _user("carlos", Role.COMPLIANCE)


@pytest.fixture
def alice_admin(db) -> User:
    user = _user("alice", Role.ADMIN)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


@pytest.fixture
def oscar(db) -> User:
    return _user("oscar", Role.NONE)


@pytest.fixture
def mobile_app(db) -> Channel:
    client, token = api_client_create(name="mobile-app", scopes=["events", "decisions", "outcomes"], actor=None)
    return Channel(client=client, token=token)


@pytest.fixture
def api_as():
    """``api_as(user)`` gives a DRF client logged in as that person."""

    def make(user: User) -> APIClient:
        api = APIClient()
        api.force_authenticate(user=user)
        return api

    return make


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_treatment_cache():
    """Senders cache treatments for a few seconds; each test starts without."""
    from campaigns.channels.render import treatments_forget

    treatments_forget()


def pytest_collection_modifyitems(config, items):
    """Tests marked ``worker`` need a real Celery worker: ``.ci/run`` starts one on
    Redis against the test database and sets CROSSELL_TEST_WORKER. Run without it,
    they are reported as skipped with the reason, never silently passed."""
    import os

    if os.environ.get("CROSSELL_TEST_WORKER"):
        return
    skip = pytest.mark.skip(reason="needs a real Celery worker (see .ci/run, CROSSELL_TEST_WORKER)")
    for item in items:
        if "worker" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def wait_for():
    """Poll ``condition`` until it returns a truthy value or ``timeout`` passes."""
    import time

    def wait(condition, timeout: float = 30.0, interval: float = 0.1):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(interval)
        raise AssertionError(f"condition not met within {timeout} s")

    return wait
