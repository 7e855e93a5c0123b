"""POST /api/v1/decisions: what a channel system sees."""

from __future__ import annotations

import pytest
from django.db import DatabaseError

from core.services import api_client_create
from customers.models import ContactHistory
from decisioning import decisions as decisions_module
from decisioning.inputs import caches_clear
from decisioning.models import Decision
from tests.conftest import Channel
from tests.decisioning.decision_setup import decision_bank_build

pytestmark = pytest.mark.django_db
URL = "/api/v1/decisions"


@pytest.fixture
def world():
    caches_clear()
    return decision_bank_build()


def post(api, body, **headers):
    return api.post(URL, body, format="json", **headers)


def test_a_channel_gets_ranked_offers_with_treatments_and_versions(world, mobile_app):
    response = post(mobile_app.api(), {"customer_id": world.customer.external_id, "channel": "push"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert len(body["offers"]) == 3
    first = body["offers"][0]
    assert first["rank"] == 1
    assert set(first["factors"]) == {
        "propensity",
        "propensity_source",
        "context_weight",
        "value",
        "issue_lever",
        "group_lever",
        "offer_lever",
    }
    assert first["treatment"]["channel"] == "push"
    assert "Ada" in first["treatment"]["body"]
    assert len(first["reasons"]) <= 4
    assert set(body["model_versions"]) == {"HOME_MORTGAGE", "TRAVEL_CARD", "EASY_SAVER"}
    assert "funnel" not in body
    assert Decision.objects.get(public_id=body["decision_id"]).requested_by == f"client:{mobile_app.client.pk}"


def test_debug_returns_the_whole_funnel(world, mobile_app):
    body = post(
        mobile_app.api(),
        {"customer_id": world.customer.external_id, "channel": "call_centre", "debug": True},
    ).json()
    assert body["offers"] == []
    funnel = body["funnel"]
    assert {e["stage"] for e in funnel["offers"]} == {"gates"}
    consent = next(g for g in funnel["gates"] if g["gate"] == "consent")
    assert consent["passed"] is False
    assert len(consent["blocked"]) == 3


def test_an_unknown_customer_is_a_404_problem(world, mobile_app):
    response = post(mobile_app.api(), {"customer_id": "NOBODY", "channel": "email"})
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"] == [{"pointer": "#/customer_id", "detail": "unknown customer"}]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"channel": "fax"}, "#/channel"),
        ({"max_results": 0}, "#/max_results"),
        ({"max_results": 26}, "#/max_results"),
        ({"max_results": True}, "#/max_results"),
        ({"max_results": 10**30}, "#/max_results"),
        ({"context": "page=home"}, "#/context"),
        ({"context": {"weights": {"issue:grow": "__import__('os').system('x')"}}}, "#/context/weights/issue:grow"),
        ({"context": {"weights": {"lambda: 1": 2}}}, "#/context/weights/lambda: 1"),
        ({"context": {"weights": {"issue:grow": 1e300}}}, "#/context/weights/issue:grow"),
        ({"context": {"script": "<x>"}}, "#/context/script"),
        ({"context": {"weights": {"offer:nope": 2}}}, "#/context/weights/offer:nope"),
        ({"surprise": 1}, "#/surprise"),
    ],
)
def test_bad_input_is_refused_naming_the_field(world, mobile_app, body, pointer):
    payload = {"customer_id": world.customer.external_id, "channel": "email", **body}
    response = post(mobile_app.api(), payload)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert pointer in [e["pointer"] for e in response.json()["errors"]]
    assert not Decision.objects.exists()


def test_a_customer_id_sent_as_a_number_is_refused(world, mobile_app):
    response = post(mobile_app.api(), {"customer_id": 12, "channel": "email"})
    assert response.status_code == 400


def test_the_same_idempotency_key_returns_the_same_decision(world, mobile_app):
    api = mobile_app.api()
    body = {"customer_id": world.customer.external_id, "channel": "email"}
    first = post(api, body, HTTP_IDEMPOTENCY_KEY="retry-1")
    again = post(api, body, HTTP_IDEMPOTENCY_KEY="retry-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["decision_id"] == first.json()["decision_id"]
    assert Decision.objects.count() == 1
    assert ContactHistory.objects.filter(source="decision").count() == 3


def test_a_storage_failure_is_a_503_without_offers_and_without_contacts(world, mobile_app, monkeypatch):
    def broken(*args, **kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(decisions_module, "contact_history_record", broken)
    response = post(mobile_app.api(), {"customer_id": world.customer.external_id, "channel": "email"})
    assert response.status_code == 503
    assert "offers" not in response.json()
    assert not Decision.objects.exists()
    assert not ContactHistory.objects.filter(source="decision").exists()


def test_a_write_the_database_refuses_is_a_503_and_nothing_is_kept(world, mobile_app, monkeypatch):
    # Every offer gets the same contact id: the database's own unique constraint
    # refuses the contact-history rows, in the statement sent with the decision's.
    monkeypatch.setattr(decisions_module, "contact_id", lambda public_id, rank: "nba-duplicate")
    response = post(mobile_app.api(), {"customer_id": world.customer.external_id, "channel": "email"})
    assert response.status_code == 503
    assert "offers" not in response.json()
    assert not Decision.objects.exists()
    assert not ContactHistory.objects.filter(source="decision").exists()


def test_it_needs_a_token_with_the_decisions_scope(world, client, oscar, api_as, bianca):
    body = {"customer_id": world.customer.external_id, "channel": "email"}
    assert client.post(URL, body, content_type="application/json").status_code == 401
    _, token = api_client_create(name="events-only", scopes=["events"], actor=None)
    assert post(Channel(client=None, token=token).api(), body).status_code == 403
    assert post(api_as(oscar), body).status_code == 403
    assert post(api_as(bianca), body).status_code == 201
