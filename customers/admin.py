"""The operations console for the bank's data: read-only, since the data comes
from imports and the event API, and people change it through audited services.

Contact details are shown only to roles allowed to view them; erasing them is
an action that calls ``contact_details_erase`` (audited).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from core.admin import EstimatedCountPaginator, ModelAdmin, RoleAdmin
from core.permissions import user_can
from customers.models import (
    Account,
    AccountHolder,
    Consent,
    ContactDetails,
    ContactHistory,
    CreditScore,
    Customer,
    CustomerAttributeChange,
    FxRate,
    InboundEvent,
    Interaction,
    MarketIndicator,
    MonthlyBalance,
    Product,
    Transaction,
)
from customers.services import contact_details_erase


class BankDataAdmin(RoleAdmin):
    view_capability = "view_customers"


class BigTableAdmin(BankDataAdmin):
    """Fact tables of millions of rows: no full count, no per-row queries."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50


class AccountHolderInline(admin.TabularInline):
    model = AccountHolder
    extra = 0
    can_delete = False
    readonly_fields = ["customer", "role"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_can(request.user, "view_customers")


@admin.register(Customer)
class CustomerAdmin(BankDataAdmin):
    list_display = [
        "external_id",
        "kyc_status",
        "sanctions_status",
        "risk_rating",
        "region",
        "customer_since",
        "do_not_contact",
        "vulnerable",
    ]
    list_filter = ["kyc_status", "sanctions_status", "risk_rating", "do_not_contact", "vulnerable", "employment_type"]
    search_fields = ["=external_id", "=public_id"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False


@admin.register(CustomerAttributeChange)
class CustomerAttributeChangeAdmin(BigTableAdmin):
    list_display = ["customer", "attribute", "value", "effective_from", "received_at"]
    list_filter = ["attribute"]
    list_select_related = ["customer"]
    search_fields = ["=customer__external_id"]


@admin.register(ContactDetails)
class ContactDetailsAdmin(ModelAdmin[ContactDetails]):
    """Personal data: only for roles allowed to view contact details."""

    list_display = ["customer", "first_name", "last_name", "email", "language", "erased_at"]
    list_filter = [("erased_at", admin.EmptyFieldListFilter), "language"]
    list_select_related = ["customer"]
    search_fields = ["=customer__external_id", "=email"]
    readonly_fields = [
        "customer",
        "first_name",
        "last_name",
        "email",
        "phone",
        "device_tokens",
        "language",
        "erased_at",
        "received_at",
        "created_at",
        "updated_at",
    ]
    actions = ["erase"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def has_module_permission(self, request: HttpRequest) -> bool:
        return user_can(request.user, "view_contact_details")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_can(request.user, "view_contact_details")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return user_can(request.user, "edit_consents")

    @admin.action(description="Erase the selected contact details (keeps the facts)", permissions=["erase"])
    def erase(self, request: HttpRequest, queryset: QuerySet[ContactDetails]) -> None:
        now = timezone.now()
        for contact in queryset.select_related("customer"):
            contact_details_erase(
                customer=contact.customer,
                actor=request.user,
                now=now,  # type: ignore[arg-type]
                reason="admin action",
            )
        messages.success(request, f"Erased the contact details of {queryset.count()} customer(s).")


@admin.register(Product)
class ProductAdmin(BankDataAdmin):
    list_display = ["code", "name", "family", "tier", "value", "currency", "is_credit", "retired_on"]
    list_filter = ["family", "is_credit", ("retired_on", admin.EmptyFieldListFilter)]
    search_fields = ["code", "name"]


@admin.register(Account)
class AccountAdmin(BankDataAdmin):
    list_display = ["external_id", "customer", "product", "status", "currency", "opened_on", "closed_on"]
    list_filter = ["status", "product__family", "currency"]
    list_select_related = ["customer", "product"]
    search_fields = ["=external_id", "=customer__external_id"]
    inlines = [AccountHolderInline]
    paginator = EstimatedCountPaginator
    show_full_result_count = False


@admin.register(MonthlyBalance)
class MonthlyBalanceAdmin(BigTableAdmin):
    list_display = ["account", "month", "average_balance", "end_balance", "currency", "days_overdrawn"]
    list_select_related = ["account"]
    search_fields = ["=account__external_id"]


@admin.register(Transaction)
class TransactionAdmin(BigTableAdmin):
    list_display = ["external_id", "booked_at", "account", "amount", "currency", "category", "channel"]
    list_filter = ["category", "channel"]
    list_select_related = ["account"]
    search_fields = ["=external_id", "=account__external_id"]


@admin.register(Interaction)
class InteractionAdmin(BigTableAdmin):
    list_display = ["external_id", "occurred_at", "customer", "channel", "event_type", "product", "satisfaction"]
    list_filter = ["channel", "event_type"]
    list_select_related = ["customer", "product"]
    search_fields = ["=external_id", "=customer__external_id"]


@admin.register(CreditScore)
class CreditScoreAdmin(BigTableAdmin):
    list_display = ["customer", "scored_on", "score", "source"]
    list_filter = ["source"]
    list_select_related = ["customer"]
    search_fields = ["=customer__external_id"]


@admin.register(MarketIndicator)
class MarketIndicatorAdmin(BankDataAdmin):
    list_display = ["name", "date", "value"]
    list_filter = ["name"]


@admin.register(FxRate)
class FxRateAdmin(BankDataAdmin):
    list_display = ["currency", "date", "rate"]
    list_filter = ["currency"]


@admin.register(Consent)
class ConsentAdmin(BigTableAdmin):
    list_display = ["customer", "channel", "purpose", "status", "effective_at", "source"]
    list_filter = ["channel", "purpose", "status"]
    list_select_related = ["customer"]
    search_fields = ["=customer__external_id"]


@admin.register(ContactHistory)
class ContactHistoryAdmin(BigTableAdmin):
    list_display = ["external_id", "offered_at", "customer", "product", "campaign_code", "channel", "outcome"]
    list_filter = ["channel", "outcome", "source"]
    list_select_related = ["customer", "product"]
    search_fields = ["=external_id", "=customer__external_id", "campaign_code"]


@admin.register(InboundEvent)
class InboundEventAdmin(BigTableAdmin):
    list_display = ["received_at", "source", "event_id", "event_type", "customer", "occurred_at"]
    list_filter = ["event_type", "source"]
    list_select_related = ["customer"]
    search_fields = ["=event_id", "=customer__external_id"]
