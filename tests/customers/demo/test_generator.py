"""The demo bank: files that conform to the import format, determinism, and signal for the models."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from customers.demo import catalogue
from customers.demo.generator import DemoBankOptions, _Bank, demo_bank_generate
from customers.importing.formats import FORMATS, LOAD_ORDER
from tests.customers.demo.conformance import check_folder, read_rows

AS_OF = dt.date(2026, 11, 1)
WINDOW_START = dt.date(2025, 5, 1)


def _generate(folder: Path, customers: int, seed: int, **kwargs: object) -> Path:
    options = DemoBankOptions(customers=customers, seed=seed, as_of=AS_OF, **kwargs)  # type: ignore[arg-type]
    demo_bank_generate(options=options, out_dir=folder)
    return folder


@pytest.fixture(scope="module")
def small_bank(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, str]]]:
    folder = _generate(tmp_path_factory.mktemp("small-bank"), customers=150, seed=11)
    return check_folder(folder)


@pytest.fixture(scope="module")
def large_bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _generate(tmp_path_factory.mktemp("large-bank"), customers=2_000, seed=5)


def _date(value: str) -> dt.date:
    return dt.date.fromisoformat(value[:10])


def _page_views(folder: Path) -> dict[tuple[str, str], list[dt.date]]:
    views: dict[tuple[str, str], list[dt.date]] = defaultdict(list)
    for row in read_rows(folder / "interactions.csv")[1]:
        if row["event_type"] == "product_page_view":
            views[(row["customer_id"], row["product_code"])].append(_date(row["occurred_at"]))
    return views


def test_it_writes_every_import_file_with_exactly_the_format_columns(small_bank):
    assert set(small_bank) == set(LOAD_ORDER)
    for fmt in FORMATS:
        assert small_bank[fmt.name], f"{fmt.name}.csv is empty"


def test_every_value_conforms_to_the_format_and_every_reference_resolves(small_bank):
    # check_folder asserts types, allowed values, ranges, keys and references; here we
    # check the few rules the format states in words.
    customers = {row["customer_id"]: row for row in small_bank["customers"]}
    for row in small_bank["customers"]:
        assert row["income_currency"], "income needs its currency"
    for row in small_bank["accounts"]:
        assert row["opened_on"] >= customers[row["customer_id"]]["customer_since"]
        assert (row["status"] == "closed") == bool(row["closed_on"])
        if row["closed_on"]:
            assert row["closed_on"] > row["opened_on"]
    for row in small_bank["campaign_history"]:
        assert (row["outcome"] == "accepted") == bool(row["revenue"])
        if row["responded_at"]:
            assert row["responded_at"] >= row["offered_at"]
    for row in small_bank["transactions"]:
        assert row["booked_at"].endswith("+00:00")
        assert WINDOW_START.isoformat() <= row["booked_at"][:10] < AS_OF.isoformat()


def test_the_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path):
    first = _generate(tmp_path / "a", customers=60, seed=3)
    again = _generate(tmp_path / "b", customers=60, seed=3)
    other = _generate(tmp_path / "c", customers=60, seed=4)
    for name in LOAD_ORDER:
        assert (first / f"{name}.csv").read_bytes() == (again / f"{name}.csv").read_bytes(), name
    assert (first / "transactions.csv").read_bytes() != (other / "transactions.csv").read_bytes()
    assert not list(first.glob(".*")), "no temporary file is left behind"


def test_personas_give_a_sane_population(small_bank):
    customers = small_bank["customers"]
    ages = [(AS_OF - dt.date.fromisoformat(row["birth_date"])).days / 365.25 for row in customers]
    assert min(ages) >= 18
    assert max(ages) < 90
    assert 0.08 < sum(a >= 63 for a in ages) / len(ages) < 0.35
    employment = {row["employment_type"] for row in customers}
    assert {"employed", "self_employed", "student", "retired", "unemployed"} <= employment
    incomes = [float(row["income"]) for row in customers]
    assert 15_000 < statistics.median(incomes) < 80_000
    kyc = [row["kyc_status"] for row in customers]
    assert 0 < kyc.count("pending") + kyc.count("expired") < 0.1 * len(kyc)
    assert all(row["kyc_date"] == "" for row in customers if row["kyc_status"] == "pending")
    assert 0 < sum(row["sanctions_status"] == "potential_match" for row in customers) < 0.05 * len(customers)
    for flag in ("vulnerable", "do_not_contact"):
        assert 0 < sum(row[flag] == "true" for row in customers) < 0.1 * len(customers)
    per_customer = len(small_bank["transactions"]) / len(customers) / 18
    assert 20 < per_customer < 40, "about 30 transactions per customer and month"
    consents = small_bank["consents"]
    assert any(r["status"] == "withdrawn" and r["purpose"] == "profiling" for r in consents)
    assert any(r["status"] == "withdrawn" and r["purpose"] == "marketing" for r in consents)
    balances = small_bank["balances"]
    assert any(int(r["days_overdrawn"]) > 0 for r in balances)
    assert any(int(r["missed_payments"]) > 0 for r in balances)
    types = {r["event_type"] for r in small_bank["interactions"]}
    assert {"login", "product_page_view", "calculator_use", "service_call", "complaint", "survey"} <= types
    kinds = {(r["kind"], r["name"]) for r in small_bank["market_data"]}
    assert {("indicator", "base_rate"), ("indicator", "cpi"), ("indicator", "unemployment_rate")} <= kinds
    assert len({name for kind, name in kinds if kind == "fx_rate"}) == 2
    months = {r["offered_at"][:7] for r in small_bank["campaign_history"]}
    assert len(months) >= 12, "at least a year of campaigns"


def test_a_premium_card_is_an_upgrade_of_the_classic_card(small_bank):
    products = {row["product_code"]: row for row in small_bank["products"]}
    assert products["CC_PREMIUM"]["family"] == products["CC_CLASSIC"]["family"] == "card"
    assert int(products["CC_PREMIUM"]["tier"]) > int(products["CC_CLASSIC"]["tier"])
    families = {row["family"] for row in small_bank["products"]}
    assert families >= {"current_account", "savings", "card", "loan", "mortgage", "investment", "pension", "insurance"}


def test_take_ups_are_preceded_by_page_views_more_often_than_not(large_bank):
    views = _page_views(large_bank)
    _, accounts = read_rows(large_bank / "accounts.csv")
    _, customers = read_rows(large_bank / "customers.csv")
    since = {row["customer_id"]: row["customer_since"] for row in customers}
    preceded = taken = 0
    for row in accounts:
        opened = dt.date.fromisoformat(row["opened_on"])
        if opened < WINDOW_START or row["product_code"] == "CURRENT":
            continue
        taken += 1
        before = views.get((row["customer_id"], row["product_code"]), [])
        preceded += any(opened - dt.timedelta(days=45) <= day <= opened for day in before)
    assert taken > 100
    assert preceded / taken > 0.6
    # Browsing without buying exists too, so a view is a signal rather than a certainty.
    held = {(row["customer_id"], row["product_code"]) for row in accounts}
    assert sum(key not in held for key in views) > 0.3 * len(views)
    # Nobody views a product page before becoming a customer.
    assert all(since[c] <= min(days).isoformat() for (c, _), days in views.items())


def test_campaign_acceptance_follows_page_views_and_a_model_finds_the_signal(large_bank):
    views = _page_views(large_bank)
    _, offers = read_rows(large_bank / "campaign_history.csv")
    _, customers = read_rows(large_bank / "customers.csv")
    people = {row["customer_id"]: row for row in customers}
    codes = list(catalogue.PRODUCT_CODES)
    employment = sorted({row["employment_type"] for row in customers})
    features, labels, months = [], [], []
    for offer in offers:
        offered = _date(offer["offered_at"])
        seen = views.get((offer["customer_id"], offer["product_code"]), [])
        viewed = any(offered - dt.timedelta(days=45) <= day < offered for day in seen)
        person = people[offer["customer_id"]]
        age = (offered - dt.date.fromisoformat(person["birth_date"])).days / 365.25
        product = [float(offer["product_code"] == code) for code in codes]
        job = [float(person["employment_type"] == e) for e in employment]
        income = np.log1p(float(person["income"]))
        features.append(
            [
                float(viewed),
                age / 50,
                income / 10,
                *product,
                *job,
                *(p * income / 10 for p in product),
                *(p * age / 50 for p in product),
            ]
        )
        labels.append(offer["outcome"] == "accepted")
        months.append(offer["offered_at"][:7])
    x, y = np.array(features), np.array(labels)
    viewed = x[:, 0] == 1
    assert y[viewed].mean() > 2 * y[~viewed].mean()
    # Train on the earlier campaigns, score the later ones: a time-based holdout.
    cut = sorted(set(months))[-5]
    train = np.array([m < cut for m in months])
    model = LogisticRegression(max_iter=2_000).fit(x[train], y[train])
    auc = roc_auc_score(y[~train], model.predict_proba(x[~train])[:, 1])
    print(f"acceptance AUC on the later campaigns: {auc:.3f}")
    assert auc > 0.65, auc


def test_acceptance_is_likelier_when_the_product_fits_persona_and_life_events():
    # Given the generator's own view of fit (persona and life events, through the take-up hazard)
    bank = _Bank(DemoBankOptions(customers=3_000, seed=8, as_of=AS_OF))
    for step in (bank.customers, bank.life_events, bank.holdings, bank.consents, bank.research, bank.campaigns):
        step()
    customers, product, _, _, accepted, _, _, month = bank.offers
    fit = bank.hazard[customers, product, month]
    # Then the customers in the top quarter of fit accept far more often than the bottom half
    top = fit >= np.quantile(fit, 0.75)
    bottom = fit <= np.quantile(fit, 0.5)
    assert accepted[top].mean() > 2 * accepted[bottom].mean()


def test_an_accepted_offer_opens_the_account_by_the_response(large_bank):
    _, offers = read_rows(large_bank / "campaign_history.csv")
    _, accounts = read_rows(large_bank / "accounts.csv")
    opened = {(row["customer_id"], row["product_code"]): row["opened_on"] for row in accounts}
    accepted = [row for row in offers if row["outcome"] == "accepted"]
    assert accepted
    for row in accepted:
        assert opened[(row["customer_id"], row["product_code"])] <= row["responded_at"][:10]


def test_options_refuse_an_as_of_date_that_is_not_a_first_of_month():
    with pytest.raises(ValueError, match="first day of a month"):
        DemoBankOptions(customers=10, seed=1, as_of=dt.date(2026, 11, 2))
