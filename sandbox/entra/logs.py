"""Reading the stored provisioning logs: Graph's ``$filter`` subset, newest-first order and stable paging."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

from .db import EntraDB
from .records import iso, parse_iso

MAX_TOP = 1000
DEFAULT_TOP = 50

_CLAUSE = re.compile(
    r"^\s*(?P<field>[A-Za-z/]+)\s+(?P<op>eq|ne|gt|ge|lt|le)\s+(?P<value>'(?:[^']|'')*'|\S+)\s*$", re.IGNORECASE
)
_COLUMNS = {
    "provisioningstatusinfo/status": "status",
    "statusinfo/status": "status",
    "provisioningaction": "action",
    "action": "action",
    "cycleid": "cycle_id",
    "changeid": "change_id",
    "id": "id",
    "sourceidentity/id": "source_id",
}
_OPS = {"eq": "=", "ne": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}


class FilterError(ValueError):
    """A ``$filter`` this endpoint does not understand (answered 400)."""


@dataclass(slots=True)
class Page:
    items: list[dict[str, Any]]
    skiptoken: str | None


def parse_filter(text: str | None) -> tuple[list[str], list[Any]]:
    """``activityDateTime gt 2026-11-01T00:00:00Z and provisioningStatusInfo/status eq 'failure'`` -> SQL."""
    if not text or not text.strip():
        return [], []
    where: list[str] = []
    params: list[Any] = []
    # Only "and" joins clauses, so parentheses carry no meaning: drop those outside quoted values.
    text = re.sub(r"'(?:[^']|'')*'|[()]", lambda m: m.group(0) if m.group(0).startswith("'") else " ", text)
    if re.search(r"\s+or\s+", re.sub(r"'(?:[^']|'')*'", "''", text), flags=re.IGNORECASE):
        raise FilterError("'or' is not supported in $filter here; send separate requests.")
    for raw in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        m = _CLAUSE.match(raw)
        if not m:
            raise FilterError(f"Invalid filter clause: {raw.strip()!r}. Supported: activityDateTime gt|ge|lt|le "
                              "<ISO 8601 UTC time>, provisioningStatusInfo/status eq 'success|failure|skipped|"
                              "warning', provisioningAction eq '<action>', cycleId/changeId/id eq '<id>', "
                              "joined with 'and'.")
        field = m["field"].lower()
        op = m["op"].lower()
        value = m["value"]
        if value.startswith("'"):
            value = value[1:-1].replace("''", "'")
        if field == "activitydatetime":
            try:
                when = parse_iso(value)
            except ValueError:
                raise FilterError(f"Invalid date/time in filter: {value!r}; use e.g. 2026-11-01T00:00:00Z.") from None
            stamp = iso(when)
            if op == "le":
                # Stored times carry microseconds: "le T" includes everything within T's microsecond.
                where.append("activity <= ?")
            else:
                where.append(f"activity {_OPS[op]} ?")
            params.append(stamp)
            continue
        column = _COLUMNS.get(field)
        if column is None:
            raise FilterError(f"Filtering on {m['field']!r} is not supported here.")
        if op not in ("eq", "ne"):
            raise FilterError(f"Only eq and ne are supported on {m['field']!r}.")
        if column in ("status", "action"):
            where.append(f"lower({column}) {_OPS[op]} lower(?)")
        else:
            where.append(f"{column} {_OPS[op]} ?")
        params.append(value)
    return where, params


def encode_token(activity: str, seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([activity, seq]).encode()).decode().rstrip("=")


def decode_token(token: str) -> tuple[str, int]:
    try:
        padded = token + "=" * (-len(token) % 4)
        activity, seq = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return str(activity), int(seq)
    except (ValueError, TypeError) as exc:
        raise FilterError("The $skiptoken is invalid; start again from the first page.") from exc


def query(db: EntraDB, filter_text: str | None, top: int, skiptoken: str | None) -> Page:
    where, params = parse_filter(filter_text)
    if skiptoken:
        activity, seq = decode_token(skiptoken)
        where.append("(activity < ? OR (activity = ? AND seq < ?))")
        params += [activity, activity, seq]
    sql = "SELECT seq, activity, doc FROM logs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY activity DESC, seq DESC LIMIT ?"
    rows = db.query(sql, [*params, top + 1])
    items = [json.loads(r["doc"]) for r in rows[:top]]
    token = encode_token(rows[top - 1]["activity"], rows[top - 1]["seq"]) if len(rows) > top else None
    return Page(items, token)


def iter_all(db: EntraDB, batch: int = 2000):
    """Every record, oldest first (exports)."""
    last = 0
    while True:
        rows = db.query("SELECT seq, doc FROM logs WHERE seq > ? ORDER BY seq LIMIT ?", (last, batch))
        if not rows:
            return
        for r in rows:
            yield json.loads(r["doc"])
        last = rows[-1]["seq"]
