"""Operations: reading CSV targets and previews (plan) against a directory; no server needed for these."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from console.connections import Connection
from console.context import open_context
from console.credentials import memory_credentials
from console.errors import InvalidInput
from console.operations import plan, read_csv_targets
from console.operations.targets import Directory, DirGroup, DirUser


@pytest.fixture
def ctx(tmp_path):
    return open_context(tmp_path / "data", credentials=memory_credentials())


@pytest.fixture
def conn():
    return Connection(name="t", api_url="http://127.0.0.1:9", allow_http=True)


def make_directory(n: int = 6) -> Directory:
    d = Directory(source="snapshot", taken_at=datetime(2026, 11, 1, tzinfo=UTC), snapshot_id="1")
    for i in range(n):
        d.add_user(DirUser(id=f"u{i}", user_name=f"user{i}@corp.example", email=f"User{i}@Mail.example",
                           display_name=f"User {i}", active=i % 3 != 0, external_id=f"x{i}"))
    d.add_group(DirGroup(id="g1", display_name="Finance", kind="group", external_id=None))
    d.add_group(DirGroup(id="g2", display_name="Role - Auditor", kind="role", external_id=None))
    d.add_membership("g1", "u1")
    d.add_membership("g1", "u2")
    d.add_membership("g2", "u2")
    return d


# -- CSV ---------------------------------------------------------------------------------------------------
def test_csv_header_bom_duplicates_and_blank_rows():
    data = "\ufeffuserName,department\nalice@x.example,IT\nBOB@x.example,HR\n\nbob@x.example,HR\n,IT\n"
    got = read_csv_targets(data.encode("utf-8"))
    assert got.values == ["alice@x.example", "BOB@x.example"]
    assert got.encoding == "UTF-8 with BOM"
    text = " ".join(got.notes)
    assert "Header row found" in text and "1 duplicate row collapsed" in text and "1 row without a value" in text


def test_csv_without_header_latin1_and_email_column():
    data = "Müller,jörg.müller@x.example\nSmith,smith@x.example\n".encode("latin-1")
    got = read_csv_targets(data)
    assert got.encoding == "Windows-1252"  # Latin-1's letters are Windows-1252's: the same text either way
    assert got.values == ["jörg.müller@x.example", "smith@x.example"]


def test_csv_semicolons_and_email_header():
    got = read_csv_targets(b"Name;E-mail\nA;a@x.example\nB;b@x.example\n")
    assert got.values == ["a@x.example", "b@x.example"]


def test_csv_utf16_single_column():
    got = read_csv_targets("a@x.example\nb@x.example\n".encode("utf-16"))
    assert got.values == ["a@x.example", "b@x.example"] and got.encoding == "UTF-16 LE"


@pytest.mark.parametrize("data", [b"", b"\n\n", b"userName\n\n"])
def test_csv_empty_is_a_clear_error(data):
    with pytest.raises(InvalidInput) as err:
        read_csv_targets(data)
    assert "userName or e-mail per row" in str(err.value)


def test_csv_binary_refused():
    with pytest.raises(InvalidInput, match=r"is a ZIP archive \(an Excel .xlsx workbook is one\), not a text"):
        read_csv_targets(b"PK\x03\x04\x00\x00binary")


def test_csv_missing_file(tmp_path):
    with pytest.raises(InvalidInput, match="Cannot read"):
        read_csv_targets(tmp_path / "nope.csv")


# -- previews ----------------------------------------------------------------------------------------------
def test_deactivate_preview_skips_inactive_unknown_and_collapses_same_person(ctx, conn):
    d = make_directory()
    p = plan(ctx, conn, "deactivate", ["user1@corp.example", "USER1@mail.example", "u0", "ghost@x", "u2"],
             directory=d)
    changes = {i.user_id for i in p.to_change}
    assert changes == {"u1", "u2"}
    skipped = {i.input: i.skip for i in p.skipped}
    assert skipped["u0"] == "already inactive"
    assert skipped["ghost@x"] == "not found in 6clicks"
    assert any("named a person already listed" in n for n in p.notes)
    assert any("not matched" in n and "ghost@x" in n for n in p.notes)
    assert p.count == 2 and "2 people will change" in p.confirmation_text()
    row = next(r for r in p.rows() if r["user"] == "user1@corp.example")
    assert (row["from"], row["to"], row["change"]) == ("active", "inactive", "yes")


def test_reactivate_and_membership_previews(ctx, conn):
    d = make_directory()
    p = plan(ctx, conn, "reactivate", ["u0", "u1"], directory=d)
    assert [i.user_id for i in p.to_change] == ["u0"] and p.skipped[0].skip == "already active"
    p = plan(ctx, conn, "add", ["u1", "u3"], group="finance", directory=d)
    assert [i.user_id for i in p.to_change] == ["u3"]
    assert p.skipped[0].skip == "already a member of Finance"
    assert p.params["group_kind"] == "group" and p.label == "add to group Finance"
    p = plan(ctx, conn, "remove", ["u1", "u3"], group="g1", directory=d)
    assert [i.user_id for i in p.to_change] == ["u1"] and p.skipped[0].skip == "not a member of Finance"


def test_move_preview(ctx, conn):
    d = make_directory()
    p = plan(ctx, conn, "move", ["u1", "u2", "u3"], from_group="Finance", to_group="Role - Auditor", directory=d)
    by = {i.user_id: i for i in p.items}
    assert [s["op"] for s in by["u1"].steps] == ["add", "remove"]        # add first: never in neither
    assert [s["op"] for s in by["u2"].steps] == ["remove"]               # already in the target
    assert by["u3"].skip and "nothing to move" in by["u3"].skip
    assert p.label == "move from group Finance to role Role - Auditor"


def test_bad_groups_and_same_group(ctx, conn):
    d = make_directory()
    with pytest.raises(InvalidInput, match="does not exist"):
        plan(ctx, conn, "add", ["u1"], group="Gone", directory=d)
    with pytest.raises(InvalidInput, match="same group"):
        plan(ctx, conn, "move", ["u1"], from_group="Finance", to_group="g1", directory=d)
    with pytest.raises(InvalidInput, match="needs a group"):
        plan(ctx, conn, "add", ["u1"], directory=d)
    with pytest.raises(InvalidInput, match="No users"):
        plan(ctx, conn, "deactivate", ["  "], directory=d)
    with pytest.raises(InvalidInput, match="Unknown operation"):
        plan(ctx, conn, "delete", ["u1"], directory=d)


def test_ambiguous_email_is_skipped_with_advice(ctx, conn):
    d = make_directory()
    d.add_user(DirUser(id="dup", user_name="other", email="user1@mail.example", display_name=None, active=True,
                       external_id=None))
    p = plan(ctx, conn, "deactivate", ["user1@mail.example"], directory=d)
    assert p.count == 0 and "use the userName" in (p.items[0].skip or "")


def test_ten_thousand_rows_resolve_quickly_enough_for_a_preview(ctx, conn):
    d = make_directory(12_000)
    rows = "userName\n" + "\n".join(f"user{i}@corp.example" for i in range(10_000)) + "\nuser5@corp.example\n"
    targets = read_csv_targets(rows.encode())
    started = time.perf_counter()
    p = plan(ctx, conn, "deactivate", targets, directory=d)
    elapsed = time.perf_counter() - started
    assert len(p.items) == 10_000
    assert any("duplicate" in n for n in p.notes)
    assert any("Large batch" in w for w in p.warnings)
    assert any("Entra ID is the source of truth" in w for w in p.warnings)
    assert elapsed < 30  # generous: a behaviour guard against quadratic resolution, not a benchmark
