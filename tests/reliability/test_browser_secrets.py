"""No secret on screen: the app in Chromium on a real (non-demo) connection whose secrets this test knows.

The connection, API key, token and Graph secret are set up with the command line against a sandbox (encrypted
file keyring, shared with the app through its environment); then every page is visited, the Connection page's
test action clicked, and each page's visible text, full HTML and address searched for the API key, the token
(and its signature alone), the Graph client secret, the keyring passphrase and the console's access secret (the
browser entered with the access link, as the operator does). Screenshots of each page go to
test-artifacts/screenshots/secrets-*.png (git-ignored) so a reader can see what was checked.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
PAGES = ["", "users", "groups", "sync_history", "activity", "connection"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(env: dict[str, str], *args: str, stdin: str = "") -> None:
    proc = subprocess.run([sys.executable, "-m", "console", *args], cwd=REPO, env=env, input=stdin,
                          capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, f"{args[:2]}: {proc.stderr[-1000:]}"


def _idle(page: Any) -> None:
    for _ in range(2):
        page.wait_for_timeout(300)
        page.wait_for_selector(IDLE, timeout=120_000)


def test_no_secret_in_any_page_text_or_html(tmp_path: Path, sandbox_factory: Any) -> None:
    from tests.conftest import require_chromium

    chromium = require_chromium()
    sb = sandbox_factory(seed_users=30, seed_groups=4, seed=9)
    home = tmp_path / "home"
    passphrase = "pw-" + secrets.token_hex(10)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCIM_CONSOLE_", "SCIM_SANDBOX_"))}
    env.update({"SCIM_CONSOLE_HOME": str(home), "SCIM_CONSOLE_KEYRING": "cryptfile",
                "SCIM_CONSOLE_KEYRING_PASSPHRASE": passphrase,
                "SCIM_CONSOLE_KEYRING_FILE": str(tmp_path / "keyring.cfg"), "SCIM_CONSOLE_NO_DEMO": "1",
                "PYTHONUNBUFFERED": "1"})
    name = "Shown"
    add = ["connections", "add", name, "--api-url", sb.api_url]
    if sb.graph_url:
        add += ["--tenant-id", sb.tenant_id, "--client-id", sb.client_id, "--service-principal-id",
                sb.service_principal_id, "--job-id", sb.job_id, "--graph-url", sb.graph_url,
                "--login-url", sb.login_url]
    _cli(env, *add)
    _cli(env, "token", "set-key", "--connection", name, "--stdin", stdin=sb.api_key)
    if sb.graph_url:
        _cli(env, "connections", "graph-secret", name, "--stdin", stdin=sb.client_secret)
    _cli(env, "token", "generate", "--connection", name)
    _cli(env, "snapshot", "--connection", name)

    from console.context import open_context

    os.environ.update({k: v for k, v in env.items() if k.startswith("SCIM_CONSOLE_")})
    try:
        from console.credentials import default_credentials

        token = open_context(home, credentials=default_credentials()).credentials.get(name, "access_token")
    finally:
        for k in [k for k in os.environ if k.startswith("SCIM_CONSOLE_")]:
            os.environ.pop(k)
    assert token
    from console.access import TOKEN_PARAM, access_url, ensure_secret

    entry_secret = ensure_secret(home)
    needles = {"API key": sb.api_key, "token": token, "token signature": token.split(".")[-1],
               "Graph client secret": sb.client_secret, "keyring passphrase": passphrase,
               "console access secret": entry_secret}

    port = _free_port()
    log = open(tmp_path / "streamlit.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.address", "127.0.0.1", "--server.port", str(port),
                             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    seen: list[tuple[str, str]] = []
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=2).text.strip() == "ok":
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "streamlit did not start"
            time.sleep(0.3)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(access_url(entry_secret, port), wait_until="domcontentloaded")  # the operator's link
                _idle(page)
                entered_url = page.url
                assert f"{TOKEN_PARAM}=" not in entered_url, "the access secret left the address bar"
                for path in PAGES:
                    page.goto(f"{url}/{path}", wait_until="domcontentloaded")
                    _idle(page)
                    if path == "connection":
                        for label in ("Test token", "Test", "Check token"):
                            button = page.get_by_role("button", name=label)
                            if button.count():
                                button.first.click()
                                _idle(page)
                                break
                    assert page.locator("[data-testid='stException']").count() == 0, f"traceback on /{path}"
                    seen.append((f"/{path} text", page.inner_text("body")))
                    seen.append((f"/{path} html", page.content()))
                    seen.append((f"/{path} address", page.url))
                    SHOTS.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(SHOTS / f"secrets-{path or 'overview'}.png"), full_page=True)
            finally:
                browser.close()
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(10)
        log.close()
    seen.append(("streamlit's own output", (tmp_path / "streamlit.log").read_text(errors="replace")))
    hits = [f"{what} in {where}" for where, text in seen for what, needle in needles.items() if needle in text]
    assert not hits, "secrets on screen:\n" + "\n".join(hits)
    # the pages really showed this connection's data
    assert any(name in text for where, text in seen if where.endswith("text"))
    assert len(seen) == 3 * len(PAGES) + 1
