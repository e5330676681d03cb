"""Running a journaled batch: bounded concurrency, live re-checks (idempotent), per-item results.

Threads only talk HTTP; the calling thread owns the journal (every item transition is committed by it), calls
``progress`` (so a Streamlit page can update ``st.progress`` from its own thread) and decides when to stop:
a 401 stops the whole batch and leaves the items not yet sent as ``pending``; anything else fails one item
with its remedy. Items left ``running`` by a dead process are re-checked live on resume, so nothing is done
twice and nothing is lost.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from console.errors import InvalidInput, TokenError
from console.operations import journal
from console.operations.model import (
    DEFAULT_CONCURRENCY,
    BatchResult,
    DefectReport,
    ItemResult,
    Plan,
    kind_label,
    step_text,
)
from console.operations.verify import (
    NOT_APPLIED,
    NOT_APPLIED_REMEDY,
    GroupCheck,
    Mismatch,
    Repair,
    Verifier,
    collateral_report,
)
from scim_client import PermissionDenied, ScimError, count_attempts

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

AUTH_REMEDY = ("Renew or replace the token on the Connection & token page (or `python -m console token "
                "generate`), then resume this action: the items not yet sent are still pending.")


@dataclass
class Outcome:
    state: str                      # done|failed
    outcome: str                    # changed|already|partial|not_found|forbidden|conflict|busy|error|unauthorized
    note: str | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)
    http_status: int | None = None
    error: str | None = None
    remedy: str | None = None
    stop: bool = False              # 401: stop the whole batch
    client_attempts: int = 0        # extra attempts: the client's retries (429/502-504, dropped), 409 re-checks


class LiveState:
    """Live look-ups shared by the worker threads of one run: users per item, group members once per group (the
    read-back baseline of the run's ``Verifier``)."""

    def __init__(self, client: Any, verifier: Verifier | None = None) -> None:
        self.client = client
        self.verifier = verifier if verifier is not None else Verifier(client)
        self._members: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        self._group_locks: dict[str, threading.Lock] = {}
        self.gone_users: set[str] = set()   # users the server answered 404 for (deleted since the preview)

    def get_user(self, user_id: str) -> Any:
        """The user as the server has it now (remembered for the directory view after the run)."""
        sent = self.verifier.stamp()
        try:
            user = self.client.get_user(user_id)
        except Exception as exc:
            from scim_client import NotFound

            if isinstance(exc, NotFound):
                with self._lock:
                    self.gone_users.add(user_id)
            raise
        self.verifier.saw_user(user, sent)
        return user

    def set_active(self, user_id: str, active: bool) -> Any:
        sent = self.verifier.stamp()
        user = self.client.set_active(user_id, active)
        self.verifier.saw_user(user, sent)
        return user

    def members(self, group_id: str, name: str | None = None) -> set[str]:
        with self._lock:
            glock = self._group_locks.setdefault(group_id, threading.Lock())
        with glock:
            if group_id not in self._members:
                sent = self.verifier.stamp()
                group = self.client.get_group(group_id, members=True)
                self.verifier.saw_group(group, sent)
                self._members[group_id] = set(group.member_ids or [])
                self.verifier.baseline(group_id, name or group.display_name, self._members[group_id])
            return self._members[group_id]

    def is_member(self, group_id: str, user: Any, name: str | None = None) -> bool:
        members = self.members(group_id, name)  # also the baseline: read before this run's first change to it
        raw = getattr(user, "raw", None) or {}
        if isinstance(raw.get("groups"), list):  # the server lists a user's groups: freshest, per item
            return any(isinstance(g, dict) and g.get("value") == group_id for g in raw["groups"])
        with self._lock:
            return user.id in members

    def changed(self, group_id: str, user_id: str, added: bool) -> None:
        with self._lock:
            members = self._members.get(group_id)
            if members is not None:
                (members.add if added else members.discard)(user_id)


def classify(exc: BaseException, step: dict[str, Any] | None, subject: str) -> Outcome:
    """Map an error to an item outcome with a remedy a person can act on."""
    import scim_client as sc

    status = getattr(exc, "status", None)
    attempts = exc.attempts if isinstance(exc, ScimError) else 0  # HTTP attempts under the client's retry policy
    extra = max(0, attempts - 1)
    if isinstance(exc, sc.AuthenticationError | sc.TokenExchangeError | TokenError):
        return Outcome("failed", "unauthorized", http_status=401,
                       error="6clicks rejected the token (401): the batch was stopped.",
                       remedy=AUTH_REMEDY, stop=True, client_attempts=extra)
    if isinstance(exc, PermissionDenied):
        # the permission the server named, else the one the failing call needs (scim_client's one mapping)
        perm = exc.permission or "Integrations"
        return Outcome("failed", "forbidden", http_status=403,
                       error=f"6clicks refused to {step_text(step or {'op': 'set_active', 'value': False})} "
                             f"(403): the API key's user lacks the “{perm}” permission"
                             f"{'' if exc.named else ' (probably)'}.",
                       remedy=f"In 6clicks, grant the integration user the “{perm}” permission, then retry "
                              "the failed items.", client_attempts=extra)
    if isinstance(exc, sc.NotFound):
        if subject == "group":
            name = (step or {}).get("group_name") or (step or {}).get("group_id")
            return Outcome("failed", "not_found", http_status=404,
                           error=f"The group or role “{name}” no longer exists in 6clicks (deleted meanwhile).",
                           remedy="Refresh the directory and choose an existing group; nothing was changed "
                                  "for this person.", client_attempts=extra)
        return Outcome("failed", "not_found", http_status=404,
                       error="The user no longer exists in 6clicks (deleted after the preview).",
                       remedy="Nothing to do for this person; refresh the directory to drop them from lists.",
                       client_attempts=extra)
    if isinstance(exc, sc.Conflict):
        return Outcome("failed", "conflict", http_status=409,
                       error=f"6clicks reported a conflict (409): {getattr(exc, 'message', str(exc))}",
                       remedy="Refresh the directory, check this person in 6clicks, then retry the item.",
                       client_attempts=extra)
    if isinstance(exc, sc.RateLimited | sc.ServerError | sc.ConnectionFailed):
        what = ("6clicks kept answering “too many requests” (429)" if isinstance(exc, sc.RateLimited)
                else "6clicks could not be reached" if isinstance(exc, sc.ConnectionFailed)
                else f"6clicks answered with a server error ({status or '5xx'})")
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        return Outcome("failed", "busy", http_status=status, error=f"{what}{tries}.",
                       remedy="Retry the failed items in a few minutes (they are idempotent).",
                       client_attempts=extra)
    if isinstance(exc, sc.ScimError):
        return Outcome("failed", "error", http_status=status, error=getattr(exc, "message", str(exc)),
                       remedy=getattr(exc, "remedy", None) or "Check this person in 6clicks, then retry the item.",
                       client_attempts=extra)
    return Outcome("failed", "error", error=f"Unexpected error: {type(exc).__name__}: {exc}",
                   remedy="Retry the item; if it keeps failing, report this message.")


# Transient failures (429, 502-504, dropped connections) are retried by the client under its RetryPolicy; what
# is left when it gives up fails the item (retryable alone, later). A 409 may come from a concurrent change: the
# item is checked live once more (a person someone else just changed ends as "already done").
CONFLICT_RECHECKS = 1


def apply_item(client: Any, live: LiveState, user_id: str, steps: list[dict[str, Any]], seq: int = 0) -> Outcome:
    """Apply one item's steps; its extra attempts are the client's retries (counted in this thread, successes
    included) plus any re-check after a conflict."""
    changes: list[dict[str, Any]] = []
    rechecks = 0
    with count_attempts() as count:
        while True:
            out = apply_steps(client, live, user_id, steps, seq)
            changes = journal.merge_changes(changes, out.changes)
            if out.outcome != "conflict" or rechecks >= CONFLICT_RECHECKS:
                break
            rechecks += 1
    out.client_attempts = count.retries + rechecks
    out.changes = changes
    if out.state == "done":
        out.outcome = "changed" if changes else "already"
        if changes:
            out.note = None
    elif changes and not out.stop:
        # e.g. a move whose add worked and whose remove failed: the person is in both, and says so
        failed_step = next((s for s in steps if s not in changes and s["op"] == "remove"), None)
        added = next((c for c in changes if c["op"] == "add"), None)
        out.outcome = "partial"
        if failed_step is not None and added is not None:
            out.note = (f"in both {added.get('group_name')} and {failed_step.get('group_name')}: the remove "
                        "failed; retry to finish the move")
        else:
            out.note = "; ".join(step_text(c) for c in changes) + " done, the rest failed; retry to finish"
    return out


def apply_steps(client: Any, live: LiveState, user_id: str, steps: list[dict[str, Any]], seq: int = 0) -> Outcome:
    """Bring one user to the state the steps describe, checking live state first (idempotent). Every write is
    registered with the run's verifier, which reads it back later; a user's ``active`` is also checked at once
    against what the server answered (or read back when it answered without the user)."""
    changes: list[dict[str, Any]] = []
    notes: list[str] = []
    extra_attempts = 0
    verifier = live.verifier
    try:
        user = live.get_user(user_id)
    except Exception as exc:
        return classify(exc, steps[0] if steps else None, "user")
    for step in steps:
        subject = "user"
        try:
            if step["op"] == "set_active":
                want = bool(step["value"])
                if bool(user.active) == want:
                    notes.append(f"already {'active' if want else 'inactive'}")
                    continue
                user = live.set_active(user_id, want)
                if bool(user.active) != want:
                    return Outcome("failed", "not_applied",
                                   error=not_applied_error(f"the user is still {'active' if user.active else 'inactive'}"
                                                           " in its answer"),
                                   remedy=NOT_APPLIED_REMEDY, changes=changes)
                changes.append(dict(step))
                verifier.active_done(user_id, seq, want, dict(step))
            else:
                subject = "group"
                gid = step["group_id"]
                member = live.is_member(gid, user, step.get("group_name"))
                if step["op"] == "add":
                    if member:
                        notes.append(f"already in {step.get('group_name') or gid}")
                        continue
                    verifier.begin(gid, user_id, "add", seq)
                    try:
                        sent = client.add_members(gid, [user_id])
                    except BaseException:
                        verifier.failed(gid, user_id)
                        raise
                    verifier.done(gid, user_id, sent)
                    live.changed(gid, user_id, True)
                else:
                    if not member:
                        notes.append(f"already not in {step.get('group_name') or gid}")
                        continue
                    verifier.begin(gid, user_id, "remove", seq)
                    try:
                        sent = client.remove_members(gid, [user_id])
                    except BaseException:
                        verifier.failed(gid, user_id)
                        raise
                    verifier.done(gid, user_id, sent)
                    live.changed(gid, user_id, False)
                changes.append(dict(step))
        except Exception as exc:
            out = classify(exc, step, subject)
            out.changes = changes
            out.client_attempts += extra_attempts
            return out
    return Outcome("done", "changed" if changes else "already",
                   note=None if changes else ("already done: " + ", ".join(notes)) if notes else "already done",
                   changes=changes, client_attempts=extra_attempts)


def _apply_row(client: Any, live: LiveState, row: Any, steps: list[dict[str, Any]]) -> Outcome:
    out = apply_item(client, live, row["user_id"], steps, seq=int(row["seq"]))
    if row["state"] == "running" and out.state == "done" and out.outcome == "already" and not row["changes_json"] \
            .strip("[] "):
        # In flight when its process died: the change was sent but not recorded. The preview said it needed
        # changing and it is now done, so it was almost certainly this action: keep it in the undo recipe.
        out.outcome = "changed"
        out.changes = [dict(s) for s in steps]
        out.note = "already done when resumed (most likely by the interrupted run; kept in the undo recipe)"
    return out


@contextmanager
def _client_for(ctx: Any, conn: Any, client: Any) -> Iterator[Any]:
    if client is not None:
        yield client
        return
    from console.tokens.service import TokenService

    made = TokenService(ctx).scim_client(conn.name)
    try:
        yield made
    finally:
        made.close()


class _Run:
    """The journal side of one run's read-backs: item failures the server did not apply, collateral losses."""

    def __init__(self, ctx: Any, batch_id: int, operator: str, verifier: Verifier) -> None:
        self.store = ctx.store
        self.batch_id = batch_id
        self.operator = operator
        self.verifier = verifier
        self.recorded: set[int] = set()                 # items the main thread has journaled in this run
        self.deferred: dict[int, list[Mismatch]] = {}   # mismatches of items not journaled yet
        self.collateral: dict[str, GroupCheck] = {}     # group id -> the read-back that showed it
        self.not_applied = 0
        self.unverified: list[str] = []                 # read-backs that could not be made

    def mismatch(self, found: list[Mismatch]) -> None:
        for m in found:
            if m.seq in self.recorded:
                self._unapply(m)
            else:
                self.deferred.setdefault(m.seq, []).append(m)

    def item_recorded(self, seq: int) -> None:
        self.recorded.add(seq)
        for m in self.deferred.pop(seq, []):
            self._unapply(m)

    def flush(self) -> None:
        for seq in list(self.deferred):
            for m in self.deferred.pop(seq):
                self._unapply(m)

    def _unapply(self, m: Mismatch) -> None:
        self.not_applied += 1
        journal.unapply(self.store, self.batch_id, m.seq, m.step, error=not_applied_error(m.detail),
                        remedy=NOT_APPLIED_REMEDY)

    def checked(self, target: str, fut: Future[Any]) -> None:
        """Handle a finished read-back (run in the checker pool)."""
        try:
            result = fut.result()
        except Exception as exc:  # a read that failed proves nothing either way: tried again at the end
            self.unverified.append(f"{target}: {type(exc).__name__}: {getattr(exc, 'message', None) or exc}")
            log.info("read-back of %s failed: %s", target, exc)
            return
        self.judge(result)

    def judge(self, result: GroupCheck | list[Mismatch]) -> None:
        if isinstance(result, GroupCheck):
            if result.collateral:
                self.collateral.setdefault(result.group_id, result)   # the first sighting, with its writes
                self.mismatch(self.verifier.mismatches(result, lost_added=False))
            else:
                self.mismatch(self.verifier.mismatches(result))
        else:
            self.mismatch(result)


def not_applied_error(detail: str) -> str:
    return f"{NOT_APPLIED[0].upper()}{NOT_APPLIED[1:]}: {detail}."


def _read_back(verifier: Verifier, target: str, *, scheduled: bool = True) -> GroupCheck | list[Mismatch]:
    if target == "users":
        return verifier.check_users(scheduled=scheduled)
    return verifier.check_group(target, scheduled=scheduled)


def _user_names(client: Any, ids: set[str]) -> dict[str, str]:
    """userNames of (at most a report's worth of) people, for the report; best effort."""
    from console.operations.verify import NAMES_IN_REPORT
    from scim_client import ScimError, filters

    wanted = sorted(ids)[:NAMES_IN_REPORT]
    if not wanted:
        return {}
    try:
        found = client.list_users(filter=filters.or_(*[filters.eq("id", i) for i in wanted])
                                  if len(wanted) > 1 else filters.eq("id", wanted[0]))
    except ScimError:
        return {}
    return {u.id: str(u.user_name) for u in found if u.id in set(wanted) and u.user_name}


def _repair(ctx: Any, client: Any, run: _Run, batch_id: int, operator: str, label: str) -> list[str]:
    """Restore every group that lost members, verify, and record each defect. Returns the one-line summaries."""
    summaries: list[str] = []
    for gid in list(run.collateral):
        seen = run.collateral[gid]
        try:
            fresh = run.verifier.check_group(gid, scheduled=False)
            repair = run.verifier.restore(fresh)
        except Exception as exc:  # cannot even read it: report what was seen, send nothing blindly
            fresh = seen
            log.warning("could not read group %s again before restoring it: %s", gid, exc)
            repair = Repair(gid, seen.group_name, set(seen.vanished | seen.lost_added),
                            error=f"the group could not be read again, so nothing was sent to restore it "
                                  f"({getattr(exc, 'message', None) or type(exc).__name__})")
        lost = seen.vanished | seen.lost_added | fresh.vanished | fresh.lost_added
        names = _user_names(client, lost)
        summary, report = collateral_report(batch_id, label, _merged(seen, fresh), repair, names)
        journal.add_defect(ctx.store, batch_id, operator, kind="collateral_loss", target_id=gid,
                           target_name=seen.group_name, summary=summary, report=report, lost=sorted(lost),
                           still_missing=sorted(repair.still_missing), restored=repair.restored)
        # our own adds that the server lost and that could not be put back: those items did not happen
        gone = repair.still_missing & (seen.lost_added | fresh.lost_added)
        if gone:
            run.mismatch(run.verifier.mismatches(_only_lost(fresh, gone)))
        summaries.append(summary)
    return summaries


def _merged(seen: GroupCheck, fresh: GroupCheck) -> GroupCheck:
    """The check a report shows: what the first read-back saw vanish, with the writes that preceded it."""
    if fresh is seen:
        return seen
    return GroupCheck(group_id=seen.group_id, group_name=seen.group_name, before=seen.before, actual=seen.actual,
                      vanished=seen.vanished | fresh.vanished, lost_added=seen.lost_added | fresh.lost_added,
                      lingering=seen.lingering, expected_in=seen.expected_in, expected_out=seen.expected_out,
                      writes=max(seen.writes, fresh.writes), recent=seen.recent or fresh.recent, at=seen.at)


def _only_lost(check: GroupCheck, uids: set[str]) -> GroupCheck:
    return GroupCheck(group_id=check.group_id, group_name=check.group_name, before=check.before,
                      actual=check.actual, vanished=set(), lost_added=set(uids), lingering=set(),
                      expected_in=check.expected_in, expected_out=check.expected_out, writes=check.writes,
                      recent=check.recent, at=check.at)


DEFECT_REMEDY = ("Report the defect to the service provider with the request and answer in the report (Activity "
                 "page, or `python -m console audit show {id}`). Do not resume this action until it is fixed; make "
                 "the change in Entra ID instead. Items not run stay pending.")


def _run(ctx: Any, conn: Any, batch_id: int, operator: str, *, client: Any, concurrency: int,
         progress: Progress | None) -> BatchResult:
    store = ctx.store
    batch = journal.batch_row(store, batch_id)
    label = kind_label(batch["kind"], json.loads(batch["params_json"] or "{}"))
    group_kind = batch["kind"] in ("add", "remove", "move")
    todo = journal.items(store, batch_id, ("pending", "running"))
    total = len(todo)
    done_count = 0
    stop: Outcome | None = None
    if progress:
        progress(0, total)
    verifier = Verifier(client, explained=lambda gid: journal.changed_elsewhere(store, batch_id, gid))
    run = _Run(ctx, batch_id, operator, verifier)
    live = LiveState(client, verifier)
    queue = iter(todo)
    inflight: dict[Future[Outcome], Any] = {}
    checks: dict[Future[Any], str] = {}
    last_beat = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix=f"op{batch_id}")
    checker = ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"op{batch_id}-check")
    careful = group_kind
    try:
        while True:
            halted = stop is not None or bool(run.collateral)
            if not halted:
                for target in verifier.due():
                    checks[checker.submit(_read_back, verifier, target)] = target
            # A canary: group changes go one at a time until the read-backs after a real change have all passed,
            # so a server that wipes groups is caught after one write.
            if careful and verifier.trusted and not checks and not run.collateral:
                careful = False
            limit = (0 if checks else 1) if careful else max(1, concurrency)
            while not halted and len(inflight) < limit:
                row = next(queue, None)
                if row is None:
                    break
                steps = json.loads(row["steps_json"])
                journal.mark_running(store, batch_id, row["seq"])
                inflight[pool.submit(_apply_row, client, live, row, steps)] = row
            if not inflight and not checks:
                break
            finished, _ = wait([*inflight, *checks], timeout=5, return_when=FIRST_COMPLETED)
            for fut in finished:
                if fut in checks:
                    run.checked(checks.pop(fut), fut)
                    continue
                row = inflight.pop(fut)
                try:
                    out = fut.result()
                except Exception as exc:  # apply_steps maps errors itself; this is a last resort
                    out = classify(exc, None, "user")
                if out.stop:
                    # Not attempted: back to pending (the next run re-checks it live).
                    journal.record_item(store, batch_id, row["seq"], state="pending", outcome=None,
                                        note="not run: the token was rejected", changes=out.changes,
                                        http_status=401, error=out.error, remedy=out.remedy)
                    stop = stop or out
                else:
                    journal.record_item(store, batch_id, row["seq"], state=out.state, outcome=out.outcome,
                                        note=out.note, changes=out.changes, http_status=out.http_status,
                                        error=out.error, remedy=out.remedy, extra_attempts=out.client_attempts)
                    done_count += 1
                run.item_recorded(int(row["seq"]))
                if progress:
                    progress(done_count, total)
            if time.monotonic() - last_beat > 5:
                journal.heartbeat(store, batch_id)
                last_beat = time.monotonic()
    except BaseException as exc:
        pool.shutdown(wait=True, cancel_futures=True)
        checker.shutdown(wait=True, cancel_futures=True)
        for fut, row in inflight.items():  # finished while we were stopping: record what really happened
            if fut.cancelled():  # never started: back to pending
                journal.record_item(store, batch_id, row["seq"], state="pending", outcome=None,
                                    note="not run: interrupted", changes=[], http_status=None, error=None,
                                    remedy=None)
            elif fut.done() and fut.exception() is None:
                out = fut.result()
                journal.record_item(store, batch_id, row["seq"], state=out.state, outcome=out.outcome,
                                    note=out.note, changes=out.changes, http_status=out.http_status,
                                    error=out.error, remedy=out.remedy)
        journal.finish(store, batch_id, operator, state="stopped", event="interrupted",
                       detail=f"interrupted ({type(exc).__name__}); unfinished items stay in the journal",
                       stop_reason=f"Interrupted ({type(exc).__name__}) before every item ran.",
                       stop_remedy="Resume it to finish the remaining items, or abandon it.")
        raise
    pool.shutdown(wait=True)
    checker.shutdown(wait=True)
    # Final read-backs of everything not yet verified (nothing is in flight any more), then repairs.
    for target in verifier.due(final=True):
        try:
            run.judge(_read_back(verifier, target, scheduled=True))
        except Exception as exc:  # recorded below: the operator sees what could not be verified
            run.unverified.append(f"{target}: {type(exc).__name__}: {getattr(exc, 'message', None) or exc}")
    defects = _repair(ctx, client, run, batch_id, operator, label) if run.collateral else []
    run.flush()
    if verifier.reads or run.unverified:
        detail = (f"{verifier.reads} read-back(s): {verifier.verified} change(s) confirmed"
                  + (f", {run.not_applied} not applied by the server" if run.not_applied else "")
                  + (f", {len(run.collateral)} group(s) lost other members" if run.collateral else ", nobody else "
                     "lost" if group_kind else ""))
        if run.unverified:
            detail += UNVERIFIED_MARK + "; ".join(run.unverified[:3])[:500]
        journal.add_event(store, batch_id, operator, "verified", detail)
    counts = journal.counts(store, batch_id)
    if defects:
        reason = " ".join(defects) + f" The action was stopped; {counts['pending']} item(s) not run."
        journal.finish(store, batch_id, operator, state="stopped", event="stopped", detail=reason[:1000],
                       stop_reason=reason, stop_remedy=DEFECT_REMEDY.format(id=batch_id))
    elif stop is not None:
        journal.finish(store, batch_id, operator, state="stopped", event="stopped",
                       detail=f"{stop.error} {counts['pending']} items left pending.",
                       stop_reason=stop.error, stop_remedy=stop.remedy)
    else:
        journal.finish(store, batch_id, operator, state="completed",
                       detail=f"{counts['done']} done, {counts['failed']} failed, {counts['skipped']} skipped")
    touched = {s["group_id"] for row in todo for s in json.loads(row["steps_json"] or "[]") if s.get("group_id")}
    update_directory(ctx, conn, client, verifier, live, batch_id, operator, touched)
    return batch_result(ctx, batch_id)


