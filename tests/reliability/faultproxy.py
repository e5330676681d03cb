"""A misbehaving HTTP peer for the reliability tests: a reverse proxy on 127.0.0.1 in front of a real sandbox
that breaks chosen requests in ways the sandbox's own fault injection cannot (connection reset half-way
through a body, truncated or slow-dripped bodies, HTML error pages, wrong content types, 10 MB answers, a TLS
certificate nobody trusts, a server that never answers).

It speaks raw HTTP/1.1 over asyncio streams so that it controls every byte and the moment a socket closes.
Requests that match no rule are forwarded unchanged to ``upstream`` (the sandbox), so the console sees real
data around the failure.

    with FaultProxy(sandbox.api_url) as proxy:
        proxy.add("reset", path=r"/scim/Users", after=1)       # 2nd and later user pages die half-way
        ... point the console at proxy.url ...
        proxy.hits("reset")                                    # how often the fault fired
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import re
import socket
import ssl
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

KINDS = {"status", "reset", "close", "hang", "drip", "truncate", "body", "huge", "retype"}


@dataclass
class Rule:
    kind: str
    path: re.Pattern[str]
    method: str | None
    after: int  # let this many matching requests through first
    times: int | None  # then fire this many times (None: for ever)
    params: dict[str, Any]
    seen: int = 0
    fired: int = 0

    def applies(self, method: str, target: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        if not self.path.search(target):
            return False
        self.seen += 1
        if self.seen <= self.after:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        self.fired += 1
        return True


@dataclass
class Seen:
    method: str
    target: str
    fault: str | None
    headers: dict[str, str] = field(default_factory=dict)


class FaultProxy:
    def __init__(self, upstream: str | None = None, *, tls: ssl.SSLContext | None = None) -> None:
        if upstream is not None:
            assert upstream.startswith("http://127.0.0.1"), upstream
        self.upstream = upstream.rstrip("/") if upstream else None
        self._tls = tls
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self.seen: list[Seen] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    # -- configuration ------------------------------------------------------------------------------------
    def add(self, kind: str, *, path: str = r".*", method: str | None = None, after: int = 0,
            times: int | None = None, **params: Any) -> Rule:
        """Break requests whose ``METHOD`` and path+query match. Kinds and their params:
        ``status`` (status, body, content_type, headers), ``reset`` (fraction of the real body sent before
        an RST), ``close`` (no answer, connection closed), ``hang`` (no answer, connection kept open),
        ``drip`` (bytes, delay: the real answer sent a few bytes at a time), ``retype`` (content_type: the
        real answer under another Content-Type), ``truncate`` (fraction: full
        Content-Length announced, part sent, then a clean close), ``body`` (status, body, content_type:
        any answer), ``huge`` (size, content_type, html: a 200 with that many bytes of filler, JSON-looking unless html)."""
        assert kind in KINDS, kind
        rule = Rule(kind, re.compile(path), method, after, times, params)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def hits(self, kind: str | None = None) -> int:
        return sum(1 for s in self.seen if s.fault and (kind is None or s.fault == kind))

    def requests(self, path: str = r".*") -> list[Seen]:
        pattern = re.compile(path)
        return [s for s in self.seen if pattern.search(s.target)]

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    # -- life cycle ---------------------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)

            async def boot() -> None:
                self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self._tls,
                                                          limit=2**20)
                self.port = self._server.sockets[0].getsockname()[1]

            loop.run_until_complete(boot())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fault-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fault proxy did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return

        async def shutdown() -> None:
            if self._server:
                self._server.close()
            for writer in list(self._writers):
                with contextlib.suppress(Exception):
                    writer.transport.abort()
            for task in [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
                task.cancel()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread:
            self._thread.join(timeout=10)
        self._loop = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving ------------------------------------------------------------------------------------------
    def _match(self, method: str, target: str) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.applies(method, target):
                    return rule
        return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            async with httpx.AsyncClient(timeout=120.0) as upstream:
                while True:
                    request = await _read_request(reader)
                    if request is None:
                        return
                    method, target, headers, body = request
                    rule = self._match(method, target)
                    self.seen.append(Seen(method, target, rule.kind if rule else None,
                                          {k: v for k, v in headers.items() if k != "authorization"}))
                    keep_open = await self._answer(rule, method, target, headers, body, writer, upstream)
                    if not keep_open:
                        return
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, asyncio.CancelledError):
            return
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _forward(self, upstream: httpx.AsyncClient, method: str, target: str, headers: dict[str, str],
                       body: bytes) -> tuple[int, dict[str, str], bytes]:
        if self.upstream is None:
            return 502, {"content-type": "text/plain"}, b"no upstream"
        send = {k: v for k, v in headers.items() if k not in ("host", "content-length", "connection",
                                                               "accept-encoding", "transfer-encoding")}
        resp = await upstream.request(method, self.upstream + target, headers=send, content=body)
        out = {k.lower(): v for k, v in resp.headers.items()
               if k.lower() not in ("content-length", "content-encoding", "transfer-encoding", "connection")}
        return resp.status_code, out, resp.content

    async def _answer(self, rule: Rule | None, method: str, target: str, headers: dict[str, str], body: bytes,
                      writer: asyncio.StreamWriter, upstream: httpx.AsyncClient) -> bool:
        kind = rule.kind if rule else None
        p = rule.params if rule else {}
        if kind == "close":
            writer.close()
            return False
        if kind == "hang":
            await asyncio.sleep(3600)
            return False
        if kind in ("status", "body"):
            status = int(p.get("status", 200))
            content = p.get("body", "")
            content = content.encode() if isinstance(content, str) else bytes(content)
            extra = {k.lower(): str(v) for k, v in (p.get("headers") or {}).items()}
            extra.setdefault("content-type", p.get("content_type", "application/scim+json"))
            await _write(writer, status, extra, content)
            return True
        if kind == "huge":
            size = int(p.get("size", 10 * 2**20))
            if p.get("html"):
                head, tail = b"<!DOCTYPE html><html><body><pre>", b"</pre></body></html>"
            else:
                head = b'{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"padding":"'
                tail = b'"}'
            content = head + b"x" * max(size - len(head) - len(tail), 0) + tail
            await _write(writer, 200, {"content-type": p.get("content_type", "application/scim+json")}, content)
            return True

        status, out_headers, content = await self._forward(upstream, method, target, headers, body)
        if kind is None:
            await _write(writer, status, out_headers, content)
            return True
        if kind == "retype":
            out_headers["content-type"] = str(p.get("content_type", "text/html"))
            await _write(writer, status, out_headers, content)
            return True
        if kind == "reset":
            cut = int(len(content) * float(p.get("fraction", 0.5)))
            await _write(writer, status, out_headers, content[:cut], content_length=len(content))
            sock = writer.get_extra_info("socket")
            if sock is not None:  # SO_LINGER 0: the close sends RST, i.e. "connection reset by peer"
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        if kind == "truncate":
            cut = int(len(content) * float(p.get("fraction", 0.5)))
            await _write(writer, status, out_headers, content[:cut], content_length=len(content))
            writer.close()
            return False
        if kind == "drip":
            step, delay = int(p.get("bytes", 1)), float(p.get("delay", 0.5))
            await _write(writer, status, out_headers, b"", content_length=len(content))
            for i in range(0, len(content), step):
                writer.write(content[i:i + step])
                await writer.drain()
                await asyncio.sleep(delay)
            return True
        raise AssertionError(kind)


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    body = b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readline()).strip() or b"0", 16)
            if size == 0:
                await reader.readline()
                break
            body += await reader.readexactly(size)
            await reader.readline()
    elif "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    return method, target, headers, body


_REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
            403: "Forbidden", 404: "Not Found", 409: "Conflict", 413: "Payload Too Large",
            429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Unavailable", 504: "Gateway Timeout"}


async def _write(writer: asyncio.StreamWriter, status: int, headers: dict[str, str], content: bytes,
                 content_length: int | None = None) -> None:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    for k, v in headers.items():
        lines.append(f"{k}: {v}")
    lines.append(f"content-length: {len(content) if content_length is None else content_length}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + content)
    await writer.drain()


# ---------------------------------------------------------------------------------------------------------
# TLS: a self-signed certificate for 127.0.0.1 that no client trusts


def self_signed_context(directory: Path) -> ssl.SSLContext:
    """A server-side TLS context with a fresh self-signed certificate (made with ``cryptography``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context
