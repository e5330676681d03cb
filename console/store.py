"""The local store: one SQLite file in the data directory, WAL mode, versioned migrations.

Migrations are the files ``console/migrations/NNNN_name.sql``, applied in order inside one transaction each;
``PRAGMA user_version`` records the last one applied. A store written by a newer console (a higher version than
this code knows) is refused rather than touched, so no data is lost by a downgrade. No secret is ever stored here.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from console.errors import NotFoundError, StoreError
from console.i18n import _

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
STORE_FILE = "console.db"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, Path]]:
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    numbers = [n for n, _path in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise StoreError(_("Migration files are not numbered 0001..{last}: {numbers}.").format(
            last=f"{len(numbers):04d}", numbers=numbers), _("Reinstall the console; its migrations folder is damaged."))
    return found


class Store:
    """A thread-safe handle on the console's SQLite file (one connection per thread)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._migrate()

    @classmethod
    def open(cls, data_dir: Path) -> Store:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        return cls(Path(data_dir) / STORE_FILE)

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                _("The console's store {path} cannot be opened ({error}).").format(path=self.path, error=exc),
                _("Restore it from a backup, or move it aside to start afresh; nothing was changed in it."),
            ) from None
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``; rolls back on any error so nothing is half-written."""
        conn = self.conn
        if conn.in_transaction:  # nested: join the outer transaction
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except sqlite3.IntegrityError as exc:
            conn.execute("ROLLBACK")
            raise _gone(exc) from None
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def execute(self, sql: str, params: tuple | dict = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise _gone(exc) from None

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def columns(self, sql: str, params: tuple | dict = (), chunk: int = 20_000) -> list[list[Any]]:
        """The result as one list per column, read in chunks of plain tuples: for large results that become a
        DataFrame (100,000 rows as ``sqlite3.Row`` objects cost several times the data)."""
        cur = self.conn.cursor()
        cur.row_factory = None
        cur.execute(sql, params)
        out: list[list[Any]] = [[] for _ in cur.description or ()]
        while rows := cur.fetchmany(chunk):
            for column, values in zip(out, zip(*rows, strict=True), strict=True):
                column.extend(values)
        return out

    def query_one(self, sql: str, params: tuple | dict = ()) -> sqlite3.Row | None:
        return self.conn.execute(sql, params).fetchone()

    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        known = migrations()
        latest = known[-1][0] if known else 0
        try:
            current = self.schema_version()
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                _("{path} is not a console store or is damaged ({error}).").format(path=self.path, error=exc),
                _("Restore it from a backup, or move it aside to start afresh; nothing was changed in it."),
            ) from None
        if current > latest:
            raise StoreError(
                _("{path} was written by a newer version of the console (store version {current}, this one knows "
                  "up to {latest}).").format(path=self.path, current=current, latest=latest),
                _("Upgrade the console (pip install -r requirements.txt from the newer checkout); the store was left "
                  "untouched."),
            )
        for number, path in known:
            if number <= current:
                continue
            sql = path.read_text(encoding="utf-8")
            conn = self.conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                # executescript would COMMIT implicitly; run statement by statement instead.
                for statement in _split_sql(sql):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")
                conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StoreError(
                    _("Upgrading the store to version {number} ({file}) failed: {error}.").format(
                        number=number, file=path.name, error=exc),
                    _("The store was left at its previous version; report this with the message.")) from None

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _gone(exc: sqlite3.IntegrityError) -> Exception:
    """Migration 0006's triggers refuse rows for a connection that does not exist (removed while a fetch, a
    snapshot or an action was running): said in words. Any other integrity error is a bug and stays as it is."""
    if "no such connection" in str(exc):
        return NotFoundError(_("The connection was removed while this was being saved; nothing was written."),
                             _("Add the connection again if it is still needed, then repeat what you were doing."))
    return exc


def _split_sql(script: str) -> list[str]:
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
