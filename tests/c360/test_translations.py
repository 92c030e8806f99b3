"""Every string of the portal and its mails is translated into pt-BR and es, and the compiled
catalogues match their sources (LEGAL R-06: clear language, Portuguese first)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings

LOCALE = Path(settings.BASE_DIR) / "c360" / "locale"
LANGUAGES = ("pt_BR", "es")


def _catalogue(language: str) -> polib.POFile:
    return polib.pofile(str(LOCALE / language / "LC_MESSAGES" / "django.po"))


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_entry_is_untranslated_or_fuzzy(language):
    catalogue = _catalogue(language)
    assert len(catalogue) > 100
    assert [entry.msgid for entry in catalogue.untranslated_entries()] == []
    assert [entry.msgid for entry in catalogue.fuzzy_entries()] == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_compiled_catalogue_matches_its_source(language):
    source = {(entry.msgctxt, entry.msgid): entry.msgstr for entry in _catalogue(language).translated_entries()}
    compiled = polib.mofile(str(LOCALE / language / "LC_MESSAGES" / "django.mo"))
    assert {(entry.msgctxt, entry.msgid): entry.msgstr for entry in compiled if entry.msgid} == source


def test_makemessages_finds_no_string_missing_from_the_catalogues(tmp_path):
    """Extract today's strings in a copy of the project: nothing may appear that the catalogues lack.

    A copy, because makemessages writes into every ``locale`` folder it finds in the tree it walks.
    """
    if shutil.which("xgettext") is None:
        pytest.skip("GNU gettext (xgettext) is not installed: apt-get install gettext")
    root = Path(settings.BASE_DIR)
    copy = tmp_path / "project"
    copy.mkdir()
    shutil.copy2(root / "manage.py", copy / "manage.py")
    for folder in ("c360", "profiles", "consent", "dsar", "templates"):
        shutil.copytree(root / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", *[f"-l{language}" for language in LANGUAGES]],
        cwd=copy,
        check=True,
        capture_output=True,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "c360.settings.test", "PYTHONPATH": str(copy)},
    )
    for language in LANGUAGES:
        extracted = polib.pofile(str(copy / "c360" / "locale" / language / "LC_MESSAGES" / "django.po"))
        missing = [entry.msgid for entry in extracted.untranslated_entries() if not entry.obsolete]
        assert missing == [], f"{language}: strings in the sources with no translation (run make messages)"
