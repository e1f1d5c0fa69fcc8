-- atoll catalog, schema version 4: one home for desired state.
--
-- `installed` used to be a summary (app, version, manifest hash, wanted, stopped by user)
-- of what the orchestrator kept in a database of its own (`orchestrator.db`), and the node
-- wrote both one after the other. Now it is the orchestrator's desired state itself: one
-- row per install name, with the columns the catalog's queries need and the orchestrator's
-- whole record (`AppRecord`: release, manifest, archive hashes, port overrides, image ids,
-- the install phase and the rollback target) as JSON text. `app_id` is NULL for an app
-- that is not in the catalog (installed from a local app dir).
--
-- The old rows are dropped: they cannot be completed from this file (the release, port
-- overrides and image ids were only in orchestrator.db). A node that has an
-- orchestrator.db imports it into this table once at its next start, which recreates
-- every row; a row without an orchestrator record had nothing running behind it.
DROP TABLE installed;
CREATE TABLE installed (
    name TEXT PRIMARY KEY,
    app_id INTEGER REFERENCES apps(id),
    version TEXT NOT NULL,
    manifest_hash BLOB NOT NULL,
    wanted TEXT NOT NULL CHECK (wanted IN ('running', 'stopped', 'removed')),
    stopped_by_user INTEGER NOT NULL DEFAULT 0,
    record TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX installed_by_app ON installed(app_id) WHERE app_id IS NOT NULL;
