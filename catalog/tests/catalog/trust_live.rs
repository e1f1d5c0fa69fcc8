//! Trust that lives: who endorses whom, the bounds against report floods, the
//! forged-input penalty, the same app id from another publisher, and the cost of a
//! recompute on a large graph (printed, never asserted).

use atoll_catalog::{Provenance, UpdateOutcome, MAX_ENDORSEMENTS_PER_SIGNER};
use atoll_registry::objects::EndorseType;
use atoll_registry::{AppRef, Endorsement, Envelope, Keypair, Verified};

use crate::common::*;

fn endorse(by: &Keypair, subject: &Keypair, weight: f64, sequence: u64) -> Verified<Endorsement> {
    let e = Endorsement {
        kind: EndorseType,
        signer: by.did(),
        subject: subject.did(),
        weight,
        reason: format!("weight {weight}"),
        sequence,
        created_at: sequence,
    };
    Envelope::sign(&e, by).unwrap().verify().unwrap()
}

fn nth(n: u32) -> Keypair {
    let mut seed = [7u8; 32];
    seed[..4].copy_from_slice(&n.to_le_bytes());
    Keypair::from_seed(seed)
}

#[test]
fn who_endorses_whom_lists_given_and_received_with_weights_reasons_and_sequences() {
    let mut s = store();
    let (a, b, c) = (key(1), key(2), key(3));
    let relay = Provenance::Relay("ws://r".into());
    s.cat
        .ingest_endorsement(&endorse(&a, &b, 0.8, 1), &relay)
        .unwrap();
    s.cat
        .ingest_endorsement(&endorse(&c, &b, -0.5, 2), &relay)
        .unwrap();
    s.cat
        .ingest_endorsement(&endorse(&b, &c, 0.3, 3), &relay)
        .unwrap();
    let e = s.cat.endorsements_of(&b.did(), 10).unwrap();
    assert_eq!(e.received.len(), 2);
    assert_eq!(e.received[0].signer, c.did(), "newest first");
    assert_eq!(e.received[0].weight, -0.5);
    assert_eq!(e.received[1].signer, a.did());
    assert_eq!(e.received[1].reason, "weight 0.8");
    assert_eq!(e.given.len(), 1);
    assert_eq!(e.given[0].subject, c.did());
    assert_eq!(
        s.cat.endorsement_sequence(&a.did(), &b.did()).unwrap(),
        Some(1)
    );
    assert_eq!(
        s.cat.endorsement_sequence(&b.did(), &a.did()).unwrap(),
        None
    );
    let none = s.cat.endorsements_of(&key(9).did(), 10).unwrap();
    assert!(none.given.is_empty() && none.received.is_empty());
}

#[test]
fn one_signer_is_capped_at_a_number_of_subjects_and_re_signing_adds_no_rows() {
    let mut s = store();
    let flooder = key(1);
    let relay = Provenance::Relay("ws://flood".into());
    let batch: Vec<_> = (0..MAX_ENDORSEMENTS_PER_SIGNER)
        .map(|i| endorse(&flooder, &nth(i), -1.0, 1))
        .collect();
    let out = s.cat.ingest_endorsements(&batch, &relay).unwrap();
    assert!(out.iter().all(|o| *o == UpdateOutcome::New));
    let over = endorse(&flooder, &nth(MAX_ENDORSEMENTS_PER_SIGNER), -1.0, 1);
    let publishers = s.cat.check().unwrap().publishers;
    assert_eq!(
        s.cat.ingest_endorsement(&over, &relay).unwrap(),
        UpdateOutcome::OverLimit {
            max: MAX_ENDORSEMENTS_PER_SIGNER
        }
    );
    let log = s.cat.audit_log(5).unwrap();
    assert!(
        log[0].reason.contains("the most one signer may have"),
        "recorded with its reason: {:?}",
        log[0]
    );
    assert_eq!(
        s.cat.check().unwrap().publishers,
        publishers,
        "no row for the refused subject"
    );
    // The same one again is recorded once.
    s.cat.ingest_endorsement(&over, &relay).unwrap();
    assert_eq!(s.cat.audit_log(5).unwrap()[0].id, log[0].id);
    // Newer sequences of a subject it has replace its row: a hundred re-signings, one row.
    let resigned: Vec<_> = (2..102)
        .map(|seq| endorse(&flooder, &nth(0), -0.5, seq))
        .collect();
    let out = s.cat.ingest_endorsements(&resigned, &relay).unwrap();
    for (seq, o) in (2..102).zip(&out) {
        assert_eq!(*o, UpdateOutcome::Newer { previous: seq - 1 });
    }
    let e = s.cat.endorsements_of(&nth(0).did(), 10).unwrap();
    assert_eq!(e.received.len(), 1);
    assert_eq!(e.received[0].sequence, 101);
}

