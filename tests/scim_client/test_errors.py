"""Failures become ScimErrors an admin can act on; retries are bounded; nothing leaks the token."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import socket
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from scim_client import (
    AuthenticationError,
    BadRequest,
    Conflict,
    ConnectionFailed,
    NotFound,
    PermissionDenied,
    ProtocolError,
    RateLimited,
    ScimClient,
    ScimError,
    ServerError,
)
from scim_client._http import classify_transport_error
from scim_client.retry import parse_retry_after

from .peers import free_port, json_response, make_user

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzZWNyZXQta2V5In0.c2VjcmV0LXNpZ25hdHVyZS0xMjM0NQ"
FRESH = "fresh-token-value-0987654321-zyxw"


def scim_error(
    status: int, detail: str | None = None, scim_type: str | None = None, as_string=True
) -> Response:
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": str(status) if as_string else status,
    }
    if detail:
        body["detail"] = detail
    if scim_type:
        body["scimType"] = scim_type
    return json_response(body, status)


def list_response(users):
    return json_response(
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": len(users),
            "startIndex": 1,
            "itemsPerPage": len(users),
            "Resources": users,
        }
    )


class Peer:
    """One app, many misbehaviours, selected by the first path segment; counts requests per route."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.users: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.seen_auth: list[str] = []

    def app(self) -> Starlette:
        async def handler(request: Request) -> Response:
            mode = request.path_params["mode"]
            rest = request.path_params["rest"]
            key = f"{mode} {request.method} {rest}"
            with self.lock:
                self.hits[key] += 1
                n = self.hits[key]
            self.seen_auth.append(request.headers.get("authorization", ""))
            return await getattr(self, "mode_" + mode.replace("-", "_"))(request, rest, n)

        return Starlette(
            routes=[
                Route("/{mode}/scim/{rest:path}", handler, methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
            ]
        )

    # -- status errors
    async def mode_s401(self, request, rest, n):
        return scim_error(401, "Token expired")

    async def mode_s403(self, request, rest, n):
        return scim_error(403, "The API key's user lacks the permission 'Manage group members'")

    async def mode_s403bare(self, request, rest, n):
        return Response(status_code=403)

    async def mode_s404(self, request, rest, n):
        return scim_error(404, "Resource 42 not found", as_string=False)

    async def mode_s409(self, request, rest, n):
        return scim_error(409, "userName already exists", "uniqueness")

    async def mode_s400echo(self, request, rest, n):
        auth = request.headers.get("authorization", "")
        return scim_error(400, f"bad request; you sent Authorization: {auth} and apiKey=abc123secret")

    async def mode_s500(self, request, rest, n):
        return scim_error(500, "boom")

    async def mode_s502html(self, request, rest, n):
        return Response("<html><body><h1>502 Bad Gateway</h1></body></html>", 502, media_type="text/html")

    async def mode_flaky503(self, request, rest, n):
        if n <= 2:
            return scim_error(503, "try later")
        return list_response([make_user(1)])

    async def mode_r429(self, request, rest, n):
        if n == 1:
            return Response(status_code=429, headers={"Retry-After": "1"})
        if n == 2:
            when = datetime.now(UTC) + timedelta(seconds=1)
            return Response(
                status_code=429, headers={"Retry-After": email.utils.format_datetime(when, usegmt=True)}
            )
        return list_response([make_user(2)])

    async def mode_r429long(self, request, rest, n):
        return Response(status_code=429, headers={"Retry-After": "120"})

    # -- protocol errors
    async def mode_html200(self, request, rest, n):
        return Response(
            f"<!DOCTYPE html><html><head><title>Sign in</title></head><body>token {TOKEN}</body></html>",
            200,
            media_type="text/html",
        )

    async def mode_truncated(self, request, rest, n):
        body = orjson.dumps({"schemas": [], "totalResults": 3, "Resources": [make_user(1), make_user(2)]})
        return Response(body[: len(body) // 2], 200, media_type="application/scim+json")

    async def mode_plaintext(self, request, rest, n):
        return Response("OK: service healthy", 200, media_type="text/plain")

    async def mode_jsontext(self, request, rest, n):
        # Valid SCIM JSON labelled text/plain: tolerated.
        return Response(
            orjson.dumps({"totalResults": 1, "Resources": [make_user(3)]}), 200, media_type="text/plain"
        )

    async def mode_big(self, request, rest, n):
        return Response("<html>" + "x" * (10 * 1024 * 1024) + "</html>", 500, media_type="text/html")

    async def mode_bigjson(self, request, rest, n):
        users = [make_user(i) | {"title": "t" * 20000} for i in range(500)]  # ~10 MB of valid SCIM
        return json_response(
            {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                "totalResults": 500,
                "Resources": users,
            }
        )

    async def mode_drip(self, request, rest, n):
        async def gen():
            for _ in range(200):
                yield b" "
                await asyncio.sleep(0.05)

        return StreamingResponse(gen(), media_type="application/scim+json")

    async def mode_sleep(self, request, rest, n):
        await asyncio.sleep(3)
        return list_response([])

    async def mode_wrongresource(self, request, rest, n):
        return json_response({"message": "ok"})

    async def mode_redirect(self, request, rest, n):
        return Response(status_code=302, headers={"Location": "https://login.example.com/sso?next=/scim"})

    async def mode_empty200(self, request, rest, n):
        return Response(b"", 200, media_type="application/scim+json")

    # -- token refresh
    async def mode_refresh(self, request, rest, n):
        if request.headers.get("authorization") != f"Bearer {FRESH}":
            return scim_error(401, "expired")
        return list_response([make_user(4)])

    async def mode_expiresmidway(self, request, rest, n):
        """Accepts the first token for 3 requests, then only the fresh one: concurrent pages all get a 401."""
        auth = request.headers.get("authorization")
        if not (auth == f"Bearer {FRESH}" or (auth == f"Bearer {TOKEN}" and n <= 3)):
            return scim_error(401, "expired")
        await asyncio.sleep(0.02)
        start = int(request.query_params.get("startIndex", "1"))
        count = int(request.query_params.get("count", "10"))
        users = [make_user(i) for i in range(80)]
        page = users[start - 1 : start - 1 + count]
        return json_response(
            {"totalResults": 80, "itemsPerPage": len(page), "startIndex": start, "Resources": page}
        )

    async def mode_nobody(self, request, rest, n):
        """A server that answers writes without bodies (201/204 empty): the client reads the result back."""
        if request.method == "POST":
            body = orjson.loads(await request.body())
            with self.lock:
                user = make_user(200) | {"userName": body["userName"], "active": body.get("active", True)}
                self.users[user["id"]] = user
            return Response(status_code=201)
        if request.method == "PATCH":
            body = orjson.loads(await request.body())
            user = self.users[rest.split("/")[-1]]
            for op in body["Operations"]:
                assert op["op"] == "replace" and op["path"] == "active" and isinstance(op["value"], bool)
                user["active"] = op["value"]
            return Response(status_code=204)
        if rest.startswith("Users/"):
            return json_response(self.users[rest.split("/")[-1]])
        return list_response(list(self.users.values()))

    # -- create that succeeds but whose answer is lost
    async def mode_lostcreate(self, request, rest, n):
        if request.method == "POST":
            body = orjson.loads(await request.body())
            with self.lock:
                user = make_user(100 + len(self.users)) | {"userName": body["userName"]}
                self.users[user["id"]] = user
            return scim_error(503, "gateway timeout after forwarding")
        flt = request.query_params.get("filter", "")
        found = [u for u in self.users.values() if f'"{u["userName"]}"' in flt]
        return list_response(found)

    async def mode_post503(self, request, rest, n):
        if request.method == "POST":
            return scim_error(503, "unavailable")
        return list_response([])


@pytest.fixture
def peer(serve):
    p = Peer()
    url = serve(p.app())
    return p, url


def client(url: str, mode: str, **kw) -> ScimClient:
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("page_size", 10)
    return ScimClient(f"{url}/{mode}/scim", token=kw.pop("token", TOKEN), **kw)


def assert_clean(exc: BaseException) -> None:
    """No secret in the message, the repr, the remedy, or anything chained."""
    texts = [str(exc), repr(exc), getattr(exc, "remedy", "") or "", getattr(exc, "detail", "") or ""]
    assert exc.__cause__ is None
    assert exc.__context__ is None or exc.__suppress_context__
    for text in texts:
        for secret in (TOKEN, FRESH, "abc123secret", TOKEN.split(".")[1]):
            assert secret not in text, text


def test_401_says_the_token_was_rejected(peer):
    p, url = peer
    with client(url, "s401") as c, pytest.raises(AuthenticationError) as err:
        c.list_users()
    e = err.value
    assert e.status == 401 and e.detail == "Token expired"
    assert "generate a new token" in str(e).lower() and "api key" in str(e).lower()
    assert_clean(e)
    assert p.hits["s401 GET Users"] == 1  # a fixed token is not retried


def test_403_names_the_permission_from_the_detail(peer):
    _, url = peer
    with client(url, "s403") as c, pytest.raises(PermissionDenied) as err:
        c.add_members("g1", ["u1"])
    assert err.value.permission == "Manage group members"
    assert "'Manage group members'" in err.value.remedy and "(probably" not in err.value.remedy


@pytest.mark.parametrize(
    ("call", "permission"),
    [
        (lambda c: c.list_users(), "Integrations"),
        (lambda c: c.create_user("a@b.c"), "Create new users"),
        (lambda c: c.set_active("u1", False), "Edit users"),
        (lambda c: c.delete_user("u1"), "Delete users"),
        (lambda c: c.create_group("G"), "Create, edit and delete groups"),
        (lambda c: c.rename_group("g", "H"), "Create, edit and delete groups"),
        (lambda c: c.delete_group("g"), "Create, edit and delete groups"),
        (lambda c: c.remove_members("g", ["u"]), "Manage group members"),
    ],
)
def test_403_without_detail_guesses_the_permission_from_the_operation(peer, call, permission):
    _, url = peer
    with client(url, "s403bare") as c, pytest.raises(PermissionDenied) as err:
        call(c)
    assert err.value.status == 403 and err.value.permission == permission
    assert f"'{permission}'" in str(err.value) and "probably" in str(err.value)


def test_404_409_500_and_status_as_number_or_string(peer):
    p, url = peer
    with client(url, "s404") as c, pytest.raises(NotFound) as err:
        c.get_user("42")
    assert err.value.detail == "Resource 42 not found"
    with client(url, "s409") as c, pytest.raises(Conflict) as err:
        c.create_user("dup@example.com")
    assert err.value.scim_type == "uniqueness" and "already exists" in err.value.remedy
    with client(url, "s500") as c, pytest.raises(ServerError) as err:
        c.list_users()
    assert err.value.status == 500 and "boom" in str(err.value)
    assert p.hits["s500 GET Users"] == 1  # 500 is not in the retry set


def test_bad_request_echoing_secrets_is_redacted(peer):
    _, url = peer
    with client(url, "s400echo") as c, pytest.raises(BadRequest) as err:
        c.list_users()
    assert err.value.status == 400
    assert_clean(err.value)
    assert "[redacted" in str(err.value)


def test_502_html_is_retried_then_quotes_the_page(peer):
    p, url = peer
    with client(url, "s502html", max_retries=2) as c, pytest.raises(ServerError) as err:
        c.list_users()
    assert p.hits["s502html GET Users"] == 3
    assert err.value.status == 502 and "502 Bad Gateway" in str(err.value)


def test_503_then_success_is_retried(peer):
    p, url = peer
    with client(url, "flaky503") as c:
        assert [u.id for u in c.list_users()] == ["u000001"]
    assert p.hits["flaky503 GET Users"] == 3


def test_429_honours_retry_after_in_seconds_and_http_date(peer):
    p, url = peer
    with client(url, "r429") as c:
        started = time.monotonic()
        assert [u.id for u in c.list_users()] == ["u000002"]
        waited = time.monotonic() - started
    assert p.hits["r429 GET Users"] == 3
    assert waited >= 1.0  # behaviour: it did wait as asked, instead of hammering


def test_429_beyond_the_retry_budget_is_raised_with_retry_after(peer):
    p, url = peer
    with client(url, "r429long", retry_budget_seconds=5) as c, pytest.raises(RateLimited) as err:
        c.list_users()
    assert err.value.retry_after == pytest.approx(120, abs=1)
    assert p.hits["r429long GET Users"] == 1
    assert "throttling" in str(err.value)


def test_retry_after_parsing():
    assert parse_retry_after("7") == 7
    assert parse_retry_after(" 0 ") == 0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    future = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= parse_retry_after(future) <= 31
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("mode", "needle"),
    [
        ("html200", "HTML page"),
        ("truncated", "truncated or malformed JSON"),
        ("plaintext", "non-JSON body (text/plain"),
    ],
)
def test_protocol_errors_say_the_server_did_not_answer_in_scim(peer, mode, needle):
    _, url = peer
    with client(url, mode) as c, pytest.raises(ProtocolError) as err:
        c.list_users()
    e = err.value
    assert "did not answer in SCIM" in str(e) and needle in str(e) and "HTTP 200" in str(e)
    assert "/scim" in e.remedy
    assert_clean(e)
    assert not isinstance(e, ValueError)  # never a bare JSONDecodeError


def test_json_labelled_text_plain_is_tolerated(peer):
    _, url = peer
    with client(url, "jsontext") as c:
        assert [u.id for u in c.list_users()] == ["u000003"]


def test_resource_without_id_is_a_protocol_error(peer):
    _, url = peer
    with client(url, "wrongresource") as c, pytest.raises(ProtocolError, match="without a resource"):
        c.get_user("x")


def test_ten_megabyte_error_page_is_quoted_briefly(peer):
    _, url = peer
    with client(url, "big", max_retries=0) as c, pytest.raises(ServerError) as err:
        c.list_users()
    assert len(str(err.value)) < 1000


def test_ten_megabyte_valid_page_is_parsed(peer):
    _, url = peer
    with client(url, "bigjson", page_size=500) as c:
        listing = c.list_users()
    assert len(listing) == 500 and listing[499].id == "u000499"


def test_slow_drip_is_cut_off(peer):
    _, url = peer
    with client(url, "drip", timeout=0.5, max_retries=0) as c, pytest.raises(ConnectionFailed) as err:
        c.list_users()
    assert err.value.kind == "read-timeout"
    assert_clean(err.value)


def test_read_timeout(peer):
    p, url = peer
    with client(url, "sleep", timeout=0.3, max_retries=1) as c, pytest.raises(ConnectionFailed) as err:
        c.list_users()
    assert err.value.kind == "read-timeout" and "timed out waiting" in str(err.value)
    assert p.hits["sleep GET Users"] == 2  # an idempotent GET is retried


def test_connection_refused():
    port = free_port()  # nothing listens there any more
    with ScimClient(f"http://127.0.0.1:{port}/scim", token=TOKEN, max_retries=1, backoff_base=0.01) as c:
        with pytest.raises(ConnectionFailed) as err:
            c.list_users()
    assert err.value.kind == "refused" and "refused" in str(err.value) and "port" in err.value.remedy
    assert_clean(err.value)


def test_tls_failure_against_a_plain_http_port(peer):
    _, url = peer
    https = url.replace("http://", "https://")
    with ScimClient(f"{https}/s404/scim", token=TOKEN, max_retries=3, backoff_base=0.01) as c:
        with pytest.raises(ConnectionFailed) as err:
            c.list_users()
    assert err.value.kind == "tls" and "TLS" in str(err.value)
    assert_clean(err.value)


def test_dns_failure_is_told_apart():
    # Resolving a name would leave 127.0.0.1; build the failure httpx raises instead.
    exc = httpx.ConnectError("[Errno -2] Name or service not known")
    exc.__context__ = socket.gaierror(-2, "Name or service not known")
    failure = classify_transport_error(exc, "https://api-xx.6clicks.example/scim/Users")
    assert failure.kind == "dns" and "api-xx.6clicks.example" in str(failure) and "DNS" in str(failure)
    timeout = classify_transport_error(httpx.ConnectTimeout("timed out"), "https://h.example/scim")
    assert timeout.kind == "connect-timeout"
    assert len({failure.message, timeout.message}) == 2


def test_dropped_connections_are_retried_for_get():
    """A raw server that hangs up on the first two connections, then answers."""
    users = orjson.dumps({"totalResults": 1, "Resources": [make_user(9)]})
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    accepted = []

    def run():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            accepted.append(conn)
            conn.recv(65536)
            if len(accepted) <= 2:
                conn.close()
                continue
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/scim+json\r\nConnection: close\r\n"
                + f"Content-Length: {len(users)}\r\n\r\n".encode()
                + users
            )
            conn.close()

    threading.Thread(target=run, daemon=True).start()
    try:
        with ScimClient(f"http://127.0.0.1:{port}/scim", token=TOKEN, page_size=5, backoff_base=0.01) as c:
            assert [u.id for u in c.list_users()] == ["u000009"]
        assert len(accepted) == 3
        with ScimClient(f"http://127.0.0.1:{port}/scim", token=TOKEN, max_retries=0, page_size=5) as c:
            accepted.clear()
            with pytest.raises(ConnectionFailed) as err:
                c.list_users()
        assert err.value.kind == "dropped"
        assert_clean(err.value)
    finally:
        srv.close()


def test_token_callable_is_refreshed_once_on_401(peer):
    _, url = peer
    calls: list[bool] = []

    def provider(refresh: bool = False) -> str:
        calls.append(refresh)
        return FRESH if refresh else TOKEN

    with client(url, "refresh", token=provider) as c:
        assert [u.id for u in c.list_users()] == ["u000004"]
        assert [u.id for u in c.list_users()] == ["u000004"]
    assert calls == [False, True]

    stale: list[bool] = []

    def stuck(refresh: bool = False) -> str:
        stale.append(refresh)
        return TOKEN

    with client(url, "refresh", token=stuck) as c, pytest.raises(AuthenticationError) as err:
        c.list_users()
    assert stale == [False, True]  # one refresh, then the 401 is reported
    assert_clean(err.value)

    plain_calls = []

    def no_args() -> str:
        plain_calls.append(1)
        return FRESH

    with client(url, "refresh", token=no_args) as c:
        assert len(c.list_users()) == 1


def test_create_whose_answer_was_lost_is_looked_up_not_repeated(peer):
    p, url = peer
    with client(url, "lostcreate") as c:
        user = c.create_user("lost@example.com", external_id="x-1")
    assert user.user_name == "lost@example.com"
    assert p.hits["lostcreate POST Users"] == 1
    assert len(p.users) == 1


def test_post_is_not_blindly_retried(peer):
    p, url = peer
    with client(url, "post503", max_retries=2) as c, pytest.raises(ServerError):
        c.create_group("Role - Nope")
    # Every retry of the create was preceded by a lookup.
    assert p.hits["post503 POST Groups"] == 3
    assert p.hits["post503 GET Groups"] == 2


def test_no_secret_in_any_error_or_log_line(peer, caplog):
    p, url = peer
    caplog.set_level(logging.DEBUG)
    errors: list[ScimError] = []
    for mode in (
        "s401",
        "s403",
        "s404",
        "s409",
        "s400echo",
        "s500",
        "s502html",
        "html200",
        "truncated",
        "plaintext",
        "big",
    ):
        with client(url, mode, max_retries=1) as c:
            for call in (c.list_users, lambda c=c: c.get_user("1"), lambda c=c: c.create_user("a@b.c")):
                try:
                    call()
                except ScimError as exc:
                    errors.append(exc)
    assert len(errors) >= 30
    for exc in errors:
        assert_clean(exc)
    for record in caplog.records:
        text = record.getMessage()
        assert TOKEN not in text and "Bearer" not in text and "abc123secret" not in text
    assert repr(ScimClient(f"{url}/x/scim", token=TOKEN)).count(TOKEN) == 0
    assert all(a == f"Bearer {TOKEN}" for a in p.seen_auth)  # and it was really sent


def test_invalid_base_url_and_missing_token():
    with pytest.raises(ScimError, match="not an http"):
        ScimClient("api.example.com/scim", token=TOKEN)
    with pytest.raises(ScimError, match="no access token"):
        ScimClient("https://api.example.com/scim", token="  ")


def test_redirect_is_not_followed_and_explained(peer):
    p, url = peer
    with client(url, "redirect") as c, pytest.raises(ProtocolError) as err:
        c.list_users()
    assert "redirect to https://login.example.com/sso" in str(err.value) and "base URL" in err.value.remedy
    assert p.hits["redirect GET Users"] == 1


def test_empty_list_body_is_a_protocol_error(peer):
    _, url = peer
    with client(url, "empty200") as c, pytest.raises(ProtocolError, match="empty body"):
        c.list_users()


@pytest.mark.parametrize("bad", ["tok en", "tökén", "line\nbreak"])
def test_token_that_cannot_be_sent_is_refused_without_echoing_it(bad):
    with pytest.raises(AuthenticationError) as err:
        ScimClient("http://127.0.0.1:9/scim", token=bad)
    assert bad not in str(err.value) and "Paste the token again" in str(err.value)
    with ScimClient("http://127.0.0.1:9/scim", token=lambda: bad) as c, pytest.raises(AuthenticationError):
        c.list_users()
    assert ScimClient("http://127.0.0.1:9/scim", token=' "quoted-token-value" ')._http.current_token()[0] == (
        "quoted-token-value"
    )


def test_token_expiring_mid_listing_is_refreshed_once_for_all_pages(peer):
    _, url = peer
    calls: list[bool] = []
    lock = threading.Lock()

    def provider(refresh: bool = False) -> str:
        with lock:
            calls.append(refresh)
        time.sleep(0.05)  # a slow exchange: other pages pile up on the 401 meanwhile
        return FRESH if refresh else TOKEN

    with client(url, "expiresmidway", token=provider, page_size=5, max_concurrency=8) as c:
        listing = c.list_users()
    assert [u.id for u in listing] == [f"u{i:06d}" for i in range(80)]
    assert calls == [False, True]


def test_writes_answered_without_a_body_are_read_back(peer):
    _, url = peer
    with client(url, "nobody") as c:
        user = c.create_user("quiet@example.com")
        assert user.user_name == "quiet@example.com" and user.id == "u000200"
        assert c.set_active(user.id, False).active is False
        assert c.set_active(user.id, True).active is True
