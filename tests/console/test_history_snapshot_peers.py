"""take_snapshot against purpose-built SCIM peers (real HTTP on 127.0.0.1): pages streamed into the snapshot's
files, a second read when the directory moves, refusal of short and lying listings, and the memory a refresh
needs. The stock sandbox cases are in test_history_sandbox.py."""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console.connections import Connection, ConnectionRepo
from console.context import Context
from console.credentials import memory_credentials
from console.directory.events import list_events
from console.directory.frames import SnapshotError, build_frames
from console.directory.store import directory_size, latest_snapshot
from console.directory.take import take_snapshot
from console.errors import NotFoundError
from console.store import Store
from scim_client import ScimClient
from tests.scim_client.odd_peers import LyingDirectory
from tests.scim_client.peers import Directory, Served, json_response, make_user

TOKEN = "snapshot-peer-token-0123456789abcdef"


@pytest.fixture
def serve() -> Iterator[Any]:
    running: list[Served] = []

    def start(app: Any) -> str:
        served = Served(app)
        running.append(served)
        return served.url

    yield start
    for served in running:
        served.stop()


def groups_route(groups: list[dict[str, Any]]) -> Route:
    """/scim/Groups answering ``groups`` page by page (``count`` honoured)."""

    async def listing(request: Request) -> Response:
        start = int(request.query_params.get("startIndex", "1"))
        count = int(request.query_params.get("count", "100"))
        page = groups[start - 1:start - 1 + count]
        return json_response({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                              "totalResults": len(groups), "startIndex": start, "itemsPerPage": len(page),
                              "Resources": page})

    return Route("/scim/Groups", listing)


def some_groups(n_users: int) -> list[dict[str, Any]]:
    return [
        {"id": "g-all", "displayName": "Everyone", "members": [{"value": f"u{i:06d}"} for i in range(n_users)]},
        {"id": "g-role", "displayName": "Role - Auditors", "externalId": "x1",
         "members": [{"value": "u000001"}, {"value": "u000001"}, {"value": "u000002"}]},
        {"id": "g-empty", "displayName": "Nobody"},
    ]


def console_for(tmp_path: Path, base: str) -> tuple[Context, Connection]:
    ctx = Context(data_dir=tmp_path, store=Store.open(tmp_path), credentials=memory_credentials())
    conn = ConnectionRepo(ctx).add(Connection(name="peer", api_url=base, scim_url=base + "/scim",
                                              auth_mode="static-token", allow_http=True))
    ctx.credentials.set(conn.name, "access_token", TOKEN)
    return ctx, conn


