"""The Setup check page (AppTest) against a real sandbox: the check runs on a click, shows every section with
its verdicts, the mapping table side by side, confirms a manual item by hand (kept with who and when), and
provisions one person on demand from the Entra section."""

from __future__ import annotations

from tests.pages.conftest import app, assert_clean, texts

DOCTOR = "pages/doctor.py"


def _button(at, label):
    return next(b for b in at.button if b.label == label)


def test_setup_check_page_runs_confirms_and_provisions(live):
    at = app(DOCTOR)
    assert_clean(at)
    assert "Not checked yet" in texts(at)
    _button(at, "Run the check").click().run()
    assert_clean(at)
    shown = texts(at)
    for section in ("6clicks", "Permissions", "Entra ID"):
        assert section in [s.value for s in at.subheader]
    labels = [e.label for e in at.expander]
    assert any(label.startswith("Create new users — ") for label in labels)
    assert any(label.startswith("Attribute mappings: users — ") for label in labels)
    assert "Nothing was changed" in shown
    frames = [df.value for df in at.dataframe]
    mapping = next(f for f in frames if "The guide" in f.columns)
    assert 'emails[type eq "work"].value' in set(mapping["6clicks attribute"])
    # confirm "scope" by hand: the check reruns and shows who
    _button(at, "I checked this by hand").click().run()
    assert_clean(at)
    _button(at, "Run the check").click().run()
    assert any("(confirmed by hand by" in e.label for e in at.expander)
    # provision one user on demand: an Entra object id of the tenant
    import httpx

    from console.graph import GraphClient
    with GraphClient.for_connection(live.ctx, live.conn) as g:
        bearer = g._access_token()
    answer = httpx.get(f"{live.sandbox.graph_url}/users", params={"$top": "1"},
                       headers={"Authorization": f"Bearer {bearer}"})
    user_id = answer.json()["value"][0]["id"]
    at.text_input(key="doctor.ondemand.id").input(user_id).run()
    at.button(key="doctor.ondemand.go").click().run()
    assert_clean(at)
    assert any(kind in texts(at) for kind in ("Entra provisioned it", "Entra skipped it",
                                               "Entra could not provision it"))


def test_overview_shows_the_last_verdict_with_a_link(live):
    from console.doctor.checks import run_checks

    report = run_checks(live.ctx, live.conn)
    at = app()
    assert_clean(at)
    words = {"ok": "all good", "warning": "warnings", "failure": "failures"}[report.worst]
    assert f"Setup check: {words}" in texts(at)
    links = {el.proto.label: el.proto.page for el in at.get("page_link")}
    assert "doctor" in links["Open the setup check"] and "reconcile" in links["Open Reconcile"]


def test_provision_on_demand_from_a_users_details(console_home):
    """A person's details offer provision on demand (their externalId is their Entra object id); Entra's
    answer is shown in words, with no traceback."""
    from tests.pages.conftest import make_connection
    from tests.sandbox_fixture import start_sandbox

    box = start_sandbox(seed_users=40, seed_groups=4, seed=41, demo=True,
                        extra_args=["--demo-days", "1", "--cycle-seconds", "0"])
    try:
        make_connection(console_home, box, "Tenant")
        at = app("pages/users.py")
        key = at.session_state["users.table_key"]
        at.session_state[key] = {"selection": {"rows": [0], "columns": [], "cells": []}}
        at.run()
        assert_clean(at)
        assert any(e.label.startswith("Provision on demand") for e in at.expander)
        go = next(b for b in at.button if b.label.startswith("Provision ") and b.label.endswith(" on demand"))
        go.click().run()
        assert_clean(at)
        shown = texts(at)
        assert any(w in shown for w in ("Entra provisioned it", "Entra skipped it", "Entra could not provision it"))
    finally:
        box.cleanup()
