"""All of c360's settings, read from the environment (see the configuration table in README.md).

Nothing here is only for production: one file, every value env-driven, and a missing or malformed
secret stops start-up with a message that names the variable and the form it takes.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from c360.env import envbool, envint, envlist, envsecret, envstr
from c360.lib.crypto import INDEX_KEY_FORM, KEYRING_FORM, Keyring, parse_index_key
from c360.lib.signing import SIGNING_KEY_FORM, parse_signing_key

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(envstr("C360_VAR_DIR", str(BASE_DIR / "var")))

# ---------------------------------------------------------------- core
DEBUG = envbool("DEBUG", default=False)
C360_DEMO = envbool("C360_DEMO", default=False)
SECRET_KEY = (
    envsecret(
        "SECRET_KEY",
        required=not DEBUG,
        form="a long random string (50+ characters), required when DEBUG is off",
    )
    or "insecure-debug-only-secret-key-not-for-production"  # only reachable with DEBUG on
)
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

# ---------------------------------------------------------------- keys
# Key-encryption keys (wrap per-subject data keys) and the blind-index key are separate secrets;
# neither is derived from SECRET_KEY, so rotating SECRET_KEY never makes data unreadable.
C360_KEYRING: Keyring = envsecret("C360_KEYRING", required=True, form=KEYRING_FORM, parse=Keyring.parse)
C360_INDEX_KEY: bytes = envsecret("C360_INDEX_KEY", required=True, form=INDEX_KEY_FORM, parse=parse_index_key)
if C360_INDEX_KEY in C360_KEYRING.keys.values():
    raise ImproperlyConfigured("C360_INDEX_KEY must differ from every key of C360_KEYRING.")
C360_RECEIPT_SIGNING_KEY = envsecret(
    "C360_RECEIPT_SIGNING_KEY", required=True, form=SIGNING_KEY_FORM, parse=parse_signing_key
)
C360_FILES_DIR = Path(envstr("C360_FILES_DIR", str(VAR_DIR / "files")))
# /metrics (Prometheus): with a token, scrapes send "Authorization: Bearer <token>"; without, loopback only.
C360_METRICS_TOKEN: str | None = envsecret("C360_METRICS_TOKEN", required=False, form="a long random string")
# DSAR deadlines: the controller's EU Member State (holidays, legal time zone), the Brazilian state whose
# holidays also close the office, and when the DPO is reminded (days before the due date).
C360_DSAR_GDPR_COUNTRY = (envstr("C360_DSAR_GDPR_COUNTRY", "PT") or "PT").upper()
C360_DSAR_GDPR_TZ = envstr("C360_DSAR_GDPR_TZ", "Europe/Lisbon") or "Europe/Lisbon"
C360_DSAR_BR_SUBDIVISION = envstr("C360_DSAR_BR_SUBDIVISION", "") or ""
C360_DSAR_LGPD_ROLL_FORWARD = envbool("C360_DSAR_LGPD_ROLL_FORWARD", default=False)
C360_DSAR_INTERNAL_BUFFER_DAYS = envint("C360_DSAR_INTERNAL_BUFFER_DAYS", 3, minimum=0)
C360_DSAR_REMIND_DAYS = [int(days) for days in envlist("C360_DSAR_REMIND_DAYS", ["7", "3", "1"])]
C360_DSAR_MAX_ATTEMPTS = envint("C360_DSAR_MAX_ATTEMPTS", 5, minimum=1)
C360_DSAR_RETRY_BASE_SECONDS = envint("C360_DSAR_RETRY_BASE_SECONDS", 30, minimum=0)
# Crash recovery (docs/security.md, "Crash recovery"): a request that nothing has moved for this long (its
# worker killed mid-task, its message lost by the broker) has its work dispatched again by a periodic
# sweeper, which runs this often. Every step is idempotent, and a task runs in one worker at a time.
C360_DSAR_STALE_SECONDS = envint("C360_DSAR_STALE_SECONDS", 600, minimum=1)
C360_DSAR_SWEEP_SECONDS = envint("C360_DSAR_SWEEP_SECONDS", 60, minimum=1)
# Nice value (0-19) Celery workers run at (c360/lib/priority.py): above 0, the kernel gives consent checks on the
# same cores the CPU first and DSAR work what is left (docs/benchmarks.md, "mixed").
C360_WORKER_NICE = envint("C360_WORKER_NICE", 0, minimum=0, maximum=19)
C360_DSAR_LINK_LIFETIME = timedelta(hours=envint("C360_DSAR_LINK_HOURS", 72, minimum=1))
C360_DPO_EMAIL = envstr("C360_DPO_EMAIL", "") or ""
# Who the portal names as controller and encarregado/DPO (LGPD Art. 41 §1, GDPR Art. 13(1)(a)-(b)).
C360_CONTROLLER_NAME = envstr("C360_CONTROLLER_NAME", "Loja Exemplo Comércio Ltda") or "Loja Exemplo Comércio Ltda"
C360_DPO_NAME = envstr("C360_DPO_NAME", "Encarregado de Proteção de Dados") or "Encarregado de Proteção de Dados"
# The address people reach the portal at, for the links in mails.
C360_PUBLIC_URL = (envstr("C360_PUBLIC_URL", "http://127.0.0.1:8000") or "").rstrip("/")
C360_PORTAL_LINK_MINUTES = envint("C360_PORTAL_LINK_MINUTES", 15, minimum=1)
C360_PORTAL_SESSION_MINUTES = envint("C360_PORTAL_SESSION_MINUTES", 30, minimum=5)
C360_PORTAL_RATE_PER_CONTACT = envstr("C360_PORTAL_RATE_PER_CONTACT", "5/h")
C360_PORTAL_RATE_PER_IP = envstr("C360_PORTAL_RATE_PER_IP", "30/h")
C360_PORTAL_FAILURES_PER_IP = envstr("C360_PORTAL_FAILURES_PER_IP", "10/15m")
# Sign-in rows (hashes, blind index, encrypted contact) are kept this long as security evidence, then deleted.
C360_PORTAL_LOGIN_RETENTION_DAYS = envint("C360_PORTAL_LOGIN_RETENTION_DAYS", 30, minimum=1)
C360_PORTAL_UPLOAD_MAX_BYTES = envint("C360_PORTAL_UPLOAD_MAX_BYTES", 5 * 1024 * 1024, minimum=1024)
# An access or portability request verified by a portal session is released to the person as soon as
# its package is built; off, the DPO releases every package.
C360_DSAR_AUTO_RELEASE = envbool("C360_DSAR_AUTO_RELEASE", default=True)
# The daily retention job always reports what it would purge; it acts only when this is on.
C360_RETENTION_ACT = envbool("C360_RETENTION_ACT", default=False)
C360_SMS_SENDER = envstr("C360_SMS_SENDER", "c360.lib.sms.ConsoleSender" if C360_DEMO else "c360.lib.sms.OutboxSender")
# Mail: SMTP from EMAIL_* in production; the demo prints mails (double opt-in links, reminders) to the console.
EMAIL_BACKEND = envstr(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if C360_DEMO else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_FILE_PATH = envstr("EMAIL_FILE_PATH")  # the file-based backend's folder (benchmarks, staging)
EMAIL_HOST = envstr("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER", "") or ""
EMAIL_HOST_PASSWORD = envsecret("EMAIL_HOST_PASSWORD", required=False, form="the SMTP password") or ""
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "c360 <privacy@localhost>")
# Under these ages a consent needs a guardian where the purpose asks for it: LGPD Art. 14 protects
# children and adolescents (under 18); GDPR Art. 8 sets 16, which member states may lower to 13.
C360_MINOR_AGE = {
    "lgpd": envint("C360_MINOR_AGE_LGPD", 18, minimum=1),
    "gdpr": envint("C360_MINOR_AGE_GDPR", 16, minimum=1),
}

C360_DEFAULT_PHONE_REGION = (envstr("C360_DEFAULT_PHONE_REGION", "BR") or "BR").upper()
C360_DEFAULT_REGIMES = envlist("C360_DEFAULT_REGIMES", ["lgpd"])
# Identity resolution: an identifier value held by more than this many people never links on its own
# (a switchboard, a family email), and these normalised values never link at all.
C360_RESOLUTION_MAX_SHARED = envint("C360_RESOLUTION_MAX_SHARED", 3, minimum=1)
C360_RESOLUTION_BLOCKED_VALUES: dict[str, list[str]] = {
    "email": envlist("C360_BLOCKED_EMAILS", []),
    "phone": envlist("C360_BLOCKED_PHONES", []),
    "cpf": envlist("C360_BLOCKED_CPFS", ["12345678909", "00000000191"]),
}
C360_API_KEY_RATE = envstr("C360_API_KEY_RATE", "600/min")
# The consent check and the consent write answer past most of the middleware (c360.api.middleware.FastLaneMiddleware).
C360_API_FAST_LANE = envbool("C360_API_FAST_LANE", default=True)

# ---------------------------------------------------------------- apps
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "simple_history",
    "django_ratelimit",
    # Staff sign-in: one-time passwords (TOTP apps, static backup codes) and lockout after failures.
    # Listed before c360.access, whose admin module tightens the admin pages these apps register.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "c360.access",
    "profiles",
    "consent",
    "dsar",
    "c360.compliance",
]

MIDDLEWARE = [
    "c360.lib.logs.RequestIdMiddleware",
    "c360.metrics.MetricsMiddleware",  # times every request by route name (never the raw path)
    "c360.api.middleware.FastLaneMiddleware",  # the consent check answers here, past the rest of the stack
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "c360.api.middleware.ApiLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "c360.lib.csp.ContentSecurityPolicyMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into its response
]

ROOT_URLCONF = "c360.urls"
WSGI_APPLICATION = "c360.wsgi.application"

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
                "django.template.context_processors.i18n",
                "profiles.portal.portal_context",
            ],
        },
    },
]

# ---------------------------------------------------------------- database
DATABASES = {
    "default": dj_database_url.parse(
        envstr("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'c360.sqlite3'}",
        conn_max_age=envint("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---------------------------------------------------------------- cache (API throttling counters)
_cache_url = envstr("CACHE_URL")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url}
        if _cache_url
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# ---------------------------------------------------------------- auth and security
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Axes first: a locked-out username+IP is refused before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# The DPO console (Django admin) asks for a one-time password after the password (GDPR Art. 32, LEGAL S-03).
# On unless C360_ADMIN_OTP=0; the demo, when the variable is unset, signs in with the password alone.
C360_ADMIN_OTP = envbool("C360_ADMIN_OTP", default=not C360_DEMO)
OTP_TOTP_ISSUER = envstr("OTP_TOTP_ISSUER", "c360") or "c360"
OTP_ADMIN_HIDE_SENSITIVE_DATA = False  # the QR code page lets the DPO enrol staff; only the DPO role sees devices
# Five wrong passwords for one username from one address lock that pair out for 30 minutes.
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=envint("AXES_COOLOFF_MINUTES", 30, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_COOLOFF_MESSAGE = "Account locked: too many failed sign-ins. Try again in 30 minutes, or ask the DPO to unlock it."
AXES_ENABLE_ACCESS_FAILURE_LOG = False
# Logs name the staff login (not personal data of data subjects) but never the address.
AXES_SENSITIVE_PARAMETERS = ["ip_address", "otp_token"]  # passwords are always masked
AXES_IPWARE_PROXY_COUNT = 1 if envbool("C360_BEHIND_PROXY") else None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if envbool("C360_BEHIND_PROXY") else ["REMOTE_ADDR"]
)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", 8 * 3600, minimum=60)
SESSION_COOKIE_SECURE = not (DEBUG or C360_DEMO)
CSRF_COOKIE_SECURE = not (DEBUG or C360_DEMO)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_HSTS_SECONDS = 0 if (DEBUG or C360_DEMO) else envint("SECURE_HSTS_SECONDS", 31536000, minimum=0)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if envbool("C360_BEHIND_PROXY") else None
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "c360.views.csrf_failure"
SECURE_HSTS_INCLUDE_SUBDOMAINS = not (DEBUG or C360_DEMO)
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", default=False)
# Strict policy everywhere the portal is: no inline script or style, nothing from other origins.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}
# Rate limits live in the default cache: Redis (CACHE_URL) in production. The in-process cache of the
# demo and tests is enough for one process, which is why its check is silenced.
RATELIMIT_USE_CACHE = "default"
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

# ---------------------------------------------------------------- i18n
LANGUAGE_CODE = "pt-br"
LANGUAGES = [("pt-br", "Português (Brasil)"), ("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "c360" / "locale"]
TIME_ZONE = envstr("TIME_ZONE", "America/Sao_Paulo")
USE_I18N = True
USE_TZ = True

# ---------------------------------------------------------------- static files
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "c360" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# ---------------------------------------------------------------- API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["c360.access.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["c360.access.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["c360.access.throttling.ApiKeyRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "c360.api.schema.C360AutoSchema",
    "EXCEPTION_HANDLER": "c360.api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "c360 API",
    "DESCRIPTION": (
        "Privacy and consent compliance for LGPD and GDPR. Authenticate with an API key: "
        "`Authorization: Bearer c360_...`. Every key carries scopes; errors are JSON with a stable `code`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "DsarRequestStatusEnum": "dsar.models.DataRequest.Status",
        "DsarTaskStatusEnum": "dsar.models.RequestTask.Status",
        "DsarVerificationEnum": "dsar.models.DataRequest.Verification",
        "DsarVerificationMethodEnum": "dsar.models.DataRequest.VERIFICATION_METHODS",
        "DsarIdentityKindEnum": "dsar.models.IDENTITY_KINDS",
        "IdentifierKindEnum": ["email", "phone", "cpf", "cnpj", "external"],
        "ContactKindEnum": ["email", "phone"],
    },
}

# ---------------------------------------------------------------- Celery
# No broker configured: tasks run eagerly in-process (demo, tests). Messages carry ids, never PII.
CELERY_BROKER_URL = envstr("CELERY_BROKER_URL") or None
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = CELERY_BROKER_URL or "memory://"
CELERY_RESULT_BACKEND = envstr("CELERY_RESULT_BACKEND") or None
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis only: a message whose worker died before acknowledging it is delivered again after this many
# seconds. Every task is acks_late, so keep it above the longest task; DSAR work does not wait for it
# (C360_DSAR_STALE_SECONDS and the sweeper recover it sooner).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": envint("C360_BROKER_VISIBILITY_TIMEOUT", 3600, minimum=1)}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "consent-expiry": {"task": "consent.expire", "schedule": 3600.0},
    "consent-ledger-checkpoint": {"task": "consent.ledger_checkpoint", "schedule": 86400.0},
    "consent-ledger-verify": {"task": "consent.ledger_verify", "schedule": 86400.0},
    "dsar-deadlines": {"task": "dsar.deadlines", "schedule": 3600.0},
    "dsar-recover-stale": {"task": "dsar.recover_stale", "schedule": float(C360_DSAR_SWEEP_SECONDS)},
    "portal-logins-purge": {"task": "profiles.portal_logins_purge", "schedule": 86400.0},
    "retention-run": {"task": "compliance.retention_run", "schedule": 86400.0},
}
# Workers log through Django's LOGGING (JSON, request ids, the redacting filter), not Celery's own setup.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# ---------------------------------------------------------------- logging
LOG_LEVEL = (envstr("LOG_LEVEL", "INFO") or "INFO").upper()
LOG_FORMAT = envstr("LOG_FORMAT", "text" if DEBUG else "json")
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured("LOG_FORMAT must be json or text.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "c360.lib.logs.RedactPersonalDataFilter"},
        "request_id": {"()": "c360.lib.logs.RequestIdFilter"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",  # ISO 8601 in UTC
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "redact"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # httpx logs every full URL (query strings included) at INFO: outbound calls log through c360.lib.http.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
