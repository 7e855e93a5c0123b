"""Event triggers: definitions as data, compiled into durable-rules, evaluated on events."""

from __future__ import annotations

import builtins
import datetime as dt
import threading
import time
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from campaigns import outbox
from campaigns.models import Campaign, CampaignSchedule, CampaignStatus, Delivery, Trigger, TriggerFiring
from campaigns.triggers import trigger_create, trigger_set_active, trigger_update, triggers_evaluate
from core.models import AuditEvent
from customers.models import Customer, InboundEvent
from decisioning.triggers import (
    TriggerValidationError,
    trigger_check,
    trigger_compile,
    trigger_evaluate,
    trigger_facts_held,
    trigger_validate,
)
from tests.factories.customers import AccountFactory, CustomerFactory, InteractionFactory, ProductFactory

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def refused(definition: Any) -> list[tuple[str, str]]:
    with pytest.raises(TriggerValidationError) as caught:
        trigger_validate(definition)
    return caught.value.errors


def pointers(definition: Any) -> list[str]:
    return [pointer for pointer, _ in refused(definition)]


# --- validation -----------------------------------------------------------------------------------------------------


def test_defaults_are_filled_in_so_the_stored_definition_says_everything():
    assert trigger_validate({"kind": "salary_up"}) == {
        "kind": "salary_up",
        "percent": 20,
        "months": 3,
        "within_days": 35,
        "categories": ["salary"],
    }
    assert trigger_validate({"kind": "large_deposit", "amount": 10000})["amount"] == "10000.00"


def test_each_bad_node_is_named_by_its_json_pointer():
    definition = {
        "any": [
            {"kind": "salary_up", "percent": -5},
            {"all": [{"kind": "page_views", "days": 0}, {"kind": "teleport"}]},
            {"kind": "large_deposit"},
            {"kind": "page_views", "colour": "red"},
            "views",
        ]
    }
    assert pointers(definition) == [
        "/any/0/percent",
        "/any/1/all/0/days",
        "/any/1/all/1/kind",
        "/any/2/amount",
        "/any/3/colour",
        "/any/4",
    ]


@pytest.mark.parametrize(
    ("definition", "pointer", "words"),
    [
        ({"all": []}, "/all", "non-empty list"),
        ({"all": [{"kind": "salary_up"}], "any": [{"kind": "salary_up"}]}, "", "one key"),
        ({"kind": "page_views", "event_types": ["login", "hack"]}, "/event_types/1", "not one of"),
        ({"kind": "page_views", "product_code": "__import__('os')"}, "/product_code", "product code"),
        ({"kind": "page_views", "product_code": "MORT", "product_family": "mortgage"}, "/product_family", "not both"),
        ({"kind": "large_deposit", "amount": "12.345"}, "/amount", "2 decimals"),
        ({"kind": "large_deposit", "amount": "lots"}, "/amount", "not an amount"),
        ({"kind": "large_deposit", "amount": 100, "currency": "euro"}, "/currency", "ISO 4217"),
        ({"kind": "salary_up", "months": True}, "/months", "whole number"),
        ({"all": [{"any": [{"all": [{"kind": "salary_up"}]}]}]}, "/all/0/any/0/all/0", "nests at most"),
    ],
)
def test_a_bad_definition_is_refused_naming_the_node(definition, pointer, words):
    errors = refused(definition)
    assert errors[0][0] == pointer
    assert words in errors[0][1]


def test_a_definition_that_is_not_plain_json_is_refused():
    assert pointers({"kind": "salary_up", "percent": float("nan")}) == [""]
    assert pointers({"kind": "salary_up", "percent": Decimal("20")}) == [""]


def test_too_many_conditions_are_refused():
    errors = refused({"any": [{"kind": "salary_up"} for _ in range(12)]})
    assert any("at most 10 conditions" in message for _, message in errors)


