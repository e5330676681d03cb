-- Migration 0005: server defects seen by read-back verification of manual operations (console/operations).
-- One row per defect: a group that lost members the action did not touch (and how it was restored). Plain text
-- and ids only, bounded in size; never a secret (requests carry ids and values, answers are redacted).

CREATE TABLE op_defects (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id        INTEGER NOT NULL REFERENCES op_batches(id) ON DELETE CASCADE,
    at              TEXT NOT NULL,                       -- ISO 8601 UTC
    kind            TEXT NOT NULL,                       -- collateral_loss
    target_id       TEXT,                                -- the group
    target_name     TEXT,
    summary         TEXT NOT NULL,                       -- one line
    report          TEXT NOT NULL,                       -- the full plain-text report (request, answer, restore)
    lost_json       TEXT NOT NULL DEFAULT '[]',          -- every user id that vanished
    still_missing_json TEXT NOT NULL DEFAULT '[]',       -- those the restore could not put back
    restored        INTEGER NOT NULL DEFAULT 0           -- 1 when every lost member is back (verified)
);
CREATE INDEX op_defects_batch ON op_defects(batch_id);
