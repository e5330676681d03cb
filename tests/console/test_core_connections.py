"""Connections: validation, role rules, persistence, and the store's refusal of damaged or newer files."""

from __future__ import annotations

import sqlite3

import pytest

from console.connections import Connection, ConnectionRepo, EntraSettings
from console.context import open_context
from console.credentials import memory_credentials
from console.errors import InvalidInput, NotFoundError, StoreError
from console.store import STORE_FILE


@pytest.fixture
def ctx(tmp_path):
    c = open_context(tmp_path / "data", credentials=memory_credentials())
    yield c
    c.close()


def test_scim_url_is_derived_and_overridable():
    c = Connection(name="Prod AU", api_url="https://api-au.6clicks.io/")
    assert c.api_url == "https://api-au.6clicks.io"
    assert c.scim_url == "https://api-au.6clicks.io/scim"
    o = Connection(name="Other", api_url="https://api.example.com", scim_url="https://scim.example.com/v2/")
    assert o.scim_url == "https://scim.example.com/v2"
    assert not o.scim_url_derived


@pytest.mark.parametrize("url, fragment", [
    ("", "is empty"),
    ("api-au.6clicks.io", "must start with https://"),
    ("ftp://api-au.6clicks.io", "must start with https://"),
    ("https://", "must start with https://"),
    ("https://user:pw@api-au.6clicks.io", "user name or password"),
    ("https://api-au.6clicks.io/?x=1", "query string"),
    ("http://api-au.6clicks.io", "plain http://"),
    ("https://host:99999", "not a valid URL"),
])
def test_bad_urls_are_refused_with_a_remedy(url, fragment):
    with pytest.raises(InvalidInput) as info:
        Connection(name="x", api_url=url)
    assert fragment in info.value.message
    assert info.value.remedy


def test_plain_http_allowed_for_loopback_or_explicitly():
    assert Connection(name="a", api_url="http://127.0.0.1:8080").scim_url == "http://127.0.0.1:8080/scim"
    assert Connection(name="b", api_url="http://localhost:1").api_url == "http://localhost:1"
    assert Connection(name="c", api_url="http://[::1]:9").api_url == "http://[::1]:9"
    assert Connection(name="d", api_url="http://scim.test.lan", allow_http=True).api_url == "http://scim.test.lan"


def test_names_and_other_fields_are_validated():
    for bad in ("", " ", "a/b", "x" * 65, "-lead"):
        with pytest.raises(InvalidInput):
            Connection(name=bad, api_url="https://a.example")
    with pytest.raises(InvalidInput, match="auth mode"):
        Connection(name="a", api_url="https://a.example", auth_mode="basic")
    with pytest.raises(InvalidInput, match="Reminder days"):
        Connection(name="a", api_url="https://a.example", reminder_days=(0, 5))
    with pytest.raises(InvalidInput, match="tenant id and a client id"):
        Connection(name="a", api_url="https://a.example", entra=EntraSettings(tenant_id="", client_id="c"))
    c = Connection(name="a", api_url="https://a.example", reminder_days=(7, 30, 7, 1))
    assert c.reminder_days == (30, 7, 1)


def test_role_rules():
    c = Connection(name="a", api_url="https://a.example")
    assert c.is_role("Role - Auditor") and not c.is_role("Auditors") and not c.is_role(None)
    r = Connection(name="b", api_url="https://a.example", role_rule="regex:^(ROLE|Rolle)[ _-]")
    assert r.is_role("ROLE_admin") and r.is_role("Rolle-x") and not r.is_role("Role - x")
    r.role_rule = "prefix:R:"  # changing the rule takes effect
    assert r.is_role("R: x")
    with pytest.raises(InvalidInput, match="regular expression"):
        Connection(name="c", api_url="https://a.example", role_rule="regex:([a-")
    with pytest.raises(InvalidInput, match="not understood"):
        Connection(name="c", api_url="https://a.example", role_rule="Role - ")
    with pytest.raises(InvalidInput, match="empty prefix"):
        Connection(name="c", api_url="https://a.example", role_rule="prefix:")


