"""Staff APIs on one customer: read it, record a consent, erase contact details.

Contact details are personal data: only roles that need them (compliance,
administrators) see them, and changes go through audited services.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.idempotency import idempotent
from core.permissions import staff_capability, user_can
from customers import choices
from customers.models import Consent, ContactDetails, Customer
from customers.services import consent_record, contact_details_erase


def _customer(customer_id: str) -> Customer:
    return get_object_or_404(Customer, external_id=customer_id)


def consents_in_force(*, customer: Customer, now: Any) -> list[Consent]:
    """The latest change per (channel, purpose) up to ``now``: the consents in force."""
    latest: dict[tuple[str, str], Consent] = {}
    for consent in Consent.objects.filter(customer=customer, effective_at__lte=now).order_by("effective_at", "id"):
        latest[(consent.channel, consent.purpose)] = consent
    return [latest[k] for k in sorted(latest)]


class ConsentOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Consent
        fields = ["channel", "purpose", "status", "effective_at", "source"]


class ContactDetailsOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ContactDetails
        fields = ["first_name", "last_name", "email", "phone", "device_tokens", "language", "erased_at"]


class CustomerDetailApi(APIView):
    """A customer's facts and consents in force; contact details only for roles
    allowed to view them (the key is absent otherwise, and the row not even read)."""

    permission_classes = [staff_capability("view_customers")]

    @extend_schema_serializer(component_name="CustomerDetail")
    class OutputSerializer(serializers.ModelSerializer):
        customer_id = serializers.CharField(source="external_id")
        consents = ConsentOutputSerializer(
            many=True, source="consents_in_force", help_text="Latest change per channel and purpose."
        )
        contact = ContactDetailsOutputSerializer(
            required=False, allow_null=True, help_text="Only for roles allowed to view contact details."
        )

        class Meta:
            model = Customer
            fields = [
                "customer_id",
                "public_id",
                "birth_date",
                "gender",
                "marital_status",
                "region",
                "employment_type",
                "income",
                "income_currency",
                "customer_since",
                "kyc_status",
                "kyc_date",
                "sanctions_status",
                "risk_rating",
                "do_not_contact",
                "vulnerable",
                "consents",
                "contact",
            ]

        def get_fields(self) -> dict[str, serializers.Field]:
            fields = super().get_fields()
            if not self.context.get("show_contact"):
                fields.pop("contact")
            return fields

    @extend_schema(operation_id="customer_detail", responses={200: OutputSerializer, 404: OpenApiResponse()})
    def get(self, request: Request, customer_id: str) -> Response:
        show_contact = user_can(request.user, "view_contact_details")
        queryset = Customer.objects.select_related("contact") if show_contact else Customer.objects.all()
        customer = get_object_or_404(queryset, external_id=customer_id)
        customer.consents_in_force = consents_in_force(customer=customer, now=timezone.now())
        return Response(self.OutputSerializer(customer, context={"show_contact": show_contact}).data)


class ConsentRecordApi(APIView):
    """Record a consent change on a customer's behalf (compliance, administrators)."""

    permission_classes = [staff_capability("edit_consents")]

    @extend_schema_serializer(component_name="ConsentRecordInput")
    class InputSerializer(serializers.Serializer):
        channel = serializers.ChoiceField(choices=choices.ConsentChannel.choices)
        purpose = serializers.ChoiceField(choices=choices.ConsentPurpose.choices)
        status = serializers.ChoiceField(choices=choices.ConsentStatus.choices)
        effective_at = serializers.DateTimeField(required=False, help_text="Default: now.")
        source = serializers.CharField(max_length=64, required=False, help_text="Default: staff:<username>.")

    @extend_schema(
        operation_id="customer_consent_record",
        request=InputSerializer,
        responses={201: ConsentOutputSerializer, 400: OpenApiResponse(), 403: OpenApiResponse()},
    )
    @idempotent("customers.consent_record")
    def post(self, request: Request, customer_id: str) -> Response:
        customer = _customer(customer_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        now = timezone.now()
        data = serializer.validated_data
        try:
            consent = consent_record(
                customer=customer,
                channel=data["channel"],
                purpose=data["purpose"],
                status=data["status"],
                effective_at=data.get("effective_at") or now,
                source=data.get("source") or f"staff:{request.user.get_username()}",
                actor=request.user,
                now=now,
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return Response(ConsentOutputSerializer(consent).data, status=201)


class ContactDetailsEraseApi(APIView):
    """Erase a customer's contact details, keeping the facts (right to erasure)."""

    permission_classes = [staff_capability("edit_consents")]

    @extend_schema_serializer(component_name="ContactDetailsEraseInput")
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=500, required=False, allow_blank=True)

    @extend_schema_serializer(component_name="ContactDetailsErased")
    class OutputSerializer(serializers.Serializer):
        customer_id = serializers.CharField()
        erased_at = serializers.DateTimeField()

    @extend_schema(
        operation_id="customer_contact_details_erase",
        request=InputSerializer,
        responses={200: OutputSerializer, 403: OpenApiResponse(), 404: OpenApiResponse()},
    )
    def post(self, request: Request, customer_id: str) -> Response:
        customer = _customer(customer_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        contact = contact_details_erase(
            customer=customer,
            actor=request.user,
            now=timezone.now(),
            reason=serializer.validated_data.get("reason", ""),
        )
        return Response(
            self.OutputSerializer({"customer_id": customer.external_id, "erased_at": contact.erased_at}).data
        )
