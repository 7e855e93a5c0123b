"""The "try a decision" page: decide for one customer on one channel, as a
simulation (nothing is contacted, the decision is kept like any other), and show
the whole funnel: every gate, every rule with its trace, arbitration, caps."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods

from decisioning.decisions import (
    HTML_CHANNELS,
    DecisionInputError,
    UnknownCustomer,
    decision_make,
    decision_response,
)
from decisioning.engine import MAX_RESULTS, Stage
from decisioning.models import DecisionKind, RuleSetVersion, TreatmentChannel
from frontend.rule_text import tree_summary
from frontend.views import requires
from modeling.scoring import UnknownCustomerError

STAGE_ORDER = [
    Stage.CATALOGUE,
    Stage.GATES,
    Stage.ELIGIBILITY,
    Stage.APPLICABILITY,
    Stage.SUITABILITY,
    Stage.SUPPRESSION,
    Stage.EXCLUSION,
    Stage.CAPS,
    Stage.BEYOND,
]
STAGE_LABELS = {
    Stage.CATALOGUE: "Catalogue",
    Stage.GATES: "Regulatory gates",
    Stage.ELIGIBILITY: "Eligibility",
    Stage.APPLICABILITY: "Applicability",
    Stage.SUITABILITY: "Suitability",
    Stage.SUPPRESSION: "Suppression",
    Stage.EXCLUSION: "Mutual exclusion",
    Stage.CAPS: "Contact caps",
    Stage.BEYOND: "Beyond the results asked for",
}


class DecisionTryForm(forms.Form):
    customer_id = forms.CharField(
        label="Customer",
        max_length=64,
        strip=True,
        widget=forms.TextInput(attrs={"placeholder": "Bank customer id, e.g. C000123"}),
    )
    channel = forms.ChoiceField(choices=TreatmentChannel.choices, initial=TreatmentChannel.EMAIL)
    page = forms.CharField(required=False, max_length=200, help_text="Web page or app screen, if any.")
    reason = forms.CharField(required=False, max_length=200, help_text="Reason for the call (call centre).")
    max_results = forms.IntegerField(label="Offers", min_value=1, max_value=MAX_RESULTS, initial=3)


GATE_LABELS = {
    "kyc": "KYC",
    "sanctions": "Sanctions screening",
    "do_not_contact": "Do not contact",
    "consent": "Consent",
    "credit_age": "Minimum age (credit offers)",
    "credit_risk": "Risk appetite (credit offers)",
    "vulnerable": "Vulnerable customer (credit offers)",
    "financial_distress": "Financial distress (credit offers)",
}
SOURCE_LABELS = {"model": "model", "historical_acceptance_rate": "historical acceptance rate"}


def _rule_texts(rule_set_version: int | None) -> dict[str, str]:
    """Rule id -> its conditions in words, for the funnel."""
    version = RuleSetVersion.objects.filter(version=rule_set_version).first() if rule_set_version else None
    return {rule["id"]: tree_summary(rule["tree"]) for rule in (version.rules if version else [])}


def _treatment_html(treatment: dict[str, Any] | None, channel: str) -> Any:
    if not treatment:
        return None
    # Email and web bodies come escaped for HTML already; push and call-centre text does not.
    escaped = channel in HTML_CHANNELS
    parts = {}
    for key in ("subject", "body", "disclosures"):
        text = treatment[key] if escaped else escape(treatment[key])
        parts[key] = mark_safe(str(text).replace("\n", "<br>"))  # noqa: S308 (escaped above)
    return parts


def _funnel_rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per offer of the catalogue: made (with rank) or removed (stage, reason)."""
    made = {o["offer_code"]: o for o in body["offers"]}
    texts = _rule_texts(body["rule_set_version"])
    rows = []
    for entry in body["funnel"]["offers"]:
        row = dict(entry)
        row["made"] = made.get(entry["offer_code"])
        row["stage_label"] = STAGE_LABELS.get(entry["stage"], "Made")
        row["rules_failed"] = sum(1 for r in entry["rules"] if not r["passed"])
        row["rules"] = [{**r, "text": texts.get(r["rule_id"], "")} for r in entry["rules"]]
        row["gates"] = [{**g, "label": GATE_LABELS.get(g["gate"], g["gate"])} for g in entry["gates"]]
        rows.append(row)
    order = {stage: i for i, stage in enumerate(STAGE_ORDER)}
    rows.sort(key=lambda r: (0, r["made"]["rank"]) if r["made"] else (1, order.get(r["stage"], 99), r["offer_code"]))
    return rows


def _stage_counts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """How many offers are left after each stage, for the funnel bar."""
    left = len(rows)
    out = [{"label": "offers in the catalogue", "count": left}]
    for stage in STAGE_ORDER[:-1]:
        removed = sum(1 for r in rows if not r["made"] and r["stage"] == stage)
        left -= removed
        out.append({"label": f"after {STAGE_LABELS[stage].lower()}", "count": left, "removed": removed})
    beyond = sum(1 for r in rows if not r["made"] and r["stage"] == Stage.BEYOND)
    out.append({"label": "offers made", "count": left - beyond, "removed": beyond, "final": True})
    return out


@requires("view_customers")
@require_http_methods(["GET", "POST"])
def decision_try(request: HttpRequest) -> HttpResponse:
    initial = {"customer_id": request.GET.get("customer", "")}
    form = DecisionTryForm(request.POST or None, initial=initial)
    body = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        context = {k: data[k] for k in ("page", "reason") if data[k]}
        try:
            outcome = decision_make(
                customer_id=data["customer_id"],
                channel=data["channel"],
                context=context,
                max_results=data["max_results"],
                kind=DecisionKind.SIMULATION,
                requested_by=f"user:{request.user.pk}",
                now=timezone.now(),
                debug=True,
            )
        except (UnknownCustomer, UnknownCustomerError):
            form.add_error("customer_id", f"No customer has the id {data['customer_id']!r}.")
        except DecisionInputError as exc:
            form.add_error(None, str(exc))
        else:
            body = decision_response(outcome, debug=True)
            body["made_at_time"] = outcome.decision.made_at
            for offer in (*body["offers"], *([body["upsell"]] if body["upsell"] else [])):
                offer["source_label"] = SOURCE_LABELS.get(offer["factors"]["propensity_source"], "")
                offer["treatment_html"] = _treatment_html(offer["treatment"], body["channel"])
            for gate in body["funnel"]["gates"]:
                gate["label"] = GATE_LABELS.get(gate["gate"], gate["gate"])
    rows = _funnel_rows(body) if body else []
    return render(
        request,
        "frontend/decision_try.html",
        {
            "form": form,
            "body": body,
            "rows": rows,
            "stages": _stage_counts(rows) if body else [],
        },
        status=400 if request.method == "POST" and body is None else 200,
    )
