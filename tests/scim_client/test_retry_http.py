"""The retry policy over real HTTP: a sandbox behind the fault proxy (tests/reliability/faultproxy.py).

A 429 whose Retry-After is an HTTP date is waited out (measured against the answer's Date header); a create
whose connection was reset after it was sent is looked up, not blindly sent again; every error says how many
HTTP attempts were made; ``count_attempts`` sees retries that ended in success; ``probe()`` tells a working
token from a rejected one, a missing permission, a URL that is not SCIM, a host that does not answer and a TLS
problem.
"""

from __future__ import annotations

import email.utils
import logging
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scim_client import (
    AuthenticationError,
    ConnectionFailed,
    RateLimited,
    RetryPolicy,
    ScimClient,
    ServerError,
    count_attempts,
)
from tests.reliability.faultproxy import FaultProxy, self_signed_context
from tests.sandbox_fixture import SandboxFactory

FAST = {"backoff_base": 0.01, "page_size": 50}


@pytest.fixture(scope="module")
def box() -> Iterator[Any]:
    """A sandbox of its own (these tests create users), 60 users."""
    factory = SandboxFactory()
    try:
        yield factory(seed_users=60, seed_groups=3, seed=11)
    finally:
        factory.close()


@pytest.fixture()
def proxy(box: Any) -> Iterator[FaultProxy]:
    with FaultProxy(box.api_url) as p:
        yield p


def client(proxy: FaultProxy, box: Any, **kw: Any) -> ScimClient:
    for key, value in FAST.items():
        kw.setdefault(key, value)
    return ScimClient(f"{proxy.url}/scim", token=kw.pop("token", None) or box.token(), **kw)


def waits_logged(caplog: pytest.LogCaptureFixture) -> list[float]:
    found = []
    for record in caplog.records:
        match = re.search(r"retrying in ([0-9.]+) s", record.getMessage())
        if match:
            found.append(float(match.group(1)))
    return found


def http_date(when: datetime) -> str:
    return email.utils.format_datetime(when, usegmt=True)


# ---------------------------------------------------------------------------------------------------------
# Retry-After as an HTTP date


