"""Pages for the offer catalogue, the rules, the levers and the contact policies.

Business users (``manage_offers``) edit; compliance officers read. Each view
checks the role, reads a form, calls one service of ``decisioning.catalogue``
(or ``rule_sets`` to publish) and redirects, or shows the service's errors next
to the fields they name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.permissions import user_can
from customers.choices import ProductFamily
from customers.models import Product
from decisioning import catalogue
from decisioning.models import (
    BusinessIssue,
    ContactPolicy,
    ContactPolicyKind,
    Offer,
    OfferGroup,
    PolicyKind,
    RuleSetStatus,
    RuleSetVersion,
    Treatment,
    TreatmentChannel,
)
from decisioning.rule_sets import content_hash, rule_set_publish, rule_set_published
from decisioning.rules import MAX_RULE_BYTES, RuleValidationError, rule_validate
from decisioning.templates import TEMPLATE_FIELDS
from frontend import selectors
from frontend.context_processors import OFFER_READERS, user_can_any
from frontend.forms import (
    ContactPolicyForm,
    GroupForm,
    IssueForm,
    OfferForm,
    RuleForm,
    TreatmentForm,
    form_errors_from,
)
from frontend.rule_text import OP_LABELS, SOURCE_LABELS, builder_fields, builder_operators, tree_summary
from frontend.views import no_access, requires

View = Callable[..., HttpResponse]
EDIT = "manage_offers"
# Channel names short enough for a row of chips; the chip's title has the full name.
CHANNEL_SHORT = {"email": "Email", "push": "Push", "web": "Web", "call_centre": "Call centre"}


def reads_offers(view: View) -> View:
    """Signed in, and allowed to read the catalogue (those who edit it and those who audit it)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not user_can_any(request.user, OFFER_READERS):
            return no_access(request, "view_offers")
        return view(request, *args, **kwargs)

    return login_required(wrapped)


def _anchor(name: str, kind: str, code: str) -> str:
    return f"{reverse(name)}#{kind}-{code}"


def _form_page(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    return render(request, "frontend/catalogue_form.html", context)


# --- the catalogue --------------------------------------------------------------------------------------------------


@reads_offers
@require_GET
def offer_catalogue(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    channels = list(CHANNEL_SHORT.items())
    issues = []
    offers = 0
    for issue in selectors.catalogue_issues():
        groups = []
        for group in issue.groups.all():
            rows = []
            for offer in group.offers.all():
                have = {t.channel: t for t in offer.treatments.all()}
                rows.append(
                    {
                        "offer": offer,
                        "treatments": [(value, label, have.get(value)) for value, label in channels],
                        "ended": offer.ends_on is not None and offer.ends_on < today,
                        "not_started": offer.starts_on is not None and offer.starts_on > today,
                    }
                )
            offers += len(rows)
            groups.append({"group": group, "offers": rows})
        issues.append({"issue": issue, "groups": groups})
    return render(
        request,
        "frontend/offer_catalogue.html",
        {
            "issues": issues,
            "channels": channels,
            "offer_count": offers,
            "group_count": sum(len(i["groups"]) for i in issues),
            "can_edit": user_can(request.user, EDIT),
        },
    )


def _issue_choices() -> list[tuple[str, str]]:
    return [(code, f"{name} ({code})") for code, name in BusinessIssue.objects.values_list("code", "name")]


def _group_choices() -> list[tuple[str, Any]]:
    """Offer groups under their business issue, for a grouped select."""
    out: dict[str, list[tuple[str, str]]] = {}
    for group in OfferGroup.objects.select_related("issue").order_by("issue__name", "name"):
        out.setdefault(group.issue.name, []).append((group.code, f"{group.name} ({group.code})"))
    return list(out.items())


def _product_choices() -> list[tuple[str, str]]:
    return [(p.code, f"{p.code}: {p.name}") for p in Product.objects.filter(retired_on__isnull=True).order_by("code")]


@requires(EDIT)
@require_http_methods(["GET", "POST"])
def issue_create(request: HttpRequest) -> HttpResponse:
    form = IssueForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            issue = catalogue.business_issue_create(**form.cleaned_data, actor=request.user, now=timezone.now())
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"Business issue “{issue.name}” created.")
            return redirect(_anchor("frontend:offer-catalogue", "issue", issue.code))
    return _form_page(
        request,
        {
            "form": form,
            "title": "New business issue",
            "intro": "Why the bank makes a family of offers: grow, retain, serve. Offer groups sit under it.",
            "submit": "Create issue",
        },
    )


@requires(EDIT)
@require_http_methods(["GET", "POST"])
def issue_edit(request: HttpRequest, code: str) -> HttpResponse:
    issue = get_object_or_404(BusinessIssue, code=code)
    initial = {"name": issue.name, "description": issue.description, "transactional": issue.transactional}
    form = IssueForm(request.POST or None, initial=initial, creating=False)
    if request.method == "POST" and form.is_valid():
        try:
            catalogue.business_issue_update(issue=issue, **form.cleaned_data, actor=request.user, now=timezone.now())
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"Business issue “{issue.code}” saved.")
            return redirect(_anchor("frontend:offer-catalogue", "issue", issue.code))
    return _form_page(
        request,
        {
            "form": form,
            "title": f"Edit business issue {issue.name}",
            "code": issue.code,
            "lever": issue.lever_percent,
            "submit": "Save issue",
        },
    )


