//! Key rotation in the catalog: the thief's fast-forward voided, the head restored, the
//! retired key refused afterwards, commitment changes flagged, refusals recorded.

use atoll_catalog::{AuditKind, IngestOutcome, Provenance, RotationOutcome, UpdateOutcome};
use atoll_registry::objects::{LastSigned, RotationType, MAX_SAFE_INTEGER};
use atoll_registry::rotation::RotationRefusal;
use atoll_registry::{
    key_commitment, Endorsement, Envelope, Keypair, PublisherProfile, Rotation, Verified,
};

use crate::common::*;

fn relay() -> Provenance {
    Provenance::Relay("ws://127.0.0.1:7777".into())
}

fn profile(key: &Keypair, sequence: u64, next_key: Option<String>) -> Verified<PublisherProfile> {
    let p = PublisherProfile {
        kind: Default::default(),
        did: key.did(),
        name: "P".into(),
        links: Default::default(),
        next_key,
        nostr_keys: vec![],
        iroh_nodes: vec![],
        relays: vec![],
        sequence,
        updated_at: 1,
    };
    Envelope::sign(&p, key).unwrap().verify_rotated().unwrap()
}

fn rotation(next: &Keypair, last: LastSigned) -> Verified<Rotation> {
    let r = Rotation {
        kind: RotationType,
        did: next.did(),
        index: next.index(),
        key: next.key_did(),
        next_key: next.next_key_commitment(),
        last,
        created_at: 1_700_000_100,
    };
    Envelope::sign(&r, next).unwrap().verify().unwrap()
}

fn signed_rotated(key: &Keypair, app: &str, sequence: u64) -> Verified<atoll_registry::Entry> {
    Envelope::sign(&entry(key, app, sequence), key)
        .unwrap()
        .verify_rotated()
        .unwrap()
}

fn last_of(app: &str, seq: u64) -> LastSigned {
    let mut last = LastSigned::default();
    last.entries.insert(app.parse().unwrap(), seq);
    last
}

#[test]
fn rotation_voids_the_thiefs_fast_forward_and_the_app_continues() {
    let mut s = store();
    let k0 = Keypair::from_seed([21; 32]);
    let k1 = k0.next();
    assert_eq!(
        s.cat
            .ingest_profile(&profile(&k0, 1, Some(k0.next_key_commitment())), &relay())
            .unwrap(),
        UpdateOutcome::New
    );
    let good = signed(&k0, "hello", 5);
    s.cat.ingest(&good, &relay()).unwrap();
    // The thief, holding k0, fast-forwards the app and another one.
    let mut fast = entry(&k0, "hello", MAX_SAFE_INTEGER);
    fast.published_at = 1_700_000_050;
    let thief = sign(&fast, &k0);
    assert!(s.cat.ingest(&thief, &relay()).unwrap().is_head());
    s.cat.ingest(&signed(&k0, "other", 9), &relay()).unwrap();
    let app: atoll_registry::AppRef = format!("{}/hello", k0.did()).parse().unwrap();
    assert_eq!(
        s.cat.app(&app).unwrap().unwrap().summary.sequence,
        MAX_SAFE_INTEGER
    );

    let out = s
        .cat
        .ingest_rotation(&rotation(&k1, last_of("hello", 5)), &relay())
        .unwrap();
    let RotationOutcome::Accepted {
        index,
        voided,
        new_heads,
    } = out
    else {
        panic!("{out:?}");
    };
    assert_eq!(index, 1);
    assert_eq!(new_heads, vec![good.payload_id()]);
    let mut subjects: Vec<_> = voided
        .iter()
        .map(|v| (v.kind.as_str(), v.subject.as_str(), v.sequence))
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        vec![
            ("entry", "hello", MAX_SAFE_INTEGER),
            ("entry", "other", 9),
            ("profile", "", 1)
        ]
    );
    let view = s.cat.app(&app).unwrap().unwrap();
    assert_eq!(view.summary.sequence, 5);
    assert_eq!(view.key_rotations, 1);
    let void = view
        .entries
        .iter()
        .find(|e| e.sequence == MAX_SAFE_INTEGER)
        .unwrap();
    assert_eq!(
        void.void.as_deref(),
        Some("signed by retired key 0 after its last legitimate sequence 5")
    );
    // The same thief entry again: still a duplicate, still void.
    assert_eq!(
        s.cat.ingest(&thief, &relay()).unwrap(),
        IngestOutcome::Duplicate {
            sequence: MAX_SAFE_INTEGER
        }
    );
    // More from the thief (k0) is refused; k1 goes on with an ordinary sequence.
    let late = s.cat.ingest(&signed(&k0, "hello", 6), &relay()).unwrap();
    assert!(
        matches!(late, IngestOutcome::KeyRefused { sequence: 6, .. }),
        "{late:?}"
    );
    let v2 = s
        .cat
        .ingest(&signed_rotated(&k1, "hello", 6), &relay())
        .unwrap();
    assert_eq!(
        v2,
        IngestOutcome::Newer {
            sequence: 6,
            previous: 5
        }
    );
    assert_eq!(s.cat.app(&app).unwrap().unwrap().summary.sequence, 6);
    // The new key's profile (lower sequence than nothing: the thief's is gone) is taken.
    assert_eq!(
        s.cat
            .ingest_profile(&profile(&k1, 2, Some(k1.next_key_commitment())), &relay())
            .unwrap(),
        UpdateOutcome::New
    );
    let h = s.cat.key_history(&k0.did()).unwrap().unwrap();
    assert_eq!((h.index, h.current_key), (1, k1.key_did()));
    assert_eq!(h.rotations[0].voided.len(), 3);
    s.cat.check().unwrap();
    drop(s.cat);
    // Reopened: the state is in the file.
    let cat = atoll_catalog::Catalog::open(&s.path).unwrap();
    assert_eq!(cat.key_history(&k0.did()).unwrap().unwrap().index, 1);
}

