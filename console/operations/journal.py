"""The journal: batches and items in SQLite (migration 0004), written before anything runs.

Every item state change is its own committed transaction, so after a crash the journal says exactly which
items were done, which were in flight (state ``running``: re-checked live on resume) and which never started.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

from console.errors import InvalidInput, NotFoundError
from console.i18n import N_, _
from console.operations.model import Plan, step_text
from console.operations.wording import LIST_SEPARATOR, TEXT, english

# A running batch whose owner has not written a heartbeat for this long is considered interrupted.
STALE_AFTER = timedelta(seconds=120)


def now() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime | None = None) -> str:
    return (dt or now()).astimezone(UTC).isoformat(timespec="milliseconds")


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


HOST = socket.gethostname()

# Event details and notes as the journal stores them (English; ``wording.shown`` translates them where read).
JOURNALED = TEXT.one(N_("{n} to change, {skipped} skipped; reason: {reason}"))
PROCESS_DIED = TEXT.one(N_("the process running it (pid {pid} on {host}) stopped without finishing; last sign of life "
                           "{seen}; {running} item(s) were in flight (re-checked live on resume), {pending} not "
                           "started"))
IN_BOTH_NOT_APPLIED = TEXT.one(N_("in both {added} and {removed}: the server did not apply the remove; retry to "
                                  "finish the move"))
REST_NOT_APPLIED = TEXT.one(N_("{steps} done, the rest was not applied by the server"))
RESTORED = TEXT.one(N_("{back} of {lost} lost member(s) put back and verified"))
RESTORED_PART = TEXT.one(N_("{back} of {lost} lost member(s) put back and verified; {missing} still missing"))


def create_batch(store: Any, plan: Plan, *, reason: str, operator: str, source: str, concurrency: int) -> int:
    """Journal the whole plan (changes as ``pending``, skips as ``skipped``) in one transaction."""
    stamp = iso()
    with store.transaction() as db:
        cur = db.execute(
            "INSERT INTO op_batches(connection, kind, params_json, reason, operator, source, undo_of, notes_json,"
            " snapshot_id, state, concurrency, created_at, owner_host, owner_pid, heartbeat_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (plan.connection, plan.kind, json.dumps(plan.params), reason, operator, source, plan.undo_of,
             json.dumps(plan.notes + plan.warnings), plan.snapshot_id, "pending", concurrency, stamp,
             HOST, os.getpid(), stamp))
        batch_id = int(cur.lastrowid or 0)
        rows = []
        for seq, item in enumerate(plan.items, start=1):
            rows.append((batch_id, seq, item.user_id, item.user_name, item.email, item.display_name, item.input,
                         json.dumps(item.steps), item.before, item.after,
                         "pending" if item.changes else "skipped",
                         None if item.changes else (item.skip_code or "skipped"),
                         item.skip, stamp))
        db.executemany(
            "INSERT INTO op_items(batch_id, seq, user_id, user_name, email, display_name, input, steps_json,"
            " before_text, after_text, state, outcome, note, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows)
        db.execute("INSERT INTO op_events(batch_id, at, operator, event, detail) VALUES (?,?,?,?,?)",
                   (batch_id, stamp, operator, "journaled",
                    english(JOURNALED, n=plan.count, skipped=len(plan.skipped), reason=reason)))
    return batch_id


def add_event(store: Any, batch_id: int, operator: str, event: str, detail: str | None = None) -> None:
    with store.transaction() as db:
        db.execute("INSERT INTO op_events(batch_id, at, operator, event, detail) VALUES (?,?,?,?,?)",
                   (batch_id, iso(), operator, event, detail))


def batch_row(store: Any, batch_id: int) -> Any:
    row = store.query_one("SELECT * FROM op_batches WHERE id = ?", (int(batch_id),))
    if row is None:
        raise NotFoundError(_("There is no action {id}.").format(id=batch_id),
                            _("List actions with `python -m console audit list` or on the Activity page."))
    return row


def owner_alive(row: Any, *, at: datetime | None = None) -> bool:
    """Is the process that runs this batch still there? (Same host: its pid; always: a fresh heartbeat.)"""
    if row["state"] not in ("pending", "running"):
        return False
    beat = parse_iso(row["heartbeat_at"]) or parse_iso(row["started_at"])
    if beat is None or (at or now()) - beat > STALE_AFTER:
        return False
    if row["owner_host"] == HOST and row["owner_pid"]:
        pid = int(row["owner_pid"])
        if pid == os.getpid():
            return True
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    return True


def claim(store: Any, batch_id: int, operator: str, event: str, detail: str | None = None) -> Any:
    """Take ownership of a batch for this process (refused while another live process runs it)."""
    with store.transaction() as db:
        row = db.execute("SELECT * FROM op_batches WHERE id = ?", (int(batch_id),)).fetchone()
        if row is None:
            raise NotFoundError(_("There is no action {id}.").format(id=batch_id),
                                _("List actions with `python -m console audit list`."))
        if row["state"] == "abandoned":
            raise InvalidInput(_("Action {id} was abandoned; it cannot run again.").format(id=batch_id),
                               _("Start a new operation (or undo what it changed) instead."))
        if row["state"] == "running" and owner_alive(row) and not (
                row["owner_host"] == HOST and row["owner_pid"] == os.getpid() and event == "started"):
            raise InvalidInput(_("Action {id} is being run right now by another process (pid {pid} on {host}).").format(
                id=batch_id, pid=row["owner_pid"], host=row["owner_host"]),
                               _("Wait for it to finish; it will show up as completed or unfinished."))
        if event != "started":
            note_interrupted(db, row)
        stamp = iso()
        db.execute("UPDATE op_batches SET state='running', owner_host=?, owner_pid=?, heartbeat_at=?,"
                   " started_at=COALESCE(started_at, ?), finished_at=NULL, stop_reason=NULL, stop_remedy=NULL"
                   " WHERE id=?", (HOST, os.getpid(), stamp, stamp, int(batch_id)))
        db.execute("INSERT INTO op_events(batch_id, at, operator, event, detail) VALUES (?,?,?,?,?)",
                   (int(batch_id), stamp, operator, event, detail))
        return db.execute("SELECT * FROM op_batches WHERE id = ?", (int(batch_id),)).fetchone()


def note_interrupted(db: Any, row: Any) -> bool:
    """Record an ``interrupted`` event for a batch whose process died while running it (crash, kill, power
    loss: nothing could be written then). Called inside the transaction that takes the batch over (resume,
    retry, abandon). Dated at the last sign of life (heartbeat). False when the batch was not interrupted."""
    if row["state"] not in ("pending", "running") or owner_alive(row):
        return False
    left = db.execute("SELECT SUM(state='running') AS running, SUM(state='pending') AS pending FROM op_items"
                      " WHERE batch_id=?", (int(row["id"]),)).fetchone()
    running, pending = int(left["running"] or 0), int(left["pending"] or 0)
    seen = row["heartbeat_at"] or row["started_at"] or row["created_at"]
    detail = english(PROCESS_DIED, pid=row["owner_pid"], host=row["owner_host"], seen=seen, running=running,
                     pending=pending)
    db.execute("INSERT INTO op_events(batch_id, at, operator, event, detail) VALUES (?,?,?,?,?)",
               (int(row["id"]), seen, row["operator"], "interrupted", detail))
    return True


def heartbeat(store: Any, batch_id: int) -> None:
    with store.transaction() as db:
        db.execute("UPDATE op_batches SET heartbeat_at=? WHERE id=?", (iso(), int(batch_id)))


def mark_running(store: Any, batch_id: int, seq: int) -> None:
    with store.transaction() as db:
        db.execute("UPDATE op_items SET state='running', attempts=attempts+1, updated_at=? WHERE batch_id=? AND"
                   " seq=?", (iso(), int(batch_id), seq))


def record_item(store: Any, batch_id: int, seq: int, *, state: str, outcome: str | None, note: str | None,
                changes: list[dict[str, Any]], http_status: int | None, error: str | None,
                remedy: str | None, extra_attempts: int = 0) -> None:
    with store.transaction() as db:
        prev = db.execute("SELECT changes_json FROM op_items WHERE batch_id=? AND seq=?",
                          (int(batch_id), seq)).fetchone()
        merged = merge_changes(json.loads(prev["changes_json"]) if prev else [], changes)
        db.execute("UPDATE op_items SET state=?, outcome=?, note=?, changes_json=?, http_status=?, last_error=?,"
                   " remedy=?, attempts=attempts+?, updated_at=? WHERE batch_id=? AND seq=?",
                   (state, outcome, note, json.dumps(merged), http_status, error, remedy, extra_attempts, iso(),
                    int(batch_id), seq))


def merge_changes(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Changes accumulate over attempts (a move whose add worked first time and remove on retry)."""
    out = list(old)
    for change in new:
        # a later change cancels an earlier opposite one on the same target (net effect only)
        opposite = None
        for idx, prior in enumerate(out):
            if prior.get("group_id") == change.get("group_id") and prior["op"] != change["op"] and \
                    {prior["op"], change["op"]} == {"add", "remove"}:
                opposite = idx
            if prior["op"] == change["op"] == "set_active" and prior.get("value") != change.get("value"):
                opposite = idx
        if opposite is not None:
            out.pop(opposite)
        elif change not in out:
            out.append(change)
    return out


