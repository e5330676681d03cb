"""The deactivate flow in a real Chromium (Playwright) on the embedded demo: select two users on the Users
page, Preview, Continue, the confirmation dialog (a reason is required), the result, and the action on the
Activity page. Reuses the dashboard's browser harness (tests/browser/test_dashboard.py)."""

from __future__ import annotations

import pytest

from tests.browser.test_dashboard import _idle, _no_exception, _shot, browser, server  # noqa: F401 (fixtures)
from tests.browser.test_directory_journeys import _choose, _is_open, _panel

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _actions(home):
    from console.context import open_context
    from console.credentials import memory_credentials
    from console.operations.audit import get_action, list_actions

    ctx = open_context(home, credentials=memory_credentials())
    return [get_action(ctx, a.id) for a in list_actions(ctx)]


def test_deactivate_two_users_through_preview_dialog_and_result(server, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(server["url"] + "/users", wait_until="domcontentloaded")
    _idle(page)
    grid = page.locator("[data-testid='stDataFrame']").first
    grid.wait_for(timeout=120_000)
    box = grid.bounding_box()
    assert box is not None
    for row in (0, 1):  # the row-marker checkboxes at the left of the grid (header is 35 px, rows 35 px)
        page.mouse.click(box["x"] + 18, box["y"] + 35 + 17 + 35 * row)
        _idle(page)
    panel = _panel(page, "Change the 2 selected people")
    assert not _is_open(panel)                 # folded below the details: looking is not acting
    panel.locator("summary").first.click()
    _idle(page)
    _choose(page, "What to do", "Deactivate", panel)
    panel.get_by_role("button", name="Preview").click()
    _idle(page)
    page.get_by_text("Preview: deactivate").first.wait_for(timeout=30_000)
    page.get_by_text("Entra ID is the source of truth").first.wait_for()
    _no_exception(page, "preview")
    cont = page.get_by_role("button", name="Continue: Deactivate")
    if cont.is_disabled():
        pytest.skip("both selected demo users are already inactive")  # the preview said so; nothing to run
    cont.click()
    _idle(page)
    dialog = page.get_by_role("dialog")
    dialog.wait_for(timeout=30_000)
    assert "will change in 6clicks" in dialog.inner_text()
    confirm = dialog.get_by_role("button", name="Deactivate")
    confirm.click()
    _idle(page)
    page.get_by_text("A reason is required").first.wait_for(timeout=30_000)
    assert _actions(server["home"]) == []  # nothing ran without a reason
    _shot(page, "ops-dialog")
    dialog.get_by_role("textbox").fill("left the company, browser test")
    dialog.get_by_role("textbox").press("Tab")
    _idle(page)
    dialog.get_by_role("button", name="Deactivate").click()
    _idle(page)
    page.locator("[data-testid='stAlertContentSuccess']").get_by_text("changed").first.wait_for(timeout=60_000)
    _no_exception(page, "result")
    _shot(page, "ops-result")
    [action] = _actions(server["home"])
    assert action.kind == "deactivate" and action.source == "ui" and action.reason == "left the company, browser test"
    assert action.outcome == "success" and action.changed_count >= 1

    page.goto(server["url"] + "/activity", wait_until="domcontentloaded")
    _idle(page)
    page.get_by_role("heading", name="Activity").first.wait_for(timeout=30_000)
    _no_exception(page, "activity")
    grid = page.locator("[data-testid='stDataFrame']").first
    grid.wait_for(timeout=30_000)
    _shot(page, "activity")
    page.close()
