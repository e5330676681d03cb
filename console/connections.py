"""Connections: one 6clicks (or other SCIM) tenant the console looks after. Stored in SQLite, never with secrets.

A connection's secrets (API key, access token, Graph client secret, apprise notification URLs) live in the
keyring under the connection's name (see ``console.credentials``; the notification URLs are set through
``console.notify.channels``).
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import sqlite3
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from console.context import Context
from console.credentials import CredentialStore
from console.directory.roles import DEFAULT_RULE as DEFAULT_ROLE_RULE
from console.directory.roles import role_matcher
from console.errors import ConsoleError, InvalidInput, NotFoundError, StoreError
from console.i18n import N_, _
from console.store import Store

AUTH_MODES = ("6clicks-api-key", "static-token")
DEFAULT_REMINDER_DAYS: tuple[int, ...] = (60, 30, 14, 7, 3, 1)
DEFAULT_GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"
DEFAULT_LOGIN_BASE_URL = "https://login.microsoftonline.com"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def validate_url(url: str, what: str, *, allow_http: bool = False) -> str:
    """Return ``url`` without a trailing slash, or raise ``InvalidInput`` saying what to fix. ``what`` names the
    field (marked with ``N_`` where it is written: it is translated here)."""
    what = _(what)
    url = (url or "").strip()
    if not url:
        raise InvalidInput(_("The {what} is empty.").format(what=what),
                           _("Give the full {what}, e.g. https://api-au.6clicks.io.").format(what=what))
    if any(ord(c) < 0x21 or 0x7F <= ord(c) <= 0x9F for c in url):
        raise InvalidInput(_("The {what} contains spaces or control characters.").format(what=what),
                           _("Give it as https://host[:port][/path] on one line, e.g. https://api-au.6clicks.io."))
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise InvalidInput(_("The {what} {url!r} is not a valid URL.").format(what=what, url=url),
                           _("Give it as https://host[:port][/path].")) from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInput(_("The {what} {url!r} must start with https:// and name a host.").format(what=what, url=url),
                           _("Give it as https://host[:port][/path], e.g. https://api-au.6clicks.io."))
    if parts.username or parts.password:
        raise InvalidInput(_("The {what} must not contain a user name or password.").format(what=what),
                           _("Remove the 'user:password@' part; credentials are stored in the keyring."))
    if parts.query or parts.fragment:
        raise InvalidInput(_("The {what} must not contain a query string or fragment.").format(what=what),
                           _("Remove everything from '?' or '#' on."))
    if parts.scheme == "http" and not _is_loopback(host) and not allow_http:
        raise InvalidInput(
            _("The {what} uses plain http:// to {host}, which would send the token unencrypted.").format(
                what=what, host=host),
            _("Use https://, or allow it explicitly (--allow-http) only for a test server on a trusted network."))
    return url.rstrip("/")


@dataclass(frozen=True)
class EntraSettings:
    """Where the console reaches Microsoft Graph for this connection's enterprise app (optional)."""

    tenant_id: str
    client_id: str
    service_principal_id: str = ""
    job_id: str = ""
    graph_base_url: str = DEFAULT_GRAPH_BASE_URL
    login_base_url: str = DEFAULT_LOGIN_BASE_URL

    @property
    def can_manage_job(self) -> bool:
        """True when the service principal and job are known (needed for secrets, restart, job status)."""
        return bool(self.service_principal_id and self.job_id)


