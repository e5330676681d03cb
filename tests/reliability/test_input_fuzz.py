"""Careless input, fuzzed with hypothesis: provisioning-log downloads (import) and CSV uploads (operations).

Whatever the bytes, the console answers with a result or a ConsoleError carrying a remedy (never another
exception type), stores nothing twice, and counts what it stored honestly: an import's ``new`` is exactly how
many records the store gained, and importing the same file again adds nothing.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.connections import Connection, ConnectionRepo
from console.context import open_context
from console.credentials import memory_credentials
from console.errors import ConsoleError

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))

# -- provisioning-log documents ---------------------------------------------------------------------------------
text = st.text(max_size=16)
odd = st.none() | st.booleans() | st.integers(-10, 10**12) | st.just(2**70) | st.floats(allow_nan=True) | text | st.just([]) | st.just({})
when = st.sampled_from(["2026-11-20T10:00:00Z", "2026-11-20T10:00:00.1234567Z", "2016-01-01T00:00:00Z",
                        "2026-11-20 10:00:00", "20/11/2026 10:00", "1763632800", "", "not a date",
                        "2026-02-30T10:00:00Z", "9999-12-31T23:59:59Z"]) | odd
status = st.sampled_from(["success", "failure", "skipped", "warning", "Success", "FAILURE", "unknownFutureValue",
                          "", "newEnumValue"]) | odd
action = st.sampled_from(["Create", "Update", "Delete", "Disable", "StagedDelete", "Other", "create", "Mystery"]) | odd
identity = st.fixed_dictionaries({}, optional={"id": text | odd, "displayName": text | odd,
                                               "identityType": st.sampled_from(["User", "Group", "user", "x"]),
                                               "details": st.dictionaries(text, text, max_size=2)})
record = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=12) | odd},
    optional={
        "activityDateTime": when,
        "jobId": text | odd, "cycleId": text | odd, "changeId": text | odd,
        "provisioningAction": action, "action": action,
        "provisioningStatusInfo": st.fixed_dictionaries({}, optional={
            "status": status,
            "errorInformation": st.fixed_dictionaries({}, optional={
                "errorCode": st.sampled_from(["SystemForCrossDomainIdentityManagementServiceIncompatible",
                                              "EntryConflict", "", "X"]) | odd,
                "reason": text | odd, "additionalDetails": text | odd}) | odd}) | odd,
        "sourceIdentity": identity | odd, "targetIdentity": identity | odd,
        "provisioningSteps": st.lists(st.dictionaries(text, odd, max_size=3), max_size=2) | odd,
        "modifiedProperties": st.lists(st.fixed_dictionaries({}, optional={
            "displayName": text, "oldValue": text | odd, "newValue": text | odd}), max_size=2) | odd,
        "durationInMilliseconds": odd,
        "unknownField": odd,
    },
)
json_document = st.one_of(
    st.lists(record, max_size=6).map(json.dumps),
    st.builds(lambda v, link: json.dumps({"@odata.context": "x", "value": v, **link}), st.lists(record, max_size=6),
              st.sampled_from([{}, {"@odata.nextLink": "https://graph.microsoft.com/v1.0/next"}])),
    st.lists(record, min_size=1, max_size=6).map(lambda r: json.dumps(r)[: max(1, len(json.dumps(r)) // 2)]),
    st.recursive(odd, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
                 max_leaves=6).map(json.dumps),
)


def _encode(doc: str, how: str) -> bytes:
    if how == "utf-8-sig":
        return b"\xef\xbb\xbf" + doc.encode()
    if how == "utf-16":
        return doc.encode("utf-16")
    if how == "cp1252":
        return doc.encode("cp1252", errors="replace")
    return doc.encode()


def _csv_bundle(rows: list[dict[str, Any]], headers: list[str]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(headers)
    for r in rows:
        w.writerow([str(r.get(h.split(" ")[0], "")) for h in headers])
    return out.getvalue().encode()


csv_document = st.builds(
    _csv_bundle, st.lists(record, max_size=5),
    st.lists(st.sampled_from(["Date (UTC)", "Activity Date", "Job ID", "Change ID", "Cycle ID", "Action", "Status",
                              "Source Identity", "Target Identity", "id", "Provisioning Status", "Junk", ""]),
             min_size=0, max_size=8),
)
upload = st.one_of(
    st.tuples(st.just("logs.json"), st.builds(_encode, json_document,
                                              st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))),
    st.tuples(st.sampled_from(["provisioning.csv", "ProvisioningLogs.csv", "x.csv"]), csv_document),
    st.tuples(st.sampled_from(["logs.json", "logs.csv", "logs.bin"]), st.binary(max_size=300)),
)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Any:
    context = open_context(tmp_path_factory.mktemp("fuzz") / "home", credentials=memory_credentials())
    ConnectionRepo(context).add(Connection(name="T", api_url="http://127.0.0.1:9", allow_http=True))
    return context


def _check_console_error(exc: BaseException) -> None:
    assert isinstance(exc, ConsoleError), f"{type(exc).__name__}: {exc}"
    assert str(exc) and exc.remedy, f"no remedy: {exc}"


def test_log_import_of_any_file_reports_counts_and_stores_nothing_twice(ctx: Any) -> None:
    from console.entra.files import import_files
    from console.entra.logstore import log_count

    @FUZZ
    @given(files=st.lists(upload, min_size=1, max_size=2))
    def check(files: list[tuple[str, bytes]]) -> None:
        before = log_count(ctx, "T")
        try:
            result = import_files(ctx, "T", files)
        except Exception as exc:
            _check_console_error(exc)
            assert log_count(ctx, "T") == before, "a refused import stored records"
            return
        assert min(result.new, result.known, result.duplicates, result.rejected_count) >= 0
        assert log_count(ctx, "T") == before + result.new, "the import's count does not match what it stored"
        assert result.summary()
        for where, reason in result.rejected:
            assert isinstance(where, str) and reason
        again = import_files(ctx, "T", files)
        assert again.new == 0, "the same file imported twice stored records twice"
        assert log_count(ctx, "T") == before + result.new

    check()


def test_log_import_of_the_sandbox_export_is_complete_and_idempotent(ctx: Any, sandbox_factory: Any,
                                                                     tmp_path: Path) -> None:
    """A control for the fuzz test: a real export imports with records counted as new, then as known."""
    import subprocess
    import sys

    from console.entra.files import import_files
    from console.entra.logstore import log_count

    sandbox = sandbox_factory(seed_users=30, seed_groups=3, seed=2)
    if not sandbox.graph_url:
        pytest.skip("this sandbox runs without the Entra simulator")
    sandbox.admin("POST", "/sandbox-admin/entra/cycles", json={"count": 2})
    out = tmp_path / "export.json"
    proc = subprocess.run([sys.executable, "-m", "sandbox", "export-logs", "--data-dir", str(sandbox.data_dir),
                           "--format", "json", "--out", str(out)], capture_output=True, text=True, timeout=120,
                          check=False)
    if proc.returncode != 0 or not out.exists():
        pytest.skip(f"the session sandbox has no logs to export ({proc.stderr[-200:]})")
    records = json.loads(out.read_text())
    if not records:
        pytest.skip("the session sandbox has no provisioning logs yet")
    name = "Export"
    ConnectionRepo(ctx).add(Connection(name=name, api_url="http://127.0.0.1:9", allow_http=True))
    first = import_files(ctx, name, [out])
    assert first.new == len({r["id"] for r in records}) and first.rejected_count == 0
    second = import_files(ctx, name, [out])
    assert second.new == 0 and second.known >= first.new
    assert log_count(ctx, name) == first.new


# -- CSV uploads for operations ----------------------------------------------------------------------------------
cell = st.one_of(st.emails(), st.text(max_size=20), st.sampled_from(
    ["userName", "E-mail", "UPN", "", " ", '"quoted@example.org"', "=cmd|' /C calc'!A0", "@SUM(1+1)",
     "ada@example.org", "ADA@EXAMPLE.ORG", "zoë@exämple.org", "a,b", "x\ty", "line\nbreak"]))
csv_upload = st.one_of(
    st.lists(st.lists(cell, min_size=1, max_size=4), max_size=12).map(
        lambda rows: "\n".join(",".join(r) for r in rows)),
    st.lists(cell, max_size=12).map(lambda c: ";".join(c)),
    st.text(max_size=200),
).flatmap(lambda t: st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]).map(
    lambda enc: ("\ufeff" + t).encode("utf-8") if enc == "utf-8-sig" else t.encode(enc, errors="replace")))


def test_csv_upload_reading_gives_unique_clean_values_or_a_remedy() -> None:
    from console.operations.targets import read_csv_targets

    @FUZZ
    @given(data=csv_upload | st.binary(max_size=300))
    def check(data: bytes) -> None:
        try:
            got = read_csv_targets(data)
        except Exception as exc:
            _check_console_error(exc)
            return
        keys = [v.casefold() for v in got.values]
        assert len(keys) == len(set(keys)), "duplicates survived"
        assert all(v and v == v.strip() for v in got.values)
        assert isinstance(got.notes, list) and got.encoding

    check()


@pytest.mark.parametrize("data", [b"\r\x01", b"ada@example.org\rbob@example.org\r\"x\ny\"\r1",
                                  b"\xff\xfe" + "ada@example.org".encode("utf-16-le") + b"\n"],
                         ids=["lone-cr", "lone-cr-quoted", "truncated-utf16"])
def test_csv_lone_cr_and_truncated_utf16_get_a_remedy_or_read(data: bytes) -> None:
    from console.operations.targets import read_csv_targets

    try:
        read_csv_targets(data)
    except Exception as exc:
        _check_console_error(exc)


def test_csv_upload_preview_never_crashes_and_changes_nothing(tmp_path: Path, sandbox: Any) -> None:
    """Fuzzed CSV files through the operation preview against a real directory: a Plan or a ConsoleError."""
    from console.directory.store import latest_snapshot
    from console.directory.take import take_snapshot
    from console.operations import plan
    from console.operations.targets import read_csv_targets
    from console.tokens.service import TokenService

    ctx = open_context(tmp_path / "home", credentials=memory_credentials())
    conn = ConnectionRepo(ctx).add(Connection(name="P", api_url=sandbox.api_url, allow_http=True))
    TokenService(ctx).set_api_key("P", sandbox.api_key)
    TokenService(ctx).generate("P")
    take_snapshot(ctx, conn)
    snap = latest_snapshot(ctx, conn)
    real = list(snap.users["userName"][:3])
    before = snap.id

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=csv_upload, extra=st.lists(st.sampled_from(real), max_size=3),
           kind=st.sampled_from(["deactivate", "reactivate"]))
    def check(data: bytes, extra: list[str], kind: str) -> None:
        payload = data + ("\n" + "\n".join(extra)).encode() if extra else data
        try:
            targets = read_csv_targets(payload)
            preview = plan(ctx, conn, kind, targets)
        except Exception as exc:
            _check_console_error(exc)
            return
        assert preview.items is not None
        for item in preview.items:
            assert item.steps or item.skip, f"{item.input!r}: neither a change nor a reason to skip"
            if item.skip is None:
                assert item.user_id, "a change planned for nobody"

    check()
    from console.operations.audit import list_actions

    assert list_actions(ctx) == [], "a preview journaled or ran something"
    assert latest_snapshot(ctx, conn).id == before
