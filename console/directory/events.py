"""Reading the change history the snapshots recorded (``directory_events``) and saying an event in words."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from console.connections import Connection
from console.context import Context
from console.i18n import N_, _
from console.text import as_text


def list_events(ctx: Context, conn: Connection | str, since: datetime | None = None,
                kinds: Iterable[str] | None = None, subject_id: str | None = None, limit: int | None = 1000,
                *, until: datetime | None = None, group_only: bool = False) -> pd.DataFrame:
    """Change events, newest first. ``subject_id`` matches the event's subject or its related user (so a
    user's history includes joining and leaving groups) unless ``group_only``. Columns: id, at (UTC),
    snapshot_id, kind, subject_type, subject_id, subject_name, attribute, old_value, new_value, related_id,
    related_name."""
    name = conn if isinstance(conn, str) else conn.name
    where, params = ["connection = ?"], [name]
    if since is not None:
        where.append("at >= ?")
        params.append(since.astimezone(UTC).isoformat())
    if until is not None:
        where.append("at < ?")
        params.append(until.astimezone(UTC).isoformat())
    kinds = list(kinds or [])
    if kinds:
        where.append(f"kind IN ({','.join('?' * len(kinds))})")
        params.extend(kinds)
    if subject_id is not None:
        if group_only:
            where.append("subject_id = ?")
            params.append(subject_id)
        else:
            where.append("(subject_id = ? OR related_id = ?)")
            params.extend([subject_id, subject_id])
    sql = ("SELECT id, at, snapshot_id, kind, subject_type, subject_id, subject_name, attribute, old_value,"
           f" new_value, related_id, related_name FROM directory_events WHERE {' AND '.join(where)}"
           " ORDER BY at DESC, id DESC")
    if limit:
        sql += f" LIMIT {int(limit)}"
    rows = ctx.store.query(sql, tuple(params))
    cols = ["id", "at", "snapshot_id", "kind", "subject_type", "subject_id", "subject_name", "attribute",
            "old_value", "new_value", "related_id", "related_name"]
    df = pd.DataFrame([tuple(r) for r in rows], columns=cols, dtype=object)
    df["at"] = pd.to_datetime(df["at"], utc=True, format="ISO8601")
    df["id"] = df["id"].astype("int64")
    df["snapshot_id"] = df["snapshot_id"].astype("int64")
    return df


def event_counts(ctx: Context, snapshot_id: int) -> dict[str, int]:
    """How many events of each kind a snapshot recorded."""
    rows = ctx.store.query("SELECT kind, COUNT(*) AS n FROM directory_events WHERE snapshot_id = ? GROUP BY kind",
                           (snapshot_id,))
    return {r["kind"]: int(r["n"]) for r in rows}


def purge_events(ctx: Context, conn: Connection | str, older_than: datetime) -> int:
    """Retention: delete change events older than ``older_than`` (events are otherwise kept forever).
    Returns how many were deleted."""
    name = conn if isinstance(conn, str) else conn.name
    with ctx.store.transaction() as db:
        cur = db.execute("DELETE FROM directory_events WHERE connection = ? AND at < ?",
                         (name, older_than.astimezone(UTC).isoformat()))
    return int(cur.rowcount)


def user_history(ctx: Context, conn: Connection | str, user_id: str, limit: int | None = 500) -> pd.DataFrame:
    """Everything recorded about one user: its own events and its group/role memberships."""
    return list_events(ctx, conn, subject_id=user_id, limit=limit)


def group_history(ctx: Context, conn: Connection | str, group_id: str, limit: int | None = 500) -> pd.DataFrame:
    """Everything recorded about one group or role: created/renamed/deleted and members added/removed."""
    return list_events(ctx, conn, subject_id=group_id, limit=limit, group_only=True)


#: the tracked attributes in words (events keep the SCIM names); translated where shown
ATTRIBUTE_WORDS = {"userName": N_("user name"), "email": N_("e-mail"), "givenName": N_("given name"),
                   "familyName": N_("family name"), "displayName": N_("display name"),
                   "externalId": N_("external id (Entra object id)"), "active": N_("active")}


def _quoted(value: Any) -> str:
    text = as_text(value)
    return _("“{value}”").format(value=text) if text is not None else _("(empty)")


def _first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def describe_event(row: Any, *, about_person: bool = False) -> str:
    """One line in the current language for an event row (a dict or a namedtuple/Series): "bob@x.com removed from
    group Engineering", "ann@x.com: family name changed from “Lee” to “Lee-Smith”". With ``about_person`` the
    line is told from the person's own history, without their name: "Removed from group Engineering"."""
    get = row.get if hasattr(row, "get") else lambda k: getattr(row, k, None)
    kind, name = str(get("kind") or ""), get("subject_name") or get("subject_id")
    role = str(get("subject_type") or "group") == "role"
    if kind == "user_changed":
        code = str(get("attribute"))
        attribute = _(ATTRIBUTE_WORDS[code]) if code in ATTRIBUTE_WORDS else code
        values = {"attribute": attribute, "old": _quoted(get("old_value")), "new": _quoted(get("new_value"))}
        if about_person:
            return _first_upper(_("{attribute} changed from {old} to {new}").format(**values))
        return _("{name}: {attribute} changed from {old} to {new}").format(name=name, **values)
    if kind in ("member_added", "member_removed"):
        added = kind == "member_added"
        if about_person:
            text = ((_("Added to role {name}") if role else _("Added to group {name}")) if added
                    else (_("Removed from role {name}") if role else _("Removed from group {name}")))
            return text.format(name=name)
        text = ((_("{member} added to role {name}") if role else _("{member} added to group {name}")) if added
                else (_("{member} removed from role {name}") if role else _("{member} removed from group {name}")))
        return text.format(member=get("related_name") or get("related_id"), name=name)
    inactive = get("new_value") == "inactive"
    if kind == "user_created":
        if about_person:
            return _("Created in 6clicks (inactive)") if inactive else _("Created in 6clicks")
        return (_("{name} created in 6clicks (inactive)") if inactive else _("{name} created in 6clicks")).format(
            name=name)
    person_words = {"user_deactivated": (_("Deactivated"), _("{name} deactivated")),
                    "user_reactivated": (_("Reactivated"), _("{name} reactivated")),
                    "user_deleted": (_("Deleted from 6clicks"), _("{name} deleted from 6clicks"))}
    if kind in person_words:
        own, other = person_words[kind]
        return own if about_person else other.format(name=name)
    if kind.endswith("_renamed"):
        text = _("Role renamed from {old} to {new}") if role else _("Group renamed from {old} to {new}")
        return text.format(old=_quoted(get("old_value")), new=_quoted(get("new_value")))
    if kind.endswith("_created"):
        return (_("Role {name} created") if role else _("Group {name} created")).format(name=name)
    if kind.endswith("_deleted"):
        return (_("Role {name} deleted") if role else _("Group {name} deleted")).format(name=name)
    return f"{name}: {kind.replace('_', ' ')}"
