"""Helpers for the operations tests: a console context and connection on a real sandbox, and a direct SCIM
client (scim_client, the production client) to check the server's state independently of the journal."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from console.connections import Connection, ConnectionRepo
from console.context import open_context
from console.credentials import memory_credentials
from console.tokens.service import TokenService

REPO = Path(__file__).resolve().parents[2]


def make_ctx(home: Path, *, credentials: Any = None) -> Any:
    return open_context(home, credentials=credentials or memory_credentials())


def connect(ctx: Any, sandbox: Any, name: str = "T", *, api_key: str | None = None, snapshot: bool = False) -> Any:
    conn = ConnectionRepo(ctx).add(Connection(name=name, api_url=sandbox.api_url))
    svc = TokenService(ctx)
    svc.set_api_key(name, api_key or sandbox.api_key)
    svc.generate(name)
    if snapshot:
        from console.directory.take import take_snapshot

        take_snapshot(ctx, conn)
    return conn


def scim(sandbox: Any) -> Any:
    from scim_client import ScimClient

    return ScimClient(sandbox.scim_url, token=sandbox.token(fresh=True), max_retries=6)


def users(sandbox: Any) -> dict[str, Any]:
    with scim(sandbox) as c:
        return {u.id: u for u in c.list_users()}


def groups(sandbox: Any) -> dict[str, Any]:
    with scim(sandbox) as c:
        return {g.display_name: g for g in c.list_groups(members=True)}


def members(sandbox: Any, group_id: str) -> set[str]:
    with scim(sandbox) as c:
        return set(c.get_group(group_id, members=True).member_ids or [])


def db_text(home: Path) -> str:
    """Everything in the console's SQLite store, as text (for secret scans)."""
    db = sqlite3.connect(home / "console.db")
    out = []
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'"):
        for row in db.execute(f"SELECT * FROM {table}"):
            out.append(json.dumps(row, default=str))
    db.close()
    return "\n".join(out)


def cli_env(home: Path, keyfile: Path) -> dict[str, str]:
    """Environment for a console subprocess sharing the test's encrypted-file keyring (secrets never in argv)."""
    return {**os.environ, "SCIM_CONSOLE_HOME": str(home), "SCIM_CONSOLE_KEYRING": "cryptfile",
            "SCIM_CONSOLE_KEYRING_PASSPHRASE": "ops-tests-passphrase", "SCIM_CONSOLE_KEYRING_FILE": str(keyfile),
            "SCIM_CONSOLE_NO_DEMO": "1", "PYTHONUNBUFFERED": "1"}


def run_cli(args: list[str], env: dict[str, str], *, input_text: str | None = None,
            timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console", *args], cwd=str(REPO), env=env, text=True,
                          capture_output=True, timeout=timeout, input=input_text,
                          stdin=None if input_text is not None else subprocess.DEVNULL)


def cryptfile_ctx(home: Path, keyfile: Path, monkeypatch: Any) -> Any:
    for key, value in cli_env(home, keyfile).items():
        if key.startswith("SCIM_CONSOLE_"):
            monkeypatch.setenv(key, value)
    from console.credentials import default_credentials

    return open_context(home, credentials=default_credentials())
