"""The operation flow and the Users and Groups & roles pages in Japanese (SCIM_CONSOLE_LANG=ja), against a real
sandbox: a person's details, a deactivate preview, its confirmation and result, a group's details and a
membership change preview, with no English sentence left in the page's main area (the tenant's names allowed;
the sidebar belongs to other areas), and the same states unchanged in English by default. The journal keeps
English whatever the operator's language (``console.operations.wording``), and shows it translated; the Users
CSV header follows the language unless "English column names" is ticked."""

from __future__ import annotations

import io
import string
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from console.i18n import use_language
from tests.i18n_check import english_sentences, visible_strings
from tests.pages.conftest import app, assert_clean, make_connection, unescape

# --- helpers --------------------------------------------------------------------------------------------------


def tenant_names(live: Any) -> list[str]:
    """The tenant's data (people, groups, the connection), which stays as it is in every language."""
    from console.directory.store import latest_snapshot

    snap = latest_snapshot(live.ctx, live.conn)
    values = [live.conn.name]
    for frame, columns in ((snap.users, ("userName", "displayName", "givenName", "familyName", "email")),
                           (snap.groups, ("displayName",))):
        for column in columns:
            if column in frame.columns:
                values.extend(str(v) for v in frame[column].dropna().unique())
    return values


def main_strings(at: Any) -> list[str]:
    """What the page itself shows: the main area and the dialogs (AppTest's "event" block), without the sidebar,
    which belongs to other areas."""
    blocks = [at.main, at._tree.children[2]]
    return [text for block in blocks for text in visible_strings(SimpleNamespace(_tree=block))]


def english_left(at: Any, names: list[str]) -> list[str]:
    return english_sentences(main_strings(at), allowed=names)


def shown(at: Any) -> str:
    return unescape("\n".join(main_strings(at)))


def frame_with(at: Any, *columns: str) -> pd.DataFrame:
    return next(df.value for df in at.dataframe if set(columns) <= set(df.value.columns))


def select(at: Any, key: str, rows: list[int]) -> Any:
    at.session_state[key] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    return at.run()


@pytest.fixture
def tenant(console_home: Any, sandbox_factory: Any) -> Any:
    """A sandbox of its own (the flow changes people), no Entra."""
    sb = sandbox_factory(seed_users=30, seed_groups=4, seed=3)
    return make_connection(console_home, sb, "Tenant", entra=False)


