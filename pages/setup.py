"""Set up a tenant: the checklist from the demo to a real 6clicks tenant that is healthy and reminded. Each step
shows its live state (``console.setup.checklist``), the place in the app that does it (often right here) and the
command for those who prefer a shell."""

from __future__ import annotations

import streamlit as st

from console.connections import Connection, ConnectionRepo
from console.context import Context
from console.i18n import _
from console.setup import Step, checklist, progress
from pages import _setup_ui as setup_ui
from pages._ui import errors, session, shell
from pages._ui import format as fmt
from pages._ui.text import md_escape, plain


def _tenant(ctx: Context) -> Connection | None:
    """The real connection the checklist is about: the selected one, or the operator's pick among the others."""
    real = [c for c in ConnectionRepo(ctx.store).list() if not c.is_demo]
    if not real:
        return None
    selected = session.connection(required=False)
    names = [c.name for c in real]
    default = names.index(selected.name) if selected is not None and selected.name in names else 0
    if len(real) > 1:
        chosen = st.selectbox(_("Tenant"), names, index=default, key="setup.tenant", format_func=plain)
        return real[names.index(chosen)]
    return real[0]


def step_body(ctx: Context, conn: Connection | None, step: Step) -> None:
    if step.key == "keyring" and step.state in ("todo", "warning", "blocked"):
        # the box says the keyring's state itself and takes the passphrase right here
        setup_ui.keyring_box(ctx, "setup")
        if step.command:
            st.caption(_("From a shell: {command}").format(command=md_escape(step.command, limit=300)))
        return
    if step.key == "daily" and step.state != "blocked":
        setup_ui.daily_job(ctx)  # the line, what it needs, and when cron and the app last ran
        return
    st.markdown(md_escape(step.detail, limit=1200))
    if step.key == "connection" and step.state == "todo":
        if conn is None:
            setup_ui.link_to_tab(setup_ui.TAB_ADD, _("Add a connection"), ":material/add_link:")
        else:
            setup_ui.link_to_tab(setup_ui.TAB_TOKEN, _("Complete {name}").format(name=conn.name), ":material/build:")
    elif step.key == "token" and step.state in ("todo", "warning"):
        setup_ui.link_to_tab(setup_ui.TAB_TOKEN, _("Open the token"), ":material/key:")
    elif step.key == "entra" and step.state == "todo" and conn is not None:
        setup_ui.entra_steps(conn, key="setup.entra")
    elif step.key == "graph" and step.state in ("todo", "optional", "warning"):
        setup_ui.permissions_list()
        setup_ui.link_to_tab(setup_ui.TAB_GRAPH, _("Configure Microsoft Graph"), ":material/settings:")
    elif step.key == "job" and step.state in ("todo", "warning"):
        setup_ui.link_to_tab(setup_ui.TAB_GRAPH, _("Configure Microsoft Graph"), ":material/settings:")
    elif step.key == "channel" and conn is not None and step.state != "blocked":
        a, b = st.columns(2)
        with a:
            setup_ui.link_to_tab(setup_ui.TAB_REMINDERS, _("Reminder settings"), ":material/notifications:")
        with b:
            setup_ui.send_test(conn, key="setup")
    if step.where:
        st.caption(_("In the app: {where}").format(where=md_escape(step.where, limit=300)))
    if step.command:
        st.caption(_("From a shell:"))
        st.code(step.command, language="bash", wrap_lines=True)


def main() -> None:
    ctx = session.context()
    st.title(_("Set up a tenant"))
    st.caption(_("From the demo to your own 6clicks tenant, provisioned by Entra, healthy and reminded before its "
                 "token lapses. Each step shows its live state; the demo keeps working meanwhile."))
    setup_ui.show_flash()
    conn = _tenant(ctx)
    steps = checklist(ctx, conn, fmt=fmt.fmt_time)
    done, counted = progress(steps)
    st.progress(done / counted if counted else 0.0,
                text=(_("{done} of {total} steps done for {name}").format(done=done, total=counted,
                                                                           name=md_escape(conn.name))
                      if conn else _("{done} of {total} steps done").format(done=done, total=counted)))
    for number, step in enumerate(steps, 1):
        label = f"{number}. {step.title} — {setup_ui.state_words(step.state)}"
        with st.expander(label, expanded=step.state in ("todo", "warning"),
                         icon=setup_ui.STATE_ICONS.get(step.state)), \
                errors.guard(_("showing the step {title}").format(title=step.title)):
            step_body(ctx, conn, step)


shell.run_page(main, _("showing the set-up checklist"))
