"""Batch next-best-action: decide for every customer of an audience on one channel.

A run is cut into chunks of customer ids when it starts. Workers (Celery tasks,
or processes of ``run_batch_decisions``) claim pending chunks with ``SKIP
LOCKED``, so any number share a run. A chunk reads its customers' facts at once,
scores them with one prediction per model, runs the same engine as the real-time
path with the run's clock, computes the model's reasons for the offers written
(one contribution call per product), then writes its decisions (COPY) and marks
itself done in the transaction that holds its lock: a worker killed mid-chunk
leaves it pending for the next, with nothing lost or doubled.
Batch decisions propose offers; a campaign makes them (and counts them in the
contact history) when it delivers.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from core.models import User
from core.services import audit_record
from customers.models import Customer
from decisioning.decisions import (
    DecisionInputError,
    _Models,
    _weights_check,
    context_validate,
    decision_funnel,
    decisions_insert_many,
    models_current,
)
from decisioning.engine import ENGINE_VERSION, MAX_RESULTS, decide, needs_model_reasons, reasons_attach
from decisioning.inputs import (
    CustomerFacts,
    acceptance_rates,
    catalogue_current,
    catalogue_view_ready,
    customer_facts,
    decision_inputs,
    inputs_stored,
)
from decisioning.models import BatchChunk, BatchDecisionRun, BatchRunStatus, Decision, DecisionKind, TreatmentChannel
from modeling.online import online_features_refresh
from modeling.reasons import reasons_from_contributions
from modeling.scoring import model_layouts
from modeling.segments import segment_current_get, segment_customer_ids

BATCH_SIZE = 500
BATCH_TASK_SECONDS = 60.0


def _audience_ids(audience: Mapping[str, Any]) -> QuerySet[Any, int]:
    if audience.get("segment"):
        return segment_customer_ids(code=audience["segment"])
    return Customer.objects.order_by("pk").values_list("pk", flat=True)


def _audience_between(audience: Mapping[str, Any], first: int, last: int) -> list[int]:
    if audience.get("segment"):
        return list(_audience_ids(audience).filter(customer_id__gte=first, customer_id__lte=last))
    return list(_audience_ids(audience).filter(pk__gte=first, pk__lte=last))


def batch_run_start(
    *,
    channel: str,
    audience: Mapping[str, Any] | None = None,
    max_results: int = 1,
    context: Mapping[str, Any] | None = None,
    actor: User | None,
    now: dt.datetime,
    batch_size: int = BATCH_SIZE,
) -> BatchDecisionRun:
    """A pending run; its task does the work. The audience is {} (every customer)
    or {"segment": code}; ValidationError names a bad field."""
    audience = dict(audience or {})
    errors: dict[str, str] = {}
    if channel not in TreatmentChannel.values:
        errors["channel"] = f"one of {', '.join(TreatmentChannel.values)}"
    if set(audience) - {"segment"}:
        errors["audience"] = 'the audience is {} (every customer) or {"segment": code}'
    elif audience.get("segment"):
        try:
            segment_current_get(code=str(audience["segment"]))
        except KeyError as exc:
            errors["audience"] = str(exc).strip("'\"")
    if not isinstance(max_results, int) or not 1 <= max_results <= MAX_RESULTS:
        errors["max_results"] = f"a whole number from 1 to {MAX_RESULTS}"
    try:
        context = context_validate(dict(context or {}))
        _weights_check(context, catalogue_current())
    except DecisionInputError as exc:
        errors["context"] = str(exc)
    if errors:
        raise ValidationError(errors)
    catalogue = catalogue_current()
    with transaction.atomic():
        ids = list(_audience_ids(audience))
        run = BatchDecisionRun.objects.create(
            channel=channel,
            audience=audience,
            max_results=max_results,
            context=context,
            rule_set=catalogue.rule_set,
            total=len(ids),
            requested_by=actor,
            now=now,
        )
        BatchChunk.objects.bulk_create(
            BatchChunk(
                run=run,
                number=n,
                first_customer_id=ids[start],
                last_customer_id=ids[min(start + batch_size, len(ids)) - 1],
                size=min(batch_size, len(ids) - start),
            )
            for n, start in enumerate(range(0, len(ids), batch_size))
        )
        if actor is not None:
            audit_record(
                actor=actor,
                action="batch_decisions.start",
                object_type="batch_decision_run",
                object_id=run.pk,
                after={"channel": channel, "audience": audience, "max_results": max_results, "total": run.total},
                now=now,
            )
    return run


def _scores_many(
    values: Sequence[Mapping[str, Any]], models: _Models
) -> tuple[list[dict[str, dict[str, Any]]], dict[str, np.ndarray]]:
    """Every customer's scores, and each model's input matrix (for the reasons)."""
    out: list[dict[str, dict[str, Any]]] = [{} for _ in values]
    matrices: dict[str, np.ndarray] = {}
    if not values:
        return out, matrices
    # One matrix per input layout, shared by the models trained on it (as real time does).
    for first, group in model_layouts(models.by_id):
        x = np.vstack([first.vector(v) for v in values])
        for _product_id, model in group:
            matrices[model.product_code] = x
            raw = model.predict_raw(x)
            calibrated = model.calibrate(raw)
            for i in range(len(values)):
                out[i][model.product_code] = {
                    "propensity": float(calibrated[i]),
                    "raw": float(raw[i]),
                    "model_version_id": model.model_version_id,
                }
    return out, matrices


def _decide_chunk(
    run: BatchDecisionRun, ids: Sequence[int], audience_filter: AudienceFilter | None = None
) -> list[Decision]:
    now = run.now
    catalogue = catalogue_current()
    rates = acceptance_rates()
    models = models_current()
    customers = list(Customer.objects.filter(pk__in=ids).order_by("pk"))
    facts = customer_facts(customers, now=now, lookback_days=catalogue.lookback_days)
    missing = [pk for pk, f in facts.items() if f.features is None]
    if missing:
        online_features_refresh(customer_ids=missing, now=now)
        refreshed = customer_facts([facts[pk].customer for pk in missing], now=now, lookback_days=0, with_features=True)
        for pk in missing:
            facts[pk].features = refreshed[pk].features or {}
    if audience_filter is not None:
        keep = audience_filter(run, facts)
        customers = [c for c in customers if c.pk in keep]
        facts = {pk: f for pk, f in facts.items() if pk in keep}
    order = [c.pk for c in customers]
    inputs = [
        decision_inputs(
            facts[pk],
            catalogue,
            channel=run.channel,
            context=run.context,
            max_results=run.max_results,
            now=now,
            rates=rates,
            model_features=models.features,
        )
        for pk in order
    ]
    scorable = [i for i, inp in enumerate(inputs) if inp["may_score"]] if models.by_id else []
    scored, matrices = _scores_many([facts[order[i]].features or {} for i in scorable], models)
    scores: list[dict[str, dict[str, Any]]] = [{} for _ in order]
    row_of: dict[int, int] = {}
    for row, i in enumerate(scorable):
        scores[i] = scored[row]
        row_of[i] = row
    results = [decide(inputs[i], scores[i], catalogue.compiled) for i in range(len(order))]
    # The model's reasons, one contribution call per product for the whole chunk.
    wanted: dict[str, list[int]] = defaultdict(list)
    for i, result in enumerate(results):
        for code in needs_model_reasons(result):
            if code in scores[i]:
                wanted[code].append(i)
    for code, customers_idx in wanted.items():
        model = models.by_code[code]
        rows = [row_of[i] for i in customers_idx]
        contributions = model.contributions(matrices[code][rows])
        for k, i in enumerate(customers_idx):
            reasons = reasons_from_contributions(
                contributions=contributions[k], features=model.features, row=facts[order[i]].features or {}
            )
            scores[i][code]["reasons"] = [r.text for r in reasons]
    decisions = []
    for i, pk in enumerate(order):
        result = reasons_attach(results[i], {code: s.get("reasons", []) for code, s in scores[i].items()})
        decisions.append(
            Decision(
                customer_id=pk,
                kind=DecisionKind.BATCH,
                channel=run.channel,
                made_at=now,
                rule_set=catalogue.rule_set,
                catalogue_id=inputs[i]["catalogue"],
                model_versions={code: s["model_version_id"] for code, s in scores[i].items()},
                rules_only=result["rules_only"],
                inputs=inputs_stored(inputs[i]),
                scores=scores[i],
                offers=result["offers"],
                funnel=decision_funnel(result),
                batch_run=run,
                requested_by=f"batch:{run.public_id}",
                engine_version=ENGINE_VERSION,
            )
        )
    return decisions


def _chunk_claim(run_id: int) -> BatchChunk | None:
    """The next pending chunk, locked for this transaction; chunks other workers hold
    are skipped (PostgreSQL). SQLite has one writer at a time: no lock is needed."""
    pending = BatchChunk.objects.filter(run_id=run_id, done=False).order_by("number")
    if connection.vendor == "postgresql":
        pending = pending.select_for_update(skip_locked=True)
    return pending.first()


ChunkWriter = Callable[[BatchDecisionRun, Sequence[Decision]], int]
# Which of a chunk's customers to decide for, from their facts (a campaign's audience rule).
AudienceFilter = Callable[[BatchDecisionRun, Mapping[int, CustomerFacts]], set[int]]


def batch_run_step(
    *, run_id: int, after_write: ChunkWriter | None = None, audience_filter: AudienceFilter | None = None
) -> bool:
    """Claim a chunk, decide it, write its decisions and mark it done in one
    transaction; whether a chunk was done (False: none left to claim).

    ``after_write(run, decisions)`` runs inside that transaction once the chunk's
    decisions are stored: a campaign queues its deliveries there, so an offer is
    never queued without its decision nor decided without being queued. It returns
    how many offers it kept (the run's ``offers_made``)."""
    run = BatchDecisionRun.objects.get(pk=run_id)
    if run.status in (BatchRunStatus.DONE, BatchRunStatus.FAILED):
        return False
    if run.status == BatchRunStatus.PENDING:
        BatchDecisionRun.objects.filter(pk=run_id, status=BatchRunStatus.PENDING).update(
            status=BatchRunStatus.RUNNING, started_at=timezone.now()
        )
    # The catalogue's snapshot row for the channel, written (and so cached) before the
    # chunk's transaction: inside it, every customer of the chunk would write it again.
    catalogue_view_ready(run.channel)
    with transaction.atomic():
        chunk = _chunk_claim(run_id)
        if chunk is not None:
            ids = _audience_between(run.audience, chunk.first_customer_id, chunk.last_customer_id)
            decisions = _decide_chunk(run, ids, audience_filter) if ids else []
            decisions_insert_many(decisions)
            offers = sum(len(d.offers) for d in decisions)
            if after_write is not None:
                offers = after_write(run, decisions)
            now = timezone.now()
            BatchChunk.objects.filter(pk=chunk.pk).update(done=True, offers_made=offers, finished_at=now)
            BatchDecisionRun.objects.filter(pk=run_id).update(
                done=F("done") + len(ids), offers_made=F("offers_made") + offers, updated_at=now
            )
            return True
    if not BatchChunk.objects.filter(run_id=run_id, done=False).exists():
        BatchDecisionRun.objects.filter(pk=run_id).exclude(status=BatchRunStatus.DONE).update(
            status=BatchRunStatus.DONE, finished_at=timezone.now()
        )
    return False


def batch_run_fail(*, run_id: int, error: str) -> None:
    BatchDecisionRun.objects.filter(pk=run_id).exclude(status=BatchRunStatus.DONE).update(
        status=BatchRunStatus.FAILED, error=error[:2000], finished_at=timezone.now()
    )


def batch_run_work(
    *,
    run_id: int,
    max_seconds: float | None = BATCH_TASK_SECONDS,
    progress: Callable[[int, int], None] | None = None,
    after_write: ChunkWriter | None = None,
    audience_filter: AudienceFilter | None = None,
) -> bool:
    """Chunks until none is left to claim or ``max_seconds`` have passed; whether
    more may remain (chunks still pending, or held by other workers)."""
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    while True:
        more = batch_run_step(run_id=run_id, after_write=after_write, audience_filter=audience_filter)
        if progress is not None:
            done, total = BatchDecisionRun.objects.filter(pk=run_id).values_list("done", "total").first() or (0, 0)
            progress(done, total)
        if not more or (deadline is not None and time.monotonic() >= deadline):
            return more
