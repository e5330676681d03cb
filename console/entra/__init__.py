"""Entra ID's side of provisioning, one module per job, dependencies one way:

- ``catalogue``: Entra's error codes in words (a leaf);
- ``records``: normalising provisioning-log records (a leaf);
- ``logstore``: the compressed log store, its journal and its queries;
- ``files``: importing admin-center downloads (JSON, the CSV bundle); ``fetch``: fetching from Graph;
- ``health``: the provisioning job's health; ``schedule``: when its next cycle is due;
- ``sync``: the one fetch-logs-then-poll-job used by the Sync history page, ``logs fetch`` and the demo.
"""
