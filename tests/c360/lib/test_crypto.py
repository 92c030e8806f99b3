"""c360.lib.crypto on its own: keyring parsing, envelope round trips, tamper detection, blind indexes."""

from __future__ import annotations

import base64

import pytest
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from c360.lib.crypto import (
    BLIND_INDEX_SIZE,
    DataKey,
    DecryptionError,
    Keyring,
    KeyringError,
    blind_index,
    field_context,
    generate_key,
    key_version,
    parse_index_key,
)

KEY_1, KEY_2 = generate_key(), generate_key()


def test_keyring_parses_versions_and_picks_the_highest_as_active():
    ring = Keyring.parse(f" 2:{KEY_2} , 1:{KEY_1} ")

    assert ring.active_version == 2
    assert set(ring.keys) == {1, 2}
    assert ring.keys[1] == base64.urlsafe_b64decode(KEY_1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "holds no key"),
        (KEY_1, "does not start with VERSION:"),
        ("x:" + KEY_1, "does not start with VERSION:"),
        ("0:" + KEY_1, "outside 1..65535"),
        (f"1:{KEY_1},1:{KEY_2}", "appears twice"),
        ("1:not-base64!!", "not valid URL-safe base64"),
        ("1:" + base64.urlsafe_b64encode(b"short").decode(), "decodes to 5 bytes"),
        (f"1:{KEY_1},2:{KEY_1}", "same key"),
    ],
)
def test_keyring_refuses_malformed_text_without_echoing_key_material(text, message):
    with pytest.raises(KeyringError) as excinfo:
        Keyring.parse(text)

    assert message in str(excinfo.value)
    assert KEY_1 not in str(excinfo.value)


def test_index_key_must_be_32_bytes():
    assert len(parse_index_key(KEY_1)) == 32
    with pytest.raises(KeyringError, match="decodes to 16 bytes"):
        parse_index_key(base64.urlsafe_b64encode(bytes(16)).decode())


def test_wrapped_key_round_trips_and_carries_the_kek_version():
    ring = Keyring.parse(f"1:{KEY_1},7:{KEY_2}")
    dek = bytes(range(32))

    blob = ring.wrap(dek, context=b"owner-1")

    assert key_version(blob) == 7
    assert ring.unwrap(blob, context=b"owner-1") == dek
    assert dek not in blob


def test_a_wrapped_key_moved_to_another_owner_does_not_unwrap():
    ring = Keyring.parse(f"1:{KEY_1}")
    blob = ring.wrap(bytes(32), context=b"c360.dek|profiles.subject|A")

    with pytest.raises(DecryptionError, match="failed authentication"):
        ring.unwrap(blob, context=b"c360.dek|profiles.subject|B")


def test_unwrapping_needs_the_version_it_was_wrapped_with():
    blob = Keyring.parse(f"1:{KEY_1}").wrap(bytes(32), context=b"x")

    with pytest.raises(KeyringError, match="key version 1 is not in C360_KEYRING"):
        Keyring.parse(f"2:{KEY_2}").unwrap(blob, context=b"x")


def test_rewriting_the_version_in_the_header_is_detected():
    ring = Keyring.parse(f"1:{KEY_1},2:{KEY_2}")
    blob = bytearray(ring.wrap(bytes(32), context=b"x"))
    blob[2] = 1  # claim version 1 for a blob wrapped under version 2

    with pytest.raises(DecryptionError):
        ring.unwrap(bytes(blob), context=b"x")


@settings(max_examples=50, deadline=None)
@given(plaintext=st.binary(max_size=256))
def test_field_ciphertext_round_trips(plaintext):
    data_key = DataKey(bytes(range(32)))
    context = field_context("profiles_subject", "given_name", "row-1")

    assert data_key.decrypt(data_key.encrypt(plaintext, context=context), context=context) == plaintext


def test_every_flipped_byte_is_detected():
    data_key = DataKey(bytes(range(32)))
    context = field_context("profiles_subject", "given_name", "row-1")
    ciphertext = data_key.encrypt(b"Maria", context=context)

    for position in range(len(ciphertext)):
        tampered = bytearray(ciphertext)
        tampered[position] ^= 0x01
        with pytest.raises(DecryptionError):
            data_key.decrypt(bytes(tampered), context=context)


@pytest.mark.parametrize(
    "other_context",
    [
        field_context("profiles_subject", "family_name", "row-1"),  # other field
        field_context("profiles_subject", "given_name", "row-2"),  # other row
        field_context("profiles_identifier", "given_name", "row-1"),  # other table
    ],
)
def test_a_ciphertext_moved_elsewhere_does_not_decrypt(other_context):
    data_key = DataKey(bytes(range(32)))
    ciphertext = data_key.encrypt(b"Maria", context=field_context("profiles_subject", "given_name", "row-1"))

    with pytest.raises(DecryptionError, match="moved to another row or field"):
        data_key.decrypt(ciphertext, context=other_context)


def test_another_subjects_key_does_not_decrypt():
    context = field_context("profiles_subject", "given_name", "row-1")
    ciphertext = DataKey(bytes(range(32))).encrypt(b"Maria", context=context)

    with pytest.raises(DecryptionError):
        DataKey(bytes(range(1, 33))).decrypt(ciphertext, context=context)


def test_truncated_ciphertext_is_refused():
    with pytest.raises(DecryptionError, match="truncated"):
        DataKey(bytes(32)).decrypt(b"\x01\x00\x01abc", context=b"x")


def test_encryption_is_randomised():
    data_key = DataKey(bytes(32))
    assert data_key.encrypt(b"same", context=b"x") != data_key.encrypt(b"same", context=b"x")


def test_blind_index_is_deterministic_keyed_and_namespaced_per_kind():
    email_index = blind_index("email", "maria@example.com")

    assert len(email_index) == BLIND_INDEX_SIZE
    assert blind_index("email", "maria@example.com") == email_index
    assert blind_index("external:crm", "maria@example.com") != email_index
    assert blind_index("email", "maria2@example.com") != email_index
    with override_settings(C360_INDEX_KEY=base64.urlsafe_b64decode(KEY_2)):
        assert blind_index("email", "maria@example.com") != email_index
