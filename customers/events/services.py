"""Real-time events from channel systems: store a validated batch, once, and hand on.

A batch is stored in one transaction or not at all. Every fact is upserted by
the natural key of its table (the models' unique constraints), so the same fact
sent twice, even under two event ids, is stored once. Every accepted event also
leaves an ``InboundEvent`` row keyed by (source, event id): a retried event is
recognised there and reported as a duplicate without being applied again.

After the commit, each Celery task named in ``settings.EVENT_FOLLOW_UP_TASKS`` is
sent by name, so apps above ``customers`` (re-scoring, campaign triggers) hook in
without this module importing them.
"""

from __future__ import annotations

import functools
import logging
import zoneinfo
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction

from core.idempotency import request_hash
from core.models import User
from core.services import audit_record
from customers import choices
from customers.lock_objects import customer_contact_exclusive
from customers.models import (
    Account,
    AccountHolder,
    Consent,
    CreditScore,
    Customer,
    CustomerAttributeChange,
    InboundEvent,
    Interaction,
    Product,
    Transaction,
)

logger = logging.getLogger(__name__)

EventType = choices.EventType
ACCEPTED = "accepted"
DUPLICATE = "duplicate"
DEFAULT_SCORE_SOURCE = "bureau"


@dataclass(frozen=True)
class EventIn:
    """One validated event: types checked, values within the import format's limits."""

    event_id: str
    type: str
    occurred_at: datetime
    customer_id: str
    data: dict[str, Any]


@dataclass(frozen=True)
class EventOutcome:
    index: int
    event_id: str
    status: str


@dataclass
class EventBatchResult:
    outcomes: list[EventOutcome] = field(default_factory=list)
    inbound_event_ids: list[int] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(1 for o in self.outcomes if o.status == ACCEPTED)

    @property
    def duplicates(self) -> int:
        return sum(1 for o in self.outcomes if o.status == DUPLICATE)


class EventsRejected(Exception):
    """The batch refers to rows that do not exist; nothing was stored.

    ``errors`` holds ``{"pointer", "detail"}`` entries such as
    ``{"pointer": "#/events/3/customer_id", "detail": "unknown customer 'C9'"}``.
    """

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__(f"{len(errors)} event(s) refer to unknown rows")
        self.errors = errors


def bank_date(moment: datetime) -> date:
    """The business date of ``moment`` in the bank's time zone."""
    return moment.astimezone(zoneinfo.ZoneInfo(settings.BANK_TIME_ZONE)).date()


def events_ingest(
    *, events: Sequence[EventIn], source: str, now: datetime, actor: User | None = None
) -> EventBatchResult:
    """Store a batch of events and schedule the follow-up tasks after commit.

    Two batches carrying the same new event can race past the duplicate check;
    the loser's insert then hits the (source, event_id) constraint and rolls back,
    and one retry sees the winner's rows and reports the event as a duplicate.
    """
    try:
        return _events_ingest_once(events=events, source=source, now=now, actor=actor)
    except IntegrityError:
        logger.info("event batch from %s raced another batch; retrying once", source)
        return _events_ingest_once(events=events, source=source, now=now, actor=actor)


@transaction.atomic
def _events_ingest_once(
    *, events: Sequence[EventIn], source: str, now: datetime, actor: User | None
) -> EventBatchResult:
    refs = _references_resolve(events)

    # 1. Duplicates: seen before from this source, or repeated within the batch.
    seen = set(
        InboundEvent.objects.filter(source=source, event_id__in={e.event_id for e in events}).values_list(
            "event_id", flat=True
        )
    )
    result = EventBatchResult()
    fresh: list[EventIn] = []
    for index, event in enumerate(events):
        if event.event_id in seen:
            result.outcomes.append(EventOutcome(index, event.event_id, DUPLICATE))
            continue
        seen.add(event.event_id)
        fresh.append(event)
        result.outcomes.append(EventOutcome(index, event.event_id, ACCEPTED))

    # 2. Facts, upserted by natural key, one statement per table.
    by_type: dict[str, list[EventIn]] = {t: [] for t in EventType.values}
    for event in fresh:
        by_type[event.type].append(event)
    _transactions_upsert(by_type[EventType.TRANSACTION], refs, now)
    _interactions_upsert(by_type[EventType.INTERACTION], refs, now)
    _credit_scores_upsert(by_type[EventType.CREDIT_SCORE], refs, now)
    _consents_upsert(by_type[EventType.CONSENT], refs, source, now)
    for event in sorted(by_type[EventType.KYC_STATUS], key=lambda e: e.occurred_at):
        _kyc_status_apply(event, refs.customers[event.customer_id], now)

    # 3. The inbound log, which makes retries safe.
    inbound = InboundEvent.objects.bulk_create(
        [
            InboundEvent(
                source=source,
                event_id=e.event_id,
                event_type=e.type,
                customer=refs.customers[e.customer_id],
                occurred_at=e.occurred_at,
                received_at=now,
                payload_hash=request_hash(_payload(e)),
            )
            for e in fresh
        ]
    )
    result.inbound_event_ids = [row.pk for row in inbound]

    if result.inbound_event_ids:
        kwargs = {
            "inbound_event_ids": result.inbound_event_ids,
            "customer_ids": sorted({refs.customers[e.customer_id].pk for e in fresh}),
        }
        transaction.on_commit(functools.partial(follow_ups_send, kwargs=kwargs), robust=True)
    if actor is not None and fresh:
        # A person's changes are audited in the same transaction as the changes.
        audit_record(
            actor=actor,
            action="events.ingest",
            object_type="event_batch",
            object_id=fresh[0].event_id,
            after={"events": [{"event_id": e.event_id, "type": e.type, "customer_id": e.customer_id} for e in fresh]},
            now=now,
        )
    return result


