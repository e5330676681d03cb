"""Sandbox security over real HTTP: every SCIM and Graph route refuses missing, malformed, forged, expired and
revoked credentials; permissions are checked per operation; nothing leaks a secret or another key's data;
oversized and malicious bodies are refused without a 500 and without touching the store.

Uses the session sandbox for read-only checks and keys it creates itself, and a fresh sandbox where a test
changes permissions or revokes keys.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterator

import httpx
import jwt
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

SCIM_CT = "application/scim+json"


def _http(base: str) -> httpx.Client:
    assert base.startswith("http://127.0.0.1")
    return httpx.Client(base_url=base, timeout=30.0)


@pytest.fixture()
def box(sandbox_factory):
    sb = sandbox_factory(seed_users=30, seed_groups=4)
    yield sb


def _ids(sb, token: str) -> tuple[str, str]:
    with _http(sb.scim_url) as c:
        users = c.get("/Users", params={"count": 2}, headers={"Authorization": f"Bearer {token}"}).json()
        groups = c.get("/Groups", params={"count": 1, "excludedAttributes": "members"},
                       headers={"Authorization": f"Bearer {token}"}).json()
    return users["Resources"][0]["id"], groups["Resources"][0]["id"]


def scim_routes(user_id: str, group_id: str) -> list[tuple[str, str, dict | None]]:
    """(method, path under /scim, body) for every SCIM route."""
    new_user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": f"sec-{uuid.uuid4().hex[:8]}@example.org", "active": True}
    patch_user = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                  "Operations": [{"op": "replace", "path": "active", "value": False}]}
    patch_group = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                   "Operations": [{"op": "replace", "path": "displayName", "value": "x"}]}
    return [
        ("GET", "/ServiceProviderConfig", None),
        ("GET", "/ResourceTypes", None),
        ("GET", "/Schemas", None),
        ("GET", "/Users", None),
        ("GET", f"/Users/{user_id}", None),
        ("POST", "/Users", new_user),
        ("PUT", f"/Users/{user_id}", {**new_user, "id": user_id}),
        ("PATCH", f"/Users/{user_id}", patch_user),
        ("DELETE", f"/Users/{user_id}", None),
        ("GET", "/Groups", None),
        ("GET", f"/Groups/{group_id}", None),
        ("POST", "/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "x"}),
        ("PATCH", f"/Groups/{group_id}", patch_group),
        ("DELETE", f"/Groups/{group_id}", None),
    ]


def graph_routes(sb) -> list[tuple[str, str, dict | None]]:
    sp, job = sb.service_principal_id, sb.job_id
    return [
        ("GET", "/auditLogs/provisioning", None),
        ("GET", f"/servicePrincipals/{sp}/synchronization/jobs", None),
        ("GET", f"/servicePrincipals/{sp}/synchronization/jobs/{job}", None),
        ("PUT", f"/servicePrincipals/{sp}/synchronization/secrets",
         {"value": [{"key": "BaseAddress", "value": sb.scim_url}, {"key": "SecretToken", "value": "x"}]}),
        ("POST", f"/servicePrincipals/{sp}/synchronization/jobs/{job}/validateCredentials",
         {"useSavedCredentials": True}),
        ("POST", f"/servicePrincipals/{sp}/synchronization/jobs/{job}/restart", {"criteria": {"resetScope": "Full"}}),
    ]


def _forged(sb, token: str) -> str:
    """The same claims as a real token, signed with a key the server never saw."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode(claims, secrets.token_bytes(32), algorithm="HS256")


def _bad_headers(sb, token: str) -> Iterator[tuple[str, dict[str, str]]]:
    yield "missing", {}
    yield "empty bearer", {"Authorization": "Bearer"}
    yield "basic scheme", {"Authorization": "Basic dXNlcjpwYXNz"}
    yield "not a jwt", {"Authorization": "Bearer not-a-token"}
    yield "api key as bearer", {"Authorization": f"Bearer {sb.api_key}"}
    yield "forged signature", {"Authorization": f"Bearer {_forged(sb, token)}"}
    yield "alg none", {"Authorization": "Bearer " + jwt.encode(
        jwt.decode(token, options={"verify_signature": False}), key=None, algorithm="none")}
    yield "truncated", {"Authorization": f"Bearer {token[:-6]}"}


