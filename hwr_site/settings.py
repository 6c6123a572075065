"""Django settings, read from the environment with safe local defaults.

Local development needs no environment at all: SQLite under var/, a Redis on
localhost, DEBUG on. Production uses hwr_site.settings_production, which
refuses to start with any of these defaults left in place.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.utils.csp import CSP
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    """Read a yes/no environment variable; anything but a clear yes is no."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    """Read a comma-separated environment variable into a list of non-empty items."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# The insecure key exists so `make run` works on a fresh clone; the
# production settings refuse to start with it.
INSECURE_SECRET_KEY = "django-insecure-local-development-only"  # noqa: S105 - refused in production
SECRET_KEY = os.environ.get("SECRET_KEY", INSECURE_SECRET_KEY)
DEBUG = env_bool("DEBUG", True)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "recognition",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Last, as django-axes asks: it answers a locked-out sign-in with 429.
    "axes.middleware.AxesMiddleware",
]

# Content-Security-Policy (Django's own middleware): scripts, styles, fonts and connections from this
# site only, with no inline script or style anywhere (the pages and the API docs keep theirs in
# static files); images also as data: URIs (Swagger UI's icons); no plugins, no framing.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

ROOT_URLCONF = "hwr_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "hwr_site.wsgi.application"
ASGI_APPLICATION = "hwr_site.asgi.application"

VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # A web process and a worker write to the same file: wait for the lock
    # instead of failing, and take it at BEGIN so two writers never deadlock.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
    # The test database is a file, not memory, so a real worker process in the
    # tests can share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in throttling (django-axes): after LOGIN_FAILURE_LIMIT wrong passwords for one user name from one
# address, that pair is locked out for LOGIN_LOCKOUT_MINUTES (the browser form, the admin and
# POST /api/auth/token/ alike); other users and addresses are not. A right password resets the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "10"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "recognition.lockout.sign_in_locked_out"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))

# Trained character models (one folder per kind and version) and the data
# sets they are trained on. The shipped models live in the repository.
MODEL_DIR = Path(os.environ.get("MODEL_DIR", BASE_DIR / "models"))
DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / "data"))
# Real NIST handwriting with writer ids (femnist-dev), beside the checkout by default.
FEMNIST_DIR = Path(os.environ.get("FEMNIST_DIR", BASE_DIR.parent / "shared" / "data" / "femnist-dev"))

# Retraining from corrections (the learning loop): fine-tuning steps, the
# fewest usable samples worth a run, and an optional cap on the base data
# replayed (None: all of it).
RETRAIN_STEPS = int(os.environ.get("RETRAIN_STEPS", "300"))
# Fine-tuning steps (batches of 24 fields) of one retraining of the sequence reader.
RETRAIN_SEQUENCE_STEPS = int(os.environ.get("RETRAIN_SEQUENCE_STEPS", "400"))
RETRAIN_MIN_SAMPLES = int(os.environ.get("RETRAIN_MIN_SAMPLES", "20"))
RETRAIN_BASE_LIMIT = int(os.environ["RETRAIN_BASE_LIMIT"]) if os.environ.get("RETRAIN_BASE_LIMIT") else None

# Uploads are checked before anything is stored: bytes per file, files per
# upload, pages per file (PDF, TIFF) and pixels per page (decompression bombs).
UPLOAD_MAX_FILE_BYTES = int(os.environ.get("UPLOAD_MAX_FILE_BYTES", str(25 * 1024 * 1024)))
UPLOAD_MAX_FILES = int(os.environ.get("UPLOAD_MAX_FILES", "50"))
UPLOAD_MAX_PAGES = int(os.environ.get("UPLOAD_MAX_PAGES", "20"))
UPLOAD_MAX_PIXELS = int(os.environ.get("UPLOAD_MAX_PIXELS", "40000000"))
DATA_UPLOAD_MAX_NUMBER_FILES = UPLOAD_MAX_FILES
# Fields read at least this sure skip the review queue; they are marked
# auto_accepted so their error rate can still be measured.
REVIEW_AUTO_ACCEPT_THRESHOLD = float(os.environ.get("REVIEW_AUTO_ACCEPT_THRESHOLD", "0.98"))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "recognition.exceptions.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Handwriting recognition API",
    "DESCRIPTION": "Upload forms and checks, read their handwritten fields, review and correct.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's scripts and styles come from drf-spectacular-sidecar's static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `status`; name each choice set in the schema.
    "ENUM_NAME_OVERRIDES": {
        "DocumentStatusEnum": "recognition.models.Document.Status",
        "PageStatusEnum": "recognition.models.Page.Status",
        "ModelVersionStatusEnum": "recognition.models.ModelVersion.Status",
        "TemplateKindEnum": "recognition.models.FormTemplate.Kind",
        "ServedModelKindEnum": "recognition.services.models.SERVED_KINDS",
    },
}

# Celery. Queues are split by the resource they need: `pages` (page
# processing and recognition, GPU workers consume it), `training` (one
# retraining at a time, GPU) and `default` for everything light. Routing is
# by task name here, so no call site ever names a queue.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = (Queue("default"), Queue("pages"), Queue("training"))
CELERY_TASK_ROUTES = {
    "pages.*": {"queue": "pages"},
    "training.*": {"queue": "training"},
    "default.*": {"queue": "default"},
}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# A worker takes one task at a time: recognition tasks are long and uneven,
# and prefetching would park pages behind a busy worker.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_TIME_LIMIT = int(os.environ.get("CELERY_TASK_TIME_LIMIT", "600"))
CELERY_TASK_SOFT_TIME_LIMIT = int(os.environ.get("CELERY_TASK_SOFT_TIME_LIMIT", "540"))
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# With acks_late, a task whose worker died is redelivered after this many
# seconds; it must exceed the longest task (training runs for minutes).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600"))
}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# A request that publishes to a dead broker gives up in about a second (the
# pages stay stored and queued; the sweep publishes them later) instead of
# hanging the upload.
CELERY_BROKER_CONNECTION_TIMEOUT = float(os.environ.get("CELERY_BROKER_CONNECTION_TIMEOUT", "2"))
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}

# No lost work (recognition.services.pages.pages_sweep, run by `manage.py sweep_pages --every`):
# a worker stamps the page it reads every PAGE_HEARTBEAT_SECONDS; a page in processing silent for
# PAGE_STALE_AFTER_SECONDS lost its worker and is published again; a queued page the broker never got
# (or lost) is published again after PAGE_REQUEUE_AFTER_SECONDS.
PAGE_HEARTBEAT_SECONDS = float(os.environ.get("PAGE_HEARTBEAT_SECONDS", "15"))
PAGE_STALE_AFTER_SECONDS = float(os.environ.get("PAGE_STALE_AFTER_SECONDS", "120"))
PAGE_REQUEUE_AFTER_SECONDS = float(os.environ.get("PAGE_REQUEUE_AFTER_SECONDS", "60"))
PAGE_SWEEP_EVERY_SECONDS = float(os.environ.get("PAGE_SWEEP_EVERY_SECONDS", "20"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
