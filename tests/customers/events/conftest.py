"""A small bank for the event API tests: one customer with an account and a product."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from core.services import api_client_create
from customers.models import Account, Customer, Product
from tests.factories.customers import AccountFactory, CustomerFactory, ProductFactory

URL = "/api/v1/events"


@dataclass
class Bank:
    customer: Customer
    account: Account
    product: Product


@pytest.fixture
def bank(db) -> Bank:
    customer = CustomerFactory(external_id="C000123")
    product = ProductFactory(code="MORTGAGE")
    account = AccountFactory(external_id="A0000456", customer=customer)
    return Bank(customer=customer, account=account, product=product)


def transaction_event(n: int = 1, **data: Any) -> dict[str, Any]:
    return {
        "event_id": f"evt-txn-{n}",
        "type": "transaction",
        "occurred_at": "2025-03-14T09:26:53+00:00",
        "customer_id": "C000123",
        "data": {
            "transaction_id": f"T{n:011d}",
            "account_id": "A0000456",
            "amount": "-42.80",
            "currency": "EUR",
            "category": "groceries",
            "mcc": "5411",
            "channel": "card_present",
            **data,
        },
    }


def interaction_event(n: int = 1, **data: Any) -> dict[str, Any]:
    return {
        "event_id": f"evt-int-{n}",
        "type": "interaction",
        "occurred_at": "2025-03-14T19:02:11+00:00",
        "customer_id": "C000123",
        "data": {"channel": "app", "event_type": "product_page_view", "product_code": "MORTGAGE", **data},
    }


def credit_score_event(n: int = 1, **data: Any) -> dict[str, Any]:
    return {
        "event_id": f"evt-cs-{n}",
        "type": "credit_score",
        "occurred_at": "2025-02-01T08:00:00+00:00",
        "customer_id": "C000123",
        "data": {"score": 712, **data},
    }


def consent_event(n: int = 1, **data: Any) -> dict[str, Any]:
    return {
        "event_id": f"evt-con-{n}",
        "type": "consent",
        "occurred_at": "2025-03-01T10:00:00+00:00",
        "customer_id": "C000123",
        "data": {"channel": "email", "purpose": "marketing", "status": "withdrawn", **data},
    }


def kyc_event(n: int = 1, occurred_at: str = "2025-03-31T23:30:00+00:00", **data: Any) -> dict[str, Any]:
    return {
        "event_id": f"evt-kyc-{n}",
        "type": "kyc_status",
        "occurred_at": occurred_at,
        "customer_id": "C000123",
        "data": {"kyc_status": "expired", **data},
    }


def batch(*events: dict[str, Any]) -> dict[str, Any]:
    return {"events": list(events)}


@pytest.fixture
def core_banking(db):
    """The bank's core system: sends events including KYC and sanctions changes."""
    from tests.conftest import Channel

    client, token = api_client_create(name="core-banking", scopes=["events", "kyc"], actor=None)
    return Channel(client=client, token=token)
