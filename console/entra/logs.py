"""Entra provisioning logs: normalise, store, import, fetch from Graph, aggregate.

Records are Graph ``provisioningObjectSummary`` objects. ``normalise`` tolerates the variants seen in real
documents (any key casing, capitalised enums, the beta names ``action`` / ``statusInfo``, ``servicePrincipal``
as a list, the misspelt ``initiatingType``, unknown fields, unknown enum values kept as they are). Each record
is stored once per connection (primary key ``(connection, id)``): indexed columns for filtering and
aggregation, plus the record as received, zlib-compressed.

Sources:
- ``fetch_logs``: Graph ``/auditLogs/provisioning`` through ``console.graph.GraphClient`` (client credentials,
  paging, ``Retry-After``), incremental from the newest record of the last complete fetch minus an overlap.
- ``import_files``: admin-center downloads: a JSON array, a Graph envelope ``{"value": [...]}``, JSON lines,
  or the CSV bundle (logs + steps + modified properties, joined on the change id), in UTF-8 (with or without
  BOM), UTF-16 or latin-1. A truncated JSON file yields its complete records and says where it stopped.
"""

from __future__ import annotations

import json
import re
import struct
import threading
import warnings
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pandas as pd

from console.entra.catalogue import explain_error
from console.errors import ConsoleError, InvalidInput, NotFoundError
from console.jsonio import compact_json
from console.uploads import UploadError, decode_text, read_records

if TYPE_CHECKING:
    from console.connections import Connection
    from console.context import Context

ACTIONS = {"create": "create", "update": "update", "delete": "delete", "disable": "disable",
           "stageddelete": "stagedDelete", "other": "other"}