def test_compiling_and_evaluating_never_runs_code(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("code was run")

    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, forbidden)
    compiled = trigger_compile({"any": [{"kind": "salary_up"}, {"kind": "page_views"}]}, key="no-code-v1")
    assert trigger_evaluate(compiled, {"m0": 25.0, "m1": 0}) is True
    assert trigger_evaluate(compiled, {"m0": 5.0, "m1": 2}) is False
    # the rule is plain comparisons of named measures with numbers
    assert compiled.rule == {"$or": [{"$gt": {"m0": 20.0}}, {"$gte": {"m1": 3}}]}


# --- the engine -----------------------------------------------------------------------------------------------------


def test_all_and_any_combine_the_measures():
    compiled = trigger_compile(
        {
            "all": [
                {"kind": "page_views", "count": 3},
                {"any": [{"kind": "salary_up"}, {"kind": "large_deposit", "amount": 500}]},
            ]
        },
        key="combined-v1",
    )
    assert trigger_evaluate(compiled, {"m0": 3, "m1": 21.0, "m2": 0.0}) is True
    assert trigger_evaluate(compiled, {"m0": 3, "m1": None, "m2": 500.0}) is True
    assert trigger_evaluate(compiled, {"m0": 2, "m1": 50.0, "m2": 900.0}) is False
    assert trigger_evaluate(compiled, {"m0": 3, "m1": None, "m2": 499.99}) is False


def test_facts_are_retracted_after_every_evaluation_so_memory_stays_flat():
    compiled = trigger_compile({"kind": "page_views", "count": 3}, key="memory-v1")
    fired = sum(trigger_evaluate(compiled, {"m0": i % 6}) for i in range(5000))
    assert fired == sum(1 for i in range(5000) if i % 6 >= 3)
    assert trigger_facts_held(compiled) == []


def test_a_trigger_version_is_registered_once_per_process():
    first = trigger_compile({"kind": "salary_up"}, key="once-v1")
    again = trigger_compile({"kind": "salary_up", "percent": 20}, key="once-v1")
    edited = trigger_compile({"kind": "salary_up", "percent": 30}, key="once-v1")
    assert again is first
    assert edited.name != first.name


# --- measures from the database, at their boundaries ----------------------------------------------------------------


@pytest.fixture
def customer(db) -> Customer:
    return CustomerFactory(external_id="C-TRIG", income_currency="EUR")


@pytest.fixture
def account(customer):
    return AccountFactory(customer=customer, currency="EUR")


def credit(account, amount: str, at: dt.datetime, category: str = "salary", currency: str = "EUR"):
    from tests.factories.customers import TransactionFactory

    return TransactionFactory(
        account=account, amount=Decimal(amount), booked_at=at, category=category, currency=currency, channel="transfer"
    )


def check(definition: dict[str, Any], customer: Customer, key: str, now: dt.datetime = NOW):
    return trigger_check(trigger_compile(definition, key=key), customer=customer, now=now)


@pytest.mark.django_db
@pytest.mark.parametrize(("latest", "fires"), [("1200.00", False), ("1200.01", True), ("900.00", False)])
def test_salary_up_fires_only_above_the_percentage_of_the_previous_months(account, customer, latest, fires):
    # paid on the first of the month, or the next working day; November's is too old
    for day in (dt.date(2025, 11, 3), dt.date(2025, 12, 1), dt.date(2026, 1, 2), dt.date(2026, 2, 2)):
        amount = "700.00" if day.month == 11 else "1000.00"
        credit(account, amount, dt.datetime(day.year, day.month, day.day, 8, tzinfo=dt.UTC))
    credit(account, latest, dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC))
    result = check({"kind": "salary_up", "percent": 20, "months": 3}, customer, "salary-boundary")
    assert result.fired is fires
    evidence = result.evidence["/"]
    assert evidence["previous"] == 3
    assert evidence["average"] == "1000.00"


@pytest.mark.django_db
def test_salary_up_needs_history_and_a_recent_salary(account, customer):
    definition = {"kind": "salary_up", "within_days": 10}
    credit(account, "5000.00", NOW - DAY)
    assert check(definition, customer, "salary-history").fired is False  # nothing to compare with
    credit(account, "1000.00", NOW - 31 * DAY)
    assert check(definition, customer, "salary-history").fired is True
    # eleven days later the rise is old news
    assert check(definition, customer, "salary-history", now=NOW + 10 * DAY).fired is False
    # a bonus in another category is not salary
    credit(account, "9000.00", NOW, category="transfer_in")
    assert check(definition, customer, "salary-history").measures["m0"] == 400.0


