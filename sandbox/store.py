"""SQLite storage of the sandbox: users, groups, memberships and API keys in ``<data-dir>/sandbox.db``.

Resources are stored as the JSON document the server answers with (``doc``), next to indexed columns for the
lookups Entra makes (lower-cased ``userName``, ``externalId``, lower-cased work e-mail, lower-cased group
``displayName``). Reads serve the stored JSON as it is; only the ``meta.location`` prefix is filled in per
request (the port changes between runs). Every write runs in one ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import bisect
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    user_name_lc TEXT NOT NULL UNIQUE,
    external_id TEXT,
    email_lc TEXT,
    display TEXT NOT NULL,
    active INTEGER NOT NULL,
    created TEXT NOT NULL,
    last_modified TEXT NOT NULL,
    doc BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS users_external_id ON users (external_id);
CREATE INDEX IF NOT EXISTS users_email_lc ON users (email_lc);
CREATE TABLE IF NOT EXISTS groups_ (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    display_name_lc TEXT NOT NULL UNIQUE,
    external_id TEXT,
    created TEXT NOT NULL,
    last_modified TEXT NOT NULL,
    doc BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS groups_external_id ON groups_ (external_id);
CREATE TABLE IF NOT EXISTS members (
    group_pk INTEGER NOT NULL REFERENCES groups_ (pk) ON DELETE CASCADE,
    user_pk INTEGER NOT NULL REFERENCES users (pk) ON DELETE CASCADE,
    display TEXT,
    PRIMARY KEY (group_pk, user_pk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS members_user ON members (user_pk);
CREATE TABLE IF NOT EXISTS api_keys (
    name TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    permissions TEXT NOT NULL,
    perm_version INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL
);
"""

LOCATION_PREFIX = b'"location":"/scim/'


