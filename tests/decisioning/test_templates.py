"""Treatment templates: only registered fields, escaped for HTML, refused on save naming the field."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from core.models import AuditEvent
from decisioning.models import Treatment
from decisioning.services import treatment_save
from decisioning.templates import TemplateError, template_fields, template_render
from tests.factories.decisioning import OfferFactory

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)
BODY = "Hello {{ customer.first_name }}, {{ offer.name }} at {{ offer.value }}."


def test_a_template_lists_the_fields_it_uses():
    assert template_fields(BODY) == ["customer.first_name", "offer.name", "offer.value"]


def test_values_are_escaped_for_html_channels_and_left_as_text_for_push():
    values = {"customer.first_name": "<script>alert(1)</script>", "offer.name": "Saver & Co", "offer.value": "4%"}

    assert "&lt;script&gt;" in template_render(BODY, values, escape=True)
    assert "Saver &amp; Co" in template_render(BODY, values, escape=True)
    assert template_render(BODY, values, escape=False).startswith("Hello <script>")


def test_a_missing_value_renders_empty_not_the_placeholder():
    assert template_render("Hi {{ customer.first_name }}!", {}, escape=True) == "Hi !"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Hi {{ customer.email }}", "unknown field {{ customer.email }}"),
        ("Hi {{ customer.first_name|upper }}", "unknown field"),
        ("{% if x %}yes{% endif %}", "unexpected template syntax"),
        ("Hi {{ customer.__class__ }}", "unknown field"),
        ("Hi {{ customer.first_name }", "unexpected template syntax"),
    ],
)
def test_anything_but_a_registered_field_is_refused(text, words):
    with pytest.raises(TemplateError, match=words.replace("{", r"\{").replace("}", r"\}").replace("|", r"\|")):
        template_fields(text)


def test_saving_a_treatment_with_an_unknown_field_names_it_and_saves_nothing(db, bianca):
    offer = OfferFactory()

    with pytest.raises(ValidationError) as refused:
        treatment_save(
            offer=offer,
            channel="email",
            subject="For {{ customer.first_nam }}",
            body=BODY,
            disclosures="Representative 4.1% APR.",
            actor=bianca,
            now=NOW,
        )

    assert "customer.first_nam" in str(refused.value.message_dict["subject"])
    assert not Treatment.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_treatment_is_saved_and_audited(db, bianca):
    offer = OfferFactory()

    treatment = treatment_save(
        offer=offer, channel="push", subject="", body=BODY, disclosures="Terms apply.", actor=bianca, now=NOW
    )

    assert treatment.body == BODY
    assert AuditEvent.objects.get(action="treatment.save").actor == bianca


def test_disclosures_are_mandatory(db, bianca):
    with pytest.raises(ValidationError) as refused:
        treatment_save(
            offer=OfferFactory(), channel="web", subject="", body=BODY, disclosures=" ", actor=bianca, now=NOW
        )

    assert "mandatory" in str(refused.value.message_dict["disclosures"])


def test_a_compliance_officer_does_not_edit_offers(db, carlos):
    with pytest.raises(PermissionDenied):
        treatment_save(
            offer=OfferFactory(), channel="web", subject="", body=BODY, disclosures="x", actor=carlos, now=NOW
        )
