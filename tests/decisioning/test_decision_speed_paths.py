"""The decision API's fast paths give what the slow ones give."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from decisioning.apis import DecisionInputSerializer, decision_input_plain
from decisioning.inputs import caches_clear, customer_facts, customer_facts_one
from tests.decisioning.decision_setup import decision_bank_build

PLAIN = {"customer_id": "C000001", "channel": "web", "context": {"page": "home"}, "max_results": 3}


def serializer_says(data: object) -> dict | None:
    serializer = DecisionInputSerializer(data=data)
    return dict(serializer.validated_data) if serializer.is_valid() else None


@pytest.mark.parametrize(
    "data",
    [
        PLAIN,
        {"customer_id": "C000001", "channel": "email"},
        {"customer_id": "C000001", "channel": "push", "max_results": 25, "debug": True},
        {"customer_id": "C000001", "channel": "call_centre", "context": {}, "debug": False},
    ],
)
def test_a_plain_request_is_validated_as_the_serializer_would(data):
    assert decision_input_plain(data) == serializer_says(data)
    assert decision_input_plain(data) is not None


@pytest.mark.parametrize(
    "data",
    [
        [PLAIN],
        {**PLAIN, "surprise": 1},
        {**PLAIN, "customer_id": " C000001"},
        {**PLAIN, "customer_id": ""},
        {**PLAIN, "customer_id": "x" * 65},
        {**PLAIN, "customer_id": "C\x00001"},
        {**PLAIN, "customer_id": "C\ud800"},
        {**PLAIN, "customer_id": "Zoë"},
        {**PLAIN, "customer_id": 1},
        {**PLAIN, "channel": "fax"},
        {**PLAIN, "channel": None},
        {**PLAIN, "context": None},
        {**PLAIN, "context": "page"},
        {**PLAIN, "max_results": 0},
        {**PLAIN, "max_results": 26},
        {**PLAIN, "max_results": "3"},
        {**PLAIN, "max_results": True},
        {**PLAIN, "max_results": 3.0},
        {**PLAIN, "debug": "true"},
        {**PLAIN, "debug": None},
        {"channel": "web"},
    ],
)
def test_anything_unusual_is_left_to_the_serializer(data):
    assert decision_input_plain(data) is None


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=70),
    st.sampled_from(["web", "email", "push", "call_centre", "sms", "C000001", " C1", "3", "true"]),
    st.dictionaries(st.sampled_from(["page", "reason"]), st.text(max_size=5), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["customer_id", "channel", "context", "max_results", "debug", "other"]), _values, max_size=6
    )
)
def test_the_fast_path_never_disagrees_with_the_serializer(data):
    fast = decision_input_plain(data)
    if fast is not None:
        assert fast == serializer_says(data)


@pytest.mark.django_db
def test_facts_read_by_bank_id_are_those_read_in_bulk():
    world = decision_bank_build()
    caches_clear()
    now = timezone.now()
    with transaction.atomic():
        locked = customer_facts_one(world.customer.external_id, now=now, lookback_days=90, lock=True)
    unlocked = customer_facts_one(world.customer.external_id, now=now, lookback_days=90, lock=False)
    bulk = customer_facts([world.customer], now=now, lookback_days=90)[world.customer.pk]
    assert locked is not None
    assert unlocked is not None
    for facts in (locked, unlocked):
        assert facts.customer.pk == bulk.customer.pk
        assert facts.consents == bulk.consents
        assert facts.held == bulk.held
        assert facts.contacts == bulk.contacts
        assert facts.segments == bulk.segments
    assert customer_facts_one("NO-SUCH-ID", now=now, lookback_days=90, lock=True) is None


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_the_hot_statements_are_prepared_once_per_connection():
    world = decision_bank_build()
    caches_clear()
    for _ in range(2):
        with transaction.atomic():
            customer_facts_one(world.customer.external_id, now=timezone.now(), lookback_days=90, lock=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")
        statements = [row[0] for row in cursor.fetchall()]
    assert sum(s.startswith("SELECT id FROM customers_customer") for s in statements) == 1  # the lock
    assert sum("customers_contacthistory" in s for s in statements) == 1


def _decide(world, channel: str = "web"):
    from decisioning.decisions import decision_make

    return decision_make(customer_id=world.customer.external_id, channel=channel, now=timezone.now())


@pytest.mark.django_db(transaction=True)
def test_a_decision_in_its_own_transaction_is_committed_with_its_contacts_and_the_hooks_run():
    from customers.models import ContactHistory
    from decisioning.models import Decision

    world = decision_bank_build()
    caches_clear()
    ran: list[str] = []
    outcome = _decide(world)
    transaction.on_commit(lambda: ran.append("after"))  # autocommit: runs at once
    assert ran == ["after"]
    assert not connection.in_atomic_block
    if connection.vendor == "postgresql":
        assert connection.connection.info.transaction_status.name == "IDLE"
    assert outcome.decision.pk == Decision.objects.get(public_id=outcome.decision.public_id).pk
    assert outcome.result["offers"]
    assert ContactHistory.objects.filter(source="decision").count() == len(outcome.result["offers"])


@pytest.mark.django_db(transaction=True)
def test_a_decision_inside_a_callers_transaction_is_rolled_back_with_it():
    from customers.models import ContactHistory
    from decisioning.models import Decision

    world = decision_bank_build()
    caches_clear()
    hooks: list[str] = []
    offers: list[dict] = []

    def callers_work() -> None:
        with transaction.atomic():
            transaction.on_commit(lambda: hooks.append("caller"))
            offers.extend(_decide(world).result["offers"])
            raise RuntimeError("the caller changes its mind")

    with pytest.raises(RuntimeError):
        callers_work()
    assert offers
    assert hooks == []
    assert not Decision.objects.exists()
    assert not ContactHistory.objects.filter(source="decision").exists()


@pytest.mark.django_db
def test_contacts_come_out_of_the_query_as_the_engine_reads_them_in_python():
    import datetime as dt

    from customers.models import ContactHistory, Product
    from decisioning.inputs import INBOUND_CALL_CAMPAIGN, SERVICE_CAMPAIGN_PREFIX, _contact_row

    world = decision_bank_build()
    caches_clear()
    now = timezone.now().replace(microsecond=500_000)
    product = Product.objects.order_by("pk").first()
    rows = [  # offered (seconds ago, microseconds), channel, campaign, responded (seconds from now)
        (3600, 0, "email", "nba:email", None),
        (3500, 123_400, "email", "spring", -60),
        (3400, 5, "web", "nba:web", 0),  # answered at the decision's own instant: counted
        (3300, 999_999, "phone", INBOUND_CALL_CAMPAIGN, 30),  # answered after the decision's clock: not yet
        (3200, 0, "app_push", f"{SERVICE_CAMPAIGN_PREFIX}service", None),
    ]
    for i, (ago, micro, channel, campaign, answered) in enumerate(rows):
        offered = (now - dt.timedelta(seconds=ago)).replace(microsecond=micro)
        ContactHistory.objects.create(
            external_id=f"iso-{i}",
            customer=world.customer,
            product=product,
            campaign_code=campaign,
            channel=channel,
            offered_at=offered,
            outcome="accepted" if answered is not None else "pending",
            responded_at=None if answered is None else now + dt.timedelta(seconds=answered),
            received_at=offered,
        )
    expected = [
        _contact_row(h.offered_at, h.channel, product.code, h.outcome, h.responded_at, h.campaign_code, now)
        for h in ContactHistory.objects.filter(customer=world.customer).order_by("offered_at", "id")
    ]
    with transaction.atomic():
        facts = customer_facts_one(world.customer.external_id, now=now, lookback_days=90, lock=True)
    assert facts is not None
    assert [list(c) for c in facts.contacts] == [list(c) for c in expected]
    assert [c[4] is None for c in facts.contacts[-5:]] == [True, False, False, True, True]
    assert {c[0][19:] for c in facts.contacts[-5:]} == {"+00:00", ".123400+00:00", ".000005+00:00", ".999999+00:00"}
