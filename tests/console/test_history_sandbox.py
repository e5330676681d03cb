"""History against a real sandbox over HTTP: snapshot diffs of changes made through SCIM, refusal of partial
fetches (fault injection), and the snapshot command line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest

from console.connections import Connection, ConnectionRepo, EntraSettings
from console.context import open_context
from console.credentials import MemoryKeyring, default_credentials
from console.directory.events import list_events
from console.directory.frames import SnapshotError
from console.directory.store import directory_size, latest_snapshot
from console.directory.take import take_snapshot
from console.tokens.service import TokenService
from scim_client import patch

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("SCIM_CONSOLE_HOME", str(home))
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING", "system")
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    yield home
    keyring.set_keyring(previous)


def connect(home: Path, box: Any, name: str = "Tenant", *, entra: bool = True) -> tuple[Any, Connection]:
    ctx = open_context(home, credentials=default_credentials())
    settings = None
    if entra and getattr(box, "graph_url", None):
        settings = EntraSettings(tenant_id=box.tenant_id, client_id=box.client_id,
                                 service_principal_id=box.service_principal_id, job_id=box.job_id,
                                 graph_base_url=box.graph_url, login_base_url=box.login_url)
    conn = ConnectionRepo(ctx).add(Connection(name=name, api_url=box.api_url, entra=settings, allow_http=True))
    svc = TokenService(ctx)
    svc.set_api_key(name, box.api_key)
    if settings is not None:
        ctx.credentials.set(name, "graph_client_secret", box.client_secret)
    svc.generate(name)
    return ctx, conn


def test_snapshot_diff_of_changes_made_through_scim(home, sandbox_factory):
    box = sandbox_factory(seed_users=40, seed_groups=6, seed=3)
    ctx, conn = connect(home, box, entra=False)
    first = take_snapshot(ctx, conn)
    assert first.user_count == 40 and first.event_count == 0
    users = first.users.sort_values("userName").reset_index(drop=True)
    active = users[users["active"]]
    a, b, c, d = (active.iloc[i]["id"] for i in range(4))
    with TokenService(ctx).scim_client(conn.name) as client:
        client.set_active(b, False)
        client.set_active(b, True)         # back and forth between snapshots: no event
        client.set_active(a, False)        # deactivated
        client.patch_user(c, patch.request(patch.replace("name.familyName", "Renamed")))
        client.delete_user(d)              # deleted
        new = client.create_user("new.person@example.com", email="new.person@example.com", given_name="New",
                                 family_name="Person")
        group = client.create_group("Role - Reviewer")
        client.add_members(group.id, [new.id, c])
        old_groups = first.groups.sort_values("displayName").reset_index(drop=True)
        g_rename, g_delete = old_groups.iloc[0]["id"], old_groups.iloc[1]["id"]
        client.rename_group(g_rename, "Renamed team")
        client.delete_group(g_delete)
        members = first.memberships[first.memberships["group_id"] == g_rename]["user_id"].tolist()
        leaver = next(m for m in members if m not in (a, b, c, d))
        client.remove_members(g_rename, [leaver])
        client.add_members(g_rename, [new.id])
    inactive = users[~users["active"]]
    if len(inactive):
        with TokenService(ctx).scim_client(conn.name) as client:
            client.set_active(inactive.iloc[0]["id"], True)
    second = take_snapshot(ctx, conn)
    ev = list_events(ctx, conn)
    assert (ev["snapshot_id"] == second.id).all() and len(ev) == second.event_count
    kinds = ev.groupby("kind")["subject_id"].apply(set).to_dict()
    assert kinds["user_deactivated"] == {a}
    assert kinds["user_deleted"] == {d}
    assert kinds["user_created"] == {new.id}
    assert c in kinds["user_changed"]
    changed = ev[(ev["kind"] == "user_changed") & (ev["subject_id"] == c)]
    assert "familyName" in set(changed["attribute"])
    assert changed[changed["attribute"] == "familyName"].iloc[0]["new_value"] == "Renamed"
    assert kinds["role_created"] == {group.id}
    assert kinds["group_renamed"] == {g_rename} or kinds.get("role_renamed") == {g_rename}
    assert g_delete in kinds.get("group_deleted", set()) | kinds.get("role_deleted", set())
    added = set(zip(ev[ev["kind"] == "member_added"]["subject_id"], ev[ev["kind"] == "member_added"]["related_id"],
                    strict=True))
    assert {(group.id, new.id), (group.id, c), (g_rename, new.id)} <= added
    removed = set(zip(ev[ev["kind"] == "member_removed"]["subject_id"],
                      ev[ev["kind"] == "member_removed"]["related_id"], strict=True))
    assert (g_rename, leaver) in removed
    if len(inactive):
        assert kinds["user_reactivated"] == {inactive.iloc[0]["id"]}
    assert b not in kinds.get("user_deactivated", set()) | kinds.get("user_reactivated", set())
    assert set(ev[ev["kind"] == "role_created"]["subject_type"]) == {"role"}
    size = directory_size(ctx, conn)
    assert list(size["user_count"]) == [40, 40]  # one deleted, one created


def test_partial_fetch_never_becomes_a_snapshot(home, sandbox_factory):
    box = sandbox_factory(seed_users=60, seed_groups=4, seed=5, max_page_size=10)
    ctx, conn = connect(home, box, entra=False)
    first = take_snapshot(ctx, conn)
    # listing users fails with 500 every time (beyond the client's retries) while groups still list fine
    box.set_faults(rate_500=1.0, paths=r"^/scim/[Uu]sers")
    with pytest.raises(SnapshotError) as info:
        take_snapshot(ctx, conn)
    assert "no snapshot was stored" in str(info.value).lower()
    assert latest_snapshot(ctx, conn).id == first.id
    assert len(directory_size(ctx, conn)) == 1
    assert list_events(ctx, conn).empty
    box.clear_faults()
    assert take_snapshot(ctx, conn).id != first.id


def test_snapshot_command_line(home, sandbox_factory):
    box = sandbox_factory(seed_users=15, seed_groups=3, seed=9)
    ctx, conn = connect(home, box, entra=False)
    # the keyring here is in memory, so the command runs in this process (console.cli.main)
    from console.cli import main

    assert main(["snapshot", "--connection", conn.name, "--data-dir", str(home)]) == 0
    assert latest_snapshot(ctx, conn).user_count == 15
    with TokenService(ctx).scim_client(conn.name) as client:
        client.create_user("cli.new@example.com")
    assert main(["snapshot", "--connection", conn.name, "--data-dir", str(home), "--json"]) == 0
    assert main(["snapshot", "--connection", "nope", "--data-dir", str(home)]) == 2
