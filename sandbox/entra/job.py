"""The provisioning job's state machine: schedule and status codes, quarantine with back-off, the accidental
deletion threshold, restart scopes, and the ``synchronizationJob`` document Graph answers with.

The state is one JSON object in ``entra.db`` (meta ``job``); the cycle driver (``engine``) loads it, runs a
cycle and hands the outcome to ``Job.conclude``, which writes executions, quarantine and steady state.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .db import EntraDB
from .records import NEVER, iso, parse_iso

if TYPE_CHECKING:
    from .cycle import Cycle

CYCLE_INTERVAL = timedelta(minutes=40)
QUARANTINE_BACKOFF = (timedelta(hours=6), timedelta(hours=12), timedelta(hours=24))
QUARANTINE_DISABLE_AFTER = timedelta(days=28)
ESCROW_MIN_FAILURES = 5000
ESCROW_PROPORTION = 0.40
DEFAULT_THRESHOLD = 500
RESET_SCOPES = {"escrows", "watermark", "quarantinestate", "forcedeletes", "full", "connectordatastore"}


@dataclass(slots=True)
class Identity:
    tenant_id: str
    client_id: str
    app_id: str
    service_principal_id: str
    job_id: str
    source_system_id: str
    domain: str


def never_execution() -> dict[str, Any]:
    return {
        "activityIdentifier": None, "countEntitled": 0, "countEntitledForProvisioning": 0, "countEscrowed": 0,
        "countEscrowedRaw": 0, "countExported": 0, "countExports": 0, "countImported": 0,
        "countImportedDeltas": 0, "countImportedReferenceDeltas": 0, "error": None, "state": "Succeeded",
        "timeBegan": NEVER, "timeEnded": NEVER,
    }


def new_job_state(threshold: int) -> dict[str, Any]:
    return {
        "code": "NotRun",
        "schedule_state": "Active",
        "cycle_no": 0,
        "initial_done": False,
        "force_deletes": False,
        "countSuccessiveCompleteFailures": 0,
        "lastExecution": None,
        "lastSuccessfulExecution": None,
        "lastSuccessfulExecutionWithExports": None,
        "quarantine": None,
        "steadyStateFirstAchievedTime": NEVER,
        "steadyStateLastAchievedTime": NEVER,
        "settings": {"QuarantineTooManyDeletesThreshold": str(threshold)},
    }


class Job:
    """Reads and changes the job state. ``lock`` is the engine's: one cycle or job action at a time."""

    def __init__(self, db: EntraDB, ids: Identity, lock: threading.RLock) -> None:
        self.db = db
        self.ids = ids
        self.lock = lock

    # ------------------------------------------------------------------ state
    def load(self) -> dict[str, Any]:
        state = self.db.get_json("job")
        if state is None:
            state = new_job_state(DEFAULT_THRESHOLD)
            self.db.set_json("job", state)
        return state

    def save(self, state: dict[str, Any], conn: sqlite3.Connection | None = None) -> None:
        self.db.set_json("job", state, conn)

    @staticmethod
    def threshold_of(state: dict[str, Any]) -> int:
        return int(state["settings"].get("QuarantineTooManyDeletesThreshold", DEFAULT_THRESHOLD))

    def threshold(self) -> int:
        return self.threshold_of(self.load())

    def set_threshold(self, value: int) -> None:
        with self.lock:
            state = self.load()
            state["settings"]["QuarantineTooManyDeletesThreshold"] = str(int(value))
            self.save(state)

    def document(self) -> dict[str, Any]:
        """The ``synchronizationJob`` Graph answers with."""
        state = self.load()
        counts = {r["kind"]: r["n"] for r in self.db.query("SELECT kind, count(*) AS n FROM links GROUP BY kind")}
        return {
            "id": self.ids.job_id,
            "templateId": "scim",
            "schedule": {"expiration": None, "interval": "PT40M", "state": state["schedule_state"]},
            "status": {
                "code": state["code"],
                "countSuccessiveCompleteFailures": state["countSuccessiveCompleteFailures"],
                "escrowsPruned": False,
                "lastExecution": state["lastExecution"] or never_execution(),
                "lastSuccessfulExecution": state["lastSuccessfulExecution"] or never_execution(),
                "lastSuccessfulExecutionWithExports": state["lastSuccessfulExecutionWithExports"]
                or never_execution(),
                "progress": [],
                "quarantine": state["quarantine"],
                "steadyStateFirstAchievedTime": state["steadyStateFirstAchievedTime"],
                "steadyStateLastAchievedTime": state["steadyStateLastAchievedTime"],
                "synchronizedEntryCountByType": [
                    {"key": "User to urn:ietf:params:scim:schemas:core:2.0:User", "value": counts.get("User", 0)},
                    {"key": "Group to urn:ietf:params:scim:schemas:core:2.0:Group", "value": counts.get("Group", 0)},
                ],
                "troubleshootingUrl": "",
            },
            "synchronizationJobSettings": [
                {"name": k, "value": v} for k, v in sorted(state["settings"].items())
            ] + [{"name": "AzureIngestionAttributeOptimization", "value": "False"},
                 {"name": "LookaheadQueryEnabled", "value": "False"}],
        }

    # ------------------------------------------------------------------ actions
    def credentials_saved(self, at: datetime) -> None:
        """New credentials: a credential quarantine is retried at once instead of waiting out the back-off."""
        with self.lock:
            state = self.load()
            q = state.get("quarantine")
            if q and q.get("error", {}).get("code", "").endswith("CredentialValidationFailure"):
                q["nextAttempt"] = iso(at)
                self.save(state)

    def restart(self, scope: str, at: datetime) -> list[str]:
        parts = {p.strip().lower() for p in scope.replace(";", ",").split(",") if p.strip()}
        unknown = parts - RESET_SCOPES
        if unknown:
            raise ValueError(f"Unknown resetScope value(s): {', '.join(sorted(unknown))}.")
        if not parts:
            parts = {"full"}
        with self.lock, self.db.tx() as conn:
            state = self.load()
            if "full" in parts:
                parts |= {"escrows", "watermark", "quarantinestate", "connectordatastore"}
            if "escrows" in parts:
                conn.execute("DELETE FROM escrows")
            if "watermark" in parts:
                state["initial_done"] = False
            if "connectordatastore" in parts:
                conn.execute("DELETE FROM links")
                conn.execute("DELETE FROM exported_members")
            staged = conn.execute("SELECT object_id, kind FROM staged_deletes").fetchall()
            if "quarantinestate" in parts or "forcedeletes" in parts:
                state["quarantine"] = None
                state["countSuccessiveCompleteFailures"] = 0
                if state["code"] == "Quarantine":
                    state["code"] = "Active"
                if state["schedule_state"] == "Disabled":
                    state["schedule_state"] = "Active"
                for row in staged:
                    table = "src_users" if row["kind"] == "User" else "src_groups"
                    conn.execute(f"UPDATE {table} SET dirty = 1 WHERE object_id = ?", (row["object_id"],))
                conn.execute("DELETE FROM staged_deletes")
                held = self.db.get_json("held_deletes", [])
                conn.executemany("UPDATE src_users SET dirty = 1 WHERE object_id = ?", [(o,) for o in held])
                self.db.set_json("held_deletes", [], conn)
            if "forcedeletes" in parts:
                state["force_deletes"] = True
            if state["schedule_state"] == "Paused":
                state["schedule_state"] = "Active"
                if state["code"] == "Paused":
                    state["code"] = "Active" if state["lastExecution"] else "NotRun"
            self.save(state, conn)
        return sorted(parts)

    def pause(self) -> None:
        with self.lock:
            state = self.load()
            state["schedule_state"] = "Paused"
            if state["code"] != "Quarantine":
                state["code"] = "Paused"
            self.save(state)

    def start(self) -> None:
        with self.lock:
            state = self.load()
            if state["schedule_state"] in ("Paused", "Disabled"):
                state["schedule_state"] = "Active"
            if state["code"] == "Paused":
                state["code"] = "Active" if state["lastExecution"] else "NotRun"
            self.save(state)

    def gate(self, at: datetime, ignore_backoff: bool = False) -> str | None:
        """Why a scheduled cycle does not run now (None: it runs)."""
        state = self.load()
        if state["schedule_state"] in ("Paused", "Disabled"):
            return f"job {state['schedule_state'].lower()}"
        q = state.get("quarantine")
        if q:
            if q.get("reason") == "TooManyDeletes":
                return "quarantined (TooManyDeletes): restart the job with ForceDeletes or QuarantineState"
            if not ignore_backoff and at < parse_iso(q["nextAttempt"]):
                return f"quarantined until {q['nextAttempt']}"
        return None

    # ------------------------------------------------------------------ end of a cycle
    def conclude(self, cyc: Cycle, state: dict[str, Any], conn: sqlite3.Connection, ended: datetime,
                 escrowed: int, entitled: int) -> dict[str, Any]:
        """Record a finished cycle in ``state`` (saved with ``conn``): its execution, quarantine (a 401, too
        many deletes, too many failures) or recovery, steady state. Returns the execution document."""
        error_doc = None
        if cyc.aborted:
            exec_state = "Failed"
            error_doc = {"code": cyc.aborted.code, "message": cyc.aborted.reason, "tenantActionable": True}
        elif cyc.failed:
            exec_state = "EntryLevelErrors"
        else:
            exec_state = "Succeeded"
        execution = {
            "activityIdentifier": cyc.cycle_id, "countEntitled": entitled, "countEntitledForProvisioning":
            entitled, "countEscrowed": escrowed, "countEscrowedRaw": cyc.failed, "countExported": cyc.exported,
            "countExports": cyc.exported, "countImported": cyc.imported,
            "countImportedDeltas": 0 if cyc.initial else cyc.imported, "countImportedReferenceDeltas": 0,
            "error": error_doc, "state": exec_state, "timeBegan": iso(cyc.at), "timeEnded": iso(ended),
        }
        state["cycle_no"] = cyc.no
        state["lastExecution"] = execution
        quarantine_reason = None
        q_error = None
        if cyc.aborted:
            quarantine_reason = "EncounteredQuarantineException"
            q_error = error_doc
            state["countSuccessiveCompleteFailures"] += 1
        elif cyc.staged:
            quarantine_reason = "TooManyDeletes"
            q_error = {"code": "TooManyDeletes", "tenantActionable": True,
                       "message": f"The cycle would have disabled or deleted {len(cyc.staged)} objects, more "
                       f"than the accidental deletion threshold "
                       f"({state['settings']['QuarantineTooManyDeletesThreshold']}). The deletions are staged."}
        elif cyc.failed >= ESCROW_MIN_FAILURES and cyc.failed > ESCROW_PROPORTION * max(cyc.imported, 1):
            quarantine_reason = "EncounteredEscrowProportionThreshold"
            q_error = {"code": "EncounteredEscrowProportionThreshold", "tenantActionable": True,
                       "message": f"{cyc.failed} of {cyc.imported} objects failed in one cycle."}
        if not cyc.aborted:
            state["countSuccessiveCompleteFailures"] = 0
            state["lastSuccessfulExecution"] = execution
            if cyc.exported:
                state["lastSuccessfulExecutionWithExports"] = execution
            if cyc.initial:
                state["initial_done"] = True
                if state["steadyStateFirstAchievedTime"] == NEVER:
                    state["steadyStateFirstAchievedTime"] = iso(ended)
            state["steadyStateLastAchievedTime"] = iso(ended)
            state["force_deletes"] = False
        if quarantine_reason:
            q = state.get("quarantine")
            if q:
                q["seriesCount"] += 1
                q["currentBegan"] = iso(cyc.at)
            else:
                q = {"currentBegan": iso(cyc.at), "seriesBegan": iso(cyc.at), "seriesCount": 1}
            backoff = QUARANTINE_BACKOFF[min(q["seriesCount"], len(QUARANTINE_BACKOFF)) - 1]
            q["nextAttempt"] = iso(cyc.at + backoff)
            q["reason"] = quarantine_reason
            q["error"] = q_error
            state["quarantine"] = q
            state["code"] = "Quarantine"
            if cyc.at - parse_iso(q["seriesBegan"]) > QUARANTINE_DISABLE_AFTER:
                state["schedule_state"] = "Disabled"
        else:
            state["quarantine"] = None
            state["code"] = "Paused" if state["schedule_state"] == "Paused" else "Active"
        self.save(state, conn)
        return execution
