"""The fixture itself: a real server starts, answers, and stops without leaving a process behind."""

from __future__ import annotations

import httpx


def test_session_sandbox_answers(sandbox) -> None:
    assert httpx.get(f"{sandbox.api_url}/healthz").json() == {"status": "ok"}
    with sandbox.client() as c:
        page = c.get("/Users", params={"count": 5}).json()
    assert page["totalResults"] > 0
    assert len(page["Resources"]) == 5
    assert sandbox.api_key not in repr(sandbox) and sandbox.admin_token not in repr(sandbox)


def test_factory_stop_reaps_the_process(sandbox_factory) -> None:
    box = sandbox_factory(seed_users=3, seed_groups=1)
    assert box.alive
    assert box.stop() == 0  # SIGTERM: graceful shutdown, normal exit
    assert not box.alive
    try:
        httpx.get(f"{box.api_url}/healthz", timeout=2)
    except httpx.TransportError:
        pass
    else:  # pragma: no cover - a listening socket after stop() is a defect
        raise AssertionError("the sandbox still answers after stop()")
