"""``GET /api/v1/whoami``: any authenticated caller learns who its credentials belong to."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from core.services import api_client_revoke

pytestmark = pytest.mark.django_db

URL = "/api/v1/whoami"


def test_a_channel_token_sees_its_name_and_scopes(mobile_app):
    response = mobile_app.api().get(URL)
    assert response.status_code == 200
    assert response.json() == {
        "kind": "api_client",
        "name": "mobile-app",
        "scopes": ["decisions", "events", "outcomes"],
        "role": None,
    }


@pytest.mark.parametrize(("persona", "role"), [("bianca", "business"), ("carlos", "compliance"), ("oscar", "none")])
def test_a_person_sees_their_username_and_role(api_as, request, persona, role):
    response = api_as(request.getfixturevalue(persona)).get(URL)
    assert response.status_code == 200
    assert response.json() == {"kind": "user", "name": persona, "scopes": [], "role": role}


def test_a_logged_in_session_works_too(client, bianca):
    client.force_login(bianca)
    assert client.get(URL).json()["name"] == "bianca"


def test_no_credentials_get_a_401_problem():
    response = APIClient().get(URL)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_or_unknown_token_gets_a_401(mobile_app):
    api_client_revoke(client=mobile_app.client, actor=None)
    assert mobile_app.api().get(URL).status_code == 401
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Bearer cx_not-a-token")
    response = stranger.get(URL)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_it_only_reads(mobile_app):
    assert mobile_app.api().post(URL, {}, format="json").status_code == 405


def test_it_costs_one_query_for_a_token(mobile_app, django_assert_max_num_queries):
    api = mobile_app.api()
    api.get(URL)  # the first call of the minute also stamps last_used_at
    with django_assert_max_num_queries(1):
        assert api.get(URL).status_code == 200


def test_it_is_in_the_openapi_schema(mobile_app):
    schema = mobile_app.api().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/api/v1/whoami"]["get"]
    assert operation["operationId"] == "whoami"
    assert set(schema["components"]["schemas"]["WhoAmI"]["properties"]) == {"kind", "name", "scopes", "role"}
