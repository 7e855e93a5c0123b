"""A small bank with real, tiny propensity models, for the scoring tests.

Sixty customers view three products' pages a known number of times in the week
before the cut-off; a customer "takes up" a product when they viewed its page at
least twice, so each model learns from the views of its own product and reasons
have something true to say. Models are trained with ``propensity_fit`` and
saved with ``model_save`` like real ones, then registered active.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
from django.conf import settings

from customers import choices
from customers.models import Customer, Interaction, Product
from modeling.feature_catalogue import feature_key
from modeling.models import FeatureSnapshot, ModelStatus, ModelVersion
from modeling.propensity import FORMAT_VERSION, artifact_name, model_save, propensity_fit
from modeling.registry import active_models_clear
from modeling.scoring import scoring_caches_clear
from modeling.snapshots import feature_snapshot_build, feature_snapshot_load
from tests.factories.customers import CustomerFactory, InteractionFactory, ProductFactory

CUTOFF = dt.date(2026, 3, 1)
NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
PRODUCTS = (
    ("HOME_MORTGAGE", "Home mortgage", choices.ProductFamily.MORTGAGE),
    ("TRAVEL_CARD", "Travel card", choices.ProductFamily.CARD),
    ("EASY_SAVER", "Easy saver", choices.ProductFamily.SAVINGS),
)
TINY = {
    "num_leaves": 4,
    "min_data_in_leaf": 3,
    "min_data_per_group": 3,
    "learning_rate": 0.3,
    "feature_fraction": 1.0,
    "bagging_fraction": 1.0,
    "num_boost_round": 25,
    "early_stopping_rounds": 10,
    "num_threads": 1,  # OpenMP threads only wait on each other on a few dozen rows
}


@dataclass
class Bank:
    products: list[Product]
    customers: list[Customer]
    snapshot: FeatureSnapshot
    versions: dict[str, ModelVersion]  # product code -> active version


def views_of(index: int, product_index: int) -> int:
    """Page views of product ``product_index`` by customer ``index`` in the last week."""
    return (index * 7 + product_index * 3) % 5


def caches_clear() -> None:
    active_models_clear()
    scoring_caches_clear()


def customers_build(n: int, products: list[Product], *, first: int = 0) -> list[Customer]:
    customers = [
        CustomerFactory(income=Decimal(20_000 + 1_000 * i), customer_since=dt.date(2020, 1, 1) + dt.timedelta(days=i))
        for i in range(first, first + n)
    ]
    views = []
    for offset, customer in enumerate(customers):
        i = first + offset
        for k, product in enumerate(products):
            for v in range(views_of(i, k)):
                views.append(
                    InteractionFactory.build(
                        customer=customer,
                        product=product,
                        event_type=choices.InteractionType.PRODUCT_PAGE_VIEW,
                        channel=choices.InteractionChannel.WEB,
                        occurred_at=dt.datetime(2026, 2, 25, 10 + v, tzinfo=dt.UTC),
                    )
                )
    Interaction.objects.bulk_create(views)
    return customers


def model_register(product: Product, snapshot: FeatureSnapshot, *, version: int = 1, labels=None, status=None):
    """Train, save and register one product's model on the snapshot."""
    frame = feature_snapshot_load(snapshot)
    if labels is None:
        labels = (frame[f"views_7d_{feature_key(product.code)}"] >= 2).to_numpy(dtype=float)
    fitted = propensity_fit(
        frame=frame, labels=labels, periods=np.zeros(len(frame)), product_code=product.code, seed=42, params=TINY
    )
    directory = Path(settings.MODEL_DIR) / "models" / product.code / artifact_name(version)
    path, sha = model_save(fitted=fitted, directory=directory, manifest_extra={})
    return ModelVersion.objects.create(
        product=product,
        version=version,
        status=status or ModelStatus.ACTIVE,
        artifact_path=str(path.relative_to(settings.MODEL_DIR)),
        artifact_sha256=sha,
        format_version=FORMAT_VERSION,
        data_fingerprint=snapshot.data_fingerprint,
        features=list(fitted.model.features),
        seed=42,
    )


def bank_build(n_customers: int = 60, *, now: dt.datetime = NOW) -> Bank:
    caches_clear()
    products = [ProductFactory(code=code, name=name, family=family) for code, name, family in PRODUCTS]
    customers = customers_build(n_customers, products)
    snapshot = feature_snapshot_build(cutoff=CUTOFF, now=now)
    versions = {product.code: model_register(product, snapshot) for product in products}
    return Bank(products=products, customers=customers, snapshot=snapshot, versions=versions)
