"""Crossell settings: every value comes from the environment (see .env.example).

A fresh clone needs no server: SQLite under ``var/`` and in-process tasks.
Production sets ``DATABASE_URL`` and ``CELERY_BROKER_URL``.
"""

from __future__ import annotations

import os
import re
import zoneinfo
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

# Under pytest (which sets PYTEST_VERSION before any plugin loads) the defaults are
# the test ones; an explicit variable still wins, so CI can point at PostgreSQL.
TESTING = bool(os.environ.get("PYTEST_VERSION"))
if TESTING:
    for _name, _value in {
        "SECRET_KEY": "test-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFGH",
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
        "CROSSELL_VAR_DIR": str(BASE_DIR / "var" / "test"),
    }.items():
        os.environ.setdefault(_name, _value)
VAR_DIR = Path(env_str("CROSSELL_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (or set SECRET_KEY_FILE)")
    SECRET_KEY = "insecure-development-key-only-for-debug-mode-0123456789abcdef"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core",
    "customers",
    "modeling",
    "compliance",
    "decisioning",
    "campaigns",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "frontend.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
_SQLITE_DEFAULT = f"sqlite:///{VAR_DIR / 'crossell.sqlite3'}"
DATABASE_URL = env_str("DATABASE_URL") or _SQLITE_DEFAULT
try:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from exc
if _db["ENGINE"] == "django.db.backends.sqlite3":
    Path(_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets the local worker write while the web server reads; IMMEDIATE
    # transactions take the write lock up front, so two writers queue on the
    # busy timeout instead of failing with "database is locked" mid-transaction.
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    _db.setdefault("TEST", {})["NAME"] = env_str("SQLITE_TEST_NAME") or None
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "core.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "frontend:login"
LOGIN_REDIRECT_URL = "frontend:home"
LOGOUT_REDIRECT_URL = "frontend:login"

# --- Time, money ------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"  # storage is UTC; business dates use BANK_TIME_ZONE
BANK_TIME_ZONE = env_str("BANK_TIME_ZONE", "Europe/London")
BANK_NAME = env_str("BANK_NAME", "Crossell Bank")  # how treatments name the bank
try:
    zoneinfo.ZoneInfo(BANK_TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
    raise ImproperlyConfigured(f"BANK_TIME_ZONE={BANK_TIME_ZONE!r} is not a known IANA time zone") from exc
BASE_CURRENCY = env_str("BASE_CURRENCY", "EUR").upper()
if not re.fullmatch(r"[A-Z]{3}", BASE_CURRENCY):
    raise ImproperlyConfigured(f"BASE_CURRENCY must be an ISO 4217 code such as EUR, got {BASE_CURRENCY!r}")

# --- Files -----------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Tests and DEBUG read assets from the apps; production serves the hashed,
        # compressed copies collectstatic writes.
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG or TESTING
WHITENOISE_AUTOREFRESH = DEBUG or TESTING
MODEL_DIR = Path(env_str("MODEL_DIR", str(VAR_DIR / "models")))
IMPORT_DIR = Path(env_str("IMPORT_DIR", str(VAR_DIR / "imports")))

# --- Email -------------------------------------------------------------------
# Offers go out through Django's email backend: SMTP when EMAIL_HOST is set, else
# (embedded mode) one .log file per message under var/mail, so a fresh clone sends
# nothing anywhere.
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_BACKEND = env_str("EMAIL_BACKEND") or (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.filebased.EmailBackend"
)
EMAIL_FILE_PATH = Path(env_str("EMAIL_FILE_PATH") or str(VAR_DIR / "mail"))
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are exclusive: set one of them (or neither)")
# Seconds before an unresponsive SMTP server counts as unavailable (the delivery is retried).
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL") or "offers@localhost"
# The address customers reach the site at: unsubscribe links in emails start with it.
SITE_URL = (env_str("SITE_URL") or "http://localhost:8000").rstrip("/")
if not re.fullmatch(r"https?://[^/\s]+", SITE_URL):
    raise ImproperlyConfigured(f"SITE_URL must be http(s)://host[:port] with no path, got {SITE_URL!r}")

# --- Delivery ----------------------------------------------------------------
# A transient channel failure is retried after about DELIVERY_RETRY_SECONDS, doubling
# each time (with jitter, at most an hour); after DELIVERY_MAX_ATTEMPTS attempts the
# message is a dead letter. A claim older than DELIVERY_CLAIM_TIMEOUT seconds belongs
# to a worker that died: the sweeper hands the row to another.
DELIVERY_RETRY_SECONDS = env_int("DELIVERY_RETRY_SECONDS", 30)
DELIVERY_MAX_ATTEMPTS = env_int("DELIVERY_MAX_ATTEMPTS", 6)
DELIVERY_CLAIM_TIMEOUT = env_int("DELIVERY_CLAIM_TIMEOUT", 300)
# Tasks started per campaign run and channel: they share its chunks (one per spare worker).
CAMPAIGN_RUN_PARALLEL = env_int("CAMPAIGN_RUN_PARALLEL", 2)
if DELIVERY_MAX_ATTEMPTS < 1 or DELIVERY_RETRY_SECONDS < 1 or DELIVERY_CLAIM_TIMEOUT < 5:
    raise ImproperlyConfigured(
        "DELIVERY_MAX_ATTEMPTS and DELIVERY_RETRY_SECONDS must be at least 1, DELIVERY_CLAIM_TIMEOUT at least 5"
    )

# --- Modeling ----------------------------------------------------------------
# One seed for everything random in training and segmentation, so a retrain on the
# same data gives the same models and scores.
MODEL_SEED = env_int("MODEL_SEED", 42)
# A take-up counts as a positive when it happens within this many days of a cut-off.
MODEL_HORIZON_DAYS = env_int("MODEL_HORIZON_DAYS", 90)
# Fewer positives than this in a product's training data and the product is skipped.
MODEL_MIN_POSITIVES = env_int("MODEL_MIN_POSITIVES", 20)
# Training stacks this many monthly cut-offs (the latest is the test set).
MODEL_TRAINING_CUTOFFS = env_int("MODEL_TRAINING_CUTOFFS", 6)
# LightGBM threads when training: fixed, since the trees may differ with the thread count. One by
# default: on a 2-core machine shared with the web and database, two OpenMP threads spin-wait on each
# other and trained up to 10x slower in our measurements; raise it on a dedicated training machine.
MODEL_TRAINING_THREADS = env_int("MODEL_TRAINING_THREADS", 1)
# Ship a booster retrained on every training row, calibrated on out-of-fold predictions
# (propensity_fit's ``refit``): better on drifting data (about +0.08 AUC on UCI Bank
# Marketing, +0.01 on the demo bank), at about 3 to 4 times the training time.
MODEL_REFIT = env_bool("MODEL_REFIT", False)

# --- Security ---------------------------------------------------------------
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)

# --- API -------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.problem_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "config.api.Pagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Crossell API",
    "DESCRIPTION": "Next-best-action decisioning for banks: data intake, decisions, outcomes.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Every page needs a login or a token, the API's description included.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Docs pages load their assets from this server, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several fields share a name ("channel", "status") with different value sets;
    # name each set after its choices class so the schema is stable and readable.
    "ENUM_NAME_OVERRIDES": {
        "TransactionChannelEnum": "customers.choices.TransactionChannel",
        "InteractionChannelEnum": "customers.choices.InteractionChannel",
        "ConsentChannelEnum": "customers.choices.ConsentChannel",
        "ConsentPurposeEnum": "customers.choices.ConsentPurpose",
        "ConsentStatusEnum": "customers.choices.ConsentStatus",
        "EventTypeEnum": "customers.choices.EventType",
        "TreatmentChannelEnum": "decisioning.models.TreatmentChannel",
        "ResponseKindEnum": "campaigns.models.ResponseKind",
    },
}
EVENT_BATCH_MAX_ITEMS = env_int("EVENT_BATCH_MAX_ITEMS", 1000)
# Celery task names sent (by name, so lower apps import no higher one) after a
# batch of events commits, e.g. "customers.events_received,campaigns.evaluate_triggers".
# modeling.refresh_online_features keeps the real-time feature rows of the customers
# concerned current: leave it in unless decisions may read features a day old.
EVENT_FOLLOW_UP_TASKS = env_list(
    "EVENT_FOLLOW_UP_TASKS",
    ["customers.events_received", "campaigns.evaluate_triggers", "modeling.refresh_online_features"],
)

# --- Celery ----------------------------------------------------------------
# Unset broker: tasks run in-process and errors propagate (tests, one-off
# commands). The demo runs a real local worker on the filesystem transport.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# A task whose worker dies mid-way is redelivered, not lost (STYLE.md section 12).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 3600)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 3300)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = Path(env_str("CELERY_FILESYSTEM_DIR", str(VAR_DIR / "queue")))
    for _sub in ("in", "processed", "control"):
        (_queue_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir / "in"),
        "data_folder_out": str(_queue_dir / "in"),
        "processed_folder": str(_queue_dir / "processed"),
        # Broadcast (pidbox) state; kombu would otherwise write ./control in the working directory.
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
    }
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "task-runs-mark-stale": {
        "task": "core.task_runs_mark_stale",
        "schedule": env_int("TASK_RUN_STALE_SWEEP_SECONDS", 300),
        "options": {"expires": 290},
    },
    # A scoring run whose worker died moves again without waiting for the broker to redeliver.
    "scoring-runs-resume": {
        "task": "modeling.scoring_runs_resume",
        "schedule": env_int("SCORING_RESUME_SWEEP_SECONDS", 300),
        "options": {"expires": 290},
    },
    # Deliveries: reclaim rows of dead workers, wake a sender for retries now due, close runs.
    "deliveries-sweep": {
        "task": "campaigns.sweep_deliveries",
        "schedule": env_int("DELIVERY_SWEEP_SECONDS", 30),
        "options": {"expires": 25},
    },
    # Campaigns whose next run is due (recurring ones, and one-offs set to start later).
    "campaigns-run-due": {
        "task": "campaigns.run_due_campaigns",
        "schedule": env_int("CAMPAIGN_SCHEDULE_SECONDS", 60),
        "options": {"expires": 55},
    },
    # Accounts opened after an offer of their product become conversions (idempotent).
    "conversions-attribute": {
        "task": "campaigns.attribute_conversions",
        "schedule": env_int("CONVERSION_ATTRIBUTION_SECONDS", 3600),
        "options": {"expires": env_int("CONVERSION_ATTRIBUTION_SECONDS", 3600) - 60},
    },
    # Retraining skips itself when the training data's fingerprint is unchanged.
    "models-retrain": {
        "task": "modeling.train_models",
        "schedule": env_int("MODEL_RETRAIN_SECONDS", 7 * 24 * 3600),
        "options": {"expires": env_int("MODEL_RETRAIN_SECONDS", 7 * 24 * 3600) - 60},
    },
}

# --- Logging ---------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
