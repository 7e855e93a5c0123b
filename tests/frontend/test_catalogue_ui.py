"""Offer catalogue, rules, levers and contact policy pages: business users edit,
compliance officers read, people without a role see nothing; every edit goes
through an audited service and a refused one shows its message on the page."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from core.models import AuditEvent
from decisioning.models import (
    BusinessIssue,
    ContactPolicy,
    Offer,
    OfferGroup,
    RuleSetStatus,
    RuleSetVersion,
    Treatment,
)
from frontend.context_processors import nav_items
from tests.factories.customers import ProductFactory
from tests.factories.decisioning import BusinessIssueFactory, OfferFactory, OfferGroupFactory

ADULT = {"all": [{"field": "customer.age", "op": "gte", "value": 21}]}


@pytest.fixture
def catalogue(db):
    issue = BusinessIssueFactory(code="grow", name="Grow the relationship")
    group = OfferGroupFactory(issue=issue, code="home-loans", name="Home loans")
    product = ProductFactory(code="MORTGAGE", name="Home mortgage")
    offer = OfferFactory(group=group, product=product, code="mortgage-fixed", name="Fixed-rate mortgage")
    Treatment.objects.create(offer=offer, channel="email", subject="Your new home", body="Hi", disclosures="APR 4.1%")
    policy = ContactPolicy.objects.create(
        code="email-weekly", name="Email twice a week", kind="channel_cap", channel="email", limit=2, period_days=7
    )
    return {"issue": issue, "group": group, "product": product, "offer": offer, "policy": policy}


@pytest.fixture
def published(catalogue, bianca):
    from django.utils import timezone

    from decisioning.rule_sets import rule_set_draft, rule_set_draft_save, rule_set_publish

    rule = {"id": "adults", "name": "Adults only", "kind": "eligibility", "scope": "issue", "scope_code": "grow"}
    draft = rule_set_draft(actor=bianca)
    rule_set_draft_save(draft=draft, rules=[{**rule, "tree": ADULT}], actor=bianca, now=timezone.now())
    return rule_set_publish(draft=draft, actor=bianca, now=timezone.now(), note="first")


READ_PAGES = {
    "offer-catalogue": lambda: reverse("frontend:offer-catalogue"),
    "rule-set": lambda: reverse("frontend:rule-set"),
    "levers": lambda: reverse("frontend:levers"),
    "contact-policy-list": lambda: reverse("frontend:contact-policy-list"),
}
EDIT_PAGES = {
    "issue-create": lambda: reverse("frontend:issue-create"),
    "issue-edit": lambda: reverse("frontend:issue-edit", args=["grow"]),
    "group-create": lambda: reverse("frontend:group-create"),
    "group-edit": lambda: reverse("frontend:group-edit", args=["home-loans"]),
    "offer-create": lambda: reverse("frontend:offer-create"),
    "offer-edit": lambda: reverse("frontend:offer-edit", args=["mortgage-fixed"]),
    "treatment-edit": lambda: reverse("frontend:treatment-edit", args=["mortgage-fixed", "push"]),
    "rule-create": lambda: reverse("frontend:rule-create"),
    "rule-edit": lambda: reverse("frontend:rule-edit", args=["adults"]),
    "contact-policy-create": lambda: reverse("frontend:contact-policy-create"),
    "contact-policy-edit": lambda: reverse("frontend:contact-policy-edit", args=["email-weekly"]),
}
PAGES = READ_PAGES | EDIT_PAGES
ALLOWED = {
    "bianca": set(PAGES),
    "alice_admin": set(PAGES),
    "carlos": set(READ_PAGES),
    "oscar": set(),
}


@pytest.mark.parametrize("persona", sorted(ALLOWED))
@pytest.mark.parametrize("page", sorted(PAGES))
def test_each_persona_opens_only_the_pages_of_their_role(request, client_as, published, persona, page):
    user = request.getfixturevalue(persona)

    response = client_as(user).get(PAGES[page]())

    if page in ALLOWED[persona]:
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        assert b"No access" in response.content


@pytest.mark.parametrize("page", sorted(PAGES))
def test_anonymous_people_are_sent_to_the_login_page(client_as, published, page):
    url = PAGES[page]()

    response = client_as(None).get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('frontend:login')}?next={url}"


@pytest.mark.parametrize(
    ("persona", "shown"), [("bianca", True), ("carlos", True), ("alice_admin", True), ("oscar", False)]
)
def test_the_navigation_offers_the_catalogue_pages_to_those_who_edit_or_audit_them(request, persona, shown):
    labels = [item.label for item in nav_items(request.getfixturevalue(persona), None)]

    assert all((label in labels) == shown for label in ("Offers", "Rules", "Levers"))


@pytest.mark.parametrize(
    ("url", "data"),
    [
        (lambda: reverse("frontend:issue-create"), {"code": "retain", "name": "Retain", "lever_percent": 100}),
        (lambda: reverse("frontend:levers"), {"issue:grow": "150"}),
        (lambda: reverse("frontend:rule-set-publish"), {"note": "x"}),
        (lambda: reverse("frontend:rule-delete", args=["adults"]), {}),
        (lambda: reverse("frontend:contact-policy-active", args=["email-weekly"]), {}),
        (lambda: reverse("frontend:offer-edit", args=["mortgage-fixed"]), {"name": "Changed"}),
    ],
)
def test_a_compliance_officer_cannot_edit_even_by_posting(client_as, carlos, published, url, data):
    response = client_as(carlos).post(url(), data)

    assert response.status_code == 403
    assert not AuditEvent.objects.filter(actor=carlos).exists()


# --- the catalogue --------------------------------------------------------------------------------------------------


def test_the_catalogue_lists_issue_group_offer_and_each_channels_treatment(
    client_as, bianca, catalogue, django_assert_max_num_queries
):
    client = client_as(bianca)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("frontend:offer-catalogue"))

    page = response.content.decode()
    assert response.status_code == 200
    assert page.index("Grow the relationship") < page.index("Home loans") < page.index("Fixed-rate mortgage")
    email = reverse("frontend:treatment-edit", args=["mortgage-fixed", "email"])
    push = reverse("frontend:treatment-edit", args=["mortgage-fixed", "push"])
    assert f'href="{email}" class="channel-chip channel-chip--set"' in page
    assert f'href="{push}" class="channel-chip"' in page
    assert reverse("frontend:issue-create") in page


def test_a_compliance_officer_reads_the_catalogue_without_edit_links(client_as, carlos, catalogue):
    page = client_as(carlos).get(reverse("frontend:offer-catalogue")).content.decode()

    assert "Fixed-rate mortgage" in page
    assert "Read only" in page
    assert reverse("frontend:offer-edit", args=["mortgage-fixed"]) not in page
    assert reverse("frontend:treatment-edit", args=["mortgage-fixed", "email"]) not in page


def test_a_business_issue_is_created_from_the_page_and_audited(client_as, bianca, catalogue):
    response = client_as(bianca).post(
        reverse("frontend:issue-create"),
        {"code": "retain", "name": "Retain", "description": "Keep them", "lever_percent": "120"},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("frontend:offer-catalogue") + "#issue-retain"
    assert BusinessIssue.objects.get(code="retain").lever_percent == 120
    assert AuditEvent.objects.filter(action="business_issue.create", object_id="retain", actor=bianca).exists()


def test_a_bad_issue_code_is_refused_with_the_services_message(client_as, bianca, catalogue):
    response = client_as(bianca).post(
        reverse("frontend:issue-create"), {"code": "grow", "name": "Again", "lever_percent": "100"}
    )

    assert response.status_code == 200
    assert "the code &#x27;grow&#x27; is taken" in response.content.decode()
    assert BusinessIssue.objects.count() == 1


def test_an_issue_and_a_group_are_edited_from_their_pages(client_as, bianca, catalogue):
    client = client_as(bianca)
    BusinessIssueFactory(code="retain", name="Retain")

    client.post(
        reverse("frontend:issue-edit", args=["grow"]), {"name": "Grow", "description": "", "transactional": "on"}
    )
    client.post(reverse("frontend:group-edit", args=["home-loans"]), {"issue": "retain", "name": "Mortgages"})

    catalogue["issue"].refresh_from_db()
    catalogue["group"].refresh_from_db()
    assert catalogue["issue"].transactional is True
    assert (catalogue["group"].issue.code, catalogue["group"].name) == ("retain", "Mortgages")
    assert {"business_issue.update", "offer_group.update"} <= set(AuditEvent.objects.values_list("action", flat=True))


def test_a_group_is_created_under_the_issue_it_was_asked_for(client_as, bianca, catalogue):
    client = client_as(bianca)
    form = client.get(reverse("frontend:group-create") + "?issue=grow").context["form"]
    assert form["issue"].value() == "grow"

    client.post(
        reverse("frontend:group-create"), {"issue": "grow", "code": "cards", "name": "Cards", "lever_percent": "90"}
    )

    assert OfferGroup.objects.get(code="cards").lever_percent == 90


OFFER = {
    "group": "home-loans",
    "product": "MORTGAGE",
    "code": "mortgage-tracker",
    "name": "Tracker mortgage",
    "headline_value": "Base + 1%",
    "value": "800.00",
    "currency": "EUR",
    "starts_on": "2026-01-01",
    "ends_on": "2026-12-31",
    "active": "on",
    "lever_percent": "100",
}


def test_an_offer_is_created_and_edited_from_the_page(client_as, bianca, catalogue):
    client = client_as(bianca)

    created = client.post(reverse("frontend:offer-create"), OFFER)
    edited = client.post(
        reverse("frontend:offer-edit", args=["mortgage-tracker"]), {**OFFER, "value": "900", "active": ""}
    )

    assert created.status_code == edited.status_code == 302
    offer = Offer.objects.get(code="mortgage-tracker")
    assert (offer.value, offer.active) == (Decimal("900.00"), False)
    assert list(
        AuditEvent.objects.filter(object_id="mortgage-tracker").order_by("id").values_list("action", flat=True)
    ) == [
        "offer.create",
        "offer.update",
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ends_on": "2025-06-30"}, "the offer ends on or after the day it starts"),
        ({"currency": "eur"}, "a currency is 3 upper-case letters (ISO 4217), e.g. EUR"),
        ({"value": "-5"}, "the value is 0 or more"),
        ({"code": "Bad Code"}, "a code of 1 to 40 lower-case letters"),
    ],
)
def test_a_bad_offer_shows_the_message_next_to_its_field_and_saves_nothing(
    client_as, bianca, catalogue, changes, message
):
    response = client_as(bianca).post(reverse("frontend:offer-create"), {**OFFER, **changes})

    assert response.status_code == 200
    field = next(iter(changes))
    assert any(message in error for error in response.context["form"].errors[field])
    assert not Offer.objects.filter(name="Tracker mortgage").exists()
    assert not AuditEvent.objects.exists()


def test_a_treatment_is_saved_and_an_unknown_template_field_is_named(client_as, bianca, catalogue):
    client = client_as(bianca)
    url = reverse("frontend:treatment-edit", args=["mortgage-fixed", "push"])

    refused = client.post(
        url, {"subject": "", "body": "Hi {{ customer.nickname }}, rates from {{ offer.value }}", "disclosures": "APR"}
    )
    saved = client.post(url, {"subject": "", "body": "Hi {{ customer.first_name }}", "disclosures": "APR 4.1%"})

    assert refused.status_code == 200
    assert "unknown field {{ customer.nickname }}" in refused.content.decode()
    assert saved.status_code == 302
    treatment = Treatment.objects.get(offer=catalogue["offer"], channel="push")
    assert treatment.body == "Hi {{ customer.first_name }}"
    assert AuditEvent.objects.filter(action="treatment.save", actor=bianca).count() == 1


def test_an_unknown_channel_is_not_found(client_as, bianca, catalogue):
    response = client_as(bianca).get(reverse("frontend:treatment-edit", args=["mortgage-fixed", "fax"]))

    assert response.status_code == 404


# --- rules ----------------------------------------------------------------------------------------------------------


def test_the_rules_page_shows_the_published_rules_in_words(client_as, carlos, published):
    page = client_as(carlos).get(reverse("frontend:rule-set")).content.decode()

    assert "Published v1" in page
    assert "Adults only" in page
    assert "customer.age is at least 21" in page
    assert 'id="publish"' not in page
    assert reverse("frontend:rule-create") not in page


def test_the_rule_editor_gets_the_field_registry_and_the_rule_as_json_scripts(client_as, bianca, published):
    response = client_as(bianca).get(reverse("frontend:rule-edit", args=["adults"]))

    page = response.content.decode()
    for script in ("rule-fields", "rule-operators", "rule-op-labels", "rule-tree", "rule-errors"):
        assert f'id="{script}"' in page
    fields = {f["name"]: f for f in response.context["fields"]}
    assert fields["customer.age"]["type"] == "number"
    assert fields["feature.risk_rating"]["choices"] == ["low", "medium", "high", "unknown"]
    assert response.context["operators"]["number"]["between"] == "pair"
    assert response.context["tree"] == ADULT
    assert "frontend/rule_builder.js" in page


def rule_post(tree, **overrides):
    return {"name": "Adults only", "kind": "eligibility", "applies_to": "issue:grow", "tree": json.dumps(tree)} | (
        overrides
    )


def test_a_new_rule_is_saved_in_a_draft_and_published_from_the_rules_page(client_as, bianca, published):
    client = client_as(bianca)
    tree = {"any": [{"field": "holdings.products", "op": "contains", "value": "MORTGAGE"}]}

    saved = client.post(reverse("frontend:rule-create"), rule_post(tree, name="Holds a mortgage", kind="suitability"))
    page = client.get(reverse("frontend:rule-set")).content.decode()
    publish = client.post(reverse("frontend:rule-set-publish"), {"note": "mortgage holders"})

    assert saved.status_code == 302
    assert saved["Location"] == reverse("frontend:rule-set") + "#rule-holds-a-mortgage"
    assert "Draft v2" in page
    assert "changes not yet published" in page
    assert publish.status_code == 302
    version = RuleSetVersion.objects.get(status=RuleSetStatus.PUBLISHED)
    assert version.version == 2
    assert version.note == "mortgage holders"
    assert [r["id"] for r in version.rules] == ["adults", "holds-a-mortgage"]
    assert version.rules[1]["tree"] == tree
    assert version.rules[1]["scope"] == "issue"
    assert list(AuditEvent.objects.filter(actor=bianca).order_by("id").values_list("action", flat=True))[-2:] == [
        "rule_set.edit",
        "rule_set.publish",
    ]


def test_a_bad_rule_comes_back_with_each_error_by_pointer_and_nothing_is_saved(client_as, bianca, published):
    tree = {"all": [{"field": "customer.age", "op": "between", "value": [70, 18]}]}

    response = client_as(bianca).post(reverse("frontend:rule-edit", args=["adults"]), rule_post(tree, name=""))

    assert response.status_code == 200
    assert response.context["tree_errors"] == [{"pointer": "/all/0/value", "message": "the lower bound comes first"}]
    assert response.context["tree"] == tree  # the builder shows what was built, not the saved rule
    assert response.context["form"].errors["name"] == ["a name of 1 to 120 characters"]
    assert "see the messages next to them" in response.content.decode()
    assert not RuleSetVersion.objects.filter(status=RuleSetStatus.DRAFT).exists()


def test_an_unreadable_tree_is_refused(client_as, bianca, published):
    response = client_as(bianca).post(reverse("frontend:rule-create"), rule_post(ADULT) | {"tree": "{not json"})

    assert response.status_code == 200
    assert "could not be read" in response.content.decode()


def test_a_rule_is_removed_from_the_draft(client_as, bianca, published):
    response = client_as(bianca).post(reverse("frontend:rule-delete", args=["adults"]), follow=True)

    draft = RuleSetVersion.objects.get(status=RuleSetStatus.DRAFT)
    assert draft.rules == []
    assert "taken out of the draft" in response.content.decode()


def test_publishing_without_a_draft_says_so(client_as, bianca, published):
    response = client_as(bianca).post(reverse("frontend:rule-set-publish"), follow=True)

    assert "There is no draft to publish" in response.content.decode()


def test_an_unknown_rule_is_not_found(client_as, bianca, published):
    assert client_as(bianca).get(reverse("frontend:rule-edit", args=["ghost"])).status_code == 404


# --- live validation ------------------------------------------------------------------------------------------------


def validate(client: Client, body: object, **headers: str):
    return client.post(reverse("frontend:rule-validate"), json.dumps(body), content_type="application/json", **headers)


def test_the_validator_accepts_a_sound_tree_and_names_each_bad_node(client_as, bianca):
    client = client_as(bianca)
    bad = {"all": [ADULT, {"field": "customer.agee", "op": "gt", "value": 1}, {"field": "customer.age", "op": "gt"}]}

    good = validate(client, {"tree": ADULT})
    wrong = validate(client, {"tree": bad})

    assert good.json() == {"valid": True, "errors": []}
    assert wrong.json() == {
        "valid": False,
        "errors": [
            {"pointer": "/all/1/field", "message": "unknown field 'customer.agee'"},
            {"pointer": "/all/2/value", "message": "'gt' needs a value"},
        ],
    }


def test_the_validator_needs_a_signed_in_business_user_and_the_csrf_token(client_as, bianca, carlos):
    assert validate(client_as(None), {"tree": ADULT}).status_code == 401
    assert validate(client_as(carlos), {"tree": ADULT}).status_code == 403
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(bianca)
    assert validate(strict, {"tree": ADULT}).status_code == 403
    strict.get(reverse("frontend:rule-create"))  # sets the CSRF cookie
    token = strict.cookies["csrftoken"].value
    assert validate(strict, {"tree": ADULT}, HTTP_X_CSRFTOKEN=token).json()["valid"] is True


def test_the_validator_refuses_what_is_not_a_tree_request(client_as, bianca):
    client = client_as(bianca)

    assert validate(client, ["not", "an", "object"]).status_code == 400
    assert client.post(reverse("frontend:rule-validate"), "{", content_type="application/json").status_code == 400
    assert client.get(reverse("frontend:rule-validate")).status_code == 405
    huge = validate(client, {"tree": {"all": [{"field": "x" * 200_000}]}})
    assert huge.status_code == 413


# --- levers and contact policies ------------------------------------------------------------------------------------


def test_the_levers_page_lists_every_level_with_its_combined_weight(client_as, bianca, catalogue):
    OfferGroup.objects.filter(code="home-loans").update(lever_percent=200)

    response = client_as(bianca).get(reverse("frontend:levers"))

    keys = [r["key"] for r in response.context["rows"]]
    assert keys == ["issue:grow", "group:home-loans", "offer:mortgage-fixed"]
    assert response.context["rows"][2]["combined"] == 2.0
    assert 'name="offer:mortgage-fixed"' in response.content.decode()


def test_a_compliance_officer_reads_the_levers_without_inputs(client_as, carlos, catalogue):
    page = client_as(carlos).get(reverse("frontend:levers")).content.decode()

    assert 'name="issue:grow"' not in page
    assert "100%" in page


def test_changed_levers_are_saved_each_with_its_audit_event(client_as, bianca, catalogue):
    response = client_as(bianca).post(
        reverse("frontend:levers"), {"issue:grow": "150", "group:home-loans": "100", "offer:mortgage-fixed": "0"}
    )

    assert response.status_code == 302
    assert BusinessIssue.objects.get(code="grow").lever_percent == 150
    assert Offer.objects.get(code="mortgage-fixed").lever_percent == 0
    assert sorted(AuditEvent.objects.values_list("action", flat=True)) == ["issue.lever", "offer.lever"]


@pytest.mark.parametrize(("value", "message"), [("abc", "a whole percent"), ("1001", "from 0 to 1000")])
def test_a_bad_lever_is_shown_on_its_row_and_nothing_is_saved(client_as, bianca, catalogue, value, message):
    response = client_as(bianca).post(reverse("frontend:levers"), {"issue:grow": "150", "offer:mortgage-fixed": value})

    assert response.status_code == 400
    row = next(r for r in response.context["rows"] if r["key"] == "offer:mortgage-fixed")
    assert message in row["error"]
    assert row["shown"] == value
    assert BusinessIssue.objects.get(code="grow").lever_percent == 100
    assert not AuditEvent.objects.exists()


def test_contact_policies_are_listed_created_edited_and_deactivated(client_as, bianca, catalogue):
    client = client_as(bianca)
    policy = {"code": "rest", "name": "Rest after 3 noes", "kind": "suppression", "channel": "", "limit": "3",
              "period_days": "90", "suppress_days": "60"}  # fmt: skip

    client.post(reverse("frontend:contact-policy-create"), policy)
    client.post(reverse("frontend:contact-policy-edit", args=["rest"]), {**policy, "suppress_days": "30"})
    client.post(reverse("frontend:contact-policy-active", args=["rest"]))
    page = client.get(reverse("frontend:contact-policy-list")).content.decode()

    rest = ContactPolicy.objects.get(code="rest")
    assert (rest.suppress_days, rest.active) == (30, False)
    assert "Rest after 3 noes" in page
    assert "rest it for 30 days" in page
    assert list(AuditEvent.objects.filter(object_id="rest").order_by("id").values_list("action", flat=True)) == [
        "contact_policy.create",
        "contact_policy.update",
        "contact_policy.deactivate",
    ]
    client.post(reverse("frontend:contact-policy-active", args=["rest"]), {"active": "1"})
    assert ContactPolicy.objects.get(code="rest").active is True


def test_a_suppression_without_rest_is_refused_naming_the_field(client_as, bianca, catalogue):
    response = client_as(bianca).post(
        reverse("frontend:contact-policy-create"),
        {
            "code": "rest",
            "name": "Rest",
            "kind": "suppression",
            "limit": "3",
            "period_days": "90",
            "suppress_days": "0",
        },
    )

    assert response.status_code == 200
    assert response.context["form"].errors["suppress_days"] == ["a suppression rests the product for at least 1 day"]
    assert not ContactPolicy.objects.filter(code="rest").exists()
