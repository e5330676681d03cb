"""The Graph client under scim_client's RetryPolicy, against a small purpose-built Graph peer (real HTTP on
127.0.0.1) and the fault proxy in front of it: Retry-After as an HTTP date (measured against the answer's Date
header), a POST that was sent is never sent again by itself, a GET is, TLS is told by exception type."""

from __future__ import annotations

import email.utils
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console.graph import GraphClient, GraphError
from tests.reliability.faultproxy import FaultProxy
from tests.scim_client.peers import Served

SECRET = "graph-client-secret-value-0123456789"
JOB = "/v1.0/servicePrincipals/sp-1/synchronization/jobs/scim.job1"


def http_date(when: datetime) -> str:
    return email.utils.format_datetime(when, usegmt=True)


class GraphPeer:
    """Token endpoint + one provisioning job whose restart answers 202 with a small body (so that the fault
    proxy can cut the answer off after the restart happened)."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()

    def app(self) -> Starlette:
        async def token(request: Request) -> Response:
            form = await request.form()
            self.count("token")
            if form.get("client_secret") != SECRET:
                return _json({"error": "invalid_client", "error_description": "bad secret"}, 401)
            return _json({"access_token": "graph-access-token-abcdef0123456789", "expires_in": 3600})

        async def job(request: Request) -> Response:
            self.count("GET job")
            return _json({"id": "scim.job1", "status": {"code": "Active"}})

        async def restart(request: Request) -> Response:
            self.count("POST restart")
            return _json({"status": "restarting", "detail": "the job will run its initial cycle"}, 202)

        return Starlette(routes=[
            Route("/tenant-1/oauth2/v2.0/token", token, methods=["POST"]),
            Route(JOB, job),
            Route(JOB + "/restart", restart, methods=["POST"]),
        ])

    def count(self, key: str) -> None:
        with self.lock:
            self.hits[key] += 1


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


@pytest.fixture()
def served() -> Iterator[tuple[GraphPeer, Served]]:
    peer = GraphPeer()
    running = Served(peer.app())
    try:
        yield peer, running
    finally:
        running.stop()


@pytest.fixture()
def graph(served: tuple[GraphPeer, Served]) -> Iterator[tuple[GraphPeer, FaultProxy]]:
    peer, running = served
    with FaultProxy(running.url) as proxy:
        yield peer, proxy


def client(proxy: FaultProxy, sleeps: list[float], **kw: Any) -> GraphClient:
    return GraphClient(tenant_id="tenant-1", client_id="app-1", client_secret=SECRET,
                       graph_base_url=f"{proxy.url}/v1.0", login_base_url=proxy.url,
                       service_principal_id="sp-1", job_id="scim.job1", sleep=sleeps.append, **kw)


def test_http_date_retry_after_is_honoured_against_the_answers_date(graph: tuple[GraphPeer, FaultProxy]) -> None:
    """Throttled twice with an HTTP-date Retry-After 2 s after the answer's own Date, on a server clock an hour
    behind ours."""
    peer, proxy = graph
    server_now = datetime.now(UTC) - timedelta(hours=1)
    proxy.add("status", path=r"/jobs/scim\.job1$", method="GET", status=429, times=2,
              body='{"error":{"code":"TooManyRequests","message":"slow down"}}', content_type="application/json",
              headers={"Retry-After": http_date(server_now + timedelta(seconds=2)), "Date": http_date(server_now)})
    sleeps: list[float] = []
    with client(proxy, sleeps) as g:
        assert g.get_job()["id"] == "scim.job1"
    assert proxy.hits("status") == 2 and peer.hits["GET job"] == 1
    # 2 s by the server's clock each time (plus at most 10 %); by ours the date is an hour past: no wait at all
    assert len(sleeps) == 2 and all(1.9 <= s <= 2.3 for s in sleeps), sleeps


def test_a_post_sent_then_cut_off_is_not_sent_again(graph: tuple[GraphPeer, FaultProxy]) -> None:
    peer, proxy = graph
    proxy.add("reset", path=r"/restart$", method="POST", fraction=0.3)
    sleeps: list[float] = []
    with client(proxy, sleeps) as g, pytest.raises(GraphError) as err:
        g.restart()
    assert peer.hits["POST restart"] == 1  # the job was restarted once, and only once
    assert err.value.code == "Unreachable" and "may have reached" in str(err.value)
    assert "after 1 attempt" in str(err.value) and sleeps == []
    assert SECRET not in str(err.value) and "graph-access-token" not in str(err.value)


def test_a_post_answered_503_is_not_sent_again_but_a_get_is(graph: tuple[GraphPeer, FaultProxy]) -> None:
    peer, proxy = graph
    proxy.add("status", path=r"/restart$", method="POST", status=503, body='{"error":{"code":"Busy"}}',
              content_type="application/json")
    proxy.add("status", path=r"/jobs/scim\.job1$", method="GET", status=503, times=2, body="{}",
              content_type="application/json")
    sleeps: list[float] = []
    with client(proxy, sleeps) as g:
        with pytest.raises(GraphError) as err:
            g.restart()
        assert err.value.status == 503 and proxy.hits("status") == 1
        assert g.get_job()["id"] == "scim.job1"  # the GET rides out two 503s
    assert proxy.hits("status") == 3 and len(sleeps) == 2
    assert peer.hits["POST restart"] == 0


def test_sign_in_is_repeated_after_a_dropped_connection(graph: tuple[GraphPeer, FaultProxy]) -> None:
    """The token request is a POST, but a safe one: it is sent again after the connection broke."""
    peer, proxy = graph
    proxy.add("reset", path=r"/oauth2/v2\.0/token$", method="POST", times=1, fraction=0.2)
    sleeps: list[float] = []
    with client(proxy, sleeps) as g:
        assert g.get_job()["id"] == "scim.job1"
    assert peer.hits["token"] == 2 and len(sleeps) == 1


def test_tls_failure_is_told_by_type(served: tuple[GraphPeer, Served]) -> None:
    """https:// to a plain-HTTP port: the handshake fails with an ssl error, GraphError code TLS, no retry."""
    _, running = served
    sleeps: list[float] = []
    https = running.url.replace("http://", "https://")
    with GraphClient(tenant_id="tenant-1", client_id="app-1", client_secret=SECRET, graph_base_url=f"{https}/v1.0",
                     login_base_url=https, job_id="scim.job1", service_principal_id="sp-1",
                     sleep=sleeps.append) as g, pytest.raises(GraphError) as err:
        g.get_job()
    assert err.value.code == "TLS" and sleeps == []  # not retried: a certificate does not fix itself
