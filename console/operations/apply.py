"""Applying one item of a batch: live re-check (idempotent), the writes, and an outcome with a remedy.

Transient failures (429, 502-504, dropped connections) are retried by the client under its ``RetryPolicy``
(``scim_client.retry``); nothing here retries on top of it. What is left when the client gives up fails the item,
with the HTTP attempts the client really made (``ScimError.attempts``) and, for a 403, the permission the error
carries (``PermissionDenied.permission``).
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field
from typing import Any

import scim_client as sc
from console.errors import TokenError
from console.i18n import N_
from console.operations import journal
from console.operations.model import ALREADY_ACTIVE, ALREADY_INACTIVE, step_text
from console.operations.verify import NOT_APPLIED, NOT_APPLIED_REMEDY, Verifier
from console.operations.wording import LIST_SEPARATOR, TEXT, english
from scim_client import NotFound, PermissionDenied, ScimClient, ScimError, ScimUser, count_attempts

# Item results as the journal stores them (English; ``wording.shown`` translates them where they are read).
AUTH_REMEDY = TEXT.one(N_("Renew or replace the token on the Connection & token page (or `python -m console token "
                          "generate`), then resume this action: the items not yet sent are still pending."))
AUTH_ERROR = TEXT.one(N_("6clicks rejected the token (401): the batch was stopped."))
FORBIDDEN = TEXT.one(N_("6clicks refused to {step} (403): the API key's user lacks the “{perm}” permission."))
FORBIDDEN_PROBABLY = TEXT.one(N_("6clicks refused to {step} (403): the API key's user lacks the “{perm}” permission "
                                 "(probably)."))
FORBIDDEN_REMEDY = TEXT.one(N_("In 6clicks, grant the integration user the “{perm}” permission, then retry the failed "
                               "items."))
GROUP_GONE = TEXT.one(N_("The group or role “{name}” no longer exists in 6clicks (deleted meanwhile)."))
GROUP_GONE_REMEDY = TEXT.one(N_("Refresh the directory and choose an existing group; nothing was changed for this "
                                "person."))
USER_GONE = TEXT.one(N_("The user no longer exists in 6clicks (deleted after the preview)."))
USER_GONE_REMEDY = TEXT.one(N_("Nothing to do for this person; refresh the directory to drop them from lists."))
CONFLICT = TEXT.one(N_("6clicks reported a conflict (409): {message}"))
CONFLICT_REMEDY = TEXT.one(N_("Refresh the directory, check this person in 6clicks, then retry the item."))
#: the server busy or away: (kind, tried more than once)
BUSY = {
    ("429", False): TEXT.one(N_("6clicks kept answering “too many requests” (429).")),
    ("429", True): TEXT.one(N_("6clicks kept answering “too many requests” (429) after {n} attempts.")),
    ("down", False): TEXT.one(N_("6clicks could not be reached.")),
    ("down", True): TEXT.one(N_("6clicks could not be reached after {n} attempts.")),
    ("5xx", False): TEXT.one(N_("6clicks answered with a server error ({status}).")),
    ("5xx", True): TEXT.one(N_("6clicks answered with a server error ({status}) after {n} attempts.")),
}
BUSY_REMEDY = TEXT.one(N_("Retry the failed items in a few minutes (they are idempotent)."))
CHECK_REMEDY = TEXT.one(N_("Check this person in 6clicks, then retry the item."))
UNEXPECTED = TEXT.one(N_("Unexpected error: {problem}"))
UNEXPECTED_REMEDY = TEXT.one(N_("Retry the item; if it keeps failing, report this message."))
IN_BOTH = TEXT.one(N_("in both {added} and {removed}: the remove failed; retry to finish the move"))
REST_FAILED = TEXT.one(N_("{steps} done, the rest failed; retry to finish"))
ALREADY_IN = TEXT.one(N_("already in {group}"))
ALREADY_NOT_IN = TEXT.one(N_("already not in {group}"))
ALREADY_DONE = TEXT.one(N_("already done"))
ALREADY_DONE_AS = TEXT.one(N_("already done: {notes}"))
DONE_WHEN_RESUMED = TEXT.one(N_("already done when resumed (most likely by the interrupted run; kept in the undo "
                                "recipe)"))
STILL_IN_ANSWER = {True: TEXT.one(N_("the user is still active in its answer")),
                   False: TEXT.one(N_("the user is still inactive in its answer"))}


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

    def __init__(self, client: ScimClient, verifier: Verifier | None = None) -> None:
        self.client = client
        self.verifier = verifier if verifier is not None else Verifier(client)
        self._members: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        self._group_locks: dict[str, threading.Lock] = {}
        self.gone_users: set[str] = set()   # users the server answered 404 for (deleted since the preview)

    def get_user(self, user_id: str) -> ScimUser:
        """The user as the server has it now (remembered for the directory view after the run)."""
        sent = self.verifier.stamp()
        try:
            user = self.client.get_user(user_id)
        except NotFound:
            with self._lock:
                self.gone_users.add(user_id)
            raise
        self.verifier.saw_user(user, sent)
        return user

    def set_active(self, user_id: str, active: bool) -> ScimUser:
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

    def is_member(self, group_id: str, user: ScimUser, name: str | None = None) -> bool:
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

    status = getattr(exc, "status", None)
    attempts = exc.attempts if isinstance(exc, ScimError) else 0  # HTTP attempts under the client's retry policy
    extra = max(0, attempts - 1)
    if isinstance(exc, sc.AuthenticationError | sc.TokenExchangeError | TokenError):
        return Outcome("failed", "unauthorized", http_status=401, error=AUTH_ERROR,
                       remedy=AUTH_REMEDY, stop=True, client_attempts=extra)
    if isinstance(exc, PermissionDenied):
        # the permission the server named, else the one the failing call needs (scim_client's one mapping)
        perm = exc.permission or "Integrations"
        return Outcome("failed", "forbidden", http_status=403,
                       error=english(FORBIDDEN if exc.named else FORBIDDEN_PROBABLY, perm=perm,
                                     step=step_text(step or {"op": "set_active", "value": False})),
                       remedy=english(FORBIDDEN_REMEDY, perm=perm), client_attempts=extra)
    if isinstance(exc, sc.NotFound):
        if subject == "group":
            name = (step or {}).get("group_name") or (step or {}).get("group_id")
            return Outcome("failed", "not_found", http_status=404,
                           error=english(GROUP_GONE, name=name), remedy=GROUP_GONE_REMEDY, client_attempts=extra)
        return Outcome("failed", "not_found", http_status=404, error=USER_GONE, remedy=USER_GONE_REMEDY,
                       client_attempts=extra)
    if isinstance(exc, sc.Conflict):
        return Outcome("failed", "conflict", http_status=409,
                       error=english(CONFLICT, message=getattr(exc, "message", str(exc))),
                       remedy=CONFLICT_REMEDY, client_attempts=extra)
    if isinstance(exc, sc.RateLimited | sc.ServerError | sc.ConnectionFailed):
        what = "429" if isinstance(exc, sc.RateLimited) else "down" if isinstance(exc, sc.ConnectionFailed) else "5xx"
        return Outcome("failed", "busy", http_status=status,
                       error=english(BUSY[(what, attempts > 1)], n=attempts, status=status or "5xx"),
                       remedy=BUSY_REMEDY, client_attempts=extra)
    if isinstance(exc, sc.ScimError):
        return Outcome("failed", "error", http_status=status, error=getattr(exc, "message", str(exc)),
                       remedy=getattr(exc, "remedy", None) or CHECK_REMEDY, client_attempts=extra)
    return Outcome("failed", "error", error=english(UNEXPECTED, problem=f"{type(exc).__name__}: {exc}"),
                   remedy=UNEXPECTED_REMEDY)


# Transient failures (429, 502-504, dropped connections) are retried by the client under its RetryPolicy; what
# is left when it gives up fails the item (retryable alone, later). A 409 may come from a concurrent change: the
# item is checked live once more (a person someone else just changed ends as "already done").
CONFLICT_RECHECKS = 1


def apply_item(client: ScimClient, live: LiveState, user_id: str, steps: list[dict[str, Any]], seq: int = 0) -> Outcome:
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
            out.note = english(IN_BOTH, added=added.get("group_name"), removed=failed_step.get("group_name"))
        else:
            out.note = english(REST_FAILED, steps=LIST_SEPARATOR.join(step_text(c) for c in changes))
    return out


def apply_steps(client: ScimClient, live: LiveState, user_id: str, steps: list[dict[str, Any]], seq: int = 0) -> Outcome:
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
                    notes.append(ALREADY_ACTIVE if want else ALREADY_INACTIVE)
                    continue
                user = live.set_active(user_id, want)
                if bool(user.active) != want:
                    return Outcome("failed", "not_applied",
                                   error=not_applied_error(STILL_IN_ANSWER[bool(user.active)]),
                                   remedy=NOT_APPLIED_REMEDY, changes=changes)
                changes.append(dict(step))
                verifier.active_done(user_id, seq, want, dict(step))
            else:
                subject = "group"
                gid = step["group_id"]
                member = live.is_member(gid, user, step.get("group_name"))
                adding = step["op"] == "add"
                if member == adding:
                    notes.append(english(ALREADY_IN if adding else ALREADY_NOT_IN, group=step.get("group_name") or gid))
                    continue
                verifier.begin(gid, user_id, step["op"], seq)
                try:
                    sent = (client.add_members if adding else client.remove_members)(gid, [user_id])
                except BaseException:
                    verifier.failed(gid, user_id)
                    raise
                verifier.done(gid, user_id, sent)
                live.changed(gid, user_id, adding)
                changes.append(dict(step))
        except Exception as exc:
            out = classify(exc, step, subject)
            out.changes = changes
            out.client_attempts += extra_attempts
            return out
    return Outcome("done", "changed" if changes else "already",
                   note=None if changes else english(ALREADY_DONE_AS, notes=LIST_SEPARATOR.join(notes)) if notes
                   else ALREADY_DONE,
                   changes=changes, client_attempts=extra_attempts)


def apply_row(client: ScimClient, live: LiveState, row: sqlite3.Row, steps: list[dict[str, Any]]) -> Outcome:
    out = apply_item(client, live, row["user_id"], steps, seq=int(row["seq"]))
    if row["state"] == "running" and out.state == "done" and out.outcome == "already" and not row["changes_json"] \
            .strip("[] "):
        # In flight when its process died: the change was sent but not recorded. The preview said it needed
        # changing and it is now done, so it was almost certainly this action: keep it in the undo recipe.
        out.outcome = "changed"
        out.changes = [dict(s) for s in steps]
        out.note = DONE_WHEN_RESUMED
    return out


def not_applied_error(detail: str) -> str:
    return english(NOT_APPLIED, detail=detail)
