"""Catalogue edits: only business users make them, bad input is refused naming the
field, each change is audited with before and after, and nothing is half-written."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from core.models import AuditEvent
from decisioning import catalogue
from decisioning.models import BusinessIssue, ContactPolicy, Offer, OfferGroup
from tests.factories.customers import ProductFactory
from tests.factories.decisioning import BusinessIssueFactory, OfferFactory, OfferGroupFactory

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def mortgage(db):
    return ProductFactory(code="MORTGAGE", name="Home mortgage")


@pytest.fixture
def group(db):
    return OfferGroupFactory(code="home-loans", name="Home loans", issue=BusinessIssueFactory(code="grow"))


def offer_terms(**overrides):
    terms = {
        "group_code": "home-loans",
        "product_code": "MORTGAGE",
        "code": "mortgage-fixed",
        "name": "Fixed-rate mortgage",
        "headline_value": "4.1% APR",
        "value": Decimal("950.00"),
        "currency": "EUR",
        "starts_on": dt.date(2026, 1, 1),
        "ends_on": dt.date(2026, 12, 31),
    }
    return {**terms, **overrides}


def refused(call, **kwargs) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        call(**kwargs)
    return caught.value.message_dict


# --- permissions ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["carlos", "oscar"])
def test_only_people_who_manage_offers_may_edit_the_catalogue(request, persona, group, mortgage):
    user = request.getfixturevalue(persona)
    issue = group.issue
    policy = ContactPolicy.objects.create(code="email-weekly", name="Email", kind="channel_cap", limit=2, period_days=7)
    calls = [
        lambda: catalogue.business_issue_create(code="retain", name="Retain", actor=user, now=NOW),
        lambda: catalogue.business_issue_update(
            issue=issue, name="x", description="", transactional=False, actor=user, now=NOW
        ),
        lambda: catalogue.offer_group_create(issue_code="grow", code="cards", name="Cards", actor=user, now=NOW),
        lambda: catalogue.offer_group_update(group=group, issue_code="grow", name="x", actor=user, now=NOW),
        lambda: catalogue.offer_create(**offer_terms(), actor=user, now=NOW),
        lambda: catalogue.lever_set(target=issue, percent=150, actor=user, now=NOW),
        lambda: catalogue.levers_set(changes={("issue", "grow"): 150}, actor=user, now=NOW),
        lambda: catalogue.contact_policy_create(
            code="push", name="Push", kind="channel_cap", channel="push", limit=1, period_days=1, actor=user, now=NOW
        ),
        lambda: catalogue.contact_policy_update(
            policy=policy, name="x", kind="global_cap", limit=1, period_days=1, actor=user, now=NOW
        ),
        lambda: catalogue.contact_policy_deactivate(policy=policy, actor=user, now=NOW),
    ]

    for call in calls:
        with pytest.raises(PermissionDenied):
            call()

    assert AuditEvent.objects.count() == 0
    issue.refresh_from_db()
    assert (issue.name, issue.lever_percent) == ("Grow", 100)
    assert not Offer.objects.exists()


def test_permission_is_checked_before_the_input(oscar):
    with pytest.raises(PermissionDenied):
        catalogue.business_issue_create(code="BAD CODE", name="", actor=oscar, now=NOW)


# --- business issues and groups -------------------------------------------------------------------------------------


def test_an_issue_is_created_and_updated_with_an_audit_event_each(bianca):
    issue = catalogue.business_issue_create(
        code="retain", name="Retain", description="Keep customers", lever_percent=120, actor=bianca, now=NOW
    )
    catalogue.business_issue_update(
        issue=issue, name="Retain customers", description="Keep them", transactional=True, actor=bianca, now=NOW
    )

    issue.refresh_from_db()
    assert (issue.name, issue.transactional, issue.lever_percent) == ("Retain customers", True, 120)
    created, updated = AuditEvent.objects.order_by("id")
    assert (created.action, created.object_type, created.object_id) == (
        "business_issue.create",
        "business_issue",
        "retain",
    )
    assert created.before is None
    assert created.after["name"] == "Retain"
    assert created.actor == bianca
    assert created.at == NOW
    assert updated.before["name"] == "Retain"
    assert updated.after == {
        "code": "retain",
        "name": "Retain customers",
        "description": "Keep them",
        "transactional": True,
        "lever_percent": 120,
    }


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"code": "Has Spaces"}, "code"),
        ({"code": "grow"}, "code"),  # taken
        ({"code": ""}, "code"),
        ({"name": "  "}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"lever_percent": 1001}, "lever_percent"),
        ({"lever_percent": -1}, "lever_percent"),
        ({"description": "x" * 2001}, "description"),
    ],
)
def test_a_bad_issue_is_refused_naming_the_field(bianca, group, kwargs, field):
    errors = refused(
        catalogue.business_issue_create, **{"code": "retain", "name": "Retain", **kwargs}, actor=bianca, now=NOW
    )

    assert list(errors) == [field]
    assert BusinessIssue.objects.count() == 1
    assert AuditEvent.objects.count() == 0


def test_a_group_is_created_and_moved_to_another_issue(bianca, group):
    other = BusinessIssueFactory(code="retain", name="Retain")

    created = catalogue.offer_group_create(
        issue_code="grow", code="cards", name="Cards", lever_percent=80, actor=bianca, now=NOW
    )
    catalogue.offer_group_update(group=created, issue_code="retain", name="Credit cards", actor=bianca, now=NOW)

    created.refresh_from_db()
    assert (created.issue, created.name, created.lever_percent) == (other, "Credit cards", 80)
    event = AuditEvent.objects.get(action="offer_group.update")
    assert event.before == {"code": "cards", "name": "Cards", "issue": "grow", "lever_percent": 80}
    assert event.after["issue"] == "retain"


def test_a_group_needs_an_existing_issue_and_a_free_code(bianca, group):
    errors = refused(catalogue.offer_group_create, issue_code="nope", code="home-loans", name="", actor=bianca, now=NOW)

    assert errors == {
        "issue": ["no business issue with code 'nope'"],
        "code": ["the code 'home-loans' is taken"],
        "name": ["a name of 1 to 120 characters"],
    }
    assert OfferGroup.objects.count() == 1


# --- offers ---------------------------------------------------------------------------------------------------------


def test_an_offer_is_created_then_updated_and_both_are_audited(bianca, group, mortgage):
    offer = catalogue.offer_create(**offer_terms(), actor=bianca, now=NOW)
    ProductFactory(code="SAVINGS")

    catalogue.offer_update(
        offer=offer,
        **{k: v for k, v in offer_terms().items() if k != "code"} | {"product_code": "SAVINGS", "value": "12.5"},
        active=False,
        actor=bianca,
        now=NOW,
    )

    offer.refresh_from_db()
    assert (offer.product.code, offer.value, offer.active) == ("SAVINGS", Decimal("12.50"), False)
    created, updated = AuditEvent.objects.order_by("id")
    assert created.action == "offer.create"
    assert created.after["value"] == "950.00"
    assert created.after["ends_on"] == "2026-12-31"
    assert updated.action == "offer.update"
    assert (updated.before["product"], updated.after["product"]) == ("MORTGAGE", "SAVINGS")
    assert (updated.before["active"], updated.after["active"]) == (True, False)
    assert updated.object_id == "mortgage-fixed"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"ends_on": dt.date(2025, 12, 31)}, "ends_on", "ends on or after"),
        ({"value": Decimal("-1")}, "value", "0 or more"),
        ({"value": "lots"}, "value", "an amount"),
        ({"value": Decimal("1.234")}, "value", "2 decimals"),
        ({"currency": "eur"}, "currency", "3 upper-case letters"),
        ({"currency": "EURO"}, "currency", "3 upper-case letters"),
        ({"product_code": "NOPE"}, "product", "no product with code 'NOPE'"),
        ({"group_code": "nope"}, "group", "no offer group"),
        ({"code": "mortgage fixed"}, "code", "lower-case"),
        ({"exclusion_group": "Not A Code"}, "exclusion_group", "a code"),
        ({"headline_value": "x" * 61}, "headline_value", "60 characters"),
    ],
)
def test_a_bad_offer_is_refused_naming_the_field(bianca, group, mortgage, overrides, field, message):
    errors = refused(catalogue.offer_create, **offer_terms(**overrides), actor=bianca, now=NOW)

    assert list(errors) == [field]
    assert message in errors[field][0]
    assert not Offer.objects.exists()
    assert AuditEvent.objects.count() == 0


def test_an_offer_may_start_and_end_on_the_same_day_or_have_no_dates(bianca, group, mortgage):
    same_day = catalogue.offer_create(
        **offer_terms(starts_on=dt.date(2026, 5, 1), ends_on=dt.date(2026, 5, 1)), actor=bianca, now=NOW
    )
    open_ended = catalogue.offer_create(**offer_terms(code="open", starts_on=None, ends_on=None), actor=bianca, now=NOW)

    assert same_day.ends_on == same_day.starts_on
    assert open_ended.ends_on is None


def test_a_refused_update_leaves_the_offer_as_it_was(bianca, group, mortgage):
    offer = catalogue.offer_create(**offer_terms(), actor=bianca, now=NOW)
    terms = {k: v for k, v in offer_terms().items() if k != "code"}

    refused(catalogue.offer_update, offer=offer, **terms | {"name": "New", "currency": "xx"}, actor=bianca, now=NOW)

    offer.refresh_from_db()
    assert (offer.name, offer.currency) == ("Fixed-rate mortgage", "EUR")
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["offer.create"]


def test_nothing_is_written_when_the_audit_event_cannot_be(bianca, group, mortgage, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(catalogue, "audit_record", broken)

    with pytest.raises(RuntimeError):
        catalogue.offer_create(**offer_terms(), actor=bianca, now=NOW)
    with pytest.raises(RuntimeError):
        catalogue.levers_set(changes={("issue", "grow"): 300}, actor=bianca, now=NOW)

    assert not Offer.objects.exists()
    group.issue.refresh_from_db()
    assert group.issue.lever_percent == 100


# --- levers ---------------------------------------------------------------------------------------------------------


def test_levers_are_set_on_every_level_with_one_audit_event_per_change(bianca, group):
    offer = OfferFactory(group=group, code="mortgage-fixed")

    changed = catalogue.levers_set(
        changes={("issue", "grow"): 150, ("group", "home-loans"): 100, ("offer", "mortgage-fixed"): 0},
        actor=bianca,
        now=NOW,
    )

    assert changed == 2  # the group was already at 100
    group.issue.refresh_from_db()
    offer.refresh_from_db()
    assert (group.issue.lever_percent, offer.lever_percent) == (150, 0)
    events = {(e.action, e.object_id): (e.before, e.after) for e in AuditEvent.objects.all()}
    assert events == {
        ("issue.lever", "grow"): ({"lever_percent": 100}, {"lever_percent": 150}),
        ("offer.lever", "mortgage-fixed"): ({"lever_percent": 100}, {"lever_percent": 0}),
    }


def test_one_bad_lever_refuses_them_all(bianca, group):
    errors = refused(
        catalogue.levers_set,
        changes={("issue", "grow"): 150, ("group", "home-loans"): 1001, ("offer", "ghost"): 100},
        actor=bianca,
        now=NOW,
    )

    assert set(errors) == {"group:home-loans", "offer:ghost"}
    assert "0 to 1000" in errors["group:home-loans"][0]
    group.issue.refresh_from_db()
    assert group.issue.lever_percent == 100
    assert AuditEvent.objects.count() == 0


def test_a_single_lever_is_set_and_a_bad_one_named(bianca, group):
    catalogue.lever_set(target=group, percent=250, actor=bianca, now=NOW)

    group.refresh_from_db()
    assert group.lever_percent == 250
    assert refused(catalogue.lever_set, target=group, percent=True, actor=bianca, now=NOW) == {
        "lever_percent": ["a whole percent from 0 to 1000 (100 is neutral)"]
    }


# --- contact policies -----------------------------------------------------------------------------------------------


def test_a_policy_is_created_updated_deactivated_and_reactivated_with_audit(bianca):
    policy = catalogue.contact_policy_create(
        code="email-weekly",
        name="Email, twice a week",
        kind="channel_cap",
        channel="email",
        limit=2,
        period_days=7,
        actor=bianca,
        now=NOW,
    )
    catalogue.contact_policy_update(
        policy=policy,
        name="Rest after 3 noes",
        kind="suppression",
        channel="",
        limit=3,
        period_days=90,
        suppress_days=60,
        actor=bianca,
        now=NOW,
    )
    catalogue.contact_policy_deactivate(policy=policy, actor=bianca, now=NOW)
    catalogue.contact_policy_deactivate(policy=policy, actor=bianca, now=NOW)  # already off: nothing to record
    catalogue.contact_policy_reactivate(policy=policy, actor=bianca, now=NOW)

    policy.refresh_from_db()
    assert (policy.kind, policy.suppress_days, policy.active) == ("suppression", 60, True)
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == [
        "contact_policy.create",
        "contact_policy.update",
        "contact_policy.deactivate",
        "contact_policy.activate",
    ]
    update = AuditEvent.objects.get(action="contact_policy.update")
    assert (update.before["kind"], update.after["kind"]) == ("channel_cap", "suppression")


@pytest.mark.parametrize(
    ("terms", "field", "message"),
    [
        ({"kind": "suppression", "suppress_days": 0}, "suppress_days", "at least 1 day"),
        ({"kind": "channel_cap", "suppress_days": 30}, "suppress_days", "leave it at 0"),
        ({"kind": "global_cap", "channel": "", "suppress_days": 1}, "suppress_days", "leave it at 0"),
        ({"kind": "global_cap", "channel": "email"}, "channel", "every channel"),
        ({"kind": "sometimes"}, "kind", "one of"),
        ({"channel": "fax"}, "channel", "one of"),
        ({"limit": 0}, "limit", "1 to 1000"),
        ({"period_days": 0}, "period_days", "1 to 3650"),
        ({"code": "email-weekly"}, "code", "taken"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_field(bianca, terms, field, message):
    ContactPolicy.objects.create(code="email-weekly", name="Email", kind="channel_cap", limit=2, period_days=7)
    base = {"code": "new", "name": "New", "kind": "channel_cap", "channel": "email", "limit": 1, "period_days": 7}

    errors = refused(catalogue.contact_policy_create, **base | terms, actor=bianca, now=NOW)

    assert list(errors) == [field]
    assert message in errors[field][0]
    assert ContactPolicy.objects.count() == 1
    assert AuditEvent.objects.count() == 0


def test_a_refused_policy_update_changes_nothing(bianca):
    policy = ContactPolicy.objects.create(
        code="rest", name="Rest", kind="suppression", limit=3, period_days=90, suppress_days=30
    )

    refused(
        catalogue.contact_policy_update,
        policy=policy,
        name="Rest",
        kind="suppression",
        limit=3,
        period_days=90,
        suppress_days=0,
        actor=bianca,
        now=NOW,
    )

    policy.refresh_from_db()
    assert policy.suppress_days == 30
    assert AuditEvent.objects.count() == 0


# --- rules in the draft ---------------------------------------------------------------------------------------------

ADULT = {"all": [{"field": "customer.age", "op": "gte", "value": 21}]}


def test_a_rule_is_added_to_a_new_draft_then_replaced_then_removed(bianca, group):
    draft, rule_id = catalogue.rule_save(
        rule_id=None,
        name="Adults only",
        kind="eligibility",
        scope="group",
        scope_code="home-loans",
        tree=ADULT,
        actor=bianca,
        now=NOW,
    )
    _, same = catalogue.rule_save(
        rule_id=rule_id,
        name="Adults only",
        kind="suitability",
        scope="issue",
        scope_code="grow",
        tree=ADULT,
        actor=bianca,
        now=NOW,
    )
    _, second = catalogue.rule_save(
        rule_id=None,
        name="Adults only",
        kind="eligibility",
        scope="issue",
        scope_code="grow",
        tree=ADULT,
        actor=bianca,
        now=NOW,
    )

    draft.refresh_from_db()
    assert (rule_id, same, second) == ("adults-only", "adults-only", "adults-only-2")
    assert [(r["id"], r["kind"], r["scope"]) for r in draft.rules] == [
        ("adults-only", "suitability", "issue"),
        ("adults-only-2", "eligibility", "issue"),
    ]
    catalogue.rule_remove(rule_id="adults-only", actor=bianca, now=NOW)
    draft.refresh_from_db()
    assert [r["id"] for r in draft.rules] == ["adults-only-2"]
    assert AuditEvent.objects.filter(action="rule_set.edit").count() == 4


def test_a_bad_rule_is_refused_with_errors_keyed_by_its_own_fields_and_no_draft_is_left(bianca, group):
    from decisioning.models import RuleSetVersion

    bad = {"all": [{"field": "customer.age", "op": "between", "value": [70, 18]}]}

    errors = refused(
        catalogue.rule_save,
        rule_id=None,
        name="",
        kind="eligibility",
        scope="offer",
        scope_code="ghost",
        tree=bad,
        actor=bianca,
        now=NOW,
    )

    assert errors == {
        "name": ["a name of 1 to 120 characters"],
        "scope_code": ["no offer with code 'ghost'"],
        "tree/all/0/value": ["the lower bound comes first"],
    }
    assert not RuleSetVersion.objects.exists()


def test_rules_are_edited_only_by_people_who_manage_offers(carlos, group):
    with pytest.raises(PermissionDenied):
        catalogue.rule_save(
            rule_id=None,
            name="x",
            kind="eligibility",
            scope="issue",
            scope_code="grow",
            tree=ADULT,
            actor=carlos,
            now=NOW,
        )
    with pytest.raises(PermissionDenied):
        catalogue.rule_remove(rule_id="x", actor=carlos, now=NOW)


def test_an_unknown_rule_cannot_be_replaced_or_removed(bianca, group):
    assert "id" in refused(
        catalogue.rule_save,
        rule_id="ghost",
        name="x",
        kind="eligibility",
        scope="issue",
        scope_code="grow",
        tree=ADULT,
        actor=bianca,
        now=NOW,
    )
    assert "id" in refused(catalogue.rule_remove, rule_id="ghost", actor=bianca, now=NOW)
