"""The app in a real browser: started with the README's command on its embedded demo, every page visited in
Chromium through Playwright, a user searched, a group opened, the token badge read, no exception anywhere.
Screenshots of every page go to test-artifacts/screenshots/ (git-ignored).

Browsers here are the operator's: their pages carry the remembered-browser cookie the app sets after the
access link was opened (pages/_access.py), computed from the test home's access secret. The way in itself is
tested in tests/browser/test_access.py."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
DEMO_USERS = 2000  # the default demo size: the printed time is the figure in docs/dashboard.md

PAGES = [("overview", "", "Overview"), ("users", "users", "Users"), ("groups", "groups", "Groups & roles"),
         ("sync_history", "sync_history", None), ("activity", "activity", None),
         ("connection", "connection", "Connection & token")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# app URL -> (cookie name, value) of a browser that entered with the access link; added to every new page
_ENTERED: dict[str, tuple[str, str]] = {}


@contextlib.contextmanager
def running_app(home: Path, **env_extra: str) -> Iterator[dict]:
    """``python -m console app`` (the README's command; it runs ``streamlit run app.py`` with the settings of
    .streamlit/config.toml) on a free port, healthy. Yields url, home, proc, started (nothing secret: pytest
    prints fixture values when a test fails)."""
    from console import access

    port = _free_port()
    env = dict(os.environ, SCIM_CONSOLE_HOME=str(home), SCIM_CONSOLE_KEYRING="session", PYTHONUNBUFFERED="1")
    env.pop("SCIM_CONSOLE_NO_DEMO", None)
    env.update(env_extra)
    log = open(home / "streamlit.log", "wb")
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", "app", "--port", str(port), "--", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType",
         "none"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    secret = access.ensure_secret(home)
    _ENTERED[url] = (access.cookie_name(f"127.0.0.1:{port}"), access.make_cookie(secret))
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=2).text.strip() == "ok":
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("streamlit did not become healthy:\n" + (home / "streamlit.log").read_text()[-3000:])
            time.sleep(0.3)
        yield {"url": url, "home": home, "proc": proc, "started": started}
    finally:
        _ENTERED.pop(url, None)
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def require_chromium() -> None:
    """Debian's Chromium is required in CI (.ci/run installs it) and skipped without elsewhere."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail("/usr/bin/chromium is missing (CI installs Debian's chromium)")
        pytest.skip("/usr/bin/chromium is missing: sudo apt-get install chromium")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    require_chromium()
    with running_app(tmp_path_factory.mktemp("console-home"), SCIM_CONSOLE_DEMO_USERS=str(DEMO_USERS)) as app:
        yield app


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    require_chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield OperatorBrowser(b)
        finally:
            b.close()


