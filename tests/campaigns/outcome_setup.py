"""Campaigns, decisions and deliveries for the outcome and performance tests, built
with the ORM as the outbox would leave them.

Two ways in: ``decided_bank()`` uses decisioning's bank (real catalogue, consents,
models) and ``decision_make`` for real-time decisions; ``small_bank()`` has three
products and their offers with no model, for tests that only count. Either way
``campaign_reach`` records what a campaign run leaves behind for one customer: a
member row, the batch decision and, unless the customer is held out, a sent
``Delivery`` per offer with its contact-history row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from campaigns.models import (
    Campaign,
    CampaignMember,
    CampaignRun,
    CampaignSchedule,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    RunStatus,
)
from core.models import Role, User
from customers import choices
from customers.models import Customer, Product
from customers.services import OfferMade, contact_history_record
from decisioning.decisions import decision_make
from decisioning.engine import CONTACT_CHANNEL
from decisioning.models import BatchDecisionRun, CatalogueSnapshot, Decision, DecisionKind, Offer
from tests.factories.customers import AccountFactory, CustomerFactory, InteractionFactory, ProductFactory
from tests.factories.decisioning import OfferFactory

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


@dataclass
class Bank:
    offers: dict[str, Offer]  # offer code -> offer
    customers: list[Customer]
    owner: User
    campaigns: dict[str, Campaign] = field(default_factory=dict)


def owner_get() -> User:
    return User.objects.get_or_create(username="campaign-owner", defaults={"role": Role.BUSINESS})[0]


def small_bank(n_customers: int = 20) -> Bank:
    """Three products with one offer each (value 100, 250 and 40 EUR) and customers."""
    offers = {}
    for code, value in (("mortgage", "250.00"), ("card", "100.00"), ("saver", "40.00")):
        product = ProductFactory(code=code.upper(), name=code.title(), value=Decimal(value))
        offers[code] = OfferFactory(code=code, product=product, value=Decimal(value), name=f"{code.title()} offer")
    customers = [CustomerFactory() for _ in range(n_customers)]
    return Bank(offers=offers, customers=customers, owner=owner_get())


def decided_bank() -> Bank:
    """Decisioning's test bank: real catalogue (offers named after products in lower case)."""
    from tests.decisioning.decision_setup import decision_bank_build

    world = decision_bank_build()
    offers = {offer.code: offer for offer in world.offers.values()}
    return Bank(offers=offers, customers=list(world.bank.customers), owner=world.editor)


def realtime_decide(customer: Customer, *, channel: str = "web", now: dt.datetime = NOW) -> Decision:
    """A real-time decision through the engine (contact history written)."""
    return decision_make(
        customer_id=customer.external_id, channel=channel, kind=DecisionKind.REALTIME, now=now
    ).decision


def _snapshot() -> CatalogueSnapshot:
    return CatalogueSnapshot.objects.get_or_create(
        sha256="0" * 64, defaults={"content": {"offers": [], "policies": []}}
    )[0]


def _views(offers: list[Offer]) -> list[dict]:
    return [
        {
            "rank": rank,
            "offer_code": offer.code,
            "offer_name": offer.name,
            "product_code": offer.product.code,
            "value": str(offer.value),
            "currency": offer.currency,
        }
        for rank, offer in enumerate(offers, start=1)
    ]


def decision_store(
    customer: Customer,
    offers: list[Offer],
    *,
    channel: str = "email",
    made_at: dt.datetime = NOW,
    kind: str = DecisionKind.REALTIME,
    batch_run: BatchDecisionRun | None = None,
    model_versions: dict | None = None,
    requested_by: str = "",
) -> Decision:
    """A decision row as the engine stores it (without running the engine); a
    real-time one also writes its offers' contact-history rows."""
    decision = Decision.objects.create(
        customer=customer,
        kind=kind,
        channel=channel,
        made_at=made_at,
        catalogue=_snapshot(),
        model_versions=model_versions or {},
        inputs={"customer": {"external_id": customer.external_id}, "context": {}},
        offers=_views(offers),
        batch_run=batch_run,
        requested_by=requested_by,
    )
    if kind == DecisionKind.REALTIME and offers:
        contact_history_record(
            customer_id=customer.pk,
            channel=CONTACT_CHANNEL[channel],
            offers=[
                OfferMade(external_id=f"nba-{decision.public_id.hex}-{r}", product_id=o.product_id, campaign_code="x")
                for r, o in enumerate(offers, start=1)
            ],
            now=made_at,
        )
    return decision


def campaign_create(
    bank: Bank,
    code: str,
    *,
    offers: list[str] | None = None,
    channels: tuple[str, ...] = ("email",),
    control_percent: int | Decimal = 10,
    attribution_days: int = 30,
) -> Campaign:
    campaign = Campaign.objects.create(
        code=code,
        name=code.replace("-", " ").title(),
        owner=bank.owner,
        status=CampaignStatus.ACTIVE,
        channels=list(channels),
        schedule=CampaignSchedule.ONCE,
        control_percent=Decimal(control_percent),
        attribution_days=attribution_days,
        launched_at=NOW,
    )
    if offers:
        campaign.offers.set([bank.offers[c] for c in offers])
    bank.campaigns[code] = campaign
    return campaign


def campaign_run_create(campaign: Campaign, *, channel: str = "email", now: dt.datetime = NOW) -> CampaignRun:
    batch = BatchDecisionRun.objects.create(channel=channel, now=now, status="done")
    return CampaignRun.objects.create(
        campaign=campaign, channel=channel, batch_run=batch, status=RunStatus.DONE, started_at=now, finished_at=now
    )


