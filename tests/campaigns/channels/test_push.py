"""The app push adapter against a real HTTP receiver on loopback, and the gateway's settings."""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from campaigns.channels import channel_send
from campaigns.channels.base import ChannelRejected, ChannelUnavailable
from campaigns.channels.push import push_gateway_save, push_send
from campaigns.models import PushGateway
from core.models import AuditEvent
from tests.campaigns.channels.channel_setup import NOW, delivery_queue
from tests.campaigns.channels.conftest import free_port

pytestmark = pytest.mark.django_db
SECRET = "a-shared-secret-of-some-length"


@pytest.fixture
def gateway(push_receiver, bianca):
    return push_gateway_save(url=push_receiver.url, secret=SECRET, timeout_seconds="2", actor=bianca, now=NOW)


def test_the_notification_is_signed_and_carries_its_idempotency_key(gateway, push_receiver):
    queued = delivery_queue(channel="push", device_tokens=["tok-a", "tok-b"])

    reference = push_send(queued.delivery, now=NOW)

    assert reference == "gw-1"
    (got,) = push_receiver.received
    assert got.path == "/notify"
    assert got.headers["Idempotency-Key"] == str(queued.delivery.public_id)
    expected = hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers["X-Crossell-Signature"], expected)
    assert got.json() == {
        "message_id": str(queued.delivery.public_id),
        "customer_id": queued.customer.external_id,
        "device_tokens": ["tok-a", "tok-b"],
        "title": "Easy saver offer for Ada",
        "body": "Hello Ada, Easy Saver at 4.1% AER from Crossell Bank. See you soon.",
        "offer_code": queued.offer.code,
        "decision_id": str(queued.decision.public_id),
    }


def test_a_signature_made_with_another_secret_does_not_verify(gateway, push_receiver):
    queued = delivery_queue(channel="push")

    push_send(queued.delivery, now=NOW)

    got = push_receiver.received[0]
    forged = hmac.new(b"another-secret-entirely", got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Crossell-Signature"] != forged


def test_a_retry_sends_the_same_idempotency_key(gateway, push_receiver):
    queued = delivery_queue(channel="push")

    push_send(queued.delivery, now=NOW)
    channel_send(queued.delivery, now=NOW)

    keys = {r.headers["Idempotency-Key"] for r in push_receiver.received}
    assert keys == {str(queued.delivery.public_id)}
    assert len(push_receiver.received) == 2


def test_a_gateway_without_an_id_in_its_answer_is_referred_to_by_our_message_id(gateway, push_receiver):
    push_receiver.status, push_receiver.answer = 202, b""
    queued = delivery_queue(channel="push")

    assert push_send(queued.delivery, now=NOW) == str(queued.delivery.public_id)


def test_a_slow_gateway_times_out_as_unavailable(push_receiver, bianca):
    push_gateway_save(url=push_receiver.url, secret=SECRET, timeout_seconds="0.5", actor=bianca, now=NOW)
    push_receiver.delay = 2.0
    queued = delivery_queue(channel="push")

    with pytest.raises(ChannelUnavailable, match="unreachable"):
        push_send(queued.delivery, now=NOW)


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_and_throttling_are_unavailable(gateway, push_receiver, status):
    push_receiver.status = status
    queued = delivery_queue(channel="push")

    with pytest.raises(ChannelUnavailable, match=str(status)):
        push_send(queued.delivery, now=NOW)


@pytest.mark.parametrize("status", [400, 404, 410, 422])
def test_other_client_errors_are_rejected(gateway, push_receiver, status):
    push_receiver.status = status
    queued = delivery_queue(channel="push")

    with pytest.raises(ChannelRejected, match=str(status)):
        push_send(queued.delivery, now=NOW)


def test_a_redirect_is_not_followed(gateway, push_receiver):
    push_receiver.status = 307
    push_receiver.extra_headers = {"Location": "http://127.0.0.1:1/elsewhere"}
    queued = delivery_queue(channel="push")

    with pytest.raises(ChannelUnavailable, match="307"):
        push_send(queued.delivery, now=NOW)
    assert len(push_receiver.received) == 1


def test_a_gateway_that_refuses_connections_is_unavailable(bianca):
    push_gateway_save(
        url=f"http://127.0.0.1:{free_port()}/notify", secret=SECRET, timeout_seconds=1, actor=bianca, now=NOW
    )
    queued = delivery_queue(channel="push")

    with pytest.raises(ChannelUnavailable):
        push_send(queued.delivery, now=NOW)


def test_no_gateway_configured_is_unavailable():
    queued = delivery_queue(channel="push")

    with pytest.raises(ChannelUnavailable, match="no push gateway"):
        push_send(queued.delivery, now=NOW)


@pytest.mark.parametrize("tokens", [[], [""]])
def test_a_customer_without_a_device_is_rejected_before_any_request(gateway, push_receiver, tokens):
    queued = delivery_queue(channel="push", device_tokens=tokens)

    with pytest.raises(ChannelRejected, match="no app device"):
        push_send(queued.delivery, now=NOW)
    assert push_receiver.received == []


def test_an_erased_customer_is_rejected(gateway, push_receiver):
    queued = delivery_queue(channel="push")
    queued.contact.erased_at = NOW
    queued.contact.save()

    with pytest.raises(ChannelRejected):
        push_send(queued.delivery, now=NOW)
    assert push_receiver.received == []


@pytest.mark.parametrize(
    "url",
    [
        "",
        "push.bank.example/notify",
        "ftp://push.bank.example/notify",
        "javascript:alert(1)",
        "http://",
        "https:///notify",
        "https://push.bank.example:99999/notify",
        "https://push.bank.example:port/notify",
        "https://push bank.example/notify",
        "https://user:secret@push.bank.example/notify",
    ],
)
def test_a_malformed_url_is_refused_at_save_naming_the_url(bianca, url):
    with pytest.raises(ValidationError) as caught:
        push_gateway_save(url=url, secret=SECRET, timeout_seconds=5, actor=bianca, now=NOW)

    assert set(caught.value.message_dict) == {"url"}
    assert not PushGateway.objects.exists()
    assert not AuditEvent.objects.filter(action="push_gateway.save").exists()


@pytest.mark.parametrize(
    ("secret", "timeout", "field"),
    [("short", 5, "secret"), ("", 5, "secret"), (SECRET, 0.1, "timeout_seconds"), (SECRET, "soon", "timeout_seconds")],
)
def test_a_weak_secret_or_a_bad_timeout_is_refused_naming_it(bianca, secret, timeout, field):
    with pytest.raises(ValidationError) as caught:
        push_gateway_save(
            url="https://push.bank.example/notify", secret=secret, timeout_seconds=timeout, actor=bianca, now=NOW
        )

    assert set(caught.value.message_dict) == {field}


def test_saving_is_audited_without_the_secret_and_a_blank_secret_keeps_it(bianca):
    push_gateway_save(url="https://push.bank.example/a", secret=SECRET, timeout_seconds=5, actor=bianca, now=NOW)

    gateway = push_gateway_save(
        url="https://push-gateway:8443/b", secret="", timeout_seconds="2.5", actor=bianca, now=NOW
    )

    assert PushGateway.objects.count() == 1
    assert (gateway.url, gateway.secret, gateway.timeout_seconds) == (
        "https://push-gateway:8443/b",
        SECRET,
        Decimal("2.5"),
    )
    first, second = AuditEvent.objects.filter(action="push_gateway.save").order_by("id")
    assert first.actor == bianca
    assert second.before["url"] == "https://push.bank.example/a"
    assert second.after["secret"] == "unchanged"
    assert SECRET not in str(first.after) + str(second.after)
