"""console.uploads: the one decoder for every upload. Every file here is generated in the test: encodings Excel
and Windows write (UTF-8 with/without BOM, UTF-16 LE/BE with/without BOM, Shift_JIS, Windows-1252, Latin-1),
delimiters, Excel's quirks, damaged and binary files. Read right, or refused with the real reason; a row that
cannot be read is reported with its line number. Both callers (operation targets, log imports) use it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from console.connections import Connection, ConnectionRepo
from console.context import open_context
from console.credentials import memory_credentials
from console.csvsafe import to_csv_bytes
from console.entra.files import import_files, parse_files
from console.errors import InvalidInput
from console.operations import read_csv_targets
from console.uploads import UploadError, decode_text, read_records, read_table, sniff_delimiter

PEOPLE = [("yamada@corp.example", "山田 太郎"), ("zoe@corp.example", "Zoë Müller"),
          ("francois@corp.example", "François Lévêque"), ("sato@corp.example", "佐藤 ｶﾀｶﾅ")]


def people_csv(delimiter: str = ",", *, header: bool = True, rows: list[tuple[str, str]] | None = None,
               newline: str = "\r\n") -> str:
    lines = [f"userName{delimiter}displayName"] if header else []
    lines += [f"{u}{delimiter}{n}" for u, n in (rows or PEOPLE)]
    return newline.join(lines) + newline


# -- encodings ------------------------------------------------------------------------------------------------
ENCODINGS = [
    ("utf-8", "", "UTF-8", PEOPLE),
    ("utf-8", "bom", "UTF-8 with BOM", PEOPLE),
    ("utf-16-le", "bom", "UTF-16 LE", PEOPLE),
    ("utf-16-be", "bom", "UTF-16 BE", PEOPLE),
    ("utf-16-le", "", "UTF-16 LE without BOM", PEOPLE),
    ("utf-16-be", "", "UTF-16 BE without BOM", PEOPLE),
    ("utf-32-le", "bom", "UTF-32 LE", PEOPLE),
    ("cp932", "", "Shift_JIS (cp932)", [p for p in PEOPLE if p[1].isascii() or "山" in p[1] or "佐" in p[1]]),
    ("cp1252", "", "Windows-1252", [p for p in PEOPLE if "Z" in p[1] or "F" in p[1]]
     + [("quote@corp.example", "“Smart” quotes – dash €")]),
    ("latin-1", "", "Latin-1", [("zoe@corp.example", "Zoë"), ("ctl@corp.example", "a\x81b")]),
]
BOMS = {"utf-8": b"\xef\xbb\xbf", "utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff", "utf-32-le": b"\xff\xfe\x00\x00"}


@pytest.mark.parametrize(("codec", "bom", "label", "rows"), ENCODINGS, ids=[e[2] for e in ENCODINGS])
def test_encodings_are_read_exactly(codec: str, bom: str, label: str, rows: list[tuple[str, str]]) -> None:
    data = (BOMS[codec] if bom else b"") + people_csv(rows=rows).encode(codec)
    table = read_table(data, name="people.csv")
    assert table.encoding == label
    assert table.rows == [["userName", "displayName"], *[[u, n] for u, n in rows]]
    assert table.problems == [] and table.bad_lines == []


@pytest.mark.parametrize("codec", ["cp932", "cp1252"])
def test_japanese_and_western_excel_files_become_operation_targets(codec: str) -> None:
    rows = [p for p in PEOPLE if p[1].encode(codec, errors="ignore").decode(codec) == p[1]]
    got = read_csv_targets(people_csv(rows=rows).encode(codec), name="“list.csv”")
    assert got.values == [u for u, _ in rows]
    assert any(n.startswith("Read as ") for n in got.notes)


def test_short_shift_jis_files_are_not_taken_for_chinese_or_korean() -> None:
    for text in ["山田太郎\n", "ｶﾀｶﾅ\n", "渡辺①,髙橋\n", "userName,氏名\nt@x.example,佐藤\n"]:
        decoded = decode_text(text.encode("cp932"))
        assert (decoded.text, decoded.encoding) == (text, "Shift_JIS (cp932)")


def test_a_few_bad_bytes_are_reported_by_line_and_targets_refuse_them() -> None:
    good = "".join(f"user{i}@corp.example,User {i} 山田\n" for i in range(400)).encode()
    table = read_table(b"userName,displayName\n" + good + b"\xc3(x@corp.example,Zo\xc3\xab\n")
    assert table.encoding == "UTF-8" and table.bad_lines == [402]
    assert any("Line 402" in n for n in table.notes)
    with pytest.raises(InvalidInput, match="line 402"):
        read_csv_targets(b"userName,displayName\n" + good + b"\xc3(x@corp.example,Zo\xc3\xab\n")


def test_a_file_that_is_mostly_undecodable_is_refused_with_the_lines() -> None:
    lines = "".join(f"u{i}@x.example,Zo\u00eb\ud800\n" for i in range(20))  # a lone surrogate on every line
    data = b"\xff\xfe" + lines.encode("utf-16-le", errors="surrogatepass")
    with pytest.raises(UploadError) as err:
        read_table(data, name="“damaged.csv”")
    assert "cannot be read as UTF-16 LE: 20 of its 21 lines" in err.value.message and "lines 1, 2, 3" in err.value.message
    assert err.value.remedy


@pytest.mark.parametrize(("data", "why"), [
    (b"PK\x03\x04\x14\x00\x06\x00" + bytes(200), "ZIP archive (an Excel .xlsx workbook is one)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(200), "Office 97-2003 file"),
    (b"%PDF-1.7\n" + bytes(range(256)), "PDF document"),
    (b"\x89PNG\r\n\x1a\n" + bytes(100), "PNG image"),
    (b"\x1f\x8b\x08\x00" + bytes(100), "gzip archive"),
    (bytes(range(256)) * 8, "NUL bytes, the first at byte 0"),
    (b"userName\nada@x.example\n\x00\x01\x02\x03\x04\x05\x06\x07" * 3, "NUL bytes, the first at byte 23"),
], ids=["xlsx", "xls", "pdf", "png", "gzip", "noise", "nul-inside"])
def test_binary_files_are_refused_with_the_real_reason(data: bytes, why: str) -> None:
    with pytest.raises(UploadError) as err:
        decode_text(data, name="“upload.csv”")
    assert why in err.value.message and "CSV UTF-8" in err.value.remedy
    with pytest.raises(InvalidInput, match="not a text file"):
        read_csv_targets(data, name="“upload.csv”")


# -- delimiters and Excel's quirks ----------------------------------------------------------------------------
@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters_with_a_short_last_row(delimiter: str) -> None:
    text = people_csv(delimiter) + "lonely@corp.example\r\n"
    table = read_table(text.encode())
    assert table.delimiter == delimiter
    assert table.rows[-1] == ["lonely@corp.example"] and len(table.rows) == len(PEOPLE) + 2


def test_commas_inside_values_of_a_semicolon_file() -> None:
    table = read_table(b"Name;E-mail\nDoe, John;john@x.example\nRoe, Jane;jane@x.example\n")
    assert table.delimiter == ";" and table.rows[1] == ["Doe, John", "john@x.example"]


def test_single_column_files() -> None:
    for text in ["ada@x.example\nbob@x.example\n", "userName\nada@x.example\n", "ada@x.example"]:
        table = read_table(text.encode())
        assert table.delimiter == "," and all(len(r) == 1 for r in table.rows)
    assert sniff_delimiter("") == ","


def test_excel_quirks_sep_line_crlf_trailing_columns_quoted_newlines_and_leading_zeros() -> None:
    text = ('sep=;\r\nid;userName;note;;\r\n="00123";ada@x.example;"two\r\nlines";;\r\n'
            '"=""00456""";bob@x.example;plain;;\r\n')
    table = read_records(b"\xef\xbb\xbf" + text.encode())
    assert table.delimiter == ";" and table.encoding == "UTF-8 with BOM"
    header, records, lines = table.header, table.records, table.lines
    assert header == ["id", "userName", "note"]
    assert records == [{"id": "00123", "userName": "ada@x.example", "note": "two\r\nlines"},  # kept as written
                       {"id": "00456", "userName": "bob@x.example", "note": "plain"}]
    assert lines == [3, 5]  # the lines they start on in the file as uploaded (the sep= line is line 1)
    assert any("sep=;" in n for n in table.notes) and any('="…"' in n for n in table.notes)


