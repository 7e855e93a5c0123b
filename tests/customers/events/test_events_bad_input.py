"""Bad input to POST /api/v1/events: a problem+json naming the item and field, and nothing stored."""

from __future__ import annotations

from typing import Any

import pytest

from customers.models import Consent, Customer, CustomerAttributeChange, InboundEvent, Interaction, Transaction
from tests.customers.events.conftest import (
    URL,
    batch,
    consent_event,
    credit_score_event,
    interaction_event,
    kyc_event,
    transaction_event,
)

pytestmark = pytest.mark.django_db


def _snapshot() -> dict[str, Any]:
    return {
        "transactions": Transaction.objects.count(),
        "interactions": Interaction.objects.count(),
        "consents": Consent.objects.count(),
        "inbound": InboundEvent.objects.count(),
        "changes": CustomerAttributeChange.objects.count(),
        "kyc": list(Customer.objects.values_list("kyc_status", flat=True)),
    }


def _rejected(response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    return body


def _pointers(body: dict[str, Any]) -> dict[str, str]:
    return {e["pointer"]: e["detail"] for e in body["errors"]}


@pytest.mark.parametrize(
    ("event", "pointer", "says"),
    [
        (transaction_event(amount="forty"), "#/events/1/data/amount", "valid number"),
        (transaction_event(amount="1.234"), "#/events/1/data/amount", "decimal places"),
        (transaction_event(currency="eur"), "#/events/1/data/currency", "ISO 4217"),
        (transaction_event(category="lottery"), "#/events/1/data/category", "not a valid choice"),
        (transaction_event(mcc="54110"), "#/events/1/data/mcc", "4 characters"),
        (transaction_event(transaction_id=17), "#/events/1/data/transaction_id", "valid string"),
        (credit_score_event(score="high"), "#/events/1/data/score", "valid integer"),
        (credit_score_event(score=1001), "#/events/1/data/score", "less than or equal to 1000"),
        (interaction_event(satisfaction=6), "#/events/1/data/satisfaction", "less than or equal to 5"),
        (consent_event(status="maybe"), "#/events/1/data/status", "not a valid choice"),
        (kyc_event(kyc_date="31/03/2025"), "#/events/1/data/kyc_date", "Date has wrong format"),
    ],
)
def test_a_wrong_value_is_named_by_item_and_field(mobile_app, bank, event, pointer, says):
    before = _snapshot()
    response = mobile_app.api().post(URL, batch(consent_event(), event), format="json")
    body = _rejected(response)
    assert says in _pointers(body)[pointer]
    assert _snapshot() == before


def test_missing_fields_are_each_named(mobile_app, bank):
    before = _snapshot()
    incomplete = transaction_event()
    del incomplete["occurred_at"]
    del incomplete["data"]["amount"]
    no_data = consent_event()
    del no_data["data"]
    response = mobile_app.api().post(URL, batch(incomplete, no_data), format="json")
    pointers = _pointers(_rejected(response))
    assert pointers["#/events/0/occurred_at"] == "This field is required."
    assert pointers["#/events/1/data"] == "This field is required."
    assert _snapshot() == before


def test_a_missing_type_specific_field_is_named_once_the_envelope_is_valid(mobile_app, bank):
    event = transaction_event()
    del event["data"]["amount"]
    response = mobile_app.api().post(URL, batch(event), format="json")
    assert _pointers(_rejected(response)) == {"#/events/0/data/amount": "This field is required."}


def test_an_unknown_event_type_is_rejected(mobile_app, bank):
    event = consent_event()
    event["type"] = "mortgage_application"
    response = mobile_app.api().post(URL, batch(event), format="json")
    assert _pointers(_rejected(response)) == {"#/events/0/type": '"mortgage_application" is not a valid choice.'}
    assert _snapshot()["inbound"] == 0


def test_wrong_shapes_are_named(mobile_app, bank):
    not_an_object = consent_event()
    not_an_object["data"] = ["email"]
    response = mobile_app.api().post(URL, batch(not_an_object, "an event"), format="json")
    pointers = _pointers(_rejected(response))
    assert "#/events/0/data" in pointers
    assert "dictionary" in pointers["#/events/0/data"]
    assert "#/events/1" in pointers
    response = mobile_app.api().post(URL, {"events": {"event_id": "x"}}, format="json")
    assert "#/events" in _pointers(_rejected(response))
    response = mobile_app.api().post(URL, [consent_event()], format="json")
    _rejected(response)


def test_an_empty_batch_is_rejected(mobile_app, bank):
    response = mobile_app.api().post(URL, {"events": []}, format="json")
    assert _pointers(_rejected(response)) == {"#/events": "This list may not be empty."}
    response = mobile_app.api().post(URL, {}, format="json")
    assert _pointers(_rejected(response)) == {"#/events": "This field is required."}


def test_a_batch_over_the_size_limit_is_refused_with_413(mobile_app, bank, settings):
    settings.EVENT_BATCH_MAX_ITEMS = 3
    response = mobile_app.api().post(URL, batch(*(consent_event(n) for n in range(4))), format="json")
    body = _rejected(response, 413)
    assert body["detail"] == "4 events sent; a batch holds at most 3."
    assert _pointers(body) == {"#/events": "at most 3 events per batch"}
    assert _snapshot()["inbound"] == 0
    # and exactly at the limit it is fine
    response = mobile_app.api().post(URL, batch(*(consent_event(n) for n in range(3))), format="json")
    assert response.status_code == 202


def test_malformed_json_is_a_400_saying_why(mobile_app, bank):
    response = mobile_app.api().post(URL, '{"events": [', content_type="application/json")
    body = _rejected(response)
    assert body["title"] == "Malformed request body"
    assert "JSON parse error" in body["detail"]
    assert _snapshot()["inbound"] == 0


def test_unknown_references_are_named_and_nothing_of_the_batch_is_stored(core_banking, bank):
    before = _snapshot()
    unknown_customer = consent_event(2)
    unknown_customer["customer_id"] = "C999999"
    response = core_banking.api().post(
        URL,
        batch(
            transaction_event(1),  # valid, but must not be stored alone
            unknown_customer,
            transaction_event(3, account_id="A404"),
            interaction_event(4, product_code="NO_SUCH"),
            kyc_event(5),  # valid too
        ),
        format="json",
    )
    body = _rejected(response)
    assert _pointers(body) == {
        "#/events/1/customer_id": "unknown customer 'C999999'",
        "#/events/2/data/account_id": "unknown account 'A404'",
        "#/events/3/data/product_code": "unknown product 'NO_SUCH'",
    }
    assert "nothing was stored" in body["detail"]
    assert _snapshot() == before


def test_an_account_of_another_customer_is_refused(mobile_app, bank):
    from tests.factories.customers import AccountFactory

    AccountFactory(external_id="A-OTHER")
    response = mobile_app.api().post(URL, batch(transaction_event(account_id="A-OTHER")), format="json")
    assert _pointers(_rejected(response)) == {
        "#/events/0/data/account_id": "account 'A-OTHER' is not held by customer 'C000123'"
    }


def test_a_long_event_id_needs_an_interaction_id(mobile_app, bank):
    event = interaction_event()
    event["event_id"] = "e" * 80
    response = mobile_app.api().post(URL, batch(event), format="json")
    assert "#/events/0/data/interaction_id" in _pointers(_rejected(response))


def test_a_failure_while_storing_rolls_back_the_whole_batch(mobile_app, bank, monkeypatch):
    from customers.events import services

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "_consents_upsert", broken)
    before = _snapshot()
    with pytest.raises(RuntimeError):
        mobile_app.api().post(URL, batch(transaction_event(), consent_event()), format="json")
    assert _snapshot() == before


def test_an_event_from_the_future_is_refused_naming_its_time(core_banking, bank):
    response = core_banking.api().post(
        URL, batch(kyc_event(occurred_at="2099-01-01T00:00:00+00:00", sanctions_status="clear")), format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["pointer"] == "#/events/0/occurred_at"
    assert "in the future" in response.json()["errors"][0]["detail"]
    assert not InboundEvent.objects.exists()


def test_a_body_over_the_upload_limit_gets_413_problem_json(mobile_app, bank, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    response = mobile_app.api().post(URL, batch(*[transaction_event(n) for n in range(1, 20)]), format="json")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert not InboundEvent.objects.exists()
