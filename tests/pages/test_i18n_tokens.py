"""Connection & token and Set up a tenant in Japanese (SCIM_CONSOLE_LANG=ja): the token with its days left
("あと 364 日" from fmt_days_left), the tabs, the reminder settings with the reminder language, the rotation
confirmation and its outcome (pushed through Graph, or the manual steps), a refused token, an empty state, a
locked keyring, a link made in English that still opens its tab, and the set-up checklist. No English sentence is
left in the page's main area (tests/i18n_check.py) apart from the test's data and what other areas of the console
produce (the keyring's name, the role rule in words, the Graph permission list, the checklist's steps from
console/setup.py), which those areas translate. English stays the default: one English assertion per state."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest

from console.i18n import fmt_days_left, use_language
from tests.i18n_check import _CODE, english_sentences, visible_strings
from tests.pages.conftest import app, assert_clean, make_connection, open_ctx, texts, unescape

PAGE = "pages/connection.py"
SETUP = "pages/setup.py"
JA_TABS = ["トークン", "接続の設定", "Microsoft Graph", "リマインダー", "接続の追加"]


@pytest.fixture
def ja(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCIM_CONSOLE_LANG", "ja")


def _others(ctx: Any, conn: Any = None) -> list[str]:
    """What other areas of the console write on these pages (in Japanese once those areas are translated)."""
    from console.connections import describe_role_rule
    from console.credentials import PASSPHRASE_RULE
    from console.graph import GRAPH_PERMISSIONS
    from console.i18n import _
    from console.setup import checklist, connection_health
    from pages._ui.format import fmt_time

    out: list[str] = [PASSPHRASE_RULE, "python -m console"]
    with use_language("ja"):
        info = ctx.credentials.backend_info()
        out += [info.label, info.remedy]
        for p in GRAPH_PERMISSIONS:
            out += [_(p.feature), _(p.note or ""), p.text]
        if conn is not None:
            out.append(describe_role_rule(conn.role_rule))
            health = connection_health(ctx, conn, deep=True)
            out += [health.message, health.next_step]
        for step in checklist(ctx, conn, fmt=fmt_time):
            out += [step.title, step.detail, step.where or "", step.command or ""]
    return [o for o in out if o]


def _english_left(at: Any, *allowed: str) -> list[str]:
    """English sentences in the page's main area (the sidebar belongs to another area), escapes resolved."""
    strings = [unescape(s) for s in visible_strings(SimpleNamespace(_tree=at.main))]
    # allowed texts are matched the way the checker sees the page: with URLs and code taken out
    return english_sentences(strings, allowed=[*allowed, *(_CODE.sub(" ", a) for a in allowed)])


def _status(live: Any) -> Any:
    from console.tokens.service import TokenService

    return TokenService(live.ctx).status(live.conn.name)


# --- Connection & token ------------------------------------------------------------------------------------------
def test_the_token_tab_and_every_tab_in_japanese(live, ja):
    at = app(PAGE)
    assert_clean(at)
    assert [t.label for t in at.tabs] == JA_TABS
    left = _english_left(at, live.conn.name, *_others(live.ctx, live.conn))
    assert not left, "\n".join(left)
    shown = texts(at)
    status = _status(live)
    with use_language("ja"):
        days = fmt_days_left(status.days_left)
    assert re.fullmatch(r"あと \d+ 日", days) and f"まで有効です ({days})。" in shown
    assert status.days_left in (364, 365)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["残り日数"] == str(status.days_left) and metrics["前回のテスト"] == "正常"
    assert "**有効期限のタイムライン**" in [m.value for m in at.markdown]
    labels = [getattr(b.proto, "label", "") for b in at.get("download_button")]
    assert "有効期限とリマインダーをカレンダーに追加 (.ics)" in labels
    assert at.selectbox(key="reminders.Tenant.0.language").value == "en"  # English until set
    assert any(b.label == "リマインダー設定を保存" for b in at.button)


