"""Who may open which page: one story per persona."""

from __future__ import annotations

import pytest
from django.urls import reverse

from frontend.context_processors import nav_items

# Page -> URL; pages that need a row take it from the jane and task_run fixtures.
PAGES = {
    "home": lambda: reverse("frontend:home"),
    "customer-search": lambda: reverse("frontend:customer-search"),
    "customer-360": lambda: reverse("frontend:customer-360", kwargs={"external_id": "C000123"}),
    "import": lambda: reverse("frontend:import"),
    "task-run-list": lambda: reverse("frontend:task-run-list"),
    "task-run-detail": lambda: reverse("frontend:task-run-detail", kwargs={"task_id": "run-1"}),
    "audit-list": lambda: reverse("frontend:audit-list"),
}

ALLOWED = {
    "bianca": {"home", "customer-search", "customer-360", "import", "task-run-list", "task-run-detail"},
    "carlos": {"home", "customer-search", "customer-360", "task-run-list", "task-run-detail", "audit-list"},
    "alice_admin": set(PAGES),
    "oscar": {"home"},
}


@pytest.mark.parametrize("persona", sorted(ALLOWED))
@pytest.mark.parametrize("page", sorted(PAGES))
def test_each_persona_opens_only_the_pages_of_their_role(request, client_as, jane, task_run, persona, page):
    user = request.getfixturevalue(persona)

    response = client_as(user).get(PAGES[page]())

    if page in ALLOWED[persona]:
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        assert b"No access" in response.content
        assert b"Back to home" in response.content


@pytest.mark.parametrize("page", sorted(PAGES))
def test_anonymous_people_are_sent_to_the_login_page(client_as, jane, task_run, page):
    url = PAGES[page]()

    response = client_as(None).get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('frontend:login')}?next={url}"


@pytest.mark.parametrize(
    ("persona", "labels"),
    [
        (
            "bianca",
            [
                "Customers",
                "Imports",
                "Tasks",
                "Models",
                "Segments",
                "Offers",
                "Rules",
                "Levers",
                "Try a decision",
                "Campaigns",
                "Call centre",
                "Performance",
            ],
        ),
        (
            "carlos",
            [
                "Customers",
                "Tasks",
                "Models",
                "Segments",
                "Offers",
                "Rules",
                "Levers",
                "Try a decision",
                "Campaigns",
                "Call centre",
                "Performance",
                "Audit trail",
            ],
        ),
        (
            "alice_admin",
            [
                "Customers",
                "Imports",
                "Tasks",
                "Models",
                "Segments",
                "Offers",
                "Rules",
                "Levers",
                "Try a decision",
                "Campaigns",
                "Call centre",
                "Performance",
                "Audit trail",
                "Users & API clients",
            ],
        ),
        ("oscar", []),
    ],
)
def test_the_navigation_shows_the_pages_of_the_role(request, client_as, persona, labels):
    user = request.getfixturevalue(persona)

    assert [item.label for item in nav_items(user, None)] == labels
    response = client_as(user).get(reverse("frontend:home"))
    assert [item.label for item in response.context["nav_items"]] == labels


def test_the_admin_link_leads_to_the_admin_console(client_as, alice_admin):
    response = client_as(alice_admin).get(reverse("frontend:home"))

    assert b'href="/admin/"' in response.content
    assert client_as(alice_admin).get("/admin/").status_code == 200


def test_oscar_is_told_he_has_no_role_yet(client_as, oscar):
    response = client_as(oscar).get(reverse("frontend:home"))

    assert b"Your account has no role" in response.content


def test_the_current_page_is_marked_in_the_navigation(client_as, bianca):
    response = client_as(bianca).get(reverse("frontend:task-run-list"))

    active = [item.label for item in response.context["nav_items"] if item.active]
    assert active == ["Tasks"]


def test_a_person_signs_in_with_the_login_form_and_lands_on_home(client, bianca):
    page = client.get(reverse("frontend:login"))
    assert page.status_code == 200
    assert b"Sign in" in page.content

    response = client.post(reverse("frontend:login"), {"username": "bianca", "password": "pw-bianca"})

    assert response.status_code == 302
    assert response["Location"] == reverse("frontend:home")
    assert client.get(reverse("frontend:customer-search")).status_code == 200


def test_a_wrong_password_is_refused_with_a_message(client, bianca):
    response = client.post(reverse("frontend:login"), {"username": "bianca", "password": "wrong"})

    assert response.status_code == 200
    assert b"correct username and password" in response.content


def test_sign_out_takes_a_post_and_ends_the_session(client_as, bianca):
    client = client_as(bianca)

    assert client.get(reverse("frontend:logout")).status_code == 405
    response = client.post(reverse("frontend:logout"))

    assert response.status_code == 302
    assert response["Location"] == reverse("frontend:login")
    assert client.get(reverse("frontend:home")).status_code == 302
