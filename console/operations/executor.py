"""Running a journaled batch: bounded concurrency, live re-checks (idempotent), per-item results.

Threads only talk HTTP (``console.operations.apply``); the calling thread owns the journal (every item transition
is committed by it), calls ``progress`` (so a Streamlit page can update ``st.progress`` from its own thread) and
decides when to stop: a 401 stops the whole batch and leaves the items not yet sent as ``pending``; anything else
fails one item with its remedy. Items left ``running`` by a dead process are re-checked live on resume, so
nothing is done twice and nothing is lost. Every change is read back (``console.operations.verify``); after the
run the latest snapshot is updated with what the run touched (``console.directory.patch``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

from console.connections import Connection
from console.context import Context
from console.directory.patch import patch_snapshot
from console.directory.store import latest_snapshot
from console.errors import InvalidInput
from console.i18n import N_, _, use_language
from console.operations import journal
from console.operations.apply import LiveState, Outcome, apply_row, classify, not_applied_error
from console.operations.batches import batch_result, check_connection, validate_reason
from console.operations.model import DEFAULT_CONCURRENCY, BatchResult, Plan, kind_label
from console.operations.verify import (
    NAMES_IN_REPORT,
    NOT_APPLIED_REMEDY,
    GroupCheck,
    Mismatch,
    Repair,
    Verifier,
    collateral_report,
)
from console.operations.wording import TEXT, english
from console.tokens.service import TokenService
from scim_client import NotFound, ScimClient, ScimError, filters

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@contextmanager
def _client_for(ctx: Context, conn: Connection, client: ScimClient | None) -> Iterator[ScimClient]:
    if client is not None:
        yield client
        return
    made = TokenService(ctx).scim_client(conn.name)
    try:
        yield made
    finally:
        made.close()


class _Run:
    """The journal side of one run's read-backs: item failures the server did not apply, collateral losses."""

    def __init__(self, ctx: Context, batch_id: int, operator: str, verifier: Verifier) -> None:
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


def _read_back(verifier: Verifier, target: str, *, scheduled: bool = True) -> GroupCheck | list[Mismatch]:
    if target == "users":
        return verifier.check_users(scheduled=scheduled)
    return verifier.check_group(target, scheduled=scheduled)


def _user_names(client: ScimClient, ids: set[str]) -> dict[str, str]:
    """userNames of (at most a report's worth of) people, for the report; best effort."""

    wanted = sorted(ids)[:NAMES_IN_REPORT]
    if not wanted:
        return {}
    try:
        found = client.list_users(filter=filters.or_(*[filters.eq("id", i) for i in wanted])
                                  if len(wanted) > 1 else filters.eq("id", wanted[0]))
    except ScimError:
        return {}
    return {u.id: str(u.user_name) for u in found if u.id in set(wanted) and u.user_name}


def _repair(ctx: Context, client: ScimClient, run: _Run, batch_id: int, operator: str, label: str) -> list[str]:
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
                            error=english(UNREADABLE_GROUP,
                                          problem=getattr(exc, "message", None) or type(exc).__name__))
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


# What a run journals (English; ``wording.shown`` translates it where it is read).
DEFECT_REMEDY = TEXT.one(N_("Report the defect to the service provider with the request and answer in the report "
                            "(Activity page, or `python -m console audit show {id}`). Do not resume this action until "
                            "it is fixed; make the change in Entra ID instead. Items not run stay pending."))
