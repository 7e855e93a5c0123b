"""Writes to the offer catalogue, each audited in its transaction."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from core.models import User
from core.permissions import user_can
from core.services import audit_record
from decisioning.models import Offer, Treatment, TreatmentChannel
from decisioning.templates import TemplateError, template_fields

# Push messages are short: the gateways cut longer ones.
MAX_PUSH_CHARS = 240


@transaction.atomic
def treatment_save(
    *, offer: Offer, channel: str, subject: str, body: str, disclosures: str, actor: User, now: dt.datetime
) -> Treatment:
    """Create or replace an offer's treatment on a channel. Every template is
    checked first: an unknown field is refused naming it, and nothing is saved."""
    if not user_can(actor, "manage_offers"):
        raise PermissionDenied(f"{actor.get_username()} may not edit offers")
    if channel not in TreatmentChannel.values:
        raise ValidationError({"channel": f"unknown channel {channel!r}"})
    errors: dict[str, str] = {}
    for name, text in (("subject", subject), ("body", body), ("disclosures", disclosures)):
        try:
            template_fields(text)
        except TemplateError as exc:
            errors[name] = str(exc)
    if not body.strip():
        errors["body"] = "a treatment needs a body"
    if not disclosures.strip():
        errors["disclosures"] = "the product disclosures are mandatory"
    if channel == TreatmentChannel.PUSH and len(body) > MAX_PUSH_CHARS:
        errors["body"] = f"a push message is at most {MAX_PUSH_CHARS} characters"
    if errors:
        raise ValidationError(errors)
    existing = Treatment.objects.select_for_update().filter(offer=offer, channel=channel).first()
    before = (
        {"subject": existing.subject, "body": existing.body, "disclosures": existing.disclosures} if existing else None
    )
    treatment, _ = Treatment.objects.update_or_create(
        offer=offer, channel=channel, defaults={"subject": subject, "body": body, "disclosures": disclosures}
    )
    audit_record(
        actor=actor,
        action="treatment.save",
        object_type="treatment",
        object_id=treatment.pk,
        before=before,
        after={"offer": offer.code, "channel": channel, "subject": subject, "body": body, "disclosures": disclosures},
        now=now,
    )
    return treatment
