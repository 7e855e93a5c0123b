"""The feature catalogue: everything computed is declared, protected attributes
never reach a model, and docs/features.md is generated from it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from modeling.feature_catalogue import CATALOGUE, Kind, Use, feature_get, model_feature_names, render_features_doc
from modeling.features import compute_features
from tests.factories.customers import (
    AccountFactory,
    CustomerFactory,
    InteractionFactory,
    MonthlyBalanceFactory,
    ProductFactory,
    TransactionFactory,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "features.md"
PROTECTED = {"gender", "marital_status", "age", "age_band"}


def test_every_computed_column_is_declared(db):
    customer = CustomerFactory()
    account = AccountFactory(customer=customer, product=ProductFactory(code="MG-FIX 5"))
    TransactionFactory(account=account, booked_at=dt.datetime(2025, 6, 1, tzinfo=dt.UTC))
    InteractionFactory(customer=customer, occurred_at=dt.datetime(2025, 6, 1, tzinfo=dt.UTC))
    MonthlyBalanceFactory(account=account, month=dt.date(2025, 5, 1))

    frame = compute_features(cutoff=dt.date(2025, 7, 1))

    for column in frame.columns:
        feature_get(column)
    assert "views_7d_mg_fix_5" in frame.columns
    assert len(frame.columns) == len(set(frame.columns))


def test_an_undeclared_name_is_refused_by_name():
    with pytest.raises(KeyError, match="'favourite_colour' is not declared"):
        feature_get("favourite_colour")


def test_model_features_exclude_protected_and_rules_only_attributes():
    names = set(model_feature_names())

    assert PROTECTED.isdisjoint(names)
    assert {f.name for f in CATALOGUE if f.use is Use.FAIRNESS_ONLY} == {"gender", "marital_status", "age_band"}
    assert {"avg_balance_3m", "income", "credit_score", "holds_mortgage", "region"} <= names


def test_model_features_of_a_frame_keep_its_per_product_columns_and_drop_protected_ones():
    columns = ["views_7d_mortgage", "market_base_rate", "gender", "age", "income"]

    assert model_feature_names(columns) == ["views_7d_mortgage", "market_base_rate", "income"]


def test_every_declaration_is_complete():
    for f in CATALOGUE:
        assert f.description, f.name
        assert f.source, f.name
        assert f.missing, f.name
        if f.indicator:
            assert feature_get(f.indicator).kind is Kind.BOOLEAN, f.name
        if f.kind is Kind.CATEGORICAL and f.categories:
            assert f.fill in f.categories, f.name


def test_the_features_document_is_up_to_date():
    assert DOC.read_text(encoding="utf-8") == render_features_doc(), (
        "run: DJANGO_SETTINGS_MODULE=config.settings python -m modeling.feature_catalogue > docs/features.md"
    )
