//! Two connections (threads) ingesting at the same instant: exactly one wins.

use std::sync::{Arc, Barrier};

use atoll_catalog::{Catalog, IngestOutcome, Provenance};
use atoll_registry::{Entry, Verified};

use crate::common::*;

fn race(
    path: &std::path::Path,
    a: Vec<Verified<Entry>>,
    b: Vec<Verified<Entry>>,
) -> (Vec<IngestOutcome>, Vec<IngestOutcome>) {
    let barrier = Arc::new(Barrier::new(2));
    let spawn = |entries: Vec<Verified<Entry>>, relay: &'static str| {
        let barrier = barrier.clone();
        let path = path.to_owned();
        std::thread::spawn(move || {
            let mut cat = Catalog::open(&path).unwrap();
            let prov = Provenance::Relay(relay.into());
            barrier.wait();
            entries
                .iter()
                .map(|e| cat.ingest(e, &prov).unwrap())
                .collect::<Vec<_>>()
        })
    };
    let ta = spawn(a, "ws://a");
    let tb = spawn(b, "ws://b");
    (ta.join().unwrap(), tb.join().unwrap())
}

#[test]
fn two_writers_ingesting_the_same_entry_one_wins_one_duplicate() {
    let s = store();
    let k = key(1);
    let entries: Vec<_> = (0..40)
        .map(|i| signed(&k, &format!("app-{i}"), 1))
        .collect();
    let (a, b) = race(&s.path, entries.clone(), entries);
    for (x, y) in a.iter().zip(&b) {
        let mut names = [x.name(), y.name()];
        names.sort();
        assert_eq!(names, ["duplicate", "new"], "{x:?} {y:?}");
    }
    let cat = Catalog::open(&s.path).unwrap();
    let report = cat.check().unwrap();
    assert_eq!(report.entries, 40);
}

#[test]
fn two_writers_ingesting_conflicting_entries_one_wins_one_equivocation() {
    let s = store();
    let k = key(1);
    let a: Vec<_> = (0..40)
        .map(|i| signed(&k, &format!("app-{i}"), 1))
        .collect();
    let b: Vec<_> = (0..40)
        .map(|i| {
            let mut e = entry(&k, &format!("app-{i}"), 1);
            e.version = "9.9.9".parse().unwrap();
            sign(&e, &k)
        })
        .collect();
    let (ra, rb) = race(&s.path, a, b);
    for (x, y) in ra.iter().zip(&rb) {
        let mut names = [x.name(), y.name()];
        names.sort();
        assert_eq!(names, ["equivocation", "new"], "{x:?} {y:?}");
    }
    let cat = Catalog::open(&s.path).unwrap();
    let report = cat.check().unwrap();
    assert_eq!(
        report.entries, 80,
        "both versions are kept: one head, one conflict each"
    );
    // One penalty per contested (app, sequence), not per writer.
    assert_eq!(cat.explain(&k.did()).unwrap().penalties.len(), 40);
}
