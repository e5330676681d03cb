"""Reading the change history the snapshots recorded (``directory_events``) and saying an event in words."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from console.connections import Connection
from console.context import Context
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


#: the tracked attributes in words (events keep the SCIM names)
ATTRIBUTE_WORDS = {"userName": "user name", "email": "e-mail", "givenName": "given name", "familyName": "family name",
                   "displayName": "display name", "externalId": "external id (Entra object id)", "active": "active"}


def _quoted(value: Any) -> str:

    text = as_text(value)
    return f"“{text}”" if text is not None else "(empty)"


def describe_event(row: Any, *, about_person: bool = False) -> str:
    """One line in plain English for an event row (a dict or a namedtuple/Series): "bob@x.com removed from
    group Engineering", "ann@x.com: family name changed from “Lee” to “Lee-Smith”". With ``about_person`` the
    line is told from the person's own history, without their name: "Removed from group Engineering"."""
    get = row.get if hasattr(row, "get") else lambda k: getattr(row, k, None)
    kind, name = str(get("kind") or ""), get("subject_name") or get("subject_id")
    subject_type = str(get("subject_type") or "group")
    if kind == "user_changed":
        attribute = ATTRIBUTE_WORDS.get(str(get("attribute")), str(get("attribute")))
        change = f"{attribute} changed from {_quoted(get('old_value'))} to {_quoted(get('new_value'))}"
        return change[:1].upper() + change[1:] if about_person else f"{name}: {change}"
    if kind in ("member_added", "member_removed"):
        verb = "added to" if kind == "member_added" else "removed from"
        if about_person:
            return f"{verb.capitalize()} {subject_type} {name}"
        return f"{get('related_name') or get('related_id')} {verb} {subject_type} {name}"
    user_words = {"user_created": "created in 6clicks", "user_deactivated": "deactivated",
                  "user_reactivated": "reactivated", "user_deleted": "deleted from 6clicks"}
    if kind in user_words:
        words = user_words[kind]
        if kind == "user_created" and get("new_value") == "inactive":
            words += " (inactive)"
        return words[:1].upper() + words[1:] if about_person else f"{name} {words}"
    if kind.endswith("_renamed"):
        return f"{subject_type.capitalize()} renamed from {_quoted(get('old_value'))} to {_quoted(get('new_value'))}"
    if kind.endswith(("_created", "_deleted")):
        return f"{subject_type.capitalize()} {name} {'created' if kind.endswith('_created') else 'deleted'}"
    return f"{name}: {kind.replace('_', ' ')}"

