//! Trust through the catalog: anchors, endorsements, reports, penalties, explanations.

use atoll_catalog::{CatalogError, NoteError, Provenance, TrustDecision, UpdateOutcome};
use atoll_registry::objects::EndorseType;
use atoll_registry::{Endorsement, Envelope, Keypair, Verified};

use crate::common::*;

fn endorse(by: &Keypair, subject: &Keypair, weight: f64, sequence: u64) -> Verified<Endorsement> {
    let e = Endorsement {
        kind: EndorseType,
        signer: by.did(),
        subject: subject.did(),
        weight,
        reason: format!("weight {weight}"),
        sequence,
        created_at: 1,
    };
    Envelope::sign(&e, by).unwrap().verify().unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn a_pinned_endorsement_gives_weight_times_damping_and_explains_itself() {
    let mut s = store();
    let (a, b, c) = (key(1), key(2), key(3));
    let relay = Provenance::Relay("ws://r".into());
    s.cat
        .ingest_endorsement(&endorse(&a, &b, 0.8, 1), &relay)
        .unwrap();
    s.cat
        .ingest_endorsement(&endorse(&b, &c, 0.5, 1), &relay)
        .unwrap();
    s.cat.pin(&a.did(), "my friend").unwrap();
    let stats = s.cat.recompute_trust().unwrap();
    assert_eq!((stats.anchors, stats.trusted), (1, 3));
    assert!(close(s.cat.trust_score(&a.did()).unwrap(), 1.0));
    assert!(close(s.cat.trust_score(&b.did()).unwrap(), 0.68));
    assert!(close(
        s.cat.trust_score(&c.did()).unwrap(),
        0.68 * 0.5 * 0.85
    ));
    let ex = s.cat.explain(&c.did()).unwrap();
    assert_eq!(ex.path.len(), 3);
    assert_eq!(ex.path[0].did, a.did());
    assert_eq!(ex.path[1].did, b.did());
    let text = ex.to_string();
    assert!(text.contains("you pinned"), "{text}");
    assert!(text.contains("endorses"), "{text}");
    assert!(text.contains("0.68"), "{text}");
    assert!(text.contains("damping 0.85"), "{text}");
    let list = s.cat.trust_list(10).unwrap();
    assert_eq!(list[0].did, a.did());
    assert_eq!(list[0].decision, Some(TrustDecision::Pin));
}

#[test]
fn unpinned_or_blocked_means_zero_and_blocks_cut_paths() {
    let mut s = store();
    let (a, b, c) = (key(1), key(2), key(3));
    let relay = Provenance::Relay("ws://r".into());
    s.cat
        .ingest_endorsement(&endorse(&a, &b, 1.0, 1), &relay)
        .unwrap();
    s.cat
        .ingest_endorsement(&endorse(&b, &c, 1.0, 1), &relay)
        .unwrap();
    s.cat.recompute_trust().unwrap();
    assert_eq!(
        s.cat.trust_score(&c.did()).unwrap(),
        0.0,
        "no anchors, no trust"
    );
    assert!(s
        .cat
        .explain(&c.did())
        .unwrap()
        .to_string()
        .contains("no path"));
    s.cat.pin(&a.did(), "").unwrap();
    s.cat.block(&b.did(), "spam").unwrap();
    s.cat.recompute_trust().unwrap();
    assert_eq!(s.cat.trust_score(&b.did()).unwrap(), 0.0);
    assert_eq!(s.cat.trust_score(&c.did()).unwrap(), 0.0);
    assert!(s
        .cat
        .explain(&b.did())
        .unwrap()
        .to_string()
        .contains("you blocked"));
    assert!(s.cat.unblock(&b.did()).unwrap());
    assert!(s.cat.unpin(&a.did()).unwrap());
    assert!(!s.cat.unpin(&a.did()).unwrap());
    s.cat.recompute_trust().unwrap();
    assert_eq!(s.cat.trust_score(&b.did()).unwrap(), 0.0);
}

#[test]
fn a_block_is_its_own_state_and_unblock_gives_the_pin_back() {
    let mut s = store();
    let (a, b) = (key(1), key(2));
    let relay = Provenance::Relay("ws://r".into());
    s.cat
        .ingest_endorsement(&endorse(&a, &b, 1.0, 1), &relay)
        .unwrap();
    s.cat.pin(&a.did(), "my friend").unwrap();
    s.cat.recompute_trust().unwrap();
    let before = s.cat.trust_score(&b.did()).unwrap();
    assert!(close(before, 0.85));

    // Blocking the pinned publisher: score 0, its endorsements cut, the pin kept beside it.
    s.cat.block(&a.did(), "compromised?").unwrap();
    // A pin made while blocked (the demo node re-pins its publisher at every start) does
    // not lift the block.
    s.cat.pin(&a.did(), "again").unwrap();
    let stats = s.cat.recompute_trust().unwrap();
    assert_eq!(stats.anchors, 0, "a blocked pin is no anchor");
    assert!(s.cat.is_blocked(&a.did()).unwrap());
    assert_eq!(s.cat.trust_score(&a.did()).unwrap(), 0.0);
    assert_eq!(s.cat.trust_score(&b.did()).unwrap(), 0.0);
    let ex = s.cat.explain(&a.did()).unwrap();
    assert_eq!(ex.decision, Some(TrustDecision::Block));
    assert!(ex.pinned);
    assert!(ex.to_string().contains("your pin is kept"), "{ex}");
    let row = s.cat.trust_list(10).unwrap();
    let row = row
        .iter()
        .find(|r| r.did == a.did())
        .expect("blocked row listed");
    assert_eq!(
        (row.decision, row.pinned),
        (Some(TrustDecision::Block), true)
    );

    // Unblock: back to what it was.
    assert!(s.cat.unblock(&a.did()).unwrap());
    assert!(!s.cat.unblock(&a.did()).unwrap());
    s.cat.recompute_trust().unwrap();
    assert!(!s.cat.is_blocked(&a.did()).unwrap());
    assert!(close(s.cat.trust_score(&a.did()).unwrap(), 1.0));
    assert!(close(s.cat.trust_score(&b.did()).unwrap(), before));
    let list = s.cat.trust_list(10).unwrap();
    assert_eq!(list[0].did, a.did());
    assert_eq!(
        (list[0].decision, list[0].pinned),
        (Some(TrustDecision::Pin), true)
    );

    // A blocked publisher without a pin is listed too, and unblocking leaves it unpinned.
    s.cat.block(&b.did(), "").unwrap();
    s.cat.recompute_trust().unwrap();
    let list = s.cat.trust_list(10).unwrap();
    let row = list.iter().find(|r| r.did == b.did()).expect("listed");
    assert_eq!(
        (row.decision, row.pinned),
        (Some(TrustDecision::Block), false)
    );
}

#[test]
fn reports_count_by_the_reporters_standing() {
    let mut s = store();
    let (a, b, c, x) = (key(1), key(2), key(3), key(4));
    let relay = Provenance::Relay("ws://r".into());
    s.cat
        .ingest_endorsement(&endorse(&a, &b, 1.0, 1), &relay)
        .unwrap();
    s.cat
        .ingest_endorsement(&endorse(&a, &c, 1.0, 1), &relay)
        .unwrap();
    s.cat
        .ingest_endorsement(&endorse(&c, &b, -0.5, 1), &relay)
        .unwrap();
    // An unknown DID's report counts for nothing.
    s.cat
        .ingest_endorsement(&endorse(&x, &c, -1.0, 1), &relay)
        .unwrap();
    s.cat.pin(&a.did(), "").unwrap();
    s.cat.recompute_trust().unwrap();
    assert!(close(s.cat.trust_score(&c.did()).unwrap(), 0.85));
    assert!(close(
        s.cat.trust_score(&b.did()).unwrap(),
        0.85 * (1.0 - 0.5 * 0.85)
    ));
    let text = s.cat.explain(&b.did()).unwrap().to_string();
    assert!(text.contains("report"), "{text}");
}

#[test]
fn equivocation_lowers_the_publishers_score_at_once_and_after_recompute() {
    let mut s = store();
    let (a, b) = (key(1), key(2));
    let relay = Provenance::Relay("ws://r".into());
    s.cat
        .ingest_endorsement(&endorse(&a, &b, 0.8, 1), &relay)
        .unwrap();
    s.cat.pin(&a.did(), "").unwrap();
    s.cat.recompute_trust().unwrap();
    s.cat.ingest(&signed(&b, "app", 1), &relay).unwrap();
    let mut other = entry(&b, "app", 1);
    other.version = "2.0.0".parse().unwrap();
    s.cat.ingest(&sign(&other, &b), &relay).unwrap();
    assert!(
        close(s.cat.trust_score(&b.did()).unwrap(), 0.34),
        "immediately"
    );
    s.cat.recompute_trust().unwrap();
    assert!(
        close(s.cat.trust_score(&b.did()).unwrap(), 0.34),
        "and after recompute"
    );
    let text = s.cat.explain(&b.did()).unwrap().to_string();
    assert!(text.contains("equivocation"), "{text}");
    assert!(text.contains("0.68 × 1.00 × 0.50 = 0.34"), "{text}");
}

#[test]
fn forged_input_attributed_to_a_did_lowers_it_but_claims_alone_do_not() {
    let mut s = store();
    let (a, b) = (key(1), key(2));
    let relay = Provenance::Relay("ws://r".into());
    s.cat
        .ingest_endorsement(&endorse(&a, &b, 1.0, 1), &relay)
        .unwrap();
    s.cat.pin(&a.did(), "").unwrap();
    let origin = Provenance::Origin(ORIGIN_NODE.into());
    let claim = atoll_catalog::AuditInput {
        kind: atoll_catalog::AuditKind::BadSignature,
        provenance: &relay,
        key: None,
        subject: Some(b.did().to_string()),
        reason: "signature does not match".into(),
        payload: Some(b"{}"),
        attributed_to: None,
    };
    s.cat.record_rejection(&claim).unwrap();
    s.cat.recompute_trust().unwrap();
    assert!(close(s.cat.trust_score(&b.did()).unwrap(), 0.85));
    let proven = atoll_catalog::AuditInput {
        kind: atoll_catalog::AuditKind::BlobMismatch,
        provenance: &origin,
        attributed_to: Some(b.did()),
        ..claim
    };
    s.cat.record_rejection(&proven).unwrap();
    s.cat.recompute_trust().unwrap();
    assert!(close(s.cat.trust_score(&b.did()).unwrap(), 0.85 * 0.7));
    assert_eq!(s.cat.audit_log(10).unwrap().len(), 2);
}

#[test]
fn endorsements_follow_the_sequence_rules() {
    let mut s = store();
    let (a, b) = (key(1), key(2));
    let relay = Provenance::Relay("ws://r".into());
    assert_eq!(
        s.cat
            .ingest_endorsement(&endorse(&a, &b, 0.5, 2), &relay)
            .unwrap(),
        UpdateOutcome::New
    );
    assert_eq!(
        s.cat
            .ingest_endorsement(&endorse(&a, &b, 0.5, 2), &relay)
            .unwrap(),
        UpdateOutcome::Duplicate
    );
    assert_eq!(
        s.cat
            .ingest_endorsement(&endorse(&a, &b, 0.9, 1), &relay)
            .unwrap(),
        UpdateOutcome::Rollback { current: 2 }
    );
    assert_eq!(
        s.cat
            .ingest_endorsement(&endorse(&a, &b, 0.9, 2), &relay)
            .unwrap(),
        UpdateOutcome::Equivocation
    );
    assert_eq!(
        s.cat
            .ingest_endorsement(&endorse(&a, &b, 1.0, 3), &relay)
            .unwrap(),
        UpdateOutcome::Newer { previous: 2 }
    );
    s.cat.pin(&a.did(), "").unwrap();
    s.cat.recompute_trust().unwrap();
    assert!(close(s.cat.trust_score(&b.did()).unwrap(), 0.85));
}

#[test]
fn trust_notes_are_bounded_and_single_line_where_they_are_stored() {
    use atoll_catalog::trust::{check_note, MAX_NOTE_BYTES};
    let mut s = store();
    let k = key(1);
    assert!(check_note("the local demo publisher").is_ok());
    s.cat.pin(&k.did(), &"x".repeat(MAX_NOTE_BYTES)).unwrap();
    let long = s
        .cat
        .pin(&k.did(), &"x".repeat(MAX_NOTE_BYTES + 1))
        .unwrap_err();
    assert!(
        matches!(
            long,
            CatalogError::Note(NoteError::TooLong {
                len: 1025,
                max: 1024
            })
        ),
        "{long:?}"
    );
    assert!(long.to_string().contains("at most 1024"), "{long}");
    for bad in ["a\u{1b}[2Jb", "two\nlines"] {
        let err = s.cat.block(&k.did(), bad).unwrap_err();
        assert!(
            matches!(err, CatalogError::Note(NoteError::ControlCharacter)),
            "{err:?}"
        );
    }
    // The refused notes changed nothing: the first pin stands.
    let list = s.cat.trust_list(10).unwrap();
    assert_eq!(list[0].decision, Some(TrustDecision::Pin));
}
