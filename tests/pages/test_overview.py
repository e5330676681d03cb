"""Overview: token, provisioning health from the Graph emulator, counts, alerts, recent changes; sign-in and
the operator's time zone."""

from __future__ import annotations

from datetime import timedelta

from streamlit.testing.v1 import AppTest

from tests.pages.conftest import APP, app, assert_clean, texts, unescape


def count(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_counts_and_token(live):
    from console.directory.store import latest_snapshot
    from console.tokens.service import TokenService

    snap = latest_snapshot(live.ctx, live.conn)
    status = TokenService(live.ctx).status("Tenant")
    at = app()
    assert_clean(at)
    assert _metric(at, "Active users") == f"{snap.active_users:,}"
    assert _metric(at, "Inactive users") == f"{snap.user_count - snap.active_users:,}"
    assert _metric(at, "Groups") == f"{snap.group_count:,}"
    assert _metric(at, "Roles") == f"{snap.role_count:,}"
    assert _metric(at, "Days left") == str(status.days_left)


def test_provisioning_health_after_refresh(live):
    at = app()
    assert "No provisioning data yet" in texts(at)
    at.button(key="sidebar.refresh").click().run()
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]
    assert _metric(at, "Job status") not in ("not polled", "")


def test_recent_changes_after_a_change(live):
    from console.directory.take import take_snapshot
    from console.tokens.service import TokenService

    with TokenService(live.ctx).scim_client("Tenant") as client:
        user = client.create_user("page.test.newcomer@example.org", email="page.test.newcomer@example.org",
                                  given_name="Page", family_name="Newcomer")
    try:
        take_snapshot(live.ctx, live.conn)
        at = app()
        assert_clean(at)
        shown = texts(at)
        listed = next(m.value for m in at.markdown if "newcomer" in m.value)
        [line] = [unescape(x) for x in listed.split("\n\n") if "newcomer" in x]
        assert line.startswith(":blue-badge[:material/photo_camera: snapshot] **")  # seen between snapshots
        assert line.endswith(" · page.test.newcomer@example.org created in 6clicks")
        assert "**Directory:** 1 change seen between snapshots." in shown
        assert "only one snapshot so far" not in shown
    finally:
        with TokenService(live.ctx).scim_client("Tenant") as client:
            client.delete_user(user.id)


def test_times_are_shown_in_the_operators_zone(live):
    at = AppTest.from_file(APP, default_timeout=90)
    at.context = {"timezone": "Australia/Sydney"}
    at.run()
    assert_clean(at)
    assert "AEDT" in texts(at) or "AEST" in texts(at)


def test_sign_in_required_when_auth_is_configured(live, monkeypatch):
    monkeypatch.setenv("SCIM_CONSOLE_OPERATORS", "ops@example.org")
    secrets = {"auth": {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "x" * 32,
                        "client_id": "id", "client_secret": "s",
                        "server_metadata_url": "https://login.example/.well-known/openid-configuration"}}
    at = AppTest.from_file(APP, default_timeout=90)
    at.secrets = secrets
    at.user = {"is_logged_in": False}
    at.run()
    assert_clean(at)
    assert "Sign in with your organisation account" in texts(at)
    assert not at.metric, "nothing of the console is shown before sign-in"

    at = AppTest.from_file(APP, default_timeout=90)
    at.secrets = secrets
    at.user = {"is_logged_in": True, "email": "intruder@example.org"}
    at.run()
    assert_clean(at)
    assert any("not an operator" in e.value for e in at.error)
    assert not at.metric

    at = AppTest.from_file(APP, default_timeout=90)
    at.secrets = secrets
    at.user = {"is_logged_in": True, "email": "Ops@Example.org"}
    at.run()
    assert_clean(at)
    assert _metric(at, "Active users")
    assert "Operator: Ops@Example.org" in texts(at)


def test_first_start_says_there_is_no_earlier_snapshot_and_shows_entras_activity(console_home, sandbox_factory):
    """As on the demo's first start: one snapshot (a baseline) and a week of Entra records. The Overview says
    plainly why no directory change is listed, lists Entra's activity and counts it as Sync history does."""
    from console.entra.fetch import fetch_logs
    from console.entra.logstore import range_start, summarise
    from tests.pages.conftest import make_connection

    box = sandbox_factory(seed_users=20, seed_groups=3, seed=5)
    box.admin("POST", "/sandbox-admin/entra/cycles", {"count": 3})
    live = make_connection(console_home, box)
    fetch_logs(live.ctx, live.conn)
    at = app()
    assert_clean(at)
    shown = texts(at)
    assert "**Directory:** only one snapshot so far (taken " in shown
    assert "so no changes between snapshots yet" in shown
    s = summarise(live.ctx, live.conn, since=range_start(timedelta(days=7)))
    assert s.total > 0
    assert f"**Entra provisioning:** {count(s.total, 'record')} in {count(len(s.cycles), 'cycle')}" in shown
    listed = next(m.value for m in at.markdown if m.value.startswith(":") and "Entra" in unescape(m.value))
    assert len(listed.split("\n\n")) == min(s.total, 200)
    # the Sync history page counts the same records for the same 7 days
    at.session_state["sync_history.range"] = "7 days"
    at.switch_page("pages/sync_history.py").run()
    assert_clean(at)
    assert f"{count(s.total, 'record')} in {count(len(s.cycles), 'cycle')}" in texts(at)


def test_the_next_cycle_is_the_same_on_overview_and_sync_history(console_home, sandbox_factory):
    from console.entra.sync import sync
    from tests.pages.conftest import make_connection

    box = sandbox_factory(seed_users=10, seed_groups=2, seed=6)
    box.admin("POST", "/sandbox-admin/entra/cycles", {"count": 2})
    live = make_connection(console_home, box)
    sync(live.ctx, live.conn)
    at = app()
    assert_clean(at)
    overview = next(m for m in at.metric if m.label == "Next cycle")
    caption = next(c.value for c in at.caption if "Next cycle:" in c.value)
    at.switch_page("pages/sync_history.py").run()
    assert_clean(at)
    history = next(m for m in at.metric if m.label == "Next cycle")
    assert (overview.value, overview.help) == (history.value, history.help)
    assert caption.endswith("Next cycle: " + overview.help[:1].lower() + overview.help[1:])
