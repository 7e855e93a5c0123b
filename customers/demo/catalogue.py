"""The demo bank's products, personas and life events, as plain data.

The numbers here drive who holds what, who takes up what during the history
window and who accepts which campaign offer. They are tuned so that take-ups
follow persona, life events and product-page views: the signal the propensity
models are meant to find.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoProduct:
    code: str
    name: str
    family: str
    tier: int
    complementary: tuple[str, ...]
    value: str
    is_credit: bool
    min_age: int
    has_balance: bool
    researched: bool  # customers use its calculator before buying


PRODUCTS: tuple[DemoProduct, ...] = (
    DemoProduct(
        "CURRENT", "Everyday current account", "current_account", 1, ("SAVINGS",), "60.00", False, 16, True, False
    ),
    DemoProduct("SAVINGS", "Instant access savings", "savings", 1, ("CURRENT",), "40.00", False, 16, True, True),
    DemoProduct("CC_CLASSIC", "Classic credit card", "card", 1, ("TRAVEL_INS",), "120.00", True, 18, True, False),
    DemoProduct(
        "CC_PREMIUM", "Premium credit card", "card", 2, ("TRAVEL_INS", "INVEST_FUND"), "320.00", True, 21, True, False
    ),
    DemoProduct("PERSONAL_LOAN", "Personal loan", "loan", 1, (), "450.00", True, 18, True, True),
    DemoProduct("MORTGAGE", "Home mortgage", "mortgage", 1, ("HOME_INS",), "2400.00", True, 21, True, True),
    DemoProduct(
        "INVEST_FUND", "Global investment fund", "investment", 1, ("PENSION",), "300.00", False, 18, True, True
    ),
    DemoProduct("PENSION", "Personal pension", "pension", 1, ("INVEST_FUND",), "500.00", False, 18, True, True),
    DemoProduct("HOME_INS", "Home insurance", "insurance", 1, ("MORTGAGE",), "150.00", False, 18, False, True),
    DemoProduct(
        "TRAVEL_INS", "Annual travel insurance", "insurance", 1, ("CC_PREMIUM",), "60.00", False, 18, False, False
    ),
)
PRODUCT_CODES: tuple[str, ...] = tuple(p.code for p in PRODUCTS)
P = {code: i for i, code in enumerate(PRODUCT_CODES)}

PERSONAS: tuple[str, ...] = (
    "student",
    "young_professional",
    "family",
    "affluent",
    "retiree",
    "financially_stretched",
)
PERSONA_WEIGHTS = (0.12, 0.22, 0.25, 0.12, 0.17, 0.12)
# Age range (inclusive) at the as-of date.
PERSONA_AGES = ((18, 25), (23, 36), (29, 52), (35, 66), (63, 88), (20, 60))
# Median declared gross yearly income and its spread (lognormal sigma).
PERSONA_INCOME = ((9_000, 0.4), (38_000, 0.3), (46_000, 0.35), (115_000, 0.4), (24_000, 0.3), (17_000, 0.3))
# Logins per month.
PERSONA_LOGINS = (8.0, 9.0, 7.0, 5.0, 2.0, 6.0)
# Base credit score.
PERSONA_SCORE = (600, 700, 720, 800, 760, 520)

EMPLOYMENT = ("employed", "self_employed", "unemployed", "student", "retired", "homemaker", "other")
PERSONA_EMPLOYMENT = (
    (0.15, 0.0, 0.0, 0.85, 0.0, 0.0, 0.0),
    (0.85, 0.15, 0.0, 0.0, 0.0, 0.0, 0.0),
    (0.75, 0.15, 0.0, 0.0, 0.0, 0.10, 0.0),
    (0.60, 0.40, 0.0, 0.0, 0.0, 0.0, 0.0),
    (0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0),
    (0.55, 0.0, 0.30, 0.0, 0.0, 0.0, 0.15),
)
MARITAL = ("single", "married", "partnership", "divorced", "widowed", "unknown")
PERSONA_MARITAL = (
    (0.92, 0.01, 0.05, 0.0, 0.0, 0.02),
    (0.55, 0.20, 0.22, 0.02, 0.0, 0.01),
    (0.05, 0.70, 0.20, 0.05, 0.0, 0.0),
    (0.15, 0.60, 0.10, 0.12, 0.02, 0.01),
    (0.08, 0.50, 0.04, 0.10, 0.28, 0.0),
    (0.45, 0.20, 0.10, 0.20, 0.03, 0.02),
)
REGIONS = ("Capital", "North West", "North East", "Midlands", "South East", "South West", "East", "Wales")

# Probability of holding each product when the window starts (columns in PRODUCTS order).
# CURRENT is always held; CC_PREMIUM replaces CC_CLASSIC when both are drawn.
PERSONA_HOLDINGS = (
    (1, 0.30, 0.10, 0.00, 0.02, 0.00, 0.01, 0.00, 0.00, 0.05),
    (1, 0.45, 0.40, 0.08, 0.12, 0.10, 0.08, 0.15, 0.08, 0.15),
    (1, 0.55, 0.50, 0.10, 0.20, 0.50, 0.10, 0.30, 0.45, 0.25),
    (1, 0.75, 0.30, 0.55, 0.05, 0.55, 0.55, 0.60, 0.50, 0.40),
    (1, 0.70, 0.35, 0.10, 0.02, 0.10, 0.25, 0.40, 0.45, 0.25),
    (1, 0.10, 0.45, 0.00, 0.35, 0.05, 0.00, 0.02, 0.05, 0.02),
)
# Monthly take-up hazard during the window for a product not yet held.
PERSONA_HAZARD = (
    (0, 0.010, 0.008, 0.000, 0.002, 0.000, 0.001, 0.000, 0.000, 0.003),
    (0, 0.010, 0.008, 0.003, 0.006, 0.002, 0.006, 0.006, 0.002, 0.004),
    (0, 0.008, 0.005, 0.003, 0.008, 0.003, 0.004, 0.005, 0.004, 0.004),
    (0, 0.006, 0.002, 0.010, 0.001, 0.002, 0.012, 0.008, 0.004, 0.006),
    (0, 0.005, 0.002, 0.002, 0.001, 0.000, 0.006, 0.002, 0.003, 0.005),
    (0, 0.002, 0.010, 0.000, 0.015, 0.000, 0.000, 0.000, 0.001, 0.001),
)

LIFE_EVENTS: tuple[str, ...] = ("pay_rise", "new_child", "moving_house", "travel")
# Chance per customer of each life event during the window.
PERSONA_EVENTS = (
    (0.00, 0.00, 0.04, 0.25),
    (0.35, 0.08, 0.12, 0.40),
    (0.25, 0.15, 0.10, 0.35),
    (0.30, 0.02, 0.08, 0.50),
    (0.00, 0.00, 0.03, 0.30),
    (0.10, 0.04, 0.04, 0.05),
)
# Months, relative to the event's month, during which it lifts take-up, and the
# multiplier it applies to each product's hazard.
EVENT_SPAN = {"pay_rise": (0, 4), "new_child": (0, 5), "moving_house": (-2, 2), "travel": (-2, 0)}
EVENT_LIFT = {
    "pay_rise": {"CC_PREMIUM": 12, "INVEST_FUND": 8, "PENSION": 6, "SAVINGS": 4},
    "new_child": {"SAVINGS": 8, "HOME_INS": 6, "PENSION": 4, "PERSONAL_LOAN": 3},
    "moving_house": {"MORTGAGE": 60, "HOME_INS": 25, "PERSONAL_LOAN": 5},
    "travel": {"TRAVEL_INS": 25, "CC_CLASSIC": 4, "CC_PREMIUM": 3},
}

# Spending categories drawn for everyday card and cash transactions, per persona.
SPEND_CATEGORIES = (
    "groceries",
    "dining",
    "transport",
    "fuel",
    "shopping",
    "entertainment",
    "health",
    "education",
    "cash",
    "gambling",
    "transfer_out",
    "other",
)
PERSONA_SPEND = (
    (0.22, 0.18, 0.14, 0.00, 0.14, 0.12, 0.02, 0.06, 0.06, 0.01, 0.03, 0.02),
    (0.22, 0.20, 0.10, 0.06, 0.16, 0.11, 0.03, 0.01, 0.03, 0.01, 0.04, 0.03),
    (0.34, 0.10, 0.06, 0.10, 0.18, 0.06, 0.05, 0.03, 0.03, 0.00, 0.03, 0.02),
    (0.20, 0.24, 0.05, 0.08, 0.20, 0.10, 0.04, 0.01, 0.01, 0.00, 0.05, 0.02),
    (0.36, 0.10, 0.08, 0.06, 0.14, 0.04, 0.10, 0.00, 0.08, 0.00, 0.02, 0.02),
    (0.32, 0.08, 0.10, 0.05, 0.10, 0.05, 0.03, 0.00, 0.14, 0.07, 0.03, 0.03),
)
# Median amount in the base currency and lognormal spread, per spending category.
SPEND_AMOUNT = {
    "groceries": (35, 0.6),
    "dining": (24, 0.5),
    "transport": (9, 0.6),
    "fuel": (55, 0.3),
    "shopping": (40, 0.8),
    "entertainment": (20, 0.6),
    "health": (30, 0.7),
    "education": (60, 0.8),
    "cash": (50, 0.5),
    "gambling": (25, 0.9),
    "transfer_out": (80, 0.9),
    "other": (25, 0.8),
    "travel": (180, 0.8),
    "childcare": (320, 0.3),
    "utilities": (70, 0.3),
    "insurance": (30, 0.3),
    "fees": (15, 0.4),
}
MCC = {
    "groceries": "5411",
    "dining": "5812",
    "transport": "4111",
    "fuel": "5541",
    "shopping": "5311",
    "entertainment": "7832",
    "health": "8011",
    "education": "8220",
    "cash": "6011",
    "gambling": "7995",
    "travel": "4511",
    "childcare": "8351",
    "utilities": "4900",
    "insurance": "6300",
    "fees": "",
    "transfer_out": "",
    "other": "5999",
}
FIRST_NAMES = (
    "Ana",
    "Ben",
    "Carla",
    "David",
    "Elena",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kate",
    "Luis",
    "Maya",
    "Nikos",
    "Olga",
    "Pedro",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Umar",
    "Vera",
    "Wen",
    "Yusuf",
    "Zoe",
)
LAST_NAMES = (
    "Silva",
    "Smith",
    "Costa",
    "Jones",
    "Novak",
    "Garcia",
    "Murphy",
    "Rossi",
    "Khan",
    "Berg",
    "Dubois",
    "Evans",
    "Fischer",
    "Horvat",
    "Ibrahim",
    "Kowalski",
    "Lopes",
    "Meyer",
    "Nielsen",
    "Okafor",
    "Patel",
    "Santos",
)
