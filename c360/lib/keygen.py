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

HEADER = "# c360 local keys: generated once, never commit this file. Losing it makes the data unreadable.\n"


def fresh_keys() -> dict[str, str]:
    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "C360_KEYRING": f"1:{generate_key()}",
        "C360_INDEX_KEY": generate_key(),
        "C360_RECEIPT_SIGNING_KEY": generate_key(),
    }


def keys_env() -> str:
    return HEADER + "".join(f"{name}={value}\n" for name, value in fresh_keys().items())


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m c360.lib.keygen PATH\n")
        return 2
    path = Path(argv[1])
    if path.exists():
        # Keys already there are never regenerated (the data depends on them); keys a newer c360
        # needs are added.
        present = {line.split("=", 1)[0] for line in path.read_text(encoding="utf-8").splitlines() if "=" in line}
        missing = {name: value for name, value in fresh_keys().items() if name not in present}
        if missing:
            with path.open("a", encoding="utf-8") as handle:
                handle.writelines(f"{name}={value}\n" for name, value in missing.items())
            sys.stderr.write(f"Added {', '.join(missing)} to {path}; the existing keys are kept.\n")
        else:
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
