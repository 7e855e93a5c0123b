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
import hashlib
import json
import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.db import connection, transaction
from django.db.models import Count, Q

from core.db import pg_cursor
from customers import choices
from customers.models import Account, AccountHolder, Consent, ContactDetails, ContactHistory, Customer, Product
from decisioning.models import (
    BusinessIssue,
    CatalogueSnapshot,
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
# How stale another process's edits may be seen: a second, at one query a second.
CATALOGUE_RECHECK_SECONDS = 1.0
# Acceptance rates are smoothed toward the bank-wide rate with this many pseudo-offers,
# so a product offered twice and taken once does not outrank everything.
RATE_PRIOR_OFFERS = 20.0
SERVICE_CAMPAIGN_PREFIX = "service:"
INBOUND_CALL_CAMPAIGN = "nba:call_centre"  # the campaign code real-time call-centre decisions record
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
    # channel -> (rates, view): each channel's offers with those rates, built once
    views: dict[str, tuple[Mapping[str, float], Any]] = field(default_factory=dict, compare=False, repr=False)


_TABLES = (BusinessIssue, OfferGroup, Offer, Treatment, ContactPolicy, Product)
CATALOGUE_MODELS = (*_TABLES, RuleSetVersion)


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
    catalogue_checked_at: float = -math.inf
    rates: dict[str, float] = field(default_factory=dict)
    rates_read_at: float = -math.inf
    lock: threading.Lock = field(default_factory=threading.Lock)


_cache = _Cache()


def catalogue_current(*, recheck_seconds: float = CATALOGUE_RECHECK_SECONDS) -> Catalogue:
    """The catalogue as it stands. A process checks at most every ``recheck_seconds``
    (one query) whether another process changed it; its own changes clear the cache
    at once (``catalogue_forget``, on every save of a catalogue row)."""
    with _cache.lock:
        found, checked = _cache.catalogue, _cache.catalogue_checked_at
    if found is not None and time.monotonic() - checked < recheck_seconds:
        return found
    stamp = _stamp()
    if found is None or found.stamp != stamp:
        found = _catalogue_load(stamp)
    with _cache.lock:
        _cache.catalogue, _cache.catalogue_checked_at = found, time.monotonic()
    return found


def catalogue_forget(**_: Any) -> None:
    """Drop this process's catalogue (a signal receiver: a catalogue row changed here)."""
    with _cache.lock:
        _cache.catalogue = None


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


@dataclass(frozen=True)
class CatalogueView:
    """The offers and policies as one channel sees them, with acceptance rates: the
    part of a decision's inputs stored once per distinct content (CatalogueSnapshot)."""

    sha256: str
    offers: list[dict[str, Any]]
    policies: list[dict[str, Any]]


_views_lock = threading.Lock()
STORED_APART = ("offers", "policies")


def catalogue_view(catalogue: Catalogue, *, channel: str, rates: Mapping[str, float]) -> CatalogueView:
    """Built and stored once per catalogue, channel and rates in a process."""
    with _views_lock:
        cached = catalogue.views.get(channel)
    if cached is not None and cached[0] is rates:  # the cache holds ``rates``: its id is not reused
        return cached[1]
    offers = []
    for base in catalogue.offers:
        spec = dict(base)
        spec["treatment_id"] = catalogue.treatments.get(base["code"], {}).get(channel)
        spec["historical_rate"] = rates.get(base["product_code"], rates.get("", 0.0))
        offers.append(spec)
    content = {"offers": offers, "policies": [dict(p) for p in catalogue.policies]}
    sha = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    # Content-addressed: a concurrent first writer is simply found.
    CatalogueSnapshot.objects.get_or_create(sha256=sha, defaults={"content": content})
    found = CatalogueView(sha256=sha, offers=offers, policies=content["policies"])

    def remember() -> None:
        with _views_lock:
            catalogue.views[channel] = (rates, found)

    # Remembered once the row is committed: should the surrounding transaction roll
    # back, the row goes with it, and the next decision writes it again.
    transaction.on_commit(remember)
    return found


def catalogue_view_ready(channel: str) -> None:
    """Store the current catalogue's view for ``channel`` now, outside any transaction,
    so that it is cached: ``catalogue_view`` remembers a view only once its row is
    committed, and the decisions of one transaction (a batch chunk) would otherwise
    each build and write it again."""
    if not connection.in_atomic_block:
        catalogue_view(catalogue_current(), channel=channel, rates=acceptance_rates())


def inputs_stored(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """What the decision record keeps: the inputs but the catalogue's part."""
    return {k: v for k, v in inputs.items() if k not in STORED_APART}


def inputs_restored(stored: Mapping[str, Any], snapshot: CatalogueSnapshot) -> dict[str, Any]:
    return {**stored, **snapshot.content}


# --- customer facts, read for a set of customers at once ------------------------------------------------------------


@dataclass
class CustomerFacts:
    customer: Customer | CustomerRow
    consents: dict[tuple[str, str], tuple[dt.datetime, str]] = field(default_factory=dict)
    held: dict[str, tuple[str, int]] = field(default_factory=dict)  # product code -> (family, tier)
    segments: list[str] = field(default_factory=list)
    contacts: list[list[Any]] = field(default_factory=list)
    features: dict[str, Any] | None = None
    first_name: str = ""  # for the greeting only; never part of the snapshot


_CUSTOMER_COLUMNS = (
    "id",
    "external_id",
    "birth_date",
    "customer_since",
    "kyc_status",
    "kyc_date",
    "sanctions_status",
    "risk_rating",
    "region",
    "employment_type",
    "do_not_contact",
    "vulnerable",
)


@dataclass(frozen=True, slots=True)
class CustomerRow:
    """The customer columns decisions read, without a model instance per row (a
    batch chunk reads hundreds); same attribute names as ``Customer``."""

    id: int
    external_id: str
    birth_date: dt.date
    customer_since: dt.date
    kyc_status: str
    kyc_date: dt.date | None
    sanctions_status: str
    risk_rating: str
    region: str
    employment_type: str
    do_not_contact: bool
    vulnerable: bool

    @property
    def pk(self) -> int:
        return self.id


_OPEN = "(a.closed_on IS NULL OR a.closed_on > %(today)s) AND a.status <> 'closed' AND a.opened_on <= %(today)s"


def _iso(column: str) -> str:
    """SQL for a timestamp as Python's ``isoformat()`` writes it in UTC (microseconds
    only when there are some): a customer's dozens of contacts then reach the engine
    as the inputs snapshot keeps them, without parsing and formatting each in Python."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"CASE WHEN date_part('microseconds', {utc})::bigint %% 1000000 = 0 "
        f"""THEN to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"') """
        f"""ELSE to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"') END"""
    )


# One round trip for everything about a customer (or a chunk of them) on PostgreSQL:
# the real-time path is bound by round trips and by the ORM building queries, not by
# the database's work, which is a handful of index lookups.
_FACTS_SQL = f"""
SELECT {", ".join("c." + name for name in _CUSTOMER_COLUMNS)},
  (SELECT d.first_name FROM customers_contactdetails d WHERE d.customer_id = c.id AND d.erased_at IS NULL),
  (SELECT json_agg(json_build_array(x.channel, x.purpose, x.status, x.effective_at))::text FROM (
     SELECT DISTINCT ON (k.channel, k.purpose) k.channel, k.purpose, k.status, k.effective_at
     FROM customers_consent k WHERE k.customer_id = c.id AND k.effective_at <= %(now)s
     ORDER BY k.channel, k.purpose, k.effective_at DESC) x),
  (SELECT json_agg(json_build_array(p.code, p.family, p.tier))::text FROM (
     SELECT a.product_id FROM customers_account a WHERE a.customer_id = c.id AND {_OPEN}
     UNION
     SELECT (SELECT a.product_id FROM customers_account a WHERE a.id = h.account_id AND {_OPEN})
     FROM customers_accountholder h WHERE h.customer_id = c.id) y JOIN customers_product p ON p.id = y.product_id),
  (SELECT json_agg(s.code)::text FROM modeling_segmentmembership m
     JOIN modeling_segmentation g ON g.id = m.segmentation_id AND g.is_current
     JOIN modeling_segment s ON s.id = m.segment_id
     WHERE m.customer_id = c.id),
  (SELECT json_agg(json_build_array(
       {_iso("h.offered_at")}, h.channel, p.code, h.outcome,
       CASE WHEN h.responded_at <= %(now)s THEN {_iso("h.responded_at")} END,
       starts_with(h.campaign_code, '{SERVICE_CAMPAIGN_PREFIX}'),
       h.channel = 'web' OR h.campaign_code = '{INBOUND_CALL_CAMPAIGN}') ORDER BY h.offered_at, h.id)::text
     FROM customers_contacthistory h JOIN customers_product p ON p.id = h.product_id
     WHERE h.customer_id = c.id AND h.offered_at > %(since)s),
  {{features}}
FROM customers_customer c LEFT JOIN modeling_onlinefeatures f ON f.customer_id = c.id
WHERE {{where}}
"""


_FACTS_BY_EXTERNAL_ID_SQL = _FACTS_SQL.format(features='f."values"', where="c.external_id = %(external_id)s")
# NO KEY UPDATE: decisions for one customer still queue behind each other (caps hold),
# while rows that merely reference the customer (online features, contact history)
# can be inserted meanwhile; FOR UPDATE would make those writers wait, and deadlock.
_LOCK_SQL = f"SELECT id FROM {Customer._meta.db_table} WHERE external_id = %s FOR NO KEY UPDATE"


def _json(value: Any) -> Any:
    # Django hands json and jsonb over as text, for JSONField to decode.
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _contact_row(
    offered_at: dt.datetime,
    channel: str,
    product: str,
    outcome: str,
    responded_at: dt.datetime | None,
    campaign: str,
    now: dt.datetime,
) -> list[Any]:
    return [
        offered_at.isoformat(),
        channel,
        product,
        outcome,
        responded_at.isoformat() if responded_at and responded_at <= now else None,
        campaign.startswith(SERVICE_CAMPAIGN_PREFIX),
        # Inbound: shown on the bank's own pages, or talking points on a call the customer made.
        channel == "web" or campaign == INBOUND_CALL_CAMPAIGN,
    ]


def _facts_pg(
    where: str, params: dict[str, Any], *, now: dt.datetime, lookback_days: int, with_features: bool
) -> dict[int, CustomerFacts]:
    today = bank_today(now)
    since = now - dt.timedelta(days=lookback_days) if lookback_days else now + dt.timedelta(days=36_500)
    sql = _FACTS_SQL.format(features='f."values"' if with_features else "NULL", where=where)
    with connection.cursor() as cursor:
        cursor.execute(sql, {**params, "now": now, "today": today, "since": since})
        rows = cursor.fetchall()
    return _facts_rows(rows, with_features=with_features)


def _facts_rows(rows: Sequence[Sequence[Any]], *, with_features: bool) -> dict[int, CustomerFacts]:
    n = len(_CUSTOMER_COLUMNS)
    out: dict[int, CustomerFacts] = {}
    for row in rows:
        customer = CustomerRow(*row[:n])
        first_name, consents, held, segments, contacts, features = row[n:]
        f = CustomerFacts(customer=customer, first_name=first_name or "")
        for channel, purpose, status, at in _json(consents) or ():
            f.consents[(channel, purpose)] = (dt.datetime.fromisoformat(at), status)
        for code, family, tier in _json(held) or ():
            f.held[code] = (family, tier)
        f.segments = list(_json(segments) or ())
        f.contacts = _json(contacts) or []  # rows as ``_contact_row`` makes them, made by the query
        f.features = _json(features) if with_features else None
        out[customer.pk] = f
    return out


def customer_facts_one(external_id: str, *, now: dt.datetime, lookback_days: int, lock: bool) -> CustomerFacts | None:
    """One customer's facts by bank id, their row locked with ``lock`` (contact caps
    are counted and spent under it). One round trip on PostgreSQL."""
    if connection.vendor == "postgresql":
        since = now - dt.timedelta(days=lookback_days) if lookback_days else now + dt.timedelta(days=36_500)
        params = {"external_id": external_id, "now": now, "today": bank_today(now), "since": since}
        # Lock first, then read in a statement of its own: under READ COMMITTED a
        # statement that waited for the lock would still read the contact history
        # as of before the holder committed, and count too few contacts. Pipelined,
        # the two statements (and the BEGIN before them) cost one round trip; the
        # server still runs the read only once the lock is held.
        with connection.wrap_database_errors, pg_cursor() as lock_cursor, pg_cursor() as cursor:
            with connection.connection.pipeline():
                if lock:
                    lock_cursor.execute(_LOCK_SQL, [external_id], prepare=True)
                cursor.execute(_FACTS_BY_EXTERNAL_ID_SQL, params, prepare=True)
            rows = cursor.fetchall()
        found = _facts_rows(rows, with_features=True)
        return next(iter(found.values()), None)
    customers = Customer.objects.filter(external_id=external_id)
    if lock:
        customers = customers.select_for_update()
    customer = customers.first()
    if customer is None:
        return None
    facts = customer_facts([customer], now=now, lookback_days=lookback_days)[customer.pk]
    contact = ContactDetails.objects.filter(customer_id=customer.pk, erased_at__isnull=True).only("first_name").first()
    facts.first_name = contact.first_name if contact else ""
    return facts


def customer_facts(
    customers: Sequence[Customer], *, now: dt.datetime, lookback_days: int, with_features: bool = True
) -> dict[int, CustomerFacts]:
    """Everything the engine reads about ``customers``: one query on PostgreSQL, one
    per table elsewhere."""
    if connection.vendor == "postgresql":
        found = _facts_pg(
            "c.id = ANY(%(ids)s)",
            {"ids": [c.pk for c in customers]},
            now=now,
            lookback_days=lookback_days,
            with_features=with_features,
        )
        return {c.pk: found[c.pk] for c in customers if c.pk in found}
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
                _contact_row(offered_at, channel, product, outcome, responded_at, campaign, now)
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
        # Stored feature rows are JSON already (modeling.online).
        return (f.features or {}).get(name.removeprefix("feature."))
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
    """The snapshot the engine runs on. The decision record keeps it but for the
    offers and policies, which it references (``catalogue_view``)."""
    c = facts.customer
    today = bank_today(now)
    features = facts.features or {}
    consents = sorted([ch, purpose, status] for (ch, purpose), (_at, status) in facts.consents.items())
    profiling = {(ch, p): s for ch, p, s in consents}.get(("any", "profiling"))
    view = catalogue_view(catalogue, channel=channel, rates=rates)
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
            "days_overdrawn_3m": float(features.get("days_overdrawn_3m") or 0.0),
            "missed_payments_3m": float(features.get("missed_payments_3m") or 0.0),
        },
        "consents": consents,
        "may_score": profiling != choices.ConsentStatus.WITHDRAWN,
        "rule_values": {
            name: _rule_value(name, facts, today, context, channel) for name in sorted(catalogue.rule_fields)
        },
        "held": [{"code": code, "family": fam, "tier": tier} for code, (fam, tier) in sorted(facts.held.items())],
        "catalogue": view.sha256,
        "offers": view.offers,
        "policies": view.policies,
        "contacts": facts.contacts,
        # Stored rows are JSON already (modeling.online); only the models' inputs are kept.
        "features": {name: features.get(name) for name in model_features},
    }


def rule_values(
    facts: CustomerFacts, fields: Iterable[str], *, now: dt.datetime, channel: str, context: Mapping[str, Any]
) -> dict[str, Any]:
    """The values of ``fields`` for a customer, as rules read them (a campaign's
    audience rule uses the fields the published rule set may not)."""
    today = bank_today(now)
    return {name: _rule_value(name, facts, today, context, channel) for name in sorted(fields)}
