"""Triggered campaigns: triggers as audited data, and their evaluation as events arrive.

A trigger belongs to a campaign whose schedule is ``triggered``. Its definition
is validated and compiled by ``decisioning.triggers`` (durable-rules stays
there). After each committed batch of events, ``triggers_evaluate`` looks at
the customers the batch touched: for every active trigger of an active
triggered campaign that watches one of the event types that arrived, it
computes the customer's measures from the database, evaluates, and on a match
re-decides for the customer and queues the offer through the outbox, in one
transaction with the ``TriggerFiring`` that records it.

Each firing is checked against the trigger's cooldown twice: before the
measures are computed (cheap) and again with the customer's row locked
(PostgreSQL), so two workers evaluating the same customer at once queue one
offer. A redelivered task finds the firing its first run recorded and does
nothing, even with no cooldown, because a firing names the events behind it.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from campaigns import outbox
from campaigns.models import Campaign, CampaignSchedule, CampaignStatus, Trigger, TriggerFiring
from core.models import User
from core.permissions import user_can
from core.services import audit_record
from customers.models import Customer, InboundEvent, Product
from decisioning.decisions import DecisionInputError, UnknownCustomer
from decisioning.inputs import catalogue_current, customer_facts_one, rule_values
from decisioning.models import TreatmentChannel
from decisioning.rules import CompiledRule, RuleContext, rule_compile
from decisioning.triggers import (
    PAGE_VIEWS,
    CompiledTrigger,
    TriggerCheck,
    TriggerValidationError,
    trigger_check,
    trigger_compile,
    trigger_leaves,
    trigger_summary,
    trigger_validate,
)
from modeling.segments import segment_customer_ids

logger = logging.getLogger(__name__)

EDIT = "manage_campaigns"
CODE_MAX = 40
NAME_MAX = 120
COOLDOWN_MAX = 365
_CODE = re.compile(r"[a-z0-9][a-z0-9_-]*")


# --- editing ----------------------------------------------------------------------------------------------------


def _require(actor: User) -> None:
    if not user_can(actor, EDIT):
        raise PermissionDenied(f"{actor.get_username()} may not edit campaigns or their triggers")


def _state(trigger: Trigger) -> dict[str, Any]:
    return {
        "campaign": trigger.campaign.code,
        "code": trigger.code,
        "name": trigger.name,
        "definition": trigger.definition,
        "version": trigger.version,
        "cooldown_days": trigger.cooldown_days,
        "active": trigger.active,
    }


def trigger_definition_errors(definition: Any) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    """The definition with its defaults, or the (JSON pointer, message) pairs that
    refuse it; products named by code must exist. For the editor's live checks."""
    try:
        normalized = trigger_validate(definition)
    except TriggerValidationError as exc:
        return None, exc.errors
    errors = []
    for pointer, leaf in trigger_leaves(normalized):
        code = leaf.get("product_code") if leaf["kind"] == PAGE_VIEWS else None
        if code and not Product.objects.filter(code=code).exists():
            errors.append((f"{pointer}/product_code", f"no product has the code {code!r}"))
    return (None, errors) if errors else (normalized, [])


def _check(*, name: Any, definition: Any, cooldown_days: Any, errors: dict[str, str]) -> dict[str, Any] | None:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > NAME_MAX:
        errors["name"] = f"a name of 1 to {NAME_MAX} characters"
    if not isinstance(cooldown_days, int) or isinstance(cooldown_days, bool) or not 0 <= cooldown_days <= COOLDOWN_MAX:
        errors["cooldown_days"] = f"a whole number of days from 0 to {COOLDOWN_MAX}"
    normalized, problems = trigger_definition_errors(definition)
    for pointer, message in problems:
        errors.setdefault(f"definition{pointer}", message)
    return normalized


def _campaign_check(campaign: Campaign, errors: dict[str, str]) -> None:
    if campaign.schedule != CampaignSchedule.TRIGGERED:
        errors["campaign"] = f"campaign {campaign.code!r} is not triggered by events: set its schedule first"


def _raise(errors: Mapping[str, str]) -> None:
    if errors:
        raise ValidationError(dict(errors))


@transaction.atomic
def trigger_create(
    *,
    campaign: Campaign,
    code: str,
    name: str,
    definition: Any,
    cooldown_days: int = 7,
    active: bool = True,
    actor: User,
    now: dt.datetime,
) -> Trigger:
    """A new trigger for a triggered campaign; errors in the definition are keyed
    ``definition/<JSON pointer>``."""
    _require(actor)
    errors: dict[str, str] = {}
    if not isinstance(code, str) or not code or len(code) > CODE_MAX or not _CODE.fullmatch(code):
        errors["code"] = f"a code of 1 to {CODE_MAX} lower-case letters, digits, '-' or '_'"
    elif Trigger.objects.filter(code=code).exists():
        errors["code"] = f"the code {code!r} is taken"
    _campaign_check(campaign, errors)
    normalized = _check(name=name, definition=definition, cooldown_days=cooldown_days, errors=errors)
    _raise(errors)
    trigger = Trigger.objects.create(
        campaign=campaign,
        code=code,
        name=name.strip(),
        definition=normalized,
        cooldown_days=cooldown_days,
        active=bool(active),
    )
    audit_record(
        actor=actor,
        action="trigger.create",
        object_type="trigger",
        object_id=trigger.code,
        after=_state(trigger),
        now=now,
    )
    return trigger


