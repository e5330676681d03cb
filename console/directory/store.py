"""Where snapshots live: Parquet files under ``<data dir>/snapshots/<connection>/<id>/`` and a metadata row in
SQLite, the ``Snapshot`` record that loads them lazily, and the one commit that stores a snapshot with its events.

``commit`` diffs the new frames against the latest snapshot (``console.directory.diff``), writes the metadata and
events and moves the staged files into place in one transaction, so a snapshot is stored whole or not at all.
Old snapshots are compacted (files deleted, metadata row kept for the directory-size chart); events are kept.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from hashlib import sha256
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from console.connections import Connection
from console.context import Context
from console.directory.diff import DIFF_USER_COLUMNS, EVENT_COLUMNS, event_frame, group_events, user_events
from console.directory.frames import (
    GROUP_COLUMNS,
    MEMBERSHIP_COLUMNS,
    USER_BATCH,
    USER_COLUMNS,
    SnapshotFrames,
    norm_groups,
    norm_users,
)
from console.errors import NotFoundError
from console.i18n import _

#: compaction defaults: keep the files of the latest N snapshots, plus the last one of each day for D days
KEEP_LATEST = 10
KEEP_DAILY_DAYS = 30


@dataclass
class Snapshot:
    """One stored snapshot. The DataFrames load lazily from Parquet and are cached on the object, so a caller
    can cache by ``id`` (a snapshot never changes once stored)."""

    id: int
    connection: str
    taken_at: datetime
    user_count: int
    active_users: int
    group_count: int
    role_count: int
    membership_count: int
    event_count: int
    path: Path | None = field(repr=False, default=None)
    warnings: list[str] = field(default_factory=list)
    #: the snapshot this one was derived from by ``patch_snapshot`` (None: a full listing)
    based_on: int | None = None
    #: when the whole directory was last listed (``taken_at`` for a listing; the base's for a derived snapshot)
    listed_at: datetime | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if self.listed_at is None:
            self.listed_at = self.taken_at

    @property
    def derived(self) -> bool:
        """Whether this snapshot was derived from the previous one after a change (not a full listing)."""
        return self.based_on is not None

    def _file(self, name: str) -> Path:
        if self.path is None:
            raise NotFoundError(_("Snapshot {id} was compacted; only its counts are kept.").format(id=self.id),
                                _("Use the latest snapshot, or take a new one."))
        return self.path / f"{name}.parquet"

    @contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except (OSError, pa.ArrowException) as exc:
            raise NotFoundError(_("The files of snapshot {id} cannot be read ({problem}).").format(id=self.id, problem=exc),
                                _("Take a new snapshot (python -m console snapshot); the old one is unusable.")) from None

    def _read(self, name: str, columns: list[str]) -> pd.DataFrame:
        with self._reading():
            return pq.read_table(self._file(name), columns=columns).to_pandas()

    @cached_property
    def users(self) -> pd.DataFrame:
        return self._read("users", USER_COLUMNS)

    @cached_property
    def groups(self) -> pd.DataFrame:
        return self._read("groups", GROUP_COLUMNS)

    @cached_property
    def memberships(self) -> pd.DataFrame:
        return self._read("memberships", MEMBERSHIP_COLUMNS)

    def frames(self) -> SnapshotFrames:
        return SnapshotFrames(self.users, self.groups, self.memberships)

    def lean_frames(self, user_columns: list[str]) -> SnapshotFrames:
        """The frames read afresh and not cached, text as Arrow strings, the users' ``user_columns`` only: for a
        computation over the whole directory that does not keep them (reconciliation)."""
        with self._reading():
            return SnapshotFrames(read_lean(self._file("users"), user_columns, arrow_text=True),
                                  read_lean(self._file("groups"), GROUP_COLUMNS, arrow_text=True),
                                  read_lean(self._file("memberships"), MEMBERSHIP_COLUMNS, arrow_text=True))

    def raw_user(self, user_id: str) -> dict:
        """The user's SCIM resource as the server returned it."""
        with self._reading():
            table = pq.read_table(self._file("users"), columns=["id", "raw"], filters=[("id", "=", user_id)])
        if table.num_rows == 0:
            raise NotFoundError(_("User {user} is not in snapshot {id}.").format(user=user_id, id=self.id),
                                _("Refresh the directory."))
        return json.loads(table.column("raw")[0].as_py())

    def raw_group(self, group_id: str) -> dict:
        with self._reading():
            table = pq.read_table(self._file("groups"), columns=["id", "raw"], filters=[("id", "=", group_id)])
        if table.num_rows == 0:
            raise NotFoundError(_("Group {group} is not in snapshot {id}.").format(group=group_id, id=self.id),
                                _("Refresh the directory."))
        return json.loads(table.column("raw")[0].as_py())




