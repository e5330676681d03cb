"""Only the operator gets in, in a real Chromium against ``python -m console app`` (the README's command) with a
real connection and a directory snapshot behind it:

- a DNS-rebinding host name (``--host-resolver-rules="MAP rebind.example 127.0.0.1"``) gets no directory, even
  with the secret (``server.allowedHosts`` refuses its WebSocket);
- a browser without the access link sees only the way in: no sidebar, no connection or user name;
- the access link opens the app, leaves the address bar and history, is remembered across reloads and tabs
  (cookie, 12 h), never shows the secret in text, HTML or screenshots; the secret file is 0600;
- a foreign page on another 127.0.0.1 port cannot use the app: framing it shows a refusal note, and its own
  copy of the Streamlit client pointed at the app (the browser attaches the cookie: cookies ignore ports) is
  refused by the origin check;
- the launcher's output and the app log never contain the secret.

Plain browser contexts here (not tests/browser/test_dashboard.py's operator browser). Secrets never go into an
assertion's expression (pytest prints those): booleans are computed first.
"""

from __future__ import annotations

import functools
import http.server
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.test_dashboard import CHROMIUM, CHROMIUM_ARGS, REPO, SHOTS, _free_port, _idle, running_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REBIND = "rebind.example"


def _cli(env: dict[str, str], *args: str, stdin: str = "") -> None:
    proc = subprocess.run([sys.executable, "-m", "console", *args], cwd=REPO, env=env, input=stdin,
                          capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, f"{args[:2]}: {proc.stderr[-800:]}"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, sandbox: Any) -> Iterator[Guarded]:
    """The app on a real connection "Guarded" (snapshot taken), its access secret and what must stay hidden."""
    from tests.conftest import require_chromium

    require_chromium()
    root = tmp_path_factory.mktemp("access")
    home = root / "home"
    home.mkdir()
    keyring_env = {"SCIM_CONSOLE_KEYRING": "cryptfile", "SCIM_CONSOLE_KEYRING_FILE": str(root / "keyring.cfg"),
                   "SCIM_CONSOLE_KEYRING_PASSPHRASE": "pw-" + secrets.token_hex(8), "SCIM_CONSOLE_NO_DEMO": "1"}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCIM_CONSOLE_", "SCIM_SANDBOX_"))}
    env.update(keyring_env, SCIM_CONSOLE_HOME=str(home))
    _cli(env, "connections", "add", "Guarded", "--api-url", sandbox.api_url)
    _cli(env, "token", "set-key", "--connection", "Guarded", "--stdin", stdin=sandbox.api_key)
    _cli(env, "token", "generate", "--connection", "Guarded")
    _cli(env, "snapshot", "--connection", "Guarded")
    with sandbox.client() as c:
        users = [u["userName"] for u in c.get("/Users", params={"count": 20}).json()["Resources"]]
    with running_app(home, **keyring_env) as app:
        from console import access

        yield Guarded(url=app["url"], home=home, port=int(app["url"].rsplit(":", 1)[1]),
                      hidden=["Guarded", *users], secret=access.ensure_secret(home))


@dataclass
class Guarded:
    """The running app; ``secret`` stays out of the repr (pytest prints fixture values on failure)."""

    url: str
    home: Path
    port: int
    hidden: list[str]
    secret: str = field(repr=False)

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {REBIND} 127.0.0.1"])
        try:
            yield b
        finally:
            b.close()


def _settle(page: Any, seconds: float = 4.0) -> None:
    """Wait for a run to finish when the app can run; a refused WebSocket never gets there, so time-boxed."""
    try:
        _idle(page, timeout=int(seconds * 1000))
    except Exception:
        page.wait_for_timeout(int(seconds * 1000))


def _shows_any(text: str, needles: list[str]) -> list[str]:
    return [n for n in needles if n in text]


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"access-{name}.png"), full_page=True)


def _enter(context: Any, app: Guarded) -> Any:
    from console.access import access_url

    page = context.new_page()
    page.goto(access_url(app["secret"], app["port"]), wait_until="domcontentloaded")
    _idle(page)
    page.locator("[data-testid='stSidebar']").get_by_text("Directory fetched").wait_for(timeout=60_000)
    return page


def test_a_rebinding_host_name_gets_no_directory(guarded, chromium):
    context = chromium.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    for address in (f"http://{REBIND}:{guarded['port']}/", f"http://{REBIND}:{guarded['port']}/users",
                    f"http://{REBIND}:{guarded['port']}/?token={guarded['secret']}"):  # even with the secret
        page.goto(address, wait_until="domcontentloaded")
        page.wait_for_timeout(4000)
        text, html = page.inner_text("body"), page.content()
        assert not _shows_any(text + html, guarded["hidden"]), address.split("?")[0]
        assert page.locator("[data-testid='stSidebar']").count() == 0
        assert page.locator("[data-testid='stMetric'], [data-testid='stDataFrame']").count() == 0
    _shot(page, "rebind")
    context.close()
    log = (guarded["home"] / "streamlit.log").read_text(errors="replace")
    assert f"host={REBIND}:{guarded['port']}" in log, "Streamlit refused the rebinding host's WebSocket"
    # the same host name straight at the WebSocket, without a browser: refused before any session
    with pytest.raises(Exception, match=r"1008|403|rejected|refused|closed"):
        _raw_websocket(guarded["port"], host=f"{REBIND}:{guarded['port']}", origin=f"http://{REBIND}:{guarded['port']}")


