"""Shared machinery for the benchmarks: timing, memory, processes, machine facts, JSON results.

A benchmark module is ``bench/<name>_bench.py`` exposing ``run(quick: bool) -> dict``. The dict it returns is
free-form, but the harness understands (and prints as a table) this shape::

    {
      "parameters": {...},                      # sizes, latencies, concurrency: what was measured
      "metrics": [metric(...), ...],            # one row per figure, see ``metric``
      "notes": ["..."],                         # anything a reader of the figure must know
    }

``python -m bench`` adds the machine facts, versions, timestamps and status, prints the table and writes
``bench/results/<name>-<timestamp>.json``. Everything talks to 127.0.0.1 only; every process a benchmark starts
is stopped in a ``finally``.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"

PACKAGES = (
    "streamlit", "httpx", "pandas", "pyarrow", "starlette", "uvicorn", "orjson", "scim2-models",
    "scim2-server", "scim2-client", "psutil", "playwright",
)


# ---------------------------------------------------------------------------------------------------------
# Figures


def summarise(samples: Sequence[float]) -> dict[str, Any]:
    """median / min / max / runs of a list of samples (in the samples' unit)."""
    values = [float(v) for v in samples]
    if not values:
        return {"median": None, "min": None, "max": None, "runs": []}
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": [round(v, 6) for v in values],
    }


def metric(name: str, samples: Sequence[float] | float | None, unit: str, *, target: str | None = None,
           met: bool | None = None, **extra: Any) -> dict[str, Any]:
    """One row of a benchmark's result. ``samples`` may be a single value. ``target`` is the goal in words
    (e.g. "<= 10 ms"); ``met`` says whether the median reached it (None when there is no target)."""
    if samples is None:
        values: list[float] = []
    elif isinstance(samples, int | float):
        values = [float(samples)]
    else:
        values = [float(v) for v in samples]
    row = {"name": name, "unit": unit, **summarise(values), "target": target, "met": met}
    row.update(extra)
    return row


def check(value: float | None, *, at_most: float | None = None, at_least: float | None = None) -> bool | None:
    """Whether ``value`` meets a bound (None when it could not be measured)."""
    if value is None:
        return None
    if at_most is not None and value > at_most:
        return False
    return not (at_least is not None and value < at_least)


