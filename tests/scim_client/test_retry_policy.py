"""RetryPolicy on its own: Retry-After in both forms, clamping, the budget, the attempt limit, the idempotency
rule (a POST never sent may be repeated, one sent may not) and the transport-failure classes by exception type."""

from __future__ import annotations

import email.utils
import socket
import ssl
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from scim_client import (
    ConnectionFailed,
    RateLimited,
    RetryPolicy,
    ServerError,
    count_attempts,
    failure_kind,
    parse_retry_after,
)
from scim_client.retry import MAX_RETRY_AFTER

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def http_date(when: datetime) -> str:
    return email.utils.format_datetime(when, usegmt=True)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# ---------------------------------------------------------------------------------------------------------
# Retry-After


@pytest.mark.parametrize(("value", "seconds"), [("7", 7.0), (" 0 ", 0.0), ("120", 120.0), ("1.5", 1.5)])
def test_retry_after_in_seconds(value: str, seconds: float) -> None:
    assert parse_retry_after(value) == seconds


def test_retry_after_as_an_http_date_in_all_three_rfc_forms() -> None:
    later = NOW + timedelta(seconds=30)
    imf = http_date(later)  # Sun, 01 Mar 2026 12:00:30 GMT
    rfc850 = later.strftime("%A, %d-%b-%y %H:%M:%S GMT")
    asctime = later.strftime("%a %b %d %H:%M:%S %Y").replace(" 0", "  ", 1)
    for value in (imf, rfc850, asctime):
        assert parse_retry_after(value, now=NOW) == pytest.approx(30), value


def test_retry_after_date_in_the_past_means_now() -> None:
    assert parse_retry_after(http_date(NOW - timedelta(hours=1)), now=NOW) == 0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0


def test_retry_after_date_is_measured_against_the_answers_date_header() -> None:
    """A server whose clock is an hour behind ours: its date says 'in 20 s' by its own clock."""
    server_now = NOW - timedelta(hours=1)
    value = http_date(server_now + timedelta(seconds=20))
    assert parse_retry_after(value, now=NOW) == 0  # by our clock alone it is long past
    assert parse_retry_after(value, now=NOW, date=http_date(server_now)) == pytest.approx(20)
    # an unreadable Date header falls back to our clock
    assert parse_retry_after(value, now=NOW, date="yesterday-ish") == 0


@pytest.mark.parametrize("value", ["99999999999", "3153600000"])
def test_absurd_retry_after_seconds_are_clamped(value: str) -> None:
    assert parse_retry_after(value) == MAX_RETRY_AFTER
    assert parse_retry_after(value, cap=120) == 120
    assert RetryPolicy(max_retry_after=300).retry_after(value) == 300


def test_absurd_retry_after_date_is_clamped() -> None:
    assert parse_retry_after("Wed, 21 Oct 2099 07:28:00 GMT", now=NOW) == MAX_RETRY_AFTER


@pytest.mark.parametrize(
    "value",
    [None, "", "soon", "-5", "nan", "inf", "1e9", "1_000", "0x10", "Sun, 31 Feb 2026 08:49:37 GMT",
     "Sun, 06 Nov 99999 08:49:37 GMT", "9" * 80],
)
def test_unreadable_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


# ---------------------------------------------------------------------------------------------------------
# Waits, limit and budget


def test_retry_after_is_honoured_and_429_spread_by_at_most_ten_percent() -> None:
    policy = RetryPolicy()
    for _ in range(50):
        assert policy.delay(0, 20.0, 503) == 20.0
        assert 20.0 <= policy.delay(0, 20.0, 429) <= 22.0
    assert policy.delay(0, 10 * MAX_RETRY_AFTER, 503) == MAX_RETRY_AFTER


def test_backoff_is_exponential_with_jitter_and_capped() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_cap=10.0)
    for retry, step in ((0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (60, 10.0)):
        waits = [policy.backoff(retry) for _ in range(40)]
        assert all(step / 2 <= w <= step for w in waits), (retry, waits)
        assert len(set(waits)) > 1  # jittered


def test_attempt_limit() -> None:
    clock = FakeClock()
    attempts = RetryPolicy(max_retries=2, backoff_base=0.01).start(clock=clock, sleep=clock.sleep)
    for _ in range(2):
        attempts.attempted()
        delay = attempts.next_wait()
        assert delay is not None
        attempts.wait(delay)
    attempts.attempted()
    assert attempts.next_wait() is None
    assert (attempts.count, attempts.retries, len(clock.slept)) == (3, 2, 2)


def test_budget_stops_a_wait_that_would_end_past_it() -> None:
    clock = FakeClock()
    attempts = RetryPolicy(max_retries=10, budget_seconds=30).start(clock=clock, sleep=clock.sleep)
    attempts.attempted()
    assert attempts.next_wait(retry_after=31) is None  # beyond the budget: raise at once, do not wait
    assert attempts.next_wait(retry_after=20) == 20
    attempts.wait(20)
    attempts.attempted()
    assert attempts.next_wait(retry_after=11) is None  # 20 spent + 11 > 30
    assert attempts.next_wait(retry_after=10) == 10
    assert clock.slept == [20]


def test_negative_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError):
        RetryPolicy(budget_seconds=-1)


