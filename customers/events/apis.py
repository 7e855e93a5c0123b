"""``POST /api/v1/events``: a batch of real-time events from a channel system or staff."""

from __future__ import annotations

import zoneinfo
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ProblemError
from core.idempotency import idempotent
from core.models import ApiClient, User
from core.permissions import scope_or_capability, user_can
from customers import choices
from customers.events.services import ACCEPTED, DUPLICATE, EventIn, EventsRejected, events_ingest
from customers.importing.formats import FORMATS_BY_NAME, Column, ColumnType
from customers.models import InboundEvent

MONEY_DIGITS = {"max_digits": 18, "decimal_places": 2}


class BankDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time; like the import files, one without an offset is the
    bank's local time (read from settings on each request, not at import)."""

    def default_timezone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(settings.BANK_TIME_ZONE)


class StrictCharField(serializers.CharField):
    """A string that must be sent as a JSON string: an id sent as a number is
    more likely a mapping bug in the sender than a value to coerce."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def column_field(entity: str, name: str, *, required: bool | None = None, **extra: Any) -> serializers.Field:
    """A serializer field with the type, allowed values and limits the import
    format gives the column, so a value accepted by one door is accepted by both."""
    column: Column = FORMATS_BY_NAME[entity].column(name)
    required = column.required if required is None else required
    common: dict[str, Any] = {"required": required, "help_text": column.description or None, **extra}
    if not required:
        common.setdefault("allow_null", True)
    match column.type:
        case ColumnType.ENUM:
            return serializers.ChoiceField(choices=list(column.allowed), **common)
        case ColumnType.STRING:
            if not required:
                common.setdefault("allow_blank", True)
            return StrictCharField(max_length=column.max_length, **common)
        case ColumnType.INTEGER:
            return serializers.IntegerField(min_value=column.minimum, max_value=column.maximum, **common)
        case ColumnType.DECIMAL:
            return serializers.DecimalField(min_value=column.minimum, coerce_to_string=True, **MONEY_DIGITS, **common)
        case ColumnType.DATE:
            return serializers.DateField(**common)
        case ColumnType.DATETIME:
            return BankDateTimeField(**common)
        case ColumnType.CURRENCY:
            return serializers.RegexField(
                r"^[A-Z]{3}$", error_messages={"invalid": "Enter an ISO 4217 code such as EUR."}, **common
            )
    raise ValueError(f"{entity}.{name}: column type {column.type} has no event field")


class TransactionDataSerializer(serializers.Serializer):
    transaction_id = column_field("transactions", "transaction_id")
    account_id = column_field("transactions", "account_id")
    amount = column_field(
        "transactions", "amount", help_text="Signed (money out is negative); a decimal string, or a JSON number."
    )
    currency = column_field("transactions", "currency")
    category = column_field("transactions", "category")
    mcc = column_field("transactions", "mcc")
    channel = column_field("transactions", "channel")
    booked_at = column_field("transactions", "booked_at", required=False, help_text="Default: occurred_at.")


class InteractionDataSerializer(serializers.Serializer):
    interaction_id = column_field(
        "interactions", "interaction_id", required=False, help_text="Default: the event id (64 characters at most)."
    )
    channel = column_field("interactions", "channel")
    event_type = column_field("interactions", "event_type")
    product_code = column_field("interactions", "product_code")
    satisfaction = column_field("interactions", "satisfaction")


class CreditScoreDataSerializer(serializers.Serializer):
    score = column_field("credit_scores", "score")
    source = column_field("credit_scores", "source")
    scored_on = column_field(
        "credit_scores", "scored_on", required=False, help_text="Default: occurred_at's date in the bank's time zone."
    )


class ConsentDataSerializer(serializers.Serializer):
    channel = column_field("consents", "channel")
    purpose = column_field("consents", "purpose")
    status = column_field("consents", "status")
    source = column_field("consents", "source", help_text="Where it was given. Default: the sender's name.")


class KycStatusDataSerializer(serializers.Serializer):
    kyc_status = column_field("customers", "kyc_status")
    kyc_date = column_field("customers", "kyc_date")
    sanctions_status = column_field("customers", "sanctions_status", required=False)


DATA_SERIALIZERS: dict[str, type[serializers.Serializer]] = {
    choices.EventType.TRANSACTION: TransactionDataSerializer,
    choices.EventType.INTERACTION: InteractionDataSerializer,
    choices.EventType.CREDIT_SCORE: CreditScoreDataSerializer,
    choices.EventType.CONSENT: ConsentDataSerializer,
    choices.EventType.KYC_STATUS: KycStatusDataSerializer,
}

EVENT_ID_MAX = InboundEvent._meta.get_field("event_id").max_length
INTERACTION_ID_MAX = FORMATS_BY_NAME["interactions"].column("interaction_id").max_length


@extend_schema_field(
    PolymorphicProxySerializer(
        component_name="EventData",
        serializers=list(DATA_SERIALIZERS.values()),
        resource_type_field_name=None,
    )
)
class EventDataField(serializers.DictField):
    """The type-specific part of an event; checked against ``type`` by the event."""


class EventSerializer(serializers.Serializer):
    event_id = StrictCharField(max_length=EVENT_ID_MAX, help_text="The sender's id; a retry reuses it.")
    type = serializers.ChoiceField(choices=choices.EventType.choices)
    occurred_at = BankDateTimeField(help_text="Without an offset, the bank's local time.")
    customer_id = column_field("customers", "customer_id")
    data = EventDataField()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        inner = DATA_SERIALIZERS[attrs["type"]](data=attrs["data"])
        if not inner.is_valid():
            raise serializers.ValidationError({"data": inner.errors})
        data = {k: v for k, v in inner.validated_data.items() if v is not None}
        if attrs["type"] == choices.EventType.INTERACTION and "interaction_id" not in data:
            if len(attrs["event_id"]) > INTERACTION_ID_MAX:
                raise serializers.ValidationError(
                    {"data": {"interaction_id": [f"required when event_id is longer than {INTERACTION_ID_MAX}."]}}
                )
        attrs["data"] = data
        if attrs["occurred_at"] > timezone.now() + FUTURE_SKEW:
            raise serializers.ValidationError(
                {"occurred_at": [f"is in the future (more than {FUTURE_SKEW.seconds // 60} minutes ahead of now)."]}
            )
        return attrs


class EventOutcomeSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    event_id = serializers.CharField()
    status = serializers.ChoiceField(choices=[ACCEPTED, DUPLICATE])


# Clocks drift; an event further ahead than this is a sender's bug, not news.
FUTURE_SKEW = timedelta(minutes=5)
# Event types that change what a customer allows or may receive: a person needs
# edit_consents for both; a channel token needs the kyc scope for KYC changes.
PERSON_CAPABILITY_BY_TYPE = {choices.EventType.CONSENT: "edit_consents", choices.EventType.KYC_STATUS: "edit_consents"}
TOKEN_SCOPE_BY_TYPE = {choices.EventType.KYC_STATUS: "kyc"}


def _check_event_types_allowed(user: Any, items: list[dict[str, Any]]) -> None:
    errors = []
    for index, item in enumerate(items):
        kind = item["type"]
        if isinstance(user, ApiClient):
            scope = TOKEN_SCOPE_BY_TYPE.get(kind)
            if scope and not user.has_scope(scope):
                errors.append(
                    {"pointer": f"#/events/{index}/type", "detail": f"{kind} events need the '{scope}' scope"}
                )
        else:
            capability = PERSON_CAPABILITY_BY_TYPE.get(kind)
            if capability and not user_can(user, capability):
                errors.append({"pointer": f"#/events/{index}/type", "detail": f"your role may not send {kind} events"})
    if errors:
        raise ProblemError(
            status_code=403,
            title="Forbidden",
            detail=f"{len(errors)} event(s) of a type this caller may not send; nothing was stored",
            type_="forbidden",
            errors=errors,
        )


class EventBatchCreateApi(APIView):
    """Receive a batch of events: all stored in one transaction, or none."""

    permission_classes = [scope_or_capability("events", "send_events")]

    @extend_schema_serializer(component_name="EventBatch")
    class InputSerializer(serializers.Serializer):
        events = EventSerializer(many=True, allow_empty=False)

    @extend_schema_serializer(component_name="EventBatchAccepted")
    class OutputSerializer(serializers.Serializer):
        accepted = serializers.IntegerField(help_text="Events stored by this request.")
        duplicates = serializers.IntegerField(help_text="Events already received from this sender; skipped.")
        events = EventOutcomeSerializer(many=True, help_text="One entry per item, in order.")

    @extend_schema(
        operation_id="events_create",
        summary="Send a batch of events",
        description=(
            "Stores every event of the batch in one transaction, or none. Items are "
            "`{event_id, type, occurred_at, customer_id, data}`; `data` depends on `type`. "
            "An event id already received from this sender is reported as `duplicate` and not applied again. "
            f"A batch holds at most `EVENT_BATCH_MAX_ITEMS` events (default {settings.EVENT_BATCH_MAX_ITEMS})."
        ),
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                location=OpenApiParameter.HEADER,
                required=False,
                description="Repeat the request safely: a retry with the same key and body returns the first "
                "response; another body gets 422; a retry while the first is running gets 409.",
            )
        ],
        request=InputSerializer,
        responses={
            202: OutputSerializer,
            400: OpenApiResponse(description="Validation failed; `errors` names each item and field by JSON pointer."),
            401: OpenApiResponse(description="No or unknown credentials."),
            403: OpenApiResponse(description="Token without the `events` scope, or a staff role without it."),
            409: OpenApiResponse(description="A request with this Idempotency-Key is still running."),
            413: OpenApiResponse(description="More events than EVENT_BATCH_MAX_ITEMS."),
            422: OpenApiResponse(description="Idempotency-Key reused with a different body."),
        },
    )
    @idempotent("events.create")
    def post(self, request: Request) -> Response:
        body = request.data
        items = body.get("events") if isinstance(body, dict) else None
        limit = settings.EVENT_BATCH_MAX_ITEMS
        if isinstance(items, list) and len(items) > limit:
            raise ProblemError(
                status_code=413,
                title="Batch too large",
                detail=f"{len(items)} events sent; a batch holds at most {limit}.",
                type_="batch-too-large",
                errors=[{"pointer": "#/events", "detail": f"at most {limit} events per batch"}],
            )
        serializer = self.InputSerializer(data=body)
        serializer.is_valid(raise_exception=True)
        _check_event_types_allowed(request.user, serializer.validated_data["events"])
        events = [
            EventIn(
                event_id=item["event_id"],
                type=item["type"],
                occurred_at=item["occurred_at"],
                customer_id=item["customer_id"],
                data=item["data"],
            )
            for item in serializer.validated_data["events"]
        ]
        try:
            actor = request.user if isinstance(request.user, User) else None
            result = events_ingest(events=events, source=_source_of(request.user), now=timezone.now(), actor=actor)
        except EventsRejected as exc:
            raise ProblemError(
                status_code=400,
                title="Validation failed",
                detail=f"{len(exc.errors)} reference(s) not found; nothing was stored",
                type_="validation",
                errors=exc.errors,
            ) from exc
        out = {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "events": [{"index": o.index, "event_id": o.event_id, "status": o.status} for o in result.outcomes],
        }
        return Response(self.OutputSerializer(out).data, status=202)


def _source_of(user: Any) -> str:
    """Who sent the events: the channel system's name, or the staff member."""
    if isinstance(user, ApiClient):
        return user.name
    return f"user:{user.get_username()}"[: InboundEvent._meta.get_field("source").max_length]
