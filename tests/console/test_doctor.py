"""The setup check against the sandbox and its Entra simulator over HTTP: all ok on a healthy setup, and each
failure provoked (a permission removed, the job paused, a mapping changed, a token near expiry, no reminder
channel) gives the right verdict and exit code; the permission probe changes nothing."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from console.cli import main as cli_main
from console.doctor.checks import run_checks
from console.doctor.confirmations import confirm, confirmations, last_run
from console.notify.channels import set_notify_urls
from console.tokens.rotation import push_to_entra
from console.tokens.service import TokenService
from sandbox.requestlog import tail
from scim_client.permissions import full_probe
from tests.console.test_core_helpers import add_conn, assert_absent, make_ctx, new_key


@pytest.fixture
def box(sandbox_factory):
    return sandbox_factory(seed_users=12, seed_groups=3, seed=5)


@pytest.fixture
def ctx(tmp_path):
    c = make_ctx(tmp_path)
    yield c
    c.close()


def _ready(ctx, box, *, channel=True, permissions=None):
    conn = add_conn(ctx, box, entra=True)
    name, key = new_key(box, permissions)
    svc = TokenService(ctx)
    svc.set_api_key("Prod", key, verify=False)
    svc.generate("Prod", verify=False)
    ctx.credentials.set("Prod", "graph_client_secret", box.client_secret)
    push_to_entra(svc, "Prod")  # Entra holds the Tenant URL and token, as after the guide's Admin Credentials step
    if channel:
        set_notify_urls(ctx, conn, ["json://127.0.0.1:9/hook"])
    return conn, name


def _run_cycle(box):
    box.admin("POST", "/sandbox-admin/entra/cycles", json={"count": 1})


def _statuses(report):
    return {c.id: c.status for c in report.checks}


def _writes(box, since: int) -> list[dict]:
    entries = list(tail(box.data_dir / "requests.log", None))[since:]
    return [e for e in entries if e.get("method") in ("POST", "PUT", "PATCH", "DELETE")
            and str(e.get("path", "")).lower().startswith("/scim") and 200 <= int(e.get("status", 0)) < 300]


def test_healthy_setup_is_all_ok_and_the_probe_writes_nothing(ctx, box):
    conn, _ = _ready(ctx, box)
    _run_cycle(box)
    # the demo's drift is not planted in a plain sandbox; the job starts as the guide prescribes
    before = len(list(tail(box.data_dir / "requests.log", None)))
    report = run_checks(ctx, conn)
    st = _statuses(report)
    assert all(st[f"permission-{k}"] == "ok" for k in ("integrations", "create-users", "edit-users",
                                                         "delete-users", "manage-groups", "manage-group-members"))
    for check_id in ("scim-endpoint", "api-key", "token", "reminders", "entra-credentials", "entra-mapping-users",
                     "entra-mapping-groups"):
        assert st[check_id] == "ok", (check_id, report.get(check_id))
    assert st["entra-job"] in ("ok", "warning")  # a fresh job: active; its first cycle just ran
    assert {st[i] for i in ("scope", "notification-email", "accidental-deletion", "sso")} == {"manual"}
    assert report.exit_code in (0, 1)
    assert _writes(box, before) == [], "the permission probe changed something on the server"
    rows = report.get("entra-mapping-users").rows
    assert [r.target for r in rows][:2] == ['emails[type eq "work"].value', "userName"]
    assert all(r.verdict == "ok" for r in rows)
    # secrets never in the report
    secrets = [ctx.credentials.get("Prod", "access_token"), ctx.credentials.get("Prod", "api_key"),
               box.client_secret]
    assert_absent(secrets, json.dumps(report.to_dict()), "the doctor's report")
    saved = last_run(ctx, conn)
    assert saved is not None and saved.worst == report.worst


def test_a_removed_permission_is_named_and_fails(ctx, box):
    conn, name = _ready(ctx, box)
    box.admin("PUT", f"/sandbox-admin/keys/{name}/permissions", json={"permissions": [
        "integrations", "create-users", "delete-users", "manage-groups", "manage-group-members"]})
    TokenService(ctx).generate("Prod", verify=False)  # removing a permission invalidated the old token
    report = run_checks(ctx, conn)
    st = _statuses(report)
    assert st["permission-edit-users"] == "failure"
    assert "Edit users" in report.get("permission-edit-users").fix
    assert st["permission-create-users"] == "ok" and st["permission-manage-group-members"] == "ok"
    assert report.exit_code == 2
    # remind sends the last check's failures with the provisioning alerts
    from console.notify.alerts import notify_alerts
    sent = []
    notify_alerts(ctx, conn, send=lambda _ctx, _conn, title, body, key, dry_run: sent.append((title, body, key)))
    [(title, body, _key)] = [s for s in sent if s[2].startswith("entra:setup_check:")]
    assert "setup check found failures" in title and "Edit users" in body


def test_members_permission_alone_missing(ctx, box):
    conn, _name = _ready(ctx, box, permissions=["integrations", "create-users", "edit-users", "delete-users",
                                               "manage-groups"])
    report = run_checks(ctx, conn)
    st = _statuses(report)
    assert st["permission-manage-group-members"] == "failure" and st["permission-manage-groups"] == "ok"


def test_paused_job_and_changed_mapping_fail(ctx, box):
    conn, _ = _ready(ctx, box)
    from console.graph import GraphClient

    with GraphClient.for_connection(ctx, conn) as g:
        g.pause()
        schema = g.get_schema()
        for rule in schema["synchronizationRules"]:
            for om in rule["objectMappings"]:
                if om["sourceObjectName"] == "User":
                    for am in om["attributeMappings"]:
                        if am["targetAttributeName"] == "userName":
                            am["source"] = {"expression": "[mail]", "name": "mail", "type": "Attribute",
                                            "parameters": []}
        g._send("PUT", f"{g._job(None)}/schema", what="change the schema", permission="", json=schema)
    report = run_checks(ctx, conn)
    st = _statuses(report)
    assert st["entra-job"] == "failure" and "paused" in report.get("entra-job").seen
    assert st["entra-mapping-users"] == "failure"
    row = next(r for r in report.get("entra-mapping-users").rows if r.target == "userName")
    assert row.verdict == "failure" and row.found.startswith("mail") and "userPrincipalName" in row.expected
    assert st["entra-mapping-groups"] == "ok"
    assert report.exit_code == 2


def test_token_near_expiry_and_no_channel(tmp_path, box):
    clock_now = {}
    ctx = make_ctx(tmp_path)
    try:
        conn, _ = _ready(ctx, box, channel=False)
        report = run_checks(ctx, conn)
        assert _statuses(report)["reminders"] == "warning"
        assert "nobody will be told" in report.get("reminders").seen
        expires = TokenService(ctx).status(conn).expires_at
        assert expires is not None
        clock_now["at"] = expires - timedelta(days=5)
        ctx.clock = lambda: clock_now["at"]
        late = run_checks(ctx, conn, save=False)
        assert _statuses(late)["token"] == "failure" and late.exit_code == 2
    finally:
        ctx.close()


def test_manual_items_confirmed_by_hand_are_kept(ctx, box):
    conn, _ = _ready(ctx, box)
    confirm(ctx, conn, "scope", "alice  admin\n")
    assert confirmations(ctx, conn)["scope"][0] == "alice admin"
    report = run_checks(ctx, conn, save=False)
    scope = report.get("scope")
    assert scope.status == "ok" and scope.confirmed_by == "alice admin" and scope.confirmed_at is not None
    from console.errors import InvalidInput
    with pytest.raises(InvalidInput):
        confirm(ctx, conn, "not-an-item", "x")


def test_without_graph_settings_entra_checks_say_how(ctx, box):
    conn = add_conn(ctx, box)
    _name, key = new_key(box)
    TokenService(ctx).set_api_key("Prod", key, verify=False)
    TokenService(ctx).generate("Prod", verify=False)
    report = run_checks(ctx, conn, save=False)
    job = report.get("entra-job")
    assert job.status == "manual" and "Microsoft Graph" in job.fix
    assert _statuses(report)["permission-integrations"] == "ok"


def test_full_probe_cleans_up_even_when_a_step_fails(ctx, box):
    _ready(ctx, box, permissions=["integrations", "create-users", "edit-users", "manage-groups",
                                               "manage-group-members"])
    with TokenService(ctx).scim_client("Prod") as client:
        before = {u.user_name for u in client.iter_users()}
        result = full_probe(client)
        after = {u.user_name for u in client.iter_users()}
    verdicts = {c.key: c.verdict for c in result.checks}
    assert verdicts["delete-users"] == "missing" and verdicts["create-users"] == "granted"
    assert verdicts["manage-groups"] == "granted" and verdicts["manage-group-members"] == "granted"
    # the probe user could not be deleted without the permission: it is named, nothing else is left
    assert after - before == {result.probe_user} and result.leftovers and result.leftovers[0].startswith("user ")
    with TokenService(ctx).scim_client("Prod") as client:
        assert client.find_group(display_name=result.probe_group) is None


def test_cli_doctor_exit_codes_and_json(ctx, box, capsys, monkeypatch):
    conn, name = _ready(ctx, box)
    monkeypatch.setattr("console.cli._common.open_ctx", lambda args: ctx)
    monkeypatch.setattr("console.cli.doctor.open_ctx", lambda args: ctx)
    ctx.close = lambda: None  # the test's context outlives the command
    code = cli_main(["doctor", "--connection", "Prod", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == out["exit_code"] and {c["id"] for c in out["checks"]} >= {"token", "permission-edit-users"}
    box.admin("PUT", f"/sandbox-admin/keys/{name}/permissions", json={"permissions": ["integrations"]})
    TokenService(ctx).generate("Prod", verify=False)
    code = cli_main(["doctor", "--connection", "Prod"])
    text = capsys.readouterr().out
    assert code == 2 and "[FAIL] Create new users" in text and "CRITICAL" in text
    assert cli_main(["doctor", "--connection", "Prod", "--full-probe"]) == 2  # needs --yes
    assert "--yes" in capsys.readouterr().err
    assert cli_main(["doctor", "--connection", "Prod", "--confirm", "sso"]) == 0
    assert "sso" in confirmations(ctx, conn)


def test_odd_input_is_refused_with_a_remedy(ctx, box):
    from console.connections import Connection
    from console.entra.ondemand import provision_on_demand
    from console.errors import InvalidInput

    conn, _ = _ready(ctx, box)
    for bad in ("abc\x1b[2Jdef", "--json", "00000000-0000-0000-0000-00000000000g", ""):
        with pytest.raises(InvalidInput):
            provision_on_demand(ctx, conn, bad)
    from console.graph import GraphError
    with pytest.raises(GraphError) as err:
        provision_on_demand(ctx, conn, "00000000-0000-0000-0000-000000000000")
    assert "no user with the object id" in err.value.message and "Object ID" in err.value.remedy
    with pytest.raises(InvalidInput):
        Connection(name="Odd", api_url="http://127.0.0.1:1\n/evil", allow_http=True)
    confirm(ctx, conn, "sso", "Alice\x1b[31m (CISO)\u202e")
    assert confirmations(ctx, conn)["sso"][0] == "Alice[31m (CISO)"
