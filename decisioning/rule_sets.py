"""Rule sets: drafting, publishing and evaluating the bank's policy rules.

A rule is ``{"id", "name", "kind", "scope", "scope_code", "tree"}``: a condition
tree (``decisioning.rules``) of one kind (eligibility, applicability,
suitability) attached to a business issue, an offer group or an offer by code.
Evaluation returns every rule's outcome with its trace, not only the first
failure, so the decision funnel can show why each offer stayed or went.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max

from core.models import User
from core.permissions import user_can
from core.services import audit_record
from decisioning.models import BusinessIssue, Offer, OfferGroup, PolicyKind, RuleSetStatus, RuleSetVersion
from decisioning.rules import CompiledRule, RuleContext, RuleValidationError, TraceEntry, rule_compile

SCOPES = ("issue", "group", "offer")
MAX_RULES = 500
_RULE_KEYS = {"id", "name", "kind", "scope", "scope_code", "tree"}


def _require(actor: User) -> None:
    if not user_can(actor, "manage_offers"):
        raise PermissionDenied(f"{actor.get_username()} may not edit rules")


def content_hash(rules: Sequence[Mapping[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(rules, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def rules_validate(rules: Any) -> None:
    """ValidationError naming each bad rule by its index and JSON pointer."""
    if not isinstance(rules, list):
        raise ValidationError({"rules": "a rule set is a list of rules"})
    if len(rules) > MAX_RULES:
        raise ValidationError({"rules": f"a rule set holds at most {MAX_RULES} rules"})
    codes = {
        "issue": set(BusinessIssue.objects.values_list("code", flat=True)),
        "group": set(OfferGroup.objects.values_list("code", flat=True)),
        "offer": set(Offer.objects.values_list("code", flat=True)),
    }
    errors: dict[str, str] = {}
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        where = f"rules/{i}"
        if not isinstance(rule, dict) or set(rule) != _RULE_KEYS:
            errors[where] = f"a rule has exactly the keys {', '.join(sorted(_RULE_KEYS))}"
            continue
        if not isinstance(rule["id"], str) or not rule["id"] or rule["id"] in seen:
            errors[f"{where}/id"] = "a unique, non-empty id"
        seen.add(str(rule["id"]))
        if not isinstance(rule["name"], str) or not 1 <= len(rule["name"]) <= 120:
            errors[f"{where}/name"] = "a name of 1 to 120 characters"
        if rule["kind"] not in PolicyKind.values:
            errors[f"{where}/kind"] = f"one of {', '.join(PolicyKind.values)}"
        if rule["scope"] not in SCOPES:
            errors[f"{where}/scope"] = f"one of {', '.join(SCOPES)}"
        elif rule["scope_code"] not in codes[rule["scope"]]:
            errors[f"{where}/scope_code"] = f"no {rule['scope']} with code {str(rule['scope_code'])[:60]!r}"
        try:
            rule_compile(rule["tree"])
        except RuleValidationError as exc:
            for pointer, message in exc.errors:
                errors[f"{where}/tree{pointer}"] = message
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def rule_set_draft(*, actor: User) -> RuleSetVersion:
    """The open draft, or a new one copied from the published version."""
    _require(actor)
    draft = RuleSetVersion.objects.select_for_update().filter(status=RuleSetStatus.DRAFT).first()
    if draft is not None:
        return draft
    published = RuleSetVersion.objects.filter(status=RuleSetStatus.PUBLISHED).first()
    latest = RuleSetVersion.objects.aggregate(v=Max("version"))["v"] or 0
    return RuleSetVersion.objects.create(
        version=latest + 1,
        rules=list(published.rules) if published else [],
        based_on=published,
        created_by=actor,
    )


@transaction.atomic
def rule_set_draft_save(
    *, draft: RuleSetVersion, rules: list[dict[str, Any]], actor: User, now: dt.datetime
) -> RuleSetVersion:
    """Replace the draft's rules after validating every one of them."""
    _require(actor)
    draft = RuleSetVersion.objects.select_for_update().get(pk=draft.pk)
    if draft.status != RuleSetStatus.DRAFT:
        raise ValidationError({"rules": f"rule set v{draft.version} is {draft.status}; only a draft is edited"})
    rules_validate(rules)
    before = {"rules": draft.rules}
    draft.rules = rules
    draft.save(update_fields=["rules", "updated_at"])
    audit_record(
        actor=actor,
        action="rule_set.edit",
        object_type="rule_set",
        object_id=draft.pk,
        before=before,
        after={"rules": rules},
        now=now,
    )
    return draft


