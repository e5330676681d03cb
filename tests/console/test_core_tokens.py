"""Token lifecycle against a real sandbox over HTTP: set-key, generate, import, status levels, test, revocation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from console.errors import InvalidInput, TokenError
from console.tokens.probe import probe_token
from console.tokens.service import TokenService
from scim_client import fingerprint
from tests.console.test_core_helpers import (
    Clock,
    add_conn,
    assert_absent,
    html_page,
    json_answer,
    local_http,
    make_ctx,
    new_key,
)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def ctx(tmp_path, clock):
    c = make_ctx(tmp_path, clock)
    yield c
    c.close()


def test_set_key_generate_and_status(sandbox, ctx):
    conn = add_conn(ctx, sandbox)
    svc = TokenService(ctx)
    _name, key = new_key(sandbox)
    assert svc.status("Prod").level == "missing"
    fp = svc.set_api_key("Prod", f"  {key}\n")  # trimmed
    assert fp == fingerprint(key)
    assert ctx.credentials.get("Prod", "api_key") == key
    status = svc.generate("Prod")
    assert status.level == "ok" and status.exit_code == 0
    assert status.expiry_source == "jwt-exp" and not status.estimated
    assert 363 <= status.days_left <= 365
    assert status.last_test_result == "ok"
    token = ctx.credentials.get("Prod", "access_token")
    assert status.fingerprint == fingerprint(token)
    # metadata only in SQLite
    dump = "\n".join(str(tuple(r)) for t in ("connections", "tokens") for r in ctx.store.query(f"SELECT * FROM {t}"))
    assert_absent([token, key], dump, "the store")
    assert conn.api_url in dump


def test_wrong_api_key_keeps_the_old_one(sandbox, ctx):
    add_conn(ctx, sandbox)
    svc = TokenService(ctx)
    _n, key = new_key(sandbox)
    svc.set_api_key("Prod", key)
    with pytest.raises(TokenError) as err:
        svc.set_api_key("Prod", "6ck_wrong_" + "0" * 24)
    assert err.value.result == "rejected"
    assert "nothing was changed" in str(err.value) and "6ck_wrong_" not in str(err.value)
    assert ctx.credentials.get("Prod", "api_key") == key
    with pytest.raises(InvalidInput, match="spaces or line breaks"):
        svc.set_api_key("Prod", "abc def")
    with pytest.raises(InvalidInput, match="empty"):
        svc.set_api_key("Prod", "   ")
    assert ctx.credentials.get("Prod", "api_key") == key


def test_generate_without_key_and_failed_generate_keeps_old_token(sandbox, ctx):
    add_conn(ctx, sandbox)
    svc = TokenService(ctx)
    with pytest.raises(TokenError, match="No API key"):
        svc.generate("Prod")
    name, key = new_key(sandbox)
    svc.set_api_key("Prod", key)
    first = svc.generate("Prod")
    old = ctx.credentials.get("Prod", "access_token")
    sandbox.admin("DELETE", f"/sandbox-admin/keys/{name}")  # the key is revoked: generating fails
    with pytest.raises(TokenError) as err:
        svc.generate("Prod")
    assert err.value.result == "rejected"
    assert ctx.credentials.get("Prod", "access_token") == old
    assert svc.status("Prod").fingerprint == first.fingerprint


def test_levels_follow_the_clock(sandbox, ctx, clock):
    add_conn(ctx, sandbox)
    svc = TokenService(ctx)
    svc.set_api_key("Prod", new_key(sandbox)[1])
    status = svc.generate("Prod")
    expires = status.expires_at
    expected = [(61, "ok", 0), (60, "notice", 0), (31, "notice", 0), (30, "warning", 1), (8, "warning", 1),
                (7, "critical", 2), (1, "critical", 2), (0, "critical", 2)]
    for days, level, code in expected:
        clock.now = expires - timedelta(days=days, hours=1)  # an hour more than whole days
        s = svc.status("Prod")
        assert (s.days_left, s.level, s.exit_code) == (days, level, code), (days, s)
    clock.now = expires
    s = svc.status("Prod")
    assert s.level == "expired" and s.exit_code == 2 and "expired" in s.message and "rotate" in s.remedy


def test_revocation_and_permission_removal_are_rejected(sandbox, ctx):
    add_conn(ctx, sandbox)
    svc = TokenService(ctx)
    name, key = new_key(sandbox)
    svc.set_api_key("Prod", key)
    svc.generate("Prod")
    assert svc.test("Prod").level == "ok"
    sandbox.admin("PUT", f"/sandbox-admin/keys/{name}/permissions",
                  json={"permissions": ["integrations", "create-users"]})  # a permission taken away -> 401
    s = svc.test("Prod")
    assert s.level == "rejected" and s.exit_code == 2 and s.last_test_result == "rejected"
    assert "API key" in s.message and "permission" in s.message
    # regenerating works again (the key still exists, with fewer permissions) ...
    assert svc.generate("Prod").level == "ok"
    sandbox.admin("DELETE", f"/sandbox-admin/keys/{name}")  # ... until the key is deleted
    s = svc.test("Prod")
    assert s.level == "rejected"


def test_missing_integrations_permission_is_critical_and_named(sandbox, ctx):
    add_conn(ctx, sandbox)
    svc = TokenService(ctx)
    _n, key = new_key(sandbox, permissions=["create-users"])
    svc.set_api_key("Prod", key)
    s = svc.generate("Prod")  # stored: the token is fine, its user lacks a permission
    assert s.last_test_result == "forbidden" and s.level == "critical" and s.exit_code == 2
    assert "Integrations" in s.message


def test_import_token_reads_expiry_and_refuses_bad_ones(sandbox, ctx, clock):
    add_conn(ctx, sandbox)
    svc = TokenService(ctx)
    name, _key = new_key(sandbox)
    short = sandbox.admin("POST", "/sandbox-admin/tokens", json={"key_name": name, "lifetime_seconds": 3 * 86400})
    s = svc.import_token("Prod", f'"{short["accessToken"]}"\n')  # quotes and newline from a copy are tolerated
    assert s.level == "critical" and s.days_left in (2, 3) and s.expiry_source == "jwt-exp" and s.origin == "imported"
    with pytest.raises(InvalidInput, match="no readable expiry"):
        svc.import_token("Prod", "not-a-jwt-at-all-0123456789")
    with pytest.raises(InvalidInput, match="spaces or line breaks"):
        svc.import_token("Prod", "eyJhbGciOi JIUzI1NiJ9.e30.x")
    expired = sandbox.admin("POST", "/sandbox-admin/tokens", json={"key_name": name, "lifetime_seconds": -60})
    with pytest.raises(InvalidInput, match="expired on"):
        svc.import_token("Prod", expired["accessToken"])
    # a token the server rejects is not stored
    forged = short["accessToken"][:-4] + ("AAAA" if not short["accessToken"].endswith("AAAA") else "BBBB")
    with pytest.raises(TokenError) as err:
        svc.import_token("Prod", forged)
    assert err.value.result == "rejected"
    assert svc.status("Prod").fingerprint == fingerprint(short["accessToken"])
    # confirmed estimate (the admin accepts it), without a test because the sandbox only knows JWTs
    s = svc.import_token("Prod", "opaque-token-0123456789abcdef", accept_estimated=True, verify=False)
    assert s.estimated and s.expiry_source == "assumed-365d" and s.days_left == 365
    assert "(estimated)" in s.message


def test_probe_classifies_failures(sandbox, ctx, tmp_path):
    from console.connections import Connection

    token = sandbox.token()
    ok = probe_token(Connection(name="a", api_url=sandbox.api_url), token)
    assert ok.result == "ok"
    wrong_path = probe_token(Connection(name="a", api_url=sandbox.api_url, scim_url=sandbox.api_url + "/nope"), token)
    assert wrong_path.result == "protocol" and "SCIM base URL" in wrong_path.remedy
    with local_http(html_page) as server:
        html = probe_token(Connection(name="a", api_url=f"http://127.0.0.1:{server.server_port}"), token)
    assert html.result == "protocol" and "HTML" in html.message
    port = sandbox.port
    tls = probe_token(Connection(name="a", api_url=f"https://127.0.0.1:{port}"), token)
    assert tls.result == "tls"
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    closed = s.getsockname()[1]
    s.close()
    down = probe_token(Connection(name="a", api_url=f"http://127.0.0.1:{closed}"), token)
    assert down.result == "unreachable" and down.remedy
    for r in (wrong_path, html, tls, down):
        assert_absent([token], r.message + r.remedy, "a probe message")


def test_generate_against_wrong_endpoints_gives_clear_errors(ctx):
    from console.connections import Connection, ConnectionRepo

    repo = ConnectionRepo(ctx.store)
    svc = TokenService(ctx)
    with local_http(html_page) as server:
        repo.add(Connection(name="Html", api_url=f"http://127.0.0.1:{server.server_port}"))
        with pytest.raises(TokenError) as err:
            svc.set_api_key("Html", "6ck_secret_value_123456")
        assert "HTML" in str(err.value)
        assert_absent(["6ck_secret_value_123456"], str(err.value), "the error")
    with local_http(json_answer({"status": "ok", "user": "x"})) as server:
        repo.add(Connection(name="NoToken", api_url=f"http://127.0.0.1:{server.server_port}"))
        ctx.credentials.set("NoToken", "api_key", "6ck_secret_value_123456")
        with pytest.raises(TokenError) as err:
            svc.generate("NoToken")
        assert "accessToken" in str(err.value)
        assert_absent(["6ck_secret_value_123456"], str(err.value), "the error")
    assert svc.status("NoToken").level == "missing"
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    closed = sock.getsockname()[1]
    sock.close()
    repo.add(Connection(name="Down", api_url=f"http://127.0.0.1:{closed}"))
    with pytest.raises(TokenError) as err:
        svc.set_api_key("Down", "6ck_secret_value_123456")
    assert err.value.result == "unreachable" and "reach" in str(err.value) and err.value.remedy
    assert ctx.credentials.get("Down", "api_key") is None


def test_static_token_mode(sandbox, ctx):
    add_conn(ctx, sandbox, name="Other", auth_mode="static-token")
    svc = TokenService(ctx)
    with pytest.raises(TokenError, match="static bearer token"):
        svc.generate("Other")
    with pytest.raises(TokenError, match="static bearer token"):
        svc.set_api_key("Other", "whatever-key-123")
    s = svc.import_token("Other", sandbox.token())
    assert s.level == "ok"
    assert "import" in svc.status("Other").remedy or svc.status("Other").remedy == ""


def test_scim_client_uses_the_keyring_token_and_regenerates_after_revocation(sandbox, ctx):
    add_conn(ctx, sandbox)
    svc = TokenService(ctx)
    name, key = new_key(sandbox)
    svc.set_api_key("Prod", key)
    first = svc.generate("Prod")
    # take a permission away and give it back: the old token is now invalid (401), the key still works
    sandbox.admin("PUT", f"/sandbox-admin/keys/{name}/permissions", json={"permissions": ["integrations"]})
    sandbox.admin("PUT", f"/sandbox-admin/keys/{name}/permissions",
                  json={"permissions": ["integrations", "create-users", "edit-users", "delete-users",
                                        "manage-groups", "manage-group-members"]})
    with svc.scim_client("Prod") as client:
        users = client.list_users()
    assert len(users) >= 1
    assert svc.status("Prod").fingerprint != first.fingerprint  # regenerated on the 401
