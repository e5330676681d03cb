"""Run a reconciliation and keep it: the 6clicks side from a snapshot (a fresh one unless told otherwise), Entra's
side through Graph when the connection has Graph settings, the latest provisioning failure of each missing
person from the stored logs, the five categories, and the run's counts and rows (``reconcile_runs``) for the
history chart and the CSV evidence. The reconciliation itself changes nothing in 6clicks or Entra."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from console.connections import Connection, connection_id
from console.context import Context
from console.csvsafe import to_csv_bytes
from console.directory.store import Snapshot, latest_snapshot
from console.directory.take import take_snapshot
from console.entra.catalogue import explain_error
from console.errors import InvalidInput, NotFoundError
from console.graph import GraphClient, GraphError
from console.i18n import _, fmt_number, use_language
from console.memory import release_memory
from console.reconcile.compare import CATEGORIES, SNAPSHOT_USER_COLUMNS, TITLES, Result, compare, localize
from console.reconcile.entra_side import EntraSide, read_entra
from console.redact import redact

MAX_ROWS_KEPT = 200_000   # rows per run kept for the CSV (a run with more keeps its counts and says so)


@dataclass
class Run:
    id: int | None
    at: datetime
    mode: str                  # full / delta / snapshot-only
    snapshot: Snapshot
    result: Result
    entra: EntraSide | None

    @property
    def exit_code(self) -> int:
        return self.result.exit_code


def latest_failures(ctx: Context, conn: Connection) -> pd.DataFrame:
    """The newest failed provisioning record of each Entra object in the stored logs: source_id, at, error_code,
    explanation, fix (the comparison keeps those of the missing people)."""
    columns = ["source_id", "at", "error_code", "explanation", "fix"]
    rows = ctx.store.query(
        "SELECT source_id, MAX(activity_ms) AS ms, error_code FROM provisioning_logs WHERE connection = ? AND "
        "error_code IS NOT NULL AND status = 'failure' AND source_id IS NOT NULL GROUP BY source_id", (conn.name,))
    explained: dict[str, tuple[str, str]] = {}
    out = []
    for r in rows:
        code = r["error_code"]
        meaning, fix = explained.get(code) or explained.setdefault(code, _explain(code))
        out.append((r["source_id"], pd.Timestamp(r["ms"], unit="ms", tz="UTC"), code, meaning, fix))
    return pd.DataFrame(out, columns=columns)


def _explain(code: str | None) -> tuple[str, str]:
    """The catalogue's explanation and fix in English, as the run keeps its rows (``compare.localize`` shows them
    in the operator's language)."""
    with use_language("en"):
        return explain_error(code)


MAX_LOOKUPS = 50  # missing people whose latest failure is asked of Graph directly (the rest: stored logs)


def _quoted(value: str) -> str:
    return value.replace("'", "''")


def graph_failures(graph: GraphClient, ids: list[str]) -> pd.DataFrame:
    """The newest failed provisioning record of each of the first ``MAX_LOOKUPS`` ``ids``, asked of Graph
    (``sourceIdentity/id eq ...``), for people whose records were never fetched into the console."""
    out = []
    for object_id in ids[:MAX_LOOKUPS]:
        flt = f"sourceIdentity/id eq '{_quoted(object_id)}' and provisioningStatusInfo/status eq 'failure'"
        record = next(iter(graph.iter_provisioning_logs(filter=flt, top=1, max_pages=3)), None)
        info = record.get("provisioningStatusInfo") if isinstance(record, dict) else None
        error = info.get("errorInformation") if isinstance(info, dict) else None
        code = str(error.get("errorCode") or "")[:120] if isinstance(error, dict) else ""
        if not code or not isinstance(record, dict):
            continue
        meaning, fix = _explain(code)
        at = pd.to_datetime(str(record.get("activityDateTime") or ""), utc=True, errors="coerce")
        out.append((object_id, at, code, meaning, fix))
    return pd.DataFrame(out, columns=["source_id", "at", "error_code", "explanation", "fix"])


