"""Pages for campaigns: the list, the create and edit form, a campaign's runs, and the dead letters.

Business users (``manage_campaigns``) create, edit, launch, stop and retry;
compliance officers (``view_campaigns``) read. Each view reads a form, calls one
service (``campaigns.services``, or ``campaigns.outbox.delivery_retry``, which
audit) and redirects, or shows the service's errors beside the fields they name.
The reads at the top are this UI's selectors: only these pages list campaigns,
runs and dead letters this way, and each costs a fixed number of queries.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from campaigns import services
from campaigns.models import (
    Campaign,
    CampaignMember,
    CampaignRun,
    CampaignSchedule,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    RunStatus,
)
from campaigns.outbox import delivery_retry
from core.permissions import user_can
from decisioning.models import Offer, TreatmentChannel
from decisioning.rules import MAX_RULE_BYTES, RuleValidationError, rule_validate
from frontend.catalogue_views import CHANNEL_SHORT, _builder_suggestions
from frontend.forms import form_errors_from
from frontend.rule_text import OP_LABELS, SOURCE_LABELS, builder_fields, builder_operators, tree_summary
from frontend.views import requires
from modeling.models import Segment
from modeling.segments import segmentations_current

EDIT = "manage_campaigns"
VIEW = "view_campaigns"
CAMPAIGNS_PER_PAGE = 50
RUNS_SHOWN = 20  # a recurring campaign's older runs stay in the admin console
DEAD_LETTERS_PER_PAGE = 50
# The triggers of triggered campaigns have their own pages under this path.
TRIGGERS_URL = "/campaigns/triggers/"
# Codes that would shadow a page under /campaigns/.
RESERVED_CODES = frozenset({"new", "triggers", "dead-letters"})
ACTIVE_RUN = (RunStatus.DECIDING, RunStatus.DELIVERING)


class CampaignCodeConverter:
    """A campaign code in a URL, never one of the reserved words: the pages under
    /campaigns/ keep their paths whatever order the URL list has them in."""

    regex = r"(?!(?:" + "|".join(sorted(RESERVED_CODES)) + r")(?:/|$))[-a-zA-Z0-9_]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


WAITING = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.RETRY)
# What the dead-letter page can list: rows that will not go without a person.
SET_ASIDE = (DeliveryStatus.DEAD, DeliveryStatus.BLOCKED)


# --- reads ----------------------------------------------------------------------------------------------------------


def _delivery_counts(run_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Messages of each run by status (the ``delivery_run_status`` index answers it)."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (
        Delivery.objects.filter(run_id__in=list(run_ids))
        .order_by()
        .values("run_id", "status")
        .annotate(n=Count("id"))
        .values_list("run_id", "status", "n")
    )
    for run_id, status, n in rows:
        counts[run_id][status] = n
    return counts


def _run_view(run: CampaignRun, counts: Mapping[str, int]) -> dict[str, Any]:
    """A run as the detail page and its JSON show it."""
    batch = run.batch_run
    percent = round(100 * batch.done / batch.total) if batch.total else (100 if batch.status == "done" else None)
    return {
        "id": str(run.public_id),
        "channel": run.channel,
        "channel_label": run.get_channel_display(),
        "status": run.status,
        "status_label": run.get_status_display(),
        "active": run.status in ACTIVE_RUN,
        "started_at": run.started_at,  # JsonResponse writes ISO 8601
        "finished_at": run.finished_at,
        "decided": batch.done,
        "total": batch.total,
        "percent": percent,
        "error": batch.error,
        "audience": run.audience,
        "control": run.control,
        "left_out": run.left_out,
        "queued": run.queued,
        "over_limit": run.over_limit,
        "deliveries": {status: counts.get(status, 0) for status in DeliveryStatus.values},
        "waiting": sum(counts.get(status, 0) for status in WAITING),
    }


def campaign_runs_view(*, campaign: Campaign, limit: int = RUNS_SHOWN) -> list[dict[str, Any]]:
    """The campaign's latest runs (one per channel and start), newest first, with their messages by status."""
    runs = list(CampaignRun.objects.filter(campaign=campaign).select_related("batch_run")[:limit])
    counts = _delivery_counts(r.pk for r in runs)
    return [_run_view(run, counts.get(run.pk, {})) for run in runs]


def _segment_names(codes: Iterable[str]) -> dict[str, str]:
    wanted = {c for c in codes if c}
    if not wanted:
        return {}
    found = Segment.objects.filter(code__in=wanted, segmentation__is_current=True).values_list("code", "name")
    return dict(found)


