"""GET /api/v1/web-content: what the bank's website shows a customer in a page slot."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import OfferResponse
from core.services import api_client_create
from decisioning.inputs import caches_clear
from decisioning.models import Decision
from tests.campaigns.channels.channel_setup import delivery_queue
from tests.conftest import Channel
from tests.decisioning.decision_setup import decision_bank_build
from tests.factories.customers import ConsentFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/web-content"


@pytest.fixture
def website(db) -> Channel:
    client, token = api_client_create(name="website", scopes=["content"], actor=None)
    return Channel(client=client, token=token)


@pytest.fixture
def world():
    caches_clear()
    return decision_bank_build(models=False)


def a_minute_ago() -> dt.datetime:
    return timezone.now() - dt.timedelta(minutes=1)


def get(api: APIClient, **params):
    return api.get(URL, params)


def test_a_waiting_campaign_offer_is_served_and_counted_as_seen(website):
    queued = delivery_queue(channel="web", now=a_minute_ago())

    response = get(website.api(), customer_id=queued.customer.external_id, slot="home-hero")

    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store, private"
    assert response.json() == {
        "decision_id": str(queued.decision.public_id),
        "offer_code": queued.offer.code,
        "title": "Easy saver offer for Ada",
        "html": "<p>Hello Ada,</p>\n<p>Easy Saver at 4.1% AER from Crossell Bank.<br>\nSee you soon.</p>\n"
        '<div class="disclosures"><p>Terms apply. 4.1% AER is variable.</p></div>',
        "disclosures": "Terms apply. 4.1% AER is variable.",
        "message_id": str(queued.delivery.public_id),
    }
    impression = OfferResponse.objects.get(decision_id=queued.decision.public_id, kind="impression")
    assert (impression.offer_code, impression.channel) == (queued.offer.code, "web")
    assert impression.source == f"client:{website.client.pk}"


def test_values_are_escaped_in_the_html_and_the_title_is_plain_text(website):
    queued = delivery_queue(channel="web", first_name="<script>x()</script>", now=a_minute_ago())

    body = get(website.api(), customer_id=queued.customer.external_id, slot="home-hero").json()

    assert "<script>" not in body["html"]
    assert "&lt;script&gt;x()&lt;/script&gt;" in body["html"]
    assert body["title"] == "Easy saver offer for <script>x()</script>"


def test_without_a_waiting_offer_a_real_time_web_decision_picks_one_for_the_page(world, website):
    response = get(website.api(), customer_id=world.customer.external_id, slot="mortgages")

    assert response.status_code == 200, response.content
    body = response.json()
    decision = Decision.objects.get(public_id=body["decision_id"])
    assert (decision.channel, decision.kind) == ("web", "realtime")
    assert decision.inputs["context"]["page"] == "mortgages"
    assert decision.requested_by == f"client:{website.client.pk}"
    assert body["offer_code"] == decision.offers[0]["offer_code"]
    assert body["message_id"] == f"nba-{decision.public_id.hex}-1"
    assert "Ada" in body["html"]
    assert "Terms apply." in body["html"]
    assert OfferResponse.objects.filter(decision_id=decision.public_id, kind="impression").count() == 1


def test_a_campaign_offer_is_shown_once_then_the_page_decides_afresh(world, website):
    offer = world.offers["EASY_SAVER"]
    queued = delivery_queue(channel="web", customer=world.customer, offer=offer, now=a_minute_ago())

    first = get(website.api(), customer_id=world.customer.external_id, slot="home-hero").json()
    second = get(website.api(), customer_id=world.customer.external_id, slot="home-hero").json()

    assert first["message_id"] == str(queued.delivery.public_id)
    assert second["decision_id"] != first["decision_id"]
    assert second["message_id"].startswith("nba-")


def test_an_offer_decided_for_another_page_waits_for_that_page(world, website):
    offer = world.offers["EASY_SAVER"]
    queued = delivery_queue(channel="web", customer=world.customer, offer=offer, now=a_minute_ago())
    queued.decision.inputs["context"] = {"page": "savings"}
    queued.decision.save(update_fields=["inputs"])

    elsewhere = get(website.api(), customer_id=world.customer.external_id, slot="home-hero").json()
    there = get(website.api(), customer_id=world.customer.external_id, slot="savings").json()

    assert elsewhere["decision_id"] != str(queued.decision.public_id)
    assert there["message_id"] == str(queued.delivery.public_id)


def test_an_offer_not_due_yet_is_not_served(world, website):
    offer = world.offers["EASY_SAVER"]
    queued = delivery_queue(channel="web", customer=world.customer, offer=offer, now=a_minute_ago())
    queued.delivery.due_at = timezone.now() + dt.timedelta(hours=1)
    queued.delivery.save(update_fields=["due_at"])

    body = get(website.api(), customer_id=world.customer.external_id, slot="home-hero").json()

    assert body["decision_id"] != str(queued.decision.public_id)


def test_no_offer_for_the_customer_is_a_204_and_no_impression(world, website):
    ConsentFactory(
        customer=world.customer,
        channel="web",
        purpose="marketing",
        status="withdrawn",
        effective_at=timezone.now() - dt.timedelta(days=1),
    )

    response = get(website.api(), customer_id=world.customer.external_id, slot="home-hero")

    assert response.status_code == 204
    assert not OfferResponse.objects.exists()


@pytest.mark.parametrize(
    ("params", "pointers"),
    [
        ({}, {"#/customer_id", "#/slot"}),
        ({"customer_id": "C000001"}, {"#/slot"}),
        ({"customer_id": "C000001", "slot": "<script>"}, {"#/slot"}),
        ({"customer_id": "C000001", "slot": "x" * 101}, {"#/slot"}),
        ({"customer_id": "C" * 65, "slot": "home"}, {"#/customer_id"}),
    ],
)
def test_bad_input_is_a_problem_naming_each_parameter(website, params, pointers):
    response = website.api().get(URL, params)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert {e["pointer"] for e in response.json()["errors"]} == pointers


def test_an_unknown_customer_is_a_404_problem(website):
    response = get(website.api(), customer_id="NOBODY", slot="home-hero")

    assert response.status_code == 404
    assert response.json()["errors"] == [{"pointer": "#/customer_id", "detail": "unknown customer"}]


def test_it_needs_a_token_or_a_login():
    response = APIClient().get(URL, {"customer_id": "C000001", "slot": "home"})

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_a_token_without_the_content_or_decisions_scope_is_refused(db):
    _, token = api_client_create(name="events-feed", scopes=["events"], actor=None)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    assert api.get(URL, {"customer_id": "C000001", "slot": "home"}).status_code == 403


def test_a_channel_with_the_decisions_scope_and_staff_who_view_customers_are_admitted(mobile_app, api_as, bianca):
    for api in (mobile_app.api(), api_as(bianca)):
        queued = delivery_queue(channel="web", now=a_minute_ago())

        response = get(api, customer_id=queued.customer.external_id, slot="home")

        assert response.status_code == 200
        assert response.json()["message_id"] == str(queued.delivery.public_id)


def test_a_person_without_a_role_is_refused(api_as, oscar):
    assert get(api_as(oscar), customer_id="C000001", slot="home").status_code == 403
