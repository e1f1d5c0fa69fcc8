-- atoll catalog, schema version 2: searchable manifest data and the full-text index.

-- Manifest blobs that were fetched, verified against an entry's hash and parsed.
CREATE TABLE manifests (
    hash BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    categories TEXT NOT NULL,
    license TEXT,
    body BLOB NOT NULL
) WITHOUT ROWID;

-- Denormalised from the head entry, its manifest and the publisher's score, for sorting.
ALTER TABLE apps ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE apps ADD COLUMN published_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN trust REAL NOT NULL DEFAULT 0;
UPDATE apps SET
    name = app,
    published_at = coalesce((SELECT published_at FROM entries WHERE id = apps.head_entry_id), 0),
    trust = coalesce((SELECT score FROM trust_scores WHERE publisher_id = apps.publisher_id), 0);
CREATE INDEX apps_by_trust ON apps(trust DESC, name);
CREATE INDEX apps_by_recency ON apps(published_at DESC);
CREATE INDEX apps_by_name ON apps(name);

CREATE TABLE app_categories (
    category TEXT NOT NULL,
    app_id INTEGER NOT NULL REFERENCES apps(id),
    PRIMARY KEY (category, app_id)
) WITHOUT ROWID;

-- rowid = apps.id. Kept in step by the catalog code (not triggers), see search.rs.
CREATE VIRTUAL TABLE app_search USING fts5(
    name, description, categories, publisher, app,
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO app_search (rowid, name, description, categories, publisher, app)
    SELECT a.id, a.app, '', '', coalesce(p.name, ''), a.app
    FROM apps a JOIN publishers p ON p.id = a.publisher_id;