@transaction.atomic
def trigger_update(
    *, trigger: Trigger, name: str, definition: Any, cooldown_days: int, actor: User, now: dt.datetime
) -> Trigger:
    """Change a trigger; any change is a new version (firings name the version they
    matched), and an unchanged save changes nothing."""
    _require(actor)
    trigger = Trigger.objects.select_for_update().select_related("campaign").get(pk=trigger.pk)
    errors: dict[str, str] = {}
    normalized = _check(name=name, definition=definition, cooldown_days=cooldown_days, errors=errors)
    _raise(errors)
    before = _state(trigger)
    trigger.name = name.strip()
    trigger.definition = normalized
    trigger.cooldown_days = cooldown_days
    after = _state(trigger)
    if after == before:
        return trigger
    trigger.version += 1
    trigger.save(update_fields=["name", "definition", "cooldown_days", "version", "updated_at"])
    audit_record(
        actor=actor,
        action="trigger.update",
        object_type="trigger",
        object_id=trigger.code,
        before=before,
        after=_state(trigger),
        now=now,
    )
    return trigger


@transaction.atomic
def trigger_set_active(*, trigger: Trigger, active: bool, actor: User, now: dt.datetime) -> Trigger:
    """Switch a trigger on or off (its definition and version stay as they are)."""
    _require(actor)
    trigger = Trigger.objects.select_for_update().select_related("campaign").get(pk=trigger.pk)
    if trigger.active == bool(active):
        return trigger
    before = _state(trigger)
    trigger.active = bool(active)
    trigger.save(update_fields=["active", "updated_at"])
    audit_record(
        actor=actor,
        action="trigger.activate" if active else "trigger.deactivate",
        object_type="trigger",
        object_id=trigger.code,
        before=before,
        after=_state(trigger),
        now=now,
    )
    return trigger


def trigger_compiled(trigger: Trigger) -> CompiledTrigger:
    """The trigger's current version, compiled in this process (once per version)."""
    return trigger_compile(trigger.definition, key=f"{trigger.public_id.hex}-v{trigger.version}")


def trigger_describe(trigger: Trigger) -> str:
    return trigger_summary(trigger.definition)


# --- evaluation -------------------------------------------------------------------------------------------------


@dataclass
class _Arrivals:
    """What one batch brought for one customer."""

    event_ids: list[int] = field(default_factory=list)
    event_types: set[str] = field(default_factory=set)
    received_at: dt.datetime | None = None


def _arrivals(inbound_event_ids: Iterable[int]) -> dict[int, _Arrivals]:
    by_customer: dict[int, _Arrivals] = {}
    rows = InboundEvent.objects.filter(pk__in=list(inbound_event_ids)).values_list(
        "pk", "customer_id", "event_type", "received_at"
    )
    for pk, customer_id, event_type, received_at in rows:
        seen = by_customer.setdefault(customer_id, _Arrivals())
        seen.event_ids.append(pk)
        seen.event_types.add(event_type)
        if seen.received_at is None or received_at < seen.received_at:
            seen.received_at = received_at
    for seen in by_customer.values():
        seen.event_ids.sort()
    return by_customer


def _live_triggers(now: dt.datetime) -> list[tuple[Trigger, CompiledTrigger]]:
    found = []
    triggers = Trigger.objects.filter(
        active=True, campaign__status=CampaignStatus.ACTIVE, campaign__schedule=CampaignSchedule.TRIGGERED
    ).select_related("campaign")
    for trigger in triggers:
        campaign = trigger.campaign
        if (campaign.starts_at and now < campaign.starts_at) or (campaign.ends_at and now >= campaign.ends_at):
            continue
        if not campaign.channels or campaign.channels[0] not in TreatmentChannel.values:
            logger.warning("triggered campaign %s has no channel to send on; trigger %s skipped", campaign, trigger)
            continue
        try:
            found.append((trigger, trigger_compiled(trigger)))
        except TriggerValidationError:
            # Stored definitions were validated on save; one that no longer is
            # (a newer release tightened a rule) is skipped, not fatal to the rest.
            logger.exception("trigger %s has a definition that no longer validates; skipped", trigger)
    return found


