"""The set-up path, state by state (AppTest): no connection, an incomplete connection, a locked keyring, a
connection without a token, a connection without Microsoft Graph. Each state says what is wrong, the one next
step (the place in the app and the command), and never shows a green "No alerts" beside a missing token."""

from __future__ import annotations

from typing import Any

import pytest

from tests.pages.conftest import app, assert_clean, make_connection, open_ctx, texts

SETUP = "pages/setup.py"
OVERVIEW = "pages/overview.py"
PASSPHRASE = "correct horse battery staple"


def _labels(at: Any) -> list[str]:
    return [e.label for e in at.expander]


def _links(at: Any) -> dict[str, str]:
    """Page links of the run: label -> "page?query"."""
    return {el.proto.label: f"{el.proto.page}?{el.proto.query_string}" for el in at.get("page_link")}


def _incomplete(home: Any, sandbox: Any, name: str = "Prod", *, with_key: bool = False) -> Any:
    from console.connections import Connection, ConnectionRepo
    from console.tokens.service import TokenService

    ctx = open_ctx(home)
    conn = ConnectionRepo(ctx).add(Connection(name=name, api_url=sandbox.api_url))
    if with_key:
        TokenService(ctx).set_api_key(name, sandbox.api_key)
    return conn


# --- no connection ---------------------------------------------------------------------------------------------
def test_no_connection_points_to_the_checklist_and_the_add_form(console_home):
    at = app()
    assert_clean(at)
    assert "No connection is configured yet" in texts(at)
    links = _links(at)
    assert "setup" in links["Set up a tenant"]
    assert links["Add a connection"].endswith("tab=Add+a+connection")

    at = app(SETUP)
    assert_clean(at)
    labels = _labels(at)
    assert labels[0] == "1. A safe place for secrets — needs attention"  # tests keep secrets in memory
    assert labels[1] == "2. Your tenant and its API key — to do"
    assert all(label.endswith("waits for an earlier step") for label in labels[2:])
    shown = texts(at)
    assert "No tenant yet" in shown and "both are checked before saving" in shown
    assert "In the app: Connection & token > Add a connection" in shown
    assert any("connections add NAME" in str(c.value) and "--stdin" in str(c.value) for c in at.code)
    assert _links(at)["Add a connection"].endswith("tab=Add+a+connection")
    assert at.get("progress")[0].proto.text == "0 of 6 steps done"


# --- an incomplete connection ----------------------------------------------------------------------------------
def test_an_incomplete_connection_is_an_alert_with_its_next_step(console_home, sandbox):
    _incomplete(console_home, sandbox)
    at = app(OVERVIEW)
    assert_clean(at)
    shown = texts(at)
    assert "No alerts" not in shown, "a missing token is an alert, never beside a green No alerts"
    assert "Prod is incomplete: it has no token yet" in shown  # the banner
    assert "Next step for Prod" in shown and "Type the API key on Connection & token" in shown
    assert "token set-key" in shown  # the command for those who prefer a shell
    assert any("No 6clicks token is stored" in str(e.value) for e in at.error)  # listed among the alerts

    at = app(SETUP)
    assert_clean(at)
    labels = _labels(at)
    assert "2. Your tenant and its API key — to do" in labels
    assert "3. The long-lived token — to do" in labels
    assert "Complete Prod" in _links(at)


def test_a_connection_with_its_key_but_no_token_says_generate(console_home, sandbox):
    _incomplete(console_home, sandbox, with_key=True)
    at = app(OVERVIEW)
    assert_clean(at)
    shown = texts(at)
    assert "No alerts" not in shown and any("No 6clicks token is stored" in str(e.value) for e in at.error)
    assert "Generate token" in shown and "token generate --connection Prod" in shown
    assert "Type the API key" not in shown  # the key is stored: the remedy does not ask for it again

    at = app(SETUP)
    assert_clean(at)
    shown = texts(at)
    assert "3. The long-lived token — to do" in _labels(at)
    assert "Connection & token > Token > Generate token" in shown
    assert "4. The token in Entra — waits for an earlier step" in _labels(at)


def test_the_app_never_opens_on_an_incomplete_connection_beside_a_healthy_one(console_home, sandbox):
    _incomplete(console_home, sandbox, "Aaa")
    make_connection(console_home, sandbox, name="Healthy", entra=False, snapshot=False)
    at = app(OVERVIEW)
    assert_clean(at)
    assert at.selectbox(key="connection").value == "Healthy"
    assert at.selectbox(key="connection").format_func("Aaa") == "Aaa · incomplete"
    assert "No alerts" not in texts(at) or "incomplete" not in texts(at)


