"""The delivery outbox: queue offers with their decisions, then send them at least once.

1. Queue. A campaign's batch chunk (or a trigger's real-time decision) writes a
   ``Delivery`` row per offer, and its contact-history row, in the transaction
   that stores the decision: an offer is never sent without its decision, nor
   decided and then lost. A sticky control group is decided for but never queued.
2. Claim. Workers claim due rows with a compare-and-set (``SKIP LOCKED`` on
   PostgreSQL), so two workers never hold the same row; a claim older than
   ``DELIVERY_CLAIM_TIMEOUT`` belongs to a worker that died, and the sweeper
   puts it back.
3. Send. Under the customer's contact lock (``customers.lock_objects``) consent,
   do-not-contact and the contact caps are checked again, then the channel
   adapter is called with no transaction open. Named transient errors retry with
   exponential backoff and jitter; after ``DELIVERY_MAX_ATTEMPTS`` attempts, or a
   permanent refusal, the row is a dead letter that a person can retry.
4. The message id is the row's ``public_id``, the same on every attempt, so a
   peer drops the repeat that a crash between its acceptance and our commit causes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import random
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from campaigns.channels.base import ChannelRejected, ChannelUnavailable
from campaigns.models import (
    Campaign,
    CampaignMember,
    CampaignRun,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    RunStatus,
    Trigger,
)
from compliance.gates import consent_in_force
from core.models import User
from core.services import audit_record
from customers import choices
from customers.lock_objects import customer_contact_shared
from customers.models import Consent, Customer
from customers.services import ContactMade, OfferMade, contact_history_record_many, contact_history_withdraw
from decisioning.batch import AudienceFilter, ChunkWriter
from decisioning.decisions import contact_id, decision_make
from decisioning.engine import CONSENT_CHANNEL, CONTACT_CHANNEL, OPT_IN_CHANNELS, OUTBOUND_CHANNELS, cap_applies
from decisioning.inputs import SERVICE_CAMPAIGN_PREFIX, CustomerFacts, catalogue_current, rule_values
from decisioning.models import BatchDecisionRun, ContactPolicyKind, Decision, DecisionKind
from decisioning.rules import RuleContext, rule_compile

logger = logging.getLogger(__name__)

DELIVERY_CLAIM_BATCH = 200  # rows a worker claims at once
DELIVERY_LOCK_GROUP = 20  # customers whose contact locks are held together while their messages go
RETRY_MAX_SECONDS = 3600.0
OPEN = (DeliveryStatus.QUEUED, DeliveryStatus.RETRY, DeliveryStatus.SENDING)


# --- the control group ------------------------------------------------------------------------------------------


def in_control(campaign: Campaign, customer_id: int) -> bool:
    """Whether a customer falls in the campaign's control group: a hash of the
    campaign and customer, so the split is random across customers yet the same
    every time it is asked (sticky without a lookup)."""
    digest = hashlib.sha256(f"{campaign.public_id}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") * 100 < float(campaign.control_percent) * 2**64


def members_assign(*, campaign: Campaign, customer_ids: Iterable[int], now: dt.datetime) -> dict[int, bool]:
    """Each customer's place in the campaign (True: control), recorded on first
    sight and never changed afterwards, even if the control share is edited."""
    ids = sorted(set(customer_ids))
    known = dict(
        CampaignMember.objects.filter(campaign=campaign, customer_id__in=ids).values_list("customer_id", "control")
    )
    new = [
        CampaignMember(campaign=campaign, customer_id=pk, control=in_control(campaign, pk), assigned_at=now)
        for pk in ids
        if pk not in known
    ]
    if new:
        # Two workers meeting a customer at once compute the same answer: either row will do.
        CampaignMember.objects.bulk_create(new, ignore_conflicts=True, batch_size=1000)
        known.update(
            CampaignMember.objects.filter(campaign=campaign, customer_id__in=[m.customer_id for m in new]).values_list(
                "customer_id", "control"
            )
        )
    return known


# --- queueing ---------------------------------------------------------------------------------------------------


def deliveries_write(
    *,
    decisions: Sequence[Decision],
    campaign: Campaign | None,
    run: CampaignRun | None,
    trigger: Trigger | None,
    now: dt.datetime,
    record_contacts: bool = True,
) -> list[Delivery]:
    """Queue every offer of ``decisions`` for delivery, in the caller's transaction,
    and record each in the contact history (unless the decision did already)."""
    specs = {o["code"]: o for o in catalogue_current().offers}
    deliveries: list[Delivery] = []
    contacts: list[ContactMade] = []
    for decision in decisions:
        for view in decision.offers:
            spec = specs[view["offer_code"]]
            cid = contact_id(decision.public_id, view["rank"])
            deliveries.append(
                Delivery(
                    decision_id=decision.public_id,
                    customer_id=decision.customer_id,
                    campaign=campaign,
                    run=run,
                    trigger=trigger,
                    channel=decision.channel,
                    offer_code=view["offer_code"],
                    product_id=spec["product_id"],
                    rank=view["rank"],
                    contact_id=cid,
                    transactional=spec["transactional"],
                    due_at=now,
                    created_at=now,
                )
            )
            if record_contacts:
                code = f"{SERVICE_CAMPAIGN_PREFIX}{spec['issue']}" if spec["transactional"] else campaign_code(campaign)
                contacts.append(
                    ContactMade(
                        customer_id=decision.customer_id,
                        channel=CONTACT_CHANNEL[decision.channel],
                        offer=OfferMade(external_id=cid, product_id=spec["product_id"], campaign_code=code),
                    )
                )
    if deliveries:
        Delivery.objects.bulk_create(deliveries, batch_size=1000)
        if contacts:
            contact_history_record_many(contacts=contacts, now=now)
        deliver_soon()
    return deliveries


def campaign_code(campaign: Campaign | None) -> str:
    return campaign.code if campaign is not None else "nba"


def campaign_context(campaign: Campaign) -> dict[str, Any]:
    """The decision context of a campaign: its name, and its offers if it chose some."""
    context: dict[str, Any] = {"campaign": campaign.code}
    codes = sorted(campaign.offers.values_list("code", flat=True))
    if codes:
        context["offers"] = codes
    return context


def deliver_soon() -> None:
    """Wake a delivery worker once the current transaction commits."""
    from campaigns.tasks import deliver_task

    transaction.on_commit(deliver_task.delay)


def run_chunk_writer(run: CampaignRun) -> ChunkWriter:
    """What a campaign does with each chunk its batch run decides: the control group
    is recorded and left alone, the rest is queued, within the volume limit."""

    def write(batch_run: BatchDecisionRun, decisions: Sequence[Decision]) -> int:
        # The run's clock: its messages are due from the moment it decided them.
        now = batch_run.now
        campaign = Campaign.objects.get(pk=run.campaign_id)
        split = members_assign(campaign=campaign, customer_ids=[d.customer_id for d in decisions], now=now)
        treated = [d for d in decisions if not split.get(d.customer_id)]
        control = len(decisions) - len(treated)
        wanted = [d for d in treated if d.offers]
        over = 0
        if campaign.status != CampaignStatus.ACTIVE:
            over, wanted = sum(len(d.offers) for d in wanted), []
        elif campaign.volume_limit is not None:
            # The run's row is locked until this chunk commits: chunks of parallel
            # workers take their share of the limit one after the other.
            queued = CampaignRun.objects.select_for_update().values_list("queued", flat=True).get(pk=run.pk)
            room = max(campaign.volume_limit - queued, 0)
            wanted.sort(key=lambda d: -max(o["priority"] for o in d.offers))
            kept: list[Decision] = []
            for decision in wanted:
                if room >= len(decision.offers):
                    kept.append(decision)
                    room -= len(decision.offers)
                else:
                    over += len(decision.offers)
            wanted = kept
        deliveries = deliveries_write(decisions=wanted, campaign=campaign, run=run, trigger=None, now=now)
        CampaignRun.objects.filter(pk=run.pk).update(
            audience=F("audience") + len(decisions),
            control=F("control") + control,
            queued=F("queued") + len(deliveries),
            over_limit=F("over_limit") + over,
            updated_at=now,
        )
        return len(deliveries)

    return write


def audience_rule_filter(campaign: Campaign, run: CampaignRun) -> AudienceFilter | None:
    """The campaign's audience rule as a batch filter, counting who it leaves out."""
    if not campaign.audience_rule:
        return None
    rule = rule_compile(campaign.audience_rule)

    def keep(batch_run: BatchDecisionRun, facts: Mapping[int, CustomerFacts]) -> set[int]:
        out = set()
        for pk, customer_facts in facts.items():
            values = rule_values(
                customer_facts, rule.fields, now=batch_run.now, channel=batch_run.channel, context=batch_run.context
            )
            if rule.evaluate(RuleContext(values=values, now=batch_run.now)):
                out.add(pk)
        CampaignRun.objects.filter(pk=run.pk).update(left_out=F("left_out") + len(facts) - len(out))
        return out

    return keep


