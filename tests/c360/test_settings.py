"""Start-up configuration: a missing or malformed secret stops the process with a message that helps."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from c360.lib.crypto import generate_key

ROOT = Path(__file__).resolve().parents[2]
KEYRING = f"1:{generate_key()}"
INDEX_KEY = generate_key()


def start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py check`` with the production settings and only the given environment."""
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "C360_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "c360.settings.base",
        **env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


SIGNING_KEY = generate_key()
GOOD = {
    "SECRET_KEY": "s" * 60,
    "C360_KEYRING": KEYRING,
    "C360_INDEX_KEY": INDEX_KEY,
    "C360_RECEIPT_SIGNING_KEY": SIGNING_KEY,
}


def test_a_complete_configuration_starts(tmp_path):
    result = start(tmp_path, **GOOD)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {**GOOD, "C360_KEYRING": ""},
            "C360_KEYRING is not set. It must be a comma-separated list of VERSION:KEY",
        ),
        (
            {k: v for k, v in GOOD.items() if k != "C360_INDEX_KEY"},
            "C360_INDEX_KEY is not set. It must be 32 random bytes",
        ),
        ({**GOOD, "C360_KEYRING": "1:tooshort"}, "C360_KEYRING is malformed: the key of version 1"),
        (
            {**GOOD, "C360_KEYRING": INDEX_KEY},
            "C360_KEYRING is malformed: entry 1 does not start with VERSION:",
        ),
        (
            {**GOOD, "C360_INDEX_KEY": "!!!"},
            "C360_INDEX_KEY is malformed: the index key is not valid URL-safe base64",
        ),
        (
            {**GOOD, "C360_INDEX_KEY": KEYRING.split(":", 1)[1]},
            "C360_INDEX_KEY must differ from every key of C360_KEYRING",
        ),
        ({k: v for k, v in GOOD.items() if k != "SECRET_KEY"}, "SECRET_KEY is not set"),
        ({**GOOD, "DEBUG": "maybe"}, "DEBUG must be a boolean"),
        ({**GOOD, "C360_WORKER_NICE": "20"}, "C360_WORKER_NICE must be at most 19"),
        ({**GOOD, "C360_WORKER_NICE": "-5"}, "C360_WORKER_NICE must be at least 0"),
    ],
)
def test_a_missing_or_malformed_setting_stops_start_up_and_says_which(tmp_path, env, message):
    result = start(tmp_path, **env)

    assert result.returncode != 0
    assert message in result.stderr
    for secret in (KEYRING.split(":", 1)[1], INDEX_KEY):
        assert secret not in result.stderr  # the message names the variable, never the value


def test_secrets_can_come_from_files(tmp_path):
    keyring_file = tmp_path / "keyring"
    keyring_file.write_text(KEYRING + "\n")
    env = {**GOOD, "C360_KEYRING_FILE": str(keyring_file)}
    del env["C360_KEYRING"]

    assert start(tmp_path, **env).returncode == 0

    missing = start(tmp_path, **{**env, "C360_KEYRING_FILE": str(tmp_path / "absent")})
    assert missing.returncode != 0
    assert "C360_KEYRING_FILE points to" in missing.stderr

    both = start(tmp_path, **{**env, "C360_KEYRING": KEYRING})
    assert "Set either C360_KEYRING or C360_KEYRING_FILE, not both." in both.stderr


def test_debug_is_off_unless_asked_for(tmp_path):
    code = "from django.conf import settings; print(settings.DEBUG, settings.SESSION_COOKIE_SECURE)"
    environment = {
        "PATH": os.environ["PATH"],
        "C360_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "c360.settings.base",
        **GOOD,
    }

    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert result.stdout.strip() == "False True"


def test_keygen_writes_a_private_file_once(tmp_path):
    target = tmp_path / "var" / "keys.env"

    subprocess.run([sys.executable, "-m", "c360.lib.keygen", str(target)], cwd=ROOT, check=True, capture_output=True)
    first = target.read_text()
    subprocess.run([sys.executable, "-m", "c360.lib.keygen", str(target)], cwd=ROOT, check=True, capture_output=True)

    assert target.stat().st_mode & 0o777 == 0o600
    assert target.read_text() == first
    values = dict(line.split("=", 1) for line in first.splitlines() if line and not line.startswith("#"))
    assert set(values) == {"SECRET_KEY", "C360_KEYRING", "C360_INDEX_KEY", "C360_RECEIPT_SIGNING_KEY"}
    assert start(tmp_path, **values).returncode == 0
