-- Migration 0007: snapshots derived from the previous one after a change made from this console
-- (console/snapshots.py: patch_snapshot). The people and groups a change touched are read again from the server
-- and replace theirs in a copy of the latest snapshot, so the pages show the new state at once and the change
-- is recorded as events like any other. A full listing leaves based_on NULL and listed_at = taken_at.
ALTER TABLE snapshots ADD COLUMN based_on INTEGER;      -- the snapshot this one was derived from (NULL: a listing)
ALTER TABLE snapshots ADD COLUMN listed_at TEXT;        -- ISO 8601 UTC: when the whole directory was last listed
ALTER TABLE snapshots ADD COLUMN note TEXT;             -- why it was derived, e.g. "after action 12"
