-- atoll catalog, schema version 8: updates people control.
--
-- `update_policy`: the operator's auto-update policy of one app (`off`, `notify`, `auto`),
-- set from the API, CLI or UI; an app without a row takes the config file's `[auto_update]`
-- value (default `notify`).
CREATE TABLE update_policy (
    app_id INTEGER PRIMARY KEY REFERENCES apps(id),
    policy TEXT NOT NULL CHECK (policy IN ('off', 'notify', 'auto')),
    updated_at INTEGER NOT NULL
);

-- `update_failures`: the last update of an app that failed and was rolled back (or could
-- not be), with the orchestrator's reason: that version is not offered as a plain update
-- again, and auto-update does not retry it. A successful update clears the row.
CREATE TABLE update_failures (
    app_id INTEGER PRIMARY KEY REFERENCES apps(id),
    version TEXT NOT NULL,
    reason TEXT NOT NULL,
    restored TEXT,
    failed_at INTEGER NOT NULL
);
