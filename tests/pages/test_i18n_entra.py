"""The Entra area in Japanese: the Sync history page in its main states (logs fetched from the sandbox's Entra
simulator with a failed cycle and a quarantine, a failed record opened, the charts, the import box with a
rejected record, the earlier-failures notice, the empty state) shows no English sentence of its own, with the
terms of the glossary; the same states stay English by default. And the core: ``explain_error`` (which the
Overview, the timeline, the alerts, the Setup check and the command line all call) answers in the caller's
language, as do the error titles, quarantine reasons, next-cycle words, schema notes and import messages.

Texts of other areas on the page (the sidebar, the alerts, a record's sentence from ``console.timeline``) are
other helpers' work: the page's main area is checked, and the alerts' and sentences' own words are computed in
Japanese and allowed, so this test fails on the Entra area's English only."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from tests.i18n_check import _CODE, english_sentences, visible_strings
from tests.pages.conftest import app, assert_clean, make_connection, plotly_specs, texts, unescape
from tests.pages.test_i18n_pages import _data_values
from tests.pages.test_sync_history import demo_like_records, offline, records, select_record

PAGE = "pages/sync_history.py"
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
CREDENTIAL_FAILURE = "SystemForCrossDomainIdentityManagementCredentialValidationFailure"


# --- helpers ---------------------------------------------------------------------------------------------------

def main_strings(at: Any) -> list[str]:
    """What the operator reads on the page itself: the main area from the page's title on (the sidebar and the
    shell's banners above the title belong to other areas)."""
    title = at.title[0]
    children = list(at.main.children.values())
    start = next(i for i, child in enumerate(children) if child is title or getattr(child, "proto", None) == title.proto)
    page = SimpleNamespace(children=dict(enumerate(children[start:])))
    return visible_strings(SimpleNamespace(_tree=page))


def column_labels(at: Any) -> dict[str, list[str]]:
    """The column headers (``column_config`` labels) of every table, by the table's first data column."""
    out: dict[str, list[str]] = {}
    for frame in at.dataframe:
        config = json.loads(frame.proto.columns or "{}")
        labels = [c.get("label") for c in config.values() if isinstance(c, dict) and c.get("label")]
        out[str(frame.value.columns[0])] = labels
    return out


def figure(at: Any, key_text: str) -> dict:
    for spec in plotly_specs(at):
        if key_text in json.dumps(spec.get("layout", {}).get("title", ""), ensure_ascii=False):
            return spec
    raise AssertionError(f"no chart titled {key_text!r}")


def record_texts(ctx: Any, conn: Any) -> list[str]:
    """The stored records' own texts (Entra's step descriptions, details, reasons, names): data, as Entra wrote
    them, which stays in its language."""
    from console.entra.logstore import iter_records

    out: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(k)
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for record in iter_records(ctx, conn):
        walk(record)
    return out


def other_areas(ctx: Any, conn: Any) -> list[str]:
    """Texts other areas put on this page, computed in Japanese (the alerts of ``console.notify``, the record
    sentences and action labels of ``console.timeline``): allowed here; their own tests check them."""
    from console.entra.logstore import query_logs
    from console.i18n import _, use_language
    from console.notify.alerts import current_alerts
    from console.timeline import action_label, record_sentence

    out: list[str] = []
    with use_language("ja"):
        for alert in current_alerts(ctx, conn, include_token=False):
            out += [alert.title, alert.detail, alert.remedy]
        rows = query_logs(ctx, conn, limit=100_000)
        for r in rows.itertuples(index=False):
            for name in (r.source_name, r.target_name):
                for code in (r.error_code, None):
                    out.append(record_sentence(r.action, r.status, r.identity_type, name, error_code=code,
                                               meaning=False))
            out.append(action_label(r.action))
        # the on-demand panel (pages/_ondemand.py, the Setup check's area) inside a failed record's details
        out.append(_("Entra provisions this one object now, outside the 40-minute cycle, and reports each step."))
    return out


def english_left(at: Any, allowed: list[str]) -> list[str]:
    """English runs in the main area, data and other areas' texts allowed (``english_sentences`` blanks e-mail
    addresses and code before it takes allowed texts out, so the allowed texts are blanked the same way)."""
    blanked = [_CODE.sub(" ", a) for a in allowed]
    return english_sentences([unescape(s) for s in main_strings(at)], allowed=[*allowed, *blanked])


@pytest.fixture
def japanese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCIM_CONSOLE_LANG", "ja")


# --- the page, with logs from the Entra simulator ----------------------------------------------------------------