class OperatorBrowser:
    """A Playwright browser whose new pages already entered every running app (its remembered-browser cookie).
    Anything else is the plain browser's."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser

    def new_context(self, **kwargs: Any) -> Any:
        context = self._browser.new_context(**kwargs)
        cookies = [{"name": name, "value": value, "url": url + "/"} for url, (name, value) in _ENTERED.items()]
        if cookies:
            context.add_cookies(cookies)
        return context

    def new_page(self, **kwargs: Any) -> Any:
        return self.new_context(**kwargs).new_page()  # the context closes with the browser

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)


def _idle(page, timeout: float = 180_000) -> None:
    page.wait_for_timeout(300)
    page.wait_for_selector(IDLE, timeout=timeout)
    page.wait_for_timeout(300)
    page.wait_for_selector(IDLE, timeout=timeout)


def _no_exception(page, where: str) -> None:
    assert page.locator("[data-testid='stException']").count() == 0, f"traceback on {where}"


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(1200)  # let lazily loaded widgets (segmented controls, charts) paint
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _demo_snapshot(server: dict, browser: OperatorBrowser):
    """The demo's first snapshot. The first page a browser opens starts the demo; when no test opened one on
    this server yet (the tests are spread over xdist workers, each with its own server), open the Overview."""
    from console.context import open_context
    from console.credentials import memory_credentials
    from console.directory.store import latest_snapshot

    ctx = open_context(server["home"], credentials=memory_credentials())
    snap = latest_snapshot(ctx, "Demo")
    if snap is None:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server["url"] + "/", wait_until="domcontentloaded")
        _idle(page)
        page.get_by_text("Active users").first.wait_for(timeout=120_000)
        page.close()
        snap = latest_snapshot(ctx, "Demo")
    assert snap is not None, "the demo took its first snapshot"
    return snap


def test_demo_opens_on_overview_with_token_badge(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server["url"] + "/", wait_until="domcontentloaded")
    _idle(page)
    page.get_by_text("Active users").first.wait_for(timeout=120_000)
    elapsed = time.monotonic() - server["started"]
    print(f"demo ({DEMO_USERS} users): streamlit run -> Overview rendered in {elapsed:.1f} s")
    _no_exception(page, "overview")
    sidebar = page.locator("[data-testid='stSidebar']")
    assert "days left" in sidebar.inner_text()
    assert "DEMO" in sidebar.inner_text()
    assert "Directory fetched" in sidebar.inner_text()
    _shot(page, "overview")
    page.close()


def test_every_page_renders(server, browser):
    """Every page renders without an exception, and nothing on them is fetched from off this machine (a favicon
    or font from a CDN would tell a third party when the console is used)."""
    from urllib.parse import urlsplit

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url))
    page.goto(server["url"] + "/", wait_until="domcontentloaded")
    _idle(page)
    for name, path, title in PAGES:
        page.goto(f"{server['url']}/{path}", wait_until="domcontentloaded")
        _idle(page)
        if title:
            page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
        _no_exception(page, name)
        _shot(page, name)
    page.close()
    outside = sorted({u for u in fetched if urlsplit(u).scheme in ("http", "https", "ws", "wss")
                      and urlsplit(u).hostname not in ("127.0.0.1", "localhost")})
    assert not outside, f"fetched from off this machine: {outside[:5]}"


def test_navigation_by_sidebar_links(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server["url"] + "/", wait_until="domcontentloaded")
    _idle(page)
    page.locator("[data-testid='stSidebarNav'] a", has_text="Groups & roles").click()
    _idle(page)
    page.get_by_role("heading", name="Groups & roles").first.wait_for()
    _no_exception(page, "groups via sidebar")
    page.close()


def test_search_for_a_user(server, browser):
    snap = _demo_snapshot(server, browser)
    target = str(snap.users.sort_values("userName").iloc[7]["userName"])
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server["url"] + "/users", wait_until="domcontentloaded")
    _idle(page)
    box = page.get_by_role("textbox", name="Search")
    box.fill(target)
    box.press("Enter")
    _idle(page)
    page.get_by_text("Showing 1 of 1 matching user (").wait_for(timeout=30_000)
    _no_exception(page, "users search")
    _shot(page, "users-search")
    page.close()


def test_open_a_group(server, browser):
    snap = _demo_snapshot(server, browser)
    groups = snap.groups.sort_values(["kind", "displayName"], key=lambda s: s.astype(str).str.lower())
    first = str(groups.iloc[0]["displayName"])
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server["url"] + "/groups", wait_until="domcontentloaded")
    _idle(page)
    grid = page.locator("[data-testid='stDataFrame']").first
    grid.wait_for()
    bbox = grid.bounding_box()
    assert bbox is not None
    # the first body row's selection checkbox sits in the row-marker column at the left of the grid
    page.mouse.click(bbox["x"] + 18, bbox["y"] + 35 + 17)
    _idle(page)
    page.get_by_text(first, exact=False).nth(1).wait_for(timeout=30_000)
    heading = page.get_by_role("heading", name=first, exact=False)
    heading.first.wait_for(timeout=30_000)
    _no_exception(page, "group detail")
    _shot(page, "group-detail")
    page.close()


def test_first_request_on_a_page_url_gets_the_real_navigation(browser, tmp_path):
    """A browser tab reconnecting to a restarted server asks for a page URL first; Streamlit would then run
    that page alone in its legacy pages/ mode (navigation listing every file). The app switches that off."""
    with running_app(tmp_path, SCIM_CONSOLE_NO_DEMO="1") as app:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app["url"] + "/users", wait_until="domcontentloaded")
        _idle(page)
        nav = page.locator("[data-testid='stSidebarNav']")
        nav.get_by_text("Groups & roles").wait_for(timeout=30_000)
        text = nav.inner_text()
        assert "Connection & token" in text and "ops ui" not in text and "\nui\n" not in f"\n{text}\n"
        _no_exception(page, "deep link")
        page.close()
