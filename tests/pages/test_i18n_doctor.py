"""The Setup check and Reconcile pages in Japanese (AppTest against real sandboxes): every state an operator
reaches (not run yet, a run's checks, a confirmation by hand, the full probe, no Graph settings; a reconciliation
with the planted demo, its tables, chart and CSV, a missing person selected, no Graph settings) has no English left
but data values and attribute names, with the Japanese admin center's and the 6clicks guide's words where they
matter. English stays the default.

Other areas' text on these pages (the sidebar, the token's status line, the operations panel, Entra's side of the
reconciliation) is theirs to translate: the sidebar and the operations panel are left out of the search, the
token's status and Entra's warnings are allowed as whatever their code says in Japanese."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from console.i18n import _, use_language
from tests.i18n_check import english_sentences, visible_strings
from tests.pages.conftest import app, assert_clean, make_connection, plotly_specs, texts, unescape
from tests.sandbox_entra.helpers import planted_demo, status

DOCTOR = "pages/doctor.py"
RECONCILE = "pages/reconcile.py"
SELECT_ROWS = ("Select rows in the tables (any tab) to act on those people below: deactivate orphans or accounts "
               "not managed by SCIM, reactivate, add to or remove from a group. Each change is previewed, needs a "
               "reason, is journaled and can be undone.")


def _ja(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCIM_CONSOLE_LANG", "ja")


def _main_strings(at: Any) -> list[str]:
    """What the page's own body shows (the sidebar is the shell's), escapes resolved."""
    return [unescape(s) for s in visible_strings(SimpleNamespace(_tree=at.main))]


def _left(strings: list[str], allowed: list[str]) -> list[str]:
    return english_sentences(strings, allowed=[a for a in allowed if a])


def _token_line(live: Any) -> str:
    """The token's status line (the tokens area's words), as it reads in Japanese."""
    from console.tokens.service import TokenService

    with use_language("ja"):
        return TokenService(live.ctx).status(live.conn).message


def _labels(at: Any) -> list[str]:
    return [e.label for e in at.expander]


# ------------------------------------------------------------------------------------------------ Setup check

def test_setup_check_in_japanese_run_confirm_and_probe(live: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _ja(monkeypatch)
    at = app(DOCTOR)
    assert_clean(at)
    assert "まだチェックしていません。チェックは数秒で終わります。" in texts(at)
    assert not _left(_main_strings(at), [live.conn.name])

    at.button(key="doctor.run").click().run()
    assert_clean(at)
    allowed = [live.conn.name, _token_line(live)]
    left = _left(_main_strings(at), allowed)
    assert not left, "\n".join(left)
    assert [s.value for s in at.subheader] == ["6clicks", "権限", "Entra ID"]
    assert [m.label for m in at.metric] == ["失敗", "警告", "OK", "手動確認"]
    labels = _labels(at)
    for title in ("統合", "新規ユーザーの作成", "ユーザーの編集", "ユーザーの削除", "グループの作成・編集・削除",
                  "グループ メンバーの管理"):  # the 6clicks guide's names of the six permissions
        assert f"{title} — OK" in labels
    assert "属性マッピング: ユーザー — OK" in labels and "Entra が保持する資格情報 — OK" in labels
    assert "スコープ: 割り当てられたユーザーとグループのみ — ここでは確認できません" in labels
    shown = texts(at)
    assert "6clicks と Entra では何も変更していません。" in shown
    assert ("**手動で確認:** Microsoft Entra 管理センター > ID > アプリケーション > エンタープライズ アプリケーション > "
            "6clicks アプリ > プロビジョニング > 設定 > スコープ: 「割り当てられたユーザーとグループのみを同期する」"
            "を選択し") in shown
    assert "ガイドの手順: 管理者資格情報: テナント URL (API URL + /scim/) とシークレット トークンを入力して、テスト接続" in shown
    assert "「エラーが発生したときにメール通知を送信します」をオンにしてください。" in shown
    assert "ガイドのとおりです。" in shown
    mapping = next(df.value for df in at.dataframe if "ガイドの設定" in df.value.columns)
    assert list(mapping.columns) == ["6clicks の属性", "判定", "メモ", "ガイドの設定", "ジョブのマッピング"]
    assert 'emails[type eq "work"].value' in set(mapping["6clicks の属性"]) and set(mapping["判定"]) == {"OK"}

    # confirmed by hand: who and when, in Japanese
    at.button(key="doctor.confirm.scope").click().run()
    assert_clean(at)
    label = next(x for x in _labels(at) if x.startswith("スコープ: "))
    assert label.endswith("が手動で確認済み)") and "— OK (" in label
    assert "に確認しました。" in texts(at)
    assert any(b.label == "確認を取り消す" for b in at.button)
    assert not _left(_main_strings(at), allowed)

    # the full probe: its steps and results in words
    at.checkbox(key="doctor.probe.sure").check().run()
    at.button(key="doctor.probe.go").click().run()
    assert_clean(at)
    probe = next(df.value for df in at.dataframe if "権限" in df.value.columns)
    assert list(probe.columns) == ["権限", "ステップ", "結果", "詳細"]
    assert set(probe["結果"]) == {"付与済み"} and "完了" in set(probe["詳細"])
    assert any(d.endswith("の SCIM サービスがトークンを受け付けました") for d in probe["詳細"])
    assert "GET Users (ユーザー 1 人)" in set(probe["ステップ"]) and "プローブ ユーザーを削除" in set(probe["ステップ"])
    assert any(s.startswith("無効なプローブ ユーザー scim-console-probe-") for s in probe["ステップ"])
    words = [str(v) for column in ("権限", "ステップ", "結果", "詳細") for v in probe[column]]
    names = sorted(set(re.findall(r"'(SCIM console probe [0-9a-f]+)'", " ".join(words))))  # the probe group's name
    assert not english_sentences(words, allowed=names)
    assert not _left(_main_strings(at), allowed)

    # a new session shows the last run's counts in Japanese (stored language-neutral, worded when read)
    again = app(DOCTOR)
    assert_clean(again)
    last = next(c.value for c in again.caption if c.value.startswith("前回の実行 "))
    assert "失敗 " in last and " 件、警告 " in last and "詳細を見るにはチェックを実行してください。" in last


def test_setup_check_default_is_english(live: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCIM_CONSOLE_LANG", raising=False)
    at = app(DOCTOR)
    assert "Not checked yet. The check takes a few seconds." in texts(at)
    at.button(key="doctor.run").click().run()
    assert_clean(at)
    assert [s.value for s in at.subheader] == ["6clicks", "Permissions", "Entra ID"]
    assert "Create new users — OK" in _labels(at)
    assert "Scope: assigned users and groups only — Cannot check here" in _labels(at)
    shown = texts(at)
    assert ("Entra admin center > Enterprise applications > the 6clicks app > Provisioning > Settings > Scope: "
            "choose \"Sync only assigned users and groups\"") in shown
    assert "As the guide prescribes." in shown
    at.checkbox(key="doctor.probe.sure").check().run()
    at.button(key="doctor.probe.go").click().run()
    probe = next(df.value for df in at.dataframe if "Permission" in df.value.columns)
    assert set(probe["Result"]) == {"granted"} and "GET Users (one user)" in set(probe["Step"])


def test_setup_check_without_graph_in_japanese(console_home: Any, sandbox: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """What cannot be checked here (no Graph settings): said in Japanese, with the settings to add."""
    live = make_connection(console_home, sandbox, "NoGraph", entra=False)
    _ja(monkeypatch)
    at = app(DOCTOR)
    at.button(key="doctor.run").click().run()
    assert_clean(at)
    assert not _left(_main_strings(at), [live.conn.name, _token_line(live)])
    assert "プロビジョニング ジョブの実行 — ここでは確認できません" in _labels(at)
    shown = texts(at)
    assert "未チェック: 接続に、サービス プリンシパルとジョブ ID を含む Microsoft Graph 設定がありません。" in shown
    assert "接続の Microsoft Graph 設定を追加し (接続とトークン > Microsoft Graph" in shown


def test_last_run_reads_in_the_readers_language(live: Any) -> None:
    """The stored run is language-neutral: its summary and failed titles are worded when read."""
    from console.doctor.checks import run_checks
    from console.doctor.confirmations import last_run

    with use_language("ja"):
        report = run_checks(live.ctx, live.conn)
    failed = [c.id for c in report.checks if c.status == "failure"]
    assert failed, "the test tenant's job is not running: the job check fails"
    row = live.ctx.store.query_one("SELECT summary FROM doctor_runs ORDER BY id DESC LIMIT 1")
    assert "failure" in row["summary"]   # stored in English whatever the language of the run
    with use_language("en"):
        english = last_run(live.ctx, live.conn)
    with use_language("ja"):
        japanese = last_run(live.ctx, live.conn)
    assert english is not None and japanese is not None
    assert english.failure_ids == japanese.failure_ids == failed
    assert "Provisioning job runs" in english.failures and "プロビジョニング ジョブの実行" in japanese.failures
    assert english.summary.startswith(f"{report.count('failure')} failure")
    assert japanese.summary.startswith(f"失敗 {report.count('failure')} 件、")


# -------------------------------------------------------------------------------------------------- Reconcile

@pytest.fixture(scope="module")
def demo_box() -> Any:
    yield from planted_demo()


def _page_part(at: Any) -> list[str]:
    """The page's own strings: the operations panel between the selection hint and History is the operations
    area's (tests/pages/test_i18n_pages.py checks it on its own pages)."""
    strings = _main_strings(at)
    with use_language("ja"):
        start, history = _(SELECT_ROWS), _("History")
    first = next(i for i, s in enumerate(strings) if s == start)
    last = next(i for i, s in enumerate(strings) if i > first and s == history)
    return strings[:first + 1] + strings[last:]