def unapply(store: Any, batch_id: int, seq: int, step: dict[str, Any], *, error: str, remedy: str) -> None:
    """A read-back showed that ``step`` of item ``seq`` did not happen although the server answered success:
    drop it from the item's changes (the undo recipe stays exact) and fail the item (retryable)."""
    with store.transaction() as db:
        row = db.execute("SELECT changes_json FROM op_items WHERE batch_id=? AND seq=?",
                         (int(batch_id), seq)).fetchone()
        if row is None:
            return
        changes = [c for c in json.loads(row["changes_json"] or "[]") if not _same_step(c, step)]
        outcome = "partial" if changes else "not_applied"
        note = None
        if changes and step.get("op") == "remove":
            added = next((c for c in changes if c["op"] == "add"), None)
            if added is not None:
                note = english(IN_BOTH_NOT_APPLIED, added=added.get("group_name"), removed=step.get("group_name"))
        elif changes:
            note = english(REST_NOT_APPLIED, steps=LIST_SEPARATOR.join(_step_words(c) for c in changes))
        db.execute("UPDATE op_items SET state='failed', outcome=?, note=?, changes_json=?, last_error=?, remedy=?,"
                   " updated_at=? WHERE batch_id=? AND seq=?",
                   (outcome, note, json.dumps(changes), error, remedy, iso(), int(batch_id), seq))