def campaign_list_rows(campaigns: Sequence[Campaign]) -> list[dict[str, Any]]:
    """Each campaign with its last run's figures, summed over the channels that run had:
    customers decided for, held out, messages queued, and how those messages ended."""
    ids = [c.pk for c in campaigns]
    newest = CampaignRun.objects.filter(campaign=OuterRef("campaign")).order_by("-started_at").values("started_at")[:1]
    runs = list(CampaignRun.objects.filter(campaign_id__in=ids, started_at=Subquery(newest)))
    counts = _delivery_counts(r.pk for r in runs)
    last: dict[int, dict[str, Any]] = {}
    for run in runs:
        figures = last.setdefault(
            run.campaign_id,
            {"at": run.started_at, "active": False, "audience": 0, "control": 0, "queued": 0}
            | {status: 0 for status in DeliveryStatus.values},
        )
        figures["active"] = figures["active"] or run.status in ACTIVE_RUN
        for name in ("audience", "control", "queued"):
            figures[name] += getattr(run, name)
        for status, n in counts.get(run.pk, {}).items():
            figures[status] += n
    names = _segment_names(c.audience_segment for c in campaigns)
    return [
        {
            "campaign": c,
            "segment_name": names.get(c.audience_segment, ""),
            "channels": [(ch, CHANNEL_SHORT.get(ch, ch)) for ch in c.channels],
            "last": last.get(c.pk),
        }
        for c in campaigns
    ]


def dead_letter_rows(*, statuses: Sequence[str], campaign: str = "", channel: str = "") -> QuerySet[Delivery]:
    """Messages set aside, newest first, with what the page shows of their campaign and customer."""
    rows = Delivery.objects.filter(status__in=statuses).select_related("campaign", "customer")
    if campaign:
        rows = rows.filter(campaign__code=campaign)
    if channel:
        rows = rows.filter(channel=channel)
    return rows.order_by("-id")


def _page_of(rows: QuerySet[Delivery], number: int, size: int) -> tuple[list[Delivery], bool]:
    """One page and whether another follows: reading one row more, so a big outbox is never counted."""
    start = (number - 1) * size
    found = list(rows[start : start + size + 1])
    return found[:size], len(found) > size


# --- the form -------------------------------------------------------------------------------------------------------

# What datetime-local inputs send; shown back in the same shape.
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


def _number(label: str, *, help_text: str = "", **attrs: Any) -> forms.CharField:
    """A number as typed: the service checks its range and names the field."""
    return forms.CharField(
        label=label,
        required=False,
        max_length=20,
        help_text=help_text,
        widget=forms.NumberInput(attrs={"step": "1", **attrs}),
    )


def _when(label: str, help_text: str) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=False,
        help_text=help_text,
        input_formats=DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )


