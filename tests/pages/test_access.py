"""The access gate in AppTest (pages/_access.py): without the access link a session sees only the way in, on
every page address; the link lets it in, leaves the address and is remembered by the session; a wrong or
renewed secret, a forged session mark or an unusable secret file keep the console closed. (Cookies, origins
and frames need a real browser: tests/browser/test_access.py.)"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from console import access
from tests.pages.conftest import APP, app, assert_clean, texts

PAGES = ["pages/overview.py", "pages/users.py", "pages/groups.py", "pages/sync_history.py", "pages/activity.py",
         "pages/connection.py"]


def _tree_text(at: AppTest) -> str:
    parts: list[str] = []

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        for child in (getattr(node, "children", None) or {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


def _assert_only_the_way_in(at: AppTest, live: Any) -> None:
    from console.directory.store import latest_snapshot

    assert_clean(at)
    shown = texts(at)
    assert "opens only with its access link" in shown
    assert "python -m console access-url --port" in "\n".join(c.value for c in at.code)
    everything = _tree_text(at)
    assert live.conn.name not in everything, "no connection name behind the gate"
    users = latest_snapshot(live.ctx, live.conn).users
    assert len(users) > 0
    for name in list(users["userName"])[:50]:
        assert str(name) not in everything, "no user name behind the gate"
    assert len(at.sidebar) == 0, "no sidebar"
    assert not at.metric and not at.dataframe and not at.button and not at.selectbox and not at.text_input
    assert "Operator:" not in everything


@pytest.mark.no_access_link
def test_without_the_link_every_page_address_shows_only_the_way_in(live):
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    _assert_only_the_way_in(at, live)
    for page in PAGES:
        at.switch_page(page).run()
        _assert_only_the_way_in(at, live)


@pytest.mark.no_access_link
@pytest.mark.legacy_pages
def test_a_page_running_alone_is_behind_the_gate_too(live, monkeypatch):
    """Streamlit's legacy pages/ mode runs a page file without app.py. Normally the page reruns through app.py;
    where it cannot (a Streamlit without that internal), it draws its own shell, and that is gated too."""
    from pages._ui import shell

    monkeypatch.setattr(shell, "_leave_legacy_pages_mode", lambda: False)
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.run()  # in legacy mode this rerun executes pages/overview.py alone
    _assert_only_the_way_in(at, live)


@pytest.mark.no_access_link
def test_the_link_lets_in_and_leaves_the_address(live):
    secret = access.ensure_secret(live.home)
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params[access.TOKEN_PARAM] = secret
    at.run()
    assert_clean(at)
    assert at.selectbox(key="connection").value == "Tenant"
    assert access.TOKEN_PARAM not in at.query_params, "the secret is taken out of the address"
    shown = _tree_text(at)
    leaked = secret in shown
    assert not leaked, "the secret is not on the page"
    for page in PAGES:  # the session remembers the entry
        at.switch_page(page).run()
        assert_clean(at)
        assert "opens only with its access link" not in texts(at)
    at.run()
    assert "Directory fetched" in texts(at)
    # a new session (another tab without the remembered-browser cookie) needs the link again
    other = AppTest.from_file(APP, default_timeout=90)
    other.run()
    _assert_only_the_way_in(other, live)


@pytest.mark.no_access_link
def test_a_wrong_link_is_refused_and_says_what_to_do(live):
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params[access.TOKEN_PARAM] = "not-the-secret"
    at.run()
    _assert_only_the_way_in(at, live)
    assert any("not the current one" in w.value for w in at.warning)
    assert access.TOKEN_PARAM not in at.query_params


@pytest.mark.no_access_link
def test_renewing_the_secret_closes_open_sessions(live):
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params[access.TOKEN_PARAM] = access.ensure_secret(live.home)
    at.run()
    assert at.selectbox(key="connection").value == "Tenant"
    access.rotate_secret(live.home)
    at.run()
    _assert_only_the_way_in(at, live)


@pytest.mark.no_access_link
def test_a_session_mark_cannot_be_forged(live):
    """Whatever lands in session state under the gate's key (a widget value a browser could send is a plain
    value) does not open the console: only the gate's own private object does."""
    from pages import _access

    for forged in ("granted", True, {"mark": access.session_mark(access.ensure_secret(live.home))},
                   access.session_mark(access.ensure_secret(live.home))):
        at = AppTest.from_file(APP, default_timeout=90)
        at.session_state[_access.KEY_GRANT] = forged
        at.run()
        _assert_only_the_way_in(at, live)


@pytest.mark.no_access_link
def test_an_unusable_secret_file_is_explained_and_keeps_the_console_closed(live):
    path = live.home / access.SECRET_FILE
    if path.exists() or path.is_symlink():
        path.unlink()
    path.symlink_to(live.home / "elsewhere")
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params[access.TOKEN_PARAM] = "anything"
    at.run()
    assert_clean(at)
    assert any("access secret cannot be used" in e.value for e in at.error)
    assert "symbolic link" in "\n".join(c.value for c in at.code)
    assert live.conn.name not in _tree_text(at)
    assert not at.selectbox and not at.button


@pytest.mark.no_access_link
def test_the_demo_does_not_start_behind_the_gate(tmp_path, monkeypatch):
    from console import demo

    home = tmp_path / "home"
    monkeypatch.setenv("SCIM_CONSOLE_HOME", str(home))
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING", "session")
    monkeypatch.delenv("SCIM_CONSOLE_NO_DEMO", raising=False)
    monkeypatch.chdir(Path(APP).parent)
    try:
        at = AppTest.from_file(APP, default_timeout=90)
        at.run()
        assert_clean(at)
        assert "opens only with its access link" in texts(at)
        assert not (home / "demo-sandbox").exists(), "no demo sandbox was started"
        assert not (home / "console.db").exists() or not _connections(home), "no demo connection was made"
    finally:
        demo.stop_demo()


def _connections(home: Path) -> list[Any]:
    from console.connections import ConnectionRepo
    from tests.pages.conftest import open_ctx

    return list(ConnectionRepo(open_ctx(home)).list())


def test_sign_in_replaces_the_link_when_configured(live, monkeypatch):
    """With st.login configured ([auth] in secrets) the identity provider and the operator allow-list guard
    the app; no access link is needed."""
    monkeypatch.setenv("SCIM_CONSOLE_OPERATORS", "ops@example.org")
    at = AppTest.from_file(APP, default_timeout=90)
    at.secrets = {"auth": {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "x" * 32,
                           "client_id": "id", "client_secret": "s",
                           "server_metadata_url": "https://login.example/.well-known/openid-configuration"}}
    at.user = {"is_logged_in": True, "email": "ops@example.org"}
    at._access_presented = True  # this session presents no link
    at.run()
    assert_clean(at)
    assert at.selectbox(key="connection").value == "Tenant"


def test_the_secret_file_is_private(live):
    app()
    mode = os.stat(live.home / access.SECRET_FILE).st_mode & 0o777
    assert mode == 0o600
