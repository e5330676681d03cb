"""Two of issue 13's journeys in a real Chromium at 1280 px, on the embedded demo started with the README's
command (tests/browser/test_dashboard.py's harness):

- "find a person": search, select, the person's details come first, the change panel below them is folded with
  no action chosen and no red button;
- "deactivate / undo / move / CSV": after each change the Users table shows the new state at once (no sidebar
  Refresh), undo from Activity restores it, a move shows in the group filter at once, and the Users CSV carries
  the names of each person's groups and roles.

Each step asserts what the admin must see and saves a screenshot (test-artifacts/screenshots/journey-*.png),
the last ones also at 1024 px, where the pages must stay usable (nothing wider than the window)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.browser.test_dashboard import (  # noqa: F401 (fixtures)
    SHOTS,
    _idle,
    _no_exception,
    browser,
    running_app,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTH = 1280
HEIGHT = 1900  # Streamlit's main area scrolls inside the page: a tall window shows the details in the shot


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[dict]:  # noqa: F811
    """The app on a 300-person demo, once the demo's first snapshot is shown on the Overview."""
    with running_app(tmp_path_factory.mktemp("journey-home"), SCIM_CONSOLE_DEMO_USERS="300") as app:
        page = browser.new_page(viewport={"width": WIDTH, "height": 1000})
        page.goto(app["url"] + "/", wait_until="domcontentloaded")
        _idle(page)
        page.get_by_text("Active users").first.wait_for(timeout=180_000)
        page.close()
        yield app


def _ctx(home: Path) -> Any:
    from console.context import open_context
    from console.credentials import memory_credentials

    return open_context(home, credentials=memory_credentials())


def _snapshot(home: Path) -> Any:
    from console.directory.store import latest_snapshot

    snap = latest_snapshot(_ctx(home), "Demo")
    assert snap is not None, "the demo took its first snapshot"
    return snap