def test_the_token_tab_stays_english_by_default(live):
    at = app(PAGE)
    assert_clean(at)
    assert [t.label for t in at.tabs] == ["Token", "Connection settings", "Microsoft Graph", "Reminders",
                                          "Add a connection"]
    shown = texts(at)
    status = _status(live)
    assert "is valid until" in shown and f"(in {status.days_left} days)" in shown and "Days left" in shown
    assert at.selectbox(key="reminders.Tenant.0.language").label == "Language of reminders and alerts"


def test_the_reminder_language_is_set_on_the_reminders_tab_and_the_test_message_uses_it(live):
    """Set from an English session: the connection's reminders (here the test message) come in Japanese."""
    from console.notify.language import reminder_language
    from tests.console.test_core_helpers import local_http

    with local_http(lambda _h: (200, "application/json", b"{}")) as receiver:
        at = app(PAGE)
        at.selectbox(key="reminders.Tenant.0.language").select("ja")
        at.text_input(key="reminders.Tenant.0.urls").input(f"json://127.0.0.1:{receiver.server_port}/hook/x")
        at.button(key="FormSubmitter:reminders.Tenant.0-Save reminder settings").click().run()
        assert_clean(at)
        assert any("Reminder settings saved" in s.value for s in at.success)
        assert reminder_language(open_ctx(live.home), live.conn) == "ja"
        assert at.selectbox(key="reminders.Tenant.1.language").value == "ja"
        at.button(key="reminders.Tenant.send_test").click().run()
        assert_clean(at)
        assert any("Test message delivered to 1 channel" in s.value for s in at.success)  # the page: English
        import json

        [post] = [json.loads(r["body"]) for r in receiver.received if r["method"] == "POST"]
        assert post["title"] == "SCIM コンソールからのテスト (Tenant)"  # the message: the connection's language


def test_saving_the_reminder_settings_in_japanese(live, ja):
    from console.notify.language import reminder_language

    at = app(PAGE)
    at.selectbox(key="reminders.Tenant.0.language").select("ja")
    at.button(key="FormSubmitter:reminders.Tenant.0-リマインダー設定を保存").click().run()
    assert_clean(at)
    assert [s.value for s in at.success if "リマインダー設定を保存しました。" in s.value]
    assert reminder_language(open_ctx(live.home), live.conn) == "ja"
    at.text_input(key="reminders.Tenant.1.days").input("soon")
    at.button(key="FormSubmitter:reminders.Tenant.1-リマインダー設定を保存").click().run()
    assert any("コンマで区切った整数" in e.value for e in at.error)
    left = _english_left(at, live.conn.name, *_others(live.ctx, live.conn))
    assert not left, "\n".join(left)


def test_rotation_confirmation_and_outcome_pushed_to_entra_in_japanese(live, ja):
    at = app(PAGE)
    at.button(key="token.rotate").click().run()
    assert_clean(at)
    assert any(m.value.startswith("**今すぐトークンをローテーションしますか?**") for m in at.markdown)
    assert at.button(key="token.rotate_confirm").label == "ローテーション"
    left = _english_left(at, live.conn.name, *_others(live.ctx, live.conn))
    assert not left, "\n".join(left)
    at.button(key="token.rotate_confirm").click().run()
    assert_clean(at)
    done = [s.value for s in at.success if "トークンをローテーションして Entra のプロビジョニング ジョブに書き込み" in s.value]
    assert done and "まで有効です (あと " in unescape(done[0])
    left = _english_left(at, live.conn.name, *_others(live.ctx, live.conn))
    assert not left, "\n".join(left)


def test_rotation_with_the_manual_steps_in_japanese(console_home, sandbox, ja):
    live = make_connection(console_home, sandbox, name="NoEntra", entra=False, snapshot=False)
    at = app(PAGE, state={"connection": "NoEntra"})
    at.button(key="token.rotate").click().run()
    at.button(key="token.rotate_confirm").click().run()
    assert_clean(at)
    shown = texts(at)
    assert "トークンをローテーションしました: …" in shown
    assert "**このトークンを Entra に設定してください** (設定するまで Entra は古いトークンを使い続けます):" in \
        [m.value for m in at.markdown]
    assert "管理者資格情報を開き、テナント URL に" in shown and "「テスト接続」をクリック" in shown
    assert "`python -m console token reveal --connection NoEntra`" in "\n".join(m.value for m in at.markdown)
    assert any(b.label == "一度だけ表示してコピー" for b in at.button)
    left = _english_left(at, "NoEntra", *_others(live.ctx, live.conn))
    assert not left, "\n".join(left)


