"""Pure functions of the simulator: Entra's PATCH shapes, the error-code table, Graph filters and skiptokens."""

from __future__ import annotations

import pytest

from sandbox.entra import wire
from sandbox.entra.logs import FilterError, decode_token, encode_token, parse_filter
from sandbox.entra.records import classify


def test_default_style_patch_uses_capitalised_ops_and_string_booleans() -> None:
    body = wire.user_patch({"active": "False", "name.familyName": "Ng"}, "default")
    assert body["Operations"] == [{"op": "Replace", "path": "active", "value": "False"},
                                  {"op": "Replace", "path": "name.familyName", "value": "Ng"}]
    [add, remove] = wire.member_patches(["a"], ["b", "c"], "default")
    assert add["Operations"] == [{"op": "Add", "path": "members", "value": [{"value": "a"}]}]
    assert remove["Operations"] == [{"op": "Remove", "path": "members", "value": [{"value": "b"}, {"value": "c"}]}]


def test_aadoptscim062020_style_is_rfc_shaped() -> None:
    assert wire.user_patch({"active": "False"}, wire.OPT_FLAG)["Operations"] == [
        {"op": "replace", "path": "active", "value": False}]
    multi = wire.user_patch({"active": "True", wire.EMAIL_PATH: "x@y"}, wire.OPT_FLAG)["Operations"]
    assert multi == [{"op": "replace", "value": {"active": True, 'emails[type eq "work"].value': "x@y"}}]
    [remove] = wire.member_patches([], ["b"], wire.OPT_FLAG)
    assert remove["Operations"] == [{"op": "remove", "path": 'members[value eq "b"]'}]
    assert len(wire.member_patches([str(i) for i in range(250)], [], "default")) == 3


def test_create_bodies_follow_entra() -> None:
    values = {"externalId": "oid", "userName": "a@b", "active": "True", wire.EMAIL_PATH: "a@b",
              "name.givenName": "A", "name.familyName": "B"}
    user = wire.create_user_body(values)
    assert user["active"] is True and user["emails"] == [{"primary": True, "type": "work", "value": "a@b"}]
    assert user["schemas"] == [wire.CORE_USER, wire.ENTERPRISE_USER] and user["roles"] == []
    group = wire.create_group_body("gid", "Finance")
    assert wire.MS_GROUP in group["schemas"] and "members" not in group


def test_tenant_url_flag() -> None:
    assert wire.split_tenant_url("http://127.0.0.1:9/scim/?aadOptscim062020") == ("http://127.0.0.1:9/scim",
                                                                                  wire.OPT_FLAG)
    assert wire.split_tenant_url("http://127.0.0.1:9/scim/") == ("http://127.0.0.1:9/scim", "default")


@pytest.mark.parametrize(("status", "error", "code", "transient"), [
    (401, None, "SystemForCrossDomainIdentityManagementCredentialValidationFailure", False),
    (403, None, "InsufficientRights", False),
    (409, None, "EntryConflict", False),
    (429, None, "TooManyRequests", True),
    (503, None, "InternalServerError", True),
    (404, None, "InvalidAnchor", False),
    (400, None, "SystemForCrossDomainIdentityManagementBadRequest", False),
    (None, "timeout", "Timeout", True),
    (None, "connection", "WebExceptionProtocolError", True),
])
def test_error_codes(status, error, code, transient) -> None:
    kind = classify(status, error, {"detail": "why"})
    assert kind.code == code and kind.transient is transient and kind.reason and kind.action


def test_filters() -> None:
    where, params = parse_filter("activityDateTime ge 2026-11-01T00:00:00Z and provisioningStatusInfo/status eq 'failure'")
    assert where == ["activity >= ?", "lower(status) = lower(?)"]
    assert params == ["2026-11-01T00:00:00.000000Z", "failure"]
    assert parse_filter("(provisioningAction eq 'it''s')")[1] == ["it's"]
    assert parse_filter("activityDateTime lt 2026-11-01T09:00:00+09:00")[1] == ["2026-11-01T00:00:00.000000Z"]
    for bad in ("displayName eq 'x'", "activityDateTime gt soon", "cycleId gt 'x'", "a eq 'x' or b eq 'y'",
                "nonsense"):
        with pytest.raises(FilterError):
            parse_filter(bad)


def test_skiptoken_round_trip() -> None:
    assert decode_token(encode_token("2026-11-01T00:00:00.000000Z", 42)) == ("2026-11-01T00:00:00.000000Z", 42)
    with pytest.raises(FilterError):
        decode_token("!!")
