"""The simulated Entra tenant: source users and groups assigned to the 6clicks app, and their churn.

Every mutation marks the touched objects ``dirty``; the next incremental cycle sends exactly those (the
watermark model of the real provisioning service). Everything random comes from a ``random.Random`` seeded by
the caller, so a given seed always produces the same organisation and the same churn.
"""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .db import EntraDB

SOFT_DELETE_RETENTION = timedelta(days=30)
LINEAR_CHURN_USERS = 2000

FIRST_NAMES = [
    "Aiko", "Alex", "Amara", "Andrea", "Arjun", "Ava", "Ben", "Bianca", "Carlos", "Chen", "Chloe", "Dana",
    "Daniel", "Diego", "Elena", "Emma", "Farah", "Felix", "Grace", "Hana", "Hiro", "Ines", "Isaac", "Jade",
    "James", "Jin", "Kai", "Karin", "Leila", "Liam", "Lucia", "Maya", "Mei", "Mohammed", "Nadia", "Noah",
    "Olga", "Omar", "Priya", "Quinn", "Rafael", "Rina", "Sam", "Sara", "Sofia", "Tariq", "Theo", "Uma",
    "Victor", "Wei", "Yara", "Yusuf", "Zara", "Zoe", "Ken", "Lena", "Marco", "Nia", "Oscar", "Pia",
]
SURNAMES = [
    "Abe", "Ahmed", "Alvarez", "Anderson", "Brown", "Chen", "Costa", "Das", "Dubois", "Evans", "Fischer",
    "Garcia", "Gupta", "Hansen", "Hayashi", "Ivanova", "Jensen", "Johnson", "Kato", "Khan", "Kim", "Kowalski",
    "Lee", "Lopez", "Martin", "Meyer", "Mori", "Nakamura", "Nguyen", "Novak", "Okafor", "Olsen", "Patel",
    "Perez", "Rossi", "Sato", "Schmidt", "Silva", "Singh", "Smith", "Suzuki", "Tanaka", "Taylor", "Thomas",
    "Wang", "Watanabe", "Williams", "Wilson", "Yamada", "Yilmaz", "Zhang", "Murphy", "Kelly", "Walsh",
]
DEPARTMENTS = [
    "Finance", "Engineering", "Sales", "Marketing", "Legal", "Operations", "Human Resources", "IT Security",
    "Procurement", "Customer Success", "Internal Audit", "Risk", "Compliance", "Facilities", "Research",
    "Product", "Data Protection", "Treasury", "Support", "Executive Office",
]
ROLES = [
    "Risk Manager", "Compliance Officer", "Auditor", "Control Owner", "Policy Author", "Vendor Assessor",
    "Incident Responder", "Asset Owner", "Read Only", "Administrator", "Issue Owner", "Assessment Reviewer",
]