def _assert_rejected(resp: httpx.Response, secrets_: list[str], label: str) -> None:
    assert resp.status_code == 401, (label, resp.status_code, resp.text[:300])
    for s in secrets_:
        assert s not in resp.text, f"{label}: a secret was echoed in the error body"
        assert all(s not in v for v in resp.headers.values())


def test_every_scim_route_rejects_bad_credentials(sandbox) -> None:
    token = sandbox.token()
    user_id, group_id = _ids(sandbox, token)
    with _http(sandbox.scim_url) as c:
        for method, path, body in scim_routes(user_id, group_id):
            for label, headers in _bad_headers(sandbox, token):
                resp = c.request(method, path, json=body, headers={**headers, "Content-Type": SCIM_CT})
                _assert_rejected(resp, [token, sandbox.api_key], f"{method} {path} [{label}]")
                if resp.content:
                    assert resp.headers["content-type"].split(";")[0] in (SCIM_CT, "application/json")
                    doc = resp.json()
                    assert str(doc.get("status")) == "401"
        # nothing above changed the store: the user and group still exist
        auth = {"Authorization": f"Bearer {token}"}
        assert c.get(f"/Users/{user_id}", headers=auth).status_code == 200
        assert c.get(f"/Groups/{group_id}", headers=auth).status_code == 200


def test_every_graph_route_rejects_bad_credentials(sandbox) -> None:
    if not getattr(sandbox, "graph_url", None):
        pytest.skip("this sandbox runs without the Graph emulator")
    scim_token = sandbox.token()
    with _http(sandbox.graph_url) as c:
        for method, path, body in graph_routes(sandbox):
            cases = [
                ("missing", {}),
                ("not a jwt", {"Authorization": "Bearer garbage"}),
                ("basic", {"Authorization": "Basic Zm9vOmJhcg=="}),
                ("scim token on graph", {"Authorization": f"Bearer {scim_token}"}),
                ("client secret as bearer", {"Authorization": f"Bearer {sandbox.client_secret}"}),
            ]
            for label, headers in cases:
                resp = c.request(method, path, json=body, headers=headers)
                _assert_rejected(resp, [scim_token, sandbox.client_secret, sandbox.api_key],
                                 f"graph {method} {path} [{label}]")


def _graph_token(sb, client_secret: str | None = None) -> httpx.Response:
    with _http(sb.login_url) as c:
        return c.post(f"/{sb.tenant_id}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": sb.client_id,
            "client_secret": client_secret if client_secret is not None else sb.client_secret,
            "scope": "https://graph.microsoft.com/.default"})


def test_graph_login_refuses_wrong_client_secret_and_graph_token_is_not_a_scim_token(sandbox) -> None:
    if not getattr(sandbox, "graph_url", None):
        pytest.skip("this sandbox runs without the Graph emulator")
    bad = _graph_token(sandbox, "wrong-" + secrets.token_hex(8))
    assert bad.status_code in (400, 401), bad.text[:200]
    assert sandbox.client_secret not in bad.text
    good = _graph_token(sandbox)
    assert good.status_code == 200, good.text[:200]
    graph_token = good.json()["access_token"]
    with _http(sandbox.graph_url) as c:
        ok = c.get(f"/servicePrincipals/{sandbox.service_principal_id}/synchronization/jobs",
                   headers={"Authorization": f"Bearer {graph_token}"})
        assert ok.status_code == 200
        forged = c.get(f"/servicePrincipals/{sandbox.service_principal_id}/synchronization/jobs",
                       headers={"Authorization": f"Bearer {_forged(sandbox, graph_token)}"})
        assert forged.status_code == 401
    with _http(sandbox.scim_url) as c:
        resp = c.get("/Users", params={"count": 1}, headers={"Authorization": f"Bearer {graph_token}"})
        _assert_rejected(resp, [graph_token], "graph token on SCIM")


