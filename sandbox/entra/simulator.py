"""The simulator object the sandbox server holds: tenant, engine, identity, credentials, live loop, demo."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import random
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from . import wire
from .db import EntraDB
from .engine import CYCLE_INTERVAL, Identity, Provisioner, new_job_state
from .records import det_uuid, iso
from .tenant import Tenant

log = logging.getLogger("sandbox.entra")

ENV_GRAPH_SECRET = "SCIM_SANDBOX_GRAPH_CLIENT_SECRET"  # noqa: S105 - a variable name
SIM_KEY_NAME = "entra-provisioning"
GRAPH_ROLES = ["AuditLog.Read.All", "Directory.Read.All", "Synchronization.Read.All",
               "Synchronization.ReadWrite.All"]
TOKEN_LIFETIME = 365 * 24 * 3600
DEMO_DEFAULT_USERS = 2000
DEMO_DEFAULT_GROUPS = 20


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Simulator:
    def __init__(self, state: Any) -> None:
        self.state = state
        cfg = state.config
        self.config = cfg
        self.seed = int(getattr(cfg, "seed", 0) or 0)
        self.db = EntraDB(Path(state.data_dir) / "entra.db")
        first = self.db.get_meta("tenant_id") is None
        if first:
            self._init_identity()
        self.ids = Identity(
            tenant_id=self.db.get_meta("tenant_id"), client_id=self.db.get_meta("client_id"),
            app_id=self.db.get_meta("app_id"), service_principal_id=self.db.get_meta("sp_id"),
            job_id=self.db.get_meta("job_id"), source_system_id=self.db.get_meta("source_system_id"),
            domain=self.db.get_meta("domain"),
        )  # type: ignore[arg-type]
        self.tenant = Tenant(self.db, self.ids.domain)
        style = getattr(cfg, "entra_style", "default") or "default"
        base = self.db.get_meta("base_address") or ""
        self.engine = Provisioner(self.db, self.tenant, self.ids, self.seed, base)
        self.style = style
        if first:
            self.engine.save_job(new_job_state(int(getattr(cfg, "deletion_threshold", 500) or 500)))
        # The Graph app registration's client secret: from the environment, else a new one per start.
        env_secret = os.environ.get(ENV_GRAPH_SECRET)
        if env_secret:
            self.client_secret_shown = f"(from {ENV_GRAPH_SECRET})"
            self.db.set_meta("client_secret_sha256", hash_secret(env_secret))
        else:
            generated = secrets.token_urlsafe(30)
            self.client_secret_shown = generated
            self.db.set_meta("client_secret_sha256", hash_secret(generated))
        self.graph_signing_key = secrets.token_bytes(32)
        roles = self.db.get_json("graph_roles")
        if roles is None:
            self.db.set_json("graph_roles", GRAPH_ROLES)
        self.live_task: asyncio.Task | None = None
        self.ready = asyncio.Event()
        self.ready_error: str | None = None
        self.demo_seconds: float | None = None

    # ------------------------------------------------------------------ identity
    def _init_identity(self) -> None:
        s = self.seed
        tenant_id = det_uuid(s, "tenant")
        for key, value in {
            "tenant_id": tenant_id,
            "client_id": det_uuid(s, "graph-client"),
            "app_id": det_uuid(s, "app"),
            "sp_id": det_uuid(s, "service-principal"),
            "job_id": f"scim.{det_uuid(s, 'job').replace('-', '')}.{tenant_id}",
            "source_system_id": det_uuid(s, "source-system"),
            "domain": "northwind-demo.example",
        }.items():
            self.db.set_meta(key, value)

    def check_client(self, client_id: str, secret: str) -> bool:
        expected = self.db.get_meta("client_secret_sha256") or ""
        return client_id == self.ids.client_id and hmac.compare_digest(hash_secret(secret), expected)

    def graph_roles(self) -> list[str]:
        return list(self.db.get_json("graph_roles", GRAPH_ROLES))

    # ------------------------------------------------------------------ 6clicks credentials
    def mint_token(self, lifetime: float = TOKEN_LIFETIME) -> str:
        """A 6clicks access token for the simulator's own API key (registered on each start, memory only)."""
        if not getattr(self, "_key_registered", False):
            self.state.register_api_key("6ck_" + secrets.token_hex(20), SIM_KEY_NAME, None)
            self._key_registered = True
        return self.state.issue_token(SIM_KEY_NAME, lifetime)

    def tenant_url(self) -> str:
        base = f"{self.state.base_url}/scim"
        return base + "/?" + wire.OPT_FLAG if self.style == wire.OPT_FLAG else base

    # ------------------------------------------------------------------ lifecycle
    async def startup(self) -> None:
        # The tenant URL follows the server's (new) port; the style comes from the command line.
        self.engine.base_address = self.tenant_url()
        self.db.set_meta("base_address", self.engine.base_address)
        self.engine.secret_token = self.mint_token()
        if self.db.get_meta("adopted") is None:
            demo = bool(getattr(self.config, "demo", False))
            start = None
            if demo:
                from .demo import window

                store = self.state.store
                if store.get_meta("seeded") is None and store.user_count() == 0:
                    # `serve --demo` without --seed-users: the server's own seeding at the demo's default size.
                    from ..seed import seed as seed_store

                    profile = getattr(self.config, "seed_profile", None) or "entra"
                    seed_store(store, DEMO_DEFAULT_USERS, DEMO_DEFAULT_GROUPS, self.seed, profile)
                    store.set_meta("seeded", f"users={DEMO_DEFAULT_USERS} groups={DEMO_DEFAULT_GROUPS} "
                                             f"seed={self.seed} profile={profile} (entra demo)")

                start, _ = window(float(getattr(self.config, "demo_days", 14) or 14))
            adopt(self, linked=demo, window_start=start)
        asyncio.get_running_loop()
        self.background = asyncio.create_task(self._after_start())

    async def _after_start(self) -> None:
        try:
            await self._wait_serving()
            if getattr(self.config, "demo", False) and self.db.get_meta("demo_done") is None:
                from .demo import fast_forward

                started = time.perf_counter()
                await asyncio.to_thread(fast_forward, self)
                self.demo_seconds = time.perf_counter() - started
        except Exception as exc:  # keep serving; report why the history is missing
            log.exception("Entra demo history failed")
            self.ready_error = f"{type(exc).__name__}: {exc}"
        finally:
            self.ready.set()
        seconds = getattr(self.config, "cycle_seconds", None)
        if seconds is None and getattr(self.config, "demo", False):
            seconds = 60.0
        if seconds and seconds > 0:
            self.live_task = asyncio.create_task(self._live(float(seconds)))

    async def _wait_serving(self) -> None:
        import httpx

        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                try:
                    r = await client.get(f"{self.state.base_url}/healthz")
                    if r.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError("the sandbox did not start serving within 30 s")

    async def _live(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await asyncio.to_thread(self.live_cycle)
            except Exception:
                log.exception("live Entra cycle failed")

    def live_cycle(self, at: datetime | None = None) -> dict[str, Any]:
        at = at or datetime.now(UTC)
        with self.engine.lock:
            no = self.engine.job()["cycle_no"] + 1
            self.tenant.churn(random.Random(f"{self.seed}:live:{no}:{at.isoformat()}"), at)
            return self.engine.run_cycle(at)

    def on_demand(self, object_id: str) -> dict[str, Any]:
        return self.engine.run_on_demand(object_id, self.ids.client_id)

    def status(self) -> dict[str, Any]:
        demo = self.db.get_meta("demo_done")
        return {"job": self.engine.job_document(), "tenant": self.tenant.counts(),
                "links": {r["kind"]: r["n"] for r in self.db.query(
                    "SELECT kind, count(*) AS n FROM links GROUP BY kind")},
                "escrows": len(self.db.query("SELECT 1 FROM escrows")),
                "stagedDeletes": len(self.db.query("SELECT 1 FROM staged_deletes")),
                "logs": self.db.one("SELECT count(*) AS n FROM logs")["n"],
                "demo": json.loads(demo) if demo else None,
                "secretTokenSet": self.engine.secret_token is not None,
                "tenantUrl": self.engine.base_address}

    def mutate(self, action: dict[str, Any]) -> dict[str, Any]:
        """One change to the simulated source (admin route for tests)."""
        if not isinstance(action, dict) or "action" not in action:
            raise ValueError("Each change needs an \"action\": join, leave, restore, hard_delete, move, "
                             "remove_member, rename, assign, unassign, add_group, rename_group, assign_group, "
                             "unassign_group, assign_by_group, delete_group, set_token, set_threshold, churn.")
        kind = str(action["action"])
        rng = random.Random(f"{self.seed}:admin:{self.db.get_meta('admin_mutations', '0')}")
        self.db.set_meta("admin_mutations", str(int(self.db.get_meta("admin_mutations", "0") or 0) + 1))
        now = datetime.now(UTC)

        def user_id() -> str:
            key = str(action.get("user") or action.get("object_id") or "")
            row = self.tenant.find_user(key) if key else None
            if row is None:
                raise ValueError(f"No source user {key!r} (give its objectId, UPN or mail).")
            return row["object_id"]

        def group_id(name: str = "group") -> str:
            key = str(action.get(name) or "")
            row = self.tenant.find_group(key) if key else None
            if row is None:
                raise ValueError(f"No source group {key!r} (give its objectId or displayName).")
            return row["object_id"]

        with self.engine.lock:
            if kind == "join":
                groups = [self.tenant.find_group(g)["object_id"] for g in action.get("groups", [])] \
                    if action.get("groups") is not None else None
                oid = self.tenant.join(rng, given=action.get("givenName"), surname=action.get("surname"),
                                       groups=groups, upn=action.get("userPrincipalName"), mail=action.get("mail"))
                return {"action": kind, "objectId": oid, "userPrincipalName": self.tenant.user(oid)["upn"]}
            if kind == "leave":
                oid = user_id()
                self.tenant.leave(oid, now - timedelta(days=float(action.get("days_ago", 0))))
                return {"action": kind, "objectId": oid}
            if kind == "restore":
                oid = user_id()
                self.tenant.restore(oid)
                return {"action": kind, "objectId": oid}
            if kind == "hard_delete":
                oid = user_id()
                self.tenant.hard_delete(oid)
                return {"action": kind, "objectId": oid}
            if kind == "move":
                oid = user_id()
                to = group_id("to")
                frm = group_id("from") if action.get("from") else None
                self.tenant.move(oid, to, frm)
                return {"action": kind, "objectId": oid}
            if kind == "remove_member":
                oid = user_id()
                self.tenant.remove_member(oid, group_id())
                return {"action": kind, "objectId": oid}
            if kind == "rename":
                oid = user_id()
                self.tenant.rename_user(oid, given=action.get("givenName"), surname=action.get("surname"),
                                        upn=action.get("userPrincipalName"), mail=action.get("mail"))
                return {"action": kind, "objectId": oid, "userPrincipalName": self.tenant.user(oid)["upn"]}
            if kind == "assign_by_group":
                return {"action": kind, "users": self.tenant.assign_by_group()}
            if kind in ("assign", "unassign"):
                oid = user_id()
                self.tenant.set_user_assigned(oid, kind == "assign")
                return {"action": kind, "objectId": oid}
            if kind == "add_group":
                name = str(action.get("displayName") or "")
                if not name:
                    raise ValueError("add_group needs a displayName.")
                return {"action": kind, "objectId": self.tenant.add_group(rng, name)}
            if kind == "rename_group":
                gid = group_id()
                self.tenant.rename_group(gid, str(action["displayName"]))
                return {"action": kind, "objectId": gid}
            if kind in ("assign_group", "unassign_group"):
                gid = group_id()
                self.tenant.set_group_assigned(gid, kind == "assign_group")
                return {"action": kind, "objectId": gid}
            if kind == "delete_group":
                gid = group_id()
                self.tenant.delete_group(gid)
                return {"action": kind, "objectId": gid}
            if kind == "set_token":
                value = str(action.get("token", "valid"))
                if value == "valid":
                    self.engine.secret_token = self.mint_token()
                elif value == "expired":
                    self.engine.secret_token = self.mint_token(lifetime=-3600)
                elif value == "bad":
                    self.engine.secret_token = "not-a-valid-token-" + secrets.token_hex(8)
                elif value == "none":
                    self.engine.secret_token = None
                else:
                    raise ValueError("token must be valid, expired, bad or none.")
                return {"action": kind, "token": value}
            if kind == "set_threshold":
                self.engine.set_threshold(int(action["value"]))
                return {"action": kind, "value": int(action["value"])}
            if kind == "churn":
                events = self.tenant.churn(rng, now)
                return {"action": kind, "events": events}
        raise ValueError(f"Unknown action {kind!r}.")

    async def shutdown(self) -> None:
        for task in (self.live_task, getattr(self, "background", None)):
            if task is not None:
                task.cancel()
        try:
            self.engine.wire.close()
        finally:
            self.db.close()


def adopt(sim: Simulator, *, linked: bool, window_start: datetime | None = None) -> None:
    """Make the organisation the SCIM store was seeded with the Entra tenant's source.

    ``linked`` (demo): it was provisioned before the retained history, so links to the target ids are recorded
    directly (no requests, no logs). Otherwise the first cycle is an initial cycle that matches them over HTTP.
    Users inactive in 6clicks become soft-deleted in Entra, deleted between 0 and 30 days ago.
    """
    store = sim.state.store
    now = window_start or datetime.now(UTC)
    rng = random.Random(f"{sim.seed}:adopt")
    users = store.query("SELECT id, doc FROM users ORDER BY pk")
    groups = store.query("SELECT pk, id, doc FROM groups_ ORDER BY pk")
    members = store.query("SELECT g.id, u.id FROM members m JOIN groups_ g ON g.pk = m.group_pk "
                          "JOIN users u ON u.pk = m.user_pk")
    src_users = []
    links = []
    by_target: dict[str, str] = {}
    seen_oid: set[str] = set()
    for tid, raw in users:
        doc = json.loads(raw)
        # stored documents may hold numbers or nulls where strings belong: adopt them as strings
        oid = str(doc.get("externalId") or "") or det_uuid(sim.seed, "adopted-user", tid)
        if oid in seen_oid:
            oid = det_uuid(sim.seed, "adopted-user", tid)
        seen_oid.add(oid)
        by_target[tid] = oid
        email = None
        emails = [e for e in doc.get("emails") or [] if isinstance(e, dict)] if isinstance(doc.get("emails"), list) else []
        for e in emails:
            if str(e.get("type", "")).lower() == "work":
                email = e.get("value")
        email = email or (emails[0].get("value") if emails else None)
        name = doc.get("name") if isinstance(doc.get("name"), dict) else {}
        active = doc.get("active", True) in (True, "True", "true")
        soft_at = None if active else iso(now - timedelta(days=rng.uniform(0.5, 29.5)))
        # every Entra user has a display name, even though the guide's mapping does not send it to 6clicks
        entra_display = str(doc.get("displayName") or " ".join(
            str(p) for p in (name.get("givenName"), name.get("familyName")) if p) or doc["userName"])
        src_users.append((oid, str(doc["userName"]), email, name.get("givenName"), name.get("familyName"),
                          entra_display, 0 if active else 1, soft_at, int(not linked)))
        if linked:
            links.append((oid, "User", tid, json.dumps({
                "externalId": doc.get("externalId"), "userName": doc["userName"],
                "active": "True" if active else "False", wire.EMAIL_PATH: email,
                "name.givenName": name.get("givenName"), "name.familyName": name.get("familyName"),
                "_createdUserName": doc["userName"]})))
    src_groups = []
    gmap: dict[str, str] = {}
    for _pk, gid, raw in groups:
        doc = json.loads(raw)
        oid = str(doc.get("externalId") or "") or det_uuid(sim.seed, "adopted-group", gid)
        gmap[gid] = oid
        src_groups.append((oid, doc["displayName"], int(not linked)))
        if linked:
            links.append((oid, "Group", gid, json.dumps({"displayName": doc["displayName"],
                                                        "externalId": doc.get("externalId")})))
    src_members = [(gmap[g], by_target[u]) for g, u in members if g in gmap and u in by_target]
    role_groups = {gmap[gid] for _pk, gid, raw in groups if json.loads(raw)["displayName"].startswith("Role - ")}
    department: dict[str, str] = {}
    for g, u in sorted(src_members):
        if g not in role_groups:
            department.setdefault(u, g)
    src_users = [(*row[:6], department.get(row[0]), *row[6:]) for row in src_users]
    with sim.db.tx() as conn:
        conn.executemany(
            "INSERT OR IGNORE INTO src_users(object_id, upn, mail, given_name, surname, display_name, department,"
            " soft_deleted, soft_deleted_at, dirty) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", src_users)
        conn.executemany("INSERT OR IGNORE INTO src_groups(object_id, display_name, dirty) VALUES (?, ?, ?)",
                         src_groups)
        conn.executemany("INSERT OR IGNORE INTO src_members(group_id, user_id) VALUES (?, ?)", src_members)
        conn.executemany("INSERT OR IGNORE INTO links(object_id, kind, target_id, exported) VALUES (?, ?, ?, ?)",
                         links)
        if linked:
            conn.executemany("INSERT OR IGNORE INTO exported_members(group_id, user_id) VALUES (?, ?)", src_members)
        sim.db.set_meta("adopted", json.dumps({"users": len(src_users), "groups": len(src_groups),
                                               "linked": linked}), conn)


__all__ = ["CYCLE_INTERVAL", "Simulator", "adopt"]