DIRECTORY_EVENTS = ("directory_updated", "directory_not_updated")


def update_directory(ctx: Any, conn: Any, client: Any, verifier: Verifier, live: LiveState, batch_id: int,
                     operator: str, group_ids: set[str]) -> None:
    """After a run, the latest snapshot gets the people and groups it touched as the server has them now
    (``console.directory.patch.patch_snapshot``), so every page shows the new state at once and the change is in the
    directory's history. What the run read anyway is reused: each person's last answer (the read-back of an
    ``active`` change, else the live check before the change), and each group's read-back when it was sent
    after the group's last write; only groups without such a read are fetched again (one GET each). Never
    fails the action: a problem is journaled (``directory_not_updated``) and the result says to refresh."""
    from scim_client import NotFound

    try:
        from console.directory.patch import patch_snapshot
        from console.directory.store import latest_snapshot
    except ImportError:  # history not installed: nothing to update
        return
    note = f"after action {batch_id}"
    try:
        before = latest_snapshot(ctx, conn)
        if before is None:
            return  # resolved live, no snapshot yet: the first refresh lists everything
        groups = {gid: g for gid, g in verifier.fresh_groups().items() if gid in group_ids}
        gone_groups: set[str] = set()
        for gid in sorted(group_ids - set(groups)):
            try:
                groups[gid] = client.get_group(gid, members=True)
            except NotFound:
                gone_groups.add(gid)
        users = verifier.seen_users()
        snap = patch_snapshot(ctx, conn, users=users.values(), groups=groups.values(),
                              deleted_users=live.gone_users, deleted_groups=gone_groups, note=note)
    except Exception as exc:  # the change itself is done and verified; only the view is stale
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        log.warning("action %s: the directory snapshot could not be updated: %s", batch_id, message)
        journal.add_event(ctx.store, batch_id, operator, "directory_not_updated", str(message)[:500])
        return
    if snap is None or snap.id == before.id:
        return
    people = len(users) + len(live.gone_users)
    detail = (f"snapshot {snap.id}: {people} {'person' if people == 1 else 'people'} and "
              f"{len(groups) + len(gone_groups)} group(s) read again; {snap.event_count} change(s) recorded")
    journal.add_event(ctx.store, batch_id, operator, "directory_updated", detail)


