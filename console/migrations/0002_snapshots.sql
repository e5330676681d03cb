-- Migration 0002: directory snapshots and change events (owned by the history area, console/snapshots.py).
-- A snapshot's rows live in Parquet files under <data dir>/snapshots/<connection>/<id>/; this table keeps its
-- metadata (kept after compaction so the directory-size chart still has every point).
CREATE TABLE IF NOT EXISTS snapshots (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    connection       TEXT NOT NULL,
    taken_at         TEXT NOT NULL,             -- ISO 8601 UTC
    user_count       INTEGER NOT NULL,
    active_users     INTEGER NOT NULL,
    group_count      INTEGER NOT NULL,
    role_count       INTEGER NOT NULL,
    membership_count INTEGER NOT NULL,
    event_count      INTEGER NOT NULL DEFAULT 0,
    fetch_seconds    REAL,
    files            TEXT,                      -- folder relative to the data dir; NULL once compacted
    warnings         TEXT                       -- JSON list of listing warnings
);
CREATE INDEX IF NOT EXISTS snapshots_by_connection ON snapshots (connection, taken_at);

-- One row per difference between consecutive snapshots. Kept forever (or until an explicit retention purge).
CREATE TABLE IF NOT EXISTS directory_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    connection   TEXT NOT NULL,
    snapshot_id  INTEGER NOT NULL,
    at           TEXT NOT NULL,                 -- ISO 8601 UTC (the snapshot's time)
    kind         TEXT NOT NULL,                 -- see console/snapshots.py EVENT_KINDS
    subject_type TEXT NOT NULL,                 -- user | group | role
    subject_id   TEXT NOT NULL,
    subject_name TEXT,
    attribute    TEXT,
    old_value    TEXT,
    new_value    TEXT,
    related_id   TEXT,                          -- the user of a member_added / member_removed event
    related_name TEXT
);
CREATE INDEX IF NOT EXISTS directory_events_by_time ON directory_events (connection, at);
CREATE INDEX IF NOT EXISTS directory_events_by_subject ON directory_events (connection, subject_id);
CREATE INDEX IF NOT EXISTS directory_events_by_related ON directory_events (connection, related_id);
