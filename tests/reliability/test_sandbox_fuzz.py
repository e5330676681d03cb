"""Hypothesis against the running sandbox over HTTP: random and adversarial filters and PATCH bodies never get
a 5xx or kill the server, errors are SCIM errors, and a refused PATCH leaves the resource exactly as it was."""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)
FUZZ_ROUTES = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

# -- filters --------------------------------------------------------------------------------------------------
nasty_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(['"', "\\", '\\"', "'", "%", "_", "*", "' OR 1=1 --", "\"; DROP TABLE users; --",
                     "\u0000", "\u202e", "😀", "ß", "İ", "a\nb", "%25", "%22", "+", "null", "true"]),
)
attr = st.sampled_from(["userName", "externalId", "displayName", "emails[type eq \"work\"].value", "emails.value",
                        "name.givenName", "active", "id", "meta.lastModified", "members.value", "unknownAttr",
                        "urn:ietf:params:scim:schemas:core:2.0:User:userName", "USERNAME", "emails[", "a.b.c.d"])
op = st.sampled_from(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "EQ", "Eq", "xx", ""])


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


comparison = st.builds(lambda a, o, v, raw: f"{a} {o}" if o == "pr" else f"{a} {o} {v if raw else _quote(v)}",
                       attr, op, nasty_text, st.booleans())
filters = st.recursive(
    comparison,
    lambda inner: st.one_of(
        st.builds(lambda a, b, j: f"{a} {j} {b}", inner, inner, st.sampled_from(["and", "or", "AND", "xor"])),
        st.builds(lambda a: f"not ({a})", inner),
        st.builds(lambda a: f"({a}", inner),
        st.builds(lambda a: f"({a})", inner),
    ),
    max_leaves=6,
) | st.text(max_size=60)


@pytest.fixture()
def box(sandbox_factory):
    """A sandbox of our own for the tests that write (the session sandbox is shared)."""
    return sandbox_factory(seed_users=20, seed_groups=3)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}


def _is_scim_error(resp: httpx.Response) -> bool:
    try:
        doc = resp.json()
    except ValueError:
        return False
    return isinstance(doc, dict) and str(doc.get("status")) == str(resp.status_code)


def test_random_filters_get_a_list_or_a_scim_400(sandbox) -> None:
    token = sandbox.token()
    with httpx.Client(base_url=sandbox.scim_url, timeout=30, headers=_auth(token)) as c:
        total = c.get("/Users", params={"count": 1}).json()["totalResults"]

        @FUZZ
        @given(f=filters, resource=st.sampled_from(["/Users", "/Groups"]))
        def check(f: str, resource: str) -> None:
            resp = c.get(resource, params={"filter": f, "count": 5})
            assert resp.status_code in (200, 400), (f, resp.status_code, resp.text[:300])
            if resp.status_code == 400:
                assert _is_scim_error(resp), resp.text[:300]
                assert resp.json().get("scimType") in ("invalidFilter", "invalidValue", "invalidSyntax", None)
            else:
                doc = resp.json()
                assert doc["totalResults"] >= len(doc.get("Resources") or [])
                assert all("id" in r for r in doc.get("Resources") or [])

        check()
        # reads changed nothing and the server is alive
        assert c.get("/Users", params={"count": 1}).json()["totalResults"] == total


def test_literal_values_are_matched_literally(box) -> None:
    """A userName full of filter and SQL metacharacters can be created and found again, and matches only
    itself (no wildcard or injection effect)."""
    token = box.token()
    with httpx.Client(base_url=box.scim_url, timeout=30, headers=_auth(token)) as c:
        for odd in ['o"brien\\x%_*@example.org', "' OR '1'='1@example.org", "zoë.ß.😀@example.org"]:
            name = f"{uuid.uuid4().hex[:6]}{odd}"
            created = c.post("/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                             "userName": name, "active": True})
            assert created.status_code == 201, created.text[:300]
            found = c.get("/Users", params={"filter": f"userName eq {_quote(name)}"}).json()
            assert found["totalResults"] == 1 and found["Resources"][0]["userName"] == name
            like = c.get("/Users", params={"filter": f"userName eq {_quote(name[:-3] + '%')}"}).json()
            assert like["totalResults"] == 0
            c.delete(f"/Users/{created.json()['id']}")


# -- PATCH ----------------------------------------------------------------------------------------------------
json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | nasty_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
        ["value", "display", "type", "primary", "givenName", "active", "userName", "members", "x"]), inner,
        max_size=3),
    max_leaves=6,
)
patch_path = st.one_of(
    st.none(),
    st.sampled_from(["active", "displayName", "userName", "name.givenName", "name.familyName", "externalId",
                     "emails[type eq \"work\"].value", "emails", "members", "members[value eq \"nope\"]",
                     "members[value eq ", "id", "meta.created", "schemas", "urn:unknown:ext:attr",
                     "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "", "][", "a.b.c"]),
    st.text(max_size=20),
)
operation = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "replace", "remove", "Add", "Replace", "REMOVE", "copy", "", "move"])},
    optional={"path": patch_path, "value": json_value},
)
patch_body = st.one_of(
    st.fixed_dictionaries({"schemas": st.just([PATCH_SCHEMA]),
                           "Operations": st.lists(operation, min_size=0, max_size=4)}),
    st.fixed_dictionaries({"Operations": st.lists(operation, max_size=2)}),
    json_value,
)