def test_streamed_snapshot_equals_the_frames_built_from_whole_listings(tmp_path, serve):
    directory = Directory(2_345, max_page=100)
    directory.users[5]["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = {"department": "Risk"}
    del directory.users[7]["name"]  # only the guide's mapped attributes
    directory.users[8]["displayName"] = None
    base = serve(directory.app([groups_route(some_groups(2_345))]))
    ctx, conn = console_for(tmp_path, base)
    seen: list[tuple[str, int, int | None]] = []
    snap = take_snapshot(ctx, conn, progress=lambda phase, done, total: seen.append((phase, done, total)))
    assert (snap.user_count, snap.group_count, snap.role_count, snap.membership_count) == (2_345, 2, 1, 2_347)
    with ScimClient(base + "/scim", TOKEN) as client:
        expected, _, _ = build_frames(client.list_users(), client.list_groups(), conn.is_role)
    for name in ("users", "groups", "memberships"):
        got = getattr(snap, name).reset_index(drop=True)
        want = getattr(expected, name).reset_index(drop=True)
        assert list(got.dtypes) == list(want.dtypes), name
        assert got.equals(want), name
    assert snap.groups.set_index("id").loc["g-role", "member_count"] == 2  # a duplicate member counts once
    assert snap.raw_user("u000005")["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] == {
        "department": "Risk"}
    assert snap.raw_user("u000007") == directory.users[7]
    assert snap.raw_group("g-all") == {"id": "g-all", "displayName": "Everyone"}  # members are in their table
    with pytest.raises(NotFoundError):
        snap.raw_user("nobody")
    assert ("users", 2_345, 2_345) in seen and any(p == "groups" for p, _, _ in seen)
    assert not any((ctx.data_dir / "snapshots").rglob(".staging-*"))


def test_users_file_is_written_batch_by_batch(tmp_path, serve, monkeypatch):
    import pyarrow.parquet as pq

    monkeypatch.setattr("console.directory.frames.USER_BATCH", 100)  # the default is 10,000 rows per batch
    base = serve(Directory(1_050, max_page=100).app([groups_route(some_groups(10))]))
    ctx, conn = console_for(tmp_path, base)
    snap = take_snapshot(ctx, conn)
    assert pq.ParquetFile(snap.path / "users.parquet").num_row_groups == 11
    assert snap.users["id"].tolist() == [f"u{i:06d}" for i in range(1_050)]


def test_a_directory_that_moves_once_is_read_again_and_stored(tmp_path, serve):
    directory = Directory(300, max_page=50)
    added: list[str] = []

    def insert(n: int, d: Directory) -> None:
        if n == 3:  # the 3rd users request of the first read: someone joins at the front
            user = make_user(9_000)
            d.users.insert(0, user)
            added.append(user["id"])

    directory.on_request = insert
    base = serve(directory.app([groups_route(some_groups(5))]))
    ctx, conn = console_for(tmp_path, base)
    snap = take_snapshot(ctx, conn)
    assert snap.user_count == 301 and snap.users["id"].is_unique
    assert set(snap.users["id"]) == {f"u{i:06d}" for i in range(300)} | set(added)
    assert any("read again" in w for w in snap.warnings)


def test_a_directory_that_keeps_moving_is_refused(tmp_path, serve):
    directory = Directory(200, max_page=50)

    def churn(n: int, d: Directory) -> None:
        if n % 2 == 0:
            d.users.insert(0, make_user(10_000 + n))

    directory.on_request = churn
    base = serve(directory.app([groups_route(some_groups(5))]))
    ctx, conn = console_for(tmp_path, base)
    with pytest.raises(SnapshotError) as info:
        take_snapshot(ctx, conn, attempts=2)
    assert "changed while they were being read" in str(info.value)
    assert info.value.remedy and "previous one is still shown" in info.value.remedy
    assert latest_snapshot(ctx, conn) is None and directory_size(ctx, conn).empty
    assert len(directory.list_requests) <= 2 * (200 // 50 + 10)  # two reads, bounded
    assert not any((ctx.data_dir / "snapshots").rglob("*.parquet"))


def test_a_listing_short_of_its_total_both_times_is_refused(tmp_path, serve):
    directory = Directory(12, max_page=5)
    original = directory.list_page

    def short(request: Request) -> Response:
        import orjson

        response = original(request)
        body = orjson.loads(response.body)
        body["totalResults"] = 15
        return json_response(body)

    directory.list_page = short
    base = serve(directory.app([groups_route(some_groups(3))]))
    ctx, conn = console_for(tmp_path, base)
    with pytest.raises(SnapshotError) as info:
        take_snapshot(ctx, conn)
    assert "only 12 of 15 users came back (read twice, same result)" in str(info.value)
    assert latest_snapshot(ctx, conn) is None


@pytest.mark.parametrize("mode", ["one-per-page", "empty-after", "same-page", "holes", "growing"])
def test_a_server_lying_about_total_results_gets_no_snapshot(tmp_path, serve, mode):
    """A server announcing 100,000,000 users (or ever more) that serves far fewer, repeats itself or
    contradicts itself: the refresh stops at once with the reason and a remedy, stores nothing, keeps the
    previous snapshot, and its memory does not follow what the server announces."""
    honest = LyingDirectory("honest", real=40)
    base = serve(honest.app())
    ctx, conn = console_for(tmp_path, base)
    first = take_snapshot(ctx, conn)
    assert first.user_count == 40
    liar = LyingDirectory(mode, announced=50 if mode == "growing" else 100_000_000, real=300, max_page=100)
    lying_base = serve(liar.app())
    repo = ConnectionRepo(ctx)
    conn.api_url, conn.scim_url = lying_base, lying_base + "/scim"
    repo.update(conn)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with pytest.raises(SnapshotError) as info:
            take_snapshot(ctx, conn)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    text = str(info.value)
    assert "listing users" in text or "listing groups" in text, text
    assert "No snapshot was stored" in text and "previous one is still shown" in text
    assert any(word in text for word in ("announced", "contradict", "already listed", "growing")), text
    assert (peak - before) / 2**20 < 50
    assert liar.stats()["requests"] < 200 and liar.stats()["max_in_flight"] <= 8
    assert latest_snapshot(ctx, conn).id == first.id
    assert len(directory_size(ctx, conn)) == 1 and list_events(ctx, conn).empty
    assert not any((ctx.data_dir / "snapshots").rglob(".staging-*"))


def test_a_refresh_holds_pages_not_the_directory(tmp_path, serve):
    """Python allocations of a refresh stay far below what holding every user as objects costs (about 3 KB
    each): the pages go to the files as they arrive."""
    n = 20_000
    base = serve(Directory(n, max_page=100).app([groups_route(some_groups(n))]))
    ctx, conn = console_for(tmp_path, base)
    take_snapshot(ctx, conn)  # warm imports and caches; the next one is diffed against this one
    with ScimClient(base + "/scim", TOKEN) as client:
        tracemalloc.start()
        try:
            listing = client.list_users()
            _, whole = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert len(listing) == n
    del listing
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        snap = take_snapshot(ctx, conn)
        _, streamed = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert snap.user_count == n and snap.event_count == 0
    assert streamed < whole / 2, (streamed / 2**20, whole / 2**20)


def test_progress_comes_from_both_listings(tmp_path, serve):
    base = serve(Directory(250, max_page=100).app([groups_route(some_groups(250))]))
    ctx, conn = console_for(tmp_path, base)
    lock = threading.Lock()
    phases: dict[str, list[tuple[int, int | None]]] = {}

    def progress(phase: str, done: int, total: int | None) -> None:
        with lock:
            phases.setdefault(phase, []).append((done, total))

    take_snapshot(ctx, conn, progress=progress)
    assert phases["users"][-1] == (250, 250)
    assert phases["groups"][-1] == (3, 3)
