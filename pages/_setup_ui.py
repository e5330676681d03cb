"""Pieces shared by the "Set up a tenant" checklist and the Connection & token page: the keyring's create/unlock
forms, getting the token into Entra (Tenant URL, "Reveal once to copy", push through Graph, "Entra has it"),
the Graph permission list, Send test, the cron line, and the Overview's "next step" pointer.

A page module, not a page (underscore name): import it as ``from pages import _setup_ui as setup_ui``. Secrets
typed here go straight to the console core; the token is read from the keyring only in the run where the admin
clicked "Reveal once to copy" and is shown in that run's code box only (never in session state, logs or
another run)."""

from __future__ import annotations

import re
from typing import Any

import streamlit as st

from console.connections import Connection
from console.context import Context
from console.credentials import PASSPHRASE_RULE, BackendInfo, env_passphrase
from console.graph import GRAPH_PERMISSIONS
from console.i18n import LANGUAGES, N_, _, count, pgettext, use_language
from console.notify.channels import send_test as core_send_test
from console.notify.reminders import cron_line, cron_note, last_runs, remind_interval
from console.setup import checklist, connection_health, next_step, progress
from console.tokens.rotation import confirm_in_entra, in_entra, manual_steps, push_to_entra
from pages._ui import banners, errors, session
from pages._ui import format as fmt
from pages._ui.text import md_escape

CONNECTION_PAGE = "pages/connection.py"
SETUP_PAGE = "pages/setup.py"
# The tabs of Connection & token, by their English names (what links and ``KEY_PENDING_TAB`` say); each shows,
# and is bound to the ``tab`` query parameter, by its label in the operator's language (``tab_label``).
TAB_TOKEN = N_("Token")
TAB_SETTINGS = N_("Connection settings")
TAB_GRAPH = N_("Microsoft Graph")
TAB_REMINDERS = N_("Reminders")
TAB_ADD = N_("Add a connection")
TABS = (TAB_TOKEN, TAB_SETTINGS, TAB_GRAPH, TAB_REMINDERS, TAB_ADD)
STATE_ICONS = {"done": ":material/check_circle:", "todo": ":material/radio_button_unchecked:",
               "warning": ":material/warning:", "optional": ":material/add_circle_outline:",
               "blocked": ":material/lock_clock:"}
STATE_WORDS = {"done": N_("done"), "todo": N_("to do"), "warning": N_("needs attention"), "optional": N_("optional"),
               "blocked": N_("waits for an earlier step")}


def state_words(state: str) -> str:
    """A checklist step's state in words, in the current language."""
    return _(STATE_WORDS[state]) if state in STATE_WORDS else state


def tab_label(tab: str) -> str:
    """The label of the tab ``tab`` (its English name) in the current language."""
    return _(tab)


def tab_of(value: object) -> str | None:
    """The tab (English name) a label in any of the console's languages names, or None: a link made in English
    (or a session that switched language) still opens its tab."""
    if not isinstance(value, str):
        return None
    for code in LANGUAGES:
        with use_language(code):
            for tab in TABS:
                if value == _(tab):
                    return tab
    return None


def flash(kind: str, text: str) -> None:
    """A one-run message for the next run of this page (success | error | warning | info)."""
    st.session_state["connection.flash"] = (kind, text)


def show_flash() -> None:
    message = st.session_state.pop("connection.flash", None)
    if message:
        # flashes quote connection names and the core's messages: shown as text
        show = {"success": st.success, "error": st.error, "warning": st.warning}.get(message[0], st.info)
        show(md_escape(message[1], limit=2000, multiline=True))


def own_list(markdown: str, key: str) -> None:
    """A Markdown list the app writes itself (steps, permissions), in a container keyed ``own-list-…`` so that
    checks for lists made from data (tests/browser/test_hostile.py) can tell it apart. Data in it is escaped."""
    with st.container(key=f"own-list-{key}"):
        st.markdown(markdown)


def link_to_tab(tab: str, label: str, icon: str, *, where: Any = None) -> None:
    """A link to one tab of Connection & token (the tabs follow the ``tab`` query parameter, which holds the
    tab's label in the operator's language)."""
    (where or st).page_link(CONNECTION_PAGE, label=label, icon=icon, query_params={"tab": tab_label(tab)})