def batch_result(ctx: Any, batch_id: int) -> BatchResult:
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


def validate_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise InvalidInput("A reason is required for every manual change (it goes into the audit log).",
                           "Say why, e.g. “left the company, ticket 4711”.")
    if len(text) > 1000:
        raise InvalidInput("The reason is longer than 1,000 characters.", "Shorten it; link to a ticket instead.")
    return text


def execute(ctx: Any, conn: Any, plan: Plan, reason: str, operator: str, *, source: str = "api",
            concurrency: int = DEFAULT_CONCURRENCY, progress: Progress | None = None,
            client: Any = None) -> BatchResult:
    """Journal ``plan`` (before anything is sent), then run it. Returns per-item results."""
    reason = validate_reason(reason)
    if plan.connection != conn.name:
        raise InvalidInput(f"This preview was made for connection “{plan.connection}”, not “{conn.name}”.",
                           "Make the preview again on the selected connection.")
    if plan.count == 0:
        raise InvalidInput(f"Nothing to change: all {len(plan.items)} listed people are skipped "
                           "(see the preview for why).", "Nothing was sent to 6clicks.")
    if not (1 <= int(concurrency) <= 64):
        raise InvalidInput("Concurrency must be between 1 and 64.", "The default is 8.")
    operator = (operator or "").strip() or "unknown"
    with _client_for(ctx, conn, client) as live_client:
        batch_id = journal.create_batch(ctx.store, plan, reason=reason, operator=operator, source=source,
                                        concurrency=int(concurrency))
        journal.claim(ctx.store, batch_id, operator, "started")
        return _run(ctx, conn, batch_id, operator, client=live_client, concurrency=int(concurrency),
                    progress=progress)


