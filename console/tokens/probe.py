"""The token test: one SCIM request (``ScimClient.probe()``, ``GET /Users?count=1``) classified for people."""

from __future__ import annotations

from dataclasses import dataclass

from console.connections import Connection
from console.i18n import _
from console.tokens.status import generate_remedy, permission_name, six_permissions
from scim_client import Probe, RetryPolicy, ScimClient, ScimError


@dataclass
class ProbeResult:
    result: str  # ok | rejected | forbidden | unreachable | tls | protocol | error
    message: str
    remedy: str = ""
    status: int | None = None

    @property
    def ok(self) -> bool:
        return self.result == "ok"


# The token test: one request, and one retry of a transient failure within a few seconds.
PROBE_RETRY = RetryPolicy(max_retries=1, budget_seconds=10.0)
# scim_client's probe outcomes, as stored in tokens.last_test_result.
_PROBE_RESULT = {"not-scim": "protocol"}


def probe_token(conn: Connection, token: str, *, timeout: float = 20.0) -> ProbeResult:
    """Test ``token`` against the connection's SCIM URL with ``ScimClient.probe()`` (``GET /Users?count=1``),
    classified by scim_client's error mapping. Never raises for HTTP or network outcomes."""
    url = conn.scim_url or ""
    try:
        with ScimClient(url, token, timeout=timeout, verify=conn.verify_tls, retry=PROBE_RETRY) as client:
            probe = client.probe()
    except ScimError as exc:  # a token that cannot be sent in a header, a URL that is not http(s)
        probe = Probe.from_error(exc, url)
    result = _PROBE_RESULT.get(probe.outcome, probe.outcome)
    if probe.outcome == "ok":
        return ProbeResult("ok", _("The token works: the SCIM service answered the test request."), "", probe.status)
    if result == "rejected":  # the remedy names the place in the app, then the command
        return ProbeResult(
            "rejected", _("The token test failed: {detail}.").format(detail=probe.message),
            _("{remedy}. If that fails too, create a new API key in 6clicks for a user with the six SCIM permissions "
              "({permissions}) and store it on Connection & token > Connection settings.").format(
                remedy=generate_remedy(conn.name), permissions=six_permissions()),
            probe.status)
    if probe.outcome == "forbidden":
        permission = permission_name(probe.permission or "Integrations")
        message = (_("The token works but its 6clicks user lacks the '{permission}' permission: {detail}.")
                   if probe.named else
                   _("The token works but its 6clicks user lacks the '{permission}' permission (probably): "
                     "{detail}.")).format(permission=permission, detail=probe.message)
    elif probe.outcome in ("unreachable", "tls"):
        message = _("Could not test the token: {detail}.").format(detail=probe.message)
    else:
        message = _("The token test failed: {detail}.").format(detail=probe.message)
    return ProbeResult(result, message, probe.remedy, probe.status)
