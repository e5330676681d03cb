-- Migration 0008: the setup check ("doctor", console/doctor/).
-- doctor_confirmations: what an operator confirmed by hand for an item the console cannot check (scope,
-- notification e-mail, accidental-deletion prevention, SSO), who and when; shown on the Setup check page.
-- doctor_runs: each run's worst verdict and its checks as JSON (plain text only), for the Overview and `remind`.
-- Both belong to their connection: removing it removes them.
CREATE TABLE doctor_confirmations (
    connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    item TEXT NOT NULL,
    confirmed_by TEXT NOT NULL,
    confirmed_at TEXT NOT NULL,           -- ISO 8601 UTC
    PRIMARY KEY (connection_id, item)
);
CREATE TABLE doctor_runs (
    id INTEGER PRIMARY KEY,
    connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    at TEXT NOT NULL,                     -- ISO 8601 UTC
    worst TEXT NOT NULL,                  -- ok / warning / failure
    summary TEXT NOT NULL,
    report TEXT NOT NULL                  -- the report as JSON (Report.to_dict)
);
CREATE INDEX doctor_runs_by_connection ON doctor_runs (connection_id, at);
