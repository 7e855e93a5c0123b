"""The decision engine: from a snapshot of plain inputs to ranked offers and the funnel.

Everything here is pure: no database, no clock, no model. ``decision_inputs``
(``decisioning.inputs``) reads what the engine needs into one JSON-safe dict;
the caller scores the customer; ``decide`` runs, in order,

1. catalogue: the offer is active, in its dates, and has a treatment for the channel;
2. gates (``compliance.gates``): regulatory, never overridden by anything after;
3. eligibility, applicability, suitability rules of the published rule set, attached
   to the offer, its group or its issue (every rule's outcome is kept, with its trace);
4. suppression: a product the customer kept turning down rests for a while;
5. arbitration: priority = propensity x context weight x value x levers, with
   mutual exclusion (``decisioning.arbitration``);
6. caps: marketing offers stop once a channel or global cap is reached;

and returns the top offers with their reasons, the best bundle and the best
upsell, and for every offer left out the stage and reason. Because the inputs and
scores are stored with each decision, running ``decide`` again on them gives the
same result: that is how decisions are replayed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from compliance.gates import GateInput, GateReport, gates_check
from decisioning.arbitration import Candidate, PropensitySource, Ranked, arbitrate
from decisioning.rule_sets import CompiledRuleSet, RuleOutcome
from decisioning.rules import RuleContext

ENGINE_VERSION = 1
MAX_RESULTS = 25
MAX_REASONS = 4
MODEL_REASONS_FIRST = 2  # model reasons before rule reasons; the rest fill up after
NEGATIVE_OUTCOMES = frozenset({"rejected", "dismissed", "no_response"})
KIND_ORDER = ("eligibility", "applicability", "suitability")
# A decision channel and the consent and contact-history channels it stands for.
CONSENT_CHANNEL = {"email": "email", "push": "app_push", "web": "web", "call_centre": "phone"}
CONTACT_CHANNEL = {"email": "email", "push": "app_push", "web": "web", "call_centre": "call_centre"}
# The bank's own pages need no marketing opt-in (only an objection blocks); outbound channels do.
OPT_IN_CHANNELS = frozenset({"email", "push", "call_centre"})
# Channels where the bank reaches out; on the others the customer came to the bank.
OUTBOUND_CHANNELS = frozenset({"email", "push"})
RULES_ONLY_NOTE = "No active propensity model for {products}: their propensities are historical acceptance rates."
NO_PROFILING_NOTE = "The customer objects to profiling: no model scored them; propensities are acceptance rates."


class Stage(StrEnum):
    CATALOGUE = "catalogue"
    GATES = "gates"
    ELIGIBILITY = "eligibility"
    APPLICABILITY = "applicability"
    SUITABILITY = "suitability"
    SUPPRESSION = "suppression"
    EXCLUSION = "exclusion"
    CAPS = "caps"
    BEYOND = "beyond_max_results"


ModelReasons = Callable[[str], Sequence[str]]  # product code -> the model's reasons, best first


@dataclass
class _Offer:
    spec: Mapping[str, Any]
    gates: GateReport | None = None
    rules: list[RuleOutcome] | None = None
    stage: str = ""
    reason: str = ""
    ranked: Ranked | None = None


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _datetime(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def _gate_input(
    inputs: Mapping[str, Any], offer: Mapping[str, Any], consents: Mapping[tuple[str, str], str]
) -> GateInput:
    c = inputs["customer"]
    channel = inputs["channel"]
    return GateInput(
        age=c["age"],
        kyc_status=c["kyc_status"],
        kyc_date=_date(c["kyc_date"]),
        sanctions_status=c["sanctions_status"],
        risk_rating=c["risk_rating"],
        do_not_contact=c["do_not_contact"],
        vulnerable=c["vulnerable"],
        consents=consents,
        channel=CONSENT_CHANNEL[channel],
        purpose="service" if offer["transactional"] else "marketing",
        offer_is_credit=offer["is_credit"],
        offer_min_age=offer["min_age"],
        days_overdrawn_3m=c["days_overdrawn_3m"],
        missed_payments_3m=c["missed_payments_3m"],
        opt_in_required=channel in OPT_IN_CHANNELS,
        today=_date(inputs["today"]) or dt.date.min,
    )


def _catalogue_check(offer: Mapping[str, Any], today: dt.date, channel: str, only: frozenset[str] | None = None) -> str:
    if not offer["active"]:
        return "the offer is switched off"
    if only is not None and offer["code"] not in only:
        return "not among the offers of this campaign"
    starts, ends = _date(offer["starts_on"]), _date(offer["ends_on"])
    if starts and today < starts:
        return f"the offer starts on {starts.isoformat()}"
    if ends and today > ends:
        return f"the offer ended on {ends.isoformat()}"
    if offer["treatment_id"] is None:
        return f"the offer has no {channel} treatment"
    return ""


def _rules_for(
    traced: bool,
    rule_set: CompiledRuleSet | None,
    context: RuleContext,
    offer: Mapping[str, Any],
    cache: dict[tuple[str, str], list[RuleOutcome]],
) -> list[RuleOutcome]:
    """The outcomes of every rule attached to the offer, its group and its issue;
    a rule attached to an issue runs once for all of the issue's offers."""
    if rule_set is None:
        return []
    out: list[RuleOutcome] = []
    for scope, code in (("issue", offer["issue"]), ("group", offer["group"]), ("offer", offer["code"])):
        key = (scope, code)
        found = cache.get(key)
        if found is None:
            found = rule_set.evaluate(context, scopes={scope: code}, traced=traced)
            cache[key] = found
        out.extend(found)
    return out


