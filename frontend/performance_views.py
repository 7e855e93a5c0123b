"""Performance dashboards: what offers earn, by offer, channel, segment, campaign
and model version, with lift against control groups, and the same figures as CSV.
The figures come from ``campaigns.performance``; these views only read filters
and lay the numbers out."""

from __future__ import annotations

import csv
import datetime as dt
from typing import Any

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from campaigns.models import Campaign
from campaigns.performance import (
    BUCKETS,
    DIMENSIONS,
    MIN_RATE_BASE,
    Figures,
    Filters,
    campaign_lifts,
    funnel_of,
    performance_by,
    performance_cells,
    performance_total,
    performance_trend,
    performance_trend_by,
)
from decisioning.models import Offer, TreatmentChannel
from frontend.views import requires
from modeling.models import Segment

DEFAULT_DAYS = 28
MAX_DAYS = 731  # two years of days is as long as a chart stays readable
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class PerformanceFilterForm(forms.Form):
    start = forms.DateField(label="From", required=False, widget=DATE)
    end = forms.DateField(label="To", required=False, widget=DATE)
    campaign = forms.ChoiceField(label="Campaign", required=False)
    channel = forms.ChoiceField(label="Channel", required=False)
    offer = forms.ChoiceField(label="Offer", required=False)
    segment = forms.ChoiceField(label="Segment", required=False)
    bucket = forms.ChoiceField(label="Per", required=False, choices=[("day", "Day"), ("week", "Week")])
    by = forms.ChoiceField(label="Table by", required=False, choices=list(DIMENSIONS.items()))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        every = [("", "All")]
        self.fields["campaign"].choices = every + [
            (str(pk), name) for pk, name in Campaign.objects.order_by("name").values_list("pk", "name")
        ]
        self.fields["channel"].choices = every + list(TreatmentChannel.choices)
        self.fields["offer"].choices = every + list(Offer.objects.order_by("name").values_list("code", "name"))
        self.fields["segment"].choices = every + [
            (str(s.pk), f"{s.segmentation.get_kind_display()}: {s.name}")
            for s in Segment.objects.filter(segmentation__is_current=True)
            .select_related("segmentation")
            .order_by("segmentation__kind", "label")
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("end", "The end date is before the start date.")
        elif start and end and (end - start).days > MAX_DAYS:
            self.add_error("start", f"At most {MAX_DAYS} days at a time.")
        return data

    def filters(self, today: dt.date) -> Filters:
        """The filters asked for; anything missing or invalid falls back to the last four weeks."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        end = data.get("end") or today
        start = data.get("start") or end - dt.timedelta(days=DEFAULT_DAYS - 1)
        bucket = data.get("bucket") or ("week" if (end - start).days > 62 else "day")
        return Filters(
            start=start,
            end=end,
            campaign_id=int(data["campaign"]) if data.get("campaign") else None,
            channel=data.get("channel") or None,
            offer_code=data.get("offer") or None,
            segment_id=int(data["segment"]) if data.get("segment") else None,
            bucket=bucket if bucket in BUCKETS else "day",
        )

    def dimension(self) -> str:
        by = self.cleaned_data.get("by") if self.is_bound and self.is_valid() else None
        return by or "offer"


def _form(request: HttpRequest) -> tuple[PerformanceFilterForm, Filters, str]:
    form = PerformanceFilterForm(request.GET or None)
    return form, form.filters(timezone.now().date()), form.dimension()


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 2)


def _running_rates(trend: list[tuple[dt.date, Figures]]) -> list[float | None]:
    """The conversion rate to date at each bucket: conversions so far over offers sent
    so far. A day's own ratio would mix cohorts, as conversions are counted on the day
    they happen and mostly follow sends of earlier days: it read 0% on a day of big
    sends and 8% on the quiet day after. None until ``MIN_RATE_BASE`` have been sent."""
    sent = conversions = 0
    out: list[float | None] = []
    for _, figures in trend:
        sent += figures.sent
        conversions += figures.conversions
        out.append(_rate(conversions / sent) if sent >= MIN_RATE_BASE else None)
    return out


def _charts(
    trend: list[tuple[dt.date, Figures]], funnel: list[tuple[str, int]], segments, split: dict[str, Any]
) -> dict[str, Any]:
    return {
        "split": split,
        "trend": {
            "labels": [day.isoformat() for day, _ in trend],
            "sent": [f.sent for _, f in trend],
            "conversions": [f.conversions for _, f in trend],
            "rate": _running_rates(trend),
            "min_rate_base": MIN_RATE_BASE,
            "revenue": [float(f.revenue) for _, f in trend],
        },
        "funnel": {"labels": [label for label, _ in funnel], "values": [n for _, n in funnel]},
        "segments": {
            "labels": [row.label for row in segments],
            "sent": [row.figures.sent for row in segments],
            "conversions": [row.figures.conversions for row in segments],
            "rate": [_rate(row.figures.conversion_rate) for row in segments],
        },
    }


@requires("view_campaigns")
@require_GET
def performance_dashboard(request: HttpRequest) -> HttpResponse:
    form, filters, dimension = _form(request)
    trend = performance_trend(filters=filters)
    total = performance_total(trend)
    funnel = funnel_of(total)
    # One read of the figures per dimension: the table and the split chart share it.
    cells = performance_cells(filters, dimension)
    rows = performance_by(filters=filters, dimension=dimension, cells=cells)
    segments = rows if dimension == "segment" else performance_by(filters=filters, dimension="segment")
    funnel_rows = [
        {"label": label, "value": n, "share": _rate(n / funnel[0][1]) if funnel[0][1] else None} for label, n in funnel
    ]
    context = {
        "form": form,
        "filters": filters,
        "total": total,
        "funnel": funnel_rows,
        "rows": rows,
        "dimension": dimension,
        "dimension_label": DIMENSIONS[dimension],
        "dimensions": DIMENSIONS,
        "lifts": campaign_lifts(campaign_id=filters.campaign_id),
        "currency": settings.BASE_CURRENCY,
        "query": request.GET.urlencode(),
        "charts": _charts(
            trend, funnel, segments, performance_trend_by(filters=filters, dimension=dimension, cells=cells)
        ),
    }
    return render(request, "frontend/performance.html", context)


# Spreadsheets run a cell that starts with one of these as a formula: a campaign
# or segment name typed by a person must stay text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    if isinstance(value, float):
        return f"{value:.6f}"
    return "" if value is None else value


FIGURE_COLUMNS = (
    "sent",
    "impressions",
    "clicks",
    "accepts",
    "rejects",
    "dismisses",
    "conversions",
    "conversion_rate",
    "revenue",
    "mean_satisfaction",
    "surveys",
)


@requires("view_campaigns")
@require_GET
def performance_export(request: HttpRequest) -> HttpResponse:
    """The figures as CSV: ``?table=trend`` per day or week, ``?table=lift`` the lift
    table, otherwise by the dimension the dashboard's table shows."""
    _, filters, dimension = _form(request)
    table = request.GET.get("table", "")
    name = f"performance-{table or dimension}-{filters.start}-{filters.end}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    if table == "lift":
        writer.writerow(
            [
                "campaign",
                "treated",
                "treated_converted",
                "treated_rate",
                "control",
                "control_converted",
                "control_rate",
                "difference",
                "ci95_low",
                "ci95_high",
                "relative_lift",
                "expected_control_share",
                "observed_control_share",
                "srm_p_value",
                "srm_mismatch",
            ]
        )
        for lift in campaign_lifts(campaign_id=filters.campaign_id):
            difference, low, high = lift.interval or (None, None, None)
            writer.writerow(
                _cell(v)
                for v in (
                    lift.campaign.code,
                    lift.treated,
                    lift.treated_converted,
                    lift.treated_rate,
                    lift.control,
                    lift.control_converted,
                    lift.control_rate,
                    difference,
                    low,
                    high,
                    lift.relative_lift,
                    lift.srm.expected_share,
                    lift.srm.observed_share,
                    lift.srm.p_value,
                    lift.srm.mismatch,
                )
            )
        return response
    if table == "trend":
        writer.writerow([filters.bucket, *FIGURE_COLUMNS])
        for day, figures in performance_trend(filters=filters):
            values = figures.as_dict()
            writer.writerow([day.isoformat(), *(_cell(values[c]) for c in FIGURE_COLUMNS)])
        return response
    writer.writerow([dimension, "label", *FIGURE_COLUMNS])
    for row in performance_by(filters=filters, dimension=dimension):
        values = row.figures.as_dict()
        writer.writerow([_cell(row.key), _cell(row.label), *(_cell(values[c]) for c in FIGURE_COLUMNS)])
    return response
