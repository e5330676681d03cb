"""The Users page at 100,000 users, measured with Streamlit's AppTest (the page script runs in this process).

Set-up, all through the real code paths and in a separate process: a sandbox seeded with 100,000 users /
1,000 groups, a connection made with the console core (API key in an in-memory keyring, token generated over
HTTP), and one snapshot taken through ``scim_client`` (its time is reported too). Then ``app.py`` is run with that connection and
switched to ``pages/users.py``:

- first render of the Users page (cold: snapshot read from disk into the caches);
- warm rerun (the same page again, as after any click): target <= 1.5 s median;
- a search (type a query into the search box, rerun): target <= 0.5 s median, a different query each run
  (the first four letters of a real userName, so every search finds people);
- peak resident memory of this process, which is the app process under AppTest: target <= 600 MB.
  The sandbox is a separate process and is not counted.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import _harness as h


def _imports() -> Any:
    try:
        import keyring
        from streamlit.testing.v1 import AppTest

        from console.connections import Connection, ConnectionRepo
        from console.context import open_context
        from console.credentials import MemoryKeyring, default_credentials
        from console.directory.take import take_snapshot
        from console.tokens.service import TokenService
        from pages._ui import session as ui
    except ImportError as exc:
        raise h.Skip(f"the console or dashboard is not complete yet ({exc})") from None
    return (keyring, AppTest, Connection, ConnectionRepo, open_context, MemoryKeyring, default_credentials,
            take_snapshot, TokenService, ui)


def _prepare(home: Path, api_url: str) -> None:
    """In a separate process (so its memory does not count as the app's): connection, token, one snapshot."""
    (keyring, _at, Connection, ConnectionRepo, open_context, MemoryKeyring, default_credentials,
     take_snapshot, TokenService, _ui) = _imports()
    keyring.set_keyring(MemoryKeyring())
    ctx = open_context(home, credentials=default_credentials())
    conn = ConnectionRepo(ctx).add(Connection(name="Bench", api_url=api_url))
    tokens = TokenService(ctx)
    tokens.set_api_key("Bench", os.environ["BENCH_API_KEY"])
    tokens.generate("Bench")
    started = time.perf_counter()
    take_snapshot(ctx, conn)
    print(f"snapshot-seconds {time.perf_counter() - started:.3f}", flush=True)


def run(quick: bool) -> dict[str, Any]:
    (keyring, AppTest, _c, _r, open_context, MemoryKeyring, default_credentials, _t, TokenService, ui) = _imports()
    logging.getLogger("streamlit").setLevel(logging.ERROR)  # AppTest's bare-mode warnings
    users, groups = (2_000, 20) if quick else (100_000, 1_000)
    runs = 3 if quick else 7
    params = {"users": users, "groups": groups, "runs": runs, "measured_with": "streamlit AppTest"}
    metrics: list[dict[str, Any]] = []
    notes: list[str] = []
    env = {"SCIM_CONSOLE_KEYRING": "system", "SCIM_CONSOLE_NO_DEMO": "1"}

    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        env["SCIM_CONSOLE_HOME"] = str(home)
        sandbox = h.start_sandbox(Path(tmp) / "sandbox", "--seed-users", str(users), "--seed-groups",
                                  str(groups), "--seed", "3")
        try:
            prep = h.start([sys.executable, "-m", "bench.dashboard_bench", "prepare", str(home), sandbox.api_url],
                           env={**env, "BENCH_API_KEY": sandbox.api_key})
            line = prep.wait_for_line(lambda s: s.startswith("snapshot-seconds "), 1800)
            prep.popen.wait(timeout=60)
            metrics.append(h.metric(f"snapshot of {users:,} users (fetch + store)", float(line.split()[1]), "s"))

            os.environ.update(env)
            keyring.set_keyring(MemoryKeyring())
            with h.RssSampler(children=False) as mem:
                ctx = open_context(home, credentials=default_credentials())
                tokens = TokenService(ctx)
                tokens.set_api_key("Bench", sandbox.api_key)
                tokens.generate("Bench")
                baseline = mem.baseline_mb

                at = AppTest.from_file(str(h.ROOT / "app.py"), default_timeout=600)
                at.session_state[ui.KEY_CONNECTION] = "Bench"
                from console import access

                at.query_params[access.TOKEN_PARAM] = access.ensure_secret(home)  # the operator's access link
                at.run()
                with h.stopwatch() as first:
                    at.switch_page("pages/users.py").run()
                if at.exception:
                    raise RuntimeError(f"the Users page raised: {[e.value for e in at.exception][:2]}")
                if not at.dataframe:
                    raise RuntimeError("the Users page rendered no table")
                metrics.append(h.metric("Users page first render (cold caches)", first["seconds"], "s"))

                warm = h.repeat(lambda: at.run(), runs=runs, warmup=1)
                if at.exception or not at.dataframe or not at.text_input(key="users.q"):
                    raise RuntimeError("a warm rerun did not show the Users page again")
                metrics.append(h.metric("Users page warm rerun", warm, "s", target="<= 1.5 s",
                                        met=h.check(h.summarise(warm)["median"], at_most=1.5)))

                from console.directory.store import latest_snapshot

                names = list(latest_snapshot(ctx, "Bench").users["userName"].astype(str))
                step = max(1, len(names) // (runs + 1))
                queries = [names[(i + 1) * step][:4] for i in range(runs)]  # a few letters of real names
                search: list[float] = []
                for i in range(runs):
                    at.text_input(key="users.q").input(queries[i])
                    t0 = time.perf_counter()
                    at.run()
                    search.append(time.perf_counter() - t0)
                    if at.exception or not at.dataframe:
                        raise RuntimeError(f"search showed no table: {[e.value for e in at.exception][:2]}")
                metrics.append(h.metric("Users page search (type a query, rerun)", search, "s",
                                        target="<= 0.5 s", met=h.check(h.summarise(search)["median"], at_most=0.5)))
                at.text_input(key="users.q").input("").run()
        finally:
            sandbox.stop()

    metrics.append(h.metric("app process peak RSS (AppTest, in-process)", mem.peak_mb, "MB", target="<= 600 MB",
                            met=h.check(mem.peak_mb, at_most=600.0)))
    metrics.append(h.metric("process RSS before the app ran", baseline, "MB"))
    notes.append("the snapshot is taken in a separate process, so the app's memory is what reading and showing "
                 "it costs; the sandbox runs alongside (its memory is not counted)")
    notes.append("AppTest runs the page script in this process and adds its own protobuf handling, so rerun "
                 "times include serialising the page's elements")
    return {"parameters": params, "metrics": metrics, "notes": notes}


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "prepare":
        _prepare(Path(sys.argv[2]), sys.argv[3])
    else:
        sys.exit("usage: python -m bench.dashboard_bench prepare HOME API_URL (internal; use python -m bench)")
