-- Migration 0010: each operator's language (English / 日本語), chosen with the sidebar's picker and remembered
-- across sessions and restarts. Keyed by the operator's name as the audit log records it (the signed-in e-mail,
-- else the OS user).
CREATE TABLE operator_languages (
    operator TEXT PRIMARY KEY,
    language TEXT NOT NULL CHECK (language IN ('en', 'ja')),
    at TEXT NOT NULL
) WITHOUT ROWID;
