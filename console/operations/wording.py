"""Journal text: stored in English, shown in the reader's language.

The journal keeps what it has always kept (notes, errors, remedies, event details, skip reasons, defect reports:
English sentences in SQLite, and in ``--json``), so stored data does not depend on who was looking when it was
written. Every such sentence is made from a *template* registered here (``stored`` / ``stored_plural``, each also
marked for the catalogs), filled with ``english``. Where it is shown, ``shown`` recognises the template again,
takes its values back out and fills the translated template with them: "already a member of Finance" ->
"既に Finance のメンバーです". Values that are themselves journal text (an action's label inside a note, the
steps of a partial change) are named in ``NESTED`` and translated the same way; names, numbers and server
messages are left as they are. Text that matches no template (a server's own message) is shown unchanged.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from functools import cache, lru_cache

from console.i18n import _, language, ngettext, pgettext

#: placeholders whose values are journal text too (translated again); every other value is data
NESTED = frozenset({"label", "step", "steps", "notes", "detail", "state", "outcome", "how", "summaries", "error",
                    "checked", "when_text", "what"})
#: placeholders that always hold a count or an id (digits, maybe grouped): recognised as such, so the text
#: around them cannot be taken for them
NUMBERS = frozenset({"n", "id", "reads", "verified", "not_applied", "groups", "done", "failed", "skipped", "back",
                     "lost", "missing", "running", "pending", "more", "before", "actual", "gone", "shown",
                     "changes", "at_once", "events", "snapshot", "changed", "already", "left"})
#: placeholders holding a list of journal texts joined by ``LIST_SEPARATOR``
LISTS = frozenset({"steps", "notes"})
LIST_SEPARATOR = "; "

_singles: list[str] = []
_plurals: list[tuple[str, str]] = []


class _Registry:
    """``TEXT.one(N_("..."))`` registers a template; ``TEXT.ngettext("... {n} ...", "... {n} ...")`` a counted
    one (extracted as a plural message because the call is named ``ngettext``)."""

    @staticmethod
    def one(msgid: str) -> str:
        _singles.append(msgid)
        _compiled.cache_clear()
        _candidates.cache_clear()
        _starting_with.cache_clear()
        return msgid

    @staticmethod
    def ngettext(singular: str, plural: str) -> tuple[str, str]:
        _plurals.append((singular, plural))
        _compiled.cache_clear()
        _candidates.cache_clear()
        _starting_with.cache_clear()
        return singular, plural


TEXT = _Registry()


def english(template: str | tuple[str, str], **values: object) -> str:
    """The stored (English) text of ``template`` filled with ``values``; a counted template picks its form by
    ``n``. Numbers are written as the journal has always written them (plain, or grouped when passed as text)."""
    if isinstance(template, tuple):
        n = values.get("n")
        template = template[0] if _number(n) == 1 else template[1]
    return template.format(**values)


def _number(value: object) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    text = str(value or "").replace(",", "").strip()
    return int(text) if text.isdigit() else None


def _pattern(template: str) -> re.Pattern[str]:
    parts: list[str] = []
    seen: set[str] = set()
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if name is None:
            continue
        if name in seen:
            parts.append(f"(?P={name})")
        else:
            seen.add(name)
            parts.append(f"(?P<{name}>\\d[\\d,]*)" if name in NUMBERS else f"(?P<{name}>.*?)")
    return re.compile("".join(parts), re.DOTALL)


def _literal_length(template: str) -> int:
    return sum(len(literal) for literal, *_rest in string.Formatter().parse(template))


def _ends(template: str) -> tuple[str, str]:
    """The fixed text a template starts and ends with (a cheap test before its pattern is tried)."""
    parts = list(string.Formatter().parse(template))
    head = parts[0][0] if parts else ""
    last_literal, last_name = parts[-1][0], parts[-1][1]
    tail = "" if last_name is not None else last_literal
    return head, tail


@cache
def _compiled() -> list[tuple[re.Pattern[str], str, str | None, str]]:
    """(pattern, msgid, plural msgid or None, English form) for every template, the most specific first (the
    one with the most fixed text wins when two match)."""
    out: list[tuple[re.Pattern[str], str, str | None, str]] = []
    for msgid in dict.fromkeys(_singles):
        out.append((_pattern(msgid), msgid, None, msgid))
    for singular, plural in dict.fromkeys(_plurals):
        for form in dict.fromkeys((singular, plural)):
            out.append((_pattern(form), singular, plural, form))
    out.sort(key=lambda entry: -_literal_length(entry[3]))
    return out


@cache
def _candidates() -> list[tuple[str, str, re.Pattern[str], str, str | None]]:
    """``_compiled`` with each template's fixed start and end, in the same order."""
    return [(*_ends(form), pattern, msgid, plural) for pattern, msgid, plural, form in _compiled()]


@lru_cache(maxsize=256)
def _starting_with(first: str) -> list[tuple[str, str, re.Pattern[str], str, str | None]]:
    """The templates a text starting with ``first`` can be (those starting with a placeholder included)."""
    return [c for c in _candidates() if not c[0] or c[0][0] == first]


def shown(text: str | None) -> str:
    """Stored journal text in the current language (unchanged in English, or when no template matches)."""
    if not text:
        return text or ""
    lang = language()
    if lang == "en":
        return text
    return _translate(str(text), lang)


def shown_lines(text: str | None) -> str:
    """A multi-line stored text (a defect report) line by line, keeping each line's indentation."""
    if not text:
        return text or ""
    out = []
    for line in str(text).split("\n"):
        body = line.lstrip(" ")
        out.append(line[:len(line) - len(body)] + shown(body) if body else line)
    return "\n".join(out)


def shown_all(texts: Iterable[str | None]) -> list[str]:
    return [shown(t) for t in texts]


@lru_cache(maxsize=8192)
def _translate(text: str, lang: str) -> str:
    whole = _match(text, lang)
    if whole is not None:
        return whole
    return _sentences(text, lang)


def _match(text: str, lang: str) -> str | None:
    for head, tail, pattern, msgid, plural in _starting_with(text[:1]):
        if not (text.startswith(head) and text.endswith(tail)):
            continue
        found = pattern.fullmatch(text)
        if found is None:
            continue
        values = {name: _value(name, value, lang) for name, value in found.groupdict().items()}
        template = _(msgid) if plural is None else ngettext(msgid, plural, _number(values.get("n")) or 0)
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError):  # a broken translation: the stored text rather than nothing
            return text
    return None


def _value(name: str, value: str, lang: str) -> str:
    if name not in NESTED or not value:
        return value
    if name in LISTS and LIST_SEPARATOR in value:
        return pgettext("list separator", "; ").join(_translate(part, lang) for part in value.split(LIST_SEPARATOR))
    return _translate(value, lang)


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z“(`])")


def _sentences(text: str, lang: str) -> str:
    """Several stored sentences in one text (a stop reason made of defect summaries): each one translated."""
    parts = _SENTENCE.split(text)
    if len(parts) < 2:
        return text
    done = [_match(part, lang) for part in parts]
    if all(d is None for d in done):
        return text
    out = ""
    for original, translated in zip(parts, done, strict=True):
        piece = translated if translated is not None else original
        if out and not out.endswith(("。", "」", "）")):
            out += " "
        out += piece
    return out