@pytest.mark.django_db
def test_page_views_count_the_product_views_within_the_window(customer):
    mortgage = ProductFactory(code="MORT", family="mortgage")
    card = ProductFactory(code="CARD", family="card")
    definition = {"kind": "page_views", "count": 3, "days": 7, "product_family": "mortgage"}

    def view(at: dt.datetime, product=mortgage, event_type: str = "product_page_view"):
        InteractionFactory(customer=customer, occurred_at=at, product=product, event_type=event_type, channel="web")

    view(NOW - 7 * DAY - dt.timedelta(seconds=1))  # just outside
    view(NOW - DAY, product=card)
    view(NOW - DAY, event_type="login")
    view(NOW - 7 * DAY)  # just inside
    view(NOW - DAY)
    assert check(definition, customer, "views").fired is False
    assert check(definition, customer, "views").measures == {"m0": 2}
    view(NOW)
    assert check(definition, customer, "views").fired is True
    assert check({**definition, "product_family": None, "product_code": "CARD"}, customer, "views").fired is False


@pytest.mark.django_db
def test_a_large_deposit_counts_single_credits_in_the_customers_currency(account, customer):
    definition = {"kind": "large_deposit", "amount": "10000.00", "days": 3}
    credit(account, "9999.99", NOW - DAY, category="transfer_in")
    credit(account, "25000.00", NOW - DAY, category="transfer_in", currency="USD")
    credit(account, "-30000.00", NOW - DAY, category="transfer_out")
    credit(account, "50000.00", NOW - 3 * DAY - dt.timedelta(seconds=1), category="transfer_in")
    assert check(definition, customer, "deposit").fired is False
    credit(account, "10000.00", NOW - 3 * DAY, category="cash")
    assert check(definition, customer, "deposit").fired is True
    assert check({**definition, "categories": ["transfer_in"]}, customer, "deposit").fired is False
    assert check({**definition, "currency": "USD"}, customer, "deposit").fired is True


# --- editing triggers -----------------------------------------------------------------------------------------------


@pytest.fixture
def campaign(bianca) -> Campaign:
    return Campaign.objects.create(
        code="salary-boost",
        name="Salary boost",
        owner=bianca,
        status=CampaignStatus.ACTIVE,
        schedule=CampaignSchedule.TRIGGERED,
        channels=["email", "push"],
        control_percent=0,
    )


def make_trigger(campaign: Campaign, actor, definition: dict[str, Any], **values: Any) -> Trigger:
    return trigger_create(
        campaign=campaign,
        code=values.pop("code", "salary-up"),
        name=values.pop("name", "Salary up"),
        definition=definition,
        actor=actor,
        now=NOW,
        **values,
    )


@pytest.mark.django_db
def test_creating_a_trigger_is_audited_and_stores_the_full_definition(campaign, bianca):
    trigger = make_trigger(campaign, bianca, {"kind": "salary_up", "percent": 25})
    assert trigger.version == 1
    assert trigger.definition["months"] == 3
    audit = AuditEvent.objects.get(action="trigger.create")
    assert audit.actor == bianca
    assert audit.after["definition"]["percent"] == 25


@pytest.mark.django_db
def test_only_people_who_manage_campaigns_edit_triggers(campaign, bianca, carlos, oscar):
    for person in (carlos, oscar):
        with pytest.raises(PermissionDenied):
            make_trigger(campaign, person, {"kind": "salary_up"})
    trigger = make_trigger(campaign, bianca, {"kind": "salary_up"})
    with pytest.raises(PermissionDenied):
        trigger_set_active(trigger=trigger, active=False, actor=carlos, now=NOW)