class CampaignForm(forms.Form):
    """Turns what people type into the values ``campaign_create``/``campaign_update`` take;
    the services check the business rules and name the field at fault."""

    code = forms.CharField(
        label="Code",
        required=False,
        max_length=100,
        strip=True,
        help_text="Letters, digits, '-' or '_'. Reports and the contact history use it, so it never changes.",
    )
    name = forms.CharField(label="Name", required=False, max_length=500, strip=True)
    description = forms.CharField(
        label="Description",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What the campaign is for.",
    )
    audience_segment = forms.ChoiceField(label="Segment", required=False)
    tree = forms.CharField(widget=forms.HiddenInput, required=False)
    offers = forms.MultipleChoiceField(
        label="Offers",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: the whole catalogue.",
    )
    channels = forms.MultipleChoiceField(
        label="Channels",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=TreatmentChannel.choices,
        help_text="A run decides for the audience on each channel ticked.",
    )
    schedule = forms.ChoiceField(
        label="Schedule", choices=CampaignSchedule.choices, initial=CampaignSchedule.ONCE, widget=forms.RadioSelect
    )
    every_days = _number("Every (days)", help_text="Recurring campaigns: days between runs, 1 to 365.", min="1")
    max_offers_per_customer = _number("Offers per customer", help_text="At most, per run: 1 to 3.", min="1", max="3")
    volume_limit = _number("Volume limit", help_text="At most this many messages per run. Empty: no limit.", min="1")
    control_percent = forms.CharField(
        label="Control group (%)",
        required=False,
        max_length=20,
        help_text="Share of the audience that gets nothing, to measure lift: 0 to 50.",
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "max": "50"}),
    )
    attribution_days = _number(
        "Attribution window (days)", help_text="A product opened this long after an offer counts for it.", min="1"
    )
    starts_at = _when("Starts", "UTC. Empty: at launch.")
    ends_at = _when("Ends", "UTC. Empty: until stopped.")

    def __init__(
        self,
        *args: Any,
        offers: list[tuple[str, Any]],
        segments: list[tuple[str, Any]],
        creating: bool = True,
        launched: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["offers"].choices = offers
        self.fields["audience_segment"].choices = [("", "Every customer"), *segments]
        if not creating:
            del self.fields["code"]
        if launched:
            # The split between treated and control is fixed once a campaign has run.
            self.fields["control_percent"].disabled = True
            self.fields["control_percent"].help_text = "Fixed once launched: it would move the line being measured."

    def clean_code(self) -> str:
        code = self.cleaned_data["code"]
        if code in RESERVED_CODES:
            raise ValidationError("This code names a page of the campaigns section; choose another.")
        return code


def _offer_choices() -> list[tuple[str, Any]]:
    """Catalogue offers under their group, for grouped checkboxes."""
    out: dict[str, list[tuple[str, str]]] = {}
    for offer in Offer.objects.select_related("group").order_by("group__name", "name"):
        label = f"{offer.name} ({offer.code})" + ("" if offer.active else " · inactive")
        out.setdefault(offer.group.name, []).append((offer.code, label))
    return list(out.items())


def _segment_choices(keep: str = "") -> list[tuple[str, Any]]:
    """Current segments under their segmentation; ``keep`` stays selectable when a
    refit dropped it, so the service can say so next to the field."""
    choices: list[tuple[str, Any]] = []
    codes = set()
    for segmentation in segmentations_current():
        items = []
        for segment in segmentation.segments.all():
            codes.add(segment.code)
            items.append((segment.code, f"{segment.name} ({segment.code}) · {segment.size:,} customers"))
        choices.append((f"{segmentation.get_kind_display()} segments", items))
    if keep and keep not in codes:
        choices.append(("No longer current", [(keep, f"{keep} (not in the current segments)")]))
    return choices


def _initial(campaign: Campaign) -> dict[str, Any]:
    return {
        "name": campaign.name,
        "description": campaign.description,
        "audience_segment": campaign.audience_segment,
        "offers": sorted(o.code for o in campaign.offers.all()),
        "channels": list(campaign.channels),
        "schedule": campaign.schedule,
        "every_days": campaign.every_days or "",
        "max_offers_per_customer": campaign.max_offers_per_customer,
        "volume_limit": campaign.volume_limit or "",
        # "20", not "20.00" nor normalize()'s "2E+1"
        "control_percent": format(campaign.control_percent.normalize(), "f"),
        "attribution_days": campaign.attribution_days,
        "starts_at": campaign.starts_at,
        "ends_at": campaign.ends_at,
    }


def _read_tree(text: str) -> Any:
    """The rule builder's tree from its hidden field (None: no rule). An empty group
    means the person added no condition, so the campaign has no audience rule."""
    if not text.strip():
        return None
    if len(text) > 2 * MAX_RULE_BYTES:
        raise ValueError("too long")
    try:
        tree = json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if isinstance(tree, dict) and len(tree) == 1:
        ((kind, children),) = tree.items()
        if kind in ("all", "any") and children == []:
            return None
    return tree


def _values(data: Mapping[str, Any], tree: Any, *, launched: bool) -> dict[str, Any]:
    recurring = data["schedule"] == CampaignSchedule.RECURRING
    values = {
        "name": data["name"],
        "description": data["description"],
        "audience_segment": data["audience_segment"],
        "audience_rule": tree,
        "offers": data["offers"],
        "channels": data["channels"],
        "schedule": data["schedule"],
        "every_days": data["every_days"] if recurring else None,
        "max_offers_per_customer": data["max_offers_per_customer"],
        "volume_limit": data["volume_limit"],
        "control_percent": data["control_percent"],
        "attribution_days": data["attribution_days"],
        "starts_at": data["starts_at"],
        "ends_at": data["ends_at"],
    }
    if launched:
        del values["control_percent"]
    return values


def _show_errors(form: CampaignForm, exc: ValidationError, tree: Any) -> tuple[str, list[dict[str, str]]]:
    """Put the service's errors beside their fields; the audience rule's go beside the
    builder, each condition's at the condition its JSON pointer names."""
    if not hasattr(exc, "error_dict"):
        form_errors_from(form, exc)
        return "", []
    found = exc.message_dict
    rule_error = "; ".join(found.get("audience_rule", []))
    rest = {k: v for k, v in found.items() if k != "audience_rule"}
    if rest:
        form_errors_from(form, ValidationError(rest))
    pointers: list[dict[str, str]] = []
    if rule_error and tree is not None:
        try:
            rule_validate(tree)
        except RuleValidationError as problem:
            pointers = [{"pointer": pointer, "message": message} for pointer, message in problem.errors]
    return rule_error, pointers


def _form_page(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    context = {
        "fields": builder_fields(),
        "operators": builder_operators(),
        "op_labels": OP_LABELS,
        "sources": SOURCE_LABELS,
        "suggestions": _builder_suggestions(),
        "validate_url": reverse("frontend:rule-validate"),
        "triggers_url": TRIGGERS_URL,
        **context,
    }
    return render(request, "frontend/campaign_form.html", context)


def _post_form(
    request: HttpRequest, form: CampaignForm, campaign: Campaign | None
) -> tuple[HttpResponse | None, Any, str, list[dict[str, str]]]:
    """Save a posted form through the service: (redirect or None, tree, rule error, pointer errors)."""
    tree: Any = None
    try:
        tree = _read_tree(request.POST.get("tree", ""))
    except ValueError:
        form.add_error(None, "The audience rule could not be read: reload the page and build it again.")
    if not form.is_valid():
        return None, tree, "", []
    launched = campaign is not None and campaign.launched_at is not None
    values = _values(form.cleaned_data, tree, launched=launched)
    try:
        if campaign is None:
            saved = services.campaign_create(
                code=form.cleaned_data["code"], values=values, actor=request.user, now=timezone.now()
            )
        else:
            saved = services.campaign_update(campaign=campaign, values=values, actor=request.user, now=timezone.now())
    except ValidationError as exc:
        rule_error, pointers = _show_errors(form, exc, tree)
        return None, tree, rule_error, pointers
    verb = "created as a draft: launch it when ready" if campaign is None else "saved"
    messages.success(request, f"Campaign “{saved.name}” {verb}.")
    return redirect("frontend:campaign-detail", code=saved.code), tree, "", []


# --- pages ----------------------------------------------------------------------------------------------------------


@requires(VIEW)
@require_GET
def campaign_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    campaigns = Campaign.objects.select_related("owner").order_by("-created_at", "code")
    if status in CampaignStatus.values:
        campaigns = campaigns.filter(status=status)
    page = Paginator(campaigns, CAMPAIGNS_PER_PAGE).get_page(request.GET.get("page"))
    counts = dict(Campaign.objects.order_by().values("status").annotate(n=Count("id")).values_list("status", "n"))
    return render(
        request,
        "frontend/campaign_list.html",
        {
            "rows": campaign_list_rows(list(page.object_list)),
            "page": page,
            "query": urlencode({"status": status}) if status else "",
            "status": status,
            "statuses": [(value, label, counts.get(value, 0)) for value, label in CampaignStatus.choices],
            "total": sum(counts.values()),
            "can_edit": user_can(request.user, EDIT),
        },
    )


@requires(EDIT)
@require_http_methods(["GET", "POST"])
def campaign_create(request: HttpRequest) -> HttpResponse:
    form = CampaignForm(
        request.POST or None,
        initial={
            "schedule": CampaignSchedule.ONCE,
            "channels": ["email"],
            "max_offers_per_customer": 1,
            "control_percent": 10,
            "attribution_days": 30,
        },
        offers=_offer_choices(),
        segments=_segment_choices(request.POST.get("audience_segment", "")),
    )
    tree: Any = None
    rule_error, pointers = "", []
    if request.method == "POST":
        done, tree, rule_error, pointers = _post_form(request, form, None)
        if done is not None:
            return done
    return _form_page(
        request,
        {
            "form": form,
            "campaign": None,
            "title": "New campaign",
            "submit": "Create campaign",
            "tree": tree or {"all": []},
            "tree_errors": pointers,
            "rule_error": rule_error,
        },
    )


@requires(EDIT)
@require_http_methods(["GET", "POST"])
def campaign_edit(request: HttpRequest, code: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign.objects.prefetch_related("offers"), code=code)
    form = CampaignForm(
        request.POST or None,
        initial=_initial(campaign),
        offers=_offer_choices(),
        segments=_segment_choices(request.POST.get("audience_segment", campaign.audience_segment)),
        creating=False,
        launched=campaign.launched_at is not None,
    )
    tree: Any = campaign.audience_rule
    rule_error, pointers = "", []
    if request.method == "POST":
        done, tree, rule_error, pointers = _post_form(request, form, campaign)
        if done is not None:
            return done
    return _form_page(
        request,
        {
            "form": form,
            "campaign": campaign,
            "title": f"Edit campaign {campaign.name}",
            "submit": "Save campaign",
            "tree": tree or {"all": []},
            "tree_errors": pointers,
            "rule_error": rule_error,
        },
    )


def _campaign_get(code: str) -> Campaign:
    campaign = Campaign.objects.select_related("owner").prefetch_related("offers").filter(code=code).first()
    if campaign is None:
        raise Http404("No such campaign")
    return campaign


@requires(VIEW)
@require_GET
def campaign_detail(request: HttpRequest, code: str) -> HttpResponse:
    campaign = _campaign_get(code)
    runs = campaign_runs_view(campaign=campaign)
    members = dict(
        CampaignMember.objects.filter(campaign=campaign)
        .order_by()
        .values("control")
        .annotate(n=Count("id"))
        .values_list("control", "n")
    )
    dead = Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.DEAD).count()
    return render(
        request,
        "frontend/campaign_detail.html",
        {
            "campaign": campaign,
            "segment_name": _segment_names([campaign.audience_segment]).get(campaign.audience_segment, ""),
            "rule_summary": tree_summary(campaign.audience_rule) if campaign.audience_rule else "",
            "rule_json": json.dumps(campaign.audience_rule, indent=2, ensure_ascii=False),
            "offers": list(campaign.offers.all()),
            "channels": [(ch, CHANNEL_SHORT.get(ch, ch)) for ch in campaign.channels],
            "runs": runs,
            "active": any(r["active"] for r in runs),
            "members": {"treated": members.get(False, 0), "control": members.get(True, 0)},
            "dead": dead,
            "can_edit": user_can(request.user, EDIT),
            "can_launch": campaign.status in (CampaignStatus.DRAFT, CampaignStatus.STOPPED),
            "can_stop": campaign.status == CampaignStatus.ACTIVE,
            "triggered": campaign.schedule == CampaignSchedule.TRIGGERED,
            "triggers_url": f"{TRIGGERS_URL}?{urlencode({'campaign': campaign.code})}",
            "poll_url": reverse("frontend:campaign-runs", kwargs={"code": campaign.code}),
            "dead_letters_url": reverse("frontend:dead-letters") + "?" + urlencode({"campaign": campaign.code}),
        },
    )


@require_GET
def campaign_runs_json(request: HttpRequest, code: str) -> JsonResponse:
    """What the detail page polls while a run is active: each run's progress and messages."""
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "Sign in first."}, status=401)
    if not user_can(request.user, VIEW):
        return JsonResponse({"detail": "Your role does not allow you to see campaigns."}, status=403)
    campaign = get_object_or_404(Campaign, code=code)
    runs = campaign_runs_view(campaign=campaign)
    return JsonResponse(
        {
            "campaign": campaign.code,
            "status": campaign.status,
            "status_label": campaign.get_status_display(),
            "active": any(r["active"] for r in runs),
            "runs": runs,
        }
    )


