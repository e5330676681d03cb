"""Index-based SCIM paging (``startIndex``/``count``) that never trusts ``totalResults``.

The first page gives ``totalResults`` and the page size the server honours. The indexes up to the announced
total are then requested in chunks of that size through a sliding window: at most ``workers`` requests in
flight and at most ``4 * workers`` pages fetched ahead of the one being delivered, whatever the total says.
A page shorter than its chunk is followed by a request for the rest of the chunk from the right startIndex, so
nothing is skipped whatever page size the server really uses. Pages are delivered in index order and
de-duplicated by id (records without an id are left out and counted).

An empty page before the announced end means the records end there: nothing beyond it is requested. A server
whose answers cannot describe one directory is stopped with a :class:`PagingError` (a ``ProtocolError``):

- it announces more records than a listing accepts (``Limits.max_results``), or so many for the page size it
  serves that the listing would take more than ``Limits.max_requests`` requests;
- its pages end (an empty page) far before the announced total, with the total steady;
- a page beyond such an empty page is not empty, with the total steady;
- page after page brings only records already listed (or records without an id);
- its ``totalResults`` more than doubles during one listing.

:class:`PageStream` is one pass, page by page, for callers that build their own (e.g. columnar) result with
bounded memory; :func:`list_all` collects a pass and, if the directory changed while listing (totalResults
moved, duplicates appeared, or the count does not add up), lists once more to catch records that shifted
between pages, and says so.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .errors import ProtocolError

log = logging.getLogger("scim_client")

T = TypeVar("T")

#: the most records one listing accepts, and the most requests one pass may make (ScimClient's defaults)
MAX_RESULTS = 1_000_000
MAX_REQUESTS = 200_000


class PagingError(ProtocolError):
    """The server's paging cannot describe one directory: it announces more than it serves, or repeats itself.

    Nothing from the listing is returned (so nothing partial is stored from it)."""

    default_remedy = (
        "The service provider's paging is broken (a defect on its side): nothing from this listing was kept, "
        "and no snapshot is stored from it. Report it to the service provider with the time of the listing and "
        "this message, and try again later."
    )


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds of one listing, whatever the server announces."""

    max_results: int = MAX_RESULTS
    max_requests: int = MAX_REQUESTS


@dataclass(slots=True)
class Page:
    items: list[Any]
    total: int | None


# get_page(start_index, count) -> Page (items already parsed)
PageFetcher = Callable[[int, int], Page]
Progress = Callable[[int, int | None], None] | None


def read_list_response(
    data: Any, status: int, parse: Callable[[dict[str, Any]], T]
) -> tuple[list[T], int | None]:
    """Items and totalResults from a ListResponse, tolerant of casing and a missing/empty Resources."""
    if data is None:
        raise ProtocolError(
            f"the server did not answer in SCIM: HTTP {status} with an empty body where a ListResponse was "
            "expected",
            status=status,
            code="list-empty",
            params={"status": status},
        )
    if not isinstance(data, dict):
        raise ProtocolError(
            f"the server did not answer in SCIM: HTTP {status} with a JSON {type(data).__name__} where a "
            "ListResponse object was expected",
            status=status,
            code="list-not-object",
            params={"status": status, "type": type(data).__name__},
        )
    resources = data.get("Resources")
    total = data.get("totalResults")
    if resources is None or total is None:
        for k, v in data.items():
            low = k.lower() if isinstance(k, str) else k
            if resources is None and low == "resources":
                resources = v
            elif total is None and low == "totalresults":
                total = v
    no_resources = resources is None
    if resources is None:
        resources = []
    if not isinstance(resources, list):
        raise ProtocolError(
            f"the server did not answer in SCIM: HTTP {status}, 'Resources' is a {type(resources).__name__}, "
            "not a list",
            status=status,
            code="list-resources-not-list",
            params={"status": status, "type": type(resources).__name__},
        )
    if total is not None:
        try:
            total = int(total)
        except (TypeError, ValueError):
            total = None
    if (
        total is None
        and no_resources
        and not any(isinstance(k, str) and k.lower() in ("itemsperpage", "startindex") for k in data)
    ):
        # Neither a count nor items nor paging fields: not an (empty) page, whatever its "schemas" claim.
        # Reading it as "no more users" would make a whole directory look deleted.
        fields = ", ".join(sorted(map(str, data))[:10]) or "none"
        raise ProtocolError(
            f"the server did not answer in SCIM: HTTP {status} with a JSON object that is not a usable "
            f"ListResponse: no totalResults and no Resources (fields: {fields})",
            status=status,
            code="list-unusable",
            params={"status": status, "fields": fields},
        )
    items = [parse(r) for r in resources if isinstance(r, dict)]
    return items, total


