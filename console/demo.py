"""The embedded demo: a sandbox 6clicks (with its Entra simulator and Graph emulator) run as a child process.

UI-free. ``ensure_demo(ctx)`` is idempotent and thread-safe: the first call starts
``python -m sandbox serve --demo`` on a free 127.0.0.1 port with its data under ``<data dir>/demo-sandbox``,
waits for ``ready``, stores the demo's API key and Graph client secret in the context's credential store
(in memory for the demo), generates a token, configures the "Demo" connection and takes a first snapshot;
later calls return the same running handle. The child is stopped when this process exits (``atexit``), and
the sandbox's own ``--parent-pid`` watchdog stops it if this process dies without running ``atexit``.

Secrets (API key, Graph client secret, sandbox admin token) are generated here and passed to the child only
through its environment: never argv, files or logs.

For benchmarks: ``prepare_demo(data_dir, users=100_000)`` seeds a data directory once (sandbox data plus a
first snapshot) and stops; ``SCIM_CONSOLE_HOME=<data_dir> streamlit run app.py`` then reuses it.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from console.connections import Connection, ConnectionRepo, EntraSettings
from console.context import Context, open_context
from console.credentials import memory_credentials
from console.directory.store import latest_snapshot
from console.directory.take import take_snapshot
from console.entra.sync import sync
from console.errors import ConsoleError
from console.i18n import _, fmt_number, language, pgettext, use_language
from console.tokens.service import TokenService

log = logging.getLogger(__name__)

DEMO_CONNECTION = "Demo"
DEMO_DIR = "demo-sandbox"
ENV_USERS = "SCIM_CONSOLE_DEMO_USERS"
ENV_DISABLE = "SCIM_CONSOLE_NO_DEMO"
DEFAULT_USERS = 2000
READY_TIMEOUT = float(os.environ.get("SCIM_CONSOLE_DEMO_TIMEOUT", "300"))
REPO_ROOT = Path(__file__).resolve().parent.parent

Progress = Callable[[str, float], None]  # (message, fraction 0..1), in the language ensure_demo was called in


class DemoError(ConsoleError):
    """The embedded demo could not be started."""


@dataclass
class DemoSandbox:
    """A running demo sandbox. Holds the admin token in memory only (hidden from ``repr``)."""

    process: subprocess.Popen
    data_dir: Path
    info: dict[str, str]
    admin_token: str = field(repr=False)
    users: int = DEFAULT_USERS

    @property
    def api_url(self) -> str:
        return self.info["API base URL"]

    @property
    def scim_url(self) -> str:
        return self.info.get("SCIM base URL", self.api_url.rstrip("/") + "/scim")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)


_lock = threading.Lock()
_running: dict[Path, DemoSandbox] = {}
_atexit_registered = False


def demo_users() -> int:
    raw = os.environ.get(ENV_USERS, "").strip()
    if not raw:
        return DEFAULT_USERS
    try:
        value = int(raw)
    except ValueError:
        raise DemoError(_("{variable}={value!r} is not a whole number.").format(variable=ENV_USERS, value=raw),
                        _("Set {variable} to the number of demo users (e.g. 2000) or unset it.").format(
                            variable=ENV_USERS)) from None
    if value < 1:
        raise DemoError(_("{variable} must be at least 1 (got {value}).").format(variable=ENV_USERS, value=value),
                        _("Unset {variable} for {n} users.").format(variable=ENV_USERS,
                                                                     n=fmt_number(DEFAULT_USERS)))
    return value


def demo_disabled() -> bool:
    return os.environ.get(ENV_DISABLE, "").strip().lower() in {"1", "true", "yes"}


def demo_wanted(ctx: Context) -> bool:
    """True when the demo should run: no connection other than the demo one is configured."""

    if demo_disabled():
        return False
    return all(c.is_demo for c in ConnectionRepo(ctx.store).list())


def running_demo(ctx: Context) -> DemoSandbox | None:
    handle = _running.get(Path(ctx.data_dir).resolve())
    return handle if handle is not None and handle.alive() else None


def ensure_demo(ctx: Context, *, users: int | None = None, progress: Progress | None = None,
                snapshot: bool = True) -> DemoSandbox:
    """Start (or reuse) the demo sandbox for ``ctx``'s data dir and make the "Demo" connection usable.
    ``progress`` hears the steps in the language of the caller, also from the threads that fetch the directory."""
    report = progress or (lambda _m, _f: None)
    spoken = language()
    key = Path(ctx.data_dir).resolve()
    with _lock:
        handle = _running.get(key)
        if handle is not None and handle.alive():
            return handle
        if handle is not None:  # it died: start again on the same data
            log.warning("the demo sandbox exited (code %s); starting it again", handle.process.returncode)
            _running.pop(key, None)
        count = users if users is not None else demo_users()
        first = not (key / DEMO_DIR / "sandbox.db").exists()
        label = (_("Starting the demo 6clicks sandbox and simulating two weeks of Entra provisioning for {n} users "
                   "(first start only)").format(n=fmt_number(count)) if first else
                 _("Starting the demo 6clicks sandbox"))
        report(_("{step}…").format(step=label), 0.05)

        def waited(seconds: str, fraction: float) -> None:
            with use_language(spoken):
                report(_("{step}… {seconds} s").format(step=label, seconds=seconds), fraction)

        handle, api_key, graph_secret = _start_sandbox(key / DEMO_DIR, count, waited)
        try:
            report(_("Storing the demo API key and generating a token…"), 0.5)
            _configure_connection(ctx, handle, api_key, graph_secret)
            if snapshot:
                _first_snapshot(ctx, report)
        except BaseException:
            handle.stop()
            raise
        _running[key] = handle
        _register_atexit()
        report(_("Demo ready."), 1.0)
        return handle


def stop_demo(ctx: Context | None = None) -> None:
    """Stop the demo for one context's data dir, or every demo this process started."""
    with _lock:
        keys = [Path(ctx.data_dir).resolve()] if ctx is not None else list(_running)
        for key in keys:
            handle = _running.pop(key, None)
            if handle is not None:
                handle.stop()


