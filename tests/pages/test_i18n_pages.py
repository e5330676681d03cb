"""Every page in Japanese: rendered with SCIM_CONSOLE_LANG=ja against a live connection (sandbox with Entra),
no English sentence is left in what an operator reads (tests/i18n_check.py: proper names and the test's data
are allowed), and the navigation is in Japanese."""

from __future__ import annotations

from typing import Any

import pytest

from tests.i18n_check import english_sentences, visible_strings
from tests.pages.conftest import app

PAGES = ["overview", "sync_history", "activity", "users", "groups", "reconcile", "connection", "setup", "doctor"]


def _data_values(live: Any) -> list[str]:
    """Names of the test's tenant (people, groups, the connection), which stay as they are."""
    from console.directory.store import latest_snapshot

    snap = latest_snapshot(live.ctx, live.conn)
    values = [live.conn.name]
    if snap is not None:
        for frame, columns in ((snap.users, ("userName", "displayName", "givenName", "familyName", "email")),
                               (snap.groups, ("displayName",))):
            for column in columns:
                if column in frame.columns:
                    values.extend(str(v) for v in frame[column].dropna().unique())
    return values


@pytest.mark.parametrize("page", PAGES)
def test_page_in_japanese_has_no_english_left(live: Any, monkeypatch: pytest.MonkeyPatch, page: str) -> None:
    monkeypatch.setenv("SCIM_CONSOLE_LANG", "ja")
    at = app(f"pages/{page}.py")
    assert not at.exception, [e.value for e in at.exception]
    left = english_sentences(visible_strings(at), allowed=_data_values(live))
    assert not left, f"{len(left)} English sentence(s) on {page}:\n" + "\n".join(left[:40])