def offers_queue_for_customer(
    *, campaign: Campaign, customer_id: int, channel: str, trigger: Trigger | None = None, now: dt.datetime
) -> tuple[Decision | None, list[Delivery]]:
    """Decide now for one customer with the campaign's offers and queue what is
    decided, in one transaction (a trigger fired). A control-group customer is
    decided for (the decision is kept, for lift) and sent nothing."""
    external_id = Customer.objects.values_list("external_id", flat=True).get(pk=customer_id)
    who = f"trigger:{trigger.code}" if trigger is not None else f"campaign:{campaign.code}"
    with transaction.atomic():
        control = members_assign(campaign=campaign, customer_ids=[customer_id], now=now)[customer_id]
        outcome = decision_make(
            customer_id=external_id,
            channel=channel,
            context=campaign_context(campaign),
            max_results=campaign.max_offers_per_customer,
            kind=DecisionKind.HELD_OUT if control else DecisionKind.REALTIME,
            requested_by=who,
            now=now,
        )
        if control or campaign.status != CampaignStatus.ACTIVE:
            return outcome.decision, []
        # A real-time decision has recorded its offers in the contact history already.
        deliveries = deliveries_write(
            decisions=[outcome.decision], campaign=campaign, run=None, trigger=trigger, now=now, record_contacts=False
        )
    return outcome.decision, deliveries