# --- keyring --------------------------------------------------------------------------------------------------
def keyring_box(ctx: Context, key: str) -> BackendInfo:
    """The keyring's state, with the form that creates (passphrase typed twice, strength rule) or unlocks it."""
    creds = ctx.credentials
    info = creds.backend_info()
    env_problem = None
    if info.secure and info.locked:
        # started with SCIM_CONSOLE_KEYRING_PASSPHRASE (as cron would be): open the keyring with it, once

        if env_passphrase():
            try:
                creds.unlock(env_passphrase() or "")
            except Exception as exc:  # wrong or (for a new keyring) weak: said below, the form still works
                env_problem = exc
            info = creds.backend_info()
    if info.secure and not info.locked:
        label = md_escape(info.label)
        if not info.persistent:
            st.warning(_("**Keyring:** {label}. A real tenant's API key would be lost at the next start: stop the app "
                         "and start it with `SCIM_CONSOLE_KEYRING=cryptfile python -m console app` (or use a desktop "
                         "keyring). The demo does not mind.").format(label=label), icon=":material/lock_open:")
        else:
            st.success(_("**Keyring:** {label}.").format(label=label), icon=":material/lock:")
        return info
    if not info.secure:
        st.error(_("**No safe place for secrets:** {label}.").format(label=md_escape(info.label)) + "\n\n"
                 + md_escape(info.remedy, limit=1000), icon=":material/key_off:")
        st.caption(_("The demo connection still works: its secrets live in memory only."))
        return info
    creating = not creds.keyring_created()
    path = md_escape(creds.file_path or "")
    if creating:
        st.warning(_("**Keyring:** the encrypted file keyring is not created yet ({path}). Choose its passphrase "
                     "before adding a real connection; the demo does not need it (its secrets live in memory "
                     "only).").format(path=path), icon=":material/lock:")
    else:
        st.warning(_("**Keyring:** the encrypted file keyring ({path}) is locked. Unlock it to read or store "
                     "secrets. The demo does not need it.").format(path=path), icon=":material/lock:")
    if env_problem is not None:
        st.caption(_("The passphrase in SCIM_CONSOLE_KEYRING_PASSPHRASE did not open it: {error}").format(
            error=md_escape(getattr(env_problem, "message", "") or type(env_problem).__name__, limit=400)))
    with st.form(f"{key}.keyring", clear_on_submit=True):
        if creating:
            st.caption(_("A passphrase of {rule}. It cannot be recovered: keep it where you keep other admin "
                         "passphrases.").format(rule=md_escape(PASSPHRASE_RULE)))
            c1, c2 = st.columns(2)
            first = c1.text_input(_("New keyring passphrase"), type="password", key=f"{key}.passphrase")
            second = c2.text_input(_("Type it again"), type="password", key=f"{key}.passphrase2")
            submitted = st.form_submit_button(_("Create the keyring"), icon=":material/lock:", type="primary")
        else:
            first = st.text_input(_("Keyring passphrase"), type="password", key=f"{key}.passphrase")
            second = ""
            submitted = st.form_submit_button(_("Unlock"), icon=":material/lock_open:", type="primary")
    if submitted:
        try:
            if creating:
                where = creds.create(first, second)
                flash("success", _("Keyring created: {where}. It is unlocked until the console stops; scheduled "
                                   "commands read the passphrase from SCIM_CONSOLE_KEYRING_PASSPHRASE.").format(
                                       where=where))
            else:
                creds.unlock(first)
                flash("success", _("Keyring unlocked: secrets can be read and stored until the console stops."))
        except Exception as exc:  # wrong or weak passphrase: message + remedy, nothing changed
            errors.show_error(exc)
        else:
            st.rerun()
    return info


# --- the token into Entra -------------------------------------------------------------------------------------
COMMAND = "python -m console "
_PLAIN_COMMAND = re.compile(r"[A-Za-z0-9 .'/:=-]+")


def _step_markdown(step: str) -> str:
    """A manual step as Markdown: its text escaped, the command it ends with (if any) as code. A command with
    any other character (a connection name with "_" or "*") is escaped like the text instead, so that nothing
    in it can ever read as Markdown, in a code span or not."""
    head, sep, rest = step.partition(COMMAND)
    if not sep or not _PLAIN_COMMAND.fullmatch(rest):
        return md_escape(step, limit=600)
    return f"{md_escape(head, limit=600)}`{COMMAND}{rest}`"


