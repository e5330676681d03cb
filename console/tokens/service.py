"""The 6clicks token lifecycle: API key, generate, import, status, test, rotate, and SCIM clients that use it.

Secrets (API key, access token) live in the keyring; SQLite keeps only metadata (fingerprint, issue and expiry
times, where the expiry came from, the last test). Nothing is replaced until its successor has been proven:

- ``set_api_key`` exchanges the new key once (a short-lived token, discarded) before storing it, so a mistyped
  key never replaces a working one (``verify=False`` skips this, e.g. offline set-up).
- ``generate``/``import_token`` test the new token against SCIM (``GET /Users?count=1``) before storing it; a
  rejected token (401) or a wrong URL is not stored and the previous token stays. A token that works but lacks a
  permission (403) is stored, and its status says which permission to add.
- ``rotate`` generates, verifies (any failure aborts: the old token stays and keeps working), stores, then pushes
  the token to Entra through Graph when it can, or returns the exact manual steps. Every attempt is recorded.

Levels (``TokenStatus.level``): ``ok``; ``notice`` (within the connection's first reminder, 60 days by default);
``warning`` (≤ 30 days); ``critical`` (≤ 7 days, or the token lacks a permission); ``expired``; ``rejected`` (the
last test got 401); ``missing`` (no token stored).
"""

from __future__ import annotations

import hashlib
import logging
import shlex
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from console.connections import Connection, ConnectionRepo
from console.errors import ConsoleError, InvalidInput, StoreError, TokenError
from scim_client import Probe, RetryPolicy, ScimClient, ScimError

if TYPE_CHECKING:
    from console.context import Context

log = logging.getLogger(__name__)

WARNING_DAYS = 30
CRITICAL_DAYS = 7
LEVELS = ("ok", "notice", "warning", "critical", "expired", "rejected", "missing")
EXIT_CODES = {"ok": 0, "notice": 0, "warning": 1, "critical": 2, "expired": 2, "rejected": 2, "missing": 2}
SEVERITY = {"ok": 0, "notice": 1, "warning": 2, "critical": 3, "expired": 4, "rejected": 5, "missing": 3}
SIX_PERMISSIONS = ("Integrations, Create new users, Edit users, Delete users, Create, edit and delete groups, "
                   "Manage group members")
ENTRA_MANUAL_STEPS = (
    "Open the Microsoft Entra admin center (https://entra.microsoft.com).",
    "Go to Enterprise applications > All applications > the 6clicks SCIM app > Provisioning.",
    "Open Admin Credentials; set Tenant URL to {tenant_url} (the API base URL + /scim/).",
    "Paste the token into Secret Token: copy it with Reveal once to copy on Connection & token > Token, or print "
    "it in a terminal with: python -m console token reveal --connection {cli_name}",
    "Click Test Connection and wait for the green confirmation.",
    "Click Save.",
)

#: Where an expiry date came from (the ``tokens.expiry_source`` column), in words for people.
EXPIRY_SOURCES = {
    "jwt-exp": "read from the token",
    "response": "given by 6clicks with the token",
    "assumed-365d": "assumed: 365 days from issue (the token carries no readable date)",
    "confirmed-estimate": "estimated, confirmed by you at import",
}

#: The last test's outcome (``ProbeResult.result``), in words for people.
TEST_RESULTS = {
    "ok": "works",
    "rejected": "rejected (401)",
    "forbidden": "lacks a permission (403)",
    "unreachable": "6clicks could not be reached",
    "tls": "TLS failed",
    "protocol": "not a SCIM endpoint",
    "error": "the service failed",
}


def cli_name(name: str) -> str:
    """A connection name quoted for a shell command line."""
    return shlex.quote(name)


def fix(in_app: str, command: str) -> str:
    """A remedy that names the place in the app first, then the command for those who prefer a shell."""
    return f"{in_app}. Or from a shell: {command}"


def api_key_remedy(name: str) -> str:
    return fix("Type the API key on Connection & token > Connection settings and save (it is checked with 6clicks "
               "first)", f"printf '%s' \"$KEY\" | python -m console token set-key --connection {cli_name(name)} "
               "--stdin")


def generate_remedy(name: str) -> str:
    return fix("Click Generate token on Connection & token > Token",
               f"python -m console token generate --connection {cli_name(name)}")


