"""HTTP plumbing: one pooled httpx.Client, bearer tokens, retries, and mapping failures to ScimError.

Nothing in here lets an httpx exception escape (its ``request`` carries the Authorization header): every
failure is re-raised as a :class:`~scim_client.errors.ScimError` ``from None``.
"""

from __future__ import annotations

import inspect
import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from .errors import (
    PERMISSIONS,
    AuthenticationError,
    BadRequest,
    Conflict,
    ConnectionFailed,
    NotFound,
    PermissionDenied,
    ProtocolError,
    RateLimited,
    ScimError,
    ServerError,
    permission_for,
    redact,
    snippet,
)
from .retry import Attempts, RetryPolicy, _chain, failure_kind

log = logging.getLogger("scim_client")

SCIM_JSON = "application/scim+json"


# ---------------------------------------------------------------------------------------------------------
# Transport failures


def classify_transport_error(exc: BaseException, url: str) -> ConnectionFailed:
    """Turn an httpx transport failure into a ConnectionFailed with a message that tells the cases apart (the
    kinds are :func:`scim_client.retry.failure_kind`'s)."""
    kind = failure_kind(exc)
    host = httpx.URL(url).host if url else "the server"
    if kind == "tls":
        chain = _chain(exc)
        text = " ".join(str(e) for e in chain).lower()
        if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain) or "certificate" in text:
            return ConnectionFailed(
                f"TLS certificate of {host} could not be verified",
                kind="tls",
                code="tls-certificate",
                params={"host": host},
                remedy=(
                    "The server's certificate is not trusted (self-signed, expired, wrong host name, or a "
                    "TLS-inspecting proxy). Fix the certificate or install the proxy's CA; do not turn "
                    "verification off outside testing."
                ),
            )
        return ConnectionFailed(
            f"TLS handshake with {host} failed",
            kind="tls",
            code="tls-handshake",
            params={"host": host},
            remedy=(
                "Check the URL's scheme and port: the server may not speak HTTPS there (try the https:// URL "
                "the vendor gives), or a proxy is interfering."
            ),
        )
    known = kind if kind in _TRANSPORT_TEXT else "other"
    message, remedy = _TRANSPORT_TEXT[known]
    params = {"host": host, "name": type(exc).__name__}
    return ConnectionFailed(
        message.format(**params), kind=kind, remedy=remedy, code=f"transport-{known}", params=params
    )


_TRANSPORT_TEXT: dict[str, tuple[str, str]] = {
    "connect-timeout": (
        "timed out connecting to {host}",
        "The host did not answer: check the URL, your network, proxy and firewall, then try again.",
    ),
    "read-timeout": (
        "timed out waiting for {host} to answer",
        "The server is slow or stuck; try again later, or raise the timeout for large directories.",
    ),
    "write-timeout": (
        "timed out sending the request to {host}",
        "The network is slow or the server stopped reading; try again later.",
    ),
    "pool-timeout": (
        "timed out waiting for a free connection",
        "Too many requests at once; lower the concurrency or raise the timeout.",
    ),
    "dns": (
        "the host name {host} could not be resolved (DNS)",
        "Check the host name in the URL for typos, and that this machine can resolve it (DNS, VPN).",
    ),
    "refused": (
        "connection to {host} was refused",
        "Nothing is listening at that address: check the host and port in the URL, and that the service is "
        "running.",
    ),
    "connect": ("could not connect to {host}", "Check the URL, your network, proxy and firewall, then try again."),
    "dropped": (
        "the connection to {host} was dropped before a complete answer",
        "The server or a proxy closed the connection; try again. If it keeps happening, check the proxy or load "
        "balancer in between.",
    ),
    "bad-url": (
        "the URL is not a valid http(s) URL",
        "Enter the full URL with https://, e.g. https://api-au.6clicks.io/scim",
    ),
    "other": ("could not talk to {host} ({name})", "Check the URL and your network, then try again."),
}


# ---------------------------------------------------------------------------------------------------------
# Answers


def _looks_json(body: bytes) -> bool:
    head = body[:64].lstrip()
    return head[:1] in (b"{", b"[")


def decode_json(status: int, content_type: str, body: bytes, secrets: list[str | None]) -> Any:
    """Parse a JSON body, or raise ProtocolError saying what came back instead."""
    ctype = content_type.lower()
    if "html" in ctype or body[:200].lstrip()[:1] == b"<":
        quoted = snippet(body, secrets)
        raise ProtocolError(
            f"the server did not answer in SCIM: HTTP {status} with an HTML page: {quoted}",
            status=status,
            code="not-scim-html",
            params={"status": status, "body": quoted},
        )
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        truncated = _looks_json(body)
        what = (
            "a truncated or malformed JSON body"
            if truncated
            else f"a non-JSON body ({ctype or 'no content type'})"
        )
        quoted = snippet(body, secrets)
        raise ProtocolError(
            f"the server did not answer in SCIM: HTTP {status} with {what}: {quoted}",
            status=status,
            code="not-scim-truncated" if truncated else "not-scim-non-json",
            params={"status": status, "body": quoted, "content_type": ctype},
        ) from None


