"""Text from outside (directory data, log records, server messages, typed text) shown as text, never as
Markdown, HTML or a control sequence.

Streamlit renders Markdown in far more places than st.markdown: titles and headers, captions, alerts, toasts,
metric labels *and values*, help tooltips, progress and status texts, and the labels of buttons, expanders,
tabs, popovers, page links, radio and segmented-control options. Its renderer (react-markdown with remark-gfm,
remark-math and remark-directive, plus Streamlit's own plugins) turns `![x](url)` into a remote image,
`[text](url)` into a link, `:red[...]` into colour, `:material/...:` and `:smile:` into icons, `$...$` into
maths and `# x` into a heading. Directory data, log records, server messages and typed text therefore reach
those elements only through ``md_escape``; plain-text elements (st.text, st.code, st.json, dataframes, and the
options of st.selectbox / st.multiselect, which Streamlit shows verbatim) get ``plain`` instead."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from console.text import INVISIBLE_PATTERN, reveal
from console.text import plain as _neutralise

_MD_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character CommonMark lets us escape
_WJ = "\u2060"  # WORD JOINER: invisible, breaks the patterns below without changing what is seen


# Rewrites that run on text *after* backslash escapes are resolved, so escaping alone cannot stop them:
# emoji / :streamlit: / :material_x: shortcodes, GFM literal autolinks (http://, www., e-mail addresses) and
# Streamlit's typographic arrows (" -> " becomes "→").
_SHORTCODE = re.compile(r":(?=[A-Za-z0-9_+\-]+:)")
_AUTOLINK = re.compile(r"(?i)(?<=https:)(?=//)|(?<=http:)(?=//)|(?<=www)(?=\.)|(?<=[-.\w+])(?=@[-\w]+(?:\.[-\w]+)+)")
_ARROW = re.compile(r"(?:^|(?<=\s))(<->|->|<-|--|>=|<=|~=)(?=\s|$)")


def plain(value: Any, *, limit: int | None = 300, multiline: bool = False, empty: str = "—") -> str:
    """Text for a plain-text element (st.text, selectbox options): controls and bidi overrides made visible,
    line breaks collapsed unless ``multiline``, at most ``limit`` characters; ``empty`` when there is none."""
    return _neutralise(value, limit=limit, multiline=multiline, empty=empty)


def _escape_line(line: str) -> str:
    line = _SHORTCODE.sub(":" + _WJ, line)
    line = _AUTOLINK.sub(_WJ, line)
    line = _ARROW.sub(lambda m: m.group(1)[0] + _WJ + m.group(1)[1:], line)
    return _MD_PUNCT.sub(r"\\\1", line)


def md_escape(value: Any, *, limit: int | None = 300, multiline: bool = False, empty: str = "—") -> str:
    """``value`` as a Markdown fragment that Streamlit renders as exactly that text (see above): safe inside
    any Markdown-rendering element or label, alone or inside the app's own Markdown (``f"**{md_escape(x)}**"``).
    ``multiline`` keeps line breaks (as hard breaks); otherwise the text is one line."""
    text = plain(value, limit=limit, multiline=multiline, empty=empty)
    if not multiline:
        return _escape_line(text)
    lines = [_escape_line(line.lstrip()) for line in text.split("\n")]
    return "\n".join(line + "  " if line and i + 1 < len(lines) and lines[i + 1] else line
                     for i, line in enumerate(lines))  # hard breaks inside a paragraph, blank lines stay blank


def plain_table(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` for st.dataframe: cells are shown verbatim there (no Markdown), but an RTL override would still
    reorder a cell and control characters would draw as boxes, so text cells holding any get them made visible
    (``[U+202E]``). Other cells, and frames without such characters, are returned as they are (no copy)."""
    out = frame
    for column in frame.columns:
        values = frame[column]
        if values.dtype != object and not str(values.dtype).startswith(("str", "string")):
            continue
        try:
            hits = values.str.contains(INVISIBLE_PATTERN, regex=True, na=False).astype(bool)
        except (AttributeError, TypeError):  # not text after all (lists, numbers...)
            continue
        if not hits.any():
            continue
        if out is frame:
            out = frame.copy()
        fixed = values.astype(object).copy()
        fixed[hits] = [reveal(v) if isinstance(v, str) else v for v in values[hits]]
        out[column] = fixed
    return out


def plot_text(value: Any, *, limit: int | None = 120, empty: str = "—") -> str:
    """Text for a Plotly label, tick, legend, annotation or hover value: Plotly reads a subset of HTML there
    (``<a href>``, ``<b>``, ``<br>``...), so ``&``, ``<`` and ``>`` become entities it shows literally."""
    text = plain(value, limit=limit, empty=empty)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