STATUSES = {"success": "success", "failure": "failure", "skipped": "skipped", "warning": "warning"}
ACTIONS.update({v: v for v in list(ACTIONS.values())})  # exact canonical spelling: fast path
ACTIONS_EXACT = {v: v for v in ACTIONS.values()}
STATUSES_EXACT = dict(STATUSES)
BATCH = 5000
#: how far back an incremental fetch reaches before the newest stored record (late-arriving log entries)
FETCH_OVERLAP = timedelta(minutes=15)
#: Entra keeps provisioning logs 30 days; older records in an import are kept but reported
RETENTION = timedelta(days=30)
MAX_DURATION_MS = 30 * 86_400_000   # a provisioning step longer than a month is not a duration
_INSERT = ("INSERT OR IGNORE INTO provisioning_logs (connection, id, activity_ms, cycle_id, change_id, job_id,"
           " action, status, error_code, error_category, identity_type, source_id, source_name, target_id,"
           " target_name, initiator_type, duration_ms, origin, raw) VALUES"
           " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
LOG_COLUMNS = ["id", "time", "cycle_id", "change_id", "action", "status", "error_code", "identity_type",
               "source_id", "source_name", "target_id", "target_name", "initiator_type", "duration_ms"]


_IMPORT_REMEDY = "Download the provisioning logs again from the Entra admin center (JSON, or the CSV files)."


class LogImportError(InvalidInput):
    """A file that cannot be read as provisioning logs at all."""


class FetchError(ConsoleError):
    """Fetching from Graph stopped; what was fetched before the error is kept."""


# ------------------------------------------------------------------------------------------------ normalising

def _text(v: Any) -> str | None:
    if v is None or v == "":
        return None
    return v if isinstance(v, str) else str(v)


def _enum(v: Any, known: dict[str, str]) -> str | None:
    if isinstance(v, dict):  # some exports nest {"value": "..."}
        v = v.get("value")
    if v.__class__ is str and v in known:
        return known[v]
    text = _text(v)
    if text is None:
        return None
    return known.get(text.strip().lower().replace("_", ""), text.strip())


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 (any fraction length, Z or offset; naive = UTC) or a common admin-center CSV date."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = _text(value)
    if text is None:
        return None
    text = text.strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
    except ValueError:
        parsed = None
    if parsed is not None:
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    if not re.search(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}", text):  # looks like no date at all
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ts = pd.to_datetime(text, utc=True)
        if pd.isna(ts):
            return None
        parsed = ts.to_pydatetime()
    except (ValueError, TypeError, OverflowError, pd.errors.OutOfBoundsDatetime):
        return None
    return parsed if parsed.year >= 1900 else None


def _get(d: Any, key: str) -> Any:
    """``d[key]`` with any key casing (exact casing first: the fast path for Graph's own documents)."""
    if not isinstance(d, dict):
        return None
    v = d.get(key)
    if v is not None or key in d:
        return v
    lk = key.lower()
    for k, val in d.items():
        if isinstance(k, str) and k.lower() == lk:
            return val
    return None


def _obj(v: Any) -> dict:
    if isinstance(v, list):  # servicePrincipal as a list in older documents
        v = v[0] if v else None
    return v if isinstance(v, dict) else {}


def _first(d: Any, *keys: str) -> Any:
    for key in keys:
        v = _get(d, key)
        if v is not None and v != "":
            return v
    return None


def _normalise_fast(r: dict) -> tuple | None:
    """The common case, Graph v1.0 as documented (exact key casing, canonical enum values, plain types), without
    the case-insensitive lookups; None sends the record to the tolerant path."""
    rec_id, t, info, act = r.get("id"), r.get("activityDateTime"), r.get("provisioningStatusInfo"), \
        r.get("provisioningAction")
    if rec_id.__class__ is not str or not rec_id or t.__class__ is not str or info.__class__ is not dict:
        return None
    action = ACTIONS_EXACT.get(act) if act.__class__ is str else None
    status = info.get("status")
    status = STATUSES_EXACT.get(status) if status.__class__ is str else None
    if action is None or status is None:
        return None
    err = info.get("errorInformation")
    src, tgt, ini = r.get("sourceIdentity"), r.get("targetIdentity"), r.get("initiatedBy")
    if err is None:
        code = category = None
    elif err.__class__ is dict:
        code, category = err.get("errorCode"), err.get("errorCategory")
    else:
        return None
    if src.__class__ is not dict or tgt.__class__ is not dict or (ini is not None and ini.__class__ is not dict):
        return None
    dur = r.get("durationInMilliseconds")
    texts = (r.get("cycleId"), r.get("changeId"), r.get("jobId"), code, category, src.get("identityType"),
             src.get("id"), src.get("displayName"), tgt.get("id"), tgt.get("displayName"),
             ini.get("initiatorType") if ini else None)
    for v in texts:
        if v is not None and v.__class__ is not str:
            return None
    if (dur is not None and (dur.__class__ is not int or not 0 <= dur <= MAX_DURATION_MS)) \
            or "initiatingType" in (ini or {}):
        return None
    try:
        when = datetime.fromisoformat(t[:-1] + "+00:00" if t[-1:] in "zZ" else t)
    except ValueError:
        return None
    if when.tzinfo is None or when.year < 1971:
        return None
    c, ch, job, code, category, itype, sid, sname, tid, tname, initiator = (v or None for v in texts)
    if itype is None:  # the tolerant path knows where else the identity type may be
        return None
    return (rec_id, int(when.timestamp() * 1000), c, ch, job, action, status, code, category, itype, sid, sname,
            tid, tname, initiator, dur)


def normalise(record: Any) -> tuple[tuple | None, str]:
    """One record -> the indexed columns (without connection/origin/raw), or (None, reason)."""
    if record.__class__ is dict:
        row = _normalise_fast(record)
        if row is not None:
            return row, ""
    if not isinstance(record, dict):
        return None, f"not a JSON object ({type(record).__name__})"
    rec_id = _text(_get(record, "id"))
    if rec_id is None:
        return None, "no id"
    raw_time = _first(record, "activityDateTime", "activityDateTimeUtc", "date")
    when = parse_time(raw_time)
    if when is None:
        return None, f"activityDateTime {raw_time!r} is missing or not a date"
    if when.year < 1971:
        return None, f"activityDateTime {raw_time!r} is not a plausible time (before 1971)"
    status_info = _obj(_first(record, "provisioningStatusInfo", "statusInfo"))
    error = _obj(_get(status_info, "errorInformation") if "errorInformation" in status_info or
                 "provisioningStatusInfo" in record else _get(status_info, "errorInformation") or
                 _get(record, "errorInformation"))
    status = _get(status_info, "status")
    if status is None or status == "":
        top = _get(record, "status")
        status = _get(top, "status") if isinstance(top, dict) else top
    source = _obj(_get(record, "sourceIdentity"))
    target = _obj(_get(record, "targetIdentity"))
    initiated = _obj(_get(record, "initiatedBy"))
    duration = _get(record, "durationInMilliseconds")
    if duration is not None and not isinstance(duration, int):
        try:
            duration = int(float(duration)) if duration != "" else None
        except (TypeError, ValueError, OverflowError):   # "1e400" is infinity
            duration = None
    if isinstance(duration, bool) or (isinstance(duration, int) and not 0 <= duration <= MAX_DURATION_MS):
        duration = None                                    # negative, or beyond SQLite's 64-bit integers
    identity_type = _text(_first(source, "identityType", "type") or _first(target, "identityType", "type"))
    return (rec_id, int(when.timestamp() * 1000), _text(_get(record, "cycleId")), _text(_get(record, "changeId")),
            _text(_get(record, "jobId")), _enum(_first(record, "provisioningAction", "action"), ACTIONS),
            _enum(status, STATUSES), _text(_first(error, "errorCode", "code")), _text(_get(error, "errorCategory")),
            identity_type, _text(_get(source, "id")), _text(_get(source, "displayName")), _text(_get(target, "id")),
            _text(_get(target, "displayName")), _text(_first(initiated, "initiatorType", "initiatingType")),
            duration), ""


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
        raise NotFoundError(f"The stored raw data block {block_id} is missing.",
                            "Import or fetch the logs again; the indexed columns are still usable.")
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
        for attr, pick in (("oldest", min), ("newest", max)):
            a, b = getattr(self, attr), getattr(other, attr)
            setattr(self, attr, pick(a, b) if a and b else (a or b))

    def rejected_reasons(self) -> Counter:
        return Counter(reason.split(" (")[0] for _, reason in self.rejected)

    def summary(self) -> str:
        text = (f"{self.new} new, {self.known + self.duplicates} already known"
                + (f" ({self.duplicates} repeated within the input)" if self.duplicates else "")
                + f", {self.rejected_count} rejected")
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"new": self.new, "already_known": self.known + self.duplicates, "duplicates_in_input":
                self.duplicates, "rejected": self.rejected_count,
                "rejected_examples": [{"where": w, "reason": r} for w, r in self.rejected],
                "warnings": self.warnings,
                "oldest": self.oldest.isoformat() if self.oldest else None,
                "newest": self.newest.isoformat() if self.newest else None, "job_error": self.job_error}


