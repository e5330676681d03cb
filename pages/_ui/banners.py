"""The token badge and the banners above every page: the token's days left (coloured by reminder level), the
token banner once a reminder threshold is reached or the token is unusable, the keyring banner when the selected
connection's secrets cannot be read, and the DEMO label."""

from __future__ import annotations

import logging
import os
from typing import Literal

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from console.connections import Connection
from console.credentials import ENV_PASSPHRASE
from console.errors import ConsoleError
from console.i18n import _, fmt_number, ngettext
from console.setup import connection_health
from console.tokens.service import TokenService
from console.tokens.status import TokenStatus
from pages._ui.session import context
from pages._ui.text import md_escape

log = logging.getLogger("console.app")

BadgeColour = Literal["red", "orange", "yellow", "blue", "green", "violet", "gray"]


LEVEL_COLOURS: dict[str, BadgeColour] = {"ok": "green", "notice": "blue", "warning": "orange", "critical": "red", "expired": "red",
                 "rejected": "red", "missing": "gray"}


LEVEL_ICONS = {"ok": ":material/verified:", "notice": ":material/schedule:", "warning": ":material/warning:",
               "critical": ":material/error:", "expired": ":material/block:", "rejected": ":material/block:",
               "missing": ":material/key_off:"}


def token_service() -> TokenService:
    return TokenService(context())


def token_status(conn: Connection) -> TokenStatus | None:
    """``TokenStatus`` for ``conn`` or None when the credential store cannot be read (shown by the caller)."""
    try:
        return token_service().status(conn.name)
    except ConsoleError as exc:
        log.warning("token status for %s: %s", conn.name, exc)
        return None


def token_label(status: TokenStatus | None) -> str:
    if status is None:
        return _("Token: unknown")
    level = status.level
    if level == "missing":
        return _("No token")
    if level == "rejected":
        return _("Token rejected")
    if level == "expired":
        return _("Token expired")
    days = status.days_left
    if days is None:
        return _("Token: expiry unknown")
    approx = "≈" if getattr(status, "estimated", False) else ""
    return ngettext("Token: {approx}{n} day left", "Token: {approx}{n} days left", days).format(
        approx=approx, n=fmt_number(days))


def token_badge(status: TokenStatus | None, *, where: DeltaGenerator | None = None) -> None:
    target = where or st
    level = status.level if status is not None else "missing"
    target.badge(token_label(status), color=LEVEL_COLOURS.get(level, "gray"),
                 icon=LEVEL_ICONS.get(level), help=(md_escape(status.message) if status is not None else None))


def token_banner(conn: Connection, status: TokenStatus | None) -> None:
    """A banner on every page once a reminder threshold is reached, or when the token is unusable."""
    if status is None or status.level in ("ok",):
        return
    text = f"**{md_escape(conn.name)}: {md_escape(status.message, limit=1000)}**"
    if status.remedy:
        text += " " + md_escape(status.remedy, limit=1000)
    if status.level in ("critical", "expired", "rejected"):
        st.error(text, icon=":material/key_off:")
    elif status.level == "missing":
        health = connection_health(context(), conn, deep=True)  # the one exact next step (key, or Generate)
        st.warning(_("**{name} is incomplete: it has no token yet.** {next_step}").format(
            name=md_escape(conn.name), next_step=md_escape(health.next_step, limit=1000)), icon=":material/key_off:")
    elif status.level == "warning":
        st.warning(text, icon=":material/warning:")
    else:
        st.info(text, icon=":material/schedule:")


def keyring_banner(conn: Connection | None) -> None:
    """When the selected (non-demo) connection's secrets cannot be read: say why and what to do."""
    if conn is None or getattr(conn, "is_demo", False):
        return
    info = context().credentials.backend_info()
    if not info.secure:
        st.error(_("**The secrets of {name} cannot be read: {why}.** Token tests, refreshes and rotations need "
                   "them. {remedy}").format(name=md_escape(conn.name), why=md_escape(info.label),
                                            remedy=md_escape(info.remedy, limit=1000)),
                 icon=":material/key_off:")
    elif info.locked and not os.environ.get(ENV_PASSPHRASE):
        st.warning(_("**The encrypted keyring is locked.** Unlock it on the Connection & token page to refresh the "
                     "directory or use the token."), icon=":material/lock:")


def demo_label(conn: Connection | None) -> None:
    if conn is not None and getattr(conn, "is_demo", False):
        st.badge(_("DEMO — simulated tenant, nothing here is real"), color="violet", icon=":material/science:")
