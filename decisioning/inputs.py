"""Reading what a decision needs into one plain, JSON-safe snapshot.

The snapshot is what the engine runs on and what the decision record keeps for
replay: the customer's regulatory facts and consents, the values of every field
the rule set reads, products held, the offers as they stood (levers, values,
dates, acceptance rates), the contact policies and the recent contact history.
No contact details: a first name for a greeting is read separately and never
stored.

Reads are grouped by customer set, so a batch chunk reads each table once for
all of its customers, and the real-time path reads each once for one. The offer
catalogue and the contact policies are cached per process and re-read when a
single cheap query says any of them, or the published rule set, changed; offer
acceptance rates are re-read every few minutes.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Count, Q

from customers import choices
from customers.models import Account, AccountHolder, Consent, ContactHistory, Customer, Product
from decisioning.models import (
    BusinessIssue,
    ContactPolicy,
    ContactPolicyKind,
    Offer,
    OfferGroup,
    RuleSetStatus,
    RuleSetVersion,
    Treatment,
)
from decisioning.rule_sets import CompiledRuleSet, rule_set_compiled
from modeling.models import OnlineFeatures, SegmentMembership
from modeling.snapshots import bank_today

INPUTS_VERSION = 1
RATES_TTL_SECONDS = 300.0
# Acceptance rates are smoothed toward the bank-wide rate with this many pseudo-offers,
# so a product offered twice and taken once does not outrank everything.
RATE_PRIOR_OFFERS = 20.0
SERVICE_CAMPAIGN_PREFIX = "service:"
ACCEPTED = choices.OfferOutcome.ACCEPTED
CUSTOMER_FIELDS = {
    "customer.kyc_status": "kyc_status",
    "customer.risk_rating": "risk_rating",
    "customer.region": "region",
    "customer.employment_type": "employment_type",
    "customer.vulnerable": "vulnerable",
}


def age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def json_value(value: Any) -> Any:
    """A feature value as plain JSON (NaN is unknown)."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return json_value(value.item())
    return value


# --- the catalogue, cached per process ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Catalogue:
    stamp: tuple[Any, ...]
    offers: tuple[dict[str, Any], ...]  # every offer, without channel or rate
    treatments: dict[str, dict[str, int]]  # offer code -> channel -> treatment id
    treatment_texts: dict[int, tuple[str, str, str]]  # treatment id -> (subject, body, disclosures)
    policies: tuple[dict[str, Any], ...]
    rule_set: RuleSetVersion | None
    compiled: CompiledRuleSet | None
    rule_fields: frozenset[str]
    lookback_days: int  # how far back contact history matters to the policies


_TABLES = (BusinessIssue, OfferGroup, Offer, Treatment, ContactPolicy, Product)


