"""6clicks API key → access token exchange, and reading a token's expiry.

``POST {api_base}/auth-api/1.0/auth/token`` with ``{"apiKey": ..., "isLongLivedToken": true}`` answers
``{"accessToken": "<JWT>"}``. The expiry comes from the JWT ``exp`` claim (read without verifying the
signature: we only need the date, the server verifies the token), else from expiry fields in the response,
else issue time + 365 days for a long-lived token (marked ``assumed-365d``: an estimate).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from ._http import classify_transport_error
from .errors import ConnectionFailed, TokenExchangeError, snippet

TOKEN_PATH = "/auth-api/1.0/auth/token"  # noqa: S105 - a URL path, not a secret
ASSUMED_LONG_LIVED = timedelta(days=365)
ASSUMED_SHORT_LIVED = timedelta(hours=1)


def fingerprint(secret: str) -> str:
    """Last 4 hex characters of the SHA-256 of a secret: enough to tell two apart, useless to an attacker."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[-4:]


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str = field(repr=False)
    issued_at: datetime
    expires_at: datetime
    expiry_source: str  # "jwt-exp" | "response" | "assumed-365d"
    fingerprint: str

    def __repr__(self) -> str:
        return (
            f"IssuedToken(access_token='…{self.fingerprint}', issued_at={self.issued_at.isoformat()}, "
            f"expires_at={self.expires_at.isoformat()}, expiry_source={self.expiry_source!r})"
        )

    __str__ = __repr__

    @property
    def estimated(self) -> bool:
        return self.expiry_source == "assumed-365d"


def _jwt_claims(token: str) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) < 2:
        return None
    payload = parts[1]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


