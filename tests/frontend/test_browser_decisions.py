"""In a real browser: try a decision, change a rule with the visual builder, try again and see the change."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.frontend.test_browser import CHROMIUM, _sign_in, browser_type_launch_args  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs Debian's Chromium at {CHROMIUM}"),
]


def _decide(page, base_url: str, customer_id: str) -> None:
    page.goto(f"{base_url}/decisions/try/")
    page.fill("#id_customer_id", customer_id)
    page.select_option("#id_channel", "email")
    page.click("#try-decide")
    page.wait_for_selector("#decision-summary")


def test_a_rule_edited_in_the_builder_changes_the_next_decision(
    live_server, transactional_db, bianca, page, output_path
):
    from tests.decisioning.decision_setup import decision_bank_build

    world = decision_bank_build()
    customer = world.customer.external_id
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.set_viewport_size({"width": 1400, "height": 1100})
    _sign_in(page, live_server.url, "bianca")

    # Given bianca tries a decision: the travel card is among the offers made
    _decide(page, live_server.url, customer)
    assert page.locator("#offers-made [data-offer=travel_card]").count() == 1
    assert page.locator("#funnel tr[data-offer=travel_card]").get_attribute("data-stage") == "made"
    page.screenshot(path=Path(output_path) / "decision-before.png", full_page=True)

    # When she adds an eligibility rule on the travel card with the visual builder and publishes it
    page.goto(f"{live_server.url}/rules/new/")
    page.fill("#id_name", "Travel cards for customers over 99")
    page.select_option("#id_kind", "eligibility")
    page.select_option("#id_applies_to", "offer:travel_card")
    page.click("#rule-builder > .rb-group > .rb-head .rb-add-condition")
    condition = page.locator("#rule-builder .rb-condition").nth(0)
    condition.locator(".rb-field").select_option("customer.age")
    condition.locator(".rb-op").select_option("gt")
    condition.get_by_label("Value").fill("99")
    page.wait_for_function("() => document.getElementById('rule-status').textContent === 'The conditions are valid'")
    page.click("#save-rule")
    page.wait_for_url(f"{live_server.url}/rules/**")
    page.click("#publish")
    page.wait_for_selector("#rule-set-state:has-text('Published')")

    # Then the same decision now leaves the travel card out, naming the rule that removed it
    _decide(page, live_server.url, customer)
    assert page.locator("#offers-made [data-offer=travel_card]").count() == 0
    row = page.locator("#funnel tr[data-offer=travel_card]")
    assert row.get_attribute("data-stage") == "eligibility"
    assert "Travel cards for customers over 99" in row.inner_text()
    row.locator("details.trace > summary").click()
    assert "✗ eligibility · Travel cards for customers over 99" in row.inner_text()
    assert "Rule set v1" in page.locator("#decision-summary").inner_text()
    page.screenshot(path=Path(output_path) / "decision-after.png", full_page=True)
    assert problems == []
