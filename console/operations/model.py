"""Records shared by planning, the journal and execution: kinds, steps, plan items, plans and batch results.

A *step* is one idempotent change to one user: ``{"op": "set_active", "value": False}``,
``{"op": "add", "group_id": ..., "group_name": ...}`` or ``{"op": "remove", ...}``. Every operation kind is a
list of steps per user (a move is ``[add to target, remove from source]``, in that order, so a person is never
in neither), which is also what makes undo exact: the inverse of the steps that really changed something.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from console.i18n import N_, _, count, fmt_number
from console.operations.wording import TEXT, english, shown

Kind = Literal["deactivate", "reactivate", "add", "remove", "move"]
KINDS: tuple[str, ...] = ("deactivate", "reactivate", "add", "remove", "move")

ItemState = Literal["pending", "running", "done", "failed", "skipped"]
ITEM_STATES: tuple[str, ...] = ("pending", "running", "done", "failed", "skipped")

# Batch states. "interrupted" is not stored: it is a running batch whose process is gone (see journal).
BATCH_STATES: tuple[str, ...] = ("pending", "running", "completed", "stopped", "abandoned")

# Default number of items in flight at once (threads sharing one HTTP client).
DEFAULT_CONCURRENCY = 8
# Above this many items the preview says how long it will take and that it is resumable; nothing is refused.
LARGE_BATCH = 1000
# A hard ceiling that protects the machine (and 6clicks) from a wrong file; split bigger lists.
MAX_BATCH = 50_000


LABELS = {
    ("add", "group"): TEXT.one(N_("add to group {name}")),
    ("add", "role"): TEXT.one(N_("add to role {name}")),
    ("remove", "group"): TEXT.one(N_("remove from group {name}")),
    ("remove", "role"): TEXT.one(N_("remove from role {name}")),
    ("move", "group", "group"): TEXT.one(N_("move from group {src} to group {dst}")),
    ("move", "group", "role"): TEXT.one(N_("move from group {src} to role {dst}")),
    ("move", "role", "group"): TEXT.one(N_("move from role {src} to group {dst}")),
    ("move", "role", "role"): TEXT.one(N_("move from role {src} to role {dst}")),
}
KIND_TEXTS = {"deactivate": TEXT.one(N_("deactivate")), "reactivate": TEXT.one(N_("reactivate"))}
UNDO_LABEL = TEXT.one(N_("undo of action {id}: {label}"))
# a person's state among the groups an operation is about, and why nothing changes (previews, results, reverts)
ACTIVE, INACTIVE = TEXT.one(N_("active")), TEXT.one(N_("inactive"))
ALREADY_ACTIVE, ALREADY_INACTIVE = TEXT.one(N_("already active")), TEXT.one(N_("already inactive"))
IN_GROUPS = TEXT.one(N_("in {group}"))
NOT_IN = TEXT.one(N_("not in {group}"))
STEP_TEXTS = {"activate": TEXT.one(N_("activate")), "deactivate": KIND_TEXTS["deactivate"],
              "add": TEXT.one(N_("add to {group}")), "remove": TEXT.one(N_("remove from {group}"))}


def _kind_word(value: Any) -> str:
    return "role" if value == "role" else "group"


def kind_label(kind: str, params: dict[str, Any] | None = None) -> str:
    """A label as the journal stores it (English; ``console.operations.wording.shown`` translates it): "deactivate",
    "add to group Finance", "move from role A to role B"."""
    p = params or {}
    if kind in ("add", "remove"):
        return english(LABELS[(kind, _kind_word(p.get("group_kind")))], name=p.get("group_name", "?"))
    if kind == "move":
        return english(LABELS[("move", _kind_word(p.get("from_kind")), _kind_word(p.get("to_kind")))],
                       src=p.get("from_name", "?"), dst=p.get("to_name", "?"))
    return kind


def undo_label(action_id: Any, label: str) -> str:
    return english(UNDO_LABEL, id=action_id, label=label)


def step_text(step: dict[str, Any]) -> str:
    """One step as the journal stores it (English): "deactivate", "add to Finance"."""
    op = step.get("op")
    if op == "set_active":
        return STEP_TEXTS["activate" if step.get("value") else "deactivate"]
    if op in ("add", "remove"):
        return english(STEP_TEXTS[str(op)], group=step.get("group_name") or step.get("group_id"))
    return str(op)


def inverse_step(step: dict[str, Any]) -> dict[str, Any]:
    op = step["op"]
    if op == "set_active":
        return {"op": "set_active", "value": not bool(step["value"])}
    flipped = {"add": "remove", "remove": "add"}[op]
    return {**step, "op": flipped}


def order_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adds before removes (never in neither), activation changes first."""
    rank = {"set_active": 0, "add": 1, "remove": 2}
    return sorted(steps, key=lambda s: rank.get(s["op"], 9))


@dataclass
class PlanItem:
    """One person in a preview: what changes (``steps``) or why it is skipped (``skip``)."""

    input: str
    user_id: str | None = None
    user_name: str | None = None
    email: str | None = None
    display_name: str | None = None  # the display label (console.directory.people) when planned: displayName is often absent
    steps: list[dict[str, Any]] = field(default_factory=list)
    before: str = ""
    after: str = ""
    skip: str | None = None          # human reason; None when the item will change something
    skip_code: str | None = None     # not_found|ambiguous|already|not_member|...

    @property
    def changes(self) -> bool:
        return self.skip is None