def _conn_name(conn: Connection | str) -> str:
    return conn if isinstance(conn, str) else conn.name


class _Ingester:
    """Buffers normalised rows and writes them in large transactions (``INSERT OR IGNORE``)."""

    def __init__(self, ctx: Context, conn_name: str, origin: str) -> None:
        self.ctx, self.conn_name, self.origin = ctx, conn_name, origin
        self.result = ImportResult()
        self.seen: set[str] = set()
        self.rows: list[tuple] = []
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
            self.result.reject(where, "the record cannot be stored as JSON (numbers beyond 64 bits or nesting "
                                      "too deep)")
            return
        self.seen.add(rec_id)
        ms = row[1]
        self.max_ms = ms if self.max_ms is None or ms > self.max_ms else self.max_ms
        self.min_ms = ms if self.min_ms is None or ms < self.min_ms else self.min_ms
        self.rows.append((self.conn_name, *row, self.origin))
        self.raws.append(raw)
        if len(self.rows) >= BATCH:
            self.flush()

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
            out = []
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
            now = datetime.now(UTC)
            if res.oldest < now - RETENTION:
                res.warnings.append(
                    f"Some records are older than Entra's 30-day retention (oldest {res.oldest:%Y-%m-%d}); they "
                    "were kept, but check that this is the download you meant.")
            if res.newest > now + timedelta(hours=1):
                res.warnings.append(f"Some records are dated in the future (newest {res.newest:%Y-%m-%d %H:%M} "
                                    "UTC); check the clock of the machine that produced them.")
        return res


def ingest_records(ctx: Context, conn: Connection | str, records: Iterable[Any], *, origin: str = "import",
                   label: str = "record") -> ImportResult:
    """Store records (Graph schema) for a connection; returns counts new / known / rejected."""
    ing = _Ingester(ctx, _conn_name(conn), origin)
    for i, rec in enumerate(records, 1):
        rid = rec.get("id") if isinstance(rec, dict) else None
        ing.add(rec, f"{label} {i}" + (f" (id {rid})" if rid else ""))
    return ing.finish()


# ----------------------------------------------------------------------------------------------------- files

def _salvage_json(text: str) -> tuple[list[Any], str]:
    """Read the complete objects of a truncated JSON array / envelope. Returns (records, note)."""
    decoder = json.JSONDecoder()
    m = re.match(r'\s*\{.*?"value"\s*:\s*\[', text, re.S | re.I) or re.match(r"\s*\[", text)
    if not m:
        raise LogImportError("The file is not valid JSON and does not start like a list of log records.",
                             "Download the logs again from the Entra admin center (JSON or CSV).")
    pos, records = m.end(), []
    n = len(text)
    while True:
        while pos < n and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= n or text[pos] == "]":
            break
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            break
        records.append(obj)
    note = (f"The file is cut off at character {pos} of {n}: the {len(records)} complete records before that "
            "point were read; anything after it is missing. Download the logs again to get the rest.")
    return records, note


