"""Memory and time of a directory snapshot: ``python -m console snapshot`` and a Refresh inside a process.

A sandbox seeded with 100,000 users / 1,000 groups (``--quick``: 3,000 / 30) is read through the real code
paths. The console's home is made with its own command line (``connections add``, ``token set-key --stdin``,
``token generate``; an encrypted-file keyring whose passphrase is in the environment, never in argv).

- ``python -m console snapshot`` as a subprocess, twice: the first snapshot of the connection (a baseline, no
  diff) and a second one (diffed against the first, as cron does every time after the first). Peak RSS of the
  process (sampled every 20 ms) and wall time. Target: <= 300 MB peak RSS, no slower than before.
- a Refresh in-process: a fresh Python process loads the latest 100,000-user snapshot's three tables (what the
  app holds in its caches), then calls ``console.directory.take.take_snapshot`` as the app's Refresh button does.
  Peak RSS of that process, its RSS while holding the previous snapshot, and the refresh's wall time.

``BENCH_CODE_ROOT=/path/to/other/checkout python -m bench snapshot`` runs the console (both measurements)
from another checkout, e.g. the code before issue 12, against the same sandbox; the home is prepared by this
checkout's console.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import _harness as h

TARGET_MB = 300.0

REFRESH = r"""
import gc, json, os, sys, time
sys.path.insert(0, os.getcwd())
import psutil
from console.connections import ConnectionRepo
from console.context import open_context
from console.directory.store import latest_snapshot
from console.directory.take import take_snapshot
me = psutil.Process()
ctx = open_context(None)
conn = ConnectionRepo(ctx.store).get("Bench")
previous = latest_snapshot(ctx, conn)
held = (previous.users, previous.groups, previous.memberships)
gc.collect()
print("holding " + str(me.memory_info().rss), flush=True)
started = time.perf_counter()
snap = take_snapshot(ctx, conn)
seconds = time.perf_counter() - started
print("RESULT " + json.dumps({"seconds": seconds, "users": snap.user_count, "memberships": snap.membership_count,
                              "held_users": len(held[0])}), flush=True)
"""


def code_root() -> Path:
    return Path(os.environ.get("BENCH_CODE_ROOT") or h.ROOT).resolve()


def console_env(tmp: Path) -> dict[str, str]:
    """Environment for console commands in a throw-away home with an encrypted file keyring (no demo)."""
    home = tmp / "home"
    home.mkdir()
    return {"SCIM_CONSOLE_HOME": str(home), "SCIM_CONSOLE_KEYRING": "cryptfile",
            "SCIM_CONSOLE_KEYRING_PASSPHRASE": secrets.token_urlsafe(24),
            "SCIM_CONSOLE_KEYRING_FILE": str(tmp / "keyring.cfg"), "SCIM_CONSOLE_NO_DEMO": "1"}


def _console(env: dict[str, str], *args: str, stdin: str | None = None) -> None:
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "console", *args], cwd=str(h.ROOT), env={**os.environ, **env},
                          input=stdin, text=True, capture_output=True, timeout=600,
                          stdin=None if stdin is not None else subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(f"python -m console {' '.join(args)} failed ({proc.returncode}): "
                           f"{(proc.stderr or proc.stdout)[-800:]}")


def measure(argv: list[str], env: dict[str, str], *, ready_prefix: str | None = None,
            timeout: float = 1800.0) -> dict[str, Any]:
    """Run ``argv`` (from the code root) sampling its RSS; returns peak MB, wall seconds and its output."""
    started = time.perf_counter()
    child = h.start(argv, env=env, cwd=code_root())
    try:
        sampler = h.RssSampler(child.pid, interval=0.02, children=False)
        with sampler:
            held = None
            if ready_prefix:
                line = child.wait_for_line(lambda s: s.startswith(ready_prefix), timeout)
                held = int(line.split()[1]) / 2**20
            code = child.popen.wait(timeout=timeout)
        seconds = time.perf_counter() - started
        if code != 0:
            raise RuntimeError(f"{' '.join(argv[:4])} exited with {code}: " + "\n".join(child.lines[-10:]))
    finally:
        child.stop()
    result: dict[str, Any] = {"peak_mb": sampler.peak_mb, "seconds": seconds, "held_mb": held}
    for line in child.lines:
        if line.startswith("RESULT "):
            result.update(json.loads(line.split(" ", 1)[1]))
    return result


def run(quick: bool) -> dict[str, Any]:
    try:
        import console  # noqa: F401
        import sandbox  # noqa: F401
    except ImportError as exc:  # pragma: no cover
        raise h.Skip(f"the console or sandbox is not importable ({exc})") from None
    users, groups = (3_000, 30) if quick else (100_000, 1_000)
    params = {"users": users, "groups": groups, "console_code": str(code_root())}
    metrics: list[dict[str, Any]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-snapshot-") as tmp:
        env = console_env(Path(tmp))
        box = h.start_sandbox(Path(tmp) / "sandbox", "--seed-users", str(users), "--seed-groups", str(groups),
                              "--seed", "3")
        try:
            _console(env, "connections", "add", "Bench", "--api-url", box.api_url, "--allow-http")
            _console(env, "token", "set-key", "--connection", "Bench", "--stdin", stdin=box.api_key)
            _console(env, "token", "generate", "--connection", "Bench")
            cli = [sys.executable, "-m", "console", "snapshot", "--connection", "Bench", "--quiet"]
            first = measure(cli, env)
            second = measure(cli, env)
            refresh = measure([sys.executable, "-c", REFRESH], env, ready_prefix="holding ")
        finally:
            box.stop()
    for label, m in (("first snapshot (baseline)", first), ("second snapshot (diffed)", second)):
        metrics.append(h.metric(f"python -m console snapshot, {label}: peak RSS", m["peak_mb"], "MB",
                                target=f"<= {TARGET_MB:.0f} MB", met=h.check(m["peak_mb"], at_most=TARGET_MB)))
        metrics.append(h.metric(f"python -m console snapshot, {label}: wall time", m["seconds"], "s"))
    metrics.append(h.metric("Refresh in-process (holding the previous snapshot): peak RSS", refresh["peak_mb"], "MB",
                            target=f"<= {TARGET_MB:.0f} MB", met=h.check(refresh["peak_mb"], at_most=TARGET_MB)))
    metrics.append(h.metric("Refresh in-process: RSS growth over holding the previous snapshot",
                            refresh["peak_mb"] - (refresh["held_mb"] or 0), "MB"))
    metrics.append(h.metric("Refresh in-process: RSS while holding the previous snapshot", refresh["held_mb"], "MB"))
    metrics.append(h.metric("Refresh in-process: take_snapshot wall time", refresh["seconds"], "s"))
    notes.append("wall time of the command includes starting Python and importing pandas/pyarrow (about 1 s); "
                 "the sandbox runs alongside on the same 2 cores and is not counted in the RSS")
    notes.append(f"refresh stored {refresh.get('users')} users and {refresh.get('memberships')} memberships")
    return {"parameters": params, "metrics": metrics, "notes": notes}


if __name__ == "__main__":  # python -m bench.snapshot_bench [--quick]
    print(json.dumps(run("--quick" in sys.argv), indent=2, default=str))
