"""Deterministic seed organisation: realistic names, departments as groups, roles ("Role - ..."), project
groups, some inactive users. Same seed and sizes -> same ids, names and memberships. Runs once per data dir.

Two profiles shape the users (the ids, names, memberships and active flags are the same in both):

- ``entra`` (the default): exactly what Entra ID stores through the 6clicks guide's attribute mapping:
  ``userName``, ``emails[type eq "work"].value``, ``active``, ``name.givenName``, ``name.familyName`` and
  ``externalId``. No ``displayName``, title, phone or department, as in a real tenant set up per the guide.
  As in a real Entra directory, a few people have no mailbox (no e-mail is sent) and a few accounts (shared or
  service accounts) have no given or family name.
- ``rich``: every user also has ``displayName``, ``name.formatted``, a ``title`` and the enterprise extension
  (employee number, department), as a hand-made or another IdP's directory might.
"""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

from .scim import CORE_GROUP, CORE_USER, ENTERPRISE
from .store import Store, now_iso

FIRST = (
    "Olivia Liam Emma Noah Amelia Oliver Ava Elijah Sophia Lucas Isabella Mason Mia Ethan Charlotte Logan Harper "
    "James Aria Aiden Ella Jack Chloe Leo Grace Henry Zoe Sebastian Nora Mateo Lily Wei Mei Hiroshi Yuki Sakura "
    "Haruto Aarav Priya Ananya Rohan Fatima Omar Layla Yusuf Amira Chen Jing Min-jun Seo-yeon Ji-ho Thi Minh "
    "Lars Ingrid Sven Freya Matteo Giulia Sofia Luca Pierre Camille Chloé Louis Hugo Léa Diego Lucía Valentina "
    "Santiago Camila Kwame Ama Chidi Ngozi Tane Aroha Nikau Mere Siobhan Cian Aoife Oisín Zara Kai Maya Ezra Isla"
).split()
LAST = (
    "Smith Jones Williams Brown Taylor Wilson Nguyen Johnson White Martin Anderson Thompson Walker Harris Lee "
    "Ryan Robinson Kelly King Davis Wright Evans Roberts Green Hall Wood Jackson Clarke Patel Khan Singh Sharma "
    "Wang Li Zhang Liu Chen Yang Huang Tanaka Suzuki Sato Watanabe Kim Park Choi Tran Le Pham Hoang Rossi Russo "
    "Ferrari Esposito Bianchi Müller Schmidt Schneider Fischer Weber Dubois Moreau Laurent García Fernández "
    "López Martínez González O'Brien O'Connor Murphy Walsh Byrne Okafor Mensah Adeyemi Ngata Te Whare Jensen "
    "Nielsen Hansen Larsen Andersson Johansson Kowalski Nowak Novak Horvat Silva Santos Costa Oliveira"
).split()
DEPARTMENTS = (
    "Finance", "Engineering", "Sales", "Marketing", "Human Resources", "Legal", "Operations", "IT",
    "Risk & Compliance", "Internal Audit", "Customer Success", "Procurement",
)
ROLES = (
    "Role - Administrator", "Role - Risk Manager", "Role - Compliance Officer", "Role - Auditor",
    "Role - Contributor", "Role - Read Only", "Role - Policy Owner", "Role - Vendor Manager",
)
TITLES = ("Analyst", "Senior Analyst", "Manager", "Director", "Specialist", "Coordinator", "Lead", "Engineer")
DOMAIN = "northwind-demo.example"
PROFILES = ("entra", "rich")
DEFAULT_PROFILE = "entra"
#: entra profile: share of people without a mailbox, and of accounts without given / family name
NO_MAIL_RATE = 0.02
NO_NAME_RATE = 0.01


def _ascii(s: str) -> str:
    table = str.maketrans({"é": "e", "ü": "u", "í": "i", "á": "a", "ó": "o", "ñ": "n", "'": "", " ": ""})
    return s.translate(table).lower()


def group_names(count: int) -> list[str]:
    names = list(DEPARTMENTS) + list(ROLES)
    i = 1
    while len(names) < count:
        names.append(f"Project {i:04d}")
        i += 1
    return names[:count]


