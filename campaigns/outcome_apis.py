"""``POST /api/v1/decisions/{decision_id}/responses``: a channel reports what the
customer did with an offer."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.models import ResponseKind
from campaigns.outcomes import ResponseRefused, UnknownDecision, response_record
from config.api import ProblemError
from core.idempotency import idempotency_owner
from core.models import User
from core.permissions import scope_or_capability
from decisioning.models import TreatmentChannel

FIELDS = {"offer_code", "kind", "occurred_at", "amount"}


class ResponseInputSerializer(serializers.Serializer):
    offer_code = serializers.SlugField(max_length=40, help_text="The offer of the decision the customer responded to.")
    kind = serializers.ChoiceField(choices=ResponseKind.choices)
    occurred_at = serializers.DateTimeField(help_text="When the customer responded (ISO 8601 with a time zone).")
    amount = serializers.DecimalField(
        max_digits=18,
        decimal_places=2,
        required=False,
        allow_null=True,
        min_value=0,
        help_text="Accept only: the deal's value to the bank, used as the conversion's revenue.",
    )

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["The body is a JSON object."]})
        unknown = sorted(set(data) - FIELDS)
        if unknown:
            raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        if isinstance(data.get("amount"), bool):
            raise serializers.ValidationError({"amount": ["A number."]})
        occurred = data.get("occurred_at")
        parsed = parse_datetime(occurred) if isinstance(occurred, str) else None
        if parsed is not None and timezone.is_naive(parsed):
            # A time without a zone would be read in the server's zone: refuse to guess.
            raise serializers.ValidationError({"occurred_at": ["Give a time zone (for example Z or +01:00)."]})
        return super().to_internal_value(data)


class ResponseOutputSerializer(serializers.Serializer):
    decision_id = serializers.UUIDField()
    offer_code = serializers.CharField()
    kind = serializers.ChoiceField(choices=ResponseKind.choices)
    occurred_at = serializers.DateTimeField()
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True)
    channel = serializers.ChoiceField(choices=TreatmentChannel.choices, help_text="The channel the offer went out on.")
    campaign = serializers.CharField(source="campaign.code", allow_null=True, help_text="The campaign's code, if any.")
    received_at = serializers.DateTimeField()


class DecisionResponseCreateApi(APIView):
    """Record an impression, click, accept, reject or dismiss of one offer a decision made.

    Idempotent by nature: the same (decision, offer, kind) reported again returns the
    response stored first, with 200 instead of 201. The response also updates the
    offer's contact history (so models learn from it), and an accept with an amount
    is a conversion with that revenue."""

    permission_classes = [scope_or_capability("outcomes", "record_outcomes")]

    @extend_schema(
        operation_id="decision_response_create",
        parameters=[
            OpenApiParameter(
                "decision_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The decision's id, as returned."
            )
        ],
        request=ResponseInputSerializer,
        responses={
            201: ResponseOutputSerializer,
            200: OpenApiResponse(ResponseOutputSerializer, description="Reported before: the stored response"),
            400: OpenApiResponse(description="Invalid request (problem+json naming each field)"),
            404: OpenApiResponse(description="Unknown decision"),
            422: OpenApiResponse(
                description="An offer the decision did not make, a time before the decision, or an amount on "
                "anything but an accept (problem+json naming the field)"
            ),
        },
    )
    def post(self, request: Request, decision_id: str) -> Response:
        serializer = ResponseInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = request.user
        try:
            response, created = response_record(
                decision_id=decision_id,
                offer_code=data["offer_code"],
                kind=data["kind"],
                occurred_at=data["occurred_at"],
                amount=data.get("amount"),
                source=idempotency_owner(user),
                now=timezone.now(),
                actor=user if isinstance(user, User) else None,
            )
        except UnknownDecision:
            raise ProblemError(
                status_code=404,
                title="Unknown decision",
                detail=f"No decision has the id {decision_id!r}.",
                type_="unknown-decision",
            ) from None
        except ResponseRefused as exc:
            raise ProblemError(
                status_code=422,
                title="Response refused",
                detail=str(exc),
                type_="response-refused",
                errors=[{"pointer": p, "detail": m} for p, m in exc.errors],
            ) from None
        return Response(ResponseOutputSerializer(response).data, status=201 if created else 200)
