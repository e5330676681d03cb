"""Connection & token page: the keyring (create with a confirmed strong passphrase, unlock, wrong passphrase),
token actions with their outcome panel (which goes with the page), the token into Entra right after Generate
(Tenant URL, "Reveal once to copy", "Entra has it"), adding a connection only when its check passed, an
incomplete connection with its one next step, Microsoft Graph (permissions per feature, the job found on the
service principal, a link that lands on the tab), reminders with Send test; secrets never shown or left in
session state."""

from __future__ import annotations

from datetime import datetime

import pytest

from console.tokens.rotation import in_entra
from tests.pages.conftest import app, assert_clean, make_connection, open_ctx, plotly_specs, texts

PAGE = "pages/connection.py"
ADD = "FormSubmitter:conn.new.{g}-Check and add the connection"


def _all_state(at) -> str:
    return repr(at.session_state.to_dict())


def _codes(at) -> list[str]:
    return [str(c.value) for c in at.code]


def test_token_summary_timeline_and_ics(live):
    from console.tokens.service import TokenService

    status = TokenService(live.ctx).status("Tenant")
    at = app(PAGE)
    assert_clean(at)
    shown = texts(at)
    assert f"…{status.fingerprint}" in shown
    assert "Days left" in shown
    assert "jwt-exp" not in shown and "expiry date read from the token" in shown  # words, not identifiers
    assert "Last test: works" in shown
    specs = plotly_specs(at)
    assert specs, "the expiry timeline is drawn"
    traces = specs[0]["data"]
    token = next(t for t in traces if t.get("y") == ["Token", "Token"])
    assert token["x"][1][:10] == status.expires_at.astimezone(datetime.now().astimezone().tzinfo).date().isoformat() \
        or token["x"][1][:10] == status.expires_at.date().isoformat()
    reminders = [t for t in traces if t.get("y") == ["Reminders"]]
    assert len(reminders) == len(live.conn.reminder_days)
    assert any(getattr(b.proto, "label", "").endswith(".ics)") or "calendar" in getattr(b.proto, "label", "")
               for b in at.get("download_button"))


def test_test_and_generate_show_their_outcome_and_the_entra_steps(live):
    from console.tokens.service import TokenService

    before = TokenService(live.ctx).status("Tenant").fingerprint
    at = app(PAGE)
    at.button(key="token.test").click().run()
    assert_clean(at)
    assert any("Tested" in s.value for s in at.success)
    at.button(key="token.generate").click().run()
    assert_clean(at)
    assert any("Token generated" in s.value for s in at.success)
    after = TokenService(live.ctx).status("Tenant")
    assert after.fingerprint != before
    shown = texts(at)
    # right after the first Generate: how the token gets into Entra, with the Tenant URL the guide prescribes
    assert "Now give Entra this token" in shown and "Secret Token" in shown
    assert live.conn.tenant_url in _codes(at) and live.conn.tenant_url.endswith("/scim/")
    token = TokenService(live.ctx).get_token("Tenant")
    assert token not in texts(at) and token not in _all_state(at) and token not in _codes(at)


def test_reveal_once_shows_the_token_for_that_run_only(live):
    from console.tokens.service import TokenService

    at = app(PAGE)
    at.button(key="token.generate").click().run()
    token = TokenService(live.ctx).get_token("Tenant")
    at.button(key="token.entra_now.reveal").click().run()
    assert_clean(at)
    assert token in _codes(at), "revealed on deliberate action"
    assert token not in _all_state(at) and token not in texts(at)
    at.run()  # any next interaction
    assert token not in _codes(at) and token not in _all_state(at)
    at.button(key="token.entra_now.confirm").click().run()
    assert_clean(at)
    assert in_entra(TokenService(live.ctx), "Tenant") == "confirmed"
    assert "Entra has the token" in texts(at) or any(e.label == "The token in Entra: confirmed by you"
                                                     for e in at.expander)


def test_rotate_without_graph_lists_the_manual_steps(console_home, sandbox):
    make_connection(console_home, sandbox, name="NoEntra", entra=False, snapshot=False)
    at = app(PAGE, state={"connection": "NoEntra"})
    at.button(key="token.rotate").click().run()
    at.button(key="token.rotate_confirm").click().run()
    assert_clean(at)
    shown = texts(at)
    assert "Token rotated" in shown and "Now give Entra this token" in shown
    assert "Secret Token" in shown and "Test Connection" in shown and "Reveal once to copy" in shown
    from console.tokens.service import TokenService

    token = TokenService(open_ctx(console_home)).get_token("NoEntra")
    assert token not in shown and token not in _all_state(at)


