"""The operations console for ``core``: users, channel credentials, audit trail,
task runs and idempotency keys.

Access follows the roles (``core.permissions``), not Django's per-model
permissions, so an administrator needs no extra grants. Rows that record what
happened (audit events, task runs, idempotency keys) are read-only; changes go
through services, so they are audited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property

from core.models import ApiClient, AuditEvent, IdempotencyKey, Role, Scope, TaskRun, User
from core.permissions import user_can
from core.services import api_client_create, api_client_revoke, audit_record

if TYPE_CHECKING:
    ModelAdmin = admin.ModelAdmin
else:

    class ModelAdmin(admin.ModelAdmin):
        """``ModelAdmin[T]`` at run time too, as django-stubs types it."""

        def __class_getitem__(cls, item: Any) -> type:
            return cls


# Above this many rows, the admin shows PostgreSQL's estimate instead of counting.
ESTIMATE_ABOVE = 100_000


class EstimatedCountPaginator(Paginator):
    """A paginator that does not count a big table row by row.

    An unfiltered list of a PostgreSQL table takes the planner's estimate
    (``pg_class.reltuples``) once it exceeds ``ESTIMATE_ABOVE``; filtered lists
    and SQLite count as usual.
    """

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if isinstance(queryset, QuerySet) and connection.vendor == "postgresql" and not queryset.query.where:
            with connection.cursor() as cursor:
                cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [queryset.model._meta.db_table])
                row = cursor.fetchone()
            if row and row[0] and int(row[0]) > ESTIMATE_ABOVE:
                return int(row[0])
        return super().count


class RoleAdmin(ModelAdmin[Any]):
    """Read-only by default; visible to staff holding ``view_capability``."""

    view_capability = "admin"

    def has_module_permission(self, request: HttpRequest) -> bool:
        return user_can(request.user, self.view_capability)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_can(request.user, self.view_capability)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Staff accounts. A role change goes through ``user_set_role`` and is audited."""

    list_display = ["username", "email", "role", "is_active", "is_staff", "last_login"]
    list_filter = ["role", "is_active", "is_staff", "is_superuser"]
    fieldsets = (*DjangoUserAdmin.fieldsets, ("Crossell", {"fields": ["role"]}))
    add_fieldsets = (*DjangoUserAdmin.add_fieldsets, ("Crossell", {"fields": ["role"]}))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return user_can(request.user, "manage_users")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_can(request.user, "manage_users")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return user_can(request.user, "manage_users")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_can(request.user, "manage_users")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Audit events point at their actor: deactivate people instead of deleting them.
        return False

    def save_model(self, request: HttpRequest, obj: User, form: forms.ModelForm, change: bool) -> None:
        # The admin wraps this in one transaction, so the change and its audit go together.
        changed = [name for name in form.changed_data if name in form.initial or not change]
        if "role" in changed:
            # Only administrators reach the admin site, as in user_set_role.
            obj.is_staff = obj.role == Role.ADMIN or obj.is_superuser
        super().save_model(request, obj, form, change)
        if not change:
            audit_record(
                actor=request.user,  # type: ignore[arg-type]
                action="user.create",
                object_type="user",
                object_id=obj.pk,
                after={"role": obj.role},
            )
            return
        if not changed:
            return
        audit_record(
            actor=request.user,  # type: ignore[arg-type]
            action="user.change",
            object_type="user",
            object_id=obj.pk,
            before={name: _audit_value(name, form.initial.get(name)) for name in changed},
            after={name: _audit_value(name, form.cleaned_data.get(name)) for name in changed},
        )

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> Any:
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and getattr(response, "status_code", 200) == 302:
            audit_record(
                actor=request.user,  # type: ignore[arg-type]
                action="user.change_password",
                object_type="user",
                object_id=id,
                after={"password": "changed"},
            )
        return response


def _audit_value(name: str, value: Any) -> Any:
    """Audit-safe form value: passwords only as 'changed', relations by their ids."""
    if "password" in name:
        return "changed"
    if hasattr(value, "all"):
        return sorted(str(v.pk) for v in value.all())
    if isinstance(value, (list, tuple, set)):
        return sorted(str(getattr(v, "pk", v)) for v in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


class ApiClientCreateForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiClient
        fields = ["name"]


@admin.register(ApiClient)
class ApiClientAdmin(ModelAdmin[ApiClient]):
    """Channel credentials. Created through ``api_client_create``: the token is shown
    once, right after creation, and only its hash is kept."""

    list_display = ["name", "scopes", "token_prefix", "is_active", "last_used_at", "created_by", "created_at"]
    list_filter = ["is_active"]
    list_select_related = ["created_by"]
    search_fields = ["name", "token_prefix"]
    readonly_fields = [
        "public_id",
        "name",
        "scopes",
        "token_prefix",
        "is_active",
        "created_by",
        "last_used_at",
        "created_at",
        "updated_at",
    ]
    exclude = ["token_hash"]
    actions = ["revoke"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return user_can(request.user, "manage_api_clients")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_can(request.user, "manage_api_clients")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return user_can(request.user, "manage_api_clients")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Only the revoke action changes a client; the change page is a read-only view.
        return user_can(request.user, "manage_api_clients") and obj is None

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiClientCreateForm
            kwargs["fields"] = ["name", "scopes"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj is not None else []

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.exclude if obj is not None else None

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["name", "scopes"] if obj is None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: ApiClient, form: forms.ModelForm, change: bool) -> None:
        if change:
            return
        client, token = api_client_create(
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            actor=request.user,  # type: ignore[arg-type]
        )
        # The admin goes on with ``obj``: make it the row the service created.
        obj.__dict__.update({k: v for k, v in client.__dict__.items() if k != "_state"})
        obj._state.adding = False
        messages.warning(
            request,
            f"Token for {client.name}: {token} - copy it now. Only its hash is stored; it will not be shown again.",
        )

    @admin.action(description="Revoke the selected clients' tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiClient]) -> None:
        revoked = 0
        for client in queryset.filter(is_active=True):
            api_client_revoke(client=client, actor=request.user)  # type: ignore[arg-type]
            revoked += 1
        messages.success(request, f"Revoked {revoked} client(s).")


@admin.register(AuditEvent)
class AuditEventAdmin(RoleAdmin):
    """Who changed what, when, before and after. Never edited, never deleted."""

    view_capability = "view_audit"
    list_display = ["at", "actor_label", "action", "object_type", "object_id"]
    list_filter = ["action", "object_type"]
    list_select_related = ["actor"]
    search_fields = ["object_id", "actor_label"]
    date_hierarchy = "at"
    paginator = EstimatedCountPaginator
    show_full_result_count = False


@admin.register(TaskRun)
class TaskRunAdmin(RoleAdmin):
    view_capability = "view_tasks"
    list_display = ["created_at", "name", "label", "state", "done", "total", "attempts", "requested_by"]
    list_filter = ["state", "name"]
    list_select_related = ["requested_by"]
    search_fields = ["task_id", "label"]
    date_hierarchy = "created_at"
    paginator = EstimatedCountPaginator
    show_full_result_count = False


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(RoleAdmin):
    view_capability = "manage_api_clients"
    list_display = ["created_at", "owner", "endpoint", "key", "response_status", "completed_at"]
    list_filter = ["endpoint", "response_status"]
    search_fields = ["key", "owner"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
