"""Every page over a hostile directory (tests/hostile.py): what the directory, the logs, the job status and the
audit log hold reaches a Markdown renderer only escaped (no image, link, heading, colour, icon or maths comes
from data; the exact text is what the escape reads as), and people with only the guide's mapped attributes,
with nulls, or with numbers where strings belong are shown without an error."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import keyring
import pytest

from pages._ui import text as ui
from tests.hostile import PixelServer, build_sandbox_data, hostile_reason, populate_console
from tests.pages.conftest import (
    REPO,
    app,
    assert_clean,
    make_connection,
    markdown_strings,
    plotly_specs,
    unescape,
)
from tests.sandbox_fixture import start_sandbox

CONNECTION = "Hostile _tenant_ -- 1."


@pytest.fixture(scope="module")
def hostile_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A sandbox holding the hostile directory, and a console home with a connection to it whose snapshot,
    provisioning logs, job status and audit log carry hostile texts (built once for the module)."""
    from console.credentials import MemoryKeyring

    backend = MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    home = tmp_path_factory.mktemp("hostile-home")
    env = {"SCIM_CONSOLE_HOME": str(home), "SCIM_CONSOLE_KEYRING": "system", "SCIM_CONSOLE_NO_DEMO": "1"}
    with pytest.MonkeyPatch.context() as mp, PixelServer() as pixel:
        for name, value in env.items():
            mp.setenv(name, value)
        data_dir = tmp_path_factory.mktemp("hostile-sandbox")
        directory = build_sandbox_data(data_dir, pixel.url)
        box = start_sandbox(data_dir=data_dir)
        try:
            live = make_connection(home, box, name=CONNECTION, snapshot=False)
            info = populate_console(live.ctx, live.conn, directory)
            yield {"home": home, "env": env, "keyring": backend, "directory": directory, "values": directory.values,
                   "live": live, "info": info, "pixel": pixel}
        finally:
            box.cleanup()
            keyring.set_keyring(previous)


@pytest.fixture
def world(hostile_world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    for name, value in hostile_world["env"].items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(REPO)
    keyring.set_keyring(hostile_world["keyring"])
    return hostile_world


#: Markdown that would make an image, a link, HTML, colour, an icon or maths, when not escaped
UNESCAPED = re.compile(r"(?<!\\)(?:!\[|\]\(|<img|<b>|:red\[|:blue-background\[|:material/warning:|:material_key:|\$x)")


def assert_text_only(at: Any, values: dict[str, str]) -> list[str]:
    """No hostile text reaches a Markdown renderer unescaped; returns the Markdown strings of the run."""
    strings = markdown_strings(at)
    for key, value in values.items():
        raw = [s for s in strings if value in s]
        assert not raw, f"{key!r} reached Markdown unescaped: {raw[:2]!r}"
    for s in strings:
        assert not UNESCAPED.search(s), f"unescaped Markdown from data: {s[:200]!r}"
    for frame in at.dataframe:  # plain, but an RTL override would still reorder a cell: made visible
        for column in frame.value.columns:
            cells = [v for v in frame.value[column].tolist() if isinstance(v, str)]
            assert not [v for v in cells if "\u202e" in v or "\x00" in v or "\x1b" in v], column
    return strings


def plot_strings(at: Any) -> list[str]:
    """Every string in the run's Plotly figures (labels, ticks, legends, annotations, hover texts)."""
    out: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(plotly_specs(at))
    return out


def escaped_in(value: str, strings: list[str], **kwargs: Any) -> bool:
    fragment = ui.md_escape(value, **kwargs)
    return any(fragment in s for s in strings)


def assert_no_error_box(at: Any) -> None:
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]


# --- Overview ------------------------------------------------------------------------------------------------