def entra_steps(conn: Connection, *, key: str, heading: str | None = None) -> None:
    """How the current token gets into Entra: push through Graph when configured, otherwise the manual steps with
    the Tenant URL to copy and the token copyable only by deliberate action; "Entra has it now" records it."""
    svc = banners.token_service()
    status = banners.token_status(conn)
    if status is None or status.fingerprint is None:
        st.caption(_("Entra needs a token: generate or import one first."))
        return
    where = in_entra(svc, conn)
    if where:
        fp = md_escape(status.fingerprint)
        st.success(_("**Entra has the token …{fp}**: pushed through Microsoft Graph and validated by Entra.").format(
                       fp=fp) if where == "pushed" else
                   _("**Entra has the token …{fp}**: you confirmed that its Test Connection succeeded.").format(fp=fp),
                   icon=":material/verified:")
        return
    if heading:
        st.markdown(heading)
    can_push = conn.entra is not None and conn.entra.can_manage_job
    if can_push:
        st.caption(_("Microsoft Graph is set up for this connection: the console can write the token and the Tenant "
                     "URL into the provisioning job and ask Entra to test them."))
        if st.button(_("Push the token to Entra now"), key=f"{key}.push", type="primary",
                     icon=":material/cloud_upload:"):
            try:
                with st.spinner(_("Writing the token to Entra and asking it to test it…")):
                    push_to_entra(svc, conn.name)
            except Exception as exc:  # GraphError with the missing permission, or the keyring
                errors.log_exception(exc)
                errors.show_error(exc, what=_("pushing the token to Entra"))
                st.caption(_("Or do it by hand:"))
            else:
                flash("success", _("Token …{fp} pushed to Entra; Entra's Test Connection passed.").format(
                    fp=status.fingerprint))
                st.rerun()
    steps = manual_steps(svc, conn)
    own_list("\n".join(f"{i}. {_step_markdown(step)}" for i, step in enumerate(steps, 1)), f"{key}.steps")
    a, b = st.columns([3, 2])
    with a:
        st.caption(_("Tenant URL (copy with the icon at the right of the box)"))
        st.code(conn.tenant_url, language=None)
    with b:
        st.caption(_("Secret Token"))
        if st.button(_("Reveal once to copy"), key=f"{key}.reveal", icon=":material/visibility:",
                     help=_("Shows the token in this page until your next click; it is never kept or logged. Make sure "
                            "nobody is looking over your shoulder or sharing your screen.")):
            token = svc.get_token(conn.name)
            if token:
                st.code(token, language=None, wrap_lines=True)
                st.caption(_("Copy it now: it disappears at your next click."))
            else:
                st.error(_("No token is stored."))
    if st.button(_("Entra has it now (its Test Connection succeeded)"), key=f"{key}.confirm",
                 icon=":material/task_alt:"):
        confirm_in_entra(svc, conn.name)
        flash("success", _("Noted: Entra has the token …{fp}. A new token will need the same steps.").format(
            fp=status.fingerprint))
        st.session_state.pop("result.connection", None)
        st.rerun()


# --- Graph permissions ----------------------------------------------------------------------------------------
def permissions_list(key: str = "permissions") -> None:
    """The one least-privilege list per feature (console.graph.GRAPH_PERMISSIONS; its feature names and notes are
    marked for translation where they are defined)."""
    lines = [_("**Application permissions** (API permissions > Add > Microsoft Graph > Application, then Grant admin "
               "consent):")]
    for p in GRAPH_PERMISSIONS:
        perms = pgettext("joining two names", " and ").join(f"`{x}`" for x in p.permissions)
        lines.append(f"- {md_escape(_(p.feature))}: {perms}" + (f" ({md_escape(_(p.note))})" if p.note else ""))
    own_list("\n".join(lines), key)