@pytest.mark.django_db
def test_definition_errors_are_keyed_by_their_pointer_under_definition(campaign, bianca):
    with pytest.raises(ValidationError) as caught:
        make_trigger(
            campaign,
            bianca,
            {"all": [{"kind": "salary_up", "percent": 0}, {"kind": "page_views", "product_code": "NOPE"}]},
            code="Bad Code",
            cooldown_days=-1,
        )
    errors = caught.value.message_dict
    assert set(errors) == {"code", "cooldown_days", "definition/all/0/percent"}
    # the product is checked once the shape is sound
    with pytest.raises(ValidationError) as caught:
        make_trigger(campaign, bianca, {"kind": "page_views", "product_code": "NOPE"})
    assert caught.value.message_dict == {"definition/product_code": ["no product has the code 'NOPE'"]}


@pytest.mark.django_db
def test_a_trigger_belongs_to_a_campaign_triggered_by_events(campaign, bianca):
    campaign.schedule = CampaignSchedule.ONCE
    campaign.save()
    with pytest.raises(ValidationError) as caught:
        make_trigger(campaign, bianca, {"kind": "salary_up"})
    assert "campaign" in caught.value.message_dict


@pytest.mark.django_db
def test_an_edit_is_a_new_version_and_an_unchanged_save_is_not(campaign, bianca):
    trigger = make_trigger(campaign, bianca, {"kind": "salary_up"})
    same = trigger_update(
        trigger=trigger, name="Salary up", definition={"kind": "salary_up"}, cooldown_days=7, actor=bianca, now=NOW
    )
    assert same.version == 1
    edited = trigger_update(
        trigger=trigger,
        name="Salary up",
        definition={"kind": "salary_up", "percent": 30},
        cooldown_days=7,
        actor=bianca,
        now=NOW,
    )
    assert edited.version == 2
    audit = AuditEvent.objects.get(action="trigger.update")
    assert (audit.before["definition"]["percent"], audit.after["definition"]["percent"]) == (20, 30)
    assert (audit.before["version"], audit.after["version"]) == (1, 2)


@pytest.mark.django_db
def test_switching_a_trigger_off_and_on_is_audited(campaign, bianca):
    trigger = make_trigger(campaign, bianca, {"kind": "salary_up"})
    trigger_set_active(trigger=trigger, active=False, actor=bianca, now=NOW)
    trigger_set_active(trigger=trigger, active=False, actor=bianca, now=NOW)  # no change, no event
    trigger_set_active(trigger=trigger, active=True, actor=bianca, now=NOW)
    assert list(AuditEvent.objects.filter(object_type="trigger").values_list("action", flat=True).order_by("id")) == [
        "trigger.create",
        "trigger.deactivate",
        "trigger.activate",
    ]


# --- evaluation on events -------------------------------------------------------------------------------------------


@pytest.fixture
def queued(monkeypatch) -> list[dict[str, Any]]:
    """The outbox replaced by a recorder: these tests are about when a trigger fires."""
    calls: list[dict[str, Any]] = []

    def record(**kwargs: Any):
        calls.append(kwargs)
        return None, []

    monkeypatch.setattr(outbox, "offers_queue_for_customer", record)
    return calls


_events = iter(range(1, 10**6))


def arrived(customer: Customer, event_type: str = "transaction", at: dt.datetime = NOW) -> int:
    return InboundEvent.objects.create(
        source="core-banking",
        event_id=f"evt-{next(_events)}",
        event_type=event_type,
        customer=customer,
        occurred_at=at,
        received_at=at,
        payload_hash="x",
    ).pk


@pytest.fixture
def deposit_trigger(campaign, bianca) -> Trigger:
    return make_trigger(
        campaign,
        bianca,
        {"kind": "large_deposit", "amount": "10000.00", "days": 3},
        code="big-deposit",
        cooldown_days=7,
    )


@pytest.mark.django_db
def test_a_matching_event_queues_the_campaigns_offer_on_its_first_channel(deposit_trigger, account, customer, queued):
    credit(account, "12000.00", NOW - dt.timedelta(minutes=1), category="transfer_in")
    received = NOW - dt.timedelta(seconds=2)
    event_id = arrived(customer, at=received)
    fired = triggers_evaluate(inbound_event_ids=[event_id], now=NOW)
    assert len(fired) == 1
    assert queued == [
        {
            "campaign": deposit_trigger.campaign,
            "customer_id": customer.pk,
            "channel": "email",
            "trigger": deposit_trigger,
            "now": NOW,
        }
    ]
    firing = TriggerFiring.objects.get()
    assert firing.event_ids == [event_id]
    assert firing.event_committed_at == received
    assert firing.fired_at == NOW
    assert firing.queued_at >= NOW
    assert firing.trigger_version == 1
    assert firing.facts["measures"] == {"m0": 12000.0}


