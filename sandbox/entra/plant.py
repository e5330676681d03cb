"""What the demo plants at the end of its history, for the setup check and reconciliation to find.

- **Mapping drift** (setup check): someone took e-mail out of matching in the user mapping
  (``emails[type eq "work"].value`` matchingPriority 1 -> 0), so users are matched by userName only.
- **Not managed by SCIM**: three just-in-time accounts created in 6clicks at sign-in (no ``externalId``).
- **Orphans**: two leavers soft-deleted in Entra whose deactivation is held back (``stagedDelete``, skipped,
  until a restart with ``ForceDeletes``), and one account whose ``externalId`` names no Entra object (left over
  from an earlier app).
- **Attribute drift**: two people renamed in Entra; the update is sent, 6clicks ignores userName and e-mail
  updates, so those differ.
- **Missing**: two new hires given the renamed people's old UPN and mail; 6clicks still holds them, so every
  create answers 409 (``EntryConflict``, escrowed and retried with back-off).
- **Membership drift**: in one department group, a member removed by hand in 6clicks (Entra still has them)
  and a just-in-time account added by hand in 6clicks (Entra does not).

Everything is chosen from ``random.Random(f"{seed}:plant")`` over sorted ids, so one seed plants the same people.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from . import schema as sc
from .records import det_uuid

JIT = (("Harper", "Quill"), ("Ines", "Marlow"), ("Tomas", "Reyes"))
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def mapping_drift(sim: Any) -> dict[str, Any]:
    doc = sim.engine.schemas.get()
    for rule in doc["synchronizationRules"]:
        for om in rule["objectMappings"]:
            if om["sourceObjectName"] != "User":
                continue
            for am in om["attributeMappings"]:
                if am["targetAttributeName"] == sc.EMAIL:
                    am["matchingPriority"] = 0
    sim.engine.schemas.put(doc)
    return {"object": sc.USER_MAPPING_NAME, "attribute": sc.EMAIL, "expected": "matching precedence 1",
            "found": "not a matching attribute (matchingPriority 0)"}


def _jit_user(sim: Any, given: str, surname: str, external_id: str | None = None) -> dict[str, Any]:
    name = f"{given}.{surname}@{sim.ids.domain}".lower()
    doc: dict[str, Any] = {"schemas": [CORE_USER], "userName": name, "active": True,
                           "name": {"givenName": given, "familyName": surname}, "displayName": f"{given} {surname}",
                           "emails": [{"value": name, "type": "work", "primary": True}]}
    if external_id:
        doc["externalId"] = external_id
    return sim.state.store.create_user(doc)


def plant(sim: Any, at: datetime | None = None) -> dict[str, Any]:
    """Plant every category, run one cycle (which sends what the plants imply), record what was planted."""
    at = at or datetime.now(UTC)
    rng = random.Random(f"{sim.seed}:plant")
    eng, tenant, db = sim.engine, sim.tenant, sim.db
    out: dict[str, Any] = {"mappingDrift": mapping_drift(sim)}
    jit = [_jit_user(sim, g, s) for g, s in JIT]
    out["notManagedBySCIM"] = [u["userName"] for u in jit]
    stray = _jit_user(sim, "Morgan", "Vale", det_uuid(sim.seed, "stray-external-id"))
    candidates = [r["object_id"] for r in db.query(
        "SELECT u.object_id FROM src_users u JOIN links l ON l.object_id = u.object_id WHERE u.in_scope AND NOT "
        "u.soft_deleted AND NOT u.hard_deleted AND u.note IS NULL ORDER BY u.object_id")]
    picked = rng.sample(candidates, 4)
    leavers, renamed = picked[:2], picked[2:]
    for oid in leavers:
        tenant.leave(oid, at - timedelta(hours=2))
    db.set_json("held_deletes", sorted(set(db.get_json("held_deletes", [])) | set(leavers)))
    out["orphans"] = [{"userName": tenant.user(o)["upn"], "objectId": o, "why": "left Entra; deactivation held "
                       "back (staged delete)"} for o in leavers]
    out["orphans"].append({"userName": stray["userName"], "objectId": stray["externalId"],
                           "why": "externalId names no Entra object"})
    out["attributeDrift"], out["missing"] = [], []
    for oid in renamed:
        old = tenant.user(oid)["upn"]
        tenant.rename_user(oid, surname=rng.choice(["Lindqvist", "Okonkwo", "Brennan", "Haddad"]))
        new = tenant.user(oid)["upn"]
        out["attributeDrift"].append({"objectId": oid, "entra": new, "6clicks": old,
                                      "attributes": ["userName", sc.EMAIL]})
        local = old.split("@")[0]
        given, _, surname = local.partition(".")
        hire = tenant.join(rng, given=given.title(), surname=surname.title().rstrip("0123456789") or "Doe",
                           upn=old, mail=old, note="planted")
        out["missing"].append({"objectId": hire, "userPrincipalName": old,
                               "why": "create answers 409: 6clicks still holds the renamed colleague's userName"})
    out["membershipDrift"] = _membership_drift(sim, rng, jit[0]["id"], set(picked))
    result = eng.run_cycle(at)
    out["cycle"] = {"cycleId": result.get("cycleId"), "records": result.get("records")}
    db.set_meta("demo_planted", json.dumps(out))
    return out


def _membership_drift(sim: Any, rng: random.Random, jit_id: str, exclude: set[str]) -> dict[str, Any]:
    store, db = sim.state.store, sim.db
    groups = db.query("SELECT g.object_id, g.display_name, l.target_id FROM src_groups g JOIN links l ON "
                      "l.object_id = g.object_id WHERE g.assigned AND NOT g.deleted AND g.display_name NOT LIKE "
                      "'Role - %' ORDER BY g.object_id")
    # a group none of the other plants belongs to, so that its drift is exactly the two planted members
    touched = {r["group_id"] for r in db.query("SELECT group_id FROM exported_members WHERE user_id IN (SELECT value "
                                               "FROM json_each(?))", (json.dumps(sorted(exclude)),))}
    g = rng.choice([x for x in groups if x["object_id"] not in touched] or groups)
    members = db.query("SELECT e.user_id, l.target_id FROM exported_members e JOIN links l ON l.object_id = "
                       "e.user_id JOIN src_users u ON u.object_id = e.user_id WHERE e.group_id = ? AND NOT "
                       "u.soft_deleted AND u.note IS NULL ORDER BY e.user_id", (g["object_id"],))
    removed = rng.choice(members)
    store.update_group(g["target_id"], None, add=[jit_id], remove=[removed["target_id"]])
    return {"group": g["display_name"], "onlyIn6clicks": [store.get_user(jit_id)["userName"]],
            "onlyInEntra": [sim.tenant.user(removed["user_id"])["upn"]]}
