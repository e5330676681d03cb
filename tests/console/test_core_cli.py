"""The command line: the required forms end to end as subprocesses (encrypted file keyring, like a headless
server), every exit code of ``token check``, bad input, --help everywhere, and a scan proving that the API key and
tokens appear in no file under the data dir, no log line and no CLI output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.cli import build_parser, main
from tests.console.test_core_helpers import assert_absent, new_key

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def shared_memory_credentials(monkeypatch):
    """In-process CLI calls share one in-memory keyring (each call opens a new context)."""
    from console import credentials

    store = credentials.memory_credentials()
    monkeypatch.setattr(credentials, "default_credentials", lambda *a, **k: store)
    return store


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse errors
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_check_exit_codes(sandbox, tmp_path, capsys, caplog, shared_memory_credentials):
    import logging

    caplog.set_level(logging.DEBUG)
    d = ["--data-dir", str(tmp_path / "data")]
    assert run_main(capsys, "connections", "add", "Prod", "--api-url", sandbox.api_url, *d)[0] == 0
    code, out, _ = run_main(capsys, "token", "check", "--connection", "Prod", *d)
    assert code == 2 and out.startswith("CRITICAL") and "No token" in out  # missing
    name, key = new_key(sandbox)
    shared_memory_credentials.set("Prod", "api_key", key)
    assert run_main(capsys, "token", "generate", "--connection", "Prod", *d)[0] == 0
    code, out, _ = run_main(capsys, "token", "check", "--connection", "Prod", *d)
    assert code == 0 and out.startswith("OK:") and len(out.strip().splitlines()) == 1
    for days, expected in ((45, 0), (20, 1), (5, 2)):
        token = sandbox.admin("POST", "/sandbox-admin/tokens",
                              json={"key_name": name, "lifetime_seconds": days * 86400})["accessToken"]
        shared_memory_credentials.set("Prod", "access_token", token)
        code, out, _ = run_main(capsys, "token", "check", "--connection", "Prod", "--json", *d)
        doc = json.loads(out)
        assert code == expected and doc["exit_code"] == expected, (days, doc["level"])
        assert len(out.strip().splitlines()) == 1
    # rejected: the key is revoked
    sandbox.admin("DELETE", f"/sandbox-admin/keys/{name}")
    code, out, _ = run_main(capsys, "token", "check", "--connection", "Prod", *d)
    assert code == 2 and "rejected" in out
    # unreachable service: the stored expiry is fine but nothing confirms it -> warning
    run_main(capsys, "connections", "add", "Down", "--api-url", "http://127.0.0.1:9", "--no-check", *d)
    token = sandbox.token(fresh=True)
    shared_memory_credentials.set("Down", "access_token", token)
    from console.context import open_context
    from console.tokens.service import TokenService

    ctx = open_context(tmp_path / "data", credentials=shared_memory_credentials)
    TokenService(ctx).import_token("Down", token, verify=False)
    code, out, _ = run_main(capsys, "token", "check", "--connection", "Down", *d)
    assert code == 1 and out.startswith("WARNING") and "could not" in out.lower()
    # all connections: worst wins, one line; the demo (secrets only in the app's memory) is left out
    from console.connections import Connection, ConnectionRepo

    ConnectionRepo(ctx.store).add(Connection(name="Demo", api_url="http://127.0.0.1:9", is_demo=True))
    code, out, _ = run_main(capsys, "token", "check", *d)
    assert code == 2 and len(out.strip().splitlines()) == 1 and "Prod rejected" in out and "Down" in out
    assert "Demo" not in out
    assert "Demo" in run_main(capsys, "token", "status", *d)[1]
    # expired (offline check uses the stored expiry)
    expired = sandbox.token(fresh=True)
    TokenService(ctx).import_token("Down", expired, verify=False)
    ctx.store.execute("UPDATE tokens SET expires_at = '2020-01-01T00:00:00+00:00' WHERE is_current = 1 AND "
                      "connection_id = (SELECT id FROM connections WHERE name = 'Down')")
    code, out, _ = run_main(capsys, "token", "check", "--connection", "Down", "--offline", *d)
    assert code == 2 and "expired" in out
    code, out, _ = run_main(capsys, "token", "check", "--connection", "Nope", "--json", *d)
    assert code == 2 and json.loads(out)["level"] == "error" and "Nope" in json.loads(out)["message"]
    code, out, _ = run_main(capsys, "token", "check", "--data-dir", str(tmp_path / "empty"))
    assert code == 2 and "no connections" in out
    assert_absent([key, token, expired], caplog.text, "the log")


def test_bad_input_is_one_clear_sentence(tmp_path, capsys, shared_memory_credentials):
    d = ["--data-dir", str(tmp_path / "data")]
    cases = [
        (["connections", "add", "X", "--api-url", "api.example.com"], "must start with https://"),
        (["connections", "add", "X", "--api-url", "http://scim.example.com"], "plain http://"),
        (["connections", "add", "X", "--api-url", "https://a.example", "--role-rule", "regex:(("], "regular expression"),
        (["token", "status", "--connection", "Nope"], "no connection named"),
        (["token", "generate", "--connection", "Nope"], "no connection named"),
    ]
    for argv, fragment in cases:
        code, _out, err = run_main(capsys, *argv, *d)
        assert code == 2 and fragment in err and "Traceback" not in err, (argv, err)
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    run_main(capsys, "connections", "add", "X", "--api-url", "https://a.example", "--no-check", *d)
    code, _, err = run_main(capsys, "connections", "add", "x", "--api-url", "https://b.example", "--no-check", *d)
    assert code == 2 and "already exists" in err
    code, _, err = run_main(capsys, "token", "generate", "--connection", "X", *d)
    assert code == 2 and "No API key" in err and "set-key" in err
    code, _, err = run_main(capsys, "connections", "remove", "X", *d)  # no terminal: needs --yes
    assert code == 2 and "--yes" in err
    assert run_main(capsys, "connections", "remove", "X", "--yes", *d)[0] == 0


def _leaf_parsers(parser, path=()):
    import argparse

    found = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found = True
                yield from _leaf_parsers(sub, (*path, name))
    if not found:
        yield path


def test_help_everywhere(capsys):
    ours = {"connections", "token", "remind"}
    paths = [p for p in _leaf_parsers(build_parser()) if p and p[0] in ours]
    assert len(paths) >= 18
    for path in paths:
        code, out, _ = run_main(capsys, *path, "--help")
        assert code == 0 and "usage:" in out and "--data-dir" in out, path


def _cli(env, *argv, input_text=None):
    return subprocess.run([sys.executable, "-m", "console", *argv], cwd=REPO, env=env, input=input_text,
                          capture_output=True, text=True, timeout=240)


@pytest.mark.slow
def test_required_forms_end_to_end_and_no_secret_anywhere(sandbox_factory, tmp_path):
    box = sandbox_factory(seed_users=10, seed_groups=2, seed=11)
    data = tmp_path / "home"
    keyring_file = tmp_path / "keyring" / "console.cfg"
    passphrase = "long test passphrase for the cryptfile keyring"
    env = {**os.environ, "SCIM_CONSOLE_HOME": str(data), "SCIM_CONSOLE_KEYRING": "cryptfile",
           "SCIM_CONSOLE_KEYRING_FILE": str(keyring_file), "SCIM_CONSOLE_KEYRING_PASSPHRASE": passphrase,
           "PYTHONUNBUFFERED": "1"}
    outputs: list[str] = []

    def cli(*argv, input_text=None, expect=0):
        result = _cli(env, *argv, input_text=input_text)
        outputs.append(result.stdout + result.stderr)
        assert result.returncode == expect, (argv, result.returncode, result.stderr[-800:])
        return result

    _name, key = new_key(box)
    cli("connections", "add", "Prod", "--api-url", box.api_url)
    r = cli("token", "set-key", "--connection", "Prod", "--stdin", input_text=key)
    assert "Stored the API key" in r.stdout
    r = cli("token", "generate", "--connection", "Prod")
    assert "Stored a new token" in r.stdout
    r = cli("token", "check", "--connection", "Prod")
    assert r.stdout.startswith("OK:") and len(r.stdout.strip().splitlines()) == 1
    r = cli("token", "check", "--connection", "Prod", "--json")
    assert json.loads(r.stdout)["level"] == "ok"
    cli("token", "status")
    cli("connections", "list")
    cli("connections", "show", "Prod")
    r = cli("token", "ics", "--connection", "Prod", "--out", str(tmp_path / "renew.ics"))
    assert (tmp_path / "renew.ics").read_bytes().startswith(b"BEGIN:VCALENDAR")
    r = cli("token", "rotate", "--connection", "Prod", "--no-push")
    assert "Secret Token" in r.stdout and "Test Connection" in r.stdout
    cli("remind", "--dry-run")
    # a wrong passphrase is refused clearly and changes nothing
    before = keyring_file.read_bytes()
    bad = _cli({**env, "SCIM_CONSOLE_KEYRING_PASSPHRASE": "not it"}, "token", "check", "--connection", "Prod")
    outputs.append(bad.stdout + bad.stderr)
    assert bad.returncode == 2 and bad.stdout.startswith("CRITICAL:") and "passphrase" in bad.stdout
    assert "wrong passphrase" in bad.stdout.lower() and "MAC" not in bad.stdout
    assert "Traceback" not in bad.stdout + bad.stderr
    assert keyring_file.read_bytes() == before
    # reveal refuses to print into a pipe
    rv = _cli(env, "token", "reveal", "--connection", "Prod")
    outputs.append(rv.stdout + rv.stderr)
    assert rv.returncode == 2 and "not a terminal" in rv.stderr

    # the scan: API key and every token this test saw, nowhere under the data dir, in no output
    from console.context import open_context
    from console.credentials import default_credentials

    for k in ("SCIM_CONSOLE_KEYRING", "SCIM_CONSOLE_KEYRING_FILE", "SCIM_CONSOLE_KEYRING_PASSPHRASE"):
        os.environ[k] = env[k]
    try:
        ctx = open_context(data, credentials=default_credentials())
        token = ctx.credentials.get("Prod", "access_token")
        assert ctx.credentials.get("Prod", "api_key") == key
    finally:
        for k in ("SCIM_CONSOLE_KEYRING", "SCIM_CONSOLE_KEYRING_FILE", "SCIM_CONSOLE_KEYRING_PASSPHRASE"):
            os.environ.pop(k, None)
    secrets_ = [key, token, passphrase]
    for path in data.rglob("*"):
        if path.is_file():
            assert_absent(secrets_, path.read_bytes().decode("latin-1"), f"data file {path.name}")
    assert_absent(secrets_, "\n".join(outputs), "CLI output")
    assert_absent([key, token], keyring_file.read_text(), "the encrypted keyring file")
    assert_absent([key, token], box.stderr_text(), "the sandbox's log")


def test_remind_and_notify_urls_commands(tmp_path, capsys, monkeypatch, shared_memory_credentials):
    import io
    from datetime import UTC, datetime, timedelta

    import jwt

    from console.context import open_context
    from console.tokens.service import TokenService
    from tests.console.test_core_helpers import local_http

    d = ["--data-dir", str(tmp_path / "data")]
    run_main(capsys, "connections", "add", "Prod", "--api-url", "https://api-au.6clicks.io", "--no-check", *d)
    now = datetime.now(UTC)
    token = jwt.encode({"sub": "x", "exp": int((now + timedelta(days=20)).timestamp())}, "k" * 32, algorithm="HS256")
    ctx = open_context(tmp_path / "data", credentials=shared_memory_credentials)
    TokenService(ctx).import_token("Prod", token, verify=False)
    code, _, err = run_main(capsys, "remind", *d)
    assert code == 1  # a reminder is due but there is no channel
    state = {"status": 500}
    with local_http(lambda _h: (state["status"], "application/json", b"{}")) as server:
        url = f"json://127.0.0.1:{server.server_port}/notify/hook-secret-1234"
        monkeypatch.setattr("sys.stdin", io.StringIO(url + "\n"))
        assert run_main(capsys, "token", "notify-urls", "set", "--connection", "Prod", "--stdin", *d)[0] == 0
        code, out, _ = run_main(capsys, "token", "notify-urls", "list", "--connection", "Prod", *d)
        assert code == 0 and "json://…" in out
        code, out, _ = run_main(capsys, "remind", "--dry-run", *d)
        assert code == 0 and "Would send" in out and not server.received
        code, out, _ = run_main(capsys, "remind", *d)
        assert code == 1 and "retried" in out
        state["status"] = 200
        code, out, _ = run_main(capsys, "remind", "--json", *d)
        assert code == 0 and json.loads(out)[0]["sent"] == 1
        code, out, _ = run_main(capsys, "remind", *d)
        assert code == 0 and "already sent" in out
        assert len(server.received) == 2
        outputs = out
    assert_absent(["hook-secret-1234", token], outputs + err, "CLI output")


def test_newer_store_is_refused_by_the_cli(tmp_path, capsys, shared_memory_credentials):
    import sqlite3

    d = ["--data-dir", str(tmp_path / "data")]
    run_main(capsys, "connections", "add", "Prod", "--api-url", "https://api-au.6clicks.io", "--no-check", *d)
    db = sqlite3.connect(tmp_path / "data" / "console.db")
    db.execute("PRAGMA user_version = 4242")
    db.commit()
    db.close()
    code, _, err = run_main(capsys, "connections", "list", *d)
    assert code == 2 and "newer version" in err and "Traceback" not in err
