"""Job health and alerts from recorded job states and stored logs: quarantine periods, overdue, failure spike,
staged deletes, credential failures, explanations, and notification dedupe through console.notify.channels."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from console.connections import Connection, ConnectionRepo
from console.context import Context
from console.credentials import memory_credentials
from console.entra.catalogue import explain_error
from console.entra.health import job_cycles, job_overview, parse_interval, record_job_status, status_history
from console.entra.logstore import ingest_records
from console.notify.alerts import current_alerts, notify_alerts
from console.notify.channels import set_notify_urls
from console.store import Store

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
def ctx(tmp_path) -> Context:
    return Context(data_dir=tmp_path, store=Store.open(tmp_path), credentials=memory_credentials())


@pytest.fixture
def conn(ctx) -> Connection:
    return ConnectionRepo(ctx).add(Connection(name="acme", api_url="https://acme.example.com/api"))


def job(code="Active", *, began=None, ended=None, cycle=None, state="Succeeded", quarantine=None, interval="PT40M",
        schedule_state="Active"):
    status = {"code": code, "countSuccessiveCompleteFailures": 0,
              "lastExecution": {"activityIdentifier": cycle, "timeBegan": began.isoformat() if began else "",
                                "timeEnded": ended.isoformat() if ended else "0001-01-01T00:00:00Z",
                                "state": state, "error": None}}
    if quarantine:
        status["quarantine"] = quarantine
    return {"id": "scim.1", "templateId": "scim", "schedule": {"interval": interval, "state": schedule_state},
            "status": status}


def logs(cycle: str, at: datetime, n: int, failures: int = 0, code: str = "EntryConflict", action: str = "update"):
    out = []
    for i in range(n):
        failed = i < failures
        out.append({"id": f"{cycle}-{i}", "activityDateTime": (at + timedelta(seconds=i)).isoformat(),
                    "cycleId": cycle, "changeId": f"{cycle}-c{i}", "provisioningAction": action,
                    "provisioningStatusInfo": {"status": "failure" if failed else "success",
                                               "errorInformation": {"errorCode": code} if failed else None},
                    "sourceIdentity": {"id": f"s{i}", "displayName": f"U{i}", "identityType": "User"}})
    return out


def test_explanations_and_intervals():
    text, fix = explain_error("SystemForCrossDomainIdentityManagementCredentialValidationFailure")
    assert "token" in text and "token" in fix
    assert explain_error("Contoso6clicksEntryConflict") == explain_error("EntryConflict")
    unknown = explain_error("BrandNewCode")
    assert "BrandNewCode" in unknown[0]
    assert parse_interval("PT40M") == timedelta(minutes=40)
    assert parse_interval("PT1H30M") == timedelta(minutes=90)
    assert parse_interval("P1D") == timedelta(days=1)
    assert parse_interval("") == parse_interval("garbage") == timedelta(minutes=40)


def test_healthy_job_has_no_alerts_and_expects_the_next_cycle(ctx, conn):
    ingest_records(ctx, conn, logs("c1", T0, 10))
    record_job_status(ctx, conn, job(began=T0, ended=T0 + timedelta(minutes=2), cycle="c1"),
                      polled_at=T0 + timedelta(minutes=3))
    ov = job_overview(ctx, conn, now=T0 + timedelta(minutes=30))
    assert ov.status == "Active" and not ov.overdue and ov.quarantine is None
    assert ov.last_cycle_end == T0 + timedelta(minutes=2)
    assert ov.next_expected == T0 + timedelta(minutes=42)
    assert ov.last_cycle["state"] == "Succeeded"
    assert current_alerts(ctx, conn, now=T0 + timedelta(minutes=30), include_token=False) == []


def test_overdue_after_two_intervals_but_not_when_paused(ctx, conn):
    record_job_status(ctx, conn, job(began=T0, ended=T0 + timedelta(minutes=1), cycle="c1"), polled_at=T0)
    assert not job_overview(ctx, conn, now=T0 + timedelta(minutes=80)).overdue
    ov = job_overview(ctx, conn, now=T0 + timedelta(minutes=82))
    assert ov.overdue and ov.overdue_by > timedelta(minutes=80)
    alerts = current_alerts(ctx, conn, now=T0 + timedelta(minutes=82), include_token=False)
    assert [a.kind for a in alerts] == ["overdue"]
    assert alerts[0].remedy
    record_job_status(ctx, conn, job(began=T0, ended=T0 + timedelta(minutes=1), cycle="c1", schedule_state="Paused"),
                      polled_at=T0 + timedelta(minutes=90))
    assert not job_overview(ctx, conn, now=T0 + timedelta(hours=5)).overdue


def test_quarantine_and_recovery(ctx, conn):
    q = {"currentBegan": (T0 + timedelta(hours=1)).isoformat(), "nextAttempt": (T0 + timedelta(hours=7)).isoformat(),
         "reason": "EncounteredQuarantineException", "seriesCount": 1,
         "error": {"code": "SystemForCrossDomainIdentityManagementCredentialValidationFailure", "message": "401"}}
    record_job_status(ctx, conn, job(began=T0, ended=T0 + timedelta(minutes=1), cycle="c1"), polled_at=T0)
    record_job_status(ctx, conn, job("Quarantine", began=T0 + timedelta(hours=1), cycle="c2", state="Failed",
                                     quarantine=q), polled_at=T0 + timedelta(hours=1, minutes=5))
    record_job_status(ctx, conn, job("Quarantine", began=T0 + timedelta(hours=1), cycle="c2", state="Failed",
                                     quarantine=q), polled_at=T0 + timedelta(hours=2))
    now = T0 + timedelta(hours=2)
    ov = job_overview(ctx, conn, now=now)
    assert ov.quarantine["reason"] == "EncounteredQuarantineException"
    assert ov.quarantine["began"] == T0 + timedelta(hours=1)
    assert "token" in ov.quarantine["fix"]
    alerts = current_alerts(ctx, conn, now=now, include_token=False)
    kinds = [a.kind for a in alerts]
    assert kinds[0] == "quarantine" and alerts[0].severity == "critical"
    assert "credential_failure" in kinds  # the job's error code names the credential failure
    assert "overdue" not in kinds          # said by the quarantine
    periods = ov.quarantine_periods
    assert len(periods) == 1 and periods.iloc[0]["start"] == T0 + timedelta(hours=1)
    assert periods.iloc[0]["end"] is None or str(periods.iloc[0]["end"]) in ("NaT", "None")
    # recovery
    record_job_status(ctx, conn, job(began=T0 + timedelta(hours=3), ended=T0 + timedelta(hours=3, minutes=2),
                                     cycle="c3"), polled_at=T0 + timedelta(hours=3, minutes=5))
    ov = job_overview(ctx, conn, now=T0 + timedelta(hours=3, minutes=10))
    assert ov.quarantine is None
    assert ov.quarantine_periods.iloc[0]["end"] == T0 + timedelta(hours=3, minutes=5)
    assert current_alerts(ctx, conn, now=T0 + timedelta(hours=3, minutes=10), include_token=False) == []
    # cycles from the job history (no logs at all)
    cycles = job_cycles(ctx, conn)
    assert list(cycles["cycle_id"]) == ["c1", "c2", "c3"] and set(cycles["source"]) == {"job"}
    assert len(status_history(ctx, conn)) == 4


def test_failure_spike_staged_deletes_and_credential_failures(ctx, conn):
    records = []
    for k in range(6):
        records += logs(f"c{k}", T0 + timedelta(minutes=40 * k), 20, failures=1)
    spike_at = T0 + timedelta(minutes=40 * 6)
    records += logs("c6", spike_at, 20, failures=12, code="SystemForCrossDomainIdentityManagementCredentialValidationFailure")
    records += logs("c6x", spike_at + timedelta(minutes=1), 0)
    ingest_records(ctx, conn, records)
    now = spike_at + timedelta(minutes=10)
    ov = job_overview(ctx, conn, now=now)
    assert ov.spike["cycle_id"] == "c6" and ov.spike["failures"] == 12
    assert ov.spike["trailing_median"] == pytest.approx(0.05)
    assert ov.credential_failures["count"] == 12
    assert ov.failures_24h == 18
    kinds = {a.kind for a in current_alerts(ctx, conn, now=now, include_token=False)}
    assert kinds == {"failure_spike", "credential_failure"}
    # staged deletes in a later cycle
    ingest_records(ctx, conn, [
        {**r, "id": f"sd-{i}", "cycleId": "c7", "provisioningAction": "StagedDelete",
         "provisioningStatusInfo": {"status": "skipped", "errorInformation": {"errorCode": "TooManyDeletes"}},
         "activityDateTime": (spike_at + timedelta(minutes=40)).isoformat()}
        for i, r in enumerate(logs("x", spike_at, 7))])
    ov = job_overview(ctx, conn, now=spike_at + timedelta(minutes=45))
    assert ov.staged_deletes == 7 and ov.staged_delete_cycle == "c7"
    alerts = current_alerts(ctx, conn, now=spike_at + timedelta(minutes=45), include_token=False)
    staged = next(a for a in alerts if a.kind == "staged_deletes")
    assert "7 deletes/disables" in staged.detail and staged.key == "staged_deletes:c7"


@pytest.fixture
def hook_server():
    """A local HTTP endpoint that records what apprise's json:// channel posts to it."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.append(json.loads(body or b"{}"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], received
    finally:
        server.shutdown()
        server.server_close()


