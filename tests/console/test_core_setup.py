"""Set-up path in the core: the keyring passphrase rule and feedback, connection health and the connection the app
opens on, adding a connection only when its check passes (real sandbox over HTTP), the missing-token alert, the
Graph job discovery and per-feature permission check, reminder claims shared by cron and the app's thread, and the
cron line for this machine."""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.connections import Connection, ConnectionRepo, EntraSettings, describe_role_rule
from console.credentials import CredentialsError, default_credentials, passphrase_problem
from console.notify.alerts import current_alerts
from console.setup import (
    SetupError,
    add_connection_checked,
    checklist,
    choose_connection,
    connection_health,
    remember_connection,
    store_key_and_token,
)
from console.tokens.rotation import confirm_in_entra, manual_steps
from console.tokens.service import TokenService
from tests.console.test_core_helpers import add_conn, local_http, make_ctx, new_key

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def ctx(tmp_path):
    c = make_ctx(tmp_path)
    yield c
    c.close()


# -- keyring ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("weak", ["abc", "", "short pass", "aaaaaaaaaaaaaaaa", "1212121212121212"])
def test_weak_passphrases_are_refused(weak):
    assert passphrase_problem(weak)


@pytest.mark.parametrize("good", ["a long enough passphrase", "Tr0ub4dor&3xyz", "my cat is up"])
def test_acceptable_passphrases(good):
    assert passphrase_problem(good) is None


def test_encrypted_keyring_is_created_with_a_confirmed_strong_passphrase(tmp_path, monkeypatch):
    path = tmp_path / "keyring.cfg"
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING", "cryptfile")
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING_FILE", str(path))
    monkeypatch.delenv("SCIM_CONSOLE_KEYRING_PASSPHRASE", raising=False)
    creds = default_credentials(passphrase_provider=lambda: None)
    assert creds.backend_info().locked and not creds.keyring_created()
    with pytest.raises(CredentialsError, match="too short"):
        creds.create("abc", "abc")
    with pytest.raises(CredentialsError, match="differ"):
        creds.create("a long enough passphrase", "a long enough passphrasE")
    assert not path.exists(), "a refused passphrase creates nothing"
    assert creds.create("a long enough passphrase", "a long enough passphrase") == str(path)
    assert path.exists() and not creds.backend_info().locked and creds.keyring_created()
    creds.set("Prod", "api_key", "6ck_created_keyring_value")

    other = default_credentials(passphrase_provider=lambda: None)  # another process
    before = path.read_bytes()
    with pytest.raises(CredentialsError) as err:
        other.unlock("not the passphrase at all")
    assert str(err.value).startswith("Wrong passphrase") and "MAC" not in str(err.value)
    assert other.backend_info().locked and path.read_bytes() == before
    assert other.unlock("a long enough passphrase") == "unlocked"
    assert other.get("Prod", "api_key") == "6ck_created_keyring_value"


def test_a_weak_passphrase_from_the_environment_does_not_create_a_keyring(tmp_path, monkeypatch):
    path = tmp_path / "keyring.cfg"
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING", "cryptfile")
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING_FILE", str(path))
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING_PASSPHRASE", "abc")
    with pytest.raises(CredentialsError, match="stronger passphrase"):
        default_credentials().set("Prod", "api_key", "6ck_value_never_stored")
    assert not path.exists()


# -- health and the connection the app opens on ------------------------------------------------------------------
def _reject(ctx, name):
    svc = TokenService(ctx)
    svc.import_token(name, "not-a-valid-token-for-this-tenant", accept_estimated=True, verify=False)
    svc.test(name)
    assert svc.status(name).level == "rejected"


