"""Connection & token page: keyring state, token actions, expiry timeline, .ics, forms; secrets never shown
or left in session state."""

from __future__ import annotations

from datetime import datetime

from tests.pages.conftest import app, assert_clean, make_connection, open_ctx, plotly_specs, texts

PAGE = "pages/connection.py"


def _all_state(at) -> str:
    return repr(at.session_state.to_dict())


def test_token_summary_timeline_and_ics(live):
    from console.tokens import TokenService

    status = TokenService(live.ctx).status("Tenant")
    at = app(PAGE)
    assert_clean(at)
    shown = texts(at)
    assert f"…{status.fingerprint}" in shown
    assert "Days left" in shown
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


def test_test_and_generate_buttons(live):
    from console.tokens import TokenService

    before = TokenService(live.ctx).status("Tenant").fingerprint
    at = app(PAGE)
    at.button(key="token.test").click().run()
    assert_clean(at)
    assert any("Tested" in s.value for s in at.success)
    at.button(key="token.generate").click().run()
    assert_clean(at)
    assert any("Generated" in s.value for s in at.success)
    after = TokenService(live.ctx).status("Tenant")
    assert after.fingerprint != before
    token = TokenService(live.ctx).get_token("Tenant")
    assert token not in texts(at) and token not in _all_state(at)


def test_rotate_without_entra_lists_the_manual_steps(console_home, sandbox):
    make_connection(console_home, sandbox, name="NoEntra", entra=False, snapshot=False)
    at = app(PAGE, state={"connection": "NoEntra"})
    at.button(key="token.rotate").click().run()
    at.button(key="token.rotate_confirm").click().run()
    assert_clean(at)
    shown = texts(at)
    assert "Entra still has the old one" in shown
    assert "Secret Token" in shown and "Test Connection" in shown
    assert "copy it from the Connection & token page" not in shown
    from console.tokens import TokenService

    token = TokenService(open_ctx(console_home)).get_token("NoEntra")
    assert token not in shown and token not in _all_state(at)


def test_rotate_cancel_changes_nothing(live):
    from console.tokens import TokenService

    before = TokenService(live.ctx).status("Tenant").fingerprint
    at = app(PAGE)
    at.button(key="token.rotate").click().run()
    at.button(key="token.rotate_cancel").click().run()
    assert_clean(at)
    assert TokenService(live.ctx).status("Tenant").fingerprint == before


def test_import_of_a_bad_token_is_refused_and_nothing_changes(live):
    from console.tokens import TokenService

    before = TokenService(live.ctx).status("Tenant").fingerprint
    at = app(PAGE)
    at.text_input(key="token.import_value").input("garbage-token")
    at.button(key="FormSubmitter:token.import_form-Import token").click().run()
    assert_clean(at)
    assert at.error, "a refused token shows why"
    assert "garbage-token" not in texts(at)
    assert TokenService(live.ctx).status("Tenant").fingerprint == before


def test_add_connection_stores_the_key_in_the_keyring_only(console_home, sandbox):
    from console.connections import ConnectionRepo
    from console.tokens import TokenService

    at = app(PAGE)
    assert_clean(at)
    assert "No connection is configured yet" in texts(at)
    prefix = "conn.new.0"
    at.text_input(key=f"{prefix}.name").input("Prod")
    at.text_input(key=f"{prefix}.api_url").input(sandbox.api_url)
    at.text_input(key=f"{prefix}.api_key").input(sandbox.api_key)
    at.button(key=f"FormSubmitter:{prefix}-Add connection").click().run()
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]
    ctx = open_ctx(console_home)
    assert ConnectionRepo(ctx).get("Prod").api_url == sandbox.api_url
    assert ctx.credentials.get("Prod", "api_key") == sandbox.api_key
    assert sandbox.api_key not in texts(at)
    assert sandbox.api_key not in _all_state(at)
    assert (console_home / "console.db").read_bytes().find(sandbox.api_key.encode()) == -1
    assert at.selectbox(key="connection").value == "Prod"
    at.button(key="token.generate").click().run()
    assert_clean(at)
    assert TokenService(ctx).status("Prod").level == "ok"


def test_bad_url_keeps_what_was_typed(console_home):
    at = app(PAGE)
    prefix = "conn.new.0"
    at.text_input(key=f"{prefix}.name").input("Prod")
    at.text_input(key=f"{prefix}.api_url").input("ftp://nowhere")
    at.button(key=f"FormSubmitter:{prefix}-Add connection").click().run()
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
    prefix = "conn.new.0"
    at.text_input(key=f"{prefix}.name").input("Prod")
    at.text_input(key=f"{prefix}.api_url").input(sandbox.api_url)
    at.text_input(key=f"{prefix}.api_key").input(sandbox.api_key)
    at.button(key=f"FormSubmitter:{prefix}-Add connection").click().run()
    assert_clean(at)
    assert any("cannot be stored" in e.value for e in at.error)
    assert ConnectionRepo(open_ctx(console_home)).find("Prod") is None
    assert sandbox.api_key not in texts(at)


def test_edit_role_rule_and_reminders(live):
    from console.connections import ConnectionRepo

    at = app(PAGE)
    prefix = "conn.edit.Tenant.0"
    at.text_input(key=f"{prefix}.role_rule").input("regex:^Team")
    at.button(key=f"FormSubmitter:{prefix}-Save changes").click().run()
    assert_clean(at)
    assert ConnectionRepo(live.ctx).get("Tenant").role_rule == "regex:^Team"
    at.text_input(key="reminders.days.Tenant").input("90, 45, 10")
    at.button(key="FormSubmitter:reminders.Tenant-Save reminder settings").click().run()
    assert_clean(at)
    assert ConnectionRepo(live.ctx).get("Tenant").reminder_days == (90, 45, 10)
    at.text_input(key="reminders.days.Tenant").input("soon")
    at.button(key="FormSubmitter:reminders.Tenant-Save reminder settings").click().run()
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


def test_locked_encrypted_keyring_is_unlocked_from_the_page(console_home, tmp_path, monkeypatch):
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING", "cryptfile")
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING_FILE", str(tmp_path / "keyring.cfg"))
    monkeypatch.delenv("SCIM_CONSOLE_KEYRING_PASSPHRASE", raising=False)
    at = app(PAGE)
    assert_clean(at)
    # no keyring file yet: the first passphrase creates it, and the page says so
    assert "Choose a passphrase to create it" in texts(at) and "demo does not need it" in texts(at)
    at.text_input(key="connection.passphrase").input("correct horse battery staple")
    at.button(key="FormSubmitter:connection.unlock-Create keyring").click().run()
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]
    assert "Encrypted file keyring" in texts(at)
    assert "Choose a passphrase" not in texts(at) and "Unlock it to read or store secrets" not in texts(at)
    assert "correct horse battery staple" not in texts(at)
