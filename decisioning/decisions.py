"""Making a decision for one customer and one channel, and keeping its record.

``decision_make`` reads the inputs (``decisioning.inputs``), scores the customer
with the active models unless they object to profiling, runs the engine
(``decisioning.engine``) and stores the ``Decision`` with everything needed to
replay it, in one transaction. A real-time decision also appends the offers it
returns to the contact history in that transaction, with the customer's row
locked: contact caps hold however many decisions for one customer run at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from django.conf import settings
from django.db import connection, transaction

from customers.choices import ProductFamily
from customers.services import OfferMade, contact_history_record
from decisioning.engine import CONTACT_CHANNEL, ENGINE_VERSION, MAX_RESULTS, decide, removed_summary
from decisioning.inputs import (
    SERVICE_CAMPAIGN_PREFIX,
    Catalogue,
    acceptance_rates,
    catalogue_current,
    customer_facts_one,
    decision_inputs,
    inputs_stored,
    pg_cursor,
)
from decisioning.models import Decision, DecisionKind, TreatmentChannel
from decisioning.templates import template_render
from modeling.online import online_features_ensure
from modeling.propensity import LoadedModel
from modeling.registry import active_models
from modeling.scoring import score_values, values_reasons

logger = logging.getLogger(__name__)
HTML_CHANNELS = frozenset({TreatmentChannel.EMAIL, TreatmentChannel.WEB})
MAX_CONTEXT_TEXT = 200
MAX_WEIGHT = 1000.0


class DecisionInputError(ValueError):
    """A request the engine cannot decide on; ``errors`` are (JSON pointer, message)."""

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{p}: {m}" for p, m in self.errors))


class UnknownCustomer(LookupError):
    pass


_CHANNELS = frozenset(TreatmentChannel.values)
# page and reason say where the customer is; weights tilt arbitration; a campaign's
# decisions name the campaign and keep to its offers.
CONTEXT_KEYS = ("page", "reason", "weights", "offers", "campaign")


def context_validate(context: Any) -> dict[str, Any]:
    """The request context: page and reason as short text, weights as positive
    numbers on ``issue:``, ``group:`` or ``offer:`` codes."""
    errors: list[tuple[str, str]] = []
    if not isinstance(context, dict):
        raise DecisionInputError([("#/context", "an object with page, reason and weights")])
    unknown = sorted(set(context) - set(CONTEXT_KEYS))
    for key in unknown:
        errors.append((f"#/context/{key}", "unknown key: the context has " + ", ".join(CONTEXT_KEYS)))
    for key in ("page", "reason"):
        value = context.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_CONTEXT_TEXT):
            errors.append((f"#/context/{key}", f"text of at most {MAX_CONTEXT_TEXT} characters"))
    weights = context.get("weights")
    if weights is not None:
        if not isinstance(weights, dict) or len(weights) > 100:
            errors.append(("#/context/weights", "an object of at most 100 weights"))
        else:
            for key, value in weights.items():
                where = f"#/context/weights/{key}"
                scope, _, code = str(key).partition(":")
                if scope not in ("issue", "group", "offer") or not code or len(code) > 40:
                    errors.append((where, "keys are issue:<code>, group:<code> or offer:<code>"))
                elif not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= MAX_WEIGHT:
                    errors.append((where, f"a number from 0 to {MAX_WEIGHT:g}"))
    offers = context.get("offers")
    if offers is not None and (
        not isinstance(offers, list)
        or not 1 <= len(offers) <= 100
        or not all(isinstance(code, str) and 0 < len(code) <= 40 for code in offers)
    ):
        errors.append(("#/context/offers", "a list of 1 to 100 offer codes"))
    campaign = context.get("campaign")
    if campaign is not None and (not isinstance(campaign, str) or not 0 < len(campaign) <= 40):
        errors.append(("#/context/campaign", "a campaign code of at most 40 characters"))
    if errors:
        raise DecisionInputError(errors)
    return {k: context[k] for k in CONTEXT_KEYS if context.get(k) is not None}


def _weights_check(context: Mapping[str, Any], catalogue: Catalogue) -> None:
    """A weight on a code the catalogue does not have is a sender's mistake: say so."""
    if context.get("offers"):
        codes = {o["code"] for o in catalogue.offers}
        missing = [code for code in context["offers"] if code not in codes]
        if missing:
            raise DecisionInputError([("#/context/offers", f"no offer with code {missing[0]!r}")])
    if not context.get("weights"):
        return
    known = {f"offer:{o['code']}" for o in catalogue.offers}
    known |= {f"group:{o['group']}" for o in catalogue.offers} | {f"issue:{o['issue']}" for o in catalogue.offers}
    unknown = sorted(set(context.get("weights") or {}) - known)
    if unknown:
        raise DecisionInputError(
            [
                (f"#/context/weights/{key}", f"no {key.partition(':')[0]} with code {key.partition(':')[2]!r}")
                for key in unknown
            ]
        )