def test_overview_shows_hostile_job_and_alerts_as_text(world: dict[str, Any]) -> None:
    values = world["values"]
    at = app()
    assert_clean(at)
    strings = assert_text_only(at, values)
    # the quarantine reason, the job's schedule state, the spiking cycle's id: present, as text
    assert escaped_in(values["link"], strings), "the quarantine reason / spike cycle is shown"
    assert any("quarantine" in s.lower() for s in strings)
    metric = next(m for m in at.metric if m.label == "Job status")
    assert metric.value == "Quarantine"
    assert any(ui.md_escape(values["bold"]) in s for s in strings), "the schedule state (help) is escaped"
    assert any(ui.md_escape(f"Cycle {values['link']}: ") in s for s in strings), "the failure spike's alert"


# --- Users ---------------------------------------------------------------------------------------------------

def test_users_detail_of_every_hostile_person(world: dict[str, Any]) -> None:
    from console.directory.people import display_label
    from console.directory.roles import role_label
    from console.directory.store import latest_snapshot

    values, directory = world["values"], world["directory"]
    users = latest_snapshot(world["live"].ctx, world["live"].conn).users.set_index("id")
    people = [*directory.person_ids.values(), directory.username_person_id]
    for uid in people:
        at = app("pages/users.py", state={"users.detail_id": uid})
        assert_no_error_box(at)
        strings = assert_text_only(at, values)
        label = display_label(users.loc[uid].to_dict() | {"id": uid})
        assert at.subheader[0].value == ui.md_escape(label), uid
        # the person's groups and roles are buttons labelled with the (hostile) names: escaped too
        # roles without the role rule's marker: the list is headed "Roles"
        labels = sorted(b.label for b in at.button if b.key and b.key.startswith("users.open_group."))
        assert labels == sorted([ui.md_escape(v) for v in values.values()]
                                + [ui.md_escape(role_label(world["live"].conn, "Role - " + v))
                                   for v in values.values()]), uid
        assert any(ui.md_escape(v) in s for s in strings for v in values.values())


def test_users_table_names_people_by_the_display_label(world: dict[str, Any]) -> None:
    from console.directory.people import display_labels
    from console.directory.store import latest_snapshot

    users = latest_snapshot(world["live"].ctx, world["live"].conn).users
    at = app("pages/users.py")
    at.selectbox(key="users.size").set_value(500).run()
    assert_no_error_box(at)
    table = at.dataframe[0].value.set_index("id")
    expected = display_labels(users).set_axis(users["id"])
    assert "label" in table.columns and "displayName" not in table.columns
    for uid in ("guide-person-0001", "nulls-person-0001", "numbers-person-0001"):
        assert table.loc[uid, "label"] == expected[uid]
    assert table.loc["guide-person-0001", "label"] == "Ada Guide"       # no displayName: given + family
    assert table.loc["nulls-person-0001", "label"] == "nulls.person@contoso.example"  # no name at all
    assert table.loc["numbers-person-0001", "label"] == "['not', 'a', 'string']"   # shown as what it is
    assert_text_only(at, world["values"])


@pytest.mark.parametrize("who", ["guide", "nulls", "numbers"])
def test_users_detail_of_guide_shaped_null_and_odd_people(world: dict[str, Any], who: str) -> None:
    uid = world["directory"].special_ids[who]
    at = app("pages/users.py", state={"users.detail_id": uid})
    assert_no_error_box(at)
    table = next(d.value for d in at.dataframe if "Attribute" in d.value.columns)
    attributes = dict(table[["Attribute", "Value"]].itertuples(index=False))
    expected = {"guide": ("Ada Guide", "", "yes"), "nulls": ("nulls.person@contoso.example", "", "no"),
                "numbers": ("['not', 'a', 'string']", "['not', 'a', 'string']", "yes")}[who]
    assert (attributes["Name (as shown)"], attributes["Display name"], attributes["Active"]) == expected
    assert at.subheader[0].value == ui.md_escape(expected[0])