@requires(EDIT)
@require_http_methods(["GET", "POST"])
def group_create(request: HttpRequest) -> HttpResponse:
    form = GroupForm(request.POST or None, initial={"issue": request.GET.get("issue", "")}, issues=_issue_choices())
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            group = catalogue.offer_group_create(
                issue_code=data["issue"],
                code=data["code"],
                name=data["name"],
                lever_percent=data["lever_percent"],
                actor=request.user,
                now=timezone.now(),
            )
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"Offer group “{group.name}” created.")
            return redirect(_anchor("frontend:offer-catalogue", "group", group.code))
    return _form_page(
        request,
        {
            "form": form,
            "title": "New offer group",
            "intro": "A product family's offers within a business issue.",
            "submit": "Create group",
        },
    )


@requires(EDIT)
@require_http_methods(["GET", "POST"])
def group_edit(request: HttpRequest, code: str) -> HttpResponse:
    group = get_object_or_404(OfferGroup.objects.select_related("issue"), code=code)
    form = GroupForm(
        request.POST or None,
        initial={"issue": group.issue.code, "name": group.name},
        issues=_issue_choices(),
        creating=False,
    )
    if request.method == "POST" and form.is_valid():
        try:
            catalogue.offer_group_update(
                group=group,
                issue_code=form.cleaned_data["issue"],
                name=form.cleaned_data["name"],
                actor=request.user,
                now=timezone.now(),
            )
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"Offer group “{group.code}” saved.")
            return redirect(_anchor("frontend:offer-catalogue", "group", group.code))
    return _form_page(
        request,
        {
            "form": form,
            "title": f"Edit offer group {group.name}",
            "code": group.code,
            "lever": group.lever_percent,
            "submit": "Save group",
        },
    )


def _offer_terms(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "group_code": data["group"],
        "product_code": data["product"],
        "name": data["name"],
        "headline_value": data["headline_value"],
        "value": data["value"],
        "currency": data["currency"],
        "starts_on": data["starts_on"],
        "ends_on": data["ends_on"],
        "is_credit": data["is_credit"],
        "exclusion_group": data["exclusion_group"],
        "active": data["active"],
    }


OFFER_ALIASES = {"group_code": "group", "product_code": "product"}


