-- Desired state of the orchestrator: one row per installed app. The columns beside
-- `record` repeat what operators and other components query; `record` is the whole
-- AppRecord as JSON (manifest, artifact hashes, ports, images, rollback target).
CREATE TABLE IF NOT EXISTS orchestrator_apps (
    name TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    manifest_hash TEXT NOT NULL,
    source TEXT,
    wanted TEXT NOT NULL CHECK (wanted IN ('running', 'stopped', 'removed')),
    stopped_by_user INTEGER NOT NULL DEFAULT 0,
    record TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