def test_notify_alerts_goes_through_send_notification_once_per_key(ctx, hook_server):
    port, received = hook_server
    conn = ConnectionRepo(ctx).add(Connection(name="acme", api_url="https://acme.example.com/api"))
    set_notify_urls(ctx, conn, [f"json://127.0.0.1:{port}/hook"])
    record_job_status(ctx, conn, job(began=T0, ended=T0 + timedelta(minutes=1), cycle="c1"), polled_at=T0)
    now = T0 + timedelta(hours=3)
    dry = notify_alerts(ctx, conn, now=now, dry_run=True)
    assert dry and dry[0][1].would_send and received == []
    sent = notify_alerts(ctx, conn, now=now)
    assert [a.kind for a, _ in sent] == ["overdue"] and sent[0][1].sent
    assert len(received) == 1
    assert "No provisioning cycle completed recently" in received[0]["title"]
    assert "What to do:" in received[0]["message"]
    again = notify_alerts(ctx, conn, now=now + timedelta(minutes=5))
    assert len(received) == 1 and again[0][1].already  # deduplicated by key per channel
    # a new occurrence (a later last cycle, overdue again) is a new key and is sent
    record_job_status(ctx, conn, job(began=now, ended=now + timedelta(minutes=1), cycle="c2"), polled_at=now)
    notify_alerts(ctx, conn, now=now + timedelta(hours=3))
    assert len(received) == 2