# --- scoring ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Models:
    by_id: Mapping[int, LoadedModel]
    by_code: Mapping[str, LoadedModel]
    features: tuple[str, ...]


_models_lock = threading.Lock()
_models_seen: list[_Models] = []


def models_current() -> _Models:
    """The active models by product code, with the union of their inputs."""
    models = active_models()
    with _models_lock:
        if _models_seen and _models_seen[0].by_id is models:
            return _models_seen[0]
    names: set[str] = set()
    for model in models.values():
        names.update(model.features)
    found = _Models(by_id=models, by_code={m.product_code: m for m in models.values()}, features=tuple(sorted(names)))
    with _models_lock:
        _models_seen[:] = [found]
    return found


def scores_of(values: Mapping[str, Any], models: _Models) -> dict[str, dict[str, Any]]:
    return {
        s.product_code: {"propensity": s.propensity, "raw": s.raw_score, "model_version_id": s.model_version_id}
        for s in score_values(values, models.by_id)
    }


# --- the decision ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionOutcome:
    decision: Decision
    result: dict[str, Any]
    catalogue: Catalogue
    first_name: str
    inputs: dict[str, Any]  # as the engine saw them, the catalogue's part included


def _model_reasons(values: Mapping[str, Any], models: _Models, scores: dict[str, dict[str, Any]]):  # noqa: ANN202
    def reasons(product_code: str) -> list[str]:
        model = models.by_code.get(product_code)
        if model is None or product_code not in scores:
            return []
        found = scores[product_code].get("reasons")
        if found is None:
            found = [r.text for r in values_reasons(model, values)]
            scores[product_code]["reasons"] = found
        return found

    return reasons


def decision_make(
    *,
    customer_id: str,
    channel: str,
    context: Mapping[str, Any] | None = None,
    max_results: int = 3,
    kind: str = DecisionKind.REALTIME,
    requested_by: str = "",
    now: dt.datetime,
    debug: bool = False,
) -> DecisionOutcome:
    """Decide for the customer with bank id ``customer_id`` on ``channel`` and store
    the decision (and, in real time, the offers made) in one transaction. ``debug``
    keeps every gate and rule trace in the result, for ``decision_response(debug=True)``."""
    if channel not in _CHANNELS:  # a frozenset: Django rebuilds ``.values`` on every call
        raise DecisionInputError([("#/channel", f"one of {', '.join(TreatmentChannel.values)}")])
    if not isinstance(max_results, int) or isinstance(max_results, bool) or not 1 <= max_results <= MAX_RESULTS:
        raise DecisionInputError([("#/max_results", f"a whole number from 1 to {MAX_RESULTS}")])
    context = context_validate(context or {})
    catalogue = catalogue_current()
    _weights_check(context, catalogue)
    rates = acceptance_rates()
    models = models_current()
    # A transaction of its own (not one of the caller's) can commit in the round trip of its last write.
    owns_transaction = not connection.in_atomic_block
    with transaction.atomic():
        facts = customer_facts_one(
            customer_id, now=now, lookback_days=catalogue.lookback_days, lock=kind == DecisionKind.REALTIME
        )
        if facts is None:
            raise UnknownCustomer(f"no customer with id {customer_id!r}")
        if facts.features is None:
            facts.features = online_features_ensure(facts.customer.pk, now=now).values
        inputs = decision_inputs(
            facts,
            catalogue,
            channel=channel,
            context=context,
            max_results=max_results,
            now=now,
            rates=rates,
            model_features=models.features,
        )
        scores = scores_of(facts.features, models) if inputs["may_score"] and models.by_id else {}
        result = decide(
            inputs,
            scores,
            catalogue.compiled,
            model_reasons=_model_reasons(facts.features, models, scores),
            trace=debug,
        )
        decision = Decision(
            customer_id=facts.customer.pk,
            kind=kind,
            channel=channel,
            made_at=now,
            rule_set=catalogue.rule_set,
            catalogue_id=inputs["catalogue"],
            model_versions={code: s["model_version_id"] for code, s in scores.items()},
            rules_only=result["rules_only"],
            inputs=inputs_stored(inputs),
            scores=scores,
            offers=result["offers"],
            funnel=decision_funnel(result),
            requested_by=requested_by[:80],
            engine_version=ENGINE_VERSION,
        )
        made = _offers_made(decision, result, inputs) if kind == DecisionKind.REALTIME else []
        _decision_store(decision, made, commit=owns_transaction)
    return DecisionOutcome(
        decision=decision, result=result, catalogue=catalogue, first_name=facts.first_name, inputs=inputs
    )