def _entra_user(uid: str, external_id: str, user_name: str, first: str, last: str, active: bool, stamp: str,
                quirks: random.Random) -> dict[str, Any]:
    """A user as Entra provisions it through the guide's mapping (nothing else)."""
    doc: dict[str, Any] = {"schemas": [CORE_USER], "id": uid, "externalId": external_id, "userName": user_name,
                           "active": active}
    if quirks.random() >= NO_MAIL_RATE:
        doc["emails"] = [{"value": user_name, "type": "work", "primary": True}]
    if quirks.random() >= NO_NAME_RATE:
        doc["name"] = {"givenName": first, "familyName": last}
    doc["meta"] = {"resourceType": "User", "created": stamp, "lastModified": stamp, "location": f"/scim/Users/{uid}"}
    return doc


def seed(store: Store, users: int, groups: int, seed_value: int = 0, profile: str = DEFAULT_PROFILE
         ) -> dict[str, Any]:
    """Insert ``users`` users and ``groups`` groups (departments, then roles, then project groups), users shaped
    by ``profile`` (``entra`` or ``rich``, see the module docstring)."""
    if profile not in PROFILES:
        raise ValueError(f"Unknown seed profile {profile!r}; choose one of: {', '.join(PROFILES)}.")
    started = time.perf_counter()
    rng = random.Random(seed_value)
    quirks = random.Random(f"{seed_value}:entra-quirks")  # own sequence: the main one stays profile-independent
    stamp = now_iso()

    def det_uuid() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    seen: dict[str, int] = {}
    docs: list[dict[str, Any]] = []
    depts: list[int] = []
    for i in range(users):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        base = f"{_ascii(first)}.{_ascii(last)}"
        n = seen.get(base, 0)
        seen[base] = n + 1
        user_name = f"{base}{n + 1 if n else ''}@{DOMAIN}"
        dept = rng.randrange(len(DEPARTMENTS))
        depts.append(dept)
        uid = det_uuid()
        external_id = det_uuid()
        title = rng.choice(TITLES)
        active = rng.random() >= 0.06
        if profile == "entra":
            docs.append(_entra_user(uid, external_id, user_name, first, last, active, stamp, quirks))
            continue
        doc: dict[str, Any] = {
            "schemas": [CORE_USER, ENTERPRISE],
            "id": uid,
            "externalId": external_id,
            "userName": user_name,
            "name": {"givenName": first, "familyName": last, "formatted": f"{first} {last}"},
            "displayName": f"{first} {last}",
            "title": title,
            "active": active,
            "emails": [{"value": user_name, "type": "work", "primary": True}],
            ENTERPRISE: {"employeeNumber": f"E{100000 + i}", "department": DEPARTMENTS[dept]},
            "meta": {"resourceType": "User", "created": stamp, "lastModified": stamp,
                     "location": f"/scim/Users/{uid}"},
        }
        docs.append(doc)
    store.insert_users(docs)
    user_pks = [pk for (pk,) in store.query("SELECT pk FROM users ORDER BY pk")][-users:] if users else []

    names = group_names(groups)
    group_rows: list[tuple[dict[str, Any], list[int]]] = []
    for gi, name in enumerate(names):
        gid = det_uuid()
        if gi < len(DEPARTMENTS) and name in DEPARTMENTS:
            members = [user_pks[u] for u in range(users) if depts[u] == gi]
        elif name.startswith("Role - "):
            k = min(users, max(1, users // 40)) if users else 0
            members = rng.sample(user_pks, k) if k else []
        else:
            k = min(users, rng.randint(0, 25))
            members = rng.sample(user_pks, k) if k else []
        gdoc = {"schemas": [CORE_GROUP], "id": gid, "externalId": det_uuid(), "displayName": name,
                "meta": {"resourceType": "Group", "created": stamp, "lastModified": stamp,
                         "location": f"/scim/Groups/{gid}"}}
        group_rows.append((gdoc, members))
    store.insert_groups(group_rows)
    return {"users": users, "groups": len(names), "profile": profile,
            "seconds": round(time.perf_counter() - started, 2)}