def test_remind_command_sends_provisioning_alerts_once(tmp_path, hook_server, monkeypatch, capsys):
    import keyring

    from console.cli import main
    from console.context import open_context
    from console.credentials import MemoryKeyring, default_credentials

    port, received = hook_server
    monkeypatch.setenv("SCIM_CONSOLE_KEYRING", "system")
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    try:
        ctx = open_context(tmp_path, credentials=default_credentials())
        conn = ConnectionRepo(ctx).add(Connection(name="acme", api_url="https://acme.example.com/api"))
        set_notify_urls(ctx, conn, [f"json://127.0.0.1:{port}/hook"])
        last = datetime.now(UTC) - timedelta(hours=5)
        record_job_status(ctx, conn, job(began=last, ended=last + timedelta(minutes=1), cycle="c1"))
        main(["remind", "--connection", "acme", "--data-dir", str(tmp_path)])
        out = capsys.readouterr().out
        assert "ALERT WARNING: No provisioning cycle completed recently" in out
        titles = [r["title"] for r in received]
        assert sum("No provisioning cycle completed recently" in t for t in titles) == 1
        main(["remind", "--connection", "acme", "--data-dir", str(tmp_path)])
        titles = [r["title"] for r in received]
        assert sum("No provisioning cycle completed recently" in t for t in titles) == 1  # not sent twice
    finally:
        keyring.set_keyring(previous)


