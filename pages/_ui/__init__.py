"""The pages' shared helpers, one module per job; a page imports the modules it uses, e.g.
``from pages._ui import errors, session`` and ``from pages._ui.text import md_escape``.

- ``text``: outside text shown as text (``md_escape``, ``plain``, ``plain_table``, ``plot_text``).
- ``errors``: the error panel, the guard around a page or panel, the log file.
- ``signin``: sign-in for shared deployments and the operator's identity.
- ``session``: the open context, the selected connection and the session-state keys pages share.
- ``format``: times in the operator's zone.
- ``banners``: the token badge, the token and keyring banners, the DEMO label.
- ``progress``: long work with a progress bar.
- ``dircache``: the cached directory view, the Refresh, CSV downloads.
- ``shell``: page-owned state, the demo, the sidebar; ``run_page`` (and the legacy ``pages/`` mode fix).
- ``ops_flow`` / ``ops_panels``: an operation's preview → confirm → result flow, and the change panels of the
  Users and Groups & roles pages.

The pure table functions (the directory view, filters, sorts, the Users CSV) are in ``console.directory.view``.
This is a package, not a page: Streamlit's ``st.navigation`` (app.py) lists only the pages it is given, and its
legacy ``pages/`` mode lists ``*.py`` files at the top of ``pages/`` only, never a sub-package's modules.
"""