NOT_RUN_TOKEN = TEXT.one(N_("not run: the token was rejected"))
NOT_RUN_INTERRUPTED = TEXT.one(N_("not run: interrupted"))
INTERRUPTED_DETAIL = TEXT.one(N_("interrupted ({problem}); unfinished items stay in the journal"))
INTERRUPTED_REASON = TEXT.one(N_("Interrupted ({problem}) before every item ran."))
INTERRUPTED_REMEDY = TEXT.one(N_("Resume it to finish the remaining items, or abandon it."))
#: the "verified" event: (some not applied, how other members fared: "lost" | "kept" | "")
VERIFIED = {
    (False, ""): TEXT.one(N_("{reads} read-back(s): {verified} change(s) confirmed")),
    (False, "lost"): TEXT.one(N_("{reads} read-back(s): {verified} change(s) confirmed, {groups} group(s) lost other "
                                 "members")),
    (False, "kept"): TEXT.one(N_("{reads} read-back(s): {verified} change(s) confirmed, nobody else lost")),
    (True, ""): TEXT.one(N_("{reads} read-back(s): {verified} change(s) confirmed, {not_applied} not applied by the "
                            "server")),
    (True, "lost"): TEXT.one(N_("{reads} read-back(s): {verified} change(s) confirmed, {not_applied} not applied by "
                                "the server, {groups} group(s) lost other members")),
    (True, "kept"): TEXT.one(N_("{reads} read-back(s): {verified} change(s) confirmed, {not_applied} not applied by "
                                "the server, nobody else lost")),
}
UNREAD = TEXT.one(N_("{checked}; could not read back: {problems}"))
DEFECT_STOP = TEXT.one(N_("{n} item(s) not run because of a server defect. {summaries}"))
TOKEN_STOP = TEXT.one(N_("{error} {n} items left pending."))
COMPLETED = TEXT.one(N_("{done} done, {failed} failed, {skipped} skipped"))
AFTER_ACTION = TEXT.one(N_("after action {id}"))
DIRECTORY_UPDATED = TEXT.ngettext(
    "snapshot {snapshot}: {n} person and {groups} group(s) read again; {events} change(s) recorded",
    "snapshot {snapshot}: {n} people and {groups} group(s) read again; {events} change(s) recorded")
RETRIED = TEXT.one(N_("{n} failed item(s)"))
UNREADABLE_GROUP = TEXT.one(N_("the group could not be read again, so nothing was sent to restore it ({problem})"))


def _run(ctx: Context, conn: Connection, batch_id: int, operator: str, *, client: ScimClient, concurrency: int,
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
                inflight[pool.submit(apply_row, client, live, row, steps)] = row
            if not inflight and not checks:
                break
            finished, _waiting = wait([*inflight, *checks], timeout=5, return_when=FIRST_COMPLETED)
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
                                        note=NOT_RUN_TOKEN, changes=out.changes,
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
                                    note=NOT_RUN_INTERRUPTED, changes=[], http_status=None, error=None,
                                    remedy=None)
            elif fut.done() and fut.exception() is None:
                out = fut.result()
                journal.record_item(store, batch_id, row["seq"], state=out.state, outcome=out.outcome,
                                    note=out.note, changes=out.changes, http_status=out.http_status,
                                    error=out.error, remedy=out.remedy)
        journal.finish(store, batch_id, operator, state="stopped", event="interrupted",
                       detail=english(INTERRUPTED_DETAIL, problem=type(exc).__name__),
                       stop_reason=english(INTERRUPTED_REASON, problem=type(exc).__name__),
                       stop_remedy=INTERRUPTED_REMEDY)
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
        others = "lost" if run.collateral else "kept" if group_kind else ""
        detail = english(VERIFIED[(bool(run.not_applied), others)], reads=verifier.reads, verified=verifier.verified,
                         not_applied=run.not_applied, groups=len(run.collateral))
        if run.unverified:
            detail = english(UNREAD, checked=detail, problems="; ".join(run.unverified[:3])[:500])
        journal.add_event(store, batch_id, operator, "verified", detail)
    counts = journal.counts(store, batch_id)
    if defects:
        reason = english(DEFECT_STOP, summaries=" ".join(defects), n=counts["pending"])
        journal.finish(store, batch_id, operator, state="stopped", event="stopped", detail=reason[:1000],
                       stop_reason=reason, stop_remedy=DEFECT_REMEDY.format(id=batch_id))
    elif stop is not None:
        journal.finish(store, batch_id, operator, state="stopped", event="stopped",
                       detail=english(TOKEN_STOP, error=stop.error, n=counts["pending"]),
                       stop_reason=stop.error, stop_remedy=stop.remedy)
    else:
        journal.finish(store, batch_id, operator, state="completed",
                       detail=english(COMPLETED, done=counts["done"], failed=counts["failed"],
                                      skipped=counts["skipped"]))
    touched = {s["group_id"] for row in todo for s in json.loads(row["steps_json"] or "[]") if s.get("group_id")}
    update_directory(ctx, conn, client, verifier, live, batch_id, operator, touched)
    return batch_result(ctx, batch_id)