def _slug(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[:40] or "connection"
    return f"{safe}-{sha256(name.encode()).hexdigest()[:8]}"


def snapshot_root(ctx: Context, conn_name: str) -> Path:
    return Path(ctx.data_dir) / "snapshots" / _slug(conn_name)


def _write_frames(folder: Path, frames: SnapshotFrames, user_raw: list[str], group_raw: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    users = pa.Table.from_pandas(frames.users, preserve_index=False).append_column(
        "raw", pa.array(user_raw, type=pa.string()))
    groups = pa.Table.from_pandas(frames.groups, preserve_index=False).append_column(
        "raw", pa.array(group_raw, type=pa.string()))
    memberships = pa.Table.from_pandas(frames.memberships, preserve_index=False)
    for name, table in (("users", users), ("groups", groups), ("memberships", memberships)):
        pq.write_table(table, folder / f"{name}.parquet", compression="zstd")


def _row_to_snapshot(ctx: Context, row: Any) -> Snapshot:
    keys = row.keys()
    listed = row["listed_at"] if "listed_at" in keys else None
    return Snapshot(
        id=row["id"], connection=row["connection"], taken_at=datetime.fromisoformat(row["taken_at"]),
        user_count=row["user_count"], active_users=row["active_users"], group_count=row["group_count"],
        role_count=row["role_count"], membership_count=row["membership_count"], event_count=row["event_count"],
        path=(Path(ctx.data_dir) / row["files"]) if row["files"] else None,
        warnings=json.loads(row["warnings"] or "[]"),
        based_on=row["based_on"] if "based_on" in keys else None,
        listed_at=datetime.fromisoformat(listed) if listed else None,
        note=row["note"] if "note" in keys else None)


def read_lean(path: Path, columns: list[str], *, arrow_text: bool = False) -> pd.DataFrame:
    """Columns of a snapshot file, row group by row group on this thread (a lower peak than ``read_table``'s
    pre-buffered, multi-threaded read), with the dtypes the file's pandas metadata gives; ``arrow_text``: text as
    Arrow strings instead (a third of Python strings' memory, and no conversion for Arrow computations)."""
    pf = pq.ParquetFile(path, pre_buffer=False)
    full = pf.schema_arrow
    schema = pa.schema([full.field(c) for c in columns], metadata=full.metadata)
    batches = pf.iter_batches(columns=columns, use_threads=False, batch_size=USER_BATCH)
    table = pa.Table.from_batches(list(batches), schema=schema)
    if arrow_text:
        return table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get)
    return table.to_pandas()


def _diff_against(previous: Snapshot | None, frames: SnapshotFrames) -> pd.DataFrame:
    """Events from ``previous`` to ``frames``; none for the first snapshot of a connection. The previous
    snapshot is read in two steps (users, then groups and memberships), not cached on the object, so that the
    diff never holds both of its large tables at once."""
    if previous is None or previous.path is None:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    try:
        prev_users = read_lean(previous.path / "users.parquet", DIFF_USER_COLUMNS)
        parts = user_events(prev_users, frames.users.reset_index(drop=True))
        names = prev_users[["id", "userName"]]
        del prev_users
        parts += group_events(read_lean(previous.path / "groups.parquet", GROUP_COLUMNS),
                               read_lean(previous.path / "memberships.parquet", MEMBERSHIP_COLUMNS), names, frames)
    except (OSError, pa.ArrowException) as exc:
        raise NotFoundError(_("The files of snapshot {id} cannot be read ({problem}).").format(id=previous.id, problem=exc),
                            _("Take a new snapshot (python -m console snapshot); the old one is unusable.")) from None
    return event_frame(parts)


def staging_folder(ctx: Context, conn_name: str) -> Path:
    folder = snapshot_root(ctx, conn_name) / f".staging-{time.time_ns()}"
    folder.mkdir(parents=True)
    return folder


def store_snapshot(ctx: Context, conn_name: str, frames: SnapshotFrames, user_raw: list[str] | None = None,
                   group_raw: list[str] | None = None, *, taken_at: datetime | None = None,
                   fetch_seconds: float | None = None, warnings: list[str] | None = None,
                   compact: bool = True) -> Snapshot:
    """Store complete frames as a new snapshot and record the events against the previous one (atomically:
    the files are moved into place only when the metadata and events are written)."""
    frames = SnapshotFrames(norm_users(frames.users), norm_groups(frames.groups),
                            frames.memberships[MEMBERSHIP_COLUMNS].astype("string"))
    user_raw = user_raw if user_raw is not None else ["{}"] * len(frames.users)
    group_raw = group_raw if group_raw is not None else ["{}"] * len(frames.groups)
    staging = staging_folder(ctx, conn_name)
    try:
        _write_frames(staging, frames, user_raw, group_raw)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return commit(ctx, conn_name, staging, frames, taken_at=taken_at, fetch_seconds=fetch_seconds,
                   warnings=warnings, compact=compact)


class Superseded(Exception):
    """Another snapshot was stored after the one a derived snapshot was built from (``patch_snapshot`` builds
    again from the newer one)."""


def commit(ctx: Context, conn_name: str, staging: Path, frames: SnapshotFrames, *, taken_at: datetime | None,
            fetch_seconds: float | None, warnings: list[str] | None, compact: bool,
            base: Snapshot | None = None, note: str | None = None) -> Snapshot:
    """Diff ``frames`` against the latest snapshot, record the events and metadata, and move the files written
    in ``staging`` into place, in one transaction (``staging`` is removed if anything fails).

    With ``base`` (a snapshot derived by ``patch_snapshot`` from ``base``): the diff is against ``base``, and
    ``Superseded`` is raised when another snapshot was stored since (the frames hold ``base``'s other rows, so
    a diff against a newer one would undo its changes); when nothing differs from ``base``, nothing is stored
    and ``base`` is returned."""
    taken_at = (taken_at or ctx.now()).astimezone(UTC)
    at = taken_at.isoformat()
    try:
        previous = base if base is not None else latest_snapshot(ctx, conn_name)
        events = _diff_against(previous, frames)
        if base is not None and not len(events):
            shutil.rmtree(staging, ignore_errors=True)
            return base
        listed = (base.listed_at or base.taken_at) if base is not None else taken_at
        root = snapshot_root(ctx, conn_name)
        with ctx.store.transaction() as db:
            # Another refresh (cron beside the dashboard) may have stored a snapshot since we diffed: under the
            # write lock, diff again against that one so that no change is recorded twice.
            newest = latest_snapshot(ctx, conn_name)
            if (newest.id if newest else None) != (previous.id if previous else None):
                if base is not None:
                    raise Superseded()
                events = _diff_against(newest, frames)
            cur = db.execute(
                "INSERT INTO snapshots (connection, taken_at, user_count, active_users, group_count, role_count,"
                " membership_count, event_count, fetch_seconds, files, warnings, based_on, listed_at, note)"
                " VALUES (?,?,?,?,?,?,?,?,?,NULL,?,?,?,?)",
                (conn_name, at, len(frames.users), int(frames.users["active"].sum()),
                 int((frames.groups["kind"] == "group").sum()), int((frames.groups["kind"] == "role").sum()),
                 len(frames.memberships), len(events), fetch_seconds, json.dumps(warnings or []),
                 base.id if base is not None else None, listed.astimezone(UTC).isoformat(), note))
            assert cur.lastrowid is not None  # an INSERT's row id
            snap_id = cur.lastrowid
            if len(events):
                db.executemany(
                    "INSERT INTO directory_events (connection, snapshot_id, at, kind, subject_type, subject_id,"
                    " subject_name, attribute, old_value, new_value, related_id, related_name)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    [(conn_name, snap_id, at, *row) for row in events.itertuples(index=False, name=None)])
            final = root / str(snap_id)
            if final.exists():
                shutil.rmtree(final)
            staging.rename(final)
            db.execute("UPDATE snapshots SET files = ? WHERE id = ?",
                       (str(final.relative_to(ctx.data_dir)), snap_id))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if compact:
        compact_snapshots(ctx, conn_name)
    snap = latest_snapshot(ctx, conn_name)
    assert snap is not None
    return snap


def latest_snapshot(ctx: Context, conn: Connection | str) -> Snapshot | None:
    """The newest snapshot of the connection (None before the first one)."""
    name = conn if isinstance(conn, str) else conn.name
    row = ctx.store.query_one(
        "SELECT * FROM snapshots WHERE connection = ? AND files IS NOT NULL ORDER BY id DESC LIMIT 1", (name,))
    return _row_to_snapshot(ctx, row) if row else None


def get_snapshot(ctx: Context, conn: Connection | str, snapshot_id: int) -> Snapshot:
    name = conn if isinstance(conn, str) else conn.name
    row = ctx.store.query_one("SELECT * FROM snapshots WHERE connection = ? AND id = ?", (name, snapshot_id))
    if row is None:
        raise NotFoundError(_("There is no snapshot {id} for connection {name}.").format(id=snapshot_id, name=repr(name)),
                            _("List them with directory_size() or take one with python -m console snapshot."))
    return _row_to_snapshot(ctx, row)


def directory_size(ctx: Context, conn: Connection | str) -> pd.DataFrame:
    """Counts of every snapshot ever taken (compacted ones included): taken_at (UTC), user_count, active_users,
    group_count, role_count, membership_count, event_count."""
    name = conn if isinstance(conn, str) else conn.name
    rows = ctx.store.query(
        "SELECT id, taken_at, user_count, active_users, group_count, role_count, membership_count, event_count"
        " FROM snapshots WHERE connection = ? ORDER BY taken_at", (name,))
    df = pd.DataFrame([dict(r) for r in rows], columns=["id", "taken_at", "user_count", "active_users",
                                                         "group_count", "role_count", "membership_count",
                                                         "event_count"])
    df["taken_at"] = pd.to_datetime(df["taken_at"], utc=True, format="ISO8601")
    return df


def compact_snapshots(ctx: Context, conn: Connection | str, *, keep_latest: int = KEEP_LATEST,
                      keep_daily_days: int = KEEP_DAILY_DAYS, now: datetime | None = None) -> int:
    """Delete the files of old snapshots, keeping the latest ``keep_latest`` and the last one of each UTC day
    for ``keep_daily_days`` days. Metadata rows and events stay. Returns how many were compacted."""
    name = conn if isinstance(conn, str) else conn.name
    now = now or ctx.now()
    rows = ctx.store.query("SELECT id, taken_at, files FROM snapshots WHERE connection = ? AND files IS NOT NULL"
                           " ORDER BY id DESC", (name,))
    keep: set[int] = {r["id"] for r in rows[:max(1, keep_latest)]}
    seen_days: set[str] = set()
    horizon = now - timedelta(days=keep_daily_days)
    for r in rows:  # newest first, so the first one seen per day is that day's last
        taken = datetime.fromisoformat(r["taken_at"])
        day = taken.date().isoformat()
        if taken >= horizon and day not in seen_days:
            seen_days.add(day)
            keep.add(r["id"])
    compacted = 0
    for r in rows:
        if r["id"] in keep:
            continue
        ctx.store.execute("UPDATE snapshots SET files = NULL WHERE id = ?", (r["id"],))
        shutil.rmtree(Path(ctx.data_dir) / r["files"], ignore_errors=True)
        compacted += 1
    return compacted
