-- atoll catalog, schema version 6: key rotation with pre-commitment (docs/design.md,
-- "Key rotation").
--
-- `key_commitments`: the inception commitment of an identity (to its key k1), fixed by
-- the first profile accepted that carries `next_key`; `flagged` is set when a profile
-- signed by a current key tried to change a commitment (a possible key compromise).
CREATE TABLE key_commitments (
    publisher_id INTEGER PRIMARY KEY REFERENCES publishers(id),
    inception TEXT,
    flagged TEXT,
    flagged_at INTEGER
);

-- Every accepted rotation of an identity, in order (idx 1, 2, ...): the key it revealed,
-- its commitment to the next key, what the retired key signed legitimately (`last`, the
-- payload's JSON), what accepting it voided (`voided`, JSON) and its signed envelope.
CREATE TABLE key_rotations (
    publisher_id INTEGER NOT NULL REFERENCES publishers(id),
    idx INTEGER NOT NULL CHECK (idx >= 1),
    key TEXT NOT NULL,
    next_key TEXT NOT NULL,
    last TEXT NOT NULL,
    voided TEXT NOT NULL DEFAULT '[]',
    payload_id BLOB NOT NULL UNIQUE,
    envelope BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    accepted_at INTEGER NOT NULL,
    PRIMARY KEY (publisher_id, idx)
) WITHOUT ROWID;
CREATE INDEX key_rotations_by_key ON key_rotations(key);

-- The key that signed an entry when it is not the publisher's own DID (a rotated key),
-- and why an entry is void (signed by a retired key after its last legitimate sequence):
-- a void entry is kept as evidence and shown, never a head.
ALTER TABLE entries ADD COLUMN signer TEXT;
ALTER TABLE entries ADD COLUMN void TEXT;
-- The key that signed the stored profile when it is not the publisher's own DID.
ALTER TABLE publishers ADD COLUMN profile_signer TEXT;
