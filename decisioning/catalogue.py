"""Business users' edits to the offer catalogue, its levers, the contact policies
and the rules of the draft rule set (one rule at a time, through ``rule_sets``).

Every function needs the ``manage_offers`` capability, checks all its input
before writing (a ValidationError names each bad field), and writes the change
and its audit event (before and after) in one transaction: a refused or failed
edit leaves nothing half-written. Codes never change once created, because
rules and contact history refer to them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Model
from django.utils.text import slugify

from core.models import User
from core.permissions import user_can
from core.services import audit_record
from customers.models import Product
from decisioning.models import (
    BusinessIssue,
    ContactPolicy,
    ContactPolicyKind,
    Offer,
    OfferGroup,
    RuleSetVersion,
    TreatmentChannel,
)
from decisioning.rule_sets import rule_set_draft, rule_set_draft_save

LEVER_MIN = 0
LEVER_MAX = 1000
MAX_OFFER_VALUE = Decimal("1e15")
_CURRENCY = re.compile(r"[A-Z]{3}")
_CODE = re.compile(r"[a-z0-9][a-z0-9_-]*")
CODE_MAX = 40
NAME_MAX = 120

Levelled = BusinessIssue | OfferGroup | Offer
LEVELS: dict[str, type[Levelled]] = {"issue": BusinessIssue, "group": OfferGroup, "offer": Offer}


def _require(actor: User) -> None:
    if not user_can(actor, "manage_offers"):
        raise PermissionDenied(f"{actor.get_username()} may not edit offers, levers or contact policies")


def _check_code(code: str, model: type[Model], errors: dict[str, str]) -> None:
    if not isinstance(code, str) or not code or len(code) > CODE_MAX or not _CODE.fullmatch(code):
        errors["code"] = f"a code of 1 to {CODE_MAX} lower-case letters, digits, '-' or '_'"
    elif model._default_manager.filter(code=code).exists():
        errors["code"] = f"the code {code!r} is taken"


def _check_name(name: str, errors: dict[str, str]) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
        errors["name"] = f"a name of 1 to {NAME_MAX} characters"


def _check_lever(percent: Any, errors: dict[str, str], key: str = "lever_percent") -> None:
    if not isinstance(percent, int) or isinstance(percent, bool) or not LEVER_MIN <= percent <= LEVER_MAX:
        errors[key] = f"a whole percent from {LEVER_MIN} to {LEVER_MAX} (100 is neutral)"


def _raise(errors: Mapping[str, str]) -> None:
    if errors:
        raise ValidationError(dict(errors))


# --- business issues ----------------------------------------------------------------------------------------------


def _issue_state(issue: BusinessIssue) -> dict[str, Any]:
    return {
        "code": issue.code,
        "name": issue.name,
        "description": issue.description,
        "transactional": issue.transactional,
        "lever_percent": issue.lever_percent,
    }


def _issue_check(name: str, description: str, errors: dict[str, str]) -> None:
    _check_name(name, errors)
    if not isinstance(description, str) or len(description) > 2000:
        errors["description"] = "a description of at most 2000 characters"


@transaction.atomic
def business_issue_create(
    *,
    code: str,
    name: str,
    description: str = "",
    transactional: bool = False,
    lever_percent: int = 100,
    actor: User,
    now: dt.datetime,
) -> BusinessIssue:
    """A new business issue: why the bank makes a family of offers at all."""
    _require(actor)
    errors: dict[str, str] = {}
    _check_code(code, BusinessIssue, errors)
    _issue_check(name, description, errors)
    _check_lever(lever_percent, errors)
    _raise(errors)
    issue = BusinessIssue.objects.create(
        code=code,
        name=name.strip(),
        description=description.strip(),
        transactional=bool(transactional),
        lever_percent=lever_percent,
    )
    audit_record(
        actor=actor,
        action="business_issue.create",
        object_type="business_issue",
        object_id=issue.code,
        after=_issue_state(issue),
        now=now,
    )
    return issue


@transaction.atomic
def business_issue_update(
    *, issue: BusinessIssue, name: str, description: str, transactional: bool, actor: User, now: dt.datetime
) -> BusinessIssue:
    """Rename or redescribe an issue, or mark it transactional; its code stays."""
    _require(actor)
    errors: dict[str, str] = {}
    _issue_check(name, description, errors)
    _raise(errors)
    issue = BusinessIssue.objects.select_for_update().get(pk=issue.pk)
    before = _issue_state(issue)
    issue.name = name.strip()
    issue.description = description.strip()
    issue.transactional = bool(transactional)
    issue.save(update_fields=["name", "description", "transactional", "updated_at"])
    audit_record(
        actor=actor,
        action="business_issue.update",
        object_type="business_issue",
        object_id=issue.code,
        before=before,
        after=_issue_state(issue),
        now=now,
    )
    return issue


# --- offer groups ---------------------------------------------------------------------------------------------------


def _group_state(group: OfferGroup) -> dict[str, Any]:
    return {
        "code": group.code,
        "name": group.name,
        "issue": group.issue.code,
        "lever_percent": group.lever_percent,
    }


def _issue_by_code(code: str, errors: dict[str, str]) -> BusinessIssue | None:
    issue = BusinessIssue.objects.filter(code=code).first() if isinstance(code, str) else None
    if issue is None:
        errors["issue"] = f"no business issue with code {str(code)[:60]!r}"
    return issue


@transaction.atomic
def offer_group_create(
    *, issue_code: str, code: str, name: str, lever_percent: int = 100, actor: User, now: dt.datetime
) -> OfferGroup:
    """A new group of offers within a business issue."""
    _require(actor)
    errors: dict[str, str] = {}
    issue = _issue_by_code(issue_code, errors)
    _check_code(code, OfferGroup, errors)
    _check_name(name, errors)
    _check_lever(lever_percent, errors)
    _raise(errors)
    group = OfferGroup.objects.create(issue=issue, code=code, name=name.strip(), lever_percent=lever_percent)
    audit_record(
        actor=actor,
        action="offer_group.create",
        object_type="offer_group",
        object_id=group.code,
        after=_group_state(group),
        now=now,
    )
    return group


@transaction.atomic
def offer_group_update(*, group: OfferGroup, issue_code: str, name: str, actor: User, now: dt.datetime) -> OfferGroup:
    """Rename a group or move it to another business issue."""
    _require(actor)
    errors: dict[str, str] = {}
    issue = _issue_by_code(issue_code, errors)
    _check_name(name, errors)
    _raise(errors)
    group = OfferGroup.objects.select_for_update().select_related("issue").get(pk=group.pk)
    before = _group_state(group)
    group.issue = issue  # type: ignore[assignment]
    group.name = name.strip()
    group.save(update_fields=["issue", "name", "updated_at"])
    audit_record(
        actor=actor,
        action="offer_group.update",
        object_type="offer_group",
        object_id=group.code,
        before=before,
        after=_group_state(group),
        now=now,
    )
    return group


# --- offers ---------------------------------------------------------------------------------------------------------

_OFFER_FIELDS = (
    "name",
    "headline_value",
    "value",
    "currency",
    "starts_on",
    "ends_on",
    "is_credit",
    "exclusion_group",
    "active",
)


def _offer_state(offer: Offer) -> dict[str, Any]:
    return {
        "code": offer.code,
        "group": offer.group.code,
        "product": offer.product.code,
        "name": offer.name,
        "headline_value": offer.headline_value,
        "value": str(offer.value),
        "currency": offer.currency,
        "starts_on": offer.starts_on.isoformat() if offer.starts_on else None,
        "ends_on": offer.ends_on.isoformat() if offer.ends_on else None,
        "is_credit": offer.is_credit,
        "exclusion_group": offer.exclusion_group,
        "lever_percent": offer.lever_percent,
        "active": offer.active,
    }


def _offer_check(
    *,
    group_code: str,
    product_code: str,
    name: str,
    headline_value: str,
    value: Any,
    currency: str,
    starts_on: dt.date | None,
    ends_on: dt.date | None,
    exclusion_group: str,
    errors: dict[str, str],
) -> tuple[OfferGroup | None, Product | None, Decimal | None]:
    group = OfferGroup.objects.filter(code=group_code).first() if isinstance(group_code, str) else None
    if group is None:
        errors["group"] = f"no offer group with code {str(group_code)[:60]!r}"
    product = Product.objects.filter(code=product_code).first() if isinstance(product_code, str) else None
    if product is None:
        errors["product"] = f"no product with code {str(product_code)[:60]!r}"
    _check_name(name, errors)
    if not isinstance(headline_value, str) or len(headline_value) > 60:
        errors["headline_value"] = "a headline value of at most 60 characters"
    amount: Decimal | None = None
    try:
        amount = Decimal(str(value)) if not isinstance(value, bool | float) else None
    except (InvalidOperation, ValueError):
        amount = None
    if amount is None or not amount.is_finite():
        errors["value"] = "the value is an amount, e.g. 120.00"
        amount = None
    elif amount < 0:
        errors["value"] = "the value is 0 or more"
    elif amount >= MAX_OFFER_VALUE or amount != amount.quantize(Decimal("0.01")):
        errors["value"] = "the value has at most 2 decimals and 15 digits before the point"
    else:
        amount = amount.quantize(Decimal("0.01"))
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        errors["currency"] = "a currency is 3 upper-case letters (ISO 4217), e.g. EUR"
    for key, day in (("starts_on", starts_on), ("ends_on", ends_on)):
        if day is not None and not isinstance(day, dt.date):
            errors[key] = "a date"
    if (
        isinstance(starts_on, dt.date)
        and isinstance(ends_on, dt.date)
        and "starts_on" not in errors
        and ends_on < starts_on
    ):
        errors["ends_on"] = "the offer ends on or after the day it starts"
    if not isinstance(exclusion_group, str) or (
        exclusion_group and (len(exclusion_group) > CODE_MAX or not _CODE.fullmatch(exclusion_group))
    ):
        errors["exclusion_group"] = f"empty, or a code of at most {CODE_MAX} lower-case letters, digits, '-' or '_'"
    return group, product, amount


@transaction.atomic
def offer_create(
    *,
    group_code: str,
    product_code: str,
    code: str,
    name: str,
    value: Decimal | str | int,
    currency: str,
    headline_value: str = "",
    starts_on: dt.date | None = None,
    ends_on: dt.date | None = None,
    is_credit: bool = False,
    exclusion_group: str = "",
    active: bool = True,
    lever_percent: int = 100,
    actor: User,
    now: dt.datetime,
) -> Offer:
    """A new offer of a product within a group."""
    _require(actor)
    errors: dict[str, str] = {}
    _check_code(code, Offer, errors)
    group, product, amount = _offer_check(
        group_code=group_code,
        product_code=product_code,
        name=name,
        headline_value=headline_value,
        value=value,
        currency=currency,
        starts_on=starts_on,
        ends_on=ends_on,
        exclusion_group=exclusion_group,
        errors=errors,
    )
    _check_lever(lever_percent, errors)
    _raise(errors)
    offer = Offer.objects.create(
        group=group,
        product=product,
        code=code,
        name=name.strip(),
        headline_value=headline_value.strip(),
        value=amount,
        currency=currency,
        starts_on=starts_on,
        ends_on=ends_on,
        is_credit=bool(is_credit),
        exclusion_group=exclusion_group,
        active=bool(active),
        lever_percent=lever_percent,
    )
    audit_record(
        actor=actor,
        action="offer.create",
        object_type="offer",
        object_id=offer.code,
        after=_offer_state(offer),
        now=now,
    )
    return offer


@transaction.atomic
def offer_update(
    *,
    offer: Offer,
    group_code: str,
    product_code: str,
    name: str,
    value: Decimal | str | int,
    currency: str,
    headline_value: str = "",
    starts_on: dt.date | None = None,
    ends_on: dt.date | None = None,
    is_credit: bool = False,
    exclusion_group: str = "",
    active: bool = True,
    actor: User,
    now: dt.datetime,
) -> Offer:
    """Change an offer's terms, product, group, dates or whether it is made at all."""
    _require(actor)
    errors: dict[str, str] = {}
    group, product, amount = _offer_check(
        group_code=group_code,
        product_code=product_code,
        name=name,
        headline_value=headline_value,
        value=value,
        currency=currency,
        starts_on=starts_on,
        ends_on=ends_on,
        exclusion_group=exclusion_group,
        errors=errors,
    )
    _raise(errors)
    offer = Offer.objects.select_for_update().select_related("group", "product").get(pk=offer.pk)
    before = _offer_state(offer)
    offer.group = group  # type: ignore[assignment]
    offer.product = product  # type: ignore[assignment]
    offer.name = name.strip()
    offer.headline_value = headline_value.strip()
    offer.value = amount  # type: ignore[assignment]
    offer.currency = currency
    offer.starts_on = starts_on
    offer.ends_on = ends_on
    offer.is_credit = bool(is_credit)
    offer.exclusion_group = exclusion_group
    offer.active = bool(active)
    offer.save(update_fields=[*_OFFER_FIELDS, "group", "product", "updated_at"])
    audit_record(
        actor=actor,
        action="offer.update",
        object_type="offer",
        object_id=offer.code,
        before=before,
        after=_offer_state(offer),
        now=now,
    )
    return offer


