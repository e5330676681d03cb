"""The simulator's own SQLite database (``<data-dir>/entra.db``, WAL).

It holds the simulated Entra tenant (source users, groups, memberships), what the provisioning service believes
it has exported (links to target ids, exported values, escrows, staged deletes), the job state and the
provisioning logs. No secret is ever written here: the SecretToken lives in memory only, the Graph client
secret only as a SHA-256 hash.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS src_users (
    object_id TEXT PRIMARY KEY,
    upn TEXT NOT NULL,
    mail TEXT,
    given_name TEXT,
    surname TEXT,
    display_name TEXT NOT NULL,
    department TEXT,
    assigned INTEGER NOT NULL DEFAULT 1,
    in_scope INTEGER NOT NULL DEFAULT 1,
    soft_deleted INTEGER NOT NULL DEFAULT 0,
    soft_deleted_at TEXT,
    hard_deleted INTEGER NOT NULL DEFAULT 0,
    dirty INTEGER NOT NULL DEFAULT 1,
    note TEXT
);
CREATE INDEX IF NOT EXISTS src_users_dirty ON src_users(dirty) WHERE dirty = 1;
CREATE INDEX IF NOT EXISTS src_users_upn ON src_users(lower(upn));
CREATE INDEX IF NOT EXISTS src_users_note ON src_users(note) WHERE note IS NOT NULL;
CREATE INDEX IF NOT EXISTS src_users_soft ON src_users(soft_deleted_at) WHERE soft_deleted = 1 AND hard_deleted = 0;
CREATE TABLE IF NOT EXISTS src_groups (
    object_id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    assigned INTEGER NOT NULL DEFAULT 1,
    deleted INTEGER NOT NULL DEFAULT 0,
    dirty INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS src_groups_dirty ON src_groups(dirty) WHERE dirty = 1;
CREATE TABLE IF NOT EXISTS src_members (
    group_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX IF NOT EXISTS src_members_user ON src_members(user_id);
CREATE TABLE IF NOT EXISTS links (
    object_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    exported TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS links_target ON links(target_id);
CREATE TABLE IF NOT EXISTS exported_members (
    group_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX IF NOT EXISTS exported_members_user ON exported_members(user_id);
CREATE TABLE IF NOT EXISTS escrows (
    object_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    failures INTEGER NOT NULL,
    next_cycle INTEGER NOT NULL,
    error_code TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS staged_deletes (
    object_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    staged_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS logs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    activity TEXT NOT NULL,
    status TEXT NOT NULL,
    action TEXT NOT NULL,
    cycle_id TEXT NOT NULL,
    change_id TEXT NOT NULL,
    source_id TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_order ON logs(activity DESC, seq DESC);
CREATE INDEX IF NOT EXISTS logs_status ON logs(status, activity DESC, seq DESC);
-- Graph delta queries: one row per change of a user's directory attributes (triggers below).
CREATE TABLE IF NOT EXISTS dir_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, object_id TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS src_users_added AFTER INSERT ON src_users
BEGIN INSERT INTO dir_changes(object_id) VALUES (NEW.object_id); END;
CREATE TRIGGER IF NOT EXISTS src_users_changed AFTER UPDATE OF upn, mail, given_name, surname, display_name,
    department, soft_deleted, hard_deleted ON src_users
WHEN OLD.upn IS NOT NEW.upn OR OLD.mail IS NOT NEW.mail OR OLD.given_name IS NOT NEW.given_name
    OR OLD.surname IS NOT NEW.surname OR OLD.display_name IS NOT NEW.display_name
    OR OLD.department IS NOT NEW.department OR OLD.soft_deleted IS NOT NEW.soft_deleted
    OR OLD.hard_deleted IS NOT NEW.hard_deleted
BEGIN INSERT INTO dir_changes(object_id) VALUES (NEW.object_id); END;
-- Graph's groups/delta: one row per change of a group (member_id NULL: the group itself, e.g. renamed or deleted)
-- or of one of its memberships (removed = 1 when the member left), written by the triggers below.
CREATE TABLE IF NOT EXISTS group_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, group_id TEXT NOT NULL,
    member_id TEXT, removed INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS group_changes_group ON group_changes(group_id, seq);
CREATE TRIGGER IF NOT EXISTS src_groups_added AFTER INSERT ON src_groups
BEGIN INSERT INTO group_changes(group_id) VALUES (NEW.object_id); END;
CREATE TRIGGER IF NOT EXISTS src_groups_changed AFTER UPDATE OF display_name, deleted ON src_groups
WHEN OLD.display_name IS NOT NEW.display_name OR OLD.deleted IS NOT NEW.deleted
BEGIN INSERT INTO group_changes(group_id) VALUES (NEW.object_id); END;
CREATE TRIGGER IF NOT EXISTS src_members_added AFTER INSERT ON src_members
BEGIN INSERT INTO group_changes(group_id, member_id) VALUES (NEW.group_id, NEW.user_id); END;
CREATE TRIGGER IF NOT EXISTS src_members_removed AFTER DELETE ON src_members
BEGIN INSERT INTO group_changes(group_id, member_id, removed) VALUES (OLD.group_id, OLD.user_id, 1); END;
CREATE TABLE IF NOT EXISTS cycles (
    seq INTEGER PRIMARY KEY,
    cycle_id TEXT NOT NULL,
    began TEXT NOT NULL,
    ended TEXT NOT NULL,
    summary TEXT NOT NULL
);
"""

