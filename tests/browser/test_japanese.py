"""The demo in a Japanese browser: Chromium with ``locale="ja-JP"`` opens the console in Japanese without any
click (the browser's language, ``st.context.locale``), every page renders with its Japanese name in the
navigation, no traceback, and nothing in this area's pages and sidebar is cut off at 1280 px. The sidebar's picker
switches to English, and the choice is the operator's: it outlives a reload. Full-page screenshots of every page
go to test-artifacts/screenshots/ja-<page>.png (git-ignored): look at them.

Page headings are each page's own text (translated with the page's area); the headings of this area's pages
(Overview, Activity) are checked here, the navigation and the browser's title for every page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.test_dashboard import (  # noqa: F401 - browser: the module-scoped fixture, shared
    OperatorBrowser,
    _idle,
    _no_exception,
    _shot,
    browser,
    require_chromium,
    running_app,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VIEWPORT = {"width": 1280, "height": 900}
#: page -> (its address, its Japanese name in the navigation: docs/glossary-ja.md)
PAGES = {"overview": ("", "概要"), "sync_history": ("sync_history", "同期履歴"), "activity": ("activity", "アクティビティ"),
         "users": ("users", "ユーザー"), "groups": ("groups", "グループとロール"), "reconcile": ("reconcile", "照合"),
         "connection": ("connection", "接続とトークン"), "setup": ("setup", "テナントのセットアップ"),
         "doctor": ("doctor", "セットアップ チェック")}
SECTIONS = ("監視", "ディレクトリ", "設定")
#: the pages whose heading this area writes (pages/overview.py, pages/activity.py)
HEADINGS = {"overview": "概要", "activity": "アクティビティ"}
APP_TITLE = "6clicks 用 SCIM コンソール"

#: labels that must show whole (no ellipsis, nothing cut): metric labels and values, buttons, badges
CUT_OFF = """(scope) => {
  const root = document.querySelector(scope);
  if (!root) { return []; }
  const selectors = ["[data-testid='stMetricLabel'] p", "[data-testid='stMetricValue'] div",
                     "[data-testid^='stBaseButton'] p", "[data-testid='stBadge'] p", "button p"];
  const cut = [];
  for (const el of root.querySelectorAll(selectors.join(","))) {
    if (el.offsetParent === null) { continue; }
    if (el.scrollWidth > el.clientWidth + 1) { cut.push(el.innerText.slice(0, 80)); }
  }
  return cut;
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    require_chromium()
    # no SCIM_CONSOLE_LANG: the browser's language decides
    with running_app(tmp_path_factory.mktemp("console-home-ja"), SCIM_CONSOLE_DEMO_USERS="300",
                     SCIM_CONSOLE_LANG="") as app:
        yield app


def japanese_page(browser: OperatorBrowser) -> Any:  # noqa: F811 - the shared fixture
    return browser.new_context(locale="ja-JP", viewport=VIEWPORT).new_page()


def _nav(page: Any) -> Any:
    return page.locator("[data-testid='stSidebarNav']")


#: the height the page's content needs: Streamlit scrolls its main area, not the document, so a "full page"
#: screenshot is taken with the window made as tall as that
CONTENT_HEIGHT = """() => {
  const main = document.querySelector("[data-testid='stMain']");
  const side = document.querySelector("[data-testid='stSidebarContent']");
  return Math.max(main ? main.scrollHeight : 0, side ? side.scrollHeight : 0, document.body.scrollHeight);
}"""


def _full_page_shot(page: Any, name: str) -> None:
    """A screenshot of the whole page at 1280 px wide (test-artifacts/screenshots/<name>.png)."""
    height = int(page.evaluate(CONTENT_HEIGHT))
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(max(height, VIEWPORT["height"]), 12_000)})
    try:
        _shot(page, name)
    finally:
        page.set_viewport_size(VIEWPORT)