def test_users_operation_preview_over_a_hostile_person(world: dict[str, Any]) -> None:
    """Select a hostile person, preview adding them to a hostile group: every label, caption and the preview's
    title are text; the group choices (plain selectbox options) read as the names."""
    values, directory = world["values"], world["directory"]
    at = app("pages/users.py")
    at.text_input(key="users.q").input("hostile.colour@").run()
    key = at.session_state["users.table_key"]
    at.session_state[key] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert_no_error_box(at)
    assert at.session_state["users.selected_ids"] == [directory.person_ids["colour"]]
    at.selectbox(key="ops.users.kind").set_value("Add to a group or role").run()
    group_box = at.selectbox(key="ops.users.group")
    target = next(o for o in group_box.options if o.startswith(ui.plain(values["math"])) and o.endswith("(group)"))
    assert "\\" not in target and "\x00" not in "".join(group_box.options)  # options are plain, never escaped
    group_box.set_value(target).run()
    at.button(key="ops.users.preview").click().run()
    assert_no_error_box(at)
    strings = assert_text_only(at, values)
    assert any(s.startswith("#### Preview: ") and ui.md_escape(values["math"]) in s for s in strings)
    preview = next(d.value for d in at.dataframe if "why skipped" in d.value.columns)
    assert list(preview["name"]) == [values["colour"]]  # the display label, as data (a dataframe is plain)


# --- Groups & roles ------------------------------------------------------------------------------------------

def test_groups_detail_of_every_hostile_group_and_role(world: dict[str, Any]) -> None:
    from console.directory.roles import role_label

    values, directory = world["values"], world["directory"]
    conn = world["live"].conn
    for key, value in values.items():
        # a role's heading says "Role: …" once, its name without the rule's marker
        for gid, title in ((directory.group_ids[key], f"Group: {ui.md_escape(value)}"),
                           (directory.role_ids[key], f"Role: {ui.md_escape(role_label(conn, 'Role - ' + value))}")):
            at = app("pages/groups.py", state={"groups.detail_id": gid})
            assert_no_error_box(at)
            assert_text_only(at, values)
            assert at.subheader[0].value == title, key


def test_group_members_and_operations_over_a_hostile_role(world: dict[str, Any]) -> None:
    """A role whose members include the guide-shaped, null and odd people: the members table names them by
    the display label; the operations panel's expander label names the role as text."""
    values, directory = world["values"], world["directory"]
    at = app("pages/groups.py")
    at.segmented_control(key="groups.kind").set_value("Roles").run()
    at.text_input(key="groups.q").input("re-authenticate").run()
    table_key = "groups.table.Roles.re-authenticate"
    assert len(at.dataframe[0].value) == 1
    at.session_state[table_key] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert_no_error_box(at)
    assert at.session_state["groups.selected_ids"] == [directory.role_ids["link"]]
    strings = assert_text_only(at, values)
    assert any(f"Change the members of role {ui.md_escape(values['link'])}" == s for s in strings)
    members = at.dataframe[1].value.set_index("id")
    assert members.loc["guide-person-0001", "label"] == "Ada Guide"
    assert members.loc["nulls-person-0001", "label"] == "nulls.person@contoso.example"
    at.segmented_control(key="ops.groups.action").set_value("Remove members").run()
    assert_no_error_box(at)
    picker = at.multiselect(key="ops.groups.members")
    assert "31337" in picker.options and "ada.guide@contoso.example" in picker.options


@pytest.mark.parametrize(("who", "heading"), [("guide", "Ada Guide"), ("nulls", "nulls.person@contoso.example"),
                                              ("numbers", "['not', 'a', 'string']")])
def test_group_member_opens_on_the_users_page(world: dict[str, Any], who: str, heading: str) -> None:
    """Select a guide-shaped, null or odd member of a role and open it: no error box on either page."""
    directory = world["directory"]
    uid = directory.special_ids[who]
    at = app("pages/groups.py", state={"groups.detail_id": directory.role_ids["bold"]})
    members_key = at.session_state["groups.members_key"]
    shown = at.dataframe[1].value.reset_index(drop=True)
    row = int(shown.index[shown["id"] == uid][0])
    at.session_state[members_key] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    assert_no_error_box(at)
    at.button(key="groups.open_user").click().run()
    assert_no_error_box(at)
    assert at.subheader[0].value == ui.md_escape(heading)


# --- Sync history ------------------------------------------------------------------------------------------