def test_the_outcome_panel_goes_when_the_admin_leaves_the_page(console_home, sandbox):
    make_connection(console_home, sandbox, name="NoEntra", entra=False, snapshot=False)
    at = app(PAGE, state={"connection": "NoEntra"})
    at.button(key="token.rotate").click().run()
    at.button(key="token.rotate_confirm").click().run()
    assert "Token rotated" in texts(at)
    at.switch_page("pages/overview.py").run()
    assert_clean(at)
    at.switch_page(PAGE).run()
    assert_clean(at)
    assert "Token rotated" not in texts(at), "a result panel belongs to the action, not to the next visit"
    assert "result.connection" not in at.session_state
    assert any(e.label == "The token in Entra: not confirmed yet" for e in at.expander)  # the steps stay reachable


def test_rotate_with_graph_pushes_to_entra(live):
    from console.tokens.service import TokenService

    at = app(PAGE)
    at.button(key="token.rotate").click().run()
    at.button(key="token.rotate_confirm").click().run()
    assert_clean(at)
    assert "written to Entra's provisioning job" in texts(at)
    assert in_entra(TokenService(live.ctx), "Tenant") == "pushed"


def test_rotate_cancel_changes_nothing(live):
    from console.tokens.service import TokenService

    before = TokenService(live.ctx).status("Tenant").fingerprint
    at = app(PAGE)
    at.button(key="token.rotate").click().run()
    at.button(key="token.rotate_cancel").click().run()
    assert_clean(at)
    assert TokenService(live.ctx).status("Tenant").fingerprint == before


def test_import_of_a_bad_token_is_refused_and_nothing_changes(live):
    from console.tokens.service import TokenService

    before = TokenService(live.ctx).status("Tenant").fingerprint
    at = app(PAGE)
    at.text_input(key="token.import_value").input("garbage-token")
    at.button(key="FormSubmitter:token.import_form-Import token").click().run()
    assert_clean(at)
    assert at.error, "a refused token shows why"
    assert "garbage-token" not in texts(at)
    assert TokenService(live.ctx).status("Tenant").fingerprint == before


# --- adding a connection --------------------------------------------------------------------------------------
def _fill(at, g: int, name: str, url: str, key: str) -> None:
    p = f"conn.new.{g}"
    at.text_input(key=f"{p}.name").input(name)
    at.text_input(key=f"{p}.api_url").input(url)
    at.text_input(key=f"{p}.api_key").input(key)


def test_add_connection_checks_first_and_opens_its_token(console_home, sandbox):
    from console.connections import ConnectionRepo
    from console.tokens.service import TokenService

    at = app(PAGE)
    assert_clean(at)
    assert "No connection is configured yet" in texts(at)
    _fill(at, 0, "Prod", sandbox.api_url, sandbox.api_key)
    at.button(key=ADD.format(g=0)).click().run()
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]
    ctx = open_ctx(console_home)
    assert ConnectionRepo(ctx).get("Prod").api_url == sandbox.api_url
    assert ctx.credentials.get("Prod", "api_key") == sandbox.api_key
    assert TokenService(ctx).status("Prod").level == "ok", "the first token is generated with the check"
    assert sandbox.api_key not in texts(at) and sandbox.api_key not in _all_state(at)
    assert (console_home / "console.db").read_bytes().find(sandbox.api_key.encode()) == -1
    assert at.selectbox(key="connection").value == "Prod"
    assert at.session_state["tab"] == "Token"
    shown = texts(at)
    assert "Connection 'Prod' added" in shown and "Now give Entra this token" in shown
    assert f"{sandbox.api_url}/scim/" in _codes(at)


