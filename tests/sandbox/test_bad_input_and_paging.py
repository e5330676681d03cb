"""Bad input never crashes the server or corrupts the store; filters match literally; paging is bounded."""

from __future__ import annotations

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
