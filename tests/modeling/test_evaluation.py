"""Evaluation metrics against values computed by hand, ties included, and the
two baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modeling import evaluation as ev

# Five customers, best score first: positive, negative, positive, negative, negative.
Y = np.array([1, 0, 1, 0, 0], dtype=float)
S = np.array([0.9, 0.8, 0.7, 0.3, 0.1])


def test_roc_auc_counts_the_pairs_ranked_right():
    # Positive 0.9 beats all three negatives; positive 0.7 beats two of three: 5 of 6 pairs.
    assert ev.roc_auc(Y, S) == pytest.approx(5 / 6)


def test_pr_auc_is_average_precision():
    # Recall 1/2 at precision 1, then recall 2/2 at precision 2/3.
    assert ev.pr_auc(Y, S) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_alift_is_the_area_under_the_gains_curve():
    # Gains at x = 0, .2, .4, .6, .8, 1: 0, .5, .5, 1, 1, 1; trapezoids of width .2.
    expected = 0.2 * (0.25 + 0.5 + 0.75 + 1 + 1)
    assert ev.alift(Y, S) == pytest.approx(expected)
    assert expected == pytest.approx(0.7)
    # And the identity ALIFT = p/2 + (1 - p) * AUC, with p = 2/5.
    assert ev.alift(Y, S) == pytest.approx(0.4 / 2 + 0.6 * 5 / 6)


def test_top_decile_lift_compares_the_top_tenth_with_the_overall_rate():
    # The top 10 % is half of the first customer, a positive: rate 1 against 0.4 overall.
    assert ev.top_decile_lift(Y, S) == pytest.approx(2.5)


def test_brier_is_the_mean_squared_error():
    assert ev.brier(Y, S) == pytest.approx((0.01 + 0.64 + 0.09 + 0.09 + 0.01) / 5)


def test_ties_count_as_a_random_order_within_the_tie():
    constant = np.full(5, 0.3)
    assert ev.roc_auc(Y, constant) == pytest.approx(0.5)
    assert ev.alift(Y, constant) == pytest.approx(0.5)
    assert ev.top_decile_lift(Y, constant) == pytest.approx(1.0)
    y = np.array([1, 0, 0, 1], dtype=float)
    s = np.array([0.5, 0.5, 0.2, 0.2])
    # Blocks {1, 0} and {0, 1}: half the positives in the first half, a straight line.
    assert ev.alift(y, s) == pytest.approx(0.5)
    assert ev.roc_auc(y, s) == pytest.approx(0.5)


def test_alift_matches_its_identity_with_auc_on_random_scores():
    rng = np.random.default_rng(1)
    y = (rng.random(500) < 0.2).astype(float)
    s = np.round(rng.random(500) + 0.3 * y, 2)  # rounding makes ties
    p = y.mean()
    assert ev.alift(y, s) == pytest.approx(p / 2 + (1 - p) * ev.roc_auc(y, s))


def test_metrics_of_one_class_are_none():
    ones = np.ones(4)
    assert ev.roc_auc(ones, np.arange(4.0)) is None
    assert ev.alift(ones, np.arange(4.0)) is None
    assert ev.scores_evaluate(ones, np.full(4, 0.5))["roc_auc_se"] is None


def test_the_auc_standard_error_follows_hanley_and_mcneil():
    # A = 0.8, 20 positives, 80 negatives: Q1 = 0.8/1.2, Q2 = 1.28/1.8.
    q1, q2 = 0.8 / 1.2, 1.28 / 1.8
    expected = np.sqrt((0.16 + 19 * (q1 - 0.64) + 79 * (q2 - 0.64)) / 1600)
    assert ev.roc_auc_se(0.8, 20, 80) == pytest.approx(expected)
    assert expected == pytest.approx(0.0627, abs=1e-4)


def test_scores_evaluate_reports_every_scalar_metric():
    metrics = ev.scores_evaluate(Y, S)
    assert set(metrics) == {
        "roc_auc",
        "roc_auc_se",
        "pr_auc",
        "alift",
        "top_decile_lift",
        "brier",
        "mean_prediction",
    }
    assert "brier" not in ev.scores_evaluate(Y, S, probabilities=False)


def test_curves_are_downsampled_for_charts():
    rng = np.random.default_rng(0)
    y = (rng.random(5000) < 0.1).astype(float)
    s = rng.random(5000) + 0.5 * y
    gains = ev.gains_curve(y, s)
    assert len(gains["x"]) == 51
    assert gains["x"][0] == 0.0
    assert gains["y"][0] == 0.0
    assert gains["y"][-1] == 1.0
    assert np.all(np.diff(gains["y"]) >= 0)
    roc = ev.roc_points(y, s)
    assert len(roc["fpr"]) <= 50
    assert (roc["fpr"][0], roc["tpr"][0], roc["fpr"][-1], roc["tpr"][-1]) == (0.0, 0.0, 1.0, 1.0)
    calibration = ev.calibration_points(y, np.clip(s / 1.5, 0, 1))
    assert len(calibration["predicted"]) == len(calibration["observed"]) == 10


def test_segment_aucs_skip_segments_with_one_class():
    y = np.array([1, 0, 1, 0, 0, 0], dtype=float)
    s = np.array([0.9, 0.1, 0.2, 0.8, 0.5, 0.4])
    segments = np.array(["a", "a", "b", "b", "c", "c"])
    out = ev.segment_aucs(y, s, segments)
    assert out == {
        "a": {"auc": 1.0, "rows": 2, "positives": 1},
        "b": {"auc": 0.0, "rows": 2, "positives": 1},
    }


def test_popularity_is_the_smoothed_take_up_rate_by_products_held():
    train = pd.DataFrame({"products_held": [0.0, 0.0, 1.0, 1.0]})
    test = pd.DataFrame({"products_held": [0.0, 1.0, 7.0]})
    y = np.array([1, 0, 0, 0], dtype=float)
    prior = ev.POPULARITY_PRIOR_ROWS
    rates = ev.baseline_popularity(train=train, train_labels=y, test=test)
    overall = 0.25
    assert rates[0] == pytest.approx((1 + prior * overall) / (2 + prior))
    assert rates[1] == pytest.approx((0 + prior * overall) / (2 + prior))
    assert rates[2] == pytest.approx(overall)  # 5 or more: no training rows, the overall rate


def test_the_logistic_baseline_learns_a_simple_signal_and_is_seeded():
    rng = np.random.default_rng(3)
    n = 600
    frame = pd.DataFrame(
        {
            "logins_30d": rng.poisson(3, n).astype(float),
            "income": np.where(rng.random(n) < 0.1, np.nan, rng.lognormal(10, 1, n)),
            "holds_savings": rng.random(n) < 0.5,
            "region": rng.choice(["North", "South"], n).astype(object),
        },
        index=pd.Index(np.arange(n) % 400, name="customer_id"),  # customers repeat, as across cut-offs
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-(frame["logins_30d"] - 4)))).astype(float)
    train, test = frame.iloc[:400], frame.iloc[400:]
    features = list(frame.columns)
    first = ev.baseline_logistic(train=train, train_labels=y[:400], test=test, features=features, seed=1)
    again = ev.baseline_logistic(train=train, train_labels=y[:400], test=test, features=features, seed=1)
    np.testing.assert_array_equal(first, again)
    assert ev.roc_auc(y[400:], first) > 0.75
