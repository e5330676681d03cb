"""What the doctor keeps: items an operator confirmed by hand (who and when), and each run's verdict."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from console.connections import Connection, connection_id
from console.context import Context
from console.doctor.manual import MANUAL
from console.doctor.model import Report, summary_text, title_of
from console.errors import InvalidInput
from console.i18n import _, pgettext

MAX_OPERATOR = 120


def confirm(ctx: Context, conn: Connection, item: str, operator: str) -> None:
    """Record that ``operator`` checked ``item`` by hand now (replacing an older confirmation)."""
    items = [m[0] for m in MANUAL]
    if item not in items:
        raise InvalidInput(_("{item} is not an item to confirm by hand.").format(item=repr(item)),
                           _("Use one of: {items}.").format(items=pgettext("list separator", ", ").join(items)))
    printable = "".join(c for c in str(operator or "") if c.isprintable() and c not in "\u202a\u202b\u202c\u202d"
                        "\u202e\u2066\u2067\u2068\u2069")
    who = " ".join(printable.split())[:MAX_OPERATOR] or "unknown operator"
    ctx.store.execute(
        "INSERT INTO doctor_confirmations (connection_id, item, confirmed_by, confirmed_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (connection_id, item) DO UPDATE SET confirmed_by = excluded.confirmed_by, "
        "confirmed_at = excluded.confirmed_at",
        (connection_id(ctx, conn), item, who, ctx.now().astimezone(UTC).isoformat()))


def withdraw(ctx: Context, conn: Connection, item: str) -> None:
    ctx.store.execute("DELETE FROM doctor_confirmations WHERE connection_id = ? AND item = ?",
                      (connection_id(ctx, conn), item))


def confirmations(ctx: Context, conn: Connection) -> dict[str, tuple[str, datetime]]:
    rows = ctx.store.query(
        "SELECT d.item, d.confirmed_by, d.confirmed_at FROM doctor_confirmations d JOIN connections c "
        "ON c.id = d.connection_id WHERE c.name = ?", (conn.name,))
    return {r["item"]: (r["confirmed_by"], datetime.fromisoformat(r["confirmed_at"])) for r in rows}


@dataclass(frozen=True)
class LastRun:
    at: datetime
    worst: str
    summary: str         # the counts in words, in the current language
    failures: list[str]  # titles of the failed checks, in the current language
    failure_ids: list[str] = field(default_factory=list)  # their ids (language-neutral: for dedupe keys)


def save_run(ctx: Context, conn: Connection, report: Report) -> None:
    cid = connection_id(ctx, conn)
    ctx.store.execute(
        "INSERT INTO doctor_runs (connection_id, at, worst, summary, report) VALUES (?, ?, ?, ?, ?)",
        (cid, report.at.astimezone(UTC).isoformat(), report.worst, report.summary_en(),
         json.dumps(report.to_dict(), ensure_ascii=False)))
    # keep the last 200 runs per connection
    ctx.store.execute(
        "DELETE FROM doctor_runs WHERE connection_id = ? AND id NOT IN (SELECT id FROM doctor_runs WHERE "
        "connection_id = ? ORDER BY at DESC, id DESC LIMIT 200)",
        (cid, cid))


def last_run(ctx: Context, conn: Connection) -> LastRun | None:
    row = ctx.store.query_one(
        "SELECT r.at, r.worst, r.summary, r.report FROM doctor_runs r JOIN connections c ON c.id = r.connection_id "
        "WHERE c.name = ? ORDER BY r.at DESC, r.id DESC LIMIT 1", (conn.name,))
    if row is None:
        return None
    # the summary and the titles in the reader's language (the stored ones are in the language of the run)
    summary, failures, failure_ids = row["summary"], [], []
    try:
        checks = [c for c in json.loads(row["report"]).get("checks", []) if isinstance(c, dict)]
        statuses = [c.get("status") for c in checks]
        summary = summary_text(statuses.count("failure"), statuses.count("warning"), statuses.count("ok"),
                               statuses.count("manual"))
        for c in checks:
            if c.get("status") == "failure":
                check_id = str(c.get("id") or "")[:100]
                failure_ids.append(check_id)
                failures.append(title_of(check_id) or str(c.get("title"))[:200])
    except (ValueError, AttributeError):
        failures, failure_ids = [], []
    return LastRun(datetime.fromisoformat(row["at"]), row["worst"], summary, failures, failure_ids)
