"""Journey "triage a failure" in Chromium at 1280 px on the embedded demo (issue 13): open Sync history, see the
demo's failure spike by default, open a failed record, follow its link to the person, see their History.

Each step asserts what the admin must see, against figures read from the console's own store (the same
database the app serves), and saves a screenshot to test-artifacts/screenshots/triage-*.png. Reuses the
dashboard's browser harness (tests/browser/test_dashboard.py: the README's start command, the access cookie)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_dashboard import SHOTS, _idle, _no_exception, browser, server  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTH = 1280
# the Sync history page's ranges and default (pages/sync_history.py: a page module runs when imported)
RANGES = {"24 hours": timedelta(hours=24), "7 days": timedelta(days=7), "30 days": timedelta(days=30), "All": None}
DEFAULT_RANGE = "7 days"
ROW_HEIGHT = 35  # the log table's header and rows (Streamlit's data grid)
VISIBLE_ROWS = 8  # rows of the 390 px table certainly in view without scrolling it


def _ctx(home: Path) -> Any:
    from console.context import open_context
    from console.credentials import memory_credentials

    return open_context(home, credentials=memory_credentials())


def _shot(page: Any, name: str) -> None:
    """The whole page at 1280 px wide: Streamlit scrolls its main area itself (a full-page screenshot stops at
    the window), so the window grows to the content's height for the picture and shrinks back."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(1200)  # let lazily loaded widgets (segmented controls, charts) paint
    height = page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight")
    before = page.viewport_size
    page.set_viewport_size({"width": WIDTH, "height": max(900, min(int(height) + 40, 8000))})
    page.wait_for_timeout(800)
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    page.set_viewport_size(before)
    page.wait_for_timeout(300)


def _fits(page: Any, where: str) -> None:
    """Nothing in the main area is wider than the window (long text wraps instead of running off)."""
    scroll, client = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=stMain]'); return [m.scrollWidth, m.clientWidth] }")
    assert scroll <= client, f"{where}: the page is {scroll} px wide in a {client} px window"


def _annotations(page: Any) -> list[str]:
    return page.locator("text.annotation-text").evaluate_all("els => els.map(e => e.textContent)")


def _choose(page: Any, label: str, option: str) -> None:
    box = page.locator("[data-testid='stSelectbox']").filter(has_text=label)
    for _ in range(3):  # a click during a rerun may be lost: open the list until it shows
        box.click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=10_000)
            break
        except Exception:  # playwright's TimeoutError: try again
            page.keyboard.press("Escape")
            _idle(page)
    else:
        pytest.fail(f"could not choose {option!r} in {label!r}")
    _idle(page)


def _failed_person(ctx: Any, since: Any) -> tuple[int, Any, Any]:
    """The first failed record (in the log table's order) about a person who is in the latest snapshot: its
    row in the failure-filtered table, the record row and the person it resolves to."""
    from console.directory.store import latest_snapshot
    from console.entra.logstore import query_logs
    from console.timeline import resolve_target

    snap = latest_snapshot(ctx, "Demo")
    failed = query_logs(ctx, "Demo", status="failure", since=since, limit=500)
    for i, row in enumerate(failed.itertuples(index=False)):
        if str(row.identity_type).lower() != "user":
            continue
        target = resolve_target(failed.iloc[i], snap.users, snap.groups)
        if target.scim_id:
            return i, failed.iloc[i], target
    pytest.fail("the demo has no failed record about a person in the directory")


