"""Directory snapshots and change history.

``take_snapshot`` reads every user, then every group (with members), page by page through
``ScimClient.iter_user_pages`` / ``iter_group_pages``, and writes the pages as they arrive into three Parquet
files (zstd) in a staging folder: users in batches of 10,000 rows (one row group each, with the raw SCIM JSON of
each user), memberships in batches of 50,000. Only the Arrow columns the diff needs stay in memory, never the
directory as Python objects. When both listings are complete the folder becomes the snapshot
(``<data dir>/snapshots/<connection>/<id>/``) with a metadata row in SQLite, and the differences against the
previous snapshot are recorded as events in ``directory_events``:

============================  =========================================================================
kind                          meaning (``subject_type`` is user, group or role)
============================  =========================================================================
user_created                  a user id appeared
user_deactivated              ``active`` went true -> false
user_reactivated              ``active`` went false -> true
user_deleted                  a user id disappeared (hard delete)
user_changed                  one attribute changed (``attribute``, ``old_value`` -> ``new_value``)
group_created / role_created  a group appeared (role when ``conn.is_role(displayName)``)
group_renamed / role_renamed  displayName changed (old -> new)
group_deleted / role_deleted  a group disappeared
member_added / member_removed a user joined / left a group or role (``related_id`` = the user)
============================  =========================================================================

Membership removals implied by a deleted group or a deleted user are not recorded separately (the delete event
says it). The first snapshot of a connection is a baseline and records no events.

A listing pass that moved (totalResults changed, a record on two pages, the count not adding up) is read
again, up to three passes, and the first consistent pass is stored; one that comes back shorter than a steady
``totalResults`` twice, keeps moving, raised, or whose server lies about its paging (``scim_client.PagingError``)
stores nothing, and ``SnapshotError`` says why. The previous snapshot stays the latest.

Old snapshots are compacted (files deleted, metadata row kept for the directory-size chart); events are kept.
"""

from __future__ import annotations

import ctypes
import json
import re
import shutil
import sys
import time
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from hashlib import sha256
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from console.errors import ConsoleError, NotFoundError
from console.jsonio import compact_json

if TYPE_CHECKING:
    from console.connections import Connection
    from console.context import Context

USER_COLUMNS = ["id", "userName", "email", "givenName", "familyName", "displayName", "active", "externalId",
                "created", "lastModified"]
GROUP_COLUMNS = ["id", "displayName", "externalId", "kind", "member_count"]
MEMBERSHIP_COLUMNS = ["group_id", "user_id"]
#: attributes whose change is recorded as ``user_changed`` (``active`` has its own event kinds)
TRACKED_USER_ATTRIBUTES = ["userName", "email", "givenName", "familyName", "displayName", "externalId"]
EVENT_COLUMNS = ["kind", "subject_type", "subject_id", "subject_name", "attribute", "old_value", "new_value",
                 "related_id", "related_name"]
EVENT_KINDS = ("user_created", "user_deactivated", "user_reactivated", "user_deleted", "user_changed",
               "group_created", "group_renamed", "group_deleted", "role_created", "role_renamed",
               "role_deleted", "member_added", "member_removed")

#: compaction defaults: keep the files of the latest N snapshots, plus the last one of each day for D days
KEEP_LATEST = 10
KEEP_DAILY_DAYS = 30

Progress = Callable[[str, int, "int | None"], None]


class SnapshotError(ConsoleError):
    """The directory could not be read completely, so no snapshot was stored."""


@dataclass
class SnapshotFrames:
    """The three tables of a snapshot (what ``diff_frames`` compares)."""

    users: pd.DataFrame
    groups: pd.DataFrame
    memberships: pd.DataFrame


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

    def _read(self, name: str, columns: list[str]) -> pd.DataFrame:
        if self.path is None:
            raise NotFoundError(f"Snapshot {self.id} was compacted; only its counts are kept.",
                                "Use the latest snapshot, or take a new one.")
        try:
            return pq.read_table(self.path / f"{name}.parquet", columns=columns).to_pandas()
        except (OSError, pa.ArrowException) as exc:
            raise NotFoundError(f"The files of snapshot {self.id} cannot be read ({exc}).",
                                "Take a new snapshot (python -m console snapshot); the old one is unusable.") from None

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

    def raw_user(self, user_id: str) -> dict:
        """The user's SCIM resource as the server returned it."""
        if self.path is None:
            raise NotFoundError(f"Snapshot {self.id} was compacted; only its counts are kept.",
                                "Use the latest snapshot.")
        table = pq.read_table(self.path / "users.parquet", columns=["id", "raw"], filters=[("id", "=", user_id)])
        if table.num_rows == 0:
            raise NotFoundError(f"User {user_id} is not in snapshot {self.id}.", "Refresh the directory.")
        return json.loads(table.column("raw")[0].as_py())

    def raw_group(self, group_id: str) -> dict:
        if self.path is None:
            raise NotFoundError(f"Snapshot {self.id} was compacted.", "Use the latest snapshot.")
        table = pq.read_table(self.path / "groups.parquet", columns=["id", "raw"], filters=[("id", "=", group_id)])
        if table.num_rows == 0:
            raise NotFoundError(f"Group {group_id} is not in snapshot {self.id}.", "Refresh the directory.")
        return json.loads(table.column("raw")[0].as_py())


# --------------------------------------------------------------------------------------------- building frames

#: rows per Parquet row group / Arrow batch while a listing streams in
USER_BATCH = 10_000
MEMBERSHIP_BATCH = 50_000


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _schema(frame: pd.DataFrame, raw: bool) -> pa.Schema:
    """The Arrow schema of a normalised frame, with pandas' metadata (so the file reads back with the same
    dtypes), plus the raw JSON column."""
    schema = pa.Schema.from_pandas(frame, preserve_index=False)
    return schema.append(pa.field("raw", pa.string())) if raw else schema


