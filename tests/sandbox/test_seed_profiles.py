"""The seeded organisation: by default shaped exactly as the 6clicks guide's Entra mapping provisions people
(userName, work e-mail, active, given and family name, externalId; nothing else), ``rich`` on request; the same
ids, names, memberships and active flags either way."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.seed import DEFAULT_PROFILE, seed
from sandbox.store import Store
from tests.sandbox_fixture import REPO

GUIDE_KEYS = {"schemas", "id", "externalId", "userName", "active", "emails", "name", "meta"}


def _seeded(tmp_path: Path, profile: str, users: int = 600) -> tuple[list[dict], list[tuple[str, str]]]:
    store = Store(tmp_path / profile / "sandbox.db")
    try:
        seed(store, users, 30, 5, profile)
        docs = [json.loads(raw) for (raw,) in store.query("SELECT doc FROM users ORDER BY pk")]
        members = store.query("SELECT g.id, u.id FROM members m JOIN groups_ g ON g.pk = m.group_pk "
                              "JOIN users u ON u.pk = m.user_pk ORDER BY 1, 2")
    finally:
        store.close()
    return docs, members


def test_default_profile_is_the_guides_mapping(tmp_path: Path) -> None:
    assert DEFAULT_PROFILE == "entra"
    docs, _ = _seeded(tmp_path, "entra")
    for doc in docs:
        assert set(doc) <= GUIDE_KEYS, set(doc) - GUIDE_KEYS
        assert {"id", "externalId", "userName", "active", "meta"} <= set(doc)
        assert set(doc.get("name", {})) <= {"givenName", "familyName"}
        assert all(e["type"] == "work" for e in doc.get("emails", []))
    # as in a real Entra directory: some people have no mailbox, some accounts no given / family name
    assert any("emails" not in d for d in docs) and any("name" not in d for d in docs)
    assert sum("emails" in d and "name" in d for d in docs) > 0.9 * len(docs)


def test_rich_profile_adds_display_name_title_and_department(tmp_path: Path) -> None:
    docs, _ = _seeded(tmp_path, "rich")
    enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    assert all(d["displayName"] and d["title"] and d[enterprise]["department"] for d in docs)


def test_profiles_share_ids_names_memberships_and_status(tmp_path: Path) -> None:
    entra, entra_members = _seeded(tmp_path, "entra")
    rich, rich_members = _seeded(tmp_path, "rich")
    key = [(d["id"], d["externalId"], d["userName"], d["active"]) for d in entra]
    assert key == [(d["id"], d["externalId"], d["userName"], d["active"]) for d in rich]
    assert entra_members == rich_members


def test_unknown_profile_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "sandbox.db")
    try:
        with pytest.raises(ValueError, match="rich"):
            seed(store, 3, 2, 0, "fancy")
    finally:
        store.close()


def test_seed_command_takes_the_profile(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "sandbox", "seed", "--data-dir", str(tmp_path), "--users", "5",
                          "--groups", "3", "--seed-profile", "rich"], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert "rich profile" in run.stdout
    bad = subprocess.run([sys.executable, "-m", "sandbox", "seed", "--data-dir", str(tmp_path / "x"), "--users",
                          "5", "--seed-profile", "fancy"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_served_users_have_no_display_name_by_default(box) -> None:
    with box.client() as c:
        users = c.get("/Users", params={"count": 50}).json()["Resources"]
    assert users and not any("displayName" in u or "title" in u for u in users)
    assert all(u["userName"] for u in users)
