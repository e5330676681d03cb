"""The token's expiry as an iCalendar file: a renewal event 30 days before expiry and the expiry itself, with
alarms at the connection's reminder thresholds."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from console.connections import Connection, ConnectionRepo
from console.context import Context
from console.errors import ConsoleError
from console.tokens.service import TokenService
from console.tokens.status import TokenStatus


def _uid_part(name: str) -> str:
    return hashlib.sha256(name.casefold().encode("utf-8")).hexdigest()[:12]


def token_ics(ctx: Context, conn: Connection | str, status: TokenStatus | None = None) -> bytes:
    """An iCalendar file for the current token: a renewal event 30 days before expiry and the expiry itself with
    alarms at the connection's reminder thresholds. UIDs are stable per token fingerprint, so re-importing the
    file updates the events instead of duplicating them."""
    # here, not at the top: importing icalendar takes ~45 ms, paid only when someone downloads the file
    from icalendar import Alarm, Calendar, Event

    if not isinstance(conn, Connection):
        conn = ConnectionRepo(ctx.store).get(conn)
    status = status or TokenService(ctx).status(conn)
    if status.expires_at is None or status.fingerprint is None:
        raise ConsoleError(f"There is no token with an expiry date for {conn.name!r}, so there is nothing to put "
                           "in a calendar.", status.remedy or "Generate or import a token first.")
    expires = status.expires_at.astimezone(UTC)
    stamp = ctx.now().astimezone(UTC).replace(microsecond=0)
    uid = f"{status.fingerprint}-{_uid_part(conn.name)}"
    estimated = " (estimated)" if status.estimated else ""
    how = (f"python -m console token rotate --connection '{conn.name}'" if conn.auth_mode == "6clicks-api-key"
           else f"python -m console token import --connection '{conn.name}'")

    cal = Calendar()
    cal.add("prodid", "-//scim-console//6clicks token reminders//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"6clicks SCIM token: {conn.name}")

    def event(kind: str, start: datetime, length: timedelta, summary: str, description: str,
              alarms: list[tuple[str, timedelta]]) -> None:
        item = Event()
        item.add("uid", f"{kind}-{uid}@scim-console")
        item.add("dtstamp", stamp)
        item.add("dtstart", start)
        item.add("dtend", start + length)
        item.add("summary", summary)
        item.add("description", description)
        for text, trigger in alarms:
            alarm = Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("description", text)
            alarm.add("trigger", trigger)
            item.add_component(alarm)
        cal.add_component(item)

    event("renew", (expires - timedelta(days=30)).replace(microsecond=0), timedelta(minutes=30),
          f"Renew the 6clicks SCIM token for {conn.name}",
          f"The token …{status.fingerprint} expires {expires:%Y-%m-%d %H:%M} UTC{estimated}.\n"
          f"Rotate it (about two minutes): {how}\n"
          "Then make sure Entra's provisioning Secret Token has the new value (the rotation does it when Graph "
          "settings are configured).",
          [(f"Renew the 6clicks SCIM token for {conn.name}", timedelta(0))])
    event("expiry", expires.replace(microsecond=0), timedelta(minutes=15),
          f"6clicks SCIM token for {conn.name} expires{estimated}",
          f"Provisioning from Entra stops when token …{status.fingerprint} expires. Renew: {how}",
          [(f"6clicks SCIM token for {conn.name} expires in {days} day{'s' if days != 1 else ''}",
            timedelta(days=-days)) for days in sorted(conn.reminder_days, reverse=True)]
          + [(f"6clicks SCIM token for {conn.name} expires now", timedelta(0))])
    return cal.to_ical()
