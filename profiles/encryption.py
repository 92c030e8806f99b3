"""Sealing and opening personal attributes with the data key of the subject (or record) they belong to.

``RowCipher`` works on plain values for the batch paths, which handle rows as dicts; ``seal`` and
``unseal`` wrap it for model instances, live or historical: a historical row's ciphertext is bound to
the original table and row id, so it opens with the same key and context.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from typing import Any

from django.db import models

from c360.lib.crypto import DataKey, field_context

from .fields import EncryptedField


def _encode(value: Any, value_type: str) -> bytes:
    if value_type == "date":
        if not isinstance(value, dt.date):
            raise TypeError("a date attribute takes a datetime.date")
        return value.isoformat().encode()
    if value_type == "json":
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    if not isinstance(value, str):
        raise TypeError("a text attribute takes a str")
    return value.encode()


def _decode(raw: bytes, value_type: str) -> Any:
    if value_type == "date":
        return dt.date.fromisoformat(raw.decode())
    if value_type == "json":
        return json.loads(raw)
    return raw.decode()


class RowCipher:
    """The encrypted attributes of one model: which exist, their types, and the table they bind to."""

    def __init__(self, model: type[models.Model]) -> None:
        self.table = model._meta.db_table
        self.types = {
            field.attribute: field.value_type
            for field in model._meta.concrete_fields
            if isinstance(field, EncryptedField)
        }

    def seal(self, data_key: DataKey, row_id: object, attribute: str, value: Any) -> bytes | None:
        """The ciphertext of ``value`` (None for an empty value: nothing is stored)."""
        if value is None or value in ("", {}):
            return None
        plaintext = _encode(value, self.types[attribute])
        return data_key.encrypt(plaintext, context=field_context(self.table, attribute, row_id))

    def open(self, data_key: DataKey, row_id: object, attribute: str, ciphertext: bytes | None) -> Any:
        if ciphertext is None:
            return None
        plaintext = data_key.decrypt(bytes(ciphertext), context=field_context(self.table, attribute, row_id))
        return _decode(plaintext, self.types[attribute])


@cache
def cipher_for(model: type[models.Model]) -> RowCipher:
    return RowCipher(model)


def _origin(instance: models.Model) -> tuple[RowCipher, object]:
    model = getattr(instance, "instance_type", type(instance))  # historical rows point at their model
    # A historical row copies the original primary key under the same attribute name.
    return cipher_for(model), getattr(instance, model._meta.pk.attname)


def _check(cipher: RowCipher, attribute: str) -> None:
    if attribute not in cipher.types:
        raise TypeError(f"{attribute} is not an encrypted attribute")


def seal(data_key: DataKey, instance: models.Model, attribute: str, value: Any) -> None:
    """Set ``instance.<attribute>_enc`` to the ciphertext of ``value`` (None or "" clears it)."""
    cipher, row_id = _origin(instance)
    _check(cipher, attribute)
    setattr(instance, f"{attribute}_enc", cipher.seal(data_key, row_id, attribute, value))


def unseal(data_key: DataKey, instance: models.Model, attribute: str) -> Any:
    cipher, row_id = _origin(instance)
    _check(cipher, attribute)
    return cipher.open(data_key, row_id, attribute, getattr(instance, f"{attribute}_enc"))
