"""The column type for personal data: ciphertext under the owning subject's data key.

The field stores bytes only; sealing and opening happen in ``profiles.encryption`` with the subject's
key, because a field alone cannot know which key or which row it belongs to.
"""

from __future__ import annotations

from typing import Any

from django.db import models

VALUE_TYPES = ("text", "date", "json")


class EncryptedField(models.BinaryField):
    description = "AES-256-GCM ciphertext of one personal-data attribute"

    def __init__(self, *args: Any, value_type: str = "text", **kwargs: Any) -> None:
        if value_type not in VALUE_TYPES:
            raise ValueError(f"value_type must be one of {VALUE_TYPES}")
        self.value_type = value_type
        kwargs.setdefault("null", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[Any, ...]:
        name, path, args, kwargs = super().deconstruct()
        if self.value_type != "text":
            kwargs["value_type"] = self.value_type
        kwargs.pop("editable", None)
        if kwargs.get("null") is True:
            kwargs.pop("null")
        return name, path, args, kwargs

    @property
    def attribute(self) -> str:
        """The attribute the ciphertext holds: ``given_name`` for the column ``given_name_enc``."""
        return self.name.removesuffix("_enc")
