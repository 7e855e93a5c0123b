"""Customer search and the Customer 360 page."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from customers.selectors import MASK
from tests.factories.customers import ContactDetailsFactory, CustomerFactory

JANE = ("Jane Okafor", "jane.okafor@example.org", "+44 7700 900123")


def page_of(client, external_id="C000123", **params):
    return client.get(reverse("frontend:customer-360", kwargs={"external_id": external_id}), params)


def test_the_page_shows_profile_kyc_consent_holdings_and_timelines(client_as, carlos, jane):
    response = page_of(client_as(carlos))

    assert response.status_code == 200
    html = response.content.decode()
    for expected in (
        "Profile",
        "North West",
        "KYC verified",
        "Sanctions clear",  # profile, KYC
        "C000123-CA",
        "Current account Plus",
        "with C000123-P",
        "C000123-SV",
        "Easy saver",  # holdings
        "Withdrawn",
        "Granted",  # consent
        "Salary",
        "+3,150.00 EUR",
        "-412.00 EUR",  # transactions
        "Product page view",
        "5-year fixed mortgage",  # interactions
        "Gold credit card",
        "Rejected",
        "SPRING25_CARDS",  # offers made
        'id="balance-chart"',
        'id="spending-chart"',
        'id="score-chart"',
        "frontend/vendor/chartjs/chart.umd.min.js",
    ):
        assert expected in html, expected


def test_the_charts_get_their_data_from_the_page(client_as, carlos, jane):
    response = page_of(client_as(carlos))

    charts = response.context["charts"]
    assert len(charts["balance"]["labels"]) == 12
    assert charts["balance"]["series"][0]["label"] == "EUR"
    assert charts["spending"]["labels"][0] == "Travel"
    assert charts["score"]["series"][0]["values"][-1] == 744
    embedded = response.content.decode().split('id="customer-charts" type="application/json">')[1].split("</script>")[0]
    assert json.loads(embedded) == charts


def test_compliance_officers_see_contact_details(client_as, carlos, jane):
    html = page_of(client_as(carlos)).content.decode()

    for value in JANE:
        assert value in html
    assert "Masked for your role" not in html


def test_administrators_see_contact_details(client_as, alice_admin, jane):
    html = page_of(client_as(alice_admin)).content.decode()

    for value in JANE:
        assert value in html


def test_business_users_see_contact_details_masked_and_nowhere_else_on_the_page(client_as, bianca, jane):
    html = page_of(client_as(bianca)).content.decode()

    assert "Masked for your role" in html
    assert MASK in html
    for value in (*JANE, "Okafor", "Jane", "900123", "example.org"):
        assert value not in html, value


def test_business_users_cannot_find_a_customer_by_name_or_email(client_as, bianca, jane):
    client = client_as(bianca)

    by_name = client.get(reverse("frontend:customer-search"), {"q": "Okafor"})
    by_email = client.get(reverse("frontend:customer-search"), {"q": "jane.okafor@example.org"})

    assert by_name.context["results"] == []
    assert by_email.context["results"] == []
    assert "names and e-mail addresses are not searchable" in by_name.content.decode()


def test_business_users_find_customers_by_bank_id_without_their_names(client_as, bianca, jane):
    response = client_as(bianca).get(reverse("frontend:customer-search"), {"q": "C0001"})

    html = response.content.decode()
    assert [r.customer.external_id for r in response.context["results"]] == ["C000123", "C000123-P"]
    assert "Okafor" not in html
    assert reverse("frontend:customer-360", kwargs={"external_id": "C000123"}) in html


def test_compliance_officers_find_customers_by_name_and_see_them(client_as, carlos, jane):
    response = client_as(carlos).get(reverse("frontend:customer-search"), {"q": "okafor"})

    assert [r.customer.external_id for r in response.context["results"]] == ["C000123"]
    assert "Jane Okafor" in response.content.decode()


def test_a_bank_id_typed_in_full_opens_the_customer(client_as, bianca, jane):
    response = client_as(bianca).get(reverse("frontend:customer-search"), {"q": "c000123"})

    assert response.status_code == 302
    assert response["Location"] == reverse("frontend:customer-360", kwargs={"external_id": "C000123"})


def test_a_too_short_search_is_refused_with_a_message(client_as, bianca, jane):
    response = client_as(bianca).get(reverse("frontend:customer-search"), {"q": "C"})

    assert response.context["results"] is None
    assert "at least 2 characters" in response.content.decode()


def test_a_search_without_hits_says_so(client_as, bianca, jane):
    response = client_as(bianca).get(reverse("frontend:customer-search"), {"q": "ZZ9"})

    assert "No customer matches" in response.content.decode()


def test_an_unknown_customer_is_not_found(client_as, carlos, db):
    response = page_of(client_as(carlos), "NOPE")

    assert response.status_code == 404
    assert "No customer with bank id NOPE" in response.content.decode()


def test_transactions_come_fifty_to_a_page(client_as, carlos, jane):
    client = client_as(carlos)

    first = page_of(client)
    second = page_of(client, page=2)

    assert len(first.context["c"].transactions.object_list) == 50
    assert len(second.context["c"].transactions.object_list) == 13
    assert "?page=2#transactions" in first.content.decode()
    assert "51–63 of 63" in second.content.decode()


def test_a_customer_with_no_history_gets_an_empty_page_that_says_so(client_as, carlos, db):
    ContactDetailsFactory(customer=CustomerFactory(external_id="NEW1"), erased_at="2025-01-01T00:00:00Z")

    html = page_of(client_as(carlos), "NEW1").content.decode()

    for expected in (
        "No accounts.",
        "No balances reported.",
        "No spending in the last 3 months.",
        "No transactions.",
        "No interactions.",
        "No offers made yet.",
        "No credit scores.",
        "Erased at the customer",
    ):
        assert expected in html, expected
    assert 'id="balance-chart"' not in html


@pytest.mark.parametrize("persona", ["bianca", "carlos"])
def test_the_page_costs_a_fixed_number_of_queries(request, client_as, jane, persona, django_assert_max_num_queries):
    from modeling.registry import active_models_clear

    client = client_as(request.getfixturevalue(persona))
    active_models_clear()  # the process caches the active set for a second: count its query every time

    # session, user, customer, the ten Customer 360 reads, the customer's segments and the active models
    with django_assert_max_num_queries(15):
        response = page_of(client)

    assert response.status_code == 200


def test_the_page_shows_real_time_propensities_from_the_active_models(client_as, bianca, settings, tmp_path):
    from tests.modeling.scoring_setup import bank_build, caches_clear

    settings.MODEL_DIR = tmp_path
    bank = bank_build(20)
    customer = bank.customers[3]

    page = client_as(bianca).get(reverse("frontend:customer-360", args=[customer.external_id])).content.decode()
    caches_clear()

    assert 'id="propensities"' in page
    for product in bank.products:
        assert product.name in page
    assert page.count("%</td>") == len(bank.products)
    assert f"/models/{bank.versions['EASY_SAVER'].public_id}/" in page


def test_without_an_active_model_the_page_says_decisions_use_rules_alone(client_as, bianca, jane):
    page = client_as(bianca).get(reverse("frontend:customer-360", args=[jane.external_id])).content.decode()

    assert "rules alone" in page