def repeat(fn: Callable[[], Any], *, runs: int, warmup: int = 0) -> list[float]:
    """Wall-clock seconds of ``runs`` calls of ``fn`` after ``warmup`` unmeasured calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        gc.collect()
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


@contextlib.contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    """``with stopwatch() as t: ...`` then ``t["seconds"]``."""
    box: dict[str, float] = {}
    started = time.perf_counter()
    try:
        yield box
    finally:
        box["seconds"] = time.perf_counter() - started


# ---------------------------------------------------------------------------------------------------------
# Memory


@contextlib.contextmanager
def python_peak() -> Iterator[dict[str, float]]:
    """Peak of Python allocations (tracemalloc) inside the block, in MB: ``box["peak_mb"]``. Slows the code
    inside down, so measure time and memory in separate runs."""
    box: dict[str, float] = {}
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        yield box
    finally:
        _, peak = tracemalloc.get_traced_memory()
        box["peak_mb"] = peak / 2**20
        if not was_tracing:
            tracemalloc.stop()


class RssSampler:
    """Samples the resident memory of a process (and its children) every ``interval`` seconds from a thread;
    ``peak_mb`` is the highest sum seen. Use for subprocesses (servers, streamlit) and for this process."""

    def __init__(self, pid: int | None = None, *, interval: float = 0.05, children: bool = True) -> None:
        import psutil

        self._proc = psutil.Process(pid or os.getpid())
        self._interval = interval
        self._children = children
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.peak_bytes = 0
        self.baseline_bytes = self._rss()

    def _rss(self) -> int:
        import psutil

        total = 0
        procs = [self._proc]
        if self._children:
            with contextlib.suppress(psutil.Error):
                procs += self._proc.children(recursive=True)
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total

    def sample(self) -> None:
        self.peak_bytes = max(self.peak_bytes, self._rss())

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def __enter__(self) -> RssSampler:
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        self.sample()

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 2**20

    @property
    def baseline_mb(self) -> float:
        return self.baseline_bytes / 2**20


# ---------------------------------------------------------------------------------------------------------
# Processes and ports (127.0.0.1 only)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Child:
    """A process a benchmark started; ``lines`` holds everything it printed (stdout and stderr merged)."""

    popen: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def value(self, name: str) -> str | None:
        """The value of a ``name: value`` line the process printed (the sandbox's start-up contract)."""
        prefix = name.lower() + ":"
        for line in list(self.lines):
            if line.lower().startswith(prefix):
                return line.split(":", 1)[1].strip()
        return None

    def wait_for_line(self, predicate: Callable[[str], bool], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            lines = list(self.lines)
            for line in lines[seen:]:
                if predicate(line):
                    return line
            seen = len(lines)
            if self.popen.poll() is not None and (self._reader is None or not self._reader.is_alive()):
                tail = "\n".join(self.lines[-15:])
                raise RuntimeError(f"process exited with {self.popen.returncode} before it was ready:\n{tail}")
            time.sleep(0.02)
        raise TimeoutError(f"process not ready after {timeout:.0f} s; last output:\n" + "\n".join(self.lines[-15:]))

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        if self._reader:
            self._reader.join(timeout=2)


def start(argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> Child:
    """Start ``argv`` in its own process group (so stop() takes its children too), collecting its output.
    Secrets go through ``env``, never ``argv``."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    popen = subprocess.Popen(
        list(argv), cwd=str(cwd or ROOT), env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, text=True, bufsize=1, start_new_session=True,
    )
    child = Child(popen)

    def read() -> None:
        assert popen.stdout is not None
        for line in popen.stdout:
            child.lines.append(line.rstrip("\n"))

    child._reader = threading.Thread(target=read, name=f"reader-{popen.pid}", daemon=True)
    child._reader.start()
    return child


def wait_http(url: str, *, timeout: float = 60.0, expect: int = 200) -> float:
    """Poll ``url`` (127.0.0.1) until it answers ``expect``; returns the seconds waited."""
    import httpx

    assert url.startswith(("http://127.0.0.1", "https://127.0.0.1")), url
    started = time.monotonic()
    deadline = started + timeout
    while True:
        try:
            if httpx.get(url, timeout=2.0).status_code == expect:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer {expect} within {timeout:.0f} s")
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------------------
# Machine facts and results


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=5, check=False)
        if out.returncode == 0:
            return out.stdout.strip()
    return None


def machine_info() -> dict[str, Any]:
    """What the figures were measured on. Load average is recorded because the machine may be shared."""
    import psutil

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_total_mb": round(psutil.virtual_memory().total / 2**20),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "packages": versions,
        "git_commit": _git_commit(),
    }


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def write_result(name: str, document: dict[str, Any], results_dir: Path | None = None) -> Path:
    directory = results_dir or RESULTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}-{document.get('timestamp') or timestamp()}.json"
    path.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.4f}"
    return str(value)


def format_table(name: str, result: dict[str, Any]) -> str:
    """A plain-text table of a result's metrics (or its top-level values when it has none)."""
    rows: list[list[str]] = []
    metrics = result.get("metrics")
    if isinstance(metrics, list) and metrics:
        header = ["metric", "median", "min", "max", "unit", "target", "met"]
        for row in metrics:
            met = row.get("met")
            rows.append([str(row.get("name")), _fmt(row.get("median")), _fmt(row.get("min")),
                         _fmt(row.get("max")), str(row.get("unit", "")), str(row.get("target") or ""),
                         "" if met is None else ("yes" if met else "NO")])
    else:
        header = ["key", "value"]
        for key, value in result.items():
            if key not in ("parameters", "notes"):
                rows.append([str(key), _fmt(value) if not isinstance(value, dict | list) else json.dumps(value)[:70]])
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i]) for i in range(len(header))]
    lines = [f"== {name}"]
    params = result.get("parameters")
    if params:
        lines.append("   parameters: " + ", ".join(f"{k}={v}" for k, v in params.items()))
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)
    for note in result.get("notes") or []:
        lines.append(f"   note: {note}")
    return "\n".join(lines)


