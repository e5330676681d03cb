"""The UI's text helpers: ``ui.md_escape`` (Markdown that reads as exactly the text), ``ui.plain`` (plain-text
elements), ``ui.plot_text`` (Plotly labels) and ``ui.plain_table`` (dataframes). How the escaped text renders in
Streamlit's own Markdown is checked in Chromium by tests/browser/test_hostile.py; here, its structure."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pages._ui import text as ui
from tests.pages.conftest import unescape

PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"


def _unescaped_punctuation(markdown: str) -> list[str]:
    """ASCII punctuation not preceded by its escaping backslash (walks the string like CommonMark does)."""
    bad, i = [], 0
    while i < len(markdown):
        c = markdown[i]
        if c == "\\" and i + 1 < len(markdown) and markdown[i + 1] in PUNCT:
            i += 2
            continue
        if c in PUNCT:
            bad.append(c)
        i += 1
    return bad


@given(st.text(max_size=300))
def test_every_punctuation_character_is_escaped(text: str) -> None:
    escaped = ui.md_escape(text, limit=None, empty="")
    assert not _unescaped_punctuation(escaped)
    assert "\n" not in escaped


@given(st.text(max_size=300))
def test_the_escape_reads_as_the_plain_text(text: str) -> None:
    assert unescape(ui.md_escape(text, limit=None, empty="")) == ui.plain(text, limit=None, empty="")


@pytest.mark.parametrize(("text", "needle"), [
    (":smile:", ":\u2060smile"), (":+1:", ":\u2060+"), (":streamlit:", ":\u2060streamlit"),
    (":material_key:", ":\u2060material"), ("https://evil.example", "https:\u2060"), ("www.evil.example", "www\u2060"),
    ("user@evil.example", "user\u2060"), ("a -> b", "-\u2060>"), ("a <- b", "<\u2060-"), ("a -- b", "-\u2060-"),
])
def test_text_level_rewrites_are_broken_by_a_word_joiner(text: str, needle: str) -> None:
    """Streamlit turns these into emoji, icons, links and arrows *after* escapes are resolved."""
    escaped = ui.md_escape(text)
    assert needle in escaped.replace("\\", "")


def test_no_word_joiner_where_nothing_would_be_rewritten() -> None:
    for text in ("Ada Lovelace", "Role - Auditor", "12:30", "ada-l@", "x->y"):
        assert "\u2060" not in ui.md_escape(text), text


def test_material_icon_syntax_is_broken_before_streamlit_rewrites_the_source() -> None:
    # Streamlit replaces ":material/" with ":material_" in the raw source before parsing: escaping "/" stops it
    assert ":material/" not in ui.md_escape(":material/warning:")


def test_multiline_keeps_lines_as_hard_breaks_without_blocks() -> None:
    escaped = ui.md_escape("first\n\n# Heading\n    code\n- item", multiline=True)
    assert escaped == "first\n\n\\# Heading  \ncode  \n\\- item"
    assert not re.search(r"(?m)^(#|    |- |> |\d+\.)", escaped)


def test_empty_and_limits() -> None:
    assert ui.md_escape(None) == "—" and ui.md_escape("", empty="") == "" and ui.md_escape(pd.NA, empty="x") == "x"
    assert ui.md_escape("L" * 400).endswith("… \\(100 more characters\\)")
    assert ui.plain("a\u202eb") == "a[U+202E]b"


def test_plot_text_escapes_html_for_plotly() -> None:
    assert ui.plot_text("<a href='x'>y</a> & <b>") == "&lt;a href='x'&gt;y&lt;/a&gt; &amp; &lt;b&gt;"
    assert ui.plot_text(None) == "—"


def test_plain_table_reveals_invisible_characters_only_where_present() -> None:
    frame = pd.DataFrame({"a": ["x\u202ey", "ok", None], "n": [1, 2, 3],
                          "s": pd.array(["nul\x00", "z", pd.NA], dtype="string"), "o": [["l"], "q\x1b", 3]})
    shown = ui.plain_table(frame)
    assert shown["a"].tolist()[:2] == ["x[U+202E]y", "ok"] and shown["s"].tolist()[0] == "nul[U+0000]"
    assert shown["o"].tolist() == [["l"], "q[U+001B]", 3] and shown["n"].tolist() == [1, 2, 3]
    assert frame["a"].iloc[0] == "x\u202ey", "the original frame is untouched"
    clean = pd.DataFrame({"a": ["fine"]})
    assert ui.plain_table(clean) is clean