@requires(EDIT)
@require_http_methods(["GET", "POST"])
def offer_create(request: HttpRequest) -> HttpResponse:
    form = OfferForm(
        request.POST or None,
        initial={"group": request.GET.get("group", ""), "currency": settings.BASE_CURRENCY},
        groups=_group_choices(),
        products=_product_choices(),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            offer = catalogue.offer_create(
                **_offer_terms(data),
                code=data["code"],
                lever_percent=data["lever_percent"],
                actor=request.user,
                now=timezone.now(),
            )
        except ValidationError as exc:
            form_errors_from(form, exc, OFFER_ALIASES)
        else:
            messages.success(request, f"Offer “{offer.name}” created. Give it a treatment for each channel.")
            return redirect(_anchor("frontend:offer-catalogue", "offer", offer.code))
    return _form_page(
        request,
        {
            "form": form,
            "title": "New offer",
            "intro": "An offer of one product, with its value to the bank and the dates it runs.",
            "submit": "Create offer",
        },
    )


@requires(EDIT)
@require_http_methods(["GET", "POST"])
def offer_edit(request: HttpRequest, code: str) -> HttpResponse:
    offer = get_object_or_404(Offer.objects.select_related("group", "product"), code=code)
    initial = {
        "group": offer.group.code,
        "product": offer.product.code,
        "name": offer.name,
        "headline_value": offer.headline_value,
        "value": offer.value,
        "currency": offer.currency,
        "starts_on": offer.starts_on,
        "ends_on": offer.ends_on,
        "is_credit": offer.is_credit,
        "exclusion_group": offer.exclusion_group,
        "active": offer.active,
    }
    products = _product_choices()
    if offer.product.code not in {code for code, _ in products}:  # a retired product stays selectable here
        products.append((offer.product.code, f"{offer.product.code}: {offer.product.name} (retired)"))
    form = OfferForm(request.POST or None, initial=initial, groups=_group_choices(), products=products, creating=False)
    if request.method == "POST" and form.is_valid():
        try:
            catalogue.offer_update(
                offer=offer, **_offer_terms(form.cleaned_data), actor=request.user, now=timezone.now()
            )
        except ValidationError as exc:
            form_errors_from(form, exc, OFFER_ALIASES)
        else:
            messages.success(request, f"Offer “{offer.code}” saved.")
            return redirect(_anchor("frontend:offer-catalogue", "offer", offer.code))
    return _form_page(
        request,
        {
            "form": form,
            "title": f"Edit offer {offer.name}",
            "code": offer.code,
            "lever": offer.lever_percent,
            "submit": "Save offer",
        },
    )


@requires(EDIT)
@require_http_methods(["GET", "POST"])
def treatment_edit(request: HttpRequest, code: str, channel: str) -> HttpResponse:
    from decisioning.services import treatment_save

    offer = get_object_or_404(Offer.objects.select_related("group__issue", "product"), code=code)
    if channel not in TreatmentChannel.values:
        raise Http404("No such channel")
    existing = Treatment.objects.filter(offer=offer, channel=channel).first()
    initial = (
        {"subject": existing.subject, "body": existing.body, "disclosures": existing.disclosures} if existing else {}
    )
    form = TreatmentForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            treatment_save(offer=offer, channel=channel, **form.cleaned_data, actor=request.user, now=timezone.now())
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"{TreatmentChannel(channel).label} treatment of “{offer.name}” saved.")
            return redirect(_anchor("frontend:offer-catalogue", "offer", offer.code))
    return render(
        request,
        "frontend/treatment_form.html",
        {
            "form": form,
            "offer": offer,
            "channel": channel,
            "channel_label": TreatmentChannel(channel).label,
            "existing": existing,
            "fields": TEMPLATE_FIELDS,
        },
    )


# --- rules ----------------------------------------------------------------------------------------------------------


def _scope_names() -> dict[tuple[str, str], str]:
    names: dict[tuple[str, str], str] = {}
    for scope, model in (("issue", BusinessIssue), ("group", OfferGroup), ("offer", Offer)):
        for code, name in model._default_manager.values_list("code", "name"):
            names[(scope, code)] = name
    return names


@reads_offers
@require_GET
def rule_set_page(request: HttpRequest) -> HttpResponse:
    draft = RuleSetVersion.objects.filter(status=RuleSetStatus.DRAFT).select_related("based_on").first()
    published = rule_set_published()
    shown = draft or published
    names = _scope_names()
    kinds = dict(PolicyKind.choices)
    rules = [
        {
            "rule": rule,
            "summary": tree_summary(rule.get("tree")),
            "kind_label": kinds.get(rule.get("kind"), rule.get("kind")),
            "target": names.get((rule.get("scope"), rule.get("scope_code")), rule.get("scope_code")),
            "tree_json": json.dumps(rule.get("tree"), indent=2, ensure_ascii=False),
        }
        for rule in (shown.rules if shown else [])
    ]
    unpublished = draft is not None and (published is None or content_hash(draft.rules) != published.content_sha256)
    return render(
        request,
        "frontend/rule_set.html",
        {
            "draft": draft,
            "published": published,
            "shown": shown,
            "rules": rules,
            "unpublished": unpublished,
            "versions": selectors.rule_set_versions(),
            "can_edit": user_can(request.user, EDIT),
        },
    )