def prepare_demo(data_dir: Path, *, users: int, progress: Progress | None = None) -> None:
    """Seed ``data_dir`` as a demo console home (sandbox data + a first snapshot), then stop the sandbox.

    A later ``SCIM_CONSOLE_HOME=<data_dir> streamlit run app.py`` reuses the seeded sandbox data and the
    stored snapshot, so it opens without fetching the directory again (the bench uses this)."""

    ctx = open_context(Path(data_dir), credentials=memory_credentials())
    try:
        ensure_demo(ctx, users=users, progress=progress)
    finally:
        stop_demo(ctx)


# --- internals -------------------------------------------------------------------------------------------


def _start_sandbox(data_dir: Path, users: int, report: Progress | None = None) -> tuple[DemoSandbox, str, str]:
    """The running sandbox, with the API key and Graph client secret it was given (for ``_configure_connection``
    only: they are kept nowhere else)."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    api_key = secrets.token_urlsafe(32)
    graph_secret = secrets.token_urlsafe(32)
    admin_token = secrets.token_urlsafe(32)
    env = dict(os.environ)
    env.update(SCIM_SANDBOX_API_KEY=api_key, SCIM_SANDBOX_GRAPH_CLIENT_SECRET=graph_secret,
               SCIM_SANDBOX_ADMIN_TOKEN=admin_token, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    argv = [sys.executable, "-m", "sandbox", "serve", "--demo", "--host", "127.0.0.1", "--port", "0",
            "--data-dir", str(data_dir), "--parent-pid", str(os.getpid()), "--seed-users", str(users)]
    stderr_path = data_dir / "sandbox-stderr.log"
    with open(stderr_path, "ab") as stderr:
        try:
            process = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,  # noqa: S603
                                       stdout=subprocess.PIPE, stderr=stderr, text=True, bufsize=1)
        except OSError as exc:
            raise DemoError(_("The demo sandbox could not be started ({error}).").format(error=exc),
                            _("Check that Python can run `python -m sandbox serve`, or add a connection on the "
                              "Connection & token page.")) from None
    info = _read_until_ready(process, stderr_path, report)
    handle = DemoSandbox(process=process, data_dir=data_dir, info=info, admin_token=admin_token, users=users)
    return handle, api_key, graph_secret


def _read_until_ready(process: subprocess.Popen, stderr_path: Path,
                      report: Progress | None = None) -> dict[str, str]:
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:  # keep draining after `ready` so the child never blocks on a full pipe
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name="demo-sandbox-stdout", daemon=True).start()
    info: dict[str, str] = {}
    started = time.monotonic()
    deadline = started + READY_TIMEOUT
    while True:
        if report is not None:  # the seconds waited so far (the caller words them)
            waited = time.monotonic() - started
            report(f"{waited:.0f}", 0.05 + 0.4 * min(waited / 60.0, 1.0))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            process.kill()
            raise DemoError(_("The demo sandbox did not become ready within {seconds} s.").format(
                                seconds=f"{READY_TIMEOUT:.0f}"),
                            _("See {path} for its log; a smaller {variable} starts faster.").format(
                                path=stderr_path, variable=ENV_USERS))
        try:
            line = lines.get(timeout=min(remaining, 1.0))
        except queue.Empty:
            continue
        if line is None:
            code = process.wait()
            raise DemoError(_("The demo sandbox exited before it was ready (exit code {code}).").format(code=code),
                            _("See {path} for its log.").format(path=stderr_path))
        text = line.strip()
        if text == "ready":
            break
        name, sep, value = text.partition(":")
        if sep:
            info[name.strip()] = value.strip()
    if "API base URL" not in info:
        process.kill()
        raise DemoError(_("The demo sandbox did not report its API base URL."),
                        _("See {path} for its log.").format(path=stderr_path))
    info.pop("client secret", None)  # we set it; never keep a printed secret around
    return info


def _configure_connection(ctx: Context, handle: DemoSandbox, api_key: str, graph_secret: str) -> None:
    info = handle.info
    entra = None
    if info.get("Graph base URL"):
        entra = EntraSettings(tenant_id=info.get("tenant id", ""), client_id=info.get("client id", ""),
                              service_principal_id=info.get("service principal id", ""),
                              job_id=info.get("job id", ""), graph_base_url=info["Graph base URL"],
                              login_base_url=info.get("Login base URL", ""))
    repo = ConnectionRepo(ctx.store)
    existing = _get(repo, DEMO_CONNECTION)
    ctx.credentials.keep_in_memory(DEMO_CONNECTION)  # demo secrets never reach the OS keyring
    if existing is None:
        repo.add(Connection(name=DEMO_CONNECTION, api_url=handle.api_url, auth_mode="6clicks-api-key",
                            entra=entra, is_demo=True))
    else:
        existing.api_url = handle.api_url
        existing.entra = entra
        existing.is_demo = True
        existing.scim_url = None  # derived from the new API URL
        repo.update(existing)
    svc = TokenService(ctx)
    svc.set_api_key(DEMO_CONNECTION, api_key, verify=False)  # we made the key; generate() below proves it
    if entra is not None:
        ctx.credentials.set(DEMO_CONNECTION, "graph_client_secret", graph_secret)
    svc.generate(DEMO_CONNECTION)


def _first_snapshot(ctx: Context, report: Progress) -> None:
    conn = ConnectionRepo(ctx.store).get(DEMO_CONNECTION)
    spoken = language()
    if latest_snapshot(ctx, conn) is None:
        tracker = SnapshotProgress()

        def on_progress(phase: str, done: int, total: int | None) -> None:  # called from worker threads
            tracker.update(phase, done, total)
            with use_language(spoken):
                report(_("Fetching the demo directory… {progress}").format(progress=tracker.text()),
                       0.55 + 0.35 * tracker.fraction())

        report(_("Fetching the demo directory…"), 0.55)
        take_snapshot(ctx, conn, progress=on_progress)
    report(_("Reading the simulated Entra provisioning history…"), 0.92)
    _sync_entra_logs(ctx, conn)


class SnapshotProgress:
    """Combines ``take_snapshot``'s ``progress(phase, done, total)`` calls (users and groups, from worker
    threads) into one fraction and one line of text, in the language of the thread that made it. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._phases: dict[str, tuple[int, int | None]] = {}
        self._language = language()

    def update(self, phase: str, done: int, total: int | None) -> None:
        with self._lock:
            self._phases[phase] = (int(done), None if total is None else int(total))

    def fraction(self) -> float:
        with self._lock:
            phases = dict(self._phases)
        if not phases or any(t is None for _d, t in phases.values()):
            return 0.0
        total = sum(t or 0 for _d, t in phases.values())
        return min(1.0, sum(d for d, _t in phases.values()) / total) if total else 1.0

    def text(self) -> str:
        with self._lock:
            phases = dict(self._phases)
        with use_language(self._language):
            parts = [(_("{phase}: {done} of {total}") if t is not None else _("{phase}: {done}")).format(
                         phase=_phase(phase), done=fmt_number(d), total=fmt_number(t) if t is not None else "")
                     for phase, (d, t) in sorted(phases.items())]
            return pgettext("list separator", ", ").join(parts)


def _phase(phase: str) -> str:
    """A phase of ``take_snapshot`` ("users", "groups") in words."""
    if phase == "users":
        return pgettext("objects listed", "users")
    if phase == "groups":
        return pgettext("objects listed", "groups")
    return phase


def _sync_entra_logs(ctx: Context, conn: Connection) -> None:
    """Pull the simulator's provisioning logs and the job's status (``console.entra.sync``)."""
    if conn.entra is None:
        return
    try:
        result = sync(ctx, conn)
    except ConsoleError as exc:
        log.warning("demo: the provisioning logs could not be read yet: %s", exc)
        return
    if result.job_error:
        log.warning("demo: the provisioning job could not be read yet: %s", result.job_error)


def _get(repo: ConnectionRepo, name: str) -> Connection | None:
    try:
        return repo.get(name)
    except ConsoleError:
        return None


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(stop_demo)
        _atexit_registered = True
