"""The entry script: navigation, sidebar (picker, token badge, freshness, refresh), banners, error screens,
and the embedded demo started for real."""

from __future__ import annotations

import os

import pytest

from tests.pages.conftest import app, assert_clean, make_connection, open_ctx, texts


def test_no_connection_shows_the_designed_screen(console_home):
    at = app()
    assert_clean(at)
    assert "No connection is configured yet" in texts(at)
    for page in ("pages/users.py", "pages/groups.py"):
        at.switch_page(page).run()
        assert_clean(at)
        assert "No connection is configured yet" in texts(at)


def test_sidebar_shows_token_badge_and_freshness(live):
    at = app()
    assert_clean(at)
    assert at.selectbox(key="connection").value == "Tenant"
    shown = texts(at)
    assert "days left" in shown  # the badge: "Token: 365 days left"
    assert "Directory fetched" in shown
    assert not at.error, [e.value for e in at.error]


def test_refresh_takes_a_new_snapshot(live):
    from console.directory.store import latest_snapshot

    before = latest_snapshot(live.ctx, live.conn).id
    at = app()
    at.button(key="sidebar.refresh").click().run()
    assert_clean(at)
    assert latest_snapshot(live.ctx, live.conn).id > before
    assert not at.error


def test_rejected_token_shows_a_banner_on_every_page(live):
    from console.tokens.service import TokenService

    svc = TokenService(live.ctx)
    svc.import_token("Tenant", "not-a-valid-token-for-this-tenant", accept_estimated=True, verify=False)
    svc.test("Tenant")
    assert svc.status("Tenant").level == "rejected"
    for page in ("pages/overview.py", "pages/users.py", "pages/groups.py", "pages/connection.py"):
        at = app(page)
        assert_clean(at)
        assert any("Tenant" in e.value for e in at.error), (page, [e.value for e in at.error])


def test_server_down_refresh_says_what_to_do(console_home, sandbox_factory):
    box = sandbox_factory(seed_users=5, seed_groups=2)
    make_connection(console_home, box)
    box.stop()
    at = app()
    at.button(key="sidebar.refresh").click().run()
    assert_clean(at)
    assert at.error, "an unreachable server must produce an error message"
    message = " ".join(e.value for e in at.error)
    assert "could not" in message.lower() or "unreachable" in message.lower() or "refused" in message.lower()
    assert "Traceback" not in message
    # the previous snapshot is still shown
    at.switch_page("pages/users.py").run()
    assert_clean(at)
    assert len(at.dataframe) >= 1


def test_keyring_unavailable_is_explained(console_home, sandbox, monkeypatch):
    import keyring
    from keyring.backends import fail

    make_connection(console_home, sandbox)
    keyring.set_keyring(fail.Keyring())
    at = app("pages/connection.py")
    assert_clean(at)
    shown = texts(at)
    assert "No safe place for secrets" in shown
    assert "SCIM_CONSOLE_KEYRING" in shown  # the remedy names the ways out
    at.switch_page("pages/overview.py").run()
    assert_clean(at)
    assert any("secrets of Tenant cannot be read" in e.value for e in at.error)
    assert "days left" in texts(at)  # the token's metadata is still shown


def test_embedded_demo_starts_and_is_labelled(tmp_path, monkeypatch, sandbox):
    """No connection configured: the app starts the sandbox demo, stores its key in memory, generates a token,
    takes a snapshot and opens on a DEMO connection. Secrets do not appear on the page."""
    from console import demo

    monkeypatch.setenv("SCIM_CONSOLE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING", "session")
    monkeypatch.setenv("SCIM_CONSOLE_DEMO_USERS", "60")
    monkeypatch.delenv("SCIM_CONSOLE_NO_DEMO", raising=False)
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    try:
        at = app(timeout=240)
        assert_clean(at)
        shown = texts(at)
        assert "DEMO" in shown
        assert at.selectbox(key="connection").value == demo.DEMO_CONNECTION
        assert "days left" in shown
        assert "Active users" in shown
        ctx = open_ctx(tmp_path / "home")
        handle = demo.running_demo(ctx)
        assert handle is not None and handle.alive()
        # a second run (another rerun or session) reuses the same child process
        pid = handle.process.pid
        at2 = app(timeout=240)
        assert_clean(at2)
        assert demo.running_demo(ctx).process.pid == pid
        # no secret reached the page
        secret = ctx.credentials.get(demo.DEMO_CONNECTION, "access_token")
        api_key = ctx.credentials.get(demo.DEMO_CONNECTION, "api_key")
        assert secret and api_key
        for text in (texts(at), texts(at2)):
            assert secret not in text and api_key not in text
        # the child never got a secret on its command line
        assert all(api_key not in arg for arg in handle.process.args)
        # no file the console wrote holds a secret (the sandbox's own key store aside: it plays 6clicks)
        for path in (tmp_path / "home").rglob("*"):
            if path.is_file() and path.name not in ("sandbox.db", "sandbox.db-wal", "jwt.key"):
                data = path.read_bytes()
                assert secret.encode() not in data and api_key.encode() not in data, path
        # once a real connection exists the demo is not started by default, only when it is selected
        demo.stop_demo()
        make_connection(tmp_path / "home", sandbox, name="Real", snapshot=False, entra=False)
        at3 = app(timeout=240)
        assert_clean(at3)
        assert at3.selectbox(key="connection").value == "Real"
        assert demo.running_demo(ctx) is None
        at4 = app(timeout=240, state={"connection": demo.DEMO_CONNECTION})
        assert_clean(at4)
        assert demo.running_demo(ctx) is not None
        assert "Active users" in texts(at4)
    finally:
        demo.stop_demo()


@pytest.mark.parametrize("page", ["pages/overview.py", "pages/users.py", "pages/groups.py", "pages/connection.py"])
def test_every_page_renders_without_exception(live, page):
    at = app(page)
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]


@pytest.mark.legacy_pages
def test_shell_is_drawn_even_when_a_page_runs_alone(live):
    """Streamlit's legacy pages/ mode runs a page file without app.py (AppTest reruns; a server's very first
    request on a page URL): the page draws the sidebar and banners itself."""
    at = app()
    at.run()  # in legacy mode this rerun executes pages/overview.py alone
    assert_clean(at)
    assert at.selectbox(key="connection").value == "Tenant"
    assert "days left" in texts(at)
