"""Crypto throughput: field encrypt/decrypt, blind indexes, and opening a subject with 10 encrypted fields.

    python bench/crypto.py [--quick]

Last line: one JSON object. Target (issue: platform foundation): a subject with 10 encrypted fields
decrypts in <= 100 microseconds, data key unwrap included (cold: no cached key).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "c360.settings.test")

import django

django.setup()

from c360.lib.crypto import (
    DataKey,
    blind_index,
    data_key_cache,
    data_key_create,
    data_key_open,
    field_context,
    keyring,
)
from c360.lib.identifiers import normalise_email
from profiles.encryption import seal, unseal
from profiles.models import SUBJECT_ATTRIBUTES, Identifier, Subject, SubjectKey

TARGET_SUBJECT_US = 100
FIELDS = [f"field_{number}" for number in range(10)]


def per_second(operation: Callable[[int], object], count: int) -> float:
    started = time.perf_counter()
    for index in range(count):
        operation(index)
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (seconds, not tens of seconds)")
    args = parser.parse_args()
    count = 20_000 if args.quick else 200_000
    subjects = 2_000 if args.quick else 20_000

    data_key = DataKey(os.urandom(32))
    context = field_context("profiles_subject", "given_name", "7d1f3c2a-0000-4000-8000-000000000000")
    value = b"maria.souza@example.com"
    ciphertexts = [data_key.encrypt(value, context=context) for _ in range(1000)]

    encrypt_rate = per_second(lambda _: data_key.encrypt(value, context=context), count)
    decrypt_rate = per_second(lambda i: data_key.decrypt(ciphertexts[i % 1000], context=context), count)
    index_rate = per_second(lambda i: blind_index("email", f"person{i}@example.com"), count)
    normalise_index_rate = per_second(
        lambda i: blind_index("email", normalise_email(f" Person{i}@Example.COM ")), count // 10
    )

    # A subject as stored: a wrapped DEK plus 10 field ciphertexts bound to their row and field.
    ring = keyring()
    stored = []
    for number in range(subjects):
        row_id = f"subject-{number}"
        dek = os.urandom(32)
        wrapped = ring.wrap(dek, context=f"c360.dek|profiles.subject|{row_id}".encode())
        key = DataKey(dek)
        fields = [
            key.encrypt(f"value {name} of {row_id}".encode(), context=field_context("profiles_subject", name, row_id))
            for name in FIELDS
        ]
        stored.append((row_id, wrapped, fields))

    timings_us = []
    for row_id, wrapped, fields in stored:
        started = time.perf_counter_ns()
        key = DataKey(ring.unwrap(wrapped, context=f"c360.dek|profiles.subject|{row_id}".encode()))
        for name, ciphertext in zip(FIELDS, fields, strict=True):
            key.decrypt(ciphertext, context=field_context("profiles_subject", name, row_id))
        timings_us.append((time.perf_counter_ns() - started) / 1000)
    timings_us.sort()
    median_us = statistics.median(timings_us)
    p99_us = timings_us[int(len(timings_us) * 0.99) - 1]

    # The same through the model layer: a Subject's 6 attributes and 4 identifier values (10 fields).
    profiles = []
    for number in range(subjects):
        subject = Subject()
        subject_key = SubjectKey(subject=subject)
        key = data_key_create(subject_key)
        for name in SUBJECT_ATTRIBUTES:
            seal(
                key,
                subject,
                name,
                {"city": "Recife"} if name == "address" else None if name == "birth_date" else f"{name} {number}",
            )
        identifiers = [Identifier(subject=subject) for _ in range(4)]
        for identifier in identifiers:
            seal(key, identifier, "value", f"id-{number}@example.com")
        profiles.append((subject, subject_key, identifiers))
    data_key_cache.clear()
    model_timings_us = []
    for subject, subject_key, identifiers in profiles:
        started = time.perf_counter_ns()
        key = data_key_open(subject_key)
        for name in SUBJECT_ATTRIBUTES:
            unseal(key, subject, name)
        for identifier in identifiers:
            unseal(key, identifier, "value")
        model_timings_us.append((time.perf_counter_ns() - started) / 1000)
    model_median_us = statistics.median(model_timings_us)

    print(f"field encrypt: {encrypt_rate:,.0f}/s   field decrypt: {decrypt_rate:,.0f}/s")
    print(f"blind index: {index_rate:,.0f}/s   normalise email + blind index: {normalise_index_rate:,.0f}/s")
    print(
        f"subject with 10 fields, cold key: median {median_us:.1f} us, p99 {p99_us:.1f} us "
        f"(target <= {TARGET_SUBJECT_US})"
    )
    print(f"same through profiles.encryption on model instances: median {model_median_us:.1f} us")
    print(
        json.dumps(
            {
                "bench": "crypto",
                "quick": args.quick,
                "encrypt_per_s": round(encrypt_rate),
                "decrypt_per_s": round(decrypt_rate),
                "blind_index_per_s": round(index_rate),
                "normalise_email_and_index_per_s": round(normalise_index_rate),
                "subject_10_fields_decrypt_us_median": round(median_us, 1),
                "subject_10_fields_decrypt_us_p99": round(p99_us, 1),
                "subject_model_path_decrypt_us_median": round(model_median_us, 1),
                "target_us": TARGET_SUBJECT_US,
                "meets_target": max(median_us, model_median_us) <= TARGET_SUBJECT_US,
            }
        )
    )


if __name__ == "__main__":
    main()
