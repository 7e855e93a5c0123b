"""The campaign bench's scale-up of the bank (bench/pg_demo.py ``clone_sql``): clones
carry their original's rows under new ids, on PostgreSQL (the bench's database)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest
from django.db import connection

from customers.models import Account, AccountHolder, Consent, ContactDetails, ContactHistory, Customer
from modeling.models import OnlineFeatures
from tests.factories.customers import (
    AccountFactory,
    AccountHolderFactory,
    ConsentFactory,
    ContactDetailsFactory,
    ContactHistoryFactory,
    CustomerFactory,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from pg_demo import clone_sql, scaled_template, table_columns_sql  # noqa: E402

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def _clone(extra: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(table_columns_sql())
        columns: dict[str, list[str]] = {}
        for (line,) in cursor.fetchall():
            table, column = line.split("|")
            columns.setdefault(table, []).append(column)
        for statement in clone_sql(columns, extra=extra):
            cursor.execute(statement)


@pytest.fixture
def bank() -> tuple[Customer, Customer]:
    """Two customers holding a joint account, each with contact details, a consent,
    an offer in the contact history and an online feature row."""
    ann, bob = CustomerFactory(external_id="C1"), CustomerFactory(external_id="C2")
    for customer, email in ((ann, "ann@example.org"), (bob, "bob@example.org")):
        ContactDetailsFactory(customer=customer, first_name=customer.external_id, email=email)
        ConsentFactory(customer=customer)
        ContactHistoryFactory(customer=customer, offered_at=NOW)
        OnlineFeatures.objects.create(
            customer=customer,
            values={"age": 40, "who": customer.external_id},
            cutoff=NOW.date(),
            known_at=NOW,
            refreshed_at=NOW,
        )
    joint = AccountFactory(customer=ann, external_id="A1")
    AccountHolderFactory(account=joint, customer=bob)
    AccountFactory(customer=bob, external_id="A2")
    return ann, bob


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the bench clones in PostgreSQL's SQL")
def test_it_adds_the_customers_asked_for_with_their_rows(bank: tuple[Customer, Customer]) -> None:
    # Given two customers; when five are added (copies 1, 2 and 3, the last one partial)
    _clone(5)

    # Then clones are in copy order, with bank ids naming their original and copy
    ids = list(Customer.objects.order_by("pk").values_list("external_id", flat=True))
    assert ids == ["C1", "C2", "C1-1", "C2-1", "C1-2", "C2-2", "C1-3"]
    assert Customer.objects.values("public_id").distinct().count() == 7
    # each with its own e-mail address and the original's other rows
    assert ContactDetails.objects.get(customer__external_id="C2-2").email == "bob+2@example.org"
    assert ContactDetails.objects.get(customer__external_id="C1-3").first_name == "C1"
    assert Consent.objects.count() == 7
    assert ContactHistory.objects.count() == 7
    assert ContactHistory.objects.values("external_id").distinct().count() == 7
    assert OnlineFeatures.objects.get(customer__external_id="C2-1").values == {"age": 40, "who": "C2"}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the bench clones in PostgreSQL's SQL")
def test_it_clones_accounts_and_joint_holders_within_a_copy(bank: tuple[Customer, Customer]) -> None:
    _clone(3)

    # Copy 1 is whole: its joint account is held by both clones.
    joint = Account.objects.get(external_id="A1-1")
    assert joint.customer.external_id == "C1-1"
    holders = AccountHolder.objects.filter(account=joint).values_list("customer__external_id", flat=True)
    assert sorted(holders) == ["C1-1", "C2-1"]
    # Copy 2 has C1 only: the account is cloned, its holder from outside the copy is not.
    assert list(
        AccountHolder.objects.filter(account__external_id="A1-2").values_list("customer__external_id", flat=True)
    ) == ["C1-2"]
    assert not Account.objects.filter(external_id="A2-2").exists()
    assert Account.objects.count() == 2 + 3


def test_it_names_templates_by_size() -> None:
    assert scaled_template(100_000) == "crossell_demo_100k"
    assert scaled_template(2_500) == "crossell_demo_2500"


def test_it_adds_nothing_when_the_bank_is_big_enough() -> None:
    assert clone_sql({}, extra=0) == []


def test_busy_time_leaves_out_the_pauses_between_stretches() -> None:
    from campaign_bench import busy_seconds

    # Two stretches of events one second apart, with a minute's pause between them.
    stamps = [0.0, 1.0, 2.0, 3.0, 63.0, 64.0, 65.0]
    # 3 + 2 seconds between events, plus one median interval (1 s) per stretch.
    assert busy_seconds(stamps, gap=10.0) == 7.0
    assert busy_seconds([5.0], gap=10.0) == 0.0
    assert busy_seconds([], gap=10.0) == 0.0