@requires(EDIT)
@require_POST
def campaign_launch(request: HttpRequest, code: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign, code=code)
    try:
        campaign = services.campaign_launch(campaign=campaign, actor=request.user, now=timezone.now())
    except ValidationError as exc:
        messages.error(request, "The campaign cannot be launched: " + "; ".join(exc.messages))
    else:
        if campaign.schedule == CampaignSchedule.TRIGGERED:
            messages.success(request, f"Campaign “{campaign.name}” is active: its triggers now fire on events.")
        elif campaign.next_run_at is not None and campaign.next_run_at > timezone.now():
            messages.success(request, f"Campaign “{campaign.name}” is active: its first run starts at its start time.")
        else:
            messages.success(request, f"Campaign “{campaign.name}” launched: its runs are below.")
    return redirect("frontend:campaign-detail", code=code)


@requires(EDIT)
@require_POST
def campaign_stop(request: HttpRequest, code: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign, code=code)
    try:
        services.campaign_stop(
            campaign=campaign, actor=request.user, now=timezone.now(), reason=request.POST.get("reason", "").strip()
        )
    except ValidationError as exc:
        messages.error(request, "The campaign cannot be stopped: " + "; ".join(exc.messages))
    else:
        messages.success(request, f"Campaign “{campaign.name}” stopped: messages not yet sent are cancelled.")
    return redirect("frontend:campaign-detail", code=code)


