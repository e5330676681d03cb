"""Role names without the role rule's marker where the context already says "role"."""

from __future__ import annotations

import pandas as pd

from console.connections import Connection
from console.directory.roles import role_label, role_labels, rule_text


def test_the_default_prefix_is_left_out():
    conn = Connection(name="t", api_url="https://x.example/api")
    assert role_label(conn, "Role - Compliance Officer") == "Compliance Officer"
    assert role_label(conn, "Role -Auditor") == "Auditor"              # the prefix without its trailing blank
    assert role_label(conn, "Finance") == "Finance"                     # not a role name: as it is
    assert role_label(conn, "Role - ") == "Role -"                      # nothing left: the whole name
    assert role_label(conn, "Roles - Admin") == "Roles - Admin"         # a different prefix: as it is
    assert role_label(conn, None) == "" and role_label(conn, 42) == "42"
    assert role_labels(conn, pd.Series(["Role - A", "B"])) == ["A", "B"]


def test_a_custom_prefix_and_a_regex():
    assert role_label("prefix:6C_", "6C_Risk Manager") == "Risk Manager"
    assert role_label("regex:^(Role|Roles) - ", "Roles - Admin") == "Admin"
    assert role_label("regex:Admin$", "Tenant Admin") == "Tenant Admin"  # the match does not start the name
    assert role_label("regex:([", "Role - X") == "Role - X"             # an invalid rule shows names whole


def test_the_rule_in_words():
    assert rule_text(Connection(name="t", api_url="https://x.example/api")) == "names starting with “Role - ”"
    assert rule_text("regex:^R-") == "names matching the regular expression “^R-”"