def _rule_targets() -> list[tuple[str, Any]]:
    """What a rule can apply to, as ``scope:code`` grouped by scope, for one select."""
    return [
        (
            "Business issues",
            [(f"issue:{code}", f"{name} ({code})") for code, name in BusinessIssue.objects.values_list("code", "name")],
        ),
        (
            "Offer groups",
            [(f"group:{code}", f"{name} ({code})") for code, name in OfferGroup.objects.values_list("code", "name")],
        ),
        ("Offers", [(f"offer:{code}", f"{name} ({code})") for code, name in Offer.objects.values_list("code", "name")]),
    ]


def _builder_suggestions() -> dict[str, list[str]]:
    """Codes people are likely to want in a condition's value, offered as they type."""
    from modeling.models import Segment

    return {
        "holdings.products": list(Product.objects.order_by("code").values_list("code", flat=True)),
        "holdings.families": list(ProductFamily.values),
        "segments": sorted(set(Segment.objects.filter(segmentation__is_current=True).values_list("code", flat=True))),
        "context.channel": list(TreatmentChannel.values),
    }


def _read_tree(text: str) -> Any:
    """The builder's tree from its hidden field; ValueError if it is not JSON."""
    if len(text) > 2 * MAX_RULE_BYTES:
        raise ValueError("too long")
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


RULE_ALIASES = {"scope": "applies_to", "scope_code": "applies_to"}


@requires(EDIT)
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, rule_id: str | None = None) -> HttpResponse:
    """The visual rule builder. Saving writes the rule into the draft rule set
    (starting one from the published rules if none is open); publishing is on
    the rules page."""
    source = RuleSetVersion.objects.filter(status=RuleSetStatus.DRAFT).first() or rule_set_published()
    existing = None
    if rule_id is not None:
        existing = next((r for r in (source.rules if source else []) if r.get("id") == rule_id), None)
        if existing is None:
            raise Http404("No such rule in the rule set")
    initial = (
        {
            "name": existing["name"],
            "kind": existing["kind"],
            "applies_to": f"{existing['scope']}:{existing['scope_code']}",
        }
        if existing
        else {"kind": PolicyKind.ELIGIBILITY}
    )
    form = RuleForm(request.POST or None, initial=initial, kinds=PolicyKind.choices, targets=_rule_targets())
    tree: Any = existing["tree"] if existing else {"all": []}
    tree_errors: list[dict[str, str]] = []
    if request.method == "POST":
        try:
            tree = _read_tree(request.POST.get("tree", ""))
        except ValueError:
            form.add_error(None, "The conditions could not be read: reload the page and build them again.")
        if form.is_valid():
            data = form.cleaned_data
            scope, _, scope_code = data["applies_to"].partition(":")
            try:
                _, saved_id = catalogue.rule_save(
                    rule_id=rule_id,
                    name=data["name"],
                    kind=data["kind"],
                    scope=scope,
                    scope_code=scope_code,
                    tree=tree,
                    actor=request.user,
                    now=timezone.now(),
                )
            except ValidationError as exc:
                tree_part = {k: v for k, v in exc.message_dict.items() if k == "tree" or k.startswith("tree/")}
                tree_errors = [{"pointer": k[len("tree") :], "message": m} for k, ms in tree_part.items() for m in ms]
                rest = {k: v for k, v in exc.message_dict.items() if k not in tree_part}
                if rest:
                    form_errors_from(form, ValidationError(rest), RULE_ALIASES)
                if tree_part:
                    form.add_error(None, "Some conditions need fixing: see the messages next to them.")
            else:
                messages.success(request, "Rule saved in the draft. Publish the draft to put it to work.")
                return redirect(_anchor("frontend:rule-set", "rule", saved_id))
    return render(
        request,
        "frontend/rule_edit.html",
        {
            "form": form,
            "rule_id": rule_id,
            "tree": tree,
            "tree_errors": tree_errors,
            "fields": builder_fields(),
            "operators": builder_operators(),
            "op_labels": OP_LABELS,
            "sources": SOURCE_LABELS,
            "suggestions": _builder_suggestions(),
            "validate_url": reverse("frontend:rule-validate"),
        },
    )


