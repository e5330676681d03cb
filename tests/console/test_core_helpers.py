"""Helpers shared by the console-core tests (not a test module)."""

from __future__ import annotations

import http.server
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from console.connections import Connection, ConnectionRepo, EntraSettings
from console.context import Context, open_context
from console.credentials import memory_credentials


class Clock:
    """A settable UTC clock for the core (``ctx.clock``)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def new_key(box: Any, permissions: list[str] | None = None) -> tuple[str, str]:
    """A fresh API key on the sandbox: (name, key)."""
    name = "core-" + secrets.token_hex(4)
    body: dict[str, Any] = {"name": name}
    if permissions is not None:
        body["permissions"] = permissions
    out = box.admin("POST", "/sandbox-admin/keys", json=body)
    return name, out["apiKey"]


def make_ctx(tmp_path: Any, clock: Clock | None = None) -> Context:
    return open_context(tmp_path / "console-data", credentials=memory_credentials(), clock=clock)


def add_conn(ctx: Context, box: Any, name: str = "Prod", *, entra: bool = False, **kw: Any) -> Connection:
    settings = None
    if entra:
        settings = EntraSettings(tenant_id=box.tenant_id, client_id=box.client_id,
                                 service_principal_id=box.service_principal_id, job_id=box.job_id,
                                 graph_base_url=box.graph_url, login_base_url=box.login_url)
    return ConnectionRepo(ctx.store).add(Connection(name=name, api_url=box.api_url, entra=settings, **kw))


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _reply(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.received.append({"path": self.path, "method": self.command,  # type: ignore[attr-defined]
                                     "body": body.decode("utf-8", "replace")})
        status, ctype, payload = self.server.answer(self)  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = _reply


@contextmanager
def local_http(answer: Any) -> Iterator[Any]:
    """A plain HTTP server on 127.0.0.1 that is *not* a SCIM server (an HTML page, a notification receiver,
    a token endpoint without accessToken). ``answer(handler) -> (status, content_type, bytes)``."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.received = []  # type: ignore[attr-defined]
    server.answer = answer  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def html_page(_handler: Any) -> tuple[int, str, bytes]:
    return 200, "text/html", b"<!doctype html><html><body>Sign in to continue</body></html>"


def json_answer(obj: Any, status: int = 200) -> Any:
    return lambda _h: (status, "application/json", json.dumps(obj).encode())


def assert_absent(secrets_: list[str], text: str, where: str) -> None:
    """Fail (without printing the secret) when any secret occurs in ``text``."""
    import hashlib

    import pytest

    for s in secrets_:
        if s and s in text:
            pytest.fail(f"a secret (…{hashlib.sha256(s.encode()).hexdigest()[-4:]}) appears in {where}", pytrace=False)