# --- levers ---------------------------------------------------------------------------------------------------------


def levers_set(*, changes: Mapping[tuple[str, str], int], actor: User, now: dt.datetime) -> int:
    """Set several levers at once: ``{("issue" | "group" | "offer", code): percent}``.
    Every change is checked first (errors keyed ``"<level>:<code>"``) and all are
    written together with one audit event each, or none. Returns how many changed."""
    return _levers_set(changes=changes, actor=actor, now=now)


def lever_set(*, target: Levelled, percent: int, actor: User, now: dt.datetime) -> Levelled:
    """Set one issue's, group's or offer's lever (percent, 100 neutral, 0 switches it off)."""
    _require(actor)
    level = next(name for name, model in LEVELS.items() if isinstance(target, model))
    errors: dict[str, str] = {}
    _check_lever(percent, errors)
    _raise(errors)
    _levers_set(changes={(level, target.code): percent}, actor=actor, now=now)
    target.refresh_from_db(fields=["lever_percent", "updated_at"])
    return target


@transaction.atomic
def _levers_set(*, changes: Mapping[tuple[str, str], int], actor: User, now: dt.datetime) -> int:
    _require(actor)
    errors: dict[str, str] = {}
    rows: list[tuple[Levelled, int]] = []
    for (level, code), percent in sorted(changes.items()):
        key = f"{level}:{code}"
        model = LEVELS.get(level)
        if model is None:
            errors[key] = f"a lever is on an issue, a group or an offer, not {level!r}"
            continue
        _check_lever(percent, errors, key)
        row = model._default_manager.select_for_update().filter(code=code).first()
        if row is None:
            errors[key] = f"no {level} with code {code[:60]!r}"
            continue
        rows.append((row, percent))
    _raise(errors)
    changed = 0
    for row, percent in rows:
        if row.lever_percent == percent:
            continue
        level = next(name for name, model in LEVELS.items() if isinstance(row, model))
        before = row.lever_percent
        row.lever_percent = percent
        row.save(update_fields=["lever_percent", "updated_at"])
        audit_record(
            actor=actor,
            action=f"{level}.lever",
            object_type={"issue": "business_issue", "group": "offer_group", "offer": "offer"}[level],
            object_id=row.code,
            before={"lever_percent": before},
            after={"lever_percent": percent},
            now=now,
        )
        changed += 1
    return changed