def update_directory(ctx: Context, conn: Connection, client: ScimClient, verifier: Verifier, live: LiveState, batch_id: int,
                     operator: str, group_ids: set[str]) -> None:
    """After a run, the latest snapshot gets the people and groups it touched as the server has them now
    (``console.directory.patch.patch_snapshot``), so every page shows the new state at once and the change is in the
    directory's history. What the run read anyway is reused: each person's last answer (the read-back of an
    ``active`` change, else the live check before the change), and each group's read-back when it was sent
    after the group's last write; only groups without such a read are fetched again (one GET each). Never
    fails the action: a problem is journaled (``directory_not_updated``) and the result says to refresh."""
    note = english(AFTER_ACTION, id=batch_id)
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
        with use_language("en"):  # its errors are journaled: the journal stores English
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
    detail = english(DIRECTORY_UPDATED, snapshot=snap.id, n=people, groups=len(groups) + len(gone_groups),
                     events=snap.event_count)
    journal.add_event(ctx.store, batch_id, operator, "directory_updated", detail)


def execute(ctx: Context, conn: Connection, plan: Plan, reason: str, operator: str, *, source: str = "api",
            concurrency: int = DEFAULT_CONCURRENCY, progress: Progress | None = None,
            client: ScimClient | None = None) -> BatchResult:
    """Journal ``plan`` (before anything is sent), then run it. Returns per-item results."""
    reason = validate_reason(reason)
    if plan.connection != conn.name:
        raise InvalidInput(_("This preview was made for connection “{made_for}”, not “{name}”.").format(
            made_for=plan.connection, name=conn.name), _("Make the preview again on the selected connection."))
    if plan.count == 0:
        raise InvalidInput(_("Nothing to change: all {n} listed people are skipped (see the preview for why).").format(
            n=len(plan.items)), _("Nothing was sent to 6clicks."))
    if not (1 <= int(concurrency) <= 64):
        raise InvalidInput(_("Concurrency must be between 1 and 64."), _("The default is {n}.").format(
            n=DEFAULT_CONCURRENCY))
    operator = (operator or "").strip() or "unknown"
    with _client_for(ctx, conn, client) as live_client:
        batch_id = journal.create_batch(ctx.store, plan, reason=reason, operator=operator, source=source,
                                        concurrency=int(concurrency))
        journal.claim(ctx.store, batch_id, operator, "started")
        return _run(ctx, conn, batch_id, operator, client=live_client, concurrency=int(concurrency),
                    progress=progress)


def resume(ctx: Context, conn: Connection, batch_id: int, operator: str, *, progress: Progress | None = None,
           client: ScimClient | None = None, concurrency: int | None = None) -> BatchResult:
    """Finish an interrupted or stopped batch: items in flight when it stopped are re-checked live."""
    check_connection(ctx, conn, batch_id)
    row = journal.batch_row(ctx.store, batch_id)
    if row["state"] == "completed":
        raise InvalidInput(_("Action {id} already completed.").format(id=batch_id),
                           _("Retry its failed items instead, if any."))
    with _client_for(ctx, conn, client) as live_client:
        row = journal.claim(ctx.store, batch_id, operator, "resumed")
        return _run(ctx, conn, batch_id, operator, client=live_client,
                    concurrency=int(concurrency or row["concurrency"] or DEFAULT_CONCURRENCY), progress=progress)


def retry_failed(ctx: Context, conn: Connection, batch_id: int, operator: str, *, seqs: list[int] | None = None,
                 progress: Progress | None = None, client: ScimClient | None = None) -> BatchResult:
    """Run the failed items of a batch again (all, or the ``seqs`` given); the others are left alone."""
    check_connection(ctx, conn, batch_id)
    failed = [r["seq"] for r in journal.items(ctx.store, batch_id, ("failed",))]
    chosen = [s for s in failed if seqs is None or s in set(seqs)]
    if not chosen:
        raise InvalidInput(_("Action {id} has no failed items to retry.").format(id=batch_id),
                           _("Nothing was sent to 6clicks."))
    with _client_for(ctx, conn, client) as live_client:
        row = journal.claim(ctx.store, batch_id, operator, "retried", english(RETRIED, n=len(chosen)))
        with ctx.store.transaction() as db:
            db.executemany("UPDATE op_items SET state='pending', updated_at=? WHERE batch_id=? AND seq=? AND "
                           "state='failed'", [(journal.iso(), int(batch_id), s) for s in chosen])
        return _run(ctx, conn, batch_id, operator, client=live_client,
                    concurrency=int(row["concurrency"] or DEFAULT_CONCURRENCY), progress=progress)