def reconcile(ctx: Context, conn: Connection, *, refresh: bool = True, full: bool = False,
              graph: GraphClient | None = None, progress: Callable[[str], None] | None = None) -> Run:
    """Compare and store the run. ``refresh``: read 6clicks again first (else the latest snapshot); ``full``:
    read every Entra user instead of the changes since the last run. Raises ConsoleError subclasses (with their
    remedy) when a side cannot be read whole."""
    say = progress or (lambda _m: None)
    with_graph = conn.entra is not None and bool(conn.entra.service_principal_id)
    entra: EntraSide | None = None
    if not with_graph:
        say(_("Reading 6clicks…"))
        snap = take_snapshot(ctx, conn) if refresh else _latest(ctx, conn)
        say(_("Comparing…"))
        frames = snap.lean_frames(SNAPSHOT_USER_COLUMNS)
        result = compare(frames.users, frames.groups, frames.memberships, None)
        result.warnings.append(_("Without Microsoft Graph settings only the 6clicks side is checked (accounts "
                                 "not managed by SCIM, duplicates). With them the console also finds orphans, "
                                 "missing people and drift: Connection & token > Microsoft Graph."))
    else:
        client = graph or GraphClient.for_connection(ctx, conn)
        try:
            if refresh:
                # one side after the other: reading both at once added their transient memory (a 100,000-user
                # run peaked near 600 MB), for a few seconds saved
                say(_("Reading 6clicks…"))
                snap = take_snapshot(ctx, conn)
                release_memory()
                say(_("Reading Entra (Microsoft Graph)…"))
                entra = read_entra(ctx, conn, client, full=full)
                frames = snap.lean_frames(SNAPSHOT_USER_COLUMNS)
            else:
                # the stored snapshot loads while Graph answers
                snap = _latest(ctx, conn)
                say(_("Reading Entra (Microsoft Graph)…"))
                with ThreadPoolExecutor(max_workers=1) as pool:
                    loading = pool.submit(snap.lean_frames, SNAPSHOT_USER_COLUMNS)
                    entra = read_entra(ctx, conn, client, full=full)
                    frames = loading.result()
            release_memory()
            say(_("Comparing…"))
            result = compare(frames.users, frames.groups, frames.memberships, entra.users, entra.groups,
                             entra.members, latest_failures(ctx, conn))
            result.warnings.extend(entra.warnings)
            _fill_failures(result, client)
        finally:
            if graph is None:
                client.close()
    result.warnings.extend(snap.warnings)
    rows = sum(result.counts().values())
    if rows > MAX_ROWS_KEPT:
        result.warnings.append(_("This run found {rows} rows; the first {kept} are kept for its CSV, the access "
                                 "that should not exist first (orphans, then missing people, conflicts and drift). "
                                 "Every count is kept.").format(rows=fmt_number(rows), kept=fmt_number(MAX_ROWS_KEPT)))
    # warnings can quote what a server said (a Graph error that echoes a request): never a credential
    result.warnings[:] = [redact(w) for w in result.warnings]
    mode = "snapshot-only" if entra is None else entra.mode
    run = Run(None, ctx.now(), mode, snap, result, entra)
    run.id = save(ctx, conn, run)
    return run



def _latest(ctx: Context, conn: Connection) -> Snapshot:
    found = latest_snapshot(ctx, conn)
    if found is None:
        raise InvalidInput(_("There is no directory snapshot of {connection} yet.").format(connection=repr(conn.name)),
                           _("Refresh the directory first (or reconcile with a fresh read of 6clicks)."))
    return found


def _fill_failures(result: Result, graph: GraphClient) -> None:
    """Missing people without a stored failure: ask Graph for their latest failed record (bounded)."""
    missing = result.tables["missing"]
    unknown = missing.loc[missing["error_code"].isna(), "entraId"].astype(str).tolist()
    if not unknown:
        return
    try:
        found = graph_failures(graph, unknown)
    except GraphError as exc:
        result.warnings.append(_("The provisioning logs could not be read for the missing people: {error}").format(
            error=exc.message))
        return
    if len(unknown) > MAX_LOOKUPS:
        result.warnings.append(_("The latest failure was looked up for the first {n} missing people; fetch the "
                                 "provisioning logs (Sync history) for the others.").format(n=MAX_LOOKUPS))
    if not len(found):
        return
    fill = found.set_index("source_id")
    for column in ("at", "error_code", "explanation", "fix"):
        looked = missing["entraId"].map(fill[column])
        missing[column] = missing[column].astype(object).where(missing[column].notna(), looked.astype(object))


# the order a run's rows are kept in, when there are more than MAX_ROWS_KEPT: access that should not exist first
KEPT_FIRST = ("orphans", "missing", "conflicts", "membership_drift", "attribute_drift", "not_managed")


def _rows(result: Result) -> bytes:
    lines = []
    kept = 0
    for category in (*KEPT_FIRST, *(c for c in CATEGORIES if c not in KEPT_FIRST)):
        frame = result.tables.get(category)
        if frame is None:
            continue
        for record in frame.astype(object).where(frame.notna(), None).to_dict("records"):
            if kept >= MAX_ROWS_KEPT:
                break
            lines.append(json.dumps({"category": category, **{k: str(v) if v is not None else ""
                                                               for k, v in record.items()}}, ensure_ascii=False))
            kept += 1
    return zlib.compress("\n".join(lines).encode(), 6)


