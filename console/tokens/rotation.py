"""Rotation: a new token generated, verified and stored, then put into Entra's provisioning job through Graph (or
the exact manual steps returned); whether Entra has the current token; the history of attempts (no secrets).

Nothing is replaced until its successor has been proven: any failure before the new token is stored aborts, and the
old token stays and keeps working. Every attempt is recorded in ``rotations``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from console.connections import Connection
from console.errors import TokenError
from console.graph import GraphClient, GraphError
from console.i18n import N_, _
from console.tokens.service import TokenService
from console.tokens.status import TokenStatus, api_key_remedy, cli_name, generate_remedy, iso
from scim_client import fingerprint

log = logging.getLogger(__name__)

#: the steps, translated where shown (``manual_steps``): the Entra admin center's own Japanese words
ENTRA_MANUAL_STEPS = (
    N_("Open the Microsoft Entra admin center (https://entra.microsoft.com)."),
    N_("Go to Enterprise applications > All applications > the 6clicks SCIM app > Provisioning."),
    N_("Open Admin Credentials; set Tenant URL to {tenant_url} (the API base URL + /scim/)."),
    N_("Paste the token into Secret Token: copy it with Reveal once to copy on Connection & token > Token, or print "
       "it in a terminal with: python -m console token reveal --connection {cli_name}"),
    N_("Click Test Connection and wait for the green confirmation."),
    N_("Click Save."),
)


@dataclass
class RotationResult:
    status: TokenStatus
    pushed: bool
    manual_steps: list[str] = field(default_factory=list)
    outcome: str = "manual"  # pushed | manual | failed
    message: str = ""
    push_error: str | None = None
    rotation_id: int | None = None


# -- rotation ---------------------------------------------------------------------------------------------
def rotations(svc: TokenService, name: str, limit: int = 50) -> list[dict[str, Any]]:
    conn = svc.conn(name)
    rows = svc.ctx.store.query("SELECT * FROM rotations WHERE connection_id = ? ORDER BY id DESC LIMIT ?",
                               (conn.id, limit))
    return [dict(r) for r in rows]


def _record_rotation(svc: TokenService, conn: Connection, started: datetime, old_fp: str | None, new_fp: str | None,
                     outcome: str, verified: bool, pushed: bool, message: str) -> int:
    cursor = svc.ctx.store.execute(
        "INSERT INTO rotations (connection_id, started_at, finished_at, old_fingerprint, new_fingerprint, outcome,"
        " verified, pushed, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (conn.id, iso(started), iso(svc.ctx.now()), old_fp, new_fp, outcome, int(verified), int(pushed),
         message[:1000]))
    return int(cursor.lastrowid or 0)


def manual_steps(svc: TokenService, name: str | Connection) -> list[str]:
    """The steps to put the current token into Entra by hand (Tenant URL = API base URL + /scim/)."""
    conn = svc.conn(name)
    return [_(s).format(tenant_url=conn.tenant_url, scim_url=conn.scim_url, name=conn.name,
                        cli_name=cli_name(conn.name)) for s in ENTRA_MANUAL_STEPS]


# -- the token in Entra ---------------------------------------------------------------------------------
def _entra_key(conn: Connection) -> str:
    return f"entra_token:{conn.id}"


def confirm_in_entra(svc: TokenService, name: str | Connection) -> str | None:
    """Record that the admin put the current token into Entra by hand (its fingerprint, no secret)."""
    conn = svc.conn(name)
    row = svc.current_row(conn)
    if row is None:
        raise TokenError(_("There is no token for {name!r} to confirm.").format(name=conn.name),
                         generate_remedy(conn.name), result="missing")
    svc.ctx.store.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                          (_entra_key(conn), row["fingerprint"]))
    return str(row["fingerprint"])


def in_entra(svc: TokenService, name: str | Connection) -> str | None:
    """How Entra got the current token: "pushed" (through Graph), "confirmed" (by the admin), or None when
    nothing says Entra has it yet (a new token always starts at None)."""
    conn = svc.conn(name)
    row = svc.current_row(conn)
    if row is None:
        return None
    fp = row["fingerprint"]
    pushed = svc.ctx.store.query_one(
        "SELECT 1 FROM rotations WHERE connection_id = ? AND new_fingerprint = ? AND pushed = 1", (conn.id, fp))
    if pushed:
        return "pushed"
    confirmed = svc.ctx.store.query_one("SELECT value FROM settings WHERE key = ?", (_entra_key(conn),))
    return "confirmed" if confirmed and confirmed["value"] == fp else None


def push_to_entra(svc: TokenService, name: str | Connection, progress: Callable[[str], None] | None = None) -> str:
    """Write the current token and the Tenant URL into Entra's provisioning job through Graph (secrets), then
    ask Entra to test them. Recorded like a rotation that kept the token. Raises ``GraphError``/``TokenError``."""
    say = progress or (lambda _m: None)
    conn = svc.conn(name)
    if conn.entra is None or not conn.entra.can_manage_job:
        raise TokenError(_("{name!r} has no Microsoft Graph settings with a service principal and job id.").format(
                             name=conn.name),
                         _("Add them on Connection & token > Microsoft Graph (the job id is found for you), or put the "
                           "token into Entra by hand (the steps are shown there)."), result="error")
    token = svc.ctx.credentials.get(conn.name, "access_token")
    if not token:
        raise TokenError(_("No token is stored for {name!r}.").format(name=conn.name), generate_remedy(conn.name),
                         result="missing")
    started = svc.ctx.now()
    stored = False
    try:
        with GraphClient.for_connection(svc.ctx, conn) as graph:
            say(_("Writing the token to Entra's provisioning job…"))
            graph.put_secrets(conn.tenant_url, token)
            stored = True
            say(_("Asking Entra to test it (Test Connection)…"))
            graph.validate_credentials(conn.tenant_url, token)
    except GraphError as exc:
        message = (_("Entra received the token but its Test Connection failed: {error}").format(error=exc) if stored
                   else str(exc))
        _record_rotation(svc, conn, started, fingerprint(token), fingerprint(token), "failed", True, False,
                         message)
        raise
    _record_rotation(svc, conn, started, fingerprint(token), fingerprint(token), "pushed", True, True,
                     _("Token pushed to Entra; Entra validated it."))
    log.info("pushed token …%s for %r to Entra", fingerprint(token), conn.name)
    return fingerprint(token)


def rotate(svc: TokenService, name: str, push_to_entra: bool = True,
           progress: Callable[[str], None] | None = None) -> RotationResult:
    """Generate a new token, verify it, store it, then push it to Entra (or return the manual steps)."""
    say = progress or (lambda _m: None)
    conn = svc.conn(name)
    svc.require_key_mode(conn, N_("rotate the token"))
    started = svc.ctx.now()
    row = svc.current_row(conn)
    old_fp = row["fingerprint"] if row else None
    key = svc.ctx.credentials.get(conn.name, "api_key")
    if not key:
        _record_rotation(svc, conn, started, old_fp, None, "failed", False, False, "no API key stored")
        raise TokenError(_("No API key is stored for {name!r}, so the token cannot be rotated.").format(name=conn.name),
                         api_key_remedy(conn.name), result="missing")
    say(_("Generating a new long-lived token from the API key…"))
    try:
        issued = svc.exchange(conn, key, long_lived=True, action=N_("generate a new token"))
    except TokenError as exc:
        _record_rotation(svc, conn, started, old_fp, None, "failed", False, False, exc.message)
        raise
    say(_("Verifying the new token …{fp} against {url}…").format(fp=issued.fingerprint, url=conn.scim_url))
    probe = svc.probe(conn, issued.access_token)
    if not probe.ok:
        _record_rotation(svc, conn, started, old_fp, issued.fingerprint, "failed", False, False, probe.message)
        raise TokenError(_("The new token failed its test, so the rotation stopped and the current token is kept (it "
                           "still works until it expires). {detail}").format(detail=probe.message), probe.remedy,
                         result=probe.result)
    svc.save_token(conn, issued.access_token, issued_at=issued.issued_at, expires_at=issued.expires_at,
                   expiry_source=issued.expiry_source, origin="rotated", probe=probe)
    pushed, push_error = False, None
    steps = manual_steps(svc, conn)
    if push_to_entra and conn.entra is not None and conn.entra.can_manage_job:
        secret = svc.ctx.credentials.get(conn.name, "graph_client_secret")
        if secret:
            say(_("Pushing the new token to Entra (synchronization secrets)…"))
            stored_in_entra = False
            try:
                with GraphClient.for_connection(svc.ctx, conn) as graph:
                    graph.put_secrets(conn.tenant_url, issued.access_token)
                    stored_in_entra = True
                    say(_("Asking Entra to validate the credentials…"))
                    graph.validate_credentials(conn.tenant_url, issued.access_token)
                pushed = True
            except GraphError as exc:
                push_error = (_("Entra received the new token but its Test Connection failed: {error}").format(
                    error=exc) if stored_in_entra else str(exc))
        else:
            push_error = _("No Graph client secret is stored for this connection.")
    elif push_to_entra:
        push_error = _("The connection has no Microsoft Graph settings with a service principal id and job id "
                       "(Connection & token > Microsoft Graph).")
    if pushed:
        outcome, message = "pushed", _("New token stored and pushed to Entra; Entra validated it.")
        steps = []
    else:
        outcome = "manual"
        message = _("New token stored and verified; update Entra by hand.")
        if push_error:
            message += " " + _("Automatic push not possible: {error}").format(error=push_error)
    rid = _record_rotation(svc, conn, started, old_fp, issued.fingerprint, outcome, True, pushed, message)
    log.info("rotated token for %r: …%s -> …%s (%s)", conn.name, old_fp, issued.fingerprint, outcome)
    return RotationResult(svc.status(conn), pushed, steps, outcome, message, push_error, rid)
