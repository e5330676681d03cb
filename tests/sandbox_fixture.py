"""Start and stop real sandbox servers for tests (``python -m sandbox serve --port 0``).

Secrets (API key, admin token, Graph client secret) go to the child through its environment, never argv. The
child's stdout/stderr are captured (never echoed); its ``name: value`` lines are parsed until ``ready``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = 60.0


class SandboxStartError(RuntimeError):
    pass


class AdminError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"sandbox admin call failed ({status}): {message}")
        self.status = status


class RunningSandbox:
    """A sandbox child process. Attributes follow docs/DESIGN.md "Sandbox (process contract)"."""

    def __init__(self, proc: subprocess.Popen[bytes], info: dict[str, str], data_dir: Path, api_key: str,
                 admin_token: str, client_secret: str, owns_dir: bool, stderr_path: Path) -> None:
        self.proc = proc
        self.info = info
        self.data_dir = data_dir
        self.api_key = api_key
        self.admin_token = admin_token
        self.client_secret = client_secret
        self._owns_dir = owns_dir
        self._stderr_path = stderr_path
        self.api_url = info["API base URL"]
        self.scim_url = info["SCIM base URL"]
        self.graph_url = info.get("Graph base URL")
        self.login_url = info.get("Login base URL")
        self.tenant_id = info.get("tenant id")
        self.client_id = info.get("client id")
        self.service_principal_id = info.get("service principal id")
        self.job_id = info.get("job id")
        self.port = int(self.api_url.rsplit(":", 1)[1])
        self._tokens: dict[bool, str] = {}

    def __repr__(self) -> str:  # never shows a secret
        return f"RunningSandbox(api_url={self.api_url!r}, data_dir={str(self.data_dir)!r}, pid={self.proc.pid})"

    # ------------------------------------------------------------------ calls
    def token(self, long_lived: bool = True, *, fresh: bool = False) -> str:
        """An access token for the sandbox's default API key (cached per kind unless ``fresh``)."""
        if fresh or long_lived not in self._tokens:
            resp = httpx.post(f"{self.api_url}/auth-api/1.0/auth/token",
                              json={"apiKey": self.api_key, "isLongLivedToken": long_lived}, timeout=30)
            if resp.status_code != 200:
                raise AdminError(resp.status_code, "token exchange failed")
            self._tokens[long_lived] = resp.json()["accessToken"]
        return self._tokens[long_lived]

    def admin(self, method: str, path: str, json: Any = None) -> Any:
        """Call an admin route (``/sandbox-admin/...``); parsed JSON, None for 204; AdminError on >= 400."""
        resp = httpx.request(method, f"{self.api_url}{path}", json=json, timeout=60,
                             headers={"Authorization": f"Bearer {self.admin_token}"})
        if resp.status_code >= 400:
            try:
                message = resp.json().get("error") or resp.text
            except ValueError:
                message = resp.text
            raise AdminError(resp.status_code, str(message)[:500])
        if resp.status_code == 204 or not resp.content:
            return None
        return resp.json()

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        return self.admin("PUT", "/sandbox-admin/faults", json=faults)

    def clear_faults(self) -> dict[str, Any]:
        return self.admin("PUT", "/sandbox-admin/faults", json={})

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        """An httpx client on the SCIM base URL with a bearer token (the default key's unless given)."""
        headers = {"Authorization": f"Bearer {token or self.token()}"}
        return httpx.Client(base_url=self.scim_url, headers=headers, timeout=kwargs.pop("timeout", 30), **kwargs)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr_text(self) -> str:
        """The child's stderr so far (warnings, tracebacks); for assertions, never echoed by the fixture."""
        try:
            return self._stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    # ------------------------------------------------------------------ lifecycle
    def stop(self, *, remove_data: bool | None = None) -> int | None:
        """Terminate (SIGTERM, then SIGKILL after 10 s) and reap the child. Idempotent."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        code = self.proc.returncode
        if remove_data if remove_data is not None else False:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        return code

    def cleanup(self) -> None:
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            self._stderr_path.unlink()


def start_sandbox(
    *,
    data_dir: Path | str | None = None,
    seed_users: int = 0,
    seed_groups: int | None = None,
    seed: int = 0,
    faults: dict[str, Any] | None = None,
    extra_args: Sequence[str] = (),
    demo: bool = False,
    max_page_size: int | None = None,
    api_key: str | None = None,
    admin_token: str | None = None,
    client_secret: str | None = None,
    env: dict[str, str] | None = None,
    parent_pid: int | None = None,
    timeout: float = START_TIMEOUT,
) -> RunningSandbox:
    """Start ``python -m sandbox serve --port 0`` and wait for ``ready``.

    ``faults`` uses the admin route's names (latency_ms, rate_429, rate_500, rate_drop, retry_after, seed,
    paths) and is applied by flags so it holds from the first request.
    """
    owns_dir = data_dir is None
    ddir = Path(tempfile.mkdtemp(prefix="sandbox-test-")) if data_dir is None else Path(data_dir)
    api_key = api_key or "6ck_test_" + secrets.token_hex(16)
    admin_token = admin_token or secrets.token_urlsafe(24)
    client_secret = client_secret or secrets.token_urlsafe(24)
    args = [sys.executable, "-m", "sandbox", "serve", "--host", "127.0.0.1", "--port", "0",
            "--data-dir", str(ddir), "--seed", str(seed)]
    if seed_users or seed_groups:
        args += ["--seed-users", str(seed_users)]
        if seed_groups is not None:
            args += ["--seed-groups", str(seed_groups)]
    if max_page_size:
        args += ["--max-page-size", str(max_page_size)]
    if demo:
        args.append("--demo")
    if parent_pid:
        args += ["--parent-pid", str(parent_pid)]
    flag = {"latency_ms": "--latency-ms", "rate_429": "--fault-429", "rate_500": "--fault-500",
            "rate_drop": "--fault-drop", "seed": "--fault-seed", "paths": "--fault-paths",
            "retry_after": "--retry-after"}
    for name, value in (faults or {}).items():
        if name not in flag:
            raise ValueError(f"unknown fault option {name!r}; known: {', '.join(flag)}")
        if value is not None:
            args += [flag[name], str(value)]
    args += list(extra_args)
    child_env = {**os.environ, **(env or {}), "SCIM_SANDBOX_API_KEY": api_key,
                 "SCIM_SANDBOX_ADMIN_TOKEN": admin_token, "SCIM_SANDBOX_GRAPH_CLIENT_SECRET": client_secret,
                 "PYTHONUNBUFFERED": "1"}
    stderr_file = tempfile.NamedTemporaryFile(prefix="sandbox-stderr-", suffix=".log", delete=False)
    stderr_path = Path(stderr_file.name)
    proc = subprocess.Popen(args, cwd=str(REPO), env=child_env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=stderr_file, start_new_session=True)
    stderr_file.close()
    info: dict[str, str] = {}
    ready = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            if not ready.is_set():
                if line == "ready":
                    ready.set()
                    continue
                name, sep, value = line.partition(": ")
                if sep:
                    info[name.strip()] = value.strip()
        ready.set()  # EOF: the child exited

    threading.Thread(target=reader, name="sandbox-stdout", daemon=True).start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.05):
        if time.monotonic() > deadline:
            break
    if proc.poll() is not None or "API base URL" not in info:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout=10)
        tail = _scrub(stderr_path.read_text(errors="replace")[-2000:], api_key, admin_token, client_secret)
        stderr_path.unlink(missing_ok=True)
        if owns_dir:
            shutil.rmtree(ddir, ignore_errors=True)
        raise SandboxStartError(f"sandbox did not become ready (exit {proc.returncode}); stderr tail:\n{tail}")
    return RunningSandbox(proc, info, ddir, api_key, admin_token, client_secret, owns_dir, stderr_path)


def _scrub(text: str, *secrets_: str) -> str:
    for s in secrets_:
        text = text.replace(s, "[secret]")
    return text


@contextlib.contextmanager
def running_sandbox(**options: Any) -> Iterator[RunningSandbox]:
    box = start_sandbox(**options)
    try:
        yield box
    finally:
        box.cleanup()


class SandboxFactory:
    """``sandbox_factory(**options)``: a fresh sandbox per call (fresh temp data dir unless ``data_dir``)."""

    def __init__(self) -> None:
        self.started: list[RunningSandbox] = []

    def __call__(self, **options: Any) -> RunningSandbox:
        box = start_sandbox(**options)
        self.started.append(box)
        return box

    def close(self) -> None:
        for box in reversed(self.started):
            box.cleanup()