def _status_of(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def error_from_response(
    status: int,
    content_type: str,
    body: bytes,
    operation: str,
    secrets: list[str | None],
    retry_after: float | None = None,
    what: str = "",
) -> ScimError:
    """The ScimError for an HTTP error answer; SCIM error bodies give scimType and detail."""
    scim_type = detail = None
    quoted = ""
    parsed: Any = None
    if body and _looks_json(body):
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
    if isinstance(parsed, dict):
        lowered = {str(k).lower(): v for k, v in parsed.items()}
        scim_type = lowered.get("scimtype")
        raw_detail = lowered.get("detail") or lowered.get("message") or lowered.get("error_description")
        if raw_detail is None and isinstance(lowered.get("error"), str):
            raw_detail = lowered.get("error")
        if raw_detail is not None:
            detail = snippet(str(raw_detail), secrets, limit=300)
        if scim_type is not None:
            scim_type = str(scim_type)
    elif body:
        quoted = snippet(body, secrets)
    target = f" ({what})" if what else ""
    tail = f": {detail}" if detail else (f": {quoted}" if quoted else "")
    kwargs: dict[str, Any] = {"status": status, "scim_type": scim_type, "detail": detail,
                              "params": {"status": status, "what": what, "body": detail or quoted or "",
                                         "retry_after": retry_after}}
    if status == 401:
        return AuthenticationError(f"HTTP 401 Unauthorized{target}{tail}", code="http-401", **kwargs)
    if status == 403:
        permission = permission_for(operation, detail)
        named = detail is not None and permission is not None and permission.lower() in detail.lower()
        remedy = (
            f"The API key's 6clicks user lacks the '{permission}' permission"
            f"{'' if named else ' (probably, for this operation)'}: grant it in 6clicks, or use an API key "
            f"whose user has the six SCIM permissions ({', '.join(PERMISSIONS.values())}). Then generate a new token."
        )
        return PermissionDenied(
            f"HTTP 403 Forbidden{target}{tail}", permission=permission, named=named, remedy=remedy,
            code="http-403", **kwargs
        )
    if status == 404:
        return NotFound(f"HTTP 404 Not Found{target}{tail}", code="http-404", **kwargs)
    if status == 409:
        return Conflict(f"HTTP 409 Conflict{target}{tail}", code="http-409", **kwargs)
    if status == 429:
        wait = f" (server asked to wait {retry_after:.0f} s)" if retry_after else ""
        return RateLimited(
            f"HTTP 429 Too Many Requests{target}{wait}{tail}", retry_after=retry_after, code="http-429", **kwargs
        )
    if status >= 500:
        return ServerError(f"HTTP {status} server error{target}{tail}", code="http-5xx", **kwargs)
    if status == 413:
        return BadRequest(
            f"HTTP 413 request too large{target}{tail}",
            remedy="Send fewer items at once (smaller batches).",
            code="http-413",
            **kwargs,
        )
    return BadRequest(f"HTTP {status}{target}{tail}", code="http-4xx", **kwargs)


# ---------------------------------------------------------------------------------------------------------
# The transport


class Answer:
    __slots__ = ("body", "content_type", "data", "headers", "status")

    def __init__(
        self, status: int, data: Any, headers: httpx.Headers, content_type: str, body: bytes
    ) -> None:
        self.status = status
        self.data = data
        self.headers = headers
        self.content_type = content_type
        self.body = body


TokenSource = str | Callable[..., str]


class Transport:
    """Sends SCIM requests with a bearer token, retrying what is safe to retry."""

    def __init__(
        self,
        base_url: str,
        token: TokenSource,
        *,
        timeout: float = 30.0,
        max_concurrency: int = 8,
        retry: RetryPolicy | None = None,
        verify: bool | ssl.SSLContext = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = float(timeout)
        self.policy = retry if retry is not None else RetryPolicy()
        size = max(1, int(max_concurrency)) + 2
        self._http = httpx.Client(
            timeout=httpx.Timeout(self.timeout),
            verify=verify,
            limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            headers={"Accept": f"{SCIM_JSON}, application/json", "User-Agent": "scim-operator-console/0.1"},
            transport=transport,
            follow_redirects=False,
        )
        self._lock = threading.Lock()
        self._provider: Callable[..., str] | None = None
        self._provider_takes_refresh = False
        self._token: str | None = None
        self._generation = 0
        if callable(token):
            self._provider = token
            try:
                params = inspect.signature(token).parameters
                self._provider_takes_refresh = "refresh" in params or any(
                    p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
                )
            except (TypeError, ValueError):
                self._provider_takes_refresh = False
        else:
            self._token = self.check_token(str(token).strip().strip('"'))

    # -- tokens --------------------------------------------------------------------------------------------
    def _call_provider(self, refresh: bool) -> str:
        assert self._provider is not None
        value = self._provider(refresh=refresh) if self._provider_takes_refresh else self._provider()
        if not value or not str(value).strip():
            raise AuthenticationError(
                "no access token available",
                remedy="Generate a token (or save the API key so one can be generated), then try again.",
                code="no-token-available",
            )
        return self.check_token(str(value).strip().strip('"'))

    def current_token(self) -> tuple[str, int]:
        with self._lock:
            if self._token is None:
                self._token = self._call_provider(False)
            return self._token, self._generation

    @staticmethod
    def check_token(token: str) -> str:
        """A bearer token must be printable ASCII without spaces (a pasted token may carry junk)."""
        if not token or any(not (33 <= ord(ch) <= 126) for ch in token):
            raise AuthenticationError(
                "the access token contains spaces or characters that cannot be sent in an HTTP header",
                remedy="Paste the token again without surrounding quotes, spaces or line breaks, or generate a "
                "new one.",
                code="token-unsendable",
            )
        return token

    def _refresh(self, used_generation: int) -> bool:
        """Get a fresh token after a 401. False when there is no provider to ask."""
        if self._provider is None:
            return False
        with self._lock:
            if self._generation == used_generation:  # nobody refreshed since our request went out
                self._token = self._call_provider(True)
                self._generation += 1
        return True

    def secrets(self) -> list[str | None]:
        return [self._token]

    # -- requests ------------------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return self.base_url + "/" + path.lstrip("/")

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        operation: str = "read",
        what: str = "",
        retry: bool | None = None,
    ) -> Answer:
        """One SCIM call with retries under the policy (``retry`` overrides the method's idempotency). Raises
        ScimError subclasses only, each with ``.attempts`` set to the HTTP attempts made."""
        attempts = self.policy.start()
        try:
            return self._request(method.upper(), path, params, json, operation, what, retry, attempts)
        except ScimError as exc:
            exc.attempts = attempts.count
            raise

    def _request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        json: Any,
        operation: str,
        what: str,
        idempotent: bool | None,
        attempts: Attempts,
    ) -> Answer:
        policy = self.policy
        url = self.url(path)
        content = orjson.dumps(json) if json is not None else None
        headers = {"Content-Type": SCIM_JSON} if content is not None else {}
        refreshed = False
        while True:
            token, generation = self.current_token()
            headers["Authorization"] = f"Bearer {token}"
            attempts.attempted()
            try:
                status, resp_headers, body = self._send(method, url, params, content, headers)
            except httpx.HTTPError as exc:
                failure = classify_transport_error(exc, url)
                if policy.retries_failure(failure.kind, method, idempotent):
                    delay = attempts.next_wait()
                    if delay is not None:
                        log.info("%s %s: %s; retrying in %.2f s", method, path, failure.message, delay)
                        attempts.wait(delay)
                        continue
                raise failure from None
            content_type = resp_headers.get("content-type", "")
            if status == 401 and not refreshed and self._provider is not None:
                refreshed = True
                log.info("%s %s: 401, refreshing the token once", method, path)
                self._refresh(generation)
                continue
            if status in policy.retry_statuses:
                retry_after = policy.retry_after(resp_headers.get("retry-after"), resp_headers.get("date"))
                if policy.retries_status(status, method, idempotent):
                    delay = attempts.next_wait(retry_after, status)
                    if delay is not None:
                        log.info("%s %s: HTTP %d; retrying in %.2f s", method, path, status, delay)
                        attempts.wait(delay)
                        continue
                raise error_from_response(
                    status, content_type, body, operation, self.secrets(), retry_after, what
                ) from None
            if status >= 400:
                raise error_from_response(
                    status, content_type, body, operation, self.secrets(), None, what
                ) from None
            if 300 <= status < 400:
                location = redact(resp_headers.get("location", "") or "(no Location)", self.secrets())[:200]
                raise ProtocolError(
                    f"the server did not answer in SCIM: HTTP {status} redirect to {location}",
                    status=status,
                    remedy=(
                        "Use the final address as the SCIM base URL (often https:// instead of http://, or a "
                        "different path); the client does not follow redirects so the token is never sent "
                        "elsewhere."
                    ),
                    code="not-scim-redirect",
                    params={"status": status, "location": location},
                ) from None
            if status == 204 or not body.strip():
                return Answer(status, None, resp_headers, content_type, body)
            data = decode_json(status, content_type, body, self.secrets())
            return Answer(status, data, resp_headers, content_type, body)

    def _send(
        self,
        method: str,
        url: str,
        params: dict[str, Any] | None,
        content: bytes | None,
        headers: dict[str, str],
    ) -> tuple[int, httpx.Headers, bytes]:
        request = self._http.build_request(method, url, params=params, content=content, headers=headers)
        deadline = time.monotonic() + self.timeout * 4
        t0 = time.perf_counter()
        response = self._http.send(request, stream=True)
        try:
            chunks: list[bytes] = []
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("the answer arrived too slowly", request=request)
            body = b"".join(chunks)
        finally:
            response.close()
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s -> %d (%d bytes, %.0f ms)",
                method,
                request.url.copy_with(query=None),
                response.status_code,
                len(body),
                (time.perf_counter() - t0) * 1000,
            )
        return response.status_code, response.headers, body

    def close(self) -> None:
        self._http.close()
