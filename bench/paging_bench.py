"""Paging against a server that lies about ``totalResults``: memory and time of ``list_users()``.

The peer is ``tests/scim_client/odd_peers.py`` (real HTTP on 127.0.0.1, its own process). It announces
100,000,000 users and then, per variant: serves one new user per request whatever ``count`` asks
(``one-per-page``, the case of issue 12), serves 500 users and then empty pages (``empty-after``), repeats the
same page at every ``startIndex`` (``same-page``), or keeps announcing more at every request (``growing``).
Each answer takes 5 ms, so that concurrent requests overlap and the most in flight can be seen.

For each variant ``ScimClient(url).list_users()`` runs in a fresh Python process (``max_concurrency=8``) and is
stopped after a deadline (30 s, 10 s with ``--quick``) if it has not ended by itself: once with the default
limits (``max_results`` 1,000,000 and ``max_list_requests`` 200,000, which stop a 10^8 announcement at the
first page), and once with both lifted to 10^12 ("no caps"), so that only the consistency checks and the
sliding window bound what happens (also ``holes``: an empty page, then users again). Figures: the client process's peak RSS growth over its RSS after imports (sampled every 20 ms), the
peak of Python allocations (tracemalloc, a separate run), the time until the call returned or raised, the
number of requests the peer received, the most it had in flight, and how the call ended.

``BENCH_CODE_ROOT=/path/to/other/checkout python -m bench paging`` runs the client from another checkout
(e.g. the code before issue 12) against the same peer; the peer always comes from this checkout.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench import _harness as h

ANNOUNCED = 100_000_000
# (peer mode, caps lifted, read with iter_user_pages instead of list_users)
RUNS = (("one-per-page", False, False), ("empty-after", False, False), ("empty-after", True, False),
        ("same-page", True, False), ("holes", True, False), ("growing", True, False),
        ("one-per-page", True, False), ("one-per-page", True, True))
QUICK_RUNS = (("one-per-page", False, False), ("same-page", True, False))

CLIENT = r"""
import json, os, sys, time
sys.path.insert(0, os.getcwd())
trace = os.environ.get("BENCH_TRACEMALLOC") == "1"
import scim_client
from scim_client import ScimClient, ScimError
import psutil
me = psutil.Process()
if trace:
    import tracemalloc
    tracemalloc.start()
print("started " + str(me.memory_info().rss), flush=True)
out = {}
started = time.perf_counter()
import inspect
caps = {}
if os.environ.get("BENCH_NO_CAPS") == "1" and "max_results" in inspect.signature(ScimClient).parameters:
    caps = {"max_results": 10**12, "max_list_requests": 10**12}
try:
    with ScimClient(sys.argv[1], token="bench-lying-peer-token-0123456789", timeout=10, max_retries=0,
                    **caps) as c:
        if os.environ.get("BENCH_STREAM") == "1" and not hasattr(c, "iter_user_pages"):
            out["ended"], out["skipped"] = "this version has no iter_user_pages", True
        elif os.environ.get("BENCH_STREAM") == "1":  # pages read and dropped: what the window itself costs
            n = sum(len(page) for page in c.iter_user_pages())
            out["ended"] = f"streamed {n:,} users"
        else:
            listing = c.list_users()
            out["ended"] = (f"returned {len(listing):,} users (complete={listing.complete}, "
                            f"warnings={len(listing.warnings)})")
except ScimError as exc:
    out["ended"] = f"{type(exc).__name__}: {exc}"
