"""The language of each run: ``SCIM_CONSOLE_LANG`` when set (it forces the language), else the operator's choice
in the sidebar (remembered per operator, ``console.preferences``), else the browser's language
(``st.context.locale``), else English. ``apply_language`` runs first on every run (app.py, and ``render_shell``
in the legacy pages mode), so page titles, navigation and every message are in the same language."""

from __future__ import annotations

import logging

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from console.errors import ConsoleError
from console.i18n import DEFAULT, LANGUAGES, _, from_environment, normalise, set_fallback, set_language
from console.preferences import operator_language, remember_language
from pages._ui.session import context
from pages._ui.signin import operator
from pages._ui.text import md_escape

log = logging.getLogger("console.app")

KEY_LANGUAGE = "ui.language"        # the language this session uses (survives page changes)
KEY_PICKER = "sidebar.language"     # the sidebar's picker


def _session_language() -> str | None:
    """The session's language, for code that runs before ``apply_language`` (widget callbacks)."""
    if get_script_run_ctx(suppress_warning=True) is None:
        return None
    try:
        return normalise(st.session_state.get(KEY_LANGUAGE))
    except Exception:  # no session
        return None


set_fallback(_session_language)


def browser_language() -> str | None:
    try:
        return normalise(st.context.locale)
    except Exception:  # no browser session (bare mode)
        return None


def _remembered() -> str | None:
    try:
        return operator_language(context(), operator())
    except Exception as exc:  # an unreadable store: the browser's language (the store's error shows elsewhere)
        log.warning("language: the operator's choice could not be read (%s)", type(exc).__name__)
        return None


def apply_language() -> str:
    """Decide this run's language and set it for everything the run says."""
    forced = from_environment()
    if forced:
        return set_language(forced)
    chosen = normalise(st.session_state.get(KEY_LANGUAGE))
    if chosen is None:
        chosen = _remembered() or browser_language() or DEFAULT
        st.session_state[KEY_LANGUAGE] = chosen
    return set_language(chosen)


def _picked() -> None:
    code = normalise(st.session_state.get(KEY_PICKER)) or DEFAULT
    st.session_state[KEY_LANGUAGE] = code
    try:
        remember_language(context(), operator(), code)
    except ConsoleError as exc:
        log.warning("language: the choice could not be remembered (%s)", exc.message)


def language_picker() -> None:
    """The sidebar's picker (English / 日本語); disabled, and says why, when ``SCIM_CONSOLE_LANG`` forces it."""
    forced = from_environment()
    current = forced or normalise(st.session_state.get(KEY_LANGUAGE)) or DEFAULT
    st.session_state[KEY_PICKER] = current
    codes = list(LANGUAGES)
    st.selectbox("Language · 言語", codes, key=KEY_PICKER, format_func=lambda c: LANGUAGES[c],
                 on_change=_picked, disabled=bool(forced),
                 help=_("Set by SCIM_CONSOLE_LANG on the server.") if forced
                 else _("Remembered for you ({operator}) on this console.").format(operator=md_escape(operator())))