@require_POST
def rule_validate_json(request: HttpRequest) -> JsonResponse:
    """Check a condition tree as the builder changes it: ``{"tree": ...}`` in,
    ``{"valid": bool, "errors": [{"pointer", "message"}]}`` out. Session and CSRF
    protected like every form of the UI; nothing is saved."""
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "Sign in first."}, status=401)
    if not user_can(request.user, EDIT):
        return JsonResponse({"detail": "Your role does not allow you to edit rules."}, status=403)
    if len(request.body) > 2 * MAX_RULE_BYTES:
        return JsonResponse({"detail": f"A rule is at most {MAX_RULE_BYTES} bytes of JSON."}, status=413)
    try:
        payload = json.loads(request.body)
    except (ValueError, RecursionError):
        return JsonResponse({"detail": "The body is not JSON."}, status=400)
    if not isinstance(payload, dict) or "tree" not in payload:
        return JsonResponse({"detail": 'Send {"tree": ...}.'}, status=400)
    try:
        rule_validate(payload["tree"])
    except RuleValidationError as exc:
        errors = [{"pointer": pointer, "message": message} for pointer, message in exc.errors]
        return JsonResponse({"valid": False, "errors": errors})
    return JsonResponse({"valid": True, "errors": []})


@requires(EDIT)
@require_POST
def rule_delete(request: HttpRequest, rule_id: str) -> HttpResponse:
    try:
        catalogue.rule_remove(rule_id=rule_id, actor=request.user, now=timezone.now())
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Rule “{rule_id}” taken out of the draft.")
    return redirect("frontend:rule-set")


@requires(EDIT)
@require_POST
def rule_set_publish_view(request: HttpRequest) -> HttpResponse:
    draft = RuleSetVersion.objects.filter(status=RuleSetStatus.DRAFT).first()
    if draft is None:
        messages.error(request, "There is no draft to publish: edit a rule first.")
        return redirect("frontend:rule-set")
    try:
        rule_set_publish(
            draft=draft, actor=request.user, now=timezone.now(), note=request.POST.get("note", "").strip()[:2000]
        )
    except ValidationError as exc:
        messages.error(request, "The draft cannot be published: " + "; ".join(exc.messages))
    else:
        messages.success(request, f"Rule set v{draft.version} published: every new decision uses it.")
    return redirect("frontend:rule-set")


# --- levers ---------------------------------------------------------------------------------------------------------


def _lever_rows(posted: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Every issue, group and offer with its lever, in catalogue order, and the
    combined weight of the three levels an offer's priority is multiplied by."""
    rows: list[dict[str, Any]] = []

    def row(level: str, item: Any, depth: int, combined: float | None) -> None:
        key = f"{level}:{item.code}"
        rows.append(
            {
                "key": key,
                "level": level,
                "code": item.code,
                "name": item.name,
                "percent": item.lever_percent,
                "shown": (posted or {}).get(key, item.lever_percent),
                "depth": depth,
                "combined": combined,
                "active": getattr(item, "active", True),
            }
        )

    for issue in selectors.catalogue_issues():
        row("issue", issue, 0, None)
        for group in issue.groups.all():
            row("group", group, 1, None)
            for offer in group.offers.all():
                combined = issue.lever_percent * group.lever_percent * offer.lever_percent / 1_000_000
                row("offer", offer, 2, combined)
    return rows


@reads_offers
@require_http_methods(["GET", "POST"])
def levers(request: HttpRequest) -> HttpResponse:
    can_edit = user_can(request.user, EDIT)
    errors: dict[str, str] = {}
    posted: dict[str, str] | None = None
    if request.method == "POST":
        if not can_edit:
            return no_access(request, EDIT)
        rows = _lever_rows()
        posted = {r["key"]: request.POST.get(r["key"], str(r["percent"])).strip() for r in rows}
        changes: dict[tuple[str, str], int] = {}
        for r in rows:
            text = posted[r["key"]]
            try:
                percent = int(text)
            except ValueError:
                errors[r["key"]] = "a whole percent from 0 to 1000"
                continue
            if percent != r["percent"]:
                changes[(r["level"], r["code"])] = percent
        if not errors:
            try:
                changed = catalogue.levers_set(changes=changes, actor=request.user, now=timezone.now())
            except ValidationError as exc:
                errors = {key: " ".join(ms) for key, ms in exc.message_dict.items()}
            else:
                messages.success(request, f"{changed} lever{'s' if changed != 1 else ''} changed.")
                return redirect("frontend:levers")
    rows = _lever_rows(posted)
    for r in rows:
        r["error"] = errors.get(r["key"], "")
    return render(
        request,
        "frontend/levers.html",
        {"rows": rows, "can_edit": can_edit, "errors": errors, "tab": "levers"},
        status=400 if errors else 200,
    )


# --- contact policies -----------------------------------------------------------------------------------------------

CHANNEL_CHOICES = [("", "Every channel"), *TreatmentChannel.choices]


@reads_offers
@require_GET
def contact_policy_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "frontend/contact_policies.html",
        {
            "policies": list(ContactPolicy.objects.order_by("-active", "kind", "code")),
            "can_edit": user_can(request.user, EDIT),
            "tab": "policies",
        },
    )


