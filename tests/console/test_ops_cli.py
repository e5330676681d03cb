"""The operations command line as a subprocess against a real sandbox: preview and refusal without a TTY,
CSV input, a crash (SIGKILL) mid-batch then `ops list` / `ops resume`, two processes on the same people at
once, `audit list --json`, `undo`, and no secret anywhere in output or store."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.operations import unfinished_batches
from tests.console._ops_helpers import REPO, cli_env, connect, cryptfile_ctx, db_text, run_cli, users
from tests.odd_servers import odd_server


@pytest.fixture
def setup(sandbox_factory, tmp_path, monkeypatch):
    sb = sandbox_factory(seed_users=60, seed_groups=4, seed=21)
    home, keyfile = tmp_path / "home", tmp_path / "keyring.cfg"
    ctx = cryptfile_ctx(home, keyfile, monkeypatch)
    conn = connect(ctx, sb, "T")
    return sb, ctx, conn, home, cli_env(home, keyfile)


def active_names(sb, n, skip=0):
    found = sorted(u.user_name for u in users(sb).values() if u.active)
    return found[skip:skip + n]


def test_preview_refusal_reason_csv_and_json(setup, tmp_path):
    sb, _ctx, _conn, _home, env = setup
    names = active_names(sb, 3)
    csv = tmp_path / "people.csv"
    rows = ["\ufeffE-mail", *names, names[0].upper(), "nobody@nowhere.example"]
    csv.write_bytes(("\r\n".join(rows) + "\r\n").encode("utf-8"))
    out = run_cli(["users", "deactivate", "--from-csv", str(csv), "--reason", "left"], env)
    assert out.returncode == 2, out.stderr
    assert "3 will change, 1 skipped" in out.stdout and "nobody@nowhere.example" in out.stdout
    assert "duplicate row collapsed" in out.stdout and "UTF-8 with BOM" in out.stdout
    assert "no terminal" in out.stderr and "--yes" in out.stderr
    out = run_cli(["users", "deactivate", "--from-csv", str(csv), "--reason", "   ", "--yes"], env)
    assert out.returncode == 2 and "reason is required" in out.stderr
    out = run_cli(["users", "deactivate", "--from-csv", str(csv), "--dry-run"], env)
    assert out.returncode == 0 and "Dry run" in out.stderr
    assert json.loads(run_cli(["audit", "list", "--json"], env).stdout) == []       # nothing journaled
    assert all(users(sb)[u].active for u in users(sb) if users(sb)[u].user_name in names)

    latin = tmp_path / "latin.csv"
    latin.write_bytes(f"{names[0]};Müller\n{names[1]};Jörg\n".encode("latin-1"))
    out = run_cli(["users", "deactivate", "--from-csv", str(latin), "--reason", "left", "--yes", "--json"], env)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["counts"]["done"] == 2 and "action" in out.stderr          # progress on stderr
    again = run_cli(["users", "deactivate", "--from-csv", str(latin), "--reason", "left", "--yes", "--json"], env)
    assert again.returncode == 0 and json.loads(again.stdout)["state"] == "nothing to change"
    assert "Nothing to change" in again.stderr
    listed = json.loads(run_cli(["audit", "list", "--json"], env).stdout)
    assert len(listed) == 1
    assert listed[0]["id"] == result["action_id"] and listed[0]["outcome"] == "success"
    assert listed[0]["source"] == "cli" and listed[0]["reason"] == "left" and listed[0]["operator"]

    out = run_cli(["undo", str(result["action_id"]), "--reason", "mistake", "--yes"], env)
    assert out.returncode == 0, out.stderr
    assert "undo of action" in out.stdout
    now = {u.user_name: u.active for u in users(sb).values()}
    assert now[names[0]] and now[names[1]]

    g = sorted(users(sb))  # groups via the CLI: a move into the same group is refused clearly
    out = run_cli(["groups", "move", names[2], "--from", "X", "--to", "X", "--reason", "r", "--yes"], env)
    assert out.returncode == 2 and "does not exist" in out.stderr
    assert g


def _done_count(home: Path) -> int:
    try:
        db = sqlite3.connect(home / "console.db", timeout=5)
        try:
            return int(db.execute("SELECT COUNT(*) FROM op_items WHERE state='done'").fetchone()[0])
        finally:
            db.close()
    except sqlite3.OperationalError:
        return 0


def test_crash_mid_batch_then_ops_list_and_resume(setup, tmp_path):
    sb, ctx, conn, home, env = setup
    names = active_names(sb, 30)
    csv = tmp_path / "many.csv"
    csv.write_text("\n".join(names) + "\n", encoding="utf-8")
    sb.set_faults(latency_ms=150, paths="/scim/Users/")
    proc = subprocess.Popen([sys.executable, "-m", "console", "users", "deactivate", "--from-csv", str(csv),
                             "--reason", "incident 9", "--yes", "--concurrency", "2"], cwd=str(REPO), env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while _done_count(home) < 5:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the batch did not make progress"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)            # a crash: no cleanup, no journal update
    finally:
        proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
    sb.clear_faults()
    [u] = unfinished_batches(ctx, conn)
    assert u.state == "interrupted" and not u.live
    assert u.counts["done"] >= 5 and u.counts["pending"] + u.counts["running"] > 0
    listed = run_cli(["ops", "list"], env)
    assert f"#{u.batch_id}" in listed.stdout and "interrupted" in listed.stdout and "ops resume" in listed.stdout
    out = run_cli(["ops", "resume", str(u.batch_id), "--json"], env)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["state"] == "completed" and result["counts"]["done"] == 30
    assert all(not a.active for a in users(sb).values() if a.user_name in set(names))
    assert unfinished_batches(ctx, conn) == []
    shown = json.loads(run_cli(["audit", "show", str(u.batch_id), "--json"], env).stdout)
    timeline = [e["event"] for e in shown["events"]]
    assert timeline[:2] == ["journaled", "started"]
    # the crash left no trace by itself: the resume records it, before its own "resumed"
    assert timeline[2:4] == ["interrupted", "resumed"], timeline
    assert "stopped without finishing" in shown["events"][2]["detail"]
    assert len(shown["undo"]["items"]) == 30        # in-flight items at the crash are kept in the undo recipe


def test_two_processes_on_the_same_people_end_consistent_and_both_audited(setup, tmp_path):
    sb, _ctx, _conn, _home, env = setup
    names = active_names(sb, 16, skip=30)
    csv = tmp_path / "same.csv"
    csv.write_text("\n".join(names) + "\n", encoding="utf-8")
    # slow enough that both previews are made before either run finishes (each run takes a few seconds)
    sb.set_faults(latency_ms=400, paths="/scim/Users/")
    args = [sys.executable, "-m", "console", "users", "deactivate", "--from-csv", str(csv), "--reason", "race",
            "--yes", "--json", "--concurrency", "4"]
    procs = [subprocess.Popen(args, cwd=str(REPO), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    sb.clear_faults()
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    results = [json.loads(o[0]) for o in outs]
    assert all(r["state"] == "completed" for r in results), [
        (r["state"], r["stop_reason"], [(i["state"], i["error"]) for i in r["items"] if i["state"] != "done"])
        for r in results]
    for r in results:  # under load a call can still fail after every retry: it is journaled and retryable
        if r["counts"]["failed"]:
            again = run_cli(["ops", "retry", str(r["action_id"]), "--json"], env)
            assert again.returncode == 0, (r["counts"], again.stdout, again.stderr)
            r.update(json.loads(again.stdout))
    # a preview made after the other process changed someone skips that person ("already inactive")
    assert all(r["counts"]["done"] + r["counts"].get("skipped", 0) == 16 for r in results), [
        r["counts"] for r in results]
    assert all(not a.active for a in users(sb).values() if a.user_name in set(names))
    listed = json.loads(run_cli(["audit", "list", "--json"], env).stdout)
    assert {a["id"] for a in listed} == {r["action_id"] for r in results}
    changed = sum(1 for r in results for i in r["items"] if i["outcome"] == "changed")
    assert 16 <= changed <= 32     # each person changed at least once; "already" for the loser of each race


def test_no_secret_in_outputs_store_or_audit(setup, tmp_path):
    sb, ctx, _conn, home, env = setup
    names = active_names(sb, 2, skip=50)
    outs = [run_cli(["users", "deactivate", *names, "--reason", "secret scan", "--yes"], env),
            run_cli(["audit", "list", "--json"], env), run_cli(["audit", "show", "1", "--json"], env),
            run_cli(["ops", "list"], env)]
    token = ctx.credentials.get("T", "access_token")
    assert token and sb.api_key
    text = "\n".join(o.stdout + o.stderr for o in outs) + db_text(home)
    for secret in (token, sb.api_key, sb.admin_token, token.split(".")[-1]):
        assert secret not in text
    entry = json.loads(outs[2].stdout)
    assert entry["operator"] and entry["reason"] == "secret scan" and entry["created_at"]
    assert {i["outcome"] for i in entry["items"]} == {"changed"} and entry["undo"]["kind"] == "reactivate"


def test_cli_stops_on_a_server_defect_prints_the_report_and_exits_3(tmp_path, monkeypatch):
    home, keyfile = tmp_path / "home", tmp_path / "keyring.cfg"
    ctx = cryptfile_ctx(home, keyfile, monkeypatch)
    with odd_server(users=14, groups=[("Finance", list(range(10)))], sloppy_add=True) as srv:
        connect(ctx, srv, "Odd")
        env = cli_env(home, keyfile)
        fin = srv.group_id("Finance")
        before = srv.member_ids(fin)
        newcomers = [srv.users[u]["userName"] for u in sorted(set(srv.users) - before)[:3]]
        out = run_cli(["groups", "add", *newcomers, "--group", "Finance", "--reason", "team", "--yes"], env)
        assert out.returncode == 3, (out.stdout, out.stderr)
        assert "SERVER DEFECT" in out.stdout and f"request: PATCH Groups/{fin}" in out.stdout
        assert "answer:  HTTP 200" in out.stdout and "Do not resume" in out.stdout
        assert "every lost member was restored and verified" in out.stderr and "audit show" in out.stderr
        assert before <= srv.member_ids(fin) and len(srv.member_ids(fin)) == 11
        listed = json.loads(run_cli(["audit", "list", "--json", "--outcome", "defect"], env).stdout)
        assert len(listed) == 1 and listed[0]["outcome"] == "defect"
        shown = run_cli(["audit", "show", str(listed[0]["id"])], env)
        assert shown.returncode == 0 and "SERVER DEFECT" in shown.stdout and "server_defect" in shown.stdout
        text = "\n".join([out.stdout, out.stderr, shown.stdout]) + db_text(home)
        assert srv.token() not in text and srv.api_key not in text
        assert "SERVER DEFECT" in run_cli(["audit", "list"], env).stdout


def test_cli_reports_changes_the_server_did_not_apply(tmp_path, monkeypatch):
    home, keyfile = tmp_path / "home", tmp_path / "keyring.cfg"
    ctx = cryptfile_ctx(home, keyfile, monkeypatch)
    with odd_server(users=8, ignore_active=True, echo_active=True) as srv:
        connect(ctx, srv, "Odd")
        env = cli_env(home, keyfile)
        names = sorted(d["userName"] for d in srv.users.values() if d["active"])[:2]
        out = run_cli(["users", "deactivate", *names, "--reason", "leavers", "--yes"], env)
        assert out.returncode == 1, (out.stdout, out.stderr)
        assert out.stdout.count("did not apply the change") == 2 and "0 changed" in out.stdout
        assert all(srv.users[srv.user_id(n)]["active"] for n in names)
