"""Write fresh local keys for a demo or development install: ``python -m c360.lib.keygen var/keys.env``.

The file is created with mode 0600 and never overwritten: losing the keyring means losing every
encrypted value, so an existing file is left alone.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from c360.lib.crypto import generate_key


def keys_env() -> str:
    return (
        "# c360 local keys: generated once, never commit this file. Losing it makes the data unreadable.\n"
        f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
        f"C360_KEYRING=1:{generate_key()}\n"
        f"C360_INDEX_KEY={generate_key()}\n"
    )


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m c360.lib.keygen PATH\n")
        return 2
    path = Path(argv[1])
    if path.exists():
        sys.stderr.write(f"{path} exists; keeping it (keys are never regenerated over existing data).\n")
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(keys_env())
    sys.stderr.write(f"Generated new keys in {path} (mode 0600).\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
