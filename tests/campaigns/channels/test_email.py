"""The email adapter against a real SMTP server on loopback, and the unsubscribe link."""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit

import pytest
from django.test import Client

from campaigns.channels import channel_send
from campaigns.channels.base import ChannelRejected, ChannelUnavailable
from campaigns.channels.email import email_send, unsubscribe_token
from core.models import AuditEvent
from customers.models import Consent
from tests.campaigns.channels.channel_setup import NOW, delivery_queue
from tests.campaigns.channels.conftest import free_port
from tests.factories.customers import ConsentFactory

pytestmark = pytest.mark.django_db


def parts(message):
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


def unsubscribe_path(message) -> str:
    link = str(message["List-Unsubscribe"]).strip().strip("<>")
    assert link.startswith("https://crossell.bank.example/unsubscribe/")
    return urlsplit(link).path


def test_the_email_arrives_with_its_message_id_text_and_html(smtp_server):
    queued = delivery_queue()

    reference = email_send(queued.delivery, now=NOW)

    assert reference == f"<{queued.delivery.public_id}@bank.example>"
    (message,) = smtp_server.messages
    assert message["Message-ID"] == reference
    assert message["To"] == "ada@example.org"
    assert message["Subject"] == "Easy saver offer for Ada"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = parts(message)
    assert "Hello Ada," in text
    assert "Easy Saver at 4.1% AER from Crossell Bank." in text
    assert "Terms apply. 4.1% AER is variable." in text
    assert "<p>Hello Ada,</p>" in html
    assert "Terms apply. 4.1% AER is variable." in html
    # The visible link is the one in the header.
    link = str(message["List-Unsubscribe"]).strip().strip("<>")
    assert f'href="{link}"' in html
    assert link in text


def test_values_are_escaped_in_the_html_part(smtp_server):
    queued = delivery_queue(first_name='<script>alert("x")</script> & Co', offer_name="Saver <b>plus</b>")

    email_send(queued.delivery, now=NOW)

    text, html = parts(smtp_server.messages[0])
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in html
    assert "<b>plus</b>" not in html
    # The text part is text: nothing to escape there.
    assert 'Hello <script>alert("x")</script> & Co,' in text


def test_a_retry_sends_the_same_message_id(smtp_server):
    queued = delivery_queue()

    first = email_send(queued.delivery, now=NOW)
    second = email_send(queued.delivery, now=NOW)

    assert first == second
    assert [m["Message-ID"] for m in smtp_server.messages] == [first, first]


def test_channel_send_dispatches_email_to_the_smtp_server(smtp_server):
    queued = delivery_queue()

    assert channel_send(queued.delivery, now=NOW) == f"<{queued.delivery.public_id}@bank.example>"
    assert len(smtp_server.messages) == 1