class PageStream(Generic[T]):
    """One listing pass: iterate to get its pages (lists of records) in index order, without duplicates.

    Memory is bounded by the window (``4 * workers`` pages) plus the set of ids seen, whatever
    ``totalResults`` says. After the iteration ends: ``total_results`` (the last one announced, None when the
    server gives none), ``count`` (records yielded), ``requests``, ``duplicates``, ``without_id``,
    ``change_reasons`` (why this pass may not be a consistent picture: empty when it is), ``moved``,
    ``complete`` and ``warnings``. Raises the first page's ScimError, or :class:`PagingError`. Iterate once.
    """

    def __init__(self, fetch: PageFetcher, page_size: int, workers: int, progress: Progress = None, *,
                 limits: Limits | None = None, what: str = "records") -> None:
        self._fetch = fetch
        self._page_size = max(1, int(page_size))
        self._workers = max(1, int(workers))
        self._progress = progress
        self._limits = limits or Limits()
        self.what = what
        self.total_results: int | None = None
        self.totals: set[int] = set()
        self.count = 0
        self.received = 0
        self.requests = 0
        self.duplicates = 0
        self.without_id = 0
        self.finished = False
        self._first_total: int | None = None
        self._seen: set[Any] = set()
        self._fresh_pages = 0
        self._stale_pages = 0
        self._extra_reasons: list[str] = []
        self._started = False

    # -- results -------------------------------------------------------------------------------------------
    @property
    def moved(self) -> bool:
        """totalResults changed, a record came twice, or records appeared after an empty page."""
        return len(self.totals) > 1 or self.duplicates > 0 or bool(self._extra_reasons)

    @property
    def change_reasons(self) -> list[str]:
        reasons = []
        if len(self.totals) > 1:
            reasons.append(f"totalResults went from {min(self.totals)} to {max(self.totals)}")
        if self.duplicates:
            reasons.append(f"{self.duplicates} record(s) appeared on two pages")
        reasons += self._extra_reasons
        total = self.total_results
        if total is not None and self.count != total and len(self.totals) <= 1:
            reasons.append(f"the server reported {total} records but returned {self.count}")
        return reasons

    @property
    def complete(self) -> bool:
        """False when the server announced more records than this pass returned."""
        return self.total_results is None or self.count >= self.total_results

    @property
    def warnings(self) -> list[str]:
        out = []
        if self.without_id:
            out.append(f"The server returned {self.without_id} {self.what} record(s) without an id; they were left "
                       "out (SCIM requires an id on every resource).")
        total = self.total_results
        if total is not None and len(self.totals) <= 1 and self.count > total:
            out.append(f"The server announced {total:,} {self.what} (totalResults) but returned {self.count:,} "
                       f"distinct ones, more than it announced (it may also ignore the page size asked for): all "
                       f"{self.count:,} were kept; check the count in 6clicks.")
        return out

    # -- the pass ------------------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[list[T]]:
        if self._started:
            raise RuntimeError("a PageStream is one pass: make a new one to list again")
        self._started = True
        return self._run()

    def _fail(self, message: str, remedy: str | None = None, *, code: str = "",
              **params: Any) -> PagingError:
        """A PagingError; ``code`` and ``params`` (``what`` added) word it again in another language."""
        return PagingError(f"listing {self.what}: {message}", remedy=remedy, code=code,
                           params={"what": self.what, **params})

    def _note_total(self, total: int | None) -> None:
        if total is None:
            return
        lim = self._limits
        if total > lim.max_results:
            raise self._fail(
                f"the server announced {total:,} {self.what} (totalResults), more than the {lim.max_results:,} a "
                "listing accepts",
                remedy="Such a count is not plausible for this directory: the service provider reports a wrong "
                "totalResults (a defect on its side). Nothing from this listing was kept and no snapshot is "
                "stored from it; report it to the service provider with the time of the listing.",
                code="paging-implausible-total", total=total, most=lim.max_results,
            )
        if self._first_total is None:
            self._first_total = total
        elif total > 2 * self._first_total + 1000:
            raise self._fail(
                f"the server's totalResults kept growing during one listing, from {self._first_total:,} to "
                f"{total:,}: it announces more {self.what} than it serves",
                code="paging-total-grows", first=self._first_total, total=total)
        self.totals.add(total)
        self.total_results = total

    def _take(self, items: list[Any]) -> list[Any]:
        """The records of a page not seen yet in this pass; counts the rest; checks the limits."""
        out: list[Any] = []
        seen = self._seen
        for item in items:
            key = getattr(item, "id", None)
            if not key:
                self.without_id += 1
            elif key in seen:
                self.duplicates += 1
            else:
                seen.add(key)
                out.append(item)
        self.count += len(out)
        if self.count > self._limits.max_results:
            raise self._fail(f"the server served more than {self._limits.max_results:,} {self.what}, the most a "
                             "listing accepts", code="paging-too-many", most=self._limits.max_results)
        if items:
            if out:
                self._fresh_pages += 1
            else:
                self._stale_pages += 1
                if self._stale_pages > 2 * self._workers + 8 and self._stale_pages > self._fresh_pages:
                    raise self._fail(
                        f"{self._stale_pages:,} pages brought only {self.what} already listed (or without an id), "
                        f"against {self._fresh_pages:,} with new ones: the server repeats its pages instead of "
                        "serving the announced ones", code="paging-repeats", stale=self._stale_pages,
                        fresh=self._fresh_pages)
        return out

    def _count_request(self) -> None:
        self.requests += 1
        if self.requests > self._limits.max_requests:
            raise self._fail(f"more than {self._limits.max_requests:,} requests were needed to list "
                             f"{self.total_results if self.total_results is not None else 'the'} {self.what}",
                             code="paging-requests", most=self._limits.max_requests, total=self.total_results)

    def _report(self, total: int | None) -> None:
        if self._progress:
            self._progress(self.received, total)

    def _run(self) -> Iterator[list[Any]]:
        try:
            yield from self._pass()
        finally:
            self._seen = set()  # only needed during the pass

    def _pass(self) -> Iterator[list[Any]]:
        size = self._page_size
        self._count_request()
        first = self._fetch(1, size)
        self._note_total(first.total)
        total = first.total
        got = len(first.items)
        self.received = got
        step = min(got, size)
        if total is not None and got and got < total:
            needed = -(-(total - got) // step)
            if self.requests + needed > self._limits.max_requests:
                raise self._fail(
                    f"the server announced {total:,} {self.what} but serves {step} per page: listing them would "
                    f"take {needed:,} requests, more than the {self._limits.max_requests:,} a listing may make",
                    code="paging-page-too-small", total=total, step=step, needed=needed,
                    most=self._limits.max_requests)
        if total is not None and not got and total > 1000:
            raise self._fail(f"the server announced {total:,} {self.what} but its first page is empty",
                             code="paging-first-empty", total=total)
        out = self._take(first.items)
        del first  # a first page of large groups can be tens of MB: do not keep it for the whole pass
        if total is not None:
            self._report(max(total, got))
        if out:
            yield out
        del out
        if total is None:
            yield from self._walk(1 + got, bool(got))
        elif got and got < total:
            yield from self._window(total, step, 1 + got)
        self.finished = True

    def _walk(self, start: int, more: bool) -> Iterator[list[Any]]:
        """No totalResults: page by page until an empty page."""
        size = self._page_size
        while more:
            self._report(None)
            self._count_request()
            page = self._fetch(start, size)
            if page.total is not None and page.total > self._limits.max_results:
                self._note_total(page.total)
            if not page.items:
                break
            self.received += len(page.items)
            out = self._take(page.items)
            if out:
                yield out
            start += len(page.items)
        self._report(self.received)

    def _window(self, planned_end: int, step: int, cursor: int) -> Iterator[list[Any]]:
        """The indexes from ``cursor`` to the announced end, ``workers`` requests at a time, in index order."""
        workers = self._workers
        ahead = 4 * workers  # 2x was measured slower at 50 ms latency: a slow page stalled the window
        next_start = cursor
        end_at: int | None = None  # startIndex of an empty page: the records end before it
        beyond: int | None = None  # startIndex of a non-empty page past end_at
        ready: dict[int, list[Any]] = {}  # fetched, waiting for the pages before them
        pending: dict[Future[Page], tuple[int, int]] = {}
        finished: queue.SimpleQueue[Future[Page]] = queue.SimpleQueue()
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scim-page")

        def submit(start: int, count: int) -> None:
            self._count_request()
            fut = pool.submit(self._fetch, start, count)
            pending[fut] = (start, count)
            fut.add_done_callback(finished.put)

        try:
            while True:
                while end_at is None and next_start <= planned_end and (
                        len(pending) + len(ready) < ahead or not pending):
                    count = min(step, planned_end - next_start + 1)
                    submit(next_start, count)
                    next_start += count
                while ready:
                    first = min(ready)
                    if first > cursor:
                        break
                    items = ready.pop(first)
                    cursor = max(cursor, first + len(items))
                    out = self._take(items)
                    if out:
                        yield out
                if not pending:
                    if end_at is None and next_start <= planned_end:
                        continue  # delivering made room: schedule the next pages
                    break
                fut = finished.get()
                start, count = pending.pop(fut)
                page = fut.result()  # the page's ScimError stops the listing
                if page.total is not None:
                    self._note_total(page.total)
                    planned_end = max(planned_end, page.total)
                items = page.items
                k = len(items)
                self.received += k
                self._report(max(self.total_results or 0, self.received))
                if k == 0:
                    if end_at is None or start < end_at:
                        end_at = start
                        for s in [s for s in ready if s >= start]:
                            beyond = s if beyond is None else min(beyond, s)
                            del ready[s]
                    continue
                if end_at is not None and start >= end_at:
                    beyond = start if beyond is None else min(beyond, start)
                    continue
                if k > count and start + count - 1 < planned_end:
                    items = items[:count]  # the server ignored count: the next chunks hold the rest
                    k = count
                ready[start] = items
                if k < count and (end_at is None or start + k < end_at):
                    submit(start + k, count - k)  # short page: the rest of this chunk
        finally:
            for fut in pending:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
        if ready:  # pages that nothing before them reached: past the end of the records
            beyond = min(ready) if beyond is None else min(beyond, *ready)
        total = self.total_results
        if beyond is not None:
            if len(self.totals) <= 1:
                where = f"an empty page at startIndex {end_at:,}" if end_at is not None else "a gap in its pages"
                raise self._fail(
                    f"the server returned {where} and then {self.what} at startIndex {beyond:,}, while announcing "
                    f"{f'{total:,}' if total is not None else 'no total'}: its pages contradict each other",
                    code="paging-contradicts", end_at=end_at, beyond=beyond, total=total)
            self._extra_reasons.append(f"{self.what} appeared after an empty page")
        if end_at is not None and total is not None and len(self.totals) <= 1 \
                and total - self.count > max(self.count, 1000):
            raise self._fail(
                f"the server announced {total:,} {self.what} but its pages ended after {self.count:,} (an empty "
                f"page at startIndex {end_at:,})", code="paging-ended-early", total=total, count=self.count,
                end_at=end_at)


@dataclass(slots=True)
class Outcome:
    items: list[Any]
    total: int | None
    changed: bool
    warnings: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """False when the server announced more records than it returned (the listing has gaps)."""
        return self.total is None or len(self.items) >= self.total


def _collect(stream: PageStream[Any]) -> list[Any]:
    items: list[Any] = []
    for page in stream:
        items.extend(page)
    return items


def list_all(fetch: PageFetcher, page_size: int, workers: int, progress: Progress = None, *,
             limits: Limits | None = None, what: str = "records") -> Outcome:
    """Every record: one pass, and a second one if the directory changed during the first (see the module)."""

    def one_pass() -> tuple[PageStream[Any], list[Any]]:
        stream: PageStream[Any] = PageStream(fetch, page_size, workers, progress, limits=limits, what=what)
        return stream, _collect(stream)

    first, items = one_pass()
    reasons = first.change_reasons
    total = first.total_results
    if not reasons:
        return Outcome(items, total if total is not None else len(items), False, first.warnings)
    log.warning("directory changed while listing (%s); listing again", "; ".join(reasons))
    second, items2 = one_pass()
    reasons2 = second.change_reasons
    total2 = second.total_results
    if not first.moved and not second.moved and total == total2 and len(items) == len(items2):
        # Not a change: the server's count simply does not match what it returns, both times.
        return Outcome(
            items2,
            total2,
            False,
            [
                f"The server reported {total2} records but returned {len(items2)} (listed twice, same result)"
                + ("; the listing is incomplete." if total2 is not None and len(items2) < total2 else "."),
                *second.warnings,
            ],
        )
    warnings = [
        f"The directory changed while it was being listed ({'; '.join(reasons)}); it was listed again."
    ]
    if not reasons2:
        warnings.append(f"The second listing was consistent: {len(items2)} records.")
        return Outcome(items2, total2, True, warnings + second.warnings)
    if not second.moved:
        warnings.append(f"The second listing did not move: {'; '.join(reasons2)}.")
        return Outcome(items2, total2, True, warnings + second.warnings)
    # Still moving: merge both passes so that nothing seen is lost; later values win.
    merged: dict[Any, Any] = {}
    for item in items + items2:
        merged[item.id] = item
    result = list(merged.values())
    warnings.append(
        f"It was still changing on the second listing ({'; '.join(reasons2)}); the result merges both "
        f"listings ({len(result)} records) and may include records deleted meanwhile. List again later."
    )
    return Outcome(result, total2, True, warnings + second.warnings)


def iterate(fetch: PageFetcher, page_size: int, *, limits: Limits | None = None,
            what: str = "records") -> Iterator[Any]:
    """Page by page, lazily, without duplicates: one request at a time, for early exits. Stops at an empty
    page or at the announced end; the same checks as a listing for repeated pages and the limits."""
    stream: PageStream[Any] = PageStream(fetch, page_size, 1, None, limits=limits, what=what)
    start = 1
    while True:
        stream._count_request()
        page = fetch(start, page_size)
        if page.total is not None and page.total > stream._limits.max_results:
            stream._note_total(page.total)
        stream.received += len(page.items)
        yield from stream._take(page.items)
        if not page.items:
            return
        start += len(page.items)
        if page.total is not None and start > page.total:
            return
