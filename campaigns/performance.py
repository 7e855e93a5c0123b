"""What offers earn: figures by offer, channel, segment, campaign and model version
over time, the funnel from sent to converted, and lift against control groups.

Every figure is an aggregate the database computes (grouped by day and by the
dimension asked for), so a dashboard costs a handful of queries however many
offers were made; days are folded into weeks here. The streams counted:

- **sent**: deliveries the outbox sent, plus offers that real-time decisions
  returned straight to a channel (no delivery), by the day they went out;
- **impressions, clicks, accepts, rejects, dismisses**: responses channels
  reported, by the day they happened;
- **conversions and revenue**: conversions of treated customers (control-group
  conversions are the baseline for lift, not earnings), by conversion day;
- **satisfaction**: survey scores (1 to 5) given within ``SATISFACTION_DAYS``
  after an offer was sent, each counted for the last offer sent before it.

Days are UTC days. Lift compares the share of a campaign's treated members who
converted with the share of its control members who did, with Newcombe's hybrid
score interval (method 10 of Newcombe 1998) for the difference of proportions.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import TruncDate
from scipy import stats

from campaigns.models import Campaign, CampaignMember, Conversion, Delivery, DeliveryStatus, OfferResponse
from customers import choices
from customers.models import Interaction
from decisioning.models import Decision, DecisionKind, Offer, TreatmentChannel
from modeling.models import ModelVersion, Segment, Segmentation, SegmentationKind, SegmentMembership

SATISFACTION_DAYS = 14
SRM_ALPHA = 0.001  # a split this unlikely under the configured share is broken, not unlucky
# A conversion rate over a handful of sends is noise (2 of 5 is "40%"): the trend
# chart's rate line starts once this many offers have been sent.
MIN_RATE_BASE = 30
Z_95 = 1.959963984540054
DIMENSIONS = {
    "offer": "Offer",
    "channel": "Channel",
    "segment": "Segment",
    "campaign": "Campaign",
    "model_version": "Model version",
}
BUCKETS = ("day", "week")
COUNTS = ("sent", "impressions", "clicks", "accepts", "rejects", "dismisses", "conversions")
KIND_COUNT = {
    "impression": "impressions",
    "click": "clicks",
    "accept": "accepts",
    "reject": "rejects",
    "dismiss": "dismisses",
}
RULES_ONLY = "rules"  # the model-version key of offers decided without a model


@dataclass(frozen=True)
class Filters:
    start: dt.date
    end: dt.date  # inclusive
    campaign_id: int | None = None
    channel: str | None = None
    offer_code: str | None = None
    segment_id: int | None = None  # a segment of the current segmentation of its kind
    segment_kind: str | None = None  # how "by segment" groups customers
    bucket: str = "day"

    @property
    def since(self) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time(), tzinfo=dt.UTC)

    @property
    def until(self) -> dt.datetime:
        return dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


@dataclass
class Figures:
    """The counts of one group (or bucket), and what follows from them."""

    sent: int = 0
    impressions: int = 0
    clicks: int = 0
    accepts: int = 0
    rejects: int = 0
    dismisses: int = 0
    conversions: int = 0
    revenue: Decimal = Decimal("0.00")
    satisfaction_total: int = 0
    satisfaction_count: int = 0

    @property
    def conversion_rate(self) -> float | None:
        return self.conversions / self.sent if self.sent else None

    @property
    def mean_satisfaction(self) -> float | None:
        return self.satisfaction_total / self.satisfaction_count if self.satisfaction_count else None

    def add(self, other: Figures) -> None:
        for name in (*COUNTS, "revenue", "satisfaction_total", "satisfaction_count"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in COUNTS}
        out["conversion_rate"] = self.conversion_rate
        out["revenue"] = self.revenue
        out["mean_satisfaction"] = self.mean_satisfaction
        out["surveys"] = self.satisfaction_count
        return out


@dataclass
class Row:
    key: str
    label: str
    figures: Figures = field(default_factory=Figures)


# --- the streams -----------------------------------------------------------------------------------------------------


def _segment_kind(filters: Filters) -> str | None:
    if filters.segment_kind:
        return filters.segment_kind
    if filters.segment_id:
        return Segment.objects.filter(pk=filters.segment_id).values_list("segmentation__kind", flat=True).first()
    current = set(Segmentation.objects.filter(is_current=True).values_list("kind", flat=True))
    return next((kind for kind in SegmentationKind.values if kind in current), None)


def _segment_of(kind: str | None) -> Subquery:
    """The customer's segment id in the current segmentation of ``kind``."""
    return Subquery(
        SegmentMembership.objects.filter(
            customer_id=OuterRef("customer_id"), segmentation__is_current=True, segmentation__kind=kind
        ).values("segment_id")[:1]
    )