out["seconds"] = time.perf_counter() - started
if trace:
    out["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
print("RESULT " + json.dumps(out), flush=True)
"""


def code_root() -> Path:
    return Path(os.environ.get("BENCH_CODE_ROOT") or h.ROOT).resolve()


def start_peer(mode: str) -> tuple[h.Child, str]:
    announced = 500 if mode == "growing" else ANNOUNCED  # growing: +1000 per request from there
    child = h.start([sys.executable, "-m", "tests.scim_client.odd_peers", "--mode", mode, "--announced",
                     str(announced), "--real", "500", "--delay-ms", "5"])  # 5 ms per answer: requests overlap
    try:
        line = child.wait_for_line(lambda s: s.startswith("ready "), 60)
    except BaseException:
        child.stop()
        raise
    return child, line.split(" ", 1)[1].strip()


def run_client(url: str, deadline: float, *, trace: bool, no_caps: bool, stream: bool) -> dict[str, Any]:
    env = {"BENCH_TRACEMALLOC": "1" if trace else "0", "BENCH_NO_CAPS": "1" if no_caps else "0",
           "BENCH_STREAM": "1" if stream else "0"}
    child = h.start([sys.executable, "-c", CLIENT, url], env=env, cwd=code_root())
    result: dict[str, Any] = {}
    try:
        line = child.wait_for_line(lambda s: s.startswith("started "), 60)
        baseline = int(line.split()[1])
        sampler = h.RssSampler(child.pid, interval=0.02, children=False)
        started = time.perf_counter()
        with sampler:
            try:
                done = child.wait_for_line(lambda s: s.startswith("RESULT "), deadline)
                result = json.loads(done.split(" ", 1)[1])
            except TimeoutError:
                result = {"ended": f"still listing after {deadline:.0f} s: stopped by the benchmark",
                          "seconds": time.perf_counter() - started}
        result["rss_growth_mb"] = (sampler.peak_bytes - baseline) / 2**20
        result["rss_peak_mb"] = sampler.peak_mb
    finally:
        child.stop()
    return result


def run(quick: bool) -> dict[str, Any]:
    try:
        import scim_client  # noqa: F401
    except ImportError as exc:  # pragma: no cover
        raise h.Skip(f"scim_client is not importable ({exc})") from None
    deadline = 10.0 if quick else 30.0
    runs = QUICK_RUNS if quick else RUNS
    params = {"announced_totalResults": ANNOUNCED, "deadline_s": deadline, "client_code": str(code_root()),
              "max_concurrency": 8,
              "runs": [f"{m}{', no caps' if nc else ''}{', iter_user_pages' if st else ''}" for m, nc, st in runs]}
    metrics: list[dict[str, Any]] = []
    notes: list[str] = []
    for mode, no_caps, stream in runs:
        label = f"{mode}{', no caps' if no_caps else ''}{', iter_user_pages' if stream else ''}"
        endless = mode == "one-per-page" and no_caps  # a new user per request: it never ends by itself
        peer, url = start_peer(mode)
        try:
            plain = run_client(url, deadline, trace=False, no_caps=no_caps, stream=stream)
            stats = httpx.get(url.rsplit("/scim", 1)[0] + "/stats", timeout=10).json()
            traced = {} if endless else run_client(url, deadline, trace=True, no_caps=no_caps, stream=stream)
        finally:
            peer.stop()
        if plain.get("skipped"):
            notes.append(f"{label}: skipped: {plain['ended']}")
            continue
        bounded = not endless or stream  # list_users keeps what an endless server really serves
        metrics += [
            h.metric(f"{label}: client RSS growth", plain["rss_growth_mb"], "MB",
                     target="<= 50 MB" if bounded else None,
                     met=h.check(plain["rss_growth_mb"], at_most=50.0) if bounded else None,
                     peak_rss_mb=round(plain["rss_peak_mb"], 1)),
            h.metric(f"{label}: time until the call ended", plain["seconds"], "s"),
            h.metric(f"{label}: requests received by the peer", stats["requests"], "requests",
                     max_in_flight=stats["max_in_flight"]),
        ]
        if traced:
            metrics.append(h.metric(f"{label}: peak Python allocations (tracemalloc)",
                                    traced.get("tracemalloc_peak_mb"), "MB"))
        notes.append(f"{label}: at most {stats['max_in_flight']} requests in flight; {plain['ended'][:240]}")
    notes.append("one-per-page with no caps serves a new user at every request, which an honest directory could "
                 "do: nothing stops it before the deadline. list_users then holds the users really served "
                 "(about 2.4 KB each), whatever the 100,000,000 announced; iter_user_pages holds only the window "
                 "and the ids seen")
    return {"parameters": params, "metrics": metrics, "notes": notes}


if __name__ == "__main__":  # python -m bench.paging_bench [--quick]
    print(json.dumps(run("--quick" in sys.argv), indent=2, default=str))
