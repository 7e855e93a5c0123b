"""Template context shared by every page: the navigation for the user's role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from core.permissions import user_can


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    active: bool
    description: str = ""
    external: bool = False  # leaves the UI shell (the admin console)


@dataclass(frozen=True)
class _Page:
    label: str
    url_name: str
    capability: str
    active_for: tuple[str, ...]  # URL names that mark the item active
    description: str


NAV: tuple[_Page, ...] = (
    _Page(
        "Customers",
        "frontend:customer-search",
        "view_customers",
        ("customer-search", "customer-360"),
        "Find a customer and open their 360° view: holdings, balances, spending, consents.",
    ),
    _Page(
        "Imports",
        "frontend:import",
        "run_imports",
        ("import",),
        "Upload the bank's files and load them, or check them with a dry run.",
    ),
    _Page(
        "Tasks",
        "frontend:task-run-list",
        "view_tasks",
        ("task-run-list", "task-run-detail"),
        "Follow imports and other background work as it runs.",
    ),
    _Page(
        "Models",
        "frontend:model-list",
        "view_models",
        ("model-list", "model-detail"),
        "Propensity models per product: their quality against baselines, approval and activation.",
    ),
    _Page(
        "Segments",
        "frontend:segment-list",
        "view_models",
        ("segment-list", "segmentation-detail", "segmentation-version"),
        "Customer segments by behaviour, value, life stage and value tier: who is in each, and what they are worth.",
    ),
    _Page("Audit trail", "frontend:audit-list", "view_audit", ("audit-list",), "Who changed what, and when."),
)


def nav_items(user: Any, current: str | None) -> list[NavItem]:
    """The pages this user's role may open, in menu order."""
    items = [
        NavItem(label=p.label, url=reverse(p.url_name), active=current in p.active_for, description=p.description)
        for p in NAV
        if user_can(user, p.capability)
    ]
    if getattr(user, "is_administrator", False) and getattr(user, "is_staff", False):
        items.append(
            NavItem(
                label="Users & API clients",
                url=reverse("admin:index"),
                active=False,
                description="The operations console: users, roles and API clients.",
                external=True,
            )
        )
    return items


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    match = getattr(request, "resolver_match", None)
    current = match.url_name if match is not None and match.namespace == "frontend" else None
    return {
        "nav_items": nav_items(user, current),
        "nav_role": user.get_role_display() if hasattr(user, "get_role_display") else "",
    }
