"""The sections of the Sync history page (``pages/sync_history.py``): ``charts`` and ``records`` (the log table and
a record's details). A package, not pages: only ``st.navigation`` in app.py names pages."""