def test_old_mac_line_ends() -> None:
    assert read_table(b"userName\rada@x.example\rbob@x.example\r").rows == [["userName"], ["ada@x.example"],
                                                                            ["bob@x.example"]]


def test_unreadable_rows_are_reported_with_their_line_and_the_rest_is_read() -> None:
    text = 'userName,displayName\nada@x.example,Ada\n"bob@x.example"x,Bob\ncy@x.example,Cy\n'
    table = read_table(text.encode())
    assert [r[0] for r in table.rows] == ["userName", "ada@x.example", "cy@x.example"]
    assert [line for line, _ in table.problems] == [3]
    with pytest.raises(InvalidInput, match="line 3"):
        read_csv_targets(text.encode())


def test_a_quote_that_never_closes_names_the_lines_it_swallowed() -> None:
    text = 'userName,displayName\nada@x.example,"Ada\nbob@x.example,Bob\ncy@x.example,Cy\n'
    table = read_table(text.encode())
    assert table.rows == [["userName", "displayName"]]
    (line, why), = table.problems
    assert line == 2 and "never closes" in why and "lines 2–4" in why
    with pytest.raises(InvalidInput, match="never closes"):
        read_csv_targets(text.encode())


def test_cells_beyond_the_header_are_reported() -> None:
    table = read_records(b"a,b\n1,2,surprise\n3,4\n")
    assert table.records == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]
    assert table.problems and table.problems[0][0] == 2 and "surprise" in table.problems[0][1]


