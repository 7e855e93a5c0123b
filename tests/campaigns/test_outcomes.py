"""POST /api/v1/decisions/{id}/responses and ``response_record``: what channels report."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from campaigns import outcomes
from campaigns.models import Conversion, OfferResponse
from campaigns.outcomes import ResponseRefused, UnknownDecision, response_record
from core.models import AuditEvent
from core.services import api_client_create
from customers.models import ContactHistory
from decisioning.models import Decision, DecisionKind
from tests.campaigns.outcome_setup import (
    NOW,
    campaign_create,
    campaign_reach,
    campaign_run_create,
    decided_bank,
    decision_store,
    realtime_decide,
    small_bank,
)

pytestmark = pytest.mark.django_db
LATER = NOW + dt.timedelta(hours=2)


def url(decision) -> str:
    return f"/api/v1/decisions/{decision.public_id}/responses"


def body(**changes):
    return {"offer_code": "card", "kind": "click", "occurred_at": LATER.isoformat(), **changes}


@pytest.fixture
def bank():
    return small_bank(4)


@pytest.fixture
def decision(bank):
    """A real-time decision on the web offering the card then the saver."""
    return decision_store(bank.customers[0], [bank.offers["card"], bank.offers["saver"]], channel="web")


def contact_row(decision, rank: int) -> ContactHistory:
    return ContactHistory.objects.get(external_id=f"nba-{decision.public_id.hex}-{rank}")


def test_a_channel_reports_each_step_and_the_contact_history_keeps_the_strongest(mobile_app):
    # Given a real-time decision made through the engine
    world = decided_bank()
    made = realtime_decide(world.customers[7], channel="web")
    first = made.offers[0]
    api = mobile_app.api()

    def report(kind: str, minutes: int, **extra):
        occurred = (NOW + dt.timedelta(minutes=minutes)).isoformat()
        payload = {"offer_code": first["offer_code"], "kind": kind, "occurred_at": occurred, **extra}
        return api.post(url(made), payload, format="json")

    # When the web site reports an impression, a click and an accept with an amount
    assert report("impression", 1).status_code == 201
    row = contact_row(made, 1)
    assert row.outcome == "impression"
    assert report("click", 2).status_code == 201
    accepted = report("accept", 3, amount="1250.00")
    assert accepted.status_code == 201, accepted.content

    # Then the contact history says accepted, with the revenue, at the accept's time
    row.refresh_from_db()
    assert (row.outcome, row.revenue) == ("accepted", Decimal("1250.00"))
    assert row.responded_at == NOW + dt.timedelta(minutes=3)
    # and a late impression from another channel cannot take it back
    late = {"offer_code": first["offer_code"], "kind": "impression", "occurred_at": LATER.isoformat()}
    assert api.post(url(made), late, format="json").status_code == 200
    row.refresh_from_db()
    assert row.outcome == "accepted"
    # and the accept with an amount is a conversion at that revenue
    conversion = Conversion.objects.get(decision_id=made.public_id)
    assert (conversion.offer_code, conversion.revenue, conversion.source) == (
        first["offer_code"],
        Decimal("1250.00"),
        "response",
    )
    assert accepted.json() == {
        "decision_id": str(made.public_id),
        "offer_code": first["offer_code"],
        "kind": "accept",
        "occurred_at": (NOW + dt.timedelta(minutes=3)).isoformat().replace("+00:00", "Z"),
        "amount": "1250.00",
        "channel": "web",
        "campaign": None,
        "received_at": accepted.json()["received_at"],
    }


def test_a_repeated_report_is_answered_with_the_first_and_changes_nothing(decision, mobile_app):
    api = mobile_app.api()
    first = api.post(url(decision), body(), format="json")
    again = api.post(url(decision), body(occurred_at=(LATER + dt.timedelta(minutes=9)).isoformat()), format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert OfferResponse.objects.count() == 1


def test_two_reports_racing_leave_one_response(decision, monkeypatch):
    # Given another report of the same click commits between our check and our insert
    real_find = outcomes._response_find
    calls = []

    def racing_find(*args):
        calls.append(args)
        if len(calls) == 1:
            response_record(
                decision_id=decision.public_id,
                offer_code="card",
                kind="click",
                occurred_at=LATER,
                source="other",
                now=LATER,
            )
            return None
        return real_find(*args)

    monkeypatch.setattr(outcomes, "_response_find", racing_find)
    # When ours inserts, the unique constraint refuses it
    response, created = response_record(
        decision_id=decision.public_id, offer_code="card", kind="click", occurred_at=LATER, source="me", now=LATER
    )
    # Then ours returns the stored one
    assert created is False
    assert response.source == "other"
    assert OfferResponse.objects.count() == 1


def test_an_unknown_decision_is_a_404_problem(bank, mobile_app):
    response = mobile_app.api().post(f"/api/v1/decisions/{uuid.uuid4()}/responses", body(), format="json")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith("unknown-decision")


def test_a_decision_id_that_is_not_a_uuid_is_a_404_problem(bank, mobile_app):
    response = mobile_app.api().post("/api/v1/decisions/12/responses", body(), format="json")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def refused(response, pointer: str) -> None:
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert pointer in [e["pointer"] for e in response.json()["errors"]]
    assert not OfferResponse.objects.exists()


def test_an_offer_the_decision_did_not_make_is_refused_naming_it(decision, mobile_app):
    refused(mobile_app.api().post(url(decision), body(offer_code="mortgage"), format="json"), "#/offer_code")


def test_an_outcome_before_the_decision_is_refused_naming_the_time(decision, mobile_app):
    early = (NOW - dt.timedelta(seconds=1)).isoformat()
    refused(mobile_app.api().post(url(decision), body(occurred_at=early), format="json"), "#/occurred_at")


def test_an_outcome_stamped_to_the_second_of_the_decision_is_taken(decision, mobile_app):
    Decision.objects.filter(pk=decision.pk).update(made_at=NOW + dt.timedelta(microseconds=600_000))
    same_second = NOW.replace(microsecond=0).isoformat()
    response = mobile_app.api().post(url(decision), body(occurred_at=same_second), format="json")
    assert response.status_code == 201


def test_an_outcome_in_the_future_is_refused(decision, mobile_app):
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    refused(mobile_app.api().post(url(decision), body(occurred_at=future), format="json"), "#/occurred_at")


def test_an_amount_on_a_click_is_refused(decision, mobile_app):
    refused(mobile_app.api().post(url(decision), body(amount="10.00"), format="json"), "#/amount")


def test_a_simulated_decision_takes_no_response(bank, mobile_app):
    simulated = decision_store(bank.customers[1], [bank.offers["card"]], kind=DecisionKind.SIMULATION)
    refused(mobile_app.api().post(url(simulated), body(), format="json"), "#/offer_code")


def test_a_control_group_customer_cannot_have_responded(bank, mobile_app):
    # Given a held-out customer: their batch decision exists, nothing was sent
    run = campaign_run_create(campaign_create(bank, "spring"))
    held_out = campaign_reach(run, bank.customers[2], [bank.offers["card"]], control=True)
    refused(mobile_app.api().post(url(held_out), body(), format="json"), "#/offer_code")


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"kind": "purchase"}, "#/kind"),
        ({"occurred_at": "yesterday"}, "#/occurred_at"),
        ({"occurred_at": "2026-03-02T11:00:00"}, "#/occurred_at"),
        ({"amount": "-1"}, "#/amount"),
        ({"amount": True}, "#/amount"),
        ({"offer_code": "<script>"}, "#/offer_code"),
        ({"surprise": 1}, "#/surprise"),
    ],
)
def test_malformed_input_is_a_400_naming_the_field(decision, mobile_app, changes, pointer):
    response = mobile_app.api().post(url(decision), body(**changes), format="json")
    assert response.status_code == 400, response.content
    assert pointer in [e["pointer"] for e in response.json()["errors"]]


def test_a_campaign_offer_response_is_joined_to_its_delivery(bank, mobile_app):
    run = campaign_run_create(campaign_create(bank, "spring", channels=("email",)))
    sent = campaign_reach(run, bank.customers[3], [bank.offers["card"]])
    response = mobile_app.api().post(url(sent), body(kind="accept"), format="json")
    assert response.status_code == 201
    assert (response.json()["channel"], response.json()["campaign"]) == ("email", "spring")
    assert ContactHistory.objects.get(external_id=f"cmp-{sent.public_id.hex}-1").outcome == "accepted"
    assert not Conversion.objects.exists()  # no amount: the accounts will tell


def test_staff_who_may_record_outcomes_are_audited(decision, api_as, bianca):
    response = api_as(bianca).post(url(decision), body(), format="json")
    assert response.status_code == 201
    audit = AuditEvent.objects.get(action="offer_response.record")
    assert (audit.actor, audit.object_id, audit.after["kind"]) == (bianca, str(decision.public_id), "click")


def test_who_may_report_outcomes(decision, api_as, carlos, oscar):
    from rest_framework.test import APIClient

    assert APIClient().post(url(decision), body(), format="json").status_code == 401
    assert api_as(oscar).post(url(decision), body(), format="json").status_code == 403
    assert api_as(carlos).post(url(decision), body(), format="json").status_code == 403
    _, token = api_client_create(name="website", scopes=["decisions"], actor=None)
    website = APIClient()
    website.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert website.post(url(decision), body(), format="json").status_code == 403
    assert not OfferResponse.objects.exists()


def test_the_service_names_an_unknown_decision():
    with pytest.raises(UnknownDecision):
        response_record(decision_id="not-a-uuid", offer_code="card", kind="click", occurred_at=NOW, source="x", now=NOW)


def test_the_service_gives_every_reason_at_once(decision):
    with pytest.raises(ResponseRefused) as refusal:
        response_record(
            decision_id=decision.public_id,
            offer_code="mortgage",
            kind="click",
            occurred_at=NOW - dt.timedelta(days=1),
            amount=Decimal("5"),
            source="x",
            now=NOW,
        )
    assert [p for p, _ in refusal.value.errors] == ["#/offer_code", "#/occurred_at", "#/amount"]