def _create_key(sb, name: str, permissions: list[str]) -> str:
    created = sb.admin("POST", "/sandbox-admin/keys", json={"name": name, "permissions": permissions})
    key = created.get("apiKey") or created.get("api_key") or created.get("key")
    assert key, f"admin keys endpoint answered without the key: {sorted(created)}"
    return str(key)


def _exchange(sb, key: str) -> httpx.Response:
    with _http(sb.api_url) as c:
        return c.post("/auth-api/1.0/auth/token", json={"apiKey": key, "isLongLivedToken": True})


def test_expired_token_is_rejected_on_every_scim_route(sandbox) -> None:
    token = sandbox.token()
    user_id, group_id = _ids(sandbox, token)
    name = jwt.decode(token, options={"verify_signature": False})["sub"]
    short = sandbox.admin("POST", "/sandbox-admin/tokens", json={"key_name": name, "lifetime_seconds": 1})
    short_token = short["accessToken"]
    time.sleep(2.2)
    with _http(sandbox.scim_url) as c:
        for method, path, body in scim_routes(user_id, group_id):
            resp = c.request(method, path, json=body, headers={"Authorization": f"Bearer {short_token}"})
            _assert_rejected(resp, [short_token], f"expired {method} {path}")
            assert "expired" in resp.text.lower()


def test_revoked_key_and_removed_permission_invalidate_issued_tokens(box) -> None:
    admin_token = box.token()
    user_id, group_id = _ids(box, admin_token)
    name = f"revoked-{uuid.uuid4().hex[:6]}"
    key = _create_key(box, name, ["integrations", "edit-users"])
    issued = _exchange(box, key)
    assert issued.status_code == 200
    token = issued.json()["accessToken"]
    with _http(box.scim_url) as c:
        auth = {"Authorization": f"Bearer {token}"}
        assert c.get("/Users", params={"count": 1}, headers=auth).status_code == 200
        # a permission removed after issue: the token stops working
        box.admin("PUT", f"/sandbox-admin/keys/{name}/permissions", json={"permissions": ["integrations"]})
        for method, path, body in scim_routes(user_id, group_id):
            _assert_rejected(c.request(method, path, json=body, headers=auth), [token, key],
                             f"after permission removal {method} {path}")
        # a fresh token from the same key works again, for reads only
        token2 = _exchange(box, key).json()["accessToken"]
        auth2 = {"Authorization": f"Bearer {token2}"}
        assert c.get("/Users", params={"count": 1}, headers=auth2).status_code == 200
        # revoking the key kills the new token too, and the key no longer exchanges
        box.admin("DELETE", f"/sandbox-admin/keys/{name}")
        for method, path, body in scim_routes(user_id, group_id):
            _assert_rejected(c.request(method, path, json=body, headers=auth2), [token2, key],
                             f"revoked {method} {path}")
    assert _exchange(box, key).status_code == 401
    # a new key created under the same name does not revive the old tokens
    _create_key(box, name, ["integrations"])
    with _http(box.scim_url) as c:
        assert c.get("/Users", headers={"Authorization": f"Bearer {token2}"}).status_code == 401


PERMISSION_OF = {
    ("POST", "/Users"): "Create new users",
    ("PUT", "/Users/"): "Edit users",
    ("PATCH", "/Users/"): "Edit users",
    ("DELETE", "/Users/"): "Delete users",
    ("POST", "/Groups"): "Create, edit and delete groups",
    ("DELETE", "/Groups/"): "Create, edit and delete groups",
    ("PATCH", "/Groups/"): "Create, edit and delete groups",  # a rename
}


