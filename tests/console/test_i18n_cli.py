"""The command line in Japanese, as subprocesses against a real sandbox (encrypted-file keyring, as on a headless
server): ``LANG=ja_JP.UTF-8`` gives Japanese human output and help, ``--lang`` overrides the locale, an unknown
``--lang`` is a clear error (exit 2), ``--json`` output is byte-identical in every language (and so are exit
codes), doctor and reconcile reports speak Japanese, English stays the default, and no secret reaches any
output."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console import i18n
from tests.console._ops_helpers import cli_env, connect, run_cli, scim, users
from tests.console.test_core_helpers import assert_absent
from tests.i18n_check import english_sentences
from tests.sandbox_fixture import start_sandbox

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
LOCALE_VARIABLES = ("LANG", "LC_ALL", "LC_MESSAGES", "LANGUAGE", "SCIM_CONSOLE_LANG")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A sandbox, a console home with connection "Prod" (API key stored, token generated) in an encrypted-file
    keyring, the environment to run the CLI on it, and the secrets no output may contain."""
    box = start_sandbox(seed_users=12, seed_groups=3, seed=17)
    home = tmp_path_factory.mktemp("i18n-cli") / "home"
    keyfile = home.parent / "keyring.cfg"
    env = cli_env(home, keyfile)
    for name in LOCALE_VARIABLES:
        env.pop(name, None)
    outputs: list[str] = []
    try:
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                if key.startswith("SCIM_CONSOLE_"):
                    mp.setenv(key, value)
            from console.context import open_context
            from console.credentials import default_credentials

            ctx = open_context(home, credentials=default_credentials())
            connect(ctx, box, "Prod")
            token = ctx.credentials.get("Prod", "access_token")
            ctx.close()
        person = sorted(u.user_name for u in users(box).values() if u.active)[0]
        yield {"box": box, "env": env, "home": home, "outputs": outputs, "person": person,
               "secrets": [box.api_key, token, env["SCIM_CONSOLE_KEYRING_PASSPHRASE"]]}
        assert_absent([box.api_key, token], box.stderr_text(), "the sandbox's log")
    finally:
        box.cleanup()


def cli(world: dict[str, Any], lang: str | None, *args: str, expect: int | tuple[int, ...] | None = None) -> Any:
    """Run ``python -m console ARGS`` with ``LANG=lang`` (None: no locale variable at all)."""
    env = dict(world["env"])
    if lang is not None:
        env["LANG"] = lang
    result = run_cli(list(args), env)
    world["outputs"].append(result.stdout + result.stderr)
    if expect is not None:
        wanted = expect if isinstance(expect, tuple) else (expect,)
        assert result.returncode in wanted, (args, lang, result.returncode, result.stderr[-800:])
    assert "Traceback" not in result.stdout + result.stderr
    return result


def test_token_check_speaks_the_locale_and_json_is_the_same_in_every_language(world: dict[str, Any]) -> None:
    ja = cli(world, "ja_JP.UTF-8", "token", "check", "--connection", "Prod", expect=0)
    assert ja.stdout.startswith("正常: ") and len(ja.stdout.strip().splitlines()) == 1
    en = cli(world, "C", "token", "check", "--connection", "Prod", expect=0)
    assert en.stdout.startswith("OK: ") and not JAPANESE.search(en.stdout)  # the default is unchanged
    assert cli(world, None, "token", "check", "--connection", "Prod", expect=0).stdout.startswith("OK: ")

    # --json: the same bytes whatever the locale (offline: nothing changes between the runs)
    for args in (("token", "check", "--connection", "Prod", "--json", "--offline"),
                 ("token", "status", "--json"), ("connections", "list", "--json"),
                 ("connections", "show", "Prod", "--json")):
        c = cli(world, "C", *args, expect=0)
        j = cli(world, "ja_JP.UTF-8", *args, expect=0)
        forced = cli(world, "C", *args, "--lang", "ja", expect=0)
        assert j.stdout == c.stdout == forced.stdout, args
        assert json.loads(j.stdout) == json.loads(c.stdout)
        assert not JAPANESE.search(j.stdout + j.stderr), args
    # a live check records the test time; everything else is the same, exit code included
    c = cli(world, "C", "token", "check", "--connection", "Prod", "--json")
    j = cli(world, "ja_JP.UTF-8", "token", "check", "--connection", "Prod", "--json")
    assert c.returncode == j.returncode == 0

    def stable(doc: dict[str, Any]) -> dict[str, Any]:
        return doc | {"connections": [{k: v for k, v in s.items() if k != "last_test_at"}
                                      for s in doc["connections"]]}

    assert stable(json.loads(j.stdout)) == stable(json.loads(c.stdout))
    assert json.loads(j.stdout)["connections"][0]["message"] == json.loads(c.stdout)["connections"][0]["message"]
    # an error inside --json is English too, and the same
    c = cli(world, "C", "token", "check", "--connection", "Nope", "--json", expect=2)
    j = cli(world, "ja_JP.UTF-8", "token", "check", "--connection", "Nope", "--json", expect=2)
    assert c.stdout == j.stdout and json.loads(j.stdout)["level"] == "error"