# --- contact policies -----------------------------------------------------------------------------------------------


def _policy_state(policy: ContactPolicy) -> dict[str, Any]:
    return {
        "code": policy.code,
        "name": policy.name,
        "kind": policy.kind,
        "channel": policy.channel,
        "limit": policy.limit,
        "period_days": policy.period_days,
        "suppress_days": policy.suppress_days,
        "active": policy.active,
    }


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _policy_check(
    *, name: str, kind: str, channel: str, limit: int, period_days: int, suppress_days: int, errors: dict[str, str]
) -> None:
    """A cap counts offers made; a suppression rests a product after rejections.
    Each kind needs its own fields and refuses the others' so a policy means one thing."""
    _check_name(name, errors)
    if kind not in ContactPolicyKind.values:
        errors["kind"] = f"one of {', '.join(ContactPolicyKind.values)}"
    if channel != "" and channel not in TreatmentChannel.values:
        errors["channel"] = f"empty (every channel) or one of {', '.join(TreatmentChannel.values)}"
    elif kind == ContactPolicyKind.GLOBAL_CAP and channel:
        errors["channel"] = "a global cap counts every channel: leave the channel empty, or use a channel cap"
    if not _whole(limit, 1, 1000):
        errors["limit"] = "a whole number from 1 to 1000"
    if not _whole(period_days, 1, 3650):
        errors["period_days"] = "a whole number of days from 1 to 3650"
    if not _whole(suppress_days, 0, 3650):
        errors["suppress_days"] = "a whole number of days from 0 to 3650"
    elif kind == ContactPolicyKind.SUPPRESSION and suppress_days < 1:
        errors["suppress_days"] = "a suppression rests the product for at least 1 day"
    elif kind in (ContactPolicyKind.CHANNEL_CAP, ContactPolicyKind.GLOBAL_CAP) and suppress_days != 0:
        errors["suppress_days"] = "a cap has no rest period: leave it at 0"


