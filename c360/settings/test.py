"""Test settings: fixed test-only keys, eager Celery, fast hashing, and the database chosen by make test.

PostgreSQL when DATABASE_URL is set or a server answers on 127.0.0.1:5432, else SQLite (tests marked
``postgres`` are then skipped, and REQUIRE_POSTGRES=1 turns that into a failure: tests/conftest.py).
"""

import os
import socket
import tempfile

# Test-only keys (SHA-256 of a label), fixed and used nowhere else. Never deploy them.
os.environ.setdefault(
    "C360_KEYRING",
    "1:oHU1wBN0IdKC9Xqb3DuQKDl7dtzUGYRimqv4eroFEAg=",
)
os.environ.setdefault("C360_INDEX_KEY", "HrKSpb61cbhELKlG31I3hEcasnVgr7a0-pt7cBrWKX8=")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("C360_DPO_EMAIL", "encarregado@loja-exemplo.com.br")
os.environ.setdefault("C360_RECEIPT_SIGNING_KEY", "KNOxSFB6lhIG37jt6kpyb2hwleLKy-rJCJbGB2AlMzg=")


def _postgres_answers(host: str = "127.0.0.1", port: int = 5432) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


if not os.environ.get("DATABASE_URL") and _postgres_answers():
    os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/c360"
if not os.environ.get("DATABASE_URL"):
    os.environ["DATABASE_URL"] = "sqlite:///:memory:"

os.environ.pop("CELERY_BROKER_URL", None)
# Files written by tests (audience lists, DSAR packages) go to a temporary folder, never to var/.
os.environ.setdefault(
    "C360_FILES_DIR", tempfile.mkdtemp(prefix="c360-test-files-")
)  # tests that need the real broker configure it themselves
os.environ.setdefault("LOG_FORMAT", "text")

from .base import *  # noqa: E402, F403

DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("C360_TEST_DATABASE_NAME") or None}  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = "memory://"
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
SECURE_HSTS_SECONDS = 0
WHITENOISE_AUTOREFRESH = True  # serve static files from the apps, no collectstatic needed
WHITENOISE_USE_FINDERS = True
