"""Who may do what. Staff act through roles; channel systems through token scopes."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from core.models import ApiClient, Role, User

# What each staff role may do. Administrators may do everything.
CAPABILITIES: dict[str, frozenset[str]] = {
    Role.BUSINESS: frozenset(
        {
            "view_customers",
            "run_imports",
            "view_tasks",
            "send_events",
            "view_models",
            "manage_models",
            "manage_offers",
            "view_offers",
            "manage_campaigns",
            "view_campaigns",
            "record_outcomes",
        }
    ),
    Role.COMPLIANCE: frozenset(
        {
            "view_customers",
            "view_contact_details",
            "edit_consents",
            "view_audit",
            "view_tasks",
            "approve",
            "view_models",
            "view_offers",
            "view_campaigns",
        }
    ),
    Role.NONE: frozenset(),
}


def user_can(user: Any, capability: str) -> bool:
    """True when a person (not a channel system) holds ``capability``."""
    if not isinstance(user, User) or not user.is_active:
        return False
    if user.is_administrator:
        return True
    return capability in CAPABILITIES.get(user.role, frozenset())


def staff_capability(capability: str) -> type[BasePermission]:
    """A DRF permission that admits staff holding ``capability`` and no API client."""

    class _StaffCapability(BasePermission):
        message = f"This needs a staff role allowed to {capability.replace('_', ' ')}."

        def has_permission(self, request: Request, view: Any) -> bool:
            return user_can(request.user, capability)

    _StaffCapability.__name__ = f"Staff_{capability}"
    return _StaffCapability


def scope_or_capability(scope: str, capability: str) -> type[BasePermission]:
    """Admit an API client with ``scope`` or a person with ``capability``."""

    class _ScopeOrCapability(BasePermission):
        message = f"This needs a token with the '{scope}' scope or a staff role allowed to {capability}."

        def has_permission(self, request: Request, view: Any) -> bool:
            user = request.user
            if isinstance(user, ApiClient):
                return user.has_scope(scope)
            return user_can(user, capability)

    _ScopeOrCapability.__name__ = f"Scope_{scope}_or_{capability}"
    return _ScopeOrCapability
