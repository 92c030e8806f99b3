"""Scanning text for clear-text personal data, many values at once (Aho-Corasick, one pass per text)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import ahocorasick

_BYTEA_HEX = re.compile(r"\\\\?x([0-9a-f]{2,})")


def decoded_bytea(dump: str) -> str:
    """The bytes of every bytea value of a pg_dump, as latin-1 text: plaintext stored as bytes shows up here."""
    return "\n".join(bytes.fromhex(blob[: len(blob) // 2 * 2]).decode("latin-1") for blob in _BYTEA_HEX.findall(dump))


def find_leaks(texts: Mapping[str, str], forms: Iterable[str]) -> list[tuple[str, str]]:
    """(where, value) for every form found in any text; forms are also searched as UTF-8 bytes read as latin-1."""
    automaton = ahocorasick.Automaton()
    for form in set(forms):
        if form:
            automaton.add_word(form, form)
            as_bytes = form.encode("utf-8").decode("latin-1")
            automaton.add_word(as_bytes, form)
    automaton.make_automaton()
    return sorted({(where, form) for where, text in texts.items() for _, form in automaton.iter(text)})
