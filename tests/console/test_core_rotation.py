"""Rotation and the Graph client against the sandbox's Graph emulator (real HTTP)."""

from __future__ import annotations

import pytest

from console.connections import ConnectionRepo
from console.errors import TokenError
from console.graph import GraphClient, GraphError
from console.tokens.rotation import rotate, rotations
from console.tokens.service import TokenService
from tests.console.test_core_helpers import add_conn, assert_absent, make_ctx, new_key


@pytest.fixture
def box(sandbox_factory):
    return sandbox_factory(seed_users=12, seed_groups=3, seed=3)


@pytest.fixture
def ctx(tmp_path):
    c = make_ctx(tmp_path)
    yield c
    c.close()


def _ready(ctx, box, *, secret=True):
    add_conn(ctx, box, entra=True)
    svc = TokenService(ctx)
    name, key = new_key(box)
    svc.set_api_key("Prod", key)
    svc.generate("Prod")
    if secret:
        ctx.credentials.set("Prod", "graph_client_secret", box.client_secret)
    return svc, name


def test_rotation_pushes_to_entra_and_is_recorded(ctx, box, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    svc, _ = _ready(ctx, box)
    old = ctx.credentials.get("Prod", "access_token")
    old_fp = svc.status("Prod").fingerprint
    messages: list[str] = []
    result = rotate(svc, "Prod", progress=messages.append)
    new = ctx.credentials.get("Prod", "access_token")
    assert result.pushed and result.outcome == "pushed" and result.manual_steps == []
    assert new != old and result.status.fingerprint != old_fp and result.status.origin == "rotated"
    entra = box.admin("GET", "/sandbox-admin/entra/status")
    assert entra["secretTokenSet"] and entra["tenantUrl"] == ConnectionRepo(ctx.store).get("Prod").tenant_url
    assert entra["tenantUrl"].endswith("/scim/")  # API base URL + /scim/, as the 6clicks guide prescribes
    # Entra's own test connection with what it now holds succeeds
    with GraphClient.for_connection(ctx, ConnectionRepo(ctx.store).get("Prod")) as g:
        g.validate_credentials()
    rows = rotations(svc, "Prod")
    assert rows[0]["outcome"] == "pushed" and rows[0]["old_fingerprint"] == old_fp
    assert rows[0]["new_fingerprint"] == result.status.fingerprint and rows[0]["verified"] == 1
    assert any("Entra" in m for m in messages)
    assert_absent([old, new, box.client_secret], repr(rows) + " ".join(messages) + repr(result), "rotation output")
    assert_absent([old, new, box.client_secret, ctx.credentials.get("Prod", "api_key")], caplog.text, "the log")
    assert "rotated token" in caplog.text  # the log says what happened, by fingerprint


def test_rotation_without_graph_permission_gives_manual_steps(ctx, box):
    svc, _ = _ready(ctx, box)
    box.admin("PUT", "/sandbox-admin/entra/graph-permissions", json={"roles": ["AuditLog.Read.All",
                                                                             "Synchronization.Read.All"]})
    result = rotate(svc, "Prod")
    assert not result.pushed and result.outcome == "manual"
    assert "Synchronization.ReadWrite.All" in (result.push_error or "")
    steps = " ".join(result.manual_steps)
    for text in ("Enterprise applications", "Provisioning", "Admin Credentials", "Secret Token",
                 "Test Connection", "Save"):
        assert text in steps
    assert result.status.level == "ok"  # the new token is stored and verified
    assert rotations(svc, "Prod")[0]["outcome"] == "manual"


def test_rotation_without_entra_settings_or_secret(ctx, box):
    svc, _ = _ready(ctx, box, secret=False)
    result = rotate(svc, "Prod")
    assert result.outcome == "manual" and "client secret" in (result.push_error or "")
    no_push = rotate(svc, "Prod", push_to_entra=False)
    assert no_push.outcome == "manual" and no_push.push_error is None and no_push.manual_steps


def test_failed_rotation_keeps_the_old_token(ctx, box):
    svc, name = _ready(ctx, box)
    old = ctx.credentials.get("Prod", "access_token")
    box.admin("DELETE", f"/sandbox-admin/keys/{name}")
    with pytest.raises(TokenError):
        rotate(svc, "Prod")
    assert ctx.credentials.get("Prod", "access_token") == old
    assert rotations(svc, "Prod")[0]["outcome"] == "failed"


def test_rotation_when_the_new_token_lacks_a_permission_stops(ctx, box):
    svc, name = _ready(ctx, box)
    old = ctx.credentials.get("Prod", "access_token")
    box.admin("PUT", f"/sandbox-admin/keys/{name}/permissions", json={"permissions": ["create-users"]})
    with pytest.raises(TokenError) as err:
        rotate(svc, "Prod")
    assert err.value.result == "forbidden" and "Integrations" in str(err.value)
    assert ctx.credentials.get("Prod", "access_token") == old


def test_graph_client_calls_and_errors(ctx, box):
    conn = add_conn(ctx, box, entra=True)
    ctx.credentials.set("Prod", "graph_client_secret", box.client_secret)
    with GraphClient.for_connection(ctx, conn) as g:
        jobs = g.list_jobs()
        assert any(j.get("id") == box.job_id for j in jobs)
        job = g.get_job()
        assert job["id"] == box.job_id and "status" in job
        logs = list(g.iter_provisioning_logs())
        assert isinstance(logs, list)
        g.restart("Escrows")
        assert repr(g).count(box.client_secret) == 0
    # wrong secret -> clear message, no secret in it
    ctx.credentials.set("Prod", "graph_client_secret", "wrong-secret-value-123")
    with GraphClient.for_connection(ctx, conn) as g, pytest.raises(GraphError) as err:
        g.get_job()
    assert "client secret" in str(err.value)
    assert_absent(["wrong-secret-value-123", box.client_secret], str(err.value), "the Graph error")
    # a missing permission is named
    ctx.credentials.set("Prod", "graph_client_secret", box.client_secret)
    box.admin("PUT", "/sandbox-admin/entra/graph-permissions", json={"roles": ["Synchronization.Read.All"]})
    with GraphClient.for_connection(ctx, conn) as g:
        with pytest.raises(GraphError) as err:
            list(g.iter_provisioning_logs())
        assert err.value.status == 403 and "AuditLog.Read.All" in str(err.value)
        with pytest.raises(GraphError) as err:
            g.restart()
        assert "Synchronization.ReadWrite.All" in str(err.value)
    # a wrong job id
    conn.entra = type(conn.entra)(**{**conn.entra.__dict__, "job_id": "scim.nope"})
    with GraphClient.for_connection(ctx, conn) as g, pytest.raises(GraphError) as err:
        g.get_job()
    assert err.value.status == 404 and "job id" in str(err.value)


def test_graph_paging_follows_next_link(sandbox_factory, tmp_path):
    box = sandbox_factory(seed_users=30, seed_groups=4, seed=5)
    box.admin("POST", "/sandbox-admin/entra/cycles", json={"count": 1})
    box.admin("POST", "/sandbox-admin/entra/tenant", json={"actions": [{"action": "join"}] * 8})
    box.admin("POST", "/sandbox-admin/entra/cycles", json={"count": 1})
    ctx = make_ctx(tmp_path)
    conn = add_conn(ctx, box, entra=True)
    ctx.credentials.set("Prod", "graph_client_secret", box.client_secret)
    with GraphClient.for_connection(ctx, conn) as g:
        calls: list[str] = []
        g._http.event_hooks["request"] = [lambda request: calls.append(str(request.url))]
        pages = list(g.iter_provisioning_logs(top=5))
        paged_calls = [c for c in calls if "auditLogs" in c]
        everything = list(g.iter_provisioning_logs())
    assert len(pages) == len(everything) > 5
    assert len(paged_calls) >= 3  # 5 per page: nextLink was followed
    assert len({e["id"] for e in everything}) == len(everything)


def test_graph_not_configured(ctx, box):
    conn = add_conn(ctx, box)
    with pytest.raises(GraphError, match="no Entra"):
        GraphClient.for_connection(ctx, conn)
    conn2 = add_conn(ctx, box, name="WithEntra", entra=True)
    with pytest.raises(GraphError, match="No Graph client secret"):
        GraphClient.for_connection(ctx, conn2)


def test_graph_retries_honour_retry_after(ctx, box):
    conn = add_conn(ctx, box, entra=True)
    ctx.credentials.set("Prod", "graph_client_secret", box.client_secret)
    sleeps: list[float] = []
    box.set_faults(rate_429=1.0, retry_after=2, paths="^/graph/")
    with GraphClient.for_connection(ctx, conn, max_retries=2, sleep=sleeps.append) as g:
        with pytest.raises(GraphError) as err:
            g.get_job()
        assert err.value.status == 429 and "throttling" in str(err.value)
        # the server's Retry-After, not a guess (plus at most 10 % so that throttled clients do not return together)
        assert len(sleeps) == 2 and all(2.0 <= s <= 2.2 for s in sleeps), sleeps
        box.clear_faults()
        assert g.get_job()["id"] == box.job_id