def _stable(doc: dict) -> str:
    return json.dumps(doc, sort_keys=True)


def test_random_patch_bodies_never_5xx_and_refusals_change_nothing(box) -> None:
    token = box.token()
    with httpx.Client(base_url=box.scim_url, timeout=30, headers=_auth(token)) as c:
        user = c.post("/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                      "userName": f"fuzz-{uuid.uuid4().hex[:8]}@example.org",
                                      "name": {"givenName": "Fuzz", "familyName": "Target"}, "active": True})
        assert user.status_code == 201, user.text[:300]
        group = c.post("/Groups", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                        "displayName": f"Fuzz {uuid.uuid4().hex[:8]}"})
        assert group.status_code == 201, group.text[:300]
        targets = {"/Users/" + user.json()["id"]: "user", "/Groups/" + group.json()["id"]: "group"}

        @FUZZ
        @given(body=patch_body, path=st.sampled_from(sorted(targets)))
        def check(body: object, path: str) -> None:
            before = c.get(path)
            assert before.status_code == 200
            resp = c.patch(path, content=json.dumps(body))
            assert resp.status_code < 500, (body, resp.status_code, resp.text[:300])
            after = c.get(path)
            assert after.status_code == 200, "a PATCH removed or broke the resource"
            doc = after.json()
            assert doc["id"] == path.rsplit("/", 1)[1]
            if targets[path] == "user":
                assert isinstance(doc["userName"], str) and doc["userName"]
                assert isinstance(doc.get("active", True), bool)
            else:
                assert isinstance(doc["displayName"], str)
                assert all(isinstance(m.get("value"), str) for m in doc.get("members") or [])
            if resp.status_code >= 400:
                assert _is_scim_error(resp), resp.text[:300]
                assert _stable(after.json()) == _stable(before.json()), "a refused PATCH changed the resource"

        check()
    assert httpx.get(f"{box.api_url}/healthz", timeout=10).status_code == 200


# -- any request shape, on every route (issue 12) ------------------------------------------------------------
SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
ROUTES = [  # (method, path template); {u} {g} {sp} {job} {tenant} are filled in, {x} is random text
    ("GET", "/scim/Users"), ("POST", "/scim/Users"), ("GET", "/scim/Users/{u}"), ("PUT", "/scim/Users/{u}"),
    ("PATCH", "/scim/Users/{u}"), ("GET", "/scim/Users/{x}"), ("PATCH", "/scim/Users/{x}"),
    ("POST", "/scim/Users/.search"), ("GET", "/scim/Groups"), ("POST", "/scim/Groups"),
    ("GET", "/scim/Groups/{g}"), ("PUT", "/scim/Groups/{g}"), ("PATCH", "/scim/Groups/{g}"),
    ("POST", "/scim/Groups/.search"), ("POST", "/scim/.search"), ("GET", "/scim/Schemas/{x}"),
    ("GET", "/scim/ServiceProviderConfig"), ("POST", "/auth-api/1.0/auth/token"),
    ("PUT", "/sandbox-admin/faults"), ("POST", "/sandbox-admin/tokens"), ("POST", "/sandbox-admin/keys"),
    ("PUT", "/sandbox-admin/keys/{x}/permissions"), ("DELETE", "/sandbox-admin/keys/{x}"),
    ("POST", "/login/{tenant}/oauth2/v2.0/token"), ("POST", "/login/{x}/oauth2/v2.0/token"),
    ("GET", "/graph/v1.0/auditLogs/provisioning"), ("GET", "/graph/v1.0/servicePrincipals/{sp}/synchronization/jobs"),
    ("PUT", "/graph/v1.0/servicePrincipals/{sp}/synchronization/secrets"),
    ("POST", "/graph/v1.0/servicePrincipals/{sp}/synchronization/jobs/{job}/validateCredentials"),
    ("POST", "/graph/v1.0/servicePrincipals/{sp}/synchronization/jobs/{job}/restart"),
    ("POST", "/graph/v1.0/servicePrincipals/{sp}/synchronization/jobs/{job}/provisionOnDemand"),
    ("POST", "/sandbox-admin/entra/tenant"), ("PUT", "/sandbox-admin/entra/graph-permissions"),
]
query_value = st.one_of(nasty_text, st.integers(-2**70, 2**70).map(str), st.sampled_from(
    ["%ED%A0%80", "%80", "%C3", "\ufffd", "9" * 400, "1e5", "", "-0", "2147483648"]))