def _run(at: Any) -> Any:
    from console.reconcile.runs import Run

    run = at.session_state["result.reconcile.run"]
    assert isinstance(run, Run)
    return run


def _others(run: Any) -> list[str]:
    """Warnings of Entra's side and the snapshot (other areas' words)."""
    return [*(run.entra.warnings if run.entra else []), *run.snapshot.warnings]


def test_reconcile_in_japanese_tables_chart_and_csv(console_home: Any, demo_box: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    live = make_connection(console_home, demo_box, "Tenant")
    planted = status(demo_box)["demo"]["planted"]
    _ja(monkeypatch)
    at = app(RECONCILE)
    assert_clean(at)
    assert "まだ照合していません。1 回の実行で両側を読み取ります。100,000 人で約 1 分かかります。" in texts(at)
    at.button(key="reconcile.run").click().run()
    at.button(key="reconcile.run").click().run()   # a second run: the chart of runs, read as a delta
    assert_clean(at)
    run = _run(at)
    left = _left(_page_part(at), [live.conn.name, *_others(run)])
    assert not left, "\n".join(left)
    metrics = {m.label: m.value for m in at.metric}
    assert list(metrics) == ["SCIM 管理外", "孤立アカウント", "未プロビジョニング", "属性の不一致", "メンバー不一致", "競合"]
    assert metrics["孤立アカウント"] == str(len(planted["orphans"]))
    assert [t.label.split(" (")[0] for t in at.tabs] == ["SCIM 管理外", "孤立アカウント", "未プロビジョニング",
                                                         "属性の不一致", "メンバーシップの不一致", "競合"]
    assert "(差分)" in texts(at) and "6clicks は " in texts(at)
    assert "ありません。競合: 0 件。" in texts(at)   # the empty category
    frames = [df.value for df in at.dataframe]
    orphans = next(f for f in frames if "理由" in f.columns)
    assert list(orphans.columns) == ["userName", "理由", "email", "externalId"]
    assert set(orphans["理由"]) <= {"Entra に存在しない (この ID のオブジェクトがない)", "Entra で無効",
                                    "Entra でアプリに割り当てられていない"}
    drift = next(f for f in frames if "属性" in f.columns)
    assert list(drift.columns) == ["userName", "属性", "6clicks の値", "Entra の値", "externalId", "対処方法"]
    members = next(f for f in frames if "存在する側" in f.columns)
    missing = next(f for f in frames if "エラー コード" in f.columns)
    assert {"upn", "entraId", "mail", "givenName", "surname", "ゲスト", "メモ", "最後の失敗日時", "説明", "対処方法"} <= set(missing.columns)
    ours = [str(v) for f, columns in ((orphans, ["理由"]), (drift, ["属性", "対処方法"]), (members, ["存在する側"]),
                                      (missing, ["メモ"])) for c in columns for v in f[c] if v]
    assert ours and not english_sentences(ours)
    [figure] = plotly_specs(at)
    assert figure["layout"]["title"]["text"] == "実行ごとの件数 (孤立アカウントの推移は監査で見られる数字です)"
    assert figure["layout"]["yaxis"]["title"]["text"] == "件数"
    assert figure["layout"]["xaxis"]["title"]["text"].startswith("実行日時 (")
    assert {t["name"] for t in figure["data"]} == {"SCIM 管理外", "孤立アカウント", "未プロビジョニング", "属性の不一致",
                                                  "メンバーシップの不一致", "競合"}
    assert any(b.label == "この実行を CSV でダウンロード (証跡)" for b in at.get("download_button"))

    # a missing person selected: provision on demand, in Japanese
    at.session_state[f"reconcile.table.missing.{len(missing)}"] = {"selection": {"rows": [0], "columns": [],
                                                                                  "cells": []}}
    at.run()
    assert_clean(at)
    go = at.button(key="reconcile.ondemand.go")
    assert unescape(go.label) == f"{missing['upn'].iloc[0]} をオンデマンド プロビジョニング"
    assert not _left(_page_part(at), [live.conn.name, *_others(run)])

    # a new session: the last run's counts in words
    again = app(RECONCILE)
    last = next(c.value for c in again.caption if c.value.startswith("前回の実行 "))
    assert (f"孤立アカウント {len(planted['orphans'])} 件、未プロビジョニング {len(planted['missing'])} 件、"
            f"SCIM 管理外 {len(planted['notManagedBySCIM'])} 件。詳細を見るには照合してください。") in unescape(last)

    # the run's CSV: the operator's language, or English column names for scripts (the default of the core)
    from console.reconcile.runs import export_csv

    with use_language("ja"):
        japanese = pd.read_csv(io.BytesIO(export_csv(live.ctx, live.conn, run.id, english=False)), encoding="utf-8-sig")
        scripts = pd.read_csv(io.BytesIO(export_csv(live.ctx, live.conn, run.id)), encoding="utf-8-sig")
    assert list(japanese.columns[:5]) == ["実行", "実行日時", "接続", "モード", "カテゴリ"]
    assert {"理由", "属性", "エラー コード", "説明", "存在する側", "userName", "externalId"} <= set(japanese.columns)
    assert "孤立アカウント" in set(japanese["カテゴリ"]) and "Orphans" not in set(japanese["カテゴリ"])
    assert "Entra に存在しない (この ID のオブジェクトがない)" in set(japanese["理由"].dropna())
    assert {"category", "reason", "attribute", "error_code", "side"} <= set(scripts.columns)
    assert "Orphans" in set(scripts["category"])
    assert "gone from Entra (no object with this id)" in set(scripts["reason"].dropna())


def test_reconcile_default_is_english(console_home: Any, demo_box: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    make_connection(console_home, demo_box, "Tenant")
    monkeypatch.delenv("SCIM_CONSOLE_LANG", raising=False)
    at = app(RECONCILE)
    assert "Not reconciled yet" in texts(at)
    at.button(key="reconcile.run").click().run()
    assert_clean(at)
    assert [m.label for m in at.metric] == ["Not managed", "Orphans", "Missing", "Attr. drift", "Member drift",
                                            "Conflicts"]
    orphans = next(df.value for df in at.dataframe if "reason" in df.value.columns)
    assert "gone from Entra (no object with this id)" in set(orphans["reason"])
    assert not any(c.label == "English column names (for scripts)" for c in at.checkbox)


def test_reconcile_without_graph_in_japanese(console_home: Any, sandbox: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    live = make_connection(console_home, sandbox, "NoGraph", entra=False)
    _ja(monkeypatch)
    at = app(RECONCILE)
    assert_clean(at)
    assert "Microsoft Graph の設定がない場合、確認するのは 6clicks 側だけです" in texts(at)
    at.button(key="reconcile.run").click().run()
    assert_clean(at)
    run = _run(at)
    assert [m.label for m in at.metric] == ["SCIM 管理外", "競合"]
    assert not _left(_page_part(at), [live.conn.name, *_others(run)])
    assert any(w.value.startswith("Microsoft Graph の設定がない場合") for w in at.warning)
    assert "(6clicks のみ)" in texts(at)
