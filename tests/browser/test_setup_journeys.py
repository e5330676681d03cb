"""Day one with a real tenant, in Chromium at 1280 px: the first start on the demo up to a created keyring; adding
a real tenant against a second sandbox (a wrong key and an unreachable URL save nothing, the right one is
checked, saved and opens its token with the way into Entra, Graph finds the job, a restart opens on it); renewing
the token and being reminded (Send test, the daily job's cron line, the app's own reminder run, once per
threshold). Each journey asserts what the admin must see and saves screenshots (test-artifacts/screenshots/,
prefixed ``setup-``). Secrets are never on screen when a screenshot is taken, and never in the page text except
in the one run where the admin asked to reveal the token.

Reuses the dashboard's harness (tests/browser/test_dashboard.py): ``python -m console app`` on a free port, and
a browser that entered with the access link."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_dashboard import _idle, _no_exception, _shot, browser, running_app  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTH = 1280
PASSPHRASE = "correct horse battery staple"
DEMO_USERS = "300"


def _keyring_env(home: Path, *, passphrase: bool) -> dict[str, str]:
    env = {"SCIM_CONSOLE_KEYRING": "cryptfile", "SCIM_CONSOLE_KEYRING_FILE": str(home / "keyring.cfg"),
           "SCIM_CONSOLE_DEMO_USERS": DEMO_USERS, "SCIM_CONSOLE_KEYRING_PASSPHRASE": ""}
    if passphrase:
        env["SCIM_CONSOLE_KEYRING_PASSPHRASE"] = PASSPHRASE
    return env


def _page(browser: Any, height: int = 900) -> Any:  # noqa: F811
    return browser.new_page(viewport={"width": WIDTH, "height": height})


def _main_text(page: Any) -> str:
    return page.locator("[data-testid='stMain']").inner_text().replace("\u2060", "")  # word joiners in URLs


def _sidebar_text(page: Any) -> str:
    return page.locator("[data-testid='stSidebar']").inner_text()


def _wait_text(page: Any, text: str, timeout: float = 60_000) -> None:
    page.get_by_text(text).first.wait_for(timeout=timeout)


def _alert(page: Any, kind: str) -> str:
    """The text of every alert of one kind (Error, Success, Warning, Info) in the main area."""
    boxes = page.locator(f"[data-testid='stMain'] [data-testid='stAlertContent{kind}']")
    return "\n".join(boxes.nth(i).inner_text() for i in range(boxes.count())).replace("\u2060", "")


def _picker(page: Any) -> Any:
    return page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first


def _picked(page: Any) -> str:
    """The connection shown in the sidebar's picker."""
    return str(_picker(page).evaluate(
        "el => el.innerText + ' ' + Array.from(el.querySelectorAll('input')).map(i => i.value).join(' ')"))


def _picker_options(page: Any) -> list[str]:
    """The connections the sidebar's picker offers (opened and closed again)."""
    _picker(page).get_by_role("button", name="Open").click()
    options = page.locator("[role='option']")
    options.first.wait_for(timeout=10_000)
    found = [options.nth(i).inner_text().strip() for i in range(options.count())]
    page.keyboard.press("Escape")
    return found


def _selected_tab(page: Any) -> str:
    return page.locator("[data-testid='stMain'] [role='tab'][aria-selected='true']").first.inner_text().strip()


def _no_horizontal_scroll(page: Any, where: str) -> None:
    """Nothing in the main area is wider than the window at 1280 px."""
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"{where}: the page scrolls sideways by {overflow} px at {WIDTH} px"


