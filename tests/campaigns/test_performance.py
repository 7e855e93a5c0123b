"""Performance figures, lift with its interval, and the sample-ratio check."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest

from campaigns.performance import (
    Filters,
    campaign_lifts,
    difference_interval,
    performance_by,
    performance_funnel,
    performance_trend,
    performance_trend_by,
    sample_ratio_check,
    wilson_interval,
)
from tests.campaigns.outcome_setup import NOW, scenario_build

MARCH = Filters(start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 31))


# --- the statistics, by hand ------------------------------------------------------------------------------------------


def test_the_difference_interval_matches_newcombes_published_examples():
    # Newcombe (1998), Statistics in Medicine 17:873-890, table II, method 10.
    difference, low, high = difference_interval(56, 70, 48, 80)
    assert difference == pytest.approx(0.2)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    _, low, high = difference_interval(9, 10, 3, 10)
    assert (round(low, 4), round(high, 4)) == (0.1705, 0.8090)


def test_the_difference_interval_follows_the_wilson_formula_worked_by_hand():
    # 30 of 200 treated converted (15%), 10 of 100 control (10%).
    z = 1.959963984540054
    # Wilson for 30/200: centre (0.15 + z²/400) / (1 + z²/200), half z·sqrt(0.15·0.85/200 + z²/160000) / (1 + z²/200)
    d1 = 1 + z * z / 200
    c1, h1 = (0.15 + z * z / 400) / d1, z * math.sqrt(0.15 * 0.85 / 200 + z * z / 160000) / d1
    d2 = 1 + z * z / 100
    c2, h2 = (0.10 + z * z / 200) / d2, z * math.sqrt(0.10 * 0.90 / 100 + z * z / 40000) / d2
    assert wilson_interval(30, 200) == pytest.approx((c1 - h1, c1 + h1))
    low = 0.05 - math.sqrt((0.15 - (c1 - h1)) ** 2 + ((c2 + h2) - 0.10) ** 2)
    high = 0.05 + math.sqrt(((c1 + h1) - 0.15) ** 2 + (0.10 - (c2 - h2)) ** 2)
    assert difference_interval(30, 200, 10, 100) == pytest.approx((0.05, low, high))
    # The interval holds zero: this lift is not shown to be real.
    assert low < 0 < high


def test_a_skewed_split_is_flagged_and_a_fair_one_is_not():
    skewed = sample_ratio_check(control=1_150, treated=8_850, control_percent=Decimal("10"))
    # chi² = (1150-1000)²/1000 + (8850-9000)²/9000 = 22.5 + 2.5 = 25.0, 1 degree of freedom
    assert skewed.chi2 == pytest.approx(25.0)
    assert skewed.p_value == pytest.approx(5.733e-7, rel=1e-3)
    assert skewed.mismatch is True
    fair = sample_ratio_check(control=1_020, treated=8_980, control_percent=Decimal("10"))
    assert fair.mismatch is False
    assert fair.p_value > 0.01
    assert sample_ratio_check(control=0, treated=500, control_percent=0).mismatch is False


# --- the figures ------------------------------------------------------------------------------------------------------


@pytest.fixture
def scenario(db):
    return scenario_build()


def test_the_funnel_runs_from_sent_to_converted(scenario):
    assert performance_funnel(filters=MARCH) == [
        ("Sent", 9),  # 8 emails and the real-time saver
        ("Seen (impressions)", 5),
        ("Clicked", 3),
        ("Accepted", 2),
        ("Converted", 3),  # the control group's opening is the baseline, not an earning
    ]


def test_figures_by_offer_carry_rates_revenue_and_satisfaction(scenario):
    rows = {row.key: row for row in performance_by(filters=MARCH, dimension="offer")}
    card = rows["card"].figures
    assert (card.sent, card.impressions, card.clicks, card.accepts, card.conversions) == (8, 5, 3, 2, 3)
    assert card.conversion_rate == pytest.approx(3 / 8)
    assert card.revenue == Decimal("300.00")
    assert card.mean_satisfaction == pytest.approx(3.0)  # 4 and 2; the late survey and the stranger's do not count
    assert rows["card"].label == "Card offer (card)"
    assert rows["saver"].figures.sent == 1


def test_figures_by_campaign_channel_segment_and_model_version(scenario):
    by_campaign = {r.label: r.figures.sent for r in performance_by(filters=MARCH, dimension="campaign")}
    assert by_campaign == {"Spring": 8, "Real time, no campaign": 1}
    by_channel = {r.label: r.figures.sent for r in performance_by(filters=MARCH, dimension="channel")}
    assert by_channel == {"Email": 8, "Web content": 1}
    by_segment = {
        r.label: (r.figures.sent, r.figures.conversions) for r in performance_by(filters=MARCH, dimension="segment")
    }
    assert by_segment == {"Gold": (5, 3), "Silver": (4, 0)}
    by_model = {
        r.label: (r.figures.sent, r.figures.accepts) for r in performance_by(filters=MARCH, dimension="model_version")
    }
    assert by_model == {"CARD v3": (8, 2), "Rules only (no model)": (1, 0)}


def test_filters_narrow_every_figure(scenario):
    gold = Filters(start=MARCH.start, end=MARCH.end, segment_id=scenario.segments["Gold"].pk)
    assert performance_funnel(filters=gold)[0] == ("Sent", 5)
    web = Filters(start=MARCH.start, end=MARCH.end, channel="web")
    assert [n for _, n in performance_funnel(filters=web)] == [1, 0, 0, 0, 0]
    spring = Filters(start=MARCH.start, end=MARCH.end, campaign_id=scenario.campaign.pk)
    assert performance_funnel(filters=spring)[0] == ("Sent", 8)
    before = Filters(start=dt.date(2026, 2, 1), end=dt.date(2026, 3, 1))
    assert all(n == 0 for _, n in performance_funnel(filters=before))


def test_the_trend_has_every_bucket_and_weeks_start_on_monday(scenario):
    daily = performance_trend(filters=Filters(start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 7)))
    assert [d.day for d, _ in daily] == [1, 2, 3, 4, 5, 6, 7]
    assert dict((d.day, f.sent) for d, f in daily)[2] == 9
    assert dict((d.day, f.conversions) for d, f in daily)[6] == 3  # opened on 6 March
    weekly = performance_trend(filters=Filters(start=MARCH.start, end=MARCH.end, bucket="week"))
    assert weekly[0][0] == dt.date(2026, 2, 23)  # the Monday of the week holding 1 March
    assert sum(f.sent for _, f in weekly) == 9
    chart = performance_trend_by(filters=MARCH, dimension="offer")
    assert [s["label"] for s in chart["series"]] == ["Card offer (card)", "Saver offer (saver)"]


def test_lift_compares_treated_with_control_members(scenario):
    (lift,) = campaign_lifts()
    assert (lift.treated, lift.treated_converted, lift.control, lift.control_converted) == (8, 3, 2, 1)
    assert lift.relative_lift == pytest.approx((3 / 8 - 1 / 2) / (1 / 2))
    assert lift.interval == pytest.approx(difference_interval(3, 8, 1, 2))
    assert lift.significant is False
    assert lift.srm.expected_share == pytest.approx(0.2)
    assert lift.srm.mismatch is False


def test_the_figures_take_a_bounded_number_of_queries(scenario, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        performance_by(filters=MARCH, dimension="segment")
    with django_assert_max_num_queries(8):
        campaign_lifts()


def test_nothing_to_show_is_all_zeros(db):
    assert [n for _, n in performance_funnel(filters=MARCH)] == [0, 0, 0, 0, 0]
    assert performance_by(filters=MARCH, dimension="offer") == []
    assert campaign_lifts() == []
    assert NOW  # the scenario's clock is the one the filters cover
