"""Retrying POST /api/v1/events with an Idempotency-Key."""

from __future__ import annotations

import pytest
from django.utils import timezone

from core.idempotency import idempotency_owner, request_hash
from core.models import IdempotencyKey
from customers.models import InboundEvent, Transaction
from tests.customers.events.conftest import URL, batch, consent_event, transaction_event

pytestmark = pytest.mark.django_db


def test_a_retry_with_the_same_key_and_body_replays_the_first_response(mobile_app, bank):
    api = mobile_app.api()
    body = batch(transaction_event())
    first = api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="batch-0001")
    retry = api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="batch-0001")
    assert first.status_code == retry.status_code == 202
    # the replay says "accepted", as the first answer did, not "duplicate"
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Transaction.objects.count() == 1
    assert InboundEvent.objects.count() == 1


def test_key_order_and_spacing_do_not_make_a_different_body(mobile_app, bank):
    api = mobile_app.api()
    api.post(URL, batch(consent_event()), format="json", HTTP_IDEMPOTENCY_KEY="k1")
    event = consent_event()
    reordered = '{"events": [' + (
        '{"data": {"status": "withdrawn", "purpose": "marketing", "channel": "email"}, '
        f'"customer_id": "C000123", "occurred_at": "{event["occurred_at"]}", '
        '"type": "consent", "event_id": "evt-con-1"}]}'
    )
    retry = api.post(URL, reordered, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1")
    assert retry.status_code == 202
    assert retry["Idempotent-Replayed"] == "true"


def test_the_same_key_with_another_body_is_refused_with_422(mobile_app, bank):
    api = mobile_app.api()
    api.post(URL, batch(transaction_event(1)), format="json", HTTP_IDEMPOTENCY_KEY="batch-0001")
    response = api.post(URL, batch(transaction_event(2)), format="json", HTTP_IDEMPOTENCY_KEY="batch-0001")
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert "different request body" in response.json()["detail"]
    assert Transaction.objects.count() == 1


def test_a_request_still_in_flight_answers_409(mobile_app, bank):
    # given a request with this key and body that has claimed it but not finished
    body = batch(consent_event())
    IdempotencyKey.objects.create(
        owner=idempotency_owner(mobile_app.client),
        endpoint="events.create",
        key="k-running",
        request_hash=request_hash(body),
    )
    # when the client retries
    response = mobile_app.api().post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-running")
    # then it is told to come back later, and nothing is stored twice
    assert response.status_code == 409
    assert "still being processed" in response.json()["detail"]
    assert not InboundEvent.objects.exists()


def test_keys_belong_to_their_sender(mobile_app, alice_admin, api_as, bank):
    mobile_app.api().post(URL, batch(consent_event(1)), format="json", HTTP_IDEMPOTENCY_KEY="shared")
    response = api_as(alice_admin).post(URL, batch(consent_event(2)), format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert response.status_code == 202
    assert "Idempotent-Replayed" not in response
    assert IdempotencyKey.objects.count() == 2


def test_a_rejected_batch_releases_its_key_so_a_corrected_retry_can_use_it(mobile_app, bank):
    api = mobile_app.api()
    bad = batch(transaction_event(amount="forty"))
    assert api.post(URL, bad, format="json", HTTP_IDEMPOTENCY_KEY="k2").status_code == 400
    assert not IdempotencyKey.objects.exists()
    fixed = api.post(URL, batch(transaction_event()), format="json", HTTP_IDEMPOTENCY_KEY="k2")
    assert fixed.status_code == 202


def test_the_stored_response_is_written_with_the_batch(mobile_app, bank):
    mobile_app.api().post(URL, batch(consent_event()), format="json", HTTP_IDEMPOTENCY_KEY="k3")
    key = IdempotencyKey.objects.get()
    assert key.owner == f"client:{mobile_app.client.pk}"
    assert key.endpoint == "events.create"
    assert key.response_status == 202
    assert key.response_body["accepted"] == 1
    assert key.completed_at is not None
    assert key.completed_at <= timezone.now()


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there"])
def test_an_invalid_key_is_refused(mobile_app, bank, key):
    response = mobile_app.api().post(URL, batch(consent_event()), format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["detail"]
    assert not InboundEvent.objects.exists()
