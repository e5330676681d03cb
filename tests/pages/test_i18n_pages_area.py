"""The "pages" area in Japanese: the Overview and Activity pages in their main states, the sidebar, the error
panel, the way the language is chosen (browser locale, the sidebar's picker remembered per operator), and the
times ("2026年12月1日 18:05", "5 分前"). Each state is also rendered in English once, to show the default is
unchanged.

Other areas are translated separately: a few texts they put on these pages (the next-step pointer of the set-up
walkthrough, the token's status message, the audit log's kind names) are left out by ``OTHER_AREAS`` until
their catalogs land; nothing of this area's own files is."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from console.i18n import use_language
from tests.i18n_check import english_sentences, visible_strings
from tests.pages.conftest import APP, app, assert_clean, make_connection, texts, unescape

#: texts other areas put on these pages (their own catalogs translate them): (fragment, where it comes from)
OTHER_AREAS = (
    ("is valid until", "console/tokens: the token's status message (sidebar badge help, Overview)"),
    ("days left)", "console/tokens: the token's status message"),
    ("steps done", "pages/_setup_ui.py: the set-up walkthrough's next-step pointer"),
    ("Set up a tenant", "pages/_setup_ui.py: the next-step pointer's link"),
    ("Add to a group or role", "console/operations/audit.py: KIND_WORDS"),
    ("Remove from a group or role", "console/operations/audit.py: KIND_WORDS"),
    ("Move between groups or roles", "console/operations/audit.py: KIND_WORDS"),
    ("then resume this action", "console/operations: a stopped action's remedy"),
    ("cycles run every", "console/entra/schedule.py: the next cycle in words"),
    ("were looked up in the latest directory snapshot", "console/operations: an action's notes"),
    ("a person whose Entra state disagrees", "console/operations: an action's notes"),
)


def japanese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCIM_CONSOLE_LANG", "ja")


def timeline_line(text: str) -> bool:
    """A line of an action's timeline: "- <time> · **<event>** · <operator> · <detail>", the event's words and
    detail being the operations area's (console/operations/audit.py: EVENT_WORDS, the journal's details)."""
    return text.startswith("- ") and " · **" in text


def english_left(at: AppTest, *data: str) -> list[str]:
    """English sentences left on the page, the test's data and other areas' texts (``OTHER_AREAS``, an action's
    timeline lines) aside."""
    strings = [s for s in visible_strings(at)
               if not any(fragment in s for fragment, _where in OTHER_AREAS) and not timeline_line(s)]
    return english_sentences(strings, allowed=data)


def sidebar_strings(at: AppTest) -> list[str]:
    return visible_strings(SimpleNamespace(_tree=at.sidebar))


def people(live: Any) -> list[str]:
    from console.directory.store import latest_snapshot

    snap = latest_snapshot(live.ctx, live.conn)
    values = [live.conn.name]
    if snap is not None:
        for column in ("userName", "displayName", "givenName", "familyName", "email"):
            if column in snap.users.columns:
                values.extend(str(v) for v in snap.users[column].dropna().unique())
        values.extend(str(v) for v in snap.groups["displayName"].dropna().unique())
    return values


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


# --- Overview ------------------------------------------------------------------------------------------------

def test_overview_with_a_directory_in_japanese(live: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from console.directory.store import latest_snapshot

    japanese(monkeypatch)
    at = app()
    assert_clean(at)
    left = english_left(at, *people(live))
    assert not left, "\n".join(left)
    snap = latest_snapshot(live.ctx, live.conn)
    assert at.title[0].value == "概要"
    assert metric(at, "有効なユーザー") == f"{snap.active_users:,}"
    assert metric(at, "無効なユーザー") == f"{snap.user_count - snap.active_users:,}"
    assert {m.label for m in at.metric} >= {"残り日数", "有効期限", "前回のテスト", "グループ", "ロール"}
    shown = texts(at)
    assert "**プロビジョニング データはまだありません。**" in shown
    assert "スナップショットの取得: " in shown and " 件のメンバーシップ。" in shown
    assert "**ディレクトリ:** スナップショットはまだ 1 つだけ (" in shown
    assert any(s.value == "アラートはありません。" or "アラート" in s.value for s in at.subheader)
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}", metric(at, "有効期限"))  # 2027/12/02: fits the metric at 1280 px

    monkeypatch.delenv("SCIM_CONSOLE_LANG")
    at = app()
    assert_clean(at)
    assert at.title[0].value == "Overview" and metric(at, "Active users") == f"{snap.active_users:,}"
    assert "No provisioning data yet" in texts(at)


def test_overview_with_provisioning_data_and_changes_in_japanese(console_home: Path, sandbox_factory: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The Refresh in the sidebar (Japanese progress and status), then the job's figures, Entra's records and a
    change seen between two snapshots."""
    from console.directory.take import take_snapshot
    from console.tokens.service import TokenService

    box = sandbox_factory(seed_users=12, seed_groups=3, seed=8)
    box.admin("POST", "/sandbox-admin/entra/cycles", {"count": 2})
    live = make_connection(console_home, box)
    with TokenService(live.ctx).scim_client("Tenant") as client:
        client.create_user("i18n.newcomer@example.org", email="i18n.newcomer@example.org", given_name="Neu",
                           family_name="Ankömmling")
    take_snapshot(live.ctx, live.conn)
    japanese(monkeypatch)
    at = app()
    at.button(key="sidebar.refresh").click().run()
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]
    left = english_left(at, *people(live))
    assert not left, "\n".join(left)
    assert {"ジョブの状態", "前回のサイクル", "次回のサイクル", "失敗 (24 時間)"} <= {m.label for m in at.metric}
    shown = texts(at)
    assert "**Entra プロビジョニング:** " in shown and " 回のサイクルで " in shown
    assert "**ディレクトリ:** スナップショット間で " in shown and " 件の変更を検出しました" in shown
    listed = next(m.value for m in at.markdown if "newcomer" in m.value)
    assert ":blue-badge[:material/photo_camera: スナップショット] **" in listed
    assert "年" in listed and "月" in listed  # the entry's time: 2026年12月1日 18:05 JST

    monkeypatch.delenv("SCIM_CONSOLE_LANG")
    at = app()
    assert_clean(at)
    assert "Job status" in {m.label for m in at.metric}
    assert ":blue-badge[:material/photo_camera: snapshot] **" in next(m.value for m in at.markdown
                                                                      if "newcomer" in m.value)