@dataclass
class Unfinished:
    batch_id: int
    connection: str
    kind: str
    label: str
    operator: str
    reason: str
    created_at: Any
    state: str              # interrupted|stopped|pending|running-elsewhere
    counts: dict[str, int]
    stop_reason: str | None
    stop_remedy: str | None

    @property
    def live(self) -> bool:
        return self.state == "running-elsewhere"


def unfinished_batches(ctx: Any, conn: Any = None) -> list[Unfinished]:
    """Batches with items not yet run: interrupted (process died), stopped (401, Ctrl-C), or running now in
    another process (``live``: shown, not resumable)."""
    from console.operations.model import kind_label

    sql = "SELECT * FROM op_batches WHERE state IN ('pending','running','stopped')"
    args: tuple = ()
    if conn is not None:
        sql += " AND connection = ?"
        args = (conn.name if hasattr(conn, "name") else str(conn),)
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
                              stop_reason=row["stop_reason"] or ("The process running it stopped half-way."
                                                                  if state == "interrupted" else None),
                              stop_remedy=row["stop_remedy"]))
    return out


def _check_conn(ctx: Any, conn: Any, batch_id: int) -> None:
    row = journal.batch_row(ctx.store, batch_id)
    if row["connection"] != conn.name:
        raise InvalidInput(f"Action {batch_id} belongs to connection “{row['connection']}”.",
                           f"Select “{row['connection']}” first.")


