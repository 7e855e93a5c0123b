"""In a real browser: create a campaign through the form (audience rule built with the
visual builder), launch it, and see its run's figures on the campaign's page; and watch
that page follow a run as a worker decides and delivers it."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.utils import timezone

from tests.frontend.test_browser import CHROMIUM, _sign_in, browser_type_launch_args  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs Debian's Chromium at {CHROMIUM}"),
]


def test_a_campaign_created_in_the_form_is_launched_and_its_run_figures_shown(
    live_server, transactional_db, bianca, page, output_path, monkeypatch
):
    import campaigns.channels as channels_module
    from campaigns.models import Campaign, CampaignRun, Delivery, DeliveryStatus, RunStatus
    from decisioning.inputs import caches_clear
    from tests.decisioning.decision_setup import decision_bank_build

    caches_clear()
    world = decision_bank_build(30)
    offers = [o.code for o in world.offers.values()][:2]
    # No real channel: every message is accepted (the server runs in this process).
    monkeypatch.setattr(channels_module, "channel_send", lambda delivery, *, now: "ok")
    out = Path(output_path)
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.set_viewport_size({"width": 1400, "height": 1000})
    _sign_in(page, live_server.url, "bianca")

    # Given bianca opens Campaigns from the menu and starts a new one
    page.click("nav.nav >> text=Campaigns")
    page.wait_for_url(f"{live_server.url}/campaigns/")
    page.click("#new-campaign")
    page.wait_for_selector("#rule-builder .rb-group")

    # When she saves it without a name or a channel, each mistake is shown beside its field
    page.fill("#id_code", "card-push")
    page.uncheck("#field-channels input[value=email]")
    page.fill("#id_control_percent", "75")
    page.click("#save-campaign")
    page.wait_for_selector("#fix-note")
    assert "a name of 1 to 120 characters" in page.inner_text("#field-name")
    assert "one or more of" in page.inner_text("#field-channels")
    assert "a percentage from 0 to 50" in page.inner_text("#field-control_percent")
    page.screenshot(path=out / "campaign-form-errors.png", full_page=True)

    # and when she fixes them, picks two offers and builds an audience rule, it is saved as a draft
    page.fill("#id_name", "Cards on the app")
    page.fill("#id_description", "Two card offers, by push and email, for adults.")
    page.check("#field-channels input[value=email]")
    page.check("#field-channels input[value=push]")
    for code in offers:
        page.check(f"#field-offers input[value='{code}']")
    page.fill("#id_control_percent", "20")
    page.click("#rule-builder > .rb-group > .rb-head .rb-add-condition")
    condition = page.locator("#rule-builder .rb-condition").nth(0)
    condition.locator(".rb-field").select_option("customer.age")
    condition.locator(".rb-op").select_option("gte")
    condition.get_by_label("Value").fill("18")
    page.wait_for_function("() => document.getElementById('rule-status').textContent === 'The conditions are valid'")
    assert page.is_hidden("#field-every_days")
    page.check("#field-schedule input[value=recurring]")
    assert page.is_visible("#field-every_days")
    page.check("#field-schedule input[value=once]")
    page.screenshot(path=out / "campaign-form.png", full_page=True)
    page.click("#save-campaign")
    page.wait_for_url(f"{live_server.url}/campaigns/card-push/")
    assert page.inner_text("#campaign-status") == "Draft"
    assert "customer.age is at least 18" in page.inner_text("#audience-rule")
    campaign = Campaign.objects.get(code="card-push")
    assert sorted(campaign.offers.values_list("code", flat=True)) == sorted(offers)

    # Then launching it (after confirming) runs it, and its page shows each channel's figures
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#launch")
    page.wait_for_selector("#campaign-runs tr[data-run]")
    runs = {r.channel: r for r in CampaignRun.objects.filter(campaign=campaign)}
    assert set(runs) == {"email", "push"}
    for run in runs.values():
        assert run.status == RunStatus.DONE
        row = page.locator(f"#campaign-runs tr[data-run='{run.public_id}']")
        assert row.locator("[data-field=status]").inner_text() == "Done"
        assert row.locator("[data-field=audience]").inner_text() == str(run.audience)
        assert row.locator("[data-field=control]").inner_text() == str(run.control)
        assert row.locator("[data-field=left_out]").inner_text() == str(run.left_out)
        assert row.locator("[data-field=queued]").inner_text() == str(run.queued)
        sent = Delivery.objects.filter(run=run, status=DeliveryStatus.SENT).count()
        assert row.locator("[data-field=sent]").inner_text() == str(sent)
        assert row.locator("[data-field=decided]").inner_text() == str(run.batch_run.done)
    assert sum(r.queued for r in runs.values()) > 0
    assert sum(r.audience for r in runs.values()) + sum(r.left_out for r in runs.values()) == 2 * len(
        world.bank.customers
    )
    page.screenshot(path=out / "campaign-detail.png", full_page=True)

    # and the list shows the last run's figures; the dead-letter page is empty
    page.goto(f"{live_server.url}/campaigns/")
    row = page.locator("#campaign-card-push")
    assert row.locator("[data-field=queued]").inner_text() == str(sum(r.queued for r in runs.values()))
    page.screenshot(path=out / "campaign-list.png", full_page=True)
    page.click("#dead-letters-link")
    page.wait_for_selector("#no-dead-letters")
    page.screenshot(path=out / "dead-letters-empty.png", full_page=True)
    assert problems == []


def test_the_campaign_page_follows_a_run_as_it_decides_and_delivers(
    live_server, transactional_db, bianca, page, output_path, monkeypatch
):
    import campaigns.channels as channels_module
    import campaigns.tasks as campaign_tasks
    from campaigns.models import CampaignRun, RunStatus
    from campaigns.outbox import deliveries_send_due, runs_close
    from campaigns.services import campaign_run_work
    from decisioning.inputs import caches_clear
    from tests.campaigns.campaign_setup import campaign_launched
    from tests.decisioning.decision_setup import decision_bank_build

    caches_clear()
    world = decision_bank_build(30)
    monkeypatch.setattr(channels_module, "channel_send", lambda delivery, *, now: "ok")
    # No worker takes the run or the messages until this test plays its part.
    monkeypatch.setattr(campaign_tasks.run_campaign_task, "delay", lambda *args, **kwargs: None)
    monkeypatch.setattr(campaign_tasks.deliver_task, "delay", lambda *args, **kwargs: None)
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.set_viewport_size({"width": 1400, "height": 900})
    _sign_in(page, live_server.url, "bianca")

    # Given a launched campaign whose run no worker has taken yet
    campaign = campaign_launched(world, "spring")
    run = CampaignRun.objects.get(campaign=campaign)
    page.goto(f"{live_server.url}/campaigns/spring/")
    row = page.locator(f"#campaign-runs tr[data-run='{run.public_id}']")
    assert row.locator("[data-field=status]").inner_text() == "Deciding"
    assert page.get_attribute("#campaign-runs", "data-active") == "true"

    # When a worker decides for the audience and queues the offers
    campaign_run_work(run_id=run.pk, task_id=None, eager=True)
    run.refresh_from_db()
    assert run.status == RunStatus.DELIVERING

    # Then the page shows the figures without a reload
    page.wait_for_function(
        "() => document.querySelector('#campaign-runs [data-field=status]').textContent === 'Delivering'",
        timeout=8_000,
    )
    assert row.locator("[data-field=queued]").inner_text() == str(run.queued)
    assert row.locator("[data-field=waiting]").inner_text() == str(run.queued)
    assert row.locator("[data-field=decided]").inner_text() == str(len(world.bank.customers))
    page.wait_for_timeout(500)  # the progress bar's width transition
    page.screenshot(path=Path(output_path) / "campaign-run-delivering.png", full_page=True)

    # and when the messages have gone, the run is done and the campaign completed
    deliveries_send_due(worker="browser-test")
    runs_close(now=timezone.now())
    page.wait_for_function(
        "() => document.getElementById('campaign-status').textContent === 'Completed'", timeout=10_000
    )
    row = page.locator(f"#campaign-runs tr[data-run='{run.public_id}']")
    assert row.locator("[data-field=status]").inner_text() == "Done"
    assert row.locator("[data-field=sent]").inner_text() == str(run.queued)
    assert page.get_attribute("#campaign-runs", "data-active") == "false"
    page.screenshot(path=Path(output_path) / "campaign-run-done.png", full_page=True)
    assert problems == []