#[test]
fn a_flood_among_fresh_dids_nobody_trusts_is_not_counted_and_changes_no_score() {
    let mut s = store();
    let (anchor, friend) = (key(1), key(2));
    let relay = Provenance::Relay("ws://r".into());
    s.cat
        .ingest_endorsement(&endorse(&anchor, &friend, 1.0, 1), &relay)
        .unwrap();
    s.cat.pin(&anchor.did(), "").unwrap();
    let before = s.cat.recompute_trust().unwrap();
    assert_eq!(before.endorsements, 1);
    // 300 fresh DIDs, each endorsing the next and reporting the friend.
    let mut flood = Vec::new();
    for i in 0..300 {
        flood.push(endorse(&nth(i), &nth(i + 1), 1.0, 1));
        flood.push(endorse(&nth(i), &friend, -1.0, 1));
    }
    s.cat.ingest_endorsements(&flood, &relay).unwrap();
    let after = s.cat.recompute_trust().unwrap();
    assert_eq!(
        after.endorsements, 1,
        "only edges signed by reachable DIDs are counted"
    );
    assert!(after.dids > before.dids + 300);
    assert!((s.cat.trust_score(&friend.did()).unwrap() - 0.85).abs() < 1e-9);
    assert_eq!(s.cat.trust_score(&nth(5).did()).unwrap(), 0.0);
    // Once the anchor endorses one of them, its edges count and its report bites.
    s.cat
        .ingest_endorsement(&endorse(&anchor, &nth(0), 1.0, 1), &relay)
        .unwrap();
    let joined = s.cat.recompute_trust().unwrap();
    assert!(joined.endorsements > 300);
    assert!(s.cat.trust_score(&friend.did()).unwrap() < 0.85);
}

#[test]
fn the_forged_penalty_counts_once_per_incident_and_shows_in_explain() {
    let mut s = store();
    let (a, b) = (key(1), key(2));
    let relay = Provenance::Relay("ws://r".into());
    s.cat
        .ingest_endorsement(&endorse(&a, &b, 1.0, 1), &relay)
        .unwrap();
    s.cat.pin(&a.did(), "").unwrap();
    s.cat.recompute_trust().unwrap();
    assert!(s
        .cat
        .penalize_forged(
            &b.did(),
            "entry 01",
            "signed b/x whose manifest was refused"
        )
        .unwrap());
    assert!(!s
        .cat
        .penalize_forged(&b.did(), "entry 01", "again")
        .unwrap());
    assert!((s.cat.trust_score(&b.did()).unwrap() - 0.85 * 0.7).abs() < 1e-9);
    s.cat.recompute_trust().unwrap();
    assert!((s.cat.trust_score(&b.did()).unwrap() - 0.85 * 0.7).abs() < 1e-9);
    let text = s.cat.explain(&b.did()).unwrap().to_string();
    assert!(text.contains("forged"), "{text}");
    assert!(text.contains("manifest was refused"), "{text}");
    // A DID the node holds nothing of: no penalty, and no row naming it.
    let publishers = s.cat.check().unwrap().publishers;
    assert!(!s
        .cat
        .penalize_forged(&key(9).did(), "entry 02", "x")
        .unwrap());
    assert_eq!(s.cat.check().unwrap().publishers, publishers);
}

