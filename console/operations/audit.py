"""The audit log of manual operations: who, when, what, why, the result per person, and the undo recipe.

It reads the operations journal (migrations 0004, 0005): every batch is an *action* with its items, its life
events (journaled, started, interrupted, resumed, retried, stopped, abandoned, verified, server_defect, restored,
finished) and the server defects its read-backs found (with the request, the answer and the repair). It also
flags changes that a later provisioning cycle (or anyone else) reverted, by comparing the latest snapshot with
what the action did.
"""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from console.connections import Connection
from console.context import Context
from console.directory.store import latest_snapshot
from console.errors import NotFoundError
from console.i18n import N_, _
from console.operations import journal
from console.operations.model import (
    ACTIVE,
    INACTIVE,
    NOT_IN,
    inverse_step,
    kind_label,
    order_steps,
    step_text,
    undo_label,
)
from console.operations.targets import Directory, snapshot_directory
from console.operations.wording import TEXT, english

OUTCOMES = ("success", "partial", "failed", "stopped", "defect", "interrupted", "running", "abandoned", "pending")

# Words for the codes above, for people (pages: ``words`` translates them); the command line's --json and the
# journal keep the codes.
OUTCOME_WORDS = {"success": N_("Succeeded"), "partial": N_("Partly failed"), "failed": N_("Failed"),
                 "stopped": N_("Stopped"), "defect": N_("Server defect"), "interrupted": N_("Interrupted"),
                 "running": N_("Running"), "abandoned": N_("Abandoned"), "pending": N_("Not started")}
KIND_WORDS = {"deactivate": N_("Deactivate"), "reactivate": N_("Reactivate"), "add": N_("Add to a group or role"),
              "remove": N_("Remove from a group or role"), "move": N_("Move between groups or roles")}
ITEM_STATE_WORDS = {"pending": N_("not run yet"), "running": N_("in progress"), "done": N_("done"),
                    "failed": N_("failed"), "skipped": N_("skipped")}
ITEM_RESULT_WORDS = {"changed": N_("changed"), "already": N_("already as asked"), "partial": N_("partly changed"),
                     "not_found": N_("not found"), "forbidden": N_("permission missing"), "conflict": N_("conflict"),
                     "busy": N_("server busy or unreachable"), "error": N_("error"), "unauthorized": N_("token rejected"),
                     "not_applied": N_("not applied by the server"), "abandoned": N_("abandoned"),
                     "unknown": N_("outcome unknown")}
EVENT_WORDS = {"journaled": N_("planned and journaled"), "started": N_("started"), "interrupted": N_("interrupted"),
               "resumed": N_("resumed"), "retried": N_("failed items retried"), "stopped": N_("stopped"),
               "abandoned": N_("abandoned"), "verified": N_("changes read back"),
               "server_defect": N_("server defect found"), "restored": N_("lost members restored"),
               "restore_failed": N_("lost members NOT all restored"), "finished": N_("finished"),
               "directory_updated": N_("directory view updated"),
               "directory_not_updated": N_("directory view not updated")}
# What a later look at the directory says about a change (English; ``wording.shown`` translates it).
DELETED = TEXT.one(N_("deleted"))
IN_AGAIN = TEXT.one(N_("in {group} again"))


def words(table: dict[str, str], code: str | None, empty: str = "") -> str:
    """The words for a code of one of the tables above, in the current language; an unknown code as readable
    text ("a_b" -> "a b")."""
    if not code:
        return empty
    found = table.get(code)
    return _(found) if found else str(code).replace("_", " ")


def os_operator() -> str:
    """The operating-system user, for the command line and when sign-in is off."""
    try:
        return getpass.getuser()
    except Exception:  # no login name (containers): fall back to the uid
        return os.environ.get("USER") or f"uid-{os.getuid()}"


@dataclass
class AuditItem:
    seq: int
    user_id: str | None
    user_name: str | None
    email: str | None
    display_name: str | None
    input: str | None
    state: str
    outcome: str | None
    note: str | None
    steps: list[dict[str, Any]]
    changes: list[dict[str, Any]]
    before_text: str | None
    after_text: str | None
    attempts: int
    http_status: int | None
    error: str | None
    remedy: str | None
    updated_at: datetime | None


@dataclass
class AuditEvent:
    at: datetime | None
    operator: str
    event: str
    detail: str | None


@dataclass
class AuditDefect:
    """A server defect found by read-back: what was lost, whether it was restored, and the plain-text report."""

    at: datetime | None
    kind: str
    target_id: str | None
    target_name: str | None
    summary: str
    report: str
    lost: list[str]
    still_missing: list[str]
    restored: bool


@dataclass
class Reverted:
    user_id: str
    user_name: str | None
    change: str            # e.g. "deactivate" that no longer holds
    now: str               # what the directory shows now
    seen_at: datetime | None


