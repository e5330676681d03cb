"""The sections of the Connection & token page (``pages/connection.py``): ``token`` (the Token tab), ``graph``
(Microsoft Graph) and ``forms`` (connection settings, reminders, adding a connection). A package, not pages: only
``st.navigation`` in app.py names pages."""
