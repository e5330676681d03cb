"""Taking a snapshot: reading the whole directory from the SCIM server and storing it.

``take_snapshot`` reads every group (with members), then every user, page by page through
``ScimClient.iter_group_pages`` / ``iter_user_pages``, and writes the pages as they arrive into three Parquet
files (zstd) in a staging folder: users in batches of 10,000 rows (one row group each, with the raw SCIM JSON of
each user), memberships in batches of 50,000. Only the Arrow columns the diff needs stay in memory, never the
directory as Python objects. When both listings are complete the folder becomes the snapshot
(``console.directory.store.commit``) and the differences against the previous snapshot are recorded as events.

A listing pass that moved (totalResults changed, a record on two pages, the count not adding up) is read
again, up to three passes, and the first consistent pass is stored; one that comes back shorter than a steady
``totalResults`` twice, keeps moving, raised, or whose server lies about its paging (``scim_client.PagingError``)
stores nothing, and ``SnapshotError`` says why. The previous snapshot stays the latest.
"""

from __future__ import annotations

import ctypes
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from console.connections import Connection
from console.context import Context
from console.directory.frames import GroupSink, SnapshotError, SnapshotFrames, UserSink, frames_of
from console.directory.store import Snapshot, commit, staging_folder
from console.errors import ConsoleError
from console.i18n import _
from console.tokens.service import TokenService
from scim_client import PageStream, ScimClient

Progress = Callable[[str, int, "int | None"], None]


def _verdict(stream: PageStream[Any], previous: PageStream[Any] | None, earlier_problem: str | None, what: str
             ) -> tuple[bool, str | None, bool, list[str]]:
    """Whether one listing pass can be stored: (accept, the problem if not, whether another pass would only
    repeat it, warnings). ``previous`` is the pass before (None for the first) and ``earlier_problem`` its
    problem."""
    warnings = list(getattr(stream, "warnings", []))
    reasons = stream.change_reasons
    if not reasons:
        if previous is not None:
            warnings.insert(0, f"The first reading of the {what} was not consistent ({earlier_problem}); they were "
                               "read again.")
        return True, None, False, warnings
    steady = (previous is not None and not stream.moved and not previous.moved
              and previous.total_results == stream.total_results and previous.count == stream.count)
    if steady:  # the server's count is simply wrong, the same way twice
        if stream.complete:
            warnings.insert(0, f"The server reported {stream.total_results} {what} but returned {stream.count} "
                               "(read twice, same result).")
            return True, None, False, warnings
        return False, (f"only {stream.count} of {stream.total_results} {what} came back (read twice, same "
                       "result)"), True, []
    if not stream.complete and not stream.moved:
        return False, f"only {stream.count} of {stream.total_results} {what} came back", False, []
    return False, f"the {what} changed while they were being read ({'; '.join(reasons)})", False, []


def _read(open_stream: Callable[[], PageStream[Any]], sink: UserSink | GroupSink, what: str, passes: int) -> list[str]:
    """Stream listing passes into ``sink`` until one can be stored (at most ``passes``); returns its warnings.
    Raises SnapshotError when none could (the sink is emptied)."""
    previous: PageStream[Any] | None = None
    problem: str | None = None
    for _pass in range(max(1, passes)):
        stream = open_stream()
        try:
            for page in stream:
                sink.add(page)
        except BaseException:
            sink.discard()
            raise
        ok, problem_now, settled, warnings = _verdict(stream, previous, problem, what)
        if ok:
            return warnings
        sink.discard()
        previous, problem = stream, problem_now
        if settled:
            break  # the same both times: another pass would say the same
    raise SnapshotError(
        _("The directory was not read consistently: {problem}.").format(problem=problem),
        _("No snapshot was stored and the previous one is still shown; try again when provisioning is quiet "
          "(between Entra cycles)."))


