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
from scim_client.errors import PERMISSIONS, ConnectionFailed, ScimError, TokenExchangeError

WARNING_DAYS = 30
CRITICAL_DAYS = 7
LEVELS = ("ok", "notice", "warning", "critical", "expired", "rejected", "missing")
EXIT_CODES = {"ok": 0, "notice": 0, "warning": 1, "critical": 2, "expired": 2, "rejected": 2, "missing": 2}
SEVERITY = {"ok": 0, "notice": 1, "warning": 2, "critical": 3, "expired": 4, "rejected": 5, "missing": 3}
#: The six permissions of the 6clicks API key's user, in words (scim_client's list, which its 403s name).
SIX_PERMISSIONS = ", ".join(PERMISSIONS.values())

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


def error_kind(exc: ScimError) -> str:
    """What kind of failure a token exchange or connection error was (rejected, unreachable, tls, …), else "error"."""
    return exc.kind if isinstance(exc, (TokenExchangeError, ConnectionFailed)) else "error"


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
    """The standing of the token recorded in ``row`` (a ``tokens`` row) at ``now``: level, message and remedy."""
    expires_at = parse_time(row["expires_at"])
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
        issued_at=parse_time(row["issued_at"]), last_test_at=parse_time(row["last_test_at"]), last_test_result=test,
        message=message, remedy=remedy, origin=row["origin"], last_test_message=row["last_test_message"])
