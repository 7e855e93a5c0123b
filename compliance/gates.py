"""Regulatory gates: checked before any rule, lever or campaign, never overridable,
and each says why it blocked.

Gates read a plain ``GateInput`` (the customer's regulatory facts, the consents
in force, the offer's credit nature, the request's channel and purpose), so the
decision engine can snapshot exactly what they saw and replay them later.

- KYC verified and not older than ``KYC_VALID_DAYS``;
- sanctions screening clear (a potential match blocks too);
- do-not-contact;
- consent for the channel and purpose in force (a channel-specific answer beats
  the "any channel" one; no answer is no consent for marketing);
- an objection to profiling stops scoring: the offer may still be decided on
  rules alone, and the result says so;
- credit offers: minimum age, risk rating within appetite, not a vulnerable
  customer, no signs of financial distress (recent overdrafts, missed payments).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from customers.choices import ConsentStatus, KycStatus, RiskRating, SanctionsStatus

KYC_VALID_DAYS = 3 * 365
CREDIT_RISK_APPETITE = frozenset({RiskRating.LOW, RiskRating.MEDIUM})
DISTRESS_OVERDRAWN_DAYS = 10  # days overdrawn over the last 3 months
DISTRESS_MISSED_PAYMENTS = 1  # missed payments over the last 3 months
ANY_CHANNEL = "any"


@dataclass(frozen=True)
class GateInput:
    """What the gates need, as plain values. ``consents`` maps (channel, purpose) to
    the status in force; ``channel`` is a consent channel (email, app_push, web, phone...)."""

    age: int
    kyc_status: str
    kyc_date: dt.date | None
    sanctions_status: str
    risk_rating: str
    do_not_contact: bool
    vulnerable: bool
    consents: Mapping[tuple[str, str], str]
    channel: str
    purpose: str
    offer_is_credit: bool
    offer_min_age: int = 18
    # Outbound channels (email, push, phone) need an opt-in; on the bank's own web
    # pages only an explicit withdrawal blocks. Service messages need no marketing consent.
    opt_in_required: bool = True
    days_overdrawn_3m: float = 0.0
    missed_payments_3m: float = 0.0
    today: dt.date = field(default_factory=dt.date.today)


@dataclass(frozen=True)
class GateResult:
    gate: str
    passed: bool
    reason: str


@dataclass(frozen=True)
class GateReport:
    results: tuple[GateResult, ...]
    may_score: bool  # False after an objection to profiling: rules alone

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def blocked_by(self) -> list[GateResult]:
        return [r for r in self.results if not r.passed]


def consent_in_force(consents: Mapping[tuple[str, str], str], channel: str, purpose: str) -> str | None:
    """The status for a channel and purpose: the channel's own answer, else the any-channel one."""
    return consents.get((channel, purpose)) or consents.get((ANY_CHANNEL, purpose))


def gates_check(facts: GateInput) -> GateReport:
    """Every gate's outcome (all are checked, so the funnel can show each reason)."""
    results: list[GateResult] = []

    def add(gate: str, passed: bool, reason: str) -> None:
        results.append(GateResult(gate=gate, passed=passed, reason=reason))

    if facts.kyc_status != KycStatus.VERIFIED:
        add("kyc", False, f"KYC is {facts.kyc_status}, not verified")
    elif facts.kyc_date is None or (facts.today - facts.kyc_date).days > KYC_VALID_DAYS:
        add("kyc", False, f"KYC verification is older than {KYC_VALID_DAYS} days or undated")
    else:
        add("kyc", True, "KYC verified and current")

    if facts.sanctions_status == SanctionsStatus.CLEAR:
        add("sanctions", True, "sanctions screening clear")
    else:
        add("sanctions", False, f"sanctions screening: {facts.sanctions_status.replace('_', ' ')}")

    add(
        "do_not_contact",
        not facts.do_not_contact,
        "marked do not contact" if facts.do_not_contact else "contact allowed",
    )

    status = consent_in_force(facts.consents, facts.channel, facts.purpose)
    if facts.purpose != "marketing":
        add("consent", True, f"{facts.purpose} message: no marketing consent needed")
    elif status == ConsentStatus.GRANTED:
        add("consent", True, f"{facts.purpose} consent granted for {facts.channel}")
    elif status == ConsentStatus.WITHDRAWN:
        add("consent", False, f"{facts.purpose} consent withdrawn for {facts.channel}")
    elif not facts.opt_in_required:
        add("consent", True, f"no objection to {facts.purpose} on {facts.channel}, which needs no opt-in")
    else:
        add("consent", False, f"no {facts.purpose} consent recorded for {facts.channel}")

    profiling = consent_in_force(facts.consents, ANY_CHANNEL, "profiling")
    may_score = profiling != ConsentStatus.WITHDRAWN

    if facts.offer_is_credit:
        add(
            "credit_age",
            facts.age >= facts.offer_min_age,
            f"aged {facts.age}; this credit offer needs {facts.offer_min_age}",
        )
        add(
            "credit_risk",
            facts.risk_rating in CREDIT_RISK_APPETITE,
            f"risk rating {facts.risk_rating}"
            + ("" if facts.risk_rating in CREDIT_RISK_APPETITE else ": outside appetite"),
        )
        add(
            "vulnerable",
            not facts.vulnerable,
            "vulnerable customer: no credit offers" if facts.vulnerable else "not flagged vulnerable",
        )
        distressed = (
            facts.days_overdrawn_3m >= DISTRESS_OVERDRAWN_DAYS or facts.missed_payments_3m >= DISTRESS_MISSED_PAYMENTS
        )
        add(
            "financial_distress",
            not distressed,
            (
                f"signs of financial distress: {facts.days_overdrawn_3m:.0f} days overdrawn, "
                f"{facts.missed_payments_3m:.0f} missed payments in 3 months"
            )
            if distressed
            else "no signs of financial distress",
        )
    return GateReport(results=tuple(results), may_score=may_score)
