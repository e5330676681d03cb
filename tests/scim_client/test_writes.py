"""Writes against purpose-built odd servers (tests/odd_servers.py): no write carries ``attributes`` or
``excludedAttributes`` (a read-modify-write server would wipe the group), and every answer a server may give a
successful write (200 with the resource, 200 without a body, 204, 200 with JSON that is not a resource) is
handled without parsing nothing as a resource."""

from __future__ import annotations

import httpx
import pytest

from scim_client import Exchange, ScimClient
from tests.odd_servers import odd_server

WRITE_ANSWERS = ("resource", "empty", "none", "junk")


def client_for(srv) -> ScimClient:
    return ScimClient(srv.scim_url, token=srv.token(), max_retries=1)


def test_the_rmw_server_really_wipes_a_group_when_a_patch_carries_excluded_attributes():
    """The defect as filed: adding two people to a 10-member group with ?excludedAttributes=members leaves 2."""
    with odd_server(users=14, groups=[("Finance", list(range(10)))], rmw_projection=True) as srv:
        gid = srv.group_id("Finance")
        outsiders = sorted(set(srv.users) - srv.member_ids(gid))[:2]
        body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": u} for u in outsiders]}]}
        answer = httpx.patch(f"{srv.scim_url}/Groups/{gid}", params={"excludedAttributes": "members"}, json=body,
                             headers={"Authorization": f"Bearer {srv.token()}"})
        assert answer.status_code == 200
        assert srv.member_ids(gid) == set(outsiders)       # 10 + 2 = 2: the wipe the client must never cause


@pytest.mark.parametrize("answer", WRITE_ANSWERS)
def test_no_write_carries_attributes_and_members_stay_exact_on_a_read_modify_write_server(answer):
    with odd_server(users=16, groups=[("Finance", list(range(10)))], rmw_projection=True,
                    write_answer=answer) as srv, client_for(srv) as c:
        gid = srv.group_id("Finance")
        before = srv.member_ids(gid)
        outsiders = sorted(set(srv.users) - before)
        sent = c.add_members(gid, outsiders[:2])
        assert srv.member_ids(gid) == before | set(outsiders[:2])              # 10 + 2 = 12, not 2
        assert [type(s) for s in sent] == [Exchange] and sent[0].method == "PATCH"
        assert sent[0].path == f"Groups/{gid}" and sent[0].request["Operations"][0]["op"] == "add"
        assert sent[0].status == (204 if answer == "none" else 200)
        assert (sent[0].answer == "") == (answer in ("none", "empty"))
        gone = sorted(before)[0]
        c.remove_members(gid, [gone])
        assert srv.member_ids(gid) == (before | set(outsiders[:2])) - {gone}   # 11, not 0
        renamed = c.rename_group(gid, "Finance & Risk")
        assert renamed.id == gid and renamed.display_name == "Finance & Risk"
        assert srv.member_ids(gid) == (before | set(outsiders[:2])) - {gone}   # a rename keeps the members
        user = c.set_active(outsiders[3], False)
        assert user.id == outsiders[3] and user.active is False and srv.users[outsiders[3]]["active"] is False
        assert c.set_active(outsiders[3], True).active is True
        created = c.create_user("new.person@odd.example", email="new.person@odd.example", given_name="New")
        assert created.id in srv.users and created.user_name == "new.person@odd.example"
        group = c.create_group("Role - New", member_ids=[created.id])
        assert group.id in srv.groups and group.display_name == "Role - New"
        c.replace_members(group.id, [created.id, outsiders[4]])
        assert srv.member_ids(group.id) == {created.id, outsiders[4]}
        c.delete_group(group.id)
        c.delete_user(created.id)
        assert group.id not in srv.groups and created.id not in srv.users
        writes = srv.writes()
        assert len(writes) >= 10
        for w in writes:
            assert not {k.lower() for k in w["query"]} & {"attributes", "excludedattributes"}, w


@pytest.mark.parametrize("answer", WRITE_ANSWERS)
def test_a_write_answered_without_the_resource_is_read_back_not_parsed(answer):
    with odd_server(users=3, write_answer=answer) as srv, client_for(srv) as c:
        uid = sorted(srv.users)[0]
        reads_before = sum(1 for r in srv.requests if r["method"] == "GET")
        user = c.set_active(uid, False)
        reads = sum(1 for r in srv.requests if r["method"] == "GET") - reads_before
        assert user.id == uid and user.active is False
        assert reads == (0 if answer == "resource" else 1)          # read back exactly when nothing usable came


def test_set_active_returns_what_the_server_says_even_when_it_ignored_the_change():
    """The client does not pretend: a server that ignores ``active`` is visible in what set_active returns (the
    console's operations then fail the item); with a lying answer only a read-back shows it."""
    with odd_server(users=3, ignore_active=True) as srv, client_for(srv) as c:
        uid = next(u for u, d in srv.users.items() if d["active"])
        assert c.set_active(uid, False).active is True
    with odd_server(users=3, ignore_active=True, echo_active=True) as srv, client_for(srv) as c:
        uid = next(u for u, d in srv.users.items() if d["active"])
        assert c.set_active(uid, False).active is False            # the answer lies...
        assert c.get_user(uid).active is True                      # ...the read-back does not


def test_exchanges_carry_no_token():
    with odd_server(users=4, groups=[("G", [0])]) as srv, client_for(srv) as c:
        gid = srv.group_id("G")
        sent = c.add_members(gid, sorted(srv.users)[1:3]) + c.remove_members(gid, sorted(srv.users)[1:2])
        text = repr(sent)
        assert srv.token() not in text and srv.token().split(".")[1] not in text
        assert all(s.answer == "" or len(s.answer) <= 2001 for s in sent)


def test_member_changes_above_a_hundred_are_split_and_all_reported():
    with odd_server(users=230, groups=[("Big", [0])]) as srv, client_for(srv) as c:
        gid = srv.group_id("Big")
        ids = sorted(set(srv.users) - srv.member_ids(gid))
        sent = c.add_members(gid, ids)
        assert len(sent) == 3 and [len(s.request["Operations"][0]["value"]) for s in sent] == [100, 100, 29]
        assert srv.member_ids(gid) == set(srv.users)
        sent = c.remove_members(gid, ids[:150])
        assert len(sent) == 2 and srv.member_ids(gid) == set(srv.users) - set(ids[:150])
        sent = c.add_members(gid, ids[:150], per_request=150)              # one request, e.g. for a repair
        assert len(sent) == 1 and srv.member_ids(gid) == set(srv.users)
