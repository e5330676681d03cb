"""Previews: resolve who an operation is about and say, per person, what changes or why it is skipped."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from console.connections import Connection
from console.context import Context
from console.directory.store import latest_snapshot
from console.entra.health import job_overview
from console.errors import ConsoleError, InvalidInput
from console.i18n import N_, _, fmt_number
from console.operations.audit import get_action
from console.operations.journal import iso
from console.operations.model import (
    ACTIVE,
    ALREADY_ACTIVE,
    ALREADY_INACTIVE,
    DEFAULT_CONCURRENCY,
    IN_GROUPS,
    INACTIVE,
    KINDS,
    LARGE_BATCH,
    MAX_BATCH,
    NOT_IN,
    Plan,
    PlanItem,
    inverse_step,
    order_steps,
)
from console.operations.targets import CsvTargets, Directory, DirGroup, DirUser, snapshot_directory
from console.operations.wording import TEXT, english
from console.tokens.service import TokenService
from scim_client import ScimClient, ScimError

log = logging.getLogger(__name__)

# What previews say, as the journal stores it (English; ``wording.shown`` translates it where it is read).
IN_NEITHER = TEXT.one(N_("in neither"))
NOT_A_MEMBER = TEXT.one(N_("not a member"))
ALREADY_MEMBER = TEXT.one(N_("already a member of {group}"))
NOT_MEMBER_OF = TEXT.one(N_("not a member of {group}"))
ALREADY_IN_TARGET = TEXT.one(N_("already in {dst} (not in {src})"))
NOTHING_TO_MOVE = TEXT.one(N_("not a member of {src} (nothing to move)"))
NO_LONGER_EXISTS = TEXT.one(N_("no longer exists in 6clicks"))
ALREADY_BACK = TEXT.one(N_("already back to how it was"))
DUPLICATES = TEXT.ngettext("{n} duplicate entry collapsed (each person is changed once).",
                           "{n} duplicate entries collapsed (each person is changed once).")
SAME_PERSON = TEXT.ngettext("{n} entry named a person already listed (by userName and e-mail); collapsed.",
                            "{n} entries named a person already listed (by userName and e-mail); collapsed.")
UNMATCHED = TEXT.one(N_("{n} not matched to a 6clicks user: {names} (listed as skipped)."))
UNMATCHED_MORE = TEXT.one(N_("{n} not matched to a 6clicks user: {names} and {more} more (listed as skipped)."))
FROM_SNAPSHOT = TEXT.one(N_("People and groups were looked up in the latest directory snapshot; each person is "
                            "checked again live when the change runs."))
FROM_SNAPSHOT_SINCE = TEXT.ngettext(
    "People and groups were looked up in the latest directory snapshot, plus {n} change made from this console "
    "since; each person is checked again live when the change runs.",
    "People and groups were looked up in the latest directory snapshot, plus {n} changes made from this console "
    "since; each person is checked again live when the change runs.")
UNDO_ONE = TEXT.one(N_("Undo of action {id} ({label}, by {operator}): only the one person it changed."))
UNDO_MANY = TEXT.one(N_("Undo of action {id} ({label}, by {operator}): only the {n} people it changed."))
LARGE = TEXT.ngettext(
    "Large batch: {changes} changes. They run {at_once} at a time (roughly {n} minute at typical latency); every "
    "step is journaled, so an interruption can be resumed.",
    "Large batch: {changes} changes. They run {at_once} at a time (roughly {n} minutes at typical latency); every "
    "step is journaled, so an interruption can be resumed.")
NOW_OVERDUE = TEXT.one(N_("now (it is overdue)"))
IN_MINUTES = TEXT.ngettext("in about {n} minute", "in about {n} minutes")
IN_HOURS = TEXT.ngettext("in about {n} hour", "in about {n} hours")
#: the warning that Entra changes things back: (kind, next cycle known)
ENTRA_WINS = {
    ("deactivate", True): TEXT.one(N_(
        "Entra ID is the source of truth: a person whose Entra state disagrees is changed back at the next "
        "provisioning cycle (the next cycle is expected {when_text}). To make this last, also unassign the user "
        "from the 6clicks enterprise app in Entra, or block their sign-in.")),
    ("deactivate", False): TEXT.one(N_(
        "Entra ID is the source of truth: a person whose Entra state disagrees is changed back at the next "
        "provisioning cycle (about every 40 minutes). To make this last, also unassign the user from the 6clicks "
        "enterprise app in Entra, or block their sign-in.")),
    ("reactivate", True): TEXT.one(N_(
        "Entra ID is the source of truth: a person whose Entra state disagrees is changed back at the next "
        "provisioning cycle (the next cycle is expected {when_text}). To make this last, also make sure the user "
        "is assigned to the 6clicks enterprise app and not blocked in Entra.")),
    ("reactivate", False): TEXT.one(N_(
        "Entra ID is the source of truth: a person whose Entra state disagrees is changed back at the next "
        "provisioning cycle (about every 40 minutes). To make this last, also make sure the user is assigned to "
        "the 6clicks enterprise app and not blocked in Entra.")),
    ("group", True): TEXT.one(N_(
        "Entra ID is the source of truth for groups it provisions: membership that disagrees with Entra is changed "
        "back at the next provisioning cycle (the next cycle is expected {when_text}). To make this last, change "
        "the group membership in Entra as well (roles arrive from Entra as groups too).")),
    ("group", False): TEXT.one(N_(
        "Entra ID is the source of truth for groups it provisions: membership that disagrees with Entra is changed "
        "back at the next provisioning cycle (about every 40 minutes). To make this last, change the group "
        "membership in Entra as well (roles arrive from Entra as groups too).")),
}


def load_directory(ctx: Context, conn: Connection, *, client: ScimClient | None = None) -> Directory:
    """The latest snapshot, or a live listing when there is none yet."""
    snap = latest_snapshot(ctx, conn)
    if snap is not None:
        directory = snapshot_directory(ctx.data_dir, conn.name, snap).view()
        overlay_journal(ctx, conn, directory)
        return directory
    try:
        if client is not None:
            return Directory.from_live(ctx, client, conn)
        with TokenService(ctx).scim_client(conn.name) as live:
            return Directory.from_live(ctx, live, conn)
    except ScimError as exc:
        raise ConsoleError(_("There is no snapshot of {name} yet, and reading its directory live failed: "
                             "{problem}").format(name=conn.name, problem=exc.message),
                           exc.remedy or _("Check the connection, then try again.")) from None


def overlay_journal(ctx: Context, conn: Connection, directory: Directory) -> int:
    """Apply this console's own changes made after the snapshot was taken, so a preview right after an action
    (or its undo) does not show the stale state. Returns how many changes were applied."""
    if directory.taken_at is None:
        return 0
    rows = ctx.store.query(
        "SELECT i.user_id, i.changes_json FROM op_items i JOIN op_batches b ON b.id = i.batch_id "
        "WHERE b.connection = ? AND i.changes_json != '[]' AND i.updated_at > ? ORDER BY i.updated_at, b.id",
        (conn.name, iso(directory.taken_at)))
    applied = 0
    for row in rows:
        user = directory.users.get(row["user_id"] or "")
        if user is None:
            continue
        user = replace(user, groups=set(user.groups))  # a copy: the snapshot's directory is shared
        directory.users[user.id] = user
        for change in json.loads(row["changes_json"]):
            if change["op"] == "set_active":
                user.active = bool(change["value"])
            elif change["op"] == "add":
                user.groups.add(change["group_id"])
            elif change["op"] == "remove":
                user.groups.discard(change["group_id"])
            applied += 1
    if applied:
        directory.overlaid = applied
    return applied


def _user_fields(user: DirUser) -> dict[str, Any]:
    return {"user_id": user.id, "user_name": user.user_name, "email": user.email,
            "display_name": user.display_name}


def _group_ref(group: DirGroup) -> dict[str, Any]:
    return {"group_id": group.id, "group_name": group.display_name, "group_kind": group.kind}


def _state_text(user: DirUser, directory: Directory, focus: list[str]) -> str:
    """Membership among the groups this operation is about, e.g. "in Finance" / "not in Finance"."""
    inside = [directory.groups[g].display_name for g in focus if g in user.groups and g in directory.groups]
    return english(IN_GROUPS, group=" + ".join(inside)) if inside else IN_NEITHER if len(focus) > 1 \
        else NOT_A_MEMBER


def _dedupe(values: list[str], notes: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    dup = 0
    for v in values:
        v = str(v).strip()
        if not v:
            continue
        key = v.casefold()
        if key in seen:
            dup += 1
            continue
        seen.add(key)
        out.append(v)
    if dup:
        notes.append(english(DUPLICATES, n=dup))
    return out


def plan(ctx: Context, conn: Connection, kind: str, targets: list[str] | CsvTargets, *, group: str | None = None,
         from_group: str | None = None, to_group: str | None = None, directory: Directory | None = None,
         client: ScimClient | None = None) -> Plan:
    """Preview ``kind`` for ``targets`` (user ids, userNames or e-mails; or a read CSV). Nothing is sent to
    6clicks. ``group`` for add/remove, ``from_group``/``to_group`` for move (display name or id)."""
    if kind not in KINDS:
        raise InvalidInput(_("Unknown operation “{kind}”.").format(kind=kind),
                           _("Use one of: {kinds}.").format(kinds=", ".join(KINDS)))
    notes: list[str] = []
    if isinstance(targets, CsvTargets):
        notes.extend(targets.notes)
        values = list(targets.values)
    else:
        values = list(targets or [])
    values = _dedupe(values, notes)
    if not values:
        raise InvalidInput(_("No users given."), _("Select users, name them (userName or e-mail), or upload a CSV."))
    if len(values) > MAX_BATCH:
        raise InvalidInput(_("{n} users in one operation is more than the limit of {limit}.").format(
            n=fmt_number(len(values)), limit=fmt_number(MAX_BATCH)),
                           _("Split the list into several files and run them one after another."))
    directory = directory or load_directory(ctx, conn, client=client)

    params: dict[str, Any] = {}
    steps: list[dict[str, Any]]
    focus: list[str] = []
    if kind in ("deactivate", "reactivate"):
        if group or from_group or to_group:
            raise InvalidInput(_("“{kind}” does not take a group.").format(kind=kind), _("Leave the group out."))
        steps = [{"op": "set_active", "value": kind == "reactivate"}]
    elif kind in ("add", "remove"):
        if not group:
            raise InvalidInput(_("“{kind}” needs a group or role.").format(kind=kind),
                               _("Name it by its display name or id."))
        g = directory.resolve_group(group)
        params = _group_ref(g)
        steps = [{"op": kind, "group_id": g.id, "group_name": g.display_name}]
        focus = [g.id]
    else:
        if not from_group or not to_group:
            raise InvalidInput(_("A move needs both the group or role to move from and the one to move to."),
                               _("Give both (--from and --to on the command line)."))
        src = directory.resolve_group(from_group, role=N_("group or role to move from"))
        dst = directory.resolve_group(to_group, role=N_("group or role to move to"))
        if src.id == dst.id:
            raise InvalidInput(_("Moving from “{name}” into the same group does nothing.").format(name=src.display_name),
                               _("Pick a different target group or role."))
        params = {"from_id": src.id, "from_name": src.display_name, "from_kind": src.kind,
                  "to_id": dst.id, "to_name": dst.display_name, "to_kind": dst.kind}
        steps = [{"op": "add", "group_id": dst.id, "group_name": dst.display_name},
                 {"op": "remove", "group_id": src.id, "group_name": src.display_name}]
        focus = [src.id, dst.id]

    items: list[PlanItem] = []
    by_user: dict[str, PlanItem] = {}
    same_person = 0
    for value in values:
        user, why = directory.resolve_user(value)
        if user is None:
            items.append(PlanItem(input=value, skip=why, skip_code="ambiguous" if "matches" in (why or "")
                                  else "not_found"))
            continue
        if user.id in by_user:
            same_person += 1
            continue
        item = _evaluate(kind, user, steps, directory, focus, params)
        item.input = value
        by_user[user.id] = item
        items.append(item)
    if same_person:
        notes.append(english(SAME_PERSON, n=same_person))
    unknown = [i for i in items if i.skip_code in ("not_found", "ambiguous")]
    if unknown:
        names = ", ".join(i.input for i in unknown[:5])
        notes.append(english(UNMATCHED_MORE, n=len(unknown), names=names, more=len(unknown) - 5) if len(unknown) > 5
                     else english(UNMATCHED, n=len(unknown), names=names))
    result = Plan(connection=conn.name, kind=kind, params=params, items=items, notes=notes,
                  snapshot_id=directory.snapshot_id, resolved_from=directory.source,
                  resolved_at=directory.taken_at)
    if directory.source == "snapshot" and directory.taken_at is not None:
        # the time itself is shown by the page or command in the operator's zone (Plan.resolved_at)
        result.notes.append(english(FROM_SNAPSHOT_SINCE, n=directory.overlaid) if directory.overlaid
                            else FROM_SNAPSHOT)
    result.warnings.extend(entra_warnings(ctx, conn, result))
    return result


def _evaluate(kind: str, user: DirUser, steps: list[dict[str, Any]], directory: Directory, focus: list[str],
              params: dict[str, Any]) -> PlanItem:
    item = PlanItem(input=user.user_name or user.id, **_user_fields(user))
    if kind in ("deactivate", "reactivate"):
        want = kind == "reactivate"
        item.before = ACTIVE if user.active else INACTIVE
        if user.active == want:
            item.after = item.before
            item.skip, item.skip_code = ALREADY_ACTIVE if want else ALREADY_INACTIVE, "already"
        else:
            item.after = ACTIVE if want else INACTIVE
            item.steps = list(steps)
        return item
    item.before = _state_text(user, directory, focus)
    if kind == "add":
        if params["group_id"] in user.groups:
            item.after = item.before
            item.skip, item.skip_code = english(ALREADY_MEMBER, group=params["group_name"]), "already"
        else:
            item.after = english(IN_GROUPS, group=params["group_name"])
            item.steps = list(steps)
        return item
    if kind == "remove":
        if params["group_id"] not in user.groups:
            item.after = item.before
            item.skip, item.skip_code = english(NOT_MEMBER_OF, group=params["group_name"]), "not_member"
        else:
            item.after = english(NOT_IN, group=params["group_name"])
            item.steps = list(steps)
        return item
    # move
    in_src = params["from_id"] in user.groups
    in_dst = params["to_id"] in user.groups
    if not in_src:
        item.after = item.before
        if in_dst:
            item.skip, item.skip_code = english(ALREADY_IN_TARGET, dst=params["to_name"],
                                                src=params["from_name"]), "already"
        else:
            item.skip, item.skip_code = english(NOTHING_TO_MOVE, src=params["from_name"]), "not_member"
        return item
    item.after = english(IN_GROUPS, group=params["to_name"])
    item.steps = [s for s in steps if not (s["op"] == "add" and in_dst)]
    return item


def undo_plan(ctx: Context, conn: Connection, action_id: int, *, directory: Directory | None = None,
              client: ScimClient | None = None) -> Plan:
    """The inverse of action ``action_id`` for exactly the items that changed, as a preview to confirm."""
    action = get_action(ctx, action_id)
    if action.connection != conn.name:
        raise InvalidInput(_("Action {id} was made on connection “{made_on}”, not “{name}”.").format(
            id=action_id, made_on=action.connection, name=conn.name),
                           _("Select the connection “{name}” first.").format(name=action.connection))
    if action.state == "abandoned" and not any(i.changes for i in action.items):
        raise InvalidInput(_("Action {id} was abandoned before it changed anything.").format(id=action_id),
                           _("Nothing to undo."))
    changed = [i for i in action.items if i.changes]
    if not changed:
        raise InvalidInput(_("Action {id} changed nobody, so there is nothing to undo.").format(id=action_id),
                           _("Pick an action whose result shows changed people."))
    inverse_kind = {"deactivate": "reactivate", "reactivate": "deactivate", "add": "remove",
                    "remove": "add", "move": "move"}[action.kind]
    params = dict(action.params)
    if action.kind == "move":
        params = {"from_id": params.get("to_id"), "from_name": params.get("to_name"),
                  "from_kind": params.get("to_kind"), "to_id": params.get("from_id"),
                  "to_name": params.get("from_name"), "to_kind": params.get("from_kind")}
    directory = directory or load_directory(ctx, conn, client=client)
    # A user missing from a snapshot newer than the action was deleted since; from an older one, maybe not.
    trust_snapshot = (directory.taken_at is not None and action.finished_at is not None
                      and directory.taken_at > action.finished_at)
    items: list[PlanItem] = []
    for it in changed:
        steps = order_steps([inverse_step(s) for s in it.changes])
        user = directory.users.get(it.user_id or "")
        item = PlanItem(input=it.user_name or it.user_id or "?", user_id=it.user_id, user_name=it.user_name,
                        email=it.email, display_name=it.display_name)
        if user is None and trust_snapshot:
            item.skip, item.skip_code = NO_LONGER_EXISTS, "not_found"
            items.append(item)
            continue
        item.before = it.after_text or ""
        item.after = it.before_text or ""
        remaining = steps
        if user is not None:  # the directory includes this console's own changes since the snapshot
            remaining = [s for s in steps if not _satisfied(s, user)]
        if not remaining:
            item.skip, item.skip_code = ALREADY_BACK, "already"
        item.steps = remaining
        items.append(item)
    plan_ = Plan(connection=conn.name, kind=inverse_kind, params=params, items=items,
                 notes=[english(UNDO_ONE if len(changed) == 1 else UNDO_MANY, id=action_id, label=action.label,
                                operator=action.operator, n=f"{len(changed):,}")],
                 snapshot_id=directory.snapshot_id, resolved_from=directory.source,
                 resolved_at=directory.taken_at, undo_of=action_id)
    plan_.warnings.extend(entra_warnings(ctx, conn, plan_))
    return plan_


def _satisfied(step: dict[str, Any], user: DirUser) -> bool:
    if step["op"] == "set_active":
        return user.active == bool(step["value"])
    if step["op"] == "add":
        return step["group_id"] in user.groups
    return step["group_id"] not in user.groups


def next_cycle_text(ctx: Context, conn: Connection) -> str | None:
    """When Entra's next provisioning cycle is expected, if job status is known."""
    if getattr(conn, "entra", None) is None:
        return None
    try:
        overview = job_overview(ctx, conn)
    except Exception as exc:  # job status is optional context for a warning; never block an operation
        log.debug("job overview unavailable: %s", type(exc).__name__)
        return None
    nxt = None
    for name in ("next_expected_cycle", "next_cycle_at", "next_expected", "next_cycle"):
        nxt = getattr(overview, name, None) if not isinstance(overview, dict) else overview.get(name)
        if nxt:
            break
    if isinstance(nxt, datetime):
        # relative on purpose: the pages show clock times in the operator's zone, and the Overview has the time
        mins = int((nxt.astimezone(UTC) - ctx.now()).total_seconds() // 60)
        if mins < 0:
            return NOW_OVERDUE
        return english(IN_MINUTES, n=mins) if mins < 120 else english(IN_HOURS, n=round(mins / 60))
    return str(nxt) if nxt else None


def entra_warnings(ctx: Context, conn: Connection, plan_: Plan) -> list[str]:
    out: list[str] = []
    n = plan_.count
    if n >= LARGE_BATCH:
        minutes = max(1, round(n * 2 * 0.15 / DEFAULT_CONCURRENCY / 60))
        out.append(english(LARGE, changes=f"{n:,}", at_once=DEFAULT_CONCURRENCY, n=minutes))
    if n == 0:
        return out
    nxt = next_cycle_text(ctx, conn)
    group = "group" if plan_.kind not in ("deactivate", "reactivate") else plan_.kind
    out.append(english(ENTRA_WINS[(group, bool(nxt))], when_text=nxt or ""))
    return out
