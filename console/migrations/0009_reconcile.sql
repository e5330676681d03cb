-- Migration 0009: reconciliation of Entra and 6clicks (console/reconcile/).
-- entra_users: the connection's copy of Entra's users (the attributes the guide maps), kept current with Graph's
-- delta queries; entra_delta: the delta link the next run calls. reconcile_runs: each run's counts (charted on
-- the Reconcile page: orphans over time is what an auditor asks for) and its rows, compressed, for the CSV.
-- All belong to their connection: removing it removes them.
CREATE TABLE entra_users (
    connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    upn TEXT,
    mail TEXT,
    given_name TEXT,
    surname TEXT,
    enabled INTEGER,                      -- 1 / 0 / NULL (not returned)
    guest INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (connection_id, id)
) WITHOUT ROWID;
CREATE TABLE entra_delta (
    connection_id INTEGER PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
    delta_link TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE reconcile_runs (
    id INTEGER PRIMARY KEY,
    connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    at TEXT NOT NULL,                     -- ISO 8601 UTC
    mode TEXT NOT NULL,                   -- full / delta / snapshot-only
    snapshot_id INTEGER,
    exit_code INTEGER NOT NULL,
    counts TEXT NOT NULL,                 -- JSON {category: count}
    rows BLOB NOT NULL                    -- zlib-compressed JSON lines of every row, for the CSV export
);
CREATE INDEX reconcile_runs_by_connection ON reconcile_runs (connection_id, at);
