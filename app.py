"""Streamlit entry point: page config, the access gate (pages/_access.py), optional sign-in, the embedded demo, the sidebar (connection picker,
token badge, data freshness, refresh) and the token banner, then ``st.navigation`` over ``pages/``.

Run: ``python -m console app`` (prints the access link, then runs ``streamlit run app.py``; settings in
``.streamlit/config.toml``: headless, 127.0.0.1, loopback host names only, no usage stats).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from console.i18n import _
from pages import _access
from pages._ui import shell, signin
from pages._ui.lang import apply_language

apply_language()  # first: the title and the navigation below are in the run's language
# A local icon: a Material icon here would make every page load fetch it from fonts.gstatic.com.
st.set_page_config(page_title=_("SCIM console for 6clicks"), page_icon=str(Path(__file__).with_name("assets") / "icon.png"),
                   layout="wide",
                   initial_sidebar_state="expanded")

PAGES = {
    _("Monitor"): [
        st.Page("pages/overview.py", title=_("Overview"), icon=":material/dashboard:", default=True),
        st.Page("pages/sync_history.py", title=_("Sync history"), icon=":material/sync:"),
        st.Page("pages/activity.py", title=_("Activity"), icon=":material/receipt_long:"),
    ],
    _("Directory"): [
        st.Page("pages/users.py", title=_("Users"), icon=":material/person:"),
        st.Page("pages/groups.py", title=_("Groups & roles"), icon=":material/groups:"),
        st.Page("pages/reconcile.py", title=_("Reconcile"), icon=":material/compare_arrows:"),
    ],
    _("Settings"): [
        st.Page("pages/connection.py", title=_("Connection & token"), icon=":material/key:"),
        st.Page("pages/setup.py", title=_("Set up a tenant"), icon=":material/checklist:"),
        st.Page("pages/doctor.py", title=_("Setup check"), icon=":material/health_and_safety:"),
    ],
}


_access.require_access(PAGES)
signin.require_sign_in()
nav = st.navigation(PAGES)
shell.render_shell()
try:
    nav.run()
finally:
    shell.shell_done()