def test_rotation_outcome_stays_english_by_default(console_home, sandbox):
    make_connection(console_home, sandbox, name="NoEntra", entra=False, snapshot=False)
    at = app(PAGE, state={"connection": "NoEntra"})
    at.button(key="token.rotate").click().run()
    at.button(key="token.rotate_confirm").click().run()
    assert_clean(at)
    assert "Token rotated" in texts(at) and "Open Admin Credentials" in texts(at)


def test_a_refused_token_says_why_in_japanese(live, ja):
    at = app(PAGE)
    at.text_input(key="token.import_value").input("garbage-token")
    at.button(key="FormSubmitter:token.import_form-インポート").click().run()
    assert_clean(at)
    errors = [unescape(e.value) for e in at.error]
    assert any("貼り付けたトークンには読み取れる有効期限がありません" in e for e in errors), errors
    assert "garbage-token" not in texts(at)
    left = _english_left(at, live.conn.name, "--accept-estimated-expiry", *_others(live.ctx, live.conn))
    assert not left, "\n".join(left)
    at.button(key="FormSubmitter:token.import_form-インポート").click().run()
    assert any("先にトークンを貼り付けてください。" in e.value for e in at.error)


def test_no_connection_and_a_keyring_to_create_in_japanese(console_home, ja, monkeypatch, tmp_path):
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING", "cryptfile")
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING_FILE", str(tmp_path / "keyring.cfg"))
    monkeypatch.delenv("SCIM_CONSOLE_KEYRING_PASSPHRASE", raising=False)
    at = app(PAGE)
    assert_clean(at)
    assert any(i.value.startswith("**接続がまだ構成されていません。**") for i in at.info)
    assert any("暗号化ファイルのキーリングはまだ作成されていません" in w.value for w in at.warning)
    assert any(b.label == "キーリングを作成" for b in at.button)
    left = _english_left(at, str(tmp_path), *_others(open_ctx(console_home)))
    assert not left, "\n".join(left)
    monkeypatch.delenv("SCIM_CONSOLE_LANG")
    at = app(PAGE)
    assert any("No connection is configured yet" in i.value for i in at.info)


def test_a_link_made_in_english_opens_its_tab_in_japanese(console_home, sandbox, ja):
    make_connection(console_home, sandbox, name="Tenant", snapshot=False)
    at = app()
    at.query_params["tab"] = "Add a connection"  # e.g. the sidebar's link, written in English
    at.switch_page(PAGE).run()
    assert_clean(at)
    assert at.session_state["tab"] == "接続の追加"


# --- Set up a tenant ------------------------------------------------------------------------------------------
def test_the_setup_checklist_in_japanese(live, ja):
    from console.setup import checklist, progress

    at = app(SETUP)
    assert_clean(at)
    assert [t.value for t in at.title] == ["テナントのセットアップ"]
    done, total = progress(checklist(live.ctx, live.conn))
    bars = [p.proto.text for p in at.get("progress")]
    assert f"Tenant: {total} 手順中 {done} 手順が完了" in bars, bars
    labels = [e.label for e in at.expander]
    assert any(label.endswith(" — 完了") for label in labels), labels
    assert any(label.endswith((" — 未完了", " — 要対応", " — 任意")) for label in labels), labels
    left = _english_left(at, live.conn.name, *_others(live.ctx, live.conn))
    assert not left, "\n".join(left)


def test_the_setup_checklist_stays_english_by_default(live):
    at = app(SETUP)
    assert_clean(at)
    assert [t.value for t in at.title] == ["Set up a tenant"]
    assert any("steps done for Tenant" in p.proto.text for p in at.get("progress"))
