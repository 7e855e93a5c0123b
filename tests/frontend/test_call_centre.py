"""The call-centre desktop: find the caller, see the offers, record accept, reject or call back."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from campaigns.models import Delivery, OfferResponse
from core.models import AuditEvent
from customers.models import ContactHistory
from decisioning.inputs import caches_clear
from decisioning.models import Decision
from tests.decisioning.decision_setup import decision_bank_build
from tests.factories.customers import ConsentFactory

pytestmark = pytest.mark.django_db
DESK = "/call-centre/"


@pytest.fixture
def world():
    caches_clear()
    world = decision_bank_build(models=False)
    ConsentFactory(customer=world.customer, channel="phone", purpose="marketing", status="granted")
    return world


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def call_opened(client: Client, customer_id: str, reason: str = "") -> Decision:
    response = client.post(DESK, {"customer_id": customer_id, "reason": reason})
    assert response.status_code == 302, response.content.decode()
    return Decision.objects.get(public_id=response["Location"].rstrip("/").rsplit("/", 1)[1])


def answer_url(decision: Decision, offer_code: str) -> str:
    return f"/call-centre/decisions/{decision.public_id}/offers/{offer_code}/"


def test_the_menu_offers_the_desk_to_people_who_look_up_customers(bianca, carlos, oscar):
    assert 'href="/call-centre/"' in signed_in(bianca).get("/").content.decode()
    assert 'href="/call-centre/"' in signed_in(carlos).get("/").content.decode()
    assert 'href="/call-centre/"' not in signed_in(oscar).get("/").content.decode()
    assert signed_in(oscar).get(DESK).status_code == 403


def test_an_agent_finds_the_caller_and_sees_offers_with_talking_points_and_disclosures(world, bianca):
    client = signed_in(bianca)

    decision = call_opened(client, world.customer.external_id, reason="mortgage question")

    assert (decision.channel, decision.kind, decision.requested_by) == ("call_centre", "realtime", "bianca")
    assert decision.inputs["context"]["reason"] == "mortgage question"
    assert decision.offers, "the caller has phone consent: offers are made"
    # The offers count as made on this call.
    assert ContactHistory.objects.filter(external_id__startswith=f"nba-{decision.public_id.hex}").count() == len(
        decision.offers
    )
    page = client.get(f"/call-centre/decisions/{decision.public_id}/").content.decode()
    for view in decision.offers:
        assert f'data-offer="{view["offer_code"]}"' in page
    assert "Hello Ada," in page
    assert "Read out:</strong> Terms apply." in page
    assert 'value="accept"' in page
    # The call-back time is offered as the browser's datetime-local value, a day ahead.
    assert re.search(r'type="datetime-local" name="callback_at" [^>]*value="\d{4}-\d\d-\d\dT\d\d:\d\d"', page)


def test_an_unknown_customer_is_said_so_on_the_form(world, bianca):
    response = signed_in(bianca).post(DESK, {"customer_id": "NOBODY"})

    assert response.status_code == 400
    assert "No customer has the id" in response.content.decode()
    assert not Decision.objects.filter(channel="call_centre").exists()


def test_accepting_records_the_response_as_the_agent(world, bianca):
    client = signed_in(bianca)
    decision = call_opened(client, world.customer.external_id)
    code = decision.offers[0]["offer_code"]

    response = client.post(answer_url(decision, code), {"action": "accept"})

    assert response.status_code == 302
    accepted = OfferResponse.objects.get(decision_id=decision.public_id, offer_code=code)
    assert (accepted.kind, accepted.channel, accepted.source) == ("accept", "call_centre", "agent:bianca")
    event = AuditEvent.objects.get(action="offer_response.record")
    assert (event.actor, event.object_id, event.after["kind"]) == (bianca, str(decision.public_id), "accept")
    history = ContactHistory.objects.get(external_id=f"nba-{decision.public_id.hex}-1")
    assert history.outcome == "accepted"
    page = client.get(response["Location"]).content.decode()
    assert f'id="answer-{code}"' in page


def test_the_first_answer_stands(world, bianca):
    client = signed_in(bianca)
    decision = call_opened(client, world.customer.external_id)
    code = decision.offers[0]["offer_code"]
    client.post(answer_url(decision, code), {"action": "reject"})

    page = client.post(answer_url(decision, code), {"action": "accept"}, follow=True).content.decode()

    assert "already recorded: reject" in page
    assert list(OfferResponse.objects.values_list("kind", flat=True)) == ["reject"]


def test_a_call_back_queues_a_call_centre_delivery_at_the_chosen_time(world, bianca):
    client = signed_in(bianca)
    decision = call_opened(client, world.customer.external_id)
    view = decision.offers[0]
    when = (timezone.now() + dt.timedelta(days=2)).replace(second=0, microsecond=0)

    client.post(
        answer_url(decision, view["offer_code"]), {"action": "callback", "callback_at": f"{when:%Y-%m-%dT%H:%M}"}
    )

    delivery = Delivery.objects.get()
    assert (delivery.channel, delivery.status, delivery.due_at) == ("call_centre", "queued", when)
    assert (delivery.decision_id, delivery.offer_code, delivery.rank) == (decision.public_id, view["offer_code"], 1)
    assert delivery.contact_id == f"nba-{decision.public_id.hex}-1"
    assert delivery.campaign is None
    event = AuditEvent.objects.get(action="call_centre.callback_schedule")
    assert (event.actor, event.after["due_at"]) == (bianca, when.isoformat())
    # It is on the desk's list of calls to make.
    assert f'data-delivery="{delivery.public_id}"' in client.get(DESK).content.decode()

    # Moving it does not book a second one.
    later = when + dt.timedelta(hours=3)
    client.post(
        answer_url(decision, view["offer_code"]), {"action": "callback", "callback_at": f"{later:%Y-%m-%dT%H:%M}"}
    )
    assert list(Delivery.objects.values_list("due_at", flat=True)) == [later]

    # Answering on the call back closes it.
    client.post(answer_url(decision, view["offer_code"]), {"action": "accept"})
    assert Delivery.objects.get().status == "cancelled"
    assert f'data-delivery="{delivery.public_id}"' not in client.get(DESK).content.decode()


@pytest.mark.parametrize("offset", [dt.timedelta(hours=-1), dt.timedelta(days=45)])
def test_a_call_back_in_the_past_or_too_far_ahead_is_refused(world, bianca, offset):
    client = signed_in(bianca)
    decision = call_opened(client, world.customer.external_id)
    when = timezone.now() + offset

    page = client.post(
        answer_url(decision, decision.offers[0]["offer_code"]),
        {"action": "callback", "callback_at": f"{when:%Y-%m-%dT%H:%M}"},
        follow=True,
    ).content.decode()

    assert "A time in the future." in page or "Within 30 days." in page
    assert not Delivery.objects.exists()


def test_an_offer_the_decision_did_not_make_is_refused(world, bianca):
    client = signed_in(bianca)
    decision = call_opened(client, world.customer.external_id)

    client.post(answer_url(decision, "not-an-offer"), {"action": "accept"})

    assert not OfferResponse.objects.exists()


def test_a_compliance_officer_sees_the_offers_but_cannot_answer(world, bianca, carlos):
    decision = call_opened(signed_in(bianca), world.customer.external_id)
    client = signed_in(carlos)

    page = client.get(f"/call-centre/decisions/{decision.public_id}/").content.decode()
    response = client.post(answer_url(decision, decision.offers[0]["offer_code"]), {"action": "accept"})

    assert "Your role cannot record answers." in page
    assert 'value="accept"' not in page
    assert response.status_code == 403
    assert not OfferResponse.objects.exists()


def test_a_decision_of_another_channel_is_not_on_the_desk(world, bianca):
    from decisioning.decisions import decision_make

    outcome = decision_make(customer_id=world.customer.external_id, channel="email", now=timezone.now())

    assert signed_in(bianca).get(f"/call-centre/decisions/{outcome.decision.public_id}/").status_code == 404


def test_a_caller_without_phone_consent_gets_no_offer_and_the_desk_says_why(world, bianca):
    ConsentFactory(
        customer=world.customer,
        channel="phone",
        purpose="marketing",
        status="withdrawn",
        effective_at=timezone.now() - dt.timedelta(days=1),
    )
    client = signed_in(bianca)

    decision = call_opened(client, world.customer.external_id)

    assert decision.offers == []
    page = client.get(f"/call-centre/decisions/{decision.public_id}/").content.decode()
    assert 'id="no-offers"' in page
    assert 'id="why-none"' in page
