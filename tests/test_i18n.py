"""The translation catalogs: in step with the code, every message translated, placeholders, plural forms and
Markdown markers that agree, one translation per message; the language choice and the locale formats."""

from __future__ import annotations

import re
import string
from datetime import datetime

import pytest

from console import i18n
from console.i18n import fmt_date, fmt_datetime, fmt_days_left, fmt_number, read_catalog, use_language
from console.i18n_tools import untranslated, update


def _fields(text: str) -> set[str]:
    try:
        return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise AssertionError(f"broken placeholder in {text!r}: {exc}") from exc


def _markers(text: str) -> tuple[int, int]:
    return text.count("**"), text.count("`")


def test_catalogs_are_in_step_with_the_code() -> None:
    stale = update(check=True)
    assert not stale, f"run python -m console.i18n_tools: out of step: {stale}"


def test_every_message_has_a_japanese_translation() -> None:
    missing = untranslated("ja")
    assert not missing, f"{len(missing)} untranslated (python -m console.i18n_tools lists them):\n" + \
        "\n".join(missing[:40])


def test_placeholders_plurals_and_markdown_agree() -> None:
    catalog = read_catalog("ja")
    assert catalog.num_plurals == 1, "Japanese has one plural form"
    problems = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if isinstance(message.id, tuple) and len(strings) != 1:
            problems.append(f"{ids[0]!r}: {len(strings)} forms for Japanese")
        wanted = set().union(*(_fields(i) for i in ids))
        for text in strings:
            if _fields(text) != wanted and not (isinstance(message.id, tuple) and _fields(text) <= wanted):
                problems.append(f"{ids[0]!r}: placeholders {sorted(_fields(text))} vs {sorted(wanted)}")
            if _markers(text) != _markers(ids[0]):
                problems.append(f"{ids[0]!r}: Markdown markers (** and `) differ in {text!r}")
            if ids[0].endswith("\n") != text.endswith("\n"):
                problems.append(f"{ids[0]!r}: a trailing newline differs")
    assert not problems, "\n".join(problems[:40])


def test_one_translation_per_message_across_the_area_catalogs() -> None:
    from babel.messages.pofile import read_po

    seen: dict[object, tuple[str, object]] = {}
    clashes = []
    for path in i18n.catalog_files("ja"):
        with path.open("rb") as fh:
            for message in read_po(fh, locale="ja"):
                if not message.id:
                    continue
                key = (message.id, message.context)
                if key in seen and seen[key][1] != message.string:
                    clashes.append(f"{message.id!r}: {seen[key][0]} and {path.name} differ")
                seen.setdefault(key, (path.name, message.string))
    assert not clashes, "\n".join(clashes)


def test_no_fstring_or_concatenation_inside_a_marked_message() -> None:
    """``_(f"...")`` cannot be translated (extraction reads the literal); ``.format`` after ``_()`` is the way."""
    from console.i18n_tools import ROOT, source_files

    bad = []
    pattern = re.compile(r"\b(?:_|N_|ngettext|pgettext)\(\s*f[\"']")
    for path in source_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                bad.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(("code", "date", "when", "days", "number"), [
    ("en", "1 Dec 2026", "1 Dec 2026, 18:05", "in 14 days", "2,000"),
    ("ja", "2026年12月1日", "2026年12月1日 18:05", "あと 14 日", "2,000"),
])
def test_locale_formats(code: str, date: str, when: str, days: str, number: str) -> None:
    moment = datetime(2026, 12, 1, 18, 5)
    with use_language(code):
        assert fmt_date(moment) == date
        assert fmt_datetime(moment) == when
        assert fmt_days_left(14) == days
        assert fmt_number(2000) == number


def test_the_language_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCIM_CONSOLE_LANG", raising=False)
    assert i18n.normalise("ja-JP") == "ja" and i18n.normalise("ja_JP.UTF-8") == "ja"
    assert i18n.normalise("fr-FR") is None and i18n.normalise("") is None
    with use_language("ja"):
        assert i18n._("today") == "今日"
        with use_language("en"):
            assert i18n._("today") == "today"
        assert i18n.language() == "ja"
    monkeypatch.setenv("SCIM_CONSOLE_LANG", "ja")
    with use_language(None):
        assert i18n.language() == "ja"
    with use_language("de"):  # unsupported: the environment's
        assert i18n.language() == "ja"
