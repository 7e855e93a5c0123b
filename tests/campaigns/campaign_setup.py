"""A decision bank with a business user, and helpers to launch campaigns on it."""

from __future__ import annotations

from typing import Any

from campaigns.models import Campaign
from campaigns.services import campaign_create, campaign_launch
from tests.decisioning.decision_setup import NOW, DecisionBank


def campaign_make(world: DecisionBank, code: str = "spring", **values: Any) -> Campaign:
    fields: dict[str, Any] = {"name": code.title(), "channels": ["email"], "control_percent": "20"}
    fields.update(values)
    return campaign_create(code=code, values=fields, actor=world.editor, now=NOW)


def campaign_launched(world: DecisionBank, code: str = "spring", **values: Any) -> Campaign:
    campaign = campaign_make(world, code, **values)
    return campaign_launch(campaign=campaign, actor=world.editor, now=NOW)
