"""In-process checks of pieces whose behaviour is easier to pin down without HTTP (the rest is over HTTP)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox import filters, projection
from sandbox.faults import Faults
from sandbox.models import M, load
from sandbox.scim import ENTERPRISE


def _full(text: str, resource: str) -> tuple[str, list]:
    load()
    return filters._node(M.ScimFilter(text).ast, resource)


@settings(max_examples=200, deadline=None)
@given(value=st.text(max_size=30), attr=st.sampled_from(["userName", "externalId", "id", "USERNAME",
                                                          'emails[type eq "work"].value']))
def test_fast_filter_path_agrees_with_the_full_parser(value: str, attr: str) -> None:
    literal = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    text = f"{attr} eq {literal}"
    fast = filters._fast_filter(text, "users")
    try:
        full = _full(text, "users")
    except Exception:  # the full parser refuses it (e.g. raw control characters): so must the fast path
        assert fast is None
        return
    if fast is not None:
        sql, params = full
        if sql.startswith("(") and sql.endswith(")") and sql.count("(") == 1:
            sql = sql[1:-1]
        assert fast == (sql, params)


@pytest.mark.parametrize("text,resource", [
    ('urn:ietf:params:scim:schemas:core:2.0:Group:userName eq "a"', "users"),
    ('displayName eq "a"', "users"),  # not indexed for users: full parser
    ('userName eq "a" and id eq "b"', "users"),
])
def test_fast_path_declines_what_it_does_not_cover(text: str, resource: str) -> None:
    assert filters._fast_filter(text, resource) is None


def test_fault_sequence_depends_only_on_the_seed() -> None:
    a, b = Faults(), Faults()
    a.set(rate_429=0.2, rate_500=0.2, rate_drop=0.2, seed=9)
    b.set(rate_429=0.2, rate_500=0.2, rate_drop=0.2, seed=9)
    seq_a = [(d.kind if d else None) for d in (a.decide("/scim/Users") for _ in range(200))]
    seq_b = [(d.kind if d else None) for d in (b.decide("/scim/Users") for _ in range(200))]
    assert seq_a == seq_b and {"429", "500", "drop", None} <= set(seq_a)
    assert a.decide("/healthz") is None and a.decide("/sandbox-admin/faults") is None


def test_project_handles_enterprise_and_sub_attributes() -> None:
    doc = {"schemas": ["s"], "id": "1", "userName": "u", "name": {"givenName": "g", "familyName": "f"},
           ENTERPRISE: {"department": "d", "employeeNumber": "7"}, "meta": {}}
    out = projection.project(doc, f"name.familyName,{ENTERPRISE}:department", None)
    assert out == {"schemas": ["s"], "id": "1", "name": {"familyName": "f"}, ENTERPRISE: {"department": "d"},
                   "meta": {}}
    out = projection.project(doc, None, f"userName,{ENTERPRISE}:employeeNumber,id")
    assert "userName" not in out and out["id"] == "1" and out[ENTERPRISE] == {"department": "d"}


def test_is_admin_needs_loopback_and_the_exact_token(tmp_path) -> None:
    import argparse

    from starlette.requests import Request

    from sandbox.server import make_state

    state = make_state(argparse.Namespace(max_page_size=100), tmp_path, "the-admin-token")
    try:
        def req(host: str, auth: str | None) -> Request:
            headers = [(b"authorization", auth.encode())] if auth else []
            return Request({"type": "http", "method": "GET", "path": "/sandbox-admin/faults", "headers": headers,
                            "client": (host, 40000), "query_string": b""})

        assert state.is_admin(req("127.0.0.1", "Bearer the-admin-token"))
        assert state.is_admin(req("::1", "bearer the-admin-token"))
        assert not state.is_admin(req("10.1.2.3", "Bearer the-admin-token"))  # not loopback
        assert not state.is_admin(req("127.0.0.1", "Bearer the-admin-token2"))
        assert not state.is_admin(req("127.0.0.1", "the-admin-token"))
        assert not state.is_admin(req("127.0.0.1", None))
        assert not state.is_admin(req("not-an-ip", "Bearer the-admin-token"))
    finally:
        state.store.close()
        state.request_log.close()
