"""The admin console: role-based access, read-only records, audited changes, cheap lists."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from core.admin import EstimatedCountPaginator
from core.authentication import token_hash
from core.models import ApiClient, AuditEvent, Role, TaskRun, User
from customers.models import ContactDetails, Transaction
from tests.factories.customers import AccountFactory, ContactDetailsFactory, CustomerFactory, TransactionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def static_files(settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def _staff(username: str, role: str) -> Client:
    user = User.objects.create_user(username=username, password="pw", role=role, is_staff=True)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client_(alice_admin, static_files) -> Client:
    client = Client()
    client.force_login(alice_admin)
    return client


@pytest.fixture
def some_data(mobile_app):
    for _n in range(3):
        customer = CustomerFactory()
        ContactDetailsFactory(customer=customer)
        account = AccountFactory(customer=customer)
        for _ in range(3):
            TransactionFactory(account=account)
    TaskRun.objects.create(task_id="t1", name="customers.events_received")


def _changelists() -> list[str]:
    from django.contrib import admin

    return [
        f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist"
        for m in admin.site._registry
        if m._meta.app_label in ("core", "customers")
    ]


@pytest.mark.parametrize("name", _changelists())
def test_every_list_loads_for_an_administrator_in_a_few_queries(
    admin_client_, some_data, name, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        response = admin_client_.get(reverse(name))
    assert response.status_code == 200


def test_people_without_staff_access_do_not_reach_the_admin(bianca, static_files):
    client = Client()
    client.force_login(bianca)
    response = client.get(reverse("admin:customers_customer_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_contact_details_are_hidden_from_roles_that_do_not_need_them(static_files):
    CustomerFactory(external_id="C1")
    business = _staff("bea", Role.BUSINESS)
    assert business.get(reverse("admin:customers_customer_changelist")).status_code == 200
    assert business.get(reverse("admin:customers_contactdetails_changelist")).status_code == 403
    assert b"Contact details" not in business.get(reverse("admin:index")).content
    compliance = _staff("cora", Role.COMPLIANCE)
    assert compliance.get(reverse("admin:customers_contactdetails_changelist")).status_code == 200


def test_facts_and_records_are_read_only(admin_client_, some_data):
    txn = Transaction.objects.first()
    assert admin_client_.get(reverse("admin:customers_transaction_add")).status_code == 403
    assert (
        admin_client_.post(reverse("admin:customers_transaction_delete", args=[txn.pk]), {"post": "yes"}).status_code
        == 403
    )
    page = admin_client_.get(reverse("admin:customers_transaction_change", args=[txn.pk]))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert admin_client_.get(reverse("admin:core_auditevent_add")).status_code == 403
    assert admin_client_.get(reverse("admin:core_taskrun_add")).status_code == 403


def test_creating_an_api_client_shows_the_token_once_and_stores_only_its_hash(admin_client_, alice_admin):
    response = admin_client_.post(
        reverse("admin:core_apiclient_add"), {"name": "web-site", "scopes": ["events", "decisions"]}, follow=True
    )
    assert response.status_code == 200
    client = ApiClient.objects.get(name="web-site")
    assert client.scopes == ["decisions", "events"]
    assert client.created_by == alice_admin
    token_messages = [str(m) for m in get_messages(response.wsgi_request)] or [
        m.message for m in response.context["messages"]
    ]
    token = next(m.split(": ", 1)[1].split(" ", 1)[0] for m in token_messages if m.startswith("Token for"))
    assert client.token_hash == token_hash(token)
    assert token not in str(ApiClient.objects.filter(pk=client.pk).values().get())
    assert AuditEvent.objects.filter(action="api_client.create", actor=alice_admin).exists()
    # the token is not shown again
    page = admin_client_.get(reverse("admin:core_apiclient_change", args=[client.pk]))
    assert token not in page.content.decode()


def test_revoking_clients_is_an_audited_action(admin_client_, mobile_app):
    admin_client_.post(
        reverse("admin:core_apiclient_changelist"),
        {"action": "revoke", "_selected_action": [mobile_app.client.pk]},
    )
    mobile_app.client.refresh_from_db()
    assert mobile_app.client.is_active is False
    assert AuditEvent.objects.filter(action="api_client.revoke").exists()


def test_changing_a_role_in_the_admin_is_audited(admin_client_, bianca):
    url = reverse("admin:core_user_change", args=[bianca.pk])
    form = admin_client_.get(url).context["adminform"].form
    data = {
        k: v for k, v in form.initial.items() if v is not None and k not in ("groups", "user_permissions", "password")
    }
    data.update({"role": Role.COMPLIANCE, "date_joined_0": "2025-01-01", "date_joined_1": "10:00:00"})
    response = admin_client_.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    bianca.refresh_from_db()
    assert bianca.role == Role.COMPLIANCE
    event = AuditEvent.objects.get(action="user.change")
    assert event.actor.username == "alice"
    assert event.before["role"] == "business"
    assert event.after["role"] == "compliance"


def test_deactivating_a_user_in_the_admin_is_audited(admin_client_, bianca):
    url = reverse("admin:core_user_change", args=[bianca.pk])
    form = admin_client_.get(url).context["adminform"].form
    data = {
        k: v for k, v in form.initial.items() if v is not None and k not in ("groups", "user_permissions", "password")
    }
    data.update({"is_active": False, "date_joined_0": "2025-01-01", "date_joined_1": "10:00:00"})
    response = admin_client_.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    bianca.refresh_from_db()
    assert bianca.is_active is False
    event = AuditEvent.objects.get(action="user.change")
    assert event.before["is_active"] is True
    assert event.after["is_active"] is False


def test_erasing_contact_details_from_the_admin_is_audited(static_files):
    customer = CustomerFactory()
    ContactDetailsFactory(customer=customer, email="jane@example.org")
    compliance = _staff("cora", Role.COMPLIANCE)
    compliance.post(
        reverse("admin:customers_contactdetails_changelist"),
        {"action": "erase", "_selected_action": [ContactDetails.objects.get().pk]},
    )
    assert ContactDetails.objects.get().email == ""
    assert AuditEvent.objects.get(action="contact_details.erase").actor_label == "cora"


def test_the_paginator_counts_small_or_filtered_lists_exactly(some_data):
    assert EstimatedCountPaginator(Transaction.objects.all(), 5).count == 9
    assert (
        EstimatedCountPaginator(Transaction.objects.filter(amount__lt=0), 5).count
        == Transaction.objects.filter(amount__lt=0).count()
    )


@pytest.mark.postgres
def test_the_paginator_takes_the_planner_estimate_for_a_big_unfiltered_table(some_data, monkeypatch):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the estimate comes from PostgreSQL's pg_class; SQLite always counts")
    monkeypatch.setattr("core.admin.ESTIMATE_ABOVE", 5)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Transaction._meta.db_table}")
    # rows added after ANALYZE are not in the estimate: proof it did not count
    TransactionFactory(account=AccountFactory())
    assert EstimatedCountPaginator(Transaction.objects.all(), 5).count == 9
    assert Transaction.objects.count() == 10
