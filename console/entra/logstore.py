"""The provisioning-log store: each record once per connection (primary key ``(connection, id)``), as indexed
columns for filtering and aggregation plus the record as received in zlib-compressed blocks, per-cycle counts
kept in step with every write, the ``log_fetches`` journal, and the queries the pages, alerts and CLI read.

Writers (``console.entra.files``, ``console.entra.fetch``) go through ``Ingester``; readers through the
functions under "reading" (``grouped_counts`` costs the same at 1,000,000 records as at 1,000).
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pandas as pd

from console.connections import Connection
from console.context import Context
from console.entra.catalogue import explain_error
from console.entra.records import normalise
from console.errors import NotFoundError
from console.i18n import N_, _, fmt_date, fmt_datetime, fmt_number
from console.jsonio import compact_json

BATCH = 5000
#: Entra keeps provisioning logs 30 days; older records in an import are kept but reported
RETENTION = timedelta(days=30)
_INSERT = ("INSERT OR IGNORE INTO provisioning_logs (connection, id, activity_ms, cycle_id, change_id, job_id,"
           " action, status, error_code, error_category, identity_type, source_id, source_name, target_id,"
           " target_name, initiator_type, duration_ms, origin, raw) VALUES"
           " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
#: the log table's columns (``query_logs``); marked for translation as the header of the CSV download, which is
#: in the operator's language unless "English column names" is ticked (``pages/_ui/dircache.localized``)
LOG_COLUMNS = [
    # Translators: column names of the provisioning-log CSV download (times in UTC)
    N_("id"), N_("time"), N_("cycle_id"), N_("change_id"), N_("action"), N_("status"), N_("error_code"),
    N_("identity_type"), N_("source_id"), N_("source_name"), N_("target_id"), N_("target_name"),
    N_("initiator_type"), N_("duration_ms")]



# Raw JSON storage. Records are stored as they were received, in zlib-compressed blocks of up to RAW_BLOCK
# records (JSON lines) in ``provisioning_raw``; each log row's ``raw`` column holds a reference b"B" + block id +
# line number (struct "<qi"). Block compression is ~10x cheaper per record than compressing each record alone and
# compresses far better. A ``raw`` value not starting with b"B" is one zlib-compressed record.
RAW_BLOCK = 500
_REF = struct.Struct("<qi")
_COUNTS_UPSERT = ("INSERT INTO provisioning_cycle_counts (connection, cycle_id, action, status, error_code, count,"
                  " first_ms, last_ms) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (connection, cycle_id, action, status,"
                  " error_code) DO UPDATE SET count = count + excluded.count, first_ms = min(first_ms,"
                  " excluded.first_ms), last_ms = max(last_ms, excluded.last_ms)")
_COUNTS_REBUILD = ("INSERT INTO provisioning_cycle_counts (connection, cycle_id, action, status, error_code, count,"
                   " first_ms, last_ms) SELECT connection, COALESCE(cycle_id, ''), COALESCE(action, ''),"
                   " COALESCE(status, ''), COALESCE(error_code, ''), COUNT(*), MIN(activity_ms), MAX(activity_ms)"
                   " FROM provisioning_logs WHERE connection = ? GROUP BY 2, 3, 4, 5")
_block_cache: dict[tuple[str, int], list[bytes]] = {}
_block_lock = threading.Lock()


def _read_block(ctx: Context, block_id: int) -> list[bytes]:
    key = (str(ctx.store.path), block_id)
    with _block_lock:
        lines = _block_cache.get(key)
    if lines is not None:
        return lines
    row = ctx.store.query_one("SELECT data FROM provisioning_raw WHERE id = ?", (block_id,))
    if row is None:
        raise NotFoundError(_("The stored raw data block {block} is missing.").format(block=block_id),
                            _("Import or fetch the logs again; the indexed columns are still usable."))
    lines = zlib.decompress(row[0]).split(b"\n")
    with _block_lock:
        if len(_block_cache) > 16:
            _block_cache.clear()
        _block_cache[key] = lines
    return lines


def decompress_raw(ctx: Context, blob: bytes) -> Any:
    if blob[:1] == b"B":
        block_id, index = _REF.unpack(blob[1:1 + _REF.size])
        return orjson.loads(_read_block(ctx, block_id)[index])
    return orjson.loads(zlib.decompress(blob))


# ---------------------------------------------------------------------------------------------------- storing

@dataclass
class ImportResult:
    """Counts of one import or fetch. ``rejected`` holds (where, reason) for up to 50 examples;
    ``rejected_count`` is the full number."""

    new: int = 0
    known: int = 0
    duplicates: int = 0
    rejected_count: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    oldest: datetime | None = None
    newest: datetime | None = None
    job_error: str | None = None   # console.entra.sync: the job's status could not be read after the fetch

    def reject(self, where: str, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < 50:
            self.rejected.append((where, reason))

    def merge(self, other: ImportResult) -> None:
        self.new += other.new
        self.known += other.known
        self.duplicates += other.duplicates
        self.rejected_count += other.rejected_count
        self.rejected.extend(other.rejected[: max(0, 50 - len(self.rejected))])
        self.warnings.extend(other.warnings)
        self.oldest = min(self.oldest, other.oldest) if self.oldest and other.oldest else self.oldest or other.oldest
        self.newest = max(self.newest, other.newest) if self.newest and other.newest else self.newest or other.newest

    def rejected_reasons(self) -> Counter:
        return Counter(reason.split(" (")[0] for _where, reason in self.rejected)

    def summary(self) -> str:
        """"2 new, 1 already known (1 repeated within the input), 3 rejected", in the current language."""
        known = self.known + self.duplicates
        if self.duplicates:
            return _("{new} new, {known} already known ({repeated} repeated within the input), {rejected} "
                     "rejected").format(new=fmt_number(self.new), known=fmt_number(known),
                                        repeated=fmt_number(self.duplicates),
                                        rejected=fmt_number(self.rejected_count))
        return _("{new} new, {known} already known, {rejected} rejected").format(
            new=fmt_number(self.new), known=fmt_number(known), rejected=fmt_number(self.rejected_count))

    def as_dict(self) -> dict[str, Any]:
        return {"new": self.new, "already_known": self.known + self.duplicates, "duplicates_in_input":
                self.duplicates, "rejected": self.rejected_count,
                "rejected_examples": [{"where": w, "reason": r} for w, r in self.rejected],
                "warnings": self.warnings,
                "oldest": self.oldest.isoformat() if self.oldest else None,
                "newest": self.newest.isoformat() if self.newest else None, "job_error": self.job_error}


def conn_name(conn: Connection | str) -> str:
    return conn if isinstance(conn, str) else conn.name


class Ingester:
    """Buffers normalised rows and writes them in large transactions (``INSERT OR IGNORE``)."""

    def __init__(self, ctx: Context, name: str, origin: str) -> None:
        self.ctx, self.conn_name, self.origin = ctx, name, origin
        self.result = ImportResult()
        self.count = 0  # records offered through add_all
        self.seen: set[str] = set()
        self.rows: list[tuple[Any, ...]] = []
        self.raws: list[bytes] = []
        self.max_ms: int | None = None
        self.min_ms: int | None = None

    def add(self, record: Any, where: str) -> None:
        row, reason = normalise(record)
        if row is None:
            self.result.reject(where, reason)
            return
        rec_id = row[0]
        if rec_id in self.seen:
            self.result.duplicates += 1
            return
        raw = compact_json(record)
        if raw is None:
            self.result.reject(where, _("the record cannot be stored as JSON (numbers beyond 64 bits or nesting "
                                        "too deep)"))
            return
        self.seen.add(rec_id)
        ms = row[1]
        self.max_ms = ms if self.max_ms is None or ms > self.max_ms else self.max_ms
        self.min_ms = ms if self.min_ms is None or ms < self.min_ms else self.min_ms
        self.rows.append((self.conn_name, *row, self.origin))
        self.raws.append(raw)
        if len(self.rows) >= BATCH:
            self.flush()

    def add_all(self, records: Iterable[Any], label: str, progress: Callable[[int], None] | None = None) -> None:
        """``add`` each record, named "<label> <n> (id <id>)" in the reasons of those rejected (``label`` in the
        reader's language: "record", "Graph record", "download.json record"); ``progress(n)`` every 500 records."""
        for i, rec in enumerate(records, 1):
            rid = rec.get("id") if isinstance(rec, dict) else None
            self.add(rec, f"{label} {i}" + (f" (id {rid})" if rid else ""))
            self.count = i
            if progress is not None and i % 500 == 0:
                progress(i)

    def flush(self) -> None:
        """Write the buffered rows: skip ids already stored, put the new records' JSON in compressed blocks,
        insert the index rows; one transaction."""
        if not self.rows:
            return
        rows, raws = self.rows, self.raws
        self.rows, self.raws = [], []
        with self.ctx.store.transaction() as db:
            known: set[str] = set()
            for i in range(0, len(rows), 900):
                ids = [r[1] for r in rows[i:i + 900]]
                known.update(x[0] for x in db.execute(
                    f"SELECT id FROM provisioning_logs WHERE connection = ? AND id IN ({','.join('?' * len(ids))})",
                    (self.conn_name, *ids)))
            fresh = [k for k, r in enumerate(rows) if r[1] not in known]
            out: list[tuple[Any, ...]] = []
            for b in range(0, len(fresh), RAW_BLOCK):
                part = fresh[b:b + RAW_BLOCK]
                data = zlib.compress(b"\n".join(raws[k] for k in part), 6)
                block_id = db.execute("INSERT INTO provisioning_raw (connection, data) VALUES (?, ?)",
                                      (self.conn_name, data)).lastrowid
                out.extend((*rows[k], b"B" + _REF.pack(block_id, n)) for n, k in enumerate(part))
            before = db.total_changes
            db.executemany(_INSERT, out)
            inserted = db.total_changes - before
            # keep the per-cycle counts (what the page's charts read) in step, in the same transaction
            if inserted == len(out):
                agg: dict[tuple, list[int]] = {}
                for r in out:  # (conn, id, ms, cycle, change, job, action, status, code, ...)
                    key = (r[3] or "", r[6] or "", r[7] or "", r[8] or "")
                    cur = agg.get(key)
                    if cur is None:
                        agg[key] = [1, r[2], r[2]]
                    else:
                        cur[0] += 1
                        cur[1] = min(cur[1], r[2])
                        cur[2] = max(cur[2], r[2])
                db.executemany(_COUNTS_UPSERT, [(self.conn_name, *k, *v) for k, v in agg.items()])
            else:  # another writer stored some of these ids meanwhile: recount this connection exactly
                db.execute("DELETE FROM provisioning_cycle_counts WHERE connection = ?", (self.conn_name,))
                db.execute(_COUNTS_REBUILD, (self.conn_name,))
        self.result.new += inserted
        self.result.known += len(rows) - inserted

    def finish(self) -> ImportResult:
        self.flush()
        res = self.result
        if self.min_ms is not None and self.max_ms is not None:
            res.oldest = datetime.fromtimestamp(self.min_ms / 1000, UTC)
            res.newest = datetime.fromtimestamp(self.max_ms / 1000, UTC)
            now = self.ctx.now()
            if res.oldest < now - RETENTION:
                res.warnings.append(
                    _("Some records are older than Entra's 30-day retention (oldest {date}); they were kept, but "
                      "check that this is the download you meant.").format(date=fmt_date(res.oldest)))
            if res.newest > now + timedelta(hours=1):
                res.warnings.append(_("Some records are dated in the future (newest {time}); check the clock of "
                                      "the machine that produced them.").format(
                    time=fmt_datetime(res.newest, zone="UTC")))
        return res


def ingest_records(ctx: Context, conn: Connection | str, records: Iterable[Any], *, origin: str = "import",
                   label: str | None = None) -> ImportResult:
    """Store records (Graph schema) for a connection; returns counts new / known / rejected. ``label`` names a
    record in the reasons of those rejected ("record" in the reader's language when not given)."""
    ing = Ingester(ctx, conn_name(conn), origin)
    ing.add_all(records, label if label is not None else _("record"))
    return ing.finish()


def record_fetch(ctx: Context, name: str, origin: str, since: datetime | None, result: ImportResult, *,
                 complete: bool, watermark: int | None, detail: str = "") -> None:
    """One line of the ``log_fetches`` journal: what an import or a Graph fetch brought."""
    ctx.store.execute(
        "INSERT INTO log_fetches (connection, at, origin, since, new, known, rejected, complete, watermark, detail)"
        " VALUES (?,?,?,?,?,?,?,?,?,?)",
        (name, ctx.now().astimezone(UTC).isoformat(), origin, since.isoformat() if since else None, result.new,
         result.known + result.duplicates, result.rejected_count, int(complete), watermark, detail))


# ------------------------------------------------------------------------------------------------- reading

def _ms(t: datetime | None) -> int | None:
    return int(t.astimezone(UTC).timestamp() * 1000) if t is not None else None


def history_version(ctx: Context, conn: Connection | str) -> tuple:
    """A cheap fingerprint of everything the Sync history page shows (logs, job polls, snapshots): it changes
    whenever any of them does, so the page can cache its aggregations on it."""
    name = conn_name(conn)
    db = ctx.store.conn  # aggregates: always one row
    logs = db.execute("SELECT COUNT(*), MAX(activity_ms) FROM provisioning_logs WHERE connection = ?",
                      (name,)).fetchone()
    jobs = db.execute("SELECT COUNT(*), MAX(id) FROM job_status_history WHERE connection = ?", (name,)).fetchone()
    snaps = db.execute("SELECT MAX(id) FROM snapshots WHERE connection = ?", (name,)).fetchone()
    return (logs[0], logs[1], jobs[0], jobs[1], snaps[0])


def range_start(span: timedelta | None, now: datetime | None = None) -> datetime | None:
    """Where a "last 7 days" period starts, as every page computes it: ``now - span`` to the minute (so that
    two pages showing the same period count the same records). None for everything."""
    if span is None:
        return None
    return ((now or datetime.now(UTC)).astimezone(UTC) - span).replace(second=0, microsecond=0)


def log_count(ctx: Context, conn: Connection | str) -> int:
    row = ctx.store.query_one("SELECT COUNT(*) AS n FROM provisioning_logs WHERE connection = ?",
                              (conn_name(conn),))
    return int(row["n"]) if row else 0


def _time_range(where: list[str], params: list, since: datetime | None, until: datetime | None, *,
                start_col: str, end_col: str) -> None:
    """Add ``start_col >= since`` and ``end_col < until`` (epoch ms) to a WHERE clause being built."""
    if since is not None:
        where.append(f"{start_col} >= ?")
        params.append(_ms(since))
    if until is not None:
        where.append(f"{end_col} < ?")
        params.append(_ms(until))


def grouped_counts(ctx: Context, conn: Connection | str, since: datetime | None = None,
                   until: datetime | None = None) -> pd.DataFrame:
    """One row per (cycle, action, status, error code) with count, first and last time: the basis of every
    chart on the Sync history page. Read from ``provisioning_cycle_counts`` (kept up to date by every ingest),
    so it costs the same at 1,000,000 records as at 1,000. A time range selects whole cycles: those with a
    record in ``[since, until)``."""
    name = conn_name(conn)
    where, params = ["connection = ?"], [name]
    _time_range(where, params, since, until, start_col="last_ms", end_col="first_ms")
    rows = ctx.store.conn.execute(
        "SELECT NULLIF(cycle_id, ''), NULLIF(action, ''), NULLIF(status, ''), NULLIF(error_code, ''), count,"
        f" first_ms, last_ms FROM provisioning_cycle_counts WHERE {' AND '.join(where)}", tuple(params)).fetchall()
    df = pd.DataFrame([tuple(r) for r in rows],
                      columns=["cycle_id", "action", "status", "error_code", "count", "first_ms", "last_ms"])
    df["count"] = df["count"].astype("int64")
    return df


def cycles_from_counts(grouped: pd.DataFrame) -> pd.DataFrame:
    """Cycles (from logs): cycle_id, start, end (UTC), total, one column per status, per action, and
    failure_rate; oldest first."""
    cols = ["cycle_id", "start", "end", "total", "success", "failure", "skipped", "warning", "failure_rate"]
    if grouped.empty:
        return pd.DataFrame(columns=cols)
    g = grouped.copy()
    g["cycle_id"] = g["cycle_id"].fillna("(no cycle id)")
    g["status"] = g["status"].fillna("unknown")
    g["action"] = g["action"].fillna("unknown")
    base = g.groupby("cycle_id").agg(first_ms=("first_ms", "min"), last_ms=("last_ms", "max"),
                                     total=("count", "sum"))
    by_status = g.groupby(["cycle_id", "status"])["count"].sum().unstack(fill_value=0)
    by_action = g.groupby(["cycle_id", "action"])["count"].sum().unstack(fill_value=0)
    by_action.columns = [f"action_{c}" for c in by_action.columns]
    out = base.join(by_status).join(by_action).reset_index()
    for s in ("success", "failure", "skipped", "warning"):
        if s not in out:
            out[s] = 0
    out["start"] = pd.to_datetime(out["first_ms"], unit="ms", utc=True)
    out["end"] = pd.to_datetime(out["last_ms"], unit="ms", utc=True)
    out["failure_rate"] = out["failure"] / out["total"].where(out["total"] > 0, 1)
    out = out.drop(columns=["first_ms", "last_ms"]).sort_values("start").reset_index(drop=True)
    first = ["cycle_id", "start", "end", "total", "success", "failure", "skipped", "warning", "failure_rate"]
    return out[first + [c for c in out.columns if c not in first]]


@dataclass
class LogSummary:
    total: int
    cycles: pd.DataFrame
    by_action: pd.DataFrame      # action, status, count
    by_error: pd.DataFrame       # error_code, count, last_seen, explanation, fix
    first: datetime | None
    last: datetime | None


def summarise(ctx: Context, conn: Connection | str, since: datetime | None = None,
              until: datetime | None = None) -> LogSummary:
    grouped = grouped_counts(ctx, conn, since, until)
    cycles = cycles_from_counts(grouped)
    if grouped.empty:
        by_action = pd.DataFrame(columns=["action", "status", "count"])
        by_error = pd.DataFrame(columns=["error_code", "count", "last_seen", "explanation", "fix"])
        return LogSummary(0, cycles, by_action, by_error, None, None)
    g = grouped.assign(action=grouped["action"].fillna("unknown"), status=grouped["status"].fillna("unknown"))
    by_action = (g.groupby(["action", "status"], as_index=False).agg(count=("count", "sum"))
                 .sort_values("count", ascending=False).reset_index(drop=True))
    fails = g[(g["status"] == "failure") | g["error_code"].notna()]
    fails = fails.assign(error_code=fails["error_code"].fillna("(no error code)"))
    by_error = (fails.groupby("error_code", as_index=False).agg(count=("count", "sum"), last_ms=("last_ms", "max"))
                .sort_values("count", ascending=False).reset_index(drop=True))
    by_error["last_seen"] = pd.to_datetime(by_error["last_ms"], unit="ms", utc=True)
    explained = [explain_error(c) for c in by_error["error_code"]]
    by_error["explanation"] = [e[0] for e in explained]
    by_error["fix"] = [e[1] for e in explained]
    by_error = by_error.drop(columns=["last_ms"])
    return LogSummary(int(g["count"].sum()), cycles, by_action, by_error,
                      datetime.fromtimestamp(int(g["first_ms"].min()) / 1000, UTC),
                      datetime.fromtimestamp(int(g["last_ms"].max()) / 1000, UTC))


def query_logs(ctx: Context, conn: Connection | str, *, identity: str | None = None, action: str | None = None,
               status: str | None = None, error_code: str | None = None, cycle_id: str | None = None,
               since: datetime | None = None, until: datetime | None = None, limit: int = 500,
               offset: int = 0) -> pd.DataFrame:
    """The log table, newest first, filtered. ``identity`` matches an id exactly or a display name in part
    (case-insensitive); ``cycle_id`` a whole cycle id or its beginning. Columns ``LOG_COLUMNS`` (time in
    UTC)."""
    where, params = ["connection = ?"], [conn_name(conn)]
    for col, value in (("action", action), ("status", status), ("error_code", error_code)):
        if value:
            where.append(f"{col} = ?")
            params.append(value)
    if cycle_id and cycle_id.strip():  # the whole id, or its start as the pages show it ("7f22bad9")
        cycle = cycle_id.strip()
        where.append("(cycle_id = ? OR cycle_id LIKE ? ESCAPE '\\')")
        params.extend([cycle, cycle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"])
    if identity:
        like = f"%{identity.strip()}%"
        where.append("(source_id = ? OR target_id = ? OR source_name LIKE ? OR target_name LIKE ?)")
        params.extend([identity.strip(), identity.strip(), like, like])
    _time_range(where, params, since, until, start_col="activity_ms", end_col="activity_ms")
    rows = ctx.store.conn.execute(
        "SELECT id, activity_ms, cycle_id, change_id, action, status, error_code, identity_type, source_id,"
        " source_name, target_id, target_name, initiator_type, duration_ms FROM provisioning_logs"
        f" WHERE {' AND '.join(where)} ORDER BY activity_ms DESC, id LIMIT ? OFFSET ?",
        (*params, int(limit), int(offset))).fetchall()
    df = pd.DataFrame([tuple(r) for r in rows], columns=LOG_COLUMNS)
    df["time"] = pd.to_datetime(df["time"], unit="ms", utc=True)
    return df


def distinct_values(ctx: Context, conn: Connection | str, column: str) -> list[str]:
    if column not in ("action", "status", "error_code", "identity_type"):
        raise ValueError(column)
    rows = ctx.store.query(f"SELECT DISTINCT {column} FROM provisioning_logs WHERE connection = ? AND {column}"
                           f" IS NOT NULL ORDER BY 1", (conn_name(conn),))
    return [r[0] for r in rows]


def get_record(ctx: Context, conn: Connection | str, record_id: str) -> dict:
    """The stored record as received (steps and modified properties included)."""
    row = ctx.store.query_one("SELECT raw FROM provisioning_logs WHERE connection = ? AND id = ?",
                              (conn_name(conn), record_id))
    if row is None:
        raise NotFoundError(_("No provisioning log record {id} is stored for this connection.").format(
            id=repr(record_id)), _("Fetch or import the logs first."))
    return decompress_raw(ctx, row["raw"])


def iter_records(ctx: Context, conn: Connection | str) -> Iterator[dict]:
    for row in ctx.store.conn.execute("SELECT raw FROM provisioning_logs WHERE connection = ? ORDER BY activity_ms",
                                      (conn_name(conn),)):
        yield decompress_raw(ctx, row[0])