def parse_json_text(text: str) -> tuple[list[Any], list[str]]:
    """JSON array, Graph envelope, a single record, or JSON lines -> (records, warnings)."""
    stripped = text.strip()
    if not stripped:
        raise LogImportError("The file is empty.", "Download the logs again from the Entra admin center.")
    try:
        doc = orjson.loads(stripped)
    except orjson.JSONDecodeError:
        lines = [ln for ln in stripped.splitlines() if ln.strip()]
        if len(lines) > 1 and all(ln.lstrip().startswith("{") for ln in lines[:2]):
            records, warnings = [], []
            for i, ln in enumerate(lines, 1):
                try:
                    records.append(orjson.loads(ln))
                except orjson.JSONDecodeError:
                    records.append(None)
                    warnings.append(f"line {i} is not valid JSON")
            return records, warnings
        records, note = _salvage_json(stripped)
        return records, [note]
    if isinstance(doc, list):
        return doc, []
    if isinstance(doc, dict):
        lowered = {str(k).lower(): v for k, v in doc.items()}
        if isinstance(lowered.get("value"), list):
            warnings = []
            if doc.get("@odata.nextLink"):
                warnings.append("The file is one page of a longer Graph answer (it has @odata.nextLink); only "
                                "this page was imported.")
            return lowered["value"], warnings
        if "id" in lowered:
            return [doc], []
    raise LogImportError("The JSON file holds neither a list of provisioning log records nor a Graph answer "
                         "with a \"value\" list.", "Download the provisioning logs from the Entra admin center.")


def _norm_header(h: str) -> str:
    return re.sub(r"[^a-z0-9]", "", (h or "").lower())


# CSV column aliases (normalised header -> canonical name)
_MAIN = {
    "id": ["id", "provisioningid", "logid", "recordid"],
    "activityDateTime": ["activitydatetime", "activitydatetimeutc", "date", "dateutc", "datetime", "datetimeutc",
                         "activitydate", "timestamp", "time"],
    "cycleId": ["cycleid"], "changeId": ["changeid"], "jobId": ["jobid"],
    "provisioningAction": ["provisioningaction", "action"],
    "status": ["status", "provisioningstatus", "provisioningstatusinfostatus"],
    "errorCode": ["errorcode", "errorinformationerrorcode", "statuserrorcode"],
    "reason": ["reason", "errorreason", "statusreason", "failurereason", "errorinformationreason"],
    "additionalDetails": ["additionaldetails", "errorinformationadditionaldetails"],
    "errorCategory": ["errorcategory", "errorinformationerrorcategory"],
    "recommendedAction": ["recommendedaction", "errorinformationrecommendedaction"],
    "sourceId": ["sourceidentityid", "sourceid", "sourceobjectid"],
    "sourceName": ["sourceidentitydisplayname", "sourceidentityname", "sourcedisplayname", "sourcename"],
    "sourceType": ["sourceidentitytype", "sourceidentityidentitytype", "identitytype", "type"],
    "targetId": ["targetidentityid", "targetid", "targetobjectid"],
    "targetName": ["targetidentitydisplayname", "targetidentityname", "targetdisplayname", "targetname"],
    "targetType": ["targetidentitytype", "targetidentityidentitytype"],
    "sourceSystem": ["sourcesystem", "sourcesystemdisplayname", "sourcesystemname"],
    "targetSystem": ["targetsystem", "targetsystemdisplayname", "targetsystemname"],
    "servicePrincipalId": ["serviceprincipalid"],
    "servicePrincipalName": ["serviceprincipalname", "serviceprincipaldisplayname", "serviceprincipal"],
    "initiatedBy": ["initiatedby", "initiatedbydisplayname", "initiatedbyname"],
    "initiatorType": ["initiatortype", "initiatedbyinitiatortype", "initiatingtype"],
    "duration": ["durationinmilliseconds", "durationms", "duration"],
    "tenantId": ["tenantid"],
}
_STEPS = {
    "key": ["changeid"], "logId": ["id", "provisioningid", "logid", "recordid"],
    "name": ["stepname", "name"],
    "type": ["provisioningsteptype", "steptype", "type"],
    "status": ["stepstatus", "status"], "description": ["stepdescription", "description"],
    "details": ["stepdetails", "details"],
    "order": ["stepnumber", "stepindex", "step", "order", "index", "sequence"],
}
_PROPS = {
    "key": ["changeid"], "logId": ["id", "provisioningid", "logid", "recordid"],
    "name": ["displayname", "propertyname", "modifiedpropertyname", "property", "attribute", "name"],
    "old": ["oldvalue", "old", "previousvalue"], "new": ["newvalue", "new", "value"],
}


