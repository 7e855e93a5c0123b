from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from customers import models
from customers.importing.services import import_files

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.django_db(transaction=False)
def test_it_imports_every_entity(bank_files):
    report = import_files(paths=[bank_files], now=NOW)

    by_file = {f.entity: f for f in report.files}
    assert by_file["transactions"].inserted == 3
    assert models.Product.objects.count() == 3
    gold = models.Product.objects.get(code="CC_GOLD")
    assert sorted(gold.complementary.values_list("code", flat=True)) == ["CURRENT", "TRAVEL_INS"]
    c1 = models.Customer.objects.get(external_id="C1")
    assert c1.income == Decimal("42000.00")
    assert c1.marital_status == "married"
    c3 = models.Customer.objects.get(external_id="C3")
    assert c3.gender == "U"
    assert c3.risk_rating == "low"
    assert c3.income is None
    assert models.ContactDetails.objects.get(customer=c1).device_tokens == ["tok_a1", "tok_b2"]
    a1 = models.Account.objects.get(external_id="A1")
    assert sorted(a1.holders.values_list("customer__external_id", "role")) == [("C1", "primary"), ("C2", "joint")]
    balance = models.MonthlyBalance.objects.get(account=a1)
    assert balance.month == date(2025, 3, 1)
    assert balance.customer_id == c1.pk
    t2 = models.Transaction.objects.get(external_id="T2")
    # No offset: bank time (Europe/London, GMT in March before the switch).
    assert t2.booked_at == datetime(2025, 3, 15, 10, 0, tzinfo=UTC)
    assert t2.customer_id == c1.pk
    assert t2.mcc == ""
    t3 = models.Transaction.objects.get(external_id="T3")
    assert t3.booked_at == datetime(2025, 7, 1, 12, 30, tzinfo=UTC)
    assert models.Interaction.objects.get(external_id="I2").occurred_at == datetime(2025, 3, 15, 7, 0, tzinfo=UTC)
    assert models.CreditScore.objects.get(customer__external_id="C2").source == "bureau"
    assert models.MarketIndicator.objects.get().value == Decimal("3.412")
    assert models.FxRate.objects.get().rate == Decimal("0.92345678")
    assert models.Consent.objects.count() == 2
    offer = models.ContactHistory.objects.get(external_id="O1")
    assert offer.source == "import"
    assert offer.revenue == Decimal("180.00")
    assert offer.product == gold
    assert offer.received_at == NOW
    # New customers get their initial attribute values as history, from customer_since.
    income = models.CustomerAttributeChange.objects.get(customer=c1, attribute="income")
    assert income.value == "42000.00"
    assert income.effective_from == date(2012, 6, 1)