# --- the Users page -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_users_page_detail_preview_confirm_result(tenant: Any, monkeypatch: pytest.MonkeyPatch, lang: str) -> None:
    from console.operations.audit import get_action, list_actions

    if lang == "ja":
        monkeypatch.setenv("SCIM_CONSOLE_LANG", "ja")
    else:
        monkeypatch.delenv("SCIM_CONSOLE_LANG", raising=False)
    names = tenant_names(tenant)
    ja = lang == "ja"

    # a person selected: the details, the change panel folded below
    at = app("pages/users.py")
    assert_clean(at)
    at = select(at, at.session_state["users.table_key"], [0])
    assert_clean(at)
    labels = [e.label for e in at.expander]
    tabs = [t.label for t in at.tabs]
    if ja:
        assert not english_left(at, names), "\n".join(english_left(at, names))
        assert "選択した 1 人を変更" in labels
        assert tabs == ["属性", "グループとロール", "履歴", "SCIM の JSON"]
        assert at.selectbox(key="ops.users.kind").options[0] == "無効化"
        assert at.checkbox(key="users.csv.english").label == "列名を英語にする (スクリプト用)"
    else:
        assert "Change the 1 selected person" in labels
        assert tabs == ["Attributes", "Groups & roles", "History", "Raw SCIM JSON"]
        assert at.selectbox(key="ops.users.kind").options[0] == "Deactivate"
        assert not [c for c in at.checkbox if c.key == "users.csv.english"]  # English headers anyway

    # a deactivate preview for three people
    at = select(at, at.session_state["users.table_key"], [0, 1, 2])
    at.selectbox(key="ops.users.kind").set_value("Deactivate").run()    # the value stays English
    at.button(key="ops.users.preview").click().run()
    assert_clean(at)
    metrics = {m.label: m.value for m in at.metric}
    preview = frame_with(at, "why skipped", "change")
    if ja:
        assert not english_left(at, names), "\n".join(english_left(at, names))
        assert "プレビュー: 無効化" in shown(at)
        assert set(metrics) == {"変更対象", "スキップ"}
        assert any(w.value.startswith("Entra ID が正となる情報源です") for w in at.warning)
        assert set(preview["to"]) <= {"無効", "有効"} and set(preview["change"]) <= {"変更あり", "スキップ"}
    else:
        assert "Preview: deactivate" in shown(at)
        assert set(metrics) == {"Will change", "Skipped"}
        assert any(w.value.startswith("Entra ID is the source of truth") for w in at.warning)
        assert set(preview["to"]) <= {"inactive", "active"} and set(preview["change"]) <= {"changes", "skipped"}
    changing = int(metrics["変更対象" if ja else "Will change"])
    assert changing >= 1

    # the confirmation dialog
    at.button(key="ops.users.continue").click().run()
    assert_clean(at)
    go = at.button(key="ops.users.confirm_go").label
    if ja:
        assert not english_left(at, names), "\n".join(english_left(at, names))
        assert go == f"{changing} 人を無効化"
        assert at.text_area(key="ops.users.reason").label == "理由 (必須。監査証跡に記録されます)"
        assert f"無効化: 6clicks で {changing} 人が変更されます" in shown(at)
    else:
        assert go == f"Deactivate {changing} {'person' if changing == 1 else 'people'}"
        assert f"Deactivate: {changing} {'person' if changing == 1 else 'people'} will change in 6clicks" in shown(at)

    # the result
    at.text_area(key="ops.users.reason").input("left the company, ticket 4711").run()
    at.button(key="ops.users.confirm_go").click().run()
    assert_clean(at)
    [success] = [s.value for s in at.success]
    results = frame_with(at, "state", "attempts")
    if ja:
        assert not english_left(at, names), "\n".join(english_left(at, names))
        assert unescape(success).startswith(f"操作 1: 変更 {changing} 件")
        assert set(results["state"]) == {"完了"}
        assert "ディレクトリの表には新しい状態が表示されています" in shown(at)
    else:
        assert unescape(success).startswith(f"Action 1: {changing} changed")
        assert set(results["state"]) == {"done"}
    # the journal stays language-neutral: English, whoever looked
    [action] = list_actions(tenant.ctx)
    assert action.label == "deactivate"
    journaled = get_action(tenant.ctx, action.id)
    assert journaled.events[0].detail.endswith("reason: left the company, ticket 4711")
    assert any("People and groups were looked up" in n for n in journaled.notes)