#[test]
fn refused_rotations_are_recorded_with_their_reason() {
    let mut s = store();
    let k0 = Keypair::from_seed([22; 32]);
    let (k1, k2) = (k0.next(), k0.next().next());
    // Before any commitment is known: a gap.
    let r1 = rotation(&k1, LastSigned::default());
    let out = s.cat.ingest_rotation(&r1, &relay()).unwrap();
    assert!(
        matches!(
            out,
            RotationOutcome::Refused {
                refusal: RotationRefusal::Gap {
                    no_commitment: true,
                    ..
                }
            }
        ),
        "{out:?}"
    );
    s.cat
        .ingest_profile(&profile(&k0, 1, Some(k0.next_key_commitment())), &relay())
        .unwrap();
    // A thief's key: mismatch.
    let thief = Keypair::from_seed([99; 32]);
    let mut forged = rotation(&k1, LastSigned::default()).payload().clone();
    forged.key = thief.did();
    forged.next_key = key_commitment(&Keypair::from_seed([98; 32]).did());
    let forged = Envelope::sign(&forged, &thief).unwrap().verify().unwrap();
    let out = s.cat.ingest_rotation(&forged, &relay()).unwrap();
    assert!(
        matches!(
            out,
            RotationOutcome::Refused {
                refusal: RotationRefusal::CommitmentMismatch { index: 1, .. }
            }
        ),
        "{out:?}"
    );
    // Rotation 2 first: a gap; then 1, 2 apply.
    let r2 = rotation(&k2, LastSigned::default());
    assert!(matches!(
        s.cat.ingest_rotation(&r2, &relay()).unwrap(),
        RotationOutcome::Refused {
            refusal: RotationRefusal::Gap { .. }
        }
    ));
    assert!(matches!(
        s.cat.ingest_rotation(&r1, &relay()).unwrap(),
        RotationOutcome::Accepted { .. }
    ));
    assert_eq!(
        s.cat.ingest_rotation(&r1, &relay()).unwrap(),
        RotationOutcome::Duplicate
    );
    assert!(matches!(
        s.cat.ingest_rotation(&r2, &relay()).unwrap(),
        RotationOutcome::Accepted { index: 2, .. }
    ));
    // A different rotation 1: a fork.
    let mut fork = r1.payload().clone();
    fork.created_at += 1;
    let fork = Envelope::sign(&fork, &k1).unwrap().verify().unwrap();
    assert!(matches!(
        s.cat.ingest_rotation(&fork, &relay()).unwrap(),
        RotationOutcome::Refused {
            refusal: RotationRefusal::Fork { index: 1 }
        }
    ));
    let log = s.cat.audit_log(50).unwrap();
    let reasons: Vec<&str> = log
        .iter()
        .filter(|r| r.kind == AuditKind::RotationRefused)
        .map(|r| r.reason.as_str())
        .collect();
    for code in ["[rotation-gap]", "[rotation-mismatch]", "[rotation-fork]"] {
        assert!(
            reasons.iter().any(|r| r.starts_with(code)),
            "{code} in {reasons:?}"
        );
    }
}

