"""Every page in Chromium over the hostile directory of tests/hostile.py (the app started as the README says,
its data prepared by the console core against a real sandbox): no image, link, heading, colour, icon or maths
comes from data, the exact text is visible, and the local pixel server the hostile images point at records no
request. People with only the guide's mapped attributes, with nulls and with numbers open without an error box.
Screenshots go to test-artifacts/screenshots/hostile-*.png."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from console.directory.roles import role_label
from tests.browser.test_dashboard import SHOTS, _idle, _no_exception, browser, running_app  # noqa: F401
from tests.hostile import PixelServer, build_sandbox_data, hostile_reason, populate_console
from tests.sandbox_fixture import start_sandbox

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CONNECTION = "Hostile _tenant_ -- 1."
WJ = "\u2060"
#: what may be a link on a page: the app's own navigation and heading anchors (checked in _assert_inert)
DATA_TEXTS = ("alert", "bg")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The hostile sandbox, a console home prepared through the core (snapshot, logs, job status, an action
    with a hostile reason) in an encrypted file keyring the app process opens too, and the app running."""
    from tests.pages.conftest import make_connection

    home = tmp_path_factory.mktemp("hostile-browser-home")
    env = {"SCIM_CONSOLE_HOME": str(home), "SCIM_CONSOLE_KEYRING": "cryptfile",
           "SCIM_CONSOLE_KEYRING_FILE": str(home / "keyring.cfg"),
           "SCIM_CONSOLE_KEYRING_PASSPHRASE": secrets.token_urlsafe(16), "SCIM_CONSOLE_NO_DEMO": "1"}
    with pytest.MonkeyPatch.context() as mp, PixelServer() as pixel:
        for name, value in env.items():
            mp.setenv(name, value)
        data_dir = tmp_path_factory.mktemp("hostile-browser-sandbox")
        directory = build_sandbox_data(data_dir, pixel.url)
        box = start_sandbox(data_dir=data_dir)
        try:
            live = make_connection(home, box, name=CONNECTION, snapshot=False)
            info = populate_console(live.ctx, live.conn, directory)
            with running_app(home, **env) as app:
                yield {"app": app, "url": app["url"], "directory": directory, "values": directory.values,
                       "pixel": pixel, "info": info}
        finally:
            box.cleanup()


def _plain(value: str) -> str:
    from console.text import plain

    return plain(value)


def _visible(page: Any) -> str:
    """The main area's text as a person reads it (word joiners dropped, whitespace collapsed)."""
    text = page.locator("[data-testid='stMain']").inner_text().replace(WJ, "")
    return " ".join(text.split())


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _assert_inert(page: Any, world: dict[str, Any], where: str) -> None:
    """No element made from data: images, foreign links, injected headings, coloured text, maths."""
    found = page.evaluate("""() => {
        const out = [];
        for (const img of document.querySelectorAll('img')) out.push('img ' + img.getAttribute('src'));
        for (const a of document.querySelectorAll('a')) {
            const href = a.getAttribute('href') || a.getAttribute('xlink:href') || '';
            // the app's page links are relative ("setup"): what counts is where they lead
            const own = href === '' || new URL(href, location.href).origin === location.origin;
            if (!own) out.push('a ' + href);
        }
        for (const h of document.querySelectorAll('h1, h2, h3, h4, h5, h6'))
            if (h.innerText.trim() === 'Heading') out.push('heading ' + h.innerText);
        for (const el of document.querySelectorAll('.stMarkdownColoredText, .stMarkdownColoredBackground'))
            out.push('colour ' + el.innerText);
        for (const el of document.querySelectorAll('.katex, math')) out.push('math ' + el.innerText);
        // lists the app writes itself (steps, permissions) sit in containers keyed own-list-… (pages/_setup_ui.py)
        for (const el of document.querySelectorAll('table, blockquote, [data-testid=stMarkdownContainer] li'))
            if (!el.closest('[data-testid=stSidebarNav], [data-testid=stDataFrame], [class*="st-key-own-list-"]'))
                out.push(el.tagName + ' ' + el.innerText.slice(0, 60));
        // icons the app puts in its own badges are fine; any other icon in Markdown came from text
        for (const el of document.querySelectorAll('span[role=img]'))
            if (el.closest('[data-testid=stMarkdownContainer]') && !el.closest('.stMarkdownBadge'))
                out.push('icon ' + el.getAttribute('aria-label'));
        return out;
    }""")
    # the Timeline expander's list on Activity is the app's own Markdown list (one item per event)
    found = [f for f in found if not (f.startswith("LI ") and where.startswith("activity"))]
    assert not found, f"{where}: elements made from data: {found[:6]}"
    assert not world["pixel"].requests, f"{where}: the pixel server was asked for {world['pixel'].requests}"


