"""The outermost ASGI layer (``Edge``): the 1 MiB body cap on every route, fault injection, and the request
log (never the Authorization header). Errors it answers itself are in the style of the route: SCIM, Graph or
the Microsoft identity platform."""

from __future__ import annotations

import asyncio
import sys
import time
import traceback
from typing import TYPE_CHECKING, Any

import orjson
from starlette.responses import Response

from .httpio import MAX_BODY
from .requestlog import scrub_query
from .scim import ERROR_URN, SCIM_JSON, ScimHTTPError

if TYPE_CHECKING:
    from .server import SandboxState

Scope = dict[str, Any]


class Edge:
    """Outermost ASGI layer: fault injection and the request log (never the Authorization header)."""

    def __init__(self, app: Any, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        info: dict[str, Any] = {"key": None, "detail": None, "fault": None}
        scope["sandbox.log"] = info
        status_box = [0]
        path = scope.get("path", "")

        done = [False]

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                done[0] = True
            await send(message)

        decision = self.state.faults.decide(path)
        try:
            body = await _read_capped(scope, receive)
            if body is None:
                info["detail"] = f"request body over {MAX_BODY} bytes"
                status, doc, media = error_for(path, 413, f"The request body is larger than {MAX_BODY} bytes "
                                                           "(1 MiB); nothing was read or changed.", "tooLarge")
                await Response(doc, status, {"Connection": "close"}, media)(scope, receive, send_wrapper)
                return
            receive = _replay(body, receive)
            if decision is not None:
                if decision.latency_s:
                    await asyncio.sleep(decision.latency_s)
                if decision.kind == "drop":
                    info["fault"] = "drop"
                    _drop_connection(send)
                    return
                if decision.kind in ("429", "500"):
                    info["fault"] = decision.kind
                    err = (ScimHTTPError(429, "Too many requests (sandbox fault injection); retry later.",
                                         headers={"Retry-After": str(decision.retry_after)})
                           if decision.kind == "429"
                           else ScimHTTPError(500, "Internal error (sandbox fault injection)."))
                    info["detail"] = err.detail
                    await Response(err.body(), err.status, err.headers, SCIM_JSON)(scope, receive, send_wrapper)
                    return
            try:
                await self.app(scope, receive, send_wrapper)
            except Exception as exc:  # a defect: still an error body (never a bare 500), traceback on stderr
                if done[0]:
                    return  # answered already (the app's 500 handler); its traceback is on stderr
                traceback.print_exc(file=sys.stderr)
                if status_box[0]:
                    raise  # the answer has started: nothing sensible can be sent any more
                info["detail"] = f"internal error ({type(exc).__name__})"
                status, doc, media = error_for(path, 500, f"Internal error ({type(exc).__name__}); the request "
                                                           "changed nothing. See the server's stderr.", None)
                await Response(doc, status, None, media)(scope, receive, send_wrapper)
        finally:
            self._log(scope, status_box[0], started, info)

    def _log(self, scope: Scope, status: int, started: float, info: dict[str, Any]) -> None:
        try:
            qs = scrub_query(scope.get("query_string", b"").decode("latin-1"))
            self.state.request_log.write(
                method=scope.get("method"), path=scope.get("path"), query=qs or None, status=status or None,
                ms=round((time.perf_counter() - started) * 1000, 2), key=info.get("key"),
                detail=info.get("detail"), fault=info.get("fault"))
        except Exception:  # noqa: S110 - a log failure must never fail the request
            pass


async def _read_capped(scope: Scope, receive: Any) -> bytes | None:
    """The whole request body, or None when it exceeds MAX_BODY (announced or sent): every route is capped."""
    for name, value in scope.get("headers") or []:
        if name == b"content-length":
            try:
                if int(value) > MAX_BODY:
                    return None
            except ValueError:
                pass
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # disconnected: the handler sees an empty body and the client is gone anyway
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Any:
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later calls: wait for the disconnect, as the server would

    return replay


def error_for(path: str, status: int, detail: str, scim_type: str | None) -> tuple[int, bytes, str]:
    """An error body in the style of the route: Graph, Microsoft identity platform, or SCIM (admin and the
    token endpoint also get their ``error`` field)."""
    if path.startswith("/graph/"):
        code = {413: "RequestEntityTooLarge", 500: "InternalServerError"}.get(status, "BadRequest")
        return status, orjson.dumps({"error": {"code": code, "message": detail}}), "application/json"
    if path.startswith("/login/"):
        return status, orjson.dumps({"error": "invalid_request", "error_description": detail}), "application/json"
    doc: dict[str, Any] = {"schemas": [ERROR_URN], "status": str(status)}
    if scim_type:
        doc["scimType"] = scim_type
    doc["detail"] = detail
    if not path.startswith("/scim"):
        doc["error"] = detail
        return status, orjson.dumps(doc), "application/json"
    return status, orjson.dumps(doc), SCIM_JSON


def _drop_connection(send: Any) -> None:
    """Close the client's socket without any response (uvicorn's per-request cycle owns the transport)."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("cannot drop the connection: unknown server transport")
    transport.abort()
    if hasattr(cycle, "disconnected"):
        cycle.disconnected = True