def test_repo_round_trip_unique_names_update_and_remove(ctx):
    repo = ConnectionRepo(ctx.store)
    entra = EntraSettings(tenant_id="t", client_id="c", service_principal_id="sp", job_id="scim.1",
                          graph_base_url="http://127.0.0.1:9/v1.0", login_base_url="http://127.0.0.1:9/login")
    added = repo.add(Connection(name="Prod", api_url="https://api-au.6clicks.io", entra=entra,
                                role_rule="regex:^R ", reminder_days=(45, 10)))
    assert added.id
    got = repo.get("prod")  # names are case-insensitive
    assert got.entra == entra and got.role_rule == "regex:^R " and got.reminder_days == (45, 10)
    assert got.scim_url == "https://api-au.6clicks.io/scim" and got.created_at.tzinfo is not None
    with pytest.raises(InvalidInput, match="already exists"):
        repo.add(Connection(name="PROD", api_url="https://x.example"))
    repo.add(Connection(name="Demo", api_url="http://127.0.0.1:1", is_demo=True))
    assert [c.name for c in repo.list()] == ["Prod", "Demo"]  # real connections first
    got.scim_url = "https://scim.example/scim"
    got.entra = None
    updated = repo.update(got)
    assert updated.scim_url == "https://scim.example/scim" and updated.entra is None
    assert ctx.store.query_one("SELECT scim_url FROM connections WHERE name='Prod'")["scim_url"] == \
        "https://scim.example/scim"
    repo.remove("Prod")
    with pytest.raises(NotFoundError) as info:
        repo.get("Prod")
    assert "Demo" in info.value.remedy


def test_remove_deletes_the_connections_secrets(ctx):
    repo = ConnectionRepo(ctx)
    repo.add(Connection(name="Prod", api_url="https://api-au.6clicks.io"))
    ctx.credentials.set("Prod", "api_key", "key-value-1234")
    repo.remove("Prod")
    assert ctx.credentials.get("Prod", "api_key") is None


def test_store_has_no_secret_columns(ctx):
    columns = {row["name"] for table in ("connections", "tokens", "notifications", "rotations")
               for row in ctx.store.query(f"PRAGMA table_info({table})")}
    assert not {c for c in columns if any(w in c for w in ("secret", "api_key", "password", "access_token"))}


def test_newer_store_is_refused_untouched(tmp_path):
    data = tmp_path / "d"
    ctx = open_context(data, credentials=memory_credentials())
    ConnectionRepo(ctx.store).add(Connection(name="Prod", api_url="https://api-au.6clicks.io"))
    ctx.close()
    db = sqlite3.connect(data / STORE_FILE)
    db.execute("PRAGMA user_version = 999")
    db.commit()
    db.close()
    before = (data / STORE_FILE).read_bytes()
    with pytest.raises(StoreError, match="newer version") as info:
        open_context(data, credentials=memory_credentials())
    assert "untouched" in info.value.remedy
    assert (data / STORE_FILE).read_bytes() == before


