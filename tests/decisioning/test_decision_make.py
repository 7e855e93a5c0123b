"""decision_make: the funnel end to end on a small bank with real tiny models."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from customers.models import ContactHistory
from decisioning.decisions import DecisionInputError, UnknownCustomer, decision_make, decision_response
from decisioning.inputs import caches_clear
from decisioning.models import BusinessIssue, Decision, DecisionKind, OfferGroup
from decisioning.replay import decision_replay
from tests.decisioning.decision_setup import NOW, decision_bank_build, policy, rule, rules_publish
from tests.factories.customers import AccountFactory, ConsentFactory, ContactHistoryFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return decision_bank_build()


def make(world, **kwargs):
    caches_clear()
    args = {"customer_id": world.customer.external_id, "channel": "email", "now": NOW, "max_results": 3}
    args.update(kwargs)
    return decision_make(**args)


def removed(outcome) -> dict[str, list[str]]:
    return outcome.decision.funnel["removed"]


def test_it_ranks_every_offer_with_its_factors_and_model_reasons(world):
    outcome = make(world)
    offers = outcome.result["offers"]
    assert len(offers) == 3
    priorities = [o["priority"] for o in offers]
    assert priorities == sorted(priorities, reverse=True)
    for offer in offers:
        f = offer["factors"]
        assert f["propensity_source"] == "model"
        expected = (
            f["propensity"] * f["context_weight"] * f["value"] * f["issue_lever"] * f["group_lever"] * f["offer_lever"]
        )
        assert offer["priority"] == pytest.approx(expected)
        assert 1 <= len(offer["reasons"]) <= 4
    assert set(outcome.decision.model_versions) == {"HOME_MORTGAGE", "TRAVEL_CARD", "EASY_SAVER"}


def test_the_record_keeps_inputs_for_replay_but_no_contact_details(world):
    outcome = make(world)
    stored = json.dumps(outcome.decision.inputs)
    for personal in ("Ada", "ada@example.org", "7700 900123"):
        assert personal not in stored
    # the treatment greets the customer by name, read at response time only
    body = decision_response(outcome)
    assert body["offers"][0]["treatment"]["body"].startswith("Hello Ada,")
    assert "Ada" not in json.dumps(outcome.decision.offers)


def test_a_real_time_decision_counts_its_offers_as_made_and_a_simulation_does_not(world):
    make(world, kind=DecisionKind.SIMULATION)
    assert not ContactHistory.objects.filter(customer=world.customer, source="decision").exists()
    outcome = make(world)
    made = ContactHistory.objects.filter(customer=world.customer, source="decision").order_by("external_id")
    assert sorted(row.product.code for row in made) == sorted(o["product_code"] for o in outcome.result["offers"])
    assert {row.outcome for row in made} == {"pending"}
    assert {row.channel for row in made} == {"email"}


def test_it_refuses_an_offer_without_consent_and_says_which_gate(world):
    # no push consent? push has one; the web needs no opt-in; the phone has none recorded
    outcome = make(world, channel="call_centre")
    assert outcome.result["offers"] == []
    assert {stage for stage, _ in removed(outcome).values()} == {"gates"}
    assert all("no marketing consent recorded for phone" in why for _, why in removed(outcome).values())


def test_a_withdrawn_consent_blocks_even_on_the_web(world):
    assert make(world, channel="web").result["offers"]
    ConsentFactory(
        customer=world.customer,
        channel="any",
        purpose="marketing",
        status="withdrawn",
        effective_at=NOW - dt.timedelta(days=1),
    )
    outcome = make(world, channel="web")
    assert outcome.result["offers"] == []
    assert all("withdrawn" in why for _, why in removed(outcome).values())


def test_an_objection_to_profiling_decides_on_rules_alone(world):
    ConsentFactory(
        customer=world.customer,
        channel="any",
        purpose="profiling",
        status="withdrawn",
        effective_at=NOW - dt.timedelta(days=1),
    )
    outcome = make(world)
    assert outcome.decision.scores == {}
    assert outcome.result["rules_only"] is True
    assert "objects to profiling" in outcome.result["note"]
    assert {o["factors"]["propensity_source"] for o in outcome.result["offers"]} == {"historical_acceptance_rate"}


def test_without_an_active_model_propensity_is_the_historical_acceptance_rate():
    world = decision_bank_build(models=False)
    product = world.bank.products[0]
    other = world.bank.products[1]
    for offered, outcome in ((product, "accepted"), (product, "accepted"), (product, "rejected")) + (
        (other, "rejected"),
    ) * 3:
        ContactHistoryFactory(
            customer=world.bank.customers[0], product=offered, outcome=outcome, offered_at=NOW - dt.timedelta(days=400)
        )
    outcome = make(world)
    assert outcome.result["rules_only"] is True
    assert "historical acceptance rates" in outcome.result["note"]
    assert outcome.result["offers"][0]["product_code"] == product.code


def test_a_failed_eligibility_rule_removes_the_offer_with_the_rule_and_its_trace(world):
    rules_publish(
        world.editor,
        [
            rule(
                "no-mortgage-under-50",
                "eligibility",
                "offer",
                "home_mortgage",
                {"field": "customer.age", "op": "gte", "value": 50},
                name="Mortgages from 50",
            ),
            rule(
                "savers",
                "suitability",
                "group",
                "g-savings",
                {"field": "customer.age", "op": "gte", "value": 18},
                name="Adults only",
            ),
        ],
    )
    outcome = make(world, debug=True)
    stage, why = removed(outcome)["home_mortgage"]
    assert stage == "eligibility"
    assert "Mortgages from 50" in why
    entry = next(e for e in outcome.result["funnel"] if e["offer_code"] == "home_mortgage")
    assert entry["rules"][0]["trace"] == [["/", False]]
    saver = next(o for o in outcome.result["offers"] if o["offer_code"] == "easy_saver")
    assert "Meets the rule “Adults only”" in saver["reasons"]
    assert outcome.decision.rule_set.version == 1


def test_credit_offers_are_blocked_for_a_vulnerable_customer(world):
    world.offers["TRAVEL_CARD"].is_credit = True
    world.offers["TRAVEL_CARD"].save()
    world.customer.vulnerable = True
    world.customer.save()
    outcome = make(world)
    assert removed(outcome)["travel_card"][0] == "gates"
    assert "vulnerable" in removed(outcome)["travel_card"][1]
    assert "travel_card" not in {o["offer_code"] for o in outcome.result["offers"]}


def test_a_channel_cap_stops_marketing_offers_and_a_service_message_passes(world):
    policy("email-weekly", "channel_cap", channel="email", limit=2, period_days=7)
    first = make(world)
    assert len(first.result["offers"]) == 2
    capped = [c for c, (stage, _) in removed(first).items() if stage == "caps"]
    assert len(capped) == 1
    second = make(world, now=NOW + dt.timedelta(hours=1))
    assert second.result["offers"] == []
    # a service issue bypasses marketing caps and needs no marketing consent
    service = BusinessIssue.objects.create(code="service", name="Service", transactional=True)
    OfferGroup.objects.filter(code="g-savings").update(issue=service)
    third = make(world, now=NOW + dt.timedelta(hours=2))
    assert [o["offer_code"] for o in third.result["offers"]] == ["easy_saver"]
    assert third.result["offers"][0]["transactional"] is True


def test_global_caps_govern_outbound_marketing_and_say_so_when_reached(world):
    policy("monthly", "global_cap", limit=2, period_days=30)
    # the bank's own pages are not outbound: not capped, not counted
    assert len(make(world, channel="web").result["offers"]) == 3
    assert len(make(world, channel="web").result["offers"]) == 3
    assert len(make(world, channel="email").result["offers"]) == 2
    empty = make(world, channel="push")
    assert empty.result["offers"] == []
    assert empty.result["rules_only"] is False
    assert empty.result["note"] == "Contact caps reached: monthly (2 of 2 in 30 days)"


def test_a_product_rests_after_repeated_rejections(world):
    policy("rest", "suppression", limit=3, period_days=90, suppress_days=60)
    product = world.offers["EASY_SAVER"].product
    for days in (50, 30, 10):
        ContactHistoryFactory(
            customer=world.customer,
            product=product,
            outcome="rejected",
            offered_at=NOW - dt.timedelta(days=days),
            channel="post",
        )
    outcome = make(world)
    stage, why = removed(outcome)["easy_saver"]
    assert stage == "suppression"
    assert "resting until" in why
    later = make(world, now=NOW + dt.timedelta(days=61))
    assert "easy_saver" not in removed(later) or removed(later)["easy_saver"][0] != "suppression"


def test_mutual_exclusion_keeps_the_better_offer(world):
    for code in ("TRAVEL_CARD", "EASY_SAVER"):
        world.offers[code].exclusion_group = "one-of"
        world.offers[code].save()
    outcome = make(world)
    codes = {o["offer_code"] for o in outcome.result["offers"]}
    assert len(codes & {"travel_card", "easy_saver"}) == 1
    assert [stage for stage, _ in removed(outcome).values()] == ["exclusion"]


def test_best_bundle_pairs_complementary_products_and_upsell_upgrades_a_held_family(world):
    saver, card = world.offers["EASY_SAVER"].product, world.offers["TRAVEL_CARD"].product
    saver.complementary.add(card)
    card.tier = 2
    card.save()
    from tests.factories.customers import ProductFactory

    basic = ProductFactory(code="BASIC_CARD", family=card.family, tier=1)
    AccountFactory(customer=world.customer, product=basic, opened_on=dt.date(2020, 1, 1))
    outcome = make(world)
    bundle = outcome.result["bundle"]
    assert set(bundle["offers"]) == {"easy_saver", "travel_card"}
    assert bundle["combined_value"] == 200.0
    assert outcome.result["upsell"]["offer_code"] == "travel_card"


def test_bad_requests_name_the_field(world):
    with pytest.raises(DecisionInputError) as exc:
        make(world, channel="fax")
    assert exc.value.errors[0][0] == "#/channel"
    for bad in (0, 26):
        with pytest.raises(DecisionInputError):
            make(world, max_results=bad)
    with pytest.raises(DecisionInputError) as exc:
        make(world, context={"weights": {"issue:grow": "__import__('os')"}})
    assert exc.value.errors[0][0] == "#/context/weights/issue:grow"
    with pytest.raises(DecisionInputError):
        make(world, context={"weights": {"issue:grow": 1e308}})
    with pytest.raises(DecisionInputError):
        make(world, context={"page": "x" * 1000})
    with pytest.raises(UnknownCustomer):
        make(world, customer_id="NOBODY")
    assert not Decision.objects.exists()


def test_context_weights_change_the_order(world):
    first = make(world, kind=DecisionKind.SIMULATION).result["offers"]
    last = first[-1]["offer_code"]
    boosted = make(world, kind=DecisionKind.SIMULATION, context={"weights": {f"offer:{last}": 1000}}).result["offers"]
    assert boosted[0]["offer_code"] == last
    assert boosted[0]["factors"]["context_weight"] == 1000


def test_every_decision_replays_exactly(world):
    policy("email-weekly", "channel_cap", channel="email", limit=5, period_days=7)
    rules_publish(
        world.editor,
        [
            rule("adults", "suitability", "issue", "grow", {"field": "customer.age", "op": "gte", "value": 18}),
        ],
    )
    for i, customer in enumerate(world.bank.customers[:10]):
        caches_clear()
        decision_make(customer_id=customer.external_id, channel="email", now=NOW + dt.timedelta(minutes=i))
    decisions = list(Decision.objects.all())
    results = [decision_replay(d) for d in decisions]
    assert all(r.match for r in results), [r.differences for r in results if not r.match]
    assert sum(r.scores_recomputed for r in results) == 30
    # tampering with a stored score is caught
    d = decisions[0]
    code = next(iter(d.scores))
    d.scores[code]["propensity"] += 1e-12
    assert not decision_replay(d).match