@pytest.mark.django_db
def test_no_firing_inside_the_cooldown_and_again_after_it(deposit_trigger, account, customer, queued):
    credit(account, "12000.00", NOW, category="transfer_in")
    assert len(triggers_evaluate(inbound_event_ids=[arrived(customer)], now=NOW)) == 1
    later = NOW + 2 * DAY
    credit(account, "15000.00", later, category="transfer_in")
    assert triggers_evaluate(inbound_event_ids=[arrived(customer, at=later)], now=later) == []
    after = NOW + 7 * DAY + dt.timedelta(seconds=1)
    credit(account, "15000.00", after, category="transfer_in")
    assert len(triggers_evaluate(inbound_event_ids=[arrived(customer, at=after)], now=after)) == 1
    assert len(queued) == 2


@pytest.mark.django_db
def test_a_redelivered_batch_fires_nothing_twice_even_without_a_cooldown(campaign, bianca, account, customer, queued):
    make_trigger(campaign, bianca, {"kind": "large_deposit", "amount": 100}, cooldown_days=0)
    credit(account, "500.00", NOW, category="cash")
    ids = [arrived(customer)]
    assert len(triggers_evaluate(inbound_event_ids=ids, now=NOW)) == 1
    assert triggers_evaluate(inbound_event_ids=ids, now=NOW + dt.timedelta(seconds=30)) == []
    # a new event with no cooldown fires again
    assert len(triggers_evaluate(inbound_event_ids=[arrived(customer)], now=NOW + DAY)) == 1
    assert TriggerFiring.objects.count() == 2


@pytest.mark.django_db
def test_nothing_fires_for_a_stopped_campaign_an_inactive_trigger_or_an_unwatched_event(
    deposit_trigger, campaign, bianca, account, customer, queued
):
    credit(account, "12000.00", NOW, category="transfer_in")
    # an interaction cannot change a deposit
    assert triggers_evaluate(inbound_event_ids=[arrived(customer, "interaction")], now=NOW) == []
    trigger_set_active(trigger=deposit_trigger, active=False, actor=bianca, now=NOW)
    assert triggers_evaluate(inbound_event_ids=[arrived(customer)], now=NOW) == []
    trigger_set_active(trigger=deposit_trigger, active=True, actor=bianca, now=NOW)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.STOPPED)
    assert triggers_evaluate(inbound_event_ids=[arrived(customer)], now=NOW) == []
    assert queued == []


@pytest.mark.django_db
def test_a_customer_outside_the_campaigns_audience_rule_is_left_out(
    deposit_trigger, campaign, account, customer, queued
):
    credit(account, "12000.00", NOW, category="transfer_in")
    Campaign.objects.filter(pk=campaign.pk).update(
        audience_rule={"field": "customer.region", "op": "eq", "value": "Nowhere"}
    )
    assert triggers_evaluate(inbound_event_ids=[arrived(customer)], now=NOW) == []
    Campaign.objects.filter(pk=campaign.pk).update(
        audience_rule={"field": "customer.region", "op": "eq", "value": customer.region}
    )
    assert len(triggers_evaluate(inbound_event_ids=[arrived(customer)], now=NOW)) == 1


@pytest.mark.django_db
def test_an_edited_trigger_fires_under_its_new_version(deposit_trigger, bianca, account, customer, queued):
    credit(account, "6000.00", NOW, category="transfer_in")
    assert triggers_evaluate(inbound_event_ids=[arrived(customer)], now=NOW) == []
    trigger_update(
        trigger=deposit_trigger,
        name="Big deposit",
        definition={"kind": "large_deposit", "amount": "5000.00", "days": 3},
        cooldown_days=7,
        actor=bianca,
        now=NOW,
    )
    (firing,) = triggers_evaluate(inbound_event_ids=[arrived(customer)], now=NOW)
    assert firing.trigger_version == 2


