//! A catalog file written at schema version 1 opens and migrates.

use atoll_catalog::schema::{APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION};
use atoll_catalog::{Catalog, IngestOutcome, Provenance, SearchQuery};
use rusqlite::params;

use crate::common::*;

#[test]
fn a_version_1_file_migrates_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let k = key(3);
    let e = signed(&k, "old-app", 4);
    {
        // What a version-1 atoll would have written.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO publishers (id, did, name, first_seen) VALUES (1, ?1, 'Old Publisher', 1)",
            [k.did().to_string()],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO apps (id, publisher_id, app, updated_at) VALUES (1, 1, 'old-app', 1)",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO entries (id, app_id, sequence, version, payload_id, manifest_hash, manifest_size,
                 published_at, expires_at, status, envelope, first_seen)
             VALUES (1, 1, 4, '1.0.4', ?1, ?2, 100, ?3, ?4, 'head', ?5, 1)",
            params![
                e.payload_id().as_bytes(),
                e.manifest.hash.as_bytes(),
                e.published_at as i64,
                e.expires_at as i64,
                e.envelope_bytes().unwrap()
            ],
        )
        .unwrap();
        conn.execute("UPDATE apps SET head_entry_id = 1", [])
            .unwrap();
        conn.execute(
            "INSERT INTO entry_sources VALUES (1, 'relay', 'ws://old', 1)",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO blobs (hash, size, kind, first_seen) VALUES (?1, 100, 'manifest', 1)",
            [e.manifest.hash.as_bytes()],
        )
        .unwrap();
        // Desired state as the old summary row (the whole record was in orchestrator.db).
        conn.execute(
            "INSERT INTO installed (app_id, version, manifest_hash, wanted, stopped_by_user, updated_at)
             VALUES (1, '1.0.4', ?1, 'running', 0, 1)",
            [e.manifest.hash.as_bytes()],
        )
        .unwrap();
    }
    let mut cat = Catalog::open(&path).unwrap();
    assert_eq!(cat.schema_version().unwrap(), SCHEMA_VERSION);
    cat.check().unwrap();
    // Migration 4 drops the summary rows (they cannot be completed from this file; the
    // node's import of orchestrator.db recreates them) and the app no longer counts as
    // installed.
    assert!(cat.installed_apps().unwrap().is_empty());
    assert!(!cat.app(&e.app_ref()).unwrap().unwrap().summary.installed);
    let found = cat
        .search(&SearchQuery {
            words: "old".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(found.items.len(), 1);
    assert_eq!(
        found.items[0].publisher_name.as_deref(),
        Some("Old Publisher")
    );
    assert_eq!(found.items[0].published_at, e.published_at);
    // The migrated store follows the rules with what it held.
    assert_eq!(
        cat.ingest(&e, &Provenance::Relay("ws://new".into()))
            .unwrap(),
        IngestOutcome::Duplicate { sequence: 4 }
    );
    assert!(matches!(
        cat.ingest(
            &signed(&k, "old-app", 2),
            &Provenance::Relay("ws://new".into())
        )
        .unwrap(),
        IngestOutcome::Rollback { .. }
    ));
    // Opening again is a no-op.
    drop(cat);
    let cat = Catalog::open(&path).unwrap();
    assert_eq!(cat.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn a_version_6_block_moves_to_its_own_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let (blocked, pinned) = (key(4), key(5));
    {
        // What version 6 wrote: one decision per DID in `anchors`.
        let conn = rusqlite::Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..6] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        conn.pragma_update(None, "user_version", 6).unwrap();
        for (id, k) in [(1, &blocked), (2, &pinned)] {
            conn.execute(
                "INSERT INTO publishers (id, did, first_seen) VALUES (?1, ?2, 1)",
                params![id, k.did().to_string()],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO anchors VALUES (1, 'block', 'spam', 7), (2, 'pin', 'friend', 8)",
            [],
        )
        .unwrap();
    }
    let mut cat = Catalog::open(&path).unwrap();
    assert_eq!(cat.schema_version().unwrap(), SCHEMA_VERSION);
    assert!(cat.is_blocked(&blocked.did()).unwrap());
    assert!(!cat.is_blocked(&pinned.did()).unwrap());
    cat.recompute_trust().unwrap();
    assert_eq!(cat.trust_score(&blocked.did()).unwrap(), 0.0);
    assert_eq!(cat.trust_score(&pinned.did()).unwrap(), 1.0);
    assert!(cat.unblock(&blocked.did()).unwrap());
    assert!(!cat.explain(&blocked.did()).unwrap().pinned);
}