def test_health_and_choice_prefer_the_last_healthy_connection(ctx, sandbox):
    svc = TokenService(ctx)
    for name in ("Alpha", "Beta"):
        add_conn(ctx, sandbox, name)
        svc.set_api_key(name, sandbox.api_key)
        svc.generate(name)
    add_conn(ctx, sandbox, "Aardvark")  # incomplete: sorts first by name
    add_conn(ctx, sandbox, "Broken")
    svc.set_api_key("Broken", sandbox.api_key)
    _reject(ctx, "Broken")
    conns = ConnectionRepo(ctx.store).list()
    health = {c.name: connection_health(ctx, c) for c in conns}
    assert health["Aardvark"].state == "incomplete" and health["Aardvark"].label == "incomplete"
    assert "Connection & token" in health["Aardvark"].next_step and "python -m console" in health["Aardvark"].next_step
    assert health["Broken"].state == "broken" and "rejected" in health["Broken"].label
    assert health["Alpha"].healthy and health["Beta"].healthy

    assert choose_connection(ctx, conns) == "Alpha"  # nothing remembered: a healthy real one, not the first name
    remember_connection(ctx, "Beta", "ops@example.org")
    assert choose_connection(ctx, conns, "ops@example.org") == "Beta"
    assert choose_connection(ctx, conns, "someone-else") == "Alpha"  # per operator
    for unhealthy in ("Aardvark", "Broken"):
        remember_connection(ctx, unhealthy, "ops@example.org")
        assert choose_connection(ctx, conns, "ops@example.org") == "Alpha"

    deep = connection_health(ctx, ConnectionRepo(ctx.store).get("Aardvark"), deep=True)
    assert "Type the API key" in deep.next_step  # the one next step: its key is not stored


def test_the_demo_is_chosen_over_an_incomplete_connection(ctx, sandbox):
    add_conn(ctx, sandbox, "Prod")  # incomplete
    demo = ConnectionRepo(ctx.store).add(Connection(name="Demo", api_url=sandbox.api_url, is_demo=True))
    svc = TokenService(ctx)
    svc.set_api_key("Demo", sandbox.api_key)
    svc.generate("Demo")
    remember_connection(ctx, "Prod")
    conns = ConnectionRepo(ctx.store).list()
    assert choose_connection(ctx, conns) == demo.name
    ConnectionRepo(ctx).remove("Demo")
    assert choose_connection(ctx, ConnectionRepo(ctx.store).list()) == "Prod"  # nothing healthy: the remembered one


# -- adding only what passed its check ----------------------------------------------------------------------------
def _nothing_saved(ctx, name):
    assert ConnectionRepo(ctx.store).find(name) is None
    assert ctx.credentials.get(name, "api_key") is None and ctx.credentials.get(name, "access_token") is None
    assert ctx.store.query_one("SELECT count(*) AS n FROM tokens")["n"] == 0


def test_wrong_key_and_unreachable_url_save_nothing(ctx, sandbox):
    with pytest.raises(SetupError) as wrong:
        add_connection_checked(ctx, Connection(name="Prod", api_url=sandbox.api_url), api_key="6ck_wrong_" + "0" * 24)
    assert wrong.value.field == "api_key" and "Nothing was saved" in wrong.value.message
    assert "6ck_wrong_" not in str(wrong.value)
    _nothing_saved(ctx, "Prod")

    with pytest.raises(SetupError) as down:
        add_connection_checked(ctx, Connection(name="Prod", api_url="http://127.0.0.1:9"), api_key=sandbox.api_key)
    assert down.value.field == "api_url" and "Nothing was saved" in down.value.message
    _nothing_saved(ctx, "Prod")

    with pytest.raises(SetupError) as empty:
        add_connection_checked(ctx, Connection(name="Prod", api_url=sandbox.api_url), api_key="  ")
    assert empty.value.field == "api_key"
    _nothing_saved(ctx, "Prod")

    wrong_scim = Connection(name="Prod", api_url=sandbox.api_url, scim_url=sandbox.api_url + "/not-scim")
    with pytest.raises(SetupError) as scim:
        add_connection_checked(ctx, wrong_scim, api_key=sandbox.api_key)
    assert scim.value.field == "scim_url"
    _nothing_saved(ctx, "Prod")


def test_a_checked_connection_is_complete_at_once(ctx, sandbox):
    conn = add_connection_checked(ctx, Connection(name="Prod", api_url=sandbox.api_url), api_key=sandbox.api_key)
    assert ctx.credentials.get("Prod", "api_key") == sandbox.api_key
    status = TokenService(ctx).status(conn)
    assert status.level == "ok" and status.last_test_result == "ok" and status.origin == "generated"
    assert connection_health(ctx, conn).healthy
    with pytest.raises(SetupError, match="already exists"):
        add_connection_checked(ctx, Connection(name="prod", api_url=sandbox.api_url), api_key=sandbox.api_key)


