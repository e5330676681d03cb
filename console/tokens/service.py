"""The 6clicks token lifecycle: API key, generate, import, status, test, rotate, and SCIM clients that use it.

Secrets (API key, access token) live in the keyring; SQLite keeps only metadata (fingerprint, issue and expiry
times, where the expiry came from, the last test). Nothing is replaced until its successor has been proven:

- ``set_api_key`` exchanges the new key once (a short-lived token, discarded) before storing it, so a mistyped
  key never replaces a working one (``verify=False`` skips this, e.g. offline set-up).
- ``generate``/``import_token`` test the new token against SCIM (``GET /Users?count=1``) before storing it; a
  rejected token (401) or a wrong URL is not stored and the previous token stays. A token that works but lacks a
  permission (403) is stored, and its status says which permission to add.
- ``console.tokens.rotation.rotate`` generates, verifies (any failure aborts: the old token stays and keeps
  working), stores, then pushes the token to Entra through Graph when it can, or returns the exact manual steps.

Levels and the status text: ``console.tokens.status``; the token test: ``console.tokens.probe``; rotation and the
token in Entra: ``console.tokens.rotation``.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from console.connections import Connection, ConnectionRepo
from console.context import Context
from console.errors import ConsoleError, InvalidInput, StoreError, TokenError
from console.i18n import N_, _, fmt_datetime
from console.tokens.probe import ProbeResult, probe_token
from console.tokens.status import (
    TokenStatus,
    api_key_remedy,
    cli_name,
    error_kind,
    fix,
    import_remedy,
    iso,
    token_status,
)
from scim_client import IssuedToken, ScimClient, ScimError, exchange_api_key, fingerprint, read_token_expiry

log = logging.getLogger(__name__)


#: what ``clean_secret`` is given (``what``): the words are translated where the message is made
SECRET_WORDS = (N_("API key"), N_("token"))


def clean_secret(value: str, what: str) -> str:
    """Trim a pasted secret; refuse empty ones and ones with whitespace inside (a wrapped or partial copy).
    ``what`` is "API key" or "token" (shown in the current language)."""
    text = (value or "").strip()
    if text.lower().startswith("bearer "):
        text = text[7:].strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    what = _(what) if what in SECRET_WORDS else what
    if not text:
        raise InvalidInput(_("The {what} is empty.").format(what=what),
                           _("Paste the {what} on standard input or at the prompt.").format(what=what))
    if any(c.isspace() for c in text):
        raise InvalidInput(
            _("The {what} contains spaces or line breaks inside it, so it was copied incompletely.").format(what=what),
            _("Copy the {what} again as one unbroken line; nothing was changed.").format(what=what))
    if not text.isprintable():
        raise InvalidInput(_("The {what} contains control characters.").format(what=what),
                           _("Copy the {what} again; nothing was changed.").format(what=what))
    return text


class TokenService:
    """Token operations for the connections of one context."""

    def __init__(self, ctx: Context, *, probe: Callable[[Connection, str], ProbeResult] = probe_token) -> None:
        self.ctx = ctx
        self.repo = ConnectionRepo(ctx.store, ctx.credentials)
        self.probe = probe

    # -- helpers ------------------------------------------------------------------------------------------
    def conn(self, name: str | Connection) -> Connection:
        return name if isinstance(name, Connection) else self.repo.get(name)

    def current_row(self, conn: Connection) -> sqlite3.Row | None:
        return self.ctx.store.query_one(
            "SELECT * FROM tokens WHERE connection_id = ? AND is_current = 1 ORDER BY id DESC LIMIT 1", (conn.id,))

    def require_key_mode(self, conn: Connection, action: str) -> None:
        """``action``: what needs an API key, in words marked with ``N_`` (e.g. "generate a token")."""
        if conn.auth_mode != "6clicks-api-key":
            raise TokenError(_("Connection {name!r} uses a static bearer token, so the console cannot {action}.")
                             .format(name=conn.name, action=_(action)),
                             _("Import a new token instead. {remedy}").format(remedy=import_remedy(conn.name)))

    def save_token(self, conn: Connection, token: str, *, issued_at: datetime | None, expires_at: datetime,
                   expiry_source: str, origin: str, probe: ProbeResult | None) -> None:
        """Store the token in the keyring and its metadata in SQLite; on a store failure put the old one back."""
        old = self.ctx.credentials.get(conn.name, "access_token")
        self.ctx.credentials.set(conn.name, "access_token", token)
        now = self.ctx.now()
        try:
            with self.ctx.store.transaction() as db:
                db.execute("UPDATE tokens SET is_current = 0, replaced_at = ? WHERE connection_id = ? AND is_current = 1",
                           (iso(now), conn.id))
                db.execute(
                    "INSERT INTO tokens (connection_id, fingerprint, origin, issued_at, expires_at, expiry_source,"
                    " estimated, is_current, stored_at, last_test_at, last_test_result, last_test_message)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)",
                    (conn.id, fingerprint(token), origin, iso(issued_at), iso(expires_at), expiry_source,
                     int(expiry_source not in ("jwt-exp", "response")), iso(now),
                     iso(now) if probe else None, probe.result if probe else None,
                     probe.message if probe else None))
        except (sqlite3.DatabaseError, StoreError) as exc:
            if old:
                self.ctx.credentials.set(conn.name, "access_token", old)
            else:
                self.ctx.credentials.delete(conn.name, "access_token")
            raise StoreError(_("Recording the new token for {name!r} failed ({error}).").format(name=conn.name,
                                                                                                  error=exc),
                             _("The previous token was kept; check the data folder is writable and try again.")
                             ) from None
        log.info("stored %s token …%s for connection %r (expires %s, %s)", origin, fingerprint(token), conn.name,
                 iso(expires_at), expiry_source)

    def _record_test(self, conn: Connection, token: str, probe: ProbeResult) -> None:
        fp = fingerprint(token)
        row = self.current_row(conn)
        if row is None or row["fingerprint"] != fp:
            # The keyring holds a token the store does not know (e.g. set by another tool): adopt it.
            expires_at, source = read_token_expiry(token)
            self.save_token(conn, token, issued_at=None, expires_at=expires_at, expiry_source=source,
                            origin="imported", probe=probe)
            return
        self.ctx.store.execute(
            "UPDATE tokens SET last_test_at = ?, last_test_result = ?, last_test_message = ? WHERE id = ?",
            (iso(self.ctx.now()), probe.result, probe.message, row["id"]))

    # -- API key --------------------------------------------------------------------------------------------
    def set_api_key(self, name: str, key: str, *, verify: bool = True) -> str:
        """Store the connection's 6clicks API key (after proving it works unless ``verify=False``).
        Returns the key's fingerprint. The previous key is kept if the new one is refused."""
        conn = self.conn(name)
        self.require_key_mode(conn, N_("use an API key"))
        key = clean_secret(key, "API key")
        if verify:
            self.exchange(conn, key, long_lived=False, action=N_("check the new API key"))
        self.ctx.credentials.set(conn.name, "api_key", key)
        log.info("stored API key …%s for connection %r", fingerprint(key), conn.name)
        return fingerprint(key)

    def has_api_key(self, name: str) -> bool:
        return bool(self.ctx.credentials.get(self.conn(name).name, "api_key"))

    def exchange(self, conn: Connection, key: str, *, long_lived: bool, action: str) -> IssuedToken:
        """Exchange the API key for a token (``long_lived``: the token to store; else a short check, discarded).
        ``action``: what is being done, in words marked with ``N_`` (shown translated)."""
        try:
            return exchange_api_key(conn.api_url, key, long_lived, verify=conn.verify_tls)
        except ScimError as exc:
            kind = error_kind(exc)
            message = exc.message or type(exc).__name__
            raise TokenError(_("Could not {action} for {name!r}: {detail}; nothing was changed.").format(
                action=_(action), name=conn.name, detail=message), exc.remedy or "", result=kind) from None

    # -- generate / import ----------------------------------------------------------------------------------
    def generate(self, name: str, *, verify: bool = True, origin: str = "generated") -> TokenStatus:
        """Exchange the stored API key for a long-lived token, test it, and store it."""
        conn = self.conn(name)
        self.require_key_mode(conn, N_("generate a token"))
        key = self.ctx.credentials.get(conn.name, "api_key")
        if not key:
            raise TokenError(_("No API key is stored for {name!r}, so no token can be generated.").format(
                name=conn.name), api_key_remedy(conn.name), result="missing")
        issued = self.exchange(conn, key, long_lived=True, action=N_("generate a token"))
        probe = self.probe(conn, issued.access_token) if verify else None
        if probe is not None and probe.result in ("rejected", "protocol"):
            raise TokenError(_("The new token for {name!r} failed its test, so it was not stored and the previous "
                               "token is kept. {detail}").format(name=conn.name, detail=probe.message),
                             probe.remedy, result=probe.result)
        self.save_token(conn, issued.access_token, issued_at=issued.issued_at, expires_at=issued.expires_at,
                        expiry_source=issued.expiry_source, origin=origin, probe=probe)
        return self.status(conn)

    def import_token(self, name: str, token: str, *, accept_estimated: bool = False,
                     verify: bool = True) -> TokenStatus:
        """Store a token the admin pasted. Its expiry comes from the JWT ``exp``. A token whose expiry cannot be
        read (not a JWT, or no ``exp``) is refused unless ``accept_estimated``: it is then assumed to expire 365
        days from now and shown as estimated."""
        conn = self.conn(name)
        token = clean_secret(token, "token")
        now = self.ctx.now()
        try:
            expires_at, source = read_token_expiry(token)
        except Exception:  # a malformed token must never surface a parser's traceback
            expires_at, source = now + timedelta(days=365), "assumed-365d"
        if source != "jwt-exp":
            if not accept_estimated:
                raise InvalidInput(
                    _("The pasted token has no readable expiry date (it is not a complete JWT, or has no 'exp' "
                      "claim)."),
                    _("Check that you copied all of it (a JWT has three parts separated by dots). If it is right, "
                      "import it again confirming an estimated expiry (--accept-estimated-expiry): the console will "
                      "assume it expires 365 days from today and mark the date as estimated. Nothing was changed."))
            expires_at, source = now + timedelta(days=365), "assumed-365d"
        if expires_at <= now:
            raise InvalidInput(_("The pasted token expired on {when}.").format(
                                   when=fmt_datetime(expires_at.astimezone(UTC), zone="UTC")),
                               _("Generate a new one (token generate) or paste a current one; nothing was changed."))
        probe = self.probe(conn, token) if verify else None
        if probe is not None and probe.result in ("rejected", "protocol"):
            raise TokenError(_("The pasted token failed its test, so it was not stored and the previous token is "
                               "kept. {detail}").format(detail=probe.message), probe.remedy, result=probe.result)
        self.save_token(conn, token, issued_at=now if source != "jwt-exp" else None, expires_at=expires_at,
                        expiry_source=source, origin="imported", probe=probe)
        return self.status(conn)

    def get_token(self, name: str) -> str | None:
        """The stored access token (for pushing it to Entra by hand). Handle with care: never log it."""
        return self.ctx.credentials.get(self.conn(name).name, "access_token")

    # -- status / test ----------------------------------------------------------------------------------------
    def status(self, name: str | Connection) -> TokenStatus:
        """The token's standing from stored metadata only (no network, no keyring): cheap enough for a banner."""
        conn = self.conn(name)
        row = self.current_row(conn)
        if row is None:
            if conn.auth_mode == "6clicks-api-key":
                remedy = fix(_("On Connection & token, store the API key (Connection settings) and click "
                               "Generate token"), f"printf '%s' \"$KEY\" | python -m console token set-key --connection "
                             f"{cli_name(conn.name)} --stdin && python -m console token generate --connection "
                             f"{cli_name(conn.name)}")
            else:
                remedy = import_remedy(conn.name)
            return TokenStatus(conn.name, "missing", message=_("No token is stored for {name!r}: Entra cannot "
                                                               "provision it and the console cannot read it.")
                               .format(name=conn.name), remedy=remedy)
        return token_status(conn, row, self.ctx.now())

    def status_all(self) -> list[TokenStatus]:
        return [self.status(c) for c in self.repo.list()]

    def attention(self) -> list[TokenStatus]:
        """Statuses that need the operator (everything but ``ok``), most severe first: what a banner shows."""
        return sorted((s for s in self.status_all() if s.level != "ok"), key=lambda s: -s.severity)

    def test(self, name: str) -> TokenStatus:
        """Test the stored token against SCIM (``GET /Users?count=1``), record the result, return the status.
        ``status.last_test_result`` is ok | rejected | forbidden | unreachable | tls | protocol | error."""
        conn = self.conn(name)
        token = self.ctx.credentials.get(conn.name, "access_token")
        if not token:
            return self.status(conn)
        probe = self.probe(conn, token)
        self._record_test(conn, token, probe)
        log.info("tested token …%s for connection %r: %s", fingerprint(token), conn.name, probe.result)
        status = self.status(conn)
        if probe.result not in ("ok", "rejected", "forbidden") and probe.remedy:
            status.remedy = (status.remedy + " " if status.remedy else "") + probe.remedy
        return status

    # -- SCIM client --------------------------------------------------------------------------------------------
    def scim_client(self, name: str, **kwargs: Any) -> ScimClient:
        """A ``ScimClient`` for the connection whose token comes from the keyring. On a 401 the client asks for a
        fresh token: the keyring is read again (another process may have rotated it) and, if it still holds the
        rejected token, a new one is generated from the API key when there is one."""
        conn = self.conn(name)
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
                raise TokenError(_("No token is stored for {name!r}.").format(name=conn.name),
                                 self.status(conn).remedy, result="missing")
            used["fp"] = fingerprint(token)
            return token

        kwargs.setdefault("verify", conn.verify_tls)
        return ScimClient(conn.scim_url or "", token=provider, **kwargs)