def test_triage_a_failure(server, browser):  # noqa: F811
    from console.entra.health import choose_range, recent_trouble
    from console.entra.logstore import range_start, summarise
    from console.timeline import person_timeline

    ctx = _ctx(server["home"])
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})

    # 1. Sync history opens on the range that shows the demo's worst period (8 of its 10 failures are older
    #    than 7 days), with the worst cycle pointed at on the chart
    page.goto(server["url"] + "/sync_history", wait_until="domcontentloaded")
    _idle(page)
    page.get_by_text("Cycles over time by outcome").first.wait_for(timeout=180_000)
    _idle(page)
    _no_exception(page, "sync history")
    trouble = recent_trouble(ctx, "Demo")
    worst = trouble.worst()
    assert worst is not None and trouble.failures >= 2, "the demo has its failure episodes"
    expected = choose_range(trouble, RANGES, DEFAULT_RANGE)
    assert expected != "7 days", "the demo's worst period is more than 7 days old (else this journey proves nothing)"
    picked = page.get_by_role("radiogroup", name="Time range").get_by_role("radio", checked=True)
    assert picked.inner_text().strip() == expected
    since = range_start(RANGES[expected])
    summary = summarise(ctx, "Demo", since=since)
    failures = int(summary.cycles["failure"].sum())
    assert failures == trouble.failures
    page.get_by_text(f"{len(summary.cycles):,} cycles, {failures:,} failures", exact=False).first.wait_for()
    notes = _annotations(page)
    assert f"worst: {worst['failures']} of {worst['total']} failed" in " ".join(notes), notes
    assert page.get_by_text("earlier than this range").count() == 0
    _fits(page, "sync history")
    _shot(page, "triage-1-sync-history")

    # the failures by error code: what each means and how to fix it, wrapped at 1280 px
    fix = page.get_by_text("Suggested fix:", exact=False).first
    fix.scroll_into_view_if_needed()
    box = fix.bounding_box()
    assert box is not None and box["x"] + box["width"] <= WIDTH

    # 2. only the failures, then the first one about a person: its details open under the table
    _choose(page, "Outcome", "failure")
    index, record, target = _failed_person(ctx, since)
    if index >= VISIBLE_ROWS:  # further down the table: find them by name, as an admin would
        field = page.get_by_role("textbox", name="Identity (name or id)")
        field.fill(str(record["source_name"]))
        field.press("Enter")
        _idle(page)
        from console.entra.logstore import query_logs

        narrowed = query_logs(ctx, "Demo", status="failure", since=since, identity=str(record["source_name"]))
        index = narrowed["id"].tolist().index(record["id"])
        assert index < VISIBLE_ROWS
    grid = page.locator("[data-testid='stDataFrame']").last
    grid.scroll_into_view_if_needed()
    gbox = grid.bounding_box()
    assert gbox is not None
    page.mouse.click(gbox["x"] + 18, gbox["y"] + ROW_HEIGHT + ROW_HEIGHT // 2 + ROW_HEIGHT * index)
    _idle(page)
    name = str(record["source_name"])
    heading = page.get_by_role("heading", name="Entra failed to", exact=False).filter(has_text=name).first
    heading.wait_for(timeout=30_000)
    _no_exception(page, "record details")
    details = page.locator("[data-testid='stAlertContentError']").filter(has_text="What it means:").last
    text = details.inner_text()
    assert "Suggested fix:" in text
    from console.entra.catalogue import error_title, explain_error

    why, _ = explain_error(str(record["error_code"]))
    assert error_title(str(record["error_code"])).lower() in text.lower()
    assert why.split(":")[0] in text
    page.locator("[data-testid='stMarkdownContainer']").filter(has_text="Concerns:").filter(
        has_text=target.label).first.wait_for()
    details.scroll_into_view_if_needed()
    _fits(page, "record details")
    _shot(page, "triage-2-failed-record")

    # 3. the link to the person: the Users page with their details, on their History tab
    page.get_by_role("button", name=f"Open {target.label}", exact=False).click()
    _idle(page)
    # st.switch_page changes the address in place (no page load to wait for)
    page.wait_for_function("() => location.pathname.endsWith('/users')", timeout=90_000)
    page.get_by_role("heading", name=target.label, exact=False).first.wait_for(timeout=30_000)
    _no_exception(page, "person")
    tab = page.get_by_role("tab", name="History")
    assert tab.get_attribute("aria-selected") == "true", "the person opens on their History"
    timeline = person_timeline(ctx, "Demo", target.scim_id)
    failed_lines = int((timeline["outcome"] == "failure").sum())
    assert failed_lines >= 1
    caption = f"{len(timeline)} entr{'y' if len(timeline) == 1 else 'ies'}, newest first"
    page.get_by_text(caption, exact=False).first.wait_for(timeout=30_000)
    history = page.locator("[data-testid='stMarkdownContainer']").filter(has_text="provisioning cycle").last
    lines = [line.strip() for line in history.inner_text().splitlines() if line.strip()]
    assert len(lines) == len(timeline), lines
    # the failed record, in words, with what its error means; nothing internal
    mine = [line for line in lines if "failed to" in line and str(record["cycle_id"])[:8] in line]
    assert mine and why.split(":")[0] in mine[0], lines
    assert mine[0].startswith("failed"), "a failure is marked in words, not only in colour"
    for internal in ("member_removed", "user_changed", "jwt-exp", "prefix:", "None"):
        assert internal not in history.inner_text()
    tab.scroll_into_view_if_needed()
    _fits(page, "person history")
    _shot(page, "triage-3-person-history")
    page.close()


def test_overview_recent_changes_show_entras_activity_on_first_start(server, browser):  # noqa: F811
    """The demo's first start: one snapshot (a baseline) and two weeks of Entra records. Recent changes say why
    no directory change is listed and list Entra's activity, counted as Sync history counts it."""
    from console.entra.logstore import range_start, summarise

    ctx = _ctx(server["home"])
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    page.goto(server["url"] + "/", wait_until="domcontentloaded")
    _idle(page)
    page.get_by_text("Recent changes (7 days)").first.wait_for(timeout=180_000)
    _idle(page)
    _no_exception(page, "overview")
    s = summarise(ctx, "Demo", since=range_start(timedelta(days=7)))
    assert s.total > 0
    panel = page.locator("[data-testid='stMarkdownContainer']").filter(has_text="Entra provisioning:").first
    panel.wait_for()
    text = panel.inner_text()
    assert f"{s.total:,} records in {len(s.cycles):,} cycles" in text
    assert "only one snapshot so far" in text
    # one next-cycle answer on the screen: the metric's sentence is the caption's
    metric = page.locator("[data-testid='stMetric']").filter(has_text="Next cycle")
    short = metric.locator("[data-testid='stMetricValue']").inner_text().strip()
    assert short
    captions = page.locator("[data-testid='stCaptionContainer']").filter(has_text="Next cycle:").all_inner_texts()
    assert len(captions) == 1
    panel.scroll_into_view_if_needed()
    _fits(page, "overview")
    _shot(page, "triage-0-overview")
    page.close()
