"""The comparison on its own (pure, no I/O): small frames shaped like a snapshot's and like ``EntraSide``'s, with
one case per rule, so each category's edge is pinned: case and spaces in keys, every mapped attribute (given name
included), Entra without mail, disabled and unassigned people, duplicates left out of the matching, inactive and
orphaned people left out of membership drift, and the dtypes both sides really come in (Python and Arrow strings)."""

from __future__ import annotations

import pandas as pd
import pytest

from console.reconcile.compare import compare
from console.reconcile.entra_side import _frame

E1, E2, E3, E4, E5, E6, E7, E8, E9 = (f"0000000{i}-aaaa-bbbb-cccc-00000000000{i}" for i in range(1, 10))
G1, G2 = "11111111-0000-0000-0000-000000000001", "11111111-0000-0000-0000-000000000002"


def _users(rows: list[tuple]) -> pd.DataFrame:
    cols = ["id", "userName", "email", "givenName", "familyName", "displayName", "active", "externalId"]
    df = pd.DataFrame(rows, columns=cols)
    for c in cols:
        df[c] = df[c].astype("boolean" if c == "active" else "string")
    return df


def _entra(rows: list[tuple], scope: set[str], nested: frozenset[str] = frozenset()) -> pd.DataFrame:
    cols = ["id", "upn", "mail", "givenName", "surname", "enabled", "guest"]
    frame = _frame({c: [r[i] for r in rows] for i, c in enumerate(cols)}, text=tuple(cols[:5]))
    frame["enabled"] = frame["enabled"].astype("boolean")
    frame["guest"] = frame["guest"].astype(bool)
    frame["in_scope"] = [r[0] in scope for r in rows]
    frame["nested_only"] = [r[0] in nested and r[0] not in scope for r in rows]
    return frame


@pytest.fixture
def sides():
    users = _users([
        ("u1", "ann@x.example", "ann@x.example", "Ann", "Lee", None, True, E1.upper()),        # case differs: matched
        ("u2", "bob@x.example", "bob@x.example", "Bob", "Kim", None, True, f"  {E2} "),        # spaces: matched
        ("u3", "cy@x.example", "cy@x.example", "Cy", "Old", None, True, E3),                   # given name + surname
        ("u4", "dee@x.example", "dee@x.example", "Dee", "Ray", None, True, E4),                # disabled in Entra
        ("u5", "eve@x.example", "eve@x.example", "Eve", "Fox", None, True, E5),                # unassigned
        ("u6", "gone@x.example", "gone@x.example", "Go", "Ne", None, True, "99999999-dead-0000-0000-000000000000"),
        ("u7", "jit@x.example", "jit@x.example", None, None, None, True, None),                 # not managed
        ("u8", "dup1@x.example", "same@x.example", None, None, None, True, "dupe-id"),
        ("u9", "dup2@x.example", "SAME@x.example", None, None, None, True, "DUPE-ID"),
        ("u10", "off@x.example", "off@x.example", "Off", "Line", None, False, E6),             # inactive here
        ("u11", "deep@x.example", "deep@x.example", "De", "Ep", None, True, E8),               # nested only
    ])
    scope = {E1, E2, E3, E4, E6, E7}
    entra = _entra([
        (E1, "ann@x.example", "ann@x.example", "Ann", "Lee", True, False),
        (E2, "bob@x.example", None, "Bob", "Kim", True, False),                # no mail: nothing to compare
        (E3, "cy@x.example", "cy@x.example", "Cyrus", "New", True, False),
        (E4, "dee@x.example", "dee@x.example", "Dee", "Ray", False, False),
        (E5, "eve@x.example", "eve@x.example", "Eve", "Fox", True, False),
        (E6, "off@x.example", "off@x.example", "Off", "Line", True, False),
        (E7, "jit@x.example", "jit@x.example", "Jit", "Person", True, False),  # missing (a JIT account exists)
        (E8, "deep@x.example", "deep@x.example", "De", "Ep", True, False),
        (E9, "ann.new@x.example", "ANN@x.example ", "Ann", "New", True, False),  # missing: ann's mail is taken
    ], scope | {E9}, nested=frozenset({E8, E1}))
    groups = pd.DataFrame({"id": ["g1", "g2", "g3"], "displayName": ["Sales", "Ops", "Local"],
                           "externalId": [G1.upper(), G2, None]}).astype("string")
    memberships = pd.DataFrame({"group_id": ["g1", "g1", "g2", "g1", "g3"],
                                "user_id": ["u1", "u2", "u1", "u10", "u3"]}).astype("string")
    entra_groups = pd.DataFrame({"id": [G1, G2], "displayName": ["Sales", "Ops"]})
    entra_members = _frame({"group_id": [G1, G2, G2, G1], "user_id": [E1, E1, E3, E5]},
                           text=("group_id", "user_id"))
    return users, groups, memberships, entra, entra_groups, entra_members


