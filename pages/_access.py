"""The access gate: the first thing every run does (``app.py``, and ``pages._ui.shell.run_page`` when a page runs alone).

Unless sign-in (``st.login``) is configured, a browser gets in only by presenting the local access secret
(``console/access.py``): ``?token=SECRET`` in the address, then a cookie that remembers the entry for 12 hours,
and a mark in the session. Anything else sees one page saying how to get in, and the run stops there: no
sidebar, no connection, no demo start, no directory, no widget that could act.

A browser's fresh entry does not draw the console: a small script sets the cookie and replaces the current
history entry with the address minus the secret (so neither the address bar nor the back button shows it),
and the reload is signed in by the cookie. Sessions without a browser (AppTest) drop the secret from
``st.query_params`` and carry on. A WebSocket opened from another origin (e.g. a page on another port of
127.0.0.1, to which the browser would attach the cookie: cookies ignore ports) is refused before anything else,
and a script on every run refuses to show the console inside another page's frame.

Session-state key: ``_access.grant`` holds an object of a private class (a browser can never set it: widget
values are never instances of it).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from typing import Any, NoReturn

import streamlit as st

from console import access
from console.errors import ConsoleError
from console.i18n import _, from_environment, normalise, use_language
from console.paths import data_dir
from pages._ui.errors import install_log_file
from pages._ui.signin import sign_in_required

log = logging.getLogger("console.access")

KEY_GRANT = "_access.grant"

_printed_lock = threading.Lock()
_printed: set[int] = set()


class _Grant:
    """What a granted session keeps: the fingerprint of the secret it was granted under."""

    __slots__ = ("mark",)

    def __init__(self, mark: str) -> None:
        self.mark = mark

    def __repr__(self) -> str:  # never the mark, in case session state is ever printed
        return "<access granted>"


def _headers() -> dict[str, str]:
    try:
        headers = st.context.headers
        return {k.lower(): v for k, v in (headers.to_dict() if headers is not None else {}).items()}
    except Exception:  # no client (bare mode): no headers
        return {}


def _cookies() -> dict[str, str]:
    try:
        cookies = st.context.cookies
        return dict(cookies.to_dict()) if cookies is not None else {}
    except Exception:
        return {}


def _log_to_app_log() -> None:
    """Refusals belong in the app log (``console-app.log``) even before anything else of the console runs."""
    try:
        install_log_file(data_dir())
    except OSError:
        pass


def _presented_token() -> str | None:
    """The ``token`` query parameter, if the address carries one (left in place: see ``require_access``)."""
    if access.TOKEN_PARAM not in st.query_params:
        return None
    value = st.query_params.get(access.TOKEN_PARAM)
    return value if isinstance(value, str) else ""


def _drop_token() -> None:
    if access.TOKEN_PARAM in st.query_params:
        del st.query_params[access.TOKEN_PARAM]


def require_access(pages: Any = None) -> None:
    """Stop the run with the way-in page unless this browser may use the console. ``pages``: app.py's
    navigation, registered hidden on the way-in page so any page address lands there without "page not found"."""
    _log_to_app_log()
    headers = _headers()
    origin, host = headers.get("origin"), headers.get("host")
    if sign_in_required():  # st.login and the operator allow-list guard the app
        if not access.same_origin(origin, host):
            _refuse("foreign-origin", host, pages)
        _frame_guard()
        return
    try:
        secret = access.ensure_secret()
    except ConsoleError as exc:
        log.error("access gate: %s", exc)
        _refuse("unusable", host, pages, error=exc)
    presented = _presented_token()
    grant = st.session_state.get(KEY_GRANT)
    mark = grant.mark if isinstance(grant, _Grant) else None
    name = access.cookie_name(host)
    decision = access.decide(secret, presented=presented, cookie=_cookies().get(name), session=mark,
                             origin=origin, host=host)
    if not decision.granted:
        st.session_state.pop(KEY_GRANT, None)
        _drop_token()
        if decision.via == "foreign-origin":
            log.warning("access refused: a page of another origin (%r) opened a session", origin)
        elif decision.via == "wrong-token":
            log.warning("access refused: the address carried an access secret that is not the current one")
        else:
            _print_url_once(secret)
        _refuse(decision.via, host, pages)
    signed_in_before = access.session_valid(secret, mark)
    if decision.via != "session":
        st.session_state[KEY_GRANT] = _Grant(access.session_mark(secret))
        log.info("access granted to a browser session (%s)", "access link" if decision.via == "token"
                 else "remembered browser")
    if decision.via == "token" and host and not signed_in_before:
        _open_cleanly(name, decision.set_cookie, pages)  # a browser's fresh entry: stops this run
    _drop_token()
    _frame_guard()


def _open_cleanly(cookie_name: str, cookie_value: str | None, pages: Any) -> NoReturn:
    """A browser just opened the access link. Changing ``st.query_params`` now would push a new history entry
    and leave the one with the secret behind, so instead: remember the entry in the cookie and replace the
    current history entry with the address minus the secret (a reload, now signed in by the cookie). Where the
    browser refuses the cookie, "Continue in this tab" carries on with this session only."""
    cookie = ""
    if cookie_value and access.cookie_valid_shape(cookie_name, cookie_value):
        cookie = (f"{cookie_name}={cookie_value}; Max-Age={access.REMEMBER_SECONDS}; Path=/; SameSite=Strict"
                  + ("; Secure" if _is_https() else ""))
    if pages is not None:
        st.navigation(pages, position="hidden")
    st.html(_ENTRY_SCRIPT.replace("__NOTE__", _framed_note()).replace("__COOKIE__", json.dumps(cookie))
            .replace("__NAME__", json.dumps(cookie_name)), unsafe_allow_javascript=True)
    st.title(_("SCIM operator console for 6clicks"))
    st.info(_("Opening the console…"), icon=":material/lock_open:")
    st.caption(_("If this page stays, your browser did not keep the console's cookie for 127.0.0.1: the console "
                 "then works in this tab only, and reloading needs the link again."))
    st.button(_("Continue in this tab"), key="_access.continue")
    st.stop()
    raise AssertionError("unreachable")  # st.stop raises


def _frame_guard() -> None:
    """Refuse to show the console inside another page's frame (Streamlit cannot send X-Frame-Options)."""
    st.html(_FRAME_SCRIPT.replace("__NOTE__", _framed_note()), unsafe_allow_javascript=True)


