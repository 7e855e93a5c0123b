"""``POST /api/v1/decisions``: the next best offers for one customer on one channel."""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ProblemError, problem_response
from core.idempotency import idempotency_owner, idempotent
from core.permissions import scope_or_capability
from decisioning.decisions import DecisionInputError, UnknownCustomer, decision_make, decision_response
from decisioning.engine import MAX_RESULTS
from decisioning.models import DecisionKind, TreatmentChannel
from modeling.scoring import UnknownCustomerError

FIELDS = {"customer_id", "channel", "context", "max_results", "debug"}
_DEFAULT_MAX_RESULTS = 3


class DecisionInputSerializer(serializers.Serializer):
    customer_id = serializers.CharField(max_length=64, help_text="The customer's bank id.")
    channel = serializers.ChoiceField(choices=TreatmentChannel.choices)
    context = serializers.JSONField(
        required=False,
        help_text='{"page": text, "reason": text, "weights": {"issue:<code>"|"group:<code>"|"offer:<code>": number}}',
    )
    max_results = serializers.IntegerField(min_value=1, max_value=MAX_RESULTS, default=_DEFAULT_MAX_RESULTS)
    debug = serializers.BooleanField(default=False, help_text="Return the whole funnel: every gate and rule.")

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["The body is a JSON object."]})
        unknown = sorted(set(data) - FIELDS)
        if unknown:
            raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        if "customer_id" in data and not isinstance(data["customer_id"], str):
            raise serializers.ValidationError({"customer_id": ["The customer's bank id, as a JSON string."]})
        if isinstance(data.get("max_results"), bool | float):
            raise serializers.ValidationError({"max_results": ["A whole number."]})
        return super().to_internal_value(data)


_CHANNELS = frozenset(TreatmentChannel.values)


def decision_input_plain(data: Any) -> dict[str, Any] | None:
    """What ``DecisionInputSerializer`` would validate ``data`` to, when ``data`` is a
    plain well-formed request (JSON types as sent by every channel system); None
    for anything else, which the serializer then validates and words the errors of.
    Building a serializer deep-copies each of its fields: a third of a millisecond
    per decision, more than the validation itself."""
    if type(data) is not dict or not data.keys() <= FIELDS:
        return None
    customer_id = data.get("customer_id")
    if (
        type(customer_id) is not str
        or not 0 < len(customer_id) <= 64
        # ASCII and printable: no NUL nor surrogate, which the serializer refuses;
        # no outer blanks, which it strips.
        or not (customer_id.isascii() and customer_id.isprintable())
        or customer_id.strip() != customer_id
    ):
        return None
    channel = data.get("channel")
    max_results = data.get("max_results", _DEFAULT_MAX_RESULTS)
    debug = data.get("debug", False)
    if (
        type(channel) is not str
        or channel not in _CHANNELS
        or type(max_results) is not int
        or not 1 <= max_results <= MAX_RESULTS
        or type(debug) is not bool
    ):
        return None
    out = {"customer_id": customer_id, "channel": channel, "max_results": max_results, "debug": debug}
    if "context" in data:
        if type(data["context"]) is not dict:
            return None
        out["context"] = data["context"]
    return out


_OFFER_FIELDS = dict(
    {
        "rank": serializers.IntegerField(),
        "offer_code": serializers.CharField(),
        "offer_name": serializers.CharField(),
        "product_code": serializers.CharField(),
        "issue": serializers.CharField(),
        "group": serializers.CharField(),
        "priority": serializers.FloatField(),
        "factors": serializers.DictField(),
        "reasons": serializers.ListField(child=serializers.CharField(), max_length=4),
        "treatment": serializers.DictField(allow_null=True),
        "value": serializers.CharField(),
        "currency": serializers.CharField(),
        "headline_value": serializers.CharField(),
        "transactional": serializers.BooleanField(),
    },
)
_OUTPUT = inline_serializer(
    "Decision",
    {
        "decision_id": serializers.UUIDField(),
        "customer_id": serializers.CharField(),
        "channel": serializers.CharField(),
        "made_at": serializers.DateTimeField(),
        "rule_set_version": serializers.IntegerField(allow_null=True),
        "model_versions": serializers.DictField(child=serializers.IntegerField()),
        "rules_only": serializers.BooleanField(),
        "note": serializers.CharField(),
        "offers": inline_serializer("DecisionOffer", _OFFER_FIELDS, many=True),
        "bundle": serializers.DictField(allow_null=True),
        "upsell": serializers.DictField(allow_null=True),
        "funnel": serializers.DictField(required=False),
    },
)


class DecisionApi(APIView):
    """Decide which offers to make to a customer on a channel, in what order and why.

    The decision is stored (with its inputs, for replay) before the answer is sent:
    a 2xx always has its record, and a storage failure is a 503 with no offer. A
    real-time decision counts its offers as made (contact history), so contact caps
    hold. ``Idempotency-Key`` makes a retry return the same decision."""

    permission_classes = [scope_or_capability("decisions", "view_customers")]

    @extend_schema(
        operation_id="decision_make",
        request=DecisionInputSerializer,
        responses={
            201: _OUTPUT,
            400: OpenApiResponse(description="Invalid request (problem+json naming each field)"),
            404: OpenApiResponse(description="Unknown customer"),
            503: OpenApiResponse(description="The decision could not be stored; no offer is made"),
        },
    )
    @idempotent("decisions")
    def post(self, request: Request) -> Response:
        data = decision_input_plain(request.data)
        if data is None:
            serializer = DecisionInputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data
        try:
            outcome = decision_make(
                customer_id=data["customer_id"],
                channel=data["channel"],
                context=data.get("context") or {},
                max_results=data["max_results"],
                kind=DecisionKind.REALTIME,
                requested_by=idempotency_owner(request.user),
                now=timezone.now(),
                debug=data["debug"],
            )
        except (UnknownCustomer, UnknownCustomerError):
            raise ProblemError(
                status_code=404,
                title="Unknown customer",
                detail=f"No customer has the id {data['customer_id']!r}.",
                type_="unknown-customer",
                errors=[{"pointer": "#/customer_id", "detail": "unknown customer"}],
            ) from None
        except DecisionInputError as exc:
            raise ProblemError(
                status_code=400,
                title="Invalid decision request",
                detail=str(exc),
                type_="invalid-decision-request",
                errors=[{"pointer": p, "detail": m} for p, m in exc.errors],
            ) from None
        except DatabaseError:
            return problem_response(
                status_code=503,
                title="Decision not stored",
                detail="The decision could not be stored, so no offer is made. Retry with the same Idempotency-Key.",
                type_="decision-not-stored",
            )
        return Response(decision_response(outcome, debug=data["debug"]), status=201)
