"""Three weeks of campaigns on the demo bank, so the dashboards open on real numbers.

The demo runs the product's own services on a simulated clock: each campaign run
decides, queues and delivers (email to the file backend, web content made
available) at its date, then customers respond as a seeded simulation says,
open the products they accepted (and sometimes products nobody offered them,
the control group's baseline), and answer satisfaction surveys. Conversions are
then attributed by ``conversions_attribute`` exactly as in production. Nothing
here is used outside the demo and its tests.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign, CampaignRun, CampaignStatus, Delivery, DeliveryStatus
from campaigns.outbox import deliveries_send_due, runs_close
from campaigns.outcomes import conversions_attribute, response_record
from campaigns.services import campaign_create, campaign_launch, campaign_run_work, campaign_runs_start_if_due
from core.models import User
from customers import choices
from customers.models import Account, AccountHolder, Interaction
from decisioning.models import Decision, Offer

logger = logging.getLogger(__name__)

DEMO_SEED = 20_261_101
# The campaigns: code, what they are, and days after the start of their runs.
DEMO_CAMPAIGNS: tuple[dict[str, Any], ...] = (
    {
        "code": "savings-weekly",
        "values": {
            "name": "Weekly savings nudge",
            "description": "Every customer's next best offer by email, weekly; 10% held out to measure lift.",
            "channels": ["email"],
            "schedule": "recurring",
            "every_days": 7,
            "control_percent": "10",
        },
        "days": (0, 7, 14),
    },
    {
        "code": "homepage-banner",
        "values": {
            "name": "Home page banner",
            "description": "A personalised banner on the bank's home page for every customer.",
            "channels": ["web"],
            "schedule": "once",
            "control_percent": "10",
        },
        "days": (3,),
    },
    {
        "code": "cards-autumn",
        "values": {
            "name": "Autumn card offers",
            "description": "Card offers by email, at most one per customer.",
            "channels": ["email"],
            "schedule": "once",
            "control_percent": "20",
            "offers": ["card-classic", "card-premium"],
        },
        "days": (9,),
    },
)
# How customers respond, by channel: shown (opened), clicked when shown, and what
# turns a click into an accept (times the offer's propensity, capped).
RESPONSE = {
    "email": {"shown": 0.48, "click": 0.32, "accept_lift": 3.0},
    "web": {"shown": 1.0, "click": 0.09, "accept_lift": 2.5},
}
# A customer opens a product nobody offered them at this share of its propensity
# within the attribution window: the baseline the control group measures.
BASELINE_SHARE = 0.35


@dataclass
class DemoHistory:
    runs: int = 0
    sent: int = 0
    responses: int = 0
    accounts_opened: int = 0
    surveys: int = 0
    conversions: int = 0
    campaigns: list[str] = field(default_factory=list)


def _at(start: dt.datetime, days: float, hours: float = 0.0) -> dt.datetime:
    return start + dt.timedelta(days=days, hours=hours)


def _propensity(view: dict[str, Any]) -> float:
    value = (view.get("factors") or {}).get("propensity")
    return float(value) if value is not None else 0.02


def _deliver_all(clock: Callable[[], dt.datetime]) -> int:
    sent = 0
    while True:
        report = deliveries_send_due(worker="demo", clock=clock)
        sent += report.sent
        if not report.claimed:
            return sent


def _account_open(customer_id: int, product_id: int, currency: str, on: dt.date, n: int, now: dt.datetime) -> None:
    account = Account.objects.create(
        external_id=f"DEMO-CONV-{customer_id}-{product_id}-{n}",
        customer_id=customer_id,
        product_id=product_id,
        opened_on=on,
        currency=currency,
        received_at=now,
    )
    AccountHolder.objects.create(account=account, customer_id=customer_id, role=choices.HolderRole.PRIMARY)


def demo_history_build(*, actor: User, end: dt.datetime | None = None, seed: int = DEMO_SEED) -> DemoHistory:
    """Launch the demo campaigns over the three weeks before ``end`` (default now)
    and simulate their outcomes. Skips itself when the campaigns exist."""
    end = end or timezone.now()
    history = DemoHistory()
    if Campaign.objects.filter(code__in=[c["code"] for c in DEMO_CAMPAIGNS]).exists():
        logger.info("demo campaigns exist: nothing to do")
        return history
    start = (end - dt.timedelta(days=22)).replace(hour=9, minute=0, second=0, microsecond=0)
    rng = random.Random(seed)
    products = dict(Offer.objects.values_list("code", "product_id"))
    currencies = dict(Offer.objects.values_list("code", "currency"))
    opened: set[tuple[int, int]] = set(Account.objects.values_list("customer_id", "product_id"))
    account_n = 0

    plan = sorted(
        ((day, spec) for spec in DEMO_CAMPAIGNS for day in spec["days"]), key=lambda item: (item[0], item[1]["code"])
    )
    for day, spec in plan:
        run_at = _at(start, day)
        with transaction.atomic():
            campaign = Campaign.objects.filter(code=spec["code"]).first()
            if campaign is None:
                campaign = campaign_create(code=spec["code"], values=spec["values"], actor=actor, now=run_at)
                campaign_launch(campaign=campaign, actor=actor, now=run_at)
            else:
                Campaign.objects.filter(pk=campaign.pk).update(next_run_at=run_at)
                campaign_runs_start_if_due(campaign.pk, now=run_at)
            runs = list(CampaignRun.objects.filter(campaign=campaign, started_at=run_at))
            for run in runs:
                while campaign_run_work(run_id=run.pk, task_id=None, eager=True):
                    pass
            history.sent += _deliver_all(lambda at=run_at: at + dt.timedelta(minutes=5))
            runs_close(now=run_at + dt.timedelta(minutes=10))
            history.runs += len(runs)
        history.campaigns.append(f"{spec['code']}@{run_at.date().isoformat()}")

    # Responses and conversions of what was sent, in the order things happened.
    sent = (
        Delivery.objects.filter(status=DeliveryStatus.SENT, campaign__isnull=False)
        .select_related(None)
        .order_by("id")
        .values_list("id", "decision_id", "customer_id", "channel", "offer_code", "rank", "sent_at")
    )
    decisions = {
        d.public_id: d
        for d in Decision.objects.filter(public_id__in={row[1] for row in sent}).only("public_id", "offers", "made_at")
    }
    for _pk, decision_id, customer_id, channel, offer_code, rank, sent_at in sent:
        behaviour = RESPONSE.get(channel)
        decision = decisions[decision_id]
        view = next(o for o in decision.offers if o["rank"] == rank)
        p = _propensity(view)
        if behaviour is None or rng.random() >= behaviour["shown"]:
            continue
        when = sent_at + dt.timedelta(hours=rng.uniform(0.2, 30))
        if when >= end:
            continue
        steps = ["impression"]
        if rng.random() < behaviour["click"]:
            steps.append("click")
            if rng.random() < min(0.6, behaviour["accept_lift"] * p + 0.03):
                steps.append("accept")
            elif rng.random() < 0.4:
                steps.append("reject")
        elif channel == "web" and rng.random() < 0.05:
            steps.append("dismiss")
        for kind in steps:
            response_record(
                decision_id=decision_id,
                offer_code=offer_code,
                kind=kind,
                occurred_at=when,
                source="demo",
                now=end,
            )
            history.responses += 1
            when += dt.timedelta(minutes=rng.uniform(1, 90))
        if "accept" in steps and (customer_id, products[offer_code]) not in opened and when < end:
            account_n += 1
            opened.add((customer_id, products[offer_code]))
            _account_open(
                customer_id,
                products[offer_code],
                currencies[offer_code],
                (when + dt.timedelta(days=1)).date(),
                account_n,
                end,
            )
            history.accounts_opened += 1
        if rng.random() < 0.25 and when < end:
            score = 5 if "accept" in steps else (2 if "reject" in steps else rng.choice((3, 4, 4, 5)))
            Interaction.objects.create(
                external_id=f"DEMO-SURVEY-{decision_id.hex[:12]}-{rank}",
                customer_id=customer_id,
                occurred_at=when + dt.timedelta(hours=2),
                channel=choices.InteractionChannel.EMAIL if channel == "email" else choices.InteractionChannel.WEB,
                event_type=choices.InteractionType.SURVEY,
                satisfaction=score,
                received_at=end,
            )
            history.surveys += 1

    # The baseline: some customers open offered products without responding to any
    # offer, treated and control alike; the difference is the campaigns' lift.
    for decision in Decision.objects.filter(batch_run__isnull=False, made_at__gte=start).only(
        "customer_id", "offers", "made_at"
    ):
        for view in decision.offers:
            code = view["offer_code"]
            key = (decision.customer_id, products.get(code))
            if key[1] is None or key in opened:
                continue
            if rng.random() < BASELINE_SHARE * _propensity(view):
                on = decision.made_at + dt.timedelta(days=rng.uniform(1, 14))
                if on >= end:
                    continue
                account_n += 1
                opened.add(key)
                _account_open(decision.customer_id, key[1], currencies[code], on.date(), account_n, end)
                history.accounts_opened += 1

    history.conversions = conversions_attribute(now=end, since=start)
    # The weekly campaign's next run comes after the demo's three weeks, not the moment it starts.
    Campaign.objects.filter(code__in=[c["code"] for c in DEMO_CAMPAIGNS], schedule="recurring").update(
        next_run_at=start + dt.timedelta(days=28)
    )
    Campaign.objects.filter(code__in=[c["code"] for c in DEMO_CAMPAIGNS], schedule="once").exclude(
        status=CampaignStatus.COMPLETED
    ).update(status=CampaignStatus.COMPLETED)
    return history
