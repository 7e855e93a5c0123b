"""Campaign pages: business users create, launch, stop and retry; compliance officers
read; people without a role see nothing. Every change goes through an audited
service, and a refused one shows the service's message beside the field it names."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from django.urls import reverse

import campaigns.channels as channels_module
from campaigns.channels.base import ChannelRejected
from campaigns.models import Campaign, CampaignRun, CampaignStatus, Delivery, DeliveryStatus, RunStatus
from campaigns.services import campaign_launch
from core.models import AuditEvent
from decisioning.inputs import caches_clear
from frontend.context_processors import nav_items
from tests.campaigns.campaign_setup import campaign_launched, campaign_make
from tests.decisioning.decision_setup import NOW, decision_bank_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    caches_clear()
    return decision_bank_build(30)


@pytest.fixture
def sent(monkeypatch):
    """Messages handed to the channel, by message id; each one is accepted."""
    out: list[str] = []

    def send(delivery, *, now):
        out.append(str(delivery.public_id))
        return "ok"

    monkeypatch.setattr(channels_module, "channel_send", send)
    return out


@pytest.fixture
def refused(monkeypatch):
    """A channel that refuses every message: each becomes a dead letter at once."""

    def send(delivery, *, now):
        raise ChannelRejected("mailbox does not exist")

    monkeypatch.setattr(channels_module, "channel_send", send)


def _field(html: str, name: str) -> str:
    """The markup of one form field's box: its input, help and errors."""
    start = html.rindex("<div", 0, html.index(f'id="field-{name}"'))
    end = html.find('<div class="field', start + 1)
    return unescape(html[start : end if end > 0 else len(html)])


def _row(html: str, marker: str) -> str:
    """The table row holding ``marker``."""
    start = html.index(marker)
    return unescape(html[start : html.index("</tr>", start)])


