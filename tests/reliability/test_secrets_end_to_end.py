"""Secrets end to end: an admin's whole journey through the command line (set the API key, generate a token,
store the Graph secret, rotate and push to Entra, refresh, deactivate someone, fetch the Entra logs, export),
then the dashboard's pages, and afterwards a search of everything the console left behind for the API key,
every token, the Graph client secret and the sandbox admin token: zero hits allowed.

Searched: every file under the console's data dir (SQLite and its WAL, Parquet, logs, journals), the
encrypted keyring file, the exported CSV and calendar file, Streamlit's on-disk caches, every command's
stdout and stderr, log records, the pages' element trees and session state, and the sandbox's request log
and stderr. The keyring is the encrypted file backend, as on a headless server, so several processes share it.

Then the worst case on purpose: a misbehaving client puts the API key and the token in a URL path, in a query
value under an innocuous name and in a JSON body the sandbox echoes in an error; a console module logs them in
an exception text and a message; a command runs at DEBUG. The request log, the app log file and stderr must
still hold none of them (redaction by shape: console/redact.py and sandbox/requestlog.py).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _leaks(blob: bytes, needles: dict[str, bytes]) -> list[str]:
    return [name for name, needle in needles.items() if needle and needle in blob]


def _needles(named: dict[str, str]) -> dict[str, bytes]:
    """The secrets, and for JWTs their signature alone too (a partial leak is a leak)."""
    out: dict[str, bytes] = {}
    for name, value in named.items():
        if not value:
            continue
        out[name] = value.encode()
        parts = value.split(".")
        if len(parts) == 3 and len(parts[2]) >= 20:
            out[name + " (signature)"] = parts[2].encode()
    return out


def _tree_text(at: Any) -> str:
    parts: list[str] = []

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        children = getattr(node, "children", None) or {}
        for child in children.values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


class Journey:
    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = env
        self.outputs: list[tuple[str, bytes]] = []

    def run(self, *args: str, stdin: str | None = None, ok: tuple[int, ...] = (0,),
            env: dict[str, str] | None = None) -> str:
        proc = subprocess.run([sys.executable, "-m", "console", *args], cwd=REPO, env={**self.env, **(env or {})},
                              input=(stdin or "").encode(), capture_output=True, timeout=180, check=False)
        label = " ".join(args[:2])
        self.outputs.append((f"stdout of {label}", proc.stdout))
        self.outputs.append((f"stderr of {label}", proc.stderr))
        assert proc.returncode in ok, f"{label} exited {proc.returncode}: {proc.stderr.decode()[-1500:]}"
        return proc.stdout.decode()


def test_no_secret_survives_anywhere_after_a_full_journey(tmp_path: Path, sandbox_factory: Any,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    sb = sandbox_factory(seed_users=40, seed_groups=4, seed=11)
    if not sb.graph_url:
        pytest.skip("this sandbox runs without the Graph emulator")
    home = tmp_path / "home"
    keyring_file = tmp_path / "keyring" / "console.cfg"
    keyring_file.parent.mkdir()
    passphrase = "e2e-" + secrets.token_hex(12)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCIM_CONSOLE_", "SCIM_SANDBOX_"))}
    env.update({"SCIM_CONSOLE_HOME": str(home), "SCIM_CONSOLE_KEYRING": "cryptfile",
                "SCIM_CONSOLE_KEYRING_PASSPHRASE": passphrase, "SCIM_CONSOLE_KEYRING_FILE": str(keyring_file),
                "SCIM_CONSOLE_NO_DEMO": "1", "PYTHONUNBUFFERED": "1"})
    j = Journey(home, env)
    name = "E2E"

    # --- the journey, through the command line ------------------------------------------------------------
    j.run("connections", "add", name, "--api-url", sb.api_url, "--tenant-id", sb.tenant_id, "--client-id",
          sb.client_id, "--service-principal-id", sb.service_principal_id, "--job-id", sb.job_id,
          "--graph-url", sb.graph_url, "--login-url", sb.login_url)
    j.run("token", "set-key", "--connection", name, "--stdin", stdin=sb.api_key)
    j.run("connections", "graph-secret", name, "--stdin", stdin=sb.client_secret)
    j.run("token", "generate", "--connection", name)
    j.run("token", "status", "--connection", name)
    j.run("token", "check", "--connection", name, "--json", ok=(0, 1))

    for key, value in env.items():
        if key.startswith("SCIM_CONSOLE_"):
            monkeypatch.setenv(key, value)
    from console.context import open_context
    from console.credentials import default_credentials

    def stored_token() -> str:
        ctx = open_context(home, credentials=default_credentials())
        value = ctx.credentials.get(name, "access_token")
        assert value
        return str(value)

    first_token = stored_token()
    j.run("token", "rotate", "--connection", name)
    second_token = stored_token()
    assert second_token != first_token, "rotation did not store a new token"
    # the Entra side got the new token: the simulator's next cycle authenticates with it
    sb.admin("POST", "/sandbox-admin/entra/cycles", json={"count": 1})

    j.run("snapshot", "--connection", name)
    with sb.client() as c:
        victim = c.get("/Users", params={"filter": 'active eq true', "count": 1}).json()["Resources"]
        if not victim:
            victim = c.get("/Users", params={"count": 1}).json()["Resources"]
    user_name = victim[0]["userName"]
    j.run("users", "deactivate", user_name, "--reason", "secrets end-to-end test", "--yes", "--connection", name,
          ok=(0, 1))
    j.run("logs", "fetch", "--connection", name, ok=(0, 1, 2))
    j.run("snapshot", "--connection", name)
    j.run("audit", "list", ok=(0, 1))
    j.run("snapshot", "--connection", name, env={"SCIM_CONSOLE_LOG_LEVEL": "DEBUG"})  # httpx logs every URL
    ics = tmp_path / "renewal.ics"
    j.run("token", "ics", "--connection", name, "--out", str(ics))

    # --- export, and the dashboard's pages in this process --------------------------------------------------
    from console.connections import ConnectionRepo
    from console.directory.store import latest_snapshot

    ctx = open_context(home, credentials=default_credentials())
    conn = ConnectionRepo(ctx).get(name)
    snap = latest_snapshot(ctx, conn)
    assert snap is not None and snap.user_count == 40
    from console.directory import view
    from pages._ui import errors, session

    export = tmp_path / "users-export.csv"
    directory = view.build_directory(snap, conn)
    export.write_bytes(view.users_csv(directory, directory.users))

    from streamlit.testing.v1 import AppTest

    page_texts: list[tuple[str, str]] = []
    from console.access import SECRET_FILE, TOKEN_PARAM, ensure_secret

    entry_secret = ensure_secret(home)  # the console's access secret: the session enters with the access link
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.session_state[session.KEY_CONNECTION] = name
    at.query_params[TOKEN_PARAM] = entry_secret
    at.run()
    assert TOKEN_PARAM not in at.query_params
    for page in ("pages/overview.py", "pages/users.py", "pages/groups.py", "pages/sync_history.py",
                 "pages/activity.py", "pages/connection.py"):
        if not (REPO / page).exists():
            continue
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception][:1])
        page_texts.append((page, _tree_text(at)))
        state = at.session_state.filtered_state if hasattr(at.session_state, "filtered_state") else {}
        page_texts.append((f"session state on {page}", repr(dict(state))))

    # --- secrets in odd places on purpose: a careless client, a careless log line ----------------------------
    import httpx

    with httpx.Client(base_url=sb.scim_url, headers={"Authorization": f"Bearer {second_token}"}, timeout=30) as c:
        c.get(f"/Users/{sb.api_key}")                                         # in a URL path
        c.get("/Users", params={"q": second_token, "note": sb.client_secret})  # query values, innocuous names
        c.post("/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x@x.example",
                               sb.api_key: first_token})                     # echoed in the error detail
    import logging

    honest_records = len(caplog.records)  # records before the deliberate ones are searched as records too
    careless = logging.getLogger("console.e2e_careless")
    try:
        raise RuntimeError(f"login failed: key={sb.api_key} secret {sb.client_secret} token {second_token}")
    except RuntimeError as exc:
        errors.log_exception(exc)
        careless.error("retrying with Bearer %s and %s", second_token, sb.api_key, exc_info=True)
    app_log = home / errors.LOG_FILE
    assert app_log.exists() and b"login failed" in app_log.read_bytes(), "the app log file did not get the lines"

    # --- the search ------------------------------------------------------------------------------------------
    needles = _needles({"API key": sb.api_key, "Graph client secret": sb.client_secret,
                        "first token": first_token, "rotated token": second_token,
                        "sandbox admin token": sb.admin_token, "keyring passphrase": passphrase,
                        "console access secret": entry_secret})
    hits: list[str] = []
    searched = 0
    places: list[Path] = [p for p in home.rglob("*") if p.is_file()]
    places += [keyring_file, ics, export, Path(sb.data_dir) / "requests.log"]
    for cache_dir in (REPO / ".streamlit" / "cache", Path.home() / ".streamlit" / "cache"):
        if cache_dir.exists():
            places += [p for p in cache_dir.rglob("*") if p.is_file()]
    for path in places:
        if path == home / SECRET_FILE:  # where the access secret lives (0600); nowhere else
            continue
        blob = path.read_bytes()
        searched += 1
        for leak in _leaks(blob, needles):
            hits.append(f"{leak} in {path}")
    for label, blob in j.outputs:
        for leak in _leaks(blob, needles):
            hits.append(f"{leak} in {label}")
    for label, text in page_texts:
        for leak in _leaks(text.encode(), needles):
            hits.append(f"{leak} in {label}")
    for leak in _leaks(sb.stderr_text().encode(), needles):
        if leak != "sandbox admin token":  # the sandbox was given it; it must still not print it
            hits.append(f"{leak} in the sandbox's stderr")
    logged = "\n".join(r.getMessage() + " " + repr(r.args) for r in caplog.records[:honest_records])
    for leak in _leaks(logged.encode(), needles):
        hits.append(f"{leak} in log records")
    assert not hits, "secrets found:\n" + "\n".join(hits)
    # the search really looked at something: the store, the snapshots, the request log, outputs and pages
    assert searched >= 5 and any(p.suffix == ".db" for p in places)
    assert (Path(sb.data_dir) / "requests.log").stat().st_size > 0
    assert b"/scim/Users/[redacted" in (Path(sb.data_dir) / "requests.log").read_bytes()
    assert b"[redacted" in app_log.read_bytes()
    assert len(j.outputs) >= 20 and len(page_texts) >= 6
    # and the data the secrets protected is really there
    assert user_name.encode() in export.read_bytes()