def resume(ctx: Any, conn: Any, batch_id: int, operator: str, *, progress: Progress | None = None,
           client: Any = None, concurrency: int | None = None) -> BatchResult:
    """Finish an interrupted or stopped batch: items in flight when it stopped are re-checked live."""
    _check_conn(ctx, conn, batch_id)
    row = journal.batch_row(ctx.store, batch_id)
    if row["state"] == "completed":
        raise InvalidInput(f"Action {batch_id} already completed.", "Retry its failed items instead, if any.")
    with _client_for(ctx, conn, client) as live_client:
        row = journal.claim(ctx.store, batch_id, operator, "resumed")
        return _run(ctx, conn, batch_id, operator, client=live_client,
                    concurrency=int(concurrency or row["concurrency"] or DEFAULT_CONCURRENCY), progress=progress)


def retry_failed(ctx: Any, conn: Any, batch_id: int, operator: str, *, seqs: list[int] | None = None,
                 progress: Progress | None = None, client: Any = None) -> BatchResult:
    """Run the failed items of a batch again (all, or the ``seqs`` given); the others are left alone."""
    _check_conn(ctx, conn, batch_id)
    failed = [r["seq"] for r in journal.items(ctx.store, batch_id, ("failed",))]
    chosen = [s for s in failed if seqs is None or s in set(seqs)]
    if not chosen:
        raise InvalidInput(f"Action {batch_id} has no failed items to retry.", "Nothing was sent to 6clicks.")
    with _client_for(ctx, conn, client) as live_client:
        row = journal.claim(ctx.store, batch_id, operator, "retried", f"{len(chosen)} failed item(s)")
        with ctx.store.transaction() as db:
            db.executemany("UPDATE op_items SET state='pending', updated_at=? WHERE batch_id=? AND seq=? AND "
                           "state='failed'", [(journal.iso(), int(batch_id), s) for s in chosen])
        return _run(ctx, conn, batch_id, operator, client=live_client,
                    concurrency=int(row["concurrency"] or DEFAULT_CONCURRENCY), progress=progress)