def _empty_users() -> pd.DataFrame:
    df = _norm_users(pd.DataFrame({c: [] for c in USER_COLUMNS}))
    for col in ("created", "lastModified"):
        df[col] = df[col].astype("datetime64[us, UTC]")
    return df


class _RawColumn:
    """JSON documents packed into one buffer with offsets (an Arrow string column in the making): a resource
    costs its bytes, not a Python object each (orjson's bytes objects keep a 4 KB allocation however short)."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._offsets = array("i", [0])

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def append(self, document: bytes) -> None:
        self._data += document
        self._offsets.append(len(self._data))

    def take(self) -> pa.Array:
        """The documents as an Arrow string array; empties the column."""
        if len(self._data) >= 2**31:
            raise SnapshotError("A batch of raw SCIM resources is larger than 2 GB.",
                                "The server returns implausibly large resources; no snapshot was stored.")
        # the buffers are handed over, not copied: this column starts new ones
        arr = pa.Array.from_buffers(pa.string(), len(self), [None, pa.py_buffer(self._offsets),
                                                              pa.py_buffer(self._data)])
        self._data = bytearray()
        self._offsets = array("i", [0])
        return arr


class _Sink:
    """Rows in column lists, turned into Arrow batches every ``batch`` rows: each batch is written to ``path``
    (Parquet, zstd, one row group) with its raw JSON and kept in memory without it. With no ``path`` everything
    (raw included) stays in memory (``build_frames``)."""

    def __init__(self, schema: pa.Schema, path: Path | None, batch: int) -> None:
        self.schema = schema
        self.path = path
        self.batch = batch
        self._writer: pq.ParquetWriter | None = None
        self._kept: list[pa.RecordBatch] = []
        self._has_raw = "raw" in schema.names
        self._fields = [f for f in schema if f.name != "raw"]
        self._cols: list[list[Any]] = [[] for _ in self._fields]
        self._raw = _RawColumn()

    def _flush(self) -> None:
        if not self._cols[0]:
            return
        arrays = [pa.array(values, type=f.type) for values, f in zip(self._cols, self._fields, strict=True)]
        if self._has_raw:
            arrays.append(self._raw.take())
        self._cols = [[] for _ in self._fields]
        batch = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        if self.path is None:
            self._kept.append(batch)
            return
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        self._writer.write_batch(batch)
        if self._has_raw:
            batch = batch.drop_columns(["raw"])
        self._kept.append(batch)

    def finish(self) -> pa.Table:
        """The rows (without the raw JSON when it went to the file); closes the file."""
        self._flush()
        schema = self.schema
        if self.path is not None:
            if self._writer is None:  # no rows: still an (empty) file with the schema
                self._writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
            self._writer.close()
            self._writer = None
            if self._has_raw:
                schema = schema.remove(schema.get_field_index("raw"))
        return pa.Table.from_batches(self._kept, schema=schema)

    def discard(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)
        self._kept.clear()
        self._cols = [[] for _ in self._fields]
        self._raw = _RawColumn()


class _UserSink(_Sink):
    """``ScimUser``-like records (id, user_name, email, given_name, family_name, display_name, active,
    external_id, created, last_modified, raw) into the users table."""

    def __init__(self, path: Path | None = None, batch: int | None = None) -> None:
        super().__init__(_schema(_empty_users(), raw=True), path, batch or USER_BATCH)

    def add(self, users: Iterable[Any]) -> None:
        ids, names, emails, given, family, display, active, external, created, modified = self._cols
        raw = self._raw
        for u in users:
            ids.append(u.id)
            names.append(u.user_name)
            emails.append(u.email)
            given.append(u.given_name)
            family.append(u.family_name)
            display.append(u.display_name)
            active.append(bool(u.active))
            external.append(u.external_id)
            created.append(_utc(u.created))
            modified.append(_utc(u.last_modified))
            raw.append(compact_json(getattr(u, "raw", None) or {}) or b"{}")
        if len(ids) >= self.batch:
            self._flush()


class _MembershipSink(_Sink):
    def __init__(self, path: Path | None = None, batch: int | None = None) -> None:
        frame = pd.DataFrame({"group_id": pd.array([], dtype="string"), "user_id": pd.array([], dtype="string")})
        super().__init__(_schema(frame, raw=False), path, batch or MEMBERSHIP_BATCH)

    def add(self, group_id: str, member_ids: Iterable[str]) -> int:
        """The group's members, de-duplicated (order kept); returns how many."""
        gids, uids = self._cols
        before = len(uids)
        for m in dict.fromkeys(member_ids):
            gids.append(group_id)
            uids.append(m)
        added = len(uids) - before
        if len(uids) >= self.batch:
            self._flush()
        return added


