"""Rule sets: drafts validated rule by rule, publishing freezes a version, an edit
starts a new draft, and evaluation reports every rule's outcome."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from core.models import AuditEvent
from decisioning.models import RuleSetStatus
from decisioning.rule_sets import (
    rule_set_compiled,
    rule_set_draft,
    rule_set_draft_save,
    rule_set_publish,
    rule_set_published,
)
from decisioning.rules import RuleContext
from tests.factories.decisioning import OfferFactory

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def offer(db):
    return OfferFactory(code="mortgage-fixed")


def rule(rule_id: str, tree: dict, *, kind: str = "eligibility", scope_code: str = "mortgage-fixed") -> dict:
    return {
        "id": rule_id,
        "name": f"Rule {rule_id}",
        "kind": kind,
        "scope": "offer",
        "scope_code": scope_code,
        "tree": tree,
    }


ADULT = {"field": "customer.age", "op": "gte", "value": 21}
NO_MORTGAGE = {"not": {"field": "holdings.products", "op": "contains", "value": "MORTGAGE"}}


def test_a_draft_is_published_frozen_and_audited(offer, bianca):
    draft = rule_set_draft(actor=bianca)
    rule_set_draft_save(draft=draft, rules=[rule("adult", ADULT)], actor=bianca, now=NOW)

    published = rule_set_publish(draft=draft, actor=bianca, now=NOW, note="first rules")

    assert published.status == RuleSetStatus.PUBLISHED
    assert len(published.content_sha256) == 64
    assert rule_set_published() == published
    assert [e.action for e in AuditEvent.objects.order_by("id")] == ["rule_set.edit", "rule_set.publish"]
    with pytest.raises(ValidationError, match="only a draft"):
        rule_set_draft_save(draft=published, rules=[], actor=bianca, now=NOW)


def test_an_edit_after_publishing_starts_a_new_draft_and_the_old_version_is_kept(offer, bianca):
    first = rule_set_draft(actor=bianca)
    rule_set_draft_save(draft=first, rules=[rule("adult", ADULT)], actor=bianca, now=NOW)
    rule_set_publish(draft=first, actor=bianca, now=NOW)

    second = rule_set_draft(actor=bianca)
    rule_set_draft_save(draft=second, rules=[rule("adult", ADULT), rule("new", NO_MORTGAGE)], actor=bianca, now=NOW)
    rule_set_publish(draft=second, actor=bianca, now=NOW)

    first.refresh_from_db()
    assert (first.version, second.version) == (1, 2)
    assert first.status == RuleSetStatus.RETIRED
    assert first.rules == [rule("adult", ADULT)]  # never changed
    assert second.based_on == first


def test_a_bad_rule_is_refused_naming_the_rule_and_the_node(offer, bianca):
    draft = rule_set_draft(actor=bianca)
    bad = rule("typo", {"all": [ADULT, {"field": "customer.agee", "op": "gt", "value": 1}]})

    with pytest.raises(ValidationError) as refused:
        rule_set_draft_save(draft=draft, rules=[rule("ok", ADULT), bad], actor=bianca, now=NOW)

    assert "rules/1/tree/all/1/field" in refused.value.message_dict
    draft.refresh_from_db()
    assert draft.rules == []


def test_a_rule_attached_to_an_unknown_offer_is_refused(offer, bianca):
    draft = rule_set_draft(actor=bianca)

    with pytest.raises(ValidationError) as refused:
        rule_set_draft_save(draft=draft, rules=[rule("x", ADULT, scope_code="nope")], actor=bianca, now=NOW)

    assert "rules/0/scope_code" in refused.value.message_dict


def test_evaluation_reports_every_rule_not_only_the_first_failure(offer, bianca):
    draft = rule_set_draft(actor=bianca)
    rules = [rule("adult", ADULT), rule("no-mortgage", NO_MORTGAGE, kind="suitability")]
    rule_set_draft_save(draft=draft, rules=rules, actor=bianca, now=NOW)
    published = rule_set_publish(draft=draft, actor=bianca, now=NOW)
    context = RuleContext(values={"customer.age": 19, "holdings.products": {"MORTGAGE"}}, now=NOW)

    outcomes = rule_set_compiled(published).evaluate(context, scopes={"offer": "mortgage-fixed"})

    assert [(o.rule_id, o.passed) for o in outcomes] == [("adult", False), ("no-mortgage", False)]
    assert outcomes[0].trace == (("/", False),)
    assert rule_set_compiled(published) is rule_set_compiled(published)  # compiled once


def test_a_compliance_officer_cannot_edit_rules(offer, carlos):
    with pytest.raises(PermissionDenied):
        rule_set_draft(actor=carlos)