def _rules_stage(outcomes: Sequence[RuleOutcome]) -> tuple[str, str]:
    for kind in KIND_ORDER:
        failed = [o for o in outcomes if o.kind == kind and not o.passed]
        if failed:
            names = "; ".join(
                o.name if o.scope == "offer" else f"{o.name} (on the {o.scope} {o.scope_code})" for o in failed
            )
            return kind, f"failed {kind} rule{'s' if len(failed) > 1 else ''}: {names}"
    return "", ""


def _negative_times(contacts: Sequence[Sequence[Any]]) -> dict[str, list[dt.datetime]]:
    out: dict[str, list[dt.datetime]] = {}
    for offered_at, _channel, product, outcome, responded_at, _service, _inbound in contacts:
        if outcome in NEGATIVE_OUTCOMES:
            out.setdefault(product, []).append(_datetime(responded_at or offered_at))
    for times in out.values():
        times.sort()
    return out


def _suppressed_until(times: Sequence[dt.datetime], policy: Mapping[str, Any]) -> dt.datetime | None:
    """The end of the latest rest this policy imposes: ``limit`` negative responses
    within ``period_days`` start a rest of ``suppress_days`` from the last of them."""
    n, window, rest = (
        policy["limit"],
        dt.timedelta(days=policy["period_days"]),
        dt.timedelta(days=policy["suppress_days"]),
    )
    until = None
    for i in range(n - 1, len(times)):
        if times[i] - times[i - n + 1] <= window:
            until = times[i] + rest
    return until


def cap_applies(policy: Mapping[str, Any], channel: str) -> bool:
    """Whether a contact policy caps messages on this decision channel: a cap naming
    a channel caps that one; one naming none caps the outbound channels (email, push)."""
    if policy["kind"] not in ("channel_cap", "global_cap"):
        return False
    if policy["channel"]:
        return policy["channel"] == channel
    return channel in OUTBOUND_CHANNELS


def _cap_usage(inputs: Mapping[str, Any], now: dt.datetime) -> list[dict[str, Any]]:
    """Each cap that applies to the request's channel: its limit, what was used, what
    remains. Caps govern outbound marketing: a cap without a channel applies to
    email and push (each channel on its own for a channel cap, all outbound
    contacts together for a global cap); the bank's own web pages and the call
    centre, where the customer came to the bank, are capped only by a cap naming
    them. Service messages never count."""
    decision_channel = inputs["channel"]
    channel = CONTACT_CHANNEL[decision_channel]
    out = []
    # Read once for every cap: a customer's history holds dozens of contacts.
    counted = [
        (_datetime(offered_at), contact_channel, inbound)
        for offered_at, contact_channel, _product, _outcome, _responded, service, inbound in inputs["contacts"]
        if not service
    ]
    for policy in inputs["policies"]:
        if not cap_applies(policy, decision_channel):
            continue
        kind, named = policy["kind"], policy["channel"]
        since = now - dt.timedelta(days=policy["period_days"])
        used = 0
        for offered_at, contact_channel, inbound in counted:
            if offered_at <= since:
                continue
            if kind == "channel_cap" or named:
                used += contact_channel == channel
            else:
                used += not inbound
        out.append(
            {
                "policy": policy["code"],
                "name": policy["name"],
                "kind": kind,
                "channel": named or ("each outbound channel" if kind == "channel_cap" else "all outbound channels"),
                "limit": policy["limit"],
                "period_days": policy["period_days"],
                "used": used,
                "remaining": max(policy["limit"] - used, 0),
            }
        )
    return out


