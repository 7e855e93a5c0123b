"""Campaigns: create, edit, launch, stop, and run them.

A run is a batch next-best-action per channel for the campaign's audience
(``decisioning.batch``), whose chunks queue their offers for delivery as they
are written (``campaigns.outbox``). Launching, stopping and editing are audited;
scheduled runs are started by Celery beat (``campaigns.run_due_campaigns``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign, CampaignRun, CampaignSchedule, CampaignStatus, RunStatus
from campaigns.outbox import audience_rule_filter, campaign_context, deliveries_cancel, run_chunk_writer, runs_close
from core.models import User
from core.permissions import user_can
from core.services import audit_record
from decisioning.batch import BATCH_TASK_SECONDS, batch_run_fail, batch_run_start, batch_run_work
from decisioning.models import Offer, TreatmentChannel
from decisioning.rules import RuleValidationError, rule_validate
from modeling.segments import segment_current_get

# The fields a person edits; everything else a campaign holds is its state.
EDITABLE = (
    "name",
    "description",
    "audience_segment",
    "audience_rule",
    "offers",
    "channels",
    "schedule",
    "every_days",
    "max_offers_per_customer",
    "volume_limit",
    "control_percent",
    "attribution_days",
    "starts_at",
    "ends_at",
)
# Edits to these after launch would change who is measured against whom.
FROZEN_AFTER_LAUNCH = ("control_percent",)


def _require(actor: User) -> None:
    if not user_can(actor, "manage_campaigns"):
        raise PermissionError("this needs a role allowed to manage campaigns")


def _state(campaign: Campaign) -> dict[str, Any]:
    return {
        "code": campaign.code,
        "name": campaign.name,
        "status": campaign.status,
        "audience_segment": campaign.audience_segment,
        "audience_rule": campaign.audience_rule,
        "offers": sorted(campaign.offers.values_list("code", flat=True)) if campaign.pk else [],
        "channels": campaign.channels,
        "schedule": campaign.schedule,
        "every_days": campaign.every_days,
        "max_offers_per_customer": campaign.max_offers_per_customer,
        "volume_limit": campaign.volume_limit,
        "control_percent": str(campaign.control_percent),
        "attribution_days": campaign.attribution_days,
        "starts_at": campaign.starts_at.isoformat() if campaign.starts_at else None,
        "ends_at": campaign.ends_at.isoformat() if campaign.ends_at else None,
    }


def _whole(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if low <= number <= high and str(number) == str(value).strip() else None


def _clean(values: Mapping[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    """Checked values for the editable fields given; errors name each field."""
    out: dict[str, Any] = {}
    if "name" in values:
        name = str(values["name"] or "").strip()
        if not name or len(name) > 120:
            errors["name"] = "a name of 1 to 120 characters"
        out["name"] = name
    if "description" in values:
        out["description"] = str(values["description"] or "")[:5000]
    if "audience_segment" in values:
        code = str(values["audience_segment"] or "").strip()
        if code:
            try:
                segment_current_get(code=code)
            except KeyError:
                errors["audience_segment"] = f"no current segment with code {code!r}"
        out["audience_segment"] = code
    if "audience_rule" in values:
        tree = values["audience_rule"] or None
        if tree is not None:
            try:
                rule_validate(tree)
            except RuleValidationError as exc:
                errors["audience_rule"] = "; ".join(f"{p or '/'}: {m}" for p, m in exc.errors)
        out["audience_rule"] = tree
    if "offers" in values:
        codes = sorted({str(c) for c in values["offers"] or []})
        known = set(Offer.objects.filter(code__in=codes).values_list("code", flat=True))
        unknown = [c for c in codes if c not in known]
        if unknown:
            errors["offers"] = f"no offer with code {unknown[0]!r}"
        out["offers"] = codes
    if "channels" in values:
        channels = values["channels"] or []
        if isinstance(channels, str):
            channels = [channels]
        bad = [c for c in channels if c not in TreatmentChannel.values]
        if not channels or bad:
            errors["channels"] = f"one or more of {', '.join(TreatmentChannel.values)}"
        out["channels"] = sorted(set(channels), key=list(TreatmentChannel.values).index) if not bad else channels
    if "schedule" in values:
        if values["schedule"] not in CampaignSchedule.values:
            errors["schedule"] = f"one of {', '.join(CampaignSchedule.values)}"
        out["schedule"] = values["schedule"]
    for name, low, high, optional in (
        ("every_days", 1, 365, True),
        ("max_offers_per_customer", 1, 3, False),
        ("volume_limit", 1, 10_000_000, True),
        ("attribution_days", 1, 365, False),
    ):
        if name not in values:
            continue
        raw = values[name]
        if optional and raw in (None, ""):
            out[name] = None
            continue
        number = _whole(raw, low, high)
        if number is None:
            errors[name] = f"a whole number from {low} to {high}"
        out[name] = number
    if "control_percent" in values:
        try:
            share = Decimal(str(values["control_percent"]))
        except (InvalidOperation, ValueError):
            share = Decimal(-1)
        if not share.is_finite() or not Decimal(0) <= share <= Decimal(50) or share != share.quantize(Decimal("0.01")):
            errors["control_percent"] = "a percentage from 0 to 50, at most 2 decimals"
        out["control_percent"] = share
    for name in ("starts_at", "ends_at"):
        if name in values:
            value = values[name]
            if value in (None, ""):
                out[name] = None
            elif isinstance(value, dt.datetime) and timezone.is_aware(value):
                out[name] = value
            else:
                errors[name] = "a date and time with a time zone"
                out[name] = None
    return out


def _check_whole(campaign: Campaign, errors: dict[str, str]) -> None:
    if campaign.schedule == CampaignSchedule.RECURRING and not campaign.every_days:
        errors.setdefault("every_days", "a recurring campaign needs its period in days")
    if campaign.starts_at and campaign.ends_at and campaign.ends_at <= campaign.starts_at:
        errors.setdefault("ends_at", "the end comes after the start")


def _apply(campaign: Campaign, values: Mapping[str, Any]) -> list[str]:
    errors: dict[str, str] = {}
    clean = _clean(values, errors)
    offers = clean.pop("offers", None)
    for name, value in clean.items():
        setattr(campaign, name, value)
    _check_whole(campaign, errors)
    if errors:
        raise ValidationError(errors)
    return offers if offers is not None else []


@transaction.atomic
def campaign_create(*, code: str, values: Mapping[str, Any], actor: User, now: dt.datetime) -> Campaign:
    """A draft campaign owned by ``actor``; ValidationError names each bad field."""
    _require(actor)
    errors: dict[str, str] = {}
    if not code or len(code) > 40 or not all(ch.isalnum() or ch in "-_" for ch in code):
        errors["code"] = "1 to 40 letters, digits, - or _"
    elif Campaign.objects.filter(code=code).exists():
        errors["code"] = f"a campaign with code {code!r} exists"
    if "name" not in values:
        errors["name"] = "a name of 1 to 120 characters"
    if "channels" not in values:
        errors["channels"] = f"one or more of {', '.join(TreatmentChannel.values)}"
    campaign = Campaign(code=code, owner=actor)
    try:
        offers = _apply(campaign, values)
    except ValidationError as exc:
        errors = {**{name: "; ".join(messages) for name, messages in exc.message_dict.items()}, **errors}
        offers = []
    if errors:
        raise ValidationError(errors)
    campaign.save()
    campaign.offers.set(Offer.objects.filter(code__in=offers))
    audit_record(
        actor=actor, action="campaign.create", object_type="campaign", object_id=code, after=_state(campaign), now=now
    )
    return campaign


@transaction.atomic
def campaign_update(*, campaign: Campaign, values: Mapping[str, Any], actor: User, now: dt.datetime) -> Campaign:
    """Edit a campaign. Its control share is frozen once launched: changing it would
    move the line between the groups being compared."""
    _require(actor)
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    before = _state(campaign)
    if campaign.launched_at is not None:
        frozen = [f for f in FROZEN_AFTER_LAUNCH if f in values and str(values[f]) != before[f]]
        if frozen:
            raise ValidationError({f: "cannot change once the campaign has been launched" for f in frozen})
    unknown = sorted(set(values) - set(EDITABLE))
    if unknown:
        raise ValidationError({name: "not a field a person edits" for name in unknown})
    offers = _apply(campaign, values)
    campaign.save()
    if "offers" in values:
        campaign.offers.set(Offer.objects.filter(code__in=offers))
    audit_record(
        actor=actor,
        action="campaign.update",
        object_type="campaign",
        object_id=campaign.code,
        before=before,
        after=_state(campaign),
        now=now,
    )
    return campaign


@transaction.atomic
def campaign_launch(*, campaign: Campaign, actor: User, now: dt.datetime) -> Campaign:
    """Make a draft (or stopped) campaign active. A one-off or recurring campaign
    due now starts its first run at once; a triggered one waits for its events."""
    _require(actor)
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.STOPPED):
        raise ValidationError({"status": f"a {campaign.get_status_display().lower()} campaign cannot be launched"})
    if campaign.ends_at and campaign.ends_at <= now:
        raise ValidationError({"ends_at": "the campaign has already ended"})
    before = _state(campaign)
    campaign.status = CampaignStatus.ACTIVE
    campaign.launched_at = campaign.launched_at or now
    campaign.stopped_at = None
    campaign.next_run_at = (
        max(now, campaign.starts_at or now) if campaign.schedule != CampaignSchedule.TRIGGERED else None
    )
    campaign.save()
    audit_record(
        actor=actor,
        action="campaign.launch",
        object_type="campaign",
        object_id=campaign.code,
        before=before,
        after=_state(campaign),
        now=now,
    )
    if campaign.next_run_at is not None and campaign.next_run_at <= now:
        campaign_runs_start_if_due(campaign.pk, now=now)
    return campaign


@transaction.atomic
def campaign_stop(*, campaign: Campaign, actor: User, now: dt.datetime, reason: str = "") -> Campaign:
    """Stop a campaign: no more runs or triggers; messages not yet sent are cancelled."""
    _require(actor)
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != CampaignStatus.ACTIVE:
        raise ValidationError({"status": "only an active campaign can be stopped"})
    before = _state(campaign)
    campaign.status = CampaignStatus.STOPPED
    campaign.stopped_at = now
    campaign.next_run_at = None
    campaign.save()
    cancelled = deliveries_cancel(campaign=campaign, now=now)
    audit_record(
        actor=actor,
        action="campaign.stop",
        object_type="campaign",
        object_id=campaign.code,
        before=before,
        after={**_state(campaign), "cancelled_messages": cancelled},
        note=reason[:500],
        now=now,
    )
    return campaign


def _next_run(campaign: Campaign, due: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    if campaign.schedule != CampaignSchedule.RECURRING or not campaign.every_days:
        return None
    step = dt.timedelta(days=campaign.every_days)
    following = due + step
    while following <= now:  # runs missed while nothing was running are not made up
        following += step
    if campaign.ends_at and following >= campaign.ends_at:
        return None
    return following


def campaign_runs_start_if_due(campaign_id: int, *, now: dt.datetime) -> list[CampaignRun]:
    """Start the campaign's due run(s), one per channel, if no one else has: the
    next run time moves with a compare-and-set, so beat overlapping a launch (or
    two beats) start a run once."""
    campaign = Campaign.objects.get(pk=campaign_id)
    due = campaign.next_run_at
    if campaign.status != CampaignStatus.ACTIVE or due is None or due > now:
        return []
    moved = Campaign.objects.filter(pk=campaign_id, next_run_at=due, status=CampaignStatus.ACTIVE).update(
        next_run_at=_next_run(campaign, due, now), updated_at=now
    )
    if not moved:
        return []
    from campaigns.tasks import run_campaign_task

    audience = {"segment": campaign.audience_segment} if campaign.audience_segment else {}
    runs = []
    for channel in campaign.channels:
        batch = batch_run_start(
            channel=channel,
            audience=audience,
            max_results=campaign.max_offers_per_customer,
            context=campaign_context(campaign),
            actor=None,
            now=now,
        )
        run = CampaignRun.objects.create(campaign=campaign, channel=channel, batch_run=batch, started_at=now)
        runs.append(run)
        # Several tasks share a run (chunks are claimed with SKIP LOCKED); eager mode runs one.
        for _ in range(1 if settings.CELERY_TASK_ALWAYS_EAGER else settings.CAMPAIGN_RUN_PARALLEL):
            transaction.on_commit(lambda pk=run.pk: run_campaign_task.delay(pk))
    return runs


def campaigns_run_due(*, now: dt.datetime) -> int:
    """Start every due run (beat); complete campaigns past their end. How many started."""
    Campaign.objects.filter(status=CampaignStatus.ACTIVE, ends_at__lte=now).update(
        status=CampaignStatus.COMPLETED, next_run_at=None, updated_at=now
    )
    started = 0
    for pk in Campaign.objects.filter(status=CampaignStatus.ACTIVE, next_run_at__lte=now).values_list("pk", flat=True):
        with transaction.atomic():
            started += len(campaign_runs_start_if_due(pk, now=now))
    return started


def campaign_run_work(*, run_id: int, task_id: str | None, eager: bool, max_seconds: float | None = None) -> bool:
    """Decide and queue a run's chunks for a while; whether more remain."""
    from core.task_runs import task_run_progress

    run = CampaignRun.objects.select_related("campaign").filter(pk=run_id).first()
    if run is None or run.status != RunStatus.DECIDING:
        return False
    campaign = run.campaign
    if campaign.status not in (CampaignStatus.ACTIVE, CampaignStatus.COMPLETED):
        batch_run_fail(run_id=run.batch_run_id, error="the campaign was stopped")
        CampaignRun.objects.filter(pk=run.pk).update(status=RunStatus.DONE, finished_at=timezone.now())
        return False

    def progress(done: int, total: int) -> None:
        task_run_progress(task_id=task_id, done=done, total=total, message=f"campaign {campaign.code}: {done}/{total}")

    more = batch_run_work(
        run_id=run.batch_run_id,
        max_seconds=None if eager else (max_seconds or BATCH_TASK_SECONDS),
        progress=progress,
        after_write=run_chunk_writer(run),
        audience_filter=audience_rule_filter(campaign, run),
    )
    if not more:
        runs_close(now=timezone.now())
    return more


def campaign_run_fail(*, run_id: int, error: str) -> None:
    run = CampaignRun.objects.filter(pk=run_id).first()
    if run is None:
        return
    batch_run_fail(run_id=run.batch_run_id, error=error)
    CampaignRun.objects.filter(pk=run_id).update(status=RunStatus.FAILED, finished_at=timezone.now())