# --- with the real outbox -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_firing_trigger_re_decides_and_queues_a_delivery():
    from decisioning.inputs import caches_clear
    from tests.decisioning.decision_setup import NOW as BANK_NOW
    from tests.decisioning.decision_setup import decision_bank_build

    caches_clear()
    world = decision_bank_build()
    campaign = Campaign.objects.create(
        code="mortgage-interest",
        name="Mortgage interest",
        owner=world.editor,
        status=CampaignStatus.ACTIVE,
        schedule=CampaignSchedule.TRIGGERED,
        channels=["email"],
        control_percent=0,
    )
    campaign.offers.set([world.offers["HOME_MORTGAGE"]])
    trigger = trigger_create(
        campaign=campaign,
        code="mortgage-views",
        name="Three mortgage page views in a week",
        definition={"kind": "page_views", "count": 3, "days": 7, "product_code": "HOME_MORTGAGE"},
        actor=world.editor,
        now=BANK_NOW,
    )
    customer = world.customer
    mortgage = world.offers["HOME_MORTGAGE"].product
    for hours in (30, 20, 1):
        InteractionFactory(
            customer=customer,
            occurred_at=BANK_NOW - dt.timedelta(hours=hours),
            product=mortgage,
            event_type="product_page_view",
            channel="web",
        )
    (firing,) = triggers_evaluate(inbound_event_ids=[arrived(customer, "interaction", at=BANK_NOW)], now=BANK_NOW)
    delivery = Delivery.objects.get()
    assert (delivery.trigger, delivery.campaign, delivery.channel) == (trigger, campaign, "email")
    assert delivery.offer_code == world.offers["HOME_MORTGAGE"].code
    assert firing.decision_id == delivery.decision_id


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_evaluating_one_customer_at_once_queue_one_offer(monkeypatch):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time: the second evaluation waits instead of racing")
    from core.models import Role, User

    owner = User.objects.create_user(username="racer", password="x", role=Role.BUSINESS)
    campaign = Campaign.objects.create(
        code="race",
        name="Race",
        owner=owner,
        status=CampaignStatus.ACTIVE,
        schedule=CampaignSchedule.TRIGGERED,
        channels=["email"],
        control_percent=0,
    )
    trigger_create(
        campaign=campaign,
        code="race-deposit",
        name="Deposit",
        definition={"kind": "large_deposit", "amount": 100},
        actor=owner,
        now=NOW,
    )
    customer = CustomerFactory(external_id="C-RACE")
    credit(AccountFactory(customer=customer), "500.00", NOW, category="cash")
    batches = [[arrived(customer)], [arrived(customer)]]  # two batches, one customer
    inside = threading.Event()
    calls: list[int] = []

    def slow_queue(**kwargs: Any):
        calls.append(kwargs["customer_id"])
        inside.set()
        time.sleep(0.5)  # the other worker arrives while this one holds the customer
        return None, []

    monkeypatch.setattr(outbox, "offers_queue_for_customer", slow_queue)
    results: list[list[TriggerFiring]] = []

    def worker(ids: list[int]) -> None:
        try:
            results.append(triggers_evaluate(inbound_event_ids=ids, now=NOW))
        finally:
            connection.close()

    first = threading.Thread(target=worker, args=(batches[0],))
    first.start()
    assert inside.wait(10)
    second = threading.Thread(target=worker, args=(batches[1],))
    second.start()
    first.join(20)
    second.join(20)
    assert sorted(len(r) for r in results) == [0, 1]
    assert calls == [customer.pk]
    assert TriggerFiring.objects.count() == 1


# --- the editor page ------------------------------------------------------------------------------------------------