def save(ctx: Context, conn: Connection, run: Run) -> int:
    cur = ctx.store.execute(
        "INSERT INTO reconcile_runs (connection_id, at, mode, snapshot_id, exit_code, counts, rows) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (connection_id(ctx, conn), run.at.isoformat(), run.mode, run.snapshot.id, run.exit_code,
         json.dumps(run.result.counts()), _rows(run.result)))
    return int(cur.lastrowid or 0)


def history(ctx: Context, conn: Connection) -> pd.DataFrame:
    """One row per run: at, mode, exit_code and a column per category."""
    rows = ctx.store.query(
        "SELECT r.id, r.at, r.mode, r.exit_code, r.counts FROM reconcile_runs r JOIN connections c "
        "ON c.id = r.connection_id WHERE c.name = ? ORDER BY r.at", (conn.name,))
    out = []
    for r in rows:
        counts = json.loads(r["counts"])
        out.append({"run": r["id"], "at": pd.Timestamp(r["at"]), "mode": r["mode"], "exit_code": r["exit_code"],
                    **{c: int(counts.get(c, 0)) for c in CATEGORIES}})
    return pd.DataFrame(out, columns=["run", "at", "mode", "exit_code", *CATEGORIES])


@dataclass(frozen=True)
class OpenOrphans:
    """The last run's orphans that are still active in the latest snapshot (a deactivation since counts)."""

    at: datetime          # when the run found them
    found: int            # how many the run found
    still_active: int     # how many are still active now


def open_orphans(ctx: Context, conn: Connection) -> OpenOrphans | None:
    """None before the first run. Reads the last run's orphan ids and checks them against the latest snapshot,
    so an alert ends when the orphans are deactivated, without waiting for the next reconciliation."""
    row = ctx.store.query_one(
        "SELECT r.at, r.counts, r.rows FROM reconcile_runs r JOIN connections c ON c.id = r.connection_id "
        "WHERE c.name = ? ORDER BY r.at DESC, r.id DESC LIMIT 1", (conn.name,))
    if row is None:
        return None
    found = int(json.loads(row["counts"]).get("orphans", 0))
    at = datetime.fromisoformat(row["at"])
    if not found:
        return OpenOrphans(at, 0, 0)
    ids = set()
    for line in zlib.decompress(row["rows"]).decode().splitlines():
        record = json.loads(line) if line.startswith("{\"category\": \"orphans\"") else None
        if record and record.get("id"):
            ids.add(record["id"])
    snap = latest_snapshot(ctx, conn)
    if snap is None or not ids:
        return OpenOrphans(at, found, found)
    users = snap.users
    active = users["active"].fillna(False).astype(bool) & users["id"].astype(object).isin(list(ids))
    return OpenOrphans(at, found, int(active.sum()))


def export_csv(ctx: Context, conn: Connection, run_id: int, *, english: bool = True) -> bytes:
    """A run's rows as CSV (formula-safe), one line per row with its category, for evidence. ``english`` (the
    default, for scripts and the command line): the header, category titles and the comparison's words in English
    whatever the language; otherwise in the current language (attribute names and data stay as they are)."""
    row = ctx.store.query_one(
        "SELECT r.rows, r.at, r.mode FROM reconcile_runs r JOIN connections c ON c.id = r.connection_id "
        "WHERE c.name = ? AND r.id = ?", (conn.name, run_id))
    if row is None:
        raise NotFoundError(_("Reconciliation run {run} of {connection} does not exist.").format(
            run=run_id, connection=repr(conn.name)), _("Choose a run from the history."))
    records = [json.loads(line) for line in zlib.decompress(row["rows"]).decode().splitlines() if line]
    columns = ["category", *sorted({k for r in records for k in r} - {"category"})]
    frame = pd.DataFrame(records, columns=columns)
    # which run each line belongs to, so a file is evidence on its own (not only by its name)
    frame.insert(0, "run", run_id)
    frame.insert(1, "run_at", datetime.fromisoformat(row["at"]).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
    frame.insert(2, "connection", conn.name)
    frame.insert(3, "mode", row["mode"])
    if english:
        frame["category"] = frame["category"].map(TITLES).fillna(frame["category"])
        return to_csv_bytes(frame)
    return to_csv_bytes(localize(frame))  # maps the categories itself: it must see their keys to explain the missing