def _shot_at(page: Any, name: str, text: str) -> None:
    """A screenshot with ``text`` scrolled into view (Streamlit scrolls its main area, not the document)."""
    page.get_by_text(text).first.scroll_into_view_if_needed()
    _shot(page, name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ctx(home: Path, *, passphrase: bool = True) -> Any:
    import os

    from console.context import open_context
    from console.credentials import default_credentials

    previous = {k: os.environ.get(k) for k in ("SCIM_CONSOLE_KEYRING", "SCIM_CONSOLE_KEYRING_FILE",
                                               "SCIM_CONSOLE_KEYRING_PASSPHRASE")}
    os.environ.update({k: v for k, v in _keyring_env(home, passphrase=passphrase).items()
                       if k.startswith("SCIM_CONSOLE_KEYRING")})
    try:
        return open_context(home, credentials=default_credentials(
            passphrase_provider=(lambda: PASSPHRASE) if passphrase else (lambda: None)))
    finally:
        for k, v in previous.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _fill(page: Any, label: str, value: str) -> None:
    """Type into the visible field with this label (Connection & token draws every tab; one is visible)."""
    page.locator("[data-testid='stMain']").get_by_label(label, exact=True).locator("visible=true").fill(value)


# --- journey 1: first start ------------------------------------------------------------------------------------
def test_first_start_from_the_demo_to_a_created_keyring(browser, tmp_path):  # noqa: F811
    home = tmp_path / "home"
    home.mkdir()
    with running_app(home, **_keyring_env(home, passphrase=False)) as app:
        page = _page(browser)
        page.goto(app["url"] + "/", wait_until="domcontentloaded")
        _idle(page)
        _wait_text(page, "Active users", 120_000)
        _no_exception(page, "overview")
        assert "DEMO" in _sidebar_text(page)
        main = _main_text(page)
        assert "This is the demo." in main and "Set up a tenant" in main  # the demo points to the path
        assert "No alerts" not in main or "no token" not in main.lower()
        _no_horizontal_scroll(page, "overview")
        _shot(page, "setup-01-demo-overview")

        page.locator("[data-testid='stMain'] a", has_text="Set up a tenant").first.click()
        _idle(page)
        page.get_by_role("heading", name="Set up a tenant").first.wait_for(timeout=30_000)
        _no_exception(page, "set-up checklist")
        main = _main_text(page)
        assert "0 of 6 steps done" in main  # Graph is optional: not counted until it is configured
        assert "1. A safe place for secrets — to do" in main
        assert "not created yet" in main and "at least 12 characters" in main
        assert "2. Your tenant and its API key — to do" in main
        assert "3. The long-lived token — waits for an earlier step" in main
        assert "8. The daily reminder job — waits for an earlier step" in main
        _no_horizontal_scroll(page, "set-up checklist")
        _shot(page, "setup-02-checklist-first-start")

        # the strength rule and the confirmation, in plain words; nothing is created meanwhile
        keyring_file = home / "keyring.cfg"
        _fill(page, "New keyring passphrase", "abc")
        _fill(page, "Type it again", "abc")
        page.get_by_role("button", name="Create the keyring").click()
        _idle(page)
        assert "too short" in _alert(page, "Error") and not keyring_file.exists()
        _fill(page, "New keyring passphrase", PASSPHRASE)
        _fill(page, "Type it again", PASSPHRASE + "s")
        page.get_by_role("button", name="Create the keyring").click()
        _idle(page)
        assert "differ" in _alert(page, "Error") and not keyring_file.exists()
        _shot(page, "setup-03-passphrases-differ")
        _fill(page, "New keyring passphrase", PASSPHRASE)
        _fill(page, "Type it again", PASSPHRASE)
        page.get_by_role("button", name="Create the keyring").click()
        _idle(page)
        assert "Keyring created" in _alert(page, "Success") and keyring_file.exists()
        main = _main_text(page)
        assert "1. A safe place for secrets — done" in main and "1 of 6 steps done" in main
        assert PASSPHRASE not in main
        _shot(page, "setup-04-keyring-created")

        # the next step: add the tenant, on the right tab of Connection & token
        page.locator("[data-testid='stMain'] a", has_text="Add a connection").first.click()
        _idle(page)
        page.get_by_role("heading", name="Connection & token").first.wait_for(timeout=30_000)
        assert _selected_tab(page) == "Add a connection"
        assert "Check and add the connection" in _main_text(page)
        _no_exception(page, "add a connection")
        _no_horizontal_scroll(page, "add a connection")
        _shot(page, "setup-05-add-connection-tab")
        page.close()


# --- journey 2: a real tenant ---------------------------------------------------------------------------------
def test_add_a_real_tenant_with_a_wrong_key_and_an_unreachable_url(browser, tmp_path, sandbox_factory):  # noqa: F811
    tenant = sandbox_factory(seed_users=40, seed_groups=6, seed=3)
    home = tmp_path / "home"
    home.mkdir()
    env = _keyring_env(home, passphrase=True)
    with running_app(home, **env) as app:
        page = _page(browser, 1000)
        page.goto(app["url"] + "/connection?tab=Add+a+connection", wait_until="domcontentloaded")
        _idle(page)
        page.get_by_role("heading", name="Connection & token").first.wait_for(timeout=120_000)
        assert _selected_tab(page) == "Add a connection"

        # a wrong key: refused, nothing saved, the picker does not offer it, the form keeps what was typed
        _fill(page, "Name", "Production")
        _fill(page, "6clicks API base URL", tenant.api_url)
        _fill(page, "API key", "6ck_wrong_" + "0" * 24)
        page.get_by_role("button", name="Check and add the connection").click()
        _idle(page)
        _wait_text(page, "Nothing was saved")
        error = _alert(page, "Error")
        assert "6clicks refused the API key" in error and "Nothing was saved" in error, error
        assert "Correct the API key field" in _main_text(page)
        assert not any("Production" in o for o in _picker_options(page))
        assert _ctx(home).store.query_one("SELECT 1 FROM connections WHERE name = 'Production'") is None
        assert page.get_by_label("Name", exact=True).locator("visible=true").input_value() == "Production"
        _no_exception(page, "wrong key")
        _shot_at(page, "setup-10-wrong-key", "refused the API key")

        # an unreachable URL: nothing saved either
        dead = f"http://127.0.0.1:{_free_port()}"
        _fill(page, "6clicks API base URL", dead)
        _fill(page, "API key", tenant.api_key)
        page.get_by_role("button", name="Check and add the connection").click()
        _idle(page)
        _wait_text(page, "did not answer")
        error = _alert(page, "Error")
        assert f"The API base URL {dead} did not answer" in error and "Nothing was saved" in error, error
        assert not any("Production" in o for o in _picker_options(page))
        assert tenant.api_key not in _main_text(page)
        _shot_at(page, "setup-11-unreachable-url", "did not answer")

        # the right URL: checked, saved, selected, and the token's way into Entra right away
        _fill(page, "6clicks API base URL", tenant.api_url)
        page.get_by_role("button", name="Check and add the connection").click()
        _idle(page)
        _wait_text(page, "Connection 'Production' added")
        assert _selected_tab(page) == "Token"
        assert "Production" in _picked(page)
        main = _main_text(page)
        assert "Now give Entra this token" in main and f"{tenant.api_url}/scim/" in main
        assert "Reveal once to copy" in main
        token = _ctx(home).credentials.get("Production", "access_token")
        assert token and token not in main and tenant.api_key not in main
        _no_horizontal_scroll(page, "token after add")
        _shot_at(page, "setup-12-added-token-into-entra", "Reveal once to copy")

        # the token only on deliberate action, gone at the next click; no screenshot while it shows
        page.get_by_role("button", name="Reveal once to copy").first.click()
        _idle(page)
        assert token in _main_text(page)
        page.get_by_role("button", name="Entra has it now (its Test Connection succeeded)").first.click()
        _idle(page)
        assert token not in _main_text(page)
        _wait_text(page, "Noted: Entra has the token")

        # Microsoft Graph: one permission list per feature beside the fields; the job found, not typed
        page.get_by_role("tab", name="Microsoft Graph").click()
        _idle(page)
        main = _main_text(page)
        for perm in ("AuditLog.Read.All", "Directory.Read.All", "Synchronization.Read.All",
                     "Synchronization.ReadWrite.All"):
            assert perm in main
        _fill(page, "Tenant id", tenant.tenant_id)
        _fill(page, "Client id (app registration)", tenant.client_id)
        _fill(page, "Client secret", tenant.client_secret)
        _fill(page, "Service principal object id (the 6clicks SCIM enterprise app)", tenant.service_principal_id)
        page.get_by_text("Other clouds").click()
        _fill(page, "Graph base URL", tenant.graph_url)
        _fill(page, "Login base URL", tenant.login_url)
        _no_horizontal_scroll(page, "graph tab")
        _shot(page, "setup-13-graph-form")
        page.get_by_role("button", name="Save and find the job").click()
        _idle(page)
        _wait_text(page, "Microsoft Graph settings saved")
        success = _alert(page, "Success")
        assert f"The provisioning job {tenant.job_id} was found on the service principal" in success, success
        assert tenant.client_secret not in _main_text(page)
        _shot(page, "setup-14-graph-job-found")
        page.close()

    # a restart opens on the last-used healthy connection, not on the demo
    with running_app(home, **env) as app:
        page = _page(browser)
        page.goto(app["url"] + "/", wait_until="domcontentloaded")
        _idle(page)
        page.get_by_role("heading", name="Overview").first.wait_for(timeout=120_000)
        assert "Production" in _picked(page) and "DEMO" not in _picked(page)
        assert any("DEMO" in o for o in _picker_options(page)), "the demo is still there, just not opened on"
        assert "This is the demo." not in _main_text(page)
        _no_exception(page, "overview after restart")
        _shot(page, "setup-15-restart-opens-on-the-tenant")
        page.close()


# --- journey 3: renew and remind ------------------------------------------------------------------------------
def _tenant_with_token(home: Path, sandbox: Any, name: str = "Production") -> None:
    from console.connections import Connection, ConnectionRepo
    from console.setup import add_connection_checked

    ctx = _ctx(home)
    ctx.credentials.create(PASSPHRASE, PASSPHRASE)
    add_connection_checked(ctx, Connection(name=name, api_url=sandbox.api_url), api_key=sandbox.api_key)
    assert ConnectionRepo(ctx.store).get(name)


def test_renew_and_remind_with_send_test(browser, tmp_path, sandbox_factory):  # noqa: F811
    from tests.console.test_core_helpers import local_http

    tenant = sandbox_factory(seed_users=30, seed_groups=5, seed=5)
    home = tmp_path / "home"
    home.mkdir()
    _tenant_with_token(home, tenant)
    env = dict(_keyring_env(home, passphrase=True), SCIM_CONSOLE_REMIND_EVERY="2", SCIM_CONSOLE_NO_DEMO="1")
    with local_http(lambda _h: (200, "application/json", b"{}")) as receiver, running_app(home, **env) as app:
        page = _page(browser, 1000)
        page.goto(app["url"] + "/connection", wait_until="domcontentloaded")
        _idle(page)
        page.get_by_role("heading", name="Connection & token").first.wait_for(timeout=120_000)
        assert _selected_tab(page) == "Token"
        before = _ctx(home).credentials.get("Production", "access_token")

        # renew: the result panel with the way into Entra, which belongs to the action
        page.get_by_role("button", name="Rotate token").click()
        _idle(page)
        page.get_by_role("button", name="Rotate", exact=True).click()
        _idle(page)
        _wait_text(page, "Token rotated")
        main = _main_text(page)
        assert "Now give Entra this token" in main and "Reveal once to copy" in main
        after = _ctx(home).credentials.get("Production", "access_token")
        assert after and after != before and after not in main
        _no_horizontal_scroll(page, "rotated")
        _shot(page, "setup-20-token-rotated")
        page.locator("[data-testid='stSidebarNav'] a", has_text="Overview").click()
        _idle(page)
        page.get_by_role("heading", name="Overview").first.wait_for(timeout=30_000)
        page.locator("[data-testid='stSidebarNav'] a", has_text="Connection & token").click()
        _idle(page)
        page.get_by_role("heading", name="Connection & token").first.wait_for(timeout=30_000)
        assert "Token rotated" not in _main_text(page), "the panel went with the action"

        # remind: a channel, Send test, and a threshold that is due now (the token has 364 days left)
        page.get_by_role("tab", name="Reminders").click()
        _idle(page)
        _fill(page, "Remind me this many days before the token expires", "365, 30, 7")
        _fill(page, "Notification URLs (apprise, comma-separated; leave empty to keep)",
              f"json://127.0.0.1:{receiver.server_port}/hook")
        page.get_by_role("button", name="Save reminder settings").click()
        _idle(page)
        _wait_text(page, "Reminder settings saved")
        page.get_by_role("button", name="Send test").first.click()
        _idle(page)
        _wait_text(page, "Test message delivered to 1 channel")
        titles = [json.loads(body).get("title", "") for body in _bodies(receiver)]
        assert any(t.startswith("Test from the SCIM console") for t in titles), titles
        main = _main_text(page)
        assert "-m console remind" in main and str(home.resolve()) in main  # the exact cron line for this machine
        assert "While the app runs it sends due reminders itself" in main
        _no_horizontal_scroll(page, "reminders")
        _shot_at(page, "setup-21-reminders-send-test", "Test message delivered")

        # while the app runs it sends the due reminder itself, once per threshold
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _reminders(receiver):
            time.sleep(0.5)
        assert len(_reminders(receiver)) == 1, [json.loads(b).get("title") for b in _bodies(receiver)]
        time.sleep(5)  # two more runs of the thread (every 2 s): nothing new to send
        assert len(_reminders(receiver)) == 1

        # the checklist: channel tested, the daily job with its line
        page.locator("[data-testid='stSidebarNav'] a", has_text="Set up a tenant").click()
        _idle(page)
        page.get_by_role("heading", name="Set up a tenant").first.wait_for(timeout=30_000)
        main = _main_text(page)
        assert "7. A reminder channel — done" in main  # done: a channel, and its Send test was delivered
        assert "8. The daily reminder job — to do" in main and "crontab -e" in main
        assert "never from cron yet; by this app" in main  # the app's own run is seen, cron's is not yet
        _no_exception(page, "checklist after reminders")
        _no_horizontal_scroll(page, "checklist after reminders")
        _shot_at(page, "setup-22-checklist-reminded", "The daily reminder job")
        page.close()


def _bodies(receiver: Any) -> list[str]:
    return [r["body"] for r in list(receiver.received)]


def _reminders(receiver: Any) -> list[str]:
    titles = [str(json.loads(b).get("title", "")) for b in _bodies(receiver)]
    return [t for t in titles if not t.startswith("Test from")]