def test_every_category_and_its_edges(sides) -> None:
    users, groups, memberships, entra, entra_groups, entra_members = sides
    t = compare(users, groups, memberships, entra, entra_groups, entra_members).tables
    assert list(t["not_managed"]["userName"]) == ["jit@x.example"]
    assert sorted(t["conflicts"]["kind"]) == ["duplicate e-mail", "duplicate externalId"]
    orphans = dict(zip(t["orphans"]["userName"], t["orphans"]["reason"], strict=True))
    assert orphans == {"dee@x.example": "disabled in Entra", "eve@x.example": "not assigned to the app in Entra",
                       "gone@x.example": "gone from Entra (no object with this id)",
                       # duplicates are checked too: their shared id is gone from Entra
                       "dup1@x.example": "gone from Entra (no object with this id)",
                       "dup2@x.example": "gone from Entra (no object with this id)",
                       "deep@x.example": "only in a group nested in an assigned group (Entra provisions direct "
                                         "members only)"}
    notes = dict(zip(t["missing"]["entraId"], t["missing"]["note"], strict=True))
    assert set(notes) == {E7, E9}
    assert notes[E7].startswith("a 6clicks account with this e-mail")
    # held by someone else's managed account: resolve that one first, never delete it blindly
    assert notes[E9].startswith("this e-mail or name is held by another 6clicks account managed by SCIM")
    drift = {(r["userName"], r["attribute"]): (r["in_6clicks"], r["in_entra"])
             for r in t["attribute_drift"].to_dict("records")}
    assert drift == {("cy@x.example", "given name"): ("Cy", "Cyrus"),
                     ("cy@x.example", "family name"): ("Old", "New"),
                     ("off@x.example", "active"): ("False", "True (assigned and enabled)")}
    sides_ = {(r["group"], r["userName"], r["side"][:7]) for r in t["membership_drift"].to_dict("records")}
    # u2 is in Sales only in 6clicks; Cy is in Ops only in Entra; u10 (inactive) and Eve (an orphan) are left
    # out; group g3 has no Entra counterpart
    assert sides_ == {("Sales", "bob@x.example", "only in"), ("Ops", "cy@x.example", "only in")}
    by_user = {r["userName"]: r["side"] for r in t["membership_drift"].to_dict("records")}
    assert by_user["bob@x.example"].startswith("only in 6clicks")
    assert by_user["cy@x.example"].startswith("only in Entra")


