"""The token's expiry as an iCalendar file: a renewal event 30 days before expiry and the expiry itself, with
alarms at the connection's reminder thresholds."""

from __future__ import annotations

import hashlib
from datetime import UTC, timedelta

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

    renew = Event()
    renew.add("uid", f"renew-{uid}@scim-console")
    renew.add("dtstamp", stamp)
    start = (expires - timedelta(days=30)).replace(microsecond=0)
    renew.add("dtstart", start)
    renew.add("dtend", start + timedelta(minutes=30))
    renew.add("summary", f"Renew the 6clicks SCIM token for {conn.name}")
    renew.add("description",
              f"The token …{status.fingerprint} expires {expires:%Y-%m-%d %H:%M} UTC{estimated}.\n"
              f"Rotate it (about two minutes): {how}\n"
              "Then make sure Entra's provisioning Secret Token has the new value (the rotation does it when Graph "
              "settings are configured).")
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", f"Renew the 6clicks SCIM token for {conn.name}")
    alarm.add("trigger", timedelta(0))
    renew.add_component(alarm)
    cal.add_component(renew)

    expiry = Event()
    expiry.add("uid", f"expiry-{uid}@scim-console")
    expiry.add("dtstamp", stamp)
    expiry.add("dtstart", expires.replace(microsecond=0))
    expiry.add("dtend", expires.replace(microsecond=0) + timedelta(minutes=15))
    expiry.add("summary", f"6clicks SCIM token for {conn.name} expires{estimated}")
    expiry.add("description", f"Provisioning from Entra stops when token …{status.fingerprint} expires. Renew: {how}")
    for days in sorted(conn.reminder_days, reverse=True):
        a = Alarm()
        a.add("action", "DISPLAY")
        a.add("description", f"6clicks SCIM token for {conn.name} expires in {days} day{'s' if days != 1 else ''}")
        a.add("trigger", timedelta(days=-days))
        expiry.add_component(a)
    final = Alarm()
    final.add("action", "DISPLAY")
    final.add("description", f"6clicks SCIM token for {conn.name} expires now")
    final.add("trigger", timedelta(0))
    expiry.add_component(final)
    cal.add_component(expiry)
    return cal.to_ical()
