"""Hypothesis feeds scim_client arbitrary SCIM-ish answers from a raw HTTP peer on 127.0.0.1: whatever comes
back, each call returns well-typed records or raises a ScimError subclass whose message and remedy are set;
no other exception type, no hang (Retry-After values are bounded by the retry budget), no token in a message.

The peer answers every request with the same body, so a ListResponse whose totalResults is larger than what it
holds is a server that keeps announcing more than it serves: the listing must end after a bounded number of
requests (it once scheduled one request per announced page, and this test grew past 1.3 GB)."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.faultproxy import FaultProxy

scim_client = pytest.importorskip("scim_client")

TOKEN = "fuzz-token-" + "q" * 24
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"

scalar = st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=True) | st.text(max_size=12)
anything = st.recursive(scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8),
                                                                                           inner, max_size=3),
                        max_leaves=8)
bool_like = st.sampled_from([True, False, "True", "false", "FALSE", "yes", 0, 1, None, "", [], {}])
date_like = st.sampled_from(["2024-01-02T03:04:05Z", "2024-01-02T03:04:05.123+10:00", "yesterday", "", None, 0,
                             "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2024-13-45T99:99:99Z"])
user = st.fixed_dictionaries(
    {},
    optional={
        "schemas": st.just([USER]) | anything,
        "id": st.text(max_size=10) | scalar,
        "userName": st.text(max_size=20) | scalar,
        "displayName": scalar,
        "externalId": scalar,
        "active": bool_like,
        "name": st.fixed_dictionaries({}, optional={"givenName": scalar, "familyName": scalar}) | anything,
        "emails": st.lists(st.fixed_dictionaries({}, optional={"value": scalar, "type": scalar,
                                                               "primary": bool_like}) | anything, max_size=3)
        | anything,
        "meta": st.fixed_dictionaries({}, optional={"created": date_like, "lastModified": date_like,
                                                    "resourceType": scalar}) | anything,
        "members": st.lists(st.fixed_dictionaries({}, optional={"value": scalar, "display": scalar}) | anything,
                            max_size=3) | anything,
    },
)
list_response = st.fixed_dictionaries(
    {},
    optional={
        "schemas": st.just([LIST]) | anything,
        "totalResults": st.integers(-5, 500) | scalar,
        "startIndex": st.integers(-5, 500) | scalar,
        "itemsPerPage": st.integers(-5, 500) | scalar,
        "Resources": st.lists(user, max_size=4) | anything,
    },
)
error_body = st.fixed_dictionaries(
    {"schemas": st.just(["urn:ietf:params:scim:api:messages:2.0:Error"])},
    optional={"status": st.sampled_from(["400", 404, "409", "abc", None]), "detail": scalar,
              "scimType": scalar},
)
body = st.one_of(
    list_response.map(json.dumps), user.map(json.dumps), error_body.map(json.dumps),
    anything.map(json.dumps),
    st.binary(max_size=200),
    st.sampled_from([b"", b"<html><body><h1>502 Bad Gateway</h1></body></html>", b"{", b'{"Resources": [',
                     b"null", b"\xef\xbb\xbf{}", b"[]", b'"string"', b"NaN"]),
)
answer = st.fixed_dictionaries({
    "status": st.sampled_from([200, 200, 200, 201, 204, 400, 401, 403, 404, 409, 413, 429, 500, 502, 503]),
    "body": body,
    "content_type": st.sampled_from(["application/scim+json", "application/json", "text/html",
                                     "text/plain", "application/scim+json; charset=utf-8", ""]),
    "headers": st.fixed_dictionaries({}, optional={"Retry-After": st.sampled_from(
        ["1", "0", "-1", "abc", "99999999", "Wed, 21 Oct 2099 07:28:00 GMT", "1.5", ""])}),
})


@pytest.fixture(scope="module")
def peer():
    with FaultProxy(None) as proxy:
        yield proxy


def _check_error(exc: BaseException) -> None:
    assert isinstance(exc, scim_client.ScimError), f"{type(exc).__name__}: {exc}"
    text = str(exc)
    assert text and TOKEN not in text and TOKEN not in repr(exc)
    assert exc.remedy, f"no remedy: {text}"


CALLS = {
    "list_users": lambda c: c.list_users(),
    "get_user": lambda c: c.get_user("abc"),
    "find_user": lambda c: c.find_user(user_name='a"b'),
    "list_groups": lambda c: c.list_groups(),
    "set_active": lambda c: c.set_active("abc", False),
    "service_provider_config": lambda c: c.service_provider_config(),
}


@FUZZ
@given(reply=answer, call=st.sampled_from(sorted(CALLS)))
def test_any_answer_gives_records_or_a_scim_error(peer: FaultProxy, reply: dict, call: str) -> None:
    peer.clear()
    peer.seen.clear()
    peer.add("body", status=reply["status"], body=reply["body"], content_type=reply["content_type"],
             headers=reply["headers"])
    started = time.monotonic()
    client = scim_client.ScimClient(peer.url + "/scim", TOKEN, timeout=5, max_retries=1,
                                    retry_budget_seconds=2.0, backoff_base=0.01, page_size=2)
    try:
        result = CALLS[call](client)
    except Exception as exc:
        _check_error(exc)
    else:
        if call in ("list_users", "list_groups"):
            assert isinstance(result, list)
            assert len({r.id for r in result}) == len(result), "duplicate records in a listing"
            for r in result:
                assert isinstance(r.id, str) and r.id
        elif call in ("get_user", "set_active"):
            assert isinstance(result.id, str) and isinstance(result.active, bool)
        elif call == "find_user":
            assert result is None or isinstance(result.id, str)
        else:
            assert isinstance(result, dict)
    finally:
        client.close()
    assert time.monotonic() - started < 20, "a call was not bounded by its retry budget"
    # 2 passes of a window (4 x 8 pages ahead) plus the repeated-page limit, each request retried at most once
    assert len(peer.seen) <= 2 * 2 * (1 + 32 + 2 * 8 + 9), f"{len(peer.seen)} requests for one call"


@pytest.mark.parametrize("total", [2**40, 10**8, 400, "123456789"])
@pytest.mark.parametrize("call", ["list_users", "list_groups"])
def test_one_page_served_for_every_index_is_stopped_quickly(peer: FaultProxy, total: object, call: str) -> None:
    """The same two records at every startIndex while totalResults says more: a PagingError, soon."""
    users = [{"id": f"u{i}", "userName": f"u{i}@example.com", "displayName": f"U{i}", "active": True}
             for i in range(2)]
    peer.clear()
    peer.seen.clear()
    peer.add("body", status=200, content_type="application/scim+json",
             body=json.dumps({"schemas": [LIST], "totalResults": total, "Resources": users}))
    started = time.monotonic()
    with scim_client.ScimClient(peer.url + "/scim", TOKEN, timeout=5, max_retries=0, page_size=2) as client:
        with pytest.raises(scim_client.PagingError) as info:
            CALLS[call](client)
    _check_error(info.value)
    assert len(peer.seen) <= 4 * 8 + 2 * 8 + 12  # a window plus the repeated-page limit
    assert time.monotonic() - started < 10
