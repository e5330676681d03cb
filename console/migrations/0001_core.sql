-- Migration 0001: the console core (connections, token metadata, reminders, notifications, rotations).
-- No secret is ever stored here: API keys, tokens, Graph client secrets and apprise URLs live in the keyring.
-- Times are ISO 8601 UTC text ("2026-11-26T04:15:00+00:00").

CREATE TABLE connections (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    api_url TEXT NOT NULL,
    scim_url TEXT,                          -- NULL: derived (api_url + "/scim")
    auth_mode TEXT NOT NULL DEFAULT '6clicks-api-key'
        CHECK (auth_mode IN ('6clicks-api-key', 'static-token')),
    tenant_id TEXT,
    client_id TEXT,
    service_principal_id TEXT,
    job_id TEXT,
    graph_base_url TEXT,
    login_base_url TEXT,
    role_rule TEXT NOT NULL DEFAULT 'prefix:Role - ',
    reminder_days TEXT NOT NULL DEFAULT '60,30,14,7,3,1',
    allow_http INTEGER NOT NULL DEFAULT 0,
    verify_tls INTEGER NOT NULL DEFAULT 1,
    is_demo INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- One row per token ever stored for a connection; the current one has is_current = 1.
CREATE TABLE tokens (
    id INTEGER PRIMARY KEY,
    connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,              -- last 4 hex chars of the token's SHA-256
    origin TEXT NOT NULL CHECK (origin IN ('generated', 'imported', 'rotated')),
    issued_at TEXT,
    expires_at TEXT,
    expiry_source TEXT,                     -- jwt-exp | response | assumed-365d | confirmed-estimate
    estimated INTEGER NOT NULL DEFAULT 0,
    is_current INTEGER NOT NULL DEFAULT 1,
    stored_at TEXT NOT NULL,
    replaced_at TEXT,
    last_test_at TEXT,
    last_test_result TEXT,                  -- ok | rejected | forbidden | unreachable | tls | protocol | error
    last_test_message TEXT
);
CREATE INDEX tokens_current ON tokens (connection_id, is_current);

-- Notifications already delivered (or deliberately skipped), so each is sent once per channel.
-- Token reminders use key "token:<fingerprint>:<threshold>"; other areas use their own keys.
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    channel TEXT NOT NULL,                  -- "apprise:<fingerprint of the URL>"; never the URL itself
    outcome TEXT NOT NULL CHECK (outcome IN ('sent', 'skipped')),
    title TEXT NOT NULL,
    at TEXT NOT NULL,
    UNIQUE (connection_id, key, channel)
);

-- Every rotation attempt, successful or not, without secrets.
CREATE TABLE rotations (
    id INTEGER PRIMARY KEY,
    connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    old_fingerprint TEXT,
    new_fingerprint TEXT,
    outcome TEXT NOT NULL,                  -- pushed | manual | failed
    verified INTEGER NOT NULL DEFAULT 0,
    pushed INTEGER NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT ''
);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
