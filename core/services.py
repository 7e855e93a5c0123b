"""Writes owned by ``core``: audit events, API clients, users."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.authentication import token_hash
from core.models import ApiClient, AuditEvent, Role, Scope, User


def audit_record(
    *,
    actor: User | None,
    action: str,
    object_type: str,
    object_id: str | int,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str = "",
    now: datetime | None = None,
) -> AuditEvent:
    """Record a change made by a person. Call it inside the change's transaction,
    so the change and its audit event are stored together or not at all."""
    label = actor.get_username() if actor is not None else "system"
    return AuditEvent.objects.create(
        at=now or timezone.now(),
        actor=actor,
        actor_label=label,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=before,
        after=after,
        note=note,
    )


@transaction.atomic
def user_create(
    *, username: str, password: str, role: str, actor: User | None, email: str = "", is_superuser: bool = False
) -> User:
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(Role.values)}")
    user = User.objects.create_user(username=username, password=password, email=email, role=role)
    if is_superuser:
        user.is_superuser = True
        user.is_staff = True
        user.save(update_fields=["is_superuser", "is_staff"])
    elif role == Role.ADMIN:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    audit_record(actor=actor, action="user.create", object_type="user", object_id=user.pk, after={"role": role})
    return user


@transaction.atomic
def user_set_role(*, user: User, role: str, actor: User | None) -> User:
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}")
    before = {"role": user.role}
    user.role = role
    user.is_staff = role == Role.ADMIN or user.is_superuser
    user.save(update_fields=["role", "is_staff"])
    audit_record(
        actor=actor, action="user.set_role", object_type="user", object_id=user.pk, before=before, after={"role": role}
    )
    return user


@transaction.atomic
def api_client_create(*, name: str, scopes: list[str], actor: User | None) -> tuple[ApiClient, str]:
    """Create a channel system's credentials. Returns the client and its token,
    which is not stored and cannot be shown again."""
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; expected {', '.join(Scope.values)}")
    token = "cx_" + secrets.token_urlsafe(32)
    client = ApiClient.objects.create(
        name=name, scopes=sorted(set(scopes)), token_prefix=token[:10], token_hash=token_hash(token), created_by=actor
    )
    audit_record(
        actor=actor,
        action="api_client.create",
        object_type="api_client",
        object_id=client.pk,
        after={"name": name, "scopes": client.scopes},
    )
    return client, token


@transaction.atomic
def api_client_revoke(*, client: ApiClient, actor: User | None) -> ApiClient:
    client.is_active = False
    client.save(update_fields=["is_active", "updated_at"])
    audit_record(
        actor=actor,
        action="api_client.revoke",
        object_type="api_client",
        object_id=client.pk,
        before={"is_active": True},
        after={"is_active": False},
    )
    return client
