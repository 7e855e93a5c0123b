"""Small import files for the tests, written to tmp_path as the bank would send them."""

from __future__ import annotations

from pathlib import Path

import pytest

FILES: dict[str, str] = {
    "products": (
        "product_code,name,family,tier,complementary_codes,value,currency,is_credit,min_age,retired_on\n"
        "CURRENT,Current account,current_account,1,,20.00,EUR,false,18,\n"
        "CC_GOLD,Gold credit card,card,2,TRAVEL_INS;CURRENT,180.00,EUR,true,21,\n"
        "TRAVEL_INS,Travel insurance,insurance,1,,35.50,EUR,no,18,\n"
    ),
    "customers": (
        "customer_id,birth_date,gender,marital_status,region,employment_type,income,income_currency,"
        "customer_since,kyc_status,kyc_date,sanctions_status,risk_rating,do_not_contact,vulnerable,effective_date\n"
        "C1,1984-03-17,F,married,North West,employed,42000.00,EUR,2012-06-01,verified,2025-01-15,clear,low,false,false,\n"
        "C2,1990-12-01,M,single,London,self_employed,,,2020-02-02,pending,,clear,medium,1,0,\n"
        "C3,1950-07-07,,,,,,,2001-01-01,verified,,clear,,,,\n"
    ),
    "contacts": (
        "customer_id,first_name,last_name,email,phone,device_tokens,language\n"
        "C1,Ana,Silva,ana.silva@example.org,+351912345678,tok_a1;tok_b2,pt\n"
        "C2,Ben,Jones,ben@example.org,,,en\n"
    ),
    "accounts": (
        "account_id,customer_id,product_code,opened_on,closed_on,status,currency,joint_holder_ids\n"
        "A1,C1,CURRENT,2019-04-02,,open,EUR,C2\n"
        "A2,C2,CC_GOLD,2021-05-05,,open,EUR,\n"
        "A3,C3,CURRENT,2005-01-01,2024-01-31,closed,EUR,\n"
    ),
    "balances": (
        "account_id,month,average_balance,end_balance,currency,days_overdrawn,missed_payments\n"
        "A1,2025-03,2450.17,1980.00,EUR,0,0\n"
        "A2,2025-03,-150.00,,EUR,3,1\n"
    ),
    "transactions": (
        "transaction_id,account_id,booked_at,amount,currency,category,mcc,channel\n"
        "T1,A1,2025-03-14T09:26:53+00:00,-42.80,EUR,groceries,5411,card_present\n"
        "T2,A1,2025-03-15T10:00:00,2500.00,EUR,salary,,transfer\n"
        "T3,A2,2025-07-01 12:30:00Z,-19.99,EUR,dining,5812,card_online\n"
    ),
    "interactions": (
        "interaction_id,customer_id,occurred_at,channel,event_type,product_code,satisfaction\n"
        "I1,C1,2025-03-14T19:02:11+00:00,app,product_page_view,CC_GOLD,\n"
        "I2,C2,2025-03-15T08:00:00+01:00,call_centre,survey,,4\n"
    ),
    "credit_scores": ("customer_id,scored_on,score,source\nC1,2025-02-01,712,bureau\nC2,2025-02-01,640,\n"),
    "market_data": ("date,kind,name,value\n2025-03-31,indicator,euribor3m,3.412\n2025-03-31,fx_rate,USD,0.92345678\n"),
    "consents": (
        "customer_id,channel,purpose,status,effective_at,source\n"
        "C1,email,marketing,granted,2024-11-02T10:00:00+00:00,app_onboarding\n"
        "C1,email,marketing,withdrawn,2025-01-02T10:00:00+00:00,\n"
    ),
    "campaign_history": (
        "offer_id,customer_id,campaign_code,product_code,channel,offered_at,outcome,responded_at,revenue\n"
        "O1,C1,SPRING25_CARDS,CC_GOLD,email,2025-03-01T08:00:00+00:00,accepted,2025-03-03T12:41:00+00:00,180.00\n"
        "O2,C2,SPRING25_CARDS,CC_GOLD,app_push,2025-03-01T08:00:00+00:00,no_response,,\n"
    ),
}


def write(folder: Path, name: str, text: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def bank_files(tmp_path: Path) -> Path:
    """A folder with one small valid file per entity."""
    folder = tmp_path / "bank"
    for entity, text in FILES.items():
        write(folder, f"{entity}.csv", text)
    return folder


def table_counts() -> dict[str, tuple[int, str]]:
    """Every table of the bank's data as (row count, hash of its contents), so a
    failed import that changed a value, not only one that added a row, shows up."""
    import hashlib

    from django.apps import apps

    snapshot = {}
    for model in apps.get_app_config("customers").get_models():
        rows = model.objects.order_by("pk").values_list()
        digest = hashlib.sha256(repr(list(rows)).encode()).hexdigest()
        snapshot[model.__name__] = (len(rows), digest)
    return snapshot
