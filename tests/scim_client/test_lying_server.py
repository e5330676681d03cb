"""Paging against a server that lies about totalResults (tests/scim_client/odd_peers.py, real HTTP).

Whatever the server announces, a listing keeps at most ``max_concurrency`` requests in flight, its memory does
not follow the announcement (tracemalloc, a behavioural bound), and a server that keeps announcing more than
it serves is stopped with a PagingError that says what it did and what to do."""

from __future__ import annotations

import itertools
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from scim_client import PagingError, ProtocolError, ScimClient

from .odd_peers import LyingDirectory
from .peers import Directory

TOKEN = "lying-peer-token-0123456789abcdef"
NO_CAPS = {"max_results": 10**12, "max_list_requests": 10**12}  # only the consistency checks stop a liar


def bounded(call: Callable[[], Any], limit_mb: float = 50.0) -> tuple[Any, float]:
    """(what ``call`` returned or raised, the growth of Python allocations at its peak in MB)."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        try:
            outcome: Any = call()
        except Exception as exc:  # the caller asserts on it
            outcome = exc
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    growth = (peak - before) / 2**20
    assert growth < limit_mb, f"{growth:.1f} MB"
    return outcome, growth


def test_announcing_200_million_with_one_user_per_page_stops_at_once(serve):
    """The case of issue 12: 200,000,000 announced, one user per page. Before, every page was scheduled at
    once and the process grew past 1 GB in 30 s."""
    liar = LyingDirectory("one-per-page", announced=200_000_000)
    base = serve(liar.app()) + "/scim"
    with ScimClient(base, TOKEN, page_size=100) as c:
        error, _ = bounded(c.list_users)
        assert isinstance(error, PagingError) and isinstance(error, ProtocolError)
        assert "200,000,000 users" in error.message and "more than the 1,000,000" in error.message
        assert "service provider" in error.remedy and "no snapshot" in error.remedy
        assert liar.stats()["requests"] == 1
        for call in (lambda: list(c.iter_user_pages()), lambda: list(itertools.islice(c.iter_users(), 5))):
            with pytest.raises(PagingError):
                call()
        groups_error, _ = bounded(c.list_groups)
        assert isinstance(groups_error, PagingError) and "groups" in groups_error.message


def test_one_user_per_page_under_the_result_cap_is_refused_for_the_requests_it_would_take(serve):
    liar = LyingDirectory("one-per-page", announced=900_000)
    base = serve(liar.app()) + "/scim"
    with ScimClient(base, TOKEN, page_size=100) as c:
        error, _ = bounded(c.list_users)
    assert isinstance(error, PagingError)
    assert "serves 1 per page" in error.message and "899,999 requests" in error.message
    assert liar.stats()["requests"] == 1


@pytest.mark.parametrize(("mode", "says"), [
    ("empty-after", "pages ended after 300"),
    ("same-page", "already listed"),
    ("holes", "contradict each other"),
    ("growing", "kept growing"),
])
def test_a_liar_is_stopped_by_what_it_serves_even_without_the_caps(serve, mode, says):
    """With the absolute caps lifted, the consistency checks alone end each lie after a bounded number of
    requests, with at most max_concurrency of them in flight, and bounded memory."""
    liar = LyingDirectory(mode, announced=50 if mode == "growing" else 100_000_000, real=300, max_page=100,
                          delay=0.002)
    base = serve(liar.app()) + "/scim"
    with ScimClient(base, TOKEN, page_size=100, max_concurrency=4, **NO_CAPS) as c:
        error, _ = bounded(c.list_users)
        assert isinstance(error, PagingError), error
        assert says in error.message and error.remedy
        stats = liar.stats()
        assert stats["max_in_flight"] <= 4
        assert stats["requests"] < 60, stats
        again, _ = bounded(lambda: [len(p) for p in c.iter_user_pages()])
        assert isinstance(again, PagingError)


def test_the_window_keeps_requests_in_flight_bounded_and_stops_when_the_reader_stops(serve):
    """A server announcing 150,000 users at one per page (within the caps): the stream asks for pages only as
    they are read. Stopping after 300 pages leaves at most a window's worth of requests made beyond them."""
    liar = LyingDirectory("one-per-page", announced=150_000, delay=0.001)
    base = serve(liar.app()) + "/scim"
    with ScimClient(base, TOKEN, page_size=100, max_concurrency=4) as c:
        stream = c.iter_user_pages()

        def read_300() -> int:
            count = 0
            for page in stream:
                count += len(page)
                if count >= 300:
                    break
            return count

        count, _ = bounded(read_300, limit_mb=10)
    assert count == 300
    stats = liar.stats()
    assert stats["max_in_flight"] <= 4
    assert 300 <= stats["requests"] <= 300 + 4 * 4 + 1