def _raw_websocket(port: int, *, host: str, origin: str) -> None:
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{port}/_stcore/stream", additional_headers={"Host": host, "Origin": origin},
                 subprotocols=["streamlit"], open_timeout=10) as ws:  # type: ignore[list-item]
        ws.recv(timeout=5)


def test_without_the_link_only_the_way_in(guarded, chromium):
    context = chromium.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    for path in ("", "users", "groups", "connection"):
        page.goto(f"{guarded['url']}/{path}", wait_until="domcontentloaded")
        _settle(page, 20)
        page.get_by_text("This console opens only with its access link").wait_for(timeout=30_000)
        text, html = page.inner_text("body"), page.content()
        assert not _shows_any(text + html, guarded["hidden"]), f"/{path}"
        assert page.locator("[data-testid='stSidebar']").count() == 0, "no sidebar"
        assert page.locator("button").filter(has_text="Refresh").count() == 0
        assert f"access-url --port {guarded['port']}" in text
        assert page.locator("[data-testid='stException']").count() == 0
    _shot(page, "way-in")
    context.close()


def test_the_link_opens_the_app_and_leaves_no_secret_behind(guarded, chromium):
    from console.access import SECRET_FILE, TOKEN_PARAM

    context = chromium.new_context(viewport={"width": 1300, "height": 900})
    page = _enter(context, guarded)
    page.wait_for_timeout(1000)
    assert "Guarded" in page.content(), "the connection is shown once in (the check behind the gate is real)"
    address_clean = f"{TOKEN_PARAM}=" not in page.url
    assert address_clean, "the secret left the address bar"
    _shot(page, "entered")
    secret = guarded["secret"]
    on_page = secret in page.inner_text("body") or secret in page.content()
    assert not on_page, "the secret is not in the page's text or HTML"
    cookies = {c["name"]: c for c in context.cookies()}
    cookie = cookies.get(f"scim_console_access_{guarded['port']}")
    assert cookie is not None and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    in_cookie = secret in cookie["value"]
    assert not in_cookie, "the cookie holds no secret"
    assert 11 * 3600 < cookie["expires"] - time.time() <= 12 * 3600 + 60
    page.goto(guarded["url"] + "/users", wait_until="domcontentloaded")
    _idle(page)
    page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    assert _shows_any(page.content(), guarded["hidden"][1:]), "user names are shown once in"
    page.go_back(wait_until="domcontentloaded")
    # history: the entry that carried the secret was replaced
    page.go_back(wait_until="domcontentloaded")
    back_clean = f"{TOKEN_PARAM}=" not in page.url
    assert back_clean, "no history entry keeps the secret"
    # reload and a new tab keep working without pasting the link again
    page.goto(guarded["url"] + "/", wait_until="domcontentloaded")
    page.reload(wait_until="domcontentloaded")
    _idle(page)
    page.locator("[data-testid='stSidebar']").get_by_text("Directory fetched").wait_for(timeout=60_000)
    tab = context.new_page()
    tab.goto(guarded["url"] + "/groups", wait_until="domcontentloaded")
    _idle(tab)
    tab.locator("[data-testid='stSidebar']").get_by_text("Directory fetched").wait_for(timeout=60_000)
    context.close()
    # another browser (profile) still needs the link
    other = chromium.new_context()
    stranger = other.new_page()
    stranger.goto(guarded["url"] + "/", wait_until="domcontentloaded")
    stranger.get_by_text("This console opens only with its access link").wait_for(timeout=60_000)
    other.close()
    assert (guarded["home"] / SECRET_FILE).stat().st_mode & 0o777 == 0o600


def test_a_browser_refusing_the_cookie_continues_in_its_tab_only(guarded, chromium):
    """Cookies switched off in the page (Chromium's DevTools switch): the link opens a "Continue in this tab"
    step; the tab then works on its session alone, and nothing of the console showed before it."""
    from console.access import access_url

    context = chromium.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Emulation.setDocumentCookieDisabled", {"disabled": True})
    page.goto(access_url(guarded["secret"], guarded["port"]), wait_until="domcontentloaded")
    page.get_by_role("button", name="Continue in this tab").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    assert not _shows_any(page.content(), guarded["hidden"]), "nothing of the console before continuing"
    page.get_by_role("button", name="Continue in this tab").click()
    _idle(page)
    page.locator("[data-testid='stSidebar']").get_by_text("Directory fetched").wait_for(timeout=60_000)
    assert not [c for c in context.cookies() if c["name"].startswith("scim_console_access")]
    page.wait_for_timeout(1000)
    clean = "token=" not in page.url
    assert clean, "the address bar lost the secret"
    context.close()


