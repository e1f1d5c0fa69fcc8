//! The origin-wins rules, one test per rule and outcome.

use atoll_catalog::{AuditKind, EntryStatus, IngestOutcome, PenaltyKind, Provenance};
use atoll_registry::AppRef;

use crate::common::*;

fn relay(n: u8) -> Provenance {
    Provenance::Relay(format!("ws://127.0.0.1:{}", 7000 + u16::from(n)))
}

fn origin() -> Provenance {
    Provenance::Origin(ORIGIN_NODE.into())
}

fn app_ref(k: &atoll_registry::Keypair, app: &str) -> AppRef {
    format!("{}/{app}", k.did()).parse().unwrap()
}

#[test]
fn new_then_duplicate_records_every_source() {
    let mut s = store();
    let k = key(1);
    let e = signed(&k, "hello", 1);
    assert_eq!(
        s.cat.ingest(&e, &relay(1)).unwrap(),
        IngestOutcome::New { sequence: 1 }
    );
    assert_eq!(
        s.cat.ingest(&e, &relay(2)).unwrap(),
        IngestOutcome::Duplicate { sequence: 1 }
    );
    assert_eq!(
        s.cat.ingest(&e, &relay(2)).unwrap(),
        IngestOutcome::Duplicate { sequence: 1 }
    );
    let view = s.cat.app(&app_ref(&k, "hello")).unwrap().unwrap();
    assert_eq!(view.entries.len(), 1);
    assert_eq!(view.entries[0].sources, vec![relay(1), relay(2)]);
    s.cat.check().unwrap();
}

#[test]
fn stored_bytes_are_the_exact_signed_envelope() {
    let mut s = store();
    let k = key(1);
    let e = signed(&k, "hello", 1);
    s.cat.ingest(&e, &relay(1)).unwrap();
    let bytes = s.cat.entry_envelope(&e.payload_id()).unwrap().unwrap();
    assert_eq!(bytes, e.envelope_bytes().unwrap());
    let again = atoll_registry::Envelope::from_slice(&bytes).unwrap();
    assert_eq!(
        again
            .verify::<atoll_registry::Entry>()
            .unwrap()
            .payload_id(),
        e.payload_id()
    );
    assert_eq!(
        s.cat.head_envelope(&app_ref(&k, "hello")).unwrap().unwrap(),
        bytes
    );
}

#[test]
fn higher_sequence_wins_and_history_is_kept() {
    let mut s = store();
    let k = key(1);
    s.cat.ingest(&signed(&k, "hello", 1), &relay(1)).unwrap();
    assert_eq!(
        s.cat.ingest(&signed(&k, "hello", 5), &relay(1)).unwrap(),
        IngestOutcome::Newer {
            sequence: 5,
            previous: 1
        }
    );
    let view = s.cat.app(&app_ref(&k, "hello")).unwrap().unwrap();
    assert_eq!(view.summary.sequence, 5);
    let statuses: Vec<_> = view
        .entries
        .iter()
        .map(|e| (e.sequence, e.status))
        .collect();
    assert_eq!(
        statuses,
        vec![(5, EntryStatus::Head), (1, EntryStatus::Superseded)]
    );
    s.cat.check().unwrap();
}

#[test]
fn rollback_is_rejected_and_audited() {
    let mut s = store();
    let k = key(1);
    s.cat.ingest(&signed(&k, "hello", 5), &relay(1)).unwrap();
    let old = signed(&k, "hello", 3);
    assert_eq!(
        s.cat.ingest(&old, &relay(2)).unwrap(),
        IngestOutcome::Rollback {
            sequence: 3,
            current: 5
        }
    );
    let view = s.cat.app(&app_ref(&k, "hello")).unwrap().unwrap();
    assert_eq!(view.summary.sequence, 5);
    assert_eq!(
        view.entries.len(),
        1,
        "a rollback is not stored as an entry"
    );
    assert!(s.cat.entry_envelope(&old.payload_id()).unwrap().is_none());
    let log = s.cat.audit_log(10).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].kind, AuditKind::Rollback);
    assert_eq!(log[0].provenance, Some(relay(2)));
    assert!(log[0].reason.contains("lower"), "{}", log[0].reason);
    assert!(log[0].evidence_bytes > 0);
    s.cat.check().unwrap();
}

