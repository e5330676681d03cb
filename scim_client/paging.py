"""Index-based SCIM paging (``startIndex``/``count``), concurrent once the first page gives totalResults.

The plan covers indexes 1..totalResults in chunks of the page size the server actually honours. A page that
comes back shorter than asked is followed by a request for the rest of its chunk from the right startIndex, so
nothing is skipped whatever page size the server really uses. Items are put back in index order and
de-duplicated by id. If the directory changed while listing (totalResults moved, duplicates appeared, or the
count does not add up), the listing is repeated once to catch users that shifted between pages, and the
result says so.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import ProtocolError

log = logging.getLogger("scim_client")

T = TypeVar("T")


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
        )
    if not isinstance(data, dict):
        raise ProtocolError(
            f"the server did not answer in SCIM: HTTP {status} with a JSON {type(data).__name__} where a "
            "ListResponse object was expected",
            status=status,
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
        raise ProtocolError(
            f"the server did not answer in SCIM: HTTP {status} with a JSON object that is not a usable "
            f"ListResponse: no totalResults and no Resources (fields: "
            f"{', '.join(sorted(map(str, data))[:10]) or 'none'})",
            status=status,
        )
    items = [parse(r) for r in resources if isinstance(r, dict)]
    return items, total


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


def _key(item: Any) -> Any:
    return getattr(item, "id", None) or None


def _dedupe(pages: dict[int, list[Any]]) -> tuple[list[Any], int]:
    out: list[Any] = []
    seen: set[Any] = set()
    add = seen.add
    append = out.append
    dupes = 0
    for start in sorted(pages):
        for item in pages[start]:
            k = getattr(item, "id", None)
            if not k:
                append(item)
            elif k in seen:
                dupes += 1
            else:
                add(k)
                append(item)
    return out, dupes


def _one_pass(
    fetch: PageFetcher, page_size: int, workers: int, progress: Progress
) -> tuple[dict[int, list[Any]], set[int], int | None]:
    """One full listing. Returns pages by startIndex, every totalResults seen, and the last one."""
    first = fetch(1, page_size)
    pages: dict[int, list[Any]] = {1: first.items}
    totals: set[int] = set()
    done = len(first.items)
    if first.total is None:
        # No totalResults: walk page by page until an empty page.
        start = 1 + done
        while first.items:
            if progress:
                progress(done, None)
            page = fetch(start, page_size)
            if not page.items:
                break
            pages[start] = page.items
            done += len(page.items)
            start += len(page.items)
        if progress:
            progress(done, done)
        return pages, totals, None
    total = first.total
    totals.add(total)
    if progress:
        progress(min(done, total), total)
    if not first.items or done >= total:
        return pages, totals, total
    # The page size the server honours: what it gave us, if it gave fewer than asked.
    step = done if done < page_size else page_size
    scheduled_to = done  # indexes 1..scheduled_to are requested
    last_total = total
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="scim-page") as pool:
        pending: dict[Future[Page], tuple[int, int]] = {}
        finished: queue.SimpleQueue[Future[Page]] = queue.SimpleQueue()  # O(1) per completed page

        def submit(start: int, count: int) -> None:
            fut = pool.submit(fetch, start, count)
            pending[fut] = (start, count)
            fut.add_done_callback(finished.put)

        def schedule(up_to: int) -> None:
            nonlocal scheduled_to
            while scheduled_to < up_to:
                count = min(step, up_to - scheduled_to)
                submit(scheduled_to + 1, count)
                scheduled_to += count

        schedule(total)
        try:
            while pending:
                fut = finished.get()
                start, count = pending.pop(fut)
                page = fut.result()
                if page.total is not None:
                    totals.add(page.total)
                    last_total = page.total
                k = len(page.items)
                if k > count and start + count - 1 < scheduled_to:
                    # The server ignored count: the next chunk holds the rest; keep our share only.
                    page.items = page.items[:count]
                    k = count
                if k:
                    pages[start] = page.items
                    done += k
                if 0 < k < count:
                    # Short page: ask for the rest of this chunk from where it stopped.
                    submit(start + k, count - k)
                if page.total is not None and page.total > scheduled_to:
                    schedule(page.total)  # the directory grew: cover the new indexes
                if progress:
                    progress(done, max(last_total, done))
        except BaseException:
            for other in pending:
                other.cancel()
            raise
    return pages, totals, last_total


def list_all(fetch: PageFetcher, page_size: int, workers: int, progress: Progress = None) -> Outcome:
    pages, totals, total = _one_pass(fetch, page_size, workers, progress)
    items, dupes = _dedupe(pages)
    reasons = _change_reasons(totals, dupes, len(items), total)
    if not reasons:
        return Outcome(items, total if total is not None else len(items), False)
    log.warning("directory changed while listing (%s); listing again", "; ".join(reasons))
    pages2, totals2, total2 = _one_pass(fetch, page_size, workers, progress)
    items2, dupes2 = _dedupe(pages2)
    reasons2 = _change_reasons(totals2, dupes2, len(items2), total2)
    moved = len(totals) > 1 or dupes > 0
    moved2 = len(totals2) > 1 or dupes2 > 0
    if not moved and not moved2 and total == total2 and len(items) == len(items2):
        # Not a change: the server's count simply does not match what it returns, both times.
        return Outcome(
            items2,
            total2,
            False,
            [
                f"The server reported {total2} records but returned {len(items2)} (listed twice, same result)"
                + ("; the listing is incomplete." if total2 is not None and len(items2) < total2 else ".")
            ],
        )
    warnings = [
        f"The directory changed while it was being listed ({'; '.join(reasons)}); it was listed again."
    ]
    if not reasons2:
        warnings.append(f"The second listing was consistent: {len(items2)} records.")
        return Outcome(items2, total2, True, warnings)
    if not moved2:
        warnings.append(f"The second listing did not move: {'; '.join(reasons2)}.")
        return Outcome(items2, total2, True, warnings)
    # Still moving: merge both passes so that nothing seen is lost; later values win.
    merged: dict[Any, Any] = {}
    extra: list[Any] = []
    for item in items + items2:
        k = _key(item)
        if k is None:
            extra.append(item)
        else:
            merged[k] = item
    result = list(merged.values()) + extra
    warnings.append(
        f"It was still changing on the second listing ({'; '.join(reasons2)}); the result merges both "
        f"listings ({len(result)} records) and may include records deleted meanwhile. List again later."
    )
    return Outcome(result, total2, True, warnings)


def _change_reasons(totals: set[int], dupes: int, count: int, total: int | None) -> list[str]:
    reasons = []
    if len(totals) > 1:
        reasons.append(f"totalResults went from {min(totals)} to {max(totals)}")
    if dupes:
        reasons.append(f"{dupes} record(s) appeared on two pages")
    if total is not None and count != total and len(totals) <= 1:
        reasons.append(f"the server reported {total} records but returned {count}")
    return reasons


def iterate(fetch: PageFetcher, page_size: int) -> Iterator[Any]:
    """Page by page, lazily, without duplicates."""
    start = 1
    seen: set[Any] = set()
    while True:
        page = fetch(start, page_size)
        for item in page.items:
            k = _key(item)
            if k is not None:
                if k in seen:
                    continue
                seen.add(k)
            yield item
        if not page.items:
            return
        start += len(page.items)
        if page.total is not None and start > page.total:
            return
