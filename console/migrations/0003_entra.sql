-- Migration 0003: Entra provisioning logs, job status history, alert notifications (history area:
-- console/entra_logs.py, console/job_health.py, console/alerts.py).
CREATE TABLE IF NOT EXISTS provisioning_logs (
    connection     TEXT NOT NULL,
    id             TEXT NOT NULL,
    activity_ms    INTEGER NOT NULL,            -- activityDateTime, epoch milliseconds UTC
    cycle_id       TEXT,
    change_id      TEXT,
    job_id         TEXT,
    action         TEXT,                        -- create/update/delete/disable/stagedDelete/other (unknown kept)
    status         TEXT,                        -- success/failure/skipped/warning (unknown kept)
    error_code     TEXT,
    error_category TEXT,
    identity_type  TEXT,                        -- User / Group
    source_id      TEXT,
    source_name    TEXT,
    target_id      TEXT,
    target_name    TEXT,
    initiator_type TEXT,
    duration_ms    INTEGER,
    origin         TEXT NOT NULL,               -- graph | import
    raw            BLOB NOT NULL,               -- reference into provisioning_raw (b"B" + block id + line)
    PRIMARY KEY (connection, id)
);
CREATE INDEX IF NOT EXISTS provisioning_logs_by_time ON provisioning_logs (connection, activity_ms);
CREATE INDEX IF NOT EXISTS provisioning_logs_by_cycle_id ON provisioning_logs (connection, cycle_id);
CREATE INDEX IF NOT EXISTS provisioning_logs_by_error ON provisioning_logs (connection, error_code, activity_ms)
    WHERE error_code IS NOT NULL;
-- No index on identity ids/names (each index costs ingest time): the table's identity filter matches names in
-- part (LIKE), which is a scan either way; charts read provisioning_cycle_counts, not this table.

-- Per-cycle counts (what the Sync history charts read), updated by every ingest in the same transaction.
-- Empty strings stand for missing values (so the primary key stays unique).
CREATE TABLE IF NOT EXISTS provisioning_cycle_counts (
    connection TEXT NOT NULL,
    cycle_id   TEXT NOT NULL,
    action     TEXT NOT NULL,
    status     TEXT NOT NULL,
    error_code TEXT NOT NULL,
    count      INTEGER NOT NULL,
    first_ms   INTEGER NOT NULL,
    last_ms    INTEGER NOT NULL,
    PRIMARY KEY (connection, cycle_id, action, status, error_code)
);

-- The records as received: zlib-compressed blocks of up to 500 JSON lines (see console/entra_logs.py).
CREATE TABLE IF NOT EXISTS provisioning_raw (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    connection TEXT NOT NULL,
    data       BLOB NOT NULL
);

-- Each poll of synchronization/jobs/{jobId}: enough columns to derive quarantine periods and cycles.
CREATE TABLE IF NOT EXISTS job_status_history (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    connection          TEXT NOT NULL,
    polled_at           TEXT NOT NULL,
    code                TEXT,                   -- NotConfigured/NotRun/Active/Paused/Quarantine
    schedule_interval   TEXT,
    schedule_state      TEXT,
    quarantine_reason   TEXT,
    quarantine_began    TEXT,
    quarantine_next     TEXT,
    error_code          TEXT,
    successive_failures INTEGER,
    last_cycle_id       TEXT,
    last_began          TEXT,
    last_ended          TEXT,
    last_state          TEXT,
    raw                 BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS job_status_history_by_time ON job_status_history (connection, polled_at);

-- Bookkeeping of Graph fetches (for the page's "last fetched" line and incremental fetches).
CREATE TABLE IF NOT EXISTS log_fetches (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    connection TEXT NOT NULL,
    at         TEXT NOT NULL,
    origin     TEXT NOT NULL,                   -- graph | import
    since      TEXT,
    new        INTEGER NOT NULL,
    known      INTEGER NOT NULL,
    rejected   INTEGER NOT NULL,
    complete   INTEGER NOT NULL DEFAULT 1,      -- 0 when a Graph fetch stopped early (watermark not advanced)
    watermark  INTEGER,                         -- newest activity_ms fetched (graph, complete fetches only)
    detail     TEXT
);
CREATE INDEX IF NOT EXISTS log_fetches_by_connection ON log_fetches (connection, at);

-- Alerts already sent through the notification channels (deduplicated by key).
CREATE TABLE IF NOT EXISTS alert_notifications (
    connection TEXT NOT NULL,
    key        TEXT NOT NULL,
    sent_at    TEXT NOT NULL,
    PRIMARY KEY (connection, key)
);
