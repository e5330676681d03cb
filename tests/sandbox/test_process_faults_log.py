"""The process: persistence across restarts, fault injection, the request log, the CLI, --parent-pid."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import orjson
import pytest

from tests.sandbox.conftest import assert_scim_error, new_group, new_user
from tests.sandbox_fixture import REPO, AdminError


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sandbox", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def statuses(box, n: int, path: str = "/Users") -> list[str]:
    out = []
    with box.client() as c:
        for _ in range(n):
            try:
                out.append(str(c.get(path, params={"count": 1}).status_code))
            except httpx.TransportError:
                out.append("drop")
    return out


def test_restart_keeps_data_tokens_and_does_not_reseed(sandbox_factory) -> None:
    first = sandbox_factory(seed_users=25, seed_groups=5, seed=11)
    token = first.token()
    with first.client() as c:
        user = new_user(c, f"persist-{uuid.uuid4().hex[:6]}@contoso.example")
        group = new_group(c, f"Persist {uuid.uuid4().hex[:6]}")
        c.patch(f"/Groups/{group['id']}", json={"Operations": [
            {"op": "Add", "path": "members", "value": [{"value": user["id"]}]}]})
        before = c.get("/Users", params={"count": 100}).json()
    first.stop()
    second = sandbox_factory(data_dir=first.data_dir, api_key=first.api_key, seed_users=25, seed_groups=5, seed=11)
    with second.client(token) as c:  # the token issued before the restart still works
        after = c.get("/Users", params={"count": 100}).json()
        assert after["totalResults"] == before["totalResults"] == 26
        assert [u["id"] for u in after["Resources"]] == [u["id"] for u in before["Resources"]]
        assert {m["value"] for m in c.get(f"/Groups/{group['id']}").json()["members"]} == {user["id"]}
    assert "seeded before" in second.stderr_text()


def test_seed_is_deterministic(sandbox_factory) -> None:
    a = sandbox_factory(seed_users=15, seed_groups=4, seed=5)
    b = sandbox_factory(seed_users=15, seed_groups=4, seed=5)
    c = sandbox_factory(seed_users=15, seed_groups=4, seed=6)

    def snapshot(box) -> list[tuple]:
        with box.client() as cl:
            users = cl.get("/Users", params={"count": 100}).json()["Resources"]
            groups = cl.get("/Groups", params={"count": 100}).json()["Resources"]
        return ([(u["id"], u["userName"], u["active"]) for u in users]
                + [(g["id"], g["displayName"], tuple(sorted(m["value"] for m in g.get("members", []))))
                   for g in groups])

    assert snapshot(a) == snapshot(b)
    assert snapshot(a) != snapshot(c)


def test_faults_are_deterministic_with_a_seed_and_spare_health_and_admin(sandbox_factory) -> None:
    faults = {"rate_429": 0.3, "rate_500": 0.2, "rate_drop": 0.1, "seed": 42, "retry_after": 7,
              "paths": "^/scim/"}  # the token exchange is left alone so it draws nothing
    box = sandbox_factory(seed_users=5, seed_groups=1, faults=faults)
    first = statuses(box, 30)
    assert {"429", "500", "drop", "200"} <= set(first)
    box.set_faults(**faults)  # restarts the sequence
    assert statuses(box, 30) == first
    other = sandbox_factory(seed_users=5, seed_groups=1, faults=faults)
    assert statuses(other, 30) == first  # same seed, same sequence, in another process
    box.set_faults(rate_429=1.0, retry_after=7)
    with box.client() as c:
        resp = c.get("/Users")
        assert_scim_error(resp, 429)
        assert resp.headers["retry-after"] == "7"
    assert httpx.get(f"{box.api_url}/healthz").status_code == 200
    assert box.admin("GET", "/sandbox-admin/faults")["rate_429"] == 1.0
    box.set_faults(rate_500=1.0)
    with box.client() as c:
        assert_scim_error(c.get("/Groups"), 500)
    box.clear_faults()
    with box.client() as c:
        assert c.get("/Users").status_code == 200


def test_faults_restricted_to_paths_and_latency(sandbox_factory) -> None:
    box = sandbox_factory(seed_users=3, seed_groups=1)
    box.set_faults(rate_500=1.0, paths=r"^/scim/Groups")
    with box.client() as c:
        assert c.get("/Users").status_code == 200
        assert c.get("/Groups").status_code == 500
    box.set_faults(latency_ms=300)
    with box.client() as c:
        started = time.perf_counter()
        assert c.get("/Users", params={"count": 1}).status_code == 200
        assert time.perf_counter() - started >= 0.3
    with pytest.raises(AdminError) as err:
        box.set_faults(rate_500=2)
    assert err.value.status == 400
    with pytest.raises(AdminError):
        box.set_faults(paths="([unclosed")
    with pytest.raises(AdminError):
        box.set_faults(bogus=1)


def test_dropped_connection_then_server_keeps_serving(sandbox_factory) -> None:
    box = sandbox_factory(seed_users=3, seed_groups=1, faults={"rate_drop": 1.0})
    with pytest.raises(httpx.TransportError):  # the token exchange is dropped too
        box.token()
    box.clear_faults()
    token = box.token()
    box.set_faults(rate_drop=1.0)
    with box.client(token) as c, pytest.raises(httpx.RemoteProtocolError):
        c.get("/Users")
    box.clear_faults()
    with box.client() as c:
        assert c.get("/Users").status_code == 200
    assert box.alive


def test_request_log_has_the_fields_and_never_a_secret(sandbox_factory) -> None:
    box = sandbox_factory(seed_users=5, seed_groups=2)
    token = box.token()
    short = box.token(long_lived=False)
    admin_issued = box.admin("POST", "/sandbox-admin/tokens", json={"key_name": "default", "lifetime_seconds": 60})
    created = box.admin("POST", "/sandbox-admin/keys", json={"name": "second"})
    with box.client() as c:
        c.get("/Users", params={"filter": 'userName eq "nobody@contoso.example"'})
        c.get(f"/Users/{uuid.uuid4()}")
        c.post("/Users", content=b"{", headers={"content-type": "application/json"})
    httpx.get(f"{box.scim_url}/Users", headers={"Authorization": f"Bearer {token}x"})
    # a misbehaving client putting secrets in the URL: redacted in the log
    httpx.get(f"{box.scim_url}/Users", params={"access_token": short, "apiKey": box.api_key, "x": token})
    httpx.post(f"{box.api_url}/auth-api/1.0/auth/token", json={"apiKey": box.api_key + "zz"})
    box.stop()
    text = (box.data_dir / "requests.log").read_text()
    for secret in (box.api_key, box.api_key.lower(), token, short, admin_issued["accessToken"], created["apiKey"],
                   box.admin_token, box.client_secret, token.split(".")[2]):
        assert secret not in text
    assert "Bearer ey" not in text and "\"authorization\"" not in text.lower()
    entries = [orjson.loads(line) for line in text.splitlines()]
    scim_entries = [e for e in entries if e["path"].startswith("/scim/")]
    assert all({"ts", "method", "path", "status", "ms"} <= set(e) for e in entries)
    assert any(e["status"] == 404 and "not found" in e.get("detail", "") for e in scim_entries)
    assert any(e["status"] == 400 and e.get("detail") for e in scim_entries)
    assert any(e["status"] == 401 for e in scim_entries)
    assert any(e.get("key") == "default" for e in scim_entries)
    out = run_cli("log", "--data-dir", str(box.data_dir), "--tail", "3")
    assert out.returncode == 0 and len(out.stdout.strip().splitlines()) == 3
    assert box.api_key not in out.stdout and token not in out.stdout


def test_keys_cli_create_list_permissions_revoke(sandbox_factory) -> None:
    box = sandbox_factory(seed_users=2, seed_groups=1)
    ddir = str(box.data_dir)
    out = run_cli("keys", "create", "--data-dir", ddir, "--name", "ops", "--permission", "integrations",
                  "--permission", "Edit users")
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip()
    assert key.startswith("6ck_") and key not in out.stderr
    listing = run_cli("keys", "list", "--data-dir", ddir)
    assert "ops\tintegrations,edit-users" in listing.stdout and key not in listing.stdout
    assert run_cli("keys", "create", "--data-dir", ddir, "--name", "bad", "--permission", "fly").returncode == 2
    assert run_cli("keys", "create", "--data-dir", ddir, "--name", "ops").returncode == 2  # name taken
    # the running server accepts the key at once (shared store), with just those permissions
    resp = httpx.post(f"{box.api_url}/auth-api/1.0/auth/token", json={"apiKey": key, "isLongLivedToken": True})
    assert resp.status_code == 200
    with box.client(resp.json()["accessToken"]) as c:
        assert c.get("/Users").status_code == 200
        assert_scim_error(c.post("/Users", json={"userName": "n@contoso.example"}), 403)
    assert run_cli("keys", "permissions", "ops", "--data-dir", ddir, "--permission", "integrations").returncode == 0
    with box.client(resp.json()["accessToken"]) as c:
        assert_scim_error(c.get("/Users"), 401)  # a permission was removed after issue
    assert run_cli("keys", "revoke", "ops", "--data-dir", ddir).returncode == 0
    assert run_cli("keys", "revoke", "ops", "--data-dir", ddir).returncode == 1
    assert httpx.post(f"{box.api_url}/auth-api/1.0/auth/token", json={"apiKey": key}).status_code == 401
    # keys are stored hashed, never in clear
    assert key.encode() not in (box.data_dir / "sandbox.db").read_bytes()
    key_file = box.data_dir / "jwt.key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


def test_api_key_flag_registers_a_known_key_idempotently(sandbox_factory, tmp_path: Path) -> None:
    ddir = tmp_path / "d"
    for _ in range(2):
        box = sandbox_factory(data_dir=ddir, extra_args=["--api-key", "known-demo-key-123"])
        resp = httpx.post(f"{box.api_url}/auth-api/1.0/auth/token", json={"apiKey": "KNOWN-demo-key-123"})
        assert resp.status_code == 200
        assert box.token()  # the environment's key works next to it
        box.stop()


def test_secrets_are_not_in_the_child_argv(sandbox) -> None:
    cmdline = Path(f"/proc/{sandbox.proc.pid}/cmdline").read_bytes().decode(errors="replace")
    for secret in (sandbox.api_key, sandbox.admin_token, sandbox.client_secret):
        assert secret not in cmdline


def test_stdout_lines_before_ready(sandbox) -> None:
    assert sandbox.api_url.startswith("http://127.0.0.1:")
    assert sandbox.scim_url == sandbox.api_url + "/scim"
    assert sandbox.info["data dir"] == str(sandbox.data_dir.resolve())


def test_parent_pid_exit_stops_the_sandbox(sandbox_factory) -> None:
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        box = sandbox_factory(seed_users=1, seed_groups=1, parent_pid=parent.pid)
        assert box.alive
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 20
        while box.alive and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not box.alive
        assert "parent process" in box.stderr_text()
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_busy_port_is_a_clear_error(sandbox) -> None:
    out = run_cli("serve", "--port", str(sandbox.port), "--data-dir", str(sandbox.data_dir / "other"))
    assert out.returncode == 1
    assert "cannot listen" in out.stderr and "Traceback" not in out.stderr