def _simulated_trouble(console_home: Any, sandbox_factory: Any) -> Any:
    """A tenant provisioned by the simulator, then a cycle whose token Entra holds is bad: failures with a
    credential error, and the job in quarantine."""
    box = sandbox_factory(seed_users=12, seed_groups=2, seed=5)
    box.admin("POST", "/sandbox-admin/entra/cycles", {"count": 1})
    live = make_connection(console_home, box)
    box.admin("POST", "/sandbox-admin/entra/tenant", {"action": "join", "givenName": "Quinn", "surname": "Quarantine"})
    box.admin("POST", "/sandbox-admin/entra/tenant", {"action": "set_token", "token": "bad"})
    box.admin("POST", "/sandbox-admin/entra/cycles", {"count": 1})
    return live


def _fetch(at: Any) -> None:
    at.button(key="sync_history.fetch").click().run()
    assert_clean(at)


@pytest.mark.slow
def test_sync_history_fetched_from_the_simulator_in_japanese(console_home, sandbox_factory, japanese):
    live = _simulated_trouble(console_home, sandbox_factory)
    at = app(PAGE)
    assert_clean(at)
    assert at.button(key="sync_history.fetch").label == "新しいログを今すぐ取得"
    _fetch(at)
    assert not at.exception
    allowed = _data_values(live) + record_texts(live.ctx, live.conn) + other_areas(live.ctx, live.conn)
    left = english_left(at, allowed)
    assert not left, "English left on Sync history:\n" + "\n".join(left[:40])

    shown = texts(at)
    assert at.title[0].value == "同期履歴"
    assert "取得しました: 新規" in shown and "既存 0 件、拒否 0 件。" in shown
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["ジョブの状態"] == "検疫" and metrics["次回のサイクル"] == "検疫中"
    assert "次回のサイクル: 検疫中: Entra は" in shown or "次回のサイクル: ジョブが検疫中の間" in shown
    # the failures by error code: the catalogue's meaning and fix, in the admin center's words
    assert "**トークンの拒否** · " + CREDENTIAL_FAILURE in shown
    assert "**意味:** Entra が 6clicks に対して認証できませんでした。" in shown
    assert "QuarantineState スコープでプロビジョニングを再開してください。" in shown
    assert "**推奨される対処:**" in shown
    # the charts: titles, axes, legends (the data keeps Graph's values), hover texts, the quarantine shading
    cycles = figure(at, "結果別のサイクルの推移")
    names = {t["name"] for t in cycles["data"]}
    assert {"成功", "失敗", "失敗のあるサイクル"} <= names
    assert cycles["layout"]["yaxis"]["title"]["text"] == "レコード数"
    assert cycles["layout"]["xaxis"]["title"]["text"].startswith("サイクルの開始 (")
    failed = next(t for t in cycles["data"] if t["name"] == "失敗")
    assert "失敗: %{y} 件" in failed["hovertemplate"] and "サイクル %{customdata}" in failed["hovertemplate"]
    notes = [a["text"] for a in cycles["layout"].get("annotations", [])]
    assert any(n.startswith("検疫: ") for n in notes), notes
    assert any(n.startswith("最多: ") and "件が失敗 (トークンの拒否)" in n for n in notes), notes
    rate = figure(at, "サイクルごとの失敗率")
    assert {t["name"] for t in rate["data"]} == {"失敗率 (%)", "直近の中央値 (%)"}
    actions = figure(at, "種類別のアクション")
    assert {t["name"] for t in actions["data"]} <= {"成功", "失敗", "スキップ", "警告"}
    size = figure(at, "ディレクトリ サイズの推移")
    assert [t["name"] for t in size["data"]] == ["ユーザー", "有効なユーザー", "グループ", "ロール"]
    # the log table's headers and the outcome in words (the filter's value stays "failure")
    labels = column_labels(at)["time"]
    assert labels[1:] == ["内容", "結果", "サイクル"] and labels[0].startswith("日時 (")
    table = next(d.value for d in at.dataframe if "what" in d.value.columns)
    assert "失敗" in set(table["status"]) and "failure" not in set(table["status"])
    assert at.selectbox(key="sync_history.f_status").label == "結果"
    assert "失敗" in at.selectbox(key="sync_history.f_status").options

    # a failed record opened: its error explained in Japanese, its steps and links
    at.selectbox(key="sync_history.f_status").set_value("failure").run()
    failed_ids = next(d.value for d in at.dataframe if "what" in d.value.columns)["id"].tolist()
    assert failed_ids
    select_record(at, failed_ids[0])
    assert_clean(at)
    left = english_left(at, allowed)
    assert not left, "English left in the record's details:\n" + "\n".join(left[:40])
    errors = [unescape(e.value) for e in at.error]
    detail = next(e for e in errors if e.startswith("**トークンの拒否**"))
    assert "**意味:** Entra が 6clicks に対して認証できませんでした。SCIM トークン (シークレット トークン) が" in detail
    assert "**推奨される対処:** 6clicks の新しいトークンを生成して" in detail
    shown = texts(at)
    assert "**ステップ**" in shown and "プロビジョニング サイクル " in shown
    assert any(e.label == "Entra から受け取ったままのレコード (JSON)" for e in at.expander)
    assert any(e.label == "今すぐ再試行: オンデマンド プロビジョニング" for e in at.expander)
    assert at.button(key="sync_history.this_cycle").label == "このサイクルのレコードを表示"


