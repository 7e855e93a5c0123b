"""The push gateway's settings page and the web content example page."""

from __future__ import annotations

import pytest
from django.test import Client

from campaigns.models import PushGateway
from core.models import AuditEvent

pytestmark = pytest.mark.django_db
PAGE = "/settings/push-gateway/"
SECRET = "a-shared-secret-of-some-length"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_campaign_manager_saves_the_push_gateway(bianca):
    client = signed_in(bianca)
    assert 'id="gateway-none"' in client.get(PAGE).content.decode()

    response = client.post(PAGE, {"url": "https://push.bank.example/notify", "secret": SECRET, "timeout_seconds": "3"})

    assert response.status_code == 302
    gateway = PushGateway.objects.get()
    assert (gateway.url, gateway.secret, str(gateway.timeout_seconds)) == (
        "https://push.bank.example/notify",
        SECRET,
        "3.0",
    )
    page = client.get(PAGE).content.decode()
    assert "https://push.bank.example/notify" in page
    assert SECRET not in page
    assert AuditEvent.objects.get(action="push_gateway.save").actor == bianca


def test_a_malformed_url_is_shown_next_to_the_url_field(bianca):
    response = signed_in(bianca).post(
        PAGE, {"url": "ftp://push.bank.example", "secret": SECRET, "timeout_seconds": "3"}
    )

    assert response.status_code == 400
    assert 'id="field-url"' in response.content.decode()
    assert "http:// or https://" in response.content.decode()
    assert not PushGateway.objects.exists()


def test_people_who_cannot_manage_campaigns_cannot_open_it(carlos, oscar):
    assert signed_in(carlos).get(PAGE).status_code == 403
    assert signed_in(oscar).post(PAGE, {"url": "https://x.example", "secret": SECRET}).status_code == 403
    assert not PushGateway.objects.exists()


def test_the_web_content_example_page_calls_the_api(bianca):
    page = signed_in(bianca).get("/examples/web-content/")

    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-api="/api/v1/web-content"' in html
    assert "frontend/web_content_example.js" in html


def test_the_example_page_needs_a_login():
    response = Client().get("/examples/web-content/")

    assert response.status_code == 302
    assert "/login/" in response["Location"]