def test_lang_option_overrides_the_locale_and_rejects_unknown_languages(world: dict[str, Any]) -> None:
    en = cli(world, "ja_JP.UTF-8", "token", "check", "--connection", "Prod", "--lang", "en", expect=0)
    assert en.stdout.startswith("OK: ") and not JAPANESE.search(en.stdout)
    ja = cli(world, "C", "--lang=ja", "token", "status", "--connection", "Prod", expect=0)
    assert ja.stdout.startswith("Prod: 正常") and "前回のテスト" in ja.stdout
    # SCIM_CONSOLE_LANG decides over LANG, --lang over both; LC_ALL over LANG (POSIX order)
    assert cli(world, "C", "token", "check", "--connection", "Prod", expect=0).stdout.startswith("OK")
    world["env"]["SCIM_CONSOLE_LANG"] = "ja"
    try:
        assert cli(world, "C", "token", "check", "--connection", "Prod", expect=0).stdout.startswith("正常")
        assert cli(world, "C", "token", "check", "--connection", "Prod", "--lang", "en",
                   expect=0).stdout.startswith("OK")
    finally:
        world["env"].pop("SCIM_CONSOLE_LANG")
    world["env"]["LC_ALL"] = "C.UTF-8"
    try:
        assert cli(world, "ja_JP.UTF-8", "token", "check", "--connection", "Prod",
                   expect=0).stdout.startswith("OK")
    finally:
        world["env"].pop("LC_ALL")

    for lang in ("C", "ja_JP.UTF-8"):
        bad = cli(world, lang, "--lang", "xx", "token", "check", "--connection", "Prod", expect=2)
        assert bad.stdout == "" and len(bad.stderr.strip().splitlines()) == 1
        assert "'xx'" in bad.stderr and "--lang en" in bad.stderr and "--lang ja" in bad.stderr
    assert cli(world, "C", "token", "status", "--lang", "xx", expect=2).stderr.startswith("error: unknown language")
    assert cli(world, "ja_JP.UTF-8", "token", "status", "--lang", "xx",
               expect=2).stderr.startswith("エラー: 不明な言語です")
    assert cli(world, "C", "token", "status", "--lang", expect=2).stderr.startswith("error: unknown language ''")


def test_help_is_japanese(world: dict[str, Any]) -> None:
    ja = cli(world, "ja_JP.UTF-8", "--help", expect=0)
    assert "6clicks 用 SCIM オペレーター コンソール" in ja.stdout
    assert "接続の追加、一覧表示、表示、削除" in ja.stdout and "Entra と 6clicks を照合する" in ja.stdout
    assert "usage: python -m console" in ja.stdout  # argparse's own words come from Python
    en = cli(world, "C", "--help", expect=0)
    assert "SCIM operator console for 6clicks" in en.stdout and not JAPANESE.search(en.stdout)
    sub = cli(world, "ja_JP.UTF-8", "token", "check", "--help", expect=0)
    assert "各トークンを SCIM でテストし" in sub.stdout and "接続の名前 (既定: すべての接続)" in sub.stdout
    users = cli(world, "ja_JP.UTF-8", "users", "deactivate", "--help", expect=0)
    assert "6clicks でユーザーを無効にします。" in users.stdout


def _parsers(parser: Any) -> Iterator[Any]:
    import argparse

    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def _help_texts(parser: Any) -> list[str]:
    import argparse

    texts = []
    for p in _parsers(parser):
        texts += [p.description or "", p.epilog or ""]
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                texts += [choice.help or "" for choice in action._choices_actions]
            elif action.help and action.help is not argparse.SUPPRESS:
                texts.append(action.help)
        texts += [group.title or "" for group in p._action_groups if group.title not in ("positional arguments",
                                                                                          "options")]
    return [t for t in texts if t]


