"""Regulatory gates: each blocks with its reason; all are reported; profiling objections stop scoring."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compliance.gates import GateInput, gates_check

TODAY = dt.date(2026, 11, 24)
CLEAN = GateInput(
    age=40,
    kyc_status="verified",
    kyc_date=dt.date(2025, 1, 10),
    sanctions_status="clear",
    risk_rating="low",
    do_not_contact=False,
    vulnerable=False,
    consents={("email", "marketing"): "granted"},
    channel="email",
    purpose="marketing",
    offer_is_credit=True,
    offer_min_age=21,
    today=TODAY,
)


def test_a_clean_customer_passes_every_gate():
    report = gates_check(CLEAN)

    assert report.passed
    assert report.may_score
    assert {r.gate for r in report.results} >= {"kyc", "sanctions", "consent", "credit_risk", "financial_distress"}


@pytest.mark.parametrize(
    ("change", "gate", "words"),
    [
        ({"kyc_status": "pending"}, "kyc", "not verified"),
        ({"kyc_date": dt.date(2020, 1, 1)}, "kyc", "older than"),
        ({"sanctions_status": "potential_match"}, "sanctions", "potential match"),
        ({"do_not_contact": True}, "do_not_contact", "do not contact"),
        ({"consents": {}}, "consent", "no marketing consent"),
        ({"consents": {("email", "marketing"): "withdrawn"}}, "consent", "withdrawn"),
        ({"age": 19}, "credit_age", "needs 21"),
        ({"risk_rating": "high"}, "credit_risk", "outside appetite"),
        ({"vulnerable": True}, "vulnerable", "vulnerable customer"),
        ({"missed_payments_3m": 1.0}, "financial_distress", "missed payments"),
        ({"days_overdrawn_3m": 12.0}, "financial_distress", "12 days overdrawn"),
    ],
)
def test_each_gate_blocks_with_its_reason(change, gate, words):
    report = gates_check(dataclasses.replace(CLEAN, **change))

    [blocked] = report.blocked_by
    assert blocked.gate == gate
    assert words in blocked.reason


def test_a_channel_answer_beats_the_any_channel_one():
    facts = dataclasses.replace(CLEAN, consents={("any", "marketing"): "granted", ("email", "marketing"): "withdrawn"})

    assert not gates_check(facts).passed
    assert gates_check(dataclasses.replace(facts, channel="web")).passed


def test_credit_gates_do_not_apply_to_other_offers():
    report = gates_check(dataclasses.replace(CLEAN, offer_is_credit=False, vulnerable=True, risk_rating="high"))

    assert report.passed


def test_an_objection_to_profiling_stops_scoring_but_not_the_offer():
    report = gates_check(dataclasses.replace(CLEAN, consents={**CLEAN.consents, ("any", "profiling"): "withdrawn"}))

    assert report.passed
    assert report.may_score is False


@given(
    kyc=st.sampled_from(["verified", "pending", "expired", "failed"]),
    sanctions=st.sampled_from(["clear", "potential_match", "hit"]),
    dnc=st.booleans(),
    consent=st.sampled_from([None, "granted", "withdrawn"]),
)
def test_a_customer_passes_only_with_verified_kyc_clear_sanctions_consent_and_no_dnc(kyc, sanctions, dnc, consent):
    consents = {} if consent is None else {("email", "marketing"): consent}
    facts = dataclasses.replace(
        CLEAN, kyc_status=kyc, sanctions_status=sanctions, do_not_contact=dnc, consents=consents, offer_is_credit=False
    )

    expected = kyc == "verified" and sanctions == "clear" and not dnc and consent == "granted"
    assert gates_check(facts).passed is expected