def _policy_terms(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": data["name"],
        "kind": data["kind"],
        "channel": data["channel"] or "",
        "limit": data["limit"],
        "period_days": data["period_days"],
        "suppress_days": data["suppress_days"] if data["suppress_days"] is not None else 0,
    }


@requires(EDIT)
@require_http_methods(["GET", "POST"])
def contact_policy_create(request: HttpRequest) -> HttpResponse:
    form = ContactPolicyForm(request.POST or None, kinds=ContactPolicyKind.choices, channels=CHANNEL_CHOICES)
    if request.method == "POST" and form.is_valid():
        try:
            policy = catalogue.contact_policy_create(
                code=form.cleaned_data["code"],
                **_policy_terms(form.cleaned_data),
                actor=request.user,
                now=timezone.now(),
            )
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"Contact policy “{policy.name}” created.")
            return redirect(_anchor("frontend:contact-policy-list", "policy", policy.code))
    return _form_page(
        request,
        {
            "form": form,
            "title": "New contact policy",
            "intro": "A channel cap, a global cap, or a suppression that rests a product after repeated rejections.",
            "submit": "Create policy",
            "back": reverse("frontend:contact-policy-list"),
        },
    )


@requires(EDIT)
@require_http_methods(["GET", "POST"])
def contact_policy_edit(request: HttpRequest, code: str) -> HttpResponse:
    policy = get_object_or_404(ContactPolicy, code=code)
    initial = {
        "name": policy.name,
        "kind": policy.kind,
        "channel": policy.channel,
        "limit": policy.limit,
        "period_days": policy.period_days,
        "suppress_days": policy.suppress_days,
    }
    form = ContactPolicyForm(
        request.POST or None, initial=initial, kinds=ContactPolicyKind.choices, channels=CHANNEL_CHOICES, creating=False
    )
    if request.method == "POST" and form.is_valid():
        try:
            catalogue.contact_policy_update(
                policy=policy, **_policy_terms(form.cleaned_data), actor=request.user, now=timezone.now()
            )
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, f"Contact policy “{policy.code}” saved.")
            return redirect(_anchor("frontend:contact-policy-list", "policy", policy.code))
    return _form_page(
        request,
        {
            "form": form,
            "title": f"Edit contact policy {policy.name}",
            "code": policy.code,
            "submit": "Save policy",
            "back": reverse("frontend:contact-policy-list"),
        },
    )


@requires(EDIT)
@require_POST
def contact_policy_active(request: HttpRequest, code: str) -> HttpResponse:
    policy = get_object_or_404(ContactPolicy, code=code)
    now = timezone.now()
    if request.POST.get("active") == "1":
        catalogue.contact_policy_reactivate(policy=policy, actor=request.user, now=now)
        messages.success(request, f"Contact policy “{policy.name}” applies again.")
    else:
        catalogue.contact_policy_deactivate(policy=policy, actor=request.user, now=now)
        messages.success(request, f"Contact policy “{policy.name}” deactivated: it is kept but no longer applies.")
    return redirect(_anchor("frontend:contact-policy-list", "policy", policy.code))
