"""One retry policy for every HTTP caller of the console: the SCIM transport, creates, and the Graph client.

A :class:`RetryPolicy` answers four questions, and nothing else:

- **may this request be sent again?** A request whose connection never opened (refused, connect timeout, no
  free pooled connection) was not sent: it may be repeated whatever its method. One that was sent may be
  repeated only when repeating it is harmless: the idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE, and
  PATCH, whose SCIM operations this client sends — replace, add members by value, remove by filter — give the
  same result twice), or a request the caller declares safe (``idempotent=True``, e.g. a token request).
- **which failures are worth another attempt?** HTTP 429, 502, 503, 504 (500 is a server defect for that
  request, not a passing state: it is not retried), and the transport failures ``refused``, ``connect``,
  ``connect-timeout``, ``pool-timeout`` (not sent), ``dropped``, ``read-timeout``, ``write-timeout`` and
  ``other`` (sent). Never TLS (a certificate does not fix itself), DNS (nor does a typo in a host name) or a bad
  URL. :func:`failure_kind` names the class of an httpx exception by its type (and, for DNS, the platform's
  resolver message, which is all some platforms give).
- **how long to wait?** ``Retry-After`` when the server sent one, in seconds or as an HTTP date (RFC 9110 §10.2.3,
  all three date forms; measured against the answer's own ``Date`` header when present so clock skew does not
  matter), clamped to ``[0, max_retry_after]``; otherwise exponential back-off ``backoff_base * 2**n`` capped at
  ``backoff_cap``, with jitter (×0.5–1.0). A 429's ``Retry-After`` gets up to 10 % more so that many clients told
  the same second do not all come back in it.
- **when to stop?** After ``max_retries`` retries, or when the wait would end past ``budget_seconds`` from the
  first attempt (a wait that cannot fit is not started: the caller raises at once, with the server's
  ``Retry-After`` in the error).

:class:`Attempts` applies a policy to one call: it counts the HTTP attempts (which every ``ScimError`` the
transport raises carries as ``.attempts``) and says whether, and after how long, another may be made.
:func:`count_attempts` lets a caller see the attempts made by everything it calls in this thread, successes
included (the operations journal records them per item).

The loops stay in the callers (transport, creates, Graph client) because each does something between attempts
(a token refresh after a 401, a look-up before a create is resent); the decisions all come from here. Written by
hand rather than on ``stamina`` or ``tenacity``: README's dependency section says why.
"""

from __future__ import annotations

import email.utils
import errno
import random
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Transport failures, by ConnectionFailed.kind.
NOT_SENT = frozenset({"refused", "connect", "connect-timeout", "pool-timeout"})
SENT = frozenset({"dropped", "read-timeout", "write-timeout", "other"})
NEVER_RETRIED = frozenset({"tls", "dns", "bad-url"})
OUTCOME_UNKNOWN = frozenset({"dropped", "read-timeout", "write-timeout"})  # sent; did it arrive? look it up
MAX_RETRY_AFTER = 86_400.0  # a day: anything beyond is a server's nonsense, reported as "wait a day"

_SECONDS = re.compile(r"\s*(\d{1,15})(?:\.(\d{1,9}))?\s*")
_DNS_TEXT = (
    "name or service not known",
    "nodename nor servname",
    "getaddrinfo failed",
    "temporary failure in name resolution",
    "no address associated",
    "name resolution",
)


# ---------------------------------------------------------------------------------------------------------
# Retry-After


def parse_retry_after(
    value: str | None,
    *,
    now: datetime | None = None,
    date: str | None = None,
    cap: float = MAX_RETRY_AFTER,
) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP date (IMF-fixdate, RFC 850 or
    asctime form). ``date`` is the answer's ``Date`` header: the wait is then the difference between the two
    server times, so a client clock that is off does not matter; otherwise it is measured against ``now`` (the
    current time). The result is clamped to ``[0, cap]``; None when the value is absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if not text or len(text) > 64:
        return None
    match = _SECONDS.fullmatch(text)
    if match:
        seconds = float(match.group(1) + "." + (match.group(2) or "0"))
        return min(cap, seconds)
    when = _http_date(text)
    if when is None:
        return None
    reference = _http_date(date) if date else None
    if reference is None:
        reference = now if now is not None else datetime.now(UTC)
        if reference.tzinfo is None:
            reference = reference.replace(tzinfo=UTC)
    seconds = (when - reference).total_seconds()
    return min(cap, max(0.0, seconds))


