-- Migration 0012: the connection's copy of Entra's groups and their direct members, kept current with Graph's
-- groups/delta (members@delta), so a reconciliation after the first reads only the groups that changed. The
-- transitive members of the app's assigned groups are computed from these rows (console/reconcile/entra_side.py).
CREATE TABLE entra_groups (
    connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    display_name TEXT,
    PRIMARY KEY (connection_id, id)
) WITHOUT ROWID;
CREATE TABLE entra_group_members (
    connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    group_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    member_is_group INTEGER NOT NULL DEFAULT 0,   -- 1: a nested group (expanded for transitive members)
    PRIMARY KEY (connection_id, group_id, member_id)
) WITHOUT ROWID;
CREATE TABLE entra_groups_delta (
    connection_id INTEGER PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
    delta_link TEXT NOT NULL,
    at TEXT NOT NULL
);