def _resolve(headers: list[str], spec: dict[str, list[str]]) -> dict[str, str]:
    normalised = {_norm_header(h): h for h in headers}
    found: dict[str, str] = {}
    used: set[str] = set()
    for canonical, aliases in spec.items():
        for alias in aliases:
            if alias in normalised and normalised[alias] not in used:
                found[canonical] = normalised[alias]
                used.add(normalised[alias])
                break
    return found


def _csv_kind(headers: list[str], name: str = "") -> str:
    """logs | steps | properties, from the header (and the file name as a hint)."""
    norm = {_norm_header(h) for h in headers}
    fname = _norm_header(name)
    dated = bool(norm & {"date", "dateutc", "activitydatetime", "activitydatetimeutc", "datetime", "datetimeutc"})
    if {"oldvalue", "newvalue"} & norm or {"old", "new"} <= norm or "modifiedpropert" in fname:
        return "properties"
    if norm & {"provisioningsteptype", "steptype", "stepname", "stepnumber"} or (
            not dated and ("step" in norm or "steps" in fname) and norm & {"name", "type", "description"}):
        return "steps"
    return "logs"


def _maybe_json(value: str | None) -> Any:
    if value is None:
        return None
    v = value.strip()
    if v[:1] in "{[":
        try:
            return orjson.loads(v)
        except orjson.JSONDecodeError:
            return value
    return value if v != "" else None