# --- claiming and sending ---------------------------------------------------------------------------------------


def _claim_sql() -> str:
    table = Delivery._meta.db_table
    return (
        f"UPDATE {table} SET status = %s, claimed_at = %s, claimed_by = %s, attempts = attempts + 1, updated_at = %s "
        f"WHERE id IN (SELECT id FROM {table} WHERE status IN (%s, %s) AND due_at <= %s "
        f"ORDER BY due_at, id LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING id"
    )


def deliveries_claim(*, worker: str, now: dt.datetime, limit: int = DELIVERY_CLAIM_BATCH) -> tuple[str, list[int]]:
    """Claim up to ``limit`` due rows for this worker: (claim token, row ids).

    A compare-and-set on the status: a row changes hands only if it is still
    queued or waiting to retry, so two workers never claim the same row. The
    token is unique per claim, so only its holder can record the outcome."""
    token = f"{worker[:40]}:{uuid.uuid4().hex[:16]}"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _claim_sql(),
                [DeliveryStatus.SENDING, now, token, now, DeliveryStatus.QUEUED, DeliveryStatus.RETRY, now, limit],
            )
            return token, sorted(row[0] for row in cursor.fetchall())
    due = Q(status__in=[DeliveryStatus.QUEUED, DeliveryStatus.RETRY], due_at__lte=now)
    ids = list(Delivery.objects.filter(due).order_by("due_at", "id").values_list("id", flat=True)[:limit])
    Delivery.objects.filter(due, pk__in=ids).update(
        status=DeliveryStatus.SENDING, claimed_at=now, claimed_by=token, attempts=F("attempts") + 1, updated_at=now
    )
    return token, list(
        Delivery.objects.filter(pk__in=ids, claimed_by=token, status=DeliveryStatus.SENDING).values_list(
            "id", flat=True
        )
    )


