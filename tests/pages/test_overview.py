"""Overview: token, provisioning health from the Graph emulator, counts, alerts, recent changes; sign-in and
the operator's time zone."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.pages.conftest import APP, app, assert_clean, texts


def _metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_counts_and_token(live):
    from console.snapshots import latest_snapshot
    from console.tokens import TokenService

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
    from console.snapshots import take_snapshot
    from console.tokens import TokenService

    with TokenService(live.ctx).scim_client("Tenant") as client:
        user = client.create_user("page.test.newcomer@example.org", email="page.test.newcomer@example.org",
                                  given_name="Page", family_name="Newcomer")
    try:
        take_snapshot(live.ctx, live.conn)
        at = app()
        assert_clean(at)
        events = at.dataframe[0].value
        assert "page.test.newcomer@example.org" in set(events["subject_name"])
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
