"""Sealing and opening a subject's encrypted attributes with that subject's data key.

Works on live rows and on simple-history's historical rows alike: a historical row's ciphertext is
bound to the original table and row id, so it opens with the same key and context.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.db import models

from c360.lib.crypto import DataKey, field_context

from .fields import EncryptedField


def _encrypted_field(instance: models.Model, attribute: str) -> EncryptedField:
    field = instance._meta.get_field(f"{attribute}_enc")
    if not isinstance(field, EncryptedField):
        raise TypeError(f"{attribute} is not an encrypted attribute")
    return field


def _origin(instance: models.Model) -> tuple[str, object]:
    model = getattr(instance, "instance_type", type(instance))  # historical rows point at their model
    # A historical row copies the original primary key under the same attribute name.
    return model._meta.db_table, getattr(instance, model._meta.pk.attname)


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


def seal(data_key: DataKey, instance: models.Model, attribute: str, value: Any) -> None:
    """Set ``instance.<attribute>_enc`` to the ciphertext of ``value`` (None or "" clears it)."""
    field = _encrypted_field(instance, attribute)
    if value is None or value in ("", {}):
        setattr(instance, field.attname, None)
        return
    table, row_id = _origin(instance)
    ciphertext = data_key.encrypt(_encode(value, field.value_type), context=field_context(table, attribute, row_id))
    setattr(instance, field.attname, ciphertext)


def unseal(data_key: DataKey, instance: models.Model, attribute: str) -> Any:
    field = _encrypted_field(instance, attribute)
    ciphertext = getattr(instance, field.attname)
    if ciphertext is None:
        return None
    table, row_id = _origin(instance)
    return _decode(
        data_key.decrypt(bytes(ciphertext), context=field_context(table, attribute, row_id)), field.value_type
    )
