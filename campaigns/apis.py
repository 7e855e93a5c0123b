"""``GET /api/v1/web-content``: the personalised content of a page slot on the bank's website."""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.channels.base import ChannelRejected
from campaigns.channels.web import web_content_get
from config.api import ProblemError, problem_response
from core.idempotency import idempotency_owner
from core.models import ApiClient, Scope
from core.permissions import user_can
from decisioning.decisions import DecisionInputError, UnknownCustomer
from modeling.scoring import UnknownCustomerError

# Page slots are names the website chooses: "home-hero", "/mortgages", "app:dashboard".
SLOT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_./:#-]{0,99}$"


class WebContentPermission(BasePermission):
    """The website's token (scope "content", or "decisions" for a channel system
    that already decides through the API) or a person allowed to look up customers."""

    message = "This needs a token with the 'content' or 'decisions' scope, or a staff role allowed to view customers."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if isinstance(user, ApiClient):
            return user.has_scope(Scope.CONTENT) or user.has_scope(Scope.DECISIONS)
        return user_can(user, "view_customers")


# Named like core.permissions' scope permissions ("Scope_..."), by which tests and
# tools tell a channel system's API from a staff-only one.
WebContentPermission.__name__ = "Scope_content_or_decisions_or_view_customers"


class WebContentQuerySerializer(serializers.Serializer):
    customer_id = serializers.CharField(max_length=64, help_text="The customer's bank id.")
    slot = serializers.RegexField(
        SLOT_PATTERN,
        max_length=100,
        help_text="The page slot: letters, digits and _ . / : # - (at most 100), e.g. home-hero.",
        error_messages={"invalid": "Letters, digits and _ . / : # - only, starting with a letter or digit."},
    )


_OUTPUT = inline_serializer(
    "WebContent",
    {
        "decision_id": serializers.UUIDField(),
        "offer_code": serializers.CharField(),
        "title": serializers.CharField(help_text="Plain text: escape it when you show it."),
        "html": serializers.CharField(help_text="An HTML fragment, values escaped, disclosures included."),
        "disclosures": serializers.CharField(help_text="The mandatory disclosures, as plain text."),
        "message_id": serializers.CharField(help_text="Quote it when you report clicks or dismissals."),
    },
)


class WebContentApi(APIView):
    """The offer to show a customer in a page slot, recorded as an impression.

    A campaign's web offer waiting for the customer comes first; otherwise a
    real-time decision on the web channel for that page picks one. 204: nothing
    to show (show the slot's default content)."""

    permission_classes = [WebContentPermission]

    @extend_schema(
        operation_id="web_content_get",
        parameters=[
            OpenApiParameter("customer_id", str, OpenApiParameter.QUERY, required=True, description="Bank id."),
            OpenApiParameter("slot", str, OpenApiParameter.QUERY, required=True, description="Page slot."),
        ],
        responses={
            200: _OUTPUT,
            204: OpenApiResponse(description="No offer for this customer in this slot now"),
            400: OpenApiResponse(description="Invalid query (problem+json naming each parameter)"),
            404: OpenApiResponse(description="Unknown customer"),
            503: OpenApiResponse(description="The decision or impression could not be stored"),
        },
    )
    def get(self, request: Request) -> Response:
        query = WebContentQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        try:
            content = web_content_get(
                customer_id=data["customer_id"],
                slot=data["slot"],
                source=idempotency_owner(request.user),
                now=timezone.now(),
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
                title="Invalid web content request",
                detail=str(exc),
                type_="invalid-web-content-request",
                errors=[{"pointer": p.replace("#/context/page", "#/slot"), "detail": m} for p, m in exc.errors],
            ) from None
        except ChannelRejected as exc:
            # The offer chosen has no web treatment: a catalogue gap, nothing the caller can fix.
            return problem_response(status_code=503, title="No content", detail=str(exc), type_="no-web-treatment")
        except DatabaseError:
            return problem_response(
                status_code=503,
                title="Content not stored",
                detail="The decision or its impression could not be stored; try again.",
                type_="web-content-not-stored",
            )
        if content is None:
            response = Response(status=204)
        else:
            response = Response(
                {
                    "decision_id": content.decision_id,
                    "offer_code": content.offer_code,
                    "title": content.title,
                    "html": content.html,
                    "disclosures": content.disclosures,
                    "message_id": content.message_id,
                }
            )
        # Personal: no shared cache may keep it.
        response["Cache-Control"] = "no-store, private"
        return response