def _http_date(text: str | None) -> datetime | None:
    if not text or len(text) > 64:
        return None
    try:
        when = email.utils.parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:  # pragma: no cover - older Pythons returned None instead of raising
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)  # asctime has no zone: GMT


# ---------------------------------------------------------------------------------------------------------
# Transport failures


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen and len(seen) < 12:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def failure_kind(exc: BaseException) -> str:
    """The class of a transport failure: ``tls``, ``dns``, ``refused``, ``connect``, ``connect-timeout``,
    ``read-timeout``, ``write-timeout``, ``pool-timeout``, ``dropped``, ``bad-url`` or ``other``.

    By exception type: an ``ssl.SSLError`` anywhere in the chain is TLS (it can surface as httpx's ConnectError
    or ReadError), a ``socket.gaierror`` is DNS, ``ConnectionRefusedError``/ECONNREFUSED is refused. DNS also
    by the resolver's message, the only thing some platforms chain."""
    chain = _chain(exc)
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return "tls"
    if isinstance(exc, httpx.ConnectTimeout):
        return "connect-timeout"
    if isinstance(exc, httpx.ReadTimeout):
        return "read-timeout"
    if isinstance(exc, httpx.WriteTimeout):
        return "write-timeout"
    if isinstance(exc, httpx.PoolTimeout):
        return "pool-timeout"
    if any(isinstance(e, socket.gaierror) for e in chain):
        return "dns"
    if any(isinstance(e, ConnectionRefusedError) or getattr(e, "errno", None) == errno.ECONNREFUSED
           for e in chain):
        return "refused"
    text = " ".join(str(e) for e in chain).lower()
    if isinstance(exc, httpx.ConnectError):
        if any(s in text for s in _DNS_TEXT):
            return "dns"
        if "connection refused" in text or "errno 111" in text:
            return "refused"
        return "connect"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return "dropped"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return "bad-url"
    return "other"