def _filtered(qs: QuerySet, filters: Filters, *, campaign: bool = True) -> QuerySet:
    if filters.campaign_id and campaign:
        qs = qs.filter(campaign_id=filters.campaign_id)
    if filters.channel:
        qs = qs.filter(channel=filters.channel)
    if filters.offer_code:
        qs = qs.filter(offer_code=filters.offer_code)
    if filters.segment_id:
        qs = qs.filter(
            Exists(SegmentMembership.objects.filter(customer_id=OuterRef("customer_id"), segment_id=filters.segment_id))
        )
    return qs


def _keys(qs: QuerySet, dimension: str | None, filters: Filters, *, product: str) -> tuple[QuerySet, list[str]]:
    """Annotate what the rows are grouped by: the day, and the dimension's columns."""
    if dimension == "segment":
        return qs.annotate(dim_segment=_segment_of(_segment_kind(filters))), ["dim_segment"]
    if dimension == "model_version":
        return qs.annotate(dim_models=F("decision__model_versions"), dim_product=F(product)), [
            "dim_models",
            "dim_product",
        ]
    column = {"offer": "offer_code", "channel": "channel", "campaign": "campaign_id"}.get(dimension or "")
    return qs, [column] if column else []


def _key(row: Mapping[str, Any], dimension: str | None, products: Mapping[str, str]) -> str:
    if dimension is None:
        return ""
    if dimension == "segment":
        return str(row["dim_segment"]) if row["dim_segment"] is not None else ""
    if dimension == "model_version":
        product = row["dim_product"]
        product = products.get(product, product)  # responses name the offer, not the product
        version = (row["dim_models"] or {}).get(product) if isinstance(row["dim_models"], dict) else None
        return str(version) if version is not None else RULES_ONLY
    column = {"offer": "offer_code", "channel": "channel", "campaign": "campaign_id"}[dimension]
    return str(row[column]) if row[column] is not None else ""


