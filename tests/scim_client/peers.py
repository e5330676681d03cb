"""Small purpose-built SCIM peers for what neither the sandbox nor scim2-server does.

Each peer is a tiny Starlette app served by uvicorn on 127.0.0.1 (a free port) in a thread: real HTTP, real
sockets. ``Directory`` is an in-memory user list with knobs for real-world quirks (short pages, missing
itemsPerPage / Resources, totalResults changing mid-listing, ignoring count, no totalResults).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SCIM = "application/scim+json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """A Starlette app running under uvicorn in a daemon thread."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("peer did not start")
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def json_response(
    data: Any, status: int = 200, content_type: str = SCIM, headers: dict | None = None
) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=content_type, headers=headers)


def make_user(i: int) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": f"u{i:06d}",
        "userName": f"user{i}@example.com",
        "name": {"givenName": f"Given{i}", "familyName": f"Family{i}"},
        "emails": [{"value": f"user{i}@example.com", "type": "work", "primary": True}],
        "active": True,
        "externalId": str(uuid.UUID(int=i)),
        "meta": {
            "resourceType": "User",
            "created": "2026-01-01T00:00:00Z",
            "lastModified": "2026-01-02T00:00:00Z",
        },
    }


class Directory:
    """A quirky SCIM Users endpoint.

    max_page: the most items returned per page (whatever count asks); 0 = honour count.
    items_per_page: include itemsPerPage; resources_when_empty: "omit" | "empty" | "null".
    totals: no totalResults when False. ignore_count: always return max_page items. announce: the totalResults
    announced instead of the real count.
    on_request(n, directory): called before answering the n-th list request (1-based), to mutate users.
    """

    def __init__(self, n: int = 0, **knobs: Any) -> None:
        self.users: list[dict[str, Any]] = [make_user(i) for i in range(n)]
        self.max_page: int = knobs.get("max_page", 0)
        self.items_per_page: bool = knobs.get("items_per_page", True)
        self.resources_when_empty: str = knobs.get("resources_when_empty", "empty")
        self.totals: bool = knobs.get("totals", True)
        self.ignore_count: bool = knobs.get("ignore_count", False)
        self.announce: int | None = knobs.get("announce")  # a totalResults that is not the real count
        self.on_request: Callable[[int, Directory], None] | None = knobs.get("on_request")
        self.spc: dict[str, Any] | None = knobs.get("spc")
        self.status_as_string: bool = knobs.get("status_as_string", False)
        self.content_type: str = knobs.get("content_type", SCIM)
        self.lock = threading.Lock()
        self.list_requests: list[tuple[int, int]] = []

    def list_page(self, request: Request) -> Response:
        with self.lock:
            n = len(self.list_requests) + 1
            start = int(request.query_params.get("startIndex", "1"))
            count = int(request.query_params.get("count", "100"))
            self.list_requests.append((start, count))
            if self.on_request:
                self.on_request(n, self)
            size = count
            if self.ignore_count and self.max_page:
                size = self.max_page
            elif self.max_page:
                size = min(count, self.max_page)
            page = self.users[start - 1 : start - 1 + size] if start >= 1 else []
            body: dict[str, Any] = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]}
            if self.totals:
                body["totalResults"] = len(self.users) if self.announce is None else self.announce
            body["startIndex"] = start
            if self.items_per_page:
                body["itemsPerPage"] = len(page)
            if page or self.resources_when_empty == "empty":
                body["Resources"] = page
            elif self.resources_when_empty == "null":
                body["Resources"] = None
            return json_response(body, content_type=self.content_type)

    def app(self, extra: list[Route] | None = None) -> Starlette:
        async def users(request: Request) -> Response:
            return await asyncio.to_thread(self.list_page, request)

        async def spc(request: Request) -> Response:
            if self.spc is None:
                return json_response(
                    {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "404"}, 404
                )
            return json_response(self.spc)

        routes = [Route("/scim/Users", users), Route("/scim/ServiceProviderConfig", spc)]
        return Starlette(routes=(extra or []) + routes)