def _same_step(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.get("op") != b.get("op"):
        return False
    if a.get("op") == "set_active":
        return bool(a.get("value")) == bool(b.get("value"))
    return a.get("group_id") == b.get("group_id")


def _step_words(step: dict[str, Any]) -> str:
    return step_text(step)


def add_defect(store: Any, batch_id: int, operator: str, *, kind: str, target_id: str | None,
               target_name: str | None, summary: str, report: str, lost: list[str], still_missing: list[str],
               restored: bool) -> None:
    """Record a server defect (with its full report) and a ``server_defect`` event, plus a ``restored`` or
    ``restore_failed`` event, in one transaction."""
    stamp = iso()
    with store.transaction() as db:
        db.execute("INSERT INTO op_defects(batch_id, at, kind, target_id, target_name, summary, report, lost_json,"
                   " still_missing_json, restored) VALUES (?,?,?,?,?,?,?,?,?,?)",
                   (int(batch_id), stamp, kind, target_id, target_name, summary, report, json.dumps(lost),
                    json.dumps(still_missing), int(bool(restored))))
        db.execute("INSERT INTO op_events(batch_id, at, operator, event, detail) VALUES (?,?,?,?,?)",
                   (int(batch_id), stamp, operator, "server_defect", summary))
        if lost:
            db.execute("INSERT INTO op_events(batch_id, at, operator, event, detail) VALUES (?,?,?,?,?)",
                       (int(batch_id), stamp, operator, "restored" if restored else "restore_failed",
                        english(RESTORED_PART if still_missing else RESTORED, back=len(lost) - len(still_missing),
                                lost=len(lost), missing=len(still_missing))))


def changed_elsewhere(store: Any, batch_id: int, group_id: str) -> set[str]:
    """Members of ``group_id`` that *other* actions on the same connection change (add or remove), counting
    those still pending or running and those that finished after this one was created: a concurrent writer
    the read-back must not mistake for a server that loses members."""
    me = batch_row(store, batch_id)
    rows = store.query(
        "SELECT i.user_id, i.steps_json FROM op_items i JOIN op_batches b ON b.id = i.batch_id"
        " WHERE b.connection = ? AND b.id != ? AND (b.state IN ('pending', 'running') OR b.finished_at >= ?)"
        " AND i.user_id IS NOT NULL AND i.steps_json LIKE ?",
        (me["connection"], int(batch_id), me["created_at"], f"%{group_id}%"))
    out: set[str] = set()
    for row in rows:
        steps = json.loads(row["steps_json"] or "[]")
        if any(s.get("group_id") == group_id and s.get("op") in ("add", "remove") for s in steps):
            out.add(str(row["user_id"]))
    return out


def defects(store: Any, batch_id: int) -> list[Any]:
    return store.query("SELECT * FROM op_defects WHERE batch_id=? ORDER BY id", (int(batch_id),))


def finish(store: Any, batch_id: int, operator: str, *, state: str, detail: str,
           stop_reason: str | None = None, stop_remedy: str | None = None, event: str = "finished") -> None:
    stamp = iso()
    with store.transaction() as db:
        db.execute("UPDATE op_batches SET state=?, finished_at=?, heartbeat_at=?, stop_reason=?, stop_remedy=?"
                   " WHERE id=?", (state, stamp, stamp, stop_reason, stop_remedy, int(batch_id)))
        db.execute("INSERT INTO op_events(batch_id, at, operator, event, detail) VALUES (?,?,?,?,?)",
                   (int(batch_id), stamp, operator, event, detail))


def items(store: Any, batch_id: int, states: tuple[str, ...] | None = None) -> list[Any]:
    if states:
        marks = ",".join("?" * len(states))
        return store.query(f"SELECT * FROM op_items WHERE batch_id=? AND state IN ({marks}) ORDER BY seq",
                           (int(batch_id), *states))
    return store.query("SELECT * FROM op_items WHERE batch_id=? ORDER BY seq", (int(batch_id),))


def counts(store: Any, batch_id: int) -> dict[str, int]:
    rows = store.query("SELECT state, COUNT(*) AS n FROM op_items WHERE batch_id=? GROUP BY state",
                       (int(batch_id),))
    out = {s: 0 for s in ("pending", "running", "done", "failed", "skipped")}
    out.update({r["state"]: int(r["n"]) for r in rows})
    return out