def test_every_help_text_of_the_command_line_is_translated() -> None:
    """Every description, help and group title of every command, in Japanese; what the operations commands
    share (console.operations.cli, another area's) and argparse's own "-h" help are left out."""
    import argparse

    from console.cli import build_parser
    from console.operations import cli as ops_cli

    with i18n.use_language("en"):
        parser = build_parser()
        scratch = argparse.ArgumentParser(add_help=True)
        ops_cli.add_common(scratch)
        foreign = [a.help for a in scratch._actions if a.help] + [ops_cli.HELP_TAIL]
    with i18n.use_language("ja"):
        foreign += [i18n._(text) for text in foreign]
        texts = _help_texts(build_parser())
    commands = [p.prog.split(" ", 3)[-1] for p in _parsers(parser)]  # "groups remove" in a synopsis
    english_left = english_sentences(texts, allowed=foreign + commands)
    assert not english_left, "\n".join(english_left)
    assert len(texts) > 150
    with i18n.use_language("en"):  # the English help is untouched
        assert "check the setup against the 6clicks guide; exit 0/1/2" in _help_texts(parser)


def test_doctor_reconcile_and_users_reports_in_japanese(world: dict[str, Any]) -> None:
    ja = cli(world, "ja_JP.UTF-8", "doctor", "--connection", "Prod", expect=(0, 1, 2))
    first, *_rest, last = ja.stdout.strip().splitlines()
    assert first.startswith("'Prod' のセットアップ チェック (") and " UTC): " in first and "年" in first
    assert "\n権限\n" in ja.stdout and "  [正常] " in ja.stdout
    assert last.split(": ")[0] in ("正常", "警告", "重大") and last.endswith("。")
    en = cli(world, "C", "doctor", "--connection", "Prod", expect=ja.returncode)
    assert en.stdout.startswith("Setup check of 'Prod' at ") and "\nPermissions\n" in en.stdout
    assert "  [ok  ] " in en.stdout and not JAPANESE.search(en.stdout)
    c = cli(world, "C", "doctor", "--connection", "Prod", "--json", expect=ja.returncode)
    j = cli(world, "ja_JP.UTF-8", "doctor", "--connection", "Prod", "--json", expect=ja.returncode)
    assert {**json.loads(c.stdout), "at": None} == {**json.loads(j.stdout), "at": None}

    # an account created in 6clicks directly (no externalId): not managed by SCIM
    with scim(world["box"]) as client:
        client.create_user("jit.person@contoso.example", email="jit.person@contoso.example")
    ja = cli(world, "ja_JP.UTF-8", "reconcile", "--connection", "Prod", expect=(1, 2))
    lines = ja.stdout.strip().splitlines()
    assert "SCIM 管理外: 1" in lines and any("jit.person@contoso.example" in line for line in lines)
    assert lines[0].startswith("'Prod' の照合 (6clicks のみ。6clicks は ") and lines[0].endswith(" UTC 時点)")
    assert any(line.startswith("SCIM 管理外: ") for line in lines) and any(line.startswith("競合: ") for line in lines)
    assert lines[-1] in ("正常: 問題なし。", "警告: 不一致あり。", "重大: 孤立アカウントがアクセス可能です。")
    assert "注意: " in ja.stdout  # the note that Microsoft Graph is not set up (its text is the core's)
    en = cli(world, "C", "reconcile", "--connection", "Prod", "--no-refresh", expect=ja.returncode)
    assert "(snapshot-only; 6clicks as of " in en.stdout and "\nNot managed by SCIM: " in en.stdout
    # the CSV is for scripts: English headers and category names in every language
    csv_ja = world["home"].parent / "ja.csv"
    cli(world, "ja_JP.UTF-8", "reconcile", "--connection", "Prod", "--no-refresh", "--csv", str(csv_ja),
        expect=ja.returncode)
    rows = list(csv.reader(io.StringIO(csv_ja.read_bytes().decode("utf-8-sig"))))
    assert rows[0][:5] == ["run", "run_at", "connection", "mode", "category"] and "userName" in rows[0]
    assert not JAPANESE.search(",".join(rows[0]))
    assert ["Not managed by SCIM", "jit.person@contoso.example"] == [rows[1][4], rows[1][rows[0].index("userName")]]
    assert rows[1][2:4] == ["Prod", "snapshot-only"] and rows[1][1].endswith(" UTC")  # evidence on its own
    c = cli(world, "C", "reconcile", "--connection", "Prod", "--no-refresh", "--json", expect=ja.returncode)
    j = cli(world, "ja_JP.UTF-8", "reconcile", "--connection", "Prod", "--no-refresh", "--json",
            expect=ja.returncode)
    volatile = {"at": None, "run": None}
    assert {**json.loads(c.stdout), **volatile} == {**json.loads(j.stdout), **volatile}

    # users: the preview is the operations area's; the refusal line (no terminal to confirm) is the CLI's, and
    # nothing changes
    person = world["person"]
    ja = cli(world, "ja_JP.UTF-8", "users", "deactivate", person, "--reason", "test", "--connection", "Prod",
             expect=2)
    assert ja.stderr.startswith("エラー: ") and "--yes" in ja.stderr
    en = cli(world, "C", "users", "deactivate", person, "--reason", "test", "--connection", "Prod", expect=2)
    assert en.stderr.startswith("error: ") and "--yes" in en.stderr
    assert all(u.active for u in users(world["box"]).values() if u.user_name == person)


