"""The token's expiry as an iCalendar file: a renewal event 30 days before expiry and the expiry itself, with
alarms at the connection's reminder thresholds."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from console.connections import Connection, ConnectionRepo
from console.context import Context
from console.errors import ConsoleError
from console.i18n import _, fmt_datetime, fmt_days_left, use_language
from console.notify.language import reminder_language
from console.tokens.service import TokenService
from console.tokens.status import TokenStatus


def _uid_part(name: str) -> str:
    return hashlib.sha256(name.casefold().encode("utf-8")).hexdigest()[:12]


def token_ics(ctx: Context, conn: Connection | str, status: TokenStatus | None = None) -> bytes:
    """An iCalendar file for the current token: a renewal event 30 days before expiry and the expiry itself with
    alarms at the connection's reminder thresholds. UIDs are stable per token fingerprint, so re-importing the
    file updates the events instead of duplicating them. The events' texts are in the connection's reminder
    language (``console.notify.language``), whoever downloads the file; the error when there is no token is in
    the current language (it is for whoever asked)."""
    # here, not at the top: importing icalendar takes ~45 ms, paid only when someone downloads the file
    from icalendar import Alarm, Calendar, Event

    if not isinstance(conn, Connection):
        conn = ConnectionRepo(ctx.store).get(conn)
    status = status or TokenService(ctx).status(conn)
    if status.expires_at is None or status.fingerprint is None:
        raise ConsoleError(_("There is no token with an expiry date for {name!r}, so there is nothing to put in a "
                             "calendar.").format(name=conn.name),
                           status.remedy or _("Generate or import a token first."))
    expires = status.expires_at.astimezone(UTC)
    stamp = ctx.now().astimezone(UTC).replace(microsecond=0)
    uid = f"{status.fingerprint}-{_uid_part(conn.name)}"
    how = (f"python -m console token rotate --connection '{conn.name}'" if conn.auth_mode == "6clicks-api-key"
           else f"python -m console token import --connection '{conn.name}'")

    with use_language(reminder_language(ctx, conn)) as lang:
        texts = {"LANGUAGE": lang}  # RFC 5545 LANGUAGE parameter of the texts
        cal = Calendar()
        cal.add("prodid", "-//scim-console//6clicks token reminders//EN")
        cal.add("version", "2.0")
        cal.add("calscale", "GREGORIAN")
        cal.add("x-wr-calname", _("6clicks SCIM token: {name}").format(name=conn.name))

        def event(kind: str, start: datetime, length: timedelta, summary: str, description: str,
                  alarms: list[tuple[str, timedelta]]) -> None:
            item = Event()
            item.add("uid", f"{kind}-{uid}@scim-console")
            item.add("dtstamp", stamp)
            item.add("dtstart", start)
            item.add("dtend", start + length)
            item.add("summary", summary, parameters=texts)
            item.add("description", description, parameters=texts)
            for text, trigger in alarms:
                alarm = Alarm()
                alarm.add("action", "DISPLAY")
                alarm.add("description", text, parameters=texts)
                alarm.add("trigger", trigger)
                item.add_component(alarm)
            cal.add_component(item)

        when = fmt_datetime(expires, zone="UTC")
        if status.estimated:
            when = _("{date} (estimated)").format(date=when)
        renew = _("Renew the 6clicks SCIM token for {name}").format(name=conn.name)
        event("renew", (expires - timedelta(days=30)).replace(microsecond=0), timedelta(minutes=30), renew,
              "\n".join((_("The token …{fp} expires on {when}.").format(fp=status.fingerprint, when=when),
                         _("Rotate it (about two minutes): {command}").format(command=how),
                         _("Then make sure Entra's provisioning Secret Token has the new value (the rotation does it "
                           "when Graph settings are configured)."))),
              [(renew, timedelta(0))])
        event("expiry", expires.replace(microsecond=0), timedelta(minutes=15),
              (_("6clicks SCIM token for {name} expires (estimated)") if status.estimated else
               _("6clicks SCIM token for {name} expires")).format(name=conn.name),
              _("Provisioning from Entra stops when token …{fp} expires. Renew: {command}").format(
                  fp=status.fingerprint, command=how),
              [(_("6clicks SCIM token for {name} expires {left}").format(name=conn.name, left=fmt_days_left(days)),
                timedelta(days=-days)) for days in sorted(conn.reminder_days, reverse=True)]
              + [(_("6clicks SCIM token for {name} expires now").format(name=conn.name), timedelta(0))])
        return cal.to_ical()
