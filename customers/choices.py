"""Allowed values of the bank's data, shared by the models, the import formats and the event API."""

from django.db import models


class Gender(models.TextChoices):
    FEMALE = "F", "Female"
    MALE = "M", "Male"
    OTHER = "X", "Other / non-binary"
    UNKNOWN = "U", "Not stated"


class MaritalStatus(models.TextChoices):
    SINGLE = "single"
    MARRIED = "married"
    PARTNERSHIP = "partnership"
    DIVORCED = "divorced"
    WIDOWED = "widowed"
    UNKNOWN = "unknown"


class EmploymentType(models.TextChoices):
    EMPLOYED = "employed"
    SELF_EMPLOYED = "self_employed"
    UNEMPLOYED = "unemployed"
    STUDENT = "student"
    RETIRED = "retired"
    HOMEMAKER = "homemaker"
    OTHER = "other"
    UNKNOWN = "unknown"


class KycStatus(models.TextChoices):
    VERIFIED = "verified"
    PENDING = "pending"
    EXPIRED = "expired"
    FAILED = "failed"


class SanctionsStatus(models.TextChoices):
    CLEAR = "clear"
    POTENTIAL_MATCH = "potential_match"
    HIT = "hit"


class RiskRating(models.TextChoices):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class ProductFamily(models.TextChoices):
    CURRENT_ACCOUNT = "current_account", "Current account"
    SAVINGS = "savings", "Savings"
    CARD = "card", "Cards"
    LOAN = "loan", "Loans"
    MORTGAGE = "mortgage", "Mortgages"
    INVESTMENT = "investment", "Investments"
    PENSION = "pension", "Pensions"
    INSURANCE = "insurance", "Insurance"
    DEPOSIT = "deposit", "Term deposits"


class AccountStatus(models.TextChoices):
    OPEN = "open"
    DORMANT = "dormant"
    IN_ARREARS = "in_arrears"
    CLOSED = "closed"


class HolderRole(models.TextChoices):
    PRIMARY = "primary"
    JOINT = "joint"


class TransactionCategory(models.TextChoices):
    SALARY = "salary"
    PENSION_INCOME = "pension_income"
    BENEFITS = "benefits"
    TRANSFER_IN = "transfer_in"
    TRANSFER_OUT = "transfer_out"
    GROCERIES = "groceries"
    DINING = "dining"
    TRAVEL = "travel"
    TRANSPORT = "transport"
    FUEL = "fuel"
    UTILITIES = "utilities"
    RENT = "rent"
    MORTGAGE_PAYMENT = "mortgage_payment"
    LOAN_PAYMENT = "loan_payment"
    CARD_PAYMENT = "card_payment"
    SHOPPING = "shopping"
    ENTERTAINMENT = "entertainment"
    HEALTH = "health"
    EDUCATION = "education"
    CHILDCARE = "childcare"
    INSURANCE = "insurance"
    INVESTMENT = "investment"
    SAVINGS = "savings"
    CASH = "cash"
    FEES = "fees"
    GAMBLING = "gambling"
    OTHER = "other"


class TransactionChannel(models.TextChoices):
    CARD_PRESENT = "card_present"
    CARD_ONLINE = "card_online"
    ATM = "atm"
    TRANSFER = "transfer"
    DIRECT_DEBIT = "direct_debit"
    STANDING_ORDER = "standing_order"
    BRANCH = "branch"
    OTHER = "other"


class InteractionChannel(models.TextChoices):
    WEB = "web"
    APP = "app"
    CALL_CENTRE = "call_centre"
    BRANCH = "branch"
    EMAIL = "email"


class InteractionType(models.TextChoices):
    LOGIN = "login"
    PAGE_VIEW = "page_view"
    PRODUCT_PAGE_VIEW = "product_page_view"
    CALCULATOR_USE = "calculator_use"
    APPLICATION_STARTED = "application_started"
    SERVICE_CALL = "service_call"
    COMPLAINT = "complaint"
    SURVEY = "survey"
    EMAIL_OPEN = "email_open"
    EMAIL_CLICK = "email_click"
    BRANCH_VISIT = "branch_visit"
    CHAT = "chat"


class ConsentChannel(models.TextChoices):
    EMAIL = "email"
    APP_PUSH = "app_push"
    SMS = "sms", "SMS"
    PHONE = "phone"
    WEB = "web"
    POST = "post"
    ANY = "any", "Any channel"


class ConsentPurpose(models.TextChoices):
    MARKETING = "marketing"
    PROFILING = "profiling"


class ConsentStatus(models.TextChoices):
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"


class OfferChannel(models.TextChoices):
    EMAIL = "email"
    APP_PUSH = "app_push"
    WEB = "web"
    CALL_CENTRE = "call_centre"
    SMS = "sms", "SMS"
    BRANCH = "branch"
    POST = "post"


class OfferOutcome(models.TextChoices):
    PENDING = "pending"
    NO_RESPONSE = "no_response"
    IMPRESSION = "impression"
    CLICK = "click"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DISMISSED = "dismissed"


class MarketDataKind(models.TextChoices):
    INDICATOR = "indicator"
    FX_RATE = "fx_rate"


class TrackedAttribute(models.TextChoices):
    """Customer attributes whose history is kept with the date each value took effect."""

    INCOME = "income"
    EMPLOYMENT_TYPE = "employment_type"
    REGION = "region"
    RISK_RATING = "risk_rating"
    KYC_STATUS = "kyc_status"
    SANCTIONS_STATUS = "sanctions_status"
    MARITAL_STATUS = "marital_status"


class EventType(models.TextChoices):
    TRANSACTION = "transaction"
    INTERACTION = "interaction"
    CREDIT_SCORE = "credit_score"
    CONSENT = "consent"
    KYC_STATUS = "kyc_status"