def campaign_reach(
    run: CampaignRun,
    customer: Customer,
    offers: list[Offer],
    *,
    control: bool = False,
    made_at: dt.datetime | None = None,
    status: str = DeliveryStatus.SENT,
    model_versions: dict | None = None,
) -> Decision:
    """What a campaign run leaves for one customer: membership, the batch decision,
    and (treated customers) a delivery per offer with its contact-history row."""
    made_at = made_at or run.started_at
    CampaignMember.objects.get_or_create(
        campaign=run.campaign, customer=customer, defaults={"control": control, "assigned_at": made_at}
    )
    decision = decision_store(
        customer,
        offers,
        channel=run.channel,
        made_at=made_at,
        kind=DecisionKind.BATCH,
        batch_run=run.batch_run,
        model_versions=model_versions,
    )
    if control:
        return decision
    made = []
    for rank, offer in enumerate(offers, start=1):
        contact_id = f"cmp-{decision.public_id.hex}-{rank}"
        Delivery.objects.create(
            decision=decision,
            customer=customer,
            campaign=run.campaign,
            run=run,
            channel=run.channel,
            offer_code=offer.code,
            product=offer.product,
            rank=rank,
            contact_id=contact_id,
            status=status,
            attempts=1,
            due_at=made_at,
            sent_at=made_at + dt.timedelta(minutes=5) if status == DeliveryStatus.SENT else None,
            created_at=made_at,
        )
        made.append(OfferMade(external_id=contact_id, product_id=offer.product_id, campaign_code=run.campaign.code))
    contact_history_record(customer_id=customer.pk, channel=CONTACT_CHANNEL[run.channel], offers=made, now=made_at)
    return decision


def account_open(customer: Customer, product: Product, opened_on: dt.date, **kwargs) -> object:
    return AccountFactory(customer=customer, product=product, opened_on=opened_on, **kwargs)


def survey(customer: Customer, score: int, at: dt.datetime) -> object:
    return InteractionFactory(
        customer=customer,
        occurred_at=at,
        event_type=choices.InteractionType.SURVEY,
        channel=choices.InteractionChannel.APP,
        satisfaction=score,
    )


def segments_make(groups: dict[str, list[Customer]], *, kind: str = "value_tier") -> dict[str, object]:
    """A current segmentation of ``kind`` with one segment per group of customers."""
    from modeling.models import FeatureSnapshot, Segment, Segmentation, SegmentMembership

    snapshot = FeatureSnapshot.objects.create(cutoff=NOW.date(), known_at=NOW)
    segmentation = Segmentation.objects.create(kind=kind, method="rules", version=1, snapshot=snapshot, is_current=True)
    out = {}
    for label, (name, customers) in enumerate(groups.items()):
        segment = Segment.objects.create(segmentation=segmentation, label=label, code=f"{kind}_{label}", name=name)
        SegmentMembership.objects.bulk_create(
            SegmentMembership(segmentation=segmentation, segment=segment, customer=c) for c in customers
        )
        out[name] = segment
    return out


@dataclass
class Scenario:
    bank: Bank
    campaign: Campaign
    treated: list[Customer]
    control: list[Customer]
    model: object
    segments: dict[str, object]


def scenario_build() -> Scenario:
    """A campaign of the card by email to 8 treated and 2 control customers on 2 March:
    5 saw it, 3 clicked, 2 accepted; 3 treated and 1 control customer opened a card;
    two surveys followed an offer (scores 4 and 2), one came too late, one without an
    offer. Beside it, one real-time web decision offered the saver outside campaigns.
    Segments: "Gold" holds the first four treated customers and the real-time one."""
    from campaigns.outcomes import conversions_attribute, response_record
    from tests.factories.modeling import model_version_create

    bank = small_bank(12)
    card = bank.offers["card"]
    model = model_version_create(product=card.product, version=3)
    campaign = campaign_create(bank, "spring", offers=["card"], control_percent=20)
    run = campaign_run_create(campaign)
    treated, control = bank.customers[:8], bank.customers[8:10]
    decisions = [campaign_reach(run, c, [card], model_versions={"CARD": model.pk}) for c in treated]
    for c in control:
        campaign_reach(run, c, [card], control=True)
    loner = bank.customers[10]
    decision_store(loner, [bank.offers["saver"]], channel="web")
    steps = {"impression": 5, "click": 3, "accept": 2}
    for kind, how_many in steps.items():
        for decision in decisions[:how_many]:
            at = NOW + dt.timedelta(hours=1)
            response_record(
                decision_id=decision.public_id, offer_code="card", kind=kind, occurred_at=at, source="t", now=at
            )
    for c in (*treated[:3], control[0]):
        account_open(c, card.product, NOW.date() + dt.timedelta(days=4))
    conversions_attribute(now=NOW + dt.timedelta(days=10), since=NOW - dt.timedelta(days=1))
    survey(treated[0], 4, NOW + dt.timedelta(days=3))
    survey(treated[1], 2, NOW + dt.timedelta(days=5))
    survey(treated[2], 5, NOW + dt.timedelta(days=20))  # long after the offer
    survey(bank.customers[11], 1, NOW + dt.timedelta(days=3))  # never offered anything
    segments = segments_make({"Gold": [*treated[:4], loner], "Silver": treated[4:]})
    return Scenario(bank, campaign, treated, control, model, segments)
