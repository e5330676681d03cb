"""exchange_api_key and read_token_expiry against purpose-built token endpoints (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scim_client import IssuedToken, TokenExchangeError, exchange_api_key, fingerprint, read_token_expiry

from .peers import free_port

API_KEY = "api-key-SECRET-5f1e2d3c4b5a69788796a5b4"
EXP = int(datetime(2027, 11, 20, 12, 0, tzinfo=UTC).timestamp())


def b64(obj) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(obj)).rstrip(b"=").decode()


def jwt(claims: dict) -> str:
    return f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64(claims)}.c2lnbmF0dXJlLW5vdC1jaGVja2Vk"


JWT_WITH_EXP = jwt({"sub": "scim-key", "exp": EXP, "iat": EXP - 365 * 86400})
JWT_NO_EXP = jwt({"sub": "scim-key"})


class TokenPeer:
    def __init__(self) -> None:
        self.requests: list[dict] = []

    def app(self) -> Starlette:
        async def token(request: Request) -> Response:
            mode = request.path_params["mode"]
            body = orjson.loads(await request.body())
            self.requests.append({"body": body, "content_type": request.headers.get("content-type")})
            if body.get("apiKey") != API_KEY:
                return Response(
                    orjson.dumps({"message": "Invalid API key"}), 401, media_type="application/json"
                )
            answers = {
                "jwt": (orjson.dumps({"accessToken": JWT_WITH_EXP}), "application/json"),
                "quoted": (orjson.dumps(JWT_WITH_EXP), "application/json"),
                "quoted-text": (f'"{JWT_WITH_EXP}"'.encode(), "text/plain"),
                "snake": (orjson.dumps({"access_token": JWT_NO_EXP, "expires_in": 3600}), "application/json"),
                "expires-at": (
                    orjson.dumps(
                        {"AccessToken": "opaque-token-abcdefghijklmnop", "expiresAt": "2027-05-01T00:00:00Z"}
                    ),
                    "application/json",
                ),
                "opaque": (
                    orjson.dumps({"accessToken": "opaque-token-abcdefghijklmnop"}),
                    "application/json",
                ),
                "missing": (orjson.dumps({"success": True, "message": "ok"}), "application/json"),
                "html": (b"<!DOCTYPE html><html><body>6clicks - Sign in</body></html>", "text/html"),
            }
            if mode not in answers and mode != "server-error":
                return Response(b"Not Found", 404, media_type="text/plain")
            if mode == "server-error":
                return Response(b"upstream failed", 500, media_type="text/plain")
            content, ctype = answers[mode]
            return Response(content, 200, media_type=ctype)

        async def html_anything(request: Request) -> Response:
            return Response(b"<html><body>Welcome to the web app</body></html>", 200, media_type="text/html")

        return Starlette(
            routes=[
                Route("/webapp/{rest:path}", html_anything, methods=["GET", "POST"]),
                Route("/{mode}/auth-api/1.0/auth/token", token, methods=["POST"]),
            ]
        )


@pytest.fixture
def token_peer(serve):
    peer = TokenPeer()
    return peer, serve(peer.app())


def assert_no_key(exc: BaseException) -> None:
    for text in (str(exc), repr(exc)):
        assert API_KEY not in text
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)


def test_exchange_reads_jwt_expiry_and_sends_the_documented_body(token_peer):
    peer, url = token_peer
    issued = exchange_api_key(url + "/jwt/", API_KEY)
    assert isinstance(issued, IssuedToken)
    assert issued.access_token == JWT_WITH_EXP
    assert issued.expires_at == datetime.fromtimestamp(EXP, UTC) and issued.expiry_source == "jwt-exp"
    assert issued.fingerprint == fingerprint(JWT_WITH_EXP) and len(issued.fingerprint) == 4
    assert issued.issued_at.tzinfo is not None
    assert peer.requests[-1]["body"] == {"apiKey": API_KEY, "isLongLivedToken": True}
    assert peer.requests[-1]["content_type"] == "application/json"
    assert JWT_WITH_EXP not in repr(issued) and JWT_WITH_EXP not in str(issued)
    exchange_api_key(url + "/jwt", API_KEY, long_lived=False)
    assert peer.requests[-1]["body"]["isLongLivedToken"] is False


@pytest.mark.parametrize("mode", ["quoted", "quoted-text"])
def test_quoted_string_body_is_accepted(token_peer, mode):
    _, url = token_peer
    issued = exchange_api_key(f"{url}/{mode}", API_KEY)
    assert issued.access_token == JWT_WITH_EXP and issued.expiry_source == "jwt-exp"


def test_other_casing_and_expiry_from_response_fields(token_peer):
    _, url = token_peer
    before = datetime.now(UTC)
    snake = exchange_api_key(f"{url}/snake", API_KEY)
    assert snake.access_token == JWT_NO_EXP and snake.expiry_source == "response"
    assert before + timedelta(seconds=3590) <= snake.expires_at <= datetime.now(UTC) + timedelta(seconds=3610)
    at = exchange_api_key(f"{url}/expires-at", API_KEY)
    assert at.expires_at == datetime(2027, 5, 1, tzinfo=UTC) and at.expiry_source == "response"


def test_opaque_token_without_expiry_is_assumed_365_days(token_peer):
    _, url = token_peer
    issued = exchange_api_key(f"{url}/opaque", API_KEY)
    assert issued.expiry_source == "assumed-365d" and issued.estimated
    assert issued.expires_at - issued.issued_at == timedelta(days=365)


def test_wrong_key_is_a_distinct_error(token_peer):
    _, url = token_peer
    with pytest.raises(TokenExchangeError) as err:
        exchange_api_key(f"{url}/jwt", "api-key-WRONG-000000000000")
    assert err.value.kind == "rejected" and err.value.status == 401
    assert "API key" in str(err.value) and "Integrations" in err.value.remedy


def test_html_page_means_wrong_url(token_peer):
    _, url = token_peer
    with pytest.raises(TokenExchangeError) as err:
        exchange_api_key(f"{url}/html", API_KEY)
    assert err.value.kind == "html" and "HTML page" in str(err.value) and "API base URL" in err.value.remedy
    assert_no_key(err.value)
    with pytest.raises(TokenExchangeError) as err:
        exchange_api_key(f"{url}/webapp", API_KEY)
    assert err.value.kind == "html"
    with pytest.raises(TokenExchangeError) as err:
        exchange_api_key(f"{url}/nothing-here", API_KEY)
    assert err.value.kind == "wrong-url" and err.value.status == 404


def test_missing_access_token(token_peer):
    _, url = token_peer
    with pytest.raises(TokenExchangeError) as err:
        exchange_api_key(f"{url}/missing", API_KEY)
    assert err.value.kind == "missing-token" and "without an accessToken" in str(err.value)
    assert "message" in str(err.value) and "success" in str(err.value)  # the fields it did get


def test_server_error(token_peer):
    _, url = token_peer
    with pytest.raises(TokenExchangeError) as err:
        exchange_api_key(f"{url}/server-error", API_KEY)
    assert err.value.kind == "server" and err.value.status == 500


def test_unreachable_host_and_tls_failure(token_peer):
    _, url = token_peer
    port = free_port()
    with pytest.raises(TokenExchangeError) as err:
        exchange_api_key(f"http://127.0.0.1:{port}", API_KEY, timeout=5)
    assert err.value.kind == "unreachable" and "refused" in str(err.value)
    assert_no_key(err.value)
    with pytest.raises(TokenExchangeError) as err:
        exchange_api_key(url.replace("http://", "https://") + "/jwt", API_KEY, timeout=5)
    assert err.value.kind == "tls" and "TLS" in str(err.value)
    assert_no_key(err.value)
    kinds = {"unreachable", "tls", "html", "missing-token", "rejected"}
    assert len(kinds) == 5


def test_bad_inputs():
    with pytest.raises(TokenExchangeError, match="no API key"):
        exchange_api_key("https://api-au.6clicks.io", " ")
    with pytest.raises(TokenExchangeError, match="not an http"):
        exchange_api_key("api-au.6clicks.io", API_KEY)


def test_read_token_expiry_for_pasted_tokens():
    assert read_token_expiry(JWT_WITH_EXP) == (datetime.fromtimestamp(EXP, UTC), "jwt-exp")
    assert read_token_expiry("  " + JWT_WITH_EXP + "\n")[1] == "jwt-exp"
    issued = datetime(2026, 1, 1, tzinfo=UTC)
    assert read_token_expiry("opaque-token", issued) == (issued + timedelta(days=365), "assumed-365d")
    iat = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())
    assert read_token_expiry(jwt({"iat": iat})) == (datetime(2027, 3, 1, tzinfo=UTC), "assumed-365d")
    when, source = read_token_expiry("not.a.jwt")
    assert source == "assumed-365d" and when > datetime.now(UTC) + timedelta(days=364)
    naive = datetime(2026, 1, 1)
    assert read_token_expiry("x", naive)[0].tzinfo is not None
