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