def _fetch(ctx: Context, conn: Connection, staging: Path, progress: Progress | None,
           passes: int) -> tuple[SnapshotFrames, list[str]]:
    """Read groups, then users, page by page into the snapshot's files in ``staging``; returns the frames
    (without the raw JSON, which is only in the files) and the listings' warnings."""
    svc = TokenService(ctx)

    def report(phase: str) -> Callable[[int, int | None], None] | None:
        if progress is None:
            return None
        return lambda done, total: progress(phase, done, total)

    users = UserSink(staging / "users.parquet")
    groups = GroupSink(conn.is_role, staging / "groups.parquet", staging / "memberships.parquet")

    def read_users(client: ScimClient) -> list[str]:
        return _read(lambda: client.iter_user_pages(progress=report("users")), users, "users", passes)

    def read_groups(client: ScimClient) -> list[str]:
        warnings = _read(lambda: client.iter_group_pages(members=True, progress=report("groups")), groups,
                         "groups", passes)
        for gid in list(groups.missing):  # the server left members out: ask for each such group
            full = client.get_group(gid, members=True)
            if full.member_ids is None:
                raise SnapshotError(_("The server did not return the members of some groups."),
                                    _("Check that the SCIM endpoint returns group members; no snapshot was stored."))
            groups.set_members(gid, full.member_ids)
        return warnings

    # Groups, then users: one listing at a time keeps the peak memory to the larger of the two, and a page of
    # big groups (tens of MB of parsed JSON) meets a clean heap rather than the users' leftovers; each listing
    # is itself concurrent. Users are announced first so that a progress bar does not reach 100 % on the
    # groups alone.
    errors: list[str] = []
    warnings: list[str] = []
    if progress is not None:
        progress("users", 0, None)
    try:
        with svc.scim_client(conn.name) as client:
            for what, read in (("groups", read_groups), ("users", read_users)):
                try:
                    warnings += read(client)
                    _give_back_memory()
                except ConsoleError:
                    raise
                except Exception as exc:  # scim_client errors carry their own remedy in str()
                    errors.append((_("reading users failed: {problem}") if what == "users"
                                   else _("reading groups failed: {problem}")).format(problem=exc))
                    break
    except BaseException:
        users.discard()
        groups.discard()
        raise
    if errors:
        users.discard()
        groups.discard()
        raise SnapshotError(_("The directory could not be read completely ({problems}).").format(
            problems="; ".join(errors)),
                            _("No snapshot was stored and the previous one is still shown; fix the cause and refresh "
                              "again."))
    users_table = users.finish()
    groups_table, members_table = groups.finish()
    return frames_of(users_table, groups_table, members_table), warnings


def _give_back_memory() -> None:
    """Return memory freed by a listing to the operating system before the diff needs new memory: Arrow's
    allocator keeps freed pages, and so does glibc's malloc for the listing's threads (``malloc_trim``, as
    long-running Python services such as Dask workers do)."""
    pa.default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        try:
            trim = getattr(ctypes.CDLL(None), "malloc_trim", None)  # glibc only; musl has none
        except OSError:
            return
        if trim is not None:
            trim(0)


def take_snapshot(ctx: Context, conn: Connection, progress: Progress | None = None, *,
                  attempts: int = 3) -> Snapshot:
    """Read the whole directory and store it as a snapshot (see the module docstring). ``progress(phase,
    done, total)`` is called from worker threads with phase ``users`` or ``groups``. Pages are written to the
    snapshot's files as they arrive (the whole directory is never held as Python objects). Each listing is
    read up to ``attempts`` times until one pass is consistent; raises ``SnapshotError`` (nothing stored)
    when none is, or when a listing fails."""
    started = time.monotonic()
    staging = staging_folder(ctx, conn.name)
    try:
        frames, warnings = _fetch(ctx, conn, staging, progress, attempts)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _give_back_memory()
    return commit(ctx, conn.name, staging, frames, taken_at=None, fetch_seconds=time.monotonic() - started,
                   warnings=warnings, compact=True)