def test_quarantine_periods_are_inferred_from_logs_before_the_job_was_polled(ctx, conn):
    """A console attached after a quarantine (or without job access) still shades it: credential failures
    start a period, the next cycle with a success ends it; a polled period wins where both exist."""
    cred = "SystemForCrossDomainIdentityManagementCredentialValidationFailure"
    ingest_records(ctx, conn.name, [
        *logs("c1", T0, 3),
        *logs("c2", T0 + timedelta(minutes=40), 2, failures=2, code=cred),
        *logs("c3", T0 + timedelta(hours=6), 1, failures=1, code=cred),
        *logs("c4", T0 + timedelta(hours=18), 4),
        *logs("c5", T0 + timedelta(hours=19), 2, failures=1, code="EntryConflict"),  # not a quarantine
    ])
    periods = job_overview(ctx, conn, now=T0 + timedelta(days=1)).quarantine_periods
    assert len(periods) == 1
    p = periods.iloc[0]
    assert p["start"] == T0 + timedelta(minutes=40) and p["end"] == T0 + timedelta(hours=18)
    assert p["reason"] == "inferred from logs" and p["error_code"] == cred

    # a later poll of the job that reports the same quarantine replaces the inference
    record_job_status(ctx, conn, job("Quarantine", quarantine={
        "currentBegan": (T0 + timedelta(minutes=41)).isoformat(), "reason": "EncounteredQuarantineException",
        "error": {"code": cred}}), polled_at=T0 + timedelta(hours=1))
    record_job_status(ctx, conn, job("Active"), polled_at=T0 + timedelta(hours=18, minutes=5))
    periods = job_overview(ctx, conn, now=T0 + timedelta(days=1)).quarantine_periods
    assert list(periods["reason"]) == ["EncounteredQuarantineException"]


def test_a_hostile_job_answer_is_stored_bounded_not_fatal(ctx, conn):
    """Objects where words belong, a megabyte of text, integers beyond 64 bits: stored as bounded text or nothing."""
    bad = job(began=T0, ended=T0 + timedelta(minutes=2), cycle="c1")
    bad["status"]["code"] = {"nested": ["object"]}
    bad["status"]["countSuccessiveCompleteFailures"] = 2**70
    bad["schedule"]["state"] = "x" * 1_000_000
    bad["extra"] = 2**70
    record_job_status(ctx, conn, bad, polled_at=T0 + timedelta(minutes=3))
    row = ctx.store.query_one("SELECT code, successive_failures, schedule_state FROM job_status_history")
    assert row["code"] is None and row["successive_failures"] is None and len(row["schedule_state"]) == 200
    job_overview(ctx, conn, now=T0 + timedelta(minutes=30))     # and the overview still reads it


def test_directory_text_reaches_markdown_channels_as_text_not_links(ctx, hook_server):
    """A Rocket.Chat channel renders Markdown: names from the directory or the logs arrive escaped."""
    from console.notify.channels import send_notification

    port, received = hook_server
    conn = ConnectionRepo(ctx).add(Connection(name="acme", api_url="https://acme.example.com/api"))
    set_notify_urls(ctx, conn, [f"rocket://127.0.0.1:{port}/%23general?webhook=hooktoken"])
    hostile = "[Re-authenticate](https://evil.example/login) ![x](http://evil.example/p.png) <b>bold</b>"
    result = send_notification(ctx, conn, "Alert", f"Failures for {hostile}", "test:markdown")
    assert result.sent, result
    text = json.dumps(received[-1])
    assert "](https://evil.example/login)" not in text and "![x](" not in text
    assert "authenticate" in text and "evil" in text                   # the text itself is kept, escaped
