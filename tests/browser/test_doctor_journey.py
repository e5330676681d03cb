"""The Setup check in Chromium on the demo at 1280 px: run the check, find the demo's deliberate mapping drift
(the work e-mail's matching precedence) in the side-by-side table, confirm a manual item by hand, and try the
mappings on one person with provision on demand. Screenshots: test-artifacts/screenshots/doctor-*.png."""

from __future__ import annotations

import re

import pytest

from tests.browser.test_dashboard import (  # noqa: F401 (fixtures)
    _demo_snapshot,
    _idle,
    _no_exception,
    _shot,
    browser,
    server,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_setup_check_finds_the_demo_drift(server, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(server["url"] + "/doctor", wait_until="domcontentloaded")
    _idle(page)
    page.get_by_role("heading", name="Setup check").first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Run the check").click()
    _idle(page)
    page.get_by_text("To confirm by hand").first.wait_for(timeout=60_000)
    _no_exception(page, "setup check")
    main = page.locator("[data-testid='stMain']").inner_text()
    assert "Attribute mappings: users — Failure" in main
    assert "matching precedence" in main  # the demo's planted drift, named in the row's note
    assert "Create new users — OK" in main
    _shot(page, "doctor-run")
    page.get_by_text("Attribute mappings: users").first.scroll_into_view_if_needed()
    _shot(page, "doctor-mappings")
    page.get_by_role("button", name="I checked this by hand").first.click()
    _idle(page)
    page.get_by_role("button", name="Run the check").click()
    _idle(page)
    page.get_by_text("(confirmed by hand by").first.wait_for(timeout=30_000)
    _no_exception(page, "setup check after a confirmation")
    _shot(page, "doctor-confirmed")
    # try the mappings on one person: provision on demand with their Entra object id (their externalId)
    snap = _demo_snapshot(server, browser)
    managed = snap.users[snap.users["externalId"].notna() & snap.users["active"].astype(bool)]
    object_id = str(managed.sort_values("userName").iloc[0]["externalId"])
    page.get_by_text("Try the mappings on one person").first.click()
    page.get_by_role("textbox", name="Entra object id").fill(object_id)
    page.get_by_role("textbox", name="Entra object id").press("Enter")
    _idle(page)
    page.get_by_role("button", name=f"Provision {object_id} on demand").click()
    _idle(page)
    page.get_by_text(re.compile(r"Entra (provisioned|skipped|could not provision) it")).first.wait_for(
        timeout=60_000)
    main = page.locator("[data-testid='stMain']").inner_text()
    assert any(w in main for w in ("Entra provisioned it", "Entra skipped it", "Entra could not provision it"))
    _no_exception(page, "provision on demand")
    page.get_by_text(re.compile(r"Entra (provisioned|skipped|could not provision) it")).first \
        .scroll_into_view_if_needed()
    _shot(page, "doctor-on-demand")
    page.close()


def test_reconcile_on_the_demo(server, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(server["url"] + "/reconcile", wait_until="domcontentloaded")
    _idle(page)
    page.get_by_role("heading", name="Reconcile").first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Reconcile now").click()
    _idle(page)
    page.get_by_text("Download this run as CSV").first.wait_for(timeout=120_000)
    _no_exception(page, "reconcile")
    main = page.locator("[data-testid='stMain']").inner_text()
    for title in ("Not managed by SCIM", "Orphans", "Missing", "Attribute drift", "Membership drift"):
        assert title in main
    _shot(page, "reconcile")
    page.get_by_role("tab", name="Orphans").click()
    _idle(page)
    _shot(page, "reconcile-orphans")
    page.close()