def new_object_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass
class SourceUser:
    object_id: str
    upn: str
    mail: str | None
    given_name: str | None
    surname: str | None
    display_name: str
    department: str | None = None
    assigned: bool = True
    soft_deleted: bool = False
    soft_deleted_at: str | None = None
    hard_deleted: bool = False
    note: str | None = None
    groups: list[str] = field(default_factory=list)


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Tenant:
    """Reads and mutates the source directory in ``entra.db``."""

    def __init__(self, db: EntraDB, domain: str) -> None:
        self.db = db
        self.domain = domain

    # ---------------------------------------------------------------- seeding
    def _unique_upn(self, conn: sqlite3.Connection, given: str, surname: str, taken: set[str] | None) -> str:
        base = f"{given}.{surname}".lower().replace(" ", "")
        n = 0
        while True:
            local = base if n == 0 else f"{base}{n + 1}"
            upn = f"{local}@{self.domain}"
            if taken is not None:
                if upn not in taken:
                    taken.add(upn)
                    return upn
            elif conn.execute("SELECT 1 FROM src_users WHERE lower(upn) = ?", (upn,)).fetchone() is None:
                return upn
            n += 1

    def seed(self, rng: random.Random, n_users: int, n_groups: int) -> None:
        """Create the organisation: department groups, role groups, users with one department and some roles."""
        n_groups = max(n_groups, 2)
        n_roles = max(1, n_groups // 4)
        n_departments = n_groups - n_roles
        groups: list[tuple[str, str]] = []
        for i in range(n_departments):
            name = DEPARTMENTS[i % len(DEPARTMENTS)]
            if i >= len(DEPARTMENTS):
                name = f"{name} {i // len(DEPARTMENTS) + 1}"
            groups.append((new_object_id(rng), name))
        for i in range(n_roles):
            name = ROLES[i % len(ROLES)]
            if i >= len(ROLES):
                name = f"{name} {i // len(ROLES) + 1}"
            groups.append((new_object_id(rng), f"Role - {name}"))
        dept_ids = [g[0] for g in groups[:n_departments]]
        role_ids = [g[0] for g in groups[n_departments:]]
        taken: set[str] = set()
        users = []
        members = []
        for _ in range(n_users):
            given = rng.choice(FIRST_NAMES)
            surname = rng.choice(SURNAMES)
            oid = new_object_id(rng)
            upn = self._unique_upn(None, given, surname, taken)  # type: ignore[arg-type]
            dept = rng.choice(dept_ids)
            users.append((oid, upn, upn, given, surname, f"{given} {surname}", dept))
            members.append((dept, oid))
            if rng.random() < 0.3:
                members.append((rng.choice(role_ids), oid))
            if rng.random() < 0.1:
                other = rng.choice(dept_ids)
                if other != dept:
                    members.append((other, oid))
        with self.db.tx() as conn:
            conn.executemany("INSERT INTO src_groups(object_id, display_name) VALUES (?, ?)", groups)
            conn.executemany(
                "INSERT INTO src_users(object_id, upn, mail, given_name, surname, display_name, department)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                users,
            )
            conn.executemany("INSERT OR IGNORE INTO src_members(group_id, user_id) VALUES (?, ?)", members)

    # ---------------------------------------------------------------- reads
    def counts(self) -> dict[str, int]:
        row = self.db.one(
            "SELECT count(*) AS total, sum(in_scope AND NOT soft_deleted AND NOT hard_deleted) AS active,"
            " sum(soft_deleted AND NOT hard_deleted) AS soft_deleted FROM src_users"
        )
        grow = self.db.one("SELECT count(*) AS n FROM src_groups WHERE assigned AND NOT deleted")
        return {
            "users": int(row["total"] or 0),
            "active_users": int(row["active"] or 0),
            "soft_deleted_users": int(row["soft_deleted"] or 0),
            "groups": int(grow["n"] or 0),
        }

    def user(self, object_id: str) -> sqlite3.Row | None:
        return self.db.one("SELECT * FROM src_users WHERE object_id = ?", (object_id,))

    def group(self, object_id: str) -> sqlite3.Row | None:
        return self.db.one("SELECT * FROM src_groups WHERE object_id = ?", (object_id,))

    def find_user(self, key: str) -> sqlite3.Row | None:
        return self.db.one(
            "SELECT * FROM src_users WHERE object_id = ? OR lower(upn) = lower(?) OR lower(mail) = lower(?)"
            " ORDER BY hard_deleted, soft_deleted LIMIT 1",
            (key, key, key),
        )

    def find_group(self, key: str) -> sqlite3.Row | None:
        return self.db.one(
            "SELECT * FROM src_groups WHERE object_id = ? OR lower(display_name) = lower(?) LIMIT 1", (key, key)
        )

    # ---------------------------------------------------------------- mutations
    def _touch_user_groups(self, conn: sqlite3.Connection, object_id: str) -> None:
        conn.execute(
            "UPDATE src_groups SET dirty = 1 WHERE object_id IN (SELECT group_id FROM src_members WHERE user_id = ?)",
            (object_id,),
        )

    def join(
        self, rng: random.Random, given: str | None = None, surname: str | None = None,
        groups: list[str] | None = None, upn: str | None = None, mail: str | None = None, note: str | None = None,
    ) -> str:
        given = given or rng.choice(FIRST_NAMES)
        surname = surname or rng.choice(SURNAMES)
        oid = new_object_id(rng)
        with self.db.tx() as conn:
            if upn is None:
                upn = self._unique_upn(conn, given, surname, None)
            if groups is None:
                dept = conn.execute(
                    "SELECT object_id FROM src_groups WHERE assigned AND NOT deleted AND display_name NOT LIKE 'Role - %'"
                    " ORDER BY object_id"
                ).fetchall()
                groups = [rng.choice(dept)["object_id"]] if dept else []
            # a tenant that assigns the app to groups lets a joiner in through their group, not one by one
            direct = not (groups and self.db.get_meta("assign_by_group") == "1")
            conn.execute(
                "INSERT INTO src_users(object_id, upn, mail, given_name, surname, display_name, department, note,"
                " assigned) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (oid, upn, mail if mail is not None else upn, given, surname, f"{given} {surname}",
                 groups[0] if groups else None, note, int(direct)),
            )
            for gid in groups:
                conn.execute("INSERT OR IGNORE INTO src_members(group_id, user_id) VALUES (?, ?)", (gid, oid))
                conn.execute("UPDATE src_groups SET dirty = 1 WHERE object_id = ?", (gid,))
        return oid

    def leave(self, object_id: str, at: datetime) -> None:
        """Soft delete in Entra: the mapping's Switch turns it into active "False" in the next cycle."""
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE src_users SET soft_deleted = 1, soft_deleted_at = ?, dirty = 1 WHERE object_id = ?",
                (_iso(at), object_id),
            )

    def restore(self, object_id: str) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE src_users SET soft_deleted = 0, soft_deleted_at = NULL, dirty = 1"
                " WHERE object_id = ? AND hard_deleted = 0",
                (object_id,),
            )

    def hard_delete(self, object_id: str) -> None:
        with self.db.tx() as conn:
            conn.execute("UPDATE src_users SET soft_deleted = 1, hard_deleted = 1, dirty = 1 WHERE object_id = ?",
                         (object_id,))
            self._touch_user_groups(conn, object_id)
            conn.execute("DELETE FROM src_members WHERE user_id = ?", (object_id,))

    def purge_recycle_bin(self, at: datetime) -> list[str]:
        """Hard-delete users soft-deleted more than 30 days before ``at`` (Entra's recycle bin)."""
        cutoff = _iso(at - SOFT_DELETE_RETENTION)
        rows = self.db.query(
            "SELECT object_id FROM src_users WHERE soft_deleted = 1 AND hard_deleted = 0 AND soft_deleted_at <= ?",
            (cutoff,),
        )
        for row in rows:
            self.hard_delete(row["object_id"])
        return [r["object_id"] for r in rows]

    def move(self, object_id: str, to_group: str, from_group: str | None = None) -> None:
        with self.db.tx() as conn:
            if from_group:
                conn.execute("DELETE FROM src_members WHERE group_id = ? AND user_id = ?", (from_group, object_id))
                conn.execute("UPDATE src_groups SET dirty = 1 WHERE object_id = ?", (from_group,))
            conn.execute("INSERT OR IGNORE INTO src_members(group_id, user_id) VALUES (?, ?)", (to_group, object_id))
            conn.execute("UPDATE src_groups SET dirty = 1 WHERE object_id = ?", (to_group,))
            conn.execute("UPDATE src_users SET department = ? WHERE object_id = ? AND ? NOT IN "
                         "(SELECT object_id FROM src_groups WHERE display_name LIKE 'Role - %')",
                         (to_group, object_id, to_group))

    def remove_member(self, object_id: str, group_id: str) -> None:
        with self.db.tx() as conn:
            conn.execute("DELETE FROM src_members WHERE group_id = ? AND user_id = ?", (group_id, object_id))
            conn.execute("UPDATE src_groups SET dirty = 1 WHERE object_id = ?", (group_id,))

    def rename_user(self, object_id: str, given: str | None = None, surname: str | None = None,
                    upn: str | None = None, mail: str | None = None) -> None:
        row = self.user(object_id)
        if row is None:
            raise KeyError(object_id)
        given = given or row["given_name"]
        surname = surname or row["surname"]
        with self.db.tx() as conn:
            if upn is None:
                upn = self._unique_upn(conn, given, surname, None) if (given, surname) != (
                    row["given_name"], row["surname"]) else row["upn"]
            conn.execute(
                "UPDATE src_users SET given_name = ?, surname = ?, display_name = ?, upn = ?, mail = ?, dirty = 1"
                " WHERE object_id = ?",
                (given, surname, f"{given} {surname}", upn, mail if mail is not None else upn, object_id),
            )

    def set_user_assigned(self, object_id: str, assigned: bool) -> None:
        with self.db.tx() as conn:
            conn.execute("UPDATE src_users SET assigned = ?, dirty = 1 WHERE object_id = ?", (int(assigned), object_id))

    def assign_by_group(self) -> int:
        """Assign the app the way large tenants do: to groups, not to people one by one. Users who are direct
        members of an assigned group lose their own assignment (they stay in scope through the group; the
        app's ``appRoleAssignedTo`` lists the groups and the few people assigned directly), and joiners come in
        through their department group. Returns how many users changed."""
        with self.db.tx() as conn:
            cur = conn.execute(
                "UPDATE src_users SET assigned = 0 WHERE assigned AND object_id IN (SELECT sm.user_id FROM src_members"
                " sm JOIN src_groups sg ON sg.object_id = sm.group_id WHERE sg.assigned AND NOT sg.deleted)")
            self.db.set_meta("assign_by_group", "1", conn)
        return int(cur.rowcount)

    def add_group(self, rng: random.Random, display_name: str) -> str:
        oid = new_object_id(rng)
        with self.db.tx() as conn:
            conn.execute("INSERT INTO src_groups(object_id, display_name) VALUES (?, ?)", (oid, display_name))
        return oid

    def rename_group(self, object_id: str, display_name: str) -> None:
        with self.db.tx() as conn:
            conn.execute("UPDATE src_groups SET display_name = ?, dirty = 1 WHERE object_id = ?",
                         (display_name, object_id))

    def set_group_assigned(self, object_id: str, assigned: bool) -> None:
        with self.db.tx() as conn:
            conn.execute("UPDATE src_groups SET assigned = ?, dirty = 1 WHERE object_id = ?", (int(assigned), object_id))

    def delete_group(self, object_id: str) -> None:
        with self.db.tx() as conn:
            conn.execute("UPDATE src_groups SET deleted = 1, dirty = 1 WHERE object_id = ?", (object_id,))

    # ---------------------------------------------------------------- churn
    def churn(self, rng: random.Random, at: datetime, cycle_minutes: float = 40.0) -> list[dict]:
        """Random everyday changes for one cycle at simulated time ``at``; returns what happened."""
        events: list[dict] = []
        n = self.db.one("SELECT count(*) AS n FROM src_users WHERE in_scope AND NOT soft_deleted AND NOT hard_deleted")["n"]
        if n == 0:
            return events
        top = self.db.one("SELECT max(rowid) AS m FROM src_users")["m"] or 0

        def pick() -> str:
            """A random active user: a random rowid, then the next active one (wrapping around)."""
            start = rng.randint(1, max(top, 1))
            sql = ("SELECT object_id FROM src_users WHERE rowid {} ? AND in_scope AND NOT soft_deleted"
                   " AND NOT hard_deleted ORDER BY rowid LIMIT 1")
            row = self.db.one(sql.format(">="), (start,)) or self.db.one(sql.format(">="), (1,))
            return row["object_id"]
        weekday = at.weekday() < 5
        hour = at.hour
        business = weekday and 7 <= hour < 19
        weight = (2.2 if business else 0.25) * (cycle_minutes / 1440.0)
        daily = {"join": 0.0025, "leave": 0.002, "move": 0.006, "rename": 0.0006}

        # Above 2,000 people the churn grows sub-linearly (a 100,000-user tenant changes like ~21,000 would):
        # the demo stays lively at small sizes and a big tenant's history still fast-forwards in minutes.
        n_eff = n if n <= LINEAR_CHURN_USERS else LINEAR_CHURN_USERS * (n / LINEAR_CHURN_USERS) ** 0.6

        def draws(rate_per_user_day: float) -> int:
            lam = rate_per_user_day * n_eff * weight
            k = int(lam)
            if rng.random() < lam - k:
                k += 1
            return k

        groups = self.db.query(
            "SELECT object_id, display_name FROM src_groups WHERE assigned AND NOT deleted ORDER BY object_id"
        )
        depts = [g["object_id"] for g in groups if not g["display_name"].startswith("Role - ")]
        roles = [g["object_id"] for g in groups if g["display_name"].startswith("Role - ")]
        for _ in range(draws(daily["join"])):
            oid = self.join(rng)
            events.append({"kind": "join", "object_id": oid})
        for _ in range(draws(daily["leave"])):
            oid = pick()
            self.leave(oid, at)
            events.append({"kind": "leave", "object_id": oid})
        for _ in range(draws(daily["move"])):
            oid = pick()
            row = self.user(oid)
            if row is None or row["soft_deleted"]:
                continue
            if roles and rng.random() < 0.4:
                target = rng.choice(roles)
                current = self.db.one("SELECT 1 FROM src_members WHERE group_id = ? AND user_id = ?", (target, oid))
                if current:
                    self.remove_member(oid, target)
                    events.append({"kind": "move", "object_id": oid, "removed": target})
                else:
                    self.move(oid, target)
                    events.append({"kind": "move", "object_id": oid, "added": target})
            elif depts:
                target = rng.choice(depts)
                if target != row["department"]:
                    self.move(oid, target, row["department"])
                    events.append({"kind": "move", "object_id": oid, "added": target, "removed": row["department"]})
        for _ in range(draws(daily["rename"])):
            oid = pick()
            self.rename_user(oid, surname=rng.choice(SURNAMES))
            events.append({"kind": "rename", "object_id": oid})
        # Now and then a new hire is given the UPN and mail that a renamed colleague used to have. 6clicks
        # ignored that rename, so it still holds the old values: the create collides (409, EntryConflict).
        if business and rng.random() < 0.004 * (cycle_minutes / 40.0):
            dup = self.duplicate_of_renamed(rng)
            if dup:
                events.append({"kind": "duplicate", "object_id": dup})
        if business and groups and rng.random() < 0.002:
            g = rng.choice(groups)
            if not g["display_name"].endswith(" (EMEA)"):
                self.rename_group(g["object_id"], g["display_name"] + " (EMEA)")
                events.append({"kind": "rename_group", "object_id": g["object_id"]})
        # Duplicates get cleaned up by an admin after a day or two: out of the app's scope (unassigned, and out of
        # the groups that would keep them in it).
        for row in self.db.query(
            "SELECT object_id FROM src_users WHERE note = 'duplicate' AND in_scope ORDER BY object_id"
        ):
            if rng.random() < 0.03 * (cycle_minutes / 40.0):
                self.set_user_assigned(row["object_id"], False)
                for member in self.db.query("SELECT group_id FROM src_members WHERE user_id = ?", (row["object_id"],)):
                    self.remove_member(row["object_id"], member["group_id"])
                events.append({"kind": "unassign", "object_id": row["object_id"]})
        return events

    def duplicate_of_renamed(self, rng: random.Random) -> str | None:
        """A joiner reusing the old UPN/mail of a renamed user (which 6clicks still holds)."""
        rows = self.db.query(
            "SELECT l.object_id, l.exported FROM links l JOIN src_users u ON u.object_id = l.object_id"
            " WHERE l.kind = 'User' AND lower(json_extract(l.exported, '$._createdUserName')) != lower(u.upn)"
            " ORDER BY l.object_id"
        )
        free = []
        for row in rows:
            old = json.loads(row["exported"])["_createdUserName"]
            if self.db.one("SELECT 1 FROM src_users WHERE lower(upn) = lower(?)", (old,)) is None:
                free.append(old)
        if not free:
            return None
        old = rng.choice(free)
        local = old.split("@")[0]
        given, _, surname = local.partition(".")
        return self.join(rng, given=given.title(), surname=surname.title().rstrip("0123456789") or "Doe",
                         upn=old, mail=old, note="duplicate")