@dataclass
class Action:
    id: int
    connection: str
    kind: str
    params: dict[str, Any]
    label: str
    reason: str
    operator: str
    source: str
    undo_of: int | None
    notes: list[str]
    state: str
    outcome: str
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    stop_reason: str | None
    stop_remedy: str | None
    counts: dict[str, int]
    changed_count: int
    items: list[AuditItem] = field(default_factory=list)
    events: list[AuditEvent] = field(default_factory=list)
    undone_by: list[int] = field(default_factory=list)
    reverted: list[Reverted] | None = None     # None: unknown (no snapshot after the action)
    defects: list[AuditDefect] = field(default_factory=list)

    def undo_recipe(self) -> dict[str, Any]:
        """The inverse action with exactly the people this action changed."""
        inverse = {"deactivate": "reactivate", "reactivate": "deactivate", "add": "remove", "remove": "add",
                   "move": "move"}[self.kind]
        return {
            "kind": inverse,
            "undo_of": self.id,
            "items": [{"user_id": i.user_id, "user_name": i.user_name,
                       "steps": order_steps([inverse_step(c) for c in i.changes])}
                      for i in self.items if i.changes],
            "command": f"python -m console undo {self.id} --connection {self.connection} --reason TEXT",
        }

    def to_dict(self, *, items: bool = True) -> dict[str, Any]:
        data = asdict(self)
        for key in ("created_at", "started_at", "finished_at"):
            data[key] = data[key].isoformat() if data[key] else None
        data["items"] = [{**asdict(i), "updated_at": i.updated_at.isoformat() if i.updated_at else None}
                         for i in self.items] if items else None
        data["events"] = [{**asdict(e), "at": e.at.isoformat() if e.at else None} for e in self.events]
        data["defects"] = [{**asdict(d), "at": d.at.isoformat() if d.at else None} for d in self.defects]
        data["reverted"] = None if self.reverted is None else [
            {**asdict(r), "seen_at": r.seen_at.isoformat() if r.seen_at else None} for r in self.reverted]
        if self.items:
            data["undo"] = self.undo_recipe()
        return data


def _outcome(row: Any, counts: dict[str, int], changed: int, defects: bool = False) -> str:
    state = row["state"]
    if defects:
        return "defect"
    if state == "abandoned":
        return "abandoned"
    if state == "stopped":
        return "stopped"
    if state in ("pending", "running"):
        return "running" if journal.owner_alive(row) else "interrupted"
    if counts.get("failed"):
        done = counts.get("done", 0)
        return "partial" if done or changed else "failed"
    return "success"


def _action(ctx: Context, row: Any, counts: dict[str, int], changed: int, defects: bool = False) -> Action:
    params = json.loads(row["params_json"] or "{}")
    label = kind_label(row["kind"], params)
    if row["undo_of"]:
        label = undo_label(row["undo_of"], label)
    return Action(id=int(row["id"]), connection=row["connection"], kind=row["kind"], params=params, label=label,
                  reason=row["reason"], operator=row["operator"], source=row["source"], undo_of=row["undo_of"],
                  notes=json.loads(row["notes_json"] or "[]"), state=row["state"],
                  outcome=_outcome(row, counts, changed, defects), created_at=journal.parse_iso(row["created_at"]),
                  started_at=journal.parse_iso(row["started_at"]),
                  finished_at=journal.parse_iso(row["finished_at"]), stop_reason=row["stop_reason"],
                  stop_remedy=row["stop_remedy"], counts=counts, changed_count=changed)


def _item(r: Any) -> AuditItem:
    return AuditItem(seq=int(r["seq"]), user_id=r["user_id"], user_name=r["user_name"], email=r["email"],
                     display_name=r["display_name"], input=r["input"], state=r["state"], outcome=r["outcome"],
                     note=r["note"], steps=json.loads(r["steps_json"] or "[]"),
                     changes=json.loads(r["changes_json"] or "[]"), before_text=r["before_text"],
                     after_text=r["after_text"], attempts=int(r["attempts"]), http_status=r["http_status"],
                     error=r["last_error"], remedy=r["remedy"], updated_at=journal.parse_iso(r["updated_at"]))


def get_action(ctx: Context, action_id: int | str) -> Action:
    try:
        ident = int(str(action_id).strip().lstrip("#"))
    except ValueError:
        raise NotFoundError(_("“{value}” is not an action id (a number).").format(value=action_id),
                            _("List actions with `python -m console audit list`.")) from None
    row = journal.batch_row(ctx.store, ident)
    items = [_item(r) for r in journal.items(ctx.store, ident)]
    counts = journal.counts(ctx.store, ident)
    defects = [AuditDefect(at=journal.parse_iso(d["at"]), kind=d["kind"], target_id=d["target_id"],
                           target_name=d["target_name"], summary=d["summary"], report=d["report"],
                           lost=json.loads(d["lost_json"]), still_missing=json.loads(d["still_missing_json"]),
                           restored=bool(d["restored"])) for d in journal.defects(ctx.store, ident)]
    action = _action(ctx, row, counts, sum(1 for i in items if i.changes), bool(defects))
    action.items = items
    action.defects = defects
    action.events = [AuditEvent(at=journal.parse_iso(e["at"]), operator=e["operator"], event=e["event"],
                                detail=e["detail"])
                     for e in ctx.store.query("SELECT * FROM op_events WHERE batch_id=? ORDER BY id", (ident,))]
    action.undone_by = [int(r["id"]) for r in ctx.store.query("SELECT id FROM op_batches WHERE undo_of=? "
                                                              "ORDER BY id", (ident,))]
    return action


