"""Generate a synthetic bank in the bulk-import format.

Everything is drawn from one seeded numpy generator in a fixed order, so a seed
gives byte-identical files. Every step works on whole arrays (customers,
customer-months, accounts, transactions), never on one transaction at a time:
20,000 customers over 18 months is about ten million transactions.

The story behind the numbers:

1. Each customer has a persona (student, young professional, family, affluent,
   retiree, financially stretched) that sets age, income, holdings, spending and
   how often they log in.
2. Life events (pay rise, new child, moving house, travel) happen in a month of
   the window and, for a few months around it, multiply the chance of taking up
   the products that fit (a mortgage and home insurance around a move...).
3. Take-ups during the window are new accounts; most are preceded by views of
   the product's page, some by calculator use and an application started.
4. Monthly campaigns offer products to random eligible customers who consented
   to the channel; acceptance is likelier when the product fits the persona and
   its life events, when the customer viewed the page lately, and when they
   were about to buy it anyway. An accepted offer opens the account.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from customers import choices
from customers.demo import catalogue as cat
from customers.demo import csv_text as txt
from customers.importing.formats import FORMATS_BY_NAME

NEVER = np.int64(2**40)  # a day far beyond any window: "not held", "not closed"
DAY = 86_400
P_COUNT = len(cat.PRODUCTS)
OFFER_CHANNELS = ("email", "app_push", "sms", "call_centre", "post")
OFFER_CHANNEL_WEIGHTS = (0.45, 0.25, 0.12, 0.12, 0.06)
# The consent channel an offer channel needs.
CONSENT_OF_OFFER = {"email": "email", "app_push": "app_push", "sms": "sms", "call_centre": "phone", "post": "post"}
MARKETING_CHANNELS = ("email", "app_push", "sms", "phone", "post")
MARKETING_GRANT_RATE = (0.92, 0.70, 0.60, 0.50, 0.40)
TRANSACTION_CHANNELS = ("card_present", "card_online", "atm", "transfer", "direct_debit", "standing_order")
CARD_PRESENT, CARD_ONLINE, ATM, TRANSFER, DIRECT_DEBIT, STANDING_ORDER = range(6)
INTERACTION_TYPES = (
    "login",
    "product_page_view",
    "calculator_use",
    "application_started",
    "service_call",
    "complaint",
    "survey",
    "email_open",
    "email_click",
)
INTERACTION_CHANNELS = ("web", "app", "call_centre", "branch", "email")


@dataclass(frozen=True)
class DemoBankOptions:
    """What to generate. ``as_of`` is the first day after the history window."""

    customers: int
    seed: int
    as_of: dt.date
    months: int = 18
    transactions_per_month: float = 30.0
    currency: str = "EUR"
    time_zone: str = "Europe/London"

    def __post_init__(self) -> None:
        if self.customers < 1:
            raise ValueError("customers must be at least 1")
        if not 1 <= self.months <= 120:
            raise ValueError("months must be between 1 and 120")
        if self.as_of.day != 1:
            raise ValueError(f"as_of must be the first day of a month, got {self.as_of.isoformat()}")
        if not 8 <= self.transactions_per_month <= 500:
            raise ValueError("transactions_per_month must be between 8 and 500")


@dataclass
class DemoBankSummary:
    out_dir: Path
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def _days(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def _month_starts(as_of: dt.date, months: int) -> np.ndarray:
    """First day (days since epoch) of each window month, plus as_of at the end."""
    starts = []
    year, month = as_of.year, as_of.month
    for _ in range(months + 1):
        starts.append(_days(dt.date(year, month, 1)))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return np.array(starts[::-1], dtype=np.int64)


def _choice_by_group(rng: np.random.Generator, groups: np.ndarray, table: np.ndarray) -> np.ndarray:
    """For each row, an index drawn from the probability row ``table[group]``."""
    u = rng.random(groups.size)
    cumulative = np.cumsum(np.asarray(table, dtype=float), axis=1)
    cumulative /= cumulative[:, -1:]
    out = np.empty(groups.size, dtype=np.int64)
    for g in range(cumulative.shape[0]):
        rows = groups == g
        out[rows] = np.minimum(np.searchsorted(cumulative[g], u[rows], side="right"), cumulative.shape[1] - 1)
    return out


def _pick(rng: np.random.Generator, n: int, count: int, weights: np.ndarray | None = None) -> np.ndarray:
    """A boolean mask with exactly ``count`` rows set, drawn with ``weights``."""
    mask = np.zeros(n, dtype=bool)
    count = min(count, n)
    if count:
        p = None if weights is None else weights / weights.sum()
        mask[rng.choice(n, size=count, replace=False, p=p)] = True
    return mask


class _Clock:
    """Local wall-clock seconds to UTC seconds for the bank's time zone, by table lookup."""

    def __init__(self, time_zone: str) -> None:
        self.zone = zoneinfo.ZoneInfo(time_zone)

    def to_utc(self, local: np.ndarray) -> np.ndarray:
        local = np.asarray(local, dtype=np.int64)
        if not local.size:
            return local
        first, last = int(local.min()) // 3600, int(local.max()) // 3600
        # One offset per local hour; a day's worth of hours per distinct offset is cheap.
        epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)  # wall-clock hours, re-labelled below
        hours = range(first, last + 1)
        offsets = np.array(
            [int((epoch + dt.timedelta(hours=h)).replace(tzinfo=self.zone).utcoffset().total_seconds()) for h in hours],
            dtype=np.int64,
        )
        return local - offsets[local // 3600 - first]


class _Bank:
    def __init__(self, options: DemoBankOptions) -> None:
        self.o = options
        self.rng = np.random.default_rng(options.seed)
        self.clock = _Clock(options.time_zone)
        self.M = options.months
        self.month_start = _month_starts(options.as_of, options.months)
        self.month_len = np.diff(self.month_start)
        self.start = int(self.month_start[0])
        self.as_of = int(self.month_start[-1])
        self.n = options.customers

    # 1. customers ---------------------------------------------------------------------------------
    def customers(self) -> None:
        rng, n = self.rng, self.n
        self.persona = rng.choice(len(cat.PERSONAS), size=n, p=np.array(cat.PERSONA_WEIGHTS))
        ages = np.array(cat.PERSONA_AGES)
        self.age = rng.integers(ages[self.persona, 0], ages[self.persona, 1] + 1)
        self.birth = self.as_of - (self.age * 365.25).astype(np.int64) - rng.integers(1, 365, n)
        self.gender = rng.choice(4, size=n, p=[0.49, 0.47, 0.02, 0.02])
        self.marital = _choice_by_group(rng, self.persona, np.array(cat.PERSONA_MARITAL))
        self.employment = _choice_by_group(rng, self.persona, np.array(cat.PERSONA_EMPLOYMENT))
        income = np.array(cat.PERSONA_INCOME)
        raw = income[self.persona, 0] * np.exp(income[self.persona, 1] * rng.standard_normal(n))
        self.income = np.round(raw / 100).astype(np.int64) * 100  # whole units
        self.region = rng.integers(0, len(cat.REGIONS), n)
        joiner = rng.random(n) < 0.07
        tenure_years = rng.uniform(0.1, np.minimum(20, self.age - 17.2))
        since = self.start - (tenure_years * 365).astype(np.int64)
        since[joiner] = rng.integers(self.start, self.as_of - 20, int(joiner.sum()))
        self.since = np.maximum(since, self.birth + 16 * 366)
        self.joiner = self.since >= self.start
        # A few customers not verified, potential sanctions matches, vulnerable, do not contact.
        old = self.since < self.as_of - 3 * 365 - 30
        self.kyc = np.zeros(n, dtype=np.int64)  # verified
        expired = _pick(rng, n, max(1, round(0.02 * n)), old.astype(float) + 1e-9)
        pending = _pick(rng, n, max(1, round(0.02 * n)), (~expired).astype(float) + 1e-9)
        self.kyc[pending] = 1
        self.kyc[expired] = 2
        latest = np.maximum(self.since, self.as_of - 730)
        self.kyc_date = latest + (rng.random(n) * (self.as_of - 1 - latest)).astype(np.int64)
        self.kyc_date[expired] = np.minimum(self.since[expired] + 20, self.as_of - 3 * 365 - 10)
        self.kyc_date[pending] = -1
        self.sanctions = _pick(rng, n, max(1, round(0.005 * n))).astype(np.int64)
        risk_table = np.array([[0.91, 0.08, 0.01]] * 5 + [[0.30, 0.50, 0.20]])
        self.risk = _choice_by_group(rng, self.persona, risk_table)
        self.risk[self.sanctions == 1] = 2
        self.do_not_contact = _pick(rng, n, max(1, round(0.02 * n)))
        vulnerable_weight = np.where(np.isin(self.persona, [4, 5]), 4.0, 1.0)
        self.vulnerable = _pick(rng, n, max(1, round(0.03 * n)), vulnerable_weight)

    # 2. life events -------------------------------------------------------------------------------
    def life_events(self) -> None:
        rng, n, M = self.rng, self.n, self.M
        has = rng.random((n, len(cat.LIFE_EVENTS))) < np.array(cat.PERSONA_EVENTS)[self.persona]
        month = rng.integers(0, M, (n, len(cat.LIFE_EVENTS)))
        earning = np.isin(self.employment, [0, 1])
        has[:, 0] &= earning
        # An event cannot happen before the customer joined.
        joined_month = np.searchsorted(self.month_start, self.since, side="right") - 1
        has &= month >= joined_month[:, None]
        self.event_month = np.where(has, month, -1)
        self.raise_factor = rng.uniform(1.06, 1.20, n)

    def monthly_income_cents(self) -> np.ndarray:
        """Net monthly pay per customer and month, lifted by a pay rise from its month on."""
        net = self.income * 100 * 0.72 / 12
        rise = (self.event_month[:, 0][:, None] >= 0) & (np.arange(self.M)[None, :] >= self.event_month[:, 0][:, None])
        return net[:, None] * np.where(rise, self.raise_factor[:, None], 1.0)

    # 3. holdings and take-ups ---------------------------------------------------------------------
    def holdings(self) -> None:
        rng, n, M = self.rng, self.n, self.M
        min_age = np.array([p.min_age for p in cat.PRODUCTS])
        age_at_start = (self.start - self.birth) / 365.25
        held = rng.random((n, P_COUNT)) < np.array(cat.PERSONA_HOLDINGS)[self.persona]
        held[:, cat.P["CURRENT"]] = True
        held &= age_at_start[:, None] >= min_age[None, :]
        held[held[:, cat.P["CC_PREMIUM"]], cat.P["CC_CLASSIC"]] = False
        held[self.joiner, :] = False
        span = np.maximum(self.start - self.since, 1)
        open_day = self.since[:, None] + (rng.random((n, P_COUNT)) * span[:, None]).astype(np.int64)
        open_day[:, cat.P["CURRENT"]] = self.since
        self.open_day = np.where(held, open_day, NEVER)
        self.open_day[self.joiner, cat.P["CURRENT"]] = self.since[self.joiner]
        self.close_day = np.full((n, P_COUNT), NEVER, dtype=np.int64)
        self.held_at_start = held

        # Monthly hazard, lifted around life events.
        hazard = np.repeat(np.array(cat.PERSONA_HAZARD, dtype=float)[self.persona][:, :, None], M, axis=2)
        months = np.arange(M)[None, :]
        for e, event in enumerate(cat.LIFE_EVENTS):
            first, last = cat.EVENT_SPAN[event]
            at = self.event_month[:, e][:, None]
            active = (at >= 0) & (months >= at + first) & (months <= at + last)
            for code, lift in cat.EVENT_LIFT[event].items():
                hazard[:, cat.P[code], :] *= np.where(active, lift, 1.0)
        hazard[:, cat.P["CC_PREMIUM"], :] *= np.clip(self.income / 50_000, 0.2, 2.0)[:, None]
        hazard = np.minimum(hazard, 0.6)
        joined_month = np.searchsorted(self.month_start, self.since, side="right") - 1
        hazard *= (months >= joined_month[:, None])[:, None, :]
        age_at_as_of = (self.as_of - self.birth) / 365.25
        hazard[age_at_as_of[:, None] < min_age[None, :] + 1] = 0.0
        hazard[held] = 0.0
        hazard[:, cat.P["CURRENT"], :] = 0.0
        self.hazard = hazard

        draws = rng.random(hazard.shape) < hazard
        taken = draws.any(axis=2)
        first_month = draws.argmax(axis=2)
        day = self.month_start[first_month] + (rng.random((n, P_COUNT)) * self.month_len[first_month]).astype(np.int64)
        day = np.maximum(day, self.since[:, None] + 1)
        self.open_day = np.where(taken, day, self.open_day)
        self.organic = np.where(taken, day, NEVER)
        self._card_rules()
        # A classic card drawn after a premium one is never taken up: not organic either.
        self.organic = np.where(self.organic == self.open_day, self.organic, NEVER)

    def _card_rules(self) -> None:
        """One card at a time: a premium card taken up replaces the classic one (an upgrade)."""
        classic, premium = cat.P["CC_CLASSIC"], cat.P["CC_PREMIUM"]
        both = (self.open_day[:, classic] < NEVER) & (self.open_day[:, premium] < NEVER)
        classic_first = both & (self.open_day[:, classic] < self.open_day[:, premium])
        # Upgrade: the classic card closes the day the premium one opens.
        self.close_day[classic_first, classic] = self.open_day[classic_first, premium]
        # A classic card after a premium one is never taken.
        self.open_day[both & ~classic_first, classic] = NEVER

    # 4. consents ----------------------------------------------------------------------------------
    def consents(self) -> None:
        rng, n = self.rng, self.n
        K = len(MARKETING_CHANNELS)
        self.marketing_granted = rng.random((n, K)) < np.array(MARKETING_GRANT_RATE)[None, :]
        self.profiling_granted = rng.random(n) < 0.92
        window = self.as_of - self.start
        # Withdrawals during the window: one marketing channel, all marketing, or profiling (an objection).
        self.marketing_withdrawn = np.full((n, K), NEVER, dtype=np.int64)
        withdraw = rng.random(n) < 0.06
        channel = rng.integers(0, K, n)
        when = self.start + (rng.random(n) * window).astype(np.int64)
        rows = withdraw & self.marketing_granted[np.arange(n), channel]
        self.marketing_withdrawn[rows, channel[rows]] = np.maximum(when[rows], self.since[rows] + 1)
        self.any_withdrawn = np.where(
            rng.random(n) < 0.015,
            np.maximum(self.start + (rng.random(n) * window).astype(np.int64), self.since + 1),
            NEVER,
        )
        self.profiling_withdrawn = np.where(
            self.profiling_granted & (rng.random(n) < 0.03),
            np.maximum(self.start + (rng.random(n) * window).astype(np.int64), self.since + 1),
            NEVER,
        )
        self.consent_seconds = rng.integers(9 * 3600, 20 * 3600, (n, 3))

    def can_market(self, customers: np.ndarray, channel: int, day: int) -> np.ndarray:
        k = MARKETING_CHANNELS.index(CONSENT_OF_OFFER[OFFER_CHANNELS[channel]])
        return (
            self.marketing_granted[customers, k]
            & (self.marketing_withdrawn[customers, k] > day)
            & (self.any_withdrawn[customers] > day)
        )

    # 5. interactions that precede take-ups, and browsing ------------------------------------------
    def research(self) -> None:
        """Page views, calculator use and applications before organic take-ups, plus browsing."""
        rng, n, M = self.rng, self.n, self.M
        self.ix: list[tuple[np.ndarray, ...]] = []  # (customer, local seconds, channel, type, product, satisfaction)
        c, p = np.nonzero(self.organic < NEVER)
        self._research_before(c, p, self.organic[c, p])
        # Browsing: views of products not necessarily bought, leaning towards what fits.
        views = rng.poisson(0.35, (n, M))
        views[np.arange(M)[None, :] < (np.searchsorted(self.month_start, self.since, side="right") - 1)[:, None]] = 0
        cm = np.repeat(np.arange(n * M), views.ravel())
        cust, month = cm // M, cm % M
        weights = self.hazard[cust, :, month] + 0.002
        weights[:, cat.P["CURRENT"]] = 0.0
        cumulative = np.cumsum(weights, axis=1)
        u = rng.random(cust.size) * cumulative[:, -1]
        product = (cumulative < u[:, None]).sum(axis=1)
        day = self.month_start[month] + (rng.random(cust.size) * self.month_len[month]).astype(np.int64)
        day = np.maximum(day, self.since[cust])
        seconds = day * DAY + rng.integers(7 * 3600, 23 * 3600, cust.size)
        self._add(cust, seconds, rng.integers(0, 2, cust.size), 1, product)

    def _research_before(self, c: np.ndarray, p: np.ndarray, day: np.ndarray, share: float = 0.78) -> None:
        rng = self.rng
        # Nobody researches before becoming a customer: the morning they joined at the earliest.
        floor = self.since * DAY + 7 * 3600
        researched = rng.random(c.size) < share
        count = np.where(researched, 1 + rng.poisson(1.2, c.size), 0)
        rows = np.repeat(np.arange(c.size), count)
        before = rng.uniform(0.3, 30, rows.size)
        seconds = day[rows] * DAY + rng.integers(7 * 3600, 23 * 3600, rows.size) - (before * DAY).astype(np.int64)
        self._add(c[rows], np.maximum(seconds, floor[c[rows]]), rng.integers(0, 2, rows.size), 1, p[rows])
        calc_product = np.array([prod.researched for prod in cat.PRODUCTS])[p]
        calc = researched & calc_product & (rng.random(c.size) < 0.6)
        seconds = (
            day[calc] * DAY
            + rng.integers(7 * 3600, 23 * 3600, int(calc.sum()))
            - (rng.uniform(0.2, 14, int(calc.sum())) * DAY).astype(np.int64)
        )
        self._add(c[calc], np.maximum(seconds, floor[c[calc]]), rng.integers(0, 2, seconds.size), 2, p[calc])
        app = researched & (rng.random(c.size) < 0.5)
        seconds = day[app] * DAY - rng.integers(0, 20 * 3600, int(app.sum()))
        self._add(c[app], np.maximum(seconds, floor[c[app]]), rng.integers(0, 2, seconds.size), 3, p[app])

    def _add(
        self,
        customer: np.ndarray,
        local_seconds: np.ndarray,
        channel: np.ndarray | int,
        kind: int,
        product: np.ndarray | int,
        satisfaction: np.ndarray | None = None,
    ) -> None:
        size = customer.size
        self.ix.append(
            (
                customer.astype(np.int64),
                local_seconds.astype(np.int64),
                np.broadcast_to(np.asarray(channel, dtype=np.int64), (size,)),
                np.full(size, kind, dtype=np.int64),
                np.broadcast_to(np.asarray(product, dtype=np.int64), (size,)),
                np.zeros(size, dtype=np.int64) if satisfaction is None else satisfaction.astype(np.int64),
            )
        )

    # 6. campaigns ---------------------------------------------------------------------------------
    def campaigns(self) -> None:
        rng, n, M = self.rng, self.n, self.M
        # Every page view so far (browsing and research before organic take-ups) counts as interest.
        views = [part for part in self.ix if part[3].size and part[3][0] == 1]
        view_c = np.concatenate([v[0] for v in views]) if views else np.zeros(0, dtype=np.int64)
        view_p = np.concatenate([v[4] for v in views]) if views else np.zeros(0, dtype=np.int64)
        view_day = np.concatenate([v[1] for v in views]) // DAY if views else np.zeros(0, dtype=np.int64)
        offers = []
        targets = [code for code in cat.PRODUCT_CODES if code != "CURRENT"]
        first_month = max(0, M - 15)
        mean_hazard = np.array(cat.PERSONA_HAZARD, dtype=float).mean(axis=0) + 1e-4
        min_age = np.array([p.min_age for p in cat.PRODUCTS])
        k = 0
        for m in range(first_month, M):
            for j in range(2):
                code = targets[(2 * (m - first_month) + j) % len(targets)]
                p = cat.P[code]
                day = int(self.month_start[m]) + 1 + (k % 3)
                k += 1
                eligible = (
                    (self.since < day)
                    & (self.open_day[:, p] > day)
                    & ~self.do_not_contact
                    & (self.kyc != 1)
                    & ((day - self.birth) / 365.25 >= min_age[p])
                )
                if code == "CC_CLASSIC":
                    eligible &= self.open_day[:, cat.P["CC_PREMIUM"]] > day
                chosen = eligible & (rng.random(n) < 0.2)
                channel = rng.choice(len(OFFER_CHANNELS), size=n, p=np.array(OFFER_CHANNEL_WEIGHTS))
                customers = np.nonzero(chosen)[0]
                channel = channel[customers]
                allowed = np.zeros(customers.size, dtype=bool)
                for ch in range(len(OFFER_CHANNELS)):
                    rows = channel == ch
                    allowed[rows] = self.can_market(customers[rows], ch, day)
                customers, channel = customers[allowed], channel[allowed]
                # Fit: persona and life events through the month's hazard; interest: recent page views.
                fit = np.log(self.hazard[customers, p, m] / mean_hazard[p] + 0.05)
                recent = (view_p == p) & (view_day < day) & (view_day >= day - 45)
                viewed = np.isin(customers, view_c[recent])
                soon = (self.organic[customers, p] > day) & (self.organic[customers, p] <= day + 90)
                logit = -3.9 + 1.2 * fit + 2.2 * viewed + 2.2 * soon
                accepted = rng.random(customers.size) < 1 / (1 + np.exp(-logit))
                other = rng.random(customers.size)
                offered = day * DAY + 8 * 3600 + rng.integers(0, 3600, customers.size)
                # Responses come in office hours, so the local and the UTC date agree.
                responded_day = day + rng.integers(0, 11, customers.size)
                responded = responded_day * DAY + rng.integers(9 * 3600, 20 * 3600, customers.size)
                offers.append(
                    (
                        customers,
                        np.full(customers.size, p),
                        channel,
                        offered,
                        accepted,
                        other,
                        responded,
                        np.full(customers.size, m),
                    )
                )
                # An accepted offer opens the account (earlier than an organic take-up, if any).
                acc = customers[accepted]
                opened = np.minimum(self.open_day[acc, p], responded_day[accepted])
                self.open_day[acc, p] = opened
                self._card_rules()
                # Those who accept first look at the page after the offer, on most channels.
                look = accepted & (rng.random(customers.size) < 0.6)
                secs = offered[look] + (rng.uniform(0.05, 1, int(look.sum())) * (responded - offered)[look]).astype(
                    np.int64
                )
                self._add(customers[look], secs, rng.integers(0, 2, secs.size), 1, p)
        self.offers = [np.concatenate(parts) for parts in zip(*offers, strict=True)] if offers else None

    # 7. everyday interactions ---------------------------------------------------------------------
    def interactions(self) -> None:
        rng, n, M = self.rng, self.n, self.M
        joined_month = np.searchsorted(self.month_start, self.since, side="right") - 1
        inactive = np.arange(M)[None, :] < joined_month[:, None]

        def spread(rate: np.ndarray, kind: int, channels: tuple[int, ...], hours: tuple[int, int]) -> np.ndarray:
            counts = rng.poisson(rate)
            counts[inactive] = 0
            cm = np.repeat(np.arange(n * M), counts.ravel())
            cust, month = cm // M, cm % M
            day = self.month_start[month] + (rng.random(cust.size) * self.month_len[month]).astype(np.int64)
            day = np.maximum(day, self.since[cust])
            seconds = day * DAY + rng.integers(hours[0] * 3600, hours[1] * 3600, cust.size)
            channel = np.array(channels)[rng.integers(0, len(channels), cust.size)]
            self._add(cust, seconds, channel, kind, -1)
            return cust

        logins = np.array(cat.PERSONA_LOGINS)[self.persona][:, None] * rng.uniform(0.5, 1.5, (n, 1))
        spread(np.broadcast_to(logins, (n, M)), 0, (0, 1, 1), (6, 24))
        stretched = (self.persona == 5)[:, None]
        spread(np.where(stretched, 0.25, 0.06) * np.ones((n, M)), 4, (2,), (8, 20))
        complained = spread(np.where(stretched, 0.03, 0.008) * np.ones((n, M)), 5, (2, 4, 3), (8, 20))
        # Surveys: unhappier after a complaint, and when stretched.
        counts = rng.poisson(0.04, (n, M))
        counts[inactive] = 0
        cm = np.repeat(np.arange(n * M), counts.ravel())
        cust, month = cm // M, cm % M
        mean = 4.0 - 0.6 * (self.persona[cust] == 5) - 1.4 * np.isin(cust, complained)
        score = np.clip(np.rint(mean + rng.normal(0, 0.9, cust.size)), 1, 5)
        day = np.maximum(
            self.month_start[month] + (rng.random(cust.size) * self.month_len[month]).astype(np.int64), self.since[cust]
        )
        self._add(
            cust,
            day * DAY + rng.integers(9 * 3600, 21 * 3600, cust.size),
            np.array([4, 1])[rng.integers(0, 2, cust.size)],
            6,
            -1,
            score,
        )
        # Emails opened and clicked before a response to an email offer.
        if self.offers is not None:
            customers, product, channel, offered, accepted, other, responded, _ = self.offers
            email = channel == OFFER_CHANNELS.index("email")
            opened = email & (accepted | (other < 0.35))
            when = offered + (responded - offered) // 2
            self._add(customers[opened], when[opened], 4, 7, product[opened])
            clicked = email & (accepted | ((other >= 0.65) & (other < 0.80)))
            self._add(customers[clicked], when[clicked] + 60, 4, 8, product[clicked])

    # 8. accounts and balances ---------------------------------------------------------------------
    def accounts(self) -> None:
        rng = self.rng
        c, p = np.nonzero(self.open_day < NEVER)
        self.acc_customer, self.acc_product = c, p
        self.acc_open = self.open_day[c, p]
        self.acc_close = np.where(self.close_day[c, p] < NEVER, self.close_day[c, p], NEVER)
        self.acc_index = np.full((self.n, P_COUNT), -1, dtype=np.int64)
        self.acc_index[c, p] = np.arange(c.size)
        # Joint mortgages: a share of married customers' mortgages with another married customer.
        married = np.nonzero(self.marital == 1)[0]
        self.acc_joint = np.full(c.size, -1, dtype=np.int64)
        mortgage = (p == cat.P["MORTGAGE"]) & (self.marital[c] == 1) & (rng.random(c.size) < 0.3)
        if married.size > 1:
            partner = married[rng.integers(0, married.size, c.size)]
            self.acc_joint = np.where(mortgage & (partner != c), partner, -1)
        scale = np.array(cat.PERSONA_INCOME)[self.persona[c], 0] / 40_000
        self.principal = np.select(
            [p == cat.P["MORTGAGE"], p == cat.P["PERSONAL_LOAN"]],
            [rng.uniform(120_000, 420_000, c.size) * np.clip(scale, 0.6, 2.0), rng.uniform(3_000, 25_000, c.size)],
            0.0,
        )

    def balances(self) -> None:
        rng, M = self.rng, self.M
        A = self.acc_customer.size
        has_balance = np.array([prod.has_balance for prod in cat.PRODUCTS])[self.acc_product]
        month_end = self.month_start[1:] - 1
        live = (self.acc_open[:, None] <= month_end[None, :]) & (self.acc_close[:, None] > self.month_start[None, :-1])
        live &= has_balance[:, None]
        a, m = np.nonzero(live)
        c, p = self.acc_customer[a], self.acc_product[a]
        pay = self.monthly_income_cents()[c, m] / 100
        stretched = self.persona[c] == 5
        months_open = np.maximum(0, (self.month_start[m] - self.acc_open[a]) / 30.4)
        level = rng.uniform(0.2, 1.2, A)[a]
        noise = rng.normal(0, 0.15, a.size)
        avg = np.zeros(a.size)
        cur = p == cat.P["CURRENT"]
        avg = np.where(cur, pay * level * (1 + noise), avg)
        avg = np.where(cur & stretched, pay * rng.uniform(-0.6, 0.3, a.size), avg)
        sav = p == cat.P["SAVINGS"]
        start = self.income[c] * rng.uniform(0.02, 0.4, A)[a]
        avg = np.where(sav, start + pay * 0.05 * months_open, avg)
        card = np.isin(p, [cat.P["CC_CLASSIC"], cat.P["CC_PREMIUM"]])
        avg = np.where(card, -pay * rng.uniform(0.05, 0.35, A)[a] * (1 + noise), avg)
        loan = p == cat.P["PERSONAL_LOAN"]
        avg = np.where(loan, -self.principal[a] * np.clip(1 - months_open / 60, 0.02, 1), avg)
        mortgage = p == cat.P["MORTGAGE"]
        avg = np.where(mortgage, -self.principal[a] * np.clip(1 - months_open / 300, 0.05, 1), avg)
        invest = np.isin(p, [cat.P["INVEST_FUND"], cat.P["PENSION"]])
        growth = np.exp(rng.normal(0.004, 0.03, M).cumsum())[m]
        avg = np.where(invest, self.income[c] * rng.uniform(0.1, 2.0, A)[a] * growth, avg)
        end = avg * (1 + rng.normal(0, 0.1, a.size))
        overdrawn = np.where(cur & (avg < 0), np.minimum(31, rng.poisson(6, a.size) + 1), 0)
        overdrawn = np.where(cur & ~stretched & (rng.random(a.size) < 0.015), rng.integers(1, 4, a.size), overdrawn)
        overdrawn = np.minimum(overdrawn, self.month_len[m])
        credit = card | loan | mortgage
        missed_rate = np.where(stretched, np.where(mortgage, 0.05, 0.13), 0.003)
        missed = np.where(credit & (rng.random(a.size) < missed_rate), 1, 0)
        self.bal = (a, m, np.rint(avg * 100).astype(np.int64), np.rint(end * 100).astype(np.int64), overdrawn, missed)
        # In arrears: a missed payment in the last window month on an open credit account.
        last = (m == M - 1) & (missed > 0)
        self.acc_arrears = np.zeros(A, dtype=bool)
        self.acc_arrears[a[last]] = True
        self.missed_by_customer_month = np.zeros((self.n, M), dtype=np.int64)
        np.add.at(self.missed_by_customer_month, (c, m), missed)
        self.overdrawn_cm = np.zeros((self.n, M), dtype=bool)
        self.overdrawn_cm[c[cur], m[cur]] = overdrawn[cur] > 0

    # 9. credit scores -----------------------------------------------------------------------------
    def credit_scores(self) -> None:
        rng, n = self.rng, self.n
        months = np.arange(0, self.M, 3)
        base = np.array(cat.PERSONA_SCORE)[self.persona] + rng.normal(0, 45, n)
        missed = np.cumsum(self.missed_by_customer_month, axis=1)[:, months]
        score = base[:, None] + rng.normal(0, 12, (n, months.size)) - 30 * missed
        active = self.since[:, None] <= self.month_start[months][None, :]
        c, k = np.nonzero(active)
        self.scores = (c, self.month_start[months][k], np.clip(np.rint(score[c, k]), 300, 950).astype(np.int64))

    # 10. transactions -----------------------------------------------------------------------------
    def transactions(self) -> None:
        rng, n, M = self.rng, self.n, self.M
        o = self.o
        month_end = self.month_start[1:] - 1
        holds = (self.open_day[:, :, None] <= month_end[None, None, :]) & (
            self.close_day[:, :, None] > self.month_start[None, None, :-1]
        )
        active = holds[:, cat.P["CURRENT"], :]
        current_account = self.acc_index[:, cat.P["CURRENT"]]
        premium = holds[:, cat.P["CC_PREMIUM"], :]
        classic = holds[:, cat.P["CC_CLASSIC"], :]
        card_account = np.where(
            premium,
            self.acc_index[:, cat.P["CC_PREMIUM"]][:, None],
            np.where(classic, self.acc_index[:, cat.P["CC_CLASSIC"]][:, None], -1),
        )
        pay = self.monthly_income_cents()
        blocks: list[tuple[np.ndarray, ...]] = []
        categories = list(choices.TransactionCategory.values)
        K = {name: i for i, name in enumerate(categories)}

        def add(
            mask: np.ndarray,
            category: str,
            cents: np.ndarray,
            channel: int,
            day_of_month: np.ndarray | int,
            hours: tuple[int, int] = (5, 7),
            per_month: int = 1,
        ) -> None:
            mask = mask & active
            cm = np.repeat(np.nonzero(mask.ravel())[0], per_month)
            cust, month = cm // M, cm % M
            dom = (
                np.broadcast_to(np.asarray(day_of_month), mask.shape).ravel()[cm]
                if np.ndim(day_of_month)
                else np.full(cm.size, day_of_month)
            )
            day = self.month_start[month] + np.minimum(dom - 1, self.month_len[month] - 1)
            day = np.maximum(day, self.since[cust])
            seconds = day * DAY + rng.integers(hours[0] * 3600, hours[1] * 3600, cm.size)
            amount = np.broadcast_to(cents, mask.shape).ravel()[cm] if np.ndim(cents) else np.full(cm.size, cents)
            blocks.append(
                (
                    cust,
                    current_account[cust],
                    seconds,
                    np.rint(amount).astype(np.int64),
                    np.full(cm.size, K[category]),
                    np.full(cm.size, channel),
                )
            )

        ones = np.ones((n, M), dtype=bool)
        jitter = rng.normal(1.0, 0.01, (n, M))
        employed = self.employment[:, None] == 0
        self_employed = self.employment[:, None] == 1
        add(ones & employed, "salary", pay * jitter, TRANSFER, 25)
        add(ones & self_employed, "salary", pay * rng.lognormal(0, 0.25, (n, M)), TRANSFER, 28)
        add(ones & (self.employment[:, None] == 4), "pension_income", pay * 0.9, TRANSFER, 1)
        add(
            ones & (self.employment[:, None] == 3),
            "transfer_in",
            rng.uniform(20_000, 60_000, (n, 1)) * ones,
            TRANSFER,
            2,
        )
        on_benefits = np.isin(self.employment, [2, 5, 6])[:, None] & ones
        add(on_benefits, "benefits", np.full((n, M), 42_000.0), TRANSFER, 1)
        add(on_benefits, "benefits", np.full((n, M), 42_000.0), TRANSFER, 15)
        mortgage = holds[:, cat.P["MORTGAGE"], :]
        instalment = np.zeros(n)
        m_acc = self.acc_index[:, cat.P["MORTGAGE"]]
        instalment[m_acc >= 0] = self.principal[m_acc[m_acc >= 0]] / 300 * 140
        add(mortgage, "mortgage_payment", -instalment[:, None] * ones, DIRECT_DEBIT, 1)
        renter = rng.random(n) < np.array([0.6, 0.8, 0.3, 0.1, 0.1, 0.8])[self.persona]
        rent = np.maximum(45_000, self.income * 100 / 12 * 0.3)
        add(~mortgage & renter[:, None], "rent", -rent[:, None] * ones, STANDING_ORDER, 2)
        add(ones, "utilities", -rng.uniform(4_000, 12_000, (n, M)), DIRECT_DEBIT, 5)
        add(ones, "utilities", -rng.uniform(2_000, 6_000, (n, M)), DIRECT_DEBIT, 12)
        loan = holds[:, cat.P["PERSONAL_LOAN"], :]
        l_acc = self.acc_index[:, cat.P["PERSONAL_LOAN"]]
        loan_instalment = np.zeros(n)
        loan_instalment[l_acc >= 0] = self.principal[l_acc[l_acc >= 0]] / 60 * 110
        missed = self.missed_by_customer_month > 0
        add(loan & ~missed, "loan_payment", -loan_instalment[:, None] * ones, DIRECT_DEBIT, 10)
        for code in ("HOME_INS", "TRAVEL_INS"):
            add(holds[:, cat.P[code], :], "insurance", -rng.uniform(1_500, 4_500, (n, 1)) * ones, DIRECT_DEBIT, 15)
        add((card_account >= 0) & ~missed, "card_payment", -pay * rng.uniform(0.05, 0.3, (n, 1)), TRANSFER, 20)
        add(holds[:, cat.P["SAVINGS"], :] & (rng.random((n, 1)) < 0.6), "savings", -pay * 0.05, STANDING_ORDER, 26)
        invests = holds[:, cat.P["INVEST_FUND"], :] | holds[:, cat.P["PENSION"], :]
        add(invests, "investment", -rng.uniform(10_000, 50_000, (n, 1)) * ones, STANDING_ORDER, 27)
        months = np.arange(M)[None, :]
        child = self.event_month[:, 1][:, None]
        add(
            (child >= 0) & (months >= child + 3),
            "childcare",
            -rng.uniform(25_000, 60_000, (n, 1)) * ones,
            DIRECT_DEBIT,
            3,
        )
        add(self.overdrawn_cm, "fees", np.full((n, M), -1_500.0), DIRECT_DEBIT, 28)
        fixed = sum(b[0].size for b in blocks) / max(1, int(active.sum()))

        # Everyday spending, with trips and moves on top.
        activity = np.array([1.0, 1.1, 1.05, 1.1, 0.75, 1.0])[self.persona]
        rate = np.maximum(1.0, o.transactions_per_month - fixed) * activity[:, None] * ones
        travel_month = self.event_month[:, 3][:, None] == months
        move_month = self.event_month[:, 2][:, None] == months
        counts = rng.poisson(rate)
        counts[~active] = 0
        cm = np.repeat(np.arange(n * M), counts.ravel())
        cust, month = cm // M, cm % M
        category = _choice_by_group(rng, self.persona[cust], np.array(cat.PERSONA_SPEND))
        category_names = list(cat.SPEND_CATEGORIES)
        extra = []
        for mask, name, count in ((travel_month, "travel", 5), (move_month, "shopping", 3)):
            tc = np.repeat(np.nonzero((mask & active).ravel())[0], count)
            extra.append((tc, category_names.index(name) if name in category_names else len(category_names)))
        category_names.append("travel")
        cust = np.concatenate([cust] + [tc // M for tc, _ in extra])
        month = np.concatenate([month] + [tc % M for tc, _ in extra])
        category = np.concatenate([category] + [np.full(tc.size, code) for tc, code in extra])
        medians = np.array([cat.SPEND_AMOUNT[name][0] for name in category_names]) * 100
        sigmas = np.array([cat.SPEND_AMOUNT[name][1] for name in category_names])
        scale = np.clip((self.income / 40_000) ** 0.35, 0.5, 2.5)[cust]
        amount = -medians[category] * scale * np.exp(sigmas[category] * rng.standard_normal(cust.size))
        is_cash = category == category_names.index("cash")
        amount = np.where(is_cash, -np.maximum(1_000, np.rint(-amount / 1_000) * 1_000), amount)
        transfer = category == category_names.index("transfer_out")
        online_share = np.where(
            np.isin(category, [category_names.index(x) for x in ("shopping", "travel")]), 0.55, 0.15
        )
        channel = np.where(rng.random(cust.size) < online_share, CARD_ONLINE, CARD_PRESENT)
        channel = np.where(is_cash, ATM, np.where(transfer, TRANSFER, channel))
        day = self.month_start[month] + (rng.random(cust.size) * self.month_len[month]).astype(np.int64)
        day = np.maximum(day, self.since[cust])
        seconds = day * DAY + rng.integers(7 * 3600, 23 * 3600, cust.size)
        on_card = (channel <= CARD_ONLINE) & (card_account[cust, month] >= 0) & (rng.random(cust.size) < 0.35)
        account = np.where(on_card, card_account[cust, month], current_account[cust])
        to_category = np.array([K[name] for name in category_names])
        blocks.append((cust, account, seconds, np.rint(amount).astype(np.int64), to_category[category], channel))

        cust, account, seconds, cents, category, channel = (np.concatenate(x) for x in zip(*blocks, strict=True))
        utc = self.clock.to_utc(seconds)
        order = np.lexsort((cents, utc, cust))
        self.tx = (account[order], utc[order], cents[order], category[order], channel[order])
        self.tx_categories = categories

    # writing --------------------------------------------------------------------------------------
    def write(self, out_dir: Path) -> dict[str, int]:
        o = self.o
        rows: dict[str, int] = {}
        parts: list[tuple[Path, Path]] = []

        def emit(name: str, columns: dict[str, pa.Array | list[str]]) -> None:
            expected = FORMATS_BY_NAME[name].column_names
            if tuple(columns) != expected:
                raise AssertionError(f"{name}: columns {tuple(columns)} differ from the format {expected}")
            final = out_dir / f"{name}.csv"
            partial = out_dir / f".{name}.csv.part"
            rows[name] = txt.write_csv(partial, columns)
            parts.append((partial, final))

        try:
            self._write_all(emit, o)
        except BaseException:
            for partial, _ in parts:
                partial.unlink(missing_ok=True)
            raise
        for partial, final in parts:
            os.replace(partial, final)
        return rows

    def _write_all(self, emit: Callable[[str, dict[str, Any]], None], o: DemoBankOptions) -> None:
        n = self.n
        width = max(6, len(str(n)))
        cid = txt.format_ids("C", np.arange(1, n + 1), width)
        cid_list = cid.to_pylist()
        emit(
            "products",
            {
                "product_code": [p.code for p in cat.PRODUCTS],
                "name": [p.name for p in cat.PRODUCTS],
                "family": [p.family for p in cat.PRODUCTS],
                "tier": [str(p.tier) for p in cat.PRODUCTS],
                "complementary_codes": [";".join(p.complementary) for p in cat.PRODUCTS],
                "value": [p.value for p in cat.PRODUCTS],
                "currency": [o.currency] * P_COUNT,
                "is_credit": ["true" if p.is_credit else "false" for p in cat.PRODUCTS],
                "min_age": [str(p.min_age) for p in cat.PRODUCTS],
                "retired_on": [""] * P_COUNT,
            },
        )
        bools = ["false", "true"]
        emit(
            "customers",
            {
                "customer_id": cid,
                "birth_date": txt.format_dates(self.birth),
                "gender": txt.choose_text(self.gender, ["F", "M", "X", "U"]),
                "marital_status": txt.choose_text(self.marital, cat.MARITAL),
                "region": txt.choose_text(self.region, cat.REGIONS),
                "employment_type": txt.choose_text(self.employment, cat.EMPLOYMENT),
                "income": txt.format_cents(self.income * 100),
                "income_currency": [o.currency] * n,
                "customer_since": txt.format_dates(self.since),
                "kyc_status": txt.choose_text(self.kyc, ["verified", "pending", "expired"]),
                "kyc_date": txt.blank_where(txt.format_dates(np.maximum(self.kyc_date, 0)), self.kyc_date < 0),
                "sanctions_status": txt.choose_text(self.sanctions, ["clear", "potential_match"]),
                "risk_rating": txt.choose_text(self.risk, ["low", "medium", "high"]),
                "do_not_contact": txt.choose_text(self.do_not_contact.astype(int), bools),
                "vulnerable": txt.choose_text(self.vulnerable.astype(int), bools),
                "effective_date": txt.format_dates(self.since),
            },
        )
        rng = self.rng
        first = rng.integers(0, len(cat.FIRST_NAMES), n)
        last = rng.integers(0, len(cat.LAST_NAMES), n)
        phone = rng.integers(0, 10**8, n)
        has_app = rng.random(n) < np.where(self.persona == 4, 0.35, 0.85)
        tokens = rng.integers(0, 2**62, (n, 2))
        two = rng.random(n) < 0.2
        language = rng.choice(4, size=n, p=[0.82, 0.08, 0.06, 0.04])
        emit(
            "contacts",
            {
                "customer_id": cid,
                "first_name": [cat.FIRST_NAMES[i] for i in first],
                "last_name": [cat.LAST_NAMES[i] for i in last],
                "email": [
                    f"{cat.FIRST_NAMES[f].lower()}.{cat.LAST_NAMES[s].lower()}.{c.lower()}@example.org"
                    for f, s, c in zip(first, last, cid_list, strict=True)
                ],
                "phone": [f"+4477{p:08d}" for p in phone],
                "device_tokens": [
                    ("" if not app else f"tok_{t0:016x}" + (f";tok_{t1:016x}" if both else ""))
                    for app, t0, t1, both in zip(has_app, tokens[:, 0], tokens[:, 1], two, strict=True)
                ],
                "language": txt.choose_text(language, ["en", "pt", "es", "fr"]),
            },
        )
        A = self.acc_customer.size
        aid = txt.format_ids("A", np.arange(1, A + 1), max(8, len(str(A))))
        status = np.where(self.acc_close < NEVER, 3, np.where(self.acc_arrears, 2, 0))
        emit(
            "accounts",
            {
                "account_id": aid,
                "customer_id": cid.take(pa.array(self.acc_customer)),
                "product_code": txt.choose_text(self.acc_product, cat.PRODUCT_CODES),
                "opened_on": txt.format_dates(self.acc_open),
                "closed_on": txt.blank_where(
                    txt.format_dates(np.minimum(self.acc_close, self.as_of)), self.acc_close >= NEVER
                ),
                "status": txt.choose_text(status, ["open", "dormant", "in_arrears", "closed"]),
                "currency": txt.choose_text(np.zeros(A, dtype=int), [o.currency]),
                "joint_holder_ids": txt.blank_where(
                    cid.take(pa.array(np.maximum(self.acc_joint, 0))), self.acc_joint < 0
                ),
            },
        )
        a, m, avg, end, overdrawn, missed = self.bal
        emit(
            "balances",
            {
                "account_id": aid.take(pa.array(a)),
                "month": txt.format_months(self.month_start[m]),
                "average_balance": txt.format_cents(avg),
                "end_balance": txt.format_cents(end),
                "currency": txt.choose_text(np.zeros(a.size, dtype=int), [o.currency]),
                "days_overdrawn": txt.format_integers(overdrawn),
                "missed_payments": txt.format_integers(missed),
            },
        )
        account, utc, cents, category, channel = self.tx
        T = account.size
        emit(
            "transactions",
            {
                "transaction_id": txt.format_ids("T", np.arange(1, T + 1), max(12, len(str(T)))),
                "account_id": pa.DictionaryArray.from_arrays(pa.array(account.astype(np.int32)), aid),
                "booked_at": txt.format_utc_datetimes(utc),
                "amount": txt.format_cents(cents),
                "currency": txt.choose_text(np.zeros(T, dtype=int), [o.currency]),
                "category": txt.choose_text(category, self.tx_categories),
                "mcc": txt.choose_text(category, [cat.MCC.get(name, "") for name in self.tx_categories]),
                "channel": txt.choose_text(channel, TRANSACTION_CHANNELS),
            },
        )
        del self.tx
        cust, local, ch, kind, product, satisfaction = (np.concatenate(x) for x in zip(*self.ix, strict=True))
        utc = self.clock.to_utc(local)
        order = np.lexsort((product, kind, utc, cust))
        cust, utc, ch, kind, product, satisfaction = (x[order] for x in (cust, utc, ch, kind, product, satisfaction))
        emit(
            "interactions",
            {
                "interaction_id": txt.format_ids("I", np.arange(1, cust.size + 1), max(10, len(str(cust.size)))),
                "customer_id": pa.DictionaryArray.from_arrays(pa.array(cust.astype(np.int32)), cid),
                "occurred_at": txt.format_utc_datetimes(utc),
                "channel": txt.choose_text(ch, INTERACTION_CHANNELS),
                "event_type": txt.choose_text(kind, INTERACTION_TYPES),
                "product_code": txt.choose_text(product, cat.PRODUCT_CODES),
                "satisfaction": txt.blank_where(txt.format_integers(satisfaction), satisfaction == 0),
            },
        )
        c, day, score = self.scores
        emit(
            "credit_scores",
            {
                "customer_id": cid.take(pa.array(c)),
                "scored_on": txt.format_dates(day),
                "score": txt.format_integers(score),
                "source": txt.choose_text(np.zeros(c.size, dtype=int), ["bureau"]),
            },
        )
        emit("market_data", self._market_data())
        emit("consents", self._consent_rows(cid))
        emit("campaign_history", self._campaign_rows(cid))

    def _market_data(self) -> dict[str, list[str]]:
        rng = self.rng
        M = self.M
        month_ends = self.month_start[1:] - 1
        base_rate = np.clip(3.5 + np.cumsum(rng.choice([-0.25, 0, 0, 0, 0.25], M)), 0.1, 8)
        cpi = 120 * np.exp(np.cumsum(rng.normal(0.002, 0.002, M)))
        unemployment = np.clip(4.5 + np.cumsum(rng.normal(0, 0.08, M)), 2, 15)
        confidence = -15 + np.cumsum(rng.normal(0, 1.5, M))
        # Units of base currency per unit of each currency, from one euro-based set of rates.
        per_eur = {"EUR": 1.0, "USD": 0.92, "GBP": 1.17, "CHF": 1.04}
        base = per_eur.get(self.o.currency, 1.0)
        others = [c for c in ("USD", "GBP", "CHF") if c != self.o.currency][:2]
        dates, kinds, names, values = [], [], [], []
        days = txt.format_dates(month_ends).to_pylist()
        for name, series, digits in (
            ("base_rate", base_rate, 2),
            ("cpi", cpi, 3),
            ("unemployment_rate", unemployment, 2),
            ("consumer_confidence", confidence, 1),
        ):
            for d, v in zip(days, series, strict=True):
                dates.append(d)
                kinds.append("indicator")
                names.append(name)
                values.append(f"{v:.{digits}f}")
        for currency in others:
            walk = per_eur[currency] / base * np.exp(np.cumsum(rng.normal(0, 0.012, M)))
            for d, v in zip(days, walk, strict=True):
                dates.append(d)
                kinds.append("fx_rate")
                names.append(currency)
                values.append(f"{v:.6f}")
        return {"date": dates, "kind": kinds, "name": names, "value": values}

    def _consent_rows(self, cid: pa.Array) -> dict[str, pa.Array]:
        K = len(MARKETING_CHANNELS)
        cust, channel, purpose, status, seconds, source = [], [], [], [], [], []
        onboard = self.since * DAY + self.consent_seconds[:, 0]
        for k in range(K):
            c = np.nonzero(self.marketing_granted[:, k])[0]
            cust.append(c)
            channel.append(np.full(c.size, k))
            purpose.append(np.zeros(c.size))
            status.append(np.zeros(c.size))
            seconds.append(onboard[c])
            source.append(np.zeros(c.size))
            w = np.nonzero(self.marketing_withdrawn[:, k] < NEVER)[0]
            cust.append(w)
            channel.append(np.full(w.size, k))
            purpose.append(np.zeros(w.size))
            status.append(np.ones(w.size))
            seconds.append(self.marketing_withdrawn[w, k] * DAY + self.consent_seconds[w, 1])
            source.append(np.ones(w.size))
        w = np.nonzero(self.any_withdrawn < NEVER)[0]
        cust.append(w)
        channel.append(np.full(w.size, K))
        purpose.append(np.zeros(w.size))
        status.append(np.ones(w.size))
        seconds.append(self.any_withdrawn[w] * DAY + self.consent_seconds[w, 1])
        source.append(np.full(w.size, 2))
        g = np.nonzero(self.profiling_granted)[0]
        cust.append(g)
        channel.append(np.full(g.size, K))
        purpose.append(np.ones(g.size))
        status.append(np.zeros(g.size))
        seconds.append(onboard[g])
        source.append(np.zeros(g.size))
        w = np.nonzero(self.profiling_withdrawn < NEVER)[0]
        cust.append(w)
        channel.append(np.full(w.size, K))
        purpose.append(np.ones(w.size))
        status.append(np.ones(w.size))
        seconds.append(self.profiling_withdrawn[w] * DAY + self.consent_seconds[w, 2])
        source.append(np.full(w.size, 3))
        cust, channel, purpose, status, seconds, source = (
            np.concatenate(x).astype(np.int64) for x in (cust, channel, purpose, status, seconds, source)
        )
        utc = self.clock.to_utc(seconds)
        order = np.lexsort((utc, purpose, channel, cust))
        return {
            "customer_id": cid.take(pa.array(cust[order])),
            "channel": txt.choose_text(channel[order], [*MARKETING_CHANNELS, "any"]),
            "purpose": txt.choose_text(purpose[order], ["marketing", "profiling"]),
            "status": txt.choose_text(status[order], ["granted", "withdrawn"]),
            "effective_at": txt.format_utc_datetimes(utc[order]),
            "source": txt.choose_text(source[order], ["onboarding", "app_settings", "call_centre", "privacy_request"]),
        }

    def _campaign_rows(self, cid: pa.Array) -> dict[str, pa.Array]:
        if self.offers is None:
            return {name: [] for name in FORMATS_BY_NAME["campaign_history"].column_names}
        customers, product, channel, offered, accepted, other, responded_local, month = self.offers
        call = channel == OFFER_CHANNELS.index("call_centre")
        push = channel == OFFER_CHANNELS.index("app_push")
        # Outcomes other than acceptance, by channel.
        outcome = np.where(other < 0.65, 1, np.where(other < 0.8, 3, 5))  # no_response, click, rejected
        outcome = np.where(call, np.where(other < 0.3, 1, 5), outcome)
        outcome = np.where(
            push, np.where(other < 0.4, 6, np.where(other < 0.7, 2, np.where(other < 0.8, 3, 1))), outcome
        )
        outcome = np.where(accepted, 4, outcome)
        responded = outcome != 1
        offered_utc = self.clock.to_utc(offered)
        responded_utc = self.clock.to_utc(responded_local)
        order = np.lexsort((customers, offered_utc))
        product_codes = np.array(cat.PRODUCT_CODES)
        month_text = txt.format_months(self.month_start[month]).to_pylist()
        codes = [f"{mt.replace('-', '')}_{product_codes[p]}" for mt, p in zip(month_text, product, strict=True)]
        values = np.array([int(float(p.value) * 100) for p in cat.PRODUCTS])
        o = order
        return {
            "offer_id": txt.format_ids("O", np.arange(1, customers.size + 1), max(9, len(str(customers.size)))),
            "customer_id": cid.take(pa.array(customers[o])),
            "campaign_code": pa.array([codes[i] for i in o], type=pa.string()),
            "product_code": txt.choose_text(product[o], cat.PRODUCT_CODES),
            "channel": txt.choose_text(channel[o], OFFER_CHANNELS),
            "offered_at": txt.format_utc_datetimes(offered_utc[o]),
            "outcome": txt.choose_text(outcome[o], list(choices.OfferOutcome.values)),
            "responded_at": txt.blank_where(txt.format_utc_datetimes(responded_utc[o]), ~responded[o]),
            "revenue": txt.blank_where(txt.format_cents(values[product[o]]).cast(pa.string()), ~accepted[o]),
        }


def demo_bank_generate(*, options: DemoBankOptions, out_dir: Path) -> DemoBankSummary:
    """Write the demo bank's import files (one CSV per entity) into ``out_dir``.

    Files are written under temporary names and renamed only when all are done,
    so a failure leaves no half-written bank.
    """
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    bank = _Bank(options)
    bank.customers()
    bank.life_events()
    bank.holdings()
    bank.consents()
    bank.research()
    bank.campaigns()
    bank.interactions()
    bank.accounts()
    bank.balances()
    bank.credit_scores()
    bank.transactions()
    rows = bank.write(out_dir)
    return DemoBankSummary(out_dir=out_dir, rows=rows, seconds=time.perf_counter() - started)