def test_tables_line_up_in_japanese_and_status_lines_are_translated(world: dict[str, Any]) -> None:
    from console.cli._common import width

    cli(world, "C", "connections", "add", "Zweit", "--api-url", "http://127.0.0.1:9", "--allow-http", "--no-check",
        expect=0)
    try:
        ja = cli(world, "ja_JP.UTF-8", "connections", "list", expect=0)
        rows = [line for line in ja.stdout.splitlines() if "/scim" in line]
        assert len(rows) == 2 and any("未完了" in r for r in rows) and any("残り " in r for r in rows)
        columns = {width(r[:r.index("http")]) for r in rows}
        assert len(columns) == 1, ja.stdout  # the URL column starts at the same terminal column
        show = cli(world, "ja_JP.UTF-8", "connections", "show", "Prod", expect=0)
        labels = [line[:line.index("http")] for line in show.stdout.splitlines()[1:3]]
        assert labels[0].startswith("API URL") and len({width(label) for label in labels}) == 1
        assert "テナント URL" in show.stdout and "(Entra > プロビジョニング > 管理者資格情報)" in show.stdout
        status = cli(world, "ja_JP.UTF-8", "token", "status", expect=0)
        mine = [line for line in status.stdout.splitlines() if line.startswith("  発行 ")]
        assert mine and not english_sentences(mine)
        assert "Zweit: 未登録" in status.stdout
        both = cli(world, "ja_JP.UTF-8", "token", "check", expect=2)
        assert both.stdout.startswith("重大: Zweit 未登録、Prod 正常 (") and " 日)。最も悪い結果: " in both.stdout
        english = cli(world, "C", "token", "check", expect=2)
        assert english.stdout.startswith("CRITICAL: Zweit missing; Prod ok (") and " d). Worst: " in english.stdout
    finally:
        cli(world, "C", "connections", "remove", "Zweit", "--yes", expect=0)


def test_no_secret_in_any_output(world: dict[str, Any]) -> None:
    cli(world, "ja_JP.UTF-8", "connections", "show", "Prod", expect=0)
    cli(world, "ja_JP.UTF-8", "token", "reveal", "--connection", "Prod", expect=2)  # not a terminal: refused
    assert world["outputs"], "the other tests ran first and recorded their output"
    assert_absent(world["secrets"], "\n".join(world["outputs"]), "CLI output")
    for path in Path(world["home"]).rglob("*"):
        if path.is_file():
            assert_absent(world["secrets"][:2], path.read_bytes().decode("latin-1"), f"data file {path.name}")


def test_a_run_leaves_the_callers_language_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """``main`` chooses the language for its own run only: a caller in the same thread (the test runner, an
    embedding script) keeps its language afterwards, also after --help (SystemExit) and an error."""
    from console import credentials
    from console.cli import main

    store = credentials.memory_credentials()
    monkeypatch.setattr(credentials, "default_credentials", lambda *a, **k: store)
    for name in LOCALE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    before = i18n.language()
    with pytest.raises(SystemExit):
        main(["--lang", "ja", "--help"])
    assert "6clicks 用 SCIM オペレーター コンソール" in capsys.readouterr().out
    assert i18n.language() == before
    monkeypatch.setenv("LANG", "ja_JP.UTF-8")
    assert main(["token", "check", "--data-dir", str(tmp_path / "empty")]) == 2
    assert capsys.readouterr().out == "重大: 接続が構成されていません。\n"
    assert main(["token", "status", "--connection", "Nope", "--data-dir", str(tmp_path / "empty")]) == 2
    assert capsys.readouterr().err.startswith("エラー: ")
    assert i18n.language() == before
    monkeypatch.setenv("LANG", "C")
    assert main(["token", "check", "--data-dir", str(tmp_path / "empty")]) == 2
    assert capsys.readouterr().out == "CRITICAL: no connections are configured.\n"