def test_a_wrong_key_saves_nothing_and_only_the_key_needs_fixing(console_home, sandbox):
    from console.connections import ConnectionRepo

    at = app(PAGE)
    _fill(at, 0, "Prod", sandbox.api_url, "6ck_wrong_" + "0" * 24)
    at.button(key=ADD.format(g=0)).click().run()
    assert_clean(at)
    message = " ".join(e.value for e in at.error)
    assert "refused the API key" in message and "Nothing was saved" in message
    assert "nothing was changed" not in message.lower() or "Nothing was saved" in message
    assert "Correct the **API key** field" in " ".join(c.value for c in at.caption)
    ctx = open_ctx(console_home)
    assert ConnectionRepo(ctx).find("Prod") is None
    assert not any("Prod" in str(o) for o in (at.selectbox(key="connection").options
                                              if "connection" in at.session_state else []))
    # the other fields are kept: only the key is typed again
    assert at.text_input(key="conn.new.0.name").value == "Prod"
    assert at.text_input(key="conn.new.0.api_url").value == sandbox.api_url
    at.text_input(key="conn.new.0.api_key").input(sandbox.api_key)
    at.button(key=ADD.format(g=0)).click().run()
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]
    assert ConnectionRepo(open_ctx(console_home)).get("Prod")


def test_an_unreachable_url_saves_nothing(console_home, sandbox):
    from console.connections import ConnectionRepo

    at = app(PAGE)
    _fill(at, 0, "Prod", "http://127.0.0.1:9", sandbox.api_key)
    at.button(key=ADD.format(g=0)).click().run()
    assert_clean(at)
    message = " ".join(e.value for e in at.error)
    assert "did not answer" in message and "Nothing was saved" in message
    assert ConnectionRepo(open_ctx(console_home)).find("Prod") is None
    assert sandbox.api_key not in texts(at)


def test_bad_url_keeps_what_was_typed(console_home):
    at = app(PAGE)
    prefix = "conn.new.0"
    at.text_input(key=f"{prefix}.name").input("Prod")
    at.text_input(key=f"{prefix}.api_url").input("ftp://nowhere")
    at.text_input(key=f"{prefix}.api_key").input("6ck_anything_123456")
    at.button(key=ADD.format(g=0)).click().run()
    assert_clean(at)
    assert any("API base URL" in e.value for e in at.error)
    assert at.text_input(key=f"{prefix}.name").value == "Prod"  # nothing lost


def test_add_connection_refused_without_a_safe_keyring(console_home, sandbox):
    import keyring
    from keyring.backends import fail

    from console.connections import ConnectionRepo

    keyring.set_keyring(fail.Keyring())
    at = app(PAGE)
    assert "No safe place for secrets" in texts(at)
    _fill(at, 0, "Prod", sandbox.api_url, sandbox.api_key)
    at.button(key=ADD.format(g=0)).click().run()
    assert_clean(at)
    assert any("cannot be stored" in e.value and "Nothing was saved" in e.value for e in at.error)
    assert ConnectionRepo(open_ctx(console_home)).find("Prod") is None
    assert sandbox.api_key not in texts(at)


# --- an incomplete connection ---------------------------------------------------------------------------------
def _incomplete(console_home, sandbox, name="Prod"):
    from console.connections import Connection, ConnectionRepo

    return ConnectionRepo(open_ctx(console_home)).add(Connection(name=name, api_url=sandbox.api_url))


def test_an_incomplete_connection_says_so_and_takes_its_key_here(console_home, sandbox):
    from console.tokens.service import TokenService

    _incomplete(console_home, sandbox)
    at = app(PAGE)
    assert_clean(at)
    shown = texts(at)
    assert "Prod is incomplete" in shown and "Next step:" in shown
    assert "Type the API key on Connection & token" in shown and "token set-key" in shown  # place + command
    assert "Prod · incomplete" in at.selectbox(key="connection").format_func("Prod")
    key_field = next(t for t in at.text_input if t.key.startswith("conn.key.Prod."))
    key_field.input("6ck_wrong_" + "2" * 24)
    at.button(key=f"FormSubmitter:{key_field.key.rsplit('.', 1)[0]}-Check the key and generate the token").click().run()
    assert_clean(at)
    assert any("nothing was changed" in e.value for e in at.error)
    key_field = next(t for t in at.text_input if t.key.startswith("conn.key.Prod."))
    key_field.input(sandbox.api_key)
    at.button(key=f"FormSubmitter:{key_field.key.rsplit('.', 1)[0]}-Check the key and generate the token").click().run()
    assert_clean(at)
    assert TokenService(open_ctx(console_home)).status("Prod").level == "ok"
    assert "Prod is incomplete" not in texts(at) and "Now give Entra this token" in texts(at)
    assert sandbox.api_key not in _all_state(at)