def _stamp() -> tuple[Any, ...]:
    """One query that changes whenever the catalogue, the policies or the published
    rule set do (edits bump updated_at; deletions change the counts)."""
    parts = [
        f"(SELECT MAX(updated_at) FROM {m._meta.db_table}), (SELECT COUNT(*) FROM {m._meta.db_table})" for m in _TABLES
    ]
    table = RuleSetVersion._meta.db_table
    parts.append(f"(SELECT MAX(id) FROM {table} WHERE status = %s)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), [RuleSetStatus.PUBLISHED])
        return tuple(cursor.fetchone())


def _offer_base(offer: Offer) -> dict[str, Any]:
    product = offer.product
    group = offer.group
    issue = group.issue
    return {
        "code": offer.code,
        "name": offer.name,
        "product_code": product.code,
        "product_id": product.pk,
        "product_name": product.name,
        "family": product.family,
        "tier": product.tier,
        "complementary": sorted(p.code for p in product.complementary.all()),
        "group": group.code,
        "issue": issue.code,
        "value": float(offer.value),
        "value_text": str(offer.value),
        "currency": offer.currency,
        "headline_value": offer.headline_value,
        "is_credit": bool(offer.is_credit or product.is_credit),
        "min_age": product.min_age,
        "exclusion_group": offer.exclusion_group,
        "issue_lever": issue.lever_percent,
        "group_lever": group.lever_percent,
        "offer_lever": offer.lever_percent,
        "starts_on": offer.starts_on.isoformat() if offer.starts_on else None,
        "ends_on": offer.ends_on.isoformat() if offer.ends_on else None,
        "active": bool(offer.active and product.retired_on is None),
        "transactional": issue.transactional,
    }


def _policy(p: ContactPolicy) -> dict[str, Any]:
    return {
        "code": p.code,
        "name": p.name,
        "kind": p.kind,
        "channel": p.channel,
        "limit": p.limit,
        "period_days": p.period_days,
        "suppress_days": p.suppress_days,
    }


def _catalogue_load(stamp: tuple[Any, ...]) -> Catalogue:
    offers = list(
        Offer.objects.select_related("product", "group__issue")
        .prefetch_related("product__complementary")
        .order_by("code")
    )
    treatments: dict[str, dict[str, int]] = {}
    texts: dict[int, tuple[str, str, str]] = {}
    for offer_code, channel, pk, subject, body, disclosures in Treatment.objects.values_list(
        "offer__code", "channel", "pk", "subject", "body", "disclosures"
    ):
        treatments.setdefault(offer_code, {})[channel] = pk
        texts[pk] = (subject, body, disclosures)
    policies = tuple(_policy(p) for p in ContactPolicy.objects.filter(active=True).order_by("kind", "code"))
    rule_set = RuleSetVersion.objects.filter(status=RuleSetStatus.PUBLISHED).first()
    compiled = rule_set_compiled(rule_set) if rule_set else None
    fields: set[str] = set()
    for _rule, rule in compiled.rules if compiled else ():
        fields |= rule.fields
    lookback = 0
    for p in policies:
        span = p["period_days"] + (p["suppress_days"] if p["kind"] == ContactPolicyKind.SUPPRESSION else 0)
        lookback = max(lookback, span)
    return Catalogue(
        stamp=stamp,
        offers=tuple(_offer_base(o) for o in offers),
        treatments=treatments,
        treatment_texts=texts,
        policies=policies,
        rule_set=rule_set,
        compiled=compiled,
        rule_fields=frozenset(fields),
        lookback_days=lookback,
    )


@dataclass
class _Cache:
    catalogue: Catalogue | None = None
    rates: dict[str, float] = field(default_factory=dict)
    rates_read_at: float = -math.inf
    lock: threading.Lock = field(default_factory=threading.Lock)


_cache = _Cache()


def catalogue_current() -> Catalogue:
    """The catalogue as it stands; one query per call to check it is still current."""
    stamp = _stamp()
    with _cache.lock:
        found = _cache.catalogue
    if found is not None and found.stamp == stamp:
        return found
    loaded = _catalogue_load(stamp)
    with _cache.lock:
        _cache.catalogue = loaded
    return loaded


def acceptance_rates() -> dict[str, float]:
    """Product code -> smoothed share of its offers that were accepted."""
    with _cache.lock:
        if time.monotonic() - _cache.rates_read_at < RATES_TTL_SECONDS:
            return _cache.rates
    rows = ContactHistory.objects.values("product__code").annotate(
        offered=Count("id"), accepted=Count("id", filter=Q(outcome=ACCEPTED))
    )
    counts = {r["product__code"]: (r["offered"], r["accepted"]) for r in rows}
    offered = sum(o for o, _ in counts.values())
    overall = sum(a for _, a in counts.values()) / offered if offered else 0.0
    rates = {
        code: (accepted + RATE_PRIOR_OFFERS * overall) / (n + RATE_PRIOR_OFFERS)
        for code, (n, accepted) in counts.items()
    }
    rates[""] = overall  # products never offered
    with _cache.lock:
        _cache.rates, _cache.rates_read_at = rates, time.monotonic()
    return rates


def caches_clear() -> None:
    with _cache.lock:
        _cache.catalogue = None
        _cache.rates, _cache.rates_read_at = {}, -math.inf


# --- customer facts, read for a set of customers at once ------------------------------------------------------------


@dataclass
class CustomerFacts:
    customer: Customer
    consents: dict[tuple[str, str], tuple[dt.datetime, str]] = field(default_factory=dict)
    held: dict[str, tuple[str, int]] = field(default_factory=dict)  # product code -> (family, tier)
    segments: list[str] = field(default_factory=list)
    contacts: list[list[Any]] = field(default_factory=list)
    features: dict[str, Any] | None = None


def customer_facts(
    customers: Sequence[Customer], *, now: dt.datetime, lookback_days: int, with_features: bool = True
) -> dict[int, CustomerFacts]:
    """Everything the engine reads about ``customers``, one query per table."""
    facts = {c.pk: CustomerFacts(customer=c) for c in customers}
    ids = list(facts)
    today = bank_today(now)
    for customer_id, channel, purpose, status, at in Consent.objects.filter(
        customer_id__in=ids, effective_at__lte=now
    ).values_list("customer_id", "channel", "purpose", "status", "effective_at"):
        seen = facts[customer_id].consents.get((channel, purpose))
        if seen is None or at >= seen[0]:
            facts[customer_id].consents[(channel, purpose)] = (at, status)
    open_accounts = Q(closed_on__isnull=True) | Q(closed_on__gt=today)
    open_accounts &= ~Q(status=choices.AccountStatus.CLOSED) & Q(opened_on__lte=today)
    for customer_id, code, family, tier in Account.objects.filter(open_accounts, customer_id__in=ids).values_list(
        "customer_id", "product__code", "product__family", "product__tier"
    ):
        facts[customer_id].held[code] = (family, tier)
    joint = AccountHolder.objects.filter(customer_id__in=ids, account__in=Account.objects.filter(open_accounts))
    for customer_id, code, family, tier in joint.values_list(
        "customer_id", "account__product__code", "account__product__family", "account__product__tier"
    ):
        facts[customer_id].held[code] = (family, tier)
    for customer_id, code in SegmentMembership.objects.filter(
        customer_id__in=ids, segmentation__is_current=True
    ).values_list("customer_id", "segment__code"):
        facts[customer_id].segments.append(code)
    if lookback_days:
        since = now - dt.timedelta(days=lookback_days)
        # No upper bound: a decision that waited for the customer's lock must see the
        # offers made meanwhile, even those stamped a moment after its own clock.
        rows = ContactHistory.objects.filter(customer_id__in=ids, offered_at__gt=since).values_list(
            "customer_id", "offered_at", "channel", "product__code", "outcome", "responded_at", "campaign_code"
        )
        for customer_id, offered_at, channel, product, outcome, responded_at, campaign in rows.order_by(
            "offered_at", "id"
        ):
            facts[customer_id].contacts.append(
                [
                    offered_at.isoformat(),
                    channel,
                    product,
                    outcome,
                    responded_at.isoformat() if responded_at and responded_at <= now else None,
                    campaign.startswith(SERVICE_CAMPAIGN_PREFIX),
                ]
            )
    if with_features:
        for customer_id, values in OnlineFeatures.objects.filter(customer_id__in=ids).values_list(
            "customer_id", "values"
        ):
            facts[customer_id].features = values
    return facts


def _rule_value(name: str, f: CustomerFacts, today: dt.date, context: Mapping[str, Any], channel: str) -> Any:
    c = f.customer
    if name == "customer.age":
        return age_on(c.birth_date, today)
    if name == "customer.customer_since":
        return c.customer_since.isoformat()
    if name in CUSTOMER_FIELDS:
        return getattr(c, CUSTOMER_FIELDS[name])
    if name == "holdings.products":
        return sorted(f.held)
    if name == "holdings.families":
        return sorted({family for family, _ in f.held.values()})
    if name == "segments":
        return sorted(f.segments)
    if name == "context.channel":
        return channel
    if name.startswith("context."):
        return context.get(name.removeprefix("context."))
    if name.startswith("feature."):
        return json_value((f.features or {}).get(name.removeprefix("feature.")))
    raise KeyError(name)


def decision_inputs(
    facts: CustomerFacts,
    catalogue: Catalogue,
    *,
    channel: str,
    context: Mapping[str, Any],
    max_results: int,
    now: dt.datetime,
    rates: Mapping[str, float],
    model_features: Iterable[str] = (),
) -> dict[str, Any]:
    """The snapshot the engine runs on and the decision record keeps."""
    c = facts.customer
    today = bank_today(now)
    features = facts.features or {}
    consents = sorted([ch, purpose, status] for (ch, purpose), (_at, status) in facts.consents.items())
    profiling = {(ch, p): s for ch, p, s in consents}.get(("any", "profiling"))
    offers = []
    for base in catalogue.offers:
        spec = dict(base)
        spec["treatment_id"] = catalogue.treatments.get(base["code"], {}).get(channel)
        spec["historical_rate"] = rates.get(base["product_code"], rates.get("", 0.0))
        offers.append(spec)
    return {
        "version": INPUTS_VERSION,
        "now": now.isoformat(),
        "today": today.isoformat(),
        "channel": channel,
        "context": dict(context),
        "max_results": max_results,
        "customer": {
            "id": c.pk,
            "external_id": c.external_id,
            "age": age_on(c.birth_date, today),
            "kyc_status": c.kyc_status,
            "kyc_date": c.kyc_date.isoformat() if c.kyc_date else None,
            "sanctions_status": c.sanctions_status,
            "risk_rating": c.risk_rating,
            "do_not_contact": c.do_not_contact,
            "vulnerable": c.vulnerable,
            "days_overdrawn_3m": float(json_value(features.get("days_overdrawn_3m")) or 0.0),
            "missed_payments_3m": float(json_value(features.get("missed_payments_3m")) or 0.0),
        },
        "consents": consents,
        "may_score": profiling != choices.ConsentStatus.WITHDRAWN,
        "rule_values": {
            name: _rule_value(name, facts, today, context, channel) for name in sorted(catalogue.rule_fields)
        },
        "held": [{"code": code, "family": fam, "tier": tier} for code, (fam, tier) in sorted(facts.held.items())],
        "offers": offers,
        "policies": list(catalogue.policies),
        "contacts": facts.contacts,
        "features": {name: json_value(features.get(name)) for name in model_features},
    }
