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
    capability: str | tuple[str, ...]  # several: any of them opens the page
    active_for: tuple[str, ...]  # URL names that mark the item active
    description: str


# Who may read the offer catalogue, the rules and the levers: those who edit them,
# and compliance officers, who audit them (read-only).
OFFER_READERS = ("manage_offers", "view_offers")


def user_can_any(user: Any, capabilities: str | tuple[str, ...]) -> bool:
    wanted = (capabilities,) if isinstance(capabilities, str) else capabilities
    return any(user_can(user, c) for c in wanted)


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
    _Page(
        "Offers",
        "frontend:offer-catalogue",
        OFFER_READERS,
        (
            "offer-catalogue",
            "issue-create",
            "issue-edit",
            "group-create",
            "group-edit",
            "offer-create",
            "offer-edit",
            "treatment-edit",
        ),
        "The offer catalogue: business issues, offer groups, offers and their treatment on each channel.",
    ),
    _Page(
        "Rules",
        "frontend:rule-set",
        OFFER_READERS,
        ("rule-set", "rule-create", "rule-edit"),
        "Eligibility, applicability and suitability rules: edit the draft with the visual builder, then publish.",
    ),
    _Page(
        "Levers",
        "frontend:levers",
        OFFER_READERS,
        ("levers", "contact-policy-list", "contact-policy-create", "contact-policy-edit"),
        "Business weights on issues, groups and offers, and the contact policies that cap how often we reach out.",
    ),
    _Page(
        "Try a decision",
        "frontend:decision-try",
        "view_customers",
        ("decision-try",),
        "Decide for one customer on one channel as a simulation, and see every gate, rule and cap it went through.",
    ),
    _Page(
        "Campaigns",
        "frontend:campaign-list",
        "view_campaigns",
        (
            "campaign-list",
            "campaign-create",
            "campaign-detail",
            "campaign-edit",
            "dead-letters",
            "trigger-list",
            "trigger-create",
            "trigger-edit",
            "push-gateway",
        ),
        "Offers to an audience on chosen channels, once, on a schedule or on events, with a control group; "
        "launch them and follow their runs.",
    ),
    _Page(
        "Call centre",
        "frontend:call-centre",
        "view_customers",
        ("call-centre", "call-centre-decision"),
        "The agent's desktop: find the caller, see the best offers with talking points and disclosures, record "
        "accept, reject or call back.",
    ),
    _Page(
        "Performance",
        "frontend:performance",
        "view_campaigns",
        ("performance",),
        "What offers earn by offer, channel, segment, campaign and model: the funnel from sent to converted, "
        "and each campaign's lift over its control group.",
    ),
    _Page("Audit trail", "frontend:audit-list", "view_audit", ("audit-list",), "Who changed what, and when."),
)


def nav_items(user: Any, current: str | None) -> list[NavItem]:
    """The pages this user's role may open, in menu order."""
    items = [
        NavItem(label=p.label, url=reverse(p.url_name), active=current in p.active_for, description=p.description)
        for p in NAV
        if user_can_any(user, p.capability)
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