#[test]
fn equivocation_between_relays_keeps_the_first_and_flags_the_publisher() {
    let mut s = store();
    let k = key(1);
    let a = signed(&k, "hello", 7);
    let mut other = entry(&k, "hello", 7);
    other.version = "6.6.6".parse().unwrap();
    let b = sign(&other, &k);
    s.cat.ingest(&a, &relay(1)).unwrap();
    let out = s.cat.ingest(&b, &relay(2)).unwrap();
    assert_eq!(
        out,
        IngestOutcome::Equivocation {
            sequence: 7,
            kept: a.payload_id(),
            other: b.payload_id(),
            kept_from_origin: false
        }
    );
    let view = s.cat.app(&app_ref(&k, "hello")).unwrap().unwrap();
    assert!(view.summary.equivocated);
    assert!(!view.summary.auto_installable());
    assert_eq!(view.summary.version, "1.0.7");
    assert_eq!(
        view.entries
            .iter()
            .filter(|e| e.status == EntryStatus::Conflict)
            .count(),
        1
    );
    let ex = s.cat.explain(&k.did()).unwrap();
    assert_eq!(ex.penalties.len(), 1);
    assert_eq!(ex.penalties[0].kind, PenaltyKind::Equivocation);
    assert_eq!(
        s.cat.audit_log(10).unwrap()[0].kind,
        AuditKind::Equivocation
    );
    s.cat.check().unwrap();
}

