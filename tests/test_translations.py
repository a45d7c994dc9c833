"""The Chinese UI is complete: every string in the code is translated and compiled."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest

from conftest import in_ci

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "gonghui"
PO = PACKAGE / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


def _key(entry: polib.POEntry) -> tuple[str | None, str, str | None]:
    return entry.msgctxt, entry.msgid, entry.msgid_plural or None


def test_every_entry_is_translated():
    po = polib.pofile(str(PO))
    untranslated = [e.msgid for e in po.untranslated_entries()]
    fuzzy = [e.msgid for e in po.fuzzy_entries()]
    assert untranslated == []
    assert fuzzy == []


def test_the_compiled_catalogue_matches_the_source():
    po = polib.pofile(str(PO))
    mo = polib.mofile(str(MO))
    compiled = {(e.msgctxt, e.msgid): (e.msgstr, e.msgstr_plural) for e in mo}
    for entry in po.translated_entries():
        got = compiled.get((entry.msgctxt, entry.msgid))
        assert got is not None, f"not compiled: {entry.msgid!r} (run make messages)"
        if entry.msgid_plural:
            assert got[1] == {int(k): v for k, v in entry.msgstr_plural.items()}, entry.msgid
        else:
            assert got[0] == entry.msgstr, entry.msgid


def test_no_string_in_the_code_is_missing_from_the_catalogue(tmp_path):
    if shutil.which("xgettext") is None:
        if in_ci():
            pytest.fail("GNU gettext (xgettext) is required under CI")
        pytest.skip("SKIPPED: xgettext not installed, cannot extract strings")
    copy = tmp_path / "gonghui"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    subprocess.run(
        [sys.executable, "-m", "gonghui", "makemessages", "-l", "zh_Hans", "--no-obsolete"],
        cwd=copy,
        check=True,
        capture_output=True,
    )
    extracted = {_key(e) for e in polib.pofile(str(copy / PO.relative_to(PACKAGE)))}
    committed = {_key(e) for e in polib.pofile(str(PO))}
    missing = sorted(str(k) for k in extracted - committed)
    assert missing == [], "run `make messages` and translate the new strings"