def test_an_export_of_this_console_uploads_back_as_the_same_people() -> None:
    """Users export (formula-neutralised) -> Excel -> upload as an operation's target list: same identifiers."""
    names = ["=cmd@corp.example", "-dash@corp.example", "+plus@corp.example", "@at@corp.example",
             "plain@corp.example"]
    data = to_csv_bytes([[n, "x"] for n in names], ["userName", "displayName"])
    got = read_csv_targets(data)
    assert got.values == names


# -- the log importer uses the same decoder -------------------------------------------------------------------
def _log_record(i: int, name: str) -> dict[str, Any]:
    return {"id": f"rec-{i}", "activityDateTime": "2026-11-20T10:00:00Z", "cycleId": "c1", "changeId": f"ch-{i}",
            "provisioningAction": "update", "provisioningStatusInfo": {"status": "success"},
            "sourceIdentity": {"id": f"s{i}", "displayName": name, "identityType": "User"},
            "targetIdentity": {"id": f"t{i}", "displayName": name, "identityType": "User"}}


def test_log_imports_read_shift_jis_csv_and_utf16_json(tmp_path: Path) -> None:
    main = "Date (UTC);Id;Cycle ID;Change ID;Action;Status;Source Name\r\n" + "".join(
        f"2026-11-20T10:00:0{i}Z;rec-{i};c1;ch-{i};Update;Success;{n}\r\n" for i, n in
        enumerate(["山田 太郎", "鈴木 花子", "佐藤"]))
    parsed, warnings, problems = parse_files([("ProvisioningLogs.csv", main.encode("cp932"))])
    assert problems == []
    (_, records), = parsed
    assert [r["sourceIdentity"]["displayName"] for r in records] == ["山田 太郎", "鈴木 花子", "佐藤"]
    assert any("Shift_JIS" in w for w in warnings)
    body = json.dumps([_log_record(1, "Zoë"), _log_record(2, "山田")], ensure_ascii=False)
    parsed, _, problems = parse_files([("logs.json", body.encode("utf-16-le"))])
    assert problems == [] and [r["sourceIdentity"]["displayName"] for r in parsed[0][1]] == ["Zoë", "山田"]


def test_log_imports_report_the_line_of_an_unreadable_row_and_refuse_binaries(tmp_path: Path) -> None:
    ctx = open_context(tmp_path / "home", credentials=memory_credentials())
    ConnectionRepo(ctx).add(Connection(name="acme", api_url="https://acme.example.com/api"))
    main = ("Date (UTC),Id,Cycle ID,Change ID,Action,Status\n"
            "2026-11-20T10:00:00Z,rec-1,c1,ch-1,Update,Success\n"
            '2026-11-20T10:00:01Z,"rec-2"oops,c1,ch-2,Update,Success\n'
            "2026-11-20T10:00:02Z,rec-3,c1,ch-3,Update,Success\n")
    res = import_files(ctx, "acme", [("logs.csv", main.encode()), ("book.xlsx", b"PK\x03\x04" + bytes(64))])
    assert res.new == 2
    where = dict(res.rejected)
    assert "logs.csv line 3" in where and "book.xlsx" in where
    assert "ZIP archive" in where["book.xlsx"]