@pytest.mark.parametrize("workers", [1, 3, 8])
def test_pages_completing_out_of_order_and_a_slow_reader_still_give_every_page(serve, workers):
    """Pages fetched ahead wait for the page before them and for the reader: the listing is complete, in
    order, each index asked once. (Regression: the window once stopped scheduling when the page it waited for
    came back last and every slot then held a page waiting to be read.)"""
    d = Directory(1_000, max_page=10)

    original = d.list_page

    def two_slow_pages(request: Any) -> Any:
        if request.query_params.get("startIndex") in ("201", "601"):
            time.sleep(0.15)  # the others of the window come back first
        return original(request)

    d.list_page = two_slow_pages
    base = serve(d.app()) + "/scim"
    with ScimClient(base, TOKEN, page_size=10, max_concurrency=workers) as c:
        stream = c.iter_user_pages()
        got: list[str] = []
        for i, page in enumerate(stream):
            if i % 7 == 0:
                time.sleep(0.01)
            got += [u.id for u in page]
        assert [u.id for u in c.list_users()] == [f"u{i:06d}" for i in range(1_000)]
    assert got == [f"u{i:06d}" for i in range(1_000)]
    assert stream.complete and not stream.change_reasons and stream.requests == 100
    starts = sorted(s for s, _ in d.list_requests)
    assert len(starts) == 2 * len(set(starts))


def test_page_stream_reports_its_pass(serve):
    d = Directory(95, max_page=10)
    base = serve(d.app()) + "/scim"
    seen: list[tuple[int, int | None]] = []
    with ScimClient(base, TOKEN, page_size=10, max_concurrency=3) as c:
        stream = c.iter_user_pages(progress=lambda done, total: seen.append((done, total)))
        pages = list(stream)
        with pytest.raises(RuntimeError, match="one pass"):
            iter(stream)
    assert [len(p) for p in pages] == [10] * 9 + [5]
    assert (stream.total_results, stream.count, stream.requests, stream.duplicates) == (95, 95, 10, 0)
    assert stream.complete and stream.change_reasons == [] and stream.warnings == [] and not stream.moved
    assert seen[-1] == (95, 95)


def test_records_without_an_id_are_left_out_and_said(serve):
    from starlette.applications import Starlette
    from starlette.routing import Route

    from .peers import json_response, make_user

    users = [make_user(0), {**make_user(1), "id": ""}, {k: v for k, v in make_user(2).items() if k != "id"},
             make_user(3)]

    async def listing(request):
        return json_response({"totalResults": 4, "Resources": users, "startIndex": 1, "itemsPerPage": 4})

    base = serve(Starlette(routes=[Route("/scim/Users", listing)])) + "/scim"
    with ScimClient(base, TOKEN, page_size=10) as c:
        listing_ = c.list_users()
    assert [u.id for u in listing_] == ["u000000", "u000003"]
    assert not listing_.complete
    assert any("without an id" in w for w in listing_.warnings)


def test_limits_are_the_clients(serve):
    d = Directory(120, max_page=10)
    base = serve(d.app()) + "/scim"
    with ScimClient(base, TOKEN, page_size=10, max_results=100) as c:
        with pytest.raises(PagingError, match="120 users"):
            c.list_users()
    with ScimClient(base, TOKEN, page_size=10, max_list_requests=5) as c:
        with pytest.raises(PagingError, match="11 requests, more than the 5"):
            c.list_users()
    with ScimClient(base, TOKEN, page_size=10) as c:
        assert len(c.list_users()) == 120


def test_an_empty_first_page_under_a_large_total_is_a_paging_error_a_small_gap_a_warning(serve):
    liar = LyingDirectory("empty-after", announced=50_000, real=0)
    base = serve(liar.app()) + "/scim"
    with ScimClient(base, TOKEN, page_size=100) as c:
        with pytest.raises(PagingError, match="50,000 users but its first page is empty"):
            c.list_users()
    small = LyingDirectory("empty-after", announced=20, real=0)
    base = serve(small.app()) + "/scim"
    with ScimClient(base, TOKEN, page_size=100) as c:
        listing = c.list_users()
    assert list(listing) == [] and not listing.complete and "incomplete" in listing.warnings[0]
