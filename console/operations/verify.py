"""Read-back verification of what a run changed, and repair when a server destroyed more than it was asked to.

Over 500 lines because the read-back and the repair of each kind of change are one contract: split, a
check would sit apart from its repair.

A service provider can answer a write with success and still get it wrong: apply ``excludedAttributes`` to
the resource it reads in a read-modify-write PATCH (members vanish), treat "add members" as "replace
members", or ignore ``active``. So every change a run makes is read back:

- **Groups** (``GET /Groups/{id}``, members included): the people added are there, the people removed are
  gone, and nobody else disappeared. Each group is read once before its first change in a run (the
  baseline), then after 1, 2, 4, … confirmed changes (at most ``VERIFY_EVERY`` apart) and once at the end.
  Group operations start with one person at a time until a read-back has passed (a canary), so a server
  that wipes a group is caught after its first write, not after a thousand.
- **Users** (``active``): read back in bulk (``filter=id eq "…" or …``, ``USERS_PER_CHECK`` at a time; one
  ``GET /Users/{id}`` each when a server refuses that filter).

Only writes that completed before a read-back was sent are judged by it (writes still in flight, or whose
outcome is unknown after an error, are judged by a later one), so concurrency never causes a false alarm.
Neither does another console action changing the same group at the same time (two operators moving the same
people to different groups): members that another action in the journal changes in that group (``explained``)
are not counted as lost, and are no longer expected in it.
Members that vanished are put back (``restore``): first with "add members", and when the server loses them
again, with one "add members" carrying the whole list in one request; each attempt is read back.

UI-free and without the journal: the executor turns findings into item results, defect records and events.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from console.i18n import N_
from console.operations.wording import TEXT, english
from scim_client import BadRequest, NotFound, ProtocolError, ScimClient, ServerError, filters

log = logging.getLogger(__name__)

VERIFY_EVERY = 100        # at most this many confirmed changes to one group between two read-backs
USERS_PER_CHECK = 50      # users read back per request
RECENT_WRITES = 5         # writes to a group kept for a defect report (the latest ones)
NAMES_IN_REPORT = 25      # people named in a report; the journal keeps every id
REQUEST_LIMIT = 1500      # characters of a request body quoted in a report
REPORT_LIMIT = 12000      # characters of a whole report

# What read-backs find, as the journal stores it (English; ``wording.shown`` translates it where it is read).
NOT_APPLIED = TEXT.one(N_("The server answered success but did not apply the change: {detail}."))
NOT_APPLIED_REMEDY = TEXT.one(N_("The service provider reported success without doing it: check this person in "
                                 "6clicks. Retry the item once; if it fails again, report it to the provider with the "
                                 "action id."))
NOT_IN_AFTER_ADD = TEXT.one(N_("not a member of {name} after the add"))
STILL_IN_AFTER_REMOVE = TEXT.one(N_("still a member of {name} after the remove"))
STILL_WHEN_READ = {True: TEXT.one(N_("still active when read back")),
                   False: TEXT.one(N_("still inactive when read back"))}
ADD_MISSING = TEXT.one(N_("add the missing members"))
ADD_WHOLE_LIST = TEXT.one(N_("add the whole member list in one request"))
R_ALL_BACK = TEXT.one(N_("all {n} put back and verified by reading the group again"))
R_NOT_BACK = TEXT.one(N_("{n} could NOT be put back"))
R_SUMMARY = TEXT.one(N_("Server defect: {n} member(s) vanished from group {group} after this action changed other "
                        "members; {outcome}."))
R_TITLE = TEXT.one(N_("SERVER DEFECT: the service provider removed group members it was not asked to remove."))
R_STOPPED = TEXT.one(N_("Action {id} ({label}) was stopped at once."))
R_GROUP = TEXT.one(N_("Group: {group}"))
R_COUNTS = TEXT.one(N_("Before this action: {before} member(s). Read back at {at} UTC: {actual} member(s)."))
R_VANISHED = TEXT.one(N_("Vanished although not touched by this action: {n}."))
R_VANISHED_ADDED = TEXT.one(N_("Vanished although not touched by this action: {n}; added by this action and gone "
                               "again: {gone}."))
R_WHO = TEXT.one(N_("Who: {people}"))
R_MORE = TEXT.one(N_("{people}, … and {n} more (every id is in the journal)"))
R_WRITES = TEXT.one(N_("The write(s) to this group before the read-back ({n} since the last good read-back; the "
                       "latest {shown} shown):"))
R_RESTORE = TEXT.one(N_("Restore:"))
R_NOTHING_MISSING = TEXT.one(N_("nothing was missing any more when the group was read again."))
R_ATTEMPT = TEXT.one(N_("{how}: {n} still missing after reading the group back"))
R_ATTEMPT_OK = TEXT.one(N_("{how}: {n} still missing after reading the group back (restored)"))
R_FAILED = TEXT.one(N_("the restore failed: {error}"))
R_ALL_RESTORED = TEXT.one(N_("Result: every lost member is back in the group (verified by reading it again)."))
R_STILL_MISSING = TEXT.one(N_("Result: {n} member(s) are still missing: add them back by hand in 6clicks (or let "
                              "Entra's next cycle do it): {people}"))
R_OTHERS = TEXT.one(N_("Other console actions on this group were taken into account. If someone else changed it at "
                       "that moment (an admin in 6clicks, Entra's provisioning cycle), check its history there before "
                       "reporting."))
R_TODO = TEXT.one(N_("What to do: report this defect to the service provider with the request and answer above. Do "
                     "not resume this action until they have fixed it; make the change in Entra ID (the source of "
                     "truth) instead. Items that were not run stay pending in the journal."))
R_CUT = TEXT.one(N_("… (report cut; the journal keeps every id)"))


@dataclass
class _Op:
    kind: str                  # add | remove
    seq: int
    state: str = "inflight"    # inflight | done | uncertain
    done_tick: int = 0


@dataclass
class _Watch:
    group_id: str
    name: str | None
    baseline: set[str]
    ops: dict[str, _Op] = field(default_factory=dict)
    since: int = 0             # confirmed changes since the last clean read-back
    threshold: int = 1
    checking: bool = False
    recent: deque[Any] = field(default_factory=lambda: deque(maxlen=RECENT_WRITES))
    writes: int = 0            # writes since the last clean read-back
    checks: int = 0


@dataclass
class Mismatch:
    """One item whose change the server did not apply (read back)."""

    seq: int
    step: dict[str, Any]
    detail: str                # e.g. "still a member of Finance"


@dataclass
class GroupCheck:
    group_id: str
    group_name: str | None
    before: int                # members in the baseline
    actual: set[str]           # members read back
    vanished: set[str]         # not touched by this run, expected present, missing: collateral loss
    lost_added: set[str]       # added by this run (confirmed), missing
    lingering: set[str]        # removed by this run (confirmed), still there
    expected_in: set[str]
    expected_out: set[str]
    writes: int                # writes to the group since the last clean read-back
    recent: list[Any]          # the latest of those writes (scim_client.Exchange)
    at: datetime

    @property
    def collateral(self) -> bool:
        return bool(self.vanished)

    @property
    def clean(self) -> bool:
        return not (self.vanished or self.lost_added or self.lingering)


@dataclass
class Repair:
    """What restoring a group took: each write with its read-back, and who is still missing."""

    group_id: str
    group_name: str | None
    missing: set[str]                      # expected present and missing when the repair began
    attempts: list[tuple[str, list[Any], set[str]]] = field(default_factory=list)  # (how, writes, still missing)
    error: str | None = None

    @property
    def still_missing(self) -> set[str]:
        if self.error is not None and not self.attempts:
            return set(self.missing)
        return self.attempts[-1][2] if self.attempts else set(self.missing)

    @property
    def restored(self) -> bool:
        return not self.still_missing and self.error is None


class Verifier:
    """Shared by the worker threads of one run; checks may run in any thread."""

    def __init__(self, client: ScimClient, *, every: int = VERIFY_EVERY, users_per_check: int = USERS_PER_CHECK,
                 explained: Callable[[str], set[str]] | None = None) -> None:
        self.client = client
        self.explained = explained   # group id -> members other known writers change there (not a loss)
        self.every = max(1, int(every))
        self.users_per_check = max(1, int(users_per_check))
        self._lock = threading.Lock()
        self._tick = itertools.count(1)
        self.groups: dict[str, _Watch] = {}
        self._users: dict[str, tuple[int, bool, dict[str, Any], int]] = {}  # uid -> (seq, want, step, done_tick)
        self._users_checking = False
        self._users_threshold = self.users_per_check
        self._id_filter = True
        self.trusted = False       # a read-back after a real change has passed (the canary)
        self.reads = 0             # read-back requests made
        self.verified = 0          # changes confirmed by a read-back
        # what the server showed, for the directory view after the run (``snapshots.patch_snapshot``): the
        # latest answer per user and group with the tick its request was sent at, and each group's last write
        self._seen_users: dict[str, tuple[int, Any]] = {}
        self._seen_groups: dict[str, tuple[int, Any]] = {}
        self._group_written: dict[str, int] = {}

    # -- what the server showed (any thread) ----------------------------------------------------------------
    def stamp(self) -> int:
        """A tick to send a read with (``saw_user`` / ``saw_group``): later ticks are fresher reads."""
        with self._lock:
            return next(self._tick)

    def saw_user(self, user: Any, sent: int) -> None:
        if user is None or not getattr(user, "id", None):
            return
        with self._lock:
            if self._seen_users.get(user.id, (-1, None))[0] < sent:
                self._seen_users[user.id] = (sent, user)

    def saw_group(self, group: Any, sent: int) -> None:
        if group is None or not getattr(group, "id", None) or group.member_ids is None:
            return
        with self._lock:
            if self._seen_groups.get(group.id, (-1, None))[0] < sent:
                self._seen_groups[group.id] = (sent, group)

    def _written(self, group_id: str) -> None:
        """A write to the group finished (or failed): reads sent before it no longer show the group as it is."""
        self._group_written[group_id] = next(self._tick)

    def seen_users(self) -> dict[str, Any]:
        """The latest answer for every user this run read or changed (``ScimUser``)."""
        with self._lock:
            return {uid: user for uid, (_, user) in self._seen_users.items()}

    def fresh_groups(self) -> dict[str, Any]:
        """The groups (with members) whose latest read was sent after their last write: as they are now."""
        with self._lock:
            return {gid: group for gid, (sent, group) in self._seen_groups.items()
                    if sent > self._group_written.get(gid, 0)}

    # -- recording (worker threads) -------------------------------------------------------------------------
    def baseline(self, group_id: str, name: str | None, members: set[str]) -> None:
        with self._lock:
            if group_id not in self.groups:
                self.groups[group_id] = _Watch(group_id, name, set(members))

    def begin(self, group_id: str, user_id: str, kind: str, seq: int) -> None:
        with self._lock:
            watch = self.groups[group_id]
            watch.ops[user_id] = _Op(kind, seq)

    def done(self, group_id: str, user_id: str, sent: list[Any]) -> None:
        with self._lock:
            watch = self.groups[group_id]
            op = watch.ops[user_id]
            op.state, op.done_tick = "done", next(self._tick)
            self._group_written[group_id] = op.done_tick
            watch.since += 1
            watch.writes += len(sent)
            watch.recent.extend(sent)

    def failed(self, group_id: str, user_id: str, sent: list[Any] | None = None) -> None:
        """The write raised: it may or may not have been applied; no read-back judges it."""
        with self._lock:
            self._written(group_id)
            watch = self.groups[group_id]
            op = watch.ops.get(user_id)
            if op is not None:
                op.state = "uncertain"
            if sent:
                watch.recent.extend(sent)

    def active_done(self, user_id: str, seq: int, want: bool, step: dict[str, Any]) -> None:
        with self._lock:
            self._users[user_id] = (seq, want, step, next(self._tick))

    # -- scheduling (the run loop) --------------------------------------------------------------------------
    def due(self, *, final: bool = False) -> list[str]:
        """Targets to read back now: group ids, and ``"users"`` for the pending ``active`` checks."""
        with self._lock:
            out = [gid for gid, w in self.groups.items()
                   if not w.checking and w.since and (final or w.since >= w.threshold)]
            for gid in out:
                self.groups[gid].checking = True
            if self._users and not self._users_checking and (final or len(self._users) >= self._users_threshold):
                self._users_checking = True
                out.append("users")
            return out

    def idle(self) -> bool:
        with self._lock:
            return not self._users_checking and not any(w.checking for w in self.groups.values())

    # -- read-backs (any thread) ----------------------------------------------------------------------------
    def check_group(self, group_id: str, *, scheduled: bool = True) -> GroupCheck:
        """Read the group back and judge every write that completed before the read was sent."""
        with self._lock:
            sent_tick = next(self._tick)
        try:
            group = self.client.get_group(group_id, members=True)
        except BaseException:
            if scheduled:
                with self._lock:
                    watch = self.groups[group_id]
                    watch.checking = False
                    watch.threshold = watch.since + watch.threshold   # try again after more changes, and at the end
            raise
        actual = set(group.member_ids or [])
        self.saw_group(group, sent_tick)
        others: set[str] = set()
        if self.explained is not None:
            with self._lock:
                watch = self.groups[group_id]
                gone = {uid for uid in watch.baseline if uid not in watch.ops and uid not in actual}
            if gone:
                try:
                    others = self.explained(group_id) & gone
                except Exception as exc:  # cannot tell: judged as if nobody else were writing
                    log.warning("could not read the other actions on group %s: %s", group_id, exc)
        with self._lock:
            self.reads += 1
            watch = self.groups[group_id]
            watch.baseline -= others      # another action took them out: no longer expected here
            expected_in: set[str] = set()
            expected_out: set[str] = set()
            ours: set[str] = set()
            for uid in watch.baseline:
                if uid not in watch.ops:
                    expected_in.add(uid)
            for uid, op in watch.ops.items():
                if op.state != "done" or op.done_tick > sent_tick:
                    continue
                (expected_in if op.kind == "add" else expected_out).add(uid)
                if op.kind == "add":
                    ours.add(uid)
            missing = expected_in - actual
            check = GroupCheck(
                group_id=group_id, group_name=watch.name, before=len(watch.baseline), actual=actual,
                vanished=missing - ours, lost_added=missing & ours, lingering=expected_out & actual,
                expected_in=expected_in, expected_out=expected_out, writes=watch.writes, recent=list(watch.recent),
                at=datetime.now(UTC))
            watch.checks += 1
            if scheduled:
                watch.checking = False
            if check.clean:
                confirmed = sum(1 for op in watch.ops.values() if op.state == "done" and op.done_tick <= sent_tick)
                if confirmed:
                    self.trusted = True
                self.verified += watch.since
                watch.since = 0
                watch.writes = 0
                watch.recent.clear()
                watch.threshold = min(self.every, watch.threshold * 2)
            elif scheduled:
                watch.threshold = watch.since + watch.threshold   # judged once; look again after more changes
            return check

    def mismatches(self, check: GroupCheck, *, lost_added: bool = True) -> list[Mismatch]:
        """The items a group read-back shows were not applied (their op is dropped: judged once). With
        ``lost_added=False`` only removes that did not happen (lost adds are being restored instead)."""
        out: list[Mismatch] = []
        name = check.group_name or check.group_id
        with self._lock:
            watch = self.groups[check.group_id]
            for uid in sorted((check.lost_added if lost_added else set()) | check.lingering):
                op = watch.ops.pop(uid, None)
                if op is None:
                    continue
                if op.kind == "add":
                    detail = english(NOT_IN_AFTER_ADD, name=name)
                else:
                    detail = english(STILL_IN_AFTER_REMOVE, name=name)
                    watch.baseline.add(uid)        # still there: from now on an ordinary member
                out.append(Mismatch(op.seq, {"op": op.kind, "group_id": check.group_id, "group_name": check.group_name},
                                    detail))
        return out

    def check_users(self, *, scheduled: bool = True) -> list[Mismatch]:
        """Read back ``active`` of the users changed so far; those not as asked are returned (and dropped)."""
        with self._lock:
            pending = dict(self._users)
            sent_tick = next(self._tick)
        try:
            due = {uid: v for uid, v in pending.items() if v[3] <= sent_tick}
            seen = self._read_active(list(due))
        except BaseException:
            with self._lock:
                self._users_threshold = len(self._users) + self.users_per_check   # later, and at the end
            raise
        finally:
            if scheduled:
                with self._lock:
                    self._users_checking = False
        out: list[Mismatch] = []
        with self._lock:
            self._users_threshold = self.users_per_check
            for uid, (seq, want, step, tick) in due.items():
                if self._users.get(uid, (None, None, None, -1))[3] != tick:
                    continue                     # changed again meanwhile: judged by a later read-back
                self._users.pop(uid, None)
                now = seen.get(uid)
                if now is None or now == want:    # deleted meanwhile (nothing to judge), or as asked
                    self.verified += now is not None
                    continue
                out.append(Mismatch(seq, step, STILL_WHEN_READ[bool(now)]))
        return out

    def _read_active(self, ids: list[str]) -> dict[str, bool]:
        seen: dict[str, bool] = {}
        for i in range(0, len(ids), self.users_per_check):
            chunk = ids[i:i + self.users_per_check]
            if self._id_filter:
                try:
                    flt = filters.or_(*[filters.eq("id", uid) for uid in chunk]) if len(chunk) > 1 \
                        else filters.eq("id", chunk[0])
                    sent = self.stamp()
                    found = self.client.list_users(filter=flt)
                    with self._lock:
                        self.reads += 1
                    for u in found:
                        if u.id in chunk:
                            seen[u.id] = bool(u.active)
                            self.saw_user(u, sent)
                except (BadRequest, ProtocolError, ServerError) as exc:  # no (or a broken) filter on id
                    log.info("the server refused a filter on id (%s); reading users back one by one", exc.message)
                    self._id_filter = False
            for uid in chunk:
                if uid in seen:
                    continue
                try:
                    sent = self.stamp()
                    user = self.client.get_user(uid)
                    seen[uid] = bool(user.active)
                    self.saw_user(user, sent)
                    with self._lock:
                        self.reads += 1
                except NotFound:
                    continue
        return seen

    # -- repair ---------------------------------------------------------------------------------------------
    def restore(self, check: GroupCheck) -> Repair:
        """Put back everyone expected in the group and missing (nothing is in flight any more). First "add
        members" with the missing people; when that loses people again (a server that replaces on add), "add
        members" once more with the whole list in one request (everyone there now, plus everyone missing, minus
        what this run removed). Never "replace members": a server whose read-back is incomplete would then lose
        the members it did not show. Each attempt is read back; the repair stops when nobody is missing."""
        repair = Repair(check.group_id, check.group_name, set(check.vanished | check.lost_added))
        if not repair.missing:
            return repair
        try:
            try:
                sent = self.client.add_members(check.group_id, sorted(repair.missing))
            finally:
                with self._lock:
                    self._written(check.group_id)
            after = self.check_group(check.group_id, scheduled=False)
            repair.attempts.append((ADD_MISSING, sent, after.vanished | after.lost_added))
            if not repair.still_missing:
                return repair
            desired = (after.actual | after.expected_in) - after.expected_out
            try:
                sent = self.client.add_members(check.group_id, sorted(desired), per_request=max(1, len(desired)))
            finally:
                with self._lock:
                    self._written(check.group_id)
            after = self.check_group(check.group_id, scheduled=False)
            repair.attempts.append((ADD_WHOLE_LIST, sent, after.vanished | after.lost_added))
        except Exception as exc:  # a failed repair is reported, never raised past the report
            repair.error = f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
            log.warning("restoring the members of group %s failed: %s", check.group_id, repair.error)
        return repair


# -- reports ------------------------------------------------------------------------------------------------


def exchange_text(sent: Any) -> str:
    """One write as plain text: method, path, the JSON body (bounded) and the answer (already bounded)."""
    body = json.dumps(sent.request, ensure_ascii=False, separators=(",", ":")) if sent.request is not None else ""
    if len(body) > REQUEST_LIMIT:
        body = body[:REQUEST_LIMIT] + f"… ({len(body):,} characters in all)"
    answer = sent.answer if sent.answer else "(no body)"
    return (f"  request: {sent.method} {sent.path}\n"
            f"           {body}\n"
            f"  answer:  HTTP {sent.status} at {sent.at:%Y-%m-%d %H:%M:%S} UTC: {answer}")


def people_text(ids: set[str], names: dict[str, str]) -> str:
    shown = sorted(ids, key=lambda i: (names.get(i) or "~", i))[:NAMES_IN_REPORT]
    text = ", ".join(f"{names[i]} ({i})" if names.get(i) else i for i in shown)
    if len(ids) > len(shown):
        text = english(R_MORE, people=text, n=f"{len(ids) - len(shown):,}")
    return text


def collateral_report(action_id: int, label: str, check: GroupCheck, repair: Repair,
                      names: dict[str, str]) -> tuple[str, str]:
    """(one-line summary, full plain-text report) of a collateral loss and its repair."""
    group = f"“{check.group_name}” ({check.group_id})" if check.group_name else check.group_id
    lost = check.vanished | check.lost_added
    if repair.restored:
        outcome = english(R_ALL_BACK, n=f"{len(lost):,}")
    else:
        outcome = english(R_NOT_BACK, n=f"{len(repair.still_missing):,}")
    summary = english(R_SUMMARY, n=f"{len(check.vanished):,}", group=group, outcome=outcome)
    lines = [
        R_TITLE,
        english(R_STOPPED, id=action_id, label=label),
        english(R_GROUP, group=group),
        english(R_COUNTS, before=f"{check.before:,}", at=f"{check.at:%Y-%m-%d %H:%M:%S}",
                actual=f"{len(check.actual):,}"),
        english(R_VANISHED_ADDED, n=f"{len(check.vanished):,}", gone=f"{len(check.lost_added):,}")
        if check.lost_added else english(R_VANISHED, n=f"{len(check.vanished):,}"),
        english(R_WHO, people=people_text(lost, names)),
        "",
        english(R_WRITES, n=f"{check.writes:,}", shown=len(check.recent)),
    ]
    for sent in check.recent:
        lines.append(exchange_text(sent))
    lines += ["", R_RESTORE]
    if not repair.attempts and repair.error is None:
        lines.append("  " + R_NOTHING_MISSING)
    for how, sent_list, still in repair.attempts:
        lines.append("  " + english(R_ATTEMPT_OK if not still else R_ATTEMPT, how=how, n=f"{len(still):,}"))
        for sent in sent_list[-2:]:
            lines.append(exchange_text(sent))
    if repair.error:
        lines.append("  " + english(R_FAILED, error=repair.error))
    if repair.restored:
        lines.append(R_ALL_RESTORED)
    else:
        lines.append(english(R_STILL_MISSING, n=f"{len(repair.still_missing):,}",
                             people=people_text(repair.still_missing, names)))
    lines += ["", R_OTHERS, R_TODO]
    text = "\n".join(lines)
    if len(text) > REPORT_LIMIT:
        text = text[:REPORT_LIMIT] + "\n" + R_CUT
    return summary, text