class _GroupSink:
    """``ScimGroup``-like records into the groups table (kept in lists: one row per group) and their members
    into the memberships table (streamed in batches: the large part). A group whose ``member_ids`` is None
    (the server left members out) is remembered in ``missing`` for :meth:`set_members`."""

    def __init__(self, is_role: Callable[[str], bool], groups_path: Path | None = None,
                 members_path: Path | None = None) -> None:
        frame = _norm_groups(pd.DataFrame({c: [] for c in GROUP_COLUMNS}))
        self.schema = _schema(frame, raw=True)
        self.is_role = is_role
        self.groups_path = groups_path
        self.members = _MembershipSink(members_path)
        self.missing: list[str] = []
        self._fields = [f for f in self.schema if f.name != "raw"]
        self._rows: list[list[Any]] = [[] for _ in self._fields]
        self._raw = _RawColumn()
        self._index: dict[str, int] = {}

    def add(self, groups: Iterable[Any]) -> None:
        ids, names, external, kinds, counts = self._rows
        raw = self._raw
        for g in groups:
            name = g.display_name or ""
            self._index[g.id] = len(ids)
            ids.append(g.id)
            names.append(name)
            external.append(g.external_id)
            kinds.append("role" if self.is_role(name) else "group")
            resource = getattr(g, "raw", None) or {}
            raw.append(compact_json({k: v for k, v in resource.items() if k != "members"}) or b"{}")
            if g.member_ids is None:
                self.missing.append(g.id)
                counts.append(0)
            else:
                counts.append(self.members.add(g.id, g.member_ids))

    def set_members(self, group_id: str, member_ids: Iterable[str]) -> None:
        """Members fetched separately for a group the listing gave without them."""
        self._rows[4][self._index[group_id]] = self.members.add(group_id, member_ids)

    def finish(self) -> tuple[pa.Table, pa.Table]:
        """(groups table with raw JSON, memberships table without it when they went to files)."""
        arrays = [pa.array(values, type=f.type) for values, f in zip(self._rows, self._fields, strict=True)]
        groups = pa.Table.from_arrays([*arrays, self._raw.take()], schema=self.schema)
        if self.groups_path is not None:
            pq.write_table(groups, self.groups_path, compression="zstd")
        return groups, self.members.finish()

    def discard(self) -> None:
        self.members.discard()
        self._rows = [[] for _ in self._fields]
        self._raw = _RawColumn()
        self._index.clear()
        self.missing.clear()
        if self.groups_path is not None:
            self.groups_path.unlink(missing_ok=True)


def _frame(table: pa.Table, columns: list[str]) -> pd.DataFrame:
    return table.select(columns).to_pandas()


def build_frames(users: Iterable[Any], groups: Iterable[Any], is_role: Callable[[str], bool]
                 ) -> tuple[SnapshotFrames, list[str], list[str]]:
    """Turn ``ScimUser`` / ``ScimGroup`` objects into the snapshot tables. Returns the frames and the raw JSON
    of users and groups (aligned with the frames' rows). ``take_snapshot`` streams pages through the same
    column builders instead of holding every record."""
    user_sink = _UserSink()
    user_sink.add(users)
    group_sink = _GroupSink(is_role)
    group_sink.add(groups)
    for gid in group_sink.missing:
        group_sink.set_members(gid, [])
    users_table = user_sink.finish()
    groups_table, members_table = group_sink.finish()
    frames = SnapshotFrames(_norm_users(_frame(users_table, USER_COLUMNS)),
                            _norm_groups(_frame(groups_table, GROUP_COLUMNS)),
                            _frame(members_table, MEMBERSHIP_COLUMNS))
    return frames, users_table.column("raw").to_pylist(), groups_table.column("raw").to_pylist()