def test_one_click_unsubscribe_withdraws_email_marketing_consent(smtp_server):
    # Given a customer who agreed to marketing email
    queued = delivery_queue()
    ConsentFactory(customer=queued.customer, channel="email", purpose="marketing", status="granted")
    email_send(queued.delivery, now=NOW)
    path = unsubscribe_path(smtp_server.messages[0])

    # When the mail client posts the one-click unsubscribe (RFC 8058, no CSRF token)
    client = Client(enforce_csrf_checks=True)
    response = client.post(path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")

    # Then the consent in force is withdrawn, by the customer, and audited
    assert response.status_code == 200
    latest = Consent.objects.filter(customer=queued.customer, channel="email", purpose="marketing").last()
    assert (latest.status, latest.source) == ("withdrawn", "unsubscribe")
    event = AuditEvent.objects.get(action="consent.withdraw_by_customer")
    assert event.actor is None
    assert event.object_id == queued.customer.external_id
    assert event.before["status"] == "granted"
    assert event.after["status"] == "withdrawn"
    assert "by the customer" in event.note


def test_opening_the_link_only_asks_to_confirm(smtp_server):
    queued = delivery_queue()
    ConsentFactory(customer=queued.customer, channel="email", purpose="marketing", status="granted")
    email_send(queued.delivery, now=NOW)
    path = unsubscribe_path(smtp_server.messages[0])

    page = Client().get(path)

    assert page.status_code == 200
    assert 'data-state="confirm"' in page.content.decode()
    assert not Consent.objects.filter(customer=queued.customer, status="withdrawn").exists()

    # Confirming on the page unsubscribes; confirming again changes nothing.
    assert 'data-state="done"' in Client().post(path).content.decode()
    Client().post(path)
    assert Consent.objects.filter(customer=queued.customer, status="withdrawn").count() == 1
    assert 'data-state="already"' in Client().get(path).content.decode()


@pytest.mark.parametrize("mangle", [lambda t: t[:-2] + "xx", lambda t: t.replace(":", ":A", 1), lambda t: "nonsense"])
def test_a_forged_or_altered_link_changes_nothing(mangle):
    queued = delivery_queue()
    ConsentFactory(customer=queued.customer, channel="email", purpose="marketing", status="granted")

    response = Client().post(f"/unsubscribe/{mangle(unsubscribe_token(queued.delivery))}/")

    assert response.status_code == 404
    assert not Consent.objects.filter(status="withdrawn").exists()


def test_a_customer_without_an_address_is_refused_before_any_connection(smtp_server):
    queued = delivery_queue(email="")

    with pytest.raises(ChannelRejected, match="no email address"):
        email_send(queued.delivery, now=NOW)
    assert smtp_server.messages == []


def test_an_erased_customer_is_refused(smtp_server):
    queued = delivery_queue()
    queued.contact.erased_at = NOW
    queued.contact.save()

    with pytest.raises(ChannelRejected):
        email_send(queued.delivery, now=NOW)
    assert smtp_server.messages == []


def test_a_permanent_refusal_is_rejected_without_quoting_the_address(smtp_server):
    smtp_server.rcpt_reply = "550 5.1.1 <ada@example.org>: Recipient address rejected"
    queued = delivery_queue()

    with pytest.raises(ChannelRejected) as caught:
        email_send(queued.delivery, now=NOW)

    assert "SMTP 550 5.1.1" in str(caught.value)
    assert "ada@example.org" not in str(caught.value)


def test_a_temporary_refusal_is_retried_later(smtp_server):
    smtp_server.rcpt_reply = "451 4.3.0 Try again later"
    queued = delivery_queue()

    with pytest.raises(ChannelUnavailable, match="SMTP 451 4.3.0"):
        email_send(queued.delivery, now=NOW)


def test_a_server_that_refuses_connections_is_unavailable(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    queued = delivery_queue()

    with pytest.raises(ChannelUnavailable, match="unreachable"):
        email_send(queued.delivery, now=NOW)


def test_a_server_that_never_answers_times_out_as_unavailable(settings):
    # A listener that accepts the connection and never says hello.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", listener.getsockname()[1]
    settings.EMAIL_TIMEOUT = 1
    queued = delivery_queue()
    try:
        with pytest.raises(ChannelUnavailable):
            email_send(queued.delivery, now=NOW)
    finally:
        for conn, _ in accepted:
            conn.close()
        listener.close()


def test_the_embedded_file_backend_writes_the_message(settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = tmp_path / "mail"
    queued = delivery_queue()

    reference = channel_send(queued.delivery, now=NOW)

    (written,) = (tmp_path / "mail").iterdir()
    content = written.read_text()
    assert f"Message-ID: {reference}" in content
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in content


def test_a_batch_sends_its_emails_over_one_connection_and_reopens_after_a_failure(smtp_server):
    from campaigns.channels.email import email_batch

    first = delivery_queue()
    second = delivery_queue(email="bo@example.org", first_name="Bo", offer=first.offer)
    third = delivery_queue(email="cy@example.org", first_name="Cy", offer=first.offer)

    with email_batch():
        email_send(first.delivery, now=NOW)
        email_send(second.delivery, now=NOW)
        smtp_server.rcpt_reply = "451 4.3.0 try later"
        with pytest.raises(ChannelUnavailable):
            email_send(third.delivery, now=NOW)
        smtp_server.rcpt_reply = "250 OK"
        email_send(third.delivery, now=NOW)

    peers = smtp_server.peers
    assert len(smtp_server.messages) == 3
    # the first two shared a connection; the failure closed it and the retry opened another
    assert peers[0] == peers[1]
    assert peers[2] != peers[0]