# --- the Groups & roles page ----------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_groups_page_detail_and_membership_preview(tenant: Any, monkeypatch: pytest.MonkeyPatch, lang: str) -> None:
    from tests.console._ops_helpers import groups

    if lang == "ja":
        monkeypatch.setenv("SCIM_CONSOLE_LANG", "ja")
    else:
        monkeypatch.delenv("SCIM_CONSOLE_LANG", raising=False)
    names = tenant_names(tenant)
    ja = lang == "ja"
    target = max(groups(tenant.sandbox).values(), key=lambda g: len(g.member_ids or []))
    at = app("pages/groups.py")
    assert_clean(at)
    row = list(at.dataframe[0].value["id"]).index(target.id)
    at = select(at, "groups.table.All.", [row])
    assert_clean(at)
    kind = at.dataframe[0].value.set_index("id").loc[target.id, "kind"]
    heading = [unescape(h.value) for h in at.subheader]
    expander = [e.label for e in at.expander]
    if ja:
        assert not english_left(at, names), "\n".join(english_left(at, names))
        assert kind in ("グループ", "ロール")
        assert any(h.startswith(("グループ: ", "ロール: ")) for h in heading)
        assert any(label.endswith("のメンバーを変更") for label in expander)
        assert at.segmented_control(key="groups.kind").options == ["すべて", "グループ", "ロール"]
    else:
        assert kind in ("group", "role")
        assert any(h.startswith(("Group: ", "Role: ")) for h in heading)
        assert any(label.startswith("Change the members of ") for label in expander)

    # a membership change: remove two members
    at.segmented_control(key="ops.groups.action").set_value("Remove members").run()
    options = at.multiselect(key="ops.groups.members").options
    at.multiselect(key="ops.groups.members").set_value(options[:2]).run()
    at.button(key="ops.groups.preview").click().run()
    assert_clean(at)
    preview = frame_with(at, "why skipped", "change")
    if ja:
        assert not english_left(at, names), "\n".join(english_left(at, names))
        assert "から削除" in shown(at) and "プレビュー: " in shown(at)
        assert all(v.endswith("に所属") for v in preview["from"])
        assert all(v.endswith("に未所属") for v in preview["to"])
    else:
        assert "Preview: remove from" in shown(at)
        assert all(v.startswith("in ") for v in preview["from"])
        assert all(v.startswith("not in ") for v in preview["to"])


# --- the core: journal text, CSV, history words, the command line ----------------------------------------------


def test_every_journal_template_is_recognised_and_translated() -> None:
    """Every stored English template is told apart from the others when shown, and reads as Japanese."""
    import console.operations  # noqa: F401  (registers every template)
    from console.operations import wording

    problems = []
    for _pattern, _msgid, _plural, form in wording._compiled():
        values = {name: "12" if name in wording.NUMBERS else "Zeta"
                  for _lit, name, _spec, _conv in string.Formatter().parse(form) if name}
        text = form.format(**values)
        found = next(((f, p.fullmatch(text)) for p, _m, _pl, f in wording._compiled() if p.fullmatch(text)), None)
        if found is None or found[0] != form or found[1].groupdict() != values:
            problems.append(f"{form!r} is read as {found and found[0]!r}")
            continue
        with use_language("ja"):
            translated = wording.shown(text)
        left = english_sentences([translated], allowed=["Zeta"])
        if translated == text or left:
            problems.append(f"{form!r} -> {translated!r}")
    assert not problems, "\n".join(problems)


def test_stored_sentences_are_translated_when_shown() -> None:
    from console.operations import wording
    from console.operations.model import BatchResult, ItemResult, kind_label, step_text, undo_label

    label = undo_label(7, kind_label("move", {"from_name": "Finance", "from_kind": "group", "to_name": "Auditor",
                                              "to_kind": "role"}))
    assert label == "undo of action 7: move from group Finance to role Auditor"     # what the journal keeps
    note = "; ".join([step_text({"op": "set_active", "value": False}),
                      step_text({"op": "add", "group_name": "Sales"})]) + " done, the rest failed; retry to finish"
    result = BatchResult(batch_id=3, state="stopped", counts={"done": 1, "failed": 0, "skipped": 0, "pending": 2},
                         items=[ItemResult(1, "u1", "ann", "done", "changed", None, 1, 200, None, None)],
                         stop_reason="6clicks rejected the token (401): the batch was stopped.",
                         stop_remedy=None)
    with use_language("ja"):
        assert wording.shown(label) == "操作 7 を元に戻す: グループ Finance からロール Auditor に移動"
        assert wording.shown(note) == "完了: 無効化、Sales に追加。残りは失敗しました。再試行して完了してください"
        assert wording.shown("a message of the server's own") == "a message of the server's own"
        summary = result.summary()
    assert summary == ("操作 3: 変更 1 件、実施済み 0 件、失敗 0 件、スキップ 0 件、未実行 2 件。"
                       "停止: 6clicks がトークンを拒否しました (401)。バッチを停止しました。")
    assert result.summary().startswith("Action 3: 1 changed, 0 already done, 0 failed, 0 skipped, 2 not run yet. "
                                       "Stopped: 6clicks rejected the token (401)")


