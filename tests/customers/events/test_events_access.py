"""Who may send events: channel tokens with the events scope, staff allowed to send events."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from core.models import AuditEvent
from core.services import api_client_create, api_client_revoke
from customers.models import InboundEvent
from tests.customers.events.conftest import URL, batch, consent_event, kyc_event, transaction_event

pytestmark = pytest.mark.django_db


def test_without_credentials_it_answers_401_with_a_challenge(bank):
    response = APIClient().post(URL, batch(consent_event()), format="json")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not InboundEvent.objects.exists()


def test_an_unknown_token_is_refused_with_401(bank):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Bearer cx_not-a-real-token")
    response = api.post(URL, batch(consent_event()), format="json")
    assert response.status_code == 401
    assert response.json()["detail"] == "Unknown or revoked API token."
    assert not InboundEvent.objects.exists()


def test_a_revoked_token_is_refused(mobile_app, bank):
    api_client_revoke(client=mobile_app.client, actor=None)
    assert mobile_app.api().post(URL, batch(consent_event()), format="json").status_code == 401


def test_a_token_without_the_events_scope_is_refused_with_403(bank):
    _, token = api_client_create(name="web-content", scopes=["content"], actor=None)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = api.post(URL, batch(consent_event()), format="json")
    assert response.status_code == 403
    assert "'events' scope" in response.json()["detail"]
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize(
    ("persona", "status"), [("bianca", 202), ("alice_admin", 202), ("carlos", 403), ("oscar", 403)]
)
def test_staff_need_a_role_allowed_to_send_events(request, api_as, bank, persona, status):
    user = request.getfixturevalue(persona)
    response = api_as(user).post(URL, batch(transaction_event()), format="json")
    assert response.status_code == status
    assert InboundEvent.objects.exists() == (status == 202)


def test_staff_using_a_session_must_send_the_csrf_token(bianca, bank):
    api = APIClient(enforce_csrf_checks=True)
    api.login(username="bianca", password="pw-bianca")
    response = api.post(URL, batch(consent_event()), format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not InboundEvent.objects.exists()


def test_only_post_is_allowed(mobile_app, bank):
    assert mobile_app.api().get(URL).status_code == 405


def test_a_business_user_may_not_change_consent_or_kyc_through_events(api_as, bianca, bank):
    response = api_as(bianca).post(URL, batch(transaction_event(), consent_event(2), kyc_event(3)), format="json")
    assert response.status_code == 403
    body = response.json()
    assert [e["pointer"] for e in body["errors"]] == ["#/events/1/type", "#/events/2/type"]
    assert not InboundEvent.objects.exists()


def test_a_channel_token_needs_the_kyc_scope_for_kyc_changes(mobile_app, bank):
    response = mobile_app.api().post(URL, batch(kyc_event()), format="json")
    assert response.status_code == 403
    assert response.json()["errors"] == [
        {"pointer": "#/events/0/type", "detail": "kyc_status events need the 'kyc' scope"}
    ]
    assert not InboundEvent.objects.exists()


def test_events_sent_by_a_person_are_audited_with_the_change(api_as, alice_admin, bank):
    response = api_as(alice_admin).post(URL, batch(consent_event()), format="json")
    assert response.status_code == 202
    [audit] = AuditEvent.objects.filter(action="events.ingest")
    assert audit.actor == alice_admin
    assert audit.after["events"][0]["type"] == "consent"


def test_events_sent_by_a_channel_system_are_not_person_audits(mobile_app, bank):
    mobile_app.api().post(URL, batch(transaction_event()), format="json")
    assert not AuditEvent.objects.filter(action="events.ingest").exists()
