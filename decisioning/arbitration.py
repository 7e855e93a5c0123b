"""Arbitration: rank the offers that passed gates and rules.

priority = propensity x context weight x value x issue lever x group lever x offer lever

Levers are business weights in percent (100 neutral). Context weights come from
the request (channel, page, reason for a call) and apply to the issue, group or
offer they name; several multiply. Without an active model, propensity falls back
to the offer's historical acceptance rate and the ranked offer says so. Every
factor of every offer is returned, so the decision can show its arithmetic.
Mutual exclusion keeps only the best offer of each exclusion group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class PropensitySource(StrEnum):
    MODEL = "model"
    HISTORICAL = "historical_acceptance_rate"


@dataclass(frozen=True)
class Candidate:
    offer_code: str
    group_code: str
    issue_code: str
    value: float  # expected value to the bank of a take-up, in the base currency
    issue_lever: int = 100
    group_lever: int = 100
    offer_lever: int = 100
    exclusion_group: str = ""
    propensity: float | None = None  # the model's calibrated probability, if any
    historical_rate: float = 0.0  # acceptances / offers made, for the fallback


@dataclass(frozen=True)
class Ranked:
    offer_code: str
    priority: float
    factors: dict[str, float | str]
    excluded_by: str = ""  # the offer that won its exclusion group, if this one lost


@dataclass(frozen=True)
class Arbitration:
    ranked: tuple[Ranked, ...]  # winners, best first, at most max_results
    excluded: tuple[Ranked, ...] = field(default_factory=tuple)  # lost to mutual exclusion
    beyond: tuple[Ranked, ...] = field(default_factory=tuple)  # winners past max_results
    rules_only: bool = False  # no offer had a model score


def _context_weight(candidate: Candidate, weights: Mapping[str, float]) -> float:
    weight = 1.0
    for key in (f"issue:{candidate.issue_code}", f"group:{candidate.group_code}", f"offer:{candidate.offer_code}"):
        weight *= float(weights.get(key, 1.0))
    return weight


def candidate_priority(candidate: Candidate, context_weights: Mapping[str, float]) -> Ranked:
    """One offer's priority with each factor."""
    if candidate.propensity is not None:
        propensity, source = float(candidate.propensity), PropensitySource.MODEL
    else:
        propensity, source = float(candidate.historical_rate), PropensitySource.HISTORICAL
    context = _context_weight(candidate, context_weights)
    levers = candidate.issue_lever / 100 * candidate.group_lever / 100 * candidate.offer_lever / 100
    priority = propensity * context * candidate.value * levers
    return Ranked(
        offer_code=candidate.offer_code,
        priority=priority,
        factors={
            "propensity": propensity,
            "propensity_source": source.value,
            "context_weight": context,
            "value": candidate.value,
            "issue_lever": candidate.issue_lever / 100,
            "group_lever": candidate.group_lever / 100,
            "offer_lever": candidate.offer_lever / 100,
        },
    )


def arbitrate(
    candidates: Sequence[Candidate], *, context_weights: Mapping[str, float] | None = None, max_results: int = 3
) -> Arbitration:
    """Rank by priority (ties by offer code, so the order is stable), keep the best
    of each exclusion group, return the top ``max_results``."""
    if not 1 <= max_results <= 25:
        raise ValueError("max_results is between 1 and 25")
    weights = context_weights or {}
    scored = sorted((candidate_priority(c, weights) for c in candidates), key=lambda r: (-r.priority, r.offer_code))
    groups = {c.offer_code: c.exclusion_group for c in candidates}
    winners: list[Ranked] = []
    excluded: list[Ranked] = []
    taken: dict[str, str] = {}
    for ranked in scored:
        group = groups[ranked.offer_code]
        if group and group in taken:
            excluded.append(Ranked(ranked.offer_code, ranked.priority, ranked.factors, excluded_by=taken[group]))
            continue
        if group:
            taken[group] = ranked.offer_code
        winners.append(ranked)
    rules_only = bool(candidates) and all(c.propensity is None for c in candidates)
    return Arbitration(
        ranked=tuple(winners[:max_results]),
        excluded=tuple(excluded),
        beyond=tuple(winners[max_results:]),
        rules_only=rules_only,
    )