def csv_bundle_to_records(files: list[tuple[str, list[str], list[dict[str, str]]]]
                          ) -> tuple[list[dict], list[str], list[tuple[str, str]]]:
    """Join the admin center's CSV bundle (logs, steps, modified properties) into Graph-shaped records.
    Returns (records, warnings, file problems as (file, reason))."""
    logs, steps, props = [], [], []
    warnings: list[str] = []
    problems: list[tuple[str, str]] = []
    for name, headers, rows in files:
        kind = _csv_kind(headers, name)
        {"logs": logs, "steps": steps, "properties": props}[kind].append((name, headers, rows))
    if not logs:
        if steps or props:
            problems.append((", ".join(n for n, _, _ in steps + props),
                             "only the steps / modified-properties file(s) of the CSV bundle were given; add the "
                             "main provisioning-logs CSV (the one with the date and action columns)"))
        return [], warnings, problems
    by_key: dict[str, dict] = {}
    by_id: dict[str, dict] = {}
    records: list[dict] = []
    for name, headers, rows in logs:
        cols = _resolve(headers, _MAIN)
        missing = [c for c in ("id", "activityDateTime") if c not in cols]
        if missing:
            problems.append((name, f"the CSV has no {' or '.join(missing)} column (columns found: "
                                   f"{', '.join(headers[:12])}); it does not look like a provisioning-logs "
                                   "download"))
            continue
        optional_missing = [c for c in ("cycleId", "changeId", "provisioningAction", "status") if c not in cols]
        if optional_missing:
            warnings.append(f"{name}: no {', '.join(optional_missing)} column; those fields are left empty")
        known_cols = set(cols.values())
        for row in rows:
            def g(c: str, row: dict = row, cols: dict = cols) -> Any:
                h = cols.get(c)
                v = row.get(h) if h else None
                return v.strip() if isinstance(v, str) and v.strip() != "" else None
            rec: dict[str, Any] = {
                "id": g("id"), "activityDateTime": g("activityDateTime"), "cycleId": g("cycleId"),
                "changeId": g("changeId"), "jobId": g("jobId"), "provisioningAction": g("provisioningAction"),
                "provisioningStatusInfo": {"status": g("status"), "errorInformation": None},
                "sourceIdentity": {"id": g("sourceId"), "displayName": g("sourceName"),
                                   "identityType": g("sourceType")},
                "targetIdentity": {"id": g("targetId"), "displayName": g("targetName"),
                                   "identityType": g("targetType") or g("sourceType")},
                "provisioningSteps": [], "modifiedProperties": [],
            }
            if g("errorCode") or g("reason"):
                rec["provisioningStatusInfo"]["errorInformation"] = {
                    "errorCode": g("errorCode"), "reason": g("reason"),
                    "additionalDetails": g("additionalDetails"), "errorCategory": g("errorCategory"),
                    "recommendedAction": g("recommendedAction")}
            if g("sourceSystem"):
                rec["sourceSystem"] = {"displayName": g("sourceSystem")}
            if g("targetSystem"):
                rec["targetSystem"] = {"displayName": g("targetSystem")}
            if g("servicePrincipalId") or g("servicePrincipalName"):
                rec["servicePrincipal"] = {"id": g("servicePrincipalId"), "displayName": g("servicePrincipalName")}
            if g("initiatedBy") or g("initiatorType"):
                rec["initiatedBy"] = {"displayName": g("initiatedBy"), "initiatorType": g("initiatorType")}
            if g("duration"):
                rec["durationInMilliseconds"] = g("duration")
            if g("tenantId"):
                rec["tenantId"] = g("tenantId")
            extra = {k: v for k, v in row.items() if k is not None and k not in known_cols and v not in (None, "")}
            if extra:
                rec["csvExtraColumns"] = extra
            records.append(rec)
            if rec["changeId"]:
                by_key.setdefault(rec["changeId"], rec)
            if rec["id"]:
                by_id.setdefault(rec["id"], rec)
    unmatched = 0
    for name, headers, rows in steps:
        cols = _resolve(headers, _STEPS)
        if "key" not in cols and "logId" not in cols:
            problems.append((name, "the steps CSV has no change id column to join it on; steps were not attached"))
            continue
        attached = []
        for row in rows:
            key = (row.get(cols["key"]) or "").strip() if "key" in cols else ""
            lid = (row.get(cols["logId"]) or "").strip() if "logId" in cols else ""
            rec = by_key.get(key) or by_id.get(lid) or by_id.get(key)
            if rec is None:
                unmatched += 1
                continue
            step = {"name": row.get(cols.get("name", ""), None), "provisioningStepType": row.get(cols.get("type", "")),
                    "status": row.get(cols.get("status", "")), "description": row.get(cols.get("description", "")),
                    "details": _maybe_json(row.get(cols.get("details", ""))) or {}}
            order = row.get(cols.get("order", ""))
            attached.append((rec, order, step))
        for rec, _order, step in sorted(attached, key=lambda t: _order_key(t[1])):
            rec["provisioningSteps"].append(step)
    for name, headers, rows in props:
        cols = _resolve(headers, _PROPS)
        if "key" not in cols and "logId" not in cols:
            problems.append((name, "the modified-properties CSV has no change id column; properties were not "
                                   "attached"))
            continue
        for row in rows:
            key = (row.get(cols["key"]) or "").strip() if "key" in cols else ""
            lid = (row.get(cols["logId"]) or "").strip() if "logId" in cols else ""
            rec = by_key.get(key) or by_id.get(lid) or by_id.get(key)
            if rec is None:
                unmatched += 1
                continue
            rec["modifiedProperties"].append({"displayName": row.get(cols.get("name", "")),
                                              "oldValue": row.get(cols.get("old", "")) or None,
                                              "newValue": row.get(cols.get("new", "")) or None})
    if unmatched:
        warnings.append(f"{unmatched} step / property rows refer to a change id that is not in the logs CSV; "
                        "they were not attached")
    return records, warnings, problems


