"""Labels of profile attributes and identifiers in the person's language."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

register = template.Library()

ATTRIBUTE_LABELS = {
    "given_name": _("Given name"),
    "family_name": _("Family name"),
    "social_name": _("Social name"),
    "birth_date": _("Date of birth"),
    "address": _("Address"),
    "locale": _("Preferred language"),
}
IDENTIFIER_LABELS = {
    "email": _("Email"),
    "phone": _("Phone"),
    "cpf": _("CPF"),
    "cnpj": _("CNPJ"),
    "external": _("Customer number"),
}
ADDRESS_ORDER = ("street", "number", "complement", "district", "city", "state", "postal_code", "country")


@register.filter
def attribute_label(name: str) -> str:
    return str(ATTRIBUTE_LABELS.get(name, name))


@register.filter
def identifier_label(kind: str) -> str:
    return str(IDENTIFIER_LABELS.get(kind, kind))


@register.filter
def attribute_value(value: Any) -> str:
    if isinstance(value, dt.date):
        return date_format(value, "DATE_FORMAT")
    if isinstance(value, dict):
        return ", ".join(str(value[key]) for key in ADDRESS_ORDER if value.get(key))
    return str(value)
