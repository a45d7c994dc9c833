"""Django settings for Gonghui.

Configuration comes from the environment so one build runs everywhere:
  DATABASE_URL        sqlite:///path or postgres://user@host:port/db (default: SQLite in var/)
  GONGHUI_VAR_DIR     where the SQLite database, uploads and generated keys live (default: ./var)
  SECRET_KEY          Django secret (default: generated once into var/secret_key)
  GONGHUI_DATA_KEY    key that encrypts personal data such as ID numbers (default: var/data_key)
  GONGHUI_DEBUG       "1" for debug pages (default: on for the local demo, off with SECRET_KEY)
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent.parent
VAR_DIR = Path(os.environ.get("GONGHUI_VAR_DIR", REPO_DIR / "var")).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _key_from_file(name: str) -> str:
    """A random key kept in var/, created on first use, so the local demo needs no setup."""
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = os.environ.get("SECRET_KEY") or _key_from_file("secret_key")
GONGHUI_DATA_KEY = os.environ.get("GONGHUI_DATA_KEY") or _key_from_file("data_key")
DEBUG = os.environ.get("GONGHUI_DEBUG", "0" if "SECRET_KEY" in os.environ else "1") == "1"
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "gonghui.core",
    "gonghui.orgs",
    "gonghui.accounts",
    "gonghui.audit",
    "gonghui.stats",
    "gonghui.notices",
    "gonghui.activities",
    "gonghui.learning",
    "gonghui.cases",
    "gonghui.pledges",
    "gonghui.competitions",
    "gonghui.news",
    "gonghui.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "gonghui.core.locale.ChineseFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "gonghui.core.request_context.RequestContextMiddleware",
]

ROOT_URLCONF = "gonghui.urls"
WSGI_APPLICATION = "gonghui.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "gonghui.core.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'gonghui.sqlite3'}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers proceed while one writer writes; IMMEDIATE avoids
        # "database is locked" upgrades inside transactions.
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;"
        ),
        "transaction_mode": "IMMEDIATE",
    }
else:
    # Separate names let several test runs share one PostgreSQL server.
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("GONGHUI_TEST_DB_NAME") or None}
    # Parameters bound by the server, and a statement the connection has run five times
    # prepared (Django turns psycopg's preparing off unless asked, for poolers in
    # transaction mode, which this deployment does not use): the dashboards' and
    # check-ins' statements are planned once per connection, not on every request.
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options["server_side_binding"] = os.environ.get("GONGHUI_PG_SERVER_SIDE_BINDING", "1") == "1"
    if options["server_side_binding"]:
        threshold = os.environ.get("GONGHUI_PG_PREPARE_THRESHOLD", "5")
        options["prepare_threshold"] = int(threshold) if threshold else None

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Wrong passwords: five failures for one username from one address lock it for 15 minutes.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "/media/"
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads it to send the token with requests
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
GONGHUI_IMPORT_MAX_BYTES = 200 * 1024 * 1024

NINJA_PAGINATION_PER_PAGE = 50
# The API's fast lane for a crowd's check-ins (gonghui.api.lane); 0 sends every request
# through Django's full request cycle.
GONGHUI_API_LANE = os.environ.get("GONGHUI_API_LANE", "1") == "1"

# Email for reminders and other notifications: off unless configured.
GONGHUI_EMAIL_NOTIFICATIONS = os.environ.get("GONGHUI_EMAIL_NOTIFICATIONS") == "1"
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = os.environ.get("EMAIL_USE_TLS") == "1"
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "gonghui@localhost")
# Reminders go out this many days before a deadline (and again once it has passed).
GONGHUI_REMIND_DAYS_BEFORE = int(os.environ.get("GONGHUI_REMIND_DAYS_BEFORE", "3"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