class Skip(Exception):
    """Raised by a benchmark whose prerequisites are missing (e.g. a module not built yet); the harness
    records the reason instead of a figure."""


# ---------------------------------------------------------------------------------------------------------
# The sandbox (python -m sandbox serve) and the stock scim2-server peer


@dataclass
class Sandbox:
    """A running ``python -m sandbox serve`` started by a benchmark."""

    child: Child
    api_url: str
    scim_url: str
    api_key: str
    admin_token: str
    ready_seconds: float

    def token(self, long_lived: bool = True) -> str:
        import httpx

        resp = httpx.post(f"{self.api_url}/auth-api/1.0/auth/token",
                          json={"apiKey": self.api_key, "isLongLivedToken": long_lived}, timeout=30)
        resp.raise_for_status()
        return str(resp.json()["accessToken"])

    def admin(self, method: str, path: str, json_body: Any = None) -> Any:
        import httpx

        resp = httpx.request(method, f"{self.api_url}{path}", json=json_body, timeout=600,
                             headers={"Authorization": f"Bearer {self.admin_token}"})
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def stop(self) -> None:
        self.child.stop()


def start_sandbox(data_dir: Path, *options: str, timeout: float = 600.0, env: dict[str, str] | None = None) -> Sandbox:
    """Start the sandbox on a free 127.0.0.1 port with ``options`` (e.g. ``--seed-users 1000``); secrets come
    through the environment. ``ready_seconds`` is the time from process start to its ``ready`` line."""
    import secrets

    try:
        import sandbox  # noqa: F401 - only to know whether it exists yet
    except ImportError as exc:
        raise Skip(f"the sandbox package is not importable yet ({exc})") from None
    api_key = "bench-" + secrets.token_hex(16)
    admin_token = secrets.token_urlsafe(24)
    secret_env = {"SCIM_SANDBOX_API_KEY": api_key, "SCIM_SANDBOX_ADMIN_TOKEN": admin_token, **(env or {})}
    started = time.perf_counter()
    child = start([sys.executable, "-m", "sandbox", "serve", "--host", "127.0.0.1", "--port", "0",
                   "--data-dir", str(data_dir), *options], env=secret_env)
    try:
        child.wait_for_line(lambda line: line.strip().lower() == "ready", timeout)
        ready = time.perf_counter() - started
        api_url, scim_url = child.value("API base URL"), child.value("SCIM base URL")
        if not api_url or not scim_url:
            raise RuntimeError("the sandbox did not print its API/SCIM base URLs:\n" + "\n".join(child.lines[-10:]))
    except BaseException:
        child.stop()
        raise
    return Sandbox(child, api_url.rstrip("/"), scim_url.rstrip("/"), api_key, admin_token, ready)


@dataclass
class Peer:
    child: Child
    base_url: str
    token: str
    load_seconds: float

    def stop(self) -> None:
        self.child.stop()


def start_scim2_server(users: int, groups: int = 0, timeout: float = 600.0) -> Peer:
    """Stock python-scim scim2-server, in memory, holding ``users`` users (see bench/_scim2_peer.py)."""
    import secrets

    token = secrets.token_urlsafe(16)
    port = free_port()
    started = time.perf_counter()
    child = start([sys.executable, "-m", "bench._scim2_peer", "--port", str(port), "--users", str(users),
                   "--groups", str(groups)], env={"SCIM2_PEER_TOKEN": token})
    try:
        line = child.wait_for_line(lambda s: s.startswith("ready "), timeout)
    except BaseException:
        child.stop()
        raise
    return Peer(child, line.split(" ", 1)[1].strip(), token, time.perf_counter() - started)
