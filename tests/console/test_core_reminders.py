"""Reminders: each threshold exactly once per token, delivery through apprise to a local HTTP receiver,
dedupe and retry, and the .ics calendar parsed back with icalendar. Time comes from an injected clock."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from icalendar import Calendar

from console.connections import Connection, ConnectionRepo
from console.notify.calendar import token_ics
from console.notify.channels import notify_urls, send_notification, set_notify_urls
from console.notify.reminders import remind_connection, run_reminders
from console.tokens.service import TokenService
from tests.console.test_core_helpers import Clock, assert_absent, local_http, make_ctx

ISSUED = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


def make_jwt(issued: datetime, days: int = 365) -> str:
    claims = {"sub": "reminder-test", "iat": int(issued.timestamp()), "exp": int((issued + timedelta(days=days)).timestamp())}
    return jwt.encode(claims, "test-signing-key-not-a-secret-0123456789", algorithm="HS256")


class Receiver:
    def __init__(self) -> None:
        self.status = 200

    def __call__(self, _h):
        return self.status, "application/json", b"{}"


@pytest.fixture
def receiver():
    answer = Receiver()
    with local_http(answer) as server:
        server.answer_obj = answer
        yield server


@pytest.fixture
def clock():
    return Clock(ISSUED)


@pytest.fixture
def ctx(tmp_path, clock):
    c = make_ctx(tmp_path, clock)
    yield c
    c.close()


def _setup(ctx, receiver, *, days=(60, 30, 14, 7, 3, 1), token=None):
    conn = ConnectionRepo(ctx.store).add(Connection(name="Prod", api_url="https://api-au.6clicks.io",
                                                    reminder_days=days))
    url = f"json://127.0.0.1:{receiver.server_port}/hooks/s3cr3t-path-token"
    set_notify_urls(ctx, conn, [url])
    token = token or make_jwt(ISSUED)
    TokenService(ctx).import_token("Prod", token, verify=False)
    return conn, url, token


def _titles(receiver):
    return [json.loads(r["body"])["title"] for r in receiver.received]


def test_each_threshold_is_sent_exactly_once(ctx, receiver, clock):
    conn, _url, _token = _setup(ctx, receiver)
    expires = TokenService(ctx).status("Prod").expires_at
    clock.now = expires - timedelta(days=70)
    while clock.now < expires + timedelta(days=3):
        for _ in range(2):  # cron running twice a day changes nothing
            remind_connection(ctx, conn)
        clock.advance(hours=12)
    titles = _titles(receiver)
    assert [t.rsplit(" ", 2)[-2] if "expires in" in t else t.rsplit(" ", 1)[-1] for t in titles] == \
        ["60", "30", "14", "7", "3", "1", "EXPIRED"]
    assert all("Prod" in t for t in titles)
    body = json.loads(receiver.received[0]["body"])["message"]
    assert "rotate" in body and "…" in body


def test_missed_thresholds_are_skipped_not_sent_late(ctx, receiver, clock):
    conn, _url, _token = _setup(ctx, receiver)
    expires = TokenService(ctx).status("Prod").expires_at
    clock.now = expires - timedelta(days=10)  # cron did not run for months
    out = remind_connection(ctx, conn)
    assert out.key.endswith(":14") and len(receiver.received) == 1
    clock.now = expires - timedelta(days=9)
    assert remind_connection(ctx, conn).notification.already
    assert len(receiver.received) == 1
    clock.now = expires - timedelta(days=6, hours=1)
    remind_connection(ctx, conn)
    assert "expires in 6 days" in _titles(receiver)[-1] and len(receiver.received) == 2


def test_failed_channel_is_retried_and_dry_run_records_nothing(ctx, receiver, clock):
    conn, _url, _token = _setup(ctx, receiver)
    expires = TokenService(ctx).status("Prod").expires_at
    clock.now = expires - timedelta(days=29)
    dry = remind_connection(ctx, conn, dry_run=True)
    assert dry.notification.would_send and not receiver.received
    receiver.answer_obj.status = 500
    failed = remind_connection(ctx, conn)
    assert failed.notification.failed and "retried" in failed.message
    receiver.answer_obj.status = 200
    ok = remind_connection(ctx, conn)
    assert ok.notification.sent
    assert remind_connection(ctx, conn).notification.already
    assert sum(1 for r in receiver.received if r["method"] == "POST") == 2  # the failed try and the good one


def test_a_new_token_starts_afresh_and_rejected_is_announced(ctx, receiver, clock):
    conn, _url, _token = _setup(ctx, receiver)
    svc = TokenService(ctx)
    expires = svc.status("Prod").expires_at
    clock.now = expires - timedelta(days=5)
    remind_connection(ctx, conn)
    assert len(receiver.received) == 1
    svc.import_token("Prod", make_jwt(clock.now - timedelta(days=300), days=305), verify=False)  # 5 days left too
    remind_connection(ctx, conn)
    assert len(receiver.received) == 2  # another token: its own reminder
    ctx.store.execute("UPDATE tokens SET last_test_result = 'rejected', last_test_message = 'x' WHERE is_current = 1")
    out = remind_connection(ctx, conn)
    assert out.key.endswith(":rejected") and "REJECTED" in _titles(receiver)[-1]


def test_no_channels_and_run_all(ctx, clock):
    ConnectionRepo(ctx.store).add(Connection(name="A", api_url="https://a.example"))
    TokenService(ctx).import_token("A", make_jwt(ISSUED, days=20), verify=False)
    ConnectionRepo(ctx.store).add(Connection(name="B", api_url="https://b.example"))
    outcomes = {o.connection: o for o in run_reminders(ctx)}
    assert outcomes["A"].notification.no_channels and "no notification channel" in outcomes["A"].message
    assert outcomes["B"].key is None


def test_send_notification_dedupes_by_key_and_keeps_urls_secret(ctx, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    conn, url, token = _setup(ctx, receiver)
    first = send_notification(ctx, conn, "Entra quarantine", "The job is quarantined.", "entra:quarantine:1")
    again = send_notification(ctx, conn, "Entra quarantine", "The job is quarantined.", "entra:quarantine:1")
    other = send_notification(ctx, conn, "Entra quarantine", "Again.", "entra:quarantine:2")
    assert first.sent and again.already and not again.sent and other.sent
    assert len(receiver.received) == 2
    assert notify_urls(ctx, conn) == [url]
    dump = "\n".join(str(tuple(r)) for t in ("notifications", "connections", "tokens")
                     for r in ctx.store.query(f"SELECT * FROM {t}"))
    assert_absent(["s3cr3t-path-token", token], dump + caplog.text, "the store or the log")


def test_invalid_notification_url_is_refused_without_echoing_it(ctx):
    from console.errors import InvalidInput

    conn = ConnectionRepo(ctx.store).add(Connection(name="Prod", api_url="https://a.example"))
    with pytest.raises(InvalidInput) as err:
        set_notify_urls(ctx, conn, ["notascheme://user:hunter2-secret@x"])
    assert_absent(["hunter2-secret"], str(err.value), "the error")
    assert notify_urls(ctx, conn) == []


def test_ics_parses_back_with_alarms_and_stable_uids(ctx, receiver, clock):
    conn, _url, _token = _setup(ctx, receiver, days=(45, 10, 2))
    status = TokenService(ctx).status("Prod")
    data = token_ics(ctx, conn)
    cal = Calendar.from_ical(data)
    events = [c for c in cal.walk() if c.name == "VEVENT"]
    assert len(events) == 2
    renew = next(e for e in events if str(e["uid"]).startswith("renew-"))
    expiry = next(e for e in events if str(e["uid"]).startswith("expiry-"))
    assert expiry.decoded("dtstart") == status.expires_at.replace(microsecond=0)
    assert renew.decoded("dtstart") == (status.expires_at - timedelta(days=30)).replace(microsecond=0)
    assert "token rotate" in str(renew["description"])
    triggers = sorted(a.decoded("trigger") for a in expiry.subcomponents if a.name == "VALARM")
    assert triggers == [timedelta(days=-45), timedelta(days=-10), timedelta(days=-2), timedelta(0)]
    assert status.fingerprint in str(expiry["uid"])
    clock.advance(days=3)
    again = Calendar.from_ical(token_ics(ctx, conn))
    assert {str(e["uid"]) for e in again.walk("VEVENT")} == {str(e["uid"]) for e in events}
    assert_absent([_token], data.decode(), "the calendar file")


def test_ics_without_token_is_a_clear_error(ctx):
    from console.errors import ConsoleError

    conn = ConnectionRepo(ctx.store).add(Connection(name="Prod", api_url="https://a.example"))
    with pytest.raises(ConsoleError, match="nothing to put in a calendar"):
        token_ics(ctx, conn)


def test_attention_lists_what_a_banner_shows(ctx, clock):
    repo = ConnectionRepo(ctx.store)
    svc = TokenService(ctx)
    for name, days in (("Fine", 300), ("Soon", 20), ("Urgent", 3)):
        repo.add(Connection(name=name, api_url=f"https://{name.lower()}.example"))
        svc.import_token(name, make_jwt(ISSUED, days=days), verify=False)
    repo.add(Connection(name="Empty", api_url="https://empty.example"))
    levels = [(s.connection, s.level) for s in svc.attention()]
    assert set(levels[:2]) == {("Urgent", "critical"), ("Empty", "missing")} and levels[2] == ("Soon", "warning")
    assert len(levels) == 3


def test_property_thresholds_never_repeat_and_arrive_in_order(tmp_path_factory):
    """For any reminder days and any increasing run times, each notification key is delivered at most once,
    the announced thresholds only get more urgent, and the most urgent threshold reached is always announced."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from console.notify.reminders import reached_thresholds

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(days=st.sets(st.integers(1, 120), min_size=1, max_size=6),
           steps=st.lists(st.floats(0.05, 40.0), min_size=1, max_size=12))
    def check(days, steps):
        clock = Clock(ISSUED)
        ctx = make_ctx(tmp_path_factory.mktemp("prop"), clock)
        answer = Receiver()
        with local_http(answer) as server:
            conn = ConnectionRepo(ctx.store).add(Connection(name="Prod", api_url="https://a.example",
                                                            reminder_days=tuple(days)))
            set_notify_urls(ctx, conn, [f"json://127.0.0.1:{server.server_port}/p"])
            svc = TokenService(ctx)
            svc.import_token("Prod", make_jwt(ISSUED, days=100), verify=False)
            expires = svc.status("Prod").expires_at
            clock.now = expires - timedelta(days=130)
            keys: list[str] = []
            for step in steps:
                clock.advance(days=step)
                out = remind_connection(ctx, conn)
                if out.notification and out.notification.sent:
                    keys.append(out.key)
                reached = reached_thresholds(svc.status("Prod"), conn.reminder_days)
                if reached:  # the most urgent reached threshold has been announced by now
                    assert keys and keys[-1].endswith(":" + reached[-1])
            assert len(keys) == len(set(keys)) == len(server.received)
            urgency = [1 if k.endswith(":expired") else -int(k.rsplit(":", 1)[1]) for k in keys]
            assert urgency == sorted(urgency)
        ctx.close()

    check()