def _day(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


Cells = dict[tuple[dt.date, str], Figures]


def _count_into(cells: Cells, rows: Iterable[Mapping[str, Any]], dimension: str | None, products, apply) -> None:
    for row in rows:
        apply(cells.setdefault((_day(row["day"]), _key(row, dimension, products)), Figures()), row)


def _deliveries_sent(cells: Cells, filters: Filters, dimension: str | None, products: Mapping[str, str]) -> None:
    qs = _filtered(
        Delivery.objects.filter(status=DeliveryStatus.SENT, sent_at__gte=filters.since, sent_at__lt=filters.until),
        filters,
    )
    qs, keys = _keys(qs, dimension, filters, product="product__code")
    rows = qs.annotate(day=TruncDate("sent_at", tzinfo=dt.UTC)).values("day", *keys).annotate(n=Count("id"))
    _count_into(cells, rows, dimension, products, lambda f, r: setattr(f, "sent", f.sent + r["n"]))


def _responses(cells: Cells, filters: Filters, dimension: str | None, products: Mapping[str, str]) -> None:
    qs = _filtered(OfferResponse.objects.filter(occurred_at__gte=filters.since, occurred_at__lt=filters.until), filters)
    qs, keys = _keys(qs, dimension, filters, product="offer_code")
    rows = qs.annotate(day=TruncDate("occurred_at", tzinfo=dt.UTC)).values("day", "kind", *keys).annotate(n=Count("id"))

    def apply(figures: Figures, row: Mapping[str, Any]) -> None:
        name = KIND_COUNT[row["kind"]]
        setattr(figures, name, getattr(figures, name) + row["n"])

    _count_into(cells, rows, dimension, products, apply)


def _conversions(cells: Cells, filters: Filters, dimension: str | None, products: Mapping[str, str]) -> None:
    qs = _filtered(
        Conversion.objects.filter(control=False, converted_at__gte=filters.since, converted_at__lt=filters.until),
        filters,
    )
    qs, keys = _keys(qs, dimension, filters, product="product__code")
    rows = (
        qs.annotate(day=TruncDate("converted_at", tzinfo=dt.UTC))
        .values("day", *keys)
        .annotate(n=Count("id"), revenue=Sum("revenue"))
    )

    def apply(figures: Figures, row: Mapping[str, Any]) -> None:
        figures.conversions += row["n"]
        figures.revenue += row["revenue"] or Decimal("0")

    _count_into(cells, rows, dimension, products, apply)


def _satisfaction(cells: Cells, filters: Filters, dimension: str | None, products: Mapping[str, str]) -> None:
    """Each survey counts for the last offer sent to its customer in the days before it."""
    window = dt.timedelta(days=SATISFACTION_DAYS)
    preceding = _filtered(
        Delivery.objects.filter(
            status=DeliveryStatus.SENT,
            customer_id=OuterRef("customer_id"),
            sent_at__lt=OuterRef("occurred_at"),
            sent_at__gte=OuterRef("occurred_at") - window,
        ),
        # the segment filter applies to the survey's customer, below
        Filters(
            start=filters.start,
            end=filters.end,
            campaign_id=filters.campaign_id,
            channel=filters.channel,
            offer_code=filters.offer_code,
        ),
    ).order_by("-sent_at", "-id")
    surveys = Interaction.objects.filter(
        satisfaction__isnull=False,
        event_type=choices.InteractionType.SURVEY,
        occurred_at__gte=filters.since,
        occurred_at__lt=filters.until,
    ).filter(Exists(preceding))
    if filters.segment_id:
        surveys = surveys.filter(
            Exists(SegmentMembership.objects.filter(customer_id=OuterRef("customer_id"), segment_id=filters.segment_id))
        )
    keys: list[str] = []
    if dimension == "segment":
        surveys, keys = surveys.annotate(dim_segment=_segment_of(_segment_kind(filters))), ["dim_segment"]
    elif dimension == "model_version":
        surveys = surveys.annotate(
            dim_models=Subquery(preceding.values("decision__model_versions")[:1]),
            dim_product=Subquery(preceding.values("product__code")[:1]),
        )
        keys = ["dim_models", "dim_product"]
    elif dimension is not None:
        column = {"offer": "offer_code", "channel": "channel", "campaign": "campaign_id"}[dimension]
        # The survey's own channel is another thing: the preceding offer's goes under another name.
        surveys, keys = surveys.annotate(**{f"dim_{column}": Subquery(preceding.values(column)[:1])}), [f"dim_{column}"]
    rows = (
        surveys.annotate(day=TruncDate("occurred_at", tzinfo=dt.UTC))
        .values("day", *keys)
        .annotate(n=Count("id"), total=Sum("satisfaction"))
    )
    if dimension in ("offer", "channel", "campaign"):
        rows = [{**r, r_key[4:]: r[r_key]} for r in rows for r_key in keys]
    elif dimension == "model_version":
        # A JSON value taken through a subquery may come back as its text.
        rows = [
            {**r, "dim_models": json.loads(r["dim_models"]) if isinstance(r["dim_models"], str) else r["dim_models"]}
            for r in rows
        ]

    def apply(figures: Figures, row: Mapping[str, Any]) -> None:
        figures.satisfaction_count += row["n"]
        figures.satisfaction_total += row["total"] or 0

    _count_into(cells, rows, dimension, products, apply)


def _realtime_sql(filters: Filters, dimension: str | None) -> tuple[str, list[Any]]:
    """Offers real-time decisions returned to a channel directly (no delivery),
    expanded from each decision's offer list by the database's JSON functions."""
    decision = Decision._meta.db_table
    delivery = Delivery._meta.db_table
    membership = SegmentMembership._meta.db_table
    if connection.vendor == "postgresql":
        offers = "CROSS JOIN LATERAL jsonb_array_elements(d.offers) AS e(value)"
        offer = "e.value->>'offer_code'"
        product = "e.value->>'product_code'"
        model = "d.model_versions->>(e.value->>'product_code')"
        day = "(d.made_at AT TIME ZONE 'UTC')::date"
    else:
        offers = ", json_each(d.offers) AS e"
        offer = "json_extract(e.value, '$.offer_code')"
        product = "json_extract(e.value, '$.product_code')"
        model = "json_extract(d.model_versions, '$.\"' || json_extract(e.value, '$.product_code') || '\"')"
        day = "date(d.made_at)"
    params: list[Any] = []
    segment = "NULL"
    join = ""
    if dimension == "segment":
        kind = _segment_kind(filters)
        join = (
            f"LEFT JOIN {membership} m ON m.customer_id = d.customer_id AND m.segmentation_id = "
            f"(SELECT id FROM {Segmentation._meta.db_table} WHERE kind = %s AND is_current)"
        )
        params.append(kind)
        segment = "m.segment_id"
    where = [
        "d.kind = %s",
        "d.made_at >= %s",
        "d.made_at < %s",
        f"NOT EXISTS (SELECT 1 FROM {delivery} x WHERE x.decision_id = d.public_id)",
    ]
    adapt = connection.ops.adapt_datetimefield_value
    params += [DecisionKind.REALTIME, adapt(filters.since), adapt(filters.until)]
    if filters.channel:
        where.append("d.channel = %s")
        params.append(filters.channel)
    if filters.offer_code:
        where.append(f"{offer} = %s")
        params.append(filters.offer_code)
    if filters.segment_id:
        where.append(f"d.customer_id IN (SELECT customer_id FROM {membership} WHERE segment_id = %s)")
        params.append(filters.segment_id)
    sql = (
        f"SELECT {day}, {offer}, {product}, d.channel, {segment}, {model}, COUNT(*) "
        f"FROM {decision} d {offers} {join} WHERE {' AND '.join(where)} "
        "GROUP BY 1, 2, 3, 4, 5, 6"  # by position: PostgreSQL refuses a constant (NULL) named in GROUP BY
    )
    return sql, params


def _realtime_made(cells: Cells, filters: Filters, dimension: str | None) -> None:
    if filters.campaign_id:
        return  # these offers were made outside every campaign
    sql, params = _realtime_sql(filters, dimension)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    for day, offer, _product, channel, segment, model, n in found:
        if dimension is None:
            key = ""
        elif dimension == "offer":
            key = offer or ""
        elif dimension == "channel":
            key = channel
        elif dimension == "segment":
            key = str(segment) if segment is not None else ""
        elif dimension == "model_version":
            key = str(model) if model is not None else RULES_ONLY
        else:  # campaign
            key = ""
        cells.setdefault((_day(day), key), Figures()).sent += n


def performance_cells(filters: Filters, dimension: str | None) -> Cells:
    """Every figure of the range per (day, value of ``dimension``): what the dashboard's
    tables and charts for one dimension are summed from, so a page reads them once."""
    products = dict(Offer.objects.values_list("code", "product__code"))
    cells: Cells = {}
    _deliveries_sent(cells, filters, dimension, products)
    _realtime_made(cells, filters, dimension)
    _responses(cells, filters, dimension, products)
    _conversions(cells, filters, dimension, products)
    _satisfaction(cells, filters, dimension, products)
    return cells


# --- what the dashboards read ----------------------------------------------------------------------------------------


def bucket_of(day: dt.date, bucket: str) -> dt.date:
    """The first day of the bucket holding ``day`` (weeks start on Monday)."""
    return day - dt.timedelta(days=day.weekday()) if bucket == "week" else day


def buckets(filters: Filters) -> list[dt.date]:
    out, day = [], bucket_of(filters.start, filters.bucket)
    step = dt.timedelta(days=7 if filters.bucket == "week" else 1)
    while day <= filters.end:
        out.append(day)
        day += step
    return out


def performance_trend(*, filters: Filters) -> list[tuple[dt.date, Figures]]:
    """Totals per day or week, every bucket of the range present (zeros included)."""
    totals = {day: Figures() for day in buckets(filters)}
    for (day, _), figures in performance_cells(filters, None).items():
        totals.setdefault(bucket_of(day, filters.bucket), Figures()).add(figures)
    return sorted(totals.items())


def performance_total(trend: Iterable[tuple[dt.date, Figures]]) -> Figures:
    total = Figures()
    for _, figures in trend:
        total.add(figures)
    return total


def funnel_of(total: Figures) -> list[tuple[str, int]]:
    """Sent, seen, clicked, accepted, converted."""
    return [
        ("Sent", total.sent),
        ("Seen (impressions)", total.impressions),
        ("Clicked", total.clicks),
        ("Accepted", total.accepts),
        ("Converted", total.conversions),
    ]


def performance_funnel(*, filters: Filters) -> list[tuple[str, int]]:
    """The funnel's totals over the range."""
    return funnel_of(performance_total(performance_trend(filters=filters)))


def _labels(dimension: str, keys: Iterable[str]) -> dict[str, str]:
    keys = [k for k in keys if k]
    if dimension == "offer":
        names = dict(Offer.objects.filter(code__in=keys).values_list("code", "name"))
        return {k: f"{names[k]} ({k})" if k in names else k for k in keys}
    if dimension == "channel":
        return {k: TreatmentChannel(k).label if k in TreatmentChannel.values else k for k in keys}
    if dimension == "campaign":
        names = {str(pk): name for pk, name in Campaign.objects.filter(pk__in=keys).values_list("pk", "name")}
        return {k: names.get(k, k) for k in keys}
    if dimension == "segment":
        names = {str(pk): name for pk, name in Segment.objects.filter(pk__in=keys).values_list("pk", "name")}
        return {k: names.get(k, k) for k in keys}
    ids = [k for k in keys if k.isdigit()]
    versions = {
        str(pk): f"{code} v{version}"
        for pk, code, version in ModelVersion.objects.filter(pk__in=ids).values_list("pk", "product__code", "version")
    }
    return {k: "Rules only (no model)" if k == RULES_ONLY else versions.get(k, f"model {k}") for k in keys}


EMPTY_LABELS = {
    "campaign": "Real time, no campaign",
    "segment": "Not in a segment",
    "offer": "—",
    "channel": "—",
    "model_version": "—",
}


def performance_by(*, filters: Filters, dimension: str, cells: Cells | None = None) -> list[Row]:
    """One row per value of ``dimension`` over the whole range, most sent first;
    ``cells``: ``performance_cells(filters, dimension)`` when the caller has them."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}")
    rows: dict[str, Row] = {}
    for (_, key), figures in (performance_cells(filters, dimension) if cells is None else cells).items():
        rows.setdefault(key, Row(key=key, label="")).figures.add(figures)
    labels = _labels(dimension, rows)
    for row in rows.values():
        row.label = labels.get(row.key) or EMPTY_LABELS[dimension]
    return sorted(rows.values(), key=lambda r: (-r.figures.sent, -r.figures.conversions, r.label))


def performance_trend_by(
    *, filters: Filters, dimension: str, top: int = 6, cells: Cells | None = None
) -> dict[str, Any]:
    """Conversions per bucket for the ``top`` values of ``dimension`` (by sent), for a chart."""
    if cells is None:
        cells = performance_cells(filters, dimension)
    days = buckets(filters)
    series: dict[str, dict[dt.date, Figures]] = defaultdict(dict)
    for (day, key), figures in cells.items():
        series[key].setdefault(bucket_of(day, filters.bucket), Figures()).add(figures)
    ranked = sorted(series, key=lambda k: -sum(f.sent for f in series[k].values()))[:top]
    labels = _labels(dimension, ranked)
    return {
        "labels": [d.isoformat() for d in days],
        "series": [
            {
                "label": labels.get(key) or EMPTY_LABELS[dimension],
                "sent": [series[key].get(d, Figures()).sent for d in days],
                "conversions": [series[key].get(d, Figures()).conversions for d in days],
            }
            for key in ranked
        ],
    }


# --- lift against the control group ----------------------------------------------------------------------------------


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson's score interval for one proportion."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def difference_interval(x1: int, n1: int, x2: int, n2: int, z: float = Z_95) -> tuple[float, float, float]:
    """p1 - p2 with Newcombe's hybrid score interval (1998, method 10): each rate's
    Wilson interval combined. Unlike the Wald interval it stays inside [-1, 1] and
    keeps its coverage for small groups and rates near 0, as conversion rates are."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, z)
    l2, u2 = wilson_interval(x2, n2, z)
    difference = p1 - p2
    low = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return difference, low, high


@dataclass(frozen=True)
class SampleRatio:
    """A chi-square goodness-of-fit test of the observed control share against the
    configured one: a mismatch means the split (or its recording) is broken, and
    the lift cannot be trusted."""

    expected_share: float
    observed_share: float | None
    chi2: float | None
    p_value: float | None
    mismatch: bool


def sample_ratio_check(*, control: int, treated: int, control_percent: Decimal | float) -> SampleRatio:
    total = control + treated
    share = float(control_percent) / 100
    if total == 0 or not 0 < share < 1:
        return SampleRatio(share, control / total if total else None, None, None, False)
    result = stats.chisquare([control, treated], f_exp=[total * share, total * (1 - share)])
    p_value = float(result.pvalue)
    return SampleRatio(share, control / total, float(result.statistic), p_value, p_value < SRM_ALPHA)


@dataclass(frozen=True)
class Lift:
    campaign: Campaign
    treated: int
    treated_converted: int
    control: int
    control_converted: int
    srm: SampleRatio

    @property
    def treated_rate(self) -> float | None:
        return self.treated_converted / self.treated if self.treated else None

    @property
    def control_rate(self) -> float | None:
        return self.control_converted / self.control if self.control else None

    @property
    def interval(self) -> tuple[float, float, float] | None:
        if not self.treated or not self.control:
            return None
        return difference_interval(self.treated_converted, self.treated, self.control_converted, self.control)

    @property
    def relative_lift(self) -> float | None:
        """(treated rate - control rate) / control rate."""
        if self.treated_rate is None or not self.control_rate:
            return None
        return (self.treated_rate - self.control_rate) / self.control_rate

    @property
    def significant(self) -> bool:
        interval = self.interval
        return interval is not None and (interval[1] > 0 or interval[2] < 0)


def campaign_lifts(*, campaign_id: int | None = None) -> list[Lift]:
    """Each campaign's conversion rate among treated members against control
    members, over the campaign's life: a member converts when any offer of the
    campaign (made, or held back) was followed by an opening in its window.
    Treated members whose messages were blocked stay in the treated group (intent
    to treat), which makes the lift a cautious estimate."""
    campaigns = Campaign.objects.filter(members__isnull=False).distinct().order_by("-launched_at", "code")
    if campaign_id:
        campaigns = campaigns.filter(pk=campaign_id)
    campaigns = list(campaigns)
    ids = [c.pk for c in campaigns]
    members: dict[tuple[int, bool], int] = defaultdict(int)
    for row in (
        CampaignMember.objects.filter(campaign_id__in=ids).values("campaign_id", "control").annotate(n=Count("id"))
    ):
        members[(row["campaign_id"], row["control"])] = row["n"]
    converted: dict[tuple[int, bool], int] = defaultdict(int)
    rows = (
        Conversion.objects.filter(campaign_id__in=ids)
        .values("campaign_id", "control")
        .annotate(n=Count("customer_id", distinct=True))
    )
    for row in rows:
        converted[(row["campaign_id"], row["control"])] = row["n"]
    return [
        Lift(
            campaign=c,
            treated=members[(c.pk, False)],
            treated_converted=converted[(c.pk, False)],
            control=members[(c.pk, True)],
            control_converted=converted[(c.pk, True)],
            srm=sample_ratio_check(
                control=members[(c.pk, True)], treated=members[(c.pk, False)], control_percent=c.control_percent
            ),
        )
        for c in campaigns
    ]
