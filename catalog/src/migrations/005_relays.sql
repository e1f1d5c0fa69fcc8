-- atoll catalog, schema version 5: relays chosen at runtime, and publishers' outboxes.
--
-- `relay_choices`: what the node's operator decided about a Nostr relay while the node
-- ran (`atoll sync relay add|remove`, the API, the UI): `added` (used besides the
-- configured ones) or `disabled` (a configured relay, or one a publisher's outbox names,
-- that this node must not use). The node merges them with its config at every start.
CREATE TABLE relay_choices (
    url TEXT PRIMARY KEY,
    choice TEXT NOT NULL CHECK (choice IN ('added', 'disabled')),
    note TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- The relays the newest verified profile of a publisher names (its outbox, NIP-65
-- style), in the profile's order. Replaced with the profile.
CREATE TABLE publisher_relays (
    publisher_id INTEGER NOT NULL REFERENCES publishers(id),
    position INTEGER NOT NULL,
    url TEXT NOT NULL,
    PRIMARY KEY (publisher_id, position)
) WITHOUT ROWID;