@pytest.mark.slow
def test_sync_history_fetched_from_the_simulator_stays_english_by_default(console_home, sandbox_factory):
    live = _simulated_trouble(console_home, sandbox_factory)
    at = app(PAGE)
    _fetch(at)
    shown = texts(at)
    assert at.title[0].value == "Sync history"
    assert "Fetched: " in shown and "**Token rejected** · " + CREDENTIAL_FAILURE in shown
    assert "**What it means:** Entra could not authenticate to 6clicks" in shown
    assert {"success", "failure"} <= {t["name"] for t in figure(at, "Cycles over time")["data"]}
    assert {m.label: m.value for m in at.metric}["Job status"] == "Quarantine"
    at.selectbox(key="sync_history.f_status").set_value("failure").run()
    select_record(at, next(d.value for d in at.dataframe if "what" in d.value.columns)["id"].tolist()[0])
    assert_clean(at)
    assert "**Suggested fix:** Generate a new 6clicks token" in texts(at)
    assert live.conn.name == "Tenant"


# --- the page, other states (stored records, no server) -------------------------------------------------------

def test_empty_state_in_japanese_and_english(console_home, monkeypatch):
    offline(console_home, entra=True, snapshot=True)
    monkeypatch.setenv("SCIM_CONSOLE_LANG", "ja")
    at = app(PAGE)
    assert_clean(at)
    assert not english_left(at, ["Tenant"]), english_left(at, ["Tenant"])
    shown = texts(at)
    assert "**過去 7 日間のプロビジョニング ログはありません。** 今すぐ取得する (上のボタン)" in shown
    assert {m.label: m.value for m in at.metric}["次回のサイクル"] == "まだ不明"
    assert at.segmented_control(key="sync_history.range").value == "7 days"  # the value stays English
    assert "24 時間" in at.segmented_control(key="sync_history.range").options
    monkeypatch.delenv("SCIM_CONSOLE_LANG")
    at = app(PAGE)
    assert "**No provisioning logs in the last 7 days.** Fetch them now" in texts(at)


def test_without_graph_the_page_says_what_to_do_in_japanese(console_home, japanese):
    offline(console_home)
    at = app(PAGE)
    assert_clean(at)
    assert not english_left(at, ["Tenant"]), english_left(at, ["Tenant"])
    shown = texts(at)
    assert "**この接続には Microsoft Graph が構成されていない**ため" in shown
    assert "ディレクトリ スナップショットはまだありません。" in shown


def test_import_box_reports_rejections_in_japanese(console_home, monkeypatch):
    offline(console_home)
    for lang, result, where in (("ja", "インポートしました: 新規 4 件、既存 0 件、拒否 2 件。", "場所"),
                                ("en", "Imported: 4 new, 0 already known, 2 rejected.", "Where")):
        body = json.dumps([*records(f"imp-{lang}", NOW - timedelta(hours=1), 4), {"id": "broken"},
                           {"no": "id"}]).encode()
        monkeypatch.setenv("SCIM_CONSOLE_LANG", lang)
        at = app(PAGE)
        at.file_uploader(key="sync_history.upload").upload("download.json", body, "application/json").run()
        at.button(key="sync_history.import").click().run()
        assert_clean(at)
        assert result in texts(at)
        rejected = next(d.value for d in at.dataframe if where in d.value.columns)
        if lang == "ja":
            assert list(rejected.columns) == ["場所", "理由"]
            assert set(rejected["理由"]) == {"activityDateTime None がないか、日付ではありません", "id がありません"}
            assert rejected["場所"].tolist() == ["download.json のレコード 5 (id broken)", "download.json のレコード 6"]
            allowed = ["Tenant", *[f"Person imp-ja {i}" for i in range(4)]]
            assert not english_left(at, allowed), english_left(at, allowed)
        else:
            assert set(rejected["Why"]) == {"activityDateTime None is missing or not a date", "no id"}


