"""Staff APIs on one customer: who sees contact details, who may change consents or erase."""

from __future__ import annotations

import pytest

from core.models import AuditEvent
from customers.models import Consent, ContactDetails
from tests.factories.customers import ConsentFactory, ContactDetailsFactory, CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def jane(db):
    customer = CustomerFactory(external_id="C000123")
    ContactDetailsFactory(customer=customer, first_name="Jane", email="jane@example.org")
    ConsentFactory(customer=customer, channel="email", purpose="marketing", status="granted")
    return customer


def test_a_business_user_sees_the_customer_but_not_the_contact_details(api_as, bianca, jane):
    response = api_as(bianca).get("/api/v1/customers/C000123")
    assert response.status_code == 200
    body = response.json()
    assert body["customer_id"] == "C000123"
    assert body["kyc_status"] == "verified"
    assert body["consents"][0]["status"] == "granted"
    assert "contact" not in body
    assert "jane@example.org" not in response.content.decode()


@pytest.mark.parametrize("persona", ["carlos", "alice_admin"])
def test_compliance_and_administrators_see_contact_details(request, api_as, jane, persona):
    response = api_as(request.getfixturevalue(persona)).get("/api/v1/customers/C000123")
    assert response.json()["contact"]["email"] == "jane@example.org"


def test_a_customer_without_contact_details_shows_none_to_compliance(api_as, carlos):
    CustomerFactory(external_id="C000200")
    assert api_as(carlos).get("/api/v1/customers/C000200").json()["contact"] is None


def test_an_unknown_customer_is_a_404_problem(api_as, carlos):
    response = api_as(carlos).get("/api/v1/customers/NOPE")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_the_consents_shown_are_the_latest_in_force(api_as, carlos, jane):
    api_as(carlos).post(
        "/api/v1/customers/C000123/consents",
        {"channel": "email", "purpose": "marketing", "status": "withdrawn"},
        format="json",
    )
    consents = api_as(carlos).get("/api/v1/customers/C000123").json()["consents"]
    assert [(c["channel"], c["purpose"], c["status"]) for c in consents] == [("email", "marketing", "withdrawn")]


def test_a_business_user_cannot_edit_consents(api_as, bianca, jane):
    response = api_as(bianca).post(
        "/api/v1/customers/C000123/consents",
        {"channel": "sms", "purpose": "marketing", "status": "granted"},
        format="json",
    )
    assert response.status_code == 403
    assert Consent.objects.count() == 1
    assert not AuditEvent.objects.exists()


def test_a_compliance_officer_records_a_consent_and_it_is_audited(api_as, carlos, jane):
    response = api_as(carlos).post(
        "/api/v1/customers/C000123/consents",
        {"channel": "sms", "purpose": "marketing", "status": "granted", "effective_at": "2025-06-01T09:00:00Z"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["source"] == "staff:carlos"
    assert Consent.objects.filter(channel="sms").count() == 1
    event = AuditEvent.objects.get(action="consent.record")
    assert event.actor == carlos
    assert event.before is None
    assert event.after["status"] == "granted"


def test_a_bad_consent_names_the_field(api_as, carlos, jane):
    response = api_as(carlos).post(
        "/api/v1/customers/C000123/consents", {"channel": "pigeon", "purpose": "marketing"}, format="json"
    )
    assert response.status_code == 400
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert pointers == {"#/channel", "#/status"}
    assert Consent.objects.count() == 1


def test_recording_a_consent_is_idempotent_with_a_key(api_as, carlos, jane):
    api = api_as(carlos)
    body = {"channel": "sms", "purpose": "marketing", "status": "granted", "effective_at": "2025-06-01T09:00:00Z"}
    first = api.post("/api/v1/customers/C000123/consents", body, format="json", HTTP_IDEMPOTENCY_KEY="c-1")
    again = api.post("/api/v1/customers/C000123/consents", body, format="json", HTTP_IDEMPOTENCY_KEY="c-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert AuditEvent.objects.filter(action="consent.record").count() == 1


@pytest.mark.parametrize(
    ("persona", "status"), [("bianca", 403), ("oscar", 403), ("carlos", 200), ("alice_admin", 200)]
)
def test_only_compliance_and_administrators_erase_contact_details(request, api_as, jane, persona, status):
    response = api_as(request.getfixturevalue(persona)).post(
        "/api/v1/customers/C000123/erase-contact-details", {"reason": "erasure request"}, format="json"
    )
    assert response.status_code == status
    contact = ContactDetails.objects.get(customer=jane)
    if status == 200:
        assert response.json()["customer_id"] == "C000123"
        assert contact.email == ""
        assert contact.erased_at is not None
        assert AuditEvent.objects.get(action="contact_details.erase").note == "erasure request"
    else:
        assert contact.email == "jane@example.org"
        assert not AuditEvent.objects.exists()