def test_overview_without_a_snapshot_in_japanese(console_home: Path, sandbox: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    live = make_connection(console_home, sandbox, snapshot=False, entra=False)
    japanese(monkeypatch)
    at = app()
    assert_clean(at)
    left = english_left(at, live.conn.name)
    assert not left, "\n".join(left)
    shown = texts(at)
    assert "**Tenant のディレクトリのスナップショットはまだありません。**" in shown
    assert "**Entra のプロビジョニングが接続されていません。**" in shown
    assert at.button(key="empty.fetch").label == "今すぐディレクトリを取得"
    assert "ディレクトリは未取得です" in sidebar_strings(at)

    monkeypatch.delenv("SCIM_CONSOLE_LANG")
    at = app()
    assert at.button(key="empty.fetch").label == "Fetch the directory now"


def test_no_connection_screen_in_japanese(console_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    japanese(monkeypatch)
    at = app()
    assert_clean(at)
    left = english_left(at)
    assert not left, "\n".join(left)
    assert "**接続はまだ構成されていません。**" in texts(at)
    assert "接続が構成されていません。" in sidebar_strings(at)
    assert {p.proto.label for p in at.get("page_link")} >= {"テナントのセットアップ", "接続の追加"}

    monkeypatch.delenv("SCIM_CONSOLE_LANG")
    assert "No connection is configured yet" in texts(app())


def test_an_unexpected_error_in_japanese(live: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in a panel: the panel says what it was doing and where the log is, in Japanese, never a traceback;
    the rest of the page is drawn."""
    import console.notify.alerts

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in the alerts")

    monkeypatch.setattr(console.notify.alerts, "current_alerts", broken)
    japanese(monkeypatch)
    at = app()
    assert_clean(at)
    [error] = [e.value for e in at.error]
    assert error.startswith("**アラートの算出中に予期しないエラーが発生しました: RuntimeError。**")
    assert "ログ ファイル" in error and "console-app.log" in unescape(error) and "a bug in the alerts" not in error
    assert not english_left(at, *people(live))
    assert metric(at, "有効なユーザー")

    monkeypatch.delenv("SCIM_CONSOLE_LANG")
    at = app()
    [error] = [e.value for e in at.error]
    assert error.startswith("**Unexpected error while computing the alerts: RuntimeError.**")


# --- the sidebar and the language ----------------------------------------------------------------------------

def test_sidebar_in_japanese(live: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from console.tokens.service import TokenService

    japanese(monkeypatch)
    at = app()
    assert_clean(at)
    strings = sidebar_strings(at)
    left = english_sentences([s for s in strings if not any(f in s for f, _w in OTHER_AREAS)],
                             allowed=[live.conn.name])
    assert not left, "\n".join(left)
    days = TokenService(live.ctx).status("Tenant").days_left
    assert any(f"トークン: 残り {days} 日" in s for s in strings)  # the badge
    assert any(s.startswith("トークンの有効期限: ") and "年" in s for s in strings)
    assert any(s.startswith("ディレクトリの取得: ") and s.endswith(("たった今", "秒前", "分前")) for s in strings)
    assert at.button(key="sidebar.refresh").label == "更新"
    assert at.selectbox(key="connection").label == "接続"
    assert any(s.startswith("オペレーター: ") for s in strings)
    assert at.selectbox(key="sidebar.language").disabled  # forced by SCIM_CONSOLE_LANG, and says so
    assert at.selectbox(key="sidebar.language").help == "サーバーの SCIM_CONSOLE_LANG で設定されています。"

    monkeypatch.delenv("SCIM_CONSOLE_LANG")
    at = app()
    assert at.button(key="sidebar.refresh").label == "Refresh"
    assert any(f"Token: {days} days left" in s for s in sidebar_strings(at))


def test_the_browser_language_then_the_operators_choice(live: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Japanese browser gets Japanese without a click; choosing English in the picker switches at once and
    is remembered for the operator: the next session (same browser language) opens in English."""
    monkeypatch.delenv("SCIM_CONSOLE_LANG", raising=False)

    def session() -> AppTest:
        at = AppTest.from_file(APP, default_timeout=90)
        at.context = {"locale": "ja-JP"}
        return at.run()

    at = session()
    assert_clean(at)
    assert at.title[0].value == "概要"
    assert at.button(key="sidebar.refresh").label == "更新"
    assert not at.selectbox(key="sidebar.language").disabled
    at.selectbox(key="sidebar.language").set_value("en").run()
    assert_clean(at)
    assert at.title[0].value == "Overview" and at.button(key="sidebar.refresh").label == "Refresh"

    at = session()
    assert at.title[0].value == "Overview", "the operator's choice outlives the session"
    at.selectbox(key="sidebar.language").set_value("ja").run()
    assert at.title[0].value == "概要"


# --- Activity ------------------------------------------------------------------------------------------------

def select_action(at: AppTest, row: int = 0) -> AppTest:
    at.session_state["activity.table"] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    return at.run()


def active_ids(sb: Any, n: int) -> list[str]:
    from tests.console._ops_helpers import users

    return sorted(u.id for u in users(sb).values() if u.active)[:n]


def test_activity_empty_in_japanese(console_home: Path, sandbox_factory: Any,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    sb = sandbox_factory(seed_users=5, seed_groups=1, seed=1)
    make_connection(console_home, sb, "Tenant", entra=False, snapshot=False)
    japanese(monkeypatch)
    at = app("pages/activity.py")
    assert_clean(at)
    assert not english_left(at, "Tenant")
    assert at.title[0].value == "アクティビティ"
    assert "この条件に該当する手動の変更は記録されていません。" in texts(at)
    assert at.selectbox(key="activity.range").value == "7d"
    assert at.selectbox(key="activity.range").options == ["過去 24 時間", "過去 7 日間", "過去 30 日間", "すべての期間"]
    assert at.selectbox(key="activity.operator").options[0] == "すべて"

    monkeypatch.delenv("SCIM_CONSOLE_LANG")
    at = app("pages/activity.py")
    assert "No manual changes recorded" in texts(at)
    assert at.selectbox(key="activity.range").options[1] == "Last 7 days"
    assert at.selectbox(key="activity.operator").options[0] == "Anyone"


def test_activity_with_an_action_in_japanese(console_home: Path, sandbox_factory: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """An action in the journal: the table, its detail (who, why, per-person results, timeline), a change a
    later snapshot shows reverted, the Undo and CSV buttons."""
    from console.directory.take import take_snapshot
    from console.operations import execute, plan
    from tests.console._ops_helpers import scim

    sb = sandbox_factory(seed_users=12, seed_groups=2, seed=2)
    live = make_connection(console_home, sb, "Tenant", entra=False)
    ids = active_ids(sb, 2)
    execute(live.ctx, live.conn, plan(live.ctx, live.conn, "deactivate", ids), "leavers", "carol@corp.example")
    with scim(sb) as c:  # what the next Entra cycle does for a user still assigned in Entra
        c.set_active(ids[0], True)
    take_snapshot(live.ctx, live.conn)
    japanese(monkeypatch)
    at = app("pages/activity.py")
    assert_clean(at)
    table = at.dataframe[0]
    [result] = list(table.value["result"])
    assert ": 2 件変更 · 1 人で元に戻されました" in result, result  # the outcome's word is the operations area's
    columns = json.loads(table.proto.columns)
    assert columns["when"]["label"] == "日時" and columns["when"]["type_config"]["format"] == "YYYY年M月D日 HH:mm"
    assert columns["when"]["help"].startswith("あなたのタイム ゾーン (")
    assert at.download_button[0].label == "この 1 件の操作をダウンロード (CSV)"
    at = select_action(at)
    assert_clean(at)
    data = [*people(live), "carol@corp.example", "leavers", "Tenant"]
    left = english_left(at, *data)
    assert not left, "\n".join(left)
    shown = texts(at)
    assert at.subheader[-1].value.startswith("操作 1: ")
    assert "· **carol@corp.example** がコンソールのライブラリから実行 · " in shown  # made through the library and "**理由:** leavers" in shown
    assert "**1 件の変更が最新のスナップショットで維持されていません。**" in shown
    assert at.expander[0].label == "タイムライン"
    assert at.button(key="activity.undo").label == "元に戻す: 2 人の復元をプレビュー…"
    items = at.dataframe[-1]
    columns = json.loads(items.proto.columns)
    assert columns["what to do"]["label"] == "対処方法" and columns["from"]["label"] == "変更前"

    monkeypatch.delenv("SCIM_CONSOLE_LANG")
    at = select_action(app("pages/activity.py"))
    assert_clean(at)
    assert "**1 change no longer holds** in the latest snapshot" in texts(at)
    assert at.button(key="activity.undo").label == "Undo: preview the way back for 2 people…"


def test_activity_unfinished_action_in_japanese(console_home: Path, sandbox_factory: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from console.operations import execute, plan
    from console.tokens.service import TokenService

    sb = sandbox_factory(seed_users=10, seed_groups=1, seed=6)
    key = "6ck_i18n_" + "0123456789ab"
    sb.admin("POST", "/sandbox-admin/keys", json={"name": "i18n", "apiKey": key})
    live = make_connection(console_home, sb, "Tenant", entra=False)
    TokenService(live.ctx).set_api_key("Tenant", key)
    TokenService(live.ctx).generate("Tenant")
    p = plan(live.ctx, live.conn, "deactivate", active_ids(sb, 2))
    sb.admin("DELETE", "/sandbox-admin/keys/i18n")
    stopped = execute(live.ctx, live.conn, p, "incident", "op")
    assert stopped.state == "stopped"
    japanese(monkeypatch)
    at = app("pages/activity.py")
    assert_clean(at)
    shown = texts(at)
    assert "未完了の操作" in [s.value for s in at.subheader]
    assert f"**操作 {stopped.batch_id}: " in shown and "**未実行 2 件**" in shown and "理由: incident" in shown
    assert at.button(key=f"activity.resume.{stopped.batch_id}").label == "再開"
    assert at.button(key=f"activity.abandon.{stopped.batch_id}").label == "この操作を破棄"
    assert at.text_input(key=f"activity.abandon_note.{stopped.batch_id}").label == "理由 (記録されます)"
    # the stop reason (HTTP 401 from the server, worded by the operations area) is not this area's text
    left = [s for s in english_left(at, *people(live), "incident", "op") if "401" not in s]
    assert not left, "\n".join(left)

    monkeypatch.delenv("SCIM_CONSOLE_LANG")
    at = app("pages/activity.py")
    assert at.button(key=f"activity.resume.{stopped.batch_id}").label == "Resume"


# --- times ---------------------------------------------------------------------------------------------------

def test_times_and_ago_per_language() -> None:
    from pages._ui import format as fmt

    now = datetime(2026, 12, 1, 9, 5, tzinfo=UTC)
    cases = [(timedelta(seconds=3), "just now", "たった今"), (timedelta(seconds=45), "45 s ago", "45 秒前"),
             (timedelta(minutes=5), "5 min ago", "5 分前"), (timedelta(hours=3), "3 h ago", "3 時間前"),
             (timedelta(days=1), "1 day ago", "1 日前"), (timedelta(days=12), "12 days ago", "12 日前"),
             (timedelta(minutes=-20), "in 20 min", "あと 20 分"), (timedelta(hours=-5), "in 5 h", "あと 5 時間"),
             (timedelta(days=-3), "in 3 days", "あと 3 日")]
    for delta, english, japanese_text in cases:
        with use_language("en"):
            assert fmt.ago(now - delta, now=now) == english
        with use_language("ja"):
            assert fmt.ago(now - delta, now=now) == japanese_text
    with use_language("ja"):
        assert fmt.ago(None) == "なし"
    with use_language("en"):
        assert fmt.ago(None) == "never"


def test_fmt_time_per_language(monkeypatch: pytest.MonkeyPatch) -> None:
    from pages._ui import format as fmt

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    moment = datetime(2026, 12, 1, 9, 5, tzinfo=UTC)  # 18:05 in Tokyo
    with use_language("en"):
        assert fmt.fmt_time(moment) == "1 Dec 2026, 18:05 JST"
        assert fmt.fmt_time(moment, zone=False) == "1 Dec 2026, 18:05"
        assert fmt.fmt_time(moment, date_only=True) == "1 Dec 2026"
    with use_language("ja"):
        assert fmt.fmt_time(moment) == "2026年12月1日 18:05 JST"
        assert fmt.fmt_time(moment, zone=False) == "2026年12月1日 18:05"
        assert fmt.fmt_time(moment, date_only=True) == "2026年12月1日"
        assert fmt.fmt_time(None) == "—"
    with use_language("ja"):
        assert fmt.fmt_short_date(moment) == "2026/12/01"  # a metric's value: fits a quarter of the page
    with use_language("en"):
        assert fmt.fmt_short_date(moment) == "1 Dec 2026"


def test_the_access_link_printed_in_the_terminals_language(monkeypatch: pytest.MonkeyPatch) -> None:
    """``streamlit run app.py`` prints the access link to its terminal in the terminal's language, as
    ``python -m console`` speaks (SCIM_CONSOLE_LANG, else LC_ALL / LC_MESSAGES / LANG), not a browser's."""
    from pages._access import _terminal_language

    for name in ("SCIM_CONSOLE_LANG", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "ja_JP.UTF-8")
    assert _terminal_language() == "ja"
    monkeypatch.setenv("LC_ALL", "C.UTF-8")  # set first: it decides, and it is not a console language
    assert _terminal_language() is None
    monkeypatch.setenv("SCIM_CONSOLE_LANG", "en")
    assert _terminal_language() == "en"