def _finish(delivery: Delivery, token: str, status: str, now: dt.datetime, **fields: Any) -> bool:
    """Record a claimed row's outcome, only if this claim still holds it (the sweeper
    may have handed it to another worker after a long stall)."""
    changed = Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING, claimed_by=token).update(
        status=status, updated_at=now, **fields
    )
    if not changed:
        logger.warning("delivery %s: claim %s lost before recording %s", delivery.pk, token, status)
    return bool(changed)


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt: exponential from DELIVERY_RETRY_SECONDS, with
    full jitter, capped, so a peer coming back is not hit by every row at once."""
    base = float(settings.DELIVERY_RETRY_SECONDS)
    ceiling = min(base * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS)
    return ceiling / 2 + random.random() * ceiling / 2  # noqa: S311 - spreading retries, not security


@dataclass
class _SendFacts:
    """What the send-time check reads for a group of customers, after their locks."""

    do_not_contact: set[int]
    policies: tuple[dict[str, Any], ...]
    consents: dict[int, dict[tuple[str, str], str]]
    sent: dict[tuple[int, str], list[dt.datetime]]
    stopped_campaigns: set[int]


def _send_facts(deliveries: Sequence[Delivery], now: dt.datetime) -> _SendFacts:
    ids = sorted({d.customer_id for d in deliveries})
    consents: dict[int, dict[tuple[str, str], str]] = defaultdict(dict)
    rows = (
        Consent.objects.filter(customer_id__in=ids, effective_at__lte=now)
        .order_by("customer_id", "effective_at", "id")
        .values_list("customer_id", "channel", "purpose", "status")
    )
    for customer_id, channel, purpose, status in rows:
        consents[customer_id][(channel, purpose)] = status  # the latest wins
    policies = catalogue_current().policies
    longest = max((p["period_days"] for p in policies), default=0)
    sent: dict[tuple[int, str], list[dt.datetime]] = defaultdict(list)
    if longest:
        for customer_id, channel, sent_at in Delivery.objects.filter(
            customer_id__in=ids,
            status=DeliveryStatus.SENT,
            transactional=False,
            sent_at__gt=now - dt.timedelta(days=longest),
        ).values_list("customer_id", "channel", "sent_at"):
            sent[(customer_id, channel)].append(sent_at)
    campaigns = {d.campaign_id for d in deliveries if d.campaign_id}
    return _SendFacts(
        do_not_contact=set(Customer.objects.filter(pk__in=ids, do_not_contact=True).values_list("pk", flat=True)),
        policies=policies,
        consents=consents,
        sent=sent,
        stopped_campaigns=set(
            # Only a stop cancels: a completed one-off campaign's retried dead letter still goes.
            Campaign.objects.filter(pk__in=campaigns, status=CampaignStatus.STOPPED).values_list("pk", flat=True)
        ),
    )


def _cap_reached(delivery: Delivery, facts: _SendFacts, now: dt.datetime) -> str:
    """The first contact cap this message would break, counting messages actually
    sent since (the decision counted those made before it)."""
    for policy in facts.policies:
        if not cap_applies(policy, delivery.channel):
            continue
        kind, named = policy["kind"], policy["channel"]
        since = now - dt.timedelta(days=policy["period_days"])
        if kind == ContactPolicyKind.CHANNEL_CAP or named:
            channels = [delivery.channel]
        else:
            channels = sorted(OUTBOUND_CHANNELS)
        used = sum(1 for ch in channels for at in facts.sent.get((delivery.customer_id, ch), ()) if at > since)
        if used >= policy["limit"]:
            return f"{policy['name']}: {policy['limit']} per {policy['period_days']} days already sent"
    return ""


def send_blocked_why(delivery: Delivery, facts: _SendFacts, now: dt.datetime) -> str:
    """Why this message may not go now ('' if it may): checked again at send time
    because consent, do-not-contact or other messages may have changed since."""
    if delivery.customer_id in facts.do_not_contact:
        return "the customer is marked do not contact"
    if delivery.transactional:
        return ""
    channel = CONSENT_CHANNEL[delivery.channel]
    status = consent_in_force(facts.consents.get(delivery.customer_id, {}), channel, "marketing")
    if status == choices.ConsentStatus.WITHDRAWN:
        return f"marketing consent withdrawn for {channel}"
    if status != choices.ConsentStatus.GRANTED and delivery.channel in OPT_IN_CHANNELS:
        return f"no marketing consent recorded for {channel}"
    return _cap_reached(delivery, facts, now)


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retry: int = 0
    dead: int = 0
    blocked: int = 0
    cancelled: int = 0

    def add(self, status: str) -> None:
        setattr(self, status, getattr(self, status) + 1)  # the fields are named after the statuses


def _send_group(
    deliveries: Sequence[Delivery],
    token: str,
    report: DeliveryReport,
    clock: Callable[[], dt.datetime],
    send: Callable[..., str],
) -> None:
    with customer_contact_shared(d.customer_id for d in deliveries):
        now = clock()
        facts = _send_facts(deliveries, now)
        for delivery in deliveries:
            report.add(_send_one(delivery, token, facts, clock, send))


def _send_one(
    delivery: Delivery,
    token: str,
    facts: _SendFacts,
    clock: Callable[[], dt.datetime],
    send: Callable[..., str],
) -> str:
    now = clock()
    if delivery.campaign_id in facts.stopped_campaigns:
        if _finish(delivery, token, DeliveryStatus.CANCELLED, now, last_error="the campaign was stopped"):
            contact_history_withdraw(external_ids=[delivery.contact_id])
        return DeliveryStatus.CANCELLED
    why = send_blocked_why(delivery, facts, now)
    if why:
        if _finish(delivery, token, DeliveryStatus.BLOCKED, now, last_error=why):
            contact_history_withdraw(external_ids=[delivery.contact_id])
        return DeliveryStatus.BLOCKED
    try:
        reference = send(delivery, now=now)
    except ChannelUnavailable as exc:
        now = clock()
        if delivery.attempts >= settings.DELIVERY_MAX_ATTEMPTS:
            _finish(delivery, token, DeliveryStatus.DEAD, now, last_error=f"gave up after {delivery.attempts}: {exc}")
            return DeliveryStatus.DEAD
        due = now + dt.timedelta(seconds=retry_delay(delivery.attempts))
        _finish(delivery, token, DeliveryStatus.RETRY, now, due_at=due, last_error=str(exc)[:2000])
        return DeliveryStatus.RETRY
    except ChannelRejected as exc:
        _finish(delivery, token, DeliveryStatus.DEAD, clock(), last_error=f"refused: {exc}"[:2000])
        return DeliveryStatus.DEAD
    except Exception as exc:  # a bug: set the row aside rather than crash-loop the worker
        logger.exception("delivery %s failed unexpectedly", delivery.pk)
        _finish(delivery, token, DeliveryStatus.DEAD, clock(), last_error=f"{type(exc).__name__}: {exc}"[:2000])
        return DeliveryStatus.DEAD
    now = clock()
    _finish(delivery, token, DeliveryStatus.SENT, now, sent_at=now, last_error=str(reference or "")[:200])
    facts.sent[(delivery.customer_id, delivery.channel)].append(now)
    return DeliveryStatus.SENT


def deliveries_send_due(
    *,
    worker: str,
    limit: int = DELIVERY_CLAIM_BATCH,
    clock: Callable[[], dt.datetime] = timezone.now,
    send: Callable[..., str] | None = None,
) -> DeliveryReport:
    """Claim due rows and send them; what happened to each."""
    token, ids = deliveries_claim(worker=worker, now=clock(), limit=limit)
    report = DeliveryReport(claimed=len(ids))
    if not ids:
        return report
    from campaigns.channels import email_batch

    if send is None:
        from campaigns.channels import channel_send

        send = channel_send
    # One email connection for the batch: a handshake per message would dominate on SMTP.
    with email_batch():
        _send_claimed(ids, token, report, clock, send)
    return report


def _send_claimed(
    ids: Sequence[int], token: str, report: DeliveryReport, clock: Callable[[], dt.datetime], send: Callable[..., str]
) -> None:
    # The customer and their contact details come along: every adapter reads them.
    rows = list(Delivery.objects.filter(pk__in=ids).select_related("customer__contact").order_by("customer_id", "id"))
    group: list[Delivery] = []
    customers: set[int] = set()
    for delivery in rows:
        if delivery.customer_id not in customers and len(customers) >= DELIVERY_LOCK_GROUP:
            _send_group(group, token, report, clock, send)
            group, customers = [], set()
        group.append(delivery)
        customers.add(delivery.customer_id)
    if group:
        _send_group(group, token, report, clock, send)


# --- sweeping, retrying, runs -----------------------------------------------------------------------------------


def deliveries_sweep(*, now: dt.datetime) -> dict[str, int]:
    """Put back rows claimed too long ago (their worker died), bury those out of
    attempts, and close finished runs. Safe to run anywhere, any number of times."""
    stale = now - dt.timedelta(seconds=settings.DELIVERY_CLAIM_TIMEOUT)
    stuck = Delivery.objects.filter(status=DeliveryStatus.SENDING, claimed_at__lt=stale)
    dead = stuck.filter(attempts__gte=settings.DELIVERY_MAX_ATTEMPTS).update(
        status=DeliveryStatus.DEAD, last_error="its worker was lost on the last attempt", updated_at=now
    )
    reclaimed = stuck.update(status=DeliveryStatus.RETRY, due_at=now, claimed_by="", updated_at=now)
    closed = runs_close(now=now)
    due = Delivery.objects.filter(status__in=[DeliveryStatus.QUEUED, DeliveryStatus.RETRY], due_at__lte=now).exists()
    return {"reclaimed": reclaimed, "dead": dead, "runs_closed": closed, "due": int(due)}


def runs_close(*, now: dt.datetime) -> int:
    """Mark runs done whose decisions are all made and whose messages have all gone
    (one way or another); a one-off campaign whose runs are done is completed."""
    closed = 0
    for run in CampaignRun.objects.filter(status__in=[RunStatus.DECIDING, RunStatus.DELIVERING]).select_related(
        "batch_run"
    ):
        batch_status = run.batch_run.status
        if batch_status == "failed":
            CampaignRun.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, finished_at=now, updated_at=now)
            closed += 1
            continue
        if batch_status != "done":
            continue
        if Delivery.objects.filter(run=run, status__in=OPEN).exists():
            if run.status == RunStatus.DECIDING:
                CampaignRun.objects.filter(pk=run.pk).update(status=RunStatus.DELIVERING, updated_at=now)
            continue
        CampaignRun.objects.filter(pk=run.pk).update(status=RunStatus.DONE, finished_at=now, updated_at=now)
        closed += 1
    Campaign.objects.filter(status=CampaignStatus.ACTIVE, schedule="once", next_run_at__isnull=True).exclude(
        runs__status__in=[RunStatus.DECIDING, RunStatus.DELIVERING]
    ).filter(runs__isnull=False).update(status=CampaignStatus.COMPLETED, updated_at=now)
    return closed


@transaction.atomic
def delivery_retry(*, delivery: Delivery, actor: User, now: dt.datetime) -> Delivery:
    """Send a dead letter again (after the cause was fixed), audited."""
    from core.permissions import user_can

    if not user_can(actor, "manage_campaigns"):
        raise PermissionError("retrying a delivery needs a role allowed to manage campaigns")
    changed = Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.DEAD).update(
        status=DeliveryStatus.RETRY, due_at=now, attempts=0, claimed_by="", updated_at=now
    )
    if not changed:
        raise ValueError("only a dead letter can be retried")
    audit_record(
        actor=actor,
        action="delivery.retry",
        object_type="delivery",
        object_id=str(delivery.public_id),
        before={"status": DeliveryStatus.DEAD, "last_error": delivery.last_error},
        after={"status": DeliveryStatus.RETRY},
        now=now,
    )
    deliver_soon()
    delivery.refresh_from_db()
    return delivery


def deliveries_cancel(*, campaign: Campaign, now: dt.datetime) -> int:
    """Cancel a stopped campaign's messages not yet sent, and take them out of the
    contact history (they were never made). Rows a worker holds finish as cancelled
    when it checks the campaign."""
    waiting = Delivery.objects.filter(campaign=campaign, status__in=[DeliveryStatus.QUEUED, DeliveryStatus.RETRY])
    contact_ids = list(waiting.values_list("contact_id", flat=True))
    cancelled = waiting.update(status=DeliveryStatus.CANCELLED, last_error="the campaign was stopped", updated_at=now)
    for start in range(0, len(contact_ids), 1000):
        contact_history_withdraw(external_ids=contact_ids[start : start + 1000])
    return cancelled
