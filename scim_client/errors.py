"""One error family for everything that can go wrong talking to a SCIM service provider.

Every error carries the HTTP status (when there was one), the SCIM ``scimType`` and ``detail`` (when the server
sent a SCIM error), a ``remedy`` an administrator can act on, and ``attempts``: how many HTTP attempts were made
before it was raised (set by the transport on every error it raises, retries and a token refresh included; 0 for
errors raised before anything was sent). ``str(error)`` is the message followed by the remedy. No error ever
contains an access token, an API key or an ``Authorization`` header: bodies quoted in messages are sanitized, and
the client raises these errors ``from None`` so no httpx exception (whose request carries the headers) is chained
to them.

``code`` names the message's wording (stable: ``"http-403"``, ``"transport-refused"``, ``"token-html"``...) and
``params`` holds the values formatted into it (host, status, the server's detail, a nested error...), so that a
caller can word the same message in another language without parsing English (the console does, in
``console.errors``). Errors raised without a code have ``code == ""``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

# The six permissions a 6clicks API key's user needs (reference/6clicks.md), keyed by the CLI-style names.
PERMISSIONS: dict[str, str] = {
    "integrations": "Integrations",
    "create-users": "Create new users",
    "edit-users": "Edit users",
    "delete-users": "Delete users",
    "manage-groups": "Create, edit and delete groups",
    "manage-group-members": "Manage group members",
}

# Which permission an operation needs, beyond "Integrations" which every SCIM call needs.
OPERATION_PERMISSION: dict[str, str] = {
    "read": "Integrations",
    "create_user": "Create new users",
    "edit_user": "Edit users",
    "delete_user": "Delete users",
    "create_group": "Create, edit and delete groups",
    "rename_group": "Create, edit and delete groups",
    "delete_group": "Create, edit and delete groups",
    "group_members": "Manage group members",
}


class ScimError(Exception):
    """Base of every error raised by :mod:`scim_client`."""

    default_remedy = "Check the connection settings and try again."

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        scim_type: str | None = None,
        detail: str | None = None,
        remedy: str | None = None,
        attempts: int = 0,
        code: str = "",
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self.message = message
        self.code = code
        self.params: dict[str, Any] = dict(params) if params else {}
        self.status = status
        self.scim_type = scim_type
        self.detail = detail
        self.remedy = remedy if remedy is not None else self.default_remedy
        self.attempts = attempts
        super().__init__(message)

    def __str__(self) -> str:
        if self.remedy:
            return f"{self.message} — {self.remedy}"
        return self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, status={self.status!r}, scim_type={self.scim_type!r})"
        )


class BadRequest(ScimError):
    """400 and other 4xx answers without a more specific class: the server refused what was sent."""

    default_remedy = "The server refused the request as sent; check the values (see the server's detail)."


class AuthenticationError(ScimError):
    """401: the bearer token was not accepted."""

    default_remedy = (
        "Token rejected: it has expired, or its API key, the key's user or one of the user's permissions "
        "was removed in 6clicks. Generate a new token from a valid API key and save it."
    )


class PermissionDenied(ScimError):
    """403: the token is valid but its user lacks a permission. ``permission`` is the one the server's message
    names (``named`` is then True), else the one the operation needs (a guess)."""

    def __init__(
        self, message: str, *, permission: str | None = None, named: bool = False, **kwargs: Any
    ) -> None:
        self.permission = permission
        self.named = named
        super().__init__(message, **kwargs)


class NotFound(ScimError):
    """404: no such resource (or, for the whole base URL, no SCIM endpoint there)."""

    default_remedy = (
        "It may have been deleted already; refresh the list. If every call fails, check the SCIM base URL."
    )


class Conflict(ScimError):
    """409: uniqueness (or version) conflict."""

    default_remedy = (
        "A resource with the same unique value (userName, e-mail or group name) already exists; "
        "look it up instead of creating it again."
    )


class RateLimited(ScimError):
    """429 after the retries were used up."""

    default_remedy = (
        "The server is throttling requests; wait a few minutes and try again, or lower the concurrency."
    )

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class ServerError(ScimError):
    """5xx after the retries were used up."""

    default_remedy = (
        "The service provider failed; try again later. If it persists, contact its support with the time "
        "of the failure."
    )


class ProtocolError(ScimError):
    """The server answered, but not in SCIM (HTML page, non-JSON, truncated JSON, wrong shape)."""

    default_remedy = (
        "Check the SCIM base URL (it should end with /scim for 6clicks); a proxy, firewall or login page may "
        "be answering instead of the SCIM service."
    )


class ConnectionFailed(ScimError):
    """No usable HTTP answer: refused, DNS, TLS, timeout, dropped connection."""

    def __init__(self, message: str, *, kind: str = "connect", **kwargs: Any) -> None:
        self.kind = kind
        super().__init__(message, **kwargs)


class TokenExchangeError(ScimError):
    """Exchanging an API key for an access token failed."""

    def __init__(self, message: str, *, kind: str = "other", **kwargs: Any) -> None:
        self.kind = kind
        super().__init__(message, **kwargs)


# ---------------------------------------------------------------------------------------------------------
# Sanitizing text taken from responses

_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.?[A-Za-z0-9_\-]*")
_BEARER_RE = re.compile(r"(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=\-]+")
_KV_SECRET_RE = re.compile(
    r"""(?ix)("?(?:authorization|api[_-]?key|access[_-]?token|token|secret|password)"?\s*[:=]\s*)
        ("[^"]*"|'[^']*'|[^\s,;&}]+)"""
)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Remove known secrets, JWTs, bearer credentials and key=value secrets from ``text``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    text = _JWT_RE.sub("[redacted-jwt]", text)
    text = _BEARER_RE.sub(lambda m: f"{m.group(1)} [redacted]", text)
    text = _KV_SECRET_RE.sub(lambda m: f"{m.group(1)}[redacted]", text)
    return text


def snippet(body: bytes | str | None, secrets: Iterable[str | None] = (), limit: int = 200) -> str:
    """The first ``limit`` characters of a body, one line, sanitized, for an error message."""
    if not body:
        return "(empty body)"
    if isinstance(body, bytes):
        text = body[: limit * 4].decode("utf-8", errors="replace")
    else:
        text = body[: limit * 4]
    text = _CONTROL_RE.sub(" ", text)
    text = " ".join(text.split())
    text = redact(text, secrets)
    if len(text) > limit:
        text = text[:limit] + "…"
    return text


def permission_for(operation: str, detail: str | None) -> str | None:
    """The 6clicks permission the server names in ``detail``, else the one the operation needs."""
    if detail:
        low = detail.lower()
        # Longest names first so "Create new users" wins over a shorter accidental match.
        for name in sorted(PERMISSIONS.values(), key=len, reverse=True):
            if name.lower() in low:
                return name
        for cli, name in PERMISSIONS.items():
            if re.search(rf"(?<![\w-]){re.escape(cli)}(?![\w-])", low):
                return name
    return OPERATION_PERMISSION.get(operation)