@transaction.atomic
def contact_policy_create(
    *,
    code: str,
    name: str,
    kind: str,
    limit: int,
    period_days: int,
    channel: str = "",
    suppress_days: int = 0,
    active: bool = True,
    actor: User,
    now: dt.datetime,
) -> ContactPolicy:
    """A new cap on contacts, or a suppression after repeated rejections."""
    _require(actor)
    errors: dict[str, str] = {}
    _check_code(code, ContactPolicy, errors)
    _policy_check(
        name=name,
        kind=kind,
        channel=channel,
        limit=limit,
        period_days=period_days,
        suppress_days=suppress_days,
        errors=errors,
    )
    _raise(errors)
    policy = ContactPolicy.objects.create(
        code=code,
        name=name.strip(),
        kind=kind,
        channel=channel,
        limit=limit,
        period_days=period_days,
        suppress_days=suppress_days,
        active=bool(active),
    )
    audit_record(
        actor=actor,
        action="contact_policy.create",
        object_type="contact_policy",
        object_id=policy.code,
        after=_policy_state(policy),
        now=now,
    )
    return policy


@transaction.atomic
def contact_policy_update(
    *,
    policy: ContactPolicy,
    name: str,
    kind: str,
    limit: int,
    period_days: int,
    channel: str = "",
    suppress_days: int = 0,
    actor: User,
    now: dt.datetime,
) -> ContactPolicy:
    """Change a policy's terms; its code and whether it is active stay."""
    _require(actor)
    errors: dict[str, str] = {}
    _policy_check(
        name=name,
        kind=kind,
        channel=channel,
        limit=limit,
        period_days=period_days,
        suppress_days=suppress_days,
        errors=errors,
    )
    _raise(errors)
    policy = ContactPolicy.objects.select_for_update().get(pk=policy.pk)
    before = _policy_state(policy)
    policy.name = name.strip()
    policy.kind = kind
    policy.channel = channel
    policy.limit = limit
    policy.period_days = period_days
    policy.suppress_days = suppress_days
    policy.save(update_fields=["name", "kind", "channel", "limit", "period_days", "suppress_days", "updated_at"])
    audit_record(
        actor=actor,
        action="contact_policy.update",
        object_type="contact_policy",
        object_id=policy.code,
        before=before,
        after=_policy_state(policy),
        now=now,
    )
    return policy