# --- dead letters ---------------------------------------------------------------------------------------------------


def _dead_letter_filters(data: Mapping[str, str]) -> dict[str, Any]:
    status = data.get("status", DeliveryStatus.DEAD)
    try:
        number = max(int(data.get("page", "1")), 1)
    except ValueError:
        number = 1
    return {
        "status": status if status in (*SET_ASIDE, "all") else DeliveryStatus.DEAD,
        "campaign": data.get("campaign", "").strip()[:40],
        "channel": data.get("channel", "") if data.get("channel", "") in TreatmentChannel.values else "",
        "page": number,
    }


def _dead_letters_url(filters: Mapping[str, Any], page: int | None = None) -> str:
    query = {k: v for k, v in filters.items() if k != "page" and v}
    if page is not None and page > 1:
        query["page"] = page
    return reverse("frontend:dead-letters") + (f"?{urlencode(query)}" if query else "")


@requires(VIEW)
@require_GET
def dead_letters(request: HttpRequest) -> HttpResponse:
    filters = _dead_letter_filters(request.GET)
    statuses = SET_ASIDE if filters["status"] == "all" else (filters["status"],)
    rows, more = _page_of(
        dead_letter_rows(statuses=statuses, campaign=filters["campaign"], channel=filters["channel"]),
        filters["page"],
        DEAD_LETTERS_PER_PAGE,
    )
    number = filters["page"]
    return render(
        request,
        "frontend/dead_letters.html",
        {
            "rows": rows,
            "filters": filters,
            "page_number": number,
            "previous_url": _dead_letters_url(filters, number - 1) if number > 1 else "",
            "next_url": _dead_letters_url(filters, number + 1) if more else "",
            "first_index": (number - 1) * DEAD_LETTERS_PER_PAGE + 1,
            "last_index": (number - 1) * DEAD_LETTERS_PER_PAGE + len(rows),
            "statuses": [
                (DeliveryStatus.DEAD, "Dead letters"),
                (DeliveryStatus.BLOCKED, "Blocked at send time"),
                ("all", "Both"),
            ],
            "channels": TreatmentChannel.choices,
            "campaigns": list(Campaign.objects.order_by("code").values_list("code", "name")),
            "dead_shown": [d.pk for d in rows if d.status == DeliveryStatus.DEAD],
            "can_edit": user_can(request.user, EDIT),
        },
    )


