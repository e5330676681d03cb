"""console.directory.people (one display label for a person, whatever the directory holds) and console.text (text made
safe to show: control and bidi characters visible, bounded)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.directory.people import NO_NAME, display_label, display_labels, is_active
from console.text import as_text, plain, reveal


@pytest.mark.parametrize(("record", "label"), [
    ({"displayName": "Grace Hopper", "givenName": "G", "familyName": "H", "userName": "u"}, "Grace Hopper"),
    ({"givenName": "Ada", "familyName": "Lovelace", "userName": "ada@x"}, "Ada Lovelace"),   # the guide's shape
    ({"displayName": "  ", "givenName": "Ada", "familyName": None, "userName": "a"}, "Ada"),
    ({"displayName": pd.NA, "givenName": None, "familyName": "Solo", "userName": "s"}, "Solo"),
    ({"displayName": None, "givenName": float("nan"), "userName": "only@x"}, "only@x"),
    ({"userName": None, "email": "mail@x", "id": "1"}, "mail@x"),
    ({"userName": "", "email": "", "id": "id-7"}, "id-7"),
    ({"givenName": 42, "familyName": 3.5}, "42 3.5"),                                    # numbers where strings belong
    ({"displayName": ["a", "b"]}, "['a', 'b']"),
    ({}, NO_NAME),
])
def test_display_label_fallbacks(record: dict, label: str) -> None:
    assert display_label(record) == label
    assert display_label(pd.Series(record, dtype=object)) == label


def test_display_label_keywords_fill_what_the_record_lacks() -> None:
    assert display_label(display_name=None, given_name="Ada", family_name="L", user_name="u") == "Ada L"
    assert display_label({"userName": "u"}, given_name="Given") == "Given"


def test_display_labels_agrees_with_display_label_row_by_row() -> None:
    rows = [
        {"id": "1", "userName": "a@x", "email": "a@x", "givenName": "Ada", "familyName": "L", "displayName": None},
        {"id": "2", "userName": None, "email": "e@x", "givenName": None, "familyName": None, "displayName": pd.NA},
        {"id": "3", "userName": None, "email": None, "givenName": " ", "familyName": None, "displayName": ""},
        {"id": "4", "userName": "u4", "email": None, "givenName": None, "familyName": "Fam", "displayName": None},
        {"id": "5", "userName": "u5", "email": None, "givenName": None, "familyName": None, "displayName": "Disp"},
        {"id": None, "userName": None, "email": None, "givenName": None, "familyName": None, "displayName": None},
    ]
    frame = pd.DataFrame(rows).astype("string")
    assert display_labels(frame).tolist() == [display_label(r) for r in rows]
    assert display_labels(frame).tolist() == ["Ada L", "e@x", "3", "Fam", "Disp", NO_NAME]
    # odd types in an object frame, and absent columns
    odd = pd.DataFrame({"id": [1, 2], "givenName": [42, None]}, dtype=object)
    assert display_labels(odd).tolist() == ["42", "2"]
    assert display_labels(pd.DataFrame(columns=["id"])).tolist() == []


def test_display_labels_is_vectorised_for_a_big_directory() -> None:
    n = 100_000
    frame = pd.DataFrame({"id": [f"u{i}" for i in range(n)], "userName": [f"u{i}@x" for i in range(n)],
                          "givenName": ["Ada"] * n, "familyName": [None] * n, "displayName": [None] * n})
    labels = display_labels(frame)
    assert len(labels) == n and labels.iloc[0] == "Ada"


@pytest.mark.parametrize(("value", "active"), [
    (True, True), (False, False), ("True", True), ("False", False), ("false", False), ("yes", True),
    (1, True), (0, False), (np.True_, True), (np.bool_(False), False), (None, False), (pd.NA, False),
    (float("nan"), False), ("", False), ("maybe", False),
])
def test_is_active_reads_what_servers_send(value: object, active: bool) -> None:
    assert is_active(value) is active


def test_as_text() -> None:
    assert as_text(None) is None and as_text(pd.NA) is None and as_text(math.nan) is None and as_text(pd.NaT) is None
    assert as_text("  ") is None and as_text(" x ") == "x" and as_text(12) == "12" and as_text(b"b") == "b"


def test_plain_makes_controls_and_bidi_visible_and_bounds_length() -> None:
    assert plain("a\u202eb") == "a[U+202E]b"
    assert plain("nul\x00esc\x1b[31m") == "nul[U+0000]esc[U+001B][31m"
    assert plain("line1\nline2\r\nline3") == "line1 line2 line3"
    assert plain("line1\r\nline2", multiline=True) == "line1\nline2"
    assert plain("x" * 310, limit=300) == "x" * 300 + "… (10 more characters)"
    assert plain(None, empty="—") == "—" and plain("   ", empty="—") == "—" and plain(pd.NA) == ""
    assert plain(3.5) == "3.5"
    assert reveal("a\u2066b\nc") == "a[U+2066]b\nc"


@given(st.text(max_size=400))
def test_plain_never_lets_an_invisible_character_through(text: str) -> None:
    shown = plain(text, limit=None)
    bad = [c for c in shown if (ord(c) < 32 and c != " ") or 0x7F <= ord(c) <= 0x9F
           or c in "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"]
    assert not bad


def test_count_words_a_number_of_things() -> None:
    from console.i18n import count, use_language

    with use_language("en"):
        assert count(0, "{n} person", "{n} people") == "0 people"
        assert count(1, "{n} person", "{n} people") == "1 person"
        assert count(12_345, "{n} group", "{n} groups") == "12,345 groups"
