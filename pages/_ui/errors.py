"""Errors on a page: the error panel (``show_error``), the guard around a page body or panel (``guard``) and the
app's log file (``<SCIM_CONSOLE_HOME>/console-app.log``, secrets redacted by ``console.redact``).

One error family reaches the operator: ``console.errors.console_error`` turns the SCIM client's errors into
``ConsoleError`` (message, remedy, status, permission). Anything else is a bug: its traceback goes to the log
file and the page says "unexpected error" with the log file's path, never a traceback."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from logging.handlers import RotatingFileHandler
from pathlib import Path

import streamlit as st

from console.errors import console_error
from console.i18n import _
from console.paths import data_dir
from console.redact import redact as core_redact
from console.redact import redacting_handler
from pages._ui.text import md_escape

log = logging.getLogger("console.app")


LOG_FILE = "console-app.log"


def redact(text: str) -> str:
    """Secrets out of a text shown on a page or logged (the console core's one implementation)."""
    return core_redact(text)


def install_log_file(directory: Path) -> None:
    """Send the console's log records to the log file in ``directory`` (once per process and file)."""
    path = Path(directory) / LOG_FILE
    root = logging.getLogger("console")
    if any(isinstance(h, RotatingFileHandler) and Path(h.baseFilename) == path for h in root.handlers):
        return
    try:
        handler = RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    except OSError:
        return
    root.addHandler(redacting_handler(handler, "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)


def log_path() -> Path:
    """The app's log file, named on the page when an unexpected error happened."""
    return data_dir() / LOG_FILE


def show_error(exc: BaseException, *, what: str | None = None) -> None:
    """st.error with the message and remedy of the console's error family; never a traceback. Anything outside
    that family is a bug (its traceback is logged by ``guard`` / ``log_exception``): "unexpected error", with the
    log file's path. ``what`` is what the page was doing ("fetching the directory"): marked with ``N_`` (or
    already translated) by the caller, translated here."""
    # messages may carry a server's words (a SCIM error detail, a record's reason): shown as text, redacted first
    error = console_error(exc)
    if error is not None:
        body = f"**{md_escape(redact(error.message), limit=2000)}**"
        if error.remedy:
            body += "\n\n" + md_escape(redact(error.remedy), limit=2000, multiline=True)
    else:
        fields = {"name": type(exc).__name__, "log": md_escape(str(log_path()))}
        if what:
            body = _("**Unexpected error while {what}: {name}.** Something went wrong in the console itself; see the "
                     "log file {log}. Try again; if it keeps happening, send that file to your administrator (it "
                     "never contains secrets).").format(what=md_escape(_(what)), **fields)
        else:
            body = _("**Unexpected error: {name}.** Something went wrong in the console itself; see the log file "
                     "{log}. Try again; if it keeps happening, send that file to your administrator (it never "
                     "contains secrets).").format(**fields)
    st.error(body, icon=":material/error:")


def error_text(exc: BaseException) -> str:
    """``exc`` in one line of plain text for a message that quotes it (not yet escaped): the console error's
    message and remedy, or "unexpected error" with the log file's path for a bug."""
    error = console_error(exc)
    if error is not None:
        return redact(str(error))
    return _("unexpected error ({name}); see the log file {log}.").format(name=type(exc).__name__, log=log_path())


def log_exception(exc: BaseException) -> None:
    """The traceback of ``exc`` into the log file (redacted)."""
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    log.error("page error: %s", redact(detail))


@contextmanager
def guard(what: str | None = None) -> Iterator[None]:
    """Wrap a page body (or a panel): unexpected exceptions become st.error with a remedy and a log entry."""
    try:
        yield
    except Exception as exc:  # Streamlit's stop/rerun/switch_page are BaseExceptions and pass through
        log_exception(exc)
        show_error(exc, what=what)