def _is_https() -> bool:
    return bool(st.get_option("server.sslCertFile"))


_FRAMED = """
  var framed = true;
  try { framed = window.top !== window.self; } catch (e) { framed = true; }
  if (framed) {
    var note = document.createElement("p");
    note.textContent = __NOTE__;
    document.body.replaceChildren(note);
    return;
  }"""


def _framed_note() -> str:
    """The framed page's note, in the run's language, as a JavaScript string (JSON: fixed text only)."""
    return json.dumps(_("The SCIM operator console does not run inside another page. Open it directly in its own "
                        "browser tab.")).replace("<", "\\u003c")


_FRAME_SCRIPT = "<script>\n(function () {" + _FRAMED + "\n})();\n</script>"

# Only fixed text and values checked against a strict shape (access.cookie_valid_shape) go into the script.
_ENTRY_SCRIPT = "<script>\n(function () {" + _FRAMED + """
  var cookie = __COOKIE__, name = __NAME__;
  if (!cookie) { return; }
  document.cookie = cookie;
  var kept = document.cookie.split("; ").some(function (c) { return c.indexOf(name + "=") === 0; });
  if (!kept) { return; }
  var url = new URL(window.location.href);
  url.searchParams.delete("token");
  window.location.replace(url.pathname + url.search + url.hash);
})();
</script>"""


def _refuse(reason: str, host: str | None, pages: Any, *, error: ConsoleError | None = None) -> NoReturn:
    """The way-in page, then stop: nothing else of the console is drawn or run."""
    if pages is not None:
        st.navigation(pages, position="hidden")  # registered, never run: any page address lands here
    port = access.port_of(host) or _configured_port()
    st.title(_("SCIM operator console for 6clicks"))
    if reason == "foreign-origin":
        st.error(_("**This console only answers its own pages.** It was opened from another web page, so nothing "
                   "is shown here. Open it directly in its own browser tab."), icon=":material/block:")
        st.stop()
    if reason == "unusable" and error is not None:
        st.error(_("**The console's access secret cannot be used.** Fix this in a terminal, then reload:"),
                 icon=":material/key_off:")
        st.code(f"{error.message}\n{error.remedy}".strip(), language=None, wrap_lines=True)
        st.stop()
    if reason == "wrong-token":
        st.warning(_("**The access link you opened is not the current one.** It may come from an earlier start, or "
                     "the access secret was renewed since. Get the current link as below."),
                   icon=":material/key_off:")
    st.info(_("**This console opens only with its access link.** When it starts, `python -m console app` prints a "
              "link such as `http://127.0.0.1:8501/?token=…` in its terminal; open that link in this browser. This "
              "browser then remembers the entry for 12 hours."), icon=":material/lock:")
    st.markdown(_("To print the link again, run this in a terminal on this machine, as the user who runs the "
                  "console (with the same `SCIM_CONSOLE_HOME`, if it was set):"))
    st.code(f"{access.ACCESS_URL_COMMAND} --port {port}", language="bash")
    st.caption(_("The link contains a secret: do not share it, paste it into tickets or show it on screen."))
    st.stop()
    raise AssertionError("unreachable")  # st.stop raises


def _configured_port() -> int:
    try:
        return int(st.get_option("server.port"))
    except (TypeError, ValueError):
        return access.DEFAULT_PORT


def _terminal_language() -> str | None:
    """The language of the terminal the app runs in, as ``python -m console`` decides it: ``SCIM_CONSOLE_LANG``,
    else the locale of ``LC_ALL``/``LC_MESSAGES``/``LANG`` (the first one set)."""
    locales = [os.environ.get(name) for name in ("LC_ALL", "LC_MESSAGES", "LANG")]
    return from_environment() or next((normalise(v) for v in locales if v), None)


def _print_url_once(secret: str) -> None:
    """``streamlit run app.py`` has no start-up hook: the first time a browser arrives without access, print
    the link to the terminal the app runs in (only a terminal: never into a redirected log file)."""
    if os.environ.get(access.ENV_URL_PRINTED):
        return
    port = _configured_port()
    with _printed_lock:
        if port in _printed:
            return
        _printed.add(port)
    stream = sys.stdout
    try:
        if not stream.isatty():
            return
        with use_language(_terminal_language()):  # the terminal's language, as the command line's
            intro = _("SCIM operator console: open this link to enter (it contains the access secret):")
        stream.write(f"\n  {intro}\n  {access.access_url(secret, port)}\n\n")
        stream.flush()
    except (OSError, ValueError):
        return