def contact_policy_deactivate(*, policy: ContactPolicy, actor: User, now: dt.datetime) -> ContactPolicy:
    """Stop applying a policy; it is kept, so past decisions stay explainable."""
    return _contact_policy_set_active(policy=policy, active=False, actor=actor, now=now)


def contact_policy_reactivate(*, policy: ContactPolicy, actor: User, now: dt.datetime) -> ContactPolicy:
    """Apply a deactivated policy again."""
    return _contact_policy_set_active(policy=policy, active=True, actor=actor, now=now)


@transaction.atomic
def _contact_policy_set_active(*, policy: ContactPolicy, active: bool, actor: User, now: dt.datetime) -> ContactPolicy:
    _require(actor)
    policy = ContactPolicy.objects.select_for_update().get(pk=policy.pk)
    if policy.active == active:
        return policy
    policy.active = active
    policy.save(update_fields=["active", "updated_at"])
    audit_record(
        actor=actor,
        action="contact_policy.activate" if active else "contact_policy.deactivate",
        object_type="contact_policy",
        object_id=policy.code,
        before={"active": not active},
        after={"active": active},
        now=now,
    )
    return policy


# --- rules in the draft ---------------------------------------------------------------------------------------------

_RULE_ID_MAX = 60


def _rule_id_new(name: str, taken: set[str]) -> str:
    base = (slugify(name) or "rule")[:_RULE_ID_MAX]
    candidate, n = base, 2
    while candidate in taken:
        suffix = f"-{n}"
        candidate, n = base[: _RULE_ID_MAX - len(suffix)] + suffix, n + 1
    return candidate