# --- reminders ------------------------------------------------------------------------------------------------
def send_test(conn: Connection, key: str) -> None:
    if st.button(_("Send test"), key=f"{key}.send_test", icon=":material/send:",
                 help=_("Sends a test message to every notification channel of this connection now, in the "
                        "connection's reminder language.")):
        try:
            with st.spinner(_("Sending a test message…")):
                result = core_send_test(session.context(), conn)
        except Exception as exc:
            errors.log_exception(exc)
            errors.show_error(exc, what=_("sending the test message"))
            return

        if result.no_channels:
            st.warning(_("No notification channel is configured yet: add an apprise URL above first."))
        elif result.failed:
            st.error(_("Delivered to {sent}; **failed on {failed}**. Check the URL (apprise's syntax) and that the "
                       "service is reachable from this machine; nothing else was changed.").format(
                         sent=count(len(result.sent), "{n} channel", "{n} channels"),
                         failed=count(len(result.failed), "{n} channel", "{n} channels")))
        else:
            st.success(_("Test message delivered to {sent}. Check that it arrived.").format(
                           sent=count(len(result.sent), "{n} channel", "{n} channels")),
                       icon=":material/mark_email_read:")


def daily_job(ctx: Context) -> None:
    """The exact cron line for this machine, what it needs, and what the app does while it runs."""
    st.markdown(_("**Daily reminder job** — for when the app is not running. Add this line with `crontab -e` as "
                  "the user that runs the console:"))
    st.code(cron_line(ctx), language="bash", wrap_lines=True)
    st.caption(md_escape(cron_note(ctx), limit=600))
    runs = last_runs(ctx)
    every = remind_interval()
    seen = [_("from cron or a shell {when}").format(when=fmt.fmt_time(runs["cli"])) if "cli" in runs
            else _("never from cron yet")]
    if every:
        seen.append(_("by this app {when}").format(when=fmt.fmt_time(runs["app"])) if "app" in runs
                    else _("by this app not yet"))
        interval = (count(round(every / 60), "{n} minute", "{n} minutes") if every >= 60
                    else count(round(every), "{n} second", "{n} seconds"))
        st.caption(_("While the app runs it sends due reminders itself, every {interval}, with the same records as "
                     "the command: a reminder is never sent twice. Last run: {runs}.").format(
                         interval=interval, runs=pgettext("list separator", "; ").join(seen)))
    else:
        st.caption(_("The app's own reminder thread is off (SCIM_CONSOLE_REMIND_EVERY=0). Last run: {runs}.").format(
            runs=pgettext("list separator", "; ").join(seen)))


# --- the Overview's pointer -----------------------------------------------------------------------------------
def next_step_pointer(conn: Connection) -> None:
    """On the Overview: the demo points to the set-up checklist; an incomplete connection shows its one next step."""
    if conn is None:
        return
    if conn.is_demo:
        with st.container(border=True):
            a, b = st.columns([4, 1], vertical_alignment="center")
            a.markdown(_("**This is the demo.** Ready for your own tenant? **Set up a tenant** takes you from here to "
                         "a healthy, reminded connection: keyring, API key, token, Entra, Microsoft Graph and "
                         "reminders, each with its live state."))
            b.page_link(SETUP_PAGE, label=_("Set up a tenant"), icon=":material/checklist:")
        return
    health = connection_health(session.context(), conn, deep=True)  # deep: the one exact next step
    if health.state == "incomplete":
        with st.container(border=True):
            a, b = st.columns([4, 1], vertical_alignment="center")
            a.markdown(_("**Next step for {name}:** {step}").format(name=md_escape(conn.name),
                                                                     step=md_escape(health.next_step, limit=600)))
            b.page_link(SETUP_PAGE, label=_("Set up a tenant"), icon=":material/checklist:")
        return
    if health.state != "ready":
        return  # the token banner says what is wrong and what to do

    steps = checklist(session.context(), conn, fmt=fmt.fmt_time)
    done, counted = progress(steps)
    step = next_step(steps)
    if step is not None and done < counted:
        a, b = st.columns([4, 1], vertical_alignment="center")
        a.caption(_("Set-up of {name}: {done} of {total} steps done. Next: **{step}**.").format(
            name=md_escape(conn.name), done=done, total=counted, step=md_escape(step.title)))
        b.page_link(SETUP_PAGE, label=_("Set up a tenant"), icon=":material/checklist:")