# ---------------------------------------------------------------------------------------------------------
# What may be repeated


def test_idempotency_rule_for_statuses() -> None:
    policy = RetryPolicy()
    for method in ("GET", "get", "HEAD", "PUT", "PATCH", "DELETE"):
        assert policy.retries_status(503, method)
        assert policy.retries_status(429, method)
    assert not policy.retries_status(503, "POST")
    assert not policy.retries_status(429, "POST")
    assert policy.retries_status(503, "POST", idempotent=True)  # a caller may declare a POST safe
    assert not policy.retries_status(503, "GET", idempotent=False)
    for status in (500, 501, 400, 401, 403, 404, 409):
        assert not policy.retries_status(status, "GET"), status


def test_a_post_never_sent_may_be_repeated_one_sent_may_not() -> None:
    policy = RetryPolicy()
    for kind in ("refused", "connect", "connect-timeout", "pool-timeout"):
        assert policy.retries_failure(kind, "POST"), kind
    for kind in ("dropped", "read-timeout", "write-timeout", "other"):
        assert not policy.retries_failure(kind, "POST"), kind
        assert policy.retries_failure(kind, "GET"), kind
        assert policy.retries_failure(kind, "POST", idempotent=True), kind
    for kind in ("tls", "dns", "bad-url"):
        assert not policy.retries_failure(kind, "GET", idempotent=True), kind


def test_which_create_failures_are_looked_up_and_resent() -> None:
    policy = RetryPolicy()
    assert policy.resend_after_lookup(429) and policy.resend_after_lookup(503)
    assert not policy.resend_after_lookup(500) and not policy.resend_after_lookup(409)
    for kind in ("dropped", "read-timeout", "write-timeout"):
        assert policy.resend_after_lookup(kind=kind)
    # never sent (the transport already repeated it) or never going to work
    for kind in ("refused", "connect", "tls", "dns", "bad-url"):
        assert not policy.resend_after_lookup(kind=kind)
    assert policy.resend_after_lookup(RateLimited("x", status=429).status)
    assert not policy.resend_after_lookup(ServerError("x", status=500).status)
    assert policy.resend_after_lookup(kind=ConnectionFailed("x", kind="dropped").kind)


# ---------------------------------------------------------------------------------------------------------
# Transport failures by type


def _caused(exc: httpx.HTTPError, cause: BaseException) -> httpx.HTTPError:
    exc.__cause__ = cause
    return exc


def test_failure_kinds_come_from_exception_types() -> None:
    cert = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    assert failure_kind(_caused(httpx.ConnectError("handshake"), cert)) == "tls"
    assert failure_kind(_caused(httpx.ReadError("x"), ssl.SSLError(1, "[SSL] record layer failure"))) == "tls"
    assert failure_kind(_caused(httpx.ConnectError("x"), socket.gaierror(-2, "whatever"))) == "dns"
    assert failure_kind(_caused(httpx.ConnectError("x"), ConnectionRefusedError(111, "no"))) == "refused"
    assert failure_kind(httpx.ConnectError("[Errno -2] Name or service not known")) == "dns"
    assert failure_kind(httpx.ConnectTimeout("t")) == "connect-timeout"
    assert failure_kind(httpx.ReadTimeout("t")) == "read-timeout"
    assert failure_kind(httpx.WriteTimeout("t")) == "write-timeout"
    assert failure_kind(httpx.PoolTimeout("t")) == "pool-timeout"
    assert failure_kind(httpx.RemoteProtocolError("Server disconnected")) == "dropped"
    assert failure_kind(httpx.ReadError("reset")) == "dropped"
    assert failure_kind(httpx.UnsupportedProtocol("ftp")) == "bad-url"
    assert failure_kind(httpx.ConnectError("no route")) == "connect"
    assert failure_kind(httpx.DecodingError("gzip")) == "other"


def test_tls_is_not_guessed_from_words_in_a_message() -> None:
    """A proxy's message mentioning 'ssl' or 'certificate' is not a TLS failure: only an ssl exception is."""
    assert failure_kind(httpx.ConnectError("proxy: certificate portal at ssl.example.com unreachable")) == "connect"
    assert failure_kind(httpx.ReadError("ssl offload box closed the connection")) == "dropped"


# ---------------------------------------------------------------------------------------------------------
# Counting


def test_count_attempts_nests_and_counts_retries() -> None:
    clock = FakeClock()
    policy = RetryPolicy(backoff_base=0.01)
    with count_attempts() as outer:
        a = policy.start(clock=clock, sleep=clock.sleep)
        a.attempted()
        with count_attempts() as inner:
            b = policy.start(clock=clock, sleep=clock.sleep)
            b.attempted()
            b.wait(0.01)
            b.attempted()
        assert (inner.attempts, inner.retries) == (2, 1)
    assert (outer.attempts, outer.retries) == (3, 1)
    a.attempted()  # outside any block: counted by nobody
    assert outer.attempts == 3
