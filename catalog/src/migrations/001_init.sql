-- atoll catalog, schema version 1: what the node has seen, believes, trusts and runs.
-- Every DID the node has heard of (publisher, endorser or endorsed) has a row here.
CREATE TABLE publishers (
    id INTEGER PRIMARY KEY,
    did TEXT NOT NULL UNIQUE,
    name TEXT,                     -- display name from the newest verified profile
    profile_sequence INTEGER,
    profile_payload_id BLOB,
    profile_envelope BLOB,         -- canonical envelope bytes of that profile
    first_seen INTEGER NOT NULL
);

-- Transport keys and iroh nodes bound to a DID by its signed profile.
CREATE TABLE publisher_keys (
    publisher_id INTEGER NOT NULL REFERENCES publishers(id),
    kind TEXT NOT NULL CHECK (kind IN ('nostr', 'iroh')),
    key TEXT NOT NULL,
    PRIMARY KEY (publisher_id, kind, key)
) WITHOUT ROWID;
CREATE INDEX publisher_keys_by_key ON publisher_keys(kind, key);

-- One row per <did>/<app>; head_entry_id is the winning entry (highest sequence).
CREATE TABLE apps (
    id INTEGER PRIMARY KEY,
    publisher_id INTEGER NOT NULL REFERENCES publishers(id),
    app TEXT NOT NULL,
    head_entry_id INTEGER REFERENCES entries(id),
    equivocated INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL,
    UNIQUE (publisher_id, app)
);

-- Every signed entry accepted (and every conflicting one kept as evidence).
-- status: head (the winner), superseded (a lower sequence), conflict (lost an equivocation).
CREATE TABLE entries (
    id INTEGER PRIMARY KEY,
    app_id INTEGER NOT NULL REFERENCES apps(id),
    sequence INTEGER NOT NULL,
    version TEXT NOT NULL,
    payload_id BLOB NOT NULL UNIQUE,
    manifest_hash BLOB NOT NULL,
    manifest_size INTEGER NOT NULL,
    published_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    yanked TEXT,
    status TEXT NOT NULL CHECK (status IN ('head', 'superseded', 'conflict')),
    from_origin INTEGER NOT NULL DEFAULT 0,
    envelope BLOB NOT NULL,
    first_seen INTEGER NOT NULL
);
CREATE INDEX entries_by_app_sequence ON entries(app_id, sequence);
CREATE INDEX entries_by_manifest ON entries(manifest_hash);

-- Where each entry was seen: kind is relay, peer, origin or local.
CREATE TABLE entry_sources (
    entry_id INTEGER NOT NULL REFERENCES entries(id),
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (entry_id, kind, source)
) WITHOUT ROWID;

-- Blobs named by accepted entries, and where they are held.
CREATE TABLE blobs (
    hash BLOB PRIMARY KEY,
    size INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('manifest', 'icon', 'image')),
    held INTEGER NOT NULL DEFAULT 0,
    first_seen INTEGER NOT NULL
) WITHOUT ROWID;
-- Artifacts (icon, image archives) each entry names; the manifest is entries.manifest_hash.
CREATE TABLE entry_artifacts (
    hash BLOB NOT NULL,
    entry_id INTEGER NOT NULL REFERENCES entries(id),
    PRIMARY KEY (hash, entry_id)
) WITHOUT ROWID;
CREATE TABLE blob_holders (
    hash BLOB NOT NULL REFERENCES blobs(hash),
    holder TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (hash, holder)
) WITHOUT ROWID;

-- The newest endorsement per signer and subject; weight < 0 is a report.
CREATE TABLE endorsements (
    signer_id INTEGER NOT NULL REFERENCES publishers(id),
    subject_id INTEGER NOT NULL REFERENCES publishers(id),
    weight REAL NOT NULL CHECK (weight BETWEEN -1.0 AND 1.0),
    reason TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    payload_id BLOB NOT NULL,
    envelope BLOB NOT NULL,
    PRIMARY KEY (signer_id, subject_id)
) WITHOUT ROWID;
CREATE INDEX endorsements_by_subject ON endorsements(subject_id);

-- Operator decisions: pinned DIDs are trust anchors, blocked DIDs score 0.
CREATE TABLE anchors (
    publisher_id INTEGER PRIMARY KEY REFERENCES publishers(id),
    decision TEXT NOT NULL CHECK (decision IN ('pin', 'block')),
    note TEXT NOT NULL DEFAULT '',
    decided_at INTEGER NOT NULL
);

-- Misbehaviour attributed to a DID; incident is unique so one incident counts once.
CREATE TABLE penalties (
    id INTEGER PRIMARY KEY,
    publisher_id INTEGER NOT NULL REFERENCES publishers(id),
    kind TEXT NOT NULL CHECK (kind IN ('equivocation', 'forged')),
    incident TEXT NOT NULL,
    detail TEXT NOT NULL,
    at INTEGER NOT NULL,
    UNIQUE (publisher_id, kind, incident)
);

-- Output of the last trust computation, with what is needed to explain it.
CREATE TABLE trust_scores (
    publisher_id INTEGER PRIMARY KEY REFERENCES publishers(id),
    score REAL NOT NULL,
    base REAL NOT NULL,
    parent_id INTEGER,
    edge_weight REAL,
    anchor_id INTEGER,
    hops INTEGER NOT NULL,
    report_factor REAL NOT NULL,
    penalty_factor REAL NOT NULL,
    computed_at INTEGER NOT NULL
);

-- Desired state for the orchestrator.
CREATE TABLE installed (
    app_id INTEGER PRIMARY KEY REFERENCES apps(id),
    version TEXT NOT NULL,
    manifest_hash BLOB NOT NULL,
    wanted TEXT NOT NULL CHECK (wanted IN ('running', 'stopped')),
    stopped_by_user INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
);

-- Nostr `since` cursor per relay.
CREATE TABLE sync_cursors (
    relay TEXT PRIMARY KEY,
    since INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Input that was refused, and why.
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    source_kind TEXT NOT NULL,
    source TEXT NOT NULL,
    subject TEXT,
    reason TEXT NOT NULL,
    payload BLOB
);
