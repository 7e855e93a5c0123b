"""Pages for the event triggers of triggered campaigns.

A trigger is built from a form, one block of fields per condition (salary up,
page views, large deposit) and a choice of "all" or "any" between them: nobody
types JSON. The form is turned into the definition here, checked by the
service's validator as the person types (``trigger_validate_form``) and on save,
and each error is shown beside the field its JSON pointer names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from campaigns.models import Campaign, CampaignSchedule, Trigger
from campaigns.triggers import (
    trigger_create,
    trigger_definition_errors,
    trigger_describe,
    trigger_set_active,
    trigger_update,
)
from core.permissions import user_can
from customers import choices
from customers.models import Product
from decisioning.triggers import KIND_LABELS, KINDS, PARAMETERS, REQUIRED, trigger_leaves, trigger_summary
from frontend.context_processors import user_can_any
from frontend.views import no_access, requires

EDIT = "manage_campaigns"
READERS = ("view_campaigns", "manage_campaigns")
MAX_CONDITIONS = 3  # in the form; the definition format allows more
LIST_PARAMS = {"categories", "event_types", "channels"}
_POINTER = re.compile(r"^/(?:(?:all|any)/(\d+)/)?([a-z_]+)(?:/\d+)?$")


def _reads(request: HttpRequest) -> HttpResponse | None:
    if not request.user.is_authenticated:
        return redirect(f"{reverse('frontend:login')}?next={request.path}")
    if not user_can_any(request.user, READERS):
        return no_access(request, "view_campaigns")
    return None


# --- the form <-> the definition ------------------------------------------------------------------------------------


def field_name(index: int, kind: str, param: str) -> str:
    return f"c{index}-{kind}-{param}"


def _number(text: str) -> Any:
    """A number typed in a box: int when whole, else float; text left as it is for
    the validator to name."""
    text = text.strip()
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return text
    if not value.is_finite():
        return text
    return int(value) if value == value.to_integral_value() and "." not in text else float(value)


def definition_from_form(data: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[int]]:
    """The definition the form describes, and the form indexes of its conditions
    (blank blocks are left out); None when no condition was chosen."""
    leaves: list[dict[str, Any]] = []
    indexes: list[int] = []
    for index in range(MAX_CONDITIONS):
        kind = str(data.get(f"c{index}-kind") or "")
        if kind not in PARAMETERS:
            continue
        leaf: dict[str, Any] = {"kind": kind}
        for param in PARAMETERS[kind]:
            name = field_name(index, kind, param)
            if param in LIST_PARAMS:
                # Nothing chosen in a list: the kind's default (salary only, product pages...).
                values = [v for v in (data.getlist(name) if hasattr(data, "getlist") else data.get(name) or []) if v]
                if values:
                    leaf[param] = values
            elif param in ("amount",):
                text = str(data.get(name) or "").strip()
                if text:
                    leaf[param] = text
            elif param in ("product_code", "product_family", "currency"):
                text = str(data.get(name) or "").strip()
                leaf[param] = text or None
            else:
                value = _number(str(data.get(name) or ""))
                if value is not None:
                    leaf[param] = value
        leaves.append(leaf)
        indexes.append(index)
    if not leaves:
        return None, []
    if len(leaves) == 1:
        return leaves[0], indexes
    combine = "any" if data.get("combine") == "any" else "all"
    return {combine: leaves}, indexes


def form_from_definition(definition: Mapping[str, Any]) -> dict[str, Any]:
    """Initial values of the form for a stored definition (one level of all/any)."""
    initial: dict[str, Any] = {"combine": "any" if "any" in definition else "all"}
    for pointer, leaf in trigger_leaves(definition):
        index = int(pointer.split("/")[2]) if pointer else 0
        if index >= MAX_CONDITIONS or pointer.count("/") > 2:
            continue
        initial[f"c{index}-kind"] = leaf["kind"]
        for param, value in leaf.items():
            if param != "kind":
                initial[field_name(index, leaf["kind"], param)] = "" if value is None else value
    return initial


def errors_by_field(
    problems: list[tuple[str, str]], definition: Mapping[str, Any] | None, indexes: list[int]
) -> tuple[dict[str, list[str]], list[str]]:
    """Errors keyed by the form field their pointer names; the rest for the top."""
    fields: dict[str, list[str]] = {}
    general: list[str] = []
    for pointer, message in problems:
        match = _POINTER.match(pointer)
        if definition is None or not match:
            general.append(f"{pointer or 'definition'}: {message}" if pointer else message)
            continue
        position = int(match.group(1)) if match.group(1) is not None else 0
        if position >= len(indexes):
            general.append(f"{pointer}: {message}")
            continue
        group = definition.get("all") or definition.get("any")
        leaf = group[position] if group else definition
        index = indexes[position]
        kind = leaf.get("kind") if isinstance(leaf, dict) else None
        param = match.group(2)
        if param == "kind" or kind not in PARAMETERS:
            fields.setdefault(f"c{index}-kind", []).append(message)
        else:
            fields.setdefault(field_name(index, kind, param), []).append(message)
    return fields, general


def _service_errors(
    exc: ValidationError, definition: Any, indexes: list[int]
) -> tuple[dict[str, list[str]], list[str]]:
    fields: dict[str, list[str]] = {}
    pointers: list[tuple[str, str]] = []
    for key, problems in exc.message_dict.items():
        if key == "definition" or key.startswith("definition/"):
            pointers.extend((key[len("definition") :], m) for m in problems)
        else:
            fields.setdefault(key, []).extend(problems)
    by_field, general = errors_by_field(pointers, definition, indexes)
    for key, problems in by_field.items():
        fields.setdefault(key, []).extend(problems)
    return fields, general


# --- what the template needs ----------------------------------------------------------------------------------------

PARAM_LABELS = {
    "percent": "More than this % above the average",
    "months": "Average over the previous months",
    "within_days": "Salary paid within the last days",
    "categories": "Transaction categories",
    "count": "At least this many",
    "days": "Within the last days",
    "event_types": "Interaction types",
    "product_code": "Product",
    "product_family": "Or a product family",
    "channels": "Channels (none: any)",
    "amount": "Amount at least",
    "currency": "Currency (blank: the customer's)",
}


def _options(kind: str, param: str) -> list[tuple[str, str]]:
    if param == "categories":
        return list(choices.TransactionCategory.choices)
    if param == "event_types":
        return list(choices.InteractionType.choices)
    if param == "channels":
        return list(choices.InteractionChannel.choices)
    if param == "product_family":
        return [("", "Any family"), *choices.ProductFamily.choices]
    if param == "product_code":
        return [("", "Any product"), *Product.objects.order_by("code").values_list("code", "name")]
    return []


def _blocks(values: Mapping[str, Any], errors: Mapping[str, list[str]]) -> list[dict[str, Any]]:
    blocks = []
    for index in range(MAX_CONDITIONS):
        kinds = []
        for kind in KINDS:
            params = []
            for param, (default, _check) in PARAMETERS[kind].items():
                name = field_name(index, kind, param)
                shown = values.get(name, "" if default is REQUIRED or default is None else default)
                if param in LIST_PARAMS:
                    widget = "multi"
                    chosen = set(shown if isinstance(shown, list) else [shown])
                elif param in ("product_code", "product_family"):
                    widget, chosen = "select", {shown}
                else:
                    widget, chosen = ("text" if param in ("amount", "currency") else "number"), set()
                params.append(
                    {
                        "name": name,
                        "label": PARAM_LABELS.get(param, param),
                        "widget": widget,
                        "value": shown,
                        "chosen": chosen,
                        "options": _options(kind, param),
                        "errors": errors.get(name, []),
                    }
                )
            kinds.append({"kind": kind, "label": KIND_LABELS[kind], "params": params})
        blocks.append(
            {
                "index": index,
                "kind": values.get(f"c{index}-kind", ""),
                "kind_errors": errors.get(f"c{index}-kind", []),
                "kinds": kinds,
            }
        )
    return blocks


def _form_page(
    request: HttpRequest,
    *,
    trigger: Trigger | None,
    campaigns: list[Campaign],
    values: Mapping[str, Any],
    errors: Mapping[str, list[str]],
    general: list[str],
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "frontend/trigger_form.html",
        {
            "trigger": trigger,
            "campaigns": campaigns,
            "values": values,
            "errors": errors,
            "general": general,
            "blocks": _blocks(values, errors),
            "kind_choices": [(k, KIND_LABELS[k]) for k in KINDS],
            "validate_url": reverse("frontend:trigger-validate"),
        },
        status=status,
    )


def _triggered_campaigns() -> list[Campaign]:
    return list(Campaign.objects.filter(schedule=CampaignSchedule.TRIGGERED).order_by("code"))


def _cooldown(text: Any) -> Any:
    value = _number(str(text or ""))
    return 7 if value is None else value


# --- views ----------------------------------------------------------------------------------------------------------


@require_GET
def trigger_list(request: HttpRequest) -> HttpResponse:
    refused = _reads(request)
    if refused is not None:
        return refused
    wanted = request.GET.get("campaign", "")
    campaigns = _triggered_campaigns()
    if wanted:
        campaigns = [c for c in campaigns if c.code == wanted]
    by_campaign = []
    for campaign in campaigns:
        triggers = list(campaign.triggers.order_by("code"))
        rows = [{"trigger": t, "summary": trigger_describe(t), "firings": t.firings.count()} for t in triggers]
        by_campaign.append({"campaign": campaign, "rows": rows})
    return render(
        request,
        "frontend/trigger_list.html",
        {"groups": by_campaign, "can_edit": user_can(request.user, EDIT), "filtered": wanted},
    )


@requires(EDIT)
@require_http_methods(["GET", "POST"])
def trigger_create_view(request: HttpRequest) -> HttpResponse:
    campaigns = _triggered_campaigns()
    if request.method == "GET":
        values = {"campaign": request.GET.get("campaign", ""), "c0-kind": "", "combine": "all", "cooldown_days": 7}
        return _form_page(request, trigger=None, campaigns=campaigns, values=values, errors={}, general=[])
    post = request.POST
    definition, indexes = definition_from_form(post)
    values = {**post.dict(), **{k: post.getlist(k) for k in post if len(post.getlist(k)) > 1}}
    campaign = next((c for c in campaigns if c.code == post.get("campaign")), None)
    errors: dict[str, list[str]] = {}
    general: list[str] = []
    if campaign is None:
        errors["campaign"] = ["choose a campaign triggered by events"]
    if definition is None:
        general.append("Choose at least one condition.")
    if campaign is not None and definition is not None:
        try:
            trigger = trigger_create(
                campaign=campaign,
                code=post.get("code", "").strip(),
                name=post.get("name", ""),
                definition=definition,
                cooldown_days=_cooldown(post.get("cooldown_days")),
                actor=request.user,
                now=timezone.now(),
            )
        except ValidationError as exc:
            errors, general = _service_errors(exc, definition, indexes)
        else:
            messages.success(request, f"Trigger “{trigger.name}” created: {trigger_describe(trigger)}.")
            return redirect(f"{reverse('frontend:trigger-list')}?campaign={campaign.code}#trigger-{trigger.code}")
    return _form_page(
        request, trigger=None, campaigns=campaigns, values=values, errors=errors, general=general, status=422
    )


@requires(EDIT)
@require_http_methods(["GET", "POST"])
def trigger_edit_view(request: HttpRequest, code: str) -> HttpResponse:
    trigger = get_object_or_404(Trigger.objects.select_related("campaign"), code=code)
    if request.method == "GET":
        values = {
            "name": trigger.name,
            "cooldown_days": trigger.cooldown_days,
            **form_from_definition(trigger.definition),
        }
        return _form_page(request, trigger=trigger, campaigns=[], values=values, errors={}, general=[])
    post = request.POST
    definition, indexes = definition_from_form(post)
    values = {**post.dict(), **{k: post.getlist(k) for k in post if len(post.getlist(k)) > 1}}
    errors: dict[str, list[str]] = {}
    general: list[str] = []
    if definition is None:
        general.append("Choose at least one condition.")
    else:
        try:
            saved = trigger_update(
                trigger=trigger,
                name=post.get("name", ""),
                definition=definition,
                cooldown_days=_cooldown(post.get("cooldown_days")),
                actor=request.user,
                now=timezone.now(),
            )
        except ValidationError as exc:
            errors, general = _service_errors(exc, definition, indexes)
        else:
            note = f"now version {saved.version}" if saved.version != trigger.version else "nothing changed"
            messages.success(request, f"Trigger “{saved.name}” saved ({note}).")
            return redirect(f"{reverse('frontend:trigger-list')}?campaign={saved.campaign.code}#trigger-{saved.code}")
    return _form_page(request, trigger=trigger, campaigns=[], values=values, errors=errors, general=general, status=422)


@requires(EDIT)
@require_POST
def trigger_active_view(request: HttpRequest, code: str) -> HttpResponse:
    trigger = get_object_or_404(Trigger.objects.select_related("campaign"), code=code)
    active = request.POST.get("active") == "1"
    try:
        trigger_set_active(trigger=trigger, active=active, actor=request.user, now=timezone.now())
    except PermissionDenied:
        return no_access(request, EDIT)
    messages.success(request, f"Trigger “{trigger.name}” {'fires again' if active else 'switched off'}.")
    return redirect(f"{reverse('frontend:trigger-list')}?campaign={trigger.campaign.code}#trigger-{trigger.code}")


@require_POST
def trigger_validate_form(request: HttpRequest) -> JsonResponse:
    """Check the editor's form as the person types: the same form fields in,
    ``{"valid", "summary", "errors": {field: [messages]}, "general": [...]}`` out.
    Session and CSRF protected like every form of the UI; nothing is saved."""
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "Sign in first."}, status=401)
    if not user_can(request.user, EDIT):
        return JsonResponse({"detail": "Your role does not allow you to edit triggers."}, status=403)
    definition, indexes = definition_from_form(request.POST)
    if definition is None:
        return JsonResponse(
            {"valid": False, "summary": "", "errors": {}, "general": ["Choose at least one condition."]}
        )
    normalized, problems = trigger_definition_errors(definition)
    fields, general = errors_by_field(problems, definition, indexes)
    return JsonResponse(
        {
            "valid": not problems,
            "summary": trigger_summary(normalized) if normalized else "",
            "errors": fields,
            "general": general,
        }
    )
