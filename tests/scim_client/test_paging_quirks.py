"""Paging against purpose-built peers with the quirks real service providers have."""

from __future__ import annotations

import pytest

from scim_client import ProtocolError, ScimClient

from .peers import Directory, make_user

TOKEN = "paging-token-abcdef0123456789"


def ids(listing) -> list[str]:
    return [u.id for u in listing]


def expected(n: int) -> list[str]:
    return [f"u{i:06d}" for i in range(n)]


@pytest.mark.parametrize("max_page", [1, 7, 10, 33])
def test_short_pages_are_filled_without_gaps_or_duplicates(serve, max_page):
    d = Directory(101, max_page=max_page)
    base = serve(d.app()) + "/scim"
    with ScimClient(base, token=TOKEN, page_size=25, max_concurrency=4) as c:
        listing = c.list_users()
    assert ids(listing) == expected(101)
    assert not listing.changed_during_listing and listing.warnings == [] and listing.complete
    # Every request asked for a startIndex that was not yet covered.
    starts = sorted(s for s, _ in d.list_requests)
    assert len(starts) == len(set(starts))


def test_server_page_cap_varies_per_request(serve):
    """A server whose page size changes from one request to the next (e.g. by payload size)."""
    d = Directory(90)
    caps = iter([30, 4, 9, 1, 13, 2, 50, 3] * 40)

    def vary(n, directory):
        directory.max_page = next(caps)

    d.on_request = vary
    base = serve(d.app()) + "/scim"
    with ScimClient(base, token=TOKEN, page_size=30, max_concurrency=5) as c:
        listing = c.list_users()
    assert ids(listing) == expected(90)
    assert not listing.changed_during_listing


@pytest.mark.parametrize("resources_when_empty", ["omit", "null", "empty"])
def test_missing_items_per_page_and_missing_resources_on_the_last_page(serve, resources_when_empty):
    d = Directory(20, items_per_page=False, resources_when_empty=resources_when_empty)
    base = serve(d.app()) + "/scim"
    with ScimClient(base, token=TOKEN, page_size=5) as c:
        assert ids(c.list_users()) == expected(20)
        assert ids(list(c.iter_users())) == expected(20)
    empty = Directory(0, items_per_page=False, resources_when_empty=resources_when_empty)
    base = serve(empty.app()) + "/scim"
    with ScimClient(base, token=TOKEN, page_size=5) as c:
        listing = c.list_users()
        assert list(listing) == [] and listing.total_results == 0
        assert list(c.iter_users()) == []


def test_no_total_results_walks_until_an_empty_page(serve):
    d = Directory(23, totals=False, resources_when_empty="omit")
    base = serve(d.app()) + "/scim"
    with ScimClient(base, token=TOKEN, page_size=5) as c:
        assert ids(c.list_users()) == expected(23)
        assert ids(list(c.iter_users())) == expected(23)


def test_server_ignoring_count(serve):
    """Asked for 5, it always sends 20 from startIndex: no duplicates, nothing flagged as a change."""
    d = Directory(64, max_page=20, ignore_count=True)
    base = serve(d.app()) + "/scim"
    with ScimClient(base, token=TOKEN, page_size=5, max_concurrency=3) as c:
        listing = c.list_users()
    assert ids(listing) == expected(64)
    assert not listing.changed_during_listing


def test_more_records_than_announced_are_kept_and_said(serve):
    """Announces 150, ignores count=50 and serves 100 a page, 200 in all: every distinct record is kept (they
    exist) and the listing says the server returned more than it announced."""
    d = Directory(200, max_page=100, ignore_count=True, announce=150)
    base = serve(d.app()) + "/scim"
    with ScimClient(base, token=TOKEN, page_size=50, max_concurrency=2) as c:
        listing = c.list_users()
    assert ids(listing) == expected(200)
    assert any("announced 150" in w and "returned 200" in w for w in listing.warnings), listing.warnings


def test_users_added_while_listing_are_not_missed(serve):
    """Users inserted at the front mid-listing shift everybody: the client notices and lists again."""
    d = Directory(60)
    added: list[str] = []

    def insert(n, directory):
        if n in (3, 5):
            user = make_user(1000 + n)
            directory.users.insert(0, user)
            added.append(user["id"])

    d.on_request = insert
    base = serve(d.app()) + "/scim"
    with ScimClient(base, token=TOKEN, page_size=10, max_concurrency=2) as c:
        listing = c.list_users()
    got = ids(listing)
    assert len(got) == len(set(got))
    assert set(got) == set(expected(60)) | set(added)
    assert listing.changed_during_listing
    assert listing.warnings and "changed" in listing.warnings[0]


