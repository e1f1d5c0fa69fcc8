-- atoll catalog, schema version 3: a bounded, deduplicated audit log, and healed cursors.

-- `key` names the refused input (a Nostr event id, a signed payload, a blob and its
-- source), hashed with what was refused: the same input delivered again adds no row.
ALTER TABLE audit ADD COLUMN key BLOB;
CREATE UNIQUE INDEX audit_by_key ON audit(key) WHERE key IS NOT NULL;
-- The rows that still carry evidence bytes (only the newest few keep them).
CREATE INDEX audit_with_evidence ON audit(id) WHERE payload IS NOT NULL;

-- Older files had no cap: keep the newest 10000 rows (audit::MAX_AUDIT_ROWS), evidence
-- on the newest 256 (audit::MAX_EVIDENCE_ROWS), and the bounded text lengths.
DELETE FROM audit WHERE id <= (SELECT max(id) FROM audit) - 10000;
UPDATE audit SET payload = NULL WHERE payload IS NOT NULL AND id < (
    SELECT id FROM audit WHERE payload IS NOT NULL ORDER BY id DESC LIMIT 1 OFFSET 255);
UPDATE audit SET reason = substr(reason, 1, 1024) WHERE length(reason) > 1024;
UPDATE audit SET subject = substr(subject, 1, 256) WHERE length(subject) > 256;
UPDATE audit SET source = substr(source, 1, 256) WHERE length(source) > 256;

-- A cursor found ahead of the clock is reset; these record when and from what.
ALTER TABLE sync_cursors ADD COLUMN reset_from INTEGER;
ALTER TABLE sync_cursors ADD COLUMN reset_at INTEGER;
