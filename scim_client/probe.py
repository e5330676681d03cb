"""``ScimClient.probe()``'s answer: does a token work against a SCIM base URL, and if not, why.

The outcome comes from the same error mapping as every other call (:mod:`scim_client.errors`), sorted into the
cases an administrator acts on differently:

==============  =====================================================================  =========================
outcome         when                                                                   what to do
==============  =====================================================================  =========================
``ok``          the server answered a SCIM list                                        nothing
``rejected``    401                                                                    a new token
``forbidden``   403; ``permission`` says which (``named`` when the server said so)      grant it, new token
``not-scim``    404, a redirect, an HTML page, non-JSON, JSON that is not a SCIM list  fix the base URL
``unreachable`` refused, DNS, timeouts, dropped connections, a bad URL                 network, host, port
``tls``         the TLS handshake or the certificate failed                            certificate, scheme, proxy
``error``       429 or 5xx after the retries, any other 4xx                            try later / report
==============  =====================================================================  =========================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import (
    AuthenticationError,
    ConnectionFailed,
    NotFound,
    PermissionDenied,
    ProtocolError,
    ScimError,
)

ProbeOutcome = Literal["ok", "rejected", "forbidden", "not-scim", "unreachable", "tls", "error"]

NOT_SCIM_REMEDY = (
    "Check the SCIM base URL: for 6clicks it is the API base URL followed by /scim "
    "(e.g. https://api-au.6clicks.io/scim); a login page or proxy may be answering instead."
)


@dataclass(frozen=True, slots=True)
class Probe:
    """The answer to "does this token work against this SCIM base URL". Holds no token; ``message`` and
    ``remedy`` are the error's own (sanitized) text; ``code`` and ``params`` word ``message`` again in another
    language (as :class:`~scim_client.errors.ScimError`'s do; ``params`` may hold the error behind it)."""

    outcome: ProbeOutcome
    message: str
    remedy: str = ""
    status: int | None = None
    permission: str | None = None  # forbidden: the missing permission
    named: bool = False  # forbidden: the server's message named it (else it is the one reading users needs)
    attempts: int = 0  # HTTP attempts made
    code: str = ""
    params: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @classmethod
    def from_error(cls, error: ScimError, base_url: str) -> Probe:
        """The probe's answer when the test request (or building the client) failed with ``error``."""
        attempts = error.attempts
        same: dict[str, Any] = {"code": error.code, "params": error.params}  # the message is the error's own
        if isinstance(error, AuthenticationError):
            return cls("rejected", error.message, error.remedy, error.status, attempts=attempts, **same)
        if isinstance(error, PermissionDenied):
            return cls("forbidden", error.message, error.remedy, error.status, permission=error.permission,
                       named=error.named, attempts=attempts, **same)
        if isinstance(error, NotFound):
            return cls("not-scim", f"there is no SCIM endpoint at {base_url}: {error.message}", NOT_SCIM_REMEDY,
                       error.status, attempts=attempts, code="probe-no-endpoint",
                       params={"url": base_url, "error": error})
        if isinstance(error, ProtocolError):
            return cls("not-scim", f"{base_url} is not a SCIM endpoint: {error.message}",
                       error.remedy or NOT_SCIM_REMEDY, error.status, attempts=attempts, code="probe-not-scim",
                       params={"url": base_url, "error": error})
        if isinstance(error, ConnectionFailed):
            outcome: ProbeOutcome = "tls" if error.kind == "tls" else "unreachable"
            return cls(outcome, error.message, error.remedy, None, attempts=attempts, **same)
        return cls("error", error.message, error.remedy, error.status, attempts=attempts, **same)