def test_a_static_token_connection_is_checked_too(ctx, sandbox):
    with pytest.raises(SetupError) as bad:
        add_connection_checked(ctx, Connection(name="Static", api_url=sandbox.api_url, auth_mode="static-token"),
                               token="garbage-token", accept_estimated=True)
    assert bad.value.field == "token"
    _nothing_saved(ctx, "Static")
    conn = add_connection_checked(ctx, Connection(name="Static", api_url=sandbox.api_url, auth_mode="static-token"),
                                  token=sandbox.token())
    assert TokenService(ctx).status(conn).level == "ok"


def test_an_incomplete_connection_is_completed_by_its_key(ctx, sandbox):
    add_conn(ctx, sandbox, "Prod")
    with pytest.raises(SetupError) as wrong:
        store_key_and_token(ctx, "Prod", "6ck_wrong_" + "1" * 24)
    assert wrong.value.field == "api_key" and "nothing was changed" in wrong.value.message
    assert connection_health(ctx, ConnectionRepo(ctx.store).get("Prod")).state == "incomplete"
    status = store_key_and_token(ctx, "Prod", sandbox.api_key)
    assert status.level == "ok"
    assert connection_health(ctx, ConnectionRepo(ctx.store).get("Prod")).healthy


def test_missing_token_is_an_alert_where_alerts_are_listed(ctx, sandbox):
    conn = add_conn(ctx, sandbox, "Prod")
    kinds = [a.kind for a in current_alerts(ctx, conn, include_token=False, missing_token=True)]
    assert kinds == ["token_missing"]
    alert = current_alerts(ctx, conn, include_token=False, missing_token=True)[0]
    assert alert.severity == "critical" and "Connection & token" in alert.remedy
    assert current_alerts(ctx, conn, include_token=False) == []  # the token's expiry is left to its banner
    svc = TokenService(ctx)
    svc.set_api_key("Prod", sandbox.api_key)
    svc.generate("Prod")
    assert current_alerts(ctx, conn, include_token=False, missing_token=True) == []


def test_words_instead_of_internal_identifiers(ctx):
    from console.tokens.status import EXPIRY_SOURCES

    assert describe_role_rule("prefix:Role - ") == "group names starting with “Role - ”"
    assert "matching the pattern “^Team”" in describe_role_rule("regex:^Team")
    assert EXPIRY_SOURCES["jwt-exp"] == "read from the token"
    conn = ConnectionRepo(ctx.store).add(Connection(name="P", api_url="https://api-au.6clicks.io"))
    assert conn.tenant_url == "https://api-au.6clicks.io/scim/"
    steps = " ".join(manual_steps(TokenService(ctx), conn))
    assert "Tenant URL to https://api-au.6clicks.io/scim/ " in steps and "Reveal once to copy" in steps


# -- Graph: the job read from the service principal, permissions per feature --------------------------------------
@pytest.fixture
def shared_memory_credentials(monkeypatch):
    """In-process CLI calls share one in-memory keyring (each call opens a new context)."""
    from console import credentials

    store = credentials.memory_credentials()
    monkeypatch.setattr(credentials, "default_credentials", lambda *a, **k: store)
    return store


@pytest.fixture
def entra_box(sandbox_factory):
    box = sandbox_factory(seed_users=5, seed_groups=2, seed=21)
    assert box.graph_url, "the sandbox runs its Graph emulator"
    return box


