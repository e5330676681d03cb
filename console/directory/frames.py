"""The three tables of a snapshot (users, groups, memberships) and the column builders that make them.

``UserSink`` / ``GroupSink`` turn ``ScimUser`` / ``ScimGroup``-like records into Arrow batches as pages arrive:
with a path, each batch goes to a Parquet file (zstd, one row group, with the raw SCIM JSON of each resource)
and only the columns the diff needs stay in memory; without one, everything stays in memory (``build_frames``).
A leaf: it imports nothing of ours but the error types and the JSON encoder.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from console.errors import ConsoleError
from console.i18n import _
from console.jsonio import compact_json

USER_COLUMNS = ["id", "userName", "email", "givenName", "familyName", "displayName", "active", "externalId",
                "created", "lastModified"]
GROUP_COLUMNS = ["id", "displayName", "externalId", "kind", "member_count"]
MEMBERSHIP_COLUMNS = ["group_id", "user_id"]
#: attributes whose change is recorded as ``user_changed`` (``active`` has its own event kinds)

class SnapshotError(ConsoleError):
    """The directory could not be read completely, so no snapshot was stored."""


@dataclass
class SnapshotFrames:
    """The three tables of a snapshot (what ``diff_frames`` compares)."""

    users: pd.DataFrame
    groups: pd.DataFrame
    memberships: pd.DataFrame



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
    df = norm_users(pd.DataFrame({c: [] for c in USER_COLUMNS}))
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
            raise SnapshotError(_("A batch of raw SCIM resources is larger than 2 GB."),
                                _("The server returns implausibly large resources; no snapshot was stored."))
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


class UserSink(_Sink):
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


class GroupSink:
    """``ScimGroup``-like records into the groups table (kept in lists: one row per group) and their members
    into the memberships table (streamed in batches: the large part). A group whose ``member_ids`` is None
    (the server left members out) is remembered in ``missing`` for :meth:`set_members`."""

    def __init__(self, is_role: Callable[[str], bool], groups_path: Path | None = None,
                 members_path: Path | None = None) -> None:
        frame = norm_groups(pd.DataFrame({c: [] for c in GROUP_COLUMNS}))
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


def table_frame(table: pa.Table, columns: list[str]) -> pd.DataFrame:
    return table.select(columns).to_pandas()


def build_frames(users: Iterable[Any], groups: Iterable[Any], is_role: Callable[[str], bool]
                 ) -> tuple[SnapshotFrames, list[str], list[str]]:
    """Turn ``ScimUser`` / ``ScimGroup`` objects into the snapshot tables. Returns the frames and the raw JSON
    of users and groups (aligned with the frames' rows). ``take_snapshot`` streams pages through the same
    column builders instead of holding every record."""
    user_sink = UserSink()
    user_sink.add(users)
    group_sink = GroupSink(is_role)
    group_sink.add(groups)
    for gid in group_sink.missing:
        group_sink.set_members(gid, [])
    users_table = user_sink.finish()
    groups_table, members_table = group_sink.finish()
    frames = frames_of(users_table, groups_table, members_table)
    return frames, users_table.column("raw").to_pylist(), groups_table.column("raw").to_pylist()


def frames_of(users: pa.Table, groups: pa.Table, memberships: pa.Table) -> SnapshotFrames:
    """The snapshot's frames from the tables the sinks finished with (their raw JSON, if any, left out)."""
    return SnapshotFrames(norm_users(table_frame(users, USER_COLUMNS)), norm_groups(table_frame(groups, GROUP_COLUMNS)),
                          table_frame(memberships, MEMBERSHIP_COLUMNS))


def norm_users(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy(deep=False)  # copy-on-write: columns already of the right type are not copied
    for col in ("id", "userName", "email", "givenName", "familyName", "displayName", "externalId"):
        df[col] = df[col].astype("string")
    df["active"] = df["active"].astype("bool")
    for col in ("created", "lastModified"):
        df[col] = pd.to_datetime(df[col], utc=True)
    return df[USER_COLUMNS]


def norm_groups(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy(deep=False)
    for col in ("id", "displayName", "externalId", "kind"):
        df[col] = df[col].astype("string")
    df["member_count"] = df["member_count"].astype("int64")
    return df[GROUP_COLUMNS]
