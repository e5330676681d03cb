"""Token exchange, bearer checks (missing, malformed, expired, revoked, permission removed) and permissions."""

from __future__ import annotations

import subprocess
import sys
import uuid

import httpx
import jwt
import pytest

from tests.sandbox.conftest import assert_scim_error, new_group, new_user
from tests.sandbox_fixture import REPO, AdminError

PERMS = ["integrations", "create-users", "edit-users", "delete-users", "manage-groups", "manage-group-members"]


def exchange(box, key: str, long_lived: object = True) -> httpx.Response:
    return httpx.post(f"{box.api_url}/auth-api/1.0/auth/token", json={"apiKey": key, "isLongLivedToken": long_lived})


def make_key(box, permissions: list[str]) -> tuple[str, str]:
    name = f"k-{uuid.uuid4().hex[:8]}"
    created = box.admin("POST", "/sandbox-admin/keys", json={"name": name, "permissions": permissions})
    return name, created["apiKey"]


def token_for(box, key: str) -> str:
    resp = exchange(box, key)
    assert resp.status_code == 200, resp.text
    return resp.json()["accessToken"]


def test_token_exchange_long_and_short_lived(box) -> None:
    for long_lived, seconds in ((True, 365 * 24 * 3600), (False, 3600), ("true", 365 * 24 * 3600)):
        resp = exchange(box, box.api_key.upper(), long_lived)  # keys compare case-insensitively
        assert resp.status_code == 200, resp.text
        token = resp.json()["accessToken"]
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == seconds
        assert claims["sub"] == "default" and claims["jti"] and claims["kid"]
        assert box.api_key not in resp.text


def test_token_exchange_refuses_unknown_and_malformed(box) -> None:
    resp = exchange(box, "6ck_" + uuid.uuid4().hex)
    assert resp.status_code == 401 and "accessToken" not in resp.json()
    assert httpx.post(f"{box.api_url}/auth-api/1.0/auth/token", json={"isLongLivedToken": True}).status_code == 400
    assert httpx.post(f"{box.api_url}/auth-api/1.0/auth/token", content=b"{nope",
                      headers={"content-type": "application/json"}).status_code == 400


@pytest.mark.parametrize("header", [None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer not-a-jwt",
                                    "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZWZhdWx0In0.c2lnbmF0dXJl"])
