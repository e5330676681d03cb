"""The pages' read model of a snapshot (console.directory.view), without Streamlit: preparation, search and
filters, sort, paging, group names per person and the Users CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pandas as pd
import pytest

from console.connections import Connection
from console.directory.store import Snapshot
from console.directory.view import (
    Directory,
    build_directory,
    filter_users,
    group_names_for,
    page_count,
    page_slice,
    sort_users,
    users_csv,
)

TAKEN = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _snapshot(users: list[dict], groups: list[dict], memberships: list[tuple[str, str]]) -> Snapshot:
    snap = Snapshot(id=7, connection="acme", taken_at=TAKEN, user_count=len(users), active_users=0,
                    group_count=len(groups), role_count=0, membership_count=len(memberships), event_count=0)
    snap.__dict__["users"] = pd.DataFrame(users)  # the frames a stored snapshot loads lazily
    snap.__dict__["groups"] = pd.DataFrame(groups, columns=["id", "displayName", "externalId", "kind",
                                                            "member_count"])
    snap.__dict__["memberships"] = pd.DataFrame(memberships, columns=["group_id", "user_id"])
    return snap


@pytest.fixture
def directory() -> Directory:
    users = [
        {"id": "u1", "userName": "ada@acme.test", "email": "ada@acme.test", "givenName": "Ada", "familyName": "Lovelace",
         "displayName": None, "active": True, "externalId": "e1", "created": "2026-01-02T03:04:05Z",
         "lastModified": None},
        {"id": "u2", "userName": "bob@acme.test", "email": None, "givenName": None, "familyName": None,
         "displayName": "Bob Builder", "active": False, "externalId": None, "created": None,
         "lastModified": "2026-05-06T07:08:09+00:00"},
        {"id": "u3", "userName": "cy@acme.test", "email": "=cmd|'/c calc'!A1", "givenName": "Cy", "familyName": "able",
         "displayName": None, "active": None, "externalId": None, "created": None, "lastModified": None},
    ]
    groups = [{"id": "g1", "displayName": "Finance", "externalId": None, "kind": "group", "member_count": 2},
              {"id": "g2", "displayName": "Role - Auditor", "externalId": None, "kind": "group", "member_count": 1},
              {"id": "g3", "displayName": "accounts", "externalId": None, "kind": "group", "member_count": 1}]
    snap = _snapshot(users, groups, [("g1", "u1"), ("g1", "u2"), ("g2", "u1"), ("g3", "u1")])
    return build_directory(snap, Connection(name="acme", api_url="https://acme.6clicks.test"))


def test_build_prepares_search_labels_counts_and_current_role_rule(directory: Directory) -> None:
    users = directory.users.set_index("id")
    assert users.loc["u1", "label"] == "Ada Lovelace" and users.loc["u2", "label"] == "Bob Builder"
    assert users.loc["u1", "search"] == "ada@acme.test\x1fada@acme.test\x1fada\x1flovelace\x1f"
    assert users["groups"].to_dict() == {"u1": 3, "u2": 1, "u3": 0}
    groups = directory.groups.set_index("id")
    assert groups["kind"].to_dict() == {"g1": "group", "g2": "role", "g3": "group"}  # the stored kind is re-read
    assert groups.loc["g2", "label"] == "Auditor"
    assert directory.snapshot_id == 7 and directory.taken_at == TAKEN
    assert list(directory.member_ids("g1")) == ["u1", "u2"]
    assert directory.user_group_ids("u1") == ["g1", "g2", "g3"]


def test_filters_need_every_word_and_any_of_the_chosen_groups(directory: Directory) -> None:
    assert list(filter_users(directory, query="ACME ada")["id"]) == ["u1"]
    assert list(filter_users(directory, query="acme nobody")["id"]) == []
    assert list(filter_users(directory, active="Active")["id"]) == ["u1"]
    assert list(filter_users(directory, active="Inactive")["id"]) == ["u2", "u3"]  # missing counts as inactive
    assert list(filter_users(directory, group_ids=["g1"])["id"]) == ["u1", "u2"]
    assert list(filter_users(directory, group_ids=["g1"], role_ids=["g2"])["id"]) == ["u1"]


def test_sort_is_case_insensitive_and_ignores_unknown_columns(directory: Directory) -> None:
    # text: case-insensitive, a missing value sorts as empty text
    assert list(sort_users(directory.users, "Family name")["id"]) == ["u2", "u3", "u1"]
    assert list(sort_users(directory.users, "Family name", descending=True)["id"]) == ["u1", "u3", "u2"]
    assert list(sort_users(directory.users, "Number of groups and roles", descending=True)["id"]) == ["u1", "u2", "u3"]
    assert sort_users(directory.users, "no such column") is directory.users


def test_pages_are_clamped_to_the_pages_there_are() -> None:
    frame = pd.DataFrame({"n": range(25)})
    assert page_count(0, 10) == 1 and page_count(25, 10) == 3
    assert list(page_slice(frame, 3, 10)["n"]) == list(range(20, 25))
    assert list(page_slice(frame, 9, 10)["n"]) == list(range(20, 25))
    assert list(page_slice(frame, 0, 10)["n"]) == list(range(10))


def test_group_names_per_person_by_kind(directory: Directory) -> None:
    assert group_names_for(directory, ["u1", "u2", "u3"], "group") == {"u1": "accounts, Finance", "u2": "Finance"}
    assert group_names_for(directory, ["u1"], "role") == {"u1": "Auditor"}
    assert group_names_for(directory, ["u1"], "role", full=True) == {"u1": "Role - Auditor"}
    assert group_names_for(directory, ["u3"], "group") == {}


def test_users_csv_has_names_utc_times_and_no_formulas(directory: Directory) -> None:
    data = users_csv(directory, directory.users)
    assert data.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert list(rows[0]) == ["id", "userName", "email", "givenName", "familyName", "displayName", "active",
                             "externalId", "groups", "roles", "created", "lastModified"]
    ada, bob, cy = rows
    assert (ada["groups"], ada["roles"], ada["created"]) == ("accounts; Finance", "Role - Auditor",
                                                            "2026-01-02T03:04:05Z")
    assert (bob["groups"], bob["roles"], bob["lastModified"], bob["created"]) == ("Finance", "", "2026-05-06T07:08:09Z", "")
    assert not cy["email"].startswith("=")