def test_each_operation_needs_its_6clicks_permission(box) -> None:
    full = box.token()
    user_id, group_id = _ids(box, full)
    read_only_key = _create_key(box, f"ro-{uuid.uuid4().hex[:6]}", ["integrations"])
    ro = _exchange(box, read_only_key).json()["accessToken"]
    no_integrations = _create_key(box, f"noint-{uuid.uuid4().hex[:6]}",
                                  ["create-users", "edit-users", "delete-users", "manage-groups",
                                   "manage-group-members"])
    ni = _exchange(box, no_integrations).json()["accessToken"]
    with _http(box.scim_url) as c:
        before = c.get(f"/Users/{user_id}", headers={"Authorization": f"Bearer {full}"}).json()
        for method, path, body in scim_routes(user_id, group_id):
            # without "Integrations", nothing at all
            resp = c.request(method, path, json=body, headers={"Authorization": f"Bearer {ni}"})
            assert resp.status_code == 403, (method, path, resp.status_code)
            assert "Integrations" in resp.text
            resp = c.request(method, path, json=body, headers={"Authorization": f"Bearer {ro}"})
            if method == "GET":
                assert resp.status_code == 200, (method, path, resp.text[:200])
            else:
                assert resp.status_code == 403, (method, path, resp.status_code, resp.text[:200])
                key = (method, path if path in ("/Users", "/Groups") else path[: path.index("/", 1) + 1])
                assert PERMISSION_OF[key] in resp.text, (method, path, resp.text[:300])
                assert str(resp.json().get("status")) == "403"
        # member changes need "Manage group members" and nothing else
        members = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                   "Operations": [{"op": "add", "path": "members", "value": [{"value": user_id}]}]}
        resp = c.patch(f"/Groups/{group_id}", json=members, headers={"Authorization": f"Bearer {ro}"})
        assert resp.status_code == 403 and "Manage group members" in resp.text
        members_key = _create_key(box, f"mem-{uuid.uuid4().hex[:6]}", ["integrations", "manage-group-members"])
        mem = _exchange(box, members_key).json()["accessToken"]
        assert c.patch(f"/Groups/{group_id}", json=members,
                       headers={"Authorization": f"Bearer {mem}"}).status_code in (200, 204)
        rename = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                  "Operations": [{"op": "replace", "path": "displayName", "value": "Renamed"}]}
        resp = c.patch(f"/Groups/{group_id}", json=rename, headers={"Authorization": f"Bearer {mem}"})
        assert resp.status_code == 403 and "Create, edit and delete groups" in resp.text
        # every refused write left the user as it was
        after = c.get(f"/Users/{user_id}", headers={"Authorization": f"Bearer {full}"}).json()
        assert after["active"] == before["active"] and after["userName"] == before["userName"]


def test_admin_routes_refuse_scim_credentials_and_never_show_key_secrets(sandbox) -> None:
    token = sandbox.token()
    with _http(sandbox.api_url) as c:
        for headers in ({}, {"Authorization": f"Bearer {token}"}, {"Authorization": f"Bearer {sandbox.api_key}"},
                        {"Authorization": "Bearer " + secrets.token_urlsafe(24)}):
            for method, path, body in [("GET", "/sandbox-admin/faults", None),
                                       ("PUT", "/sandbox-admin/faults", {"rate_500": 1.0}),
                                       ("POST", "/sandbox-admin/tokens", {"key_name": "x", "lifetime_seconds": 9}),
                                       ("POST", "/sandbox-admin/keys", {"name": "intruder"})]:
                resp = c.request(method, path, json=body, headers=headers)
                assert resp.status_code in (401, 403), (method, path, resp.status_code)
                assert token not in resp.text and sandbox.api_key not in resp.text
        # the faults were not changed by the refused PUT
        faults = sandbox.admin("GET", "/sandbox-admin/faults")
        assert not faults.get("rate_500")
    # a second key's secret never appears in answers to the first key
    other_key = _create_key(sandbox, f"other-{uuid.uuid4().hex[:6]}", ["integrations"])
    with _http(sandbox.scim_url) as c:
        for path in ("/Users", "/Groups", "/ServiceProviderConfig", "/Schemas", "/ResourceTypes"):
            resp = c.get(path, headers={"Authorization": f"Bearer {token}"})
            assert other_key not in resp.text and sandbox.api_key not in resp.text


def _status_ok(resp: httpx.Response, label: str) -> None:
    assert resp.status_code < 500, (label, resp.status_code, resp.text[:300])