# ---------------------------------------------------------------------------------------------------------
# The policy


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """What may be retried, how long to wait, and when to stop (see the module's documentation).

    ``max_retries`` retries make at most ``max_retries + 1`` attempts; ``budget_seconds`` bounds the time from
    the first attempt to the end of the last wait."""

    max_retries: int = 4
    budget_seconds: float = 60.0
    backoff_base: float = 0.5
    backoff_cap: float = 10.0
    max_retry_after: float = MAX_RETRY_AFTER
    retry_statuses: frozenset[int] = RETRY_STATUSES
    idempotent_methods: frozenset[str] = IDEMPOTENT_METHODS

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.budget_seconds < 0 or self.backoff_base < 0 or self.backoff_cap < 0:
            raise ValueError("retry limits and waits cannot be negative")

    # -- what may be repeated ---------------------------------------------------------------------------
    def is_idempotent(self, method: str, idempotent: bool | None = None) -> bool:
        """Whether sending ``method`` twice is harmless (``idempotent`` overrides the method's rule)."""
        return (method.upper() in self.idempotent_methods) if idempotent is None else bool(idempotent)

    def retries_failure(self, kind: str, method: str, idempotent: bool | None = None) -> bool:
        """Whether a transport failure of ``kind`` (see :func:`failure_kind`) is worth another attempt."""
        if kind in NEVER_RETRIED:
            return False
        if kind in NOT_SENT:
            return True  # never sent: safe for any method
        return self.is_idempotent(method, idempotent)

    def retries_status(self, status: int, method: str, idempotent: bool | None = None) -> bool:
        """Whether an HTTP answer with ``status`` is worth another attempt of this request."""
        return status in self.retry_statuses and self.is_idempotent(method, idempotent)

    def resend_after_lookup(self, status: int | None = None, kind: str | None = None) -> bool:
        """Whether a request this policy does not repeat by itself (a create) failed in a way that is worth
        checking and sending again: a retryable status (refused for now, or a gateway's answer after it may have
        forwarded the request), or a transport failure after it was sent (dropped, timed out), so that its
        outcome is unknown. The caller looks the resource up first, and sends again only when it is absent."""
        if status is not None and status in self.retry_statuses:
            return True
        return kind in OUTCOME_UNKNOWN

    # -- how long to wait -------------------------------------------------------------------------------
    def backoff(self, retry: int) -> float:
        """The jittered exponential wait before retry number ``retry`` (0 for the first)."""
        step: float = min(self.backoff_cap, self.backoff_base * 2.0 ** min(max(retry, 0), 32))
        return step * random.uniform(0.5, 1.0)

    def delay(self, retry: int, retry_after: float | None = None, status: int | None = None) -> float:
        """The wait before retry number ``retry``: the server's ``Retry-After`` (clamped) when given, spread by up
        to 10 % on a 429, else :meth:`backoff`."""
        if retry_after is None:
            return self.backoff(retry)
        wait = min(self.max_retry_after, max(0.0, retry_after))
        if status == 429:
            wait += random.uniform(0, 0.1 * max(wait, 0.5))
        return wait

    def retry_after(self, value: str | None, date: str | None = None) -> float | None:
        """:func:`parse_retry_after` with this policy's clamp."""
        return parse_retry_after(value, date=date, cap=self.max_retry_after)

    # -- one call ---------------------------------------------------------------------------------------
    def start(
        self, *, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> Attempts:
        """The attempt counter and budget of one call."""
        return Attempts(self, clock=clock, sleep=sleep)


DEFAULT_POLICY = RetryPolicy()


class Attempts:
    """One call's attempts under a :class:`RetryPolicy`.

    ``attempted()`` before each HTTP attempt (also a repeat that is not a retry, such as after a token
    refresh); ``next_wait()`` after a retryable failure says how long to wait, or None when the attempt limit
    or the time budget is reached; ``wait()`` waits and counts the retry."""

    __slots__ = ("_clock", "_sleep", "count", "policy", "retries", "started")

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._sleep = sleep
        self.started = clock()
        self.count = 0  # HTTP attempts made
        self.retries = 0  # waits taken

    def attempted(self) -> None:
        self.count += 1
        counter = _COUNTER.get()
        while counter is not None:
            counter.attempts += 1
            counter = counter.parent

    def next_wait(self, retry_after: float | None = None, status: int | None = None) -> float | None:
        if self.retries >= self.policy.max_retries:
            return None
        delay = self.policy.delay(self.retries, retry_after, status)
        if (self._clock() - self.started) + delay > self.policy.budget_seconds:
            return None
        return delay

    def wait(self, delay: float) -> None:
        self.retries += 1
        counter = _COUNTER.get()
        while counter is not None:
            counter.retries += 1
            counter = counter.parent
        if delay > 0:
            self._sleep(delay)


# ---------------------------------------------------------------------------------------------------------
# Counting attempts across calls


@dataclass
class AttemptCount:
    """HTTP attempts (and the retries among them) made in this thread while :func:`count_attempts` is open."""

    attempts: int = 0
    retries: int = 0
    parent: AttemptCount | None = field(default=None, repr=False)


_COUNTER: ContextVar[AttemptCount | None] = ContextVar("scim_client_attempts", default=None)


@contextmanager
def count_attempts() -> Iterator[AttemptCount]:
    """Count the HTTP attempts every policy-driven call makes in this thread (its context) inside the block,
    those that succeeded after retries included. Requests made by worker threads (concurrent paging) are not
    counted. Blocks nest: an inner count adds to the outer one."""
    counter = AttemptCount(parent=_COUNTER.get())
    token = _COUNTER.set(counter)
    try:
        yield counter
    finally:
        _COUNTER.reset(token)