def test_corrupt_store_is_refused_untouched(tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    (data / STORE_FILE).write_bytes(b"this is not sqlite" * 100)
    before = (data / STORE_FILE).read_bytes()
    with pytest.raises(StoreError, match=r"not a console store or is damaged|cannot be opened"):
        open_context(data, credentials=memory_credentials())
    assert (data / STORE_FILE).read_bytes() == before


# -- what belongs to a connection goes with it (migration 0006) -------------------------------------------------


def test_removing_a_connection_takes_its_data_and_archives_its_audit(sandbox_factory, tmp_path):
    """Snapshots (rows and files), logs and job history go; the audit stays, renamed; the same name re-added
    starts empty; a rename carries everything along; a write for a removed connection fails in words."""
    from console.directory.store import latest_snapshot
    from console.directory.take import take_snapshot
    from console.entra.health import record_job_status
    from console.entra.logstore import ingest_records, log_count
    from console.operations import execute, plan
    from console.operations.audit import list_actions
    from tests.console._ops_helpers import connect, scim

    sb = sandbox_factory(seed_users=12, seed_groups=2, seed=3)
    ctx = open_context(tmp_path / "data", credentials=memory_credentials())
    repo = ConnectionRepo(ctx)
    conn = connect(ctx, sb, name="Old", snapshot=True)
    ingest_records(ctx, conn, [{"id": "r1", "activityDateTime": "2026-11-20T10:00:00Z",
                                "provisioningAction": "create", "provisioningStatusInfo": {"status": "success"},
                                "sourceIdentity": {"identityType": "User"}, "targetIdentity": {}}])
    record_job_status(ctx, conn, {"id": "job", "status": {"code": "Active"}, "schedule": {"interval": "PT40M"}})
    with scim(sb) as c:
        someone = next(u.id for u in c.list_users() if u.active)
    res = execute(ctx, conn, plan(ctx, conn, "deactivate", [someone]), "leaver", "op")
    assert res.ok
    # a rename carries everything along
    conn.name = "Renamed"
    conn = repo.update(conn)
    snap = latest_snapshot(ctx, conn)
    assert snap is not None and log_count(ctx, "Renamed") == 1
    assert [a.id for a in list_actions(ctx, connection="Renamed")] == [res.batch_id]
    files = list((tmp_path / "data" / "snapshots").rglob("*.parquet"))
    assert files
    repo.remove("Renamed")
    db = ctx.store
    for table in ("snapshots", "directory_events", "provisioning_logs", "provisioning_cycle_counts",
                  "provisioning_raw", "job_status_history", "log_fetches"):
        assert db.query_one(f"SELECT COUNT(*) AS n FROM {table}")["n"] == 0, table
    assert not any(f.exists() for f in files)                       # the Parquet files went too
    [archived] = list_actions(ctx)
    assert archived.id == res.batch_id and archived.connection.startswith("Renamed (removed ")
    # the same name again starts with nothing of the old one's
    again = repo.add(Connection(name="Renamed", api_url=sb.api_url))
    assert latest_snapshot(ctx, again) is None and log_count(ctx, "Renamed") == 0
    assert list_actions(ctx, connection="Renamed") == []
    # a fetch or snapshot that finishes after its connection was removed writes nothing, and says why
    repo.remove("Renamed")
    with pytest.raises(NotFoundError, match="removed while this was being saved"):
        ingest_records(ctx, again, [{"id": "r2", "activityDateTime": "2026-11-20T10:00:00Z",
                                     "provisioningAction": "create", "provisioningStatusInfo": {"status": "success"},
                                     "sourceIdentity": {"identityType": "User"}, "targetIdentity": {}}])
    with pytest.raises(NotFoundError):
        take_snapshot(ctx, again)
    for table in ("snapshots", "provisioning_logs", "provisioning_raw"):
        assert db.query_one(f"SELECT COUNT(*) AS n FROM {table}")["n"] == 0, table


def test_upgrading_a_store_clears_data_orphaned_by_earlier_removals(tmp_path, monkeypatch):
    import shutil

    import console.store as store_mod

    old = tmp_path / "migrations"
    old.mkdir()
    for path in sorted(store_mod.MIGRATIONS_DIR.glob("000[1-5]_*.sql")):
        shutil.copy(path, old / path.name)
    monkeypatch.setattr(store_mod, "MIGRATIONS_DIR", old)
    home = tmp_path / "data"
    ctx = open_context(home, credentials=memory_credentials())
    ConnectionRepo(ctx).add(Connection(name="Kept", api_url="https://kept.example"))
    db = ctx.store
    for name in ("Kept", "Gone"):
        db.execute("INSERT INTO log_fetches(connection, at, origin, new, known, rejected) VALUES (?,?,?,?,?,?)",
                   (name, "2026-11-01T00:00:00+00:00", "graph", 1, 0, 0))
        db.execute("INSERT INTO op_batches(connection, kind, reason, operator, created_at) VALUES (?,?,?,?,?)",
                   (name, "deactivate", "r", "op", "2026-11-01T00:00:00+00:00"))
    assert db.schema_version() == 5
    ctx.close()
    monkeypatch.undo()
    ctx = open_context(home, credentials=memory_credentials())
    assert ctx.store.schema_version() >= 6
    assert [r["connection"] for r in ctx.store.query("SELECT connection FROM log_fetches")] == ["Kept"]
    names = sorted(r["connection"] for r in ctx.store.query("SELECT connection FROM op_batches"))
    assert names[0] == "Gone (removed before " + names[0].split("before ", 1)[1] and names[1] == "Kept"
    assert not ctx.store.query("SELECT name FROM sqlite_master WHERE name = 'alert_notifications'")


def test_files_are_private_even_in_a_data_folder_made_with_a_loose_mode(tmp_path):
    import os
    import stat

    home = tmp_path / "shared"
    home.mkdir(mode=0o755)
    old = os.umask(0o022)
    try:
        (home / STORE_FILE).touch(mode=0o644)          # as an older version under umask 022 left it
        ctx = open_context(home, credentials=memory_credentials())
        ConnectionRepo(ctx).add(Connection(name="A", api_url="https://a.example"))
        (home / "later.txt").write_text("x")            # anything the process writes afterwards
        for path in (home / STORE_FILE, home / "later.txt"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        ctx.close()
    finally:
        os.umask(old)