def _epoch(value: Any) -> datetime | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if number > 1e11:  # milliseconds
        number /= 1000.0
    try:
        return datetime.fromtimestamp(number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _parse_when(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _epoch(value)
    if isinstance(value, str):
        text = value.strip()
        if text.replace(".", "", 1).isdigit():
            return _epoch(text)
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    return None


def read_token_expiry(
    token: str, issued_at: datetime | None = None, *, long_lived: bool = True
) -> tuple[datetime, str]:
    """(expires_at, source) for a token: its JWT ``exp``, else ``issued_at`` (or ``iat``, or now) + 365 days."""
    claims = _jwt_claims(token.strip())
    if claims is not None:
        exp = _epoch(claims.get("exp")) if claims.get("exp") is not None else None
        if exp is not None:
            return exp, "jwt-exp"
        if issued_at is None and claims.get("iat") is not None:
            issued_at = _epoch(claims.get("iat"))
    base = issued_at or datetime.now(UTC)
    if base.tzinfo is None:
        base = base.replace(tzinfo=UTC)
    return base + (ASSUMED_LONG_LIVED if long_lived else ASSUMED_SHORT_LIVED), "assumed-365d"


def _find_key(obj: dict[str, Any], *names: str) -> Any:
    lowered = {k.lower().replace("_", ""): v for k, v in obj.items() if isinstance(k, str)}
    for name in names:
        value = lowered.get(name.lower().replace("_", ""))
        if value is not None:
            return value
    return None


def _looks_like_token(text: str) -> bool:
    return bool(text) and len(text) >= 16 and not any(c.isspace() for c in text) and "<" not in text


def _extract_token(body: bytes, content_type: str, status: int, api_key: str) -> tuple[str, dict[str, Any]]:
    text = body.decode("utf-8", errors="replace").strip()
    lowered = text[:200].lower()
    if "html" in content_type.lower() or lowered.startswith(("<!doctype", "<html", "<")):
        quoted = snippet(body, [api_key])
        raise TokenExchangeError(
            f"the token endpoint answered with an HTML page (HTTP {status}), not a token: {quoted}",
            status=status,
            kind="html",
            code="token-html",
            params={"status": status, "body": quoted},
            remedy=(
                "Check the API base URL: it must be the 6clicks API host for your region "
                "(for example https://api-au.6clicks.io), not the web app address; the token is requested "
                "from {API base}/auth-api/1.0/auth/token."
            ),
        )
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, str) and _looks_like_token(parsed.strip()):
        return parsed.strip(), {}
    if parsed is None and _looks_like_token(text.strip('"')):
        return text.strip('"'), {}
    if isinstance(parsed, dict):
        token = _find_key(parsed, "accessToken", "access_token", "token", "jwt", "idToken")
        if token is None:
            data = _find_key(parsed, "data", "result")
            if isinstance(data, dict):
                token = _find_key(data, "accessToken", "access_token", "token")
                parsed = {**parsed, **data}
        if isinstance(token, str) and _looks_like_token(token.strip().strip('"')):
            return token.strip().strip('"'), parsed
        fields = ", ".join(sorted(str(k) for k in parsed)[:12]) or "none"
        raise TokenExchangeError(
            f"the token endpoint answered HTTP {status} without an accessToken (fields: {fields})",
            status=status,
            kind="missing-token",
            code="token-missing",
            params={"status": status, "fields": fields},
            remedy=(
                "The server did not issue a token. Check that the URL is the 6clicks API base URL and that "
                "the API key is active; generate the token in 6clicks' Swagger page if this persists."
            ),
        )
    quoted = snippet(body, [api_key])
    raise TokenExchangeError(
        f"the token endpoint did not answer in JSON (HTTP {status}): {quoted}",
        status=status,
        kind="not-json",
        code="token-not-json",
        params={"status": status, "body": quoted},
        remedy="Check the API base URL; something other than the 6clicks API answered.",
    )


def exchange_api_key(
    api_base_url: str,
    api_key: str,
    long_lived: bool = True,
    *,
    timeout: float = 30.0,
    verify: bool | ssl.SSLContext = True,
    transport: httpx.BaseTransport | None = None,
) -> IssuedToken:
    """Exchange a 6clicks API key for an access token (long-lived by default)."""
    if not api_key or not api_key.strip():
        raise TokenExchangeError(
            "no API key given", kind="no-key", remedy="Paste the 6clicks API key (Settings → Developer API).",
            code="no-api-key",
        )
    base = api_base_url.strip().rstrip("/")
    if not base.lower().startswith(("http://", "https://")):
        raise TokenExchangeError(
            f"the API base URL {base!r} is not an http(s) URL",
            kind="bad-url",
            remedy="Enter the API base URL with its scheme, e.g. https://api-au.6clicks.io",
            code="token-bad-url",
            params={"url": base},
        )
    url = base + TOKEN_PATH
    issued_at = datetime.now(UTC)
    body = orjson.dumps({"apiKey": api_key.strip(), "isLongLivedToken": bool(long_lived)})
    try:
        with httpx.Client(timeout=timeout, verify=verify, transport=transport) as http:
            response = http.post(
                url,
                content=body,
                headers={"Content-Type": "application/json", "Accept": "application/json, text/plain"},
            )
            content = response.content
    except httpx.HTTPError as exc:
        failure: ConnectionFailed = classify_transport_error(exc, url)
        kind = {"tls": "tls", "dns": "unreachable", "refused": "unreachable"}.get(failure.kind, failure.kind)
        raise TokenExchangeError(
            f"could not reach the token endpoint: {failure.message}", kind=kind, remedy=failure.remedy,
            code="token-unreachable", params={"error": failure},
        ) from None
    status = response.status_code
    content_type = response.headers.get("content-type", "")
    if status in (401, 403):
        raise TokenExchangeError(
            f"the API key was rejected (HTTP {status})",
            status=status,
            kind="rejected",
            code="key-rejected",
            params={"status": status},
            remedy=(
                "Check the API key: it may be mistyped, deleted, or its 6clicks user removed or missing the "
                "'Integrations' permission. Create a new API key in 6clicks and paste it again."
            ),
        )
    if status == 404 or status == 405:
        quoted = snippet(content, [api_key])
        raise TokenExchangeError(
            f"no token endpoint at this address (HTTP {status}): {quoted}",
            status=status,
            kind="wrong-url",
            code="token-wrong-url",
            params={"status": status, "body": quoted},
            remedy=(
                "Check the API base URL: the token is requested from {API base}/auth-api/1.0/auth/token; "
                "use the API host (e.g. https://api-au.6clicks.io), without /scim."
            ),
        )
    if status >= 400:
        if "html" in content_type.lower():
            _extract_token(content, content_type, status, api_key)  # raises the HTML error
        quoted = snippet(content, [api_key])
        raise TokenExchangeError(
            f"the token endpoint failed (HTTP {status}): {quoted}",
            status=status,
            kind="server",
            code="token-server",
            params={"status": status, "body": quoted},
            remedy="Try again in a few minutes; if it persists, contact 6clicks support.",
        )
    token, fields = _extract_token(content, content_type, status, api_key)
    expires_at, source = _expiry(token, fields, issued_at, long_lived)
    return IssuedToken(
        access_token=token,
        issued_at=issued_at,
        expires_at=expires_at,
        expiry_source=source,
        fingerprint=fingerprint(token),
    )


def _expiry(
    token: str, fields: dict[str, Any], issued_at: datetime, long_lived: bool
) -> tuple[datetime, str]:
    expires_at, source = read_token_expiry(token, issued_at, long_lived=long_lived)
    if source == "jwt-exp":
        return expires_at, source
    seconds = _find_key(fields, "expiresIn", "expires_in")
    if seconds is not None:
        try:
            return issued_at + timedelta(seconds=float(seconds)), "response"
        except (TypeError, ValueError, OverflowError):
            pass
    when = _find_key(fields, "expiresAt", "expires_at", "expiration", "expires", "expiry", "validTo")
    parsed = _parse_when(when)
    if parsed is not None:
        return parsed, "response"
    return issued_at + (ASSUMED_LONG_LIVED if long_lived else ASSUMED_SHORT_LIVED), "assumed-365d"