def test_a_foreign_page_framing_the_app_cannot_use_it(guarded, chromium, tmp_path):
    """A page on another port of 127.0.0.1 frames the app in a browser that entered it (so the cookie would
    be sent: same site): the framed app shows only a refusal note."""
    (tmp_path / "index.html").write_text(f'<html><body><h1>foreign</h1><iframe id="app" src="{guarded["url"]}/" '
                                         'width="1200" height="800"></iframe></body></html>')
    with _static_server(tmp_path) as foreign:
        context = chromium.new_context(viewport={"width": 1300, "height": 1000})
        _enter(context, guarded).close()
        page = context.new_page()
        page.goto(f"{foreign}/index.html", wait_until="domcontentloaded")
        frame = page.frame_locator("#app")
        frame.get_by_text("does not run inside another page").wait_for(timeout=60_000)
        page.wait_for_timeout(2000)
        inside = frame.locator("body").inner_text()
        assert not _shows_any(inside, guarded["hidden"])
        assert frame.locator("button").count() == 0, "nothing to click in the frame"
        _shot(page, "framed")
        context.close()


def test_a_foreign_page_driving_the_app_over_its_websocket_is_refused(guarded, chromium, tmp_path):
    """The strongest foreign page: its own copy of the Streamlit client, pointed at the app. Its WebSocket
    carries the operator's cookie (cookies ignore ports) and passes Streamlit's origin list (127.0.0.1 on any
    port); the console's origin check refuses the session."""
    import streamlit

    static = Path(streamlit.__file__).parent / "static"
    base = guarded["url"] + "/"
    index = (static / "index.html").read_text().replace(
        "<head>", f'<head><script>window.__streamlit = {{BACKEND_BASE_URL: "{base}"}}</script>', 1)
    (tmp_path / "index.html").write_text(index)
    host_config = httpx.get(base + "_stcore/host-config", timeout=10).text
    with _static_server(tmp_path, fallback=static) as foreign:
        context = chromium.new_context(viewport={"width": 1300, "height": 900})
        _enter(context, guarded).close()
        page = context.new_page()
        # the attacker's client skips the two fetches that CORS protection blocks (health, host config)
        page.route(base + "_stcore/health", lambda r: r.fulfill(status=200, body="ok",
                                                                  headers={"Access-Control-Allow-Origin": "*"}))
        page.route(base + "_stcore/host-config", lambda r: r.fulfill(
            status=200, body=host_config, headers={"Access-Control-Allow-Origin": "*",
                                                   "Content-Type": "application/json"}))
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        page.goto(f"{foreign}/index.html", wait_until="domcontentloaded")
        page.get_by_text("This console only answers its own pages").wait_for(timeout=60_000)
        page.wait_for_timeout(1500)
        assert any(u.startswith(f"ws://127.0.0.1:{guarded['port']}/") for u in sockets), "it did connect"
        text = page.inner_text("body")
        assert not _shows_any(text, guarded["hidden"])
        assert page.locator("[data-testid='stSidebar']").count() == 0
        _shot(page, "foreign-client")
        context.close()
    logs = (guarded["home"] / "streamlit.log").read_text(errors="replace")
    app_log = guarded["home"] / "console-app.log"
    logs += app_log.read_text(errors="replace") if app_log.exists() else ""
    assert "access refused: a page of another origin" in logs


def test_the_secret_is_in_no_output_or_log(guarded, chromium):
    context = chromium.new_context()
    _enter(context, guarded).close()  # at least one entry happened before looking
    context.close()
    secret = guarded["secret"]
    for path in [guarded["home"] / "streamlit.log", *guarded["home"].glob("console-app.log*")]:
        leaked = secret in path.read_text(errors="replace")
        assert not leaked, f"the access secret is in {path.name}"
    assert "access granted to a browser session" in (guarded["home"] / "console-app.log").read_text()


class _Handler(http.server.SimpleHTTPRequestHandler):
    fallback: Path | None = None

    def translate_path(self, path: str) -> str:
        local = super().translate_path(path)
        if not os.path.exists(local) and self.fallback is not None:
            return str(self.fallback / path.split("?", 1)[0].lstrip("/"))
        return local

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return


class _static_server:
    """A foreign web page on its own 127.0.0.1 port, serving ``root`` (then ``fallback``)."""

    def __init__(self, root: Path, fallback: Path | None = None) -> None:
        handler = type("Handler", (_Handler,), {"fallback": fallback})
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", _free_port()),
                                                      functools.partial(handler, directory=str(root)))

    def __enter__(self) -> str:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