def follow_ups_send(*, kwargs: dict[str, Any]) -> list[str]:
    """Send every task in ``EVENT_FOLLOW_UP_TASKS`` by name; return the names sent.

    One follow-up failing to send must not stop the others, and the events are
    committed by now, so a failure is logged rather than raised. Without a broker
    (tests, one-off commands) a task registered here runs in-process, as every
    task does then; ``send_task`` would ignore eager mode and look for a broker.
    """
    app = current_app
    sent: list[str] = []
    for name in settings.EVENT_FOLLOW_UP_TASKS:
        try:
            if app.conf.task_always_eager:
                app.loader.import_default_modules()
                task = app.tasks.get(name)
                if task is None:
                    logger.error("follow-up task %s is not registered; not run", name)
                    continue
                task.apply(kwargs=kwargs)
            else:
                app.send_task(name, kwargs=kwargs)
            sent.append(name)
        except Exception:
            logger.exception(
                "follow-up task %s failed to start for %d event(s)", name, len(kwargs["inbound_event_ids"])
            )
    return sent


def inbound_events_summarize(*, inbound_event_ids: Sequence[int]) -> dict[str, Any]:
    """What arrived in a batch: counts by type and customers touched, no personal data."""
    rows = list(InboundEvent.objects.filter(pk__in=inbound_event_ids).values_list("event_type", "customer_id"))
    by_type = Counter(event_type for event_type, _ in rows)
    return {
        "received": len(rows),
        "missing": len(set(inbound_event_ids)) - len(rows),
        "by_type": dict(sorted(by_type.items())),
        "customers": len({customer_id for _, customer_id in rows}),
    }


# --- references ---------------------------------------------------------------


@dataclass
class _References:
    customers: dict[str, Customer]
    accounts: dict[str, Account]
    products: dict[str, Product]


def _references_resolve(events: Sequence[EventIn]) -> _References:
    """Look up every customer, account and product the batch names, in three
    queries, and reject the batch naming each reference that is missing."""
    customer_ids = {e.customer_id for e in events}
    account_ids = {e.data["account_id"] for e in events if e.type == EventType.TRANSACTION}
    product_codes = {
        e.data["product_code"] for e in events if e.type == EventType.INTERACTION and e.data.get("product_code")
    }
    refs = _References(
        customers={c.external_id: c for c in Customer.objects.filter(external_id__in=customer_ids)},
        accounts={a.external_id: a for a in Account.objects.filter(external_id__in=account_ids)},
        products={p.code: p for p in Product.objects.filter(code__in=product_codes)},
    )
    holders: set[tuple[int, int]] = set()
    if refs.accounts:
        holders = set(
            AccountHolder.objects.filter(account__in=refs.accounts.values()).values_list("account_id", "customer_id")
        )
        holders |= {(a.pk, a.customer_id) for a in refs.accounts.values()}

    errors: list[dict[str, str]] = []
    for index, event in enumerate(events):
        customer = refs.customers.get(event.customer_id)
        if customer is None:
            errors.append(_error(index, "customer_id", f"unknown customer {event.customer_id!r}"))
        if event.type == EventType.TRANSACTION:
            account = refs.accounts.get(event.data["account_id"])
            if account is None:
                errors.append(_error(index, "data/account_id", f"unknown account {event.data['account_id']!r}"))
            elif customer is not None and (account.pk, customer.pk) not in holders:
                errors.append(
                    _error(
                        index,
                        "data/account_id",
                        f"account {account.external_id!r} is not held by customer {event.customer_id!r}",
                    )
                )
        if event.type == EventType.INTERACTION:
            code = event.data.get("product_code")
            if code and code not in refs.products:
                errors.append(_error(index, "data/product_code", f"unknown product {code!r}"))
    if errors:
        raise EventsRejected(errors)
    return refs


def _error(index: int, path: str, detail: str) -> dict[str, str]:
    return {"pointer": f"#/events/{index}/{path}", "detail": detail}


def _payload(event: EventIn) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "type": event.type,
        "occurred_at": event.occurred_at,
        "customer_id": event.customer_id,
        "data": event.data,
    }


# --- facts --------------------------------------------------------------------


def _last_by_key(rows: list[Any], key: Any) -> list[Any]:
    """Keep the last row per natural key: one upsert statement may not touch a
    row twice (PostgreSQL refuses), and the later event wins."""
    return list({key(row): row for row in rows}.values())


