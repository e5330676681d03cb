"""The journal side of batches: their results, the unfinished ones, giving one up, and the reason rule."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime

from console.connections import Connection
from console.context import Context
from console.errors import InvalidInput
from console.i18n import N_, _
from console.operations import journal
from console.operations.model import BatchResult, DefectReport, ItemResult, kind_label
from console.operations.wording import TEXT, english

DIRECTORY_EVENTS = ("directory_updated", "directory_not_updated")


def batch_result(ctx: Context, batch_id: int) -> BatchResult:
    row = journal.batch_row(ctx.store, batch_id)
    rows = journal.items(ctx.store, batch_id)
    items = [ItemResult(seq=r["seq"], user_id=r["user_id"], user_name=r["user_name"] or r["input"],
                        state=r["state"], outcome=r["outcome"], note=r["note"], attempts=int(r["attempts"]),
                        http_status=r["http_status"], error=r["last_error"], remedy=r["remedy"]) for r in rows]
    defects = [DefectReport(kind=d["kind"], target_id=d["target_id"], target_name=d["target_name"],
                            summary=d["summary"], report=d["report"], lost=len(json.loads(d["lost_json"])),
                            still_missing=len(json.loads(d["still_missing_json"])), restored=bool(d["restored"]))
               for d in journal.defects(ctx.store, batch_id)]
    last = ctx.store.query_one("SELECT detail FROM op_events WHERE batch_id=? AND event='verified' ORDER BY id DESC"
                               " LIMIT 1", (int(batch_id),))
    detail = (last["detail"] or "") if last is not None else ""
    unverified = detail.split(UNVERIFIED_MARK, 1)[1] if UNVERIFIED_MARK in detail else None
    view = ctx.store.query_one("SELECT event, detail FROM op_events WHERE batch_id=? AND event IN (?, ?) "
                               "ORDER BY id DESC LIMIT 1", (int(batch_id), *DIRECTORY_EVENTS))
    return BatchResult(batch_id=int(batch_id), state=row["state"], counts=journal.counts(ctx.store, batch_id),
                       items=items, stop_reason=row["stop_reason"], stop_remedy=row["stop_remedy"], defects=defects,
                       unverified=unverified,
                       directory_updated=None if view is None else view["event"] == "directory_updated",
                       directory_detail=None if view is None else view["detail"])


UNVERIFIED_MARK = "; could not read back: "
# What giving up on a batch journals (English; ``wording.shown`` translates it where it is read).
HALF_WAY = TEXT.one(N_("The process running it stopped half-way."))
ABANDONED_NOTE = TEXT.one(N_("abandoned before it ran"))
IN_FLIGHT_NOTE = TEXT.one(N_("was in flight when the process stopped; it may or may not have been applied: check this "
                             "person in 6clicks"))
ABANDONED_BY = TEXT.one(N_("Abandoned by {operator}"))
ABANDONED_BY_NOTE = TEXT.one(N_("Abandoned by {operator}: {note}"))


def validate_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise InvalidInput(_("A reason is required for every manual change (it goes into the audit log)."),
                           _("Say why, e.g. “left the company, ticket 4711”."))
    if len(text) > 1000:
        raise InvalidInput(_("The reason is longer than 1,000 characters."), _("Shorten it; link to a ticket instead."))
    return text


@dataclass
class Unfinished:
    batch_id: int
    connection: str
    kind: str
    label: str
    operator: str
    reason: str
    created_at: datetime | None
    state: str              # interrupted|stopped|pending|running-elsewhere
    counts: dict[str, int]
    stop_reason: str | None
    stop_remedy: str | None

    @property
    def live(self) -> bool:
        return self.state == "running-elsewhere"


def unfinished_batches(ctx: Context, conn: Connection | str | None = None) -> list[Unfinished]:
    """Batches with items not yet run: interrupted (process died), stopped (401, Ctrl-C), or running now in
    another process (``live``: shown, not resumable)."""

    sql = "SELECT * FROM op_batches WHERE state IN ('pending','running','stopped')"
    args: tuple[str, ...] = ()
    if conn is not None:
        sql += " AND connection = ?"
        args = (conn if isinstance(conn, str) else conn.name,)
    out = []
    for row in ctx.store.query(sql + " ORDER BY id", args):
        counts = journal.counts(ctx.store, row["id"])
        if not (counts["pending"] or counts["running"]):
            continue
        if row["state"] in ("pending", "running"):
            state = "running-elsewhere" if journal.owner_alive(row) else "interrupted"
        else:
            state = "stopped"
        out.append(Unfinished(batch_id=int(row["id"]), connection=row["connection"], kind=row["kind"],
                              label=kind_label(row["kind"], json.loads(row["params_json"])),
                              operator=row["operator"], reason=row["reason"],
                              created_at=journal.parse_iso(row["created_at"]), state=state, counts=counts,
                              stop_reason=row["stop_reason"] or (HALF_WAY if state == "interrupted" else None),
                              stop_remedy=row["stop_remedy"]))
    return out


def check_connection(ctx: Context, conn: Connection, batch_id: int) -> None:
    row = journal.batch_row(ctx.store, batch_id)
    if row["connection"] != conn.name:
        raise InvalidInput(_("Action {id} belongs to connection “{name}”.").format(id=batch_id, name=row["connection"]),
                           _("Select “{name}” first.").format(name=row["connection"]))


def abandon(ctx: Context, batch_id: int, operator: str, note: str | None = None) -> BatchResult:
    """Give up on an unfinished batch: items never sent become ``skipped``; items that were in flight when the
    process died become ``failed`` with an unknown outcome (they may or may not have been applied)."""
    store = ctx.store
    with store.transaction() as db:
        row = db.execute("SELECT * FROM op_batches WHERE id=?", (int(batch_id),)).fetchone()
        if row is None:
            raise InvalidInput(_("There is no action {id}.").format(id=batch_id),
                               _("List actions with `python -m console ops list`."))
        if row["state"] in ("completed", "abandoned"):
            raise InvalidInput((_("Action {id} is already completed.") if row["state"] == "completed"
                                else _("Action {id} is already abandoned.")).format(id=batch_id),
                               _("Nothing to abandon."))
        if journal.owner_alive(row) and not (row["owner_host"] == journal.HOST
                                             and row["owner_pid"] == os.getpid()):
            raise InvalidInput(_("Action {id} is running right now in another process.").format(id=batch_id),
                               _("Wait for it to finish, then look again."))
        journal.note_interrupted(db, row)
        stamp = journal.iso()
        db.execute("UPDATE op_items SET state='skipped', outcome='abandoned', note=?, updated_at=? WHERE batch_id=?"
                   " AND state='pending'", (ABANDONED_NOTE, stamp, int(batch_id)))
        db.execute("UPDATE op_items SET state='failed', outcome='unknown', note=?, updated_at=? WHERE batch_id=? AND"
                   " state='running'", (IN_FLIGHT_NOTE, stamp, int(batch_id)))
        by = english(ABANDONED_BY_NOTE, operator=operator, note=note) if note else english(ABANDONED_BY,
                                                                                           operator=operator)
        db.execute("UPDATE op_batches SET state='abandoned', finished_at=?, stop_reason=? WHERE id=?",
                   (stamp, by, int(batch_id)))
        db.execute("INSERT INTO op_events(batch_id, at, operator, event, detail) VALUES (?,?,?,?,?)",
                   (int(batch_id), stamp, operator, "abandoned", note))
    return batch_result(ctx, batch_id)