def abandon(ctx: Any, batch_id: int, operator: str, note: str | None = None) -> BatchResult:
    """Give up on an unfinished batch: items never sent become ``skipped``; items that were in flight when the
    process died become ``failed`` with an unknown outcome (they may or may not have been applied)."""
    store = ctx.store
    with store.transaction() as db:
        row = db.execute("SELECT * FROM op_batches WHERE id=?", (int(batch_id),)).fetchone()
        if row is None:
            raise InvalidInput(f"There is no action {batch_id}.", "List actions with `python -m console ops list`.")
        if row["state"] in ("completed", "abandoned"):
            raise InvalidInput(f"Action {batch_id} is already {row['state']}.", "Nothing to abandon.")
        if journal.owner_alive(row) and not (row["owner_host"] == journal.HOST
                                             and row["owner_pid"] == os.getpid()):
            raise InvalidInput(f"Action {batch_id} is running right now in another process.",
                               "Wait for it to finish, then look again.")
        journal.note_interrupted(db, row)
        stamp = journal.iso()
        db.execute("UPDATE op_items SET state='skipped', outcome='abandoned', note='abandoned before it ran',"
                   " updated_at=? WHERE batch_id=? AND state='pending'", (stamp, int(batch_id)))
        db.execute("UPDATE op_items SET state='failed', outcome='unknown', note='was in flight when the process "
                   "stopped; it may or may not have been applied: check this person in 6clicks', updated_at=?"
                   " WHERE batch_id=? AND state='running'", (stamp, int(batch_id)))
        db.execute("UPDATE op_batches SET state='abandoned', finished_at=?, stop_reason=? WHERE id=?",
                   (stamp, f"Abandoned by {operator}" + (f": {note}" if note else ""), int(batch_id)))
        db.execute("INSERT INTO op_events(batch_id, at, operator, event, detail) VALUES (?,?,?,?,?)",
                   (int(batch_id), stamp, operator, "abandoned", note))
    return batch_result(ctx, batch_id)