def test_the_app_opens_on_a_healthy_connection_not_an_incomplete_one(console_home, sandbox):
    _incomplete(console_home, sandbox, "Aaa incomplete")
    make_connection(console_home, sandbox, name="Zed", entra=False, snapshot=False)
    from console.setup import remember_connection

    remember_connection(open_ctx(console_home), "Aaa incomplete", "")  # even when it was the last one used
    at = app()
    assert_clean(at)
    assert at.selectbox(key="connection").value == "Zed"


def test_the_last_healthy_selection_is_remembered(console_home, sandbox):
    make_connection(console_home, sandbox, name="Alpha", entra=False, snapshot=False)
    make_connection(console_home, sandbox, name="Beta", entra=False, snapshot=False)
    at = app()
    assert at.selectbox(key="connection").value == "Alpha"
    at.selectbox(key="connection").select("Beta").run()
    assert_clean(at)
    again = app()  # a new session, e.g. after a restart
    assert again.selectbox(key="connection").value == "Beta"


# --- keyring --------------------------------------------------------------------------------------------------
@pytest.fixture
def cryptfile(console_home, tmp_path, monkeypatch):
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING", "cryptfile")
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING_FILE", str(tmp_path / "keyring.cfg"))
    monkeypatch.delenv("SCIM_CONSOLE_KEYRING_PASSPHRASE", raising=False)
    return tmp_path / "keyring.cfg"


def _create(at, first, second):
    at.text_input(key="connection.passphrase").input(first)
    at.text_input(key="connection.passphrase2").input(second)
    at.button(key="FormSubmitter:connection.keyring-Create the keyring").click().run()


def test_the_encrypted_keyring_is_created_with_a_confirmed_strong_passphrase(cryptfile):
    at = app(PAGE)
    assert_clean(at)
    assert "not created yet" in texts(at) and "demo does not need it" in texts(at)
    _create(at, "abc", "abc")
    assert any("too short" in e.value for e in at.error) and not cryptfile.exists()
    _create(at, "correct horse battery staple", "correct horse battery stapel")
    assert any("differ" in e.value for e in at.error) and not cryptfile.exists()
    _create(at, "correct horse battery staple", "correct horse battery staple")
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]
    assert cryptfile.exists()
    assert any("Keyring created" in s.value for s in at.success)
    assert "Encrypted file keyring" in texts(at) and "not created yet" not in texts(at)
    assert "correct horse battery staple" not in texts(at) + _all_state(at)


def test_a_locked_keyring_is_unlocked_and_a_wrong_passphrase_is_named(cryptfile, monkeypatch):
    from console.credentials import default_credentials

    monkeypatch.setenv("SCIM_CONSOLE_KEYRING_PASSPHRASE", "correct horse battery staple")
    default_credentials().set("Someone", "api_key", "6ck_created_elsewhere")
    monkeypatch.delenv("SCIM_CONSOLE_KEYRING_PASSPHRASE")
    at = app(PAGE)
    assert "is locked" in texts(at)
    at.text_input(key="connection.passphrase").input("not the right one at all")
    at.button(key="FormSubmitter:connection.keyring-Unlock").click().run()
    assert_clean(at)
    message = " ".join(e.value for e in at.error)
    assert "Wrong passphrase" in message and "MAC" not in message
    at.text_input(key="connection.passphrase").input("correct horse battery staple")
    at.button(key="FormSubmitter:connection.keyring-Unlock").click().run()
    assert_clean(at)
    assert any("Keyring unlocked" in s.value for s in at.success)


# --- settings, Graph, reminders -------------------------------------------------------------------------------
def test_edit_role_rule_in_words_and_reminders(live):
    from console.connections import ConnectionRepo

    at = app(PAGE)
    prefix = "conn.edit.Tenant.0"
    assert "prefix:Role - " not in texts(at) and "group names starting with “Role - ”" in texts(at)
    at.selectbox(key=f"{prefix}.role_kind").select("regex")
    at.text_input(key=f"{prefix}.role_rule").input("^Team")
    at.button(key=f"FormSubmitter:{prefix}-Save changes").click().run()
    assert_clean(at)
    assert ConnectionRepo(live.ctx).get("Tenant").role_rule == "regex:^Team"
    at.text_input(key="reminders.Tenant.0.days").input("90, 45, 10")
    at.button(key="FormSubmitter:reminders.Tenant.0-Save reminder settings").click().run()
    assert_clean(at)
    assert ConnectionRepo(live.ctx).get("Tenant").reminder_days == (90, 45, 10)
    at.text_input(key="reminders.Tenant.1.days").input("soon")
    at.button(key="FormSubmitter:reminders.Tenant.1-Save reminder settings").click().run()
    assert any("whole numbers" in e.value for e in at.error)
    assert ConnectionRepo(live.ctx).get("Tenant").reminder_days == (90, 45, 10)