query = st.dictionaries(st.sampled_from(["filter", "startIndex", "count", "attributes", "excludedAttributes",
                                         "$filter", "$top", "$skiptoken", "x"]), query_value, max_size=3)
raw_body = st.one_of(
    st.none(),
    json_value.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.sampled_from([b"{", b"[" * 600 + b"]" * 600, b'{"a":' * 600 + b"1" + b"}" * 600, b'{"x": NaN}',
                     b'{"filter": "\\ud800"}', b"\xed\xa0\x80", b"grant_type=client_credentials&client_id=%ED%A0%80"]),
)


def _has_error_body(resp: httpx.Response) -> bool:
    try:
        doc = resp.json()
    except ValueError:
        return False
    if not isinstance(doc, dict):
        return False
    if doc.get("schemas") == [SCIM_ERROR]:
        return doc.get("status") == str(resp.status_code) and bool(doc.get("detail"))
    error = doc.get("error")
    return bool(error) and (isinstance(error, str) or (isinstance(error, dict) and bool(error.get("code"))))


def test_no_request_shape_gets_a_500_or_an_empty_error(sandbox_factory) -> None:
    """Random methods' bodies, query strings and credentials on every route of the sandbox, its Graph emulator
    and its admin API: every answer is below 500, and every error carries an error body."""
    box = sandbox_factory(seed_users=15, seed_groups=3)
    token = box.token()
    with httpx.Client(base_url=box.scim_url, timeout=30, headers=_auth(token)) as c:
        ids = {"u": c.get("/Users", params={"count": 1}).json()["Resources"][0]["id"],
               "g": c.get("/Groups", params={"count": 1}).json()["Resources"][0]["id"],
               "sp": box.service_principal_id or "sp", "job": box.job_id or "job", "tenant": box.tenant_id or "t"}
    graph_token = None
    if box.graph_url:
        graph_token = httpx.post(f"{box.login_url}/{box.tenant_id}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": box.client_id, "client_secret": box.client_secret,
            "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
    credentials = {"none": None, "scim": token, "admin": box.admin_token, "graph": graph_token, "junk": "x.y.z"}
    routes = [r for r in ROUTES if box.graph_url or not ("/graph/" in r[1] or "/login/" in r[1] or "entra" in r[1])]

    with httpx.Client(base_url=box.api_url, timeout=30) as client:

        @FUZZ_ROUTES
        @given(route=st.sampled_from(routes), text=st.text(max_size=12), params=query, body=raw_body,
               who=st.sampled_from(sorted(credentials)),
               content_type=st.sampled_from(["application/scim+json", "application/json",
                                             "application/x-www-form-urlencoded", "text/plain"]))
        def check(route, text, params, body, who, content_type) -> None:
            method, template = route
            path = template.format(x=quote(text or "x", safe=""), **ids)
            headers = {"Content-Type": content_type}
            if credentials[who]:
                headers["Authorization"] = f"Bearer {credentials[who]}"
            qs = "&".join(f"{quote(k)}={v if v.startswith('%') else quote(v)}" for k, v in params.items())
            resp = client.request(method, path + ("?" + qs if qs else ""), content=body, headers=headers)
            shown = (method, path, params, (body or b"")[:80], who)
            assert resp.status_code < 500, (shown, resp.status_code, resp.text[:300])
            if resp.status_code >= 400:
                assert _has_error_body(resp), (shown, resp.status_code, resp.text[:300])
            if template == "/sandbox-admin/faults" and resp.status_code == 200:
                client.put("/sandbox-admin/faults", json={},  # a valid random fault setting must not leak
                           headers={"Authorization": f"Bearer {box.admin_token}"})

        check()
    assert httpx.get(f"{box.api_url}/healthz", timeout=10).status_code == 200
    assert "Traceback" not in box.stderr_text(), "no defect reached the server's stderr"
