"""Ed25519 signatures for receipts c360 hands out as evidence (e.g. that a campaign list was checked).

Anyone holding the public key (served by the API) can verify a receipt without trusting c360's
database: the signature covers a canonical JSON form of the receipt.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings

from c360.lib.crypto import KeyringError

SIGNING_KEY_FORM = "32 random bytes in URL-safe base64 (an Ed25519 private key seed)"


def parse_signing_key(text: str) -> Ed25519PrivateKey:
    try:
        seed = base64.b64decode(text.strip() + "=" * (-len(text.strip()) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError("the signing key is not valid URL-safe base64") from None
    if len(seed) != 32:
        raise KeyringError(f"the signing key decodes to {len(seed)} bytes instead of 32")
    return Ed25519PrivateKey.from_private_bytes(seed)


def canonical_json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign(payload: dict[str, Any]) -> str:
    key: Ed25519PrivateKey = settings.C360_RECEIPT_SIGNING_KEY
    return base64.b64encode(key.sign(canonical_json(payload))).decode("ascii")


def public_key() -> str:
    key: Ed25519PrivateKey = settings.C360_RECEIPT_SIGNING_KEY
    return base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode("ascii")


def verify(payload: dict[str, Any], signature: str, public_key_b64: str | None = None) -> bool:
    raw = base64.b64decode(public_key_b64 or public_key())
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(base64.b64decode(signature), canonical_json(payload))
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True