# --- a locked keyring ------------------------------------------------------------------------------------------
@pytest.fixture
def locked(console_home, tmp_path, monkeypatch):
    from console.credentials import default_credentials

    monkeypatch.setenv("SCIM_CONSOLE_KEYRING", "cryptfile")
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING_FILE", str(tmp_path / "keyring.cfg"))
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING_PASSPHRASE", PASSPHRASE)
    default_credentials().set("Someone", "api_key", "6ck_created_elsewhere")
    monkeypatch.delenv("SCIM_CONSOLE_KEYRING_PASSPHRASE")
    return tmp_path / "keyring.cfg"


def test_a_locked_keyring_is_unlocked_on_the_checklist(locked):
    at = app(SETUP)
    assert_clean(at)
    assert _labels(at)[0] == "1. A safe place for secrets — to do"
    assert "is locked" in texts(at)
    at.text_input(key="setup.passphrase").input("not the right one at all")
    at.button(key="FormSubmitter:setup.keyring-Unlock").click().run()
    assert_clean(at)
    message = " ".join(e.value for e in at.error)
    assert "Wrong passphrase" in message and "Nothing was changed" in message
    assert "MAC" not in message and "ValueError" not in message
    at.text_input(key="setup.passphrase").input(PASSPHRASE)
    at.button(key="FormSubmitter:setup.keyring-Unlock").click().run()
    assert_clean(at)
    assert any("Keyring unlocked" in s.value for s in at.success)
    assert _labels(at)[0] == "1. A safe place for secrets — done"
    assert PASSPHRASE not in texts(at) and PASSPHRASE not in repr(at.session_state.to_dict())


def test_a_keyring_passphrase_in_the_environment_opens_it(locked, monkeypatch):
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING_PASSPHRASE", PASSPHRASE)
    at = app("pages/connection.py")
    assert_clean(at)
    assert "is locked" not in texts(at)
    assert any("Keyring:" in s.value and "Encrypted file keyring" in s.value for s in at.success)


def test_a_wrong_passphrase_in_the_environment_is_named_and_the_form_stays(locked, monkeypatch):
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING_PASSPHRASE", "an entirely wrong passphrase")
    at = app(SETUP)
    assert_clean(at)
    shown = texts(at)
    assert "is locked" in shown and "SCIM_CONSOLE_KEYRING_PASSPHRASE did not open it: Wrong passphrase" in shown
    assert at.text_input(key="setup.passphrase") is not None


# --- no Microsoft Graph ----------------------------------------------------------------------------------------
def test_without_graph_the_permissions_are_listed_and_the_links_land_on_its_tab(console_home, sandbox):
    from console.graph import GRAPH_PERMISSIONS

    make_connection(console_home, sandbox, name="NoGraph", entra=False, snapshot=False)
    at = app(SETUP)
    assert_clean(at)
    labels = _labels(at)
    assert "5. Microsoft Graph (optional) — optional" in labels
    assert "6. The provisioning job — optional" in labels
    shown = texts(at)
    for feature in GRAPH_PERMISSIONS:  # one list, in the code: every feature with its permissions
        assert feature.feature in shown
        for perm in feature.permissions:
            assert f"`{perm}`" in shown
    assert _links(at)["Configure Microsoft Graph"].endswith("tab=Microsoft+Graph")
    assert at.get("progress")[0].proto.text.endswith("of 6 steps done for NoGraph")  # Graph is not counted

    at = app(OVERVIEW)
    assert_clean(at)
    assert "Entra provisioning is not connected" in texts(at)
    assert _links(at)["Configure Microsoft Graph"].endswith("tab=Microsoft+Graph")
    assert "Set-up of NoGraph:" in texts(at)  # an unfinished set-up points to the checklist


def test_with_graph_but_no_job_the_job_step_says_how_it_is_found(console_home, sandbox):
    from dataclasses import replace

    from console.connections import ConnectionRepo

    live = make_connection(console_home, sandbox, name="Tenant", snapshot=False)
    conn = ConnectionRepo(live.ctx).get("Tenant")
    conn.entra = replace(conn.entra, job_id="")
    ConnectionRepo(live.ctx).update(conn)
    at = app(SETUP)
    assert_clean(at)
    assert "6. The provisioning job — to do" in _labels(at)
    shown = texts(at)
    assert "Find the job reads it from the service principal" in shown
    assert "connections find-job Tenant" in " ".join(str(c.value) for c in at.code)