def _transactions_upsert(events: list[EventIn], refs: _References, now: datetime) -> None:
    rows = []
    for e in events:
        account = refs.accounts[e.data["account_id"]]
        rows.append(
            Transaction(
                external_id=e.data["transaction_id"],
                account=account,
                # The account's primary holder, as the model documents, even when
                # a joint holder made the payment.
                customer_id=account.customer_id,
                booked_at=e.data.get("booked_at") or e.occurred_at,
                amount=e.data["amount"],
                currency=e.data["currency"],
                category=e.data["category"],
                mcc=e.data.get("mcc") or "",
                channel=e.data["channel"],
                received_at=now,
            )
        )
    if rows:
        Transaction.objects.bulk_create(
            _last_by_key(rows, lambda r: (r.external_id, r.booked_at)),
            update_conflicts=True,
            unique_fields=["external_id", "booked_at"],
            update_fields=["account", "customer", "amount", "currency", "category", "mcc", "channel", "received_at"],
        )


def _interactions_upsert(events: list[EventIn], refs: _References, now: datetime) -> None:
    rows = []
    for e in events:
        code = e.data.get("product_code")
        rows.append(
            Interaction(
                # Without its own id, the event id names the interaction (the
                # serializer checks it fits).
                external_id=e.data.get("interaction_id") or e.event_id,
                customer=refs.customers[e.customer_id],
                occurred_at=e.occurred_at,
                channel=e.data["channel"],
                event_type=e.data["event_type"],
                product=refs.products[code] if code else None,
                satisfaction=e.data.get("satisfaction"),
                received_at=now,
            )
        )
    if rows:
        Interaction.objects.bulk_create(
            _last_by_key(rows, lambda r: (r.external_id, r.occurred_at)),
            update_conflicts=True,
            unique_fields=["external_id", "occurred_at"],
            update_fields=["customer", "channel", "event_type", "product", "satisfaction", "received_at"],
        )


def _credit_scores_upsert(events: list[EventIn], refs: _References, now: datetime) -> None:
    rows = [
        CreditScore(
            customer=refs.customers[e.customer_id],
            scored_on=e.data.get("scored_on") or bank_date(e.occurred_at),
            score=e.data["score"],
            source=e.data.get("source") or DEFAULT_SCORE_SOURCE,
            received_at=now,
        )
        for e in events
    ]
    if rows:
        CreditScore.objects.bulk_create(
            _last_by_key(rows, lambda r: (r.customer.pk, r.scored_on, r.source)),
            update_conflicts=True,
            unique_fields=["customer", "scored_on", "source"],
            update_fields=["score", "received_at"],
        )


def _consents_upsert(events: list[EventIn], refs: _References, source: str, now: datetime) -> None:
    rows = [
        Consent(
            customer=refs.customers[e.customer_id],
            channel=e.data["channel"],
            purpose=e.data["purpose"],
            status=e.data["status"],
            effective_at=e.occurred_at,
            source=(e.data.get("source") or source)[:64],
            received_at=now,
        )
        for e in events
    ]
    if rows:
        # Senders re-check consent under this lock: nothing is sent after a withdrawal commits.
        customer_contact_exclusive(r.customer.pk for r in rows)
        Consent.objects.bulk_create(
            _last_by_key(rows, lambda r: (r.customer.pk, r.channel, r.purpose, r.effective_at)),
            update_conflicts=True,
            unique_fields=["customer", "channel", "purpose", "effective_at"],
            update_fields=["status", "source", "received_at"],
        )


def _kyc_status_apply(event: EventIn, customer: Customer, now: datetime) -> None:
    """Record the KYC (and sanctions) status as of the event's business date, and
    make it the customer's current value unless a later change is already known,
    so a late event cannot roll the current value back."""
    day = bank_date(event.occurred_at)
    values = {choices.TrackedAttribute.KYC_STATUS: event.data["kyc_status"]}
    if event.data.get("sanctions_status"):
        values[choices.TrackedAttribute.SANCTIONS_STATUS] = event.data["sanctions_status"]
    for attribute, value in values.items():
        CustomerAttributeChange.objects.update_or_create(
            customer=customer, attribute=attribute, effective_from=day, defaults={"value": value, "received_at": now}
        )
    superseded = set(
        CustomerAttributeChange.objects.filter(
            customer=customer, attribute__in=list(values), effective_from__gt=day
        ).values_list("attribute", flat=True)
    )
    update: dict[str, Any] = {}
    if choices.TrackedAttribute.KYC_STATUS not in superseded:
        update["kyc_status"] = values[choices.TrackedAttribute.KYC_STATUS]
        if event.data.get("kyc_date"):
            update["kyc_date"] = event.data["kyc_date"]
    if (
        choices.TrackedAttribute.SANCTIONS_STATUS in values
        and choices.TrackedAttribute.SANCTIONS_STATUS not in superseded
    ):
        update["sanctions_status"] = values[choices.TrackedAttribute.SANCTIONS_STATUS]
    if update:
        for name, value in update.items():
            setattr(customer, name, value)
        customer.save(update_fields=[*update, "updated_at"])