@pytest.fixture
def signed_in(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


@pytest.mark.django_db
def test_a_business_user_builds_a_trigger_from_the_form_without_typing_json(signed_in, bianca, campaign):
    ProductFactory(code="MORT", family="mortgage")
    web = signed_in(bianca)
    assert web.get("/campaigns/triggers/new/?campaign=salary-boost").status_code == 200
    response = web.post(
        "/campaigns/triggers/new/",
        {
            "campaign": "salary-boost",
            "code": "mortgage-interest",
            "name": "Mortgage interest",
            "cooldown_days": "14",
            "combine": "any",
            "c0-kind": "page_views",
            "c0-page_views-count": "3",
            "c0-page_views-days": "7",
            "c0-page_views-event_types": ["product_page_view", "calculator_use"],
            "c0-page_views-product_code": "MORT",
            "c1-kind": "large_deposit",
            "c1-large_deposit-amount": "20000",
            "c1-large_deposit-days": "3",
            "c2-kind": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    trigger = Trigger.objects.get(code="mortgage-interest")
    assert trigger.cooldown_days == 14
    assert trigger.definition == {
        "any": [
            {
                "kind": "page_views",
                "count": 3,
                "days": 7,
                "event_types": ["product_page_view", "calculator_use"],
                "product_code": "MORT",
                "product_family": None,
                "channels": [],
            },
            {"kind": "large_deposit", "amount": "20000.00", "days": 3, "currency": None, "categories": []},
        ]
    }
    page = web.get("/campaigns/triggers/?campaign=salary-boost").content.decode()
    assert "Mortgage interest" in page
    assert "at least 3 × product page view, calculator use (MORT) within 7 days" in page
    # the edit page shows the stored values in the form
    edit = web.get("/campaigns/triggers/mortgage-interest/").content.decode()
    assert 'name="c1-large_deposit-amount" id="id_c1-large_deposit-amount" value="20000.00"' in edit


@pytest.mark.django_db
def test_the_editor_checks_as_you_type_and_names_the_field_in_error(signed_in, bianca, campaign):
    web = signed_in(bianca)
    result = web.post(
        "/campaigns/triggers/validate/",
        {
            "combine": "all",
            "c0-kind": "salary_up",
            "c0-salary_up-percent": "-3",
            "c1-kind": "page_views",
            "c1-page_views-days": "seven",
        },
    ).json()
    assert result["valid"] is False
    assert set(result["errors"]) == {"c0-salary_up-percent", "c1-page_views-days"}
    good = web.post("/campaigns/triggers/validate/", {"c0-kind": "salary_up", "c0-salary_up-percent": "25"}).json()
    assert good == {
        "valid": True,
        "summary": "salary up more than 25% on its 3-month average (paid in the last 35 days)",
        "errors": {},
        "general": [],
    }


@pytest.mark.django_db
def test_a_refused_save_shows_each_error_beside_its_field(signed_in, bianca, campaign):
    web = signed_in(bianca)
    response = web.post(
        "/campaigns/triggers/new/",
        {"campaign": "salary-boost", "code": "x", "name": "X", "cooldown_days": "7", "c0-kind": "large_deposit"},
    )
    assert response.status_code == 422
    assert "large_deposit needs amount" in response.content.decode()
    assert not Trigger.objects.exists()


@pytest.mark.django_db
def test_compliance_reads_the_triggers_and_cannot_change_them(signed_in, bianca, carlos, campaign):
    trigger = make_trigger(campaign, bianca, {"kind": "salary_up"})
    web = signed_in(carlos)
    page = web.get("/campaigns/triggers/")
    assert page.status_code == 200
    assert "Salary up" in page.content.decode()
    assert "Read only" in page.content.decode()
    assert web.post(f"/campaigns/triggers/{trigger.code}/active/", {}).status_code == 403
    assert web.post("/campaigns/triggers/validate/", {"c0-kind": "salary_up"}).status_code == 403
    trigger.refresh_from_db()
    assert trigger.active is True


@pytest.mark.django_db
def test_switching_a_trigger_off_from_the_list(signed_in, bianca, campaign):
    trigger = make_trigger(campaign, bianca, {"kind": "salary_up"})
    web = signed_in(bianca)
    assert web.post(f"/campaigns/triggers/{trigger.code}/active/", {}).status_code == 302
    trigger.refresh_from_db()
    assert trigger.active is False
    web.post(f"/campaigns/triggers/{trigger.code}/active/", {"active": "1"})
    trigger.refresh_from_db()
    assert trigger.active is True
