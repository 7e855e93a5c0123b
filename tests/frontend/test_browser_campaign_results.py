"""In a real browser, end to end: bianca creates a one-off email campaign in the form,
launches it, the offers go out by email, channels report what customers did through
the outcomes API, accounts opened after the offers become conversions, and the
Performance page, filtered to the campaign, shows the figures and the lift.

Screenshots go to the test's temporary folder and are copied to /tmp/e2e-shots/.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

import pytest
from django.core import mail
from django.utils import timezone

from tests.frontend.test_browser import CHROMIUM, _sign_in, browser_type_launch_args  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs Debian's Chromium at {CHROMIUM}"),
]

SHOTS = Path("/tmp/e2e-shots/campaign-results")


def _respond(base_url: str, token: str, decision_id: str, body: dict) -> tuple[int, dict]:
    """POST a response to the outcomes API over HTTP, as a channel system does."""
    request = urllib.request.Request(
        f"{base_url}/api/v1/decisions/{decision_id}/responses",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (the live server on loopback)
        return answer.status, json.loads(answer.read())


def _figure(page, element_id: str) -> str:
    return page.inner_text(f"#{element_id}").strip()


def test_a_launched_email_campaign_shows_its_outcomes_and_lift_on_the_performance_page(
    live_server, transactional_db, bianca, page, tmp_path
):
    from campaigns.channels.email import message_id_for
    from campaigns.models import Campaign, CampaignMember, CampaignRun, Conversion, Delivery, DeliveryStatus
    from campaigns.outcomes import conversions_attribute
    from core.services import api_client_create
    from customers.models import ContactDetails, Product
    from decisioning.inputs import caches_clear
    from decisioning.models import Decision
    from tests.decisioning.decision_setup import decision_bank_build
    from tests.factories.customers import AccountFactory

    caches_clear()
    world = decision_bank_build(30)
    for customer in world.bank.customers:
        ContactDetails.objects.update_or_create(
            customer=customer,
            defaults={"email": f"c{customer.pk}@example.org", "first_name": "Sam", "received_at": timezone.now()},
        )
    offers = sorted(o.code for o in world.offers.values())[:2]
    _, token = api_client_create(name="bank-website", scopes=["outcomes"], actor=None)
    mail.outbox.clear()
    SHOTS.mkdir(parents=True, exist_ok=True)

    def shot(name: str) -> None:
        path = tmp_path / f"{name}.png"
        page.screenshot(path=path, full_page=True)
        # A full-page capture leaves the page scrolled to its end, where Chromium then
        # misses clicks on the form's sticky buttons: start again from the top.
        page.evaluate("() => window.scrollTo(0, 0)")
        shutil.copy(path, SHOTS / path.name)

    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.set_viewport_size({"width": 1400, "height": 900})
    _sign_in(page, live_server.url, "bianca")

    # Given the Performance page shows nothing yet
    page.click("nav.nav >> text=Performance")
    page.wait_for_url(f"{live_server.url}/performance/")
    assert _figure(page, "total-sent") == "0"
    assert _figure(page, "total-conversions") == "0"
    assert _figure(page, "total-rate") == "—"
    assert page.locator("#lift-table").count() == 0
    assert page.locator("#figures-table").count() == 0
    shot("01-performance-before")

    # When bianca creates a one-off email campaign with two offers and a 20% control group
    page.goto(f"{live_server.url}/campaigns/new/")
    page.wait_for_selector("#rule-builder .rb-group")
    page.fill("#id_code", "autumn-email")
    page.fill("#id_name", "Autumn by email")
    page.fill("#id_description", "Two offers by email to every customer, a fifth held back.")
    for code in offers:
        page.check(f"#field-offers input[value='{code}']")
    page.check("#field-channels input[value=email]")
    for channel in ("push", "web", "call_centre"):
        page.uncheck(f"#field-channels input[value={channel}]")
    page.check("#field-schedule input[value=once]")
    page.fill("#id_control_percent", "20")
    shot("02-campaign-form")
    page.click("#save-campaign")
    page.wait_for_url(f"{live_server.url}/campaigns/autumn-email/")
    assert page.inner_text("#campaign-status") == "Draft"
    campaign = Campaign.objects.get(code="autumn-email")
    assert campaign.channels == ["email"]
    assert sorted(campaign.offers.values_list("code", flat=True)) == offers
    shot("03-campaign-draft")

    # and launches it from its page: the run decides, queues and sends by email in-process
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#launch")
    page.wait_for_selector("#campaign-runs tr[data-run]")
    run = CampaignRun.objects.get(campaign=campaign)
    sent = list(Delivery.objects.filter(run=run, status=DeliveryStatus.SENT).select_related("customer"))
    assert run.channel == "email"
    assert len(sent) == run.queued > 0
    row = page.locator(f"#campaign-runs tr[data-run='{run.public_id}']")
    assert row.locator("[data-field=sent]").inner_text() == str(len(sent))
    assert row.locator("[data-field=control]").inner_text() == str(run.control)
    shot("04-campaign-launched")

    # Then each message reached the customer's address, named by its delivery's Message-ID
    addresses = dict(ContactDetails.objects.values_list("customer_id", "email"))
    by_id = {m.extra_headers.get("Message-ID") or m.message()["Message-ID"]: m for m in mail.outbox}
    assert len(mail.outbox) == len(sent)
    assert set(by_id) == {message_id_for(d) for d in sent}
    for delivery in sent:
        assert by_id[message_id_for(delivery)].to == [addresses[delivery.customer_id]]

    # When channels report what four customers did, through the outcomes API over HTTP
    a, b, c, d = sent[:4]
    now = timezone.now().isoformat()
    reports = [
        (a, "impression", None),
        (a, "click", None),
        (a, "accept", None),
        (b, "impression", None),
        (b, "accept", "250.00"),
        (c, "impression", None),
        (c, "reject", None),
        (d, "impression", None),
    ]
    for delivery, kind, amount in reports:
        body = {"offer_code": delivery.offer_code, "kind": kind, "occurred_at": now}
        if amount is not None:
            body["amount"] = amount
        status, answer = _respond(live_server.url, token, str(delivery.decision_id), body)
        assert status == 201, answer
        assert answer["campaign"] == "autumn-email"
        assert answer["channel"] == "email"
    # a repeat changes nothing
    status, _ = _respond(live_server.url, token, str(a.decision_id), {**body, "offer_code": d.offer_code})
    assert status == 200

    # and customer a opens the product a accepted, and a control-group customer opens
    # the product they would have been offered
    today = timezone.localdate()
    AccountFactory(customer=a.customer, product=a.product, opened_on=today, received_at=timezone.now())
    held_back = CampaignMember.objects.filter(campaign=campaign, control=True).order_by("customer_id").first()
    assert held_back is not None, "a 20% control group of 30 customers has members"
    withheld = Decision.objects.get(batch_run=run.batch_run, customer_id=held_back.customer_id)
    assert withheld.offers
    product = Product.objects.get(code=withheld.offers[0]["product_code"])
    AccountFactory(customer_id=held_back.customer_id, product=product, opened_on=today, received_at=timezone.now())
    assert conversions_attribute(now=timezone.now()) == 2
    treated_conversions = Conversion.objects.filter(campaign=campaign, control=False)
    assert treated_conversions.count() == 2  # a's from the account, b's from the accept with an amount
    offer_value = world.offers[a.product.code].value
    revenue = offer_value + 250

    # Then the Performance page, filtered to the campaign, shows what was recorded
    page.goto(f"{live_server.url}/performance/")
    page.select_option("#id_campaign", str(campaign.pk))
    page.click("#apply-filters")
    page.wait_for_url(f"**/performance/?*campaign={campaign.pk}*")
    assert _figure(page, "total-sent") == str(len(sent))
    assert _figure(page, "total-conversions") == "2"
    assert _figure(page, "total-rate") == f"{100 * 2 / len(sent):.1f}%"
    assert _figure(page, "total-revenue") == f"{revenue:,.0f} EUR"
    funnel = [page.locator(f"#funnel tr[data-step='{i}'] td.num").first.inner_text() for i in range(1, 6)]
    assert funnel == [str(len(sent)), "4", "1", "2", "2"]
    shot("05-performance-after")

    # by channel: one row, email, with every count
    page.click("#by-dimension .tabs a[data-dimension=channel]")
    page.wait_for_url("**by=channel*")
    cells = page.locator("#figures-table tbody tr[data-key=email] td").all_inner_texts()
    assert cells[:8] == ["Email", str(len(sent)), "4", "1", "2", "1", "2", f"{100 * 2 / len(sent):.1f}%"]
    assert cells[8] == f"{revenue:,.2f}"
    assert page.locator("#figures-table tbody tr").count() == 1

    # and the lift table compares treated members with the control group
    treated = CampaignMember.objects.filter(campaign=campaign, control=False).count()
    control = CampaignMember.objects.filter(campaign=campaign, control=True).count()
    assert treated + control == len(world.bank.customers)
    lift = page.locator("#lift-table tr[data-campaign='autumn-email']")
    assert lift.count() == 1
    columns = lift.locator("td")
    assert columns.nth(1).locator(".sub").inner_text() == f"2 / {treated}"
    assert columns.nth(2).locator(".sub").inner_text() == f"1 / {control}"
    assert columns.nth(1).inner_text().startswith(f"{100 * 2 / treated:.1f}%")
    page.locator("#lift").scroll_into_view_if_needed()
    shot("06-performance-by-channel-and-lift")
    assert problems == []
