"""Bad input never crashes the server or corrupts the store; filters match literally; paging is bounded."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sandbox.conftest import assert_scim_error, new_user

WEIRD_NAMES = [
    'quote"inside@contoso.example',
    "back\\slash@contoso.example",
    "o'brien@contoso.example",
    "x' OR '1'='1@contoso.example",
    'x" or "1" eq "1@contoso.example',
    "robert'); DROP TABLE users;--@contoso.example",
    "50%_off@contoso.example",
    "zoë.ñandú@exämple.example",
    "日本語ユーザー@contoso.example",
    "emoji🙂@contoso.example",
]


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def test_malformed_json_is_400_invalid_syntax(scim: httpx.Client) -> None:
    for body in (b"{", b"not json", b"[1, 2", b"", b'{"userName": "a",}'):
        resp = scim.post("/Users", content=body, headers={"content-type": "application/scim+json"})
        assert_scim_error(resp, 400, "invalidSyntax")
    assert_scim_error(scim.post("/Users", json=["a list"]), 400, "invalidSyntax")
    assert_scim_error(scim.patch(f"/Users/{uuid.uuid4()}", content=b"{", headers={"content-type": "application/json"}), 400)


@pytest.mark.parametrize("filt", [
    "userName eq", 'userName eq "unterminated', "userName xx \"a\"", "(userName eq \"a\"", "eq \"a\"",
    'nosuchattribute eq "a"', 'urn:other:schema:userName eq "a"', 'phoneNumbers.value eq "1"',
    'active eq "maybe"', 'emails[type eq "home"].value eq "a"', "userName eq \"a\" and",
])
def test_invalid_or_unsupported_filter_is_400_invalid_filter(scim: httpx.Client, filt: str) -> None:
    body = assert_scim_error(scim.get("/Users", params={"filter": filt}), 400, "invalidFilter")
    assert "Example" in body["detail"] or "Supported" in body["detail"] or "boolean" in body["detail"] or "work" in body["detail"]


def test_overlong_filter_and_bad_paging_values(scim: httpx.Client) -> None:
    assert_scim_error(scim.get("/Users", params={"filter": 'userName eq "' + "a" * 5000 + '"'}), 400, "invalidFilter")
    assert_scim_error(scim.get("/Users", params={"count": "ten"}), 400)
    assert_scim_error(scim.get("/Users", params={"startIndex": "1.5"}), 400)


def test_body_over_one_mib_is_413_and_nothing_is_stored(scim: httpx.Client) -> None:
    name = f"huge-{uuid.uuid4().hex[:6]}@contoso.example"
    body = {"userName": name, "title": "x" * (1024 * 1024 + 10)}
    assert_scim_error(scim.post("/Users", json=body), 413)
    assert scim.get("/Users", params={"filter": f'userName eq "{name}"'}).json()["totalResults"] == 0

    def chunks():  # no Content-Length: the limit still holds while streaming
        yield b'{"userName": "' + name.encode() + b'", "title": "'
        for _ in range(20):
            yield b"y" * 65536
        yield b'"}'

    resp = scim.post("/Users", content=chunks(), headers={"content-type": "application/scim+json"})
    assert_scim_error(resp, 413)


def test_weird_strings_are_stored_and_matched_literally(scim: httpx.Client) -> None:
    # e-mail addresses are validated (scim2-models), so these users carry only a userName
    created = {name: new_user(scim, name, email=False)["id"] for name in WEIRD_NAMES}
    for name, uid in created.items():
        resp = scim.get("/Users", params={"filter": f"userName eq {_quote(name)}"})
        assert resp.status_code == 200, (name, resp.text)
        assert [u["id"] for u in resp.json()["Resources"]] == [uid], name
    # LIKE wildcards and SQL fragments never widen a match
    for probe in ("%", "_", "' OR 1=1 --", '" or ""="', "*"):
        resp = scim.get("/Users", params={"filter": f"userName eq {_quote(probe)}"})
        assert resp.status_code == 200 and resp.json()["totalResults"] == 0
    resp = scim.get("/Users", params={"filter": 'userName sw "50%"'})
    assert [u["userName"] for u in resp.json()["Resources"]] == ["50%_off@contoso.example"]
    resp = scim.get("/Users", params={"filter": 'userName co "_off"'})
    assert resp.json()["totalResults"] == 1
    resp = scim.get("/Users", params={"filter": 'userName ew "ユーザー@contoso.example"'})
    assert resp.json()["totalResults"] == 1
    # the store still works
    assert scim.get("/Users", params={"count": 1}).status_code == 200


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(min_size=0, max_size=40))
def test_any_string_in_a_filter_is_matched_literally(scim: httpx.Client, value: str) -> None:
    resp = scim.get("/Users", params={"filter": f"userName eq {_quote(value)}"})
    if resp.status_code == 400:  # characters JSON strings cannot carry raw (controls) are a clean 400
        assert resp.json()["scimType"] == "invalidFilter"
        return
    assert resp.status_code == 200, resp.text
    for user in resp.json()["Resources"]:
        assert user["userName"].lower() == value.lower()


def test_filter_operators_and_logic(scim: httpx.Client) -> None:
    tag = uuid.uuid4().hex[:6]
    a = new_user(scim, f"alpha-{tag}@contoso.example", name={"givenName": "Alpha", "familyName": tag})
    b = new_user(scim, f"beta-{tag}@contoso.example", name={"givenName": "Beta", "familyName": tag})

    def ids(filt: str) -> set[str]:
        resp = scim.get("/Users", params={"filter": filt, "count": 100})
        assert resp.status_code == 200, (filt, resp.text)
        return {u["id"] for u in resp.json()["Resources"]}

    assert ids(f'userName sw "alpha-{tag}"') == {a["id"]}
    assert ids(f'userName ew "{tag}@contoso.example"') == {a["id"], b["id"]}
    assert ids(f'userName co "-{tag}@" and not (userName sw "beta")') == {a["id"]}
    assert ids(f'userName eq "alpha-{tag}@contoso.example" or userName eq "beta-{tag}@contoso.example"') == {a["id"], b["id"]}
    assert ids(f'name.familyName eq "{tag}" and name.givenName eq "beta"') == {b["id"]}
    assert ids(f'id eq "{a["id"]}"') == {a["id"]}
    assert ids(f'USERNAME EQ "ALPHA-{tag}@CONTOSO.EXAMPLE"') == {a["id"]}  # names and operators case-insensitive
    assert ids(f'urn:ietf:params:scim:schemas:core:2.0:User:userName eq "alpha-{tag}@contoso.example"') == {a["id"]}
    assert a["id"] in ids(f'meta.created ge "{a["meta"]["created"]}"')


def test_paging_is_bounded_by_the_advertised_maximum(scim: httpx.Client) -> None:
    spc = scim.get("/ServiceProviderConfig").json()
    maximum = spc["filter"]["maxResults"]
    assert maximum == 100
    total = scim.get("/Users", params={"count": 0}).json()
    assert total["Resources"] == [] and total["totalResults"] >= 60
    big = scim.get("/Users", params={"count": 10_000}).json()
    assert big["itemsPerPage"] == len(big["Resources"]) == min(maximum, total["totalResults"])
    # walking pages with startIndex returns every user exactly once
    seen: list[str] = []
    start = 1
    while True:
        page = scim.get("/Users", params={"startIndex": start, "count": 7}).json()
        assert page["startIndex"] == start
        seen += [u["id"] for u in page["Resources"]]
        if not page["Resources"]:
            break
        start += len(page["Resources"])
    assert len(seen) == len(set(seen)) == total["totalResults"]
    beyond = scim.get("/Users", params={"startIndex": total["totalResults"] + 50}).json()
    assert beyond["Resources"] == [] and beyond["totalResults"] == total["totalResults"]
    assert scim.get("/Users", params={"startIndex": -3, "count": 1}).json()["startIndex"] == 1


def test_smaller_max_page_size_by_flag(sandbox_factory) -> None:
    box = sandbox_factory(seed_users=30, seed_groups=2, max_page_size=10)
    with box.client() as c:
        assert c.get("/ServiceProviderConfig").json()["filter"]["maxResults"] == 10
        page = c.get("/Users", params={"count": 25}).json()
        assert page["totalResults"] == 30 and len(page["Resources"]) == 10


def test_attributes_and_excluded_attributes(scim: httpx.Client) -> None:
    user = new_user(scim, f"attr-{uuid.uuid4().hex[:6]}@contoso.example", name={"givenName": "G", "familyName": "F"})
    one = scim.get(f"/Users/{user['id']}", params={"attributes": "userName,name.givenName"}).json()
    assert set(one) <= {"schemas", "id", "meta", "userName", "name"} and one["name"] == {"givenName": "G"}
    two = scim.get(f"/Users/{user['id']}", params={"excludedAttributes": "emails,name"}).json()
    assert "emails" not in two and "name" not in two and two["userName"] == user["userName"]
    listed = scim.get("/Users", params={"filter": f'id eq "{user["id"]}"', "attributes": "active"}).json()
    assert set(listed["Resources"][0]) <= {"schemas", "id", "meta", "active"}


def test_unknown_endpoints_and_methods(scim: httpx.Client) -> None:
    assert_scim_error(scim.get("/Nope"), 404)
    assert_scim_error(scim.post("/ServiceProviderConfig", json={}), 405)
    assert_scim_error(scim.put("/Users", json={}), 405)
    assert_scim_error(scim.get(f"/Users/{uuid.uuid4()}/extra"), 404)


def test_patch_errors_leave_the_user_unchanged(scim: httpx.Client) -> None:
    user = new_user(scim, f"patch-{uuid.uuid4().hex[:6]}@contoso.example", title="Keep")
    for body in ({}, {"Operations": []}, {"Operations": [{"op": "explode", "path": "title", "value": "x"}]},
                 {"Operations": [{"op": "Replace", "path": "title[", "value": "x"}]},
                 {"Operations": [{"op": "Replace", "path": "title", "value": "ok"}, {"op": "Remove"}]},
                 {"Operations": "not a list"}):
        resp = scim.patch(f"/Users/{user['id']}", json=body)
        assert resp.status_code == 400, (body, resp.text)
    assert scim.get(f"/Users/{user['id']}").json()["title"] == "Keep"


# --- issue 12: bad input is a 400 (or 413) with an error body, never a 500 -------------------------------------

ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
DEEP = "[" * 600 + "]" * 600
DEEP_OBJECT = '{"a":' * 600 + "1" + "}" * 600


def _admin(box, method: str, path: str, **kw) -> httpx.Response:
    return httpx.request(method, f"{box.api_url}{path}", timeout=30,
                         headers={"Authorization": f"Bearer {box.admin_token}", **kw.pop("headers", {})}, **kw)


def _assert_admin_error(resp: httpx.Response, status: int = 400) -> dict:
    """Admin routes answer a SCIM error body, and keep their ``error`` field."""
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    body = resp.json()
    assert body["schemas"] == [ERROR_URN] and body["status"] == str(status), body
    assert body["detail"] and body["error"] == body["detail"]
    return body


@pytest.mark.parametrize("start", [10**30, 2**63, 2**63 - 1, 2**31, "9" * 5000])
def test_a_huge_start_index_is_400(scim: httpx.Client, start) -> None:
    for resource in ("/Users", "/Groups"):
        assert_scim_error(scim.get(resource, params={"startIndex": start}), 400, "invalidValue")
    if isinstance(start, int) and start < 2**63:  # JSON numbers up to 64 bits reach the check itself
        for path in ("/Users/.search", "/Groups/.search", "/.search"):
            assert_scim_error(scim.post(path, json={"startIndex": start}), 400, "invalidValue")


def test_the_largest_start_index_is_an_empty_page(scim: httpx.Client) -> None:
    doc = scim.get("/Users", params={"startIndex": 2**31 - 1}).json()
    assert doc["Resources"] == [] and doc["startIndex"] == 2**31 - 1 and doc["totalResults"] > 0
    doc = scim.get("/Users", params={"startIndex": -(10**30), "count": 10**30}).json()  # RFC: 1 and the maximum
    assert doc["startIndex"] == 1 and 0 < doc["itemsPerPage"] <= 100


@pytest.mark.parametrize("query", [
    'filter=userName%20eq%20%22%ED%A0%80%22',   # a lone surrogate, UTF-8-encoded
    'filter=displayName%20eq%20%22%ED%B0%80x%22',
    'filter=userName%20eq%20%22%80%22',          # a stray continuation byte
    'filter=userName%20sw%20%22%C3%22',          # a truncated sequence
])
def test_a_filter_that_is_not_utf8_text_is_400(scim: httpx.Client, query: str) -> None:
    for resource in ("/Users", "/Groups"):
        body = assert_scim_error(scim.get(f"{resource}?{query}"), 400, "invalidFilter")
        assert "UTF-8" in body["detail"]
    assert_scim_error(scim.get("/Users?attributes=%ED%A0%80"), 400, "invalidValue")


@pytest.mark.parametrize("flt", ['userName eq "\\ud800"', 'displayName co "x\\udc00"',
                                 'userName eq "a" or name.givenName eq "\\ud800"'])
def test_a_lone_surrogate_escape_in_a_filter_is_400(scim: httpx.Client, flt: str) -> None:
    """The JSON escape form (not the bytes): the filter parses, its value is no character."""
    body = assert_scim_error(scim.get("/Users", params={"filter": flt}), 400, "invalidFilter")
    assert "surrogate" in body["detail"]


def test_a_lone_surrogate_escape_in_a_json_body_is_400(scim: httpx.Client) -> None:
    for path, raw in (("/Users/.search", b'{"filter": "userName eq \\"\\ud800\\""}'),
                      ("/.search", b'{"filter": "displayName eq \\"\\udfff\\""}'),
                      ("/Users", b'{"schemas": ["%s"], "userName": "\\ud800@contoso.example"}' % USER_URN.encode())):
        resp = scim.post(path, content=raw, headers={"content-type": "application/scim+json"})
        assert_scim_error(resp, 400, "invalidSyntax")


def test_600_deep_json_is_400_on_every_write(scim: httpx.Client) -> None:
    user = new_user(scim, f"deep-{uuid.uuid4().hex[:6]}@contoso.example")
    group = scim.get("/Groups", params={"count": 1}).json()["Resources"][0]
    before = scim.get(f"/Users/{user['id']}").json()
    def nest(doc: dict) -> str:  # the JSON of ``doc`` with DEEP_OBJECT where "__DEEP__" stands
        return json.dumps(doc).replace('"__DEEP__"', DEEP_OBJECT)

    bodies = {
        ("POST", "/Users"): DEEP,
        ("POST", "/Groups"): DEEP_OBJECT,
        ("POST", "/Users/.search"): nest({"filter": "__DEEP__"}),
        ("PUT", f"/Users/{user['id']}"): nest({"schemas": [USER_URN], "userName": "x", "name": "__DEEP__"}),
        ("PATCH", f"/Users/{user['id']}"): nest({"schemas": [PATCH_URN], "Operations": [
            {"op": "add", "path": "title", "value": "__DEEP__"}]}),
        ("PATCH", f"/Groups/{group['id']}"): nest({"schemas": [PATCH_URN], "Operations": [
            {"op": "add", "value": "__DEEP__"}]}),
        ("POST", "/Users#ext"): nest({"schemas": [USER_URN], "userName": "deep2@contoso.example",
                                      "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": "__DEEP__"}),
    }
    for (method, path), raw in bodies.items():
        resp = scim.request(method, path.split("#")[0], content=raw.encode(),
                            headers={"content-type": "application/scim+json"})
        assert_scim_error(resp, 400, "invalidSyntax")
    assert scim.get(f"/Users/{user['id']}").json() == before, "nothing changed"


def test_a_string_where_a_list_belongs_is_400(scim: httpx.Client) -> None:
    user = new_user(scim, f"lists-{uuid.uuid4().hex[:6]}@contoso.example")
    group = scim.get("/Groups", params={"count": 1}).json()["Resources"][0]
    before = scim.get(f"/Users/{user['id']}").json()
    cases = [
        ("POST", "/Users", {"schemas": [USER_URN], "userName": "l1@contoso.example", "emails": "l1@contoso.example"}),
        ("POST", "/Users", {"schemas": USER_URN, "userName": "l2@contoso.example"}),
        ("POST", "/Groups", {"schemas": [GROUP_URN], "displayName": "lists", "members": user["id"]}),
        ("PUT", f"/Groups/{group['id']}", {"schemas": [GROUP_URN], "displayName": group["displayName"],
                                          "members": user["id"]}),
        ("PATCH", f"/Users/{user['id']}", {"schemas": PATCH_URN,
                                           "Operations": [{"op": "replace", "path": "active", "value": False}]}),
        ("PATCH", f"/Users/{user['id']}", {"schemas": [PATCH_URN], "Operations": "replace"}),
        ("PATCH", f"/Users/{user['id']}", {"schemas": [PATCH_URN],
                                           "Operations": [{"op": "add", "path": "emails", "value": "x@y.example"}]}),
        ("PATCH", f"/Users/{user['id']}", {"schemas": [PATCH_URN],
                                           "Operations": [{"op": "replace", "value": {"phoneNumbers": "123"}}]}),
        ("PATCH", f"/Groups/{group['id']}", {"schemas": [PATCH_URN],
                                            "Operations": [{"op": "add", "path": "members", "value": user["id"]}]}),
        ("POST", "/Users/.search", {"attributes": "userName"}),
        ("POST", "/Users/.search", {"excludedAttributes": "emails"}),
        ("POST", "/.search", {"schemas": "urn:ietf:params:scim:api:messages:2.0:SearchRequest"}),
    ]
    for method, path, body in cases:
        resp = scim.request(method, path, json=body)
        assert resp.status_code == 400, (method, path, body, resp.status_code, resp.text[:200])
        assert_scim_error(resp, 400)
    assert scim.get(f"/Users/{user['id']}").json() == before, "nothing changed"


def test_wrongly_typed_search_parameters_are_400(scim: httpx.Client) -> None:
    for body in ({"filter": 5}, {"filter": ["userName pr"]}, {"startIndex": "x"}, {"startIndex": True},
                 {"count": 1.5}, {"count": {"n": 1}}, {"attributes": [1]}):
        assert_scim_error(scim.post("/Users/.search", json=body), 400)


def test_every_route_caps_its_body_with_an_error_body(box) -> None:
    """Every route, the token endpoints included, refuses a body over 1 MiB with 413 and an error body in its own
    style, whether the size is announced (Content-Length) or only sent (chunked)."""
    big = b"x" * (1024 * 1024 + 1)

    def chunked():
        for i in range(0, len(big), 65536):
            yield big[i:i + 65536]

    routes = [("POST", "/scim/Users", "scim"), ("PATCH", "/scim/Users/x", "scim"), ("POST", "/scim/.search", "scim"),
              ("POST", "/auth-api/1.0/auth/token", "admin"), ("PUT", "/sandbox-admin/faults", "admin"),
              ("POST", "/sandbox-admin/keys", "admin"), ("POST", "/healthz", "admin"), ("POST", "/nowhere", "admin")]
    if box.graph_url:
        routes += [("POST", f"/login/{box.tenant_id}/oauth2/v2.0/token", "login"),
                   ("PUT", f"/graph/v1.0/servicePrincipals/{box.service_principal_id}/synchronization/secrets", "graph"),
                   ("POST", "/sandbox-admin/entra/tenant", "admin")]
    for method, path, style in routes:
        for content in (big, chunked()):
            resp = httpx.request(method, box.api_url + path, content=content, timeout=60,
                                 headers={"Authorization": f"Bearer {box.admin_token}"})
            assert resp.status_code == 413, (method, path, resp.status_code, resp.text[:200])
            doc = resp.json()
            if style == "scim":
                assert doc["schemas"] == [ERROR_URN] and doc["status"] == "413" and doc["scimType"] == "tooLarge"
            elif style == "admin":
                assert doc["status"] == "413" and "1 MiB" in doc["error"]
            elif style == "graph":
                assert doc["error"]["code"] == "RequestEntityTooLarge"
            else:
                assert doc["error"] == "invalid_request" and "1 MiB" in doc["error_description"]
    assert httpx.get(box.api_url + "/healthz").status_code == 200, "the server is still up"


BAD_ADMIN_BODIES = [b"not json", b"", b"[]", b'"a string"', b"42", b"null", b'{"x": NaN}', DEEP.encode(),
                    DEEP_OBJECT.encode()]


def _admin_routes(box) -> list[tuple[str, str]]:
    routes = [("PUT", "/sandbox-admin/faults"), ("POST", "/sandbox-admin/tokens"), ("POST", "/sandbox-admin/keys"),
              ("PUT", "/sandbox-admin/keys/default/permissions")]
    if box.graph_url:
        routes += [("POST", "/sandbox-admin/entra/cycles"), ("POST", "/sandbox-admin/entra/tenant"),
                   ("PUT", "/sandbox-admin/entra/graph-permissions")]
    return routes


def test_bad_admin_bodies_are_400_on_every_admin_route(box) -> None:
    for method, path in _admin_routes(box):
        for raw in BAD_ADMIN_BODIES:
            if raw in (b"", b"null") and path.startswith("/sandbox-admin/entra/cycles"):
                continue  # no body = one cycle (the route's documented default)
            resp = _admin(box, method, path, content=raw, headers={"content-type": "application/json"})
            if raw in (b"", b"null") and path.endswith(("entra/tenant", "graph-permissions")):
                assert resp.status_code in (200, 400), (path, raw[:20], resp.status_code)
                if resp.status_code == 200:
                    continue
            _assert_admin_error(resp)


@pytest.mark.parametrize(("method", "path", "body"), [
    ("PUT", "/sandbox-admin/faults", {"latency_ms": "slow"}),
    ("PUT", "/sandbox-admin/faults", {"rate_500": [0.5]}),
    ("PUT", "/sandbox-admin/faults", {"rate_drop": True}),
    ("PUT", "/sandbox-admin/faults", {"paths": ["/scim"]}),
    ("PUT", "/sandbox-admin/faults", {"seed": 10**30}),
    ("PUT", "/sandbox-admin/faults", {"retry_after": 1.5}),
    ("PUT", "/sandbox-admin/faults", {"nosuch": 1}),
    ("POST", "/sandbox-admin/tokens", {}),
    ("POST", "/sandbox-admin/tokens", {"key_name": ["default"]}),
    ("POST", "/sandbox-admin/tokens", {"key_name": "default", "lifetime_seconds": "1h"}),
    ("POST", "/sandbox-admin/tokens", {"key_name": "default", "lifetime_seconds": 1e308}),
    ("POST", "/sandbox-admin/keys", {}),
    ("POST", "/sandbox-admin/keys", {"name": 5}),
    ("POST", "/sandbox-admin/keys", {"name": "k", "permissions": "integrations"}),
    ("POST", "/sandbox-admin/keys", {"name": "k", "permissions": [1, 2]}),
    ("POST", "/sandbox-admin/keys", {"name": "k", "permissions": ["nosuch"]}),
    ("POST", "/sandbox-admin/keys", {"name": "k", "apiKey": {"v": 1}}),
    ("PUT", "/sandbox-admin/keys/default/permissions", {}),
    ("PUT", "/sandbox-admin/keys/default/permissions", {"permissions": "integrations"}),
    ("PUT", "/sandbox-admin/keys/default/permissions", {"permissions": [None]}),
    ("POST", "/sandbox-admin/entra/cycles", {"count": "3"}),
    ("POST", "/sandbox-admin/entra/cycles", {"count": 10**6}),
    ("POST", "/sandbox-admin/entra/cycles", {"count": 1, "churn": "yes"}),
    ("POST", "/sandbox-admin/entra/tenant", {"actions": "leave"}),
    ("POST", "/sandbox-admin/entra/tenant", {"actions": []}),
    ("POST", "/sandbox-admin/entra/tenant", {"action": 5}),
    ("POST", "/sandbox-admin/entra/tenant", {"action": "join", "givenName": {"first": "A"}}),
    ("POST", "/sandbox-admin/entra/tenant", {"action": "join", "groups": [1]}),
    ("POST", "/sandbox-admin/entra/tenant", {"action": "leave", "user": "nobody@nowhere.example"}),
    ("POST", "/sandbox-admin/entra/tenant", {"action": "no-such-action"}),
    ("PUT", "/sandbox-admin/entra/graph-permissions", {"roles": "AuditLog.Read.All"}),
    ("PUT", "/sandbox-admin/entra/graph-permissions", {"roles": [1]}),
])
def test_wrong_types_and_missing_fields_in_admin_bodies_are_400(box, method, path, body) -> None:
    if path.startswith("/sandbox-admin/entra") and not box.graph_url:
        pytest.skip("this sandbox runs without the Entra simulator")
    _assert_admin_error(_admin(box, method, path, json=body))
    assert _admin(box, "GET", "/sandbox-admin/faults").json()["rate_500"] == 0, "faults untouched"
    keys = {k["name"]: k["permissions"] for k in _admin(box, "GET", "/sandbox-admin/keys").json()}
    assert len(keys["default"]) == 6 and "k" not in keys, "keys untouched"


def test_an_empty_permission_list_means_none(box) -> None:
    name = f"none-{uuid.uuid4().hex[:6]}"
    resp = _admin(box, "POST", "/sandbox-admin/keys", json={"name": name, "permissions": []})
    assert resp.status_code == 201 and resp.json()["permissions"] == []
    listed = {k["name"]: k["permissions"] for k in _admin(box, "GET", "/sandbox-admin/keys").json()}
    assert listed[name] == []
    token = httpx.post(f"{box.api_url}/auth-api/1.0/auth/token", json={"apiKey": resp.json()["apiKey"]}).json()
    denied = httpx.get(f"{box.scim_url}/Users", headers={"Authorization": f"Bearer {token['accessToken']}"})
    body = assert_scim_error(denied, 403)
    assert "Integrations" in body["detail"]
    everything = _admin(box, "POST", "/sandbox-admin/keys", json={"name": name + "-all"})
    assert len(everything.json()["permissions"]) == 6, "no permissions field: all six, as documented"
    cleared = _admin(box, "PUT", f"/sandbox-admin/keys/{name}-all/permissions", json={"permissions": []})
    assert cleared.status_code == 200 and cleared.json()["permissions"] == []


def test_the_cli_creates_a_key_without_permissions_only_when_asked(tmp_path) -> None:
    import subprocess
    import sys

    def keys(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "sandbox", "keys", *args, "--data-dir", str(tmp_path)],
                              capture_output=True, text=True, timeout=60, check=False)

    assert keys("create", "--name", "all").returncode == 0
    assert keys("create", "--name", "none", "--no-permissions").returncode == 0
    assert keys("create", "--name", "bad", "--no-permissions", "--permission", "integrations").returncode == 2
    listed = dict(line.split("\t")[:2] for line in keys("list").stdout.splitlines())
    assert listed["all"].count(",") == 5 and listed["none"] == "(none)" and "bad" not in listed


def test_unknown_routes_and_methods_answer_an_error_body(box) -> None:
    for method, path in (("GET", "/nowhere"), ("PUT", "/sandbox-admin/keys/a/b/c"), ("DELETE", "/healthz"),
                         ("GET", "/sandbox-admin/tokens"), ("POST", "/scim")):
        resp = httpx.request(method, box.api_url + path, timeout=30)
        assert resp.status_code in (404, 405), (method, path, resp.status_code)
        doc = resp.json()
        assert doc["schemas"] == [ERROR_URN] and doc["status"] == str(resp.status_code) and doc["detail"]