def test_oversized_and_malicious_bodies_are_refused_and_the_store_is_untouched(box) -> None:
    token = box.token()
    auth = {"Authorization": f"Bearer {token}", "Content-Type": SCIM_CT}
    user_id, group_id = _ids(box, token)
    with _http(box.scim_url) as c:
        count_before = c.get("/Users", params={"count": 1}, headers=auth).json()["totalResults"]
        big = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "big@example.org",
               "displayName": "x" * (2 * 2**20)}
        resp = c.post("/Users", content=json.dumps(big), headers=auth)
        assert resp.status_code == 413, resp.status_code
        # a big body announced with a small Content-Length, and chunked bodies over the limit
        resp = c.post("/Users", content=iter([b'{"userName": "', b"y" * (2 * 2**20), b'"}']), headers=auth)
        assert resp.status_code in (400, 413), resp.status_code
        malicious: list[tuple[str, bytes]] = [
            ("deep nesting", b"[" * 100_000 + b"]" * 100_000),
            ("deep object", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
            ("huge number", b'{"userName": "n@example.org", "active": ' + b"9" * 100_000 + b"}"),
            ("NaN", b'{"userName": "nan@example.org", "active": NaN}'),
            ("nul bytes", b'{"userName": "a\\u0000b@example.org"}'),
            ("lone surrogate", b'{"userName": "\\ud800@example.org"}'),
            ("not utf-8", b'{"userName": "\xff\xfe@example.org"}'),
            ("array", b"[1,2,3]"),
            ("string", b'"hello"'),
            ("empty", b""),
            ("duplicate keys", b'{"userName": "a@example.org", "userName": "b@example.org", "schemas": []}'),
            ("prototype", b'{"__proto__": {"admin": true}, "constructor": {"x": 1}}'),
            ("wrong types", b'{"userName": 5, "active": "maybe", "emails": "x", "name": []}'),
        ]
        for label, payload in malicious:
            for method, path in (("POST", "/Users"), ("PATCH", f"/Users/{user_id}"), ("PUT", f"/Users/{user_id}"),
                                 ("POST", "/Groups"), ("PATCH", f"/Groups/{group_id}")):
                resp = c.request(method, path, content=payload, headers=auth)
                _status_ok(resp, f"{label} {method} {path}")
                if label not in ("nul bytes", "lone surrogate", "duplicate keys"):
                    assert resp.status_code >= 400, (label, method, path, resp.status_code)
        # still alive, nothing created by the junk, the user unchanged
        assert httpx.get(f"{box.api_url}/healthz", timeout=10).status_code == 200
        after = c.get("/Users", params={"count": 1}, headers=auth).json()["totalResults"]
        created = c.get("/Users", params={"filter": 'userName eq "big@example.org"'}, headers=auth).json()
        assert created["totalResults"] == 0
        assert after - count_before <= 3  # at most the three odd-but-valid userNames above
        assert c.get(f"/Users/{user_id}", headers=auth).status_code == 200


def test_malicious_query_strings_and_paths_never_500(sandbox) -> None:
    token = sandbox.token()
    auth = {"Authorization": f"Bearer {token}"}
    with _http(sandbox.scim_url) as c:
        for params in ({"startIndex": "-1"}, {"count": "-5"}, {"count": "99999999999999999999"},
                       {"startIndex": "abc"}, {"count": "1e9"}, {"attributes": "a" * 10_000},
                       {"excludedAttributes": "members,," * 100}, {"sortBy": "'; DROP TABLE users; --"},
                       {"filter": "x" * 30_000}, {"filter": '(' * 3_000 + 'userName eq "a"' + ')' * 3_000},
                       {"filter": " and ".join(['userName eq "a"'] * 1_000)}):
            resp = c.get("/Users", params=params, headers=auth)
            _status_ok(resp, str(params)[:80])
        for path in ("/Users/..%2F..%2Fetc%2Fpasswd", "/Users/" + "a" * 10_000, "/Users/%00", "/Groups/'%20OR%201=1",
                     "/Users/../../sandbox-admin/faults"):
            resp = c.get(path, headers=auth)
            _status_ok(resp, path[:60])
            assert resp.status_code in (400, 401, 404, 414), (path[:60], resp.status_code)
    assert httpx.get(f"{sandbox.api_url}/healthz", timeout=10).status_code == 200
