"""Properties of the pure engine over random customers, offers, scores and histories."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.gates import GateInput, gates_check
from decisioning.engine import CONSENT_CHANNEL, OPT_IN_CHANNELS, decide

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
CHANNELS = ("email", "push", "web", "call_centre")
CONTACT = {"email": "email", "push": "app_push", "web": "web", "call_centre": "call_centre"}

customers = st.fixed_dictionaries(
    {
        "id": st.just(1),
        "external_id": st.just("C1"),
        "age": st.integers(16, 90),
        "kyc_status": st.sampled_from(["verified", "pending", "expired"]),
        "kyc_date": st.sampled_from([None, "2019-01-01", "2025-01-01"]),
        "sanctions_status": st.sampled_from(["clear", "clear", "potential_match", "hit"]),
        "risk_rating": st.sampled_from(["low", "medium", "high"]),
        "do_not_contact": st.booleans(),
        "vulnerable": st.booleans(),
        "days_overdrawn_3m": st.sampled_from([0.0, 3.0, 12.0]),
        "missed_payments_3m": st.sampled_from([0.0, 0.0, 1.0]),
    }
)
consents = st.lists(
    st.tuples(
        st.sampled_from(["email", "app_push", "phone", "web", "any"]),
        st.sampled_from(["marketing", "profiling"]),
        st.sampled_from(["granted", "withdrawn"]),
    ),
    max_size=6,
    unique_by=lambda c: (c[0], c[1]),
)


@st.composite
def offers(draw):
    n = draw(st.integers(1, 8))
    out = []
    for i in range(n):
        out.append(
            {
                "code": f"o{i}",
                "name": f"Offer {i}",
                "product_code": f"P{i}",
                "product_id": i + 1,
                "product_name": f"Product {i}",
                "family": draw(st.sampled_from(["card", "loan", "savings"])),
                "tier": draw(st.integers(1, 3)),
                "complementary": [f"P{j}" for j in draw(st.lists(st.integers(0, n - 1), max_size=2))],
                "group": f"g{i % 3}",
                "issue": draw(st.sampled_from(["grow", "service"])),
                "value": draw(st.floats(0, 5000)),
                "value_text": "1.00",
                "currency": "EUR",
                "headline_value": "",
                "is_credit": draw(st.booleans()),
                "min_age": draw(st.sampled_from([16, 18, 21])),
                "exclusion_group": draw(st.sampled_from(["", "", "x"])),
                "issue_lever": draw(st.integers(0, 300)),
                "group_lever": 100,
                "offer_lever": draw(st.integers(0, 300)),
                "starts_on": None,
                "ends_on": None,
                "active": True,
                "transactional": False,
                "treatment_id": i + 1,
                "historical_rate": draw(st.floats(0, 1)),
            }
        )
    for o in out:
        o["transactional"] = o["issue"] == "service"
    return out


contacts = st.lists(
    st.tuples(
        st.integers(0, 40),
        st.sampled_from(["email", "app_push", "web", "call_centre"]),
        st.integers(0, 7),
        st.sampled_from(["pending", "rejected", "accepted", "no_response"]),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(
    customer=customers,
    consent_rows=consents,
    offer_specs=offers(),
    history=contacts,
    channel=st.sampled_from(CHANNELS),
    max_results=st.integers(1, 5),
    cap=st.integers(1, 3),
    propensities=st.lists(st.floats(0, 1), min_size=8, max_size=8),
)
def test_no_returned_offer_is_blocked_by_a_gate_or_over_a_cap(
    customer, consent_rows, offer_specs, history, channel, max_results, cap, propensities
):
    inputs = {
        "version": 1,
        "now": NOW.isoformat(),
        "today": NOW.date().isoformat(),
        "channel": channel,
        "context": {},
        "max_results": max_results,
        "customer": customer,
        "consents": [list(c) for c in consent_rows],
        "may_score": ("any", "profiling", "withdrawn") not in consent_rows,
        "rule_values": {},
        "held": [],
        "offers": offer_specs,
        "policies": [
            {
                "code": "c",
                "name": "cap",
                "kind": "channel_cap",
                "channel": channel,
                "limit": cap,
                "period_days": 7,
                "suppress_days": 0,
            }
        ],
        "contacts": [
            [(NOW - dt.timedelta(days=d)).isoformat(), ch, f"P{p}", outcome, None, False, ch == "web"]
            for d, ch, p, outcome in history
        ],
        "features": {},
    }
    scores = {f"P{i}": {"propensity": p, "raw": p, "model_version_id": 1} for i, p in enumerate(propensities)}
    result = decide(inputs, scores, None, model_reasons={})
    consent_map = {(c, p): s for c, p, s in consent_rows}
    made = result["offers"]
    assert len(made) <= max_results
    for view in made:
        spec = next(o for o in offer_specs if o["code"] == view["offer_code"])
        report = gates_check(
            GateInput(
                age=customer["age"],
                kyc_status=customer["kyc_status"],
                kyc_date=dt.date.fromisoformat(customer["kyc_date"]) if customer["kyc_date"] else None,
                sanctions_status=customer["sanctions_status"],
                risk_rating=customer["risk_rating"],
                do_not_contact=customer["do_not_contact"],
                vulnerable=customer["vulnerable"],
                consents=consent_map,
                channel=CONSENT_CHANNEL[channel],
                purpose="service" if spec["transactional"] else "marketing",
                offer_is_credit=spec["is_credit"],
                offer_min_age=spec["min_age"],
                days_overdrawn_3m=customer["days_overdrawn_3m"],
                missed_payments_3m=customer["missed_payments_3m"],
                opt_in_required=channel in OPT_IN_CHANNELS,
                today=NOW.date(),
            )
        )
        assert report.passed, report.blocked_by
        if not inputs["may_score"]:
            assert view["factors"]["propensity_source"] == "historical_acceptance_rate"
        assert 1 <= len(view["reasons"]) <= 4
    # caps: marketing offers made now plus those made within the period never exceed the limit
    used = sum(1 for d, ch, _p, _o in history if ch == CONTACT[channel] and d < 7)
    marketing = sum(1 for v in made if not v["transactional"])
    assert marketing <= max(cap - used, 0)
    # one offer per exclusion group
    groups = [next(o for o in offer_specs if o["code"] == v["offer_code"])["exclusion_group"] for v in made]
    assert len([g for g in groups if g]) == len({g for g in groups if g})
    # the record round-trips through JSON and replays to the same result
    again = decide(json.loads(json.dumps(inputs)), json.loads(json.dumps(scores)), None, model_reasons={})
    assert json.dumps(again, sort_keys=True) == json.dumps(result, sort_keys=True)