def decision_funnel(result: Mapping[str, Any]) -> dict[str, Any]:
    """What a decision record keeps of the funnel (the rest is replayed on demand)."""
    return {
        "removed": removed_summary(result),
        "caps": result["caps"],
        "bundle": result["bundle"],
        "upsell": result["upsell"],
        "note": result["note"],
    }


_INSERT_COLUMNS = (
    "public_id",
    "customer_id",
    "kind",
    "channel",
    "made_at",
    "rule_set_id",
    "catalogue_id",
    "model_versions",
    "rules_only",
    "inputs",
    "scores",
    "offers",
    "funnel",
    "requested_by",
    "engine_version",
)
_JSON_COLUMNS = frozenset({"model_versions", "inputs", "scores", "offers", "funnel"})
_INSERT_SQL = (
    f"INSERT INTO {Decision._meta.db_table} ({', '.join(_INSERT_COLUMNS)}) "
    f"VALUES ({', '.join('%s::jsonb' if n in _JSON_COLUMNS else '%s' for n in _INSERT_COLUMNS)}) RETURNING id"
)


def _row(decision: Decision, columns: Sequence[str]) -> list[Any]:
    # orjson: a decision record is about 10 KB of JSON, written on every request;
    # its floats round-trip exactly, as the standard library's do.
    return [
        orjson.dumps(getattr(decision, name)).decode() if name in _JSON_COLUMNS else getattr(decision, name)
        for name in columns
    ]


def decisions_insert_many(decisions: Sequence[Decision]) -> None:
    """Store new decisions at once: COPY on PostgreSQL (a batch chunk writes hundreds,
    and their JSON is most of the bytes), ``bulk_create`` elsewhere."""
    if connection.vendor != "postgresql":
        Decision.objects.bulk_create(decisions, batch_size=250)
        return
    columns = (*_INSERT_COLUMNS, "batch_run_id")
    with pg_cursor() as cursor:
        with cursor.copy(f"COPY {Decision._meta.db_table} ({', '.join(columns)}) FROM STDIN") as copy:
            for decision in decisions:
                copy.write_row(_row(decision, columns))


def _decision_store(decision: Decision, made: Sequence[OfferMade], *, commit: bool = False) -> None:
    """Insert the decision and append the offers it made to the contact history. On
    PostgreSQL one plain INSERT (``Model.save`` spends more time preparing the
    statement than the database spends running it), pipelined with the contact
    history's and, with ``commit``, the COMMIT: one round trip for all three.

    ``commit`` is for the outermost ``atomic`` block only, as its last statement:
    Django's own commit at the end of the block then finds nothing to do (psycopg
    sends no COMMIT outside a transaction), and runs the on-commit hooks as usual."""
    if connection.vendor != "postgresql":
        decision.save(force_insert=True)
        if made:
            _contacts_write(decision, made)
        return
    values = _row(decision, _INSERT_COLUMNS)
    # psycopg's own errors, as Django's (the API answers a DatabaseError with a 503).
    with connection.wrap_database_errors, pg_cursor() as cursor:
        with connection.connection.pipeline():
            cursor.execute(_INSERT_SQL, values, prepare=True)
            if made:
                _contacts_write(decision, made)
            if commit:
                connection.connection.commit()
        decision.pk = cursor.fetchone()[0]
    decision._state.adding = False


def contact_id(decision_public_id: uuid.UUID, rank: int) -> str:
    """The contact-history id of a decision's offer: responses and deliveries find the row by it."""
    return f"nba-{decision_public_id.hex}-{rank}"


