"""console.csvsafe: the one CSV writer. No cell a spreadsheet would evaluate; numbers stay numbers; the exact
text comes back (after the one leading quote); UTF-8 with a BOM that Excel needs."""

from __future__ import annotations

import csv
import io
import subprocess
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.csvsafe import BOM, is_formula_like, neutralise, restore, to_csv_bytes, write_csv
from tests.formula_cells import FORMULAS, formula_cells

REPO = Path(__file__).resolve().parents[2]


def read(data: bytes) -> list[list[str]]:
    assert data.startswith(BOM.encode()), "Excel needs the UTF-8 BOM to read non-ASCII names"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize("cell", FORMULAS)
def test_every_hostile_cell_is_neutralised_and_comes_back_exactly(cell: str) -> None:
    data = to_csv_bytes(pd.DataFrame({"id": ["u1"], "givenName": [cell]}))
    assert formula_cells(data) == []
    rows = read(data)
    assert rows[1][1].startswith("'") or cell.startswith('a"')  # the spreadsheet shows the text after the quote
    assert restore(rows[1][1]) == cell


def test_rows_mappings_and_frames_agree() -> None:
    header = ["userName", "givenName", "n"]
    rows = [["a@x.example", FORMULAS[0], -5], ["b@x.example", "Zoë", 3]]
    as_rows = to_csv_bytes(rows, header)
    as_maps = to_csv_bytes([dict(zip(header, r, strict=True)) for r in rows])
    as_frame = to_csv_bytes(pd.DataFrame(rows, columns=header))
    assert as_rows == as_maps == as_frame
    assert read(as_rows)[1] == ["a@x.example", "'" + FORMULAS[0], "-5"]


def test_numbers_stay_numbers_and_strings_that_look_like_sums_do_not() -> None:
    frame = pd.DataFrame({"id": ["u1", "u2", "u3"], "delta": [-5, 0, 12], "ratio": [-1.5, np.nan, 2.0],
                          "text": ["-5", "-2+3", "+44 20 7946 0000"]})
    data = to_csv_bytes(frame)
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[1] == "\"u1\",-5,-1.5,\"'-5\""                     # a real -5 is unquoted, unchanged
    assert lines[2] == "\"u2\",0,\"\",\"'-2+3\""
    assert lines[3] == "\"u3\",12,2.0,\"'+44 20 7946 0000\""
    assert formula_cells(data) == []
    back = pd.read_csv(io.BytesIO(data))
    assert back["delta"].tolist() == [-5, 0, 12] and back["ratio"].iloc[0] == -1.5


def test_values_of_every_kind() -> None:
    when = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    row = [None, pd.NA, pd.NaT, True, np.bool_(False), np.int64(-3), np.float64(float("nan")), Decimal("-2.50"),
           when, np.datetime64("2026-11-01T09:30:00"), b"=bytes", float("inf"), "@x"]
    cells = read(to_csv_bytes([row], [f"c{i}" for i in range(len(row))]))[1]
    assert cells == ["", "", "", "true", "false", "-3", "", "-2.50", "2026-11-01T09:30:00+00:00",
                     "2026-11-01T09:30:00", "'=bytes", "inf", "'@x"]


def test_nullable_and_datetime_columns() -> None:
    frame = pd.DataFrame({"id": ["a", "b"], "active": pd.array([True, None], dtype="boolean"),
                          "n": pd.array([1, None], dtype="Int64"),
                          "created": pd.to_datetime(["2026-11-01T00:00:00Z", None], utc=True),
                          "name": pd.array(["=x", None], dtype="string")})
    rows = read(to_csv_bytes(frame))
    assert rows[1:] == [["a", "true", "1", "2026-11-01T00:00:00+00:00", "'=x"], ["b", "", "", "", ""]]


def test_header_cells_are_neutralised_too_and_bom_is_optional() -> None:
    data = to_csv_bytes([[1]], ["=evil"], bom=False)
    assert not data.startswith(BOM.encode())
    assert data.decode().splitlines()[0] == "\"'=evil\""


def test_write_csv_replaces_the_file_whole(tmp_path: Path) -> None:
    target = write_csv(tmp_path / "out.csv", [["=1"]], ["h"])
    assert formula_cells(target.read_bytes()) == [] and not list(tmp_path.glob("*.part"))


def test_neutralise_and_restore_are_inverse() -> None:
    assert neutralise("ada@example.org") == "ada@example.org"
    assert neutralise("") == "" and restore("") == ""
    assert restore("'ok") == "'ok"  # a quote that neutralised nothing is data
    assert not is_formula_like("Zoë =1") and is_formula_like("\u00a0=1")


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(cells=st.lists(st.one_of(st.text(max_size=12), st.sampled_from(FORMULAS), st.integers(-10**6, 10**6),
                                st.floats(allow_nan=False, allow_infinity=False), st.none()),
                      min_size=1, max_size=6))
def test_property_no_cell_starts_a_formula_and_text_round_trips(cells: list[object]) -> None:
    data = to_csv_bytes([["row", *cells]], ["first", *[f"c{i}" for i in range(len(cells))]])
    assert formula_cells(data) == []
    back = read(data)[1][1:]
    for original, cell in zip(cells, back, strict=True):
        if isinstance(original, str):
            if "'" not in original:  # a quote of its own before a trigger would be taken for ours
                assert restore(cell) == original
        elif original is None:
            assert cell == ""
        else:
            assert float(cell) == float(original)  # type: ignore[arg-type]


def test_every_csv_writer_in_the_console_goes_through_csvsafe() -> None:
    """A new export that bypasses the writer (pandas to_csv, csv.writer, DictWriter) fails here."""
    out = subprocess.run(["git", "grep", "-n", "-E", r"to_csv\(|csv\.writer|DictWriter|\.writerows?\(",
                          "--", "console", "pages", "app.py"], cwd=REPO, capture_output=True, text=True, check=False)
    hits = [line for line in out.stdout.splitlines() if not line.startswith("console/csvsafe.py:")]
    assert hits == [], "CSV written outside console/csvsafe.py:\n" + "\n".join(hits)