def _shot(page: Any, name: str, focus: Any = None) -> None:
    """A screenshot; ``focus`` (a locator) is scrolled into view first (Streamlit's main area scrolls inside
    the page, so a full-page shot shows only the top)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    if focus is not None:
        focus.scroll_into_view_if_needed()
    page.wait_for_timeout(800)
    page.screenshot(path=str(SHOTS / f"hostile-{name}.png"), full_page=True)


def _open(page: Any, world: dict[str, Any], path: str) -> None:
    page.goto(f"{world['url']}/{path}", wait_until="domcontentloaded")
    _idle(page)


def _select_first_row(page: Any, nth: int = 0, shows: Any = None) -> None:
    """Tick the first body row of the nth table; with `shows`, retry until that locator appears.

    On a loaded machine the grid can still be painting (or be redrawn by a rerun) when it is clicked, and the
    click is lost; `shows` is what the selection opens, so a lost click is retried, a taken one is not.
    """
    for attempt in range(3):
        grid = page.locator("[data-testid='stDataFrame']").nth(nth)
        grid.wait_for()
        grid.scroll_into_view_if_needed()
        page.wait_for_timeout(400)  # let the grid finish painting before its box is measured
        bbox = grid.bounding_box()
        assert bbox is not None
        page.mouse.click(bbox["x"] + 18, bbox["y"] + 35 + 17)  # the first body row's selection checkbox
        _idle(page)
        if shows is None:
            return
        try:
            shows.wait_for(timeout=15_000)
            return
        except PlaywrightTimeout:
            if attempt == 2:
                raise


def _search_users(page: Any, text: str) -> None:
    box = page.get_by_role("textbox", name="Search")
    box.fill(text)
    box.press("Enter")
    _idle(page)
    page.get_by_text("Showing 1 of 1 matching user (").wait_for(timeout=30_000)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:  # noqa: F811 - the module-scoped browser of test_dashboard
    p = browser.new_page(viewport={"width": 1400, "height": 1100})
    try:
        yield p
    finally:
        p.close()


def test_overview(world: dict[str, Any], page: Any) -> None:
    values = world["values"]
    _open(page, world, "")
    page.get_by_text("Provisioning health").first.wait_for(timeout=60_000)
    _no_exception(page, "overview")
    text = _visible(page)
    assert _collapse(f"The provisioning job is in quarantine: {values['link']}.") in text
    assert _collapse(f"Cycle {values['link']}: 17 of 19 operations failed") in text
    assert _collapse(f"Last cycle state: {values['colour']}.") in text
    picker = page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first
    assert picker.locator("input").input_value() == CONNECTION  # a plain option: the name as typed
    _assert_inert(page, world, "overview")
    _shot(page, "overview")


@pytest.mark.parametrize("key", ["image", "link", "heading", "colour", "icon", "math", "html", "shortcode",
                                 "autolink", "rtl", "control", "long"])
def test_users_hostile_person(world: dict[str, Any], page: Any, key: str) -> None:
    values = world["values"]
    _open(page, world, "users")
    _search_users(page, f"hostile.{key}@")
    _select_first_row(page)
    heading = page.locator("[data-testid='stMain'] h3").first
    heading.wait_for(timeout=30_000)
    assert _collapse(heading.inner_text().replace(WJ, "")) == _collapse(_plain(values[key]))
    page.get_by_role("tab", name="Groups & roles").click()
    _idle(page)
    text = _visible(page)
    # the role buttons read as the names, without the role rule's marker (the list is headed "Roles")
    assert _collapse(_plain(role_label("prefix:Role - ", "Role - " + values[key]))) in text
    _no_exception(page, f"users {key}")
    assert page.locator("[data-testid='stAlertContentError']").count() == 0
    _assert_inert(page, world, f"users {key}")
    if key in ("image", "heading", "colour", "html", "rtl"):
        _shot(page, f"users-{key}", heading)


@pytest.mark.parametrize(("who", "search", "heading"), [
    ("guide", "ada.guide", "Ada Guide"),
    ("nulls", "nulls.person", "nulls.person@contoso.example"),
    ("numbers", "31337", "['not', 'a', 'string']"),
])
def test_users_guide_shaped_and_null_people(world: dict[str, Any], page: Any, who: str, search: str,
                                            heading: str) -> None:
    _open(page, world, "users")
    _search_users(page, search)
    _select_first_row(page)
    h3 = page.locator("[data-testid='stMain'] h3").first
    h3.wait_for(timeout=30_000)
    assert h3.inner_text().replace(WJ, "").strip() == heading
    _no_exception(page, f"users {who}")
    assert page.locator("[data-testid='stAlertContentError']").count() == 0, f"an error box for {who}"
    _assert_inert(page, world, f"users {who}")
    _shot(page, f"person-{who}", h3)


def test_groups_hostile_role(world: dict[str, Any], page: Any) -> None:
    values = world["values"]
    _open(page, world, "groups")
    page.get_by_role("textbox", name="Search").fill("re-authenticate")
    page.get_by_role("textbox", name="Search").press("Enter")
    _idle(page)
    page.locator("[data-testid='stMain'] button", has_text="Roles").first.click()
    _idle(page)
    _select_first_row(page)
    h3 = page.locator("[data-testid='stMain'] h3").first
    h3.wait_for(timeout=30_000)
    assert h3.inner_text().replace(WJ, "").strip() == f"Role: {values['link']}"   # "Role" once
    text = _visible(page)
    assert _collapse(f"Change the members of role {values['link']}") in text
    _no_exception(page, "groups")
    assert page.locator("[data-testid='stAlertContentError']").count() == 0
    _assert_inert(page, world, "groups")
    _shot(page, "groups-role", h3)


@pytest.mark.parametrize(("search", "heading"), [("ada.guide", "Ada Guide"),
                                                 ("nulls.person", "nulls.person@contoso.example")])
def test_groups_member_opens_on_the_users_page(world: dict[str, Any], page: Any, search: str, heading: str) -> None:
    """A role's member with only the guide's attributes, or with nulls: selected in the members table and opened
    on the Users page, without an error box on either page."""
    _open(page, world, "groups")
    page.get_by_role("textbox", name="Search").fill("re-authenticate")
    page.get_by_role("textbox", name="Search").press("Enter")
    _idle(page)
    page.locator("[data-testid='stMain'] button", has_text="Roles").first.click()
    _idle(page)
    _select_first_row(page)
    members = page.get_by_role("textbox", name="Filter members")
    members.fill(search)
    members.press("Enter")
    _idle(page)
    _select_first_row(page, nth=1)
    assert page.locator("[data-testid='stAlertContentError']").count() == 0
    page.get_by_role("button", name="Open on the Users page").click()
    _idle(page)
    h3 = page.locator("[data-testid='stMain'] h3").first
    h3.wait_for(timeout=30_000)
    assert h3.inner_text().replace(WJ, "").strip() == heading
    _no_exception(page, f"member {search}")
    assert page.locator("[data-testid='stAlertContentError']").count() == 0
    _assert_inert(page, world, f"member {search}")


def test_sync_history_with_a_hostile_record_opened(world: dict[str, Any], page: Any) -> None:
    values = world["values"]
    _open(page, world, "sync_history")
    page.get_by_text("Log records").first.wait_for(timeout=60_000)
    _assert_inert(page, world, "sync history")
    # the hostile record, found by its name in the identity filter and opened from the log table
    field = page.get_by_role("textbox", name="Identity (name or id)")
    field.fill("Re-authenticate")
    field.press("Enter")
    _idle(page)
    page.get_by_text("Showing the newest 1 matching record").first.wait_for(timeout=30_000)
    error = page.locator("[data-testid='stAlertContentError']").filter(has_text="What it means").last
    _select_first_row(page, nth=page.locator("[data-testid='stDataFrame']").count() - 1, shows=error)
    assert _collapse(f"{values['link']} · {values['link']} What it means: Entra reported {values['link']};") in \
        _collapse(error.inner_text().replace(WJ, ""))
    svg_text = page.evaluate("() => Array.from(document.querySelectorAll('.main-svg text'))"
                             ".map(t => t.textContent).join('\\n')")
    assert _plain(values["image"]) in svg_text.replace(WJ, ""), "the hostile action is a chart label, as text"
    _no_exception(page, "sync history")
    _assert_inert(page, world, "sync history record")
    _shot(page, "sync-history-record", error)


def test_activity_with_a_hostile_reason(world: dict[str, Any], page: Any) -> None:
    values = world["values"]
    _open(page, world, "activity")
    _select_first_row(page, shows=page.get_by_text("Why:").first)
    text = _visible(page)
    assert _collapse(f"Action {world['info']['action_id']}: add to group {values['heading']}") in text
    assert _collapse(f"by {values['link']} from this console") in text
    from console.text import plain

    assert _collapse("Why: " + plain(hostile_reason(values), limit=2000, multiline=True)) in text
    page.get_by_text("Timeline").first.click()
    _idle(page)
    _no_exception(page, "activity")
    assert page.locator("[data-testid='stAlertContentError']").count() == 0
    _assert_inert(page, world, "activity")
    _shot(page, "activity")


def test_connection_page(world: dict[str, Any], page: Any) -> None:
    _open(page, world, "connection")
    page.get_by_role("heading", name="Connection & token").first.wait_for(timeout=60_000)
    h3 = page.locator("[data-testid='stMain'] h3").first
    assert h3.inner_text().replace(WJ, "").strip() == CONNECTION
    _no_exception(page, "connection")
    assert page.locator("[data-testid='stAlertContentError']").count() == 0
    _assert_inert(page, world, "connection")
    _shot(page, "connection")


def test_nothing_fetched_from_the_pixel_server(world: dict[str, Any]) -> None:
    """Runs last in this module: after every page above, the hostile images were never requested."""
    assert world["pixel"].requests == []
    assert Path(SHOTS / "hostile-overview.png").exists()
