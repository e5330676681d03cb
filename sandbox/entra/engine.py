"""The provisioning engine: Entra's cycles against the SCIM endpoint.

One cycle = import the changed source objects (all of them in an initial cycle), scope, match (GET with a
filter) or read the linked target, decide, export (POST / PATCH / DELETE), then resolve group references
(member PATCHes). Each action on each identity writes one ``provisioningObjectSummary``. Failures are escrowed
and retried (transient ones next cycle, others with back-off); a 401 aborts the cycle and quarantines the job;
too many deletes in one cycle are staged and quarantine the job with ``TooManyDeletes``.

Modules: ``job`` (state machine, quarantine, the job document), ``cycle`` (the cycle's records and steps),
``users`` and ``groups`` (exporting one object), this one (choosing what a cycle imports and driving it).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from . import wire
from .cycle import Cycle, Recorder, write_logs
from .db import EntraDB
from .groups import GroupExport
from .job import (
    CYCLE_INTERVAL,
    DEFAULT_THRESHOLD,
    Identity,
    Job,
    new_job_state,
)
from .records import classify, det_uuid, iso, parse_iso
from .schema import SchemaStore
from .tenant import Tenant
from .users import UserExport

__all__ = ["CYCLE_INTERVAL", "DEFAULT_THRESHOLD", "Identity", "Provisioner", "new_job_state"]

HELD_DETAIL = ("The user was not disabled: its deactivation is held back (staged) until an administrator "
               "releases it with a restart with ForceDeletes or QuarantineState.")
SYSTEM_INITIATOR = {"id": "", "displayName": "Azure AD Provisioning Service", "initiatorType": "system"}


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
        self.jobs = Job(db, ids, self.lock)
        self.rec = Recorder(db, ids, seed)
        self.schemas = SchemaStore(db, seed, ids.job_id)
        self.users = UserExport(db, self.wire, self.rec, self.schemas)
        self.groups = GroupExport(db, self.wire, self.rec)

    # ------------------------------------------------------------------ job state and actions (see job.py)
    def job(self) -> dict[str, Any]:
        return self.jobs.load()

    def save_job(self, state: dict[str, Any], conn: Any = None) -> None:
        self.jobs.save(state, conn)

    def threshold(self) -> int:
        return self.jobs.threshold()

    def set_threshold(self, value: int) -> None:
        self.jobs.set_threshold(value)

    def job_document(self) -> dict[str, Any]:
        return self.jobs.document()

    def restart(self, scope: str, at: datetime) -> list[str]:
        return self.jobs.restart(scope, at)

    def pause(self) -> None:
        self.jobs.pause()

    def start(self) -> None:
        self.jobs.start()

    def gate(self, at: datetime, ignore_backoff: bool = False) -> str | None:
        return self.jobs.gate(at, ignore_backoff)

    def set_secrets(self, base_address: str | None, token: str | None, at: datetime) -> None:
        with self.lock:
            if base_address:
                self.base_address = base_address
                self.db.set_meta("base_address", base_address)
            if token is not None:
                self.secret_token = token
            self.jobs.credentials_saved(at)

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
                        initiator=dict(SYSTEM_INITIATOR))
            started = time.perf_counter()
            requests_before = self.wire.requests
            self.users.refresh_mapping()
            self.tenant.purge_recycle_bin(now)
            self._run(cyc, state)
            cyc.requests = self.wire.requests - requests_before
            return self._finish(cyc, state, int((time.perf_counter() - started) * 1000))

    def _on_demand_cycle(self, client_id: str) -> Cycle:
        at = datetime.now(UTC)
        url, _style = wire.split_tenant_url(self.base_address)
        index = int(self.db.get_meta("on_demand_count", "0") or 0) + 1
        self.db.set_meta("on_demand_count", str(index))
        self.users.refresh_mapping()
        return Cycle(no=-index, cycle_id=det_uuid(self.seed, self.ids.job_id, "on-demand", index), at=at,
                     initial=False, token=self.secret_token, scim_url=url, style="default",
                     initiator={"id": client_id, "displayName": "Provision on demand",
                                "initiatorType": "application"})

    def _on_demand_user(self, cyc: Cycle, object_id: str) -> dict[str, Any]:
        u = self.db.one("SELECT * FROM src_users WHERE object_id = ?", (object_id,))
        linked = self.db.one("SELECT * FROM links WHERE object_id = ?", (object_id,))
        before = len(cyc.records)
        self.users.process(cyc, u, linked)
        if len(cyc.records) == before:
            self.rec.record(cyc, action="other", itype="User", source_id=object_id,
                            source_name=u["display_name"], target_id=linked["target_id"] if linked else None,
                            target_name=u["upn"], status="skipped", steps=[
                                self.rec.import_step("User", u["upn"], "Update", {"SourceAnchor": object_id})],
                            modified=[], duration_ms=1,
                            details={"SkipReason": "EntrySynchronizationSkipped",
                                     "SkipDetail": "There was nothing to change, or the user is out of scope."})
        return cyc.records[-1]

    @staticmethod
    def _summary(rec: dict[str, Any]) -> dict[str, Any]:
        return {"provisioningSteps": rec["provisioningSteps"], "statusInfo": rec["provisioningStatusInfo"],
                "provisioningAction": rec["provisioningAction"], "modifiedProperties": rec["modifiedProperties"],
                "sourceIdentity": rec["sourceIdentity"], "targetIdentity": rec["targetIdentity"],
                "changeId": rec["changeId"], "cycleId": rec["cycleId"]}

    def run_on_demand(self, object_id: str, client_id: str) -> dict[str, Any]:
        """Provision one user now, outside the schedule (default PATCH style; aadOptscim062020 does not apply)."""
        with self.lock:
            cyc = self._on_demand_cycle(client_id)
            rec = self._on_demand_user(cyc, object_id)
            with self.db.tx() as conn:
                write_logs(conn, cyc.records)
                if not cyc.escrow:
                    conn.execute("UPDATE src_users SET dirty = 0 WHERE object_id = ?", (object_id,))
            return self._summary(rec)

    def run_on_demand_group(self, group_id: str, member_ids: list[str], client_id: str) -> dict[str, Any]:
        """Provision one group and the members the request names (each user first, then the group with exactly
        those members added or removed), as Entra's provision on demand for groups does."""
        with self.lock:
            cyc = self._on_demand_cycle(client_id)
            members = [self._on_demand_user(cyc, m) for m in member_ids]
            g = self.db.one("SELECT * FROM src_groups WHERE object_id = ?", (group_id,))
            linked = self.db.one("SELECT * FROM links WHERE object_id = ?", (group_id,))
            before = len(cyc.records)
            self.groups.process(cyc, g, linked, only=set(member_ids))
            if len(cyc.records) == before:
                self.rec.record(cyc, action="other", itype="Group", source_id=group_id, source_name=g["display_name"],
                                target_id=linked["target_id"] if linked else None, target_name=g["display_name"],
                                status="skipped", steps=[self.rec.import_step(
                                    "Group", g["display_name"], "Update", {"SourceAnchor": group_id})],
                                modified=[], duration_ms=1,
                                details={"SkipReason": "EntrySynchronizationSkipped",
                                         "SkipDetail": "There was nothing to change, or the group is out of scope."})
            with self.db.tx() as conn:
                write_logs(conn, cyc.records)
            out = self._summary(cyc.records[-1])
            out["members"] = [{"objectId": m["sourceIdentity"]["id"], "provisioningAction": m["provisioningAction"],
                               "statusInfo": m["provisioningStatusInfo"], "changeId": m["changeId"]}
                              for m in members]
            return out

    def _imports(self, cyc: Cycle) -> tuple[list[Any], list[Any]]:
        """The source users and groups this cycle imports: everything in scope or linked in an initial cycle,
        otherwise what changed (``dirty``) plus escrows that are due."""
        db = self.db
        if cyc.initial:
            users = db.query("SELECT * FROM src_users WHERE (in_scope AND NOT hard_deleted) OR object_id IN "
                             "(SELECT object_id FROM links) OR dirty ORDER BY object_id")
            groups = db.query("SELECT * FROM src_groups WHERE (assigned AND NOT deleted) OR object_id IN "
                              "(SELECT object_id FROM links) OR dirty ORDER BY object_id")
            return users, groups
        # Two indexed lookups (the partial index on dirty, then due escrows) rather than one full scan.
        users = db.query(
            "SELECT * FROM src_users WHERE dirty = 1 UNION SELECT u.* FROM escrows e JOIN src_users u ON "
            "u.object_id = e.object_id WHERE e.kind = 'User' AND e.next_cycle <= ? ORDER BY object_id",
            (cyc.no,))
        groups = db.query(
            "SELECT * FROM src_groups WHERE dirty = 1 UNION SELECT g.* FROM escrows e JOIN src_groups g ON "
            "g.object_id = e.object_id WHERE e.kind = 'Group' AND e.next_cycle <= ? ORDER BY object_id",
            (cyc.no,))
        return users, groups

    @staticmethod
    def _deletes(users: list[Any], groups: list[Any], links: dict[str, Any]) -> list[tuple[str, str]]:
        """Accidental-deletion prevention: the disables and deletes this cycle would export."""
        deletes: list[tuple[str, str]] = []
        for u in users:
            linked = links.get(u["object_id"])
            if linked is None:
                continue
            exported = json.loads(linked["exported"])
            if u["hard_deleted"]:
                deletes.append((u["object_id"], "User"))
            elif (not u["in_scope"] or u["soft_deleted"]) and exported.get("active") != "False":
                deletes.append((u["object_id"], "User"))
        for g in groups:
            if g["object_id"] in links and (g["deleted"] or not g["assigned"]):
                deletes.append((g["object_id"], "Group"))
        return deletes

    def _run(self, cyc: Cycle, state: dict[str, Any]) -> None:
        db = self.db
        users, groups = self._imports(cyc)
        cyc.imported = len(users) + len(groups)
        links = {r["object_id"]: r for r in db.query(
            "SELECT * FROM links WHERE object_id IN (SELECT value FROM json_each(?))",
            (json.dumps([u["object_id"] for u in users] + [g["object_id"] for g in groups]),))}
        held = set(db.get_json("held_deletes", []))
        deletes = [d for d in self._deletes(users, groups, links) if d[0] not in held]
        held &= {oid for oid, _ in self._deletes(users, [], links)}
        threshold = Job.threshold_of(state)
        staged: set[str] = set()
        if len(deletes) > threshold and not state.get("force_deletes"):
            staged = {oid for oid, _ in deletes}
            cyc.staged = deletes
        group_extra: set[str] = set()
        for u in users:
            if cyc.aborted:
                break
            if u["object_id"] in staged:
                self.rec.stage(cyc, u, "User", threshold, len(deletes))
                cyc.processed_users.append(u["object_id"])
                continue
            if u["object_id"] in held:
                self.rec.stage(cyc, u, "User", threshold, 0, HELD_DETAIL)
                cyc.processed_users.append(u["object_id"])
                continue
            linked_now = self.users.process(cyc, u, links.get(u["object_id"]))
            cyc.processed_users.append(u["object_id"])
            if linked_now:  # a newly linked user's groups get its membership in this cycle
                for r in db.query("SELECT group_id FROM src_members WHERE user_id = ?", (u["object_id"],)):
                    group_extra.add(r["group_id"])
        if cyc.aborted:
            return
        seen = {g["object_id"] for g in groups}
        extra = db.query("SELECT * FROM src_groups WHERE object_id IN (SELECT value FROM json_each(?))"
                         " ORDER BY object_id", (json.dumps(sorted(group_extra - seen)),))
        for g in list(groups) + extra:
            if cyc.aborted:
                break
            if g["object_id"] in staged:
                self.rec.stage(cyc, g, "Group", threshold, len(deletes))
                cyc.processed_groups.append(g["object_id"])
                continue
            linked = db.one("SELECT * FROM links WHERE object_id = ?", (g["object_id"],))
            self.groups.process(cyc, g, linked)
            cyc.processed_groups.append(g["object_id"])

    def _finish(self, cyc: Cycle, state: dict[str, Any], real_ms: int) -> dict[str, Any]:
        """Write the cycle's records, clear what it processed, escrow its failures, update the job."""
        ended = cyc.at + timedelta(milliseconds=max(cyc.elapsed_ms, 1) + 1)
        with self.db.tx() as conn:
            write_logs(conn, cyc.records)
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
            conn.execute("INSERT OR REPLACE INTO cycles(seq, cycle_id, began, ended, summary) VALUES (?, ?, ?, ?, ?)",
                         (cyc.no, cyc.cycle_id, iso(cyc.at), iso(ended), json.dumps(cyc.counts)))
            execution = self.jobs.conclude(cyc, state, conn, ended, escrowed, entitled)
        return {
            "ran": True, "cycleId": cyc.cycle_id, "cycleNo": cyc.no, "initial": cyc.initial,
            "timeBegan": iso(cyc.at), "timeEnded": iso(ended), "state": execution["state"],
            "records": len(cyc.records), "counts": dict(sorted(cyc.counts.items())), "imported": cyc.imported,
            "exported": cyc.exported, "failed": cyc.failed, "staged": len(cyc.staged), "requests": cyc.requests,
            "status": state["code"], "quarantine": state["quarantine"]["reason"] if state["quarantine"] else None,
            "realMilliseconds": real_ms,
        }
