"""Reading uploaded files: one decoder and one CSV reader for every upload (operation target lists in
``console.operations.targets``, provisioning-log downloads in ``console.entra.files``).

Uploads are hostile until shown otherwise: the file is read right, or refused with the real reason and what to
do, and nothing is lost silently (a row that cannot be read is reported with its line number).

Text encoding (:func:`decode_text`), in this order:
1. refused at once: Office workbooks (``.xlsx`` is a ZIP, ``.xls`` an OLE file), PDF, archives and images, named;
2. a byte-order mark decides: UTF-8, UTF-16 LE/BE, UTF-32 LE/BE (Excel's "Unicode Text" is UTF-16 LE + BOM);
3. NUL bytes without a BOM: UTF-16 or UTF-32 without a BOM when the detector confirms it, else "not a text file";
4. valid UTF-8 is UTF-8 (ASCII included);
5. anything else goes to ``charset-normalizer``, limited to what Excel and Windows write for the operators' likely
   locales: Shift_JIS (Microsoft's cp932, what Excel on Japanese Windows saves as "CSV"), Windows-1252 and
   Latin-1. Unrestricted, the detector calls a short Shift_JIS file Big5 or cp949 (measured: see
   docs/history.md); restricted, it gets them right. It sees at most :data:`DETECT_SAMPLE` bytes, taken
   where the first non-UTF-8 byte is (a few ms; the whole 50 MB file takes 0.7 s restricted, 3.2 s not:
   ``python -m bench uploads``); the whole file is then decoded and every line holding bytes that are not valid
   in the chosen encoding is reported. UTF-8 with a few bad bytes stays UTF-8, with those lines reported.

CSV (:func:`read_table` for rows, :func:`read_records` for a header and ``{name: cell}`` records): Excel's
``sep=;`` first line, CRLF / LF / lone CR line ends (kept as they are), quoted newlines, a
delimiter among ``,`` ``;`` tab ``|`` chosen by how consistently it splits the first rows (CleverCSV's pattern
score: robust to a short last row, a single column gives ``,``), ``="00123"`` cells (Excel's way of keeping
leading zeros) read as their text, and trailing empty columns ignored. A quote that never closes, a cell over
the size limit, or a malformed quote is reported with its line number; the other rows are read.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from charset_normalizer import from_bytes

from console.errors import InvalidInput
from console.i18n import N_, _, count, fmt_number, ngettext

#: The most bytes shown to the encoding detector (a few ms; a whole 50 MB file: 0.7 s; bench/uploads_bench.py).
DETECT_SAMPLE = 256 * 1024
#: What the detector may answer when the file is neither UTF-8 nor UTF-16/32: Excel's and Windows' encodings for
#: Japanese and Western European locales.
LEGACY_CANDIDATES = ("cp932", "cp1252", "latin_1")
DELIMITERS = (",", ";", "\t", "|")
SNIFF_CHARS = 64 * 1024  # the start of the text the delimiter is chosen from (at most 200 rows of it)
#: More lines with bytes invalid in the detected encoding than this share means the detection is wrong: refuse.
MAX_BAD_LINE_SHARE = 0.01

#: encodings in words (marked for translation; ``DecodedText.encoding`` holds the translated label)
_LABELS = {"utf_8": "UTF-8", "cp932": "Shift_JIS (cp932)", "cp1252": "Windows-1252", "latin_1": "Latin-1",
           "utf_16_le": N_("UTF-16 LE without BOM"), "utf_16_be": N_("UTF-16 BE without BOM"),
           "utf_32_le": N_("UTF-32 LE without BOM"), "utf_32_be": N_("UTF-32 BE without BOM")}
_BOMS = ((codecs.BOM_UTF32_LE, "utf_32_le", "UTF-32 LE"), (codecs.BOM_UTF32_BE, "utf_32_be", "UTF-32 BE"),
         (codecs.BOM_UTF8, "utf_8", N_("UTF-8 with BOM")), (codecs.BOM_UTF16_LE, "utf_16_le", "UTF-16 LE"),
         (codecs.BOM_UTF16_BE, "utf_16_be", "UTF-16 BE"))
_SIGNATURES = (
    (b"PK\x03\x04", N_("a ZIP archive (an Excel .xlsx workbook is one)")),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", N_("an Office 97-2003 file (an Excel .xls workbook?)")),
    (b"%PDF-", N_("a PDF document")), (b"\x1f\x8b", N_("a gzip archive")),
    (b"7z\xbc\xaf\x27\x1c", N_("a 7-Zip archive")), (b"Rar!", N_("a RAR archive")), (b"\x89PNG", N_("a PNG image")),
    (b"\xff\xd8\xff", N_("a JPEG image")), (b"GIF8", N_("a GIF image")),
    (b"SQLite format 3\x00", N_("an SQLite database")),
)
_MARK = "\ufdd0"  # a Unicode noncharacter: stands for undecodable bytes until their lines are counted
_ERRORS = "scim-console-upload-mark"


def _mark(exc: UnicodeError) -> tuple[str, int]:
    if isinstance(exc, UnicodeDecodeError):
        return _MARK, exc.end
    raise exc


codecs.register_error(_ERRORS, _mark)


@dataclass
class DecodedText:
    text: str
    encoding: str  # for people: "UTF-8", "UTF-8 with BOM", "UTF-16 LE", "Shift_JIS (cp932)", ... (translated)
    bad_lines: list[int] = field(default_factory=list)  # 1-based lines with bytes invalid in ``encoding`` (now U+FFFD)
    codec: str = ""  # Python's name of the encoding ("utf_8", "cp932", ...)

    @property
    def is_utf8(self) -> bool:
        return self.codec == "utf_8" if self.codec else self.encoding in ("UTF-8", "UTF-8 with BOM")


@dataclass
class Table:
    rows: list[list[str]]            # every row with a non-blank cell, in file order (a header is rows[0])
    lines: list[int]                 # the line each row (or record) starts on (1-based, in the file as uploaded)
    delimiter: str
    encoding: str
    notes: list[str] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, why) for rows that could not be read
    bad_lines: list[int] = field(default_factory=list)  # lines where undecodable bytes became U+FFFD (noted too)
    header: list[str] = field(default_factory=list)     # read_records: the first row, trailing empty names dropped
    records: list[dict[str, str]] = field(default_factory=list)  # read_records: the other rows by header name


def _preview(text: str, n: int = 40) -> str:
    text = text.replace("\n", " ").replace("\r", " ")
    return repr(text if len(text) <= n else text[:n] + "…")


class UploadError(InvalidInput):
    """An upload that cannot be read at all. ``reason`` is the message without the file's name (both in the
    current language)."""

    def __init__(self, name: str, reason: str, remedy: str) -> None:
        super().__init__(_("{name} {reason}.").format(name=name, reason=reason), remedy)
        self.reason = reason


def _refuse(name: str, why: str, remedy: str) -> UploadError:
    return UploadError(name, why, remedy)


def decode_text(data: bytes, *, name: str = "", remedy: str = "") -> DecodedText:
    """Bytes of an uploaded text file -> text and its encoding, or :class:`UploadError` saying why not (in the
    current language; ``name`` defaults to "the file", ``remedy`` to saving it as CSV UTF-8)."""
    name = name or _("the file")
    remedy = _(remedy or _REMEDY)
    data = bytes(data)
    for signature, what in _SIGNATURES:
        if data.startswith(signature):
            raise _refuse(name, _("is {what}, not a text file").format(what=_(what)), remedy)
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            return _decode(data[len(bom):], codec, _(label), name, remedy)
    head = data[:DETECT_SAMPLE]
    if b"\x00" in head:
        sample = head[: len(head) - len(head) % 4]
        best = from_bytes(sample, cp_isolation=["utf_16_le", "utf_16_be", "utf_32_le", "utf_32_be"]).best()
        if best is None or best.encoding not in _LABELS:
            at = data.index(b"\x00")
            raise _refuse(name, _("is not a text file (it holds NUL bytes, the first at byte {at}, and is not UTF-16 "
                                  "or UTF-32 either)").format(at=fmt_number(at)), remedy)
        return _decode(data, best.encoding, _(_LABELS[best.encoding]), name, remedy)
    try:
        return DecodedText(data.decode("utf-8"), "UTF-8", codec="utf_8")
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    if _damaged_utf8(data):
        return _decode(data, "utf_8", "UTF-8", name, remedy)
    start = max(0, data.rfind(b"\n", 0, max(0, first_bad - DETECT_SAMPLE // 4)) + 1)
    sample = data[start:start + DETECT_SAMPLE]
    if start + DETECT_SAMPLE < len(data) and b"\n" in sample:
        sample = sample[: sample.rindex(b"\n") + 1]
    best = from_bytes(sample, cp_isolation=["utf_8", *LEGACY_CANDIDATES]).best()
    if best is None:
        raise _refuse(name, _("is not text in any encoding this console reads (UTF-8, UTF-16, Shift_JIS, "
                              "Windows-1252, Latin-1)"), remedy)
    codec = best.encoding
    if codec == "cp1252" and _undefined_cp1252(data):
        codec = "latin_1"  # bytes cp1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D): Latin-1 reads them
    return _decode(data, codec, _(_LABELS.get(codec, codec)), name, remedy)


def _damaged_utf8(data: bytes) -> bool:
    """UTF-8 with a few bad bytes (a truncated copy, one line pasted from elsewhere), not a legacy encoding: far
    more valid multi-byte characters than invalid bytes. Legacy files (Shift_JIS, Windows-1252) form valid UTF-8
    sequences only by accident, and the detector would otherwise never consider UTF-8 once one byte is wrong."""
    text = data.decode("utf-8", errors=_ERRORS)
    errors = text.count(_MARK)
    lines = 1 + _count_breaks(text, 0, len(text))
    multibyte = len(text) - len(text.encode("ascii", errors="ignore")) - errors
    return errors <= max(3, MAX_BAD_LINE_SHARE * lines) and multibyte >= 2 * errors


def _undefined_cp1252(data: bytes) -> bool:
    return any(b in data for b in (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d"))


def _decode(data: bytes, codec: str, label: str, name: str, remedy: str) -> DecodedText:
    text = data.decode(codec, errors=_ERRORS)
    if _MARK not in text:
        return DecodedText(text, label, codec=codec)
    bad: list[int] = []
    line, pos = 1, 0
    for i in (m.start() for m in re.finditer(_MARK, text)):
        line += _count_breaks(text, pos, i)
        pos = i
        if not bad or bad[-1] != line:
            bad.append(line)
    total = 1 + _count_breaks(text, 0, len(text))
    if len(bad) > max(3, MAX_BAD_LINE_SHARE * total):
        raise _refuse(name, _("cannot be read as {encoding}: {bad} of its {total} lines hold bytes that are not "
                              "valid {encoding} ({lines})").format(encoding=label, bad=fmt_number(len(bad)),
                                                                   total=fmt_number(total), lines=line_list(bad)),
                      remedy)
    return DecodedText(text.replace(_MARK, "\ufffd"), label, bad, codec=codec)


def line_list(lines: list[int], most: int = 8) -> str:
    """``line 3`` / ``lines 3, 17, 40 …`` for messages (in the current language)."""
    shown = ", ".join(str(n) for n in lines[:most]) + (" …" if len(lines) > most else "")
    return ngettext("line {lines}", "lines {lines}", len(lines)).format(lines=shown)


def _count_breaks(text: str, start: int, end: int) -> int:
    """Line breaks in text[start:end], counting CRLF, LF and a lone CR once each."""
    return text.count("\n", start, end) + text.count("\r", start, end) - text.count("\r\n", start, end)


# ------------------------------------------------------------------------------------------------ CSV
_SEP_LINE = re.compile(r'^"?sep=(.)"?[,;\t|]*$', re.IGNORECASE)
_FIRST_LINE = re.compile(r"([^\r\n]{0,64})(?:\r\n|\r|\n)")
_EXCEL_TEXT = re.compile(r'^="(.*)"$', re.DOTALL)


_REMEDY = N_("Save it as CSV UTF-8 (in Excel: File › Save As › “CSV UTF-8 (Comma delimited)”) and upload that.")


def read_table(source: bytes | DecodedText, *, name: str = "", remedy: str = _REMEDY) -> Table:
    """An uploaded CSV -> its rows, with the delimiter, the encoding, notes and the rows that could not be read."""
    table = _parse(source, name, remedy)
    for line, row in table.pop_rows():
        table.rows.append(row)
        table.lines.append(line)
    return table


def read_records(source: bytes | DecodedText, *, name: str = "", remedy: str = _REMEDY) -> Table:
    """An uploaded CSV with a header row -> :attr:`Table.header` and :attr:`Table.records` (``{name: cell}``;
    missing trailing cells are ""), built row by row (a 50 MB log file's rows are never held twice). Cells
    beyond the named columns are reported in :attr:`Table.problems` with their line."""
    table = _parse(source, name, remedy)
    rows = table.pop_rows()
    first = next(rows, None)
    if first is None:
        return table
    header = [h.strip() for h in first[1]]
    while header and not header[-1]:
        header.pop()
    table.header = header
    named = [(i, h) for i, h in enumerate(header) if h]
    width = len(header)
    all_named = len(named) == width and len(set(header)) == width
    out, lines = table.records, table.lines
    for line, row in rows:
        if len(row) > width:
            extra = [c for c in row[width:] if c.strip()]
            if extra:
                table.problems.append((line, _("{cells} beyond the {width} named columns (first: {first}); they "
                                               "were not read").format(
                                                   cells=count(len(extra), "{n} cell", "{n} cells"),
                                                   width=fmt_number(width), first=_preview(extra[0]))))
        if len(row) == width and all_named:
            out.append(dict(zip(header, row, strict=True)))
        elif len(row) >= width:
            out.append({h: row[i] for i, h in named})
        else:
            out.append({h: (row[i] if i < len(row) else "") for i, h in named})
        lines.append(line)
    return table


class _Parsed(Table):
    """A table whose rows are still to be read (:meth:`pop_rows`, once)."""

    _rows: Iterator[tuple[int, list[str]]]

    def pop_rows(self) -> Iterator[tuple[int, list[str]]]:
        return self._rows


def _parse(source: bytes | DecodedText, name: str, remedy: str) -> _Parsed:
    decoded = source if isinstance(source, DecodedText) else decode_text(source, name=name, remedy=remedy)
    text = decoded.text  # CRLF, LF and a lone CR all end a line: csv reads them as such from newline="" streams
    notes: list[str] = []
    first_line = 1
    head = _FIRST_LINE.match(text)
    sep = _SEP_LINE.match(head.group(1).strip()) if head else None
    if head and sep and sep.group(1) in DELIMITERS:
        delimiter = sep.group(1)
        text, first_line = text[head.end():], 2
        notes.append(_("Excel's “sep={delimiter}” line read as the delimiter.").format(
            delimiter="TAB" if delimiter == chr(9) else delimiter))
    else:
        delimiter = sniff_delimiter(text)
    table = _Parsed(rows=[], lines=[], delimiter=delimiter, encoding=decoded.encoding, notes=notes,
                    bad_lines=list(decoded.bad_lines))
    if decoded.bad_lines:
        listed = line_list(decoded.bad_lines)
        table.notes.append(_("{lines}: bytes that are not valid {encoding} were replaced by “\ufffd”.").format(
            lines=f"{listed[0].upper()}{listed[1:]}", encoding=decoded.encoding))
    table._rows = _rows(text, delimiter, first_line, table)
    return table


def _rows(text: str, delimiter: str, first_line: int, table: Table) -> Iterator[tuple[int, list[str]]]:
    """(line, cells) of every non-blank row; unreadable rows go to ``table.problems``; notes at the end."""
    unwrapped = 0
    excel_text = '="' in text
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', strict=True)
    previous = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            start, end = previous + first_line, reader.line_num + first_line - 1
            table.problems.append((start, _csv_problem(str(exc), start, end)))
            previous = reader.line_num
            continue
        start = previous + first_line
        previous = reader.line_num
        if not "".join(row).strip():
            continue
        if excel_text and any(c.startswith('="') for c in row):
            for i, cell in enumerate(row):
                m = _EXCEL_TEXT.match(cell)
                if m:
                    row[i] = m.group(1).replace('""', '"')
                    unwrapped += 1
        while len(row) > 1 and not row[-1].strip():
            row.pop()
        yield start, row
    if unwrapped:
        table.notes.append(ngettext("{n} cell written as =\"…\" (Excel's way of keeping leading zeros) read as the "
                                    "text inside.",
                                    "{n} cells written as =\"…\" (Excel's way of keeping leading zeros) read as the "
                                    "text inside.", unwrapped).format(n=fmt_number(unwrapped)))


def _csv_problem(message: str, start: int, end: int) -> str:
    span = (_("lines {start}–{end}").format(start=start, end=end) if end > start else
            _("line {line}").format(line=start))
    if "unexpected end of data" in message:
        return _("a quoted cell opens on line {line} and never closes; {span} could not be read (a stray double "
                 "quote?)").format(line=start, span=span)
    if "field larger than field limit" in message:
        return _("a cell longer than {limit} characters; {span} could not be read").format(
            limit=fmt_number(csv.field_size_limit()), span=span)
    return _("{span} could not be read as CSV ({error})").format(span=span, error=message)


def sniff_delimiter(text: str, *, rows: int = 200) -> str:
    """The delimiter among :data:`DELIMITERS` that splits the first ``rows`` lines most consistently.

    Score (CleverCSV's pattern score, van den Burg et al. 2019): for the row widths seen with a delimiter, the sum
    over each distinct width L of (rows of width L) x (L - 1) / L, divided by the number of distinct widths.
    A single column scores 0 with every delimiter, and ``,`` wins the tie; one short row lowers a score only a
    little, unlike ``csv.Sniffer``, which gives up."""
    sample = text[:SNIFF_CHARS]
    cut = len(text) > SNIFF_CHARS
    best, best_score = ",", 0.0
    for d in DELIMITERS:
        if d not in sample:
            continue
        widths: Counter[int] = Counter()
        try:
            parsed = list(itertools.islice(csv.reader(io.StringIO(sample, newline=""), delimiter=d), rows + 1))
        except csv.Error:
            continue
        if cut and len(parsed) > 1:
            parsed.pop()  # the sample's last row may be cut short
        for row in parsed[:rows]:
            if "".join(row).strip():
                widths[len(row)] += 1
        if not widths:
            continue
        score = sum(n * (w - 1) / w for w, n in widths.items()) / len(widths)
        if score > best_score + 1e-9:
            best, best_score = d, score
    return best