def _order_key(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def parse_files(files: list[tuple[str, bytes]]) -> tuple[list[tuple[str, list[Any]]], list[str],
                                                           list[tuple[str, str]]]:
    """Parse uploaded/downloaded files. Returns ([(label, records)], warnings, file problems)."""
    parsed: list[tuple[str, list[Any]]] = []
    warnings: list[str] = []
    problems: list[tuple[str, str]] = []
    csv_files = []
    for name, data in files:
        try:
            decoded = decode_text(data, name=name, remedy=_IMPORT_REMEDY)
        except UploadError as exc:
            problems.append((name, exc.reason))
            continue
        text = decoded.text
        head = text.lstrip()[:1]
        try:
            if head in ("[", "{"):
                records, notes = parse_json_text(text)
                parsed.append((name, records))
                warnings.extend(f"{name}: {n}" for n in notes)
            elif not text.strip():
                problems.append((name, "the file is empty"))
            else:
                table = read_records(decoded, name=name)
                headers, rows = table.header, table.records
                if len(headers) < 2:
                    problems.append((name, "the file is neither JSON nor a CSV with a header row; download the "
                                           "provisioning logs again (JSON or CSV)"))
                    continue
                if not decoded.is_utf8:
                    warnings.append(f"{name}: read as {decoded.encoding}")
                warnings.extend(f"{name}: {n}" for n in table.notes)
                problems.extend((f"{name} line {line}", why) for line, why in table.problems)
                csv_files.append((name, headers, rows))
        except LogImportError as exc:
            problems.append((name, str(exc)))
        except (ValueError, UnicodeError, RecursionError) as exc:
            problems.append((name, f"the file cannot be read as provisioning logs ({exc}); download the logs "
                                   "again from the Entra admin center (JSON or CSV)"))
    if csv_files:
        records, notes, bad = csv_bundle_to_records(csv_files)
        warnings.extend(notes)
        problems.extend(bad)
        if records:
            parsed.append((" + ".join(n for n, _, _ in csv_files), records))
    return parsed, warnings, problems


def import_files(ctx: Context, conn: Connection | str, files: list[tuple[str, bytes]] | list[Path] | list[str]
                 ) -> ImportResult:
    """Import admin-center downloads (paths or ``(name, bytes)`` pairs; a CSV bundle's files together)."""
    loaded: list[tuple[str, bytes]] = []
    result = ImportResult()
    for f in files:
        if isinstance(f, tuple):
            loaded.append(f)
            continue
        path = Path(f)
        try:
            loaded.append((path.name, path.read_bytes()))
        except OSError as exc:
            result.reject(str(path), f"cannot be read ({exc.strerror or exc})")
    parsed, warnings, problems = parse_files(loaded)
    for name, reason in problems:
        result.reject(name, reason)
    result.warnings.extend(warnings)
    name = _conn_name(conn)
    for label, records in parsed:
        result.merge(_ingest_labelled(ctx, name, records, label))
    _record_fetch(ctx, name, "import", None, result, complete=True, watermark=None)
    return result


def _ingest_labelled(ctx: Context, name: str, records: list[Any], label: str) -> ImportResult:
    ing = _Ingester(ctx, name, "import")
    for i, rec in enumerate(records, 1):
        rid = rec.get("id") if isinstance(rec, dict) else None
        ing.add(rec, f"{label} record {i}" + (f" (id {rid})" if rid else ""))
    return ing.finish()


def _record_fetch(ctx: Context, name: str, origin: str, since: datetime | None, result: ImportResult, *,
                  complete: bool, watermark: int | None, detail: str = "") -> None:
    ctx.store.execute(
        "INSERT INTO log_fetches (connection, at, origin, since, new, known, rejected, complete, watermark, detail)"
        " VALUES (?,?,?,?,?,?,?,?,?,?)",
        (name, datetime.now(UTC).isoformat(), origin, since.isoformat() if since else None, result.new,
         result.known + result.duplicates, result.rejected_count, int(complete), watermark, detail))


# ----------------------------------------------------------------------------------------------------- Graph

def fetch_since(ctx: Context, conn: Connection | str) -> datetime | None:
    """Where the next incremental fetch starts: newest record of the last complete fetch minus the overlap."""
    row = ctx.store.query_one("SELECT MAX(watermark) AS w FROM log_fetches WHERE connection = ? AND origin = 'graph'"
                              " AND complete = 1", (_conn_name(conn),))
    if row is None or row["w"] is None:
        return None
    return datetime.fromtimestamp(row["w"] / 1000, UTC) - FETCH_OVERLAP


def last_fetch(ctx: Context, conn: Connection | str) -> dict | None:
    row = ctx.store.query_one("SELECT * FROM log_fetches WHERE connection = ? AND origin = 'graph'"
                              " ORDER BY id DESC LIMIT 1", (_conn_name(conn),))
    return dict(row) if row else None


def fetch_logs(ctx: Context, conn: Connection, *, full: bool = False,
               progress: Callable[[int], None] | None = None) -> ImportResult:
    """Fetch new provisioning logs from Graph. Incremental unless ``full``. Raises ``ConsoleError`` when the
    connection has no Entra settings, ``FetchError`` (what was fetched is kept) when Graph fails midway."""
    from console.graph import GraphClient

    if getattr(conn, "entra", None) is None:
        raise InvalidInput(f"Connection {conn.name!r} has no Microsoft Graph settings, so its provisioning logs "
                           "cannot be fetched.", "Add the tenant id, client id, service-principal id and client "
                           "secret on the Connection page, or import a download from the Entra admin center.")
    since = None if full else fetch_since(ctx, conn)
    ing = _Ingester(ctx, conn.name, "graph")
    graph = GraphClient.for_connection(ctx, conn)
    count = 0
    try:
        for i, rec in enumerate(graph.iter_provisioning_logs(since=since), 1):
            rid = rec.get("id") if isinstance(rec, dict) else None
            ing.add(rec, f"Graph record {i}" + (f" (id {rid})" if rid else ""))
            count = i
            if progress is not None and i % 500 == 0:
                progress(i)
    except Exception as exc:
        partial = ing.finish()
        _record_fetch(ctx, conn.name, "graph", since, partial, complete=False, watermark=None, detail=str(exc)[:500])
        if isinstance(exc, ConsoleError):
            raise FetchError(f"Fetching provisioning logs stopped after {count} records ({partial.new} new, kept): "
                             f"{exc.message}", exc.remedy) from None
        raise FetchError(f"Fetching provisioning logs stopped after {count} records ({partial.new} new, kept): "
                         f"{exc}", "Try again; the next fetch starts where the last complete one ended.") from None
    finally:
        close = getattr(graph, "close", None)
        if callable(close):
            close()
    result = ing.finish()
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    prior = fetch_since(ctx, conn)
    watermark = min(ing.max_ms, now_ms) if ing.max_ms is not None else (
        int((prior + FETCH_OVERLAP).timestamp() * 1000) if prior else None)
    _record_fetch(ctx, conn.name, "graph", since, result, complete=True, watermark=watermark)
    return result


# ------------------------------------------------------------------------------------------------- reading

def _ms(t: datetime | None) -> int | None:
    return int(t.astimezone(UTC).timestamp() * 1000) if t is not None else None


def history_version(ctx: Context, conn: Connection | str) -> tuple:
    """A cheap fingerprint of everything the Sync history page shows (logs, job polls, snapshots): it changes
    whenever any of them does, so the page can cache its aggregations on it."""
    name = _conn_name(conn)
    logs = ctx.store.query_one(
        "SELECT COUNT(*), MAX(activity_ms) FROM provisioning_logs WHERE connection = ?", (name,))
    jobs = ctx.store.query_one("SELECT COUNT(*), MAX(id) FROM job_status_history WHERE connection = ?", (name,))
    snaps = ctx.store.query_one("SELECT MAX(id) FROM snapshots WHERE connection = ?", (name,))
    return (logs[0], logs[1], jobs[0], jobs[1], snaps[0])


def range_start(span: timedelta | None, now: datetime | None = None) -> datetime | None:
    """Where a "last 7 days" period starts, as every page computes it: ``now - span`` to the minute (so that
    two pages showing the same period count the same records). None for everything."""
    if span is None:
        return None
    return ((now or datetime.now(UTC)).astimezone(UTC) - span).replace(second=0, microsecond=0)


def log_count(ctx: Context, conn: Connection | str) -> int:
    row = ctx.store.query_one("SELECT COUNT(*) AS n FROM provisioning_logs WHERE connection = ?",
                              (_conn_name(conn),))
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
    name = _conn_name(conn)
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
    by_action = (g.groupby(["action", "status"], as_index=False)["count"].sum()
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
    where, params = ["connection = ?"], [_conn_name(conn)]
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
                           f" IS NOT NULL ORDER BY 1", (_conn_name(conn),))
    return [r[0] for r in rows]


def get_record(ctx: Context, conn: Connection | str, record_id: str) -> dict:
    """The stored record as received (steps and modified properties included)."""
    row = ctx.store.query_one("SELECT raw FROM provisioning_logs WHERE connection = ? AND id = ?",
                              (_conn_name(conn), record_id))
    if row is None:
        raise NotFoundError(f"No provisioning log record {record_id!r} is stored for this connection.",
                            "Fetch or import the logs first.")
    return decompress_raw(ctx, row["raw"])


def record_steps(record: dict) -> tuple[list[dict], list[dict]]:
    """(steps, modified properties) of a record, with the key variants smoothed."""
    lowered = {str(k).lower(): v for k, v in record.items()}
    steps = []
    for s in lowered.get("provisioningsteps") or []:
        if isinstance(s, dict):
            ls = {str(k).lower(): v for k, v in s.items()}
            details = ls.get("details")
            steps.append({"name": ls.get("name"), "type": ls.get("provisioningsteptype"), "status": ls.get("status"),
                          "description": ls.get("description"),
                          "details": json.dumps(details, default=str) if isinstance(details, (dict, list)) else details})
    props = []
    for p in lowered.get("modifiedproperties") or []:
        if isinstance(p, dict):
            lp = {str(k).lower(): v for k, v in p.items()}
            props.append({"property": lp.get("displayname"), "old": lp.get("oldvalue"), "new": lp.get("newvalue")})
    return steps, props


def iter_records(ctx: Context, conn: Connection | str) -> Iterator[dict]:
    for row in ctx.store.conn.execute("SELECT raw FROM provisioning_logs WHERE connection = ? ORDER BY activity_ms",
                                      (_conn_name(conn),)):
        yield decompress_raw(ctx, row[0])