def _form(world, **changes) -> dict:
    offer = next(iter(world.offers.values()))
    data = {
        "code": "summer",
        "name": "Summer cards",
        "description": "Cards for the holidays.",
        "audience_segment": "",
        "tree": json.dumps({"all": [{"field": "customer.age", "op": "gte", "value": 21}]}),
        "offers": [offer.code],
        "channels": ["email", "push"],
        "schedule": "once",
        "every_days": "",
        "max_offers_per_customer": "2",
        "volume_limit": "500",
        "control_percent": "15",
        "attribution_days": "45",
        "starts_at": "",
        "ends_at": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


# --- the list ---------------------------------------------------------------------------------------------------------


def test_the_list_shows_each_campaign_with_its_last_runs_figures(
    world, sent, bianca, client_as, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        campaign_launched(world, "spring")
    campaign_make(world, "autumn", name="Autumn savings", schedule="recurring", every_days=14, channels=["push"])
    run = CampaignRun.objects.get(campaign__code="spring")

    response = client_as(bianca).get(reverse("frontend:campaign-list"))

    assert response.status_code == 200
    html = response.content.decode()
    row = _row(html, 'id="campaign-spring"')
    assert "Completed" in row
    assert f'data-field="audience">{run.audience}<' in row
    assert f'data-field="control">{run.control}<' in row
    assert f'data-field="queued">{run.queued}<' in row
    assert f'data-field="sent">{len(sent)}<' in row
    assert 'data-field="dead">0<' in row
    autumn = _row(html, 'id="campaign-autumn"')
    assert "Every 14 days" in autumn
    assert "Not run yet" in autumn
    assert "Draft" in autumn
    assert 'id="new-campaign"' in html


def test_the_list_filters_by_status(world, bianca, client_as):
    campaign_make(world, "spring")
    campaign_launched(world, "winter", schedule="triggered")

    html = client_as(bianca).get(reverse("frontend:campaign-list") + "?status=active").content.decode()

    assert 'id="campaign-winter"' in html
    assert 'id="campaign-spring"' not in html


# --- create and edit --------------------------------------------------------------------------------------------------


def test_a_form_with_mistakes_shows_each_of_the_services_errors_beside_its_field(world, bianca, client_as):
    data = _form(
        world,
        name="",
        channels=[],
        schedule="recurring",
        every_days="",
        max_offers_per_customer="7",
        control_percent="80",
        starts_at="2026-12-01T09:00",
        ends_at="2026-11-01T09:00",
        tree=json.dumps({"all": [{"field": "customer.age", "op": "between", "value": [60, 20]}]}),
    )

    response = client_as(bianca).post(reverse("frontend:campaign-create"), data)

    assert response.status_code == 200
    html = response.content.decode()
    assert "a name of 1 to 120 characters" in _field(html, "name")
    assert "one or more of email, push, web, call_centre" in _field(html, "channels")
    assert "a whole number from 1 to 3" in _field(html, "max_offers_per_customer")
    assert "a percentage from 0 to 50" in _field(html, "control_percent")
    assert 'class="field has-error' in _field(html, "control_percent")
    # the audience rule's error is beside the builder, and each condition's goes to the condition it names
    assert "the lower bound comes first" in _field(html, "audience_rule")
    assert response.context["tree_errors"] == [{"pointer": "/all/0/value", "message": "the lower bound comes first"}]
    # and what was typed comes back, the rule included
    assert response.context["tree"] == json.loads(data["tree"])
    assert 'value="80"' in _field(html, "control_percent")
    assert not Campaign.objects.exists()
    assert not AuditEvent.objects.filter(action="campaign.create").exists()


def test_errors_found_only_on_the_whole_campaign_are_shown_beside_their_fields_too(world, bianca, client_as):
    data = _form(world, schedule="recurring", every_days="", starts_at="2026-12-01T09:00", ends_at="2026-11-01T09:00")

    html = client_as(bianca).post(reverse("frontend:campaign-create"), data).content.decode()

    assert "a recurring campaign needs its period in days" in _field(html, "every_days")
    assert "the end comes after the start" in _field(html, "ends_at")


@pytest.mark.parametrize(
    ("code", "message"),
    [("new", "names a page of the campaigns section"), ("spring", "a campaign with code 'spring' exists")],
)
def test_a_code_that_is_taken_is_refused_beside_the_code(world, bianca, client_as, code, message):
    campaign_make(world, "spring")

    response = client_as(bianca).post(reverse("frontend:campaign-create"), _form(world, code=code))

    assert response.status_code == 200
    assert message in _field(response.content.decode(), "code")


def test_a_campaign_created_through_the_form_is_a_draft_owned_by_its_author(world, bianca, client_as):
    offer = next(iter(world.offers.values()))

    response = client_as(bianca).post(
        reverse("frontend:campaign-create"), _form(world, starts_at="2026-12-01T09:00", ends_at="2027-01-31T18:00")
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("frontend:campaign-detail", kwargs={"code": "summer"})
    campaign = Campaign.objects.get(code="summer")
    assert (campaign.name, campaign.status, campaign.owner) == ("Summer cards", CampaignStatus.DRAFT, bianca)
    assert campaign.channels == ["email", "push"]
    assert [o.code for o in campaign.offers.all()] == [offer.code]
    assert campaign.audience_rule == {"all": [{"field": "customer.age", "op": "gte", "value": 21}]}
    assert (campaign.max_offers_per_customer, campaign.volume_limit, campaign.attribution_days) == (2, 500, 45)
    assert str(campaign.control_percent) == "15.00"
    assert campaign.starts_at.isoformat() == "2026-12-01T09:00:00+00:00"
    assert AuditEvent.objects.filter(action="campaign.create", object_id="summer", actor=bianca).exists()


def test_a_rule_builder_left_empty_means_no_audience_rule(world, bianca, client_as):
    client_as(bianca).post(reverse("frontend:campaign-create"), _form(world, tree=json.dumps({"all": []})))

    assert Campaign.objects.get(code="summer").audience_rule is None


def test_the_form_offers_the_catalogue_the_channels_and_the_rule_builder(world, bianca, client_as):
    response = client_as(bianca).get(reverse("frontend:campaign-create"))

    html = response.content.decode()
    for offer in world.offers.values():
        assert f'value="{offer.code}"' in _field(html, "offers")
    for channel in ("email", "push", "web", "call_centre"):
        assert f'value="{channel}"' in _field(html, "channels")
    assert 'id="rule-form"' in html
    assert "frontend/rule_builder.js" in html
    for script in ("rule-fields", "rule-operators", "rule-tree", "rule-errors"):
        assert f'id="{script}"' in html


def test_the_segment_picker_offers_the_current_segments_and_a_stale_one_is_refused_beside_it(world, bianca, client_as):
    from modeling.models import Segment, Segmentation

    tiers = Segmentation.objects.create(
        kind="value_tier", method="rules", version=1, snapshot=world.bank.snapshot, is_current=True
    )
    Segment.objects.create(segmentation=tiers, label=0, code="value_tier_high", name="High value", size=12)
    client = client_as(bianca)

    page = client.get(reverse("frontend:campaign-create")).content.decode()
    assert "High value (value_tier_high) · 12 customers" in _field(page, "audience_segment")

    stale = client.post(reverse("frontend:campaign-create"), _form(world, audience_segment="value_tier_old"))
    assert "no current segment with code 'value_tier_old'" in _field(stale.content.decode(), "audience_segment")
    client.post(reverse("frontend:campaign-create"), _form(world, audience_segment="value_tier_high"))
    assert Campaign.objects.get(code="summer").audience_segment == "value_tier_high"
    listing = client.get(reverse("frontend:campaign-list")).content.decode()
    assert "High value" in _row(listing, 'id="campaign-summer"')


def test_editing_a_launched_campaign_keeps_its_control_share(world, bianca, client_as):
    campaign = campaign_launched(world, "winter", schedule="triggered", control_percent="20")
    client = client_as(bianca)

    page = client.get(reverse("frontend:campaign-edit", kwargs={"code": "winter"}))
    assert "disabled" in _field(page.content.decode(), "control_percent")
    assert 'value="20"' in _field(page.content.decode(), "control_percent")
    response = client.post(
        reverse("frontend:campaign-edit", kwargs={"code": "winter"}),
        _form(world, code=None, name="Winter deals", schedule="triggered", control_percent="40"),
    )

    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.name == "Winter deals"
    assert str(campaign.control_percent) == "20.00"
    assert AuditEvent.objects.filter(action="campaign.update", object_id="winter").exists()


# --- launch, the detail page, stop ------------------------------------------------------------------------------------


def test_launching_from_the_page_runs_the_campaign_and_its_page_shows_the_figures(
    world, sent, bianca, client_as, django_capture_on_commit_callbacks
):
    campaign = campaign_make(world, "spring", channels=["email", "push"])
    client = client_as(bianca)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("frontend:campaign-launch", kwargs={"code": "spring"}))

    assert response.status_code == 302
    runs = {r.channel: r for r in CampaignRun.objects.filter(campaign=campaign)}
    assert set(runs) == {"email", "push"}
    assert all(r.status == RunStatus.DONE for r in runs.values())
    assert sent
    page = client.get(response["Location"])
    html = page.content.decode()
    assert "launched: its runs are below" in html
    for run in runs.values():
        row = _row(html, f'data-run="{run.public_id}"')
        assert f'data-field="audience">{run.audience}<' in row
        assert f'data-field="control">{run.control}<' in row
        assert f'data-field="queued">{run.queued}<' in row
        delivered = Delivery.objects.filter(run=run, status=DeliveryStatus.SENT).count()
        assert f'data-field="sent">{delivered}<' in row
        assert f'data-field="decided">{run.batch_run.done}<' in row
    assert 'data-active="false"' in html
    # and the JSON the page polls while a run goes says the same
    data = client.get(reverse("frontend:campaign-runs", kwargs={"code": "spring"})).json()
    assert data["active"] is False
    assert data["status"] == CampaignStatus.COMPLETED
    email = next(r for r in data["runs"] if r["channel"] == "email")
    assert (email["audience"], email["queued"], email["status"]) == (
        runs["email"].audience,
        runs["email"].queued,
        "done",
    )
    assert email["deliveries"]["sent"] == runs["email"].queued
    assert email["decided"] == email["total"] == len(world.bank.customers)
    assert AuditEvent.objects.filter(action="campaign.launch", object_id="spring", actor=bianca).exists()


def test_a_run_under_way_is_shown_as_active_so_the_page_follows_it(world, bianca, client_as):
    campaign = campaign_make(world, "spring")
    # Given a launch whose run has not been worked yet (no worker has taken it)
    campaign_launch(campaign=campaign, actor=world.editor, now=NOW)
    run = CampaignRun.objects.get(campaign=campaign)
    assert run.status == RunStatus.DECIDING

    client = client_as(bianca)
    html = client.get(reverse("frontend:campaign-detail", kwargs={"code": "spring"})).content.decode()
    data = client.get(reverse("frontend:campaign-runs", kwargs={"code": "spring"})).json()

    assert 'data-active="true"' in html
    assert "frontend/campaigns.js" in html
    assert data["active"] is True
    assert data["runs"][0]["id"] == str(run.public_id)


def test_a_campaign_that_cannot_be_launched_says_why(world, bianca, client_as):
    campaign_launched(world, "winter", schedule="triggered")

    response = client_as(bianca).post(reverse("frontend:campaign-launch", kwargs={"code": "winter"}), follow=True)

    assert "The campaign cannot be launched: a active campaign cannot be launched" in unescape(
        response.content.decode()
    )


def test_stopping_a_campaign_from_its_page_is_audited(world, bianca, client_as):
    campaign = campaign_launched(world, "winter", schedule="triggered")

    response = client_as(bianca).post(reverse("frontend:campaign-stop", kwargs={"code": "winter"}), follow=True)

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.STOPPED
    html = response.content.decode()
    assert "stopped: messages not yet sent are cancelled" in html
    assert 'id="launch"' in html
    assert "Relaunch" in html
    assert 'id="stop"' not in html
    assert AuditEvent.objects.filter(action="campaign.stop", object_id="winter", actor=bianca).exists()


def test_a_triggered_campaign_links_to_the_triggers_page(world, bianca, client_as):
    campaign_launched(world, "winter", schedule="triggered")

    html = client_as(bianca).get(reverse("frontend:campaign-detail", kwargs={"code": "winter"})).content.decode()

    assert 'href="/campaigns/triggers/?campaign=winter"' in html


def test_launch_and_stop_take_only_posts(world, bianca, client_as):
    campaign_make(world, "spring")
    client = client_as(bianca)

    assert client.get(reverse("frontend:campaign-launch", kwargs={"code": "spring"})).status_code == 405
    assert client.get(reverse("frontend:campaign-stop", kwargs={"code": "spring"})).status_code == 405
    assert Campaign.objects.get(code="spring").status == CampaignStatus.DRAFT


# --- dead letters -----------------------------------------------------------------------------------------------------


@pytest.fixture
def dead_letters(world, refused, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        # (recurring, so the campaign is still active when its letters are retried)
        campaign = campaign_launched(world, "spring", control_percent="0", schedule="recurring", every_days=7)
    dead = list(Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.DEAD))
    assert len(dead) > 2
    return dead


def test_the_dead_letter_page_lists_each_with_its_campaign_customer_attempts_and_error(dead_letters, bianca, client_as):
    html = client_as(bianca).get(reverse("frontend:dead-letters")).content.decode()

    for delivery in dead_letters:
        row = _row(html, f'id="delivery-{delivery.pk}"')
        assert "Spring" in row
        assert delivery.customer.external_id in row
        assert "refused: mailbox does not exist" in row
        assert f'<td class="num">{delivery.attempts}</td>' in row
        assert f'data-retry="{delivery.pk}"' in row
    assert 'id="retry-shown"' in html


def test_a_dead_letter_is_retried_from_its_row_and_the_retry_is_audited(
    dead_letters, bianca, client_as, monkeypatch, django_capture_on_commit_callbacks
):
    first = dead_letters[0]
    monkeypatch.setattr(channels_module, "channel_send", lambda delivery, *, now: "ok")

    with django_capture_on_commit_callbacks(execute=True):
        response = client_as(bianca).post(
            reverse("frontend:dead-letter-retry", kwargs={"pk": first.pk}), {"status": "dead", "campaign": "spring"}
        )

    assert response.status_code == 302
    assert response["Location"] == reverse("frontend:dead-letters") + "?status=dead&campaign=spring"
    first.refresh_from_db()
    assert first.status == DeliveryStatus.SENT
    assert Delivery.objects.filter(status=DeliveryStatus.DEAD).count() == len(dead_letters) - 1
    assert AuditEvent.objects.filter(action="delivery.retry", object_id=str(first.public_id), actor=bianca).exists()


def test_retry_all_shown_retries_each_dead_letter_shown_and_skips_those_no_longer_dead(
    dead_letters, bianca, client_as, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(channels_module, "channel_send", lambda delivery, *, now: "ok")
    client = client_as(bianca)
    page = client.get(reverse("frontend:dead-letters"))
    ids = [str(pk) for pk in page.context["dead_shown"]]
    assert sorted(ids) == sorted(str(d.pk) for d in dead_letters)
    Delivery.objects.filter(pk=dead_letters[0].pk).update(status=DeliveryStatus.SENT)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("frontend:dead-letters-retry"), {"ids": ids, "status": "dead"}, follow=True)

    assert f"{len(dead_letters) - 1} messages queued to be sent again. 1 no longer dead" in response.content.decode()
    assert not Delivery.objects.filter(status=DeliveryStatus.DEAD).exists()
    assert AuditEvent.objects.filter(action="delivery.retry").count() == len(dead_letters) - 1


def test_blocked_messages_are_listed_on_request_without_a_retry_button(
    world, sent, bianca, client_as, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        campaign = campaign_launched(world, "spring", control_percent="0")
    # Given a message stopped at send time (the outbox's own tests cover why)
    blocked = Delivery.objects.filter(campaign=campaign).first()
    Delivery.objects.filter(pk=blocked.pk).update(
        status=DeliveryStatus.BLOCKED, last_error="marketing consent withdrawn for email"
    )
    client = client_as(bianca)

    dead_only = client.get(reverse("frontend:dead-letters")).content.decode()
    html = client.get(reverse("frontend:dead-letters") + "?status=blocked").content.decode()

    assert 'id="no-dead-letters"' in dead_only
    row = _row(html, f'id="delivery-{blocked.pk}"')
    assert "Blocked at send time" in row
    assert "marketing consent withdrawn for email" in row
    assert "data-retry" not in row
    assert 'id="retry-shown"' not in html
    assert html.count('id="delivery-') == 1


def test_the_dead_letter_page_reads_one_page_at_a_time(dead_letters, bianca, client_as, monkeypatch):
    import frontend.campaign_views as views

    monkeypatch.setattr(views, "DEAD_LETTERS_PER_PAGE", 2)
    client = client_as(bianca)

    first = client.get(reverse("frontend:dead-letters"))
    last_page = (len(dead_letters) + 1) // 2
    last = client.get(reverse("frontend:dead-letters") + f"?page={last_page}")

    assert len(first.context["rows"]) == 2
    assert first.context["next_url"].endswith("page=2")
    assert first.context["previous_url"] == ""
    assert last.context["next_url"] == ""
    assert [d.pk for d in first.context["rows"]] == sorted((d.pk for d in dead_letters), reverse=True)[:2]


# --- who may do what --------------------------------------------------------------------------------------------------


def test_a_compliance_officer_reads_campaigns_and_dead_letters_but_changes_nothing(dead_letters, carlos, client_as):
    client = client_as(carlos)

    listing = client.get(reverse("frontend:campaign-list"))
    detail = client.get(reverse("frontend:campaign-detail", kwargs={"code": "spring"}))
    letters = client.get(reverse("frontend:dead-letters"))
    assert [listing.status_code, detail.status_code, letters.status_code] == [200, 200, 200]
    assert client.get(reverse("frontend:campaign-runs", kwargs={"code": "spring"})).status_code == 200
    for html in (listing.content.decode(), detail.content.decode(), letters.content.decode()):
        assert 'id="new-campaign"' not in html
        assert 'id="edit-campaign"' not in html
        assert 'id="retry-shown"' not in html
        assert "data-retry" not in html

    refused = [
        client.get(reverse("frontend:campaign-create")),
        client.post(reverse("frontend:campaign-create"), {"code": "x", "name": "X", "channels": ["email"]}),
        client.get(reverse("frontend:campaign-edit", kwargs={"code": "spring"})),
        client.post(reverse("frontend:campaign-stop", kwargs={"code": "spring"})),
        client.post(reverse("frontend:campaign-launch", kwargs={"code": "spring"})),
        client.post(reverse("frontend:dead-letter-retry", kwargs={"pk": dead_letters[0].pk})),
        client.post(reverse("frontend:dead-letters-retry"), {"ids": [d.pk for d in dead_letters]}),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert Delivery.objects.filter(status=DeliveryStatus.DEAD).count() == len(dead_letters)
    assert not AuditEvent.objects.filter(actor=carlos).exists()


def test_someone_without_a_role_sees_no_campaign_page(world, oscar, client_as):
    campaign_make(world, "spring")
    client = client_as(oscar)

    pages = [
        client.get(reverse("frontend:campaign-list")),
        client.get(reverse("frontend:campaign-detail", kwargs={"code": "spring"})),
        client.get(reverse("frontend:dead-letters")),
        client.get(reverse("frontend:campaign-runs", kwargs={"code": "spring"})),
    ]

    assert [p.status_code for p in pages] == [403, 403, 403, 403]
    assert b"Spring" not in pages[0].content


def test_anonymous_people_are_sent_to_sign_in(client_as):
    response = client_as(None).get(reverse("frontend:campaign-list"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("frontend:login"))


def test_the_campaigns_menu_item_follows_try_a_decision_for_those_who_may_see_campaigns(bianca, carlos, oscar):
    def labels(user):
        return [item.label for item in nav_items(user, None)]

    assert labels(bianca)[labels(bianca).index("Try a decision") + 1] == "Campaigns"
    assert "Campaigns" in labels(carlos)
    assert "Campaigns" not in labels(oscar)


def test_reserved_words_never_match_a_campaign_code_in_urls():
    assert reverse("frontend:campaign-create") == "/campaigns/new/"
    assert reverse("frontend:dead-letters") == "/campaigns/dead-letters/"
    assert re.fullmatch(r"/campaigns/new-year/", reverse("frontend:campaign-detail", kwargs={"code": "new-year"}))


def test_the_pages_cost_a_fixed_number_of_queries_whatever_the_rows(
    world, dead_letters, bianca, client_as, django_assert_max_num_queries
):
    for n in range(5):
        campaign_make(world, f"extra-{n}", channels=["email", "push"])
    client = client_as(bianca)

    with django_assert_max_num_queries(12):
        listing = client.get(reverse("frontend:campaign-list"))
    with django_assert_max_num_queries(12):
        letters = client.get(reverse("frontend:dead-letters"))
    with django_assert_max_num_queries(12):
        detail = client.get(reverse("frontend:campaign-detail", kwargs={"code": "spring"}))

    assert len(listing.context["rows"]) == 6
    assert len(letters.context["rows"]) == len(dead_letters)
    assert detail.status_code == 200
