"""Envelope encryption of personal data, blind indexes for equality search, and crypto-shredding.

Key hierarchy: versioned key-encryption keys (KEKs, ``C360_KEYRING``) wrap one data key (DEK) per
subject; the DEK encrypts that subject's fields with AES-256-GCM. Destroying the wrapped DEK makes
every copy of the subject's ciphertext unreadable (rows, history rows, backups): crypto-shredding.

Every ciphertext is bound by associated data to where it lives (table, field, row id), so a
ciphertext copied to another row or field fails authentication instead of decrypting.

Blind indexes are HMAC-SHA256 of a normalised value under a separate index key (``C360_INDEX_KEY``),
with one derived sub-key per identifier kind so an email index can never equal a phone index.
Low-entropy values (CPF, phone) are guessable from their index by anyone holding the index key: it is
kept apart from the KEKs and never stored in the database.

This module imports no app and no Django model, so settings can use it to validate keys at start-up.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.utils import timezone

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from c360.lib.models import WrappedDataKey

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
BLIND_INDEX_SIZE = 16
FORMAT_VERSION = 1
_HEADER = struct.Struct(">BH")  # format version, key version
_OVERHEAD = _HEADER.size + NONCE_SIZE + TAG_SIZE

KEYRING_FORM = (
    "a comma-separated list of VERSION:KEY entries, VERSION a positive integer and KEY 32 random bytes "
    "in URL-safe base64 (python -m c360.lib.keygen PATH writes a fresh set); "
    "the highest version is the active one, e.g. 1:<key>,2:<key>"
)
INDEX_KEY_FORM = "32 random bytes in URL-safe base64, different from every key of C360_KEYRING"


class CryptoError(Exception):
    """Base class; messages never contain key material or plaintext."""


class KeyringError(CryptoError, ValueError):
    pass


class DecryptionError(CryptoError):
    pass


class KeyShreddedError(DecryptionError):
    pass


def generate_key() -> str:
    """A new random 256-bit key in the form C360_KEYRING and C360_INDEX_KEY take."""
    return base64.urlsafe_b64encode(os.urandom(KEY_SIZE)).decode("ascii")


def _decode_key(text: str, *, what: str) -> bytes:
    compact = text.strip()
    try:
        raw = base64.b64decode(compact + "=" * (-len(compact) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(f"{what} is not valid URL-safe base64") from None
    if len(raw) != KEY_SIZE:
        raise KeyringError(f"{what} decodes to {len(raw)} bytes instead of {KEY_SIZE}")
    return raw


def parse_index_key(text: str) -> bytes:
    return _decode_key(text, what="the index key")


@dataclass(frozen=True)
class Keyring:
    """The KEKs by version; the highest version wraps new DEKs, older ones only unwrap."""

    keys: Mapping[int, bytes]
    active_version: int = field(init=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyringError("the keyring holds no key")
        if len(set(self.keys.values())) != len(self.keys):
            raise KeyringError("two versions hold the same key")
        object.__setattr__(self, "active_version", max(self.keys))

    @classmethod
    def parse(cls, text: str) -> Keyring:
        keys: dict[int, bytes] = {}
        for position, entry in enumerate(filter(None, (part.strip() for part in text.split(","))), start=1):
            version_text, separator, key_text = entry.partition(":")
            if not separator or not version_text.strip().isdigit():
                raise KeyringError(f"entry {position} does not start with VERSION:")
            version = int(version_text)
            if not 1 <= version <= 0xFFFF:
                raise KeyringError(f"entry {position} has version {version}, outside 1..65535")
            if version in keys:
                raise KeyringError(f"version {version} appears twice")
            keys[version] = _decode_key(key_text, what=f"the key of version {version}")
        return cls(keys)

    def _aead(self, version: int) -> AESGCM:
        try:
            return _aead_for(self.keys[version])
        except KeyError:
            raise KeyringError(
                f"key version {version} is not in C360_KEYRING; keep it there until rotate_keys has re-wrapped "
                "every data key"
            ) from None

    def wrap(self, dek: bytes, *, context: bytes) -> bytes:
        return _seal(self._aead(self.active_version), self.active_version, dek, context)

    def unwrap(self, blob: bytes, *, context: bytes) -> bytes:
        version = key_version(blob)
        return _open(self._aead(version), blob, context)


def key_version(blob: bytes) -> int:
    """The version of the key a ciphertext was made with, read from its header."""
    if len(blob) < _OVERHEAD:
        raise DecryptionError("ciphertext is truncated")
    format_version, version = _HEADER.unpack_from(blob)
    if format_version != FORMAT_VERSION:
        raise DecryptionError(f"unknown ciphertext format {format_version}")
    return version


@lru_cache(maxsize=64)
def _aead_for(key: bytes) -> AESGCM:
    return AESGCM(key)


def _seal(aead: AESGCM, version: int, plaintext: bytes, context: bytes) -> bytes:
    header = _HEADER.pack(FORMAT_VERSION, version)
    nonce = os.urandom(NONCE_SIZE)
    # The header is authenticated too: changing the advertised key version breaks the tag.
    return header + nonce + aead.encrypt(nonce, plaintext, header + context)


def _open(aead: AESGCM, blob: bytes, context: bytes) -> bytes:
    header = blob[: _HEADER.size]
    nonce = blob[_HEADER.size : _HEADER.size + NONCE_SIZE]
    try:
        return aead.decrypt(nonce, blob[_HEADER.size + NONCE_SIZE :], header + context)
    except InvalidTag:
        raise DecryptionError(
            "ciphertext failed authentication: it was altered, moved to another row or field, or the key is wrong"
        ) from None


class DataKey:
    """One subject's DEK, unwrapped, able to encrypt and decrypt that subject's fields."""

    __slots__ = ("_aead", "version")

    def __init__(self, key: bytes, version: int = 1) -> None:
        if len(key) != KEY_SIZE:
            raise KeyringError(f"a data key must be {KEY_SIZE} bytes")
        self._aead = AESGCM(key)
        self.version = version

    def encrypt(self, plaintext: bytes, *, context: bytes) -> bytes:
        return _seal(self._aead, self.version, plaintext, context)

    def decrypt(self, blob: bytes, *, context: bytes) -> bytes:
        if key_version(blob) != self.version:
            raise DecryptionError("ciphertext was made with another generation of the data key")
        return _open(self._aead, blob, context)


def field_context(table: str, field_name: str, row_id: object) -> bytes:
    """Associated data binding a field ciphertext to its table, field and row."""
    return f"c360.field|{table}|{field_name}|{row_id}".encode()


# ---------------------------------------------------------------- keys from settings


def keyring() -> Keyring:
    return settings.C360_KEYRING


@lru_cache(maxsize=8)
def _blind_indexer(index_key: bytes) -> _BlindIndexer:
    return _BlindIndexer(index_key)


class _BlindIndexer:
    __slots__ = ("_index_key", "_subkeys")

    def __init__(self, index_key: bytes) -> None:
        self._index_key = index_key
        self._subkeys: dict[str, bytes] = {}

    def subkey(self, kind: str) -> bytes:
        subkey = self._subkeys.get(kind)
        if subkey is None:
            subkey = hmac.digest(self._index_key, b"c360.blind-index.v1|" + kind.encode(), hashlib.sha256)
            self._subkeys[kind] = subkey
        return subkey

    def __call__(self, kind: str, normalised_value: str) -> bytes:
        digest = hmac.digest(self.subkey(kind), normalised_value.encode("utf-8"), hashlib.sha256)
        return digest[:BLIND_INDEX_SIZE]


def blind_index(kind: str, normalised_value: str) -> bytes:
    """Keyed, deterministic, per-kind index of an already normalised identifier value."""
    return _blind_indexer(settings.C360_INDEX_KEY)(kind, normalised_value)


# ---------------------------------------------------------------- wrapped data keys


@dataclass
class WrappedKey:
    """A wrapped DEK handled outside a model instance (batch paths read keys as plain rows)."""

    wrapped_dek: bytes | None
    kek_version: int | None
    context: bytes
    rewrapped_at: object = None

    def key_context(self) -> bytes:
        return self.context


class _DataKeyCache:
    """Unwrapped DEKs by wrapped blob, bounded LRU: a hot subject is unwrapped once, not per field.

    Keyed by the wrapped blob itself, so a shredded key (no blob left) or a re-wrapped key (new blob)
    can never be served from a stale entry.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[bytes, DataKey] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, blob: bytes) -> DataKey | None:
        with self._lock:
            data_key = self._entries.get(blob)
            if data_key is not None:
                self._entries.move_to_end(blob)
            return data_key

    def put(self, blob: bytes, data_key: DataKey) -> None:
        with self._lock:
            self._entries[blob] = data_key
            self._entries.move_to_end(blob)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def forget(self, blob: bytes) -> None:
        with self._lock:
            self._entries.pop(blob, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


data_key_cache = _DataKeyCache(size=4096)


def data_key_create(holder: WrappedDataKey | WrappedKey) -> DataKey:
    """Generate a DEK, store it wrapped under the active KEK on ``holder`` (not saved) and return it."""
    dek = os.urandom(KEY_SIZE)
    ring = keyring()
    holder.wrapped_dek = ring.wrap(dek, context=holder.key_context())
    holder.kek_version = ring.active_version
    data_key = DataKey(dek)
    data_key_cache.put(holder.wrapped_dek, data_key)
    return data_key


def data_key_open(holder: WrappedDataKey | WrappedKey) -> DataKey:
    blob = holder.wrapped_dek
    if blob is None:
        raise KeyShreddedError("the data key was destroyed (crypto-shredded); this data can no longer be read")
    blob = bytes(blob)
    data_key = data_key_cache.get(blob)
    if data_key is None:
        data_key = DataKey(keyring().unwrap(blob, context=holder.key_context()))
        data_key_cache.put(blob, data_key)
    return data_key


def data_key_rewrap(holder: WrappedDataKey) -> bool:
    """Re-wrap the DEK under the active KEK (not saved); False if it already was or is shredded."""
    ring = keyring()
    if holder.wrapped_dek is None or holder.kek_version == ring.active_version:
        return False
    old_blob = bytes(holder.wrapped_dek)
    dek = ring.unwrap(old_blob, context=holder.key_context())
    holder.wrapped_dek = ring.wrap(dek, context=holder.key_context())
    holder.kek_version = ring.active_version
    holder.rewrapped_at = timezone.now()
    data_key_cache.forget(old_blob)
    return True


def shred(holder: WrappedDataKey) -> bool:
    """Destroy the wrapped DEK and save: every ciphertext under it becomes unreadable. Idempotent."""
    if holder.wrapped_dek is None:
        return False
    data_key_cache.forget(bytes(holder.wrapped_dek))
    holder.wrapped_dek = None
    holder.kek_version = None
    holder.shredded_at = timezone.now()
    holder.save(update_fields=["wrapped_dek", "kek_version", "shredded_at"])
    return True


# ---------------------------------------------------------------- files


FILE_MAGIC = b"C360F1"
FILE_CHUNK = 1 << 20


def encrypt_stream(chunks: Iterable[bytes], key: DataKey, *, context: bytes) -> Iterator[bytes]:
    """Encrypt a byte stream in 1 MiB AES-GCM chunks; each chunk is bound to its position and the last
    one is marked, so chunks cannot be reordered, dropped or the file cut short without detection."""
    yield FILE_MAGIC
    pending = b""
    index = 0
    buffered: bytes | None = None
    for piece in chunks:
        pending += piece
        while len(pending) >= FILE_CHUNK:
            if buffered is not None:
                yield _sealed_chunk(buffered, key, context, index, last=False)
                index += 1
            buffered, pending = pending[:FILE_CHUNK], pending[FILE_CHUNK:]
    if buffered is not None and pending:
        yield _sealed_chunk(buffered, key, context, index, last=False)
        index += 1
        buffered = None
    yield _sealed_chunk(buffered if buffered is not None else pending, key, context, index, last=True)


def decrypt_stream(read: Callable[[int], bytes], key: DataKey, *, context: bytes) -> Iterator[bytes]:
    """The plaintext chunks of ``encrypt_stream``'s output; raises DecryptionError on any tampering."""
    if read(len(FILE_MAGIC)) != FILE_MAGIC:
        raise DecryptionError("not a c360 encrypted file")
    index = 0
    while True:
        length_bytes = read(4)
        if len(length_bytes) < 4:
            raise DecryptionError("the encrypted file is cut short")
        length = int.from_bytes(length_bytes, "big")
        flag, blob = read(1), read(length)
        if len(blob) < length or flag not in {b"\x00", b"\x01"}:
            raise DecryptionError("the encrypted file is cut short")
        last = flag == b"\x01"
        yield key.decrypt(blob, context=_chunk_context(context, index, last=last))
        if last:
            if read(1):
                raise DecryptionError("data after the last chunk of the encrypted file")
            return
        index += 1


def _chunk_context(context: bytes, index: int, *, last: bool) -> bytes:
    return context + b"|chunk|" + index.to_bytes(8, "big") + (b"|last" if last else b"")


def _sealed_chunk(plaintext: bytes, key: DataKey, context: bytes, index: int, *, last: bool) -> bytes:
    blob = key.encrypt(plaintext, context=_chunk_context(context, index, last=last))
    return len(blob).to_bytes(4, "big") + (b"\x01" if last else b"\x00") + blob
