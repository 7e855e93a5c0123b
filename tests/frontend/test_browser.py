"""In a real browser: sign in, find a customer, and see the Customer 360 page with its charts drawn.

Screenshots go to pytest-playwright's output folder (``test-results/<test>/`` unless ``--output`` says otherwise).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.utils import timezone

from core.models import TaskRun, TaskRunState

# Playwright's sync API keeps an event loop in this thread, which trips Django's
# async-safety check on every ORM call in the test; this module only.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs Debian's Chromium at {CHROMIUM}"),
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Drive the system Chromium; nothing is downloaded (no ``playwright install``)."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS, "headless": True}


CHART_DRAWN = """(id) => {
    const canvas = document.getElementById(id);
    const chart = canvas && window.Chart ? Chart.getChart(canvas) : null;
    if (!chart) return null;
    return {
        points: chart.data.datasets.reduce((n, d) => n + d.data.filter((v) => v !== null).length, 0),
        width: chart.chartArea.right - chart.chartArea.left,
        height: chart.chartArea.bottom - chart.chartArea.top,
    };
}"""


def test_a_compliance_officer_finds_a_customer_and_sees_the_charts(
    live_server, transactional_db, carlos, jane, page, output_path
):
    foreign, problems = [], []
    page.on("request", lambda r: None if r.url.startswith((live_server.url, "data:")) else foreign.append(r.url))
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.set_viewport_size({"width": 1400, "height": 1000})

    # Given carlos signs in
    page.goto(f"{live_server.url}/customers/")
    assert "/login/" in page.url
    page.fill("#id_username", "carlos")
    page.fill("#id_password", "pw-carlos")
    page.click("button[type=submit]")
    page.wait_for_url("**/customers/")
    page.screenshot(path=Path(output_path) / "customer-search.png")

    # When he searches by name and opens the customer
    page.fill("input[name=q]", "Okafor")
    page.press("input[name=q]", "Enter")
    page.click("a:has-text('C000123')")
    page.wait_for_url("**/customers/C000123/")

    # Then the Customer 360 page shows her, and all three charts are drawn
    assert page.locator("h1").inner_text().startswith("Jane Okafor")
    assert page.locator("#holdings").get_by_text("C000123-CA").is_visible()
    for canvas_id in ("balance-chart", "spending-chart", "score-chart"):
        page.wait_for_function(
            f"() => window.Chart && Chart.getChart(document.getElementById('{canvas_id}'))", timeout=10_000
        )
        drawn = page.evaluate(CHART_DRAWN, canvas_id)
        assert drawn is not None, canvas_id
        assert drawn["points"] > 0, canvas_id
        assert drawn["width"] > 100, (canvas_id, drawn)
        assert drawn["height"] > 50, (canvas_id, drawn)
    page.screenshot(path=Path(output_path) / "customer-360.png", full_page=True)
    assert foreign == []  # every asset from this server: works offline
    assert problems == []


def test_the_task_run_page_follows_the_run_until_it_finishes(
    live_server, transactional_db, bianca, task_run, page, output_path
):
    problems = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "bianca")
    page.fill("#id_password", "pw-bianca")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    # Given the run page shows a quarter done
    page.goto(f"{live_server.url}/tasks/run-1/")
    assert page.locator("[data-field=percent]").inner_text() == "25%"

    # When the worker reports progress, then finishes
    TaskRun.objects.filter(pk=task_run.pk).update(done=120, message="transactions: row 120 of 160")
    page.wait_for_function("() => document.querySelector('[data-field=percent]').textContent === '75%'", timeout=6_000)
    TaskRun.objects.filter(pk=task_run.pk).update(
        state=TaskRunState.SUCCESS, done=160, finished_at=timezone.now(), result={"rows": 160}
    )

    # Then the page shows it without a reload, and stops asking
    page.wait_for_function("() => document.getElementById('task-run').dataset.state === 'success'", timeout=6_000)
    assert page.locator("[data-field=state]").inner_text() == "Succeeded"
    assert '"rows": 160' in page.locator("[data-field=result]").inner_text()
    assert page.locator(".progress.done").count() == 1
    assert page.locator("[data-field=pending_note]").is_hidden()
    page.wait_for_timeout(500)  # let the progress bar's width transition finish before the screenshot
    page.screenshot(path=Path(output_path) / "task-run.png")
    assert problems == []


def _sign_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"pw-{username}")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def test_a_model_is_approved_then_activated_and_its_charts_are_drawn(
    live_server, transactional_db, bianca, carlos, browser, output_path, settings, tmp_path
):
    from modeling import registry
    from modeling.models import ModelStatus
    from tests.factories.customers import ProductFactory
    from tests.factories.modeling import METRICS, trained_model_version

    settings.MODEL_DIR = tmp_path
    registry.active_models_clear()
    product = ProductFactory(code="MORTGAGE", name="Home mortgage")
    version = trained_model_version(product=product, model_dir=tmp_path, trained_by=bianca)
    version.metrics = METRICS
    version.save(update_fields=["metrics"])
    url = f"{live_server.url}/models/{version.public_id}/"
    problems: list[str] = []

    # Given carlos, a compliance officer who did not train it, approves the candidate
    officer = browser.new_page(viewport={"width": 1400, "height": 1000})
    officer.on("pageerror", lambda e: problems.append(str(e)))
    _sign_in(officer, live_server.url, "carlos")
    officer.goto(url)
    assert officer.locator("#model-status").inner_text() == "Candidate"
    officer.fill("#approve-note", "metrics ahead of both baselines")
    officer.click("#approve")
    officer.wait_for_selector("#model-status:has-text('Approved')")
    assert officer.locator("#activate").count() == 0  # compliance approves; the business activates

    # When bianca activates it
    business = browser.new_page(viewport={"width": 1400, "height": 1000})
    business.on("pageerror", lambda e: problems.append(str(e)))
    _sign_in(business, live_server.url, "bianca")
    business.goto(url)
    business.click("#activate")
    business.wait_for_selector("#model-status:has-text('Active')")

    # Then it scores its product, and the page draws its ROC, gains, calibration and importance charts
    version.refresh_from_db()
    assert version.status == ModelStatus.ACTIVE
    for canvas_id in ("roc-chart", "gains-chart", "calibration-chart", "importance-chart"):
        business.wait_for_function(
            f"() => window.Chart && Chart.getChart(document.getElementById('{canvas_id}'))", timeout=10_000
        )
        drawn = business.evaluate(CHART_DRAWN, canvas_id)
        assert drawn["points"] > 0, canvas_id
        assert drawn["width"] > 100, (canvas_id, drawn)
    business.screenshot(path=Path(output_path) / "model-page.png", full_page=True)
    business.goto(f"{live_server.url}/models/")
    assert "All 1 products scored by active models." in business.content()
    business.screenshot(path=Path(output_path) / "model-list.png", full_page=True)
    assert problems == []


def test_a_business_user_builds_a_rule_visually_fixes_it_live_then_saves_and_publishes(
    live_server, transactional_db, bianca, page, output_path
):
    from decisioning.models import RuleSetStatus, RuleSetVersion
    from tests.factories.decisioning import OfferFactory, OfferGroupFactory

    OfferFactory(group=OfferGroupFactory(code="home-loans", name="Home loans"), code="mortgage-fixed")
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.set_viewport_size({"width": 1400, "height": 1000})
    _sign_in(page, live_server.url, "bianca")

    # Given bianca opens a new rule and names it
    page.goto(f"{live_server.url}/rules/new/")
    page.fill("#id_name", "Adults without a mortgage")
    page.select_option("#id_kind", "suitability")
    page.select_option("#id_applies_to", "group:home-loans")
    root = "#rule-builder > .rb-group > .rb-head"

    # When she adds a condition on age with the bounds the wrong way round
    page.click(f"{root} .rb-add-condition")
    first = page.locator("#rule-builder .rb-condition").nth(0)
    first.locator(".rb-field").select_option("customer.age")
    first.locator(".rb-op").select_option("between")
    first.get_by_label("Lowest value").fill("70")
    first.get_by_label("Highest value").fill("18")

    # Then the server's check shows the error beside that condition
    error = first.locator(".rb-error")
    error.wait_for(timeout=10_000)
    assert error.inner_text() == "the lower bound comes first"
    assert page.locator("#rule-status").inner_text() == "1 problem to fix"
    page.screenshot(path=Path(output_path) / "rule-builder-error.png", full_page=True)

    # When she fixes it, and adds a negated condition on products held
    first.get_by_label("Lowest value").fill("18")
    first.get_by_label("Highest value").fill("70")
    page.wait_for_function("() => document.getElementById('rule-status').textContent === 'The conditions are valid'")
    assert page.locator("#rule-builder .rb-error").count() == 0
    page.click(f"{root} .rb-add-condition")
    second = page.locator("#rule-builder .rb-condition").nth(1)
    second.locator(".rb-field").select_option("holdings.products")
    second.locator(".rb-op").select_option("contains")
    second.get_by_label("Value").fill("MORTGAGE")
    second.locator(".rb-negate").click()
    assert page.locator("#rule-builder .rb-not .rb-tag").inner_text() == "NOT"
    page.wait_for_function("() => document.getElementById('rule-status').textContent === 'The conditions are valid'")
    page.click("#rule-json-view summary")
    page.screenshot(path=Path(output_path) / "rule-builder.png", full_page=True)

    # And saves the rule to the draft, then publishes it
    page.click("#save-rule")
    page.wait_for_url(f"{live_server.url}/rules/#rule-adults-without-a-mortgage")
    summary = page.locator("#rule-adults-without-a-mortgage .rule-summary").inner_text()
    assert summary.startswith("customer.age is between 18 and 70 and not holdings.products includes “MORTGAGE”")
    page.fill("#publish-note", "first rule")
    page.click("#publish")
    page.wait_for_selector("#rule-set-state:has-text('Published')")
    page.screenshot(path=Path(output_path) / "rule-set.png", full_page=True)

    # Then the published version holds the tree she built
    version = RuleSetVersion.objects.get(status=RuleSetStatus.PUBLISHED)
    assert version.note == "first rule"
    assert version.rules == [
        {
            "id": "adults-without-a-mortgage",
            "name": "Adults without a mortgage",
            "kind": "suitability",
            "scope": "group",
            "scope_code": "home-loans",
            "tree": {
                "all": [
                    {"field": "customer.age", "op": "between", "value": [18, 70]},
                    {"not": {"field": "holdings.products", "op": "contains", "value": "MORTGAGE"}},
                ]
            },
        }
    ]
    assert problems == []
