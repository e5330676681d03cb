"""Group export: one source group per call, as Entra's provisioning service handles it.

Out of scope (unassigned or deleted) -> ``DELETE``. Otherwise: find the target (the linked id, or a match by
``displayName`` with ``excludedAttributes=members``) or create it (``POST`` with Microsoft's extra schema URI and
no members), rename it when the name differs, then resolve references: member ``PATCH``es with only the
differences between the source membership and what was exported (up to 100 members per request).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import wire
from .cycle import Cycle, Duration, Recorder, id_list, link
from .db import EntraDB
from .records import APP_NAME, ErrorKind, classify, mod, step

EXCLUDE_MEMBERS = {"excludedAttributes": "members"}
MEMBERS_RETURNED = "The group was returned with members although members were excluded."
# Members Entra would export: linked users of the group that are in scope and not hard-deleted.
_VALID_MEMBERS = ("SELECT m.user_id, l.target_id FROM src_members m CROSS JOIN links l ON l.object_id = m.user_id "
                  "CROSS JOIN src_users u ON u.object_id = m.user_id WHERE m.group_id = ? AND u.in_scope "
                  "AND NOT u.hard_deleted")


@dataclass
class _Run:
    """One group's export in progress."""

    g: Any
    steps: list[dict[str, Any]]
    took: Duration = field(default_factory=Duration)
    modified: list[dict[str, Any]] = field(default_factory=list)
    action: str = "update"
    warning: str | None = None
    tid: str | None = None
    only: set[str] | None = None  # provision on demand: only these members

    @property
    def oid(self) -> str:
        return str(self.g["object_id"])

    @property
    def name(self) -> str:
        return str(self.g["display_name"])


