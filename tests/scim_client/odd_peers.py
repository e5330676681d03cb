"""A SCIM peer that lies about ``totalResults`` (real HTTP on 127.0.0.1), for tests and benchmarks.

``LyingDirectory(mode, announced=...)`` serves ``/scim/Users`` and ``/scim/Groups`` announcing ``announced``
results (10^8 by default) and then, by ``mode``:

- ``one-per-page``: one new user per request (the user at ``startIndex``), whatever ``count`` asks, forever;
- ``empty-after``: ``real`` users honestly (``count`` honoured up to ``max_page``), then empty pages while it
  keeps announcing ``announced``;
- ``same-page``: the same first users at every ``startIndex`` (duplicates, forever);
- ``holes``: ``real`` users, then an empty page at ``startIndex = real + 1``, but more users further on
  (pages beyond the end that are not empty);
- ``growing``: ``count`` honoured, a new user at every index, and ``totalResults`` grows by ``grow`` at every
  request (it keeps announcing more);
- ``honest``: ``real`` users and ``totalResults = real`` (a control).

``stats()`` (also ``GET /stats``) says how many list requests came and how many were in flight at most.
Run it as a process for the benchmarks: ``python -m tests.scim_client.odd_peers --mode one-per-page
--announced 100000000`` prints ``ready <SCIM base URL>`` and serves until it is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .peers import json_response, make_user

LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
MODES = ("one-per-page", "empty-after", "same-page", "holes", "growing", "honest")


def make_group(i: int, members: int = 3) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": f"g{i:06d}",
        "displayName": f"Group {i}",
        "members": [{"value": f"u{(i + k) % 1000:06d}"} for k in range(members)],
    }


class LyingDirectory:
    def __init__(self, mode: str, *, announced: int = 100_000_000, real: int = 50, max_page: int = 100,
                 grow: int = 1000, delay: float = 0.0) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.mode = mode
        self.announced = announced
        self.real = real
        self.max_page = max_page
        self.grow = grow
        self.delay = delay
        self.lock = threading.Lock()
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.starts: list[int] = []

    def stats(self) -> dict[str, int]:
        with self.lock:
            return {"requests": self.requests, "max_in_flight": self.max_in_flight}

    def page(self, start: int, count: int, make: Any) -> dict[str, Any]:
        with self.lock:
            self.requests += 1
            n = self.requests
            if len(self.starts) < 100_000:
                self.starts.append(start)
        start = max(1, start)
        size = max(0, min(count, self.max_page))
        total = self.announced
        if self.mode == "one-per-page":
            items = [make(start - 1)]
        elif self.mode == "empty-after":
            items = [make(i) for i in range(start - 1, min(start - 1 + size, self.real))]
        elif self.mode == "same-page":
            items = [make(i) for i in range(min(size, self.real))]
        elif self.mode == "holes":
            if start == self.real + 1:
                items = []
            else:
                items = [make(i) for i in range(start - 1, start - 1 + size)]
        elif self.mode == "growing":
            total = self.announced + n * self.grow
            items = [make(i) for i in range(start - 1, start - 1 + size)]
        else:  # honest
            total = self.real
            items = [make(i) for i in range(start - 1, min(start - 1 + size, self.real))]
        return {"schemas": [LIST], "totalResults": total, "startIndex": start, "itemsPerPage": len(items),
                "Resources": items}

    def app(self) -> Starlette:
        async def listing(request: Request, make: Any) -> Response:
            try:
                start = int(request.query_params.get("startIndex", "1"))
                count = int(request.query_params.get("count", "100"))
            except ValueError:
                return json_response({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                                      "status": "400", "detail": "bad paging"}, 400)
            with self.lock:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                if self.delay:
                    await asyncio.sleep(self.delay)
                return json_response(self.page(start, count, make))
            finally:
                with self.lock:
                    self.in_flight -= 1

        async def users(request: Request) -> Response:
            return await listing(request, make_user)

        async def groups(request: Request) -> Response:
            return await listing(request, make_group)

        async def stats(request: Request) -> Response:
            return json_response(self.stats(), content_type="application/json")

        async def spc(request: Request) -> Response:
            return json_response({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "404"},
                                 404)

        return Starlette(routes=[Route("/scim/Users", users), Route("/scim/Groups", groups),
                                 Route("/scim/ServiceProviderConfig", spc), Route("/stats", stats)])


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    from .peers import free_port

    parser = argparse.ArgumentParser(prog="python -m tests.scim_client.odd_peers")
    parser.add_argument("--mode", choices=MODES, default="one-per-page")
    parser.add_argument("--announced", type=int, default=100_000_000)
    parser.add_argument("--real", type=int, default=50)
    parser.add_argument("--max-page", type=int, default=100)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    peer = LyingDirectory(args.mode, announced=args.announced, real=args.real, max_page=args.max_page,
                          delay=args.delay_ms / 1000)
    port = free_port()
    config = uvicorn.Config(peer.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
                return
            await asyncio.sleep(0.01)
        print(f"ready http://127.0.0.1:{port}/scim", flush=True)
        await task

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