def test_an_account_claiming_someone_elses_id_is_flagged_not_hidden(sides) -> None:
    """A second 6clicks account with a live person's externalId (other case, spaces): both are access to check
    (exit 2), neither is paired with the Entra user for drift; after the person leaves Entra both stay orphans."""
    users, groups, memberships, entra, entra_groups, entra_members = sides
    impostor = _users([("u99", "mallory@x.example", "mallory@x.example", "Mal", "Lory", None, True,
                        f" {E3.upper()} ")])
    both = pd.concat([users, impostor], ignore_index=True)
    t = compare(both, groups, memberships, entra, entra_groups, entra_members)
    reasons = dict(zip(t.tables["orphans"]["userName"], t.tables["orphans"]["reason"], strict=True))
    assert reasons["mallory@x.example"].startswith("one of several 6clicks accounts with this externalId")
    assert reasons["cy@x.example"] == reasons["mallory@x.example"] and t.exit_code == 2
    assert "cy@x.example" not in set(t.tables["attribute_drift"]["userName"])  # never paired for drift
    gone = entra[entra["id"] != E3].reset_index(drop=True)
    after = compare(both, groups, memberships, gone, entra_groups, entra_members).tables["orphans"]
    assert set(after.loc[after["reason"].str.startswith("gone from Entra"), "userName"]) >= {"cy@x.example",
                                                                                           "mallory@x.example"}


def test_object_and_arrow_inputs_agree(sides) -> None:
    users, groups, memberships, entra, entra_groups, entra_members = sides
    a = compare(users, groups, memberships, entra, entra_groups, entra_members).counts()
    b = compare(users.astype({c: object for c in users.columns if c != "active"}), groups.astype(object),
                memberships.astype(object), entra.astype({"id": object, "upn": object, "mail": object}), entra_groups, entra_members.astype(object)).counts()
    assert a == b


def test_empty_sides() -> None:
    users = _users([])
    entra = _entra([], set())
    empty = pd.DataFrame({"id": [], "displayName": [], "externalId": []}, dtype="string")
    pairs = pd.DataFrame({"group_id": [], "user_id": []}, dtype="string")
    result = compare(users, empty, pairs, entra, pd.DataFrame(columns=["id", "displayName"]), pairs)
    assert set(result.counts().values()) == {0} and result.exit_code == 0
    only_entra = compare(users, empty, pairs, _entra([(E1, "a@x", None, None, None, None, False)], {E1}))
    assert list(only_entra.tables["missing"]["entraId"]) == [E1]  # enabled unknown counts as enabled


def test_graph_values_are_bounded_and_storable() -> None:
    """What Graph sends is hostile until shown otherwise: objects where text is expected, very long values, and
    lone surrogates (valid JSON, refused by SQLite and Arrow) become bounded, storable text."""
    import json
    import sqlite3

    from console.reconcile.entra_side import MAX_TEXT, _text, _user_row

    raw = json.loads('{"id": "abc", "userPrincipalName": "x\\ud800y@contoso.example", "givenName": {"a": 1}, '
                     '"surname": "' + "s" * 5000 + '", "mail": "", "accountEnabled": "yes", "userType": "Guest"}')
    row = _user_row(raw)
    assert row is not None
    _uid, upn, mail, given, surname, enabled, guest = row
    assert upn == "x\ufffdy@contoso.example" and given is None and mail is None and enabled is None and guest
    assert len(surname) == MAX_TEXT
    sqlite3.connect(":memory:").execute("SELECT ?, ?", (upn, surname))  # storable
    assert _text(["list"]) is None and _text(True) is None and _text(12) == "12"


def test_graph_pages_with_entries_that_are_not_objects_end_the_run() -> None:
    """Skipping an entry Graph garbled would report the person as an orphan: the page is refused instead."""
    from console.graph import GraphError
    from console.reconcile.entra_side import _enabled, _entries

    assert _entries({"value": [{"id": "a"}]}, "users/delta") == [{"id": "a"}]
    for page in ({"value": [None]}, {"value": [{"id": "a"}, "b"]}, {"value": None}, {}):
        with pytest.raises(GraphError) as caught:
            _entries(page, "users/delta")
        assert caught.value.code == "BadResponse" and "users/delta" in caught.value.message
    assert [_enabled(v) for v in (True, False, "false", " TRUE ", "no", None, 0)] == [True, False, False, True, None,
                                                                                    None, None]