@dataclass
class Connection:
    name: str
    api_url: str
    scim_url: str | None = None  # None or "" -> derived: api_url + "/scim"
    auth_mode: str = "6clicks-api-key"
    entra: EntraSettings | None = None
    role_rule: str = DEFAULT_ROLE_RULE
    reminder_days: tuple[int, ...] = DEFAULT_REMINDER_DAYS
    is_demo: bool = False
    allow_http: bool = False
    verify_tls: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        self.validate()

    # -- validation -------------------------------------------------------------------------------------
    def validate(self) -> None:
        name = (self.name or "").strip()
        if not _NAME.match(name):
            raise InvalidInput(
                _("The connection name {name!r} is not usable.").format(name=self.name),
                _("Use 1-64 letters, digits, spaces, dots, dashes or underscores, starting with a letter or digit."))
        self.name = name
        self.api_url = validate_url(self.api_url, N_("API base URL"), allow_http=self.allow_http)
        if self.scim_url:
            self.scim_url = validate_url(self.scim_url, N_("SCIM base URL"), allow_http=self.allow_http)
        else:
            self.scim_url = self.api_url + "/scim"
        if self.auth_mode not in AUTH_MODES:
            raise InvalidInput(_("Unknown auth mode {mode!r}.").format(mode=self.auth_mode),
                               _("Use one of: {modes}.").format(modes=", ".join(AUTH_MODES)))
        days = tuple(sorted({int(d) for d in self.reminder_days}, reverse=True))
        if not days or any(d < 1 or d > 366 for d in days):
            raise InvalidInput(_("Reminder days {days!r} are not usable.").format(days=self.reminder_days),
                               _("Give whole days between 1 and 366, e.g. 60,30,14,7,3,1."))
        self.reminder_days = days
        role_matcher(self.role_rule)  # raises InvalidInput on a bad rule
        if self.entra is not None:
            e = self.entra
            if not e.tenant_id.strip() or not e.client_id.strip():
                raise InvalidInput(_("Entra settings need both a tenant id and a client id."),
                                   _("Give --tenant-id and --client-id, or leave all Entra settings out."))
            self.entra = replace(
                e,
                tenant_id=e.tenant_id.strip(), client_id=e.client_id.strip(),
                service_principal_id=(e.service_principal_id or "").strip(), job_id=(e.job_id or "").strip(),
                graph_base_url=validate_url(e.graph_base_url or DEFAULT_GRAPH_BASE_URL, N_("Graph base URL"),
                                            allow_http=self.allow_http),
                login_base_url=validate_url(e.login_base_url or DEFAULT_LOGIN_BASE_URL, N_("login base URL"),
                                            allow_http=self.allow_http),
            )

    @property
    def scim_url_derived(self) -> bool:
        return self.scim_url == self.api_url + "/scim"

    @property
    def tenant_url(self) -> str:
        """What Entra's Admin Credentials > Tenant URL must hold: the SCIM base URL with a trailing slash
        (API base URL + ``/scim/``, as the 6clicks guide prescribes)."""
        return (self.scim_url or self.api_url + "/scim").rstrip("/") + "/"

    # -- role rule --------------------------------------------------------------------------------------
    def is_role(self, display_name: str | None) -> bool:
        """True when a SCIM group with this display name is a 6clicks role under this connection's rule."""
        if not display_name:
            return False
        cached = self.__dict__.get("_role_cache")
        if cached is None or cached[0] != self.role_rule:
            cached = (self.role_rule, role_matcher(self.role_rule))
            self.__dict__["_role_cache"] = cached
        return bool(cached[1](display_name))


ROLE_RULE_KINDS = ("prefix", "regex")


def split_role_rule(rule: str | None) -> tuple[str, str]:
    """``'prefix:Role - '`` -> ``('prefix', 'Role - ')``; an unknown form is returned as ``('prefix', rule)``."""
    text = rule or DEFAULT_ROLE_RULE
    for kind in ROLE_RULE_KINDS:
        if text.startswith(kind + ":"):
            return kind, text[len(kind) + 1:]
    return "prefix", text


def describe_role_rule(rule: str | None) -> str:
    """The role rule in words for people: names starting with “Role - ”, names matching ^Team."""
    kind, value = split_role_rule(rule)
    if kind == "regex":
        return _("group names matching the pattern “{pattern}”").format(pattern=value)
    return _("group names starting with “{prefix}”").format(prefix=value)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _from_row(row: sqlite3.Row) -> Connection:
    entra = None
    if row["tenant_id"] and row["client_id"]:
        entra = EntraSettings(
            tenant_id=row["tenant_id"], client_id=row["client_id"],
            service_principal_id=row["service_principal_id"] or "", job_id=row["job_id"] or "",
            graph_base_url=row["graph_base_url"] or DEFAULT_GRAPH_BASE_URL,
            login_base_url=row["login_base_url"] or DEFAULT_LOGIN_BASE_URL,
        )
    return Connection(
        id=row["id"], name=row["name"], api_url=row["api_url"], scim_url=row["scim_url"],
        auth_mode=row["auth_mode"], entra=entra, role_rule=row["role_rule"],
        reminder_days=tuple(int(d) for d in row["reminder_days"].split(",") if d.strip()),
        is_demo=bool(row["is_demo"]), allow_http=bool(row["allow_http"]), verify_tls=bool(row["verify_tls"]),
        created_at=_parse(row["created_at"]), updated_at=_parse(row["updated_at"]),
    )


def _values(conn: Connection) -> dict[str, Any]:
    e = conn.entra
    return {
        "name": conn.name, "api_url": conn.api_url,
        "scim_url": None if conn.scim_url_derived else conn.scim_url,
        "auth_mode": conn.auth_mode,
        "tenant_id": e.tenant_id if e else None, "client_id": e.client_id if e else None,
        "service_principal_id": (e.service_principal_id or None) if e else None,
        "job_id": (e.job_id or None) if e else None,
        "graph_base_url": e.graph_base_url if e else None, "login_base_url": e.login_base_url if e else None,
        "role_rule": conn.role_rule, "reminder_days": ",".join(str(d) for d in conn.reminder_days),
        "allow_http": int(conn.allow_http), "verify_tls": int(conn.verify_tls), "is_demo": int(conn.is_demo),
    }


