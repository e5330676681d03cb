"""A token's standing: levels, days left, the remedies people are given, and the status computed from the stored
metadata (no network, no keyring).

Levels (``TokenStatus.level``): ``ok``; ``notice`` (within the connection's first reminder, 60 days by default);
``warning`` (≤ 30 days); ``critical`` (≤ 7 days, or the token lacks a permission); ``expired``; ``rejected`` (the
last test got 401); ``missing`` (no token stored).
"""

from __future__ import annotations

import shlex
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from console.connections import Connection
from console.i18n import N_, _, fmt_date, fmt_days_left, pgettext
from scim_client.errors import PERMISSIONS, ConnectionFailed, ScimError, TokenExchangeError

WARNING_DAYS = 30
CRITICAL_DAYS = 7
LEVELS = ("ok", "notice", "warning", "critical", "expired", "rejected", "missing")
EXIT_CODES = {"ok": 0, "notice": 0, "warning": 1, "critical": 2, "expired": 2, "rejected": 2, "missing": 2}
SEVERITY = {"ok": 0, "notice": 1, "warning": 2, "critical": 3, "expired": 4, "rejected": 5, "missing": 3}
#: The six permissions of the 6clicks API key's user, in words (scim_client's list, which its 403s name).
SIX_PERMISSIONS = ", ".join(PERMISSIONS.values())
#: The same names marked for translation (the 6clicks guide's Japanese names); ``permission_name`` shows one.
PERMISSION_NAMES = (N_("Integrations"), N_("Create new users"), N_("Edit users"), N_("Delete users"),
                    N_("Create, edit and delete groups"), N_("Manage group members"))

#: Where an expiry date came from (the ``tokens.expiry_source`` column), in words for people (``_(value)``).
EXPIRY_SOURCES = {
    "jwt-exp": N_("read from the token"),
    "response": N_("given by 6clicks with the token"),
    "assumed-365d": N_("assumed: 365 days from issue (the token carries no readable date)"),
    "confirmed-estimate": N_("estimated, confirmed by you at import"),
}

#: The last test's outcome (``ProbeResult.result``), in words for people (``_(value)``).
TEST_RESULTS = {
    "ok": N_("works"),
    "rejected": N_("rejected (401)"),
    "forbidden": N_("lacks a permission (403)"),
    "unreachable": N_("6clicks could not be reached"),
    "tls": N_("TLS failed"),
    "protocol": N_("not a SCIM endpoint"),
    "error": N_("the service failed"),
}


def permission_name(name: str) -> str:
    """A 6clicks permission as scim_client names it ("Integrations"), in the current language."""
    return _(name) if name in PERMISSION_NAMES else name


def six_permissions() -> str:
    """The six SCIM permissions of the API key's user, in the current language."""
    return pgettext("list separator", ", ").join(_(name) for name in PERMISSION_NAMES)


def expiry_source_words(source: str | None) -> str:
    return _(EXPIRY_SOURCES[source]) if source in EXPIRY_SOURCES else _("unknown")


def result_words(result: str | None) -> str:
    return _(TEST_RESULTS[result]) if result in TEST_RESULTS else (result or _("never"))


def error_kind(exc: ScimError) -> str:
    """What kind of failure a token exchange or connection error was (rejected, unreachable, tls, …), else "error"."""
    return exc.kind if isinstance(exc, (TokenExchangeError, ConnectionFailed)) else "error"


def cli_name(name: str) -> str:
    """A connection name quoted for a shell command line."""
    return shlex.quote(name)


def fix(in_app: str, command: str) -> str:
    """A remedy that names the place in the app first, then the command for those who prefer a shell."""
    return _("{in_app}. Or from a shell: {command}").format(in_app=in_app, command=command)


def api_key_remedy(name: str) -> str:
    return fix(_("Type the API key on Connection & token > Connection settings and save (it is checked with 6clicks "
                 "first)"), f"printf '%s' \"$KEY\" | python -m console token set-key --connection {cli_name(name)} "
               "--stdin")


