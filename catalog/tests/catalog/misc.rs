//! Profiles, desired state, sync cursors.

use atoll_catalog::{DesiredRun, InstalledRow, Provenance, UpdateOutcome};
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
            next_key: None,
            nostr_keys: vec!["cd".repeat(32)],
            iroh_nodes: vec![],
            relays: vec![],
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

fn installed_row(
    name: &str,
    app: Option<atoll_registry::AppRef>,
    e: &atoll_registry::Entry,
) -> InstalledRow {
    InstalledRow {
        name: name.into(),
        app,
        version: e.version.clone(),
        manifest_hash: e.manifest.hash,
        wanted: DesiredRun::Running,
        stopped_by_user: false,
        record: format!("{{\"name\":\"{name}\"}}"),
        updated_at: 7,
    }
}

#[test]
fn desired_state_round_trips_by_install_name_and_links_catalog_apps() {
    let mut s = store();
    let k = key(1);
    let e = signed(&k, "hello", 1);
    s.cat
        .ingest(&e, &Provenance::Relay("ws://r".into()))
        .unwrap();
    let mut d = installed_row("hello-1", Some(e.app_ref()), &e);
    s.cat.put_installed(&d).unwrap();
    d.wanted = DesiredRun::Stopped;
    d.stopped_by_user = true;
    d.record = "{\"changed\":true}".into();
    s.cat.put_installed(&d).unwrap();
    assert_eq!(s.cat.installed_apps().unwrap(), vec![d.clone()]);
    assert_eq!(s.cat.installed_app("hello-1").unwrap(), Some(d.clone()));
    assert!(s.cat.app(&e.app_ref()).unwrap().unwrap().summary.installed);
    // An app the catalog does not know (a local app dir) is kept, linked to nothing.
    let other = signed(&key(2), "elsewhere", 1);
    let mut unknown = installed_row("elsewhere", Some(other.app_ref()), &other);
    unknown.wanted = DesiredRun::Removed;
    s.cat.put_installed(&unknown).unwrap();
    unknown.app = None;
    assert_eq!(s.cat.installed_app("elsewhere").unwrap(), Some(unknown));
    s.cat.check().unwrap();
    // An import keeps what is recorded under the same name, adds the rest, in one go.
    let mut stale = d.clone();
    stale.version = "0.0.1".parse().unwrap();
    let fresh = installed_row("hello-2", None, &e);
    assert_eq!(s.cat.import_installed(&[stale, fresh.clone()]).unwrap(), 1);
    assert_eq!(s.cat.installed_app("hello-1").unwrap(), Some(d.clone()));
    assert_eq!(s.cat.installed_app("hello-2").unwrap(), Some(fresh));
    assert!(s.cat.delete_installed("hello-1").unwrap());
    assert!(!s.cat.delete_installed("hello-1").unwrap());
    assert!(!s.cat.app(&e.app_ref()).unwrap().unwrap().summary.installed);
    assert_eq!(s.cat.installed_apps().unwrap().len(), 2);
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