def _already_fired(trigger: Trigger, customer_id: int, arrivals: _Arrivals, now: dt.datetime) -> bool:
    """Within the cooldown, or fired for one of these very events (a redelivered task)."""
    recent = TriggerFiring.objects.filter(trigger=trigger, customer_id=customer_id)
    if trigger.cooldown_days and recent.filter(fired_at__gt=now - dt.timedelta(days=trigger.cooldown_days)).exists():
        return True
    since = min(arrivals.received_at or now, now)
    mine = set(arrivals.event_ids)
    return any(mine.intersection(ids) for ids in recent.filter(fired_at__gte=since).values_list("event_ids", flat=True))


@functools.lru_cache(maxsize=256)
def _audience_rule(tree_json: str) -> CompiledRule:
    """A campaign's audience rule, compiled once per distinct rule, not per customer."""
    return rule_compile(json.loads(tree_json))


def _in_audience(campaign: Campaign, customer: Customer, now: dt.datetime) -> bool:
    """Whether the campaign's audience (segment, rule) takes the customer in."""
    if campaign.audience_segment:
        try:
            if not segment_customer_ids(code=campaign.audience_segment).filter(customer_id=customer.pk).exists():
                return False
        except KeyError:  # the segment is gone: nobody is in it
            logger.warning(
                "campaign %s names segment %r, which has no current version", campaign, campaign.audience_segment
            )
            return False
    if campaign.audience_rule:
        rule = _audience_rule(json.dumps(campaign.audience_rule, sort_keys=True))
        facts = customer_facts_one(
            customer.external_id, now=now, lookback_days=catalogue_current().lookback_days, lock=False
        )
        if facts is None:
            return False
        values = rule_values(facts, rule.fields, now=now, channel=campaign.channels[0], context={})
        return rule.evaluate(RuleContext(values=values, now=now))
    return True


def _fire(
    *,
    trigger: Trigger,
    compiled: CompiledTrigger,
    customer: Customer,
    arrivals: _Arrivals,
    check: TriggerCheck,
    now: dt.datetime,
    started: float,
) -> TriggerFiring | None:
    """Queue the campaign's offer for the customer and record the firing, in one
    transaction, unless another worker fired it first."""
    with transaction.atomic():
        # The customer's row lock (PostgreSQL) orders two workers on one customer:
        # the second sees the first's firing below. SQLite has one writer at a time.
        # NO KEY: rows that merely reference the customer (their foreign-key checks)
        # are not held up by it.
        list(Customer.objects.select_for_update(no_key=True).filter(pk=customer.pk).values_list("pk", flat=True))
        if _already_fired(trigger, customer.pk, arrivals, now):
            return None
        decision, _deliveries = outbox.offers_queue_for_customer(
            campaign=trigger.campaign,
            customer_id=customer.pk,
            channel=trigger.campaign.channels[0],
            trigger=trigger,
            now=now,
        )
        queued_at = now + dt.timedelta(seconds=time.monotonic() - started)
        return TriggerFiring.objects.create(
            trigger=trigger,
            customer=customer,
            trigger_version=trigger.version,
            event_ids=arrivals.event_ids,
            facts={"measures": check.measures, "evidence": check.evidence, "rule": compiled.rule},
            decision=decision,
            event_committed_at=arrivals.received_at or now,
            fired_at=now,
            queued_at=queued_at,
        )


def triggers_evaluate(*, inbound_event_ids: list[int], now: dt.datetime) -> list[TriggerFiring]:
    """Evaluate the live triggers for the customers of these events; queue an offer
    for each match outside its cooldown. Safe to run again for the same events."""
    started = time.monotonic()
    arrivals = _arrivals(inbound_event_ids)
    if not arrivals:
        return []
    live = _live_triggers(now)
    if not live:
        return []
    customers = Customer.objects.in_bulk(list(arrivals))
    audience: dict[tuple[int, int], bool] = {}
    fired: list[TriggerFiring] = []
    for customer_id in sorted(arrivals):
        customer = customers.get(customer_id)
        seen = arrivals[customer_id]
        if customer is None:
            continue
        for trigger, compiled in live:
            if not compiled.event_types & seen.event_types:
                continue
            if _already_fired(trigger, customer_id, seen, now):
                continue
            check = trigger_check(compiled, customer=customer, now=now)
            if not check.fired:
                continue
            key = (trigger.campaign_id, customer_id)
            if key not in audience:
                audience[key] = _in_audience(trigger.campaign, customer, now)
            if not audience[key]:
                continue
            try:
                firing = _fire(
                    trigger=trigger,
                    compiled=compiled,
                    customer=customer,
                    arrivals=seen,
                    check=check,
                    now=now,
                    started=started,
                )
            except (DecisionInputError, UnknownCustomer, ValidationError) as exc:
                # A campaign the engine cannot decide for (say, a retired offer): the
                # other triggers and customers still go ahead.
                logger.warning("trigger %s for customer %s could not queue an offer: %s", trigger, customer_id, exc)
                continue
            if firing is not None:
                fired.append(firing)
    return fired
