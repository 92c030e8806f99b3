"""Systems with no API: a person does the step, following the source's instructions, and records it."""

from __future__ import annotations

from typing import Any, NoReturn

from dsar.connectors.base import ExportedRecord, Identity, Match, Outcome


class ManualStep(Exception):
    """The step needs a person; the task waits for them to record what they did (and their evidence)."""


class ManualConnector:
    def __init__(self, *, instructions: str) -> None:
        self.instructions = instructions

    def _person(self) -> NoReturn:
        raise ManualStep(self.instructions)

    def locate(self, identities: list[Identity]) -> list[Match]:
        self._person()

    def export(self, matches: list[Match]) -> list[ExportedRecord]:
        self._person()

    def erase(self, matches: list[Match]) -> Outcome:
        self._person()

    def rectify(self, matches: list[Match], corrections: dict[str, Any]) -> Outcome:
        self._person()

    def restrict(self, matches: list[Match]) -> Outcome:
        self._person()
