"""Graph's paging against a purpose-built odd server on 127.0.0.1 (real HTTP): a listing whose next-page link
leads back to a page already served would never end, and fill memory with repeats. Both the directory listings
(``iter_pages``) and the provisioning logs (``iter_provisioning_logs``) stop at the second visit. An answer larger
than the console reads is refused whether or not it declares its length."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from console.graph import GraphClient, GraphError


class _Looping(BaseHTTPRequestHandler):
    served = 0

    def log_message(self, *args: Any) -> None:
        return

    def _json(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # the token endpoint
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._json({"access_token": "odd-server-token", "expires_in": 3600, "token_type": "Bearer"})

    def do_GET(self) -> None:  # every page is empty and links to one same next page
        type(self).served += 1
        if "/big" in self.path:  # two megabytes of one JSON string, with or without Content-Length
            data = b'{"value": ["' + b"x" * 2 * 2**20 + b'"]}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if "declared" in self.path:
                self.send_header("Content-Length", str(len(data)))
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)
            return
        host = self.headers["Host"]
        path = "auditLogs/provisioning" if "auditLogs" in self.path else "users/delta"
        self._json({"value": [{"id": f"u{type(self).served}"}] if "users" in path else [],
                    "@odata.nextLink": f"http://{host}/v1.0/{path}?$skiptoken=round-and-round"})


@pytest.fixture
def looping() -> Iterator[GraphClient]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Looping)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    _Looping.served = 0
    client = GraphClient(tenant_id="t", client_id="c", client_secret="odd-secret", graph_base_url=f"{base}/v1.0",
                         login_base_url=base, max_retries=0)
    try:
        yield client
    finally:
        client.close()
        server.shutdown()
        server.server_close()


def test_a_next_page_link_served_twice_ends_the_listing(looping: GraphClient) -> None:
    pages = []
    with pytest.raises(GraphError) as caught:
        for page in looping.iter_pages("users/delta", what="read the tenant's users", permission="User.Read.All"):
            pages.append(page)
    assert caught.value.code == "PagingLoop" and "same next-page link twice" in caught.value.message
    assert len(pages) == 2 and _Looping.served == 2  # the first page, the linked one, then it stopped


def test_provisioning_logs_stop_at_a_loop_or_at_their_page_limit(looping: GraphClient) -> None:
    assert next(iter(looping.iter_provisioning_logs(top=1, max_pages=1)), None) is None
    assert _Looping.served == 1
    with pytest.raises(GraphError) as caught:
        list(looping.iter_provisioning_logs(top=1))
    assert caught.value.code == "PagingLoop" and _Looping.served == 3


@pytest.mark.parametrize("path", ["big/declared", "big/streamed"])
def test_an_answer_larger_than_the_console_reads_is_refused(looping: GraphClient, path: str) -> None:
    looping.max_response_bytes = 2**20
    with pytest.raises(GraphError) as caught:
        list(looping.iter_pages(path, what="read the tenant's users", permission="User.Read.All"))
    assert caught.value.code == "TooLarge" and "more than 1 MB" in caught.value.message
