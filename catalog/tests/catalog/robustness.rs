//! A real SIGKILL mid-ingest, corrupt and foreign files, newer schemas.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use atoll_catalog::{Catalog, CatalogError, OpenError, Provenance};

use crate::common::*;

const CHILD_ENV: &str = "ATOLL_CATALOG_CRASH_CHILD";
const BATCH: usize = 400;
const BATCHES: usize = 8;

/// The child side of `a_killed_writer_leaves_a_consistent_store`: does nothing unless the
/// parent set the environment variable.
#[test]
fn crash_child() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let k = key(9);
    let prov = Provenance::Relay("ws://crash".into());
    let all: Vec<_> = (0..BATCH * BATCHES)
        .map(|i| signed(&k, &format!("app-{i}"), 1))
        .collect();
    let mut cat = Catalog::open(&path).unwrap();
    println!("signed");
    for (n, batch) in all.chunks(BATCH).enumerate() {
        cat.ingest_batch(batch, &prov).unwrap();
        println!("committed {n}");
    }
    println!("done");
    std::thread::sleep(std::time::Duration::from_secs(600));
}

#[test]
fn a_killed_writer_leaves_a_consistent_store() {
    let s = store();
    drop(s.cat);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "robustness::crash_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &s.path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    // Let two batches commit, then kill the child while it writes the third or later.
    loop {
        let line = lines.next().expect("child exited early").unwrap();
        assert_ne!(
            line.trim(),
            "done",
            "child finished before it could be killed"
        );
        if line.trim() == "committed 1" {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());

    let mut cat = Catalog::open(&s.path).unwrap();
    let report = cat.check().unwrap();
    let entries = report.entries as usize;
    assert!(entries >= 2 * BATCH, "committed batches survive: {entries}");
    assert!(
        entries < BATCH * BATCHES,
        "the kill landed before the end: {entries}"
    );
    assert_eq!(entries % BATCH, 0, "a batch is all or nothing: {entries}");
    // The store is writable again.
    let k = key(9);
    cat.ingest(
        &signed(&k, "after-crash", 1),
        &Provenance::Relay("ws://x".into()),
    )
    .unwrap();
    cat.check().unwrap();
}

#[test]
fn a_file_that_is_not_sqlite_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    std::fs::write(&path, b"this is a text file, not a database\n".repeat(200)).unwrap();
    assert!(matches!(
        Catalog::open(&path),
        Err(OpenError::NotADatabase { .. })
    ));
    // SQLite magic, then garbage.
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend(std::iter::repeat_n(0xA5u8, 8192));
    std::fs::write(&path, &bytes).unwrap();
    let err = Catalog::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::NotADatabase { .. } | OpenError::Corrupt { .. }
        ),
        "{err:?}"
    );
    assert!(!err.to_string().is_empty());
}

#[test]
fn a_foreign_sqlite_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('mine');")
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = Catalog::open(&path).unwrap_err();
    assert!(matches!(err, OpenError::Foreign { .. }), "{err:?}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "a foreign file is not modified"
    );
}

#[test]
fn a_newer_schema_is_refused() {
    let s = store();
    drop(s.cat);
    {
        let conn = rusqlite::Connection::open(&s.path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let err = Catalog::open(&s.path).unwrap_err();
    assert!(
        matches!(err, OpenError::TooNew { found: 99, .. }),
        "{err:?}"
    );
}

#[test]
fn damaged_pages_give_typed_errors_not_panics() {
    let mut s = store();
    let k = key(1);
    let batch: Vec<_> = (0..300)
        .map(|i| signed(&k, &format!("app-{i}"), 1))
        .collect();
    s.cat
        .ingest_batch(&batch, &Provenance::Relay("ws://x".into()))
        .unwrap();
    drop(s.cat);
    // Fold the WAL into the main file, then scribble over pages in the middle.
    {
        let conn = rusqlite::Connection::open(&s.path).unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
    let mut bytes = std::fs::read(&s.path).unwrap();
    let len = bytes.len();
    for b in &mut bytes[len / 3..len / 3 + 16384] {
        *b = 0x5A;
    }
    std::fs::write(&s.path, &bytes).unwrap();
    match Catalog::open(&s.path) {
        Err(e) => assert!(!e.to_string().is_empty()),
        Ok(cat) => {
            let err = cat.check().unwrap_err();
            assert!(
                matches!(
                    err,
                    CatalogError::Corrupt(_) | CatalogError::Inconsistent(_)
                ),
                "{err:?}"
            );
        }
    }
}
