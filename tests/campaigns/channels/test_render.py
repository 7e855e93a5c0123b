"""Filling a delivery's treatment: the one its decision chose, for this customer, escaped for HTML."""

from __future__ import annotations

import pytest

from campaigns.channels import AVAILABLE, channel_send
from campaigns.channels.base import ChannelRejected
from campaigns.channels.render import PUSH_MAX_CHARS, delivery_render
from decisioning.models import Treatment
from tests.campaigns.channels.channel_setup import NOW, delivery_queue, treatment_for

pytestmark = pytest.mark.django_db


def test_it_fills_the_treatment_with_the_customer_offer_product_and_bank(settings):
    settings.BANK_NAME = "Northern Rock & Co"
    queued = delivery_queue()

    rendered = delivery_render(queued.delivery)

    assert rendered.subject == "Easy saver offer for Ada"
    assert rendered.text == "Hello Ada,\n\nEasy Saver at 4.1% AER from Northern Rock & Co.\nSee you soon."
    assert rendered.disclosures == "Terms apply. 4.1% AER is variable."
    assert rendered.html == (
        "<p>Hello Ada,</p>\n<p>Easy Saver at 4.1% AER from Northern Rock &amp; Co.<br>\nSee you soon.</p>\n"
        '<div class="disclosures"><p>Terms apply. 4.1% AER is variable.</p></div>'
    )


def test_html_escapes_the_values_and_the_template_text_alike():
    queued = delivery_queue(first_name="<img src=x onerror=alert(1)>")
    Treatment.objects.filter(pk=queued.treatment.pk).update(body="<b>Hi</b> {{ customer.first_name }}")

    rendered = delivery_render(queued.delivery)

    assert "<img" not in rendered.html
    assert "<b>" not in rendered.html
    assert "&lt;b&gt;Hi&lt;/b&gt; &lt;img src=x onerror=alert(1)&gt;" in rendered.html


def test_an_erased_customer_is_greeted_without_a_name():
    queued = delivery_queue()
    queued.contact.erased_at = NOW
    queued.contact.save()

    assert delivery_render(queued.delivery).subject == "Easy saver offer for"


def test_the_subject_is_one_line_and_push_text_is_short():
    queued = delivery_queue()
    Treatment.objects.filter(pk=queued.treatment.pk).update(subject="Line one\nLine two", body="word " * 200)

    rendered = delivery_render(queued.delivery)

    assert rendered.subject == "Line one Line two"
    assert len(rendered.short) <= PUSH_MAX_CHARS
    assert rendered.short.endswith("…")


def test_it_falls_back_to_the_offers_current_treatment_when_the_chosen_one_is_gone():
    queued = delivery_queue()
    queued.treatment.delete()
    treatment_for(queued.offer, "email", subject="Rewritten for {{ customer.first_name }}")

    assert delivery_render(queued.delivery).subject == "Rewritten for Ada"


def test_an_offer_without_a_treatment_on_the_channel_is_rejected():
    queued = delivery_queue()
    Treatment.objects.filter(offer=queued.offer, channel="email").delete()

    with pytest.raises(ChannelRejected, match="no treatment on email"):
        delivery_render(queued.delivery)


@pytest.mark.parametrize("channel", ["web", "call_centre"])
def test_web_and_call_centre_deliveries_are_made_available_not_sent(channel):
    queued = delivery_queue(channel=channel)

    assert channel_send(queued.delivery, now=NOW) == AVAILABLE
