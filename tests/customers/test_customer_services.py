"""customers.services: changes people make, each with its audit event in the same transaction."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from core.models import AuditEvent
from customers import services
from customers.models import Consent, ContactDetails, Customer, Transaction
from customers.services import consent_record, contact_details_erase, contact_details_update
from tests.factories.customers import (
    AccountFactory,
    ConsentFactory,
    ContactDetailsFactory,
    CustomerFactory,
    TransactionFactory,
)

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)


def _record(customer: Customer, actor, **overrides) -> Consent:
    args = {
        "customer": customer,
        "channel": "email",
        "purpose": "marketing",
        "status": "withdrawn",
        "effective_at": NOW,
        "source": "call centre",
        "actor": actor,
        "now": NOW,
    }
    return consent_record(**(args | overrides))


def test_recording_a_consent_audits_who_when_before_and_after(carlos):
    # given a consent granted last year
    customer = CustomerFactory()
    ConsentFactory(customer=customer, effective_at=NOW - dt.timedelta(days=300), status="granted")
    # when carlos records its withdrawal
    consent = _record(customer, carlos)
    # then the new row is in force and the audit event tells the story
    assert consent.status == "withdrawn"
    assert Consent.objects.filter(customer=customer).count() == 2
    event = AuditEvent.objects.get(action="consent.record")
    assert (event.actor, event.actor_label, event.at) == (carlos, "carlos", NOW)
    assert (event.object_type, event.object_id) == ("customer", customer.external_id)
    assert event.before["status"] == "granted"
    assert event.after == {
        "channel": "email",
        "purpose": "marketing",
        "status": "withdrawn",
        "effective_at": NOW.isoformat(),
        "source": "call centre",
    }


def test_a_consent_value_outside_the_choices_is_refused_and_nothing_is_written(carlos):
    customer = CustomerFactory()
    with pytest.raises(ValidationError) as caught:
        _record(customer, carlos, status="perhaps")
    assert "status" in caught.value.message_dict
    assert not Consent.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_failure_after_the_audit_write_rolls_back_the_change_and_the_audit(carlos, monkeypatch):
    # given the audit write succeeds, then something fails before the commit
    real_audit = services.audit_record

    def audit_then_fail(**kwargs):
        real_audit(**kwargs)
        assert AuditEvent.objects.count() == 1  # it was written...
        raise RuntimeError("connection lost")

    monkeypatch.setattr(services, "audit_record", audit_then_fail)
    customer = CustomerFactory()
    with pytest.raises(RuntimeError):
        _record(customer, carlos)
    # then neither the change nor its audit event remain
    assert not Consent.objects.exists()
    assert not AuditEvent.objects.exists()


def test_erasing_contact_details_keeps_the_facts_and_keeps_personal_data_out_of_the_audit(carlos):
    customer = CustomerFactory()
    ContactDetailsFactory(customer=customer, email="jane@example.org", phone="+44 7700 900123", device_tokens=["tok_a"])
    TransactionFactory(account=AccountFactory(customer=customer))
    contact = contact_details_erase(customer=customer, actor=carlos, now=NOW, reason="erasure request #42")
    contact.refresh_from_db()
    assert (contact.first_name, contact.last_name, contact.email, contact.phone) == ("", "", "", "")
    assert contact.device_tokens == []
    assert contact.erased_at == NOW
    assert Customer.objects.filter(pk=customer.pk).exists()
    assert Transaction.objects.filter(customer=customer).count() == 1
    event = AuditEvent.objects.get(action="contact_details.erase")
    assert event.actor == carlos
    assert event.note == "erasure request #42"
    assert event.before["email"] == "<redacted>"
    assert "jane@example.org" not in str(event.before) + str(event.after)
    assert event.after["erased_at"] == NOW.isoformat()


def test_erasing_rolls_back_with_its_audit(carlos, monkeypatch):
    customer = CustomerFactory()
    ContactDetailsFactory(customer=customer, email="jane@example.org")

    def fail(**kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(services, "audit_record", fail)
    with pytest.raises(RuntimeError):
        contact_details_erase(customer=customer, actor=carlos, now=NOW)
    assert ContactDetails.objects.get(customer=customer).email == "jane@example.org"


def test_updating_contact_details_audits_which_fields_changed(carlos):
    customer = CustomerFactory()
    ContactDetailsFactory(customer=customer, email="old@example.org", language="en")
    contact_details_update(customer=customer, actor=carlos, now=NOW, email="new@example.org", language="pt")
    contact = ContactDetails.objects.get(customer=customer)
    assert (contact.email, contact.language) == ("new@example.org", "pt")
    event = AuditEvent.objects.get(action="contact_details.update")
    assert event.before == {"email": "<redacted>", "language": "en"}
    assert event.after == {"email": "<redacted>", "language": "pt"}


def test_an_invalid_email_is_refused_without_a_write(carlos):
    customer = CustomerFactory()
    ContactDetailsFactory(customer=customer, email="old@example.org")
    with pytest.raises(ValidationError) as caught:
        contact_details_update(customer=customer, actor=carlos, now=NOW, email="not-an-email")
    assert "email" in caught.value.message_dict
    assert ContactDetails.objects.get(customer=customer).email == "old@example.org"
    assert not AuditEvent.objects.exists()


def test_an_update_that_changes_nothing_writes_nothing(carlos):
    customer = CustomerFactory()
    ContactDetailsFactory(customer=customer, email="same@example.org")
    contact_details_update(customer=customer, actor=carlos, now=NOW, email="same@example.org")
    assert not AuditEvent.objects.exists()
