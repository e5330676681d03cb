"""Sandbox SCIM server vs stock python-scim ``scim2-server``: filter throughput, page latency, seeding time.

Full size (issue 2): our sandbox holds 100,000 users and 1,000 groups, the stock ``scim2-server`` (in memory,
threaded WSGI server as its command runs it) holds 20,000 users, since it does not scale further. Measured one
after the other in the same run, never at the same time, so they do not compete for the two cores:

- ``GET /Users?filter=userName eq "..."`` from 4 concurrent keep-alive clients for a fixed time: requests/s
  (target: ours >= scim2-server's);
- a page of 100 users (``startIndex`` spread over the whole directory, ``count=100``), one client: latency
  (targets: ours <= 10 ms median and >= 5x faster than scim2-server's);
- seeding 100,000 users / 1,000 groups into a fresh data dir: start of ``python -m sandbox serve`` to its
  ``ready`` line (target <= 120 s), next to the start-up time of an empty sandbox;
- peak resident memory of each server process.

The load generator is Python (httpx) on the same two cores as the server, so absolute rates are a floor.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench import _harness as h

CLIENTS = 4


def _client(base_url: str, token: str) -> httpx.Client:
    assert base_url.startswith("http://127.0.0.1"), base_url
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}",
                                                    "Accept": "application/scim+json"},
                        timeout=30.0, limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))


def filter_throughput(base_url: str, token: str, names: list[str], seconds: float) -> dict[str, Any]:
    """4 threads, each with its own keep-alive connection, asking ``userName eq`` for known names until the
    time is up. Answers other than 200 with exactly one match count as errors."""
    done = [0] * CLIENTS
    errors = [0] * CLIENTS
    start_gate = threading.Barrier(CLIENTS + 1)
    stop = threading.Event()

    def worker(index: int) -> None:
        rng = random.Random(index)
        with _client(base_url, token) as client:
            start_gate.wait()
            while not stop.is_set():
                name = names[rng.randrange(len(names))]
                resp = client.get("/Users", params={"filter": f'userName eq "{name}"'})
                if resp.status_code == 200 and resp.json().get("totalResults") == 1:
                    done[index] += 1
                else:
                    errors[index] += 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    start_gate.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    elapsed = time.perf_counter() - started
    return {"rps": sum(done) / elapsed, "requests": sum(done), "errors": sum(errors), "seconds": elapsed}


def page_latency(base_url: str, token: str, total: int, samples: int, seed: int) -> list[float]:
    """Seconds per ``GET /Users?startIndex=k&count=100`` at offsets spread over the directory."""
    rng = random.Random(seed)
    out = []
    with _client(base_url, token) as client:
        client.get("/Users", params={"startIndex": 1, "count": 100}).raise_for_status()  # warm the connection
        for _ in range(samples):
            start_index = rng.randrange(1, max(total - 100, 1) + 1)
            t0 = time.perf_counter()
            resp = client.get("/Users", params={"startIndex": start_index, "count": 100})
            body = resp.json()
            out.append(time.perf_counter() - t0)
            if resp.status_code != 200 or len(body.get("Resources") or []) != min(100, total - start_index + 1):
                raise RuntimeError(f"page at {start_index} answered {resp.status_code} with "
                                   f"{len(body.get('Resources') or [])} users")
    return out


def sample_user_names(base_url: str, token: str, total: int, pages: int) -> list[str]:
    rng = random.Random(7)
    names: list[str] = []
    with _client(base_url, token) as client:
        for _ in range(pages):
            resp = client.get("/Users", params={"startIndex": rng.randrange(1, max(total - 100, 1) + 1),
                                                "count": 100})
            resp.raise_for_status()
            names += [u["userName"] for u in resp.json().get("Resources", [])]
    if not names:
        raise RuntimeError("no users to query")
    return sorted(set(names))


def measure_server(base_url: str, token: str, total: int, *, runs: int, seconds: float,
                   samples: int) -> dict[str, Any]:
    names = sample_user_names(base_url, token, total, pages=10)
    filter_throughput(base_url, token, names, min(1.0, seconds))  # warm-up
    throughput = [filter_throughput(base_url, token, names, seconds) for _ in range(runs)]
    latencies: list[float] = []
    for run in range(runs):
        latencies += page_latency(base_url, token, total, samples, seed=run)
    return {"throughput": throughput, "latencies": latencies}


def run(quick: bool) -> dict[str, Any]:
    users, groups = (2_000, 20) if quick else (100_000, 1_000)
    peer_users = 500 if quick else 20_000
    runs, seconds, samples = (2, 0.5, 10) if quick else (3, 5.0, 60)
    params = {"sandbox_users": users, "sandbox_groups": groups, "scim2_server_users": peer_users,
              "clients": CLIENTS, "runs": runs, "seconds_per_throughput_run": seconds,
              "page_samples_per_run": samples, "page_size": 100}
    metrics: list[dict[str, Any]] = []
    notes: list[str] = []

    # 1. stock scim2-server
    peer = h.start_scim2_server(peer_users)
    try:
        with h.RssSampler(peer.child.pid) as peer_mem:
            theirs = measure_server(peer.base_url, peer.token, peer_users, runs=runs, seconds=seconds,
                                    samples=samples)
    finally:
        peer.stop()

    # 2. our sandbox: fresh data dir, timed seeding, then the same measurements
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        empty = h.start_sandbox(Path(tmp) / "empty", "--seed-users", "0", "--seed-groups", "0")
        empty.stop()
        sandbox = h.start_sandbox(Path(tmp) / "seeded", "--seed-users", str(users), "--seed-groups",
                                  str(groups), "--seed", "1")
        try:
            with h.RssSampler(sandbox.child.pid) as our_mem:
                token = sandbox.token()
                with httpx.Client(timeout=30) as c:
                    total = c.get(f"{sandbox.scim_url}/Users", params={"count": 1},
                                  headers={"Authorization": f"Bearer {token}"}).json()["totalResults"]
                ours = measure_server(sandbox.scim_url, token, total, runs=runs, seconds=seconds,
                                      samples=samples)
        finally:
            sandbox.stop()

    our_rps = [r["rps"] for r in ours["throughput"]]
    their_rps = [r["rps"] for r in theirs["throughput"]]
    our_ms = [s * 1000 for s in ours["latencies"]]
    their_ms = [s * 1000 for s in theirs["latencies"]]
    med = h.summarise
    metrics.append(h.metric(f"filter userName eq, {CLIENTS} clients: sandbox ({users:,} users)", our_rps,
                            "req/s", target=">= scim2-server", met=med(our_rps)["median"] >= med(their_rps)["median"],
                            errors=sum(r["errors"] for r in ours["throughput"])))
    metrics.append(h.metric(f"filter userName eq, {CLIENTS} clients: scim2-server ({peer_users:,} users)",
                            their_rps, "req/s", errors=sum(r["errors"] for r in theirs["throughput"])))
    speedup = med(their_ms)["median"] / med(our_ms)["median"]
    metrics.append(h.metric(f"page of 100: sandbox ({users:,} users)", our_ms, "ms", target="<= 10 ms",
                            met=h.check(med(our_ms)["median"], at_most=10.0)))
    metrics.append(h.metric(f"page of 100: scim2-server ({peer_users:,} users)", their_ms, "ms"))
    metrics.append(h.metric("page of 100: speed-up vs scim2-server", speedup, "x", target=">= 5x",
                            met=speedup >= 5.0))
    metrics.append(h.metric(f"seed {users:,} users / {groups:,} groups (start to ready)", sandbox.ready_seconds,
                            "s", target="<= 120 s" if not quick else None,
                            met=h.check(sandbox.ready_seconds, at_most=120.0) if not quick else None))
    metrics.append(h.metric("empty sandbox start to ready", empty.ready_seconds, "s"))
    metrics.append(h.metric("scim2-server load (in-process create) to ready", peer.load_seconds, "s"))
    metrics.append(h.metric("peak RSS: sandbox server", our_mem.peak_mb, "MB"))
    metrics.append(h.metric("peak RSS: scim2-server", peer_mem.peak_mb, "MB"))
    notes.append("servers measured one after the other; load generator (httpx threads) shares the 2 cores")
    return {"parameters": params, "metrics": metrics, "notes": notes}