def now_iso() -> str:
    """Current UTC time as SCIM ``dateTime`` (milliseconds, ``Z``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StoreConflict(Exception):
    """A uniqueness rule would be broken (answered as 409 uniqueness)."""


class StoreNotFound(Exception):
    """The resource does not exist (answered as 404)."""


@dataclass(slots=True)
class KeyRecord:
    name: str
    key_id: str
    permissions: list[str]
    perm_version: int
    created: str


def work_email(doc: dict[str, Any]) -> str | None:
    """The e-mail Entra matches on: the ``work`` one, else the primary one, else the first."""
    emails = doc.get("emails") or []
    if not isinstance(emails, list) or not emails:
        return None
    candidates = [e for e in emails if isinstance(e, dict) and e.get("value")]
    for pick in (
        lambda e: str(e.get("type", "")).lower() == "work",
        lambda e: e.get("primary") is True,
        lambda e: True,
    ):
        for e in candidates:
            if pick(e):
                return str(e["value"])
    return None


def user_display(doc: dict[str, Any]) -> str:
    return str(doc.get("displayName") or doc.get("userName") or "")


class Store:
    """The SCIM store. One connection, used from the server's event-loop thread (and a lock for safety)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA busy_timeout=10000")
        self._conn.execute("PRAGMA cache_size=-65536")
        self._lock = threading.RLock()
        self._user_count: int | None = None
        self._group_count: int | None = None
        # Positions of users in pk order, so that an unfiltered page is a keyset read (pk >= ?) instead of
        # an OFFSET that steps over every earlier row. Reloaded when another process commits (data_version).
        self._pks: list[int] | None = None
        self._data_version: int | None = None
        self._writes = 0
        self._conn.executescript(_DDL)
        if self.get_meta("schema_version") is None:
            self.set_meta("schema_version", str(SCHEMA_VERSION))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # ----------------------------------------------------------------- plumbing
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: everything inside commits together or not at all."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            self._writes += 1
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                self._user_count = self._group_count = None
                self._pks = None
                raise
            else:
                self._conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def get_meta(self, key: str) -> str | None:
        rows = self.query("SELECT v FROM meta WHERE k = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as c:
            c.execute("INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                      (key, value))

    # ----------------------------------------------------------------- counts
    def warm_positions(self) -> None:
        """Load the pk positions on a separate connection (background thread), then install them if nothing
        was written meanwhile, so the first unfiltered page does not pay for it on the event loop."""
        with self._lock:
            if self._pks is not None:
                return
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            writes = self._writes
        conn = sqlite3.connect(str(self.path))
        try:
            pks = [pk for (pk,) in conn.execute("SELECT pk FROM users ORDER BY pk")]
        finally:
            conn.close()
        with self._lock:
            now = self._conn.execute("PRAGMA data_version").fetchone()[0]
            if self._pks is None and now == version and self._writes == writes:
                self._pks, self._data_version, self._user_count = pks, version, len(pks)

    def _user_positions(self) -> list[int]:
        with self._lock:
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            if self._pks is None or version != self._data_version:
                self._pks = [pk for (pk,) in self._conn.execute("SELECT pk FROM users ORDER BY pk")]
                self._data_version = version
                self._user_count = len(self._pks)
            return self._pks

    def user_count(self) -> int:
        if self._pks is not None:
            return len(self._user_positions())
        if self._user_count is None:
            self._user_count = self.query("SELECT COUNT(*) FROM users")[0][0]
        return self._user_count

    def group_count(self) -> int:
        if self._group_count is None:
            self._group_count = self.query("SELECT COUNT(*) FROM groups_")[0][0]
        return self._group_count

    # ----------------------------------------------------------------- users
    @staticmethod
    def _user_row(doc: dict[str, Any]) -> tuple[Any, ...]:
        email = work_email(doc)
        return (
            doc["id"],
            str(doc["userName"]).lower(),
            doc.get("externalId"),
            email.lower() if email else None,
            user_display(doc),
            1 if doc.get("active", True) else 0,
            doc["meta"]["created"],
            doc["meta"]["lastModified"],
            orjson.dumps(doc),
        )

    @staticmethod
    def finish_user_doc(doc: dict[str, Any], *, user_id: str | None = None, created: str | None = None
                        ) -> dict[str, Any]:
        """Give a user document its id and meta (location relative, completed at read time)."""
        uid = user_id or doc.get("id") or str(uuid.uuid4())
        stamp = now_iso()
        doc["id"] = uid
        doc["meta"] = {"resourceType": "User", "created": created or stamp, "lastModified": stamp,
                       "location": f"/scim/Users/{uid}"}
        return doc

    def insert_users(self, docs: Iterable[dict[str, Any]]) -> None:
        """Bulk insert of finished user documents (seeding); one transaction."""
        try:
            with self.transaction() as c:
                c.executemany(
                    "INSERT INTO users (id, user_name_lc, external_id, email_lc, display, active, created,"
                    " last_modified, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (self._user_row(d) for d in docs),
                )
        except sqlite3.IntegrityError as exc:
            raise StoreConflict(str(exc)) from exc
        finally:
            self._user_count = None
            self._pks = None

    def create_user(self, doc: dict[str, Any]) -> dict[str, Any]:
        self.finish_user_doc(doc, user_id=str(uuid.uuid4()))
        try:
            with self.transaction() as c:
                cur = c.execute(
                    "INSERT INTO users (id, user_name_lc, external_id, email_lc, display, active, created,"
                    " last_modified, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    self._user_row(doc),
                )
                if self._pks is not None:
                    if self._pks and cur.lastrowid <= self._pks[-1]:
                        self._pks = None  # not appended in order: rebuild on next use
                    else:
                        self._pks.append(cur.lastrowid)
        except sqlite3.IntegrityError as exc:
            raise StoreConflict(f"A user with userName {doc['userName']!r} already exists.") from exc
        if self._user_count is not None:
            self._user_count += 1
        return doc

    def get_user_raw(self, user_id: str) -> bytes | None:
        rows = self.query("SELECT doc FROM users WHERE id = ?", (user_id,))
        return rows[0][0] if rows else None

    def get_user(self, user_id: str) -> dict[str, Any] | None:
        raw = self.get_user_raw(user_id)
        return orjson.loads(raw) if raw is not None else None

    def replace_user(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Store an updated user document (``id`` and ``meta.created`` kept)."""
        old = self.get_user(doc["id"])
        if old is None:
            raise StoreNotFound(doc["id"])
        self.finish_user_doc(doc, user_id=old["id"], created=old["meta"]["created"])
        row = self._user_row(doc)
        try:
            with self.transaction() as c:
                cur = c.execute(
                    "UPDATE users SET user_name_lc = ?, external_id = ?, email_lc = ?, display = ?, active = ?,"
                    " created = ?, last_modified = ?, doc = ? WHERE id = ?",
                    (*row[1:], doc["id"]),
                )
                if cur.rowcount == 0:
                    raise StoreNotFound(doc["id"])
        except sqlite3.IntegrityError as exc:
            raise StoreConflict(f"A user with userName {doc['userName']!r} already exists.") from exc
        return doc

    def delete_user(self, user_id: str) -> bool:
        with self.transaction() as c:
            rows = c.execute("SELECT pk FROM users WHERE id = ?", (user_id,)).fetchall()
            if not rows:
                return False
            c.execute("DELETE FROM users WHERE pk = ?", (rows[0][0],))
            if self._pks is not None:
                i = bisect.bisect_left(self._pks, rows[0][0])
                if i < len(self._pks) and self._pks[i] == rows[0][0]:
                    del self._pks[i]
                else:
                    self._pks = None
        if self._user_count is not None:
            self._user_count -= 1
        return True

    def list_users(self, where: str | None, params: Sequence[Any], start_index: int, count: int
                   ) -> tuple[int, list[bytes]]:
        """(totalResults, page of raw JSON documents) for 1-based ``start_index``."""
        offset = max(start_index, 1) - 1
        if where is None:
            with self._lock:
                positions = self._user_positions()
                total = len(positions)
                if count <= 0 or offset >= total:
                    return total, []
                rows = self._conn.execute("SELECT doc FROM users WHERE pk >= ? ORDER BY pk LIMIT ?",
                                          (positions[offset], count)).fetchall()
            return total, [r[0] for r in rows]
        total = self.query(f"SELECT COUNT(*) FROM users WHERE {where}", params)[0][0]
        if count <= 0 or offset >= total:
            return total, []
        rows = self.query(f"SELECT doc FROM users WHERE {where} ORDER BY pk LIMIT ? OFFSET ?",
                          (*params, count, offset))
        return total, [r[0] for r in rows]

    def user_pks(self, user_ids: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        ids = list(dict.fromkeys(user_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            out.update(self.query(f"SELECT id, pk FROM users WHERE id IN ({marks})", chunk))
        return out

    # ----------------------------------------------------------------- groups
    @staticmethod
    def finish_group_doc(doc: dict[str, Any], *, group_id: str | None = None, created: str | None = None
                         ) -> dict[str, Any]:
        gid = group_id or doc.get("id") or str(uuid.uuid4())
        stamp = now_iso()
        doc.pop("members", None)
        doc["id"] = gid
        doc["meta"] = {"resourceType": "Group", "created": created or stamp, "lastModified": stamp,
                       "location": f"/scim/Groups/{gid}"}
        return doc

    def insert_groups(self, docs: Iterable[tuple[dict[str, Any], list[int]]]) -> None:
        """Bulk insert of finished group documents with member user pks (seeding); one transaction."""
        try:
            with self.transaction() as c:
                for doc, member_pks in docs:
                    cur = c.execute(
                        "INSERT INTO groups_ (id, display_name_lc, external_id, created, last_modified, doc)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (doc["id"], doc["displayName"].lower(), doc.get("externalId"),
                         doc["meta"]["created"], doc["meta"]["lastModified"], orjson.dumps(doc)),
                    )
                    gpk = cur.lastrowid
                    c.executemany("INSERT OR IGNORE INTO members (group_pk, user_pk) VALUES (?, ?)",
                                  ((gpk, u) for u in member_pks))
        except sqlite3.IntegrityError as exc:
            raise StoreConflict(str(exc)) from exc
        finally:
            self._group_count = None

    @staticmethod
    def _add_members(c: sqlite3.Connection, gpk: int, pks: dict[str, int], displays: dict[str, str] | None
                     ) -> None:
        displays = displays or {}
        c.executemany(
            "INSERT INTO members (group_pk, user_pk, display) VALUES (?, ?, ?)"
            " ON CONFLICT (group_pk, user_pk) DO UPDATE SET display = COALESCE(excluded.display, display)",
            ((gpk, pk, displays.get(uid)) for uid, pk in pks.items()))

    def create_group(self, doc: dict[str, Any], member_ids: Sequence[str],
                     displays: dict[str, str] | None = None) -> dict[str, Any]:
        self.finish_group_doc(doc, group_id=str(uuid.uuid4()))
        try:
            with self.transaction() as c:
                pks = self._member_pks(member_ids)
                cur = c.execute(
                    "INSERT INTO groups_ (id, display_name_lc, external_id, created, last_modified, doc)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (doc["id"], str(doc["displayName"]).lower(), doc.get("externalId"),
                     doc["meta"]["created"], doc["meta"]["lastModified"], orjson.dumps(doc)),
                )
                self._add_members(c, cur.lastrowid, pks, displays)
        except sqlite3.IntegrityError as exc:
            raise StoreConflict(f"A group named {doc['displayName']!r} already exists.") from exc
        if self._group_count is not None:
            self._group_count += 1
        return doc

    def _member_pks(self, member_ids: Sequence[str]) -> dict[str, int]:
        found = self.user_pks(member_ids)
        missing = [m for m in member_ids if m not in found]
        if missing:
            raise StoreNotFound(missing[0])
        return {m: found[m] for m in dict.fromkeys(member_ids)}

    def group_row(self, group_id: str) -> tuple[int, dict[str, Any]] | None:
        rows = self.query("SELECT pk, doc FROM groups_ WHERE id = ?", (group_id,))
        return (rows[0][0], orjson.loads(rows[0][1])) if rows else None

    def update_group(self, group_id: str, doc: dict[str, Any] | None, add: Sequence[str] = (),
                     remove: Sequence[str] = (), replace_members: Sequence[str] | None = None,
                     displays: dict[str, str] | None = None) -> None:
        """Apply a group change atomically: new document (or None to keep it) and member changes.

        ``add`` must name existing users (StoreNotFound otherwise); ``remove`` ignores unknown ids.
        """
        row = self.group_row(group_id)
        if row is None:
            raise StoreNotFound(group_id)
        gpk, old = row
        new_doc = dict(doc if doc is not None else old)
        self.finish_group_doc(new_doc, group_id=group_id, created=old["meta"]["created"])
        try:
            with self.transaction() as c:
                if replace_members is not None:
                    pks = self._member_pks(replace_members)
                    c.execute("DELETE FROM members WHERE group_pk = ?", (gpk,))
                    self._add_members(c, gpk, pks, displays)
                if add:
                    self._add_members(c, gpk, self._member_pks(add), displays)
                if remove:
                    found = self.user_pks(remove)
                    c.executemany("DELETE FROM members WHERE group_pk = ? AND user_pk = ?",
                                  ((gpk, p) for p in found.values()))
                c.execute("UPDATE groups_ SET display_name_lc = ?, external_id = ?, last_modified = ?, doc = ?"
                          " WHERE pk = ?",
                          (str(new_doc["displayName"]).lower(), new_doc.get("externalId"),
                           new_doc["meta"]["lastModified"], orjson.dumps(new_doc), gpk))
        except sqlite3.IntegrityError as exc:
            raise StoreConflict(f"A group named {new_doc['displayName']!r} already exists.") from exc

    def delete_group(self, group_id: str) -> bool:
        with self.transaction() as c:
            cur = c.execute("DELETE FROM groups_ WHERE id = ?", (group_id,))
        if cur.rowcount and self._group_count is not None:
            self._group_count -= 1
        return cur.rowcount > 0

    def list_groups(self, where: str | None, params: Sequence[Any], start_index: int, count: int
                    ) -> tuple[int, list[tuple[int, bytes]]]:
        offset = max(start_index, 1) - 1
        if where is None:
            total = self.group_count()
            sql, args = "SELECT pk, doc FROM groups_ ORDER BY pk LIMIT ? OFFSET ?", (count, offset)
        else:
            total = self.query(f"SELECT COUNT(*) FROM groups_ WHERE {where}", params)[0][0]
            sql = f"SELECT pk, doc FROM groups_ WHERE {where} ORDER BY pk LIMIT ? OFFSET ?"
            args = (*params, count, offset)
        if count <= 0 or offset >= total:
            return total, []
        return total, [(r[0], r[1]) for r in self.query(sql, args)]

    def members_of(self, group_pks: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
        """group pk -> [(user id, display)] for the given groups."""
        out: dict[int, list[tuple[str, str]]] = {pk: [] for pk in group_pks}
        if not group_pks:
            return out
        marks = ",".join("?" * len(group_pks))
        for gpk, uid, display in self.query(
            f"SELECT m.group_pk, u.id, COALESCE(m.display, u.display) FROM members m JOIN users u ON u.pk = m.user_pk"
            f" WHERE m.group_pk IN ({marks}) ORDER BY m.group_pk, m.user_pk", list(group_pks)
        ):
            out[gpk].append((uid, display))
        return out

    # ----------------------------------------------------------------- API keys
    def put_key(self, name: str, key_hash: str, permissions: Sequence[str], *, replace: bool = False) -> None:
        try:
            with self.transaction() as c:
                if replace:
                    c.execute("DELETE FROM api_keys WHERE name = ? OR key_hash = ?", (name, key_hash))
                c.execute(
                    "INSERT INTO api_keys (name, key_id, key_hash, permissions, perm_version, created)"
                    " VALUES (?, ?, ?, ?, 0, ?)",
                    (name, uuid.uuid4().hex, key_hash, orjson.dumps(list(permissions)).decode(), now_iso()),
                )
        except sqlite3.IntegrityError as exc:
            raise StoreConflict(f"An API key named {name!r} (or with the same secret) already exists.") from exc

    def key_by_hash(self, key_hash: str) -> KeyRecord | None:
        rows = self.query("SELECT name, key_id, permissions, perm_version, created FROM api_keys"
                          " WHERE key_hash = ?", (key_hash,))
        return self._key(rows[0]) if rows else None

    def key_by_name(self, name: str) -> KeyRecord | None:
        rows = self.query("SELECT name, key_id, permissions, perm_version, created FROM api_keys"
                          " WHERE name = ?", (name,))
        return self._key(rows[0]) if rows else None

    @staticmethod
    def _key(row: tuple[Any, ...]) -> KeyRecord:
        return KeyRecord(name=row[0], key_id=row[1], permissions=orjson.loads(row[2]), perm_version=row[3],
                         created=row[4])

    def list_keys(self) -> list[KeyRecord]:
        return [self._key(r) for r in self.query(
            "SELECT name, key_id, permissions, perm_version, created FROM api_keys ORDER BY name")]

    def revoke_key(self, name: str) -> bool:
        with self.transaction() as c:
            return c.execute("DELETE FROM api_keys WHERE name = ?", (name,)).rowcount > 0

    def set_key_permissions(self, name: str, permissions: Sequence[str]) -> KeyRecord:
        """Replace a key's permissions; removing any invalidates the tokens issued before (perm_version)."""
        with self.transaction() as c:
            rows = c.execute("SELECT permissions FROM api_keys WHERE name = ?", (name,)).fetchall()
            if not rows:
                raise StoreNotFound(name)
            old = set(orjson.loads(rows[0][0]))
            bump = 1 if old - set(permissions) else 0
            c.execute("UPDATE api_keys SET permissions = ?, perm_version = perm_version + ? WHERE name = ?",
                      (orjson.dumps(list(permissions)).decode(), bump, name))
        rec = self.key_by_name(name)
        assert rec is not None
        return rec