def list_actions(ctx: Context, *, connection: str | None = None, since: datetime | None = None,
                 until: datetime | None = None, operator: str | None = None, kind: str | None = None,
                 outcome: str | None = None, limit: int = 500) -> list[Action]:
    """Newest first, with per-state counts; items are not loaded (use ``get_action``)."""
    where, args = [], []
    if connection:
        where.append("connection = ?")
        args.append(connection)
    if since:
        where.append("created_at >= ?")
        args.append(journal.iso(since))
    if until:
        where.append("created_at <= ?")
        args.append(journal.iso(until))
    if operator:
        where.append("lower(operator) LIKE ?")
        args.append(f"%{operator.lower()}%")
    if kind:
        where.append("kind = ?")
        args.append(kind)
    sql = "SELECT * FROM op_batches" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC"
    rows = ctx.store.query(sql, tuple(args))
    if not rows:
        return []
    ids = [int(r["id"]) for r in rows]
    counts: dict[int, dict[str, int]] = {i: {s: 0 for s in ("pending", "running", "done", "failed", "skipped")}
                                         for i in ids}
    changed: dict[int, int] = dict.fromkeys(ids, 0)
    for c in ctx.store.query("SELECT batch_id, state, COUNT(*) AS n, SUM(changes_json != '[]') AS ch FROM op_items "
                             "GROUP BY batch_id, state"):
        if c["batch_id"] in counts:
            counts[c["batch_id"]][c["state"]] = int(c["n"])
            changed[c["batch_id"]] += int(c["ch"] or 0)
    undone: dict[int, list[int]] = {}
    for r in ctx.store.query("SELECT id, undo_of FROM op_batches WHERE undo_of IS NOT NULL ORDER BY id"):
        undone.setdefault(int(r["undo_of"]), []).append(int(r["id"]))
    with_defects = {int(r["batch_id"]) for r in ctx.store.query("SELECT DISTINCT batch_id FROM op_defects")}
    out = []
    for row in rows:
        action = _action(ctx, row, counts[int(row["id"])], changed[int(row["id"])], int(row["id"]) in with_defects)
        action.undone_by = undone.get(action.id, [])
        if outcome and action.outcome != outcome:
            continue
        out.append(action)
        if len(out) >= limit:
            break
    return out


def operators(ctx: Context) -> list[str]:
    return [r["operator"] for r in ctx.store.query("SELECT DISTINCT operator FROM op_batches ORDER BY operator")]


def find_reverted(ctx: Context, conn: Connection, actions: list[Action]) -> None:
    """Fill ``action.reverted`` for each finished action: the changes it made that the latest snapshot no longer
    shows (typically Entra changing a person back at its next cycle). ``None`` when the latest snapshot is older
    than the action, so nothing can be said yet. Later console actions on the same person (an undo, another
    change) are not counted as reverts."""
    snap = latest_snapshot(ctx, conn)
    if snap is None:
        return
    taken = snap.taken_at
    directory: Directory | None = None
    # who was changed by which console action, and when: later console changes are not "reverts"
    later_touch: dict[str, list[tuple[int, datetime | None]]] = {}
    for r in ctx.store.query("SELECT i.user_id, b.id, b.finished_at FROM op_items i JOIN op_batches b ON "
                             "b.id = i.batch_id WHERE i.changes_json != '[]' AND b.connection = ?", (conn.name,)):
        later_touch.setdefault(r["user_id"], []).append((int(r["id"]), journal.parse_iso(r["finished_at"])))
    for action in actions:
        if action.finished_at is None or taken is None or taken <= action.finished_at or not action.changed_count:
            continue
        if directory is None:
            directory = snapshot_directory(ctx.data_dir, conn.name, snap)
        if not action.items:
            action.items = [_item(r) for r in journal.items(ctx.store, action.id)]
        found: list[Reverted] = []
        for item in action.items:
            if not item.changes or not item.user_id:
                continue
            if any(bid > action.id for bid, _ in later_touch.get(item.user_id, [])):
                continue
            user = directory.users.get(item.user_id)
            for change in item.changes:
                if user is None:
                    found.append(Reverted(item.user_id, item.user_name, step_text(change), DELETED, taken))
                    break
                if change["op"] == "set_active" and user.active != bool(change["value"]):
                    found.append(Reverted(item.user_id, item.user_name, step_text(change),
                                          ACTIVE if user.active else INACTIVE, taken))
                elif change["op"] == "add" and change["group_id"] not in user.groups:
                    found.append(Reverted(item.user_id, item.user_name, step_text(change),
                                          english(NOT_IN, group=change.get("group_name")), taken))
                elif change["op"] == "remove" and change["group_id"] in user.groups:
                    found.append(Reverted(item.user_id, item.user_name, step_text(change),
                                          english(IN_AGAIN, group=change.get("group_name")), taken))
        action.reverted = found