#[test]
fn the_same_app_id_from_another_publisher_is_listed_when_installed_or_seen_first() {
    let mut s = store();
    let (first, second) = (key(1), key(2));
    let relay = Provenance::Relay("ws://r".into());
    s.cat.ingest(&signed(&first, "wiki", 1), &relay).unwrap();
    s.cat.ingest(&signed(&second, "wiki", 1), &relay).unwrap();
    s.cat.ingest(&signed(&second, "notes", 1), &relay).unwrap();
    let second_wiki: AppRef = format!("{}/wiki", second.did()).parse().unwrap();
    let others = s.cat.same_app_id(&second_wiki).unwrap();
    assert_eq!(others.len(), 1);
    assert_eq!(others[0].publisher, first.did());
    assert!(others[0].seen_first && !others[0].installed);
    let notes: AppRef = format!("{}/notes", second.did()).parse().unwrap();
    assert!(s.cat.same_app_id(&notes).unwrap().is_empty());
    // An app the node does not know yet: every other one came first.
    let third: AppRef = format!("{}/wiki", key(3).did()).parse().unwrap();
    assert_eq!(s.cat.same_app_id(&third).unwrap().len(), 2);
}

/// The cost of a recompute on 10k DIDs and 100k endorsements (5% reports), all reachable
/// from 10 anchors through a spanning chain. Prints the figure; asserts only the counts.
#[test]
fn recompute_cost_on_ten_thousand_dids_and_a_hundred_thousand_edges() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let mut cat = atoll_catalog::Catalog::open(&path).unwrap();
    let (dids, edges) = (10_000i64, 100_000usize);
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        let tx = conn.transaction().unwrap();
        {
            let mut p = tx
                .prepare("INSERT INTO publishers (id, did, first_seen) VALUES (?1, ?2, 0)")
                .unwrap();
            for i in 0..dids {
                p.execute(rusqlite::params![i + 1, nth(i as u32).did().to_string()])
                    .unwrap();
            }
            let mut e = tx
                .prepare(
                    "INSERT OR IGNORE INTO endorsements
                     (signer_id, subject_id, weight, reason, sequence, created_at, payload_id, envelope)
                     VALUES (?1, ?2, ?3, '', 1, 0, x'00', x'')",
                )
                .unwrap();
            let mut written = 0;
            for i in 1..dids {
                written += e.execute(rusqlite::params![i, i + 1, 0.99]).unwrap();
            }
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            while written < edges {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let (u, v) = (
                    (x % dids as u64) as i64 + 1,
                    ((x >> 20) % dids as u64) as i64 + 1,
                );
                if u == v {
                    continue;
                }
                let w = if x.is_multiple_of(20) {
                    -0.3
                } else {
                    ((x >> 40) % 100 + 1) as f64 / 100.0
                };
                written += e.execute(rusqlite::params![u, v, w]).unwrap();
            }
        }
        tx.commit().unwrap();
    }
    for i in 0..10u32 {
        cat.pin(&nth(i * 1000).did(), "bench anchor").unwrap();
    }
    let mut times = Vec::new();
    let mut stats = None;
    for _ in 0..3 {
        let t = std::time::Instant::now();
        stats = Some(cat.recompute_trust().unwrap());
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let stats = stats.unwrap();
    assert_eq!(stats.dids, dids as usize);
    assert_eq!(
        stats.endorsements, edges,
        "every DID is reachable: every edge counts"
    );
    times.sort_by(f64::total_cmp);
    println!(
        "FIGURE trust recompute, {} DIDs / {} endorsements / {} trusted: median {:.0} ms, best {:.0} ms over 3 runs (this build's profile)",
        stats.dids, stats.endorsements, stats.trusted, times[1], times[0]
    );
}
