"""The sandbox's request log over real HTTP: a misbehaving client that puts a secret in the URL path, in a query
value under an innocuous name, in a filter or in a JSON body that the error detail echoes leaves no secret in
requests.log; the requests are logged all the same."""

from __future__ import annotations

import secrets
from typing import Any

import orjson


def test_secrets_in_odd_places_never_reach_the_request_log(sandbox_factory: Any) -> None:
    sb = sandbox_factory(seed_users=3, seed_groups=1)
    key = "6ck_" + secrets.token_hex(20)
    jwt = "eyJhbGciOiJIUzI1NiJ9." + secrets.token_urlsafe(40) + "." + secrets.token_urlsafe(32)
    entra = "Xy7" + "8Q~" + secrets.token_urlsafe(26)[:34]
    opaque = secrets.token_urlsafe(30)
    # Unknown attributes are ignored by default (a tolerance); strict, the 400 echoes the attribute's name.
    sb.admin("PUT", "/sandbox-admin/policy", json={"unknown-attributes": False})
    with sb.client() as c:
        assert c.get(f"/Users/{key}").status_code == 404                               # URL path
        assert c.get("/Users", params={"q": jwt, "count": 1}).status_code == 200        # innocuous query name
        assert c.get("/Users", params={"filter": f'userName eq "{entra}" bogus'}).status_code == 400
        user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x@x.example", opaque: 1}
        assert c.post("/Users", json=user).status_code == 400                           # echoed in the detail
        assert c.get("/Users", params={"startIndex": 1, "note": f"Bearer {opaque}"}).status_code == 200
    blob = (sb.data_dir / "requests.log").read_bytes()
    for name, secret in {"API key": key, "JWT": jwt, "Entra secret": entra, "opaque key": opaque}.items():
        assert secret.encode() not in blob, f"the {name} is in the request log"
    assert sb.token().encode() not in blob
    entries = [orjson.loads(line) for line in blob.splitlines()]
    paths = [(e["method"], e["path"], e.get("status")) for e in entries]
    assert ("GET", "/scim/Users/[redacted]", 404) in paths
    assert ("POST", "/scim/Users", 400) in paths
    posted = next(e for e in entries if e["method"] == "POST" and e["path"] == "/scim/Users")
    assert "outside the User schema" in posted["detail"] and "[redacted]" in posted["detail"]
    assert any(e.get("query") == "q=[redacted]&count=1" for e in entries)