def test_earlier_failures_notice_in_japanese(console_home, monkeypatch):
    ctx, conn = offline(console_home, snapshot=True)
    demo_like_records(ctx, conn)
    monkeypatch.setenv("SCIM_CONSOLE_LANG", "ja")
    at = app(PAGE, state={"sync_history.range": "7 days"})
    assert_clean(at)
    shown = texts(at)
    assert "過去 30 日間に失敗したレコード 10 件のうち 8 件は、この期間より前のものです。" in shown
    assert "では、6 件中 4 件のレコードが失敗しました (6clicks のサーバー エラー)。" in shown
    assert at.button(key="sync_history.widen").label == "30 日間を表示"
    allowed = [*_synthetic_names(ctx, conn), *other_areas(ctx, conn)]
    left = english_left(at, allowed)
    assert not left, left
    at.button(key="sync_history.widen").click().run()
    assert at.session_state["sync_history.range"] == "30 days"
    monkeypatch.delenv("SCIM_CONSOLE_LANG")
    at = app(PAGE, state={"sync_history.range": "7 days"})
    assert "8 of the 10 failed records of the last 30 days are earlier than this range." in texts(at)
    assert at.button(key="sync_history.widen").label == "Show 30 days"


def _synthetic_names(ctx: Any, conn: Any) -> list[str]:
    from console.directory.store import latest_snapshot

    snap = latest_snapshot(ctx, conn)
    values = [conn.name]
    for column in ("userName", "displayName", "givenName", "familyName", "email"):
        if snap is not None and column in snap.users.columns:
            values.extend(str(v) for v in snap.users[column].dropna().unique())
    return values


# --- the core: every caller of the catalogue gets the operator's language ---------------------------------------

def test_explain_error_answers_in_the_callers_language(monkeypatch):
    from console.entra.catalogue import (
        ERROR_CODES,
        error_category_text,
        error_title,
        explain_error,
        job_status_text,
        outcome_word,
        quarantine_reason_text,
    )
    from console.i18n import use_language

    monkeypatch.delenv("SCIM_CONSOLE_LANG", raising=False)
    english = explain_error(CREDENTIAL_FAILURE)
    assert english == ERROR_CODES[CREDENTIAL_FAILURE]
    assert english[0].startswith("Entra could not authenticate to 6clicks")
    with use_language("ja"):
        meaning, fix = explain_error(CREDENTIAL_FAILURE)
        assert meaning.startswith("Entra が 6clicks に対して認証できませんでした。")
        assert "検疫" in meaning and "シークレット トークン" in meaning and "テナント URL" in meaning
        assert "「接続とトークン」ページ" in fix
        # a code ending in a known one, an unknown code, no code: all in Japanese
        assert explain_error("SixClicksEntryConflict")[1].endswith("(オンデマンド プロビジョニング)。")
        assert explain_error("NewCode")[0] == "Entra が NewCode を報告しました。このコードはコンソールの一覧にありません。"
        assert explain_error(None)[0] == "このレコードはエラー コードなしで失敗しました。"
        assert explain_error("StagedDelete")[1].startswith("削除が意図したものであることを確認してから、Microsoft Entra 管理センター")
        assert error_title("InternalServerError") == "6clicks のサーバー エラー"
        assert error_title("SomethingNew") == "SomethingNew"  # an unknown code as the log says it
        assert error_category_text("NonServiceFailure").startswith("Entra のプロビジョニング サービスの外部が原因")
        assert quarantine_reason_text("EncounteredQuarantineException") == "検疫の例外 (通常は無効な資格情報)"
        assert quarantine_reason_text("inferred from logs") == "プロビジョニング ログからの推定"
        assert outcome_word("failure") == "失敗" and outcome_word("skipped") == "スキップ"
        assert job_status_text("Quarantine") == "検疫" and job_status_text("Odd") == "Odd"
        # every meaning and fix of the catalogue is translated (none comes back in English)
        for code, (en_meaning, en_fix) in ERROR_CODES.items():
            ja = explain_error(code)
            assert ja[0] != en_meaning and ja[1] != en_fix, code
            assert not english_sentences(ja, allowed=["QuarantineState", "Watermark", "python -m console token "
                                                      "rotate", "aadOptscim062020", "PATCH"]), (code, ja)
    assert explain_error(CREDENTIAL_FAILURE) == english  # back to the default
    assert error_title("InternalServerError") == "6clicks server error"
    assert quarantine_reason_text("EncounteredQuarantineException").startswith("a quarantine exception")