def test_users_deleted_while_listing_give_no_duplicates_and_no_misses(serve):
    d = Directory(60)
    removed: list[str] = []

    def delete(n, directory):
        if n == 3:
            removed.append(directory.users.pop(0)["id"])

    d.on_request = delete
    base = serve(d.app()) + "/scim"
    with ScimClient(base, token=TOKEN, page_size=10, max_concurrency=2) as c:
        listing = c.list_users()
    got = ids(listing)
    assert len(got) == len(set(got))
    assert set(got) == set(expected(60)) - set(removed)
    assert listing.changed_during_listing and listing.total_results == 59


def test_directory_that_keeps_changing_merges_both_listings(serve):
    d = Directory(30)
    added: list[str] = []

    def churn(n, directory):
        if n % 2 == 0:
            user = make_user(5000 + n)
            directory.users.insert(0, user)
            added.append(user["id"])

    d.on_request = churn
    base = serve(d.app()) + "/scim"
    with ScimClient(base, token=TOKEN, page_size=5, max_concurrency=2) as c:
        listing = c.list_users()
    got = ids(listing)
    assert len(got) == len(set(got))
    assert set(expected(30)) <= set(got)
    assert listing.changed_during_listing
    assert any("still changing" in w for w in listing.warnings)


def test_total_results_wrong_but_stable_is_a_warning_not_a_change(serve):
    d = Directory(12)
    app = d.app()
    original = d.list_page

    def lying(request):
        response = original(request)
        import orjson

        body = orjson.loads(response.body)
        body["totalResults"] = 15
        return type(response)(orjson.dumps(body), media_type="application/scim+json")

    d.list_page = lying
    base = serve(app) + "/scim"
    with ScimClient(base, token=TOKEN, page_size=5) as c:
        listing = c.list_users()
    assert ids(listing) == expected(12)
    assert not listing.changed_during_listing
    assert listing.warnings and "reported 15" in listing.warnings[0] and "incomplete" in listing.warnings[0]
    assert listing.complete is False


@pytest.mark.parametrize(
    ("spc", "page_size"),
    [
        ({"filter": {"supported": True, "maxResults": 37}}, 37),
        ({"filter": {"supported": True, "maxresults": "50"}}, 50),
        ({"pagination": {"index": True, "maxPageSize": 250}, "filter": {"maxResults": 100}}, 250),
        ({"urn:example:params:Paging": {"maxPageSize": 60}}, 60),
        ({"filter": {"supported": True, "maxResults": 200000}}, 1000),
        ({"patch": {"supported": True}}, 100),
        (None, 100),
    ],
)
def test_page_size_comes_from_service_provider_config(serve, spc, page_size):
    d = Directory(3, spc=spc)
    base = serve(d.app()) + "/scim"
    with ScimClient(base, token=TOKEN) as c:
        assert c.effective_page_size() == page_size
        assert ids(c.list_users()) == expected(3)
    assert d.list_requests[0] == (1, page_size)


def test_tolerant_parsing_of_real_world_users(serve):
    from starlette.routing import Route

    from .peers import json_response

    weird = [
        {
            "id": 1,
            "UserName": "case@example.com",
            "Active": "False",
            "Name": {"GivenName": "Ca"},
            "Emails": [{"Value": "x", "primary": "true"}],
        },
        {
            "id": "b",
            "userName": "strbool@example.com",
            "active": "True",
            "emails": [{"value": "w@x", "type": "work"}, {"value": "p@x", "primary": True}],
        },
        {
            "id": "c",
            "userName": "ext@example.com",
            "active": 0,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Risk"},
            "meta": {"created": "2026-03-01T10:00:00", "lastModified": "not a date"},
        },
        {"id": "d", "userName": "bare@example.com"},
    ]

    async def users(request):
        return json_response(
            {"totalResults": "4", "Resources": weird, "itemsPerPage": 4, "startIndex": 1},
            content_type="application/json",
        )

    from starlette.applications import Starlette

    base = serve(Starlette(routes=[Route("/scim/Users", users)])) + "/scim"
    with ScimClient(base, token=TOKEN, page_size=10) as c:
        listing = c.list_users()
    a, b, cc, dd = listing
    assert (a.id, a.user_name, a.active, a.given_name) == ("1", "case@example.com", False, "Ca")
    assert (b.active, b.email) == (True, "p@x")
    assert cc.active is False
    assert cc.raw["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"] == "Risk"
    assert cc.created is not None and cc.created.tzinfo is not None and cc.last_modified is None
    assert (dd.active, dd.email, dd.emails, dd.given_name) == (True, None, [], None)


