"""The server checks the 6clicks permission before it validates a body or looks a resource up, so the console's
setup check can probe each of the six permissions without changing anything: a permitted caller gets 400/404
for the probe, an unpermitted one 403. The request log then shows no successful write."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.sandbox.conftest import assert_scim_error

PERMS = ["integrations", "create-users", "edit-users", "delete-users", "manage-groups", "manage-group-members"]
NOBODY = "00000000-0000-4000-8000-000000000000"  # an id that cannot exist
OP = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}
# permission -> probes: (method, path, body, status a permitted caller gets)
PROBES: dict[str, list[tuple[str, str, object, int]]] = {
    "integrations": [("GET", f"/Users/{NOBODY}", None, 404), ("GET", f"/Groups/{NOBODY}", None, 404)],
    "create-users": [("POST", "/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}, 400)],
    "edit-users": [("PATCH", f"/Users/{NOBODY}", {**OP, "Operations": [
        {"op": "replace", "path": "active", "value": False}]}, 404),
                   ("PUT", f"/Users/{NOBODY}", {"userName": "probe@example.invalid"}, 404)],
    "delete-users": [("DELETE", f"/Users/{NOBODY}", None, 404)],
    "manage-groups": [("POST", "/Groups", {"displayName": ""}, 400), ("DELETE", f"/Groups/{NOBODY}", None, 404),
                      ("PATCH", f"/Groups/{NOBODY}", {**OP, "Operations": [
                          {"op": "replace", "path": "displayName", "value": "Probe"}]}, 404)],
    "manage-group-members": [("PATCH", f"/Groups/{NOBODY}", {**OP, "Operations": [
        {"op": "add", "path": "members", "value": [{"value": NOBODY}]}]}, 404)],
}


def _token(box, permissions: list[str]) -> str:
    name = f"probe-{uuid.uuid4().hex[:8]}"
    key = box.admin("POST", "/sandbox-admin/keys", json={"name": name, "permissions": permissions})["apiKey"]
    resp = httpx.post(f"{box.api_url}/auth-api/1.0/auth/token", json={"apiKey": key, "isLongLivedToken": True})
    assert resp.status_code == 200
    return resp.json()["accessToken"]


def _writes(box) -> list[dict]:
    log = [json.loads(line) for line in (box.data_dir / "requests.log").read_text().splitlines() if line]
    return [e for e in log if e["method"] in ("POST", "PUT", "PATCH", "DELETE") and e["path"].startswith("/scim")
            and e["status"] is not None and e["status"] < 300]


@pytest.mark.parametrize("permission", PERMS)
def test_each_permission_is_probed_without_changing_anything(box, permission: str) -> None:
    writes_before = len(_writes(box))
    with box.client() as c:
        users_before = c.get("/Users", params={"count": 0}).json()["totalResults"]
        groups_before = c.get("/Groups", params={"count": 0}).json()["totalResults"]
    allowed = _token(box, PERMS)
    lacking = _token(box, [p for p in PERMS if p != permission])
    for method, path, body, permitted_status in PROBES[permission]:
        with box.client(allowed) as c:
            resp = c.request(method, path, json=body)
            assert_scim_error(resp, permitted_status)
        with box.client(lacking) as c:
            resp = c.request(method, path, json=body)
            detail = assert_scim_error(resp, 403)["detail"]
            assert f"({permission})" in detail, (method, path, detail)
    if permission != "integrations":  # without Integrations every SCIM call answers 403 first
        with box.client(_token(box, [p for p in PERMS if p != "integrations"])) as c:
            for method, path, body, _ in PROBES[permission]:
                assert_scim_error(c.request(method, path, json=body), 403)
    with box.client() as c:
        assert c.get("/Users", params={"count": 0}).json()["totalResults"] == users_before
        assert c.get("/Groups", params={"count": 0}).json()["totalResults"] == groups_before
    assert len(_writes(box)) == writes_before  # the request log shows no successful write


def test_group_write_without_either_group_permission_is_403_before_the_body_is_read(box) -> None:
    token = _token(box, ["integrations", "create-users", "edit-users", "delete-users"])
    with box.client(token) as c:
        for method in ("PATCH", "PUT"):
            resp = c.request(method, f"/Groups/{NOBODY}", content=b"{not json")
            detail = assert_scim_error(resp, 403)["detail"]
            assert "manage-groups" in detail and "manage-group-members" in detail