def test_missing_or_malformed_bearer_is_401(box, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    for path in ("/Users", "/Groups", "/ServiceProviderConfig", "/Schemas", "/ResourceTypes"):
        resp = httpx.get(f"{box.scim_url}{path}", headers=headers)
        assert_scim_error(resp, 401)
        assert resp.headers.get("www-authenticate", "").lower().startswith("bearer")


def test_token_signed_by_someone_else_is_401(box) -> None:
    forged = jwt.encode({"iss": "scim-sandbox", "sub": "default", "kid": "x", "pv": 0, "exp": 4102444800},
                        "not-the-server-key-but-long-enough-for-hs256", algorithm="HS256")
    assert_scim_error(httpx.get(f"{box.scim_url}/Users", headers={"Authorization": f"Bearer {forged}"}), 401)


def test_expired_token_is_401_saying_expired(box) -> None:
    short = box.admin("POST", "/sandbox-admin/tokens", json={"key_name": "default", "lifetime_seconds": -5})
    resp = httpx.get(f"{box.scim_url}/Users", headers={"Authorization": f"Bearer {short['accessToken']}"})
    body = assert_scim_error(resp, 401)
    assert "expired" in body["detail"].lower()
    # a custom positive lifetime works
    ok = box.admin("POST", "/sandbox-admin/tokens", json={"key_name": "default", "lifetime_seconds": 120})
    assert httpx.get(f"{box.scim_url}/Users", headers={"Authorization": f"Bearer {ok['accessToken']}"}).status_code == 200
    with pytest.raises(AdminError) as err:
        box.admin("POST", "/sandbox-admin/tokens", json={"key_name": "nobody", "lifetime_seconds": 60})
    assert err.value.status == 404


def test_revoked_key_invalidates_issued_tokens_at_once(box) -> None:
    name, key = make_key(box, PERMS)
    token = token_for(box, key)
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{box.scim_url}/Users", headers=auth).status_code == 200
    box.admin("DELETE", f"/sandbox-admin/keys/{name}")
    assert "revoked" in assert_scim_error(httpx.get(f"{box.scim_url}/Users", headers=auth), 401)["detail"]
    assert exchange(box, key).status_code == 401
    # a new key under the same name does not revive the old token
    make_key_named = box.admin("POST", "/sandbox-admin/keys", json={"name": name, "permissions": PERMS})
    assert make_key_named["apiKey"] != key
    assert_scim_error(httpx.get(f"{box.scim_url}/Users", headers=auth), 401)


def test_revocation_through_the_cli_reaches_the_running_server(box) -> None:
    name, key = make_key(box, PERMS)
    auth = {"Authorization": f"Bearer {token_for(box, key)}"}
    out = subprocess.run([sys.executable, "-m", "sandbox", "keys", "revoke", name, "--data-dir", str(box.data_dir)],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert_scim_error(httpx.get(f"{box.scim_url}/Users", headers=auth), 401)


def test_permission_removed_after_issue_is_401_then_403_for_new_tokens(box) -> None:
    name, key = make_key(box, PERMS)
    token = token_for(box, key)
    auth = {"Authorization": f"Bearer {token}"}
    box.admin("PUT", f"/sandbox-admin/keys/{name}/permissions",
              json={"permissions": ["integrations", "edit-users"]})
    body = assert_scim_error(httpx.get(f"{box.scim_url}/Users", headers=auth), 401)
    assert "permission" in body["detail"].lower()
    fresh = {"Authorization": f"Bearer {token_for(box, key)}"}
    assert httpx.get(f"{box.scim_url}/Users", headers=fresh).status_code == 200
    body = assert_scim_error(httpx.post(f"{box.scim_url}/Users", headers=fresh, json={"userName": "nope@x.example"}), 403)
    assert "Create new users" in body["detail"]
    # adding a permission back does not invalidate tokens
    box.admin("PUT", f"/sandbox-admin/keys/{name}/permissions", json={"permissions": PERMS})
    assert httpx.get(f"{box.scim_url}/Users", headers=fresh).status_code == 200


@pytest.mark.parametrize("missing,label", [
    ("integrations", "Integrations"),
    ("create-users", "Create new users"),
    ("edit-users", "Edit users"),
    ("delete-users", "Delete users"),
    ("manage-groups", "Create, edit and delete groups"),
    ("manage-group-members", "Manage group members"),
])
def test_each_operation_needs_its_6clicks_permission(box, missing: str, label: str) -> None:
    with box.client() as admin:
        user = new_user(admin, f"perm-{uuid.uuid4().hex[:8]}@contoso.example")
        group = new_group(admin, f"Perm {uuid.uuid4().hex[:8]}")
    _, key = make_key(box, [p for p in PERMS if p != missing])
    attempts = {
        "integrations": ("GET", "/Users", None),
        "create-users": ("POST", "/Users", {"userName": f"x-{uuid.uuid4().hex[:6]}@contoso.example"}),
        "edit-users": ("PATCH", f"/Users/{user['id']}",
                       {"Operations": [{"op": "Replace", "path": "active", "value": "False"}]}),
        "delete-users": ("DELETE", f"/Users/{user['id']}", None),
        "manage-groups": ("PATCH", f"/Groups/{group['id']}",
                          {"Operations": [{"op": "Replace", "path": "displayName", "value": "Renamed"}]}),
        "manage-group-members": ("PATCH", f"/Groups/{group['id']}",
                                 {"Operations": [{"op": "Add", "path": "members", "value": [{"value": user["id"]}]}]}),
    }
    with box.client(token_for(box, key)) as c:
        method, path, body = attempts[missing]
        resp = c.request(method, path, json=body)
        detail = assert_scim_error(resp, 403)["detail"]
        assert label in detail
        if missing == "manage-groups":
            assert_scim_error(c.post("/Groups", json={"displayName": "Nope"}), 403)
            assert_scim_error(c.delete(f"/Groups/{group['id']}"), 403)
        if missing != "integrations":
            assert c.get("/Users", params={"count": 1}).status_code == 200
    with box.client() as admin:  # nothing happened
        after = admin.get(f"/Users/{user['id']}")
        assert after.status_code == 200 and after.json()["active"] is True
        assert admin.get(f"/Groups/{group['id']}").json()["displayName"].startswith("Perm ")


def test_admin_routes_need_the_admin_token(box) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {box.token()}"},
                    {"Authorization": f"Bearer {box.api_key}"}):
        for method, path, body in (("GET", "/sandbox-admin/faults", None),
                                   ("PUT", "/sandbox-admin/faults", {"rate_500": 1}),
                                   ("POST", "/sandbox-admin/tokens", {"key_name": "default", "lifetime_seconds": 9}),
                                   ("POST", "/sandbox-admin/keys", {"name": "intruder"}),
                                   ("DELETE", "/sandbox-admin/keys/default", None)):
            resp = httpx.request(method, f"{box.api_url}{path}", json=body, headers=headers)
            assert resp.status_code == 401, (method, path, resp.status_code)
            assert "accessToken" not in resp.text and "apiKey" not in resp.text
    assert box.admin("GET", "/sandbox-admin/faults")["rate_500"] == 0
    assert "intruder" not in {k["name"] for k in box.admin("GET", "/sandbox-admin/keys")}
