"""Reasons: the features that raised a score the most, in words, never a protected one."""

from __future__ import annotations

import numpy as np
import pytest

from modeling import reasons
from modeling.reasons import (
    MAX_REASONS,
    product_names_by_key,
    product_names_clear,
    reason_text,
    reasons_from_contributions,
)
from modeling.registry import active_models
from modeling.scoring import product_reasons
from modeling.snapshots import feature_snapshot_load
from tests.factories.customers import ProductFactory
from tests.modeling.scoring_setup import bank_build, caches_clear

NAMES = {"home_mortgage": "Home mortgage", "travel_card": "Travel card"}
FEATURES = (
    "views_7d_home_mortgage",
    "gender",  # protected: fairness tests only
    "age",  # rules only
    "logins_30d",
    "avg_balance_3m",
    "holds_card",
    "complaints_90d",
    "views_30d_travel_card",
)
ROW = {
    "views_7d_home_mortgage": 3.0,
    "gender": "female",
    "age": 41.0,
    "logins_30d": 12.0,
    "avg_balance_3m": 15250.4,
    "holds_card": False,
    "complaints_90d": 0.0,
    "views_30d_travel_card": 1.0,
}


def _reasons(contributions, **kw):
    return reasons_from_contributions(
        contributions=np.asarray(contributions), features=FEATURES, row=ROW, product_names=NAMES, **kw
    )


def test_reasons_are_the_largest_positive_contributions_largest_first():
    #                gender and age contribute the most but may never be reasons; last value is the bias
    reasons = _reasons([0.4, 2.0, 1.5, 0.9, 0.1, -0.3, 0.0, 0.2, 5.0])

    assert [r.feature for r in reasons] == [
        "logins_30d",
        "views_7d_home_mortgage",
        "views_30d_travel_card",
        "avg_balance_3m",
    ]
    assert [r.contribution for r in reasons] == [0.9, 0.4, 0.2, 0.1]
    assert len(reasons) == MAX_REASONS


def test_protected_and_rules_only_features_are_never_reasons():
    reasons = _reasons([0.0, 9.0, 8.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])

    assert reasons == ()


def test_negative_and_zero_contributions_are_not_reasons_and_the_limit_holds():
    reasons = _reasons([-0.4, 0.0, 0.0, 0.3, -1.0, 0.0, 0.0, 0.2, 0.0], limit=1)

    assert [r.feature for r in reasons] == ["logins_30d"]


def test_a_per_product_feature_names_the_product():
    reasons = _reasons([0.5, 0, 0, 0, 0, 0, 0, 0.3, 0])

    assert [r.text for r in reasons] == [
        "Viewed the Home mortgage page 3 times in the last 7 days",
        "Viewed the Travel card page 1 time in the last 30 days",
    ]
    assert reasons[0].value == 3.0


def test_reason_texts_read_as_sentences_with_the_customers_value(settings):
    settings.BASE_CURRENCY = "EUR"

    assert reason_text("avg_balance_3m", 15250.4) == "Average balance of 15,250 EUR over the last 3 months"
    assert reason_text("logins_30d", 12.0) == "Logged in 12 times in the last 30 days"
    assert reason_text("holds_card", False) == "Holds no cards yet"
    assert reason_text("no_recent_login", False) == "Logged in recently"
    assert reason_text("spend_share_groceries_90d", 0.25) == "25% of the last 90 days' spending went on groceries"
    assert reason_text("employment_type", "self_employed") == "Employment type: self employed"
    # a feature without its own phrasing: the catalogue's description and the value
    assert reason_text("days_overdrawn_3m", 2.0) == "Days overdrawn over the last 3 complete months, all accounts: 2"


@pytest.mark.django_db
def test_product_names_come_from_the_products_and_follow_new_ones(monkeypatch):
    product_names_clear()
    ProductFactory(code="HOME-MORTGAGE", name="Home mortgage")
    assert product_names_by_key()["home_mortgage"] == "Home mortgage"
    # a product added later is found when a feature names it, once a few seconds have passed
    ProductFactory(code="GREEN_LOAN", name="Green home loan")
    assert reason_text("views_7d_green_loan", 2.0) == "Viewed the GREEN_LOAN page 2 times in the last 7 days"
    monkeypatch.setattr(reasons, "_names_loaded_at", reasons._names_loaded_at - 6.0)
    assert reason_text("views_7d_green_loan", 2.0) == "Viewed the Green home loan page 2 times in the last 7 days"
    product_names_clear()


def test_reasons_of_a_real_model_explain_with_its_own_features(settings, tmp_path, db):
    settings.MODEL_DIR = tmp_path
    bank = bank_build()
    product_names_clear()
    try:
        mortgage = bank.products[0]
        model = active_models()[mortgage.pk]
        frame = feature_snapshot_load(bank.snapshot, customer_ids=[bank.customers[2].pk])

        reasons = product_reasons(frame, model)

        assert 0 < len(reasons) <= MAX_REASONS
        assert all(r.contribution > 0 for r in reasons)
        assert "Viewed the Home mortgage page 4 times in the last 7 days" in [r.text for r in reasons]
    finally:
        caches_clear()


def test_contact_history_features_read_as_what_happened_to_offers():
    names = {"loan": "Personal loan"}

    assert reason_text("rejected_365d_loan", 1.0, product_names=names) == (
        "Turned down 1 offer of the Personal loan in the last year"
    )
    assert (
        reason_text("offers_365d_loan", 3.0, product_names=names)
        == "Offered the Personal loan 3 times in the last year"
    )
    assert reason_text("offers_90d", 2.0) == "Received 2 offers in the last 90 days"
    assert reason_text("days_since_last_offer", 12.0) == "Last offer 12 days ago"
    assert reason_text("campaigns_365d", 1.0) == "Reached by 1 campaign in the last year"
