"""A channel token's client is remembered for a few seconds, and no longer."""

from __future__ import annotations

import pytest

from core import authentication
from core.models import ApiClient
from core.services import api_client_revoke

pytestmark = pytest.mark.django_db

URL = "/api/v1/whoami"


@pytest.fixture
def clock(monkeypatch):
    """The cache's clock, moved by hand."""
    now = [1_000.0]
    monkeypatch.setattr(authentication.time, "monotonic", lambda: now[0])
    authentication.token_cache_forget()
    yield now
    authentication.token_cache_forget()


def test_a_token_used_again_within_the_bound_costs_no_query(mobile_app, clock, django_assert_num_queries):
    api = mobile_app.api()
    assert api.get(URL).status_code == 200  # looks the token up, stamps last_used_at
    with django_assert_num_queries(0):
        assert api.get(URL).status_code == 200


def test_a_token_revoked_in_this_process_is_refused_at_once(mobile_app, clock):
    api = mobile_app.api()
    assert api.get(URL).status_code == 200
    api_client_revoke(client=mobile_app.client, actor=None)
    assert api.get(URL).status_code == 401


def test_a_token_revoked_by_another_process_is_refused_once_the_bound_has_passed(mobile_app, clock):
    api = mobile_app.api()
    assert api.get(URL).status_code == 200
    # Another process revokes it: no signal reaches this one.
    ApiClient.objects.filter(pk=mobile_app.client.pk).update(is_active=False)
    clock[0] += authentication.TOKEN_CACHE_SECONDS - 0.1
    assert api.get(URL).status_code == 200
    clock[0] += 0.2
    assert api.get(URL).status_code == 401


def test_an_unknown_token_is_never_remembered(mobile_app, clock, django_assert_num_queries):
    stranger = mobile_app.api()
    stranger.credentials(HTTP_AUTHORIZATION="Bearer cx_not-a-token")
    for _ in range(2):
        with django_assert_num_queries(1):
            assert stranger.get(URL).status_code == 401


def test_the_bound_is_a_few_seconds():
    assert 0 < authentication.TOKEN_CACHE_SECONDS <= 5