def test_users_csv_header_follows_the_language_unless_english_is_asked(live: Any) -> None:
    from console.directory import view
    from console.directory.store import latest_snapshot

    d = view.build_directory(latest_snapshot(live.ctx, live.conn), live.conn)
    matched = view.filter_users(d)
    scripts = ["id", "userName", "email", "givenName", "familyName", "displayName", "active", "externalId", "groups",
               "roles", "created", "lastModified"]
    with use_language("ja"):
        localized = pd.read_csv(io.BytesIO(view.users_csv(d, matched, english=False)), keep_default_na=False)
        english = pd.read_csv(io.BytesIO(view.users_csv(d, matched)), keep_default_na=False)
    assert list(localized.columns) == ["ID", "ユーザー名", "メール アドレス", "名", "姓", "表示名", "有効", "外部 ID",
                                       "グループ", "ロール", "作成日時", "最終更新日時"]
    assert list(english.columns) == scripts                               # the command line's, and "for scripts"
    assert localized.to_numpy().tolist() == english.to_numpy().tolist()   # the same cells


def test_history_words_in_japanese() -> None:
    from console.directory.events import describe_event

    removed = {"kind": "member_removed", "subject_type": "role", "subject_name": "Auditor", "related_name": "bo@x.com"}
    changed = {"kind": "user_changed", "subject_name": "bo@x.com", "attribute": "email", "old_value": "a@x.com",
               "new_value": None}
    with use_language("ja"):
        assert describe_event(removed) == "bo@x.com がロール Auditor から削除されました"
        assert describe_event(removed, about_person=True) == "ロール Auditor から削除されました"
        assert describe_event(changed) == "bo@x.com: メール アドレスが「a@x.com」から(空)に変更されました"
    assert describe_event(removed) == "bo@x.com removed from role Auditor"


def test_command_line_output_in_japanese_json_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    from console.operations.cli import print_plan, print_result
    from console.operations.model import BatchResult, ItemResult, Plan, PlanItem

    plan = Plan(connection="Tenant", kind="add", params={"group_id": "g1", "group_name": "Finance",
                                                          "group_kind": "group"},
                items=[PlanItem(input="ann", user_name="ann", steps=[{"op": "add"}], before="not a member",
                                after="in Finance"),
                       PlanItem(input="bob", user_name="bob", before="in Finance", after="in Finance",
                                skip="already a member of Finance", skip_code="already")])
    result = BatchResult(batch_id=4, state="completed", counts={"done": 1, "failed": 1, "skipped": 1},
                         items=[ItemResult(1, "u1", "ann", "done", "changed", None, 1, 200, None, None),
                                ItemResult(2, "u2", "cy", "failed", "busy", None, 3, 503,
                                           "6clicks answered with a server error (503) after 3 attempts.",
                                           "Retry the failed items in a few minutes (they are idempotent).")])
    with use_language("ja"):
        print_plan(plan)
        assert print_result(result, as_json=False) == 1
        human = capsys.readouterr().out
        print_result(result, as_json=True)
        machine = capsys.readouterr().out
    assert "プレビュー: グループ Finance に追加 (接続「Tenant」)" in human
    assert "既に Finance のメンバー" in human and "操作 4: 変更 1 件" in human
    assert "3 回試行しましたが、6clicks がサーバー エラー (503) を返しました。" in human
    assert not english_sentences(human.splitlines(), allowed=["ann", "bob", "Finance", "Tenant",
                                                              "python -m console ops retry"])
    assert '"state": "completed"' in machine and "6clicks answered with a server error (503)" in machine