def test_sync_history_with_hostile_records_and_one_opened(world: dict[str, Any]) -> None:
    values = world["values"]
    at = app("pages/sync_history.py")
    assert_clean(at)
    strings = assert_text_only(at, values)
    texts = plot_strings(at)  # chart labels, legends and hovers: Plotly reads HTML there
    assert not [t for t in texts if "<img" in t or "<b>" in t], "HTML from data in a chart"
    assert ui.plot_text(values["image"]) in texts, "the unknown action is a tick of the actions chart"
    # the hostile error codes are shown as text in the failure cards (their meaning and fix are the console's)
    assert escaped_in(values["html"], strings) and escaped_in(values["link"], strings)
    # the log table is plain text: one sentence per record, the hostile names exactly
    table = next(d.value for d in at.dataframe if "what" in d.value.columns)
    assert f"Entra failed to create {values['link']}: {values['link']}" in set(table["what"])
    opened = "hostile-link"
    key = at.session_state["sync_history.table_key"]
    at.session_state[key] = {"selection": {"rows": [table["id"].tolist().index(opened)], "columns": [],
                                           "cells": []}}
    at.run()
    assert_clean(at)
    strings = assert_text_only(at, values)
    error = at.error[-1].value
    assert error.startswith(f"**{ui.md_escape(values['link'])}** · {ui.md_escape(values['link'])}\n\n")
    assert escaped_in(values["link"], strings, limit=600)  # the step's description, as wrapped text
    props = next(d.value for d in at.dataframe if "property" in d.value.columns)
    assert values["link"] in set(props["property"])  # the changes table holds the exact text (plain element)


def test_sync_history_filters_offer_hostile_values_as_plain_options(world: dict[str, Any]) -> None:
    values = world["values"]
    at = app("pages/sync_history.py")
    codes = at.selectbox(key="sync_history.f_code")
    assert ui.plain(values["image"]) in codes.options
    assert all("\x00" not in o and "\u202e" not in o for o in codes.options)
    actions = at.selectbox(key="sync_history.f_action")
    assert ui.plain(values["image"]) in actions.options  # an unknown action, kept as the log says it


# --- Activity ------------------------------------------------------------------------------------------------

def test_activity_with_a_hostile_reason_operator_and_group(world: dict[str, Any]) -> None:
    values, info = world["values"], world["info"]
    at = app("pages/activity.py", state={"activity.selected_id": info["action_id"]})
    assert_no_error_box(at)
    strings = assert_text_only(at, values)
    assert at.subheader[0].value == f"Action {info['action_id']}: add to group {ui.md_escape(values['heading'])}"
    body = next(s for s in strings if "**Why:**" in s)
    assert ui.md_escape(hostile_reason(values), limit=2000, multiline=True) in body
    assert f"**{ui.md_escape(values['link'])}**" in body  # the operator
    assert unescape(body).endswith(" ".join(ui.plain(hostile_reason(values), limit=2000, multiline=True)
                                            .split()[-2:]))
    operators = at.selectbox(key="activity.operator")
    assert ui.plain(values["link"]) in operators.options
    items = at.dataframe[-1].value.set_index("user")
    assert items.loc["ada.guide@contoso.example", "name"] == "Ada Guide"


# --- Connection & token ------------------------------------------------------------------------------------

def test_connection_page_shows_the_name_as_text(world: dict[str, Any]) -> None:
    at = app("pages/connection.py")
    assert_no_error_box(at)
    strings = assert_text_only(at, world["values"])
    assert at.subheader[0].value == ui.md_escape(CONNECTION)
    assert "_tenant_" not in "\n".join(strings)  # the name would read as emphasis unescaped
    assert ui.md_escape(CONNECTION) in at.text_input(key=f"remove.{CONNECTION}").label


def test_sidebar_picker_shows_connection_names_plainly(world: dict[str, Any]) -> None:
    at = app()
    assert at.sidebar.selectbox[0].options == [CONNECTION]  # a plain option: shown as typed, not escaped
    assert any(s.startswith("Operator: ") for s in markdown_strings(at))
