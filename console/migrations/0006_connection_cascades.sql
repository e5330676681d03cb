-- Migration 0006: what belongs to a connection goes with it. Tables 0002-0005 name their connection (column
-- `connection`) instead of keying by connections.id, so removing a connection orphaned its snapshots, logs and
-- job history, and re-adding the same name inherited them. Rebuilding those tables (millions of log rows) is
-- not needed for that: triggers on `connections` give the same guarantees as foreign keys with cascades.
--   * removed connection: its directory snapshots and events, provisioning logs, cycle counts, raw records,
--     job status history and fetch bookkeeping are deleted in the same transaction;
--   * its audit trail (op_batches, with their items, events and defects) is KEPT and archived: the batches are
--     renamed "<name> (removed <UTC time>)", so they stay on the Activity page and in `audit list`, and a new
--     connection with the same name starts with an empty audit;
--   * renamed connection: every row follows the new name;
--   * a row can only be written for a connection that exists (a fetch finishing after the removal fails
--     instead of recreating orphans).
-- Data already orphaned by earlier removals is deleted now (its audit batches archived the same way).
-- alert_notifications (0003) was written and never read: alerts are deduplicated in `notifications`.

DROP TABLE IF EXISTS alert_notifications;

UPDATE op_batches SET connection = connection || ' (removed before ' || strftime('%Y-%m-%d %H:%M', 'now') || ' UTC)'
    WHERE connection NOT IN (SELECT name FROM connections);
DELETE FROM snapshots WHERE connection NOT IN (SELECT name FROM connections);
DELETE FROM directory_events WHERE connection NOT IN (SELECT name FROM connections);
DELETE FROM provisioning_logs WHERE connection NOT IN (SELECT name FROM connections);
DELETE FROM provisioning_cycle_counts WHERE connection NOT IN (SELECT name FROM connections);
DELETE FROM provisioning_raw WHERE connection NOT IN (SELECT name FROM connections);
DELETE FROM job_status_history WHERE connection NOT IN (SELECT name FROM connections);
DELETE FROM log_fetches WHERE connection NOT IN (SELECT name FROM connections);

CREATE TRIGGER connections_removed AFTER DELETE ON connections
BEGIN
    DELETE FROM snapshots WHERE connection = OLD.name;
    DELETE FROM directory_events WHERE connection = OLD.name;
    DELETE FROM provisioning_logs WHERE connection = OLD.name;
    DELETE FROM provisioning_cycle_counts WHERE connection = OLD.name;
    DELETE FROM provisioning_raw WHERE connection = OLD.name;
    DELETE FROM job_status_history WHERE connection = OLD.name;
    DELETE FROM log_fetches WHERE connection = OLD.name;
    UPDATE op_batches SET connection = OLD.name || ' (removed ' || strftime('%Y-%m-%d %H:%M', 'now') || ' UTC)'
        WHERE connection = OLD.name;
END;

CREATE TRIGGER connections_renamed AFTER UPDATE OF name ON connections WHEN OLD.name != NEW.name
BEGIN
    UPDATE snapshots SET connection = NEW.name WHERE connection = OLD.name;
    UPDATE directory_events SET connection = NEW.name WHERE connection = OLD.name;
    UPDATE provisioning_logs SET connection = NEW.name WHERE connection = OLD.name;
    UPDATE provisioning_cycle_counts SET connection = NEW.name WHERE connection = OLD.name;
    UPDATE provisioning_raw SET connection = NEW.name WHERE connection = OLD.name;
    UPDATE job_status_history SET connection = NEW.name WHERE connection = OLD.name;
    UPDATE log_fetches SET connection = NEW.name WHERE connection = OLD.name;
    UPDATE op_batches SET connection = NEW.name WHERE connection = OLD.name;
END;

-- Writes for a connection that does not exist (one statement-level check per row; measured in bench/ingest).
CREATE TRIGGER snapshots_need_connection BEFORE INSERT ON snapshots
    WHEN NOT EXISTS (SELECT 1 FROM connections WHERE name = NEW.connection)
BEGIN SELECT RAISE(ABORT, 'no such connection'); END;
CREATE TRIGGER provisioning_raw_need_connection BEFORE INSERT ON provisioning_raw
    WHEN NOT EXISTS (SELECT 1 FROM connections WHERE name = NEW.connection)
BEGIN SELECT RAISE(ABORT, 'no such connection'); END;
CREATE TRIGGER job_status_need_connection BEFORE INSERT ON job_status_history
    WHEN NOT EXISTS (SELECT 1 FROM connections WHERE name = NEW.connection)
BEGIN SELECT RAISE(ABORT, 'no such connection'); END;
CREATE TRIGGER log_fetches_need_connection BEFORE INSERT ON log_fetches
    WHEN NOT EXISTS (SELECT 1 FROM connections WHERE name = NEW.connection)
BEGIN SELECT RAISE(ABORT, 'no such connection'); END;
CREATE TRIGGER op_batches_need_connection BEFORE INSERT ON op_batches
    WHEN NOT EXISTS (SELECT 1 FROM connections WHERE name = NEW.connection)
BEGIN SELECT RAISE(ABORT, 'no such connection'); END;