@dataclass
class Plan:
    """A preview: nothing has been sent to 6clicks. ``execute`` journals it and runs it."""

    connection: str
    kind: str
    params: dict[str, Any]
    items: list[PlanItem]
    notes: list[str] = field(default_factory=list)      # about the input (duplicates, unknown users, source)
    warnings: list[str] = field(default_factory=list)   # Entra is the source of truth, large batch...
    snapshot_id: str | None = None
    resolved_from: str = "snapshot"                      # snapshot|live
    resolved_at: datetime | None = None
    undo_of: int | None = None

    @property
    def label(self) -> str:
        """As the journal stores it (English); ``shown(plan.label)`` where people read it."""
        text = kind_label(self.kind, self.params)
        return undo_label(self.undo_of, text) if self.undo_of else text

    @property
    def to_change(self) -> list[PlanItem]:
        return [i for i in self.items if i.changes]

    @property
    def skipped(self) -> list[PlanItem]:
        return [i for i in self.items if not i.changes]

    @property
    def count(self) -> int:
        return len(self.to_change)

    def confirmation_text(self) -> str:
        """What the operator confirms, in the current language."""
        label = shown(self.label)
        label = label[:1].upper() + label[1:]  # str.capitalize() would lower-case the group names
        changing = len(self.to_change)  # (not ``self.count`` inside ``count(...)``: extraction would miss it)
        return _("{label}: {people} will change in 6clicks ({skipped} skipped).").format(
            label=label, people=count(changing, "{n} person", "{n} people"), skipped=fmt_number(len(self.skipped)))

    def rows(self) -> list[dict[str, Any]]:
        """The preview table: one row per input, changes first."""
        out = []
        for item in sorted(self.items, key=lambda i: (not i.changes, i.user_name or i.input)):
            out.append({
                "user": item.user_name or item.input,
                "name": item.display_name or "",
                "email": item.email or "",
                "change": "yes" if item.changes else "skip",
                "from": item.before,
                "to": item.after,
                "why skipped": item.skip or "",
            })
        return out


@dataclass
class ItemResult:
    seq: int
    user_id: str | None
    user_name: str | None
    state: str
    outcome: str | None
    note: str | None
    attempts: int
    http_status: int | None
    error: str | None
    remedy: str | None


@dataclass
class DefectReport:
    """A server defect seen by read-back verification (e.g. a group that lost members nobody asked to remove)."""

    kind: str                  # collateral_loss
    target_id: str | None
    target_name: str | None
    summary: str               # one line
    report: str                # plain text: what happened, the request and answer, the restore, what to do
    lost: int
    still_missing: int
    restored: bool


@dataclass
class BatchResult:
    batch_id: int
    state: str
    counts: dict[str, int]
    items: list[ItemResult]
    stop_reason: str | None = None
    stop_remedy: str | None = None
    defects: list[DefectReport] = field(default_factory=list)
    unverified: str | None = None    # read-backs that could not be made (the changes may be right; check them)
    # the directory snapshot after the run (``snapshots.patch_snapshot``): True updated, False could not be
    # (``directory_detail`` says why), None nothing to update (no change seen, or no snapshot yet)
    directory_updated: bool | None = None
    directory_detail: str | None = None

    @property
    def failed(self) -> list[ItemResult]:
        return [i for i in self.items if i.state == "failed"]

    @property
    def ok(self) -> bool:
        return self.state == "completed" and not self.counts.get("failed")

    def summary(self) -> str:
        """The result in words, in the current language (stored parts through ``wording.shown``)."""
        c = self.counts
        changed = sum(1 for i in self.items if i.state == "done" and i.outcome in ("changed", "partial"))
        already = sum(1 for i in self.items if i.state == "done" and i.outcome == "already")
        values = {"id": self.batch_id, "changed": fmt_number(changed), "already": fmt_number(already),
                  "failed": fmt_number(c.get("failed", 0)), "skipped": fmt_number(c.get("skipped", 0))}
        left = c.get("pending", 0) + c.get("running", 0)
        if left:
            text = _("Action {id}: {changed} changed, {already} already done, {failed} failed, {skipped} skipped, "
                     "{left} not run yet.").format(left=fmt_number(left), **values)
        else:
            text = _("Action {id}: {changed} changed, {already} already done, {failed} failed, {skipped} "
                     "skipped.").format(**values)
        sentences = [text]
        if self.unverified:
            sentences.append(_("Some changes could not be read back to verify them ({problems}); check them in "
                               "6clicks.").format(problems=self.unverified))
        if self.directory_updated is False:
            sentences.append(_("The directory view could not be updated with the new state ({problem}); refresh it "
                               "to see the new state.").format(
                problem=shown(self.directory_detail) if self.directory_detail else _("unknown error")))
        if self.stop_reason:
            sentences.append(_("Stopped: {reason}").format(reason=shown(self.stop_reason))
                             + (" " + shown(self.stop_remedy) if self.stop_remedy else ""))
        elif c.get("failed"):
            sentences.append(_("Failed items can be retried on their own (Activity page, or "
                               "`python -m console ops retry {id}`).").format(id=self.batch_id))
        return _join_sentences(sentences)


def _join_sentences(sentences: list[str]) -> str:
    """Sentences in one paragraph: a space after a Latin full stop, none after a Japanese one."""
    out = ""
    for sentence in sentences:
        if out and not out.endswith(("。", "」", "）")):
            out += " "
        out += sentence
    return out
