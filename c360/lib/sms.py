"""Outbound SMS behind one small interface; the deployment picks the gateway in ``C360_SMS_SENDER``.

A sender is a class with ``send(to, text)``. ``to`` is an E.164 number. The console sender is for the
demo only (it prints the message, as Django's console mail backend does); the outbox sender keeps
messages in memory for tests, like ``django.core.mail.outbox``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class Sms:
    to: str
    text: str


class SmsSender(Protocol):
    def send(self, to: str, text: str) -> None: ...


class ConsoleSender:
    def send(self, to: str, text: str) -> None:
        sys.stdout.write(f"SMS to {to}: {text}\n")
        sys.stdout.flush()


outbox: list[Sms] = []


class OutboxSender:
    def send(self, to: str, text: str) -> None:
        outbox.append(Sms(to, text))


def send_sms(to: str, text: str) -> None:
    sender: SmsSender = import_string(settings.C360_SMS_SENDER)()
    sender.send(to, text)
