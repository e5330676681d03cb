"""The language of a connection's reminders: every token reminder, provisioning alert (apprise and e-mail, title
and body), test message and ``.ics`` event text of the connection is written in it, whoever or whatever sends
it (cron, the app's reminder thread, a Send test click, a calendar download), so the same reminder never arrives
in two languages. Set with the reminder settings (Connection & token > Reminders); English by default (table
``reminder_settings``, migration 0011).

Use: ``with use_language(reminder_language(ctx, conn)): ...`` around the text that is sent.
"""

from __future__ import annotations

from console.connections import Connection, connection_id
from console.context import Context
from console.errors import InvalidInput
from console.i18n import DEFAULT, LANGUAGES, _, normalise


def reminder_language(ctx: Context, conn: Connection) -> str:
    """The language of ``conn``'s reminders and alerts ("en" or "ja"); English until one is set."""
    row = ctx.store.query_one("SELECT r.language FROM reminder_settings r JOIN connections c "
                              "ON c.id = r.connection_id WHERE c.name = ?", (conn.name,))
    return (normalise(row["language"]) if row is not None else None) or DEFAULT


def set_reminder_language(ctx: Context, conn: Connection, code: str) -> str:
    """Set the language of ``conn``'s reminders and alerts; returns the code stored. An unknown code is refused
    (nothing changes)."""
    chosen = normalise(code)
    if chosen is None:
        raise InvalidInput(_("Unknown reminder language {code!r}.").format(code=str(code)[:20]),
                           _("Choose one of: {choices}.").format(choices=", ".join(LANGUAGES)))
    ctx.store.execute(
        "INSERT INTO reminder_settings (connection_id, language, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (connection_id) DO UPDATE SET language = excluded.language, updated_at = excluded.updated_at",
        (connection_id(ctx, conn), chosen, ctx.now().isoformat()))
    return chosen