class GroupExport:
    def __init__(self, db: EntraDB, wire_: wire.ScimWire, rec: Recorder) -> None:
        self.db = db
        self.wire = wire_
        self.rec = rec

    def process(self, cyc: Cycle, g: Any, linked: Any, only: set[str] | None = None) -> None:
        oid, name = g["object_id"], g["display_name"]
        in_scope = bool(g["assigned"]) and not g["deleted"]
        change = "Delete" if not in_scope else ("Update" if linked else "Add")
        run = _Run(g, [self.rec.import_step("Group", name, change, {"SourceAnchor": oid, "displayName": name}),
                       self.rec.scope_step("Group", in_scope, {
                           "Assigned to the application": "True" if g["assigned"] else "False",
                           "Deleted in the source system": "True" if g["deleted"] else "False"})])
        run.only = only
        if not in_scope:
            if linked is None:
                cyc.succeeded.append(oid)
            else:
                self._delete(cyc, run, linked["target_id"])
            return
        found = self._match_or_create(cyc, run) if linked is None else self._read(cyc, run, linked["target_id"])
        if found is None:
            return
        current_name, current_ext = found
        if run.action != "create" and current_name != name and not self._rename(cyc, run, current_name,
                                                                                   current_ext):
            return
        if not self._members(cyc, run):
            return
        if not run.modified:
            cyc.succeeded.append(oid)
            return
        if run.action == "update":
            run.steps.append(self.rec.export_step("Updated", "Group", wire.Reply(204, None, "", 0), True, name, None,
                                                  run.tid))
        cyc.exported += 1
        cyc.succeeded.append(oid)
        error = None
        if run.warning:
            error = ErrorKind("SystemForCrossDomainIdentityManagementBadResponse", "nonServiceFailure", False,
                              run.warning, "Make the SCIM endpoint honour excludedAttributes=members.")
        self.rec.record(cyc, action=run.action, itype="Group", source_id=oid, source_name=name, target_id=run.tid,
                        target_name=name, status="warning" if run.warning else "success", steps=run.steps,
                        modified=run.modified, duration_ms=run.took.ms, error=error)

    # ------------------------------------------------------------------ the paths
    def _delete(self, cyc: Cycle, run: _Run, tid: str) -> None:
        reply = run.took.add(self.wire.send("DELETE", f"{cyc.scim_url}/Groups/{tid}", cyc.token))
        ok = reply.status in (200, 204, 404)
        error = None if ok else classify(reply.status, reply.error, reply.body)
        run.steps.append(step(4, "EntrySynchronizationDelete", "processing", "success",
                              f"Group '{run.name}' will be deleted from {APP_NAME}", {}))
        run.steps.append(self.rec.export_step("Deleted", "Group", reply, ok, run.name, error, tid))
        if error is None:
            with self.db.tx() as conn:
                conn.execute("DELETE FROM links WHERE object_id = ?", (run.oid,))
                conn.execute("DELETE FROM exported_members WHERE group_id = ?", (run.oid,))
            cyc.exported += 1
            cyc.succeeded.append(run.oid)
        else:
            self.rec.fail(cyc, run.oid, "Group", error)
        self.rec.record(cyc, action="delete", itype="Group", source_id=run.oid, source_name=run.name, target_id=tid,
                        target_name=run.name, status="success" if ok else "failure", steps=run.steps, modified=[],
                        duration_ms=run.took.ms, error=error)

    def _match_or_create(self, cyc: Cycle, run: _Run) -> tuple[Any, Any] | None:
        """Match by displayName, else create. Returns (current displayName, externalId), None on failure."""
        oid, name = run.oid, run.name
        reply = run.took.add(self.wire.send("GET", cyc.scim_url + "/Groups", cyc.token,
                                            params={**EXCLUDE_MEMBERS, "filter": f'displayName eq "{name}"'}))
        if reply.status != 200:
            self._failed(cyc, run, reply)
            return None
        found = (reply.body or {}).get("Resources") or []
        if any(r.get("members") for r in found):
            run.warning = MEMBERS_RETURNED
        if found:
            run.tid = found[0].get("id")
            run.steps.append(step(2, "EntryImportByMatch", "matching", "success",
                                  f"Retrieved Group '{name}' from {APP_NAME}",
                                  {"MatchingAttribute": "displayName", "MatchedValue": name,
                                   "TargetAnchor": str(run.tid)}))
            link(self.db, oid, "Group", str(run.tid), {"displayName": found[0].get("displayName"),
                                                      "externalId": found[0].get("externalId")})
            return found[0].get("displayName"), found[0].get("externalId")
        run.steps.append(step(2, "EntryImportByMatch", "matching", "success",
                              f"Group '{name}' was not found in {APP_NAME}", {"MatchingAttribute": "displayName"}))
        run.steps.append(step(4, "EntrySynchronizationAdd", "processing", "success",
                              f"Group '{name}' will be created in {APP_NAME}", {}))
        reply = run.took.add(self.wire.send("POST", cyc.scim_url + "/Groups", cyc.token,
                                            body=wire.create_group_body(oid, name)))
        tid = (reply.body or {}).get("id") if reply.status == 201 and isinstance(reply.body, dict) else None
        if not tid:
            run.action = "create"
            self._failed(cyc, run, reply)
            return None
        run.tid = tid
        run.steps.append(self.rec.export_step("Created", "Group", reply, True, name, None, tid))
        link(self.db, oid, "Group", tid, {"displayName": name, "externalId": oid})
        run.modified += [mod("displayName", None, name), mod("externalId", None, oid)]
        run.action = "create"
        return name, oid

    def _read(self, cyc: Cycle, run: _Run, tid: str) -> tuple[Any, Any] | None:
        """Read the linked target. Returns (current displayName, externalId), None on failure."""
        run.tid = tid
        reply = run.took.add(self.wire.send("GET", f"{cyc.scim_url}/Groups/{tid}", cyc.token, params=EXCLUDE_MEMBERS))
        if reply.status != 200:
            if reply.status == 404:
                with self.db.tx() as conn:
                    conn.execute("DELETE FROM links WHERE object_id = ?", (run.oid,))
                    conn.execute("DELETE FROM exported_members WHERE group_id = ?", (run.oid,))
                    conn.execute("UPDATE src_groups SET dirty = 1 WHERE object_id = ?", (run.oid,))
            self._failed(cyc, run, reply)
            return None
        body = reply.body or {}
        if body.get("members"):
            run.warning = MEMBERS_RETURNED
        run.steps.append(step(2, "EntryImportObject", "matching", "success",
                              f"Retrieved Group '{run.name}' from {APP_NAME}", {"TargetAnchor": tid}))
        return body.get("displayName"), body.get("externalId")

    def _rename(self, cyc: Cycle, run: _Run, current_name: Any, current_ext: Any) -> bool:
        run.steps.append(step(4, "EntrySynchronizationUpdate", "processing", "success",
                              f"Group '{run.name}' will be updated in {APP_NAME}", {}))
        reply = run.took.add(self.wire.send("PATCH", f"{cyc.scim_url}/Groups/{run.tid}", cyc.token,
                                            body=wire.group_rename_patch(run.name, cyc.style)))
        if reply.status not in (200, 204):
            run.modified = [mod("displayName", current_name, run.name)]
            self._failed(cyc, run, reply)
            return False
        run.modified.append(mod("displayName", current_name, run.name))
        link(self.db, run.oid, "Group", str(run.tid), {"displayName": run.name, "externalId": current_ext})
        return True

    def _members(self, cyc: Cycle, run: _Run) -> bool:
        """Export the membership differences (computed in SQL: groups can be large). False on failure."""
        oid = run.oid
        desired = {r["user_id"]: r["target_id"] for r in self.db.query(
            f"SELECT v.user_id, v.target_id FROM ({_VALID_MEMBERS}) v WHERE NOT EXISTS (SELECT 1 FROM "
            "exported_members e WHERE e.group_id = ? AND e.user_id = v.user_id)", (oid, oid))}
        old_targets = {r["user_id"]: r["target_id"] for r in self.db.query(
            "SELECT e.user_id, l.target_id FROM exported_members e LEFT JOIN links l ON l.object_id = e.user_id "
            f"WHERE e.group_id = ? AND e.user_id NOT IN (SELECT user_id FROM ({_VALID_MEMBERS}))", (oid, oid))}
        add = sorted(a for a in desired if run.only is None or a in run.only)
        remove = sorted(r for r in old_targets if run.only is None or r in run.only)
        if not add and not remove:
            return True
        remove_targets = [old_targets[r] for r in remove if old_targets.get(r)]
        ok_add: list[str] = []
        ok_remove: list[str] = []
        failure = None
        by_target_add = {desired[a]: a for a in add}
        by_target_remove = {old_targets[r]: r for r in remove if old_targets.get(r)}
        for body in wire.member_patches([desired[a] for a in add], remove_targets, cyc.style):
            reply = run.took.add(self.wire.send("PATCH", f"{cyc.scim_url}/Groups/{run.tid}", cyc.token, body=body))
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
            run.modified.append(mod("members", id_list([old_targets.get(r) or r for r in ok_remove]) if ok_remove
                                    else None, id_list([desired[a] for a in ok_add]) if ok_add else None))
        run.steps.append(step(3, "EntryReferenceResolution", "referenceResolution", "success",
                              f"Resolved {len(add)} member reference(s) to add and {len(remove)} to remove",
                              {"MembersAdded": str(len(ok_add)), "MembersRemoved": str(len(ok_remove))}))
        if failure is not None:
            self._failed(cyc, run, failure)
            return False
        return True

    def _failed(self, cyc: Cycle, run: _Run, reply: wire.Reply) -> None:
        error = classify(reply.status, reply.error, reply.body)
        run.steps.append(self.rec.export_step("Updated", "Group", reply, False, run.name, error, run.tid))
        self.rec.fail(cyc, run.oid, "Group", error)
        action = run.action if run.tid or run.action == "create" else "other"
        self.rec.record(cyc, action=action, itype="Group", source_id=run.oid, source_name=run.name,
                        target_id=run.tid, target_name=run.name, status="failure", steps=run.steps,
                        modified=run.modified, duration_ms=run.took.ms, error=error)