def _shot(page: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(1200)  # lazily painted widgets
    path = SHOTS / f"journey-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _open(browser: Any, demo: dict, path: str, width: int = WIDTH) -> Any:  # noqa: F811
    page = browser.new_page(viewport={"width": width, "height": HEIGHT})
    page.goto(f"{demo['url']}/{path}", wait_until="domcontentloaded")
    _idle(page)
    return page


def _fits(page: Any, where: str) -> None:
    """Nothing is wider than the window: the main area does not scroll sideways."""
    widths = page.evaluate("() => { const m = document.querySelector('[data-testid=stMain]');"
                           " return [m.scrollWidth, m.clientWidth]; }")
    assert widths[0] <= widths[1] + 1, f"{where}: the page is wider than the window ({widths})"


def _search(page: Any, text: str) -> None:
    box = page.get_by_role("textbox", name="Search")
    box.fill(text)
    box.press("Enter")
    _idle(page)


def _select_rows(page: Any, rows: list[int], grid: int = 0) -> None:
    """Tick the row-marker checkboxes at the left of a data grid (header 35 px, rows 35 px)."""
    table = page.locator("[data-testid='stDataFrame']").nth(grid)
    table.wait_for(timeout=60_000)
    box = table.bounding_box()
    assert box is not None
    for row in rows:
        page.mouse.click(box["x"] + 18, box["y"] + 35 + 17 + 35 * row)
        _idle(page)


def _choose(page: Any, label: str, option: str, scope: Any = None) -> None:
    """Pick ``option`` in the select box labelled ``label``."""
    where = scope or page
    label_ = page.locator("[data-testid='stWidgetLabel']").filter(has_text=re.compile(f"^{re.escape(label)}$"))
    where.locator("[data-testid='stSelectbox']").filter(has=label_).first.click()
    page.keyboard.type(option)  # the list filters as one types (long lists are virtualised)
    page.get_by_role("option", name=option, exact=True).first.click()
    _idle(page)


def _panel(page: Any, heading: str) -> Any:
    panel = page.locator("[data-testid='stExpander']").filter(has_text=heading).first
    panel.wait_for(timeout=30_000)
    return panel


def _is_open(panel: Any) -> bool:
    return panel.locator("details").first.get_attribute("open") is not None


def _confirm(page: Any, button: str | re.Pattern[str], reason: str) -> None:
    dialog = page.get_by_role("dialog")
    dialog.wait_for(timeout=30_000)
    assert "will change in 6clicks" in dialog.inner_text()
    dialog.get_by_role("textbox").fill(reason)
    dialog.get_by_role("textbox").press("Tab")
    _idle(page)
    dialog.get_by_role("button", name=button).click()
    _idle(page)
    try:
        page.locator("[data-testid='stAlertContentSuccess']").get_by_text("changed").first.wait_for(timeout=60_000)
    except Exception:
        _shot(page, "debug")
        raise


def _caption_count(page: Any) -> tuple[int, int]:
    """(shown, matching) from the Users caption "Showing 50 of 299 matching users (…)"."""
    text = page.get_by_text(re.compile(r"^Showing [\d,]+ of [\d,]+ matching user")).first.inner_text()
    shown, matching = re.match(r"Showing ([\d,]+) of ([\d,]+)", text).groups()  # type: ignore[union-attr]
    return int(shown.replace(",", "")), int(matching.replace(",", ""))


def _status(page: Any, value: str) -> None:
    group = page.locator("[data-testid='stButtonGroup']").filter(has_text="Inactive").first
    group.locator("button, [role='radio']").filter(has_text=re.compile(f"^{value}$")).first.click()
    _idle(page)


def test_find_a_person(demo, browser):  # noqa: F811
    snap = _snapshot(demo["home"])
    people = snap.users.sort_values("userName")
    person = people[people["familyName"].notna()].iloc[11]
    page = _open(browser, demo, "users")
    _search(page, str(person["familyName"]))
    _, matching = _caption_count(page)
    same_family = snap.users["familyName"].astype(str).str.contains(str(person["familyName"]), case=False,
                                                                   regex=False)
    assert matching >= int(same_family.sum()) >= 1
    _select_rows(page, [0])
    _no_exception(page, "users: one person selected")
    # the person's details come first: name, status, the tabs
    main = page.locator("[data-testid='stMain']")
    heading = main.locator("h3").first
    heading.wait_for(timeout=30_000)
    name = heading.inner_text().strip()
    assert name and name != "Users"
    for tab in ("Attributes", "Groups & roles", "History", "Raw SCIM JSON"):
        page.get_by_role("tab", name=tab).first.wait_for(timeout=10_000)
    assert re.search(r"\b(Active|Inactive) · SCIM id ", main.inner_text())
    # the change panel below the details: folded, headed for one person, nothing chosen, no red button
    panel = _panel(page, "Change the 1 selected person")
    assert not _is_open(panel)
    heading_box, panel_box = heading.bounding_box(), panel.bounding_box()
    assert heading_box and panel_box and heading_box["y"] < panel_box["y"], "details before the change panel"
    assert page.get_by_role("button", name="Preview").count() == 0 or not page.get_by_role(
        "button", name="Preview").first.is_visible()
    assert main.locator("[data-testid='stBaseButton-primary']").count() == 0, "no primary (red) button"
    _fits(page, "users at 1280 px")
    _shot(page, "find-a-person")
    # the Groups & roles tab names roles without the rule's "Role - " prefix
    page.get_by_role("tab", name="Groups & roles").first.click()
    _idle(page)
    tab_text = page.locator("[data-testid='stTabs']").first.inner_text()
    assert "Role - " not in tab_text
    # opening the panel shows the choice, still nothing preselected and no Preview to press
    panel.locator("summary").first.click()
    _idle(page)
    assert _is_open(panel)
    chooser = panel.locator("[data-testid='stSelectbox']").filter(has_text="What to do").first
    assert not any(kind in chooser.inner_text() for kind in ("Deactivate", "Reactivate", "Add to", "Remove", "Move"))
    preview = panel.get_by_role("button", name="Preview")
    assert preview.is_disabled()
    assert panel.locator("[data-testid='stBaseButton-primary']").count() == 0
    _shot(page, "find-a-person-panel-open")
    page.close()


def test_deactivate_undo_move_and_csv(demo, browser):  # noqa: F811
    from console.directory.events import list_events
    from console.directory.store import latest_snapshot

    home = demo["home"]
    snap = _snapshot(home)
    users = snap.users
    target = users[users["active"].astype(bool)].sort_values("userName").iloc[20]
    user_name = str(target["userName"])

    # --- deactivate one person from Users: the table shows them inactive at once --------------------------
    page = _open(browser, demo, "users")
    _search(page, user_name)
    assert _caption_count(page) == (1, 1)
    _select_rows(page, [0])
    panel = _panel(page, "Change the 1 selected person")
    panel.locator("summary").first.click()
    _idle(page)
    _choose(page, "What to do", "Deactivate", panel)
    panel.get_by_role("button", name="Preview").click()
    _idle(page)
    page.get_by_text("Preview: deactivate").first.wait_for(timeout=30_000)
    page.get_by_role("button", name="Continue: Deactivate 1 person…").click()
    _idle(page)
    _confirm(page, "Deactivate 1 person", "left the company, journey test")
    _no_exception(page, "deactivate result")
    page.get_by_text("The directory tables show the new state").first.wait_for(timeout=30_000)
    main = page.locator("[data-testid='stMain']")
    assert re.search(r"\bInactive · SCIM id ", main.inner_text()), "the details say Inactive at once"
    _fits(page, "deactivate result")
    _shot(page, "deactivated")
    _status(page, "Inactive")
    assert _caption_count(page) == (1, 1), "the person is listed as inactive without a Refresh"
    _status(page, "Active")
    page.get_by_text("No user matches the search").first.wait_for(timeout=30_000)
    latest = latest_snapshot(_ctx(home), "Demo")
    assert latest.based_on is not None and latest.id != snap.id   # recorded in the snapshot history
    events = list_events(_ctx(home), "Demo", kinds=["user_deactivated"])
    assert str(target["id"]) in set(events["subject_id"])
    page.close()

    # --- undo it from Activity: they are active again, at once --------------------------------------------
    page = _open(browser, demo, "activity")
    page.get_by_text("Select an action to see who it changed").first.wait_for(timeout=30_000)
    _select_rows(page, [0])
    page.get_by_role("button", name=re.compile(r"^Undo: preview the way back for 1 person")).click()
    _idle(page)
    page.get_by_text("Preview: undo of action").first.wait_for(timeout=30_000)
    page.get_by_role("button", name="Continue: Reactivate 1 person…").click()
    _idle(page)
    _confirm(page, "Reactivate 1 person", "deactivated the wrong person")
    _no_exception(page, "undo result")
    main_text = page.locator("[data-testid='stMain']").inner_text()
    assert "Succeeded" in main_text and "member_removed" not in main_text and "jwt-exp" not in main_text
    _fits(page, "activity at 1280 px")
    _shot(page, "undone")
    page.goto(f"{demo['url']}/users", wait_until="domcontentloaded")
    _idle(page)
    _search(page, user_name)
    _status(page, "Active")
    assert _caption_count(page) == (1, 1), "undo restored them, and the table says so"
    assert page.locator("[data-testid='stAlertContentSuccess']").count() == 0, "the result went with its page"
    page.close()

    # --- move two people between groups: the group filter shows them in the new group at once -------------
    snap = latest_snapshot(_ctx(home), "Demo")
    groups = snap.groups[snap.groups["kind"] == "group"].sort_values("displayName")
    m = snap.memberships
    src, dst = (str(groups.iloc[0]["displayName"]), str(groups.iloc[0]["id"])), \
        (str(groups.iloc[1]["displayName"]), str(groups.iloc[1]["id"]))
    in_src = set(m.loc[m["group_id"] == src[1], "user_id"])
    in_dst = set(m.loc[m["group_id"] == dst[1], "user_id"])
    page = _open(browser, demo, "users")
    page.locator("[data-testid='stMultiSelect']").filter(has_text="In any of these groups").first.click()
    page.get_by_role("option", name=src[0], exact=True).click()
    page.keyboard.press("Escape")
    _idle(page)
    assert _caption_count(page)[1] == len(in_src)
    _select_rows(page, [0, 1])
    panel = _panel(page, "Change the 2 selected people")
    panel.locator("summary").first.click()
    _idle(page)
    _choose(page, "What to do", "Move from one group or role to another", panel)
    _choose(page, "From", f"{src[0]} (group)", panel)
    _choose(page, "To", f"{dst[0]} (group)", panel)
    panel.get_by_role("button", name="Preview").click()
    _idle(page)
    page.get_by_text("Preview: move").first.wait_for(timeout=30_000)
    preview_text = page.locator("[data-testid='stMain']").inner_text()
    assert f"from group {src[0]}" in preview_text and f"to group {dst[0]}" in preview_text  # names keep their case
    page.get_by_role("button", name=re.compile(r"^Continue: Move \d+ (person|people)…")).click()
    _idle(page)
    _confirm(page, re.compile(r"^Move \d+ (person|people)$"), "team change, journey test")
    _no_exception(page, "move result")
    page.get_by_text("The directory tables show the new state").first.wait_for(timeout=30_000)
    after = latest_snapshot(_ctx(home), "Demo")
    am = after.memberships
    moved = in_src - set(am.loc[am["group_id"] == src[1], "user_id"])
    assert 1 <= len(moved) <= 2 and in_dst | moved <= set(am.loc[am["group_id"] == dst[1], "user_id"])
    # the same page, no Refresh: the filter on the old group lists fewer people
    assert _caption_count(page)[1] == len(in_src) - len(moved)
    _fits(page, "move result")
    _shot(page, "moved")
    page.close()

    # --- the Users CSV: names of groups and roles, through the formula-safe writer -------------------------
    page = _open(browser, demo, "users")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").click()
    data = Path(info.value.path()).read_bytes()
    assert data.startswith("\ufeff".encode())                                    # console.csvsafe's BOM
    frame = pd.read_csv(io.BytesIO(data), keep_default_na=False, dtype=str)
    assert {"groups", "roles"} <= set(frame.columns) and "memberships" not in frame.columns
    rows = frame.set_index("id")
    for uid in moved:
        listed = rows.loc[uid, "groups"].split("; ")
        assert dst[0] in listed and src[0] not in listed
    with_roles = frame[frame["roles"] != ""]
    assert len(with_roles) and with_roles["roles"].str.startswith("Role - ").all()  # as 6clicks names them
    assert rows.loc[str(target["id"]), "active"].lower() == "true"
    assert len(frame) == len(after.users)
    page.close()


@pytest.mark.parametrize("path", ["users", "groups", "activity"])
def test_pages_stay_usable_at_1024_px(demo, browser, path):  # noqa: F811
    page = _open(browser, demo, path, width=1024)
    _no_exception(page, f"{path} at 1024 px")
    _fits(page, f"{path} at 1024 px")
    if path == "activity":
        page.locator("[data-testid='stSelectbox']").filter(has_text="Period").first.click()
        options = [o.inner_text() for o in page.get_by_role("option").all()]
        assert {"Last 30 days", "All time"} <= set(options)
        page.keyboard.press("Escape")
        _idle(page)
    else:
        _select_rows(page, [0])
    _shot(page, f"{path}-1024")
    page.close()
