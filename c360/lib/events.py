"""Domain events between apps that must not import each other.

``profiles`` sits below ``consent`` and ``dsar`` and may not call them, yet a merge or an erasure of
subjects must be reflected in the consent ledger in the same transaction. The lower app announces
what happened here; the upper app connects its handler when it loads (``AppConfig.ready``). Every
event and its payload are declared in this file, so the coupling is written down in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class DomainEvent:
    name: str
    payload: str
    handlers: list[Callable[..., None]] = field(default_factory=list)

    def connect(self, handler: Callable[..., None]) -> None:
        if handler not in self.handlers:
            self.handlers.append(handler)

    def send(self, **payload: Any) -> None:
        """Call every handler synchronously, inside the caller's transaction: all or nothing."""
        for handler in self.handlers:
            handler(**payload)


subjects_merged = DomainEvent(
    "subjects_merged",
    "merges: list of (survivor id, absorbed id, merge decision id); at: datetime; actor: Actor",
)
subject_erased = DomainEvent(
    "subject_erased",
    "subject_ids: ids of the erased person's subjects; contact_points: list of (kind, blind index); "
    "at: datetime; actor: Actor; reason: str",
)
