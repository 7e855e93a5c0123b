"""The audit trail page for compliance officers."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from core.services import audit_record


@pytest.fixture
def events(alice_admin, bianca):
    at = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
    audit_record(
        actor=alice_admin, action="user.create", object_type="user", object_id=7, after={"role": "business"}, now=at
    )
    audit_record(actor=alice_admin, action="user.set_role", object_type="user", object_id=7, now=at)
    audit_record(
        actor=bianca, action="rule_set.publish", object_type="rule_set", object_id=3, now=at + dt.timedelta(days=2)
    )
    audit_record(
        actor=None, action="api_client.create", object_type="api_client", object_id=1, now=at + dt.timedelta(days=5)
    )


def listed(client, **params) -> list[str]:
    response = client.get(reverse("frontend:audit-list"), params)
    assert response.status_code == 200
    return [e.action for e in response.context["page"]]


def test_the_audit_trail_lists_events_newest_first(client_as, carlos, events):
    client = client_as(carlos)

    assert listed(client) == ["api_client.create", "rule_set.publish", "user.set_role", "user.create"]
    html = client.get(reverse("frontend:audit-list")).content.decode()
    assert "user:7" in html
    assert "system" in html


def test_the_audit_trail_filters_by_actor_action_and_object(client_as, carlos, events):
    client = client_as(carlos)

    assert listed(client, actor="bian") == ["rule_set.publish"]
    assert listed(client, action="user.") == ["user.set_role", "user.create"]
    assert listed(client, object_type="user", object_id="7", action="user.create") == ["user.create"]
    assert listed(client, object_type="rule_set") == ["rule_set.publish"]


def test_the_audit_trail_filters_by_bank_calendar_dates(client_as, carlos, events):
    client = client_as(carlos)

    assert listed(client, since="2026-03-11", until="2026-03-12") == ["rule_set.publish"]
    assert listed(client, until="2026-03-10") == ["user.set_role", "user.create"]


def test_a_reversed_date_range_is_refused_with_a_message(client_as, carlos, events):
    response = client_as(carlos).get(reverse("frontend:audit-list"), {"since": "2026-03-12", "until": "2026-03-01"})

    assert "The end date is before the start date." in response.content.decode()


def test_the_audit_trail_pages_keep_the_filters(client_as, carlos, alice_admin, django_assert_max_num_queries):
    for n in range(60):
        audit_record(actor=alice_admin, action="user.create", object_type="user", object_id=n)
    client = client_as(carlos)

    with django_assert_max_num_queries(4):
        response = client.get(reverse("frontend:audit-list"), {"action": "user."})

    assert len(response.context["page"].object_list) == 50
    assert "?action=user.&amp;page=2" in response.content.decode()
    assert len(client.get(reverse("frontend:audit-list"), {"action": "user.", "page": 2}).context["page"]) == 10
