"""Offer catalogue rows for tests."""

from __future__ import annotations

from decimal import Decimal

import factory

from decisioning.models import BusinessIssue, Offer, OfferGroup
from tests.factories.customers import ProductFactory


class BusinessIssueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BusinessIssue
        django_get_or_create = ("code",)

    code = "grow"
    name = "Grow"


class OfferGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OfferGroup

    issue = factory.SubFactory(BusinessIssueFactory)
    code = factory.Sequence(lambda n: f"group-{n}")
    name = factory.Sequence(lambda n: f"Group {n}")


class OfferFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Offer

    group = factory.SubFactory(OfferGroupFactory)
    product = factory.SubFactory(ProductFactory)
    code = factory.Sequence(lambda n: f"offer-{n}")
    name = factory.Sequence(lambda n: f"Offer {n}")
    headline_value = "4.1% APR"
    value = Decimal("120.00")
    currency = "EUR"