def test_job_is_discovered_and_permissions_checked_per_feature(ctx, entra_box):
    from console.graph import GRAPH_PERMISSIONS, GraphClient, check_access, discover_job_id, find_jobs

    box = entra_box
    settings = EntraSettings(tenant_id=box.tenant_id, client_id=box.client_id,
                             service_principal_id=box.service_principal_id, graph_base_url=box.graph_url,
                             login_base_url=box.login_url)
    ConnectionRepo(ctx.store).add(Connection(name="Prod", api_url=box.api_url, entra=settings))
    ctx.credentials.set("Prod", "graph_client_secret", box.client_secret)
    conn = ConnectionRepo(ctx.store).get("Prod")
    with GraphClient.for_connection(ctx, conn) as graph:
        jobs = find_jobs(graph)
        assert [j.id for j in jobs] == [box.job_id] and jobs[0].is_scim
        assert discover_job_id(graph) == box.job_id
        assert [c.state for c in check_access(graph)] == ["ok", "ok", "ok", "not-checked"]

    box.admin("PUT", "/sandbox-admin/entra/graph-permissions", {"roles": ["Synchronization.Read.All"]})
    with GraphClient.for_connection(ctx, conn) as graph:
        checks = {c.key: c for c in check_access(graph)}
    assert checks["logs"].state == "missing" and "AuditLog.Read.All" in checks["logs"].message
    assert checks["job"].state == "ok"
    assert checks["directory"].state == "missing" and "Directory.Read.All" in checks["directory"].message
    assert {p.key for p in GRAPH_PERMISSIONS} == {"logs", "job", "directory", "write"}

    ctx.credentials.set("Prod", "graph_client_secret", "wrong-secret-value")
    with GraphClient.for_connection(ctx, conn) as graph:
        assert {c.state for c in check_access(graph)} == {"error"}


def test_find_job_command_stores_the_job_id(tmp_path, entra_box, capsys, shared_memory_credentials):
    from console.cli import main

    box = entra_box
    d = ["--data-dir", str(tmp_path / "data")]
    assert main(["connections", "add", "Prod", "--api-url", box.api_url, "--tenant-id", box.tenant_id,
                 "--client-id", box.client_id, "--service-principal-id", box.service_principal_id,
                 "--graph-url", box.graph_url, "--login-url", box.login_url, *d]) == 0
    shared_memory_credentials.set("Prod", "graph_client_secret", box.client_secret)
    assert main(["connections", "find-job", "Prod", *d]) == 0
    out = capsys.readouterr().out
    assert f"Stored job id {box.job_id}" in out
    assert main(["connections", "graph-check", "Prod", *d]) == 0
    out = capsys.readouterr().out
    assert "AuditLog.Read.All and Directory.Read.All" in out and "Synchronization.Read.All" in out


# -- reminders: one delivery whoever sends it ---------------------------------------------------------------------
class SlowReceiver:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def __call__(self, _h):
        time.sleep(self.delay)
        return 200, "application/json", b"{}"


def _due_token(ctx, box, name="Prod", days=5):
    """A real sandbox token that expires in ``days`` days (and an hour), imported and tested."""
    key_name, _key = new_key(box)
    token = box.admin("POST", "/sandbox-admin/tokens",
                      {"key_name": key_name, "lifetime_seconds": days * 86400 + 3600})["accessToken"]
    TokenService(ctx).import_token(name, token)
    return token


def test_cron_and_the_app_thread_never_double_send(tmp_path, sandbox):
    from console.context import open_context
    from console.notify.channels import set_notify_urls
    from console.notify.reminders import last_runs, remind_all, start_reminder_thread

    first = make_ctx(tmp_path)
    second = open_context(tmp_path / "console-data", credentials=first.credentials)  # "another process"
    add_conn(first, sandbox, "Prod")
    _due_token(first, sandbox)
    answer = SlowReceiver(delay=1.5)
    with local_http(answer) as server:
        set_notify_urls(first, "Prod", [f"json://127.0.0.1:{server.server_port}/hook"])
        results = []
        threads = [threading.Thread(target=lambda c=c, s=s: results.append(remind_all(c, source=s)))
                   for c, s in ((first, "app"), (second, "cli"))]
        for t in threads:
            t.start()
            time.sleep(0.2)
        for t in threads:
            t.join(30)
        assert len(server.received) == 1, "delivered once although both ran at the same time"
        titles = [json.loads(r["body"])["title"] for r in server.received]
        assert "expires in 5 days" in titles[0]
        assert set(last_runs(first)) == {"app", "cli"}

        answer.delay = 0
        thread = start_reminder_thread(first, interval=0.2, first_delay=0)
        try:
            assert start_reminder_thread(first) is thread  # once per process and data folder
            deadline = time.monotonic() + 20
            while thread.runs < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert thread.runs >= 3
            assert len(server.received) == 1, "the thread does not send what was already sent"
        finally:
            thread.stop()
            thread.join(10)
    first.close()
    second.close()