def _offers_made(decision: Decision, result: Mapping[str, Any], inputs: Mapping[str, Any]) -> list[OfferMade]:
    products = {o["code"]: o for o in inputs["offers"]}
    made = []
    for view in result["offers"]:
        spec = products[view["offer_code"]]
        campaign = (
            f"{SERVICE_CAMPAIGN_PREFIX}{spec['issue']}"
            if spec["transactional"]
            else inputs["context"].get("campaign") or f"nba:{decision.channel}"
        )
        made.append(
            OfferMade(
                external_id=contact_id(decision.public_id, view["rank"]),
                product_id=spec["product_id"],
                campaign_code=campaign,
            )
        )
    return made


def _contacts_write(decision: Decision, made: Sequence[OfferMade]) -> None:
    contact_history_record(
        customer_id=decision.customer_id, channel=CONTACT_CHANNEL[decision.channel], offers=made, now=decision.made_at
    )


def decisions_warm_up() -> None:
    """Load what every decision needs (models, catalogue, rule set, rates) ahead of
    the first request. Never fails: a database not migrated yet only logs."""
    try:
        catalogue_current()
        acceptance_rates()
        models_current()
    except Exception:  # the app must start even when the database is not ready
        logger.warning("decision warm-up skipped", exc_info=True)
    finally:
        connection.close()


# --- the response ------------------------------------------------------------------------------------------------------


# Read per offer on every response: Django rebuilds ``.values`` and looks labels up on each call.
_FAMILY_LABELS = dict(ProductFamily.choices)


def _template_values(offer: Mapping[str, Any], spec: Mapping[str, Any], customer_id: str, first_name: str) -> dict:
    ends = spec["ends_on"]
    return {
        "customer.first_name": first_name,
        "customer.external_id": customer_id,
        "offer.name": spec["name"],
        "offer.value": spec["headline_value"],
        "offer.ends_on": dt.date.fromisoformat(ends).strftime("%-d %b %Y") if ends else "",
        "product.name": spec["product_name"],
        "product.family": _FAMILY_LABELS.get(spec["family"], ""),
        "bank.name": settings.BANK_NAME,
    }


def treatment_view(outcome: DecisionOutcome, offer: Mapping[str, Any]) -> dict[str, Any] | None:
    """The offer's treatment on the decision's channel, filled for this customer."""
    texts = outcome.catalogue.treatment_texts.get(offer["treatment_id"])
    if texts is None:
        return None
    spec = next(o for o in outcome.inputs["offers"] if o["code"] == offer["offer_code"])
    values = _template_values(offer, spec, outcome.decision.inputs["customer"]["external_id"], outcome.first_name)
    escape = outcome.decision.channel in HTML_CHANNELS
    subject, body, disclosures = texts
    return {
        "channel": outcome.decision.channel,
        "subject": template_render(subject, values, escape=escape),
        "body": template_render(body, values, escape=escape),
        "disclosures": template_render(disclosures, values, escape=escape),
    }


def _public(offer: Mapping[str, Any], outcome: DecisionOutcome) -> dict[str, Any]:
    view = {k: v for k, v in offer.items() if k not in ("treatment_id", "rules_passed")}
    view["treatment"] = treatment_view(outcome, offer)
    return view


def decision_response(outcome: DecisionOutcome, *, debug: bool = False) -> dict[str, Any]:
    """What the API returns (and the try-a-decision page shows)."""
    decision, result = outcome.decision, outcome.result
    body: dict[str, Any] = {
        "decision_id": str(decision.public_id),
        "customer_id": decision.inputs["customer"]["external_id"],
        "channel": decision.channel,
        "made_at": decision.made_at.isoformat(),
        "rule_set_version": outcome.catalogue.rule_set.version if outcome.catalogue.rule_set else None,
        "model_versions": decision.model_versions,
        "rules_only": result["rules_only"],
        "note": result["note"],
        "offers": [_public(o, outcome) for o in result["offers"]],
        "bundle": result["bundle"],
        "upsell": _public(result["upsell"], outcome) if result["upsell"] else None,
    }
    if debug:
        body["funnel"] = {
            "offers": result["funnel"],
            "caps": result["caps"],
            "gates": _gates_summary(result["funnel"]),
        }
    return body


def _gates_summary(funnel: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each gate once, with the offers it blocked."""
    out: dict[str, dict[str, Any]] = {}
    for entry in funnel:
        for gate in entry["gates"]:
            row = out.setdefault(
                gate["gate"], {"gate": gate["gate"], "passed": True, "reason": gate["reason"], "blocked": []}
            )
            if not gate["passed"]:
                row["passed"] = False
                row["reason"] = gate["reason"]
                row["blocked"].append(entry["offer_code"])
    return list(out.values())
