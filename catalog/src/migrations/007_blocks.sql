-- atoll catalog, schema version 7: a block is its own state, beside the pin.
--
-- Until version 6 a block replaced the pin in `anchors` (one decision per DID), so
-- block → unblock lost the pin. `blocks` holds the block alone: a blocked DID scores 0 and
-- is never installed or updated whatever else holds; its pin (if any) stays in `anchors`
-- and applies again once it is unblocked.
CREATE TABLE blocks (
    publisher_id INTEGER PRIMARY KEY REFERENCES publishers(id),
    note TEXT NOT NULL DEFAULT '',
    blocked_at INTEGER NOT NULL
);

INSERT INTO blocks (publisher_id, note, blocked_at)
    SELECT publisher_id, note, decided_at FROM anchors WHERE decision = 'block';
DELETE FROM anchors WHERE decision = 'block';