def _rules_passed(offer: _Offer) -> list[str]:
    passed = sorted(
        (o for o in offer.rules or () if o.passed),
        key=lambda o: ({"suitability": 0, "eligibility": 1, "applicability": 2}[o.kind], o.name),
    )
    return [o.name for o in passed]


def compose_reasons(*, model: Sequence[str], rules_passed: Sequence[str], source: str, propensity: float) -> list[str]:
    """At most four: the model's two strongest, then the rules the offer met, then
    the model's next ones."""
    from_model = list(model) if source == PropensitySource.MODEL else []
    from_rules = [f"Meets the rule “{name}”" for name in rules_passed]
    out = from_model[:MODEL_REASONS_FIRST]
    out += from_rules[: MAX_REASONS - len(out)]
    out += from_model[MODEL_REASONS_FIRST:][: MAX_REASONS - len(out)]
    if not out:
        if source == PropensitySource.HISTORICAL:
            out.append(f"Accepted by {propensity:.0%} of the customers it was offered to")
        else:
            out.append(f"The propensity model puts the chance of take-up at {propensity:.0%}")
    return out[:MAX_REASONS]


def reasons_attach(result: dict[str, Any], model_reasons: ModelReasons | Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """Fill each returned offer's reasons from the model's reasons by product code."""
    lookup = model_reasons if callable(model_reasons) else (lambda code: model_reasons.get(code, ()))
    for view in (*result["offers"], *([result["upsell"]] if result.get("upsell") else [])):
        if "rules_passed" not in view:
            continue
        source = view["factors"]["propensity_source"]
        model = lookup(view["product_code"]) if source == PropensitySource.MODEL else ()
        view["reasons"] = compose_reasons(
            model=model,
            rules_passed=view.pop("rules_passed"),
            source=source,
            propensity=view["factors"]["propensity"],
        )
    return result


def needs_model_reasons(result: Mapping[str, Any]) -> list[str]:
    """Product codes of the returned offers scored by a model (whose reasons are wanted)."""
    views = (*result["offers"], *([result["upsell"]] if result.get("upsell") else []))
    return sorted({v["product_code"] for v in views if v["factors"]["propensity_source"] == PropensitySource.MODEL})


def _offer_view(offer: _Offer, rank: int) -> dict[str, Any]:
    spec, ranked = offer.spec, offer.ranked
    assert ranked is not None
    return {
        "rank": rank,
        "offer_code": spec["code"],
        "offer_name": spec["name"],
        "product_code": spec["product_code"],
        "issue": spec["issue"],
        "group": spec["group"],
        "priority": ranked.priority,
        "factors": dict(ranked.factors),
        "reasons": [],
        "rules_passed": _rules_passed(offer),
        "treatment_id": spec["treatment_id"],
        "value": spec["value_text"],
        "currency": spec["currency"],
        "headline_value": spec["headline_value"],
        "transactional": spec["transactional"],
    }


def _funnel_entry(offer: _Offer, *, made: bool, trace: bool) -> dict[str, Any]:
    entry = {
        "offer_code": offer.spec["code"],
        "outcome": "made" if made else "removed",
        "stage": offer.stage,
        "reason": offer.reason,
    }
    if not trace:
        return entry
    return {
        **entry,
        "gates": [
            {"gate": r.gate, "passed": r.passed, "reason": r.reason}
            for r in (offer.gates.results if offer.gates else ())
        ],
        "rules": [
            {
                "rule_id": o.rule_id,
                "name": o.name,
                "kind": o.kind,
                "scope": o.scope,
                "scope_code": o.scope_code,
                "passed": o.passed,
                "trace": [list(t) for t in o.trace],
            }
            for o in offer.rules or ()
        ],
        "priority": offer.ranked.priority if offer.ranked else None,
        "factors": dict(offer.ranked.factors) if offer.ranked else None,
    }


def _best_bundle(winners: Sequence[_Offer], marketing_room: int | None) -> dict[str, Any] | None:
    """The pair of complementary offers with the highest combined priority (no two of
    one exclusion group; within the caps)."""
    best: tuple[float, _Offer, _Offer] | None = None
    for i, a in enumerate(winners):
        for b in winners[i + 1 :]:
            sa, sb = a.spec, b.spec
            if sb["product_code"] not in sa["complementary"] and sa["product_code"] not in sb["complementary"]:
                continue
            if sa["exclusion_group"] and sa["exclusion_group"] == sb["exclusion_group"]:
                continue
            marketing = (not sa["transactional"]) + (not sb["transactional"])
            if marketing_room is not None and marketing > marketing_room:
                continue
            score = a.ranked.priority + b.ranked.priority  # type: ignore[union-attr]
            if best is None or score > best[0]:
                best = (score, a, b)
    if best is None:
        return None
    score, a, b = best
    return {
        "offers": [a.spec["code"], b.spec["code"]],
        "products": [a.spec["product_code"], b.spec["product_code"]],
        "combined_priority": score,
        "combined_value": a.spec["value"] + b.spec["value"],
        "expected_value": sum(
            o.ranked.factors["propensity"] * o.spec["value"]  # type: ignore[union-attr, operator]
            for o in (a, b)
        ),
    }


def _best_upsell(
    winners: Sequence[_Offer], held: Sequence[Mapping[str, Any]], marketing_room: int | None
) -> _Offer | None:
    """The best offer that upgrades a product family the customer already holds."""
    top_tier: dict[str, int] = {}
    for h in held:
        top_tier[h["family"]] = max(top_tier.get(h["family"], 0), h["tier"])
    for offer in winners:  # best first
        family = offer.spec["family"]
        if family in top_tier and offer.spec["tier"] > top_tier[family]:
            if marketing_room is not None and marketing_room < 1 and not offer.spec["transactional"]:
                continue
            return offer
    return None


def decide(
    inputs: Mapping[str, Any],
    scores: Mapping[str, Mapping[str, Any]],
    rule_set: CompiledRuleSet | None,
    *,
    model_reasons: ModelReasons | Mapping[str, Sequence[str]] | None = None,
    trace: bool = False,
) -> dict[str, Any]:
    """Run the funnel over ``inputs`` (see ``decisioning.inputs``) with ``scores``
    (product code -> {"propensity", ...}; empty when no model may or can score).
    ``model_reasons`` gives the model's reasons for a product, called only for the
    offers returned; without it the offers keep ``rules_passed`` until
    ``reasons_attach`` (a batch computes model reasons for a whole chunk at once).
    With ``trace`` each funnel entry also carries every gate and every rule with
    the outcome of each of its nodes (a debug answer, the try-a-decision page). Returns offers, bundle, upsell, funnel, caps, rules_only."""
    now = _datetime(inputs["now"])
    today = _date(inputs["today"]) or now.date()
    channel = inputs["channel"]
    consents = {(ch, purpose): status for ch, purpose, status in inputs["consents"]}
    context = RuleContext(values=inputs["rule_values"], now=now)

    offers = [_Offer(spec) for spec in inputs["offers"]]
    gate_cache: dict[tuple[bool, int, bool], GateReport] = {}
    rule_cache: dict[tuple[str, str], list[RuleOutcome]] = {}
    negatives = _negative_times(inputs["contacts"])
    suppressions = [p for p in inputs["policies"] if p["kind"] == "suppression"]

    # A campaign decides among its own offers only (the context names them).
    only = frozenset(inputs["context"]["offers"]) if inputs["context"].get("offers") else None
    survivors: list[_Offer] = []
    for offer in offers:
        spec = offer.spec
        why = _catalogue_check(spec, today, channel, only)
        if why:
            offer.stage, offer.reason = Stage.CATALOGUE, why
            continue
        key = (spec["is_credit"], spec["min_age"], spec["transactional"])
        report = gate_cache.get(key)
        if report is None:
            report = gate_cache[key] = gates_check(_gate_input(inputs, spec, consents))
        offer.gates = report
        offer.rules = _rules_for(trace, rule_set, context, spec, rule_cache)
        if not report.passed:
            offer.stage, offer.reason = Stage.GATES, "; ".join(r.reason for r in report.blocked_by)
            continue
        stage, why = _rules_stage(offer.rules)
        if stage:
            offer.stage, offer.reason = stage, why
            continue
        rested = [
            (until, p) for p in suppressions if (until := _suppressed_until(negatives.get(spec["product_code"], ()), p))
        ]
        rested = [(until, p) for until, p in rested if until > now]
        if rested:
            until, policy = max(rested, key=lambda item: item[0])
            offer.stage = Stage.SUPPRESSION
            offer.reason = (
                f"{policy['name']}: {policy['limit']} rejections or ignores within {policy['period_days']} days; "
                f"resting until {until.date().isoformat()}"
            )
            continue
        survivors.append(offer)

    # Profiling objections are gate facts: the same for every offer of the customer.
    may_score = inputs["may_score"]
    by_code = {o.spec["code"]: o for o in survivors}
    candidates = []
    for offer in survivors:
        spec = offer.spec
        score = scores.get(spec["product_code"]) if may_score else None
        candidates.append(
            Candidate(
                offer_code=spec["code"],
                group_code=spec["group"],
                issue_code=spec["issue"],
                value=spec["value"],
                issue_lever=spec["issue_lever"],
                group_lever=spec["group_lever"],
                offer_lever=spec["offer_lever"],
                exclusion_group=spec["exclusion_group"],
                propensity=score["propensity"] if score else None,
                historical_rate=spec["historical_rate"],
            )
        )
    arbitration = arbitrate(candidates, context_weights=inputs["context"].get("weights") or {}, max_results=MAX_RESULTS)
    for ranked in arbitration.excluded:
        offer = by_code[ranked.offer_code]
        offer.ranked = ranked
        offer.stage, offer.reason = Stage.EXCLUSION, f"lost its exclusion group to {ranked.excluded_by}"
    winners = []
    for ranked in (*arbitration.ranked, *arbitration.beyond):
        by_code[ranked.offer_code].ranked = ranked
        winners.append(by_code[ranked.offer_code])

    caps = _cap_usage(inputs, now)
    room = min((c["remaining"] for c in caps), default=None)
    made: list[_Offer] = []
    marketing_made = 0
    for offer in winners:
        if len(made) >= inputs["max_results"]:
            offer.stage, offer.reason = Stage.BEYOND, f"ranked below the {inputs['max_results']} offers returned"
            continue
        if not offer.spec["transactional"] and room is not None and marketing_made >= room:
            full = [c for c in caps if c["remaining"] <= marketing_made]
            offer.stage = Stage.CAPS
            offer.reason = "; ".join(
                f"{c['name']}: {c['limit']} offers per {c['period_days']} days; {c['used']} made before, "
                f"{marketing_made} in this decision"
                for c in full
            )
            continue
        if not offer.spec["transactional"]:
            marketing_made += 1
        made.append(offer)

    views = [_offer_view(offer, rank) for rank, offer in enumerate(made, start=1)]
    eligible = [o for o in winners if o.stage in ("", Stage.BEYOND)]
    bundle = _best_bundle(eligible, room)
    upsell_offer = _best_upsell(eligible, inputs["held"], room)
    upsell = None
    if upsell_offer is not None:
        upsell = _offer_view(upsell_offer, 0)
        upsell["family"], upsell["tier"] = upsell_offer.spec["family"], upsell_offer.spec["tier"]
    by_rate = [o.spec["product_code"] for o in made if o.ranked.factors["propensity_source"] != PropensitySource.MODEL]  # type: ignore[union-attr]
    rules_only = bool(made) and len(by_rate) == len(made)
    note = ""
    if made and not may_score:
        note = NO_PROFILING_NOTE
    elif by_rate:
        note = RULES_ONLY_NOTE.format(products=", ".join(by_rate))
    elif not made and any(o.stage == Stage.CAPS for o in offers):
        note = "Contact caps reached: " + "; ".join(
            f"{c['name']} ({c['used']} of {c['limit']} in {c['period_days']} days)" for c in caps if not c["remaining"]
        )
    made_codes = {o.spec["code"] for o in made}
    result = {
        "engine_version": ENGINE_VERSION,
        "offers": views,
        "bundle": bundle,
        "upsell": upsell,
        "rules_only": rules_only,
        "note": note,
        "caps": caps,
        "funnel": [_funnel_entry(o, made=o.spec["code"] in made_codes, trace=trace) for o in offers],
    }
    if model_reasons is not None:
        reasons_attach(result, model_reasons)
    return result


def removed_summary(result: Mapping[str, Any]) -> dict[str, list[str]]:
    """Offer code -> [stage, reason] for every offer left out: what a decision record keeps."""
    return {e["offer_code"]: [e["stage"], e["reason"]] for e in result["funnel"] if e["outcome"] == "removed"}
