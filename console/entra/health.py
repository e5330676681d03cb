"""Health of the Entra provisioning job: status history, cycles, quarantine, overdue, failure spikes, staged
deletes, and Entra's error codes in words (``console.entra.catalogue``, in the current language).

``poll_job`` reads ``servicePrincipals/{sp}/synchronization/jobs/{job}`` through ``console.graph`` and keeps
each answer in ``job_status_history``. ``job_overview`` combines that history with the stored provisioning
logs (``console.entra.logstore``) into what the Overview and Sync history pages and the alerts need; when the
next cycle is due is ``console.entra.schedule``.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from console.connections import Connection
from console.context import Context
from console.entra.catalogue import INFERRED_REASON, explain_error, quarantine_reason_text
from console.entra.logstore import conn_name, cycles_from_counts, grouped_counts
from console.entra.records import parse_time
from console.errors import InvalidInput
from console.graph import GraphClient
from console.i18n import _
from console.jsonio import compact_json

DEFAULT_INTERVAL = timedelta(minutes=40)
#: how far back job_overview looks at cycles for spikes, staged deletes and credential failures
RECENT = timedelta(days=7)
#: overdue when no cycle completed for more than this many schedule intervals
OVERDUE_INTERVALS = 2
#: a cycle's failure rate is a spike when it is at least SPIKE_FACTOR x the trailing median and SPIKE_MARGIN
#: above it, at least SPIKE_MIN_RATE, with at least SPIKE_MIN_FAILURES failures
SPIKE_WINDOW, SPIKE_FACTOR, SPIKE_MARGIN, SPIKE_MIN_RATE, SPIKE_MIN_FAILURES = 10, 2.0, 0.15, 0.10, 3
CREDENTIAL_CODES = ("SystemForCrossDomainIdentityManagementCredentialValidationFailure", "Unauthorized",
                    "InsufficientRights", "CredentialValidationFailure")

def parse_interval(text: str | None) -> timedelta:
    """ISO 8601 duration (PT40M, PT1H30M, P1D) -> timedelta; the 40-minute default when missing/unreadable."""
    if not text:
        return DEFAULT_INTERVAL
    m = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", str(text).strip().upper())
    if not m or not any(m.groups()):
        return DEFAULT_INTERVAL
    d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    value = timedelta(days=d, hours=h, minutes=mi, seconds=s)
    return value if value > timedelta(0) else DEFAULT_INTERVAL


def _lower(d: Any) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in d.items()} if isinstance(d, dict) else {}


def _time(value: Any) -> str | None:
    """A Graph time as ISO UTC, None for empty / "never" (0001-01-01)."""
    t = parse_time(value)
    if t is None or t.year < 1971:
        return None
    return t.isoformat()


def _word(value: Any) -> str | None:
    """A status field from Graph as bounded text (a hostile answer may put objects or megabytes there)."""
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)[:200]


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31 else None


# ------------------------------------------------------------------------------------------------- polling

def record_job_status(ctx: Context, conn: Connection | str, job: dict[str, Any],
                      polled_at: datetime | None = None) -> None:
    """Store one answer of ``GET .../synchronization/jobs/{jobId}``."""
    if not isinstance(job, dict):
        raise InvalidInput(_("The provisioning job answer is not a JSON object."), _("Check the Graph base URL."))
    name = conn_name(conn)
    j = _lower(job)
    schedule, status = _lower(j.get("schedule")), _lower(j.get("status"))
    quarantine, last = _lower(status.get("quarantine")), _lower(status.get("lastexecution"))
    error = _lower(quarantine.get("error")) or _lower(last.get("error"))
    ctx.store.execute(
        "INSERT INTO job_status_history (connection, polled_at, code, schedule_interval, schedule_state,"
        " quarantine_reason, quarantine_began, quarantine_next, error_code, successive_failures, last_cycle_id,"
        " last_began, last_ended, last_state, raw) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (name, (polled_at or ctx.now()).astimezone(UTC).isoformat(), _word(status.get("code")),
         _word(schedule.get("interval")), _word(schedule.get("state")),
         _word(quarantine.get("reason")) if quarantine else None,
         _time(quarantine.get("currentbegan") or quarantine.get("seriesbegan")) if quarantine else None,
         _time(quarantine.get("nextattempt")) if quarantine else None, _word(error.get("code")),
         _count(status.get("countsuccessivecompletefailures")), _word(last.get("activityidentifier")),
         _time(last.get("timebegan")), _time(last.get("timeended")), _word(last.get("state")),
         zlib.compress(compact_json(job) or b"{}")))


def poll_job(ctx: Context, conn: Connection) -> dict[str, Any]:
    """Read the job from Graph and store it. Raises the Graph error (with its remedy) when that fails."""
    if conn.entra is None:
        raise InvalidInput(_("Connection {name!r} has no Microsoft Graph settings.").format(name=conn.name),
                           _("Add them on the Connection & token page to see the provisioning job's status."))
    with GraphClient.for_connection(ctx, conn) as graph:
        job = graph.get_job()
    record_job_status(ctx, conn, job)
    return job


def status_history(ctx: Context, conn: Connection | str) -> pd.DataFrame:
    name = conn_name(conn)
    rows = ctx.store.query(
        "SELECT polled_at, code, schedule_interval, schedule_state, quarantine_reason, quarantine_began,"
        " quarantine_next, error_code, successive_failures, last_cycle_id, last_began, last_ended, last_state"
        " FROM job_status_history WHERE connection = ? ORDER BY polled_at", (name,))
    cols = ["polled_at", "code", "schedule_interval", "schedule_state", "quarantine_reason", "quarantine_began",
            "quarantine_next", "error_code", "successive_failures", "last_cycle_id", "last_began", "last_ended",
            "last_state"]
    df = pd.DataFrame([tuple(r) for r in rows], columns=cols)
    for c in ("polled_at", "quarantine_began", "quarantine_next", "last_began", "last_ended"):
        df[c] = pd.to_datetime(df[c], utc=True, format="ISO8601")
    return df


# ------------------------------------------------------------------------------------------------ deriving

def quarantine_periods(history: pd.DataFrame, now: datetime | None = None) -> pd.DataFrame:
    """Periods the job spent in quarantine: start, end (NaT while still quarantined), reason, error_code."""
    periods: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    row: Any  # a pandas row (named tuple of the columns above)
    for row in history.itertuples(index=False):
        quarantined = str(row.code or "").lower() == "quarantine"
        if quarantined and current is None:
            began = row.quarantine_began if pd.notna(row.quarantine_began) else row.polled_at
            current = {"start": began, "end": pd.NaT, "reason": row.quarantine_reason, "error_code": row.error_code}
        elif quarantined and current is not None:
            current["reason"] = current["reason"] or row.quarantine_reason
        elif not quarantined and current is not None:
            current["end"] = row.polled_at
            periods.append(current)
            current = None
    if current is not None:
        periods.append(current)
    return pd.DataFrame(periods, columns=["start", "end", "reason", "error_code"])


def inferred_quarantine_periods(grouped: pd.DataFrame) -> pd.DataFrame:
    """Quarantine periods read from the logs alone (``logstore.grouped_counts``), for the time before the
    console polled the job or when it cannot read it: from a cycle whose records failed with a credential error
    (Entra quarantines on those) to the start of the next cycle with a success. Reason ``inferred from logs``."""
    columns = ["start", "end", "reason", "error_code"]
    if grouped.empty:
        return pd.DataFrame(columns=columns)
    g = grouped.assign(cred=grouped["error_code"].isin(CREDENTIAL_CODES) & (grouped["status"] == "failure"),
                       ok=grouped["status"] == "success")
    per_cycle = g.groupby(g["cycle_id"].fillna(""), sort=False).agg(
        start=("first_ms", "min"), cred=("cred", "any"), ok=("ok", "any"),
        code=("error_code", lambda c: next((x for x in c if x in CREDENTIAL_CODES), None))).sort_values("start")
    periods: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    row: Any  # a pandas row: start, cred, ok, code
    for row in per_cycle.itertuples():
        at = pd.Timestamp(row.start, unit="ms", tz="UTC")
        if row.cred and not row.ok and current is None:
            current = {"start": at, "end": pd.NaT, "reason": INFERRED_REASON, "error_code": row.code}
        elif row.ok and current is not None:
            current["end"] = at
            periods.append(current)
            current = None
    if current is not None:
        periods.append(current)
    return pd.DataFrame(periods, columns=columns)


def _merge_periods(polled: pd.DataFrame, inferred: pd.DataFrame) -> pd.DataFrame:
    """Polled periods win; an inferred one is kept only where it overlaps no polled period."""
    if inferred.empty:
        return polled
    keep = []
    spans = [(pd.Timestamp(start), end) for start, end in zip(polled["start"], polled["end"], strict=True)]
    row: Any  # a pandas row: start, end, reason, error_code
    for row in inferred.itertuples(index=False):
        end = row.end if pd.notna(row.end) else pd.Timestamp.max.tz_localize("UTC")
        overlaps = any(start <= end and (pd.isna(p_end) or pd.Timestamp(p_end) >= row.start)
                       for start, p_end in spans)
        if not overlaps:
            keep.append(row._asdict())
    if not keep:
        return polled
    merged = pd.concat([polled, pd.DataFrame(keep)], ignore_index=True) if len(polled) else pd.DataFrame(keep)
    return merged.sort_values("start").reset_index(drop=True)


def failure_spikes(cycles: pd.DataFrame) -> pd.DataFrame:
    """Cycles whose failure rate is well above the median of the previous ``SPIKE_WINDOW`` cycles."""
    if cycles.empty or len(cycles) < 4:
        return cycles.iloc[0:0].assign(trailing_median=pd.Series(dtype=float))
    c = cycles.sort_values("start").reset_index(drop=True)
    rates = c["failure_rate"].astype(float)
    median = rates.shift(1).rolling(SPIKE_WINDOW, min_periods=3).median()
    spike = (median.notna() & (rates >= SPIKE_MIN_RATE) & (c["failure"] >= SPIKE_MIN_FAILURES)
             & (rates >= median * SPIKE_FACTOR) & (rates >= median + SPIKE_MARGIN))
    return c[spike].assign(trailing_median=median[spike])


def job_cycles(ctx: Context, conn: Connection | str, since: datetime | None = None) -> pd.DataFrame:
    """Cycles from the logs (grouped by cycleId) completed with executions seen in the job's status history
    (cycles without changes leave no log records). Columns as ``logstore.cycles_from_counts`` plus
    ``state`` (job lastExecution state, when known) and ``source`` (logs | job | both)."""
    cycles = cycles_from_counts(grouped_counts(ctx, conn, since))
    cycles["state"] = None
    cycles["source"] = "logs"
    hist = status_history(ctx, conn)
    execs = hist.dropna(subset=["last_cycle_id"]).drop_duplicates("last_cycle_id", keep="last")
    if since is not None and not execs.empty:
        execs = execs[execs["last_began"].isna() | (execs["last_began"] >= pd.Timestamp(since))]
    if execs.empty:
        return cycles
    known = set(cycles["cycle_id"])
    extra = []
    row: Any  # a pandas row of status_history
    for row in execs.itertuples(index=False):
        if row.last_cycle_id in known:
            same = cycles["cycle_id"] == row.last_cycle_id
            cycles.loc[same, "state"] = row.last_state
            cycles.loc[same, "source"] = "both"
            continue
        extra.append({"cycle_id": row.last_cycle_id, "start": row.last_began, "end": row.last_ended, "total": 0,
                      "success": 0, "failure": 0, "skipped": 0, "warning": 0, "failure_rate": 0.0,
                      "state": row.last_state, "source": "job"})
    if extra:
        cycles = pd.concat([cycles, pd.DataFrame(extra)], ignore_index=True) if len(cycles) else pd.DataFrame(extra)
        cycles = cycles.sort_values("start").reset_index(drop=True)
    for col in cycles.columns:
        if col.startswith("action_") or col in ("total", "success", "failure", "skipped", "warning"):
            cycles[col] = cycles[col].fillna(0).astype("int64")
    return cycles


@dataclass
class JobOverview:
    """What the pages and alerts need about the provisioning job and its cycles (all times UTC)."""

    has_graph: bool
    status: str | None                  # job status code from the last poll (None if never polled)
    schedule_state: str | None
    interval: timedelta
    last_polled: datetime | None
    last_cycle_id: str | None
    last_cycle_end: datetime | None
    next_expected: datetime | None
    overdue: bool
    overdue_by: timedelta | None
    quarantine: dict | None             # reason, reason_text, began, next_attempt, error_code, explanation, fix
    quarantine_periods: pd.DataFrame
    spike: dict | None                  # cycle_id, at, failure_rate, trailing_median, failures, total
    staged_deletes: int                 # stagedDelete records in the latest cycle with any
    staged_delete_cycle: str | None
    staged_delete_at: datetime | None
    credential_failures: dict | None    # error_code, count, last_seen, cycle_id
    failures_24h: int | None = None     # failure records in the last 24 hours (None without any logs)
    last_state: str | None = None       # job lastExecution state (Succeeded / Failed / EntryLevelErrors)
    cycles: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)

    @property
    def next_expected_cycle(self) -> datetime | None:
        return self.next_expected

    @property
    def last_cycle(self) -> dict | None:
        """The newest completed cycle: cycle_id, ended, state (what the Overview page shows)."""
        if self.last_cycle_end is None:
            return None
        return {"cycle_id": self.last_cycle_id, "ended": self.last_cycle_end, "state": self.last_state}


def _ts(value: Any) -> datetime | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).to_pydatetime()


def job_overview(ctx: Context, conn: Connection | str, now: datetime | None = None) -> JobOverview:
    """Status, last cycle, next expected cycle, overdue, quarantine, failure spike, staged deletes,
    credential failures."""
    now = (now or ctx.now()).astimezone(UTC)
    has_graph = not isinstance(conn, str) and conn.entra is not None
    hist = status_history(ctx, conn)
    last = hist.iloc[-1] if len(hist) else None
    interval = parse_interval(last["schedule_interval"] if last is not None else None)
    name = conn_name(conn)
    # recent cycles are enough for spikes, staged deletes and credential failures; the newest record (one
    # index lookup) gives the last cycle's end however old it is
    cycles = job_cycles(ctx, conn, since=now - RECENT)
    ends: list[tuple[datetime, str | None]] = []
    last_cycle_id = None
    newest = ctx.store.query_one("SELECT cycle_id, activity_ms FROM provisioning_logs WHERE connection = ?"
                                 " ORDER BY activity_ms DESC LIMIT 1", (name,))
    if newest is not None:
        # a record dated in the future (clock skew, a bad import) must not hide an overdue job
        ends.append((min(datetime.fromtimestamp(newest["activity_ms"] / 1000, UTC), now), newest["cycle_id"]))
    last_ended = _ts(last["last_ended"]) if last is not None else None
    if last is not None and last_ended is not None:
        ends.append((last_ended, last["last_cycle_id"]))
    last_end = None
    if ends:
        last_end, last_cycle_id = max(ends, key=lambda e: e[0])
    next_expected = last_end + interval if last_end else None
    paused = last is not None and str(last["schedule_state"] or "").lower() in ("paused", "disabled")
    overdue_by = (now - last_end) if last_end else None
    overdue = bool(last_end and not paused and now - last_end > OVERDUE_INTERVALS * interval)

    quarantine = None
    if last is not None and str(last["code"] or "").lower() == "quarantine":
        reason = last["quarantine_reason"] or "Unknown"
        code = last["error_code"] or ("TooManyDeletes" if reason == "TooManyDeletes" else None)
        explanation, fix = explain_error(code) if code else ("", "")
        quarantine = {"reason": reason, "reason_text": quarantine_reason_text(reason),
                      "began": _ts(last["quarantine_began"]) or _ts(last["polled_at"]),
                      "next_attempt": _ts(last["quarantine_next"]), "error_code": code,
                      "explanation": explanation, "fix": fix}

    spike = None
    spikes = failure_spikes(cycles[cycles["total"] > 0]) if len(cycles) else pd.DataFrame()
    log_cycles = cycles[cycles["total"] > 0] if len(cycles) else cycles
    if len(spikes) and len(log_cycles) and spikes.iloc[-1]["cycle_id"] == log_cycles.iloc[-1]["cycle_id"]:
        s = spikes.iloc[-1]
        spike = {"cycle_id": s["cycle_id"], "at": _ts(s["start"]), "failure_rate": float(s["failure_rate"]),
                 "trailing_median": float(s["trailing_median"]), "failures": int(s["failure"]),
                 "total": int(s["total"])}

    staged, staged_cycle, staged_at = 0, None, None
    if len(cycles) and "action_stagedDelete" in cycles:
        with_staged = cycles[cycles["action_stagedDelete"] > 0]
        if len(with_staged):
            row = with_staged.iloc[-1]
            staged, staged_cycle, staged_at = int(row["action_stagedDelete"]), row["cycle_id"], _ts(row["start"])

    cred = _credential_failures(ctx, conn, log_cycles)
    if cred is None and last is not None and last["error_code"] in CREDENTIAL_CODES:
        cred = {"error_code": last["error_code"], "count": None, "last_seen": _ts(last["polled_at"]),
                "cycle_id": last["last_cycle_id"]}
    day_ago = int((now - timedelta(hours=24)).timestamp() * 1000)
    any_logs = ctx.store.query_one("SELECT 1 FROM provisioning_logs WHERE connection = ? LIMIT 1", (name,))
    failures_24h = None
    if any_logs:
        failures_24h = int(ctx.store.conn.execute(
            "SELECT COUNT(*) FROM provisioning_logs WHERE connection = ? AND activity_ms >= ? AND status = 'failure'",
            (name, day_ago)).fetchone()[0])
    return JobOverview(
        failures_24h=failures_24h, last_state=(last["last_state"] if last is not None else None),
        has_graph=has_graph, status=(last["code"] if last is not None else None),
        schedule_state=(last["schedule_state"] if last is not None else None), interval=interval,
        last_polled=_ts(last["polled_at"]) if last is not None else None, last_cycle_id=last_cycle_id,
        last_cycle_end=last_end, next_expected=next_expected, overdue=overdue,
        overdue_by=overdue_by if overdue else None, quarantine=quarantine,
        quarantine_periods=_merge_periods(quarantine_periods(hist, now),
                                          inferred_quarantine_periods(grouped_counts(ctx, conn))), spike=spike, staged_deletes=staged,
        staged_delete_cycle=staged_cycle, staged_delete_at=staged_at, credential_failures=cred, cycles=cycles)


def _credential_failures(ctx: Context, conn: Connection | str, log_cycles: pd.DataFrame) -> dict | None:
    """Credential error codes in the latest cycle with log records."""
    if log_cycles is None or log_cycles.empty:
        return None
    name = conn_name(conn)
    latest = log_cycles.iloc[-1]["cycle_id"]
    marks = ",".join("?" * len(CREDENTIAL_CODES))
    cycle_clause = "cycle_id IS NULL" if latest == "(no cycle id)" else "cycle_id = ?"
    params = (name,) if latest == "(no cycle id)" else (name, latest)
    row = ctx.store.query_one(
        f"SELECT error_code, COUNT(*) AS n, MAX(activity_ms) AS last FROM provisioning_logs WHERE connection = ?"
        f" AND {cycle_clause} AND error_code IN ({marks}) GROUP BY error_code ORDER BY n DESC LIMIT 1",
        (*params, *CREDENTIAL_CODES))
    if row is None:
        return None
    return {"error_code": row["error_code"], "count": int(row["n"]),
            "last_seen": datetime.fromtimestamp(row["last"] / 1000, UTC), "cycle_id": latest}



# ------------------------------------------------------------------------------------------- recent trouble

#: how far back the Sync history page looks for trouble to show by default
TROUBLE_HORIZON = timedelta(days=30)


@dataclass
class RecentTrouble:
    """Failed records of the last ``TROUBLE_HORIZON``, by cycle (what the Sync history page's default view
    and its "earlier trouble" notice are chosen from). ``cycles``: cycle_id, start (UTC), failures, total,
    error_code (the most frequent one), newest first."""

    since: datetime
    now: datetime
    cycles: pd.DataFrame
    quarantine_starts: list[datetime] = field(default_factory=list)

    @property
    def failures(self) -> int:
        return int(self.cycles["failures"].sum()) if len(self.cycles) else 0

    def worst(self, before: datetime | None = None) -> dict | None:
        """The cycle with the most failed records (the newest of equals), only those starting before
        ``before`` when given: cycle_id, start, failures, total, error_code."""
        c = self.cycles
        if before is not None and len(c):
            c = c[c["start"] < pd.Timestamp(before)]
        if c.empty:
            return None
        row = c.sort_values(["failures", "start"], ascending=[False, False]).iloc[0]
        return {"cycle_id": row["cycle_id"], "start": _ts(row["start"]), "failures": int(row["failures"]),
                "total": int(row["total"]), "error_code": row["error_code"]}

    def failures_before(self, before: datetime | None) -> int:
        if before is None or self.cycles.empty:
            return 0
        return int(self.cycles.loc[self.cycles["start"] < pd.Timestamp(before), "failures"].sum())

    def latest(self) -> datetime | None:
        return _ts(self.cycles["start"].max()) if len(self.cycles) else None


def recent_trouble(ctx: Context, conn: Connection | str, now: datetime | None = None,
                   horizon: timedelta = TROUBLE_HORIZON, *, overview: JobOverview | None = None) -> RecentTrouble:
    """Failing cycles of the last ``horizon`` (from the per-cycle counts: as cheap at 1,000,000 records as at
    1,000) and the starts of quarantine periods in it."""
    now = (now or ctx.now()).astimezone(UTC)
    since = now - horizon
    g = grouped_counts(ctx, conn, since)
    columns = ["cycle_id", "start", "failures", "total", "error_code"]
    cycles = pd.DataFrame(columns=columns)
    if len(g):
        g = g.assign(cycle_id=g["cycle_id"].fillna("(no cycle id)"))
        totals = g.groupby("cycle_id").agg(start=("first_ms", "min"), total=("count", "sum"))
        failed = g[g["status"] == "failure"]
        if len(failed):
            per = failed.groupby("cycle_id")["count"].sum().rename("failures")
            codes = (failed.assign(error_code=failed["error_code"].fillna("(no error code)"))
                     .groupby(["cycle_id", "error_code"])["count"].sum().reset_index()
                     .sort_values("count", ascending=False).drop_duplicates("cycle_id").set_index("cycle_id")
                     ["error_code"])
            cycles = totals.join(per, how="inner").join(codes).reset_index()
            cycles["start"] = pd.to_datetime(cycles["start"], unit="ms", utc=True)
            cycles = cycles[cycles["start"] >= pd.Timestamp(since)]
            cycles = cycles[columns].sort_values("start", ascending=False).reset_index(drop=True)
    periods = overview.quarantine_periods if overview is not None else _merge_periods(
        quarantine_periods(status_history(ctx, conn), now), inferred_quarantine_periods(grouped_counts(ctx, conn)))
    starts = [_ts(p) for p in periods["start"] if pd.notna(p) and pd.Timestamp(p) >= pd.Timestamp(since)] \
        if len(periods) else []
    return RecentTrouble(since=since, now=now, cycles=cycles, quarantine_starts=[s for s in starts if s])


def range_showing(when: datetime, now: datetime, ranges: dict[str, timedelta | None], fallback: str) -> str:
    """The label of the smallest of ``ranges`` (label -> span; None = everything) whose period ending ``now``
    includes ``when``."""
    for label, span in sorted(((label, span) for label, span in ranges.items() if span is not None),
                              key=lambda x: x[1]):
        if now - span <= when:
            return label
    return next((label for label, span in ranges.items() if span is None), fallback)


def choose_range(trouble: RecentTrouble, ranges: dict[str, timedelta | None], default: str) -> str:
    """The label of the smallest of ``ranges`` (label -> span; None = everything) that shows the worst failing
    cycle, the latest one and the latest quarantine of ``trouble``; ``default`` when there was no trouble."""
    points = [p for p in ((trouble.worst() or {}).get("start"), trouble.latest(),
                          max(trouble.quarantine_starts, default=None)) if p is not None]
    if not points:
        return default
    return range_showing(min(points), trouble.now, ranges, default)
