"""The call-centre desktop: find the caller, decide what to offer them (a real-time
decision on the call-centre channel), read the talking points and disclosures,
and record what the customer said: accept, reject, or call me back."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from campaigns.channels.base import ChannelRejected
from campaigns.channels.call_centre import (
    AGENT_RESPONSES,
    call_centre_answers,
    call_centre_callback_schedule,
    call_centre_decision_get,
    call_centre_respond,
    calls_due,
)
from campaigns.channels.render import offer_render
from campaigns.outcomes import ResponseRefused
from core.permissions import user_can
from customers.models import ContactDetails
from decisioning.decisions import DecisionInputError, UnknownCustomer, decision_make
from decisioning.engine import MAX_RESULTS
from decisioning.models import DecisionKind, TreatmentChannel
from frontend.views import requires
from modeling.scoring import UnknownCustomerError

DESK_OFFERS = min(3, MAX_RESULTS)


class CallerForm(forms.Form):
    customer_id = forms.CharField(
        label="Customer",
        max_length=64,
        strip=True,
        widget=forms.TextInput(attrs={"placeholder": "Bank customer id, e.g. C000123", "autofocus": True}),
    )
    reason = forms.CharField(
        label="Reason for the call",
        required=False,
        max_length=200,
        strip=True,
        widget=forms.TextInput(attrs={"placeholder": "e.g. card lost, mortgage question"}),
    )


class AnswerForm(forms.Form):
    action = forms.ChoiceField(choices=[("accept", "Accept"), ("reject", "Reject"), ("callback", "Call back")])
    callback_at = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("action") == "callback" and not data.get("callback_at"):
            self.add_error("callback_at", "When should we call back?")
        return data


@requires("view_customers")
@require_http_methods(["GET", "POST"])
def call_centre(request: HttpRequest) -> HttpResponse:
    """Find the caller and decide: the decision counts as offers made on the call."""
    form = CallerForm(request.POST or None, initial={"customer_id": request.GET.get("customer", "")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            outcome = decision_make(
                customer_id=data["customer_id"],
                channel=TreatmentChannel.CALL_CENTRE,
                context={"reason": data["reason"]} if data["reason"] else {},
                max_results=DESK_OFFERS,
                kind=DecisionKind.REALTIME,
                requested_by=request.user.get_username(),
                now=timezone.now(),
            )
        except (UnknownCustomer, UnknownCustomerError):
            form.add_error("customer_id", f"No customer has the id {data['customer_id']!r}.")
        except DecisionInputError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect(reverse("frontend:call-centre-decision", args=[outcome.decision.public_id]))
    return render(
        request,
        "frontend/call_centre.html",
        {"form": form, "calls": calls_due(now=timezone.now())},
        status=400 if request.method == "POST" else 200,
    )


def _offers_shown(decision: Any) -> list[dict[str, Any]]:
    answers = call_centre_answers(decision)
    shown = []
    for view in sorted(decision.offers, key=lambda o: o.get("rank", 0)):
        try:
            rendered = offer_render(
                offer_code=view["offer_code"], channel=TreatmentChannel.CALL_CENTRE, customer=decision.customer
            )
        except ChannelRejected:
            rendered = None  # the offer or its treatment was removed since: the desk says so
        shown.append({"view": view, "rendered": rendered, "answers": answers.get(view["offer_code"])})
    return shown


@requires("view_customers")
@require_http_methods(["GET"])
def call_centre_decision(request: HttpRequest, decision_id: UUID) -> HttpResponse:
    decision = call_centre_decision_get(decision_id)
    if decision is None:
        raise Http404("No call-centre decision with this id")
    name = ""
    if user_can(request.user, "view_contact_details"):
        contact = ContactDetails.objects.filter(customer_id=decision.customer_id, erased_at__isnull=True).first()
        name = f"{contact.first_name} {contact.last_name}".strip() if contact else ""
    removed = (decision.funnel or {}).get("removed", {})
    return render(
        request,
        "frontend/call_centre_decision.html",
        {
            "decision": decision,
            "customer": decision.customer,
            "name": name,
            "offers": _offers_shown(decision),
            "removed": sorted(removed.items()),
            "note": (decision.funnel or {}).get("note", ""),
            "may_answer": user_can(request.user, "record_outcomes"),
            "answer_form": AnswerForm(),
            "soon": (timezone.now() + dt.timedelta(days=1)).replace(second=0, microsecond=0),
        },
    )


@requires("record_outcomes")
@require_POST
def call_centre_answer(request: HttpRequest, decision_id: UUID, offer_code: str) -> HttpResponse:
    """Accept, reject or call back, recorded as the agent."""
    decision = call_centre_decision_get(decision_id)
    if decision is None:
        raise Http404("No call-centre decision with this id")
    back = reverse("frontend:call-centre-decision", args=[decision.public_id])
    form = AnswerForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(back)
    data, now = form.cleaned_data, timezone.now()
    try:
        if data["action"] in AGENT_RESPONSES:
            call_centre_respond(
                decision=decision, offer_code=offer_code, kind=data["action"], agent=request.user, now=now
            )
            messages.success(request, f"Offer {offer_code}: the customer's {data['action']} is recorded.")
        else:
            delivery = call_centre_callback_schedule(
                decision=decision, offer_code=offer_code, due_at=data["callback_at"], agent=request.user, now=now
            )
            messages.success(request, f"Call back about {offer_code} booked for {delivery.due_at:%d %b %Y %H:%M} UTC.")
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    except ResponseRefused as exc:
        for _, message in exc.errors:
            messages.error(request, message)
    return redirect(back)