def generate_remedy(name: str) -> str:
    return fix(_("Click Generate token on Connection & token > Token"),
               f"python -m console token generate --connection {cli_name(name)}")


def rotate_remedy(name: str) -> str:
    return fix(_("Click Rotate token on Connection & token > Token"),
               f"python -m console token rotate --connection {cli_name(name)}")


def import_remedy(name: str) -> str:
    return fix(_("Paste it under Import a token on Connection & token > Token"),
               f"python -m console token import --connection {cli_name(name)} --stdin")


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


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def days_left(expires_at: datetime, now: datetime) -> int:
    """Whole days until expiry, rounded down (negative once expired)."""
    return int((expires_at - now).total_seconds() // 86400)


def token_status(conn: Connection, row: sqlite3.Row, now: datetime) -> TokenStatus:
    """The standing of the token recorded in ``row`` (a ``tokens`` row) at ``now``: level, message and remedy, in
    the current language (dates and days through ``console.i18n``)."""
    expires_at = parse_time(row["expires_at"])
    left = days_left(expires_at, now) if expires_at else None
    fp = row["fingerprint"]
    estimated = bool(row["estimated"])
    if expires_at is None:
        when = _("an unknown date")
    elif estimated:
        when = _("{date} (estimated)").format(date=fmt_date(expires_at))
    else:
        when = fmt_date(expires_at)
    words = {"fp": fp, "name": conn.name, "when": when, "left": fmt_days_left(left) if left is not None else ""}
    renew = (_("Rotate it now. {remedy}").format(remedy=rotate_remedy(conn.name))
             if conn.auth_mode == "6clicks-api-key" else
             _("Get a new token from the provider and import it. {remedy}").format(remedy=import_remedy(conn.name)))
    test = row["last_test_result"]
    notice_days = max(conn.reminder_days) if conn.reminder_days else 60
    expiring = _("The token …{fp} for {name!r} expires {left}, on {when}.")
    if expires_at is not None and expires_at <= now:
        level = "expired"
        message = _("The token …{fp} for {name!r} expired on {when}.").format(**words)
        remedy = _("{renew}; then update Entra's Secret Token.").format(renew=renew)
    elif test == "rejected":
        level = "rejected"
        message = _("The token …{fp} for {name!r} was rejected (401) when last tested: {detail}").format(
            detail=row["last_test_message"] or "", **words).strip()
        remedy = _("{renew}; if generation fails too, the API key itself is no longer valid.").format(renew=renew)
    elif left is not None and left <= CRITICAL_DAYS:
        level, message, remedy = "critical", expiring.format(**words), _("{renew}.").format(renew=renew)
    elif test == "forbidden":
        level, message = "critical", (row["last_test_message"] or _("The token lacks a permission."))
        remedy = _("Give the API key's user the six SCIM permissions ({permissions}), then generate a new token. "
                   "{remedy}").format(permissions=six_permissions(), remedy=generate_remedy(conn.name))
    elif left is not None and left <= WARNING_DAYS:
        level, message, remedy = "warning", expiring.format(**words), _("{renew}.").format(renew=renew)
    elif left is not None and left <= notice_days:
        level, message = "notice", expiring.format(**words)
        remedy = _("Plan the renewal (about two minutes). {renew}.").format(renew=renew)
    else:
        level = "ok"
        message = (_("The token …{fp} for {name!r} is valid until {when} ({left}).") if left is not None
                   else _("The token …{fp} for {name!r} is valid until {when}.")).format(**words)
        remedy = ""
    if level not in ("rejected",) and test in ("unreachable", "tls", "protocol", "error"):
        message += " " + _("The last test could not confirm it: {detail}").format(detail=row["last_test_message"])
    return TokenStatus(
        connection=conn.name, level=level, days_left=left, expires_at=expires_at,
        expiry_source=row["expiry_source"], estimated=estimated, fingerprint=fp,
        issued_at=parse_time(row["issued_at"]), last_test_at=parse_time(row["last_test_at"]), last_test_result=test,
        message=message, remedy=remedy, origin=row["origin"], last_test_message=row["last_test_message"])