#[test]
fn equivocation_keeps_the_copy_fetched_from_the_origin() {
    let mut s = store();
    let k = key(1);
    let relay_copy = signed(&k, "hello", 7);
    let mut other = entry(&k, "hello", 7);
    other.version = "7.7.7".parse().unwrap();
    let origin_copy = sign(&other, &k);
    s.cat.ingest(&relay_copy, &relay(1)).unwrap();
    let out = s.cat.ingest(&origin_copy, &origin()).unwrap();
    assert_eq!(
        out,
        IngestOutcome::Equivocation {
            sequence: 7,
            kept: origin_copy.payload_id(),
            other: relay_copy.payload_id(),
            kept_from_origin: true
        }
    );
    let view = s.cat.app(&app_ref(&k, "hello")).unwrap().unwrap();
    assert_eq!(view.summary.version, "7.7.7");
    // And a relay copy arriving after the origin's changes nothing.
    let mut third = entry(&k, "hello", 7);
    third.version = "9.9.9".parse().unwrap();
    let out = s.cat.ingest(&sign(&third, &k), &relay(3)).unwrap();
    assert!(
        matches!(
            out,
            IngestOutcome::Equivocation {
                kept_from_origin: true,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(
        s.cat
            .app(&app_ref(&k, "hello"))
            .unwrap()
            .unwrap()
            .summary
            .version,
        "7.7.7"
    );
    s.cat.check().unwrap();
}

#[test]
fn the_losing_copy_wins_when_the_origin_serves_it_later() {
    let mut s = store();
    let k = key(1);
    let first = signed(&k, "hello", 7);
    let mut other = entry(&k, "hello", 7);
    other.version = "7.7.7".parse().unwrap();
    let second = sign(&other, &k);
    s.cat.ingest(&first, &relay(1)).unwrap();
    s.cat.ingest(&second, &relay(2)).unwrap();
    let out = s.cat.ingest(&second, &origin()).unwrap();
    assert!(
        matches!(
            out,
            IngestOutcome::Equivocation {
                kept_from_origin: true,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(
        s.cat
            .app(&app_ref(&k, "hello"))
            .unwrap()
            .unwrap()
            .summary
            .version,
        "7.7.7"
    );
    s.cat.check().unwrap();
}

#[test]
fn an_origin_claim_the_entry_does_not_back_counts_as_a_peer() {
    let mut s = store();
    let k = key(1);
    let first = signed(&k, "hello", 7);
    let mut other = entry(&k, "hello", 7);
    other.version = "7.7.7".parse().unwrap();
    s.cat.ingest(&first, &relay(1)).unwrap();
    let fake = Provenance::Origin("2".repeat(64));
    let out = s.cat.ingest(&sign(&other, &k), &fake).unwrap();
    assert!(
        matches!(
            out,
            IngestOutcome::Equivocation {
                kept_from_origin: false,
                ..
            }
        ),
        "{out:?}"
    );
    let view = s.cat.app(&app_ref(&k, "hello")).unwrap().unwrap();
    assert_eq!(view.summary.version, "1.0.7");
    let conflict = view
        .entries
        .iter()
        .find(|e| e.status == EntryStatus::Conflict)
        .unwrap();
    assert_eq!(conflict.sources, vec![Provenance::Peer("2".repeat(64))]);
}

#[test]
fn a_conflict_below_the_head_is_equivocation_evidence_not_a_rollback() {
    let mut s = store();
    let k = key(1);
    s.cat.ingest(&signed(&k, "hello", 3), &relay(1)).unwrap();
    s.cat.ingest(&signed(&k, "hello", 5), &relay(1)).unwrap();
    let mut other = entry(&k, "hello", 3);
    other.version = "0.0.1".parse().unwrap();
    let out = s.cat.ingest(&sign(&other, &k), &relay(2)).unwrap();
    assert!(
        matches!(out, IngestOutcome::Equivocation { sequence: 3, .. }),
        "{out:?}"
    );
    assert_eq!(
        s.cat
            .app(&app_ref(&k, "hello"))
            .unwrap()
            .unwrap()
            .summary
            .sequence,
        5
    );
    s.cat.check().unwrap();
}

#[test]
fn stale_entries_are_stored_but_marked() {
    let mut s = store();
    let k = key(1);
    let mut e = entry(&k, "hello", 1);
    e.published_at = 1_000;
    e.expires_at = 2_000;
    assert_eq!(
        s.cat.ingest(&sign(&e, &k), &relay(1)).unwrap(),
        IngestOutcome::Stale {
            sequence: 1,
            previous: None
        }
    );
    let view = s.cat.app(&app_ref(&k, "hello")).unwrap().unwrap();
    assert!(view.summary.stale);
    assert!(!view.summary.auto_installable());
}

#[test]
fn a_yank_becomes_the_head_and_withdraws_the_version() {
    let mut s = store();
    let k = key(1);
    s.cat.ingest(&signed(&k, "hello", 1), &relay(1)).unwrap();
    let y = yank(entry(&k, "hello", 2), "broken build");
    assert_eq!(
        s.cat.ingest(&sign(&y, &k), &relay(1)).unwrap(),
        IngestOutcome::Yanked {
            sequence: 2,
            previous: Some(1)
        }
    );
    let view = s.cat.app(&app_ref(&k, "hello")).unwrap().unwrap();
    assert!(view.summary.yanked);
    assert!(!view.summary.auto_installable());
    assert_eq!(view.entries[0].yanked.as_deref(), Some("broken build"));
}

#[test]
fn a_batch_is_applied_in_order_in_one_transaction() {
    let mut s = store();
    let k = key(1);
    let batch = vec![
        signed(&k, "a", 1),
        signed(&k, "a", 2),
        signed(&k, "a", 1),
        signed(&k, "b", 1),
    ];
    let out = s.cat.ingest_batch(&batch, &relay(1)).unwrap();
    let names: Vec<_> = out.iter().map(|o| o.name()).collect();
    assert_eq!(names, ["new", "newer", "duplicate", "new"]);
    s.cat.check().unwrap();
}

#[test]
fn blobs_named_by_the_head_are_wanted() {
    let mut s = store();
    let k = key(1);
    let e1 = signed(&k, "hello", 1);
    let e2 = signed(&k, "hello", 2);
    s.cat.ingest(&e1, &relay(1)).unwrap();
    assert!(s.cat.blob(&e1.manifest.hash).unwrap().unwrap().wanted);
    s.cat.ingest(&e2, &relay(1)).unwrap();
    assert!(!s.cat.blob(&e1.manifest.hash).unwrap().unwrap().wanted);
    assert!(s.cat.blob(&e2.manifest.hash).unwrap().unwrap().wanted);
    s.cat.add_blob_holder(&e2.manifest.hash, "peer-a").unwrap();
    s.cat.set_blob_held(&e2.manifest.hash, true).unwrap();
    let b = s.cat.blob(&e2.manifest.hash).unwrap().unwrap();
    assert!(b.held);
    assert_eq!(b.holders, vec!["peer-a".to_string()]);
    assert!(s
        .cat
        .blob(&atoll_registry::Hash::of(b"nope"))
        .unwrap()
        .is_none());
}
