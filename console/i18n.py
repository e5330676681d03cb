"""The console's languages: English (the source strings) and Japanese (gettext catalogs made with Babel).

- Mark text with ``_("...")`` where it is shown, ``ngettext(singular, plural, n)`` for counts, and ``N_("...")``
  for text defined at import time (tables, catalogues, titles) that is translated later with ``_(value)`` where it
  is shown: import-time text would otherwise be frozen in the language of whoever imported the module first.
- Placeholders are named and filled with ``.format(...)`` after translation: ``_("{n} users").format(n=...)``.
  Never an f-string inside ``_()`` (extraction reads the literal; the catalog test checks placeholders agree).
- The language is per thread of work: ``use_language("ja")`` for a block (a reminder in the connection's
  language), ``set_language`` for the rest of a run (a Streamlit script run, a CLI command). Unset, it is
  ``SCIM_CONSOLE_LANG`` (``ja``/``en``), else English.
- Catalogs are the reviewed ``.po`` files in ``console/locale/<lang>/LC_MESSAGES/`` (one per area of the
  console, merged on load, compiled in memory): no build step, and no compiled file that can go stale.
- Dates and numbers per locale through Babel: ``fmt_date``/``fmt_datetime`` ("1 Dec 2026" / "2026年12月1日"),
  ``fmt_number`` ("2,000"), ``fmt_days_left`` ("in 14 days" / "あと 14 日").

Update the catalogs after changing text: ``python -m console.i18n_tools`` (extraction with Babel, then each area's
``.po`` merged with it); ``tests/test_i18n.py`` fails while a message lacks a translation.
"""

from __future__ import annotations

import contextvars
import gettext
import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_timedelta
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LANGUAGES: dict[str, str] = {"en": "English", "ja": "日本語"}   # code -> the language's own name, for the picker
DEFAULT = "en"
ENV_LANG = "SCIM_CONSOLE_LANG"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "console"

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("console_language", default=None)
_fallback: Callable[[], str | None] | None = None


def set_fallback(resolver: Callable[[], str | None] | None) -> None:
    """Where to look when this thread of work has not set a language: the UI installs one that reads the
    browser session's choice, so a widget callback (which Streamlit runs before the page sets the language)
    speaks the session's language too."""
    global _fallback
    _fallback = resolver


def normalise(value: str | None) -> str | None:
    """A supported language code from a locale or language tag ("ja-JP", "ja_JP.UTF-8", "EN"), else None."""
    if not value:
        return None
    code = str(value).strip().replace("-", "_").split(".")[0].split("_")[0].lower()
    return code if code in LANGUAGES else None


def from_environment() -> str | None:
    """``SCIM_CONSOLE_LANG`` when set to a supported language."""
    return normalise(os.environ.get(ENV_LANG))


def language() -> str:
    """The language of the current thread of work."""
    return _current.get() or (_fallback() if _fallback is not None else None) or from_environment() or DEFAULT


def set_language(code: str | None) -> str:
    """Use ``code`` (normalised; unsupported or None -> the environment's or English) from now on in this thread
    of work; returns the language chosen."""
    chosen = normalise(code) or from_environment() or DEFAULT
    _current.set(chosen)
    return chosen


@contextmanager
def use_language(code: str | None) -> Iterator[str]:
    """The block runs in ``code`` (a reminder in its connection's language), then the previous language returns."""
    token = _current.set(normalise(code) or from_environment() or DEFAULT)
    try:
        yield language()
    finally:
        _current.reset(token)


def catalog_files(code: str) -> list[Path]:
    return sorted((LOCALE_DIR / code / "LC_MESSAGES").glob("*.po"))


def read_catalog(code: str) -> Catalog:
    """The area catalogs of ``code`` merged into one Babel catalog (fuzzy and empty translations left out)."""
    merged = Catalog(locale=code, domain=DOMAIN)
    for path in catalog_files(code):
        with path.open("rb") as fh:
            part = read_po(fh, locale=code)
        for message in part:
            if not message.id or message.fuzzy or not message.string:
                continue
            if isinstance(message.string, tuple) and not all(message.string):
                continue
            merged.add(message.id, message.string, context=message.context)
    return merged


@cache
def translations(code: str) -> gettext.NullTranslations:
    if code == DEFAULT or not catalog_files(code):
        return gettext.NullTranslations()
    buffer = io.BytesIO()
    write_mo(buffer, read_catalog(code))
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def _(message: str) -> str:
    """``message`` in the current language (unchanged when there is no translation)."""
    if not message:
        return message
    return translations(language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a counted message for ``n`` in the current language (Japanese has one form)."""
    return translations(language()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """A short word whose translation depends on where it stands (``pgettext("status", "Active")``)."""
    return translations(language()).pgettext(context, message)


def N_(message: str) -> str:
    """Marks text defined at import time for extraction; translate it where it is shown with ``_(value)``."""
    return message


def locale() -> Locale:
    try:
        return Locale.parse(language())
    except (UnknownLocaleError, ValueError):
        return Locale.parse(DEFAULT)


def fmt_number(value: int | float) -> str:
    """2,000 (English) / 2,000 (Japanese): thousands grouped as the locale groups them."""
    return format_decimal(value, locale=locale())


def count(n: int, singular: str, plural: str) -> str:
    """``ngettext`` with ``{n}`` filled by the locale's number: ``count(n, "{n} user", "{n} users")``.
    The strings must be literals at the call site (extraction reads them: keyword ``count:2,3``)."""
    return ngettext(singular, plural, n).format(n=fmt_number(n))


def fmt_date(value: date | datetime) -> str:
    """1 Dec 2026 / 2026年12月1日."""
    if language() == "en":
        return f"{value.day} {value:%b %Y}"
    return format_date(value, format="long", locale=locale())


def fmt_datetime(value: datetime, *, zone: str | None = None) -> str:
    """1 Dec 2026, 18:05 / 2026年12月1日 18:05 (``zone``, an abbreviation, appended when given)."""
    if language() == "en":
        text = f"{value.day} {value:%b %Y}, {value:%H:%M}"
    else:
        text = f"{fmt_date(value)} {format_datetime(value, 'HH:mm', locale=locale())}"
    return f"{text} {zone}" if zone else text


def fmt_days_left(days: int) -> str:
    """in 14 days / あと 14 日; 3 days ago / 3 日前; today / 今日."""
    if days == 0:
        return _("today")
    if days > 0:
        return count(days, "in {n} day", "in {n} days")
    return count(-days, "{n} day ago", "{n} days ago")


def fmt_span(delta: timedelta) -> str:
    """A rounded length of time in words: "5 minutes" / "5分"."""
    return format_timedelta(delta, locale=locale(), threshold=1.0)
