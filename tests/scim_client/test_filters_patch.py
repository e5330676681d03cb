"""Filter escaping and PATCH building: properties checked against scim2-models' own parser and models."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scim2_models import Group, PatchOp, ScimFilter, User

from scim_client import filters as f
from scim_client import patch

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
attr_names = st.sampled_from(
    ["userName", "displayName", "externalId", "name.givenName", "emails.value", "title"]
)
ops = st.sampled_from(["eq", "ne", "co", "sw", "ew", "gt", "lt", "ge", "le"])


@given(attr_names, ops, text)
@settings(max_examples=300, deadline=None)
def test_string_values_round_trip_through_a_real_parser(path, op, value):
    flt = f.compare(path, op, value)
    ast = ScimFilter(str(flt)).ast
    assert ast.value == value
    assert ast.op.value == op
    assert str(ast.attr_path).endswith(path.split(".")[-1])


@given(st.lists(st.tuples(attr_names, text), min_size=1, max_size=4), st.sampled_from(["and", "or"]))
@settings(max_examples=150, deadline=None)
def test_combinations_keep_their_structure(pairs, joiner):
    parts = [f.eq(p, v) for p, v in pairs]
    combined = f.and_(*parts) if joiner == "and" else f.or_(*parts)
    ast = ScimFilter(str(combined)).ast
    values = []

    def walk(node):
        if hasattr(node, "terms"):
            assert node.op.value == joiner
            for t in node.terms:
                walk(t)
        else:
            values.append(node.value)

    walk(ast)
    assert values == [v for _, v in pairs]


@given(text, text, text)
@settings(max_examples=100, deadline=None)
def test_precedence_is_parenthesised(a, b, c):
    expr = f.and_(f.or_(f.eq("userName", a), f.eq("userName", b)), f.not_(f.sw("displayName", c)))
    ast = ScimFilter(str(expr)).ast
    assert ast.op.value == "and"
    left, right = ast.terms
    assert left.op.value == "or" and [t.value for t in left.terms] == [a, b]
    assert type(right).__name__ == "Not" and right.expr.value == c


def test_examples_and_literals():
    assert str(f.eq("userName", 'o"brien\\x')) == 'userName eq "o\\"brien\\\\x"'
    assert str(f.eq("active", True)) == "active eq true"
    assert str(f.eq("active", False) | f.pr("title")) == "active eq false or title pr"
    assert str(~f.eq("x", None)) == "not (x eq null)"
    assert str(f.gt("meta.lastModified", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))) == (
        'meta.lastModified gt "2026-01-02T03:04:05Z"'
    )
    assert str(f.lt("x", 5)) == "x lt 5"
    assert str(f.value_path_compare("emails", f.eq("type", "work"), "value", "eq", "a@b")) == (
        'emails[type eq "work"].value eq "a@b"'
    )
    assert (
        str(f.eq("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "7"))
        == 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "7"'
    )
    ScimFilter(str(f.value_path("emails", f.eq("type", "work") & f.co("value", '"'))))


@pytest.mark.parametrize("bad", ['userName eq "x"', "user name", "", "a.b.c", "1abc", 'x"', "emails[type"])
def test_attribute_paths_are_validated(bad):
    with pytest.raises(ValueError):
        f.eq(bad, "v")


def test_type_errors():
    with pytest.raises(TypeError):
        f.co("userName", 5)
    with pytest.raises(TypeError):
        f.eq("userName", object())
    with pytest.raises(TypeError):
        f.and_(f.pr("a"), 'b eq "c"')
    with pytest.raises(ValueError):
        f.compare("a", "like", "x")
    with pytest.raises(ValueError):
        f.eq("a", float("nan"))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


@given(
    st.sampled_from(["add", "replace"]),
    st.sampled_from(["title", "displayName", "name.givenName", "active"]),
    json_values,
)
@settings(max_examples=200, deadline=None)
def test_patch_values_survive_json_exactly(op, path, value):
    body = patch.request(getattr(patch, op)(path, value))
    wire = orjson.loads(orjson.dumps(body))
    assert wire == body
    assert wire["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]
    (operation,) = wire["Operations"]
    assert operation["op"] == op and operation["op"].islower()
    assert operation["path"] == path and operation["value"] == value


@given(st.booleans())
@settings(deadline=None)  # behaviour, not timing: a loaded machine must not fail it
def test_set_active_sends_a_json_boolean(active):
    body = patch.set_active(active)
    assert orjson.dumps(body).count(b'"value":' + (b"true" if active else b"false")) == 1
    parsed = PatchOp[User].model_validate(body)
    assert parsed.operations[0].value is active


@given(st.lists(text.filter(bool), min_size=1, max_size=10))
@settings(max_examples=150, deadline=None)
def test_member_removal_paths_escape_ids(member_ids):
    body = patch.remove_members(member_ids)
    PatchOp[Group].model_validate(body)  # scim2-models accepts it
    unique = list(dict.fromkeys(member_ids))
    assert [o["op"] for o in body["Operations"]] == ["remove"] * len(unique)
    for operation, member in zip(body["Operations"], unique, strict=True):
        path = operation["path"]
        assert path.startswith("members[") and path.endswith("]")
        assert ScimFilter(path[len("members[") : -1]).ast.value == member


@given(st.lists(text.filter(bool), min_size=1, max_size=10))
@settings(deadline=None)  # behaviour, not timing: a loaded machine must not fail it
def test_member_add_is_one_op_with_a_value_list(member_ids):
    body = patch.add_members(member_ids)
    PatchOp[Group].model_validate(body)
    (operation,) = body["Operations"]
    assert operation == {
        "op": "add",
        "path": "members",
        "value": [{"value": m} for m in dict.fromkeys(member_ids)],
    }


def test_patch_rejects_bad_input():
    with pytest.raises(ValueError):
        patch.request()
    with pytest.raises(ValueError):
        patch.add_members([])
    with pytest.raises(TypeError):
        patch.add_members("abc")
    with pytest.raises(TypeError):
        patch.set_active("False")
    with pytest.raises(TypeError):
        patch.replace("title", {1, 2})
    with pytest.raises(ValueError):
        patch.replace("bad path", 1)
    with pytest.raises(ValueError):
        patch.rename_group("  ")
    assert patch.rename_group("New") == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "New"}],
    }


@given(st.lists(text.filter(bool), max_size=10))
@settings(deadline=None)  # behaviour, not timing: a loaded machine must not fail it
def test_replace_members_is_one_op_with_the_whole_list(member_ids):
    body = patch.replace_members(member_ids)
    PatchOp[Group].model_validate(body)
    (operation,) = body["Operations"]
    assert operation == {"op": "replace", "path": "members",
                         "value": [{"value": m} for m in dict.fromkeys(member_ids)]}


def test_replace_members_rejects_a_string_and_empty_ids():
    with pytest.raises(TypeError):
        patch.replace_members("abc")
    with pytest.raises(ValueError):
        patch.replace_members(["a", ""])
    assert patch.replace_members([])["Operations"][0]["value"] == []      # an emptied group can be said so