def test_the_timeline_and_the_reconciliation_get_the_translated_explanation():
    """Callers in other areas get the catalogue's Japanese without doing anything (``explain_error`` is read when
    they call it, not when the module was imported)."""
    from console.i18n import use_language
    from console.timeline import record_sentence

    with use_language("ja"):
        sentence = record_sentence("update", "failure", "User", "Ada", error_code="InternalServerError")
    assert "6clicks が 500 (サーバー エラー) を返しました。" in sentence
    assert "6clicks answered 500" in record_sentence("update", "failure", "User", "Ada",
                                                     error_code="InternalServerError")


def test_job_health_schedule_and_schema_words_in_japanese():
    from console.entra.health import DEFAULT_INTERVAL
    from console.entra.schedule import NextCycle, next_cycle_words, relative
    from console.entra.schema import GUIDE_USERS, Found, ObjectMapping, compare
    from console.i18n import use_language

    def fmt(t: datetime) -> str:
        return t.strftime("%H:%M")

    soon = NextCycle("expected", NOW + timedelta(minutes=25), DEFAULT_INTERVAL, NOW)
    quarantined = NextCycle("quarantine", NOW + timedelta(hours=6), DEFAULT_INTERVAL, NOW)
    with use_language("ja"):
        assert next_cycle_words(soon, fmt, NOW) == ("あと 25 分", f"{fmt(soon.at)} (あと 25 分) の予定です "
                                                               "(サイクルは 40 分ごとに実行されます)。")
        assert next_cycle_words(quarantined, fmt, NOW)[0] == "検疫中"
        assert relative(NOW - timedelta(days=3), NOW) == "3 日前" and relative(NOW - timedelta(minutes=5), NOW) == "5 分前"
        mapping = ObjectMapping("users", False, [Found("userName", "mail", 1)])
        rows = compare("User", GUIDE_USERS, mapping)
        notes = " / ".join(r.note for r in rows)
        assert rows[0].target == "(マッピング全体)" and rows[0].found == "無効"
        assert "ユーザーはまったくプロビジョニングされません" in notes
        assert "ガイドでは userPrincipalName をマッピングしますが、Entra は mail を送信します" in notes
        assert "照合の優先順位が 1 ですが、ガイドでは 2 です" in notes
        assert not english_sentences([r.note for r in rows] + [r.info for r in rows],
                                     allowed=["userName", "userPrincipalName"])
    assert next_cycle_words(soon, fmt, NOW)[0] == "in 25 min"
    assert compare("User", GUIDE_USERS, ObjectMapping("users", False, []))[0].note == "users are not provisioned at all"


def test_import_and_on_demand_messages_in_japanese(console_home):
    from console.entra.files import parse_json_text
    from console.entra.logstore import ImportResult, ingest_records
    from console.entra.ondemand import provision_on_demand, read_answer
    from console.errors import InvalidInput
    from console.i18n import use_language

    ctx, conn = offline(console_home)
    good = json.dumps(records("cut", NOW - timedelta(hours=1), 3))
    with use_language("ja"):
        assert ImportResult(new=2, known=1, rejected_count=3).summary() == "新規 2 件、既存 1 件、拒否 3 件"
        _, warnings = parse_json_text(good[: good.index('"id": "cut-2"') + 5])
        assert warnings[0].startswith("このファイルは ") and "完全なレコード 2 件を読み取りました" in warnings[0]
        result = ingest_records(ctx, conn, [{"id": "x", "activityDateTime": "1960-01-01T00:00:00Z"}])
        assert result.rejected == [("レコード 1 (id x)", "activityDateTime '1960-01-01T00:00:00Z' はありえない日時です "
                                                           "(1971 年より前)")]
        answer = {"value": json.dumps({"statusInfo": {"status": "failure", "errorInformation": {
            "errorCode": "EntryConflict", "reason": "409 from 6clicks"}}, "provisioningAction": "create"})}
        on_demand = read_answer(answer, "00000000-0000-0000-0000-000000000001", "User")
        assert on_demand.summary() == "Entra はプロビジョニングできませんでした (create)。409 from 6clicks"
        assert on_demand.explanation.startswith("6clicks には同じ一意の値を持つオブジェクトが既に存在します")
        with pytest.raises(InvalidInput) as bad:
            provision_on_demand(ctx, conn, "not-a-guid")
        assert bad.value.message == "'not-a-guid' は Entra のオブジェクト ID ではありません。"
        assert bad.value.remedy.startswith("Entra でのユーザーまたはグループのオブジェクト ID (GUID。")
    assert ImportResult(new=2, known=1, rejected_count=3).summary() == "2 new, 1 already known, 3 rejected"