def _rule_errors(exc: ValidationError, index: int) -> ValidationError:
    """The draft's errors for this rule keyed by its own fields (``name``,
    ``tree/all/0/op``); errors elsewhere in the draft keep their full key."""
    prefix = f"rules/{index}/"
    out: dict[str, list[str]] = {}
    for key, messages in exc.message_dict.items():
        out.setdefault(key[len(prefix) :] if key.startswith(prefix) else key, []).extend(messages)
    return ValidationError(out)


@transaction.atomic
def rule_save(
    *,
    rule_id: str | None,
    name: str,
    kind: str,
    scope: str,
    scope_code: str,
    tree: Any,
    actor: User,
    now: dt.datetime,
) -> tuple[RuleSetVersion, str]:
    """Add a rule to the draft (``rule_id`` None: its id is made from the name) or
    replace the rule with that id, starting a draft from the published rules if
    none is open. Returns the draft and the rule's id. Errors name the rule's own
    fields (``name``, ``scope_code``, ``tree/all/0/value``); if the whole draft is
    refused, no draft is left behind."""
    _require(actor)
    draft = rule_set_draft(actor=actor)
    rules = [dict(r) for r in draft.rules]
    ids = [str(r.get("id")) for r in rules]
    if rule_id is None:
        rule_id = _rule_id_new(name if isinstance(name, str) else "", set(ids))
        index = len(rules)
        rules.append({})
    elif rule_id in ids:
        index = ids.index(rule_id)
    else:
        raise ValidationError({"id": f"the draft has no rule {rule_id[:60]!r}"})
    rules[index] = {
        "id": rule_id,
        "name": name.strip() if isinstance(name, str) else name,
        "kind": kind,
        "scope": scope,
        "scope_code": scope_code,
        "tree": tree,
    }
    try:
        draft = rule_set_draft_save(draft=draft, rules=rules, actor=actor, now=now)
    except ValidationError as exc:
        raise _rule_errors(exc, index) from None
    return draft, rule_id


@transaction.atomic
def rule_remove(*, rule_id: str, actor: User, now: dt.datetime) -> RuleSetVersion:
    """Take a rule out of the draft (the published version keeps it until the next publish)."""
    _require(actor)
    draft = rule_set_draft(actor=actor)
    rules = [r for r in draft.rules if r.get("id") != rule_id]
    if len(rules) == len(draft.rules):
        raise ValidationError({"id": f"the draft has no rule {rule_id[:60]!r}"})
    return rule_set_draft_save(draft=draft, rules=rules, actor=actor, now=now)