def test_the_app_thread_sends_a_due_reminder_once(tmp_path, sandbox):
    from console.notify.channels import set_notify_urls
    from console.notify.reminders import start_reminder_thread

    ctx = make_ctx(tmp_path)
    add_conn(ctx, sandbox, "Prod")
    _due_token(ctx, sandbox, days=2)
    with local_http(SlowReceiver()) as server:
        set_notify_urls(ctx, "Prod", [f"json://127.0.0.1:{server.server_port}/hook"])
        thread = start_reminder_thread(ctx, interval=0.2, first_delay=0)
        try:
            deadline = time.monotonic() + 20
            while not server.received and time.monotonic() < deadline:
                time.sleep(0.1)
            runs = thread.runs
            while thread.runs < runs + 3 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            thread.stop()
            thread.join(10)
        assert len(server.received) == 1
        assert "expires in 2 days" in json.loads(server.received[0]["body"])["title"]
    ctx.close()


def test_send_test_is_recorded_for_the_checklist(ctx, sandbox):
    from console.notify.channels import last_test, send_test, set_notify_urls

    conn = add_conn(ctx, sandbox, "Prod")
    with local_http(SlowReceiver()) as server:
        set_notify_urls(ctx, conn, [f"json://127.0.0.1:{server.server_port}/hook"])
        result = send_test(ctx, conn)
        assert result.sent and not result.failed and len(server.received) == 1
    record = last_test(ctx, conn)
    assert record and record["ok"] and record["sent"] == 1
    assert "json://" not in json.dumps(record)


def test_cron_line_names_this_machine(ctx):
    from console.notify.reminders import cron_line

    line = cron_line(ctx)
    assert line.startswith("0 8 * * * ")
    assert sys.executable in line and "-m console remind" in line
    assert f"SCIM_CONSOLE_HOME={Path(ctx.data_dir).resolve()}" in line
    assert f"cd {REPO}" in line
    assert "PASSPHRASE" not in line


def test_checklist_follows_the_set_up(ctx, sandbox):
    steps = {s.key: s for s in checklist(ctx, None)}
    assert steps["connection"].state == "todo" and steps["token"].state == "blocked"
    conn = add_connection_checked(ctx, Connection(name="Prod", api_url=sandbox.api_url), api_key=sandbox.api_key)
    steps = {s.key: s for s in checklist(ctx, conn)}
    assert steps["keyring"].state == "warning" and "lost at the next start" in steps["keyring"].detail  # memory
    assert steps["connection"].state == "done" and steps["token"].state == "done"
    assert steps["entra"].state == "todo" and conn.tenant_url in steps["entra"].detail
    assert steps["graph"].state == "optional" and steps["job"].state == "optional"
    assert steps["channel"].state == "todo" and steps["daily"].state == "todo"
    assert "-m console remind" in steps["daily"].command
    confirm_in_entra(TokenService(ctx), "Prod")
    assert {s.key: s for s in checklist(ctx, conn)}["entra"].state == "done"
    TokenService(ctx).generate("Prod")  # a new token: Entra needs it again
    assert {s.key: s for s in checklist(ctx, conn)}["entra"].state == "todo"
    from console.notify.reminders import remind_all

    remind_all(ctx, source="cli")
    assert {s.key: s for s in checklist(ctx, conn, now=datetime.now(UTC))}["daily"].state == "done"
    later = datetime.now(UTC) + timedelta(days=3)
    assert {s.key: s for s in checklist(ctx, conn, now=later)}["daily"].state == "todo"



def test_readme_lists_the_graph_permissions_of_the_code():
    """One least-privilege list per feature, in the code; the README's list is the same, line for line."""
    from console.graph import GRAPH_PERMISSIONS

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- graph-permissions")
    block = readme[readme.index("\n", start) + 1:readme.index("<!-- /graph-permissions -->")]
    listed = [line.removeprefix("- ") for line in block.strip().splitlines()]
    expected = [f"{p.feature}: " + " and ".join(f"`{x}`" for x in p.permissions) + (f" ({p.note})" if p.note else "")
                for p in GRAPH_PERMISSIONS]
    assert listed == expected
