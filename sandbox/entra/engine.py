"""The provisioning engine: Entra's cycles against the SCIM endpoint, its logs and its job status.

One cycle = import the changed source objects (all of them in an initial cycle), scope, match (GET with a
filter) or read the linked target, decide, export (POST / PATCH / DELETE), then resolve group references
(member PATCHes). Each action on each identity writes one ``provisioningObjectSummary``. Failures are escrowed
and retried (transient ones next cycle, others with back-off); a 401 aborts the cycle and quarantines the job;
too many deletes in one cycle are staged and quarantine the job with ``TooManyDeletes``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import wire
from .db import EntraDB
from .records import (
    APP_NAME,
    NEVER,
    SOURCE_SYSTEM,
    ErrorKind,
    classify,
    det_uuid,
    finish_steps,
    iso,
    mod,
    parse_iso,
    step,
)
from .tenant import Tenant

log = logging.getLogger("sandbox.entra")

CYCLE_INTERVAL = timedelta(minutes=40)
QUARANTINE_BACKOFF = (timedelta(hours=6), timedelta(hours=12), timedelta(hours=24))
QUARANTINE_DISABLE_AFTER = timedelta(days=28)
ESCROW_MIN_FAILURES = 5000
ESCROW_PROPORTION = 0.40
DEFAULT_THRESHOLD = 500


@dataclass(slots=True)
class Identity:
    tenant_id: str
    client_id: str
    app_id: str
    service_principal_id: str
    job_id: str
    source_system_id: str
    domain: str


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


def _never_execution() -> dict[str, Any]:
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


class Provisioner:
    """Runs cycles (one at a time) and owns the job state. Methods are blocking: call them off the event loop."""

    def __init__(self, db: EntraDB, tenant: Tenant, ids: Identity, seed: int, base_address: str,
                 timeout: float = 15.0) -> None:
        self.db = db
        self.tenant = tenant
        self.ids = ids
        self.seed = seed
        self.base_address = base_address
        self.secret_token: str | None = None  # memory only, never persisted
        self.wire = wire.ScimWire(timeout=timeout)
        self.lock = threading.RLock()
        self.on_demand_calls: list[float] = []

    # ------------------------------------------------------------------ job state
    def job(self) -> dict[str, Any]:
        state = self.db.get_json("job")
        if state is None:
            state = new_job_state(DEFAULT_THRESHOLD)
            self.db.set_json("job", state)
        return state

    def save_job(self, state: dict[str, Any], conn: Any = None) -> None:
        self.db.set_json("job", state, conn)

    def threshold(self) -> int:
        return int(self.job()["settings"].get("QuarantineTooManyDeletesThreshold", DEFAULT_THRESHOLD))

    def set_threshold(self, value: int) -> None:
        with self.lock:
            state = self.job()
            state["settings"]["QuarantineTooManyDeletesThreshold"] = str(int(value))
            self.save_job(state)

    def job_document(self) -> dict[str, Any]:
        state = self.job()
        counts = {r["kind"]: r["n"] for r in self.db.query("SELECT kind, count(*) AS n FROM links GROUP BY kind")}
        return {
            "id": self.ids.job_id,
            "templateId": "scim",
            "schedule": {"expiration": None, "interval": "PT40M", "state": state["schedule_state"]},
            "status": {
                "code": state["code"],
                "countSuccessiveCompleteFailures": state["countSuccessiveCompleteFailures"],
                "escrowsPruned": False,
                "lastExecution": state["lastExecution"] or _never_execution(),
                "lastSuccessfulExecution": state["lastSuccessfulExecution"] or _never_execution(),
                "lastSuccessfulExecutionWithExports": state["lastSuccessfulExecutionWithExports"]
                or _never_execution(),
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

    # ------------------------------------------------------------------ job actions
    def set_secrets(self, base_address: str | None, token: str | None, at: datetime) -> None:
        with self.lock:
            if base_address:
                self.base_address = base_address
                self.db.set_meta("base_address", base_address)
            if token is not None:
                self.secret_token = token
            state = self.job()
            q = state.get("quarantine")
            if q and q.get("error", {}).get("code", "").endswith("CredentialValidationFailure"):
                # New credentials: the next cycle is attempted at once instead of waiting out the back-off.
                q["nextAttempt"] = iso(at)
                self.save_job(state)

    def restart(self, scope: str, at: datetime) -> list[str]:
        parts = {p.strip().lower() for p in scope.replace(";", ",").split(",") if p.strip()}
        known = {"escrows", "watermark", "quarantinestate", "forcedeletes", "full", "connectordatastore"}
        unknown = parts - known
        if unknown:
            raise ValueError(f"Unknown resetScope value(s): {', '.join(sorted(unknown))}.")
        if not parts:
            parts = {"full"}
        with self.lock, self.db.tx() as conn:
            state = self.job()
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
            if "forcedeletes" in parts:
                state["force_deletes"] = True
            if state["schedule_state"] == "Paused":
                state["schedule_state"] = "Active"
                if state["code"] == "Paused":
                    state["code"] = "Active" if state["lastExecution"] else "NotRun"
            self.save_job(state, conn)
        return sorted(parts)

    def pause(self) -> None:
        with self.lock:
            state = self.job()
            state["schedule_state"] = "Paused"
            if state["code"] != "Quarantine":
                state["code"] = "Paused"
            self.save_job(state)

    def start(self) -> None:
        with self.lock:
            state = self.job()
            if state["schedule_state"] in ("Paused", "Disabled"):
                state["schedule_state"] = "Active"
            if state["code"] == "Paused":
                state["code"] = "Active" if state["lastExecution"] else "NotRun"
            self.save_job(state)

    def validate_credentials(self, base_address: str | None, token: str | None) -> tuple[bool, str]:
        """Entra's "Test connection": GET /Users?filter=userName eq "<random GUID>" must answer 200 + empty list."""
        url, _ = wire.split_tenant_url(base_address or self.base_address)
        probe = det_uuid(time.time_ns(), "probe")
        reply = self.wire.send("GET", url + "/Users", token if token is not None else self.secret_token,
                               params={"filter": f'userName eq "{probe}"'})
        if reply.status == 200 and isinstance(reply.body, dict) and not reply.body.get("Resources"):
            return True, "The supplied credentials are valid."
        kind = classify(reply.status, reply.error, reply.body)
        return False, f"{kind.code}: {kind.reason}"

    # ------------------------------------------------------------------ cycles
    def gate(self, at: datetime, ignore_backoff: bool = False) -> str | None:
        """Why a scheduled cycle does not run now (None: it runs)."""
        state = self.job()
        if state["schedule_state"] in ("Paused", "Disabled"):
            return f"job {state['schedule_state'].lower()}"
        q = state.get("quarantine")
        if q:
            if q.get("reason") == "TooManyDeletes":
                return "quarantined (TooManyDeletes): restart the job with ForceDeletes or QuarantineState"
            if not ignore_backoff and at < parse_iso(q["nextAttempt"]):
                return f"quarantined until {q['nextAttempt']}"
        return None

    def run_cycle(self, at: datetime | None = None, *, ignore_backoff: bool = False) -> dict[str, Any]:
        with self.lock:
            state = self.job()
            last = state.get("lastExecution")
            now = at or datetime.now(UTC)
            if last and last.get("timeEnded") and now <= parse_iso(last["timeEnded"]):
                now = parse_iso(last["timeEnded"]) + timedelta(milliseconds=1)
            reason = self.gate(now, ignore_backoff)
            if reason:
                return {"ran": False, "skipped": reason, "status": state["code"], "at": iso(now)}
            no = state["cycle_no"] + 1
            url, style = wire.split_tenant_url(self.base_address)
            cyc = Cycle(no=no, cycle_id=det_uuid(self.seed, self.ids.job_id, "cycle", no), at=now,
                        initial=not state["initial_done"], token=self.secret_token, scim_url=url, style=style,
                        initiator={"id": "", "displayName": "Azure AD Provisioning Service",
                                   "initiatorType": "system"})
            started = time.perf_counter()
            requests_before = self.wire.requests
            self.tenant.purge_recycle_bin(now)
            self._run(cyc, state)
            cyc.requests = self.wire.requests - requests_before
            return self._finish(cyc, state, int((time.perf_counter() - started) * 1000))

    def run_on_demand(self, object_id: str, client_id: str) -> dict[str, Any]:
        """Provision one user now, outside the schedule (default PATCH style; aadOptscim062020 does not apply)."""
        with self.lock:
            at = datetime.now(UTC)
            url, _style = wire.split_tenant_url(self.base_address)
            index = int(self.db.get_meta("on_demand_count", "0") or 0) + 1
            self.db.set_meta("on_demand_count", str(index))
            cyc = Cycle(no=-index, cycle_id=det_uuid(self.seed, self.ids.job_id, "on-demand", index), at=at,
                        initial=False, token=self.secret_token, scim_url=url, style="default",
                        initiator={"id": client_id, "displayName": "Provision on demand",
                                   "initiatorType": "application"})
            u = self.db.one("SELECT * FROM src_users WHERE object_id = ?", (object_id,))
            link = self.db.one("SELECT * FROM links WHERE object_id = ?", (object_id,))
            self._user(cyc, u, link)
            if not cyc.records:
                self._record(cyc, action="other", itype="User", source_id=object_id,
                             source_name=u["display_name"], target_id=link["target_id"] if link else None,
                             target_name=u["upn"], status="skipped", steps=[
                                 self._import_step("User", u["upn"], "Update", {"SourceAnchor": object_id})],
                             modified=[], duration_ms=1,
                             details={"SkipReason": "EntrySynchronizationSkipped",
                                      "SkipDetail": "There was nothing to change, or the user is out of scope."})
            with self.db.tx() as conn:
                for r in cyc.records:
                    conn.execute(
                        "INSERT INTO logs(id, activity, status, action, cycle_id, change_id, source_id, doc)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (r["id"], r["activityDateTime"], r["provisioningStatusInfo"]["status"],
                         r["provisioningAction"], r["cycleId"], r["changeId"], r["sourceIdentity"]["id"],
                         json.dumps(r, separators=(",", ":"))))
                if not cyc.escrow:
                    conn.execute("UPDATE src_users SET dirty = 0 WHERE object_id = ?", (object_id,))
            rec = cyc.records[-1]
            return {"provisioningSteps": rec["provisioningSteps"], "statusInfo": rec["provisioningStatusInfo"],
                    "provisioningAction": rec["provisioningAction"], "modifiedProperties": rec["modifiedProperties"],
                    "sourceIdentity": rec["sourceIdentity"], "targetIdentity": rec["targetIdentity"],
                    "changeId": rec["changeId"], "cycleId": rec["cycleId"]}

    def _run(self, cyc: Cycle, state: dict[str, Any]) -> None:
        db = self.db
        if cyc.initial:
            users = db.query("SELECT * FROM src_users WHERE (assigned AND NOT hard_deleted) OR object_id IN "
                             "(SELECT object_id FROM links) OR dirty ORDER BY object_id")
            groups = db.query("SELECT * FROM src_groups WHERE (assigned AND NOT deleted) OR object_id IN "
                              "(SELECT object_id FROM links) OR dirty ORDER BY object_id")
        else:
            # Two indexed lookups (the partial index on dirty, then due escrows) rather than one full scan.
            users = db.query(
                "SELECT * FROM src_users WHERE dirty = 1 UNION SELECT u.* FROM escrows e JOIN src_users u ON "
                "u.object_id = e.object_id WHERE e.kind = 'User' AND e.next_cycle <= ? ORDER BY object_id",
                (cyc.no,))
            groups = db.query(
                "SELECT * FROM src_groups WHERE dirty = 1 UNION SELECT g.* FROM escrows e JOIN src_groups g ON "
                "g.object_id = e.object_id WHERE e.kind = 'Group' AND e.next_cycle <= ? ORDER BY object_id",
                (cyc.no,))
        cyc.imported = len(users) + len(groups)
        links = {r["object_id"]: r for r in db.query("SELECT * FROM links WHERE object_id IN (SELECT value FROM "
                                                      "json_each(?))", (json.dumps([u["object_id"] for u in users]
                                                                                   + [g["object_id"] for g in groups]),))}
        # Accidental-deletion prevention: count the disables and deletes this cycle would export.
        deletes: list[tuple[str, str]] = []
        for u in users:
            link = links.get(u["object_id"])
            if link is None:
                continue
            exported = json.loads(link["exported"])
            if u["hard_deleted"]:
                deletes.append((u["object_id"], "User"))
            elif (not u["assigned"] or u["soft_deleted"]) and exported.get("active") != "False":
                deletes.append((u["object_id"], "User"))
        for g in groups:
            if g["object_id"] in links and (g["deleted"] or not g["assigned"]):
                deletes.append((g["object_id"], "Group"))
        threshold = int(state["settings"].get("QuarantineTooManyDeletesThreshold", DEFAULT_THRESHOLD))
        staged: set[str] = set()
        if len(deletes) > threshold and not state.get("force_deletes"):
            staged = {oid for oid, _ in deletes}
            cyc.staged = deletes
        group_extra: set[str] = set()
        for u in users:
            if cyc.aborted:
                break
            if u["object_id"] in staged:
                self._stage(cyc, u, "User", threshold, len(deletes))
                cyc.processed_users.append(u["object_id"])
                continue
            linked_now = self._user(cyc, u, links.get(u["object_id"]))
            cyc.processed_users.append(u["object_id"])
            if linked_now:
                for r in db.query("SELECT group_id FROM src_members WHERE user_id = ?", (u["object_id"],)):
                    group_extra.add(r["group_id"])
        if cyc.aborted:
            return
        seen = {g["object_id"] for g in groups}
        extra = [g for g in db.query("SELECT * FROM src_groups WHERE object_id IN (SELECT value FROM json_each(?))"
                                     " ORDER BY object_id", (json.dumps(sorted(group_extra - seen)),))]
        for g in list(groups) + extra:
            if cyc.aborted:
                break
            if g["object_id"] in staged:
                self._stage(cyc, g, "Group", threshold, len(deletes))
                cyc.processed_groups.append(g["object_id"])
                continue
            link = db.one("SELECT * FROM links WHERE object_id = ?", (g["object_id"],))
            self._group(cyc, g, link)
            cyc.processed_groups.append(g["object_id"])

    # ------------------------------------------------------------------ records
    def _record(self, cyc: Cycle, *, action: str, itype: str, source_id: str, source_name: str,
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

    def _fail(self, cyc: Cycle, object_id: str, kind: str, error: ErrorKind) -> None:
        cyc.failed += 1
        cyc.escrow[object_id] = (kind, error)
        if error.code.endswith("CredentialValidationFailure"):
            cyc.aborted = error

    def _import_step(self, kind: str, name: str, change: str, details: dict[str, str]) -> dict[str, Any]:
        return step(0, f"EntryImport{change}", "import", "success",
                    f"Received {kind} '{name}' change of type ({change}) from {SOURCE_SYSTEM}", details)

    def _scope_step(self, kind: str, in_scope: bool, why: dict[str, str]) -> dict[str, Any]:
        return step(1, "EntrySynchronizationScoping", "scoping", "success",
                    f"Determine if {kind} in scope by evaluating against each scoping filter",
                    {**why, "Scoping filter evaluation passed": "True" if in_scope else "False"})

    def _export_step(self, name: str, kind: str, reply: wire.Reply, ok: bool, what: str,
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

    def _stage(self, cyc: Cycle, row: Any, kind: str, threshold: int, planned: int) -> None:
        oid = row["object_id"]
        link = self.db.one("SELECT target_id FROM links WHERE object_id = ?", (oid,))
        name = row["upn"] if kind == "User" else row["display_name"]
        detail = (f"The {kind.lower()} was not disabled or deleted because this cycle would have disabled or "
                  f"deleted {planned} objects, more than the accidental deletion threshold ({threshold}).")
        steps = [
            self._import_step(kind, name, "Delete" if kind == "Group" else "Update", {"SourceAnchor": oid}),
            self._scope_step(kind, False, {}),
            step(4, "EntrySynchronizationStagedDelete", "processing", "warning", detail, {}),
        ]
        self._record(cyc, action="stagedDelete", itype=kind, source_id=oid, source_name=name,
                     target_id=link["target_id"] if link else None, target_name=name, status="skipped",
                     steps=steps, modified=[], duration_ms=1,
                     details={"SkipReason": "StagedDelete", "SkipDetail": detail})

    # ------------------------------------------------------------------ users
    def _user_scope_details(self, u: Any) -> dict[str, str]:
        return {"Active in the source system": "False" if u["soft_deleted"] else "True",
                "Assigned to the application": "True" if u["assigned"] else "False",
                "Soft deleted in the source system": "True" if u["soft_deleted"] else "False"}

    def _match_user(self, cyc: Cycle, values: dict[str, Any], steps: list, duration: list[int]
                    ) -> tuple[str | None, dict | None, wire.Reply | None]:
        """Matching precedence: work e-mail, then userName. Returns (target id, target, failed reply)."""
        tried = []
        for attr in (wire.EMAIL_PATH, "userName"):
            value = values[attr]
            if not value:
                continue
            reply = self.wire.send("GET", cyc.scim_url + "/Users", cyc.token,
                                   params={"filter": f'{attr} eq "{value}"'})
            duration[0] += reply.elapsed_ms
            if reply.status != 200:
                return None, None, reply
            resources = (reply.body or {}).get("Resources") or []
            tried.append(f"{attr} eq {value}: {len(resources)}")
            if len(resources) > 1:
                return None, None, wire.Reply(600, {"detail": f"{len(resources)} objects match {attr} eq {value}"},
                                              "", 0)
            if len(resources) == 1:
                tid = resources[0].get("id")
                owner = self.db.one("SELECT object_id FROM links WHERE target_id = ?", (tid,))
                if owner is None or owner["object_id"] == values["externalId"]:
                    steps.append(step(2, "EntryImportByMatch", "matching", "success",
                                      f"Retrieved User '{value}' from {APP_NAME}",
                                      {"MatchingAttribute": attr, "MatchedValue": str(value), "TargetAnchor": str(tid)}))
                    return tid, resources[0], None
                tried[-1] += " (already linked to another source object)"
        steps.append(step(2, "EntryImportByMatch", "matching", "success",
                          f"User '{values['userName']}' was not found in {APP_NAME}",
                          {"MatchingAttributes": "; ".join(tried)}))
        return None, None, None

    def _user(self, cyc: Cycle, u: Any, link: Any) -> bool:
        """Process one source user; returns True when it became linked (created or matched) in this cycle."""
        oid = u["object_id"]
        values = wire.desired_user(u)
        name = u["upn"]
        in_scope = bool(u["assigned"]) and not u["hard_deleted"]
        change = "Delete" if u["hard_deleted"] else ("Update" if link else "Add")
        steps = [self._import_step("User", name, change, {"SourceAnchor": oid, "userPrincipalName": name,
                                                            "mail": str(u["mail"] or "")}),
                 self._scope_step("User", in_scope and not u["soft_deleted"], self._user_scope_details(u))]
        duration = [0]
        if u["hard_deleted"]:
            if link is None:
                return False
            tid = link["target_id"]
            reply = self.wire.send("DELETE", f"{cyc.scim_url}/Users/{tid}", cyc.token)
            duration[0] += reply.elapsed_ms
            ok = reply.status in (200, 204, 404)
            error = None if ok else classify(reply.status, reply.error, reply.body)
            steps.append(step(4, "EntrySynchronizationDelete", "processing", "success",
                              f"User '{name}' will be deleted from {APP_NAME}", {}))
            steps.append(self._export_step("Deleted", "User", reply, ok, name, error, tid))
            if ok:
                with self.db.tx() as conn:
                    conn.execute("DELETE FROM links WHERE object_id = ?", (oid,))
                    conn.execute("DELETE FROM exported_members WHERE user_id = ?", (oid,))
                cyc.exported += 1
                cyc.succeeded.append(oid)
            else:
                self._fail(cyc, oid, "User", error)  # type: ignore[arg-type]
            self._record(cyc, action="delete", itype="User", source_id=oid, source_name=u["display_name"],
                         target_id=tid, target_name=name, status="success" if ok else "failure", steps=steps,
                         modified=[], duration_ms=duration[0], error=error)
            return False
        if not in_scope:
            if link is None:
                return False
            exported = json.loads(link["exported"])
            if exported.get("active") == "False":
                return False
            return self._update(cyc, u, link["target_id"], exported, {"active": "False"}, steps, duration,
                                action="disable", matched_now=False)
        if link is None:
            if u["soft_deleted"]:
                return False  # out of scope and never provisioned: nothing to do
            tid, target, failed = self._match_user(cyc, values, steps, duration)
            if failed is not None:
                error = classify(failed.status if failed.status != 600 else None, failed.error, failed.body)
                if failed.status == 600:
                    error = ErrorKind("DuplicateTargetEntries", "failure", False,
                                      f"More than one object in {APP_NAME} matches this user: "
                                      f"{failed.body['detail']}.",
                                      "Remove the duplicate from 6clicks or change the matching attributes.")
                self._fail(cyc, oid, "User", error)
                self._record(cyc, action="other", itype="User", source_id=oid, source_name=u["display_name"],
                             target_id=None, target_name=name, status="failure", steps=steps, modified=[],
                             duration_ms=duration[0], error=error)
                return False
            if tid is None:
                return self._create_user(cyc, u, values, steps, duration)
            current = self._target_values(target or {})
            self._link(oid, "User", tid, {**current, "_createdUserName": current.get("userName")})
            changes = {k: v for k, v in values.items() if current.get(k) != v}
            if not changes:
                cyc.succeeded.append(oid)
                return True
            exported = {**current, "_createdUserName": current.get("userName")}
            self._update(cyc, u, tid, exported, changes, steps, duration, action="update", matched_now=True)
            return True
        tid = link["target_id"]
        exported = json.loads(link["exported"])
        reply = self.wire.send("GET", f"{cyc.scim_url}/Users/{tid}", cyc.token)
        duration[0] += reply.elapsed_ms
        if reply.status != 200:
            error = classify(reply.status, reply.error, reply.body)
            steps.append(step(2, "EntryImportObject", "matching", "failure",
                              f"Could not retrieve User '{name}' from {APP_NAME}", {"TargetAnchor": tid}))
            if reply.status == 404:
                with self.db.tx() as conn:
                    conn.execute("DELETE FROM links WHERE object_id = ?", (oid,))
                    conn.execute("DELETE FROM exported_members WHERE user_id = ?", (oid,))
                    conn.execute("UPDATE src_users SET dirty = 1 WHERE object_id = ?", (oid,))
            self._fail(cyc, oid, "User", error)
            self._record(cyc, action="other", itype="User", source_id=oid, source_name=u["display_name"],
                         target_id=tid, target_name=name, status="failure", steps=steps, modified=[],
                         duration_ms=duration[0], error=error)
            return False
        steps.append(step(2, "EntryImportObject", "matching", "success", f"Retrieved User '{name}' from {APP_NAME}",
                          {"TargetAnchor": tid}))
        current = self._target_values(reply.body or {})
        changes = {k: v for k, v in values.items() if current.get(k) != v}
        if not changes:
            cyc.succeeded.append(oid)
            return False
        action = "disable" if list(changes) == ["active"] and changes["active"] == "False" else "update"
        return self._update(cyc, u, tid, {**exported, **current}, changes, steps, duration, action=action,
                            matched_now=False)

    @staticmethod
    def _target_values(doc: dict[str, Any]) -> dict[str, str | None]:
        emails = doc.get("emails") or []
        email = None
        for e in emails:
            if isinstance(e, dict) and str(e.get("type", "")).lower() == "work":
                email = e.get("value")
                break
        if email is None and emails and isinstance(emails[0], dict):
            email = emails[0].get("value")
        name = doc.get("name") or {}
        active = doc.get("active", True)
        if isinstance(active, str):
            active = active.lower() == "true"
        return {"externalId": doc.get("externalId"), "userName": doc.get("userName"),
                "active": "True" if active else "False", wire.EMAIL_PATH: email,
                "name.givenName": name.get("givenName"), "name.familyName": name.get("familyName")}

    def _link(self, oid: str, kind: str, tid: str, exported: dict[str, Any]) -> None:
        with self.db.tx() as conn:
            conn.execute("INSERT INTO links(object_id, kind, target_id, exported) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT(object_id) DO UPDATE SET target_id = excluded.target_id, "
                         "exported = excluded.exported", (oid, kind, tid, json.dumps(exported)))

    def _create_user(self, cyc: Cycle, u: Any, values: dict[str, Any], steps: list, duration: list[int]) -> bool:
        oid = u["object_id"]
        name = u["upn"]
        steps.append(step(4, "EntrySynchronizationAdd", "processing", "success",
                          f"User '{name}' will be created in {APP_NAME}", {}))
        reply = self.wire.send("POST", cyc.scim_url + "/Users", cyc.token, body=wire.create_user_body(values))
        duration[0] += reply.elapsed_ms
        tid = (reply.body or {}).get("id") if reply.status == 201 and isinstance(reply.body, dict) else None
        error = None
        if reply.status == 201 and not tid:
            error = ErrorKind("SystemForCrossDomainIdentityManagementBadResponse", "nonServiceFailure", False,
                              f"{APP_NAME} answered 201 without an id.", "Check the SCIM endpoint.")
        elif reply.status != 201:
            error = classify(reply.status, reply.error, reply.body)
        ok = error is None
        steps.append(self._export_step("Created", "User", reply, ok, name, error, tid))
        modified = [mod(k, None, v) for k, v in values.items()]
        if ok:
            self._link(oid, "User", tid, {**values, "_createdUserName": values["userName"]})  # type: ignore[arg-type]
            cyc.exported += 1
            cyc.succeeded.append(oid)
        else:
            self._fail(cyc, oid, "User", error)  # type: ignore[arg-type]
        self._record(cyc, action="create", itype="User", source_id=oid, source_name=u["display_name"],
                     target_id=tid, target_name=name, status="success" if ok else "failure", steps=steps,
                     modified=modified, duration_ms=duration[0], error=error)
        return ok

    def _update(self, cyc: Cycle, u: Any, tid: str, exported: dict[str, Any], changes: dict[str, Any],
                steps: list, duration: list[int], *, action: str, matched_now: bool) -> bool:
        oid = u["object_id"]
        name = u["upn"]
        verb = "disabled" if action == "disable" else "updated"
        steps.append(step(4, "EntrySynchronizationUpdate", "processing", "success",
                          f"User '{name}' will be {verb} in {APP_NAME}", {}))
        reply = self.wire.send("PATCH", f"{cyc.scim_url}/Users/{tid}", cyc.token,
                               body=wire.user_patch(changes, cyc.style))
        duration[0] += reply.elapsed_ms
        ok = reply.status in (200, 204)
        error = None if ok else classify(reply.status, reply.error, reply.body)
        steps.append(self._export_step("Updated", "User", reply, ok, name, error, tid))
        modified = [mod(k, exported.get(k), v) for k, v in changes.items()]
        if ok:
            self._link(oid, "User", tid, {**exported, **changes})
            cyc.exported += 1
            cyc.succeeded.append(oid)
        else:
            if reply.status == 404:
                with self.db.tx() as conn:
                    conn.execute("DELETE FROM links WHERE object_id = ?", (oid,))
                    conn.execute("UPDATE src_users SET dirty = 1 WHERE object_id = ?", (oid,))
            self._fail(cyc, oid, "User", error)  # type: ignore[arg-type]
        self._record(cyc, action=action, itype="User", source_id=oid, source_name=u["display_name"],
                     target_id=tid, target_name=name, status="success" if ok else "failure", steps=steps,
                     modified=modified, duration_ms=duration[0], error=error)
        return matched_now

    # ------------------------------------------------------------------ groups
    def _group(self, cyc: Cycle, g: Any, link: Any) -> None:
        oid = g["object_id"]
        name = g["display_name"]
        in_scope = bool(g["assigned"]) and not g["deleted"]
        change = "Delete" if not in_scope else ("Update" if link else "Add")
        steps = [self._import_step("Group", name, change, {"SourceAnchor": oid, "displayName": name}),
                 self._scope_step("Group", in_scope, {"Assigned to the application": "True" if g["assigned"] else "False",
                                                      "Deleted in the source system": "True" if g["deleted"] else "False"})]
        duration = [0]
        if not in_scope:
            if link is None:
                cyc.succeeded.append(oid)
                return
            tid = link["target_id"]
            reply = self.wire.send("DELETE", f"{cyc.scim_url}/Groups/{tid}", cyc.token)
            duration[0] += reply.elapsed_ms
            ok = reply.status in (200, 204, 404)
            error = None if ok else classify(reply.status, reply.error, reply.body)
            steps.append(step(4, "EntrySynchronizationDelete", "processing", "success",
                              f"Group '{name}' will be deleted from {APP_NAME}", {}))
            steps.append(self._export_step("Deleted", "Group", reply, ok, name, error, tid))
            if ok:
                with self.db.tx() as conn:
                    conn.execute("DELETE FROM links WHERE object_id = ?", (oid,))
                    conn.execute("DELETE FROM exported_members WHERE group_id = ?", (oid,))
                cyc.exported += 1
                cyc.succeeded.append(oid)
            else:
                self._fail(cyc, oid, "Group", error)  # type: ignore[arg-type]
            self._record(cyc, action="delete", itype="Group", source_id=oid, source_name=name, target_id=tid,
                         target_name=name, status="success" if ok else "failure", steps=steps, modified=[],
                         duration_ms=duration[0], error=error)
            return
        modified: list[dict[str, Any]] = []
        action = "update"
        warning = None
        params = {"excludedAttributes": "members"}
        if link is None:
            reply = self.wire.send("GET", cyc.scim_url + "/Groups", cyc.token,
                                   params={**params, "filter": f'displayName eq "{name}"'})
            duration[0] += reply.elapsed_ms
            if reply.status != 200:
                return self._group_failed(cyc, g, None, steps, duration, reply)
            found = (reply.body or {}).get("Resources") or []
            if any(r.get("members") for r in found):
                warning = "The group was returned with members although members were excluded."
            if found:
                tid = found[0].get("id")
                steps.append(step(2, "EntryImportByMatch", "matching", "success",
                                  f"Retrieved Group '{name}' from {APP_NAME}",
                                  {"MatchingAttribute": "displayName", "MatchedValue": name, "TargetAnchor": str(tid)}))
                self._link(oid, "Group", tid, {"displayName": found[0].get("displayName"),
                                                "externalId": found[0].get("externalId")})
                current_name = found[0].get("displayName")
                current_ext = found[0].get("externalId")
            else:
                steps.append(step(2, "EntryImportByMatch", "matching", "success",
                                  f"Group '{name}' was not found in {APP_NAME}", {"MatchingAttribute": "displayName"}))
                steps.append(step(4, "EntrySynchronizationAdd", "processing", "success",
                                  f"Group '{name}' will be created in {APP_NAME}", {}))
                reply = self.wire.send("POST", cyc.scim_url + "/Groups", cyc.token,
                                       body=wire.create_group_body(oid, name))
                duration[0] += reply.elapsed_ms
                tid = (reply.body or {}).get("id") if reply.status == 201 and isinstance(reply.body, dict) else None
                if not tid:
                    return self._group_failed(cyc, g, None, steps, duration, reply, action="create")
                steps.append(self._export_step("Created", "Group", reply, True, name, None, tid))
                self._link(oid, "Group", tid, {"displayName": name, "externalId": oid})
                modified += [mod("displayName", None, name), mod("externalId", None, oid)]
                action = "create"
                current_name, current_ext = name, oid
        else:
            tid = link["target_id"]
            reply = self.wire.send("GET", f"{cyc.scim_url}/Groups/{tid}", cyc.token, params=params)
            duration[0] += reply.elapsed_ms
            if reply.status != 200:
                if reply.status == 404:
                    with self.db.tx() as conn:
                        conn.execute("DELETE FROM links WHERE object_id = ?", (oid,))
                        conn.execute("DELETE FROM exported_members WHERE group_id = ?", (oid,))
                        conn.execute("UPDATE src_groups SET dirty = 1 WHERE object_id = ?", (oid,))
                return self._group_failed(cyc, g, tid, steps, duration, reply)
            body = reply.body or {}
            if body.get("members"):
                warning = "The group was returned with members although members were excluded."
            steps.append(step(2, "EntryImportObject", "matching", "success",
                              f"Retrieved Group '{name}' from {APP_NAME}", {"TargetAnchor": tid}))
            current_name, current_ext = body.get("displayName"), body.get("externalId")
        if action != "create" and current_name != name:
            steps.append(step(4, "EntrySynchronizationUpdate", "processing", "success",
                              f"Group '{name}' will be updated in {APP_NAME}", {}))
            reply = self.wire.send("PATCH", f"{cyc.scim_url}/Groups/{tid}", cyc.token,
                                   body=wire.group_rename_patch(name, cyc.style))
            duration[0] += reply.elapsed_ms
            if reply.status not in (200, 204):
                return self._group_failed(cyc, g, tid, steps, duration, reply, modified=[
                    mod("displayName", current_name, name)])
            modified.append(mod("displayName", current_name, name))
            self._link(oid, "Group", tid, {"displayName": name, "externalId": current_ext})
        # References: members.
        # Only the differences between the source membership and what was exported (groups can be large).
        valid = ("SELECT m.user_id, l.target_id FROM src_members m CROSS JOIN links l ON l.object_id = m.user_id "
                 "CROSS JOIN src_users u ON u.object_id = m.user_id WHERE m.group_id = ? AND u.assigned "
                 "AND NOT u.hard_deleted")
        desired = {r["user_id"]: r["target_id"] for r in self.db.query(
            f"SELECT v.user_id, v.target_id FROM ({valid}) v WHERE NOT EXISTS (SELECT 1 FROM exported_members e "
            "WHERE e.group_id = ? AND e.user_id = v.user_id)", (oid, oid))}
        old_targets = {r["user_id"]: r["target_id"] for r in self.db.query(
            "SELECT e.user_id, l.target_id FROM exported_members e LEFT JOIN links l ON l.object_id = e.user_id "
            f"WHERE e.group_id = ? AND e.user_id NOT IN (SELECT user_id FROM ({valid}))", (oid, oid))}
        add = sorted(desired)
        remove = sorted(old_targets)
        remove_targets = [old_targets[r] for r in remove if old_targets.get(r)]
        if add or remove:
            ok_add: list[str] = []
            ok_remove: list[str] = []
            failure = None
            bodies = wire.member_patches([desired[a] for a in add], remove_targets, cyc.style)
            by_target_add = {desired[a]: a for a in add}
            by_target_remove = {old_targets[r]: r for r in remove if old_targets.get(r)}
            for body in bodies:
                reply = self.wire.send("PATCH", f"{cyc.scim_url}/Groups/{tid}", cyc.token, body=body)
                duration[0] += reply.elapsed_ms
                if reply.status not in (200, 204):
                    failure = reply
                    break
                for op in body["Operations"]:
                    if op["op"].lower() == "add":
                        ok_add += [by_target_add[v["value"]] for v in op["value"]]
                    elif "value" in op:
                        ok_remove += [by_target_remove[v["value"]] for v in op["value"]]
                    else:
                        ok_remove.append(by_target_remove[op["path"].split('"')[1]])
            ok_remove += [r for r in remove if not old_targets.get(r)]
            with self.db.tx() as conn:
                conn.executemany("INSERT OR IGNORE INTO exported_members(group_id, user_id) VALUES (?, ?)",
                                 [(oid, a) for a in ok_add])
                conn.executemany("DELETE FROM exported_members WHERE group_id = ? AND user_id = ?",
                                 [(oid, r) for r in ok_remove])
            if ok_add or ok_remove:
                modified.append(mod("members", _id_list([old_targets.get(r) or r for r in ok_remove]) if ok_remove
                                    else None, _id_list([desired[a] for a in ok_add]) if ok_add else None))
            steps.append(step(3, "EntryReferenceResolution", "referenceResolution", "success",
                              f"Resolved {len(add)} member reference(s) to add and {len(remove)} to remove",
                              {"MembersAdded": str(len(ok_add)), "MembersRemoved": str(len(ok_remove))}))
            if failure is not None:
                return self._group_failed(cyc, g, tid, steps, duration, failure, action=action, modified=modified)
        if not modified:
            cyc.succeeded.append(oid)
            return
        if action == "update":
            steps.append(self._export_step("Updated", "Group", wire.Reply(204, None, "", 0), True, name, None, tid))
        cyc.exported += 1
        cyc.succeeded.append(oid)
        status = "warning" if warning else "success"
        self._record(cyc, action=action, itype="Group", source_id=oid, source_name=name, target_id=tid,
                     target_name=name, status=status, steps=steps, modified=modified, duration_ms=duration[0],
                     error=ErrorKind("SystemForCrossDomainIdentityManagementBadResponse", "nonServiceFailure",
                                     False, warning, "Make the SCIM endpoint honour excludedAttributes=members.")
                     if warning else None)

    def _group_failed(self, cyc: Cycle, g: Any, tid: str | None, steps: list, duration: list[int],
                      reply: wire.Reply, action: str = "update", modified: list | None = None) -> None:
        error = classify(reply.status, reply.error, reply.body)
        steps.append(self._export_step("Updated", "Group", reply, False, g["display_name"], error, tid))
        self._fail(cyc, g["object_id"], "Group", error)
        self._record(cyc, action=action if tid or action == "create" else "other", itype="Group",
                     source_id=g["object_id"], source_name=g["display_name"], target_id=tid,
                     target_name=g["display_name"], status="failure", steps=steps, modified=modified or [],
                     duration_ms=duration[0], error=error)

    # ------------------------------------------------------------------ end of cycle
    def _finish(self, cyc: Cycle, state: dict[str, Any], real_ms: int) -> dict[str, Any]:
        ended = cyc.at + timedelta(milliseconds=max(cyc.elapsed_ms, 1) + 1)
        with self.db.tx() as conn:
            conn.executemany(
                "INSERT INTO logs(id, activity, status, action, cycle_id, change_id, source_id, doc)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(r["id"], r["activityDateTime"], r["provisioningStatusInfo"]["status"], r["provisioningAction"],
                  r["cycleId"], r["changeId"], r["sourceIdentity"]["id"], json.dumps(r, separators=(",", ":")))
                 for r in cyc.records],
            )
            conn.executemany("UPDATE src_users SET dirty = 0 WHERE object_id = ?",
                             [(o,) for o in cyc.processed_users if o not in cyc.escrow or not cyc.aborted])
            conn.executemany("UPDATE src_groups SET dirty = 0 WHERE object_id = ?",
                             [(o,) for o in cyc.processed_groups if o not in cyc.escrow or not cyc.aborted])
            conn.executemany("DELETE FROM escrows WHERE object_id = ?", [(o,) for o in cyc.succeeded])
            for oid, (kind, error) in cyc.escrow.items():
                row = conn.execute("SELECT failures FROM escrows WHERE object_id = ?", (oid,)).fetchone()
                failures = (row["failures"] if row else 0) + 1
                wait = 1 if error.transient else min(2 ** (failures - 1), 36)
                conn.execute("INSERT INTO escrows(object_id, kind, failures, next_cycle, error_code) VALUES "
                             "(?, ?, ?, ?, ?) ON CONFLICT(object_id) DO UPDATE SET failures = excluded.failures, "
                             "next_cycle = excluded.next_cycle, error_code = excluded.error_code",
                             (oid, kind, failures, cyc.no + wait, error.code))
            for oid, kind in cyc.staged:
                conn.execute("INSERT OR REPLACE INTO staged_deletes(object_id, kind, staged_at) VALUES (?, ?, ?)",
                             (oid, kind, iso(cyc.at)))
            escrowed = conn.execute("SELECT count(*) FROM escrows").fetchone()[0]
            entitled = conn.execute("SELECT count(*) FROM links").fetchone()[0]
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
            conn.execute("INSERT OR REPLACE INTO cycles(seq, cycle_id, began, ended, summary) VALUES (?, ?, ?, ?, ?)",
                         (cyc.no, cyc.cycle_id, iso(cyc.at), iso(ended), json.dumps(cyc.counts)))
            self.save_job(state, conn)
        return {
            "ran": True, "cycleId": cyc.cycle_id, "cycleNo": cyc.no, "initial": cyc.initial,
            "timeBegan": iso(cyc.at), "timeEnded": iso(ended), "state": execution["state"],
            "records": len(cyc.records), "counts": dict(sorted(cyc.counts.items())), "imported": cyc.imported,
            "exported": cyc.exported, "failed": cyc.failed, "staged": len(cyc.staged), "requests": cyc.requests,
            "status": state["code"], "quarantine": state["quarantine"]["reason"] if state["quarantine"] else None,
            "realMilliseconds": real_ms,
        }


def _id_list(ids: list[str]) -> str:
    if len(ids) > 20:
        return json.dumps(ids[:20]) + f" (+{len(ids) - 20} more)"
    return json.dumps(ids)