def _overview_ready(page: Any, server: dict) -> None:
    page.goto(server["url"] + "/", wait_until="domcontentloaded")
    _idle(page)
    # the first visit starts the demo and takes its first snapshot: wait for the counts
    page.get_by_text("有効なユーザー").first.wait_for(timeout=180_000)
    _idle(page)


def test_every_page_in_japanese_without_a_click(server: dict, browser: OperatorBrowser) -> None:  # noqa: F811
    page = japanese_page(browser)
    _overview_ready(page, server)
    nav = _nav(page).inner_text()
    for name, (_path, title) in PAGES.items():
        assert title in nav, f"{title} ({name}) missing from the navigation: {nav!r}"
    for section in SECTIONS:
        assert section in page.locator("[data-testid='stSidebar']").inner_text()
    sidebar = page.locator("[data-testid='stSidebar']").inner_text()
    assert "トークン: 残り" in sidebar and "ディレクトリの取得: " in sidebar and "オペレーター: " in sidebar, sidebar
    assert page.get_by_role("button", name="更新").count() == 1
    for name, (path, title) in PAGES.items():
        page.goto(f"{server['url']}/{path}", wait_until="domcontentloaded")
        _idle(page)
        current = _nav(page).locator("a[aria-current='page']")
        current.first.wait_for(timeout=60_000)
        marked = current.first.inner_text().strip().split("\n")[-1]  # after the icon's name
        assert marked == title, f"{name}: the navigation marks {marked!r}"
        assert page.title() == APP_TITLE
        if name in HEADINGS:
            page.get_by_role("heading", name=HEADINGS[name], exact=True).first.wait_for(timeout=60_000)
            cut = page.evaluate(CUT_OFF, "[data-testid='stMain']")
            assert not cut, f"cut off on {name} in Japanese at 1280 px: {cut}"
        _no_exception(page, f"{name} in Japanese")
        _full_page_shot(page, f"ja-{name}")
    cut = page.evaluate(CUT_OFF, "[data-testid='stSidebar']")
    assert not cut, f"cut off in the sidebar in Japanese at 1280 px: {cut}"
    page.context.close()


def _pick(page: Any, language: str) -> None:
    """Choose ``language`` in the sidebar's picker (a combo box: whether a click opens its list depends on the
    focus it had, so open it from the keyboard, then with its button, until the option shows)."""
    picker = page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']", has_text="Language · 言語")
    box = picker.get_by_role("combobox")
    option = page.get_by_role("option", name=language, exact=True)
    for attempt in range(6):
        if option.count() and option.first.is_visible():
            break
        if attempt % 2 == 0:
            box.focus()
            box.press("ArrowDown")
        else:
            picker.get_by_role("button", name="Open").click()
        page.wait_for_timeout(700)
    option.first.click()
    _idle(page)


def test_the_picker_switches_to_english_and_remembers_it(server: dict, browser: OperatorBrowser) -> None:  # noqa: F811
    page = japanese_page(browser)
    _overview_ready(page, server)
    try:
        _pick(page, "English")
        page.get_by_role("heading", name="Overview", exact=True).first.wait_for(timeout=60_000)
        assert "Sync history" in _nav(page).inner_text() and "概要" not in _nav(page).inner_text()
        page.reload(wait_until="domcontentloaded")  # a new session: the operator's stored choice, not the browser's
        _idle(page)
        page.get_by_role("heading", name="Overview", exact=True).first.wait_for(timeout=60_000)
        assert "Active users" in page.locator("[data-testid='stMain']").inner_text()
        assert "Refresh" in page.locator("[data-testid='stSidebar']").inner_text()
        _no_exception(page, "overview in English after a reload")
        _full_page_shot(page, "ja-picker-english")
    finally:  # back to Japanese: the choice is stored for this operator on this console
        _pick(page, "日本語")
    page.get_by_role("heading", name="概要", exact=True).first.wait_for(timeout=60_000)
    page.context.close()