def test_429_with_an_http_date_retry_after_is_waited_out(proxy: FaultProxy, box: Any,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """The server's clock is an hour behind ours; its Retry-After says "2 s from my Date". Waiting by our own
    clock would be no wait at all (hammering); by the Date header it is 2 s."""
    caplog.set_level(logging.INFO, logger="scim_client")
    server_now = datetime.now(UTC) - timedelta(hours=1)
    proxy.add("status", path=r"^/scim/Users", status=429, times=1, body="",
              headers={"Retry-After": http_date(server_now + timedelta(seconds=2)), "Date": http_date(server_now)})
    with client(proxy, box) as c:
        users = c.list_users()
    assert len(users) == 60
    assert proxy.hits("status") == 1
    assert len(proxy.requests(r"^/scim/Users")) > 1  # the throttled page was asked again
    waits = waits_logged(caplog)
    assert len(waits) == 1 and 1.9 <= waits[0] <= 2.5, waits  # as asked, plus at most 10 % spread


def test_429_with_a_date_beyond_the_budget_is_raised_at_once_with_the_wait(proxy: FaultProxy, box: Any) -> None:
    when = datetime.now(UTC) + timedelta(minutes=10)
    proxy.add("status", path=r"^/scim/Users", status=429, body="", headers={"Retry-After": http_date(when)})
    with client(proxy, box, retry_budget_seconds=30) as c, pytest.raises(RateLimited) as err:
        c.get_user("whoever")
    assert err.value.retry_after is not None and 500 <= err.value.retry_after <= 601
    assert err.value.attempts == 1 and proxy.hits("status") == 1


# ---------------------------------------------------------------------------------------------------------
# Creates: sent, then the connection broke


def test_create_reset_after_it_was_sent_is_looked_up_not_resent(proxy: FaultProxy, box: Any) -> None:
    """The sandbox created the user; the proxy reset the connection half-way through the answer. The client
    cannot know whether the create arrived: it looks the user up and finds it, and sends no second POST."""
    proxy.add("reset", path=r"^/scim/Users", method="POST", times=1, fraction=0.3)
    with client(proxy, box) as c:
        user = c.create_user("reset-after-send@example.com", external_id="reset-1")
        assert user.user_name == "reset-after-send@example.com"
        assert [s.method for s in proxy.requests(r"^/scim/Users")].count("POST") == 1
        assert c.find_user(user_name="reset-after-send@example.com").id == user.id


def test_create_whose_request_never_arrived_is_sent_again_once(proxy: FaultProxy, box: Any) -> None:
    """The proxy closes the connection without forwarding: nothing was created, so after the look-up finds
    nothing the create is sent again, once."""
    proxy.add("close", path=r"^/scim/Users", method="POST", times=1)
    with client(proxy, box) as c:
        user = c.create_user("closed-before-send@example.com")
        hits = c.list_users(filter='userName eq "closed-before-send@example.com"')
    assert [u.id for u in hits] == [user.id]
    assert [s.method for s in proxy.requests(r"^/scim/Users")].count("POST") == 2


def test_a_post_that_keeps_failing_after_it_was_sent_stops_with_the_count(proxy: FaultProxy, box: Any) -> None:
    proxy.add("status", path=r"^/scim/Groups", method="POST", status=503, body="busy", content_type="text/plain")
    with client(proxy, box, max_retries=2) as c, pytest.raises(ServerError) as err:
        c.create_group("Never Made")
    posts = [s for s in proxy.requests(r"^/scim/Groups") if s.method == "POST"]
    assert len(posts) == 3 and err.value.attempts == 3  # the look-ups between them are not counted
    assert len([s for s in proxy.requests(r"^/scim/Groups") if s.method == "GET"]) == 2


# ---------------------------------------------------------------------------------------------------------
# Attempts in errors and in count_attempts


def test_errors_say_how_many_attempts_were_made(proxy: FaultProxy, box: Any) -> None:
    proxy.add("status", path=r"^/scim/Users/", status=503, body="busy", content_type="text/plain")
    with client(proxy, box, max_retries=3) as c, pytest.raises(ServerError) as err:
        c.get_user("someone")
    assert err.value.attempts == 4 == proxy.hits("status")
    proxy.clear()
    proxy.add("status", path=r"^/scim/Users/", status=500, body="bug", content_type="text/plain")
    with client(proxy, box, max_retries=3) as c, pytest.raises(ServerError) as err:
        c.get_user("someone")
    assert err.value.attempts == 1  # 500 is not retried
    proxy.clear()
    proxy.add("reset", path=r"^/scim/Users/", fraction=0.1)
    with client(proxy, box, max_retries=2) as c, pytest.raises(ConnectionFailed) as err:
        c.get_user("someone")
    assert err.value.kind == "dropped" and err.value.attempts == 3


def test_a_token_refresh_counts_as_an_attempt(box: Any) -> None:
    """The sandbox answers 401 to a token it did not issue: one refresh, then the 401 is raised."""
    asked: list[bool] = []

    def provider(refresh: bool = False) -> str:
        asked.append(refresh)
        return "still-not-a-good-token-0123456789"

    with ScimClient(box.scim_url, token=provider, backoff_base=0.01) as c, pytest.raises(AuthenticationError) as err:
        c.get_user("x")
    assert asked == [False, True] and err.value.attempts == 2


def test_refused_connection_counts_every_attempt() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with ScimClient(f"http://127.0.0.1:{port}/scim", token="t" * 20, max_retries=2, backoff_base=0.01) as c:
        with pytest.raises(ConnectionFailed) as err:
            c.get_user("x")
        assert err.value.kind == "refused" and err.value.attempts == 3
        with pytest.raises(ConnectionFailed) as err:  # a POST never sent is retried too
            c.create_group("G")
        assert err.value.attempts == 3


def test_count_attempts_sees_retries_that_ended_in_success(proxy: FaultProxy, box: Any) -> None:
    proxy.add("status", path=r"^/scim/Users/", status=503, times=2, body="busy", content_type="text/plain")
    with client(proxy, box) as c:
        some = c.list_users()[0]
        with count_attempts() as count:
            assert c.get_user(some.id).id == some.id
    assert (count.attempts, count.retries) == (3, 2)


def test_a_policy_object_can_be_given(proxy: FaultProxy, box: Any) -> None:
    proxy.add("status", path=r"^/scim/Users/", status=502, body="gw", content_type="text/plain")
    policy = RetryPolicy(max_retries=1, budget_seconds=5, backoff_base=0.01)
    with ScimClient(f"{proxy.url}/scim", token=box.token(), retry=policy) as c, pytest.raises(ServerError) as err:
        c.get_user("x")
    assert c.retry_policy is policy and err.value.attempts == 2 == proxy.hits("status")


# ---------------------------------------------------------------------------------------------------------
# probe()


def test_probe_tells_the_cases_apart(proxy: FaultProxy, box: Any, tmp_path: Path) -> None:
    token = box.token()
    with client(proxy, box) as c:
        ok = c.probe()
    assert ok.ok and ok.outcome == "ok" and ok.status == 200 and ok.attempts == 1

    with ScimClient(box.scim_url, token="eyJhbGciOiJIUzI1NiJ9.e30.forged-signature-0123") as c:
        rejected = c.probe()
    assert rejected.outcome == "rejected" and rejected.status == 401 and "token" in rejected.remedy.lower()

    name = "probe403"
    box.admin("POST", "/sandbox-admin/keys", json={"name": name, "apiKey": "6ck_probe403_0a1b2c3d4e5f",
                                                   "permissions": ["create-users"]})
    limited = box.admin("POST", "/sandbox-admin/tokens", json={"key_name": name})["accessToken"]
    with ScimClient(box.scim_url, token=limited) as c:
        forbidden = c.probe()
    assert forbidden.outcome == "forbidden" and forbidden.status == 403
    assert forbidden.permission == "Integrations" and forbidden.named

    with ScimClient(box.api_url + "/nope", token=token) as c:
        wrong = c.probe()
    assert wrong.outcome == "not-scim" and "SCIM base URL" in wrong.remedy

    proxy.add("status", path=r"^/scim/Users", status=200, content_type="text/html", body="<html>Sign in</html>")
    with client(proxy, box) as c:
        html = c.probe()
    assert html.outcome == "not-scim" and "HTML" in html.message
    proxy.clear()

    proxy.add("status", path=r"^/scim/Users", status=503, body="down", content_type="text/plain")
    with client(proxy, box, max_retries=1) as c:
        busy = c.probe()
    assert busy.outcome == "error" and busy.status == 503 and busy.attempts == 2
    proxy.clear()

    with FaultProxy(box.api_url, tls=self_signed_context(tmp_path)) as tls, \
            ScimClient(f"{tls.url}/scim", token=token, **FAST) as c:
        bad_tls = c.probe()
    assert bad_tls.outcome == "tls" and "certificate" in bad_tls.message.lower()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with ScimClient(f"http://127.0.0.1:{port}/scim", token=token, max_retries=1, backoff_base=0.01) as c:
        down = c.probe()
    assert down.outcome == "unreachable" and down.remedy and down.attempts == 2

    for probe in (rejected, forbidden, wrong, html, busy, bad_tls, down):
        for secret in (token, limited, box.api_key):
            assert secret not in probe.message + probe.remedy + repr(probe)