# Entra's assignment-based scoping: a user is in the app's scope when assigned directly (``assigned``) or a direct
# member of an assigned group; members of a group nested in an assigned group are not. ``in_scope`` is kept by
# these triggers; a change of scope through a group marks the user dirty, so the next incremental cycle sees it.
_SCOPE = ("(src_users.assigned OR EXISTS (SELECT 1 FROM src_members sm JOIN src_groups sg ON sg.object_id = "
          "sm.group_id WHERE sm.user_id = src_users.object_id AND sg.assigned AND NOT sg.deleted))")
SCOPE_TRIGGERS = f"""
CREATE TRIGGER IF NOT EXISTS scope_user_added AFTER INSERT ON src_users
BEGIN UPDATE src_users SET in_scope = {_SCOPE} WHERE object_id = NEW.object_id; END;
CREATE TRIGGER IF NOT EXISTS scope_user_assigned AFTER UPDATE OF assigned ON src_users
WHEN OLD.assigned IS NOT NEW.assigned
BEGIN UPDATE src_users SET in_scope = {_SCOPE} WHERE object_id = NEW.object_id; END;
CREATE TRIGGER IF NOT EXISTS scope_member_added AFTER INSERT ON src_members
BEGIN UPDATE src_users SET in_scope = {_SCOPE}, dirty = 1 WHERE object_id = NEW.user_id AND in_scope IS NOT {_SCOPE};
END;
CREATE TRIGGER IF NOT EXISTS scope_member_removed AFTER DELETE ON src_members
BEGIN UPDATE src_users SET in_scope = {_SCOPE}, dirty = 1 WHERE object_id = OLD.user_id AND in_scope IS NOT {_SCOPE};
END;
CREATE TRIGGER IF NOT EXISTS scope_group_changed AFTER UPDATE OF assigned, deleted ON src_groups
WHEN OLD.assigned IS NOT NEW.assigned OR OLD.deleted IS NOT NEW.deleted
BEGIN UPDATE src_users SET in_scope = {_SCOPE}, dirty = 1 WHERE object_id IN
    (SELECT user_id FROM src_members WHERE group_id = NEW.object_id) AND in_scope IS NOT {_SCOPE}; END;
"""


class EntraDB:
    """A thread-safe wrapper over one SQLite connection (the simulator is the only writer)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=OFF")
            self._conn.executescript(SCHEMA)
            columns = {r[1] for r in self._conn.execute("PRAGMA table_info(src_users)")}
            if "in_scope" not in columns:  # a tenant written before scoping by group
                self._conn.execute("ALTER TABLE src_users ADD COLUMN in_scope INTEGER NOT NULL DEFAULT 1")
                self._conn.execute(f"UPDATE src_users SET in_scope = {_SCOPE}")
            self._conn.executescript(SCOPE_TRIGGERS)
            if self.get_meta("schema_version") is None:
                self.set_meta("schema_version", str(SCHEMA_VERSION))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``), committed on success, rolled back on error."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def query(self, sql: str, params: tuple | list = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: tuple | list = ()) -> sqlite3.Row | None:
        with self._lock:
            return self._conn.execute(sql, params).fetchone()

    def execute(self, sql: str, params: tuple | list = ()) -> None:
        with self._lock:
            self._conn.execute(sql, params)

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.one("SELECT value FROM meta WHERE key = ?", (key,))
        return row["value"] if row else default

    def set_meta(self, key: str, value: str, conn: sqlite3.Connection | None = None) -> None:
        sql = "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
        if conn is not None:
            conn.execute(sql, (key, value))
        else:
            self.execute(sql, (key, value))

    def get_json(self, key: str, default: Any = None) -> Any:
        raw = self.get_meta(key)
        return json.loads(raw) if raw is not None else default

    def set_json(self, key: str, value: Any, conn: sqlite3.Connection | None = None) -> None:
        self.set_meta(key, json.dumps(value, separators=(",", ":")), conn)