class ConnectionRepo:
    """CRUD over the ``connections`` table. Accepts a ``Store`` or a ``Context``; with a context (or
    ``credentials=``) ``remove`` also deletes the connection's keyring entries. Removing a connection deletes its snapshots (rows and files), provisioning logs
    and job history, and keeps its audit trail under "<name> (removed <time>)" (migration 0006)."""

    def __init__(self, store: Store | Context, credentials: CredentialStore | None = None) -> None:
        if isinstance(store, Context):
            credentials = credentials or store.credentials
            store = store.store
        self.store: Store = store
        self.credentials = credentials

    def add(self, conn: Connection) -> Connection:
        conn.validate()
        now = _iso(utcnow())
        values = _values(conn) | {"created_at": now, "updated_at": now}
        columns = ", ".join(values)
        marks = ", ".join(f":{k}" for k in values)
        try:
            with self.store.transaction() as db:
                existing = db.execute("SELECT 1 FROM connections WHERE name = ? COLLATE NOCASE",
                                      (conn.name,)).fetchone()
                if existing:
                    raise InvalidInput(_("A connection named {name!r} already exists.").format(name=conn.name),
                                       _("Choose another name, or remove the existing one first."))
                cursor = db.execute(f"INSERT INTO connections ({columns}) VALUES ({marks})", values)
        except sqlite3.DatabaseError as exc:
            raise StoreError(_("Saving connection {name!r} failed ({error}).").format(name=conn.name, error=exc),
                             _("Check the data folder is writable and has free space; nothing was saved.")) from None
        conn.id = cursor.lastrowid
        conn.created_at = conn.updated_at = _parse(now)
        return conn

    def get(self, name: str) -> Connection:
        row = self.store.query_one("SELECT * FROM connections WHERE name = ? COLLATE NOCASE", ((name or "").strip(),))
        if row is None:
            known = [c.name for c in self.list()]
            hint = _("Known connections: {names}.").format(names=", ".join(known)) if known else \
                _("Add one with: python -m console connections add NAME --api-url URL")
            raise NotFoundError(_("There is no connection named {name!r}.").format(name=name), hint)
        return _from_row(row)

    def find(self, name: str) -> Connection | None:
        try:
            return self.get(name)
        except NotFoundError:
            return None

    def get_by_id(self, connection_id: int) -> Connection:
        row = self.store.query_one("SELECT * FROM connections WHERE id = ?", (connection_id,))
        if row is None:
            raise NotFoundError(_("There is no connection with id {id}.").format(id=connection_id),
                                _("It may have been removed."))
        return _from_row(row)

    def list(self) -> list[Connection]:
        return [_from_row(r) for r in self.store.query("SELECT * FROM connections ORDER BY is_demo, name")]

    def update(self, conn: Connection) -> Connection:
        conn.validate()
        current = self.get(conn.name) if conn.id is None else self.get_by_id(conn.id)
        values = _values(conn) | {"updated_at": _iso(utcnow()), "id": current.id}
        sets = ", ".join(f"{k} = :{k}" for k in values if k != "id")
        try:
            with self.store.transaction() as db:
                clash = db.execute("SELECT 1 FROM connections WHERE name = ? COLLATE NOCASE AND id != ?",
                                   (conn.name, current.id)).fetchone()
                if clash:
                    raise InvalidInput(_("A connection named {name!r} already exists.").format(name=conn.name),
                                       _("Choose another name."))
                db.execute(f"UPDATE connections SET {sets} WHERE id = :id", values)
        except sqlite3.DatabaseError as exc:
            raise StoreError(_("Saving connection {name!r} failed ({error}).").format(name=conn.name, error=exc),
                             _("Check the data folder is writable and has free space; nothing was changed.")) from None
        conn.id = current.id
        return self.get_by_id(int(current.id or 0))

    def remove(self, name: str) -> None:
        conn = self.get(name)
        if self.credentials is not None:  # secrets first: a locked keyring stops the removal before anything changes
            try:
                self.credentials.delete_all(conn.name)
            except ConsoleError:
                if self.credentials.backend_info().secure:
                    raise
                # an unusable (insecure) backend never received secrets: nothing to delete there
        data_dir = self.store.path.parent
        try:
            with self.store.transaction() as db:
                folders = [r["files"] for r in db.execute(
                    "SELECT files FROM snapshots WHERE connection = ? AND files IS NOT NULL", (conn.name,))]
                # migration 0006's triggers delete its snapshots, logs and job history, and archive its audit
                db.execute("DELETE FROM connections WHERE id = ?", (conn.id,))
        except sqlite3.IntegrityError as exc:
            raise StoreError(
                _("Connection {name!r} cannot be removed while other records point to it ({error}).").format(
                    name=conn.name, error=exc),
                _("Its secrets were deleted but its records were kept; report this with the message.")) from None
        root = (data_dir / "snapshots").resolve()
        for rel in folders:
            folder = (data_dir / rel).resolve()
            if folder.is_relative_to(root) and folder != root:   # never outside the snapshots folder
                shutil.rmtree(folder, ignore_errors=True)


def connection_id(ctx: Context, conn: Connection) -> int:
    """The connection's row id as stored now (what the tables of migrations 0008 and later key by); raises
    NotFoundError when it was removed meanwhile."""
    row = ctx.store.query_one("SELECT id FROM connections WHERE name = ?", (conn.name,))
    if row is None:
        raise NotFoundError(_("The connection {name!r} no longer exists.").format(name=conn.name),
                            _("Choose another connection."))
    return int(row["id"])
