"""Long work off the script thread, its progress mirrored on an ``st.progress`` bar."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from streamlit.delta_generator import DeltaGenerator

from console.i18n import _, fmt_number

T = TypeVar("T")


def run_with_progress(work: Callable[[Callable[[str, float], None]], T], bar: DeltaGenerator) -> T:
    """Run ``work(report)`` in a worker thread and mirror its ``report(text, fraction)`` calls on ``bar``
    (an ``st.progress``) from the script thread: the core reports from its own threads, which cannot touch
    Streamlit elements. Re-raises the worker's exception. The worker runs in a copy of this thread's context, so
    what it says (progress texts, errors) is in the run's language (``console.i18n`` keeps it in a context
    variable)."""
    state: dict[str, Any] = {"text": "", "fraction": 0.0}
    outcome: dict[str, T] = {}
    failure: list[BaseException] = []

    def report(text: str, fraction: float) -> None:
        state["text"], state["fraction"] = text, min(max(float(fraction), 0.0), 1.0)

    def target() -> None:
        try:
            outcome["result"] = work(report)
        except BaseException as exc:  # handed to the script thread
            failure.append(exc)

    # the worker runs in a copy of this run's context: it speaks the run's language (console.i18n)
    worker = threading.Thread(target=contextvars.copy_context().run, args=(target,), name="console-ui-work",
                              daemon=True)
    worker.start()
    shown: tuple[str, float] | None = None
    while worker.is_alive():
        worker.join(0.2)
        current = (str(state["text"]), round(float(state["fraction"]), 3))
        if current != shown and current[0]:
            bar.progress(current[1], text=current[0])
            shown = current
    if failure:
        raise failure[0]
    return outcome["result"]


def count_progress(bar: DeltaGenerator, verb: str) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback showing "<verb>: 12 of 40" ("<verb>: 12 / 40 件") on ``bar``; ``verb``
    is marked with ``N_`` (or already translated) by the caller and translated here, in the script's thread."""
    template = _("{verb}: {done} of {total}")  # translated here: the core may report from its own threads
    words = _(verb)

    def report(done: int, total: int) -> None:
        bar.progress(done / total if total else 1.0,
                     text=template.format(verb=words, done=fmt_number(done), total=fmt_number(total)))

    return report