def rotate_remedy(name: str) -> str:
    return fix("Click Rotate token on Connection & token > Token",
               f"python -m console token rotate --connection {cli_name(name)}")


def import_remedy(name: str) -> str:
    return fix("Paste it under Import a token on Connection & token > Token",
               f"python -m console token import --connection {cli_name(name)} --stdin")


def fingerprint(secret: str) -> str:
    """Last 4 hex characters of the SHA-256 of a secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[-4:]


@dataclass
class TokenStatus:
    connection: str
    level: str
    days_left: int | None = None
    expires_at: datetime | None = None
    expiry_source: str | None = None
    estimated: bool = False
    fingerprint: str | None = None
    issued_at: datetime | None = None
    last_test_at: datetime | None = None
    last_test_result: str | None = None
    message: str = ""
    remedy: str = ""
    origin: str | None = None
    last_test_message: str | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.level]

    @property
    def severity(self) -> int:
        return SEVERITY[self.level]

    def to_dict(self) -> dict[str, Any]:
        def iso(d: datetime | None) -> str | None:
            return d.astimezone(UTC).isoformat() if d else None

        return {
            "connection": self.connection, "level": self.level, "exit_code": self.exit_code,
            "days_left": self.days_left, "expires_at": iso(self.expires_at), "expiry_source": self.expiry_source,
            "estimated": self.estimated, "fingerprint": self.fingerprint, "issued_at": iso(self.issued_at),
            "origin": self.origin, "last_test_at": iso(self.last_test_at), "last_test_result": self.last_test_result,
            "message": self.message, "remedy": self.remedy,
        }


@dataclass
class ProbeResult:
    result: str  # ok | rejected | forbidden | unreachable | tls | protocol | error
    message: str
    remedy: str = ""
    status: int | None = None

    @property
    def ok(self) -> bool:
        return self.result == "ok"


@dataclass
class RotationResult:
    status: TokenStatus
    pushed: bool
    manual_steps: list[str] = field(default_factory=list)
    outcome: str = "manual"  # pushed | manual | failed
    message: str = ""
    push_error: str | None = None
    rotation_id: int | None = None


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def days_left(expires_at: datetime, now: datetime) -> int:
    """Whole days until expiry, rounded down (negative once expired)."""
    return int((expires_at - now).total_seconds() // 86400)


def clean_secret(value: str, what: str) -> str:
    """Trim a pasted secret; refuse empty ones and ones with whitespace inside (a wrapped or partial copy)."""
    text = (value or "").strip()
    if text.lower().startswith("bearer "):
        text = text[7:].strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    if not text:
        raise InvalidInput(f"The {what} is empty.", f"Paste the {what} on standard input or at the prompt.")
    if any(c.isspace() for c in text):
        raise InvalidInput(f"The {what} contains spaces or line breaks inside it, so it was copied incompletely.",
                           f"Copy the {what} again as one unbroken line; nothing was changed.")
    if not text.isprintable():
        raise InvalidInput(f"The {what} contains control characters.", f"Copy the {what} again; nothing was changed.")
    return text


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
        return ProbeResult("ok", "The token works: the SCIM service answered the test request.", "", probe.status)
    if result == "rejected":  # the remedy names the place in the app, then the command
        return ProbeResult(
            "rejected", f"The token test failed: {probe.message}.",
            f"{generate_remedy(conn.name)}. If that fails too, create a new API key in 6clicks for a user with the six "
            f"SCIM permissions ({SIX_PERMISSIONS}) and store it on Connection & token > Connection settings.",
            probe.status)
    if probe.outcome == "forbidden":
        message = (f"The token works but its 6clicks user lacks the '{probe.permission or 'Integrations'}' permission"
                   f"{'' if probe.named else ' (probably)'}: {probe.message}.")
    elif probe.outcome in ("unreachable", "tls"):
        message = f"Could not test the token: {probe.message}."
    else:
        message = f"The token test failed: {probe.message}."
    return ProbeResult(result, message, probe.remedy, probe.status)


class TokenService:
    """Token operations for the connections of one context."""

    def __init__(self, ctx: Context, *, probe: Callable[[Connection, str], ProbeResult] = probe_token) -> None:
        self.ctx = ctx
        self.repo = ConnectionRepo(ctx.store, ctx.credentials)
        self._probe = probe

    # -- helpers ------------------------------------------------------------------------------------------
    def _now(self) -> datetime:
        clock = getattr(self.ctx, "clock", None)
        return clock() if clock else datetime.now(UTC)

    def _conn(self, name: str | Connection) -> Connection:
        return name if isinstance(name, Connection) else self.repo.get(name)

    def _current_row(self, conn: Connection) -> sqlite3.Row | None:
        return self.ctx.store.query_one(
            "SELECT * FROM tokens WHERE connection_id = ? AND is_current = 1 ORDER BY id DESC LIMIT 1", (conn.id,))

    def _require_key_mode(self, conn: Connection, action: str) -> None:
        if conn.auth_mode != "6clicks-api-key":
            raise TokenError(f"Connection {conn.name!r} uses a static bearer token, so the console cannot {action}.",
                             f"Import a new token instead. {import_remedy(conn.name)}")

    def _save_token(self, conn: Connection, token: str, *, issued_at: datetime | None, expires_at: datetime,
                    expiry_source: str, origin: str, probe: ProbeResult | None) -> None:
        """Store the token in the keyring and its metadata in SQLite; on a store failure put the old one back."""
        old = self.ctx.credentials.get(conn.name, "access_token")
        self.ctx.credentials.set(conn.name, "access_token", token)
        now = self._now()
        try:
            with self.ctx.store.transaction() as db:
                db.execute("UPDATE tokens SET is_current = 0, replaced_at = ? WHERE connection_id = ? AND is_current = 1",
                           (_iso(now), conn.id))
                db.execute(
                    "INSERT INTO tokens (connection_id, fingerprint, origin, issued_at, expires_at, expiry_source,"
                    " estimated, is_current, stored_at, last_test_at, last_test_result, last_test_message)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)",
                    (conn.id, fingerprint(token), origin, _iso(issued_at), _iso(expires_at), expiry_source,
                     int(expiry_source not in ("jwt-exp", "response")), _iso(now),
                     _iso(now) if probe else None, probe.result if probe else None,
                     probe.message if probe else None))
        except (sqlite3.DatabaseError, StoreError) as exc:
            if old:
                self.ctx.credentials.set(conn.name, "access_token", old)
            else:
                self.ctx.credentials.delete(conn.name, "access_token")
            raise StoreError(f"Recording the new token for {conn.name!r} failed ({exc}).",
                             "The previous token was kept; check the data folder is writable and try again.") from None
        log.info("stored %s token …%s for connection %r (expires %s, %s)", origin, fingerprint(token), conn.name,
                 _iso(expires_at), expiry_source)

    def _record_test(self, conn: Connection, token: str, probe: ProbeResult) -> None:
        fp = fingerprint(token)
        row = self._current_row(conn)
        if row is None or row["fingerprint"] != fp:
            # The keyring holds a token the store does not know (e.g. set by another tool): adopt it.
            from scim_client import read_token_expiry

            expires_at, source = read_token_expiry(token)
            self._save_token(conn, token, issued_at=None, expires_at=expires_at, expiry_source=source,
                             origin="imported", probe=probe)
            return
        self.ctx.store.execute(
            "UPDATE tokens SET last_test_at = ?, last_test_result = ?, last_test_message = ? WHERE id = ?",
            (_iso(self._now()), probe.result, probe.message, row["id"]))

    # -- API key --------------------------------------------------------------------------------------------
    def set_api_key(self, name: str, key: str, *, verify: bool = True) -> str:
        """Store the connection's 6clicks API key (after proving it works unless ``verify=False``).
        Returns the key's fingerprint. The previous key is kept if the new one is refused."""
        conn = self._conn(name)
        self._require_key_mode(conn, "use an API key")
        key = clean_secret(key, "API key")
        if verify:
            self._exchange(conn, key, long_lived=False, action="check the new API key")
        self.ctx.credentials.set(conn.name, "api_key", key)
        log.info("stored API key …%s for connection %r", fingerprint(key), conn.name)
        return fingerprint(key)

    def has_api_key(self, name: str) -> bool:
        return bool(self.ctx.credentials.get(self._conn(name).name, "api_key"))

    def _exchange(self, conn: Connection, key: str, *, long_lived: bool, action: str) -> Any:
        from scim_client import ScimError, exchange_api_key

        try:
            return exchange_api_key(conn.api_url, key, long_lived, verify=conn.verify_tls)
        except ScimError as exc:
            kind = getattr(exc, "kind", "error")
            message = getattr(exc, "message", "") or type(exc).__name__
            raise TokenError(f"Could not {action} for {conn.name!r}: {message}; nothing was changed.",
                             exc.remedy or "", result=kind) from None

    # -- generate / import ----------------------------------------------------------------------------------
    def generate(self, name: str, *, verify: bool = True, origin: str = "generated") -> TokenStatus:
        """Exchange the stored API key for a long-lived token, test it, and store it."""
        conn = self._conn(name)
        self._require_key_mode(conn, "generate a token")
        key = self.ctx.credentials.get(conn.name, "api_key")
        if not key:
            raise TokenError(f"No API key is stored for {conn.name!r}, so no token can be generated.",
                             api_key_remedy(conn.name), result="missing")
        issued = self._exchange(conn, key, long_lived=True, action="generate a token")
        probe = self._probe(conn, issued.access_token) if verify else None
        if probe is not None and probe.result in ("rejected", "protocol"):
            raise TokenError(f"The new token for {conn.name!r} failed its test, so it was not stored and the "
                             f"previous token is kept. {probe.message}", probe.remedy, result=probe.result)
        self._save_token(conn, issued.access_token, issued_at=issued.issued_at, expires_at=issued.expires_at,
                         expiry_source=issued.expiry_source, origin=origin, probe=probe)
        return self.status(conn)

    def import_token(self, name: str, token: str, *, accept_estimated: bool = False,
                     verify: bool = True) -> TokenStatus:
        """Store a token the admin pasted. Its expiry comes from the JWT ``exp``. A token whose expiry cannot be
        read (not a JWT, or no ``exp``) is refused unless ``accept_estimated``: it is then assumed to expire 365
        days from now and shown as estimated."""
        from scim_client import read_token_expiry

        conn = self._conn(name)
        token = clean_secret(token, "token")
        now = self._now()
        try:
            expires_at, source = read_token_expiry(token)
        except Exception:  # a malformed token must never surface a parser's traceback
            expires_at, source = now + timedelta(days=365), "assumed-365d"
        if source != "jwt-exp":
            if not accept_estimated:
                raise InvalidInput(
                    "The pasted token has no readable expiry date (it is not a complete JWT, or has no 'exp' claim).",
                    "Check that you copied all of it (a JWT has three parts separated by dots). If it is right, import "
                    "it again confirming an estimated expiry (--accept-estimated-expiry): the console will assume it "
                    "expires 365 days from today and mark the date as estimated. Nothing was changed.")
            expires_at, source = now + timedelta(days=365), "assumed-365d"
        if expires_at <= now:
            raise InvalidInput(f"The pasted token expired on {expires_at:%Y-%m-%d %H:%M} UTC.",
                               "Generate a new one (token generate) or paste a current one; nothing was changed.")
        probe = self._probe(conn, token) if verify else None
        if probe is not None and probe.result in ("rejected", "protocol"):
            raise TokenError(f"The pasted token failed its test, so it was not stored and the previous token is kept. "
                             f"{probe.message}", probe.remedy, result=probe.result)
        self._save_token(conn, token, issued_at=now if source != "jwt-exp" else None, expires_at=expires_at,
                         expiry_source=source, origin="imported", probe=probe)
        return self.status(conn)

    def get_token(self, name: str) -> str | None:
        """The stored access token (for pushing it to Entra by hand). Handle with care: never log it."""
        return self.ctx.credentials.get(self._conn(name).name, "access_token")

    # -- status / test ----------------------------------------------------------------------------------------
    def status(self, name: str | Connection) -> TokenStatus:
        """The token's standing from stored metadata only (no network, no keyring): cheap enough for a banner."""
        conn = self._conn(name)
        row = self._current_row(conn)
        if row is None:
            if conn.auth_mode == "6clicks-api-key":
                remedy = fix("On Connection & token, store the API key (Connection settings) and click Generate "
                             "token", f"printf '%s' \"$KEY\" | python -m console token set-key --connection "
                             f"{cli_name(conn.name)} --stdin && python -m console token generate --connection "
                             f"{cli_name(conn.name)}")
            else:
                remedy = import_remedy(conn.name)
            return TokenStatus(conn.name, "missing", message=f"No token is stored for {conn.name!r}: Entra cannot "
                               "provision it and the console cannot read it.", remedy=remedy)
        now = self._now()
        expires_at = _parse(row["expires_at"])
        left = days_left(expires_at, now) if expires_at else None
        fp = row["fingerprint"]
        estimated = bool(row["estimated"])
        when = f"{expires_at:%Y-%m-%d}" + (" (estimated)" if estimated else "") if expires_at else "an unknown date"
        renew = (f"Rotate it now. {rotate_remedy(conn.name)}" if conn.auth_mode == "6clicks-api-key" else
                 f"Get a new token from the provider and import it. {import_remedy(conn.name)}")
        test = row["last_test_result"]
        notice_days = max(conn.reminder_days) if conn.reminder_days else 60
        if expires_at is not None and expires_at <= now:
            level, message, remedy = "expired", f"The token …{fp} for {conn.name!r} expired on {when}.", renew + \
                "; then update Entra's Secret Token."
        elif test == "rejected":
            level = "rejected"
            message = (f"The token …{fp} for {conn.name!r} was rejected (401) when last tested: "
                       f"{row['last_test_message'] or ''}").strip()
            remedy = renew + "; if generation fails too, the API key itself is no longer valid."
        elif left is not None and left <= CRITICAL_DAYS:
            level, message, remedy = "critical", f"The token …{fp} for {conn.name!r} expires in {left} days, on {when}.", renew + "."
        elif test == "forbidden":
            level, message = "critical", (row["last_test_message"] or "The token lacks a permission.")
            remedy = (f"Give the API key's user the six SCIM permissions ({SIX_PERMISSIONS}), then generate a new "
                      f"token. {generate_remedy(conn.name)}")
        elif left is not None and left <= WARNING_DAYS:
            level, message, remedy = "warning", f"The token …{fp} for {conn.name!r} expires in {left} days, on {when}.", renew + "."
        elif left is not None and left <= notice_days:
            level, message = "notice", f"The token …{fp} for {conn.name!r} expires in {left} days, on {when}."
            remedy = "Plan the renewal (about two minutes). " + renew + "."
        else:
            level = "ok"
            message = f"The token …{fp} for {conn.name!r} is valid until {when}" + \
                (f" ({left} days left)." if left is not None else ".")
            remedy = ""
        if level not in ("rejected",) and test in ("unreachable", "tls", "protocol", "error"):
            message += f" The last test could not confirm it: {row['last_test_message']}"
        return TokenStatus(
            connection=conn.name, level=level, days_left=left, expires_at=expires_at,
            expiry_source=row["expiry_source"], estimated=estimated, fingerprint=fp,
            issued_at=_parse(row["issued_at"]), last_test_at=_parse(row["last_test_at"]), last_test_result=test,
            message=message, remedy=remedy, origin=row["origin"], last_test_message=row["last_test_message"])

    def status_all(self) -> list[TokenStatus]:
        return [self.status(c) for c in self.repo.list()]

    def attention(self) -> list[TokenStatus]:
        """Statuses that need the operator (everything but ``ok``), most severe first: what a banner shows."""
        return sorted((s for s in self.status_all() if s.level != "ok"), key=lambda s: -s.severity)

    def test(self, name: str) -> TokenStatus:
        """Test the stored token against SCIM (``GET /Users?count=1``), record the result, return the status.
        ``status.last_test_result`` is ok | rejected | forbidden | unreachable | tls | protocol | error."""
        conn = self._conn(name)
        token = self.ctx.credentials.get(conn.name, "access_token")
        if not token:
            return self.status(conn)
        probe = self._probe(conn, token)
        self._record_test(conn, token, probe)
        log.info("tested token …%s for connection %r: %s", fingerprint(token), conn.name, probe.result)
        status = self.status(conn)
        if probe.result not in ("ok", "rejected", "forbidden") and probe.remedy:
            status.remedy = (status.remedy + " " if status.remedy else "") + probe.remedy
        return status

    # -- rotation ---------------------------------------------------------------------------------------------
    def rotations(self, name: str, limit: int = 50) -> list[dict[str, Any]]:
        conn = self._conn(name)
        rows = self.ctx.store.query("SELECT * FROM rotations WHERE connection_id = ? ORDER BY id DESC LIMIT ?",
                                    (conn.id, limit))
        return [dict(r) for r in rows]

    def _record_rotation(self, conn: Connection, started: datetime, old_fp: str | None, new_fp: str | None,
                         outcome: str, verified: bool, pushed: bool, message: str) -> int:
        cursor = self.ctx.store.execute(
            "INSERT INTO rotations (connection_id, started_at, finished_at, old_fingerprint, new_fingerprint, outcome,"
            " verified, pushed, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (conn.id, _iso(started), _iso(self._now()), old_fp, new_fp, outcome, int(verified), int(pushed),
             message[:1000]))
        return int(cursor.lastrowid or 0)

    def manual_steps(self, name: str | Connection) -> list[str]:
        """The steps to put the current token into Entra by hand (Tenant URL = API base URL + /scim/)."""
        conn = self._conn(name)
        return [s.format(tenant_url=conn.tenant_url, scim_url=conn.scim_url, name=conn.name,
                         cli_name=cli_name(conn.name)) for s in ENTRA_MANUAL_STEPS]

    # -- the token in Entra ---------------------------------------------------------------------------------
    def _entra_key(self, conn: Connection) -> str:
        return f"entra_token:{conn.id}"

    def confirm_in_entra(self, name: str | Connection) -> str | None:
        """Record that the admin put the current token into Entra by hand (its fingerprint, no secret)."""
        conn = self._conn(name)
        row = self._current_row(conn)
        if row is None:
            raise TokenError(f"There is no token for {conn.name!r} to confirm.", generate_remedy(conn.name),
                             result="missing")
        self.ctx.store.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                               (self._entra_key(conn), row["fingerprint"]))
        return str(row["fingerprint"])

    def in_entra(self, name: str | Connection) -> str | None:
        """How Entra got the current token: "pushed" (through Graph), "confirmed" (by the admin), or None when
        nothing says Entra has it yet (a new token always starts at None)."""
        conn = self._conn(name)
        row = self._current_row(conn)
        if row is None:
            return None
        fp = row["fingerprint"]
        pushed = self.ctx.store.query_one(
            "SELECT 1 FROM rotations WHERE connection_id = ? AND new_fingerprint = ? AND pushed = 1", (conn.id, fp))
        if pushed:
            return "pushed"
        confirmed = self.ctx.store.query_one("SELECT value FROM settings WHERE key = ?", (self._entra_key(conn),))
        return "confirmed" if confirmed and confirmed["value"] == fp else None

    def push_to_entra(self, name: str | Connection, progress: Callable[[str], None] | None = None) -> str:
        """Write the current token and the Tenant URL into Entra's provisioning job through Graph (secrets), then
        ask Entra to test them. Recorded like a rotation that kept the token. Raises ``GraphError``/``TokenError``."""
        from console.graph import GraphClient, GraphError

        say = progress or (lambda _m: None)
        conn = self._conn(name)
        if conn.entra is None or not conn.entra.can_manage_job:
            raise TokenError(f"{conn.name!r} has no Microsoft Graph settings with a service principal and job id.",
                             "Add them on Connection & token > Microsoft Graph (the job id is found for you), or "
                             "put the token into Entra by hand (the steps are shown there).", result="error")
        token = self.ctx.credentials.get(conn.name, "access_token")
        if not token:
            raise TokenError(f"No token is stored for {conn.name!r}.", generate_remedy(conn.name), result="missing")
        started = self._now()
        stored = False
        try:
            with GraphClient.for_connection(self.ctx, conn) as graph:
                say("Writing the token to Entra's provisioning job…")
                graph.put_secrets(conn.tenant_url, token)
                stored = True
                say("Asking Entra to test it (Test Connection)…")
                graph.validate_credentials(conn.tenant_url, token)
        except GraphError as exc:
            message = ("Entra received the token but its Test Connection failed: " if stored else "") + str(exc)
            self._record_rotation(conn, started, fingerprint(token), fingerprint(token), "failed", True, False,
                                  message)
            raise
        self._record_rotation(conn, started, fingerprint(token), fingerprint(token), "pushed", True, True,
                              "Token pushed to Entra; Entra validated it.")
        log.info("pushed token …%s for %r to Entra", fingerprint(token), conn.name)
        return fingerprint(token)

    def rotate(self, name: str, push_to_entra: bool = True,
               progress: Callable[[str], None] | None = None) -> RotationResult:
        """Generate a new token, verify it, store it, then push it to Entra (or return the manual steps)."""
        say = progress or (lambda _m: None)
        conn = self._conn(name)
        self._require_key_mode(conn, "rotate the token")
        started = self._now()
        row = self._current_row(conn)
        old_fp = row["fingerprint"] if row else None
        key = self.ctx.credentials.get(conn.name, "api_key")
        if not key:
            self._record_rotation(conn, started, old_fp, None, "failed", False, False, "no API key stored")
            raise TokenError(f"No API key is stored for {conn.name!r}, so the token cannot be rotated.",
                             api_key_remedy(conn.name), result="missing")
        say("Generating a new long-lived token from the API key…")
        try:
            issued = self._exchange(conn, key, long_lived=True, action="generate a new token")
        except TokenError as exc:
            self._record_rotation(conn, started, old_fp, None, "failed", False, False, exc.message)
            raise
        say(f"Verifying the new token …{issued.fingerprint} against {conn.scim_url}…")
        probe = self._probe(conn, issued.access_token)
        if not probe.ok:
            self._record_rotation(conn, started, old_fp, issued.fingerprint, "failed", False, False, probe.message)
            raise TokenError(f"The new token failed its test, so the rotation stopped and the current token is kept "
                             f"(it still works until it expires). {probe.message}", probe.remedy, result=probe.result)
        self._save_token(conn, issued.access_token, issued_at=issued.issued_at, expires_at=issued.expires_at,
                         expiry_source=issued.expiry_source, origin="rotated", probe=probe)
        pushed, push_error = False, None
        steps = self.manual_steps(conn)
        if push_to_entra and conn.entra is not None and conn.entra.can_manage_job:
            secret = self.ctx.credentials.get(conn.name, "graph_client_secret")
            if secret:
                from console.graph import GraphClient, GraphError

                say("Pushing the new token to Entra (synchronization secrets)…")
                stored_in_entra = False
                try:
                    with GraphClient.for_connection(self.ctx, conn) as graph:
                        graph.put_secrets(conn.tenant_url, issued.access_token)
                        stored_in_entra = True
                        say("Asking Entra to validate the credentials…")
                        graph.validate_credentials(conn.tenant_url, issued.access_token)
                    pushed = True
                except GraphError as exc:
                    push_error = (("Entra received the new token but its Test Connection failed: " if stored_in_entra
                                   else "") + str(exc))
            else:
                push_error = "No Graph client secret is stored for this connection."
        elif push_to_entra:
            push_error = ("The connection has no Microsoft Graph settings with a service principal id and job id "
                          "(Connection & token > Microsoft Graph).")
        if pushed:
            outcome, message = "pushed", "New token stored and pushed to Entra; Entra validated it."
            steps = []
        else:
            outcome = "manual"
            message = ("New token stored and verified; update Entra by hand." +
                       (f" Automatic push not possible: {push_error}" if push_error else ""))
        rid = self._record_rotation(conn, started, old_fp, issued.fingerprint, outcome, True, pushed, message)
        log.info("rotated token for %r: …%s -> …%s (%s)", conn.name, old_fp, issued.fingerprint, outcome)
        return RotationResult(self.status(conn), pushed, steps, outcome, message, push_error, rid)

    # -- SCIM client --------------------------------------------------------------------------------------------
    def scim_client(self, name: str, **kwargs: Any) -> ScimClient:
        """A ``ScimClient`` for the connection whose token comes from the keyring. On a 401 the client asks for a
        fresh token: the keyring is read again (another process may have rotated it) and, if it still holds the
        rejected token, a new one is generated from the API key when there is one."""
        from scim_client import ScimClient

        conn = self._conn(name)
        used: dict[str, str] = {}

        def provider(refresh: bool = False) -> str:
            token = self.ctx.credentials.get(conn.name, "access_token", fresh=refresh)
            if refresh and token and used.get("fp") == fingerprint(token) and conn.auth_mode == "6clicks-api-key" \
                    and self.ctx.credentials.get(conn.name, "api_key"):
                try:
                    self.generate(conn.name)
                    token = self.ctx.credentials.get(conn.name, "access_token")
                except ConsoleError as exc:
                    log.warning("could not regenerate the token for %r after a 401: %s", conn.name, exc.message)
            if not token:
                raise TokenError(f"No token is stored for {conn.name!r}.", self.status(conn).remedy, result="missing")
            used["fp"] = fingerprint(token)
            return token

        kwargs.setdefault("verify", conn.verify_tls)
        return ScimClient(conn.scim_url, token=provider, **kwargs)