#[test]
fn a_profile_changing_the_commitment_is_refused_and_flags_the_identity() {
    let mut s = store();
    let k0 = Keypair::from_seed([23; 32]);
    s.cat
        .ingest_profile(&profile(&k0, 1, Some(k0.next_key_commitment())), &relay())
        .unwrap();
    let other = key_commitment(&Keypair::from_seed([5; 32]).did());
    assert_eq!(
        s.cat
            .ingest_profile(&profile(&k0, 2, Some(other)), &relay())
            .unwrap(),
        UpdateOutcome::KeyRefused
    );
    let h = s.cat.key_history(&k0.did()).unwrap().unwrap();
    assert!(
        h.flagged
            .as_deref()
            .unwrap()
            .contains("the commitment can only change through a rotation"),
        "{h:?}"
    );
    // A profile that keeps the commitment (or names none) is fine.
    assert!(matches!(
        s.cat
            .ingest_profile(&profile(&k0, 3, Some(k0.next_key_commitment())), &relay())
            .unwrap(),
        UpdateOutcome::Newer { .. }
    ));
    // An entry signed by a key that is not the identity's: refused, nothing stored.
    let stranger = k0.next();
    let out = s
        .cat
        .ingest(&signed_rotated(&stranger, "x", 1), &relay())
        .unwrap();
    assert!(matches!(out, IngestOutcome::KeyRefused { .. }), "{out:?}");
    assert!(s
        .cat
        .audit_log(10)
        .unwrap()
        .iter()
        .any(|r| r.kind == AuditKind::KeyRefused && r.reason.contains("which is not a key of")));
}

#[test]
fn endorsements_by_the_retired_key_beyond_last_are_voided() {
    let mut s = store();
    let k0 = Keypair::from_seed([24; 32]);
    let k1 = k0.next();
    let (a, b) = (key(31).did(), key(32).did());
    s.cat
        .ingest_profile(&profile(&k0, 1, Some(k0.next_key_commitment())), &relay())
        .unwrap();
    let endorse = |k: &Keypair, subject, sequence| {
        let e = Endorsement {
            kind: Default::default(),
            signer: k.did(),
            subject,
            weight: 0.5,
            reason: String::new(),
            sequence,
            created_at: 1,
        };
        Envelope::sign(&e, k).unwrap().verify_rotated().unwrap()
    };
    s.cat
        .ingest_endorsement(&endorse(&k0, a, 3), &relay())
        .unwrap();
    s.cat
        .ingest_endorsement(&endorse(&k0, b, 4), &relay())
        .unwrap();
    let mut last = LastSigned::default();
    last.endorsements.insert(a, 3);
    let out = s
        .cat
        .ingest_rotation(&rotation(&k1, last), &relay())
        .unwrap();
    let RotationOutcome::Accepted { voided, .. } = out else {
        panic!("{out:?}")
    };
    assert!(voided
        .iter()
        .any(|v| v.kind == "endorsement" && v.subject == b.to_string()));
    assert!(!voided
        .iter()
        .any(|v| v.kind == "endorsement" && v.subject == a.to_string()));
    // k0 can no longer endorse; k1 can.
    assert_eq!(
        s.cat
            .ingest_endorsement(&endorse(&k0, b, 5), &relay())
            .unwrap(),
        UpdateOutcome::KeyRefused
    );
    assert_eq!(
        s.cat
            .ingest_endorsement(&endorse(&k1, b, 1), &relay())
            .unwrap(),
        UpdateOutcome::New
    );
}
