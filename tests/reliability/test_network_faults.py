"""Network faults between the console and 6clicks, judged by what the console does about them.

The console talks to a real sandbox through ``FaultProxy`` (raw HTTP on 127.0.0.1), which breaks chosen
requests. For each fault: the refresh fails with a ConsoleError that names the problem and says what to do, the
number of attempts is bounded, the previous snapshot stays the latest (nothing partial is stored as complete),
the stored token is untouched; transient faults are ridden out and give a complete snapshot.

The scim_client's own retry/error unit tests live in tests/scim_client/; here the subject is the console.
Timeouts are shortened (ScimClient's ``timeout``/``retry_budget_seconds`` arguments, passed through
``TokenService.scim_client``) so that hangs and slow drips finish in seconds; the logic under test is the same.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from console.connections import Connection, ConnectionRepo
from console.context import open_context
from console.credentials import memory_credentials
from console.directory.events import list_events
from console.directory.store import latest_snapshot
from console.directory.take import take_snapshot
from console.errors import ConsoleError
from console.tokens.service import TokenService
from tests.reliability.faultproxy import FaultProxy, self_signed_context

SHORT = {"timeout": 3.0, "retry_budget_seconds": 4.0, "backoff_base": 0.05}
FAST_TIMEOUT = 0.5  # for the hang and slow-drip cases
MAX_ATTEMPTS = 5  # ScimClient's default max_retries (4) + 1


@pytest.fixture(autouse=True)
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    original = TokenService.scim_client

    def scim_client(self: TokenService, name: str, **kwargs: Any) -> Any:
        for key, value in SHORT.items():
            kwargs.setdefault(key, value)
        return original(self, name, **kwargs)

    monkeypatch.setattr(TokenService, "scim_client", scim_client)


@dataclass
class Console:
    ctx: Any
    conn: Any
    tokens: TokenService
    proxy: FaultProxy
    total_users: int

    def token_fingerprint(self) -> str | None:
        return self.tokens.status(self.conn.name).fingerprint

    def users_requests(self) -> int:
        return len(self.proxy.requests(r"^/scim/Users"))


def make_console(home: Path, sandbox: Any, proxy: FaultProxy, name: str = "T") -> Console:
    ctx = open_context(home, credentials=memory_credentials())
    conn = ConnectionRepo(ctx).add(Connection(name=name, api_url=proxy.url, allow_http=True))
    tokens = TokenService(ctx)
    tokens.set_api_key(name, sandbox.api_key)
    tokens.generate(name)
    with sandbox.client() as c:
        total = c.get("/Users", params={"count": 1}).json()["totalResults"]
    return Console(ctx, conn, tokens, proxy, total)


@pytest.fixture(scope="module")
def shared_console(tmp_path_factory: pytest.TempPathFactory, sandbox: Any) -> Iterator[Console]:
    with FaultProxy(sandbox.api_url) as proxy:
        c = make_console(tmp_path_factory.mktemp("faults") / "home", sandbox, proxy)
        first = take_snapshot(c.ctx, c.conn)
        assert first.user_count == c.total_users
        yield c


@pytest.fixture()
def console(shared_console: Console) -> Iterator[Console]:
    """A console whose connection goes through a fault proxy to the session sandbox, with a good snapshot
    (shared by the tests of this module: each one leaves it healed, with a complete latest snapshot)."""
    shared_console.proxy.clear()
    shared_console.proxy.seen.clear()
    yield shared_console
    shared_console.proxy.clear()
    latest = latest_snapshot(shared_console.ctx, shared_console.conn)
    if latest is None or latest.user_count != shared_console.total_users:  # a failed test left a bad snapshot
        take_snapshot(shared_console.ctx, shared_console.conn)


def _assert_refresh_fails_safely(c: Console, *, expect: tuple[str, ...], max_users_requests: int) -> str:
    before = latest_snapshot(c.ctx, c.conn)
    events_before = len(list_events(c.ctx, c.conn))
    fp_before = c.token_fingerprint()
    c.proxy.seen.clear()
    started = time.monotonic()
    with pytest.raises(ConsoleError) as info:
        take_snapshot(c.ctx, c.conn)
    elapsed = time.monotonic() - started
    err = info.value
    text = str(err)
    assert err.remedy, f"no remedy in: {text}"
    assert any(e.lower() in text.lower() for e in expect), f"expected one of {expect} in: {text}"
    assert "Traceback" not in text and "httpx." not in text
    # bounded: a limited number of attempts, and no endless waiting
    assert c.users_requests() <= max_users_requests, (c.users_requests(), [s.target for s in c.proxy.seen])
    assert elapsed < 60
    # nothing partial stored: the previous snapshot is still the latest, no new events, token untouched
    after = latest_snapshot(c.ctx, c.conn)
    assert after is not None and after.id == before.id and after.user_count == before.user_count
    assert len(list_events(c.ctx, c.conn)) == events_before
    assert c.token_fingerprint() == fp_before
    # and once the network heals the next refresh is complete
    c.proxy.clear()
    healed = take_snapshot(c.ctx, c.conn)
    assert healed.id != before.id and healed.user_count == c.total_users
    assert healed.users["id"].is_unique
    return text


PAGES = 2  # 200 users at the sandbox's 100 per page
RETRIED = PAGES * MAX_ATTEMPTS + 2
NOT_RETRIED = PAGES + 2

FAULTS = {
    # name: (rule, expected phrases in the error, max requests to /scim/Users)
    "reset mid-page": ({"kind": "reset", "after": 1, "fraction": 0.4}, ("connection", "reset", "closed"), RETRIED),
    "truncated body": ({"kind": "truncate", "after": 1, "fraction": 0.5},
                       ("connection", "incomplete", "closed", "truncated"), RETRIED),
    "server closes without answering": ({"kind": "close", "after": 1}, ("connection", "closed", "disconnect"),
                                        RETRIED),
    "hang (read timeout)": ({"kind": "hang", "after": 1}, ("timed out", "timeout", "slow"), RETRIED),
    "slow drip": ({"kind": "drip", "after": 1, "bytes": 8, "delay": 0.5}, ("timed out", "timeout", "slow"), RETRIED),
    "429 storm": ({"kind": "status", "status": 429, "headers": {"Retry-After": "1"},
                   "body": '{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"429",'
                           '"detail":"Too many requests"}'}, ("429", "rate", "too many"), RETRIED),
    "503 burst without end": ({"kind": "status", "status": 503, "body": "Service Unavailable",
                               "content_type": "text/plain"}, ("503", "unavailable"), RETRIED),
    "502 HTML page from a gateway": ({"kind": "status", "status": 502, "content_type": "text/html",
                                      "body": "<html><body><h1>502 Bad Gateway</h1>nginx</body></html>"},
                                     ("502", "gateway"), RETRIED),
    "500 errors": ({"kind": "status", "status": 500, "content_type": "application/scim+json",
                    "body": '{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"500"}'},
                   ("500", "server error", "internal"), NOT_RETRIED),
    "HTML login page with 200": ({"kind": "status", "status": 200, "content_type": "text/html",
                                  "body": "<!DOCTYPE html><html><body>Sign in to continue</body></html>"},
                                 ("scim", "html", "not json", "did not answer"), NOT_RETRIED),
    "non-JSON body": ({"kind": "status", "status": 200, "content_type": "application/scim+json",
                       "body": "OK then"}, ("scim", "json"), NOT_RETRIED),
    "truncated JSON (complete HTTP)": ({"kind": "status", "status": 200, "content_type": "application/scim+json",
                                        "body": '{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],'
                                                '"totalResults":200,"Resources":[{"id":"a","userName":"b"'},
                                       ("scim", "json", "truncated"), NOT_RETRIED),
    "10 MB HTML answer": ({"kind": "huge", "after": 1, "size": 10 * 2**20, "html": True,
                           "content_type": "text/html"}, ("scim", "html", "json"), NOT_RETRIED),
}


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_refresh_fault_leaves_previous_snapshot_and_says_what_to_do(console: Console, name: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    rule, expect, bound = FAULTS[name]
    rule = dict(rule)
    if rule["kind"] in ("hang", "drip"):
        monkeypatch.setitem(SHORT, "timeout", FAST_TIMEOUT)
    console.proxy.add(rule.pop("kind"), path=r"^/scim/Users", **rule)
    _assert_refresh_fails_safely(console, expect=expect, max_users_requests=bound)


@pytest.mark.parametrize("size", [10 * 2**20, 200])
def test_list_response_without_counts_or_resources_does_not_wipe_the_directory(console: Console,
                                                                               size: int) -> None:
    """A 10 MB (or tiny) JSON answer that is a ListResponse in name only, on every page after the first
    request: the refresh must fail rather than store an empty directory over 200 users. (Found by this suite;
    fixed in scim_client, which now treats such an answer as a protocol error.)"""
    console.proxy.add("huge", path=r"^/scim/Users", after=1, size=size)
    _assert_refresh_fails_safely(console, expect=("scim", "totalResults", "resources", "incomplete"),
                                 max_users_requests=RETRIED)


@pytest.mark.parametrize("content_type", ["text/plain", "text/html", "application/octet-stream"])
def test_wrong_content_type_is_either_read_correctly_or_refused(console: Console, content_type: str) -> None:
    """Valid SCIM JSON under a wrong Content-Type: the console may accept it (tolerance), but then the snapshot
    must be complete and right; or refuse it, and then nothing is stored."""
    console.proxy.add("retype", path=r"^/scim/(Users|Groups)", content_type=content_type)
    before = latest_snapshot(console.ctx, console.conn)
    try:
        snap = take_snapshot(console.ctx, console.conn)
    except ConsoleError as exc:
        assert exc.remedy
        assert latest_snapshot(console.ctx, console.conn).id == before.id
    else:
        assert snap.user_count == console.total_users and snap.users["id"].is_unique
        assert sorted(snap.users["id"]) == sorted(before.users["id"])


@pytest.mark.parametrize("rule", [
    {"kind": "status", "status": 503, "times": 2, "body": "busy", "content_type": "text/plain"},
    {"kind": "status", "status": 429, "times": 3, "headers": {"Retry-After": "0"}, "body": ""},
    {"kind": "status", "status": 502, "times": 1, "content_type": "text/html", "body": "<h1>Bad gateway</h1>"},
    {"kind": "reset", "after": 1, "times": 1},
    {"kind": "truncate", "after": 1, "times": 1},
    {"kind": "close", "times": 2},
], ids=["503x2", "429x3", "502x1", "reset-once", "truncate-once", "close-x2"])
def test_transient_faults_are_ridden_out_with_a_complete_snapshot(console: Console, rule: dict) -> None:
    rule = dict(rule)
    console.proxy.add(rule.pop("kind"), path=r"^/scim/Users", **rule)
    before = latest_snapshot(console.ctx, console.conn)
    snap = take_snapshot(console.ctx, console.conn)
    assert console.proxy.hits() >= 1, "the fault never fired"
    assert snap.id != before.id
    assert snap.user_count == console.total_users
    assert snap.users["id"].is_unique
    assert sorted(snap.users["id"]) == sorted(before.users["id"])


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_everywhere_gives_a_remedy_and_keeps_everything(tmp_path: Path, sandbox: Any) -> None:
    with FaultProxy(sandbox.api_url) as proxy:
        c = make_console(tmp_path / "home", sandbox, proxy)
        snap = take_snapshot(c.ctx, c.conn)
    fp = c.token_fingerprint()
    # the proxy is gone and its port is closed: every call is refused
    for call in (lambda: take_snapshot(c.ctx, c.conn), lambda: c.tokens.generate("T")):
        with pytest.raises(ConsoleError) as info:
            call()
        text = str(info.value).lower()
        assert info.value.remedy and ("connect" in text or "refused" in text or "reach" in text), text
    status = c.tokens.test("T")
    assert status.level != "ok" or status.last_test_result != "ok"
    assert status.remedy or status.message
    assert c.token_fingerprint() == fp
    assert latest_snapshot(c.ctx, c.conn).id == snap.id
    # a connection to a port nobody ever listened on behaves the same
    repo = ConnectionRepo(c.ctx)
    dead = repo.add(Connection(name="Dead", api_url=f"http://127.0.0.1:{_closed_port()}", allow_http=True))
    with pytest.raises(ConsoleError) as info:
        c.tokens.set_api_key(dead.name, sandbox.api_key)
    assert info.value.remedy
    assert not c.tokens.has_api_key(dead.name), "a key that could not be checked was stored anyway"


def test_untrusted_tls_certificate_is_refused_with_a_certificate_remedy(tmp_path: Path, sandbox: Any) -> None:
    with FaultProxy(sandbox.api_url) as plain:
        c = make_console(tmp_path / "home", sandbox, plain)
        snap = take_snapshot(c.ctx, c.conn)
        fp = c.token_fingerprint()
    with FaultProxy(sandbox.api_url, tls=self_signed_context(tmp_path)) as tls:
        repo = ConnectionRepo(c.ctx)
        conn = repo.get("T")
        conn.api_url, conn.scim_url = tls.url, None
        conn.validate()
        repo.update(conn)
        c.conn = repo.get("T")
        assert c.conn.scim_url.startswith("https://")
        for call in (lambda: take_snapshot(c.ctx, c.conn), lambda: c.tokens.generate("T")):
            with pytest.raises(ConsoleError) as info:
                call()
            text = str(info.value).lower()
            assert "certificate" in text or "tls" in text, text
            assert info.value.remedy
        assert not any(s.method for s in tls.seen), "a request went through an untrusted TLS connection"
    assert c.token_fingerprint() == fp
    assert latest_snapshot(c.ctx, c.conn).id == snap.id


TOKEN_ENDPOINT = r"^/auth-api/1\.0/auth/token"


@pytest.mark.parametrize("rule", [
    {"kind": "status", "status": 200, "content_type": "text/html", "body": "<html>Welcome to 6clicks</html>"},
    {"kind": "status", "status": 200, "content_type": "application/json", "body": '{"token": "nope"}'},
    {"kind": "status", "status": 200, "content_type": "application/json", "body": '{"accessToken": "not.a.jwt"}'},
    {"kind": "status", "status": 500, "content_type": "text/plain", "body": "oops"},
    {"kind": "truncate", "fraction": 0.5},
    {"kind": "huge", "size": 10 * 2**20, "content_type": "application/json"},
], ids=["html", "no-accessToken", "malformed-jwt", "500", "truncated", "10MB"])
def test_token_generation_faults_keep_the_working_token(console: Console, rule: dict) -> None:
    c = console
    fp = c.token_fingerprint()
    rule = dict(rule)
    c.proxy.add(rule.pop("kind"), path=TOKEN_ENDPOINT, method="POST", **rule)
    with pytest.raises(ConsoleError) as info:
        c.tokens.generate("T")
    assert info.value.remedy, str(info.value)
    assert c.token_fingerprint() == fp, "a failed generation replaced the stored token"
    c.proxy.clear()
    assert c.tokens.test("T").level in ("ok", "notice"), "the previous token no longer works"
    assert c.token_fingerprint() == fp


def test_a_refresh_interrupted_mid_listing_shows_no_partial_users_page(console: Console,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The Users page after a failed refresh still shows the previous complete snapshot, not a partial one."""
    before = latest_snapshot(console.ctx, console.conn)
    console.proxy.add("reset", path=r"^/scim/Users", after=1)
    with pytest.raises(ConsoleError):
        take_snapshot(console.ctx, console.conn)
    shown = latest_snapshot(console.ctx, console.conn)
    assert shown.id == before.id
    assert len(shown.users) == console.total_users == shown.user_count


def test_sandbox_request_log_never_holds_the_token(console: Console, sandbox: Any) -> None:
    console.proxy.add("status", path=r"^/scim/Users", status=503, times=2, body="x", content_type="text/plain")
    take_snapshot(console.ctx, console.conn)
    token = console.tokens.get_token("T")
    log = (Path(sandbox.data_dir) / "requests.log").read_text(errors="replace")
    assert token and token not in log and sandbox.api_key not in log
    assert httpx.get(f"{sandbox.api_url}/healthz", timeout=5).status_code == 200
