"""The client against python-scim's stock scim2-server: an independent, strict RFC 7644 implementation."""

from __future__ import annotations

import uuid

import pytest

from scim_client import Conflict, NotFound, ScimClient, ScimGroup, ScimUser, filters

from .conftest import STOCK_TOKEN


@pytest.fixture(scope="module")
def populated(stock_server):
    """45 users (some with awkward names) and 2 groups on a fresh stock server."""
    with ScimClient(stock_server, token=STOCK_TOKEN) as c:
        users = [
            c.create_user(
                f"person{i}@example.com",
                email=f"person{i}@example.com",
                given_name=f"G{i}",
                family_name=f"F{i}",
                external_id=f"ext-{i}",
                active=i % 5 != 0,
            )
            for i in range(40)
        ]
        for name in [
            'o"brien@example.com',
            "back\\slash@example.com",
            "ünïcødé@example.com",
            "sp ace@example.com",
            'x") or (userName pr',
        ]:
            users.append(c.create_user(name, email="awkward@example.com"))
    return stock_server, users


def test_service_provider_config_gives_the_page_size(populated):
    base, _ = populated
    with ScimClient(base, token=STOCK_TOKEN) as c:
        spc = c.service_provider_config()
        assert spc["filter"]["maxResults"] == 1000
        assert c.effective_page_size() == 1000


@pytest.mark.parametrize("page_size", [None, 1, 7, 44, 45, 46])
def test_list_users_returns_every_user_once(populated, page_size):
    base, created = populated
    with ScimClient(base, token=STOCK_TOKEN, page_size=page_size, max_concurrency=3) as c:
        seen: list[tuple[int, int | None]] = []
        listing = c.list_users(progress=lambda done, total: seen.append((done, total)))
    assert sorted(u.id for u in listing) == sorted(u.id for u in created)
    assert listing.total_results == len(created)
    assert not listing.changed_during_listing and listing.warnings == []
    assert seen and seen[-1] == (len(created), len(created))
    by_name = {u.user_name: u for u in listing}
    p3 = by_name["person3@example.com"]
    assert isinstance(p3, ScimUser)
    assert (p3.given_name, p3.family_name, p3.email, p3.external_id, p3.active) == (
        "G3",
        "F3",
        "person3@example.com",
        "ext-3",
        True,
    )
    assert by_name["person5@example.com"].active is False
    assert p3.created is not None and p3.created.tzinfo is not None
    assert p3.raw["userName"] == "person3@example.com"


def test_iter_users_pages_lazily_and_filters(populated):
    base, created = populated
    with ScimClient(base, token=STOCK_TOKEN, page_size=4) as c:
        everyone = list(c.iter_users())
        assert sorted(u.id for u in everyone) == sorted(u.id for u in created)
        some = list(c.iter_users(filter=filters.sw("userName", "person1")))
    assert sorted(u.user_name for u in some) == sorted(f"person{i}@example.com" for i in [1, *range(10, 20)])


@pytest.mark.parametrize(
    "name", ['o"brien@example.com', "back\\slash@example.com", "ünïcødé@example.com", 'x") or (userName pr']
)
def test_find_user_escapes_awkward_names(populated, name):
    base, _ = populated
    with ScimClient(base, token=STOCK_TOKEN) as c:
        found = c.find_user(user_name=name)
        assert found is not None and found.user_name == name
        listing = c.list_users(filter=filters.eq("userName", name))
        assert [u.user_name for u in listing] == [name]


def test_find_by_external_id_and_email_and_missing(populated):
    base, _ = populated
    with ScimClient(base, token=STOCK_TOKEN) as c:
        assert c.find_user(external_id="ext-7").user_name == "person7@example.com"
        assert c.find_user(email="person8@example.com").user_name == "person8@example.com"
        assert c.find_user(user_name="nobody@example.com") is None
        with pytest.raises(ValueError):
            c.find_user()
        with pytest.raises(NotFound) as err:
            c.get_user(str(uuid.uuid4()))
        assert err.value.status == 404 and "deleted" in err.value.remedy


def test_user_lifecycle(stock_server):
    with ScimClient(stock_server, token=STOCK_TOKEN) as c:
        u = c.create_user("life@example.com", email="life@example.com", given_name="Li", family_name="Fe")
        assert u.id and u.active is True and u.email == "life@example.com"
        assert c.get_user(u.id).user_name == "life@example.com"
        assert c.set_active(u.id, False).active is False
        assert c.get_user(u.id).active is False
        assert c.set_active(u.id, True).active is True
        with pytest.raises(Conflict) as err:
            c.create_user("life@example.com")
        assert err.value.scim_type == "uniqueness"
        c.delete_user(u.id)
        with pytest.raises(NotFound):
            c.get_user(u.id)
        with pytest.raises(NotFound):
            c.delete_user(u.id)


def test_group_lifecycle_and_members(populated):
    base, users = populated
    ids = [u.id for u in users[:12]]
    with ScimClient(base, token=STOCK_TOKEN) as c:
        g = c.create_group("Role - Auditors", external_id="grp-1")
        assert isinstance(g, ScimGroup) and g.member_ids == []
        c.add_members(g.id, ids)
        assert sorted(c.get_group(g.id).member_ids) == sorted(ids)
        assert c.get_group(g.id, members=False).member_ids is None
        c.add_members(g.id, ids[:2])  # adding present members again is harmless
        c.remove_members(g.id, ids[:5])
        assert sorted(c.get_group(g.id).member_ids) == sorted(ids[5:])
        renamed = c.rename_group(g.id, 'Role - "Quoted" Auditors')
        assert renamed.display_name == 'Role - "Quoted" Auditors'
        found = c.find_group(display_name='Role - "Quoted" Auditors')
        assert found is not None and found.id == g.id
        assert c.find_group(display_name="Role - Auditors") is None
        groups = c.list_groups()
        assert {x.id: sorted(x.member_ids) for x in groups}[g.id] == sorted(ids[5:])
        light = c.list_groups(members=False)
        assert [x.member_ids for x in light if x.id == g.id] == [None]
        c.delete_group(g.id)
        with pytest.raises(NotFound):
            c.get_group(g.id)


def test_membership_writes_are_exact_on_the_stock_server(populated):
    """scim2-server answers PATCH with 204 and rejects a remove with a value list; our remove path
    (``members[value eq "id"]``, no value) and the read-back-based answers work there, and no member is lost."""
    base, users = populated
    ids = [u.id for u in users]
    with ScimClient(base, token=STOCK_TOKEN) as c:
        g = c.create_group("Exact members", member_ids=ids[:10])
        assert sorted(c.get_group(g.id).member_ids) == sorted(ids[:10])
        sent = c.add_members(g.id, ids[10:12])
        assert [s.status for s in sent] == [204] and sent[0].answer == ""
        assert sorted(c.get_group(g.id).member_ids) == sorted(ids[:12])          # 10 + 2 = 12
        sent = c.remove_members(g.id, [ids[3]])
        assert sent[0].request["Operations"] == [{"op": "remove", "path": f'members[value eq "{ids[3]}"]'}]
        assert sorted(c.get_group(g.id).member_ids) == sorted(set(ids[:12]) - {ids[3]})
        c.replace_members(g.id, ids[20:23])
        assert sorted(c.get_group(g.id).member_ids) == sorted(ids[20:23])
        renamed = c.rename_group(g.id, "Exact members 2")                        # 204: read back without members
        assert renamed.display_name == "Exact members 2" and renamed.member_ids is None
        assert sorted(c.get_group(g.id).member_ids) == sorted(ids[20:23])
        c.delete_group(g.id)