@transaction.atomic
def rule_set_publish(*, draft: RuleSetVersion, actor: User, now: dt.datetime, note: str = "") -> RuleSetVersion:
    """Freeze the draft as the rules every new decision runs; retire the previous version."""
    _require(actor)
    draft = RuleSetVersion.objects.select_for_update().get(pk=draft.pk)
    if draft.status != RuleSetStatus.DRAFT:
        raise ValidationError({"rules": f"rule set v{draft.version} is {draft.status}, not a draft"})
    rules_validate(draft.rules)
    RuleSetVersion.objects.filter(status=RuleSetStatus.PUBLISHED).update(status=RuleSetStatus.RETIRED, updated_at=now)
    draft.status = RuleSetStatus.PUBLISHED
    draft.content_sha256 = content_hash(draft.rules)
    draft.published_by = actor
    draft.published_at = now
    draft.note = note
    draft.save(update_fields=["status", "content_sha256", "published_by", "published_at", "note", "updated_at"])
    audit_record(
        actor=actor,
        action="rule_set.publish",
        object_type="rule_set",
        object_id=draft.pk,
        after={"version": draft.version, "sha256": draft.content_sha256, "rules": len(draft.rules)},
        note=note,
        now=now,
    )
    return draft


class RuleOutcome(NamedTuple):
    """A rule's outcome for one customer. A named tuple: a decision makes dozens of
    them (a frozen dataclass costs several times as much to build)."""

    rule_id: str
    name: str
    kind: str
    scope: str
    scope_code: str
    passed: bool
    trace: tuple[TraceEntry, ...]


@dataclass(frozen=True)
class CompiledRuleSet:
    version_id: int
    version: int
    rules: tuple[tuple[Mapping[str, Any], CompiledRule], ...]

    def __post_init__(self) -> None:
        by_scope: dict[tuple[str, str], list[tuple[Mapping[str, Any], CompiledRule]]] = {}
        for rule, compiled in self.rules:
            by_scope.setdefault((rule["scope"], rule["scope_code"]), []).append((rule, compiled))
        object.__setattr__(self, "_by_scope", by_scope)
        object.__setattr__(self, "_position", {id(rule): i for i, (rule, _) in enumerate(self.rules)})

    def evaluate(
        self, context: RuleContext, *, scopes: Mapping[str, str] | None = None, traced: bool = True
    ) -> list[RuleOutcome]:
        """Every rule (or those attached to ``scopes``: {"issue": code, "group": code,
        "offer": code}) with its outcome and, when ``traced``, every node's outcome."""
        if scopes is None:
            chosen: Sequence[tuple[Mapping[str, Any], CompiledRule]] = self.rules
        else:
            index = self._by_scope  # type: ignore[attr-defined]
            if len(scopes) == 1:  # each scope's rules are kept in rule-set order already
                ((scope, code),) = scopes.items()
                chosen = index.get((scope, code), ())
            else:
                chosen = [pair for scope, code in scopes.items() for pair in index.get((scope, code), ())]
                chosen.sort(key=lambda pair: self._position[id(pair[0])])  # type: ignore[attr-defined]
        out = []
        for rule, compiled in chosen:
            trace: list[TraceEntry] | None = [] if traced else None
            passed = compiled.evaluate(context, trace)
            out.append(
                RuleOutcome(
                    rule_id=rule["id"],
                    name=rule["name"],
                    kind=rule["kind"],
                    scope=rule["scope"],
                    scope_code=rule["scope_code"],
                    passed=passed,
                    trace=tuple(trace or ()),
                )
            )
        return out


_compiled: dict[tuple[int, str], CompiledRuleSet] = {}
_compiled_lock = threading.Lock()


def rule_set_compiled(version: RuleSetVersion) -> CompiledRuleSet:
    """A version's rules compiled once per process, keyed by version and content hash."""
    key = (version.pk, version.content_sha256 or content_hash(version.rules))
    with _compiled_lock:
        found = _compiled.get(key)
        if found is None:
            found = CompiledRuleSet(
                version_id=version.pk,
                version=version.version,
                rules=tuple((rule, rule_compile(rule["tree"])) for rule in version.rules),
            )
            _compiled[key] = found
        return found


def rule_set_published() -> RuleSetVersion | None:
    return RuleSetVersion.objects.filter(status=RuleSetStatus.PUBLISHED).first()
