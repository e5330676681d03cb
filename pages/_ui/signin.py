"""Sign-in for shared deployments (``[auth]`` in the app's secrets: ``st.login`` and an operator allow-list) and
the operator's identity for the audit log (the signed-in e-mail, else the OS user)."""

from __future__ import annotations

import getpass
import logging
import os
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from console.i18n import _
from pages._ui.text import md_escape

log = logging.getLogger("console.app")


ENV_OPERATORS = "SCIM_CONSOLE_OPERATORS"


def _secrets_section(name: str) -> Any | None:
    try:
        if name in st.secrets:
            return st.secrets[name]
    except (StreamlitSecretNotFoundError, FileNotFoundError, KeyError):
        return None
    return None


def sign_in_required() -> bool:
    return _secrets_section("auth") is not None


def allowed_operators() -> set[str]:
    allowed = {e.strip().lower() for e in os.environ.get(ENV_OPERATORS, "").split(",") if e.strip()}
    configured = _secrets_section("operators")
    if configured is not None:
        emails = configured.get("emails", []) if hasattr(configured, "get") else configured
        allowed |= {str(e).strip().lower() for e in emails if str(e).strip()}
    return allowed


def require_sign_in() -> None:
    """With ``[auth]`` in secrets: sign in through st.login and check the allow-list; otherwise a no-op."""
    if not sign_in_required():
        return
    if not st.user.is_logged_in:
        st.title(_("SCIM operator console for 6clicks"))
        st.info(_("Sign in with your organisation account to continue."), icon=":material/login:")
        st.button(_("Sign in"), on_click=st.login, type="primary", icon=":material/login:")
        st.stop()
    email = str(st.user.get("email") or "").lower()
    allowed = allowed_operators()
    if not allowed or email not in allowed:
        text = (_("**{account} is not an operator of this console.** Ask an administrator to add the address to "
                  "`{variable}` or to `[operators] emails` in the app's secrets.") if email else
                _("**This account is not an operator of this console.** Ask an administrator to add the address to "
                  "`{variable}` or to `[operators] emails` in the app's secrets."))
        st.error(text.format(account=md_escape(email), variable=ENV_OPERATORS), icon=":material/block:")
        st.button(_("Sign out"), on_click=st.logout)
        st.stop()


def operator() -> str:
    """Who is operating (for the audit log): the signed-in e-mail, else the OS user."""
    try:
        if sign_in_required() and st.user.is_logged_in:
            return str(st.user.get("email") or "unknown")
    except Exception as exc:  # no session (CLI, tests): fall back to the OS user
        log.debug("operator: no signed-in user (%s)", type(exc).__name__)
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"
