-- Migration 0004: manual operations (journal + audit), owned by console/operations and console/audit.
-- A batch is journaled with all its items BEFORE anything is sent to 6clicks; every item state change is
-- committed on its own, so a batch interrupted half-way can be resumed or abandoned from the next start.
-- No secret is ever stored here: errors are stored as their operator-facing message and remedy only.

CREATE TABLE op_batches (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,     -- the action id shown to operators (undo ACTION_ID)
    connection    TEXT NOT NULL,
    kind          TEXT NOT NULL,                         -- deactivate|reactivate|add|remove|move
    params_json   TEXT NOT NULL DEFAULT '{}',            -- groups involved (ids and names), options
    reason        TEXT NOT NULL,
    operator      TEXT NOT NULL,
    source        TEXT NOT NULL DEFAULT 'api',           -- ui|cli|api
    undo_of       INTEGER REFERENCES op_batches(id),
    notes_json    TEXT NOT NULL DEFAULT '[]',            -- plan notes (duplicates collapsed, unknown users...)
    snapshot_id   TEXT,                                  -- the snapshot the preview was resolved against
    state         TEXT NOT NULL DEFAULT 'pending',       -- pending|running|completed|stopped|abandoned
    stop_reason   TEXT,                                  -- why a batch stopped (401) or was abandoned
    stop_remedy   TEXT,
    concurrency   INTEGER NOT NULL DEFAULT 8,
    owner_host    TEXT,                                  -- the process executing it now (or last)
    owner_pid     INTEGER,
    heartbeat_at  TEXT,
    created_at    TEXT NOT NULL,                         -- ISO 8601 UTC
    started_at    TEXT,
    finished_at   TEXT
);
CREATE INDEX op_batches_conn_created ON op_batches(connection, created_at);
CREATE INDEX op_batches_state ON op_batches(state);

CREATE TABLE op_items (
    batch_id      INTEGER NOT NULL REFERENCES op_batches(id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    user_id       TEXT,
    user_name     TEXT,
    email         TEXT,
    display_name  TEXT,
    input         TEXT,                                  -- what the operator gave (CSV value, id, name)
    steps_json    TEXT NOT NULL DEFAULT '[]',            -- [{"op": "set_active"|"add"|"remove", ...}]
    before_text   TEXT,
    after_text    TEXT,
    state         TEXT NOT NULL,                         -- pending|running|done|failed|skipped
    outcome       TEXT,                                  -- changed|already|partial|error|skipped reason code
    note          TEXT,                                  -- skip reason, "already done", "in both groups"...
    changes_json  TEXT NOT NULL DEFAULT '[]',            -- the steps that really changed something (undo)
    attempts      INTEGER NOT NULL DEFAULT 0,
    http_status   INTEGER,
    last_error    TEXT,
    remedy        TEXT,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (batch_id, seq)
);
CREATE INDEX op_items_state ON op_items(batch_id, state);
CREATE INDEX op_items_user ON op_items(user_id);

CREATE TABLE op_events (                                 -- the audit trail of a batch's life
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id      INTEGER NOT NULL REFERENCES op_batches(id) ON DELETE CASCADE,
    at            TEXT NOT NULL,
    operator      TEXT NOT NULL,
    event         TEXT NOT NULL,                         -- journaled|started|resumed|retried|stopped|finished|abandoned|interrupted
    detail        TEXT
);
CREATE INDEX op_events_batch ON op_events(batch_id, at);