def _back_to_list(request: HttpRequest) -> HttpResponse:
    filters = _dead_letter_filters(request.POST)
    return redirect(_dead_letters_url(filters, filters["page"]))


@requires(EDIT)
@require_POST
def dead_letter_retry(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = get_object_or_404(Delivery, pk=pk)
    try:
        delivery_retry(delivery=delivery, actor=request.user, now=timezone.now())
    except ValueError:
        messages.error(request, "Only a dead letter can be retried; this message is no longer one.")
    else:
        messages.success(request, f"Message {delivery.public_id} is queued to be sent again.")
    return _back_to_list(request)


@requires(EDIT)
@require_POST
def dead_letters_retry_shown(request: HttpRequest) -> HttpResponse:
    """Retry the dead letters the page showed (their ids are posted): each one its own
    audited retry, so one that changed meanwhile is skipped, not the whole lot."""
    ids: list[int] = []
    for value in request.POST.getlist("ids")[:DEAD_LETTERS_PER_PAGE]:
        try:
            ids.append(int(value))
        except ValueError:
            continue
    retried = skipped = 0
    for delivery in Delivery.objects.filter(pk__in=ids).order_by("id"):
        try:
            delivery_retry(delivery=delivery, actor=request.user, now=timezone.now())
        except ValueError:
            skipped += 1
        else:
            retried += 1
    skipped += len(set(ids)) - retried - skipped
    note = f" {skipped} no longer dead, left as they are." if skipped else ""
    messages.success(request, f"{retried} message{'s' if retried != 1 else ''} queued to be sent again.{note}")
    return _back_to_list(request)
