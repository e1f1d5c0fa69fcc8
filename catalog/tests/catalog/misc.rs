//! Profiles, desired state, sync cursors.

use atoll_catalog::{CatalogError, DesiredApp, Provenance, UpdateOutcome, Wanted};
use atoll_registry::objects::PublisherType;
use atoll_registry::{Envelope, PublisherProfile};

use crate::common::*;

#[test]
fn profiles_bind_nostr_keys_and_follow_the_sequence_rules() {
    let mut s = store();
    let k = key(1);
    let relay = Provenance::Relay("ws://r".into());
    let profile = |name: &str, seq: u64| {
        let p = PublisherProfile {
            kind: PublisherType,
            did: k.did(),
            name: name.into(),
            links: Default::default(),
            nostr_keys: vec!["cd".repeat(32)],
            iroh_nodes: vec![],
            sequence: seq,
            updated_at: 1,
        };
        Envelope::sign(&p, &k)
            .unwrap()
            .verify::<PublisherProfile>()
            .unwrap()
    };
    assert_eq!(
        s.cat.ingest_profile(&profile("One", 1), &relay).unwrap(),
        UpdateOutcome::New
    );
    assert_eq!(
        s.cat.ingest_profile(&profile("Two", 2), &relay).unwrap(),
        UpdateOutcome::Newer { previous: 1 }
    );
    assert_eq!(
        s.cat.ingest_profile(&profile("Old", 1), &relay).unwrap(),
        UpdateOutcome::Rollback { current: 2 }
    );
    assert_eq!(
        s.cat.dids_for_nostr_key(&"cd".repeat(32)).unwrap(),
        vec![k.did()]
    );
    assert_eq!(
        s.cat.explain(&k.did()).unwrap().name.as_deref(),
        Some("Two")
    );
}

#[test]
fn desired_state_needs_a_stored_entry_and_round_trips() {
    let mut s = store();
    let k = key(1);
    let e = signed(&k, "hello", 1);
    s.cat
        .ingest(&e, &Provenance::Relay("ws://r".into()))
        .unwrap();
    let mut d = DesiredApp {
        app: e.app_ref(),
        version: e.version.clone(),
        manifest_hash: e.manifest.hash,
        wanted: Wanted::Running,
        stopped_by_user: false,
    };
    s.cat.set_desired(&d).unwrap();
    d.wanted = Wanted::Stopped;
    d.stopped_by_user = true;
    s.cat.set_desired(&d).unwrap();
    assert_eq!(s.cat.desired().unwrap(), vec![d.clone()]);
    let mut wrong = d.clone();
    wrong.manifest_hash = atoll_registry::Hash::of(b"other");
    assert!(matches!(
        s.cat.set_desired(&wrong),
        Err(CatalogError::NotFound(_))
    ));
    assert!(s.cat.remove_desired(&d.app).unwrap());
    assert!(s.cat.desired().unwrap().is_empty());
}

#[test]
fn sync_cursors_never_move_back() {
    let mut s = store();
    assert_eq!(s.cat.sync_cursor("ws://r").unwrap(), None);
    assert_eq!(s.cat.advance_sync_cursor("ws://r", 100).unwrap(), 100);
    assert_eq!(s.cat.advance_sync_cursor("ws://r", 50).unwrap(), 100);
    assert_eq!(s.cat.advance_sync_cursor("ws://r", 150).unwrap(), 150);
    assert_eq!(s.cat.sync_cursor("ws://r").unwrap(), Some(150));
}

#[test]
fn stored_names_are_the_serialized_names_and_unknown_ones_are_refused() {
    use atoll_catalog::{AuditKind, BlobKind, EntryStatus, PenaltyKind, TrustDecision};
    fn check<T: serde::Serialize + std::fmt::Display + Copy>(
        all: &[T],
        as_str: fn(T) -> &'static str,
    ) {
        for v in all {
            assert_eq!(serde_json::to_value(v).unwrap(), as_str(*v));
            assert_eq!(v.to_string(), as_str(*v));
        }
    }
    check(AuditKind::ALL, AuditKind::as_str);
    check(BlobKind::ALL, BlobKind::as_str);
    check(EntryStatus::ALL, EntryStatus::as_str);
    check(PenaltyKind::ALL, PenaltyKind::as_str);
    check(TrustDecision::ALL, TrustDecision::as_str);
    for s in EntryStatus::ALL {
        assert_eq!(EntryStatus::from_stored(s.as_str()), Ok(*s));
    }
    let err = EntryStatus::from_stored("zombie").unwrap_err();
    assert_eq!(err.to_string(), "\"zombie\" is not a known entry status");
}
