"""Entra ID's side of provisioning: the error catalogue (a leaf), provisioning-log records and their store,
the job's health, and the one ``sync()`` that fetches logs and polls the job for the page, the CLI and the demo."""
