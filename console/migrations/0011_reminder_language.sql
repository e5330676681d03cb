-- Migration 0011: the language of a connection's reminders and alerts (apprise and e-mail messages, the .ics
-- file's events), set with its reminder settings. They are written in it whoever or whatever sends them (cron,
-- the app's reminder thread, a Send test click). No row: English, the default.
CREATE TABLE reminder_settings (
    connection_id INTEGER PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
    language TEXT NOT NULL CHECK (language IN ('en', 'ja')),
    updated_at TEXT NOT NULL              -- ISO 8601 UTC
);