def test_list_response_of_the_wrong_shape_is_a_protocol_error(serve):
    from starlette.applications import Starlette
    from starlette.routing import Route

    from .peers import json_response

    async def users(request):
        return json_response({"Resources": {"id": "x"}, "totalResults": 1})

    async def groups(request):
        return json_response([{"id": "x"}])

    base = serve(Starlette(routes=[Route("/scim/Users", users), Route("/scim/Groups", groups)])) + "/scim"
    with ScimClient(base, token=TOKEN, page_size=10) as c:
        with pytest.raises(ProtocolError, match="did not answer in SCIM"):
            c.list_users()
        with pytest.raises(ProtocolError, match="did not answer in SCIM"):
            c.list_groups()


def test_a_failing_page_stops_the_listing_with_its_error(serve):
    from scim_client import ServerError

    d = Directory(200)
    original = d.list_page

    def failing(request):
        if request.query_params.get("startIndex") == "51":
            from .peers import json_response

            return json_response({"status": "500", "detail": "page 51 exploded"}, 500)
        return original(request)

    d.list_page = failing
    base = serve(d.app()) + "/scim"
    with ScimClient(base, token=TOKEN, page_size=10, max_concurrency=4) as c:
        with pytest.raises(ServerError, match="page 51 exploded"):
            c.list_users()
        # The client is still usable afterwards.
        import itertools

        assert [u.id for u in itertools.islice(c.iter_users(), 3)] == expected(3)


def test_listings_and_records_survive_pickling(serve):
    """Streamlit's cache_data pickles return values: a Listing must keep its attributes."""
    import pickle

    d = Directory(5)
    base = serve(d.app()) + "/scim"
    with ScimClient(base, token=TOKEN) as c:
        listing = c.list_users()
    again = pickle.loads(pickle.dumps(listing))  # noqa: S301 - our own bytes
    assert list(again) == list(listing) and again.total_results == 5 and again.warnings == []
    assert again.changed_during_listing is False


@pytest.mark.parametrize("after", [0, 1])
def test_list_response_in_name_only_is_refused_not_read_as_empty(serve, after):
    """{"schemas": [ListResponse], "padding": ...} without totalResults or Resources must not end the listing
    as if the directory were empty (that would make every user look deleted)."""
    d = Directory(30)
    original = d.list_page

    def hollow(request):
        if len(d.list_requests) >= after:
            d.list_requests.append((0, 0))
            from .peers import json_response

            return json_response(
                {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "padding": "x" * 5000}
            )
        return original(request)

    d.list_page = hollow
    base = serve(d.app()) + "/scim"
    with ScimClient(base, token=TOKEN, page_size=10) as c:
        with pytest.raises(ProtocolError, match="no totalResults and no Resources"):
            c.list_users()
        with pytest.raises(ProtocolError):
            list(c.iter_users())


def test_any_combination_of_quirks_lists_everyone_exactly_once(serve):
    """Property: whatever page cap, count handling, missing fields and client page size, a quiet directory is
    listed completely, in order, without duplicates, and not reported as changed."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    d = Directory(0)
    base = serve(d.app()) + "/scim"

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        n=st.integers(0, 60),
        max_page=st.integers(0, 15),
        ignore_count=st.booleans(),
        items_per_page=st.booleans(),
        totals=st.booleans(),
        empty=st.sampled_from(["omit", "null", "empty"]),
        page_size=st.integers(1, 25),
        workers=st.integers(1, 6),
    )
    def check(n, max_page, ignore_count, items_per_page, totals, empty, page_size, workers):
        with d.lock:
            d.users = [make_user(i) for i in range(n)]
            d.max_page, d.ignore_count = max_page, ignore_count and max_page > 0
            d.items_per_page, d.totals, d.resources_when_empty = items_per_page, totals, empty
            if not totals:
                d.items_per_page = True  # without totalResults an empty page needs some paging field
            d.list_requests.clear()
        with ScimClient(base, token=TOKEN, page_size=page_size, max_concurrency=workers) as c:
            listing = c.list_users()
            walked = [u.id for u in c.iter_users()]
        assert ids(listing) == expected(n)
        assert walked == expected(n)
        assert not listing.changed_during_listing and listing.complete

    check()