def test_remove_connection(live):
    from console.connections import ConnectionRepo

    at = app(PAGE)
    at.text_input(key="remove.Tenant").input("Tenant").run()
    at.button(key="remove.button.Tenant").click().run()
    assert_clean(at)
    assert ConnectionRepo(live.ctx).find("Tenant") is None
    assert live.ctx.credentials.get("Tenant", "api_key") is None


def test_send_test_reaches_the_channel_and_the_cron_line_is_shown(live):
    from tests.console.test_core_helpers import local_http

    with local_http(lambda _h: (200, "application/json", b"{}")) as receiver:
        url = f"json://127.0.0.1:{receiver.server_port}/hook/secret-part"
        at = app(PAGE)
        at.text_input(key="reminders.Tenant.0.urls").input(url)
        at.button(key="FormSubmitter:reminders.Tenant.0-Save reminder settings").click().run()
        assert_clean(at)
        at.button(key="reminders.Tenant.send_test").click().run()
        assert_clean(at)
        assert any("Test message delivered to 1 channel" in s.value for s in at.success)
        assert len(receiver.received) == 1
        assert "secret-part" not in texts(at) and "secret-part" not in _all_state(at)
    crons = [c for c in _codes(at) if "-m console remind" in c]
    assert crons and str(live.home.resolve()) in crons[0]


def test_graph_tab_lists_permissions_per_feature_and_finds_the_job(console_home, sandbox):
    from console.connections import ConnectionRepo

    make_connection(console_home, sandbox, name="NoGraph", entra=False, snapshot=False)
    at = app(PAGE, state={"connection": "NoGraph"})
    shown = texts(at)
    for perm in ("AuditLog.Read.All and Directory.Read.All", "Synchronization.Read.All",
                 "Synchronization.ReadWrite.All"):
        assert perm.split(" and ")[0] in shown
    assert "Overview > **Object ID**" in " ".join(m.value for m in at.markdown) or "Object ID" in shown
    prefix = "conn.graph.NoGraph.0"
    at.text_input(key=f"{prefix}.tenant").input(sandbox.tenant_id)
    at.text_input(key=f"{prefix}.client").input(sandbox.client_id)
    at.text_input(key=f"{prefix}.secret").input(sandbox.client_secret)
    at.text_input(key=f"{prefix}.sp").input(sandbox.service_principal_id)
    at.text_input(key=f"{prefix}.graph").input(sandbox.graph_url)
    at.text_input(key=f"{prefix}.login").input(sandbox.login_url)
    at.button(key=f"FormSubmitter:{prefix}-Save and find the job").click().run()
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]
    conn = ConnectionRepo(open_ctx(console_home)).get("NoGraph")
    assert conn.entra.job_id == sandbox.job_id, "the job id is read from the service principal"
    assert any("was found on the service principal" in s.value for s in at.success)
    assert sandbox.client_secret not in texts(at) + _all_state(at)
    at.button(key="graph.check").click().run()
    assert_clean(at)
    assert any("Provisioning logs" in s.value and "works" in s.value for s in at.success)


def test_configure_microsoft_graph_lands_on_its_tab(console_home, sandbox):
    make_connection(console_home, sandbox, name="NoGraph", entra=False, snapshot=False)
    at = app("pages/sync_history.py")
    assert_clean(at)
    links = [el.proto for el in at.get("page_link") if "Configure Microsoft Graph" in el.proto.label]
    assert links, "Sync history without Graph links to its settings"
    assert links[0].page.endswith("connection") or "connection" in links[0].page
    assert links[0].query_string == "tab=Microsoft+Graph", links[0].query_string
    at.query_params["tab"] = "Microsoft Graph"
    at.switch_page(PAGE).run()
    assert_clean(at)
    assert at.session_state["tab"] == "Microsoft Graph"
