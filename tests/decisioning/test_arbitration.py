"""Arbitration: the priority formula with every factor, levers, context weights,
the historical-rate fallback, mutual exclusion and a stable order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from decisioning.arbitration import Candidate, arbitrate

CARD = Candidate("card", "cards", "grow", value=120.0, propensity=0.05, exclusion_group="credit")
LOAN = Candidate("loan", "loans", "grow", value=450.0, propensity=0.02, exclusion_group="credit")
SAVER = Candidate("saver", "savings", "retain", value=40.0, propensity=0.20)


def test_priority_is_propensity_times_context_times_value_times_levers():
    lever = Candidate("saver", "savings", "retain", value=40.0, propensity=0.2, issue_lever=150, offer_lever=50)

    [ranked] = arbitrate([lever], context_weights={"group:savings": 2.0}).ranked

    assert ranked.priority == pytest.approx(0.2 * 2.0 * 40.0 * 1.5 * 1.0 * 0.5)
    assert ranked.factors["context_weight"] == 2.0
    assert ranked.factors["propensity_source"] == "model"


def test_mutual_exclusion_keeps_the_best_of_each_group_and_says_who_won():
    result = arbitrate([CARD, LOAN, SAVER], max_results=3)

    assert [r.offer_code for r in result.ranked] == ["loan", "saver"]  # 9.0 and 8.0; card 6.0 lost to loan
    [lost] = result.excluded
    assert (lost.offer_code, lost.excluded_by) == ("card", "loan")


def test_without_model_scores_the_historical_rate_stands_in_and_the_result_says_so():
    fallback = [Candidate("saver", "savings", "retain", value=40.0, historical_rate=0.03)]

    result = arbitrate(fallback)

    assert result.rules_only
    assert result.ranked[0].factors["propensity_source"] == "historical_acceptance_rate"
    assert result.ranked[0].priority == pytest.approx(0.03 * 40.0)


def test_a_zero_lever_switches_an_offer_off_the_top():
    off = Candidate("saver", "savings", "retain", value=40.0, propensity=0.9, offer_lever=0)

    result = arbitrate([off, CARD], max_results=1)

    assert result.ranked[0].offer_code == "card"


def test_max_results_is_bounded():
    with pytest.raises(ValueError, match="between 1 and 25"):
        arbitrate([SAVER], max_results=26)


candidates = st.lists(
    st.builds(
        Candidate,
        offer_code=st.text(alphabet="abcdef", min_size=1, max_size=4),
        group_code=st.sampled_from(["g1", "g2"]),
        issue_code=st.sampled_from(["grow", "retain"]),
        value=st.floats(min_value=0, max_value=1e4),
        offer_lever=st.integers(min_value=0, max_value=300),
        exclusion_group=st.sampled_from(["", "x", "y"]),
        propensity=st.one_of(st.none(), st.floats(min_value=0, max_value=1)),
        historical_rate=st.floats(min_value=0, max_value=1),
    ),
    max_size=12,
    unique_by=lambda c: c.offer_code,
)


@given(candidates, st.integers(min_value=1, max_value=25))
def test_results_are_sorted_unique_and_respect_exclusion(cands, k):
    result = arbitrate(cands, max_results=k)

    priorities = [r.priority for r in result.ranked]
    assert priorities == sorted(priorities, reverse=True)
    assert len(result.ranked) <= k
    groups = [c.exclusion_group for c in cands if c.offer_code in {r.offer_code for r in result.ranked}]
    named = [g for g in groups if g]
    assert len(named) == len(set(named))
    assert len(result.ranked) + len(result.excluded) + len(result.beyond) == len(cands)
