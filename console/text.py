"""Text from outside (directory data, logs, server answers, typed input) made safe to *show*.

``plain`` is the one neutraliser: whatever the value (None, pandas NA, a number, a dict), it returns a bounded
``str`` in which nothing invisible can change what a reader sees:

- C0/C1 control characters (NUL, ESC, DEL, ...) become visible ``[U+001B]`` markers (a terminal never receives
  an escape sequence, a page never receives a NUL);
- bidirectional formatting characters (RTL override and friends, the "Trojan Source" trick) become visible
  ``[U+202E]`` markers, so text reads in the order it is stored;
- line breaks become spaces unless ``multiline``;
- text longer than ``limit`` is cut, saying how much was left out.

The UI's Markdown escaping (``pages/_ui/text.py: md_escape``) and the command line build on it. This module knows
nothing of Markdown or Streamlit.
"""

from __future__ import annotations

import math
import re
from typing import Any

from console.i18n import _, fmt_number

#: what a label or a table cell shows at most (the full value stays in tables, JSON and exports)
DEFAULT_LIMIT = 300

_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# C0 except tab and line feed (handled below), DEL, C1, the bidi controls, and the line/paragraph separators
_INVISIBLE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}\ufeff]")
_NEWLINES = re.compile(r"\r\n|[\r\u2028\u2029\x85]")
_LINE_BREAKS = re.compile(r"[\n\t]")


def is_missing(value: Any) -> bool:
    """None, NaN, pandas NA / NaT: a value that is not there."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    try:
        import pandas as pd

        return value is pd.NA or value is pd.NaT or (not isinstance(value, (str, bytes, list, dict, tuple))
                                                     and bool(pd.isna(value)) is True)
    except (TypeError, ValueError, ImportError):  # arrays and odd objects: not "missing"
        return False


def as_text(value: Any) -> str | None:
    """A value as text: None when missing or empty (after stripping), ``str(value)`` for other types."""
    if is_missing(value):
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = value if isinstance(value, str) else str(value)
    text = text.strip()
    return text or None


def _marker(match: re.Match[str]) -> str:
    return f"[U+{ord(match.group()):04X}]"


#: control and bidi formatting characters (what ``reveal`` makes visible), for vectorised matching
INVISIBLE_PATTERN = _INVISIBLE.pattern


def reveal(text: str) -> str:
    """Only the visibility part of ``plain``: control and bidi characters as ``[U+XXXX]``; nothing else
    changes (no cut, line breaks kept). For table cells, which are shown verbatim but still reordered by an RTL
    override."""
    return _INVISIBLE.sub(_marker, text)


def plain(value: Any, *, limit: int | None = DEFAULT_LIMIT, multiline: bool = False, empty: str = "") -> str:
    """``value`` as text a reader sees exactly (see the module docstring); ``empty`` when missing or blank."""
    if is_missing(value):
        return empty
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = value if isinstance(value, str) else str(value)
    text = _NEWLINES.sub("\n", text)
    cut = 0
    if limit is not None and len(text) > limit:
        cut = len(text) - limit
        text = text[:limit]
    text = _INVISIBLE.sub(_marker, text)
    text = text.replace("\t", " ") if multiline else _LINE_BREAKS.sub(" ", text)
    if not text.strip():
        return empty
    if cut:
        text += _("… ({n} more characters)").format(n=fmt_number(cut))
    return text


# the characters a terminal acts on (ESC starts the sequences that recolour, move the cursor, retitle the window
# or write to the clipboard), and the bidi overrides; tab, line feed and carriage return pass (progress lines)
_TERMINAL = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}]")


class TerminalSafe:
    """A terminal's text stream whose writes show control and bidi characters as ``[U+001B]`` markers, so that
    directory data, log records or server answers printed by a command cannot drive the terminal. The command
    line wraps stdout and stderr in it when they are terminals (piped output is data, left exact)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(_TERMINAL.sub(_marker, text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