def _norm_users(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy(deep=False)  # copy-on-write: columns already of the right type are not copied
    for col in ("id", "userName", "email", "givenName", "familyName", "displayName", "externalId"):
        df[col] = df[col].astype("string")
    df["active"] = df["active"].astype("bool")
    for col in ("created", "lastModified"):
        df[col] = pd.to_datetime(df[col], utc=True)
    return df[USER_COLUMNS]


def _norm_groups(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy(deep=False)
    for col in ("id", "displayName", "externalId", "kind"):
        df[col] = df[col].astype("string")
    df["member_count"] = df["member_count"].astype("int64")
    return df[GROUP_COLUMNS]


# ------------------------------------------------------------------------------------------------------- diff

def _changed(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element-wise "differs" of two aligned columns; missing == missing."""
    a = a.reset_index(drop=True)
    b = b.reset_index(drop=True)
    a_na, b_na = a.isna().to_numpy(), b.isna().to_numpy()
    differs = (a.fillna("") != b.fillna("")).to_numpy(dtype=bool, na_value=True)
    return (differs & ~a_na & ~b_na) | (a_na != b_na)


def _column_changed(old: pd.Series, old_pos: np.ndarray, new: pd.Series, new_pos: np.ndarray) -> np.ndarray:
    """``_changed(old.iloc[old_pos], new.iloc[new_pos])`` in Arrow: no Python strings, no filled copies, and no
    copy at all when the positions are simply 0..n-1 (the server listed the users in the same order)."""
    try:
        a, b = pa.array(old), pa.array(new)  # zero-copy for the snapshot's Arrow-backed string columns
    except (pa.ArrowException, TypeError):
        return _changed(old.iloc[old_pos], new.iloc[new_pos])
    if not _identity(old_pos, len(a)):
        a = a.take(pa.array(old_pos))
    if not _identity(new_pos, len(b)):
        b = b.take(pa.array(new_pos))
    differs = pc.fill_null(pc.not_equal(a, b), False)  # both present and different
    nulls = pc.not_equal(pc.is_null(a), pc.is_null(b))  # present on one side only
    return pc.or_(differs, nulls).to_numpy(zero_copy_only=False)


def _identity(positions: np.ndarray, length: int) -> bool:
    return len(positions) == length and (length == 0 or (positions[0] == 0 and positions[-1] == length - 1
                                                          and bool((np.diff(positions) == 1).all())))


def _in_sorted(values: np.ndarray, universe_sorted: np.ndarray) -> np.ndarray:
    """``np.isin`` for int64 keys by binary search (numpy's hash-based isin is slow for large key ranges)."""
    if len(universe_sorted) == 0:
        return np.zeros(len(values), dtype=bool)
    idx = np.searchsorted(universe_sorted, values)
    idx[idx >= len(universe_sorted)] = len(universe_sorted) - 1
    return universe_sorted[idx] == values


def _isin(values: pd.Series, universe: pd.Series) -> np.ndarray:
    """``values.isin(universe)`` through factorised codes (fast for Arrow strings)."""
    codes, uniques = pd.factorize(pd.concat([values, universe], ignore_index=True))
    present = np.zeros(len(uniques) + 1, dtype=bool)
    present[codes[len(values):]] = True
    return present[codes[:len(values)]]


def _align(old_ids: pd.Series, new_ids: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Positions of ids only in old, only in new, and the matching (old, new) positions of ids in both
    (ordered by the new position)."""
    try:  # Arrow's hash lookup: no concatenated copy of both id columns, no Python strings
        old_arr, new_arr = pa.array(old_ids), pa.array(new_ids)
        unique = (pc.count_distinct(old_arr, mode="all").as_py() == len(old_arr)
                  and pc.count_distinct(new_arr, mode="all").as_py() == len(new_arr))
    except (pa.ArrowException, TypeError):
        unique = False
    if unique:
        where = pc.index_in(new_arr, value_set=old_arr)  # each new id's position in old, null if new
        found = pc.is_valid(where).to_numpy(zero_copy_only=False)
        both_new = np.flatnonzero(found)
        only_new = np.flatnonzero(~found)
        both_old = pc.fill_null(where, -1).to_numpy(zero_copy_only=False).astype(np.int64)[both_new]
        in_new = np.zeros(len(old_arr), dtype=bool)
        in_new[both_old] = True
        return np.flatnonzero(~in_new), only_new, both_old, both_new
    codes, _uniques = pd.factorize(pd.concat([old_ids, new_ids], ignore_index=True))
    n_old = len(old_ids)
    oc, nc = codes[:n_old], codes[n_old:]
    size = int(codes.max()) + 1 if len(codes) else 0
    pos_old = np.full(size, -1, dtype=np.int64)
    pos_new = np.full(size, -1, dtype=np.int64)
    pos_old[oc] = np.arange(n_old)
    pos_new[nc] = np.arange(len(new_ids))
    only_old = np.flatnonzero(pos_new[oc] < 0)
    only_new = np.flatnonzero(pos_old[nc] < 0)
    both_new = np.flatnonzero(pos_old[nc] >= 0)
    both_old = pos_old[nc[both_new]]
    return only_old, only_new, both_old, both_new


def _events(kind: Any, subject_type: Any, subject_id: Any, subject_name: Any = None, attribute: Any = None,
            old_value: Any = None, new_value: Any = None, related_id: Any = None,
            related_name: Any = None) -> pd.DataFrame:
    data = {"kind": kind, "subject_type": subject_type, "subject_id": subject_id, "subject_name": subject_name,
            "attribute": attribute, "old_value": old_value, "new_value": new_value, "related_id": related_id,
            "related_name": related_name}
    n = len(subject_id)
    for key, value in data.items():
        if not isinstance(value, (pd.Series, list)):
            data[key] = [value] * n
        elif isinstance(value, pd.Series):
            data[key] = value.astype(object).where(value.notna(), None).to_numpy()
    return pd.DataFrame(data, columns=EVENT_COLUMNS)


def diff_frames(prev: SnapshotFrames, cur: SnapshotFrames) -> pd.DataFrame:
    """The events that turn ``prev`` into ``cur`` (columns ``EVENT_COLUMNS``). Vectorised (factorised ids,
    numpy set operations, column-wise comparisons); Python only touches the changed rows."""
    pu = prev.users.reset_index(drop=True)
    parts = _user_events(pu, cur.users.reset_index(drop=True))
    parts += _group_events(prev.groups, prev.memberships, pu[["id", "userName"]], cur)
    return _event_frame(parts)


#: the users' columns the diff reads
DIFF_USER_COLUMNS = ["id", "userName", "active", *[c for c in TRACKED_USER_ATTRIBUTES if c != "userName"]]


def _user_events(pu: pd.DataFrame, cu: pd.DataFrame) -> list[pd.DataFrame]:
    parts: list[pd.DataFrame] = []
    only_old, only_new, both_old, both_new = _align(pu["id"], cu["id"])
    if len(only_new):
        created = cu.iloc[only_new]
        parts.append(_events("user_created", "user", created["id"], created["userName"],
                             new_value=created["active"].map(lambda a: "active" if a else "inactive")))
    if len(only_old):
        deleted = pu.iloc[only_old]
        parts.append(_events("user_deleted", "user", deleted["id"], deleted["userName"]))
    if len(both_new):
        # column by column: never a copy of the whole matched frames (100,000 users each)
        old_active = pu["active"].to_numpy(dtype=bool)[both_old]
        new_active = cu["active"].to_numpy(dtype=bool)[both_new]
        for kind, mask, before, after in (("user_deactivated", old_active & ~new_active, "true", "false"),
                                          ("user_reactivated", ~old_active & new_active, "false", "true")):
            if mask.any():
                rows = cu.iloc[both_new[mask]]
                parts.append(_events(kind, "user", rows["id"], rows["userName"], attribute="active",
                                     old_value=before, new_value=after))
        for attr in TRACKED_USER_ATTRIBUTES:
            mask = _column_changed(pu[attr], both_old, cu[attr], both_new)
            if mask.any():
                rows = cu.iloc[both_new[mask]]
                parts.append(_events("user_changed", "user", rows["id"], rows["userName"], attribute=attr,
                                     old_value=pu[attr].iloc[both_old[mask]], new_value=rows[attr]))
    return parts


def _group_events(prev_groups: pd.DataFrame, prev_memberships: pd.DataFrame, prev_user_names: pd.DataFrame,
                  cur: SnapshotFrames) -> list[pd.DataFrame]:
    """Group, role and membership events; ``prev_user_names`` (id, userName) names users who left."""
    parts: list[pd.DataFrame] = []
    pg, cg = prev_groups.reset_index(drop=True), cur.groups.reset_index(drop=True)
    cu = cur.users
    g_only_old, g_only_new, g_both_old, g_both_new = _align(pg["id"], cg["id"])
    if len(g_only_new):
        rows = cg.iloc[g_only_new]
        parts.append(_events(rows["kind"] + "_created", rows["kind"], rows["id"], rows["displayName"]))
    if len(g_only_old):
        rows = pg.iloc[g_only_old]
        parts.append(_events(rows["kind"] + "_deleted", rows["kind"], rows["id"], rows["displayName"]))
    if len(g_both_new):
        old, new = pg.iloc[g_both_old].reset_index(drop=True), cg.iloc[g_both_new].reset_index(drop=True)
        mask = _changed(old["displayName"], new["displayName"])
        if mask.any():
            rows = new[mask]
            parts.append(_events(rows["kind"] + "_renamed", rows["kind"], rows["id"], rows["displayName"],
                                 attribute="displayName", old_value=old.loc[mask, "displayName"],
                                 new_value=rows["displayName"]))

    pm, cm = prev_memberships.reset_index(drop=True), cur.memberships.reset_index(drop=True)
    g_codes, _ = pd.factorize(pd.concat([pm["group_id"], cm["group_id"]], ignore_index=True))
    u_codes, u_uniques = pd.factorize(pd.concat([pm["user_id"], cm["user_id"]], ignore_index=True))
    keys = g_codes.astype(np.int64) * (len(u_uniques) + 1) + u_codes.astype(np.int64)
    del g_codes, u_codes, u_uniques
    pk, ck = keys[:len(pm)], keys[len(pm):]
    added = cm[~_in_sorted(ck, np.sort(pk))]
    removed = pm[~_in_sorted(pk, np.sort(ck))]
    if len(removed):  # removals implied by a deleted group or user are said by that delete event
        removed = removed[_isin(removed["group_id"], cg["id"]) & _isin(removed["user_id"], cu["id"])]
    if len(added) or len(removed):
        g_names = pd.concat([pg[["id", "displayName", "kind"]], cg[["id", "displayName", "kind"]]]
                            ).drop_duplicates("id", keep="last").set_index("id")
        u_names = pd.concat([prev_user_names[["id", "userName"]], cu[["id", "userName"]]]).drop_duplicates(
            "id", keep="last").set_index("id")["userName"]
        for kind, rows in (("member_added", added), ("member_removed", removed)):
            if len(rows):
                gi = g_names.reindex(rows["group_id"].to_numpy())
                parts.append(_events(kind, pd.Series(gi["kind"].to_numpy()).fillna("group"), rows["group_id"],
                                     pd.Series(gi["displayName"].to_numpy()), related_id=rows["user_id"],
                                     related_name=pd.Series(u_names.reindex(rows["user_id"].to_numpy()).to_numpy())))
    return parts


def _event_frame(parts: list[pd.DataFrame]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in EVENT_COLUMNS})
    events = pd.concat(parts, ignore_index=True)
    return events.astype(object).where(events.notna(), None)


# ---------------------------------------------------------------------------------------------------- storage

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


def _read_lean(path: Path, columns: list[str]) -> pd.DataFrame:
    """Columns of a snapshot file, row group by row group on this thread (a lower peak than ``read_table``'s
    pre-buffered, multi-threaded read), with the dtypes the file's pandas metadata gives."""
    pf = pq.ParquetFile(path, pre_buffer=False)
    full = pf.schema_arrow
    schema = pa.schema([full.field(c) for c in columns], metadata=full.metadata)
    batches = pf.iter_batches(columns=columns, use_threads=False, batch_size=USER_BATCH)
    return pa.Table.from_batches(list(batches), schema=schema).to_pandas()


def _diff_against(previous: Snapshot | None, frames: SnapshotFrames) -> pd.DataFrame:
    """Events from ``previous`` to ``frames``; none for the first snapshot of a connection. The previous
    snapshot is read in two steps (users, then groups and memberships), not cached on the object, so that the
    diff never holds both of its large tables at once."""
    if previous is None or previous.path is None:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    try:
        prev_users = _read_lean(previous.path / "users.parquet", DIFF_USER_COLUMNS)
        parts = _user_events(prev_users, frames.users.reset_index(drop=True))
        names = prev_users[["id", "userName"]]
        del prev_users
        parts += _group_events(_read_lean(previous.path / "groups.parquet", GROUP_COLUMNS),
                               _read_lean(previous.path / "memberships.parquet", MEMBERSHIP_COLUMNS), names, frames)
    except (OSError, pa.ArrowException) as exc:
        raise NotFoundError(f"The files of snapshot {previous.id} cannot be read ({exc}).",
                            "Take a new snapshot (python -m console snapshot); the old one is unusable.") from None
    return _event_frame(parts)


def _staging(ctx: Context, conn_name: str) -> Path:
    folder = snapshot_root(ctx, conn_name) / f".staging-{time.time_ns()}"
    folder.mkdir(parents=True)
    return folder


def store_snapshot(ctx: Context, conn_name: str, frames: SnapshotFrames, user_raw: list[str] | None = None,
                   group_raw: list[str] | None = None, *, taken_at: datetime | None = None,
                   fetch_seconds: float | None = None, warnings: list[str] | None = None,
                   compact: bool = True) -> Snapshot:
    """Store complete frames as a new snapshot and record the events against the previous one (atomically:
    the files are moved into place only when the metadata and events are written)."""
    frames = SnapshotFrames(_norm_users(frames.users), _norm_groups(frames.groups),
                            frames.memberships[MEMBERSHIP_COLUMNS].astype("string"))
    user_raw = user_raw if user_raw is not None else ["{}"] * len(frames.users)
    group_raw = group_raw if group_raw is not None else ["{}"] * len(frames.groups)
    staging = _staging(ctx, conn_name)
    try:
        _write_frames(staging, frames, user_raw, group_raw)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return _commit(ctx, conn_name, staging, frames, taken_at=taken_at, fetch_seconds=fetch_seconds,
                   warnings=warnings, compact=compact)


class _Superseded(Exception):
    """Another snapshot was stored after the one a derived snapshot was built from (``patch_snapshot`` builds
    again from the newer one)."""


def _commit(ctx: Context, conn_name: str, staging: Path, frames: SnapshotFrames, *, taken_at: datetime | None,
            fetch_seconds: float | None, warnings: list[str] | None, compact: bool,
            base: Snapshot | None = None, note: str | None = None) -> Snapshot:
    """Diff ``frames`` against the latest snapshot, record the events and metadata, and move the files written
    in ``staging`` into place, in one transaction (``staging`` is removed if anything fails).

    With ``base`` (a snapshot derived by ``patch_snapshot`` from ``base``): the diff is against ``base``, and
    ``_Superseded`` is raised when another snapshot was stored since (the frames hold ``base``'s other rows, so
    a diff against a newer one would undo its changes); when nothing differs from ``base``, nothing is stored
    and ``base`` is returned."""
    taken_at = (taken_at or datetime.now(UTC)).astimezone(UTC)
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
                    raise _Superseded()
                events = _diff_against(newest, frames)
            cur = db.execute(
                "INSERT INTO snapshots (connection, taken_at, user_count, active_users, group_count, role_count,"
                " membership_count, event_count, fetch_seconds, files, warnings, based_on, listed_at, note)"
                " VALUES (?,?,?,?,?,?,?,?,?,NULL,?,?,?,?)",
                (conn_name, at, len(frames.users), int(frames.users["active"].sum()),
                 int((frames.groups["kind"] == "group").sum()), int((frames.groups["kind"] == "role").sum()),
                 len(frames.memberships), len(events), fetch_seconds, json.dumps(warnings or []),
                 base.id if base is not None else None, listed.astimezone(UTC).isoformat(), note))
            snap_id = int(cur.lastrowid)
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
        raise NotFoundError(f"There is no snapshot {snapshot_id} for connection {name!r}.",
                            "List them with directory_size() or take one with python -m console snapshot.")
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
    now = now or datetime.now(UTC)
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


# ----------------------------------------------------------------------------------------------------- events

def list_events(ctx: Context, conn: Connection | str, since: datetime | None = None,
                kinds: Iterable[str] | None = None, subject_id: str | None = None, limit: int | None = 1000,
                *, until: datetime | None = None, group_only: bool = False) -> pd.DataFrame:
    """Change events, newest first. ``subject_id`` matches the event's subject or its related user (so a
    user's history includes joining and leaving groups) unless ``group_only``. Columns: id, at (UTC),
    snapshot_id, kind, subject_type, subject_id, subject_name, attribute, old_value, new_value, related_id,
    related_name."""
    name = conn if isinstance(conn, str) else conn.name
    where, params = ["connection = ?"], [name]
    if since is not None:
        where.append("at >= ?")
        params.append(since.astimezone(UTC).isoformat())
    if until is not None:
        where.append("at < ?")
        params.append(until.astimezone(UTC).isoformat())
    kinds = list(kinds or [])
    if kinds:
        where.append(f"kind IN ({','.join('?' * len(kinds))})")
        params.extend(kinds)
    if subject_id is not None:
        if group_only:
            where.append("subject_id = ?")
            params.append(subject_id)
        else:
            where.append("(subject_id = ? OR related_id = ?)")
            params.extend([subject_id, subject_id])
    sql = ("SELECT id, at, snapshot_id, kind, subject_type, subject_id, subject_name, attribute, old_value,"
           f" new_value, related_id, related_name FROM directory_events WHERE {' AND '.join(where)}"
           " ORDER BY at DESC, id DESC")
    if limit:
        sql += f" LIMIT {int(limit)}"
    rows = ctx.store.query(sql, tuple(params))
    cols = ["id", "at", "snapshot_id", "kind", "subject_type", "subject_id", "subject_name", "attribute",
            "old_value", "new_value", "related_id", "related_name"]
    df = pd.DataFrame([tuple(r) for r in rows], columns=cols, dtype=object)
    df["at"] = pd.to_datetime(df["at"], utc=True, format="ISO8601")
    df["id"] = df["id"].astype("int64")
    df["snapshot_id"] = df["snapshot_id"].astype("int64")
    return df


def event_counts(ctx: Context, snapshot_id: int) -> dict[str, int]:
    """How many events of each kind a snapshot recorded."""
    rows = ctx.store.query("SELECT kind, COUNT(*) AS n FROM directory_events WHERE snapshot_id = ? GROUP BY kind",
                           (snapshot_id,))
    return {r["kind"]: int(r["n"]) for r in rows}


def purge_events(ctx: Context, conn: Connection | str, older_than: datetime) -> int:
    """Retention: delete change events older than ``older_than`` (events are otherwise kept forever).
    Returns how many were deleted."""
    name = conn if isinstance(conn, str) else conn.name
    with ctx.store.transaction() as db:
        cur = db.execute("DELETE FROM directory_events WHERE connection = ? AND at < ?",
                         (name, older_than.astimezone(UTC).isoformat()))
    return int(cur.rowcount)


def user_history(ctx: Context, conn: Connection | str, user_id: str, limit: int | None = 500) -> pd.DataFrame:
    """Everything recorded about one user: its own events and its group/role memberships."""
    return list_events(ctx, conn, subject_id=user_id, limit=limit)


def group_history(ctx: Context, conn: Connection | str, group_id: str, limit: int | None = 500) -> pd.DataFrame:
    """Everything recorded about one group or role: created/renamed/deleted and members added/removed."""
    return list_events(ctx, conn, subject_id=group_id, limit=limit, group_only=True)


#: the tracked attributes in words (events keep the SCIM names)
ATTRIBUTE_WORDS = {"userName": "user name", "email": "e-mail", "givenName": "given name", "familyName": "family name",
                   "displayName": "display name", "externalId": "external id (Entra object id)", "active": "active"}


def _quoted(value: Any) -> str:
    from console.text import as_text

    text = as_text(value)
    return f"“{text}”" if text is not None else "(empty)"


def describe_event(row: Any, *, about_person: bool = False) -> str:
    """One line in plain English for an event row (a dict or a namedtuple/Series): "bob@x.com removed from
    group Engineering", "ann@x.com: family name changed from “Lee” to “Lee-Smith”". With ``about_person`` the
    line is told from the person's own history, without their name: "Removed from group Engineering"."""
    get = row.get if hasattr(row, "get") else lambda k: getattr(row, k, None)
    kind, name = str(get("kind") or ""), get("subject_name") or get("subject_id")
    subject_type = str(get("subject_type") or "group")
    if kind == "user_changed":
        attribute = ATTRIBUTE_WORDS.get(str(get("attribute")), str(get("attribute")))
        change = f"{attribute} changed from {_quoted(get('old_value'))} to {_quoted(get('new_value'))}"
        return change[:1].upper() + change[1:] if about_person else f"{name}: {change}"
    if kind in ("member_added", "member_removed"):
        verb = "added to" if kind == "member_added" else "removed from"
        if about_person:
            return f"{verb.capitalize()} {subject_type} {name}"
        return f"{get('related_name') or get('related_id')} {verb} {subject_type} {name}"
    user_words = {"user_created": "created in 6clicks", "user_deactivated": "deactivated",
                  "user_reactivated": "reactivated", "user_deleted": "deleted from 6clicks"}
    if kind in user_words:
        words = user_words[kind]
        if kind == "user_created" and get("new_value") == "inactive":
            words += " (inactive)"
        return words[:1].upper() + words[1:] if about_person else f"{name} {words}"
    if kind.endswith("_renamed"):
        return f"{subject_type.capitalize()} renamed from {_quoted(get('old_value'))} to {_quoted(get('new_value'))}"
    if kind.endswith(("_created", "_deleted")):
        return f"{subject_type.capitalize()} {name} {'created' if kind.endswith('_created') else 'deleted'}"
    return f"{name}: {kind.replace('_', ' ')}"


# --------------------------------------------------------------------------------------------------- fetching

def _verdict(stream: Any, previous: Any, earlier_problem: str | None, what: str
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


def _read(open_stream: Callable[[], Any], sink: Any, what: str, passes: int) -> list[str]:
    """Stream listing passes into ``sink`` until one can be stored (at most ``passes``); returns its warnings.
    Raises SnapshotError when none could (the sink is emptied)."""
    previous = None
    problem: str | None = None
    for _ in range(max(1, passes)):
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
        f"The directory was not read consistently: {problem}.",
        "No snapshot was stored and the previous one is still shown; try again when provisioning is quiet "
        "(between Entra cycles).")


def _fetch(ctx: Context, conn: Connection, staging: Path, progress: Progress | None,
           passes: int) -> tuple[SnapshotFrames, list[str]]:
    """Read groups, then users, page by page into the snapshot's files in ``staging``; returns the frames
    (without the raw JSON, which is only in the files) and the listings' warnings."""
    from console.tokens.service import TokenService

    svc = TokenService(ctx)

    def report(phase: str) -> Callable[[int, int | None], None] | None:
        if progress is None:
            return None
        return lambda done, total: progress(phase, done, total)

    users = _UserSink(staging / "users.parquet")
    groups = _GroupSink(conn.is_role, staging / "groups.parquet", staging / "memberships.parquet")

    def read_users(client: Any) -> list[str]:
        return _read(lambda: client.iter_user_pages(progress=report("users")), users, "users", passes)

    def read_groups(client: Any) -> list[str]:
        warnings = _read(lambda: client.iter_group_pages(members=True, progress=report("groups")), groups,
                         "groups", passes)
        for gid in list(groups.missing):  # the server left members out: ask for each such group
            full = client.get_group(gid, members=True)
            if full.member_ids is None:
                raise SnapshotError("The server did not return the members of some groups.",
                                    "Check that the SCIM endpoint returns group members; no snapshot was stored.")
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
                    errors.append(f"reading {what} failed: {exc}")
                    break
    except BaseException:
        users.discard()
        groups.discard()
        raise
    if errors:
        users.discard()
        groups.discard()
        raise SnapshotError("The directory could not be read completely (" + "; ".join(errors) + ").",
                            "No snapshot was stored and the previous one is still shown; fix the cause and "
                            "refresh again.")
    users_table = users.finish()
    groups_table, members_table = groups.finish()
    frames = SnapshotFrames(_norm_users(_frame(users_table, USER_COLUMNS)),
                            _norm_groups(_frame(groups_table, GROUP_COLUMNS)),
                            _frame(members_table, MEMBERSHIP_COLUMNS))
    return frames, warnings


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
    staging = _staging(ctx, conn.name)
    try:
        frames, warnings = _fetch(ctx, conn, staging, progress, attempts)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _give_back_memory()
    return _commit(ctx, conn.name, staging, frames, taken_at=None, fetch_seconds=time.monotonic() - started,
                   warnings=warnings, compact=True)


# ------------------------------------------------------------------------------------------- derived snapshots

def _link(source: Path, target: Path) -> None:
    """``target`` as the same file as ``source`` (a hard link: snapshots never change once stored, and deleting
    one folder leaves the other's link), or a copy where links are not possible."""
    try:
        target.hardlink_to(source)
    except OSError:
        shutil.copy2(source, target)


def _without(source: Path, target: Path, column: str, drop: set[str], extra: pa.Table | None = None,
             also: tuple[str, set[str]] | None = None) -> None:
    """Copy the Parquet file ``source`` to ``target`` row group by row group (bounded memory), leaving out the
    rows whose ``column`` is in ``drop`` (or whose ``also[0]`` is in ``also[1]``), then append ``extra``."""
    pf = pq.ParquetFile(source, pre_buffer=False)
    schema = pf.schema_arrow

    def value_set(name: str, values: set[str]) -> pa.Array:
        return pa.array(sorted(values), type=schema.field(name).type)

    removed = value_set(column, drop)
    removed_also = value_set(also[0], also[1]) if also else None
    writer = pq.ParquetWriter(target, schema, compression="zstd")
    try:
        for batch in pf.iter_batches(batch_size=USER_BATCH, use_threads=False):
            keep = pc.invert(pc.is_in(batch.column(column), value_set=removed))
            if removed_also is not None and also is not None:
                keep = pc.and_(keep, pc.invert(pc.is_in(batch.column(also[0]), value_set=removed_also)))
            kept = batch.filter(keep)
            if kept.num_rows:
                writer.write_batch(kept)
        if extra is not None and extra.num_rows:
            writer.write_table(extra.select(schema.names).cast(schema))
    finally:
        writer.close()


def _patched_files(base: Snapshot, staging: Path, is_role: Callable[[str], bool], users: dict[str, Any],
                   groups: dict[str, Any], gone_users: set[str], gone_groups: set[str]) -> SnapshotFrames:
    """Write ``base``'s files into ``staging`` with the given users and groups replaced (or removed); files
    nothing touches are linked, not copied. Returns the new snapshot's frames (what the diff compares)."""
    assert base.path is not None
    src = base.path
    if users or gone_users:
        sink = _UserSink()
        sink.add(users.values())
        _without(src / "users.parquet", staging / "users.parquet", "id", set(users) | gone_users, sink.finish())
    else:
        _link(src / "users.parquet", staging / "users.parquet")
    if groups or gone_groups or gone_users:
        group_sink = _GroupSink(is_role)
        group_sink.add(groups.values())
        new_groups, new_members = group_sink.finish()
        replaced = set(groups) | gone_groups
        _without(src / "memberships.parquet", staging / "memberships.parquet", "group_id", replaced, new_members,
                 also=("user_id", gone_users) if gone_users else None)
        old = pq.read_table(src / "groups.parquet")  # one row per group, no members: small
        old = old.filter(pc.invert(pc.is_in(old.column("id"),
                                            value_set=pa.array(sorted(replaced), type=old.schema.field("id").type))))
        table = pa.concat_tables([old, new_groups.select(old.schema.names).cast(old.schema)])
        memberships = _read_lean(staging / "memberships.parquet", MEMBERSHIP_COLUMNS)
        if gone_users:  # people removed from the directory left every group: count the members again
            counts = memberships.groupby("group_id").size()
            member_count = pd.Series(table.column("id").to_pylist()).map(counts).fillna(0).astype("int64")
            table = table.set_column(table.schema.get_field_index("member_count"), "member_count",
                                     pa.array(member_count.to_numpy(), type=table.schema.field("member_count").type))
        pq.write_table(table, staging / "groups.parquet", compression="zstd")
        group_frame = _norm_groups(_frame(table, GROUP_COLUMNS))
    else:
        _link(src / "memberships.parquet", staging / "memberships.parquet")
        _link(src / "groups.parquet", staging / "groups.parquet")
        memberships = _read_lean(staging / "memberships.parquet", MEMBERSHIP_COLUMNS)
        group_frame = _norm_groups(_read_lean(staging / "groups.parquet", GROUP_COLUMNS))
    user_frame = _norm_users(_read_lean(staging / "users.parquet", USER_COLUMNS))
    return SnapshotFrames(user_frame, group_frame, memberships)


def patch_snapshot(ctx: Context, conn: Connection, *, users: Iterable[Any] = (), groups: Iterable[Any] = (),
                   deleted_users: Iterable[str] = (), deleted_groups: Iterable[str] = (), note: str | None = None,
                   attempts: int = 3) -> Snapshot | None:
    """A new snapshot derived from the latest one, with the given users and groups as just read from the server
    (``ScimUser`` / ``ScimGroup``-like, groups with their members) replacing theirs, and ``deleted_users`` /
    ``deleted_groups`` (ids the server answered 404 for) removed. Its changes against the latest snapshot are
    recorded as events exactly like a listing's (same diff), so a person's History and the change feed show them
    at once; ``taken_at`` is now, ``listed_at`` stays the time of the last full listing, ``based_on`` names the
    base and ``note`` says why (e.g. "after action 12").

    For the console's own changes: the operations re-read the people and groups they touched (their read-backs
    already did) and call this, so the pages show the new state without a refresh. It costs no listing: files
    nothing touched are linked, the others copied row group by row group without the replaced rows, then the
    usual diff (about 0.3 s for 100,000 users). Returns the new snapshot; the latest one when nothing differs
    (nothing is stored); None when there is no snapshot to derive from (the next refresh lists everything)."""
    new_users = {str(u.id): u for u in users if getattr(u, "id", None)}
    new_groups = {str(g.id): g for g in groups if getattr(g, "id", None) and g.member_ids is not None}
    gone_users = {str(i) for i in deleted_users} - set(new_users)
    gone_groups = {str(i) for i in deleted_groups} - set(new_groups)
    if not (new_users or new_groups or gone_users or gone_groups):
        return latest_snapshot(ctx, conn)
    for _ in range(max(1, attempts)):
        base = latest_snapshot(ctx, conn)
        if base is None or base.path is None:
            return None
        staging = _staging(ctx, conn.name)
        try:
            frames = _patched_files(base, staging, conn.is_role, new_users, new_groups, gone_users, gone_groups)
        except (OSError, pa.ArrowException) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise SnapshotError(f"The latest snapshot could not be updated with the people and groups read again "
                                f"({exc}).", "Refresh the directory to see the current state.") from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        try:
            return _commit(ctx, conn.name, staging, frames, taken_at=None, fetch_seconds=None,
                           warnings=base.warnings, compact=True, base=base, note=note)
        except _Superseded:
            continue  # a refresh stored a newer snapshot meanwhile: derive from that one
    raise SnapshotError("The directory kept changing while the snapshot was being updated after the change.",
                        "Refresh the directory to see the current state.")
