"""What one cycle carries (``Cycle``) and how its outcomes are written: one ``provisioningObjectSummary`` per
action and identity (``Recorder``), the steps Entra logs, escrow bookkeeping, and the links from source
objects to the target ids the provisioning service remembers."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import wire
from .db import EntraDB
from .job import Identity
from .records import APP_NAME, SOURCE_SYSTEM, ErrorKind, det_uuid, finish_steps, iso, step


@dataclass
class Cycle:
    no: int
    cycle_id: str
    at: datetime
    initial: bool
    token: str | None
    scim_url: str
    style: str
    initiator: dict[str, str]
    records: list[dict[str, Any]] = field(default_factory=list)
    elapsed_ms: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    imported: int = 0
    exported: int = 0
    failed: int = 0
    aborted: ErrorKind | None = None
    staged: list[tuple[str, str]] = field(default_factory=list)
    processed_users: list[str] = field(default_factory=list)
    processed_groups: list[str] = field(default_factory=list)
    escrow: dict[str, tuple[str, ErrorKind]] = field(default_factory=dict)
    succeeded: list[str] = field(default_factory=list)
    requests: int = 0

    def count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1


class Duration:
    """Milliseconds spent on one object's requests (summed into its record's ``durationInMilliseconds``)."""

    __slots__ = ("ms",)

    def __init__(self) -> None:
        self.ms = 0

    def add(self, reply: wire.Reply) -> wire.Reply:
        self.ms += reply.elapsed_ms
        return reply


def link(db: EntraDB, oid: str, kind: str, tid: str, exported: dict[str, Any]) -> None:
    """Remember that source object ``oid`` is target ``tid`` and what was exported to it."""
    with db.tx() as conn:
        conn.execute("INSERT INTO links(object_id, kind, target_id, exported) VALUES (?, ?, ?, ?) "
                     "ON CONFLICT(object_id) DO UPDATE SET target_id = excluded.target_id, "
                     "exported = excluded.exported", (oid, kind, tid, json.dumps(exported)))


def write_logs(conn: sqlite3.Connection, records: list[dict[str, Any]]) -> None:
    conn.executemany(
        "INSERT INTO logs(id, activity, status, action, cycle_id, change_id, source_id, doc)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(r["id"], r["activityDateTime"], r["provisioningStatusInfo"]["status"], r["provisioningAction"],
          r["cycleId"], r["changeId"], r["sourceIdentity"]["id"], json.dumps(r, separators=(",", ":")))
         for r in records],
    )


def id_list(ids: list[str]) -> str:
    if len(ids) > 20:
        return json.dumps(ids[:20]) + f" (+{len(ids) - 20} more)"
    return json.dumps(ids)


class Recorder:
    """Builds the provisioning-log records and steps of a cycle, and its failure bookkeeping."""

    def __init__(self, db: EntraDB, ids: Identity, seed: int) -> None:
        self.db = db
        self.ids = ids
        self.seed = seed

    def record(self, cyc: Cycle, *, action: str, itype: str, source_id: str, source_name: str,
               target_id: str | None, target_name: str, status: str, steps: list[dict[str, Any]],
               modified: list[dict[str, Any]], duration_ms: int, error: ErrorKind | None = None,
               details: dict[str, str] | None = None) -> None:
        index = len(cyc.records)
        cyc.elapsed_ms += max(duration_ms, 1)
        at = cyc.at + timedelta(milliseconds=cyc.elapsed_ms)
        info: dict[str, Any] = {"status": status, "errorInformation": None}
        if error is not None:
            info["errorInformation"] = {
                "errorCode": error.code, "reason": error.reason, "additionalDetails": None,
                "errorCategory": error.category, "recommendedAction": error.action,
            }
        elif status == "skipped" and details and details.get("SkipReason"):
            info["errorInformation"] = {
                "errorCode": details["SkipReason"], "reason": details.get("SkipDetail"), "additionalDetails": None,
                "errorCategory": "success", "recommendedAction": None,
            }
        doc = {
            "id": det_uuid(self.seed, self.ids.job_id, "record", cyc.no, index),
            "activityDateTime": iso(at),
            "tenantId": self.ids.tenant_id,
            "jobId": self.ids.job_id,
            "cycleId": cyc.cycle_id,
            "changeId": det_uuid(self.seed, self.ids.job_id, "change", cyc.no, index),
            "durationInMilliseconds": max(duration_ms, 1),
            "provisioningAction": action,
            "provisioningStatusInfo": info,
            "provisioningSteps": finish_steps(steps),
            "modifiedProperties": modified,
            "servicePrincipal": {"id": self.ids.service_principal_id, "displayName": APP_NAME},
            "sourceIdentity": {"id": source_id, "displayName": source_name, "identityType": itype,
                               "details": {}},
            "targetIdentity": {"id": target_id or "", "displayName": target_name, "identityType": itype,
                               "details": {}},
            "sourceSystem": {"id": self.ids.source_system_id, "displayName": SOURCE_SYSTEM, "details": {}},
            "targetSystem": {"id": self.ids.app_id, "displayName": APP_NAME,
                             "details": {"ApplicationId": self.ids.app_id,
                                         "ServicePrincipalId": self.ids.service_principal_id,
                                         "ServicePrincipalDisplayName": APP_NAME}},
            "initiatedBy": dict(cyc.initiator),
        }
        cyc.records.append(doc)
        cyc.count(action if status == "success" else status)

    @staticmethod
    def fail(cyc: Cycle, object_id: str, kind: str, error: ErrorKind) -> None:
        """Escrow a failed object; a credential failure aborts the cycle (the job goes into quarantine)."""
        cyc.failed += 1
        cyc.escrow[object_id] = (kind, error)
        if error.code.endswith("CredentialValidationFailure"):
            cyc.aborted = error

    @staticmethod
    def import_step(kind: str, name: str, change: str, details: dict[str, str]) -> dict[str, Any]:
        return step(0, f"EntryImport{change}", "import", "success",
                    f"Received {kind} '{name}' change of type ({change}) from {SOURCE_SYSTEM}", details)

    @staticmethod
    def scope_step(kind: str, in_scope: bool, why: dict[str, str]) -> dict[str, Any]:
        return step(1, "EntrySynchronizationScoping", "scoping", "success",
                    f"Determine if {kind} in scope by evaluating against each scoping filter",
                    {**why, "Scoping filter evaluation passed": "True" if in_scope else "False"})

    @staticmethod
    def export_step(name: str, kind: str, reply: wire.Reply, ok: bool, what: str,
                    error: ErrorKind | None, target_id: str | None) -> dict[str, Any]:
        details = {"ReportableIdentifier": what}
        if target_id:
            details["TargetAnchor"] = target_id
        if reply.status is not None:
            details["StatusCode"] = str(reply.status)
        if not ok and reply.text:
            details["ResponseContent"] = reply.text[:500]
        desc = error.reason if error else f"{kind} '{what}' was {name.lower()} in {APP_NAME}"
        return step(5, f"EntryExport{'Add' if name == 'Created' else 'Delete' if name == 'Deleted' else 'Update'}",
                    "export", "success" if ok else "failure", desc, details)

    def stage(self, cyc: Cycle, row: Any, kind: str, threshold: int, planned: int, detail: str | None = None
              ) -> None:
        """A disable or delete held back by the accidental-deletion threshold (``stagedDelete``, skipped)."""
        oid = row["object_id"]
        linked = self.db.one("SELECT target_id FROM links WHERE object_id = ?", (oid,))
        name = row["upn"] if kind == "User" else row["display_name"]
        detail = detail or (f"The {kind.lower()} was not disabled or deleted because this cycle would have disabled "
                            f"or deleted {planned} objects, more than the accidental deletion threshold "
                            f"({threshold}).")
        steps = [
            self.import_step(kind, name, "Delete" if kind == "Group" else "Update", {"SourceAnchor": oid}),
            self.scope_step(kind, False, {}),
            step(4, "EntrySynchronizationStagedDelete", "processing", "warning", detail, {}),
        ]
        self.record(cyc, action="stagedDelete", itype=kind, source_id=oid, source_name=name,
                    target_id=linked["target_id"] if linked else None, target_name=name, status="skipped",
                    steps=steps, modified=[], duration_ms=1,
                    details={"SkipReason": "StagedDelete", "SkipDetail": detail})
