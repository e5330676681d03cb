"""User export: one source user per call, as Entra's provisioning service handles it.

Hard-deleted -> ``DELETE``; out of scope (unassigned) -> disable; unlinked -> match by the matching attributes
in precedence order (``GET /Users?filter=...``), then create (``POST``) or update what differs; linked -> read
(``GET /Users/{id}``), compare, ``PATCH`` what differs. Every outcome is one log record.
"""

from __future__ import annotations

import json
from typing import Any

from . import wire
from .cycle import Cycle, Duration, Recorder, link
from .db import EntraDB
from .records import APP_NAME, ErrorKind, classify, mod, step
from .schema import SchemaStore, UserMapping


class UserExport:
    def __init__(self, db: EntraDB, wire_: wire.ScimWire, rec: Recorder, schemas: SchemaStore) -> None:
        self.db = db
        self.wire = wire_
        self.rec = rec
        self.schemas = schemas
        self.mapping: UserMapping = schemas.user_mapping()

    def refresh_mapping(self) -> None:
        """Read the job's schema again (a PUT changes what the next cycle sends)."""
        self.mapping = self.schemas.user_mapping()

    def _department(self, group_id: str) -> str | None:
        row = self.db.one("SELECT display_name FROM src_groups WHERE object_id = ?", (group_id,))
        return row["display_name"] if row else None

    def _differences(self, values: dict[str, Any], current: dict[str, Any], *, created: bool) -> dict[str, Any]:
        skip = set() if created else self.mapping.add_only()
        return {k: v for k, v in values.items() if k not in skip and current.get(k) != v}

    def process(self, cyc: Cycle, u: Any, linked: Any) -> bool:
        """Process one source user; returns True when it became linked (created or matched) in this cycle."""
        oid = u["object_id"]
        name = u["upn"]
        in_scope = bool(u["in_scope"]) and not u["hard_deleted"]
        change = "Delete" if u["hard_deleted"] else ("Update" if linked else "Add")
        steps = [self.rec.import_step("User", name, change, {"SourceAnchor": oid, "userPrincipalName": name,
                                                               "mail": str(u["mail"] or "")}),
                 self.rec.scope_step("User", in_scope and not u["soft_deleted"], scope_details(u))]
        took = Duration()
        if u["hard_deleted"]:
            if linked is not None:
                self._delete(cyc, u, linked["target_id"], steps, took)
            return False
        if not in_scope:
            if linked is None:
                return False
            exported = json.loads(linked["exported"])
            if exported.get("active") == "False":
                return False
            return self._update(cyc, u, linked["target_id"], exported, {"active": "False"}, steps, took,
                                action="disable", matched_now=False)
        values = self.mapping.desired(u, self._department)
        if linked is None:
            if u["soft_deleted"]:
                return False  # out of scope and never provisioned: nothing to do
            return self._match_or_create(cyc, u, values, steps, took)
        return self._read_and_update(cyc, u, linked, values, steps, took)

    # ------------------------------------------------------------------ the paths
    def _delete(self, cyc: Cycle, u: Any, tid: str, steps: list[dict[str, Any]], took: Duration) -> None:
        oid, name = u["object_id"], u["upn"]
        reply = took.add(self.wire.send("DELETE", f"{cyc.scim_url}/Users/{tid}", cyc.token))
        ok = reply.status in (200, 204, 404)
        error = None if ok else classify(reply.status, reply.error, reply.body)
        steps.append(step(4, "EntrySynchronizationDelete", "processing", "success",
                          f"User '{name}' will be deleted from {APP_NAME}", {}))
        steps.append(self.rec.export_step("Deleted", "User", reply, ok, name, error, tid))
        if error is None:
            with self.db.tx() as conn:
                conn.execute("DELETE FROM links WHERE object_id = ?", (oid,))
                conn.execute("DELETE FROM exported_members WHERE user_id = ?", (oid,))
            cyc.exported += 1
            cyc.succeeded.append(oid)
        else:
            self.rec.fail(cyc, oid, "User", error)
        self.rec.record(cyc, action="delete", itype="User", source_id=oid, source_name=u["display_name"],
                        target_id=tid, target_name=name, status="success" if ok else "failure", steps=steps,
                        modified=[], duration_ms=took.ms, error=error)

    def _match_or_create(self, cyc: Cycle, u: Any, values: dict[str, Any], steps: list[dict[str, Any]],
                         took: Duration) -> bool:
        oid = u["object_id"]
        tid, target, failed = self._match(cyc, oid, values, steps, took)
        if failed is not None:
            if failed.status == 600:
                error = ErrorKind("DuplicateTargetEntries", "failure", False,
                                  f"More than one object in {APP_NAME} matches this user: "
                                  f"{failed.body['detail']}.",
                                  "Remove the duplicate from 6clicks or change the matching attributes.")
            else:
                error = classify(failed.status, failed.error, failed.body)
            self.rec.fail(cyc, oid, "User", error)
            self.rec.record(cyc, action="other", itype="User", source_id=oid, source_name=u["display_name"],
                            target_id=None, target_name=u["upn"], status="failure", steps=steps, modified=[],
                            duration_ms=took.ms, error=error)
            return False
        if tid is None:
            return self._create(cyc, u, values, steps, took)
        current = target_values(target or {}, values)
        exported = {**current, "_createdUserName": current.get("userName")}
        link(self.db, oid, "User", tid, exported)
        changes = self._differences(values, current, created=False)
        if not changes:
            cyc.succeeded.append(oid)
            return True
        self._update(cyc, u, tid, exported, changes, steps, took, action="update", matched_now=True)
        return True

    def _read_and_update(self, cyc: Cycle, u: Any, linked: Any, values: dict[str, Any],
                         steps: list[dict[str, Any]], took: Duration) -> bool:
        oid, name = u["object_id"], u["upn"]
        tid = linked["target_id"]
        exported = json.loads(linked["exported"])
        reply = took.add(self.wire.send("GET", f"{cyc.scim_url}/Users/{tid}", cyc.token))
        if reply.status != 200:
            error = classify(reply.status, reply.error, reply.body)
            steps.append(step(2, "EntryImportObject", "matching", "failure",
                              f"Could not retrieve User '{name}' from {APP_NAME}", {"TargetAnchor": tid}))
            if reply.status == 404:
                with self.db.tx() as conn:
                    conn.execute("DELETE FROM links WHERE object_id = ?", (oid,))
                    conn.execute("DELETE FROM exported_members WHERE user_id = ?", (oid,))
                    conn.execute("UPDATE src_users SET dirty = 1 WHERE object_id = ?", (oid,))
            self.rec.fail(cyc, oid, "User", error)
            self.rec.record(cyc, action="other", itype="User", source_id=oid, source_name=u["display_name"],
                            target_id=tid, target_name=name, status="failure", steps=steps, modified=[],
                            duration_ms=took.ms, error=error)
            return False
        steps.append(step(2, "EntryImportObject", "matching", "success", f"Retrieved User '{name}' from {APP_NAME}",
                          {"TargetAnchor": tid}))
        current = target_values(reply.body or {}, values)
        changes = self._differences(values, current, created=False)
        if not changes:
            cyc.succeeded.append(oid)
            return False
        action = "disable" if list(changes) == ["active"] and changes["active"] == "False" else "update"
        return self._update(cyc, u, tid, {**exported, **current}, changes, steps, took, action=action,
                            matched_now=False)

    def _match(self, cyc: Cycle, oid: str, values: dict[str, Any], steps: list[dict[str, Any]], took: Duration
               ) -> tuple[str | None, dict[str, Any] | None, wire.Reply | None]:
        """Matching precedence (the schema's: work e-mail, then userName, as the guide sets it). Returns
        (target id, target, failed reply)."""
        tried = []
        for attr in self.mapping.matching:
            value = values.get(attr)
            if not value:
                continue
            reply = took.add(self.wire.send("GET", cyc.scim_url + "/Users", cyc.token,
                                            params={"filter": f'{attr} eq "{value}"'}))
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
                if owner is None or owner["object_id"] == oid:
                    steps.append(step(2, "EntryImportByMatch", "matching", "success",
                                      f"Retrieved User '{value}' from {APP_NAME}",
                                      {"MatchingAttribute": attr, "MatchedValue": str(value), "TargetAnchor": str(tid)}))
                    return tid, resources[0], None
                tried[-1] += " (already linked to another source object)"
        steps.append(step(2, "EntryImportByMatch", "matching", "success",
                          f"User '{values.get('userName') or u_name(values)}' was not found in {APP_NAME}",
                          {"MatchingAttributes": "; ".join(tried)}))
        return None, None, None

    def _create(self, cyc: Cycle, u: Any, values: dict[str, Any], steps: list[dict[str, Any]],
                took: Duration) -> bool:
        oid = u["object_id"]
        name = u["upn"]
        steps.append(step(4, "EntrySynchronizationAdd", "processing", "success",
                          f"User '{name}' will be created in {APP_NAME}", {}))
        reply = took.add(self.wire.send("POST", cyc.scim_url + "/Users", cyc.token,
                                        body=wire.create_user_body(values)))
        tid = (reply.body or {}).get("id") if reply.status == 201 and isinstance(reply.body, dict) else None
        error = None
        if reply.status == 201 and not tid:
            error = ErrorKind("SystemForCrossDomainIdentityManagementBadResponse", "nonServiceFailure", False,
                              f"{APP_NAME} answered 201 without an id.", "Check the SCIM endpoint.")
        elif reply.status != 201:
            error = classify(reply.status, reply.error, reply.body)
        steps.append(self.rec.export_step("Created", "User", reply, error is None, name, error, tid))
        modified = [mod(k, None, v) for k, v in values.items()]
        if error is None and tid:
            link(self.db, oid, "User", tid, {**values, "_createdUserName": values.get("userName")})
            cyc.exported += 1
            cyc.succeeded.append(oid)
        elif error is not None:
            self.rec.fail(cyc, oid, "User", error)
        self.rec.record(cyc, action="create", itype="User", source_id=oid, source_name=u["display_name"],
                        target_id=tid, target_name=name, status="success" if error is None else "failure",
                        steps=steps, modified=modified, duration_ms=took.ms, error=error)
        return error is None

    def _update(self, cyc: Cycle, u: Any, tid: str, exported: dict[str, Any], changes: dict[str, Any],
                steps: list[dict[str, Any]], took: Duration, *, action: str, matched_now: bool) -> bool:
        oid = u["object_id"]
        name = u["upn"]
        verb = "disabled" if action == "disable" else "updated"
        steps.append(step(4, "EntrySynchronizationUpdate", "processing", "success",
                          f"User '{name}' will be {verb} in {APP_NAME}", {}))
        reply = took.add(self.wire.send("PATCH", f"{cyc.scim_url}/Users/{tid}", cyc.token,
                                        body=wire.user_patch(changes, cyc.style)))
        ok = reply.status in (200, 204)
        error = None if ok else classify(reply.status, reply.error, reply.body)
        steps.append(self.rec.export_step("Updated", "User", reply, ok, name, error, tid))
        modified = [mod(k, exported.get(k), v) for k, v in changes.items()]
        if error is None:
            link(self.db, oid, "User", tid, {**exported, **changes})
            cyc.exported += 1
            cyc.succeeded.append(oid)
        else:
            if reply.status == 404:
                with self.db.tx() as conn:
                    conn.execute("DELETE FROM links WHERE object_id = ?", (oid,))
                    conn.execute("UPDATE src_users SET dirty = 1 WHERE object_id = ?", (oid,))
            self.rec.fail(cyc, oid, "User", error)
        self.rec.record(cyc, action=action, itype="User", source_id=oid, source_name=u["display_name"],
                        target_id=tid, target_name=name, status="success" if ok else "failure", steps=steps,
                        modified=modified, duration_ms=took.ms, error=error)
        return matched_now


def scope_details(u: Any) -> dict[str, str]:
    return {"Active in the source system": "False" if u["soft_deleted"] else "True",
            "Assigned to the application": "True" if u["in_scope"] else "False",
            "Soft deleted in the source system": "True" if u["soft_deleted"] else "False"}


def u_name(values: dict[str, Any]) -> str:
    return str(next((v for v in values.values() if v), ""))


def target_values(doc: dict[str, Any], mapped: dict[str, Any] | None = None) -> dict[str, str | None]:
    """The mapped attributes of a SCIM user, as strings (what Entra compares with the source values): the guide's
    six, plus any other attribute the schema maps (``mapped``)."""
    out = _guide_values(doc)
    for path in mapped or ():
        if path not in out:
            value = wire.get_path(doc, path)
            out[path] = None if value is None else str(value)
    return out


def _guide_values(doc: dict[str, Any]) -> dict[str, str | None]:
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
