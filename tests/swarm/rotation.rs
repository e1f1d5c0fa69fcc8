//! Key rotation after a theft, end to end on a real relay, real iroh and real SQLite:
//!
//! ```text
//!   publisher P (k0, then k1..k3) ──┐
//!   thief (k0 only, own Nostr key) ─┼── relay ── node B
//! ```
//! P publishes app `rho`; the thief, holding only k0, fast-forwards it to sequence
//! 2^53−1 and B takes that as the head. P rotates to k1 naming its last legitimate
//! sequence: B accepts the rotation, voids the thief's entry (shown void) and falls back to
//! P's entry; P's next version under k1, with an ordinary sequence, is B's head. A thief's
//! rotation (a key that does not match the commitment), a gap (rotation 3 before 2, which
//! applies once 2 arrives) and a fork are refused with their reasons; B keeps syncing.

use atoll_discovery::codec::{self, Object};
use atoll_discovery::publish::{self, release, rotate};
use atoll_registry::objects::{LastSigned, RotationType, MAX_SAFE_INTEGER};
use atoll_registry::{key_commitment, AppRef, Derivation, Entry, Envelope, Keypair, Rotation};
use nostr_sdk::Keys;

use crate::support::{eventually, init_tracing, make_app, publish_raw, Node, Publisher, TestRelay};

const SEED: u8 = 41;

/// Publish an event signed elsewhere on the relay, as a stranger would.
async fn inject(relay: &TestRelay, event: &codec::NostrEvent) {
    let json: serde_json::Value = serde_json::from_str(&codec::event_json(event)).unwrap();
    let (ok, msg) = publish_raw(&relay.url(), &json).await;
    assert!(ok, "the relay refused the event: {msg}");
}

async fn key_index(node: &Node, did: atoll_registry::Did) -> Option<u64> {
    node.catalog
        .read(move |c| c.key_history(&did))
        .await
        .unwrap()
        .map(|h| h.index)
}

async fn publish_as(p: &Publisher, key: &Keypair, dir: &std::path::Path) -> publish::Published {
    publish::publish_app(
        &p.node.d,
        &p.node.data_dir(),
        dir,
        key,
        "tester",
        &Default::default(),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotation_after_a_theft_voids_the_fast_forward_and_the_app_updates_normally() {
    init_tracing();
    let relay = TestRelay::start().await;
    let apps = tempfile::tempdir().unwrap();
    let mut p = Publisher::start(SEED, vec![relay.url()]).await;
    // A key as `atoll key new` makes it: every key, k0 included, derived from the root.
    p.key = Keypair::derived([SEED; 32], 0, Derivation::Separated);
    let b = Node::start("B", vec![relay.url()]).await;
    let did = p.key.did();

    // P publishes rho; its profile commits to k1.
    let v1 = p
        .publish(&make_app(apps.path(), "rho", "1.0.0", 10_000))
        .await;
    let rho: AppRef = v1.app.parse().unwrap();
    let s1 = v1.sequence;
    eventually("B has rho 1.0.0 with its manifest", || async {
        matches!(b.head(&rho).await, Some((s, _, true)) if s == s1)
    })
    .await;
    eventually("B holds P's inception commitment", || async {
        key_index(&b, did).await == Some(0)
    })
    .await;

    // The thief holds only k0 (not the root): it signs rho at 2^53−1 and carries it with
    // its own Nostr key.
    let stolen = p.key.current_key_only();
    assert_eq!(stolen.key_did(), p.key.key_did());
    let bytes = std::fs::read(v1.bundle.join("entry.json")).unwrap();
    let mut fast: Entry = Envelope::from_slice(&bytes)
        .unwrap()
        .verify::<Entry>()
        .unwrap()
        .payload()
        .clone();
    fast.sequence = MAX_SAFE_INTEGER;
    let fast = Envelope::sign(&fast, &stolen)
        .unwrap()
        .verify::<Entry>()
        .unwrap();
    let thief_payload = fast.payload_id();
    let thief = Keys::generate();
    inject(
        &relay,
        &codec::encode(&Object::Entry(fast), &thief, None).unwrap(),
    )
    .await;
    eventually("B takes the thief's fast-forward as the head", || async {
        matches!(b.head(&rho).await, Some((s, _, _)) if s == MAX_SAFE_INTEGER)
    })
    .await;

    // The thief tries to rotate first, to a next key of its own making: k0 does not
    // derive the committed k1, so B refuses it and the identity stays at index 0.
    let grab =
        rotate::sign_rotation(&stolen, LastSigned::default(), atoll_discovery::now_secs()).unwrap();
    assert_ne!(grab.next.key_did(), p.key.next().key_did());
    inject(&relay, &grab.event).await;
    eventually("B refuses the thief's rotation as a mismatch", || async {
        b.audit_codes()
            .await
            .iter()
            .any(|c| c == "rotation-mismatch")
    })
    .await;
    assert_eq!(key_index(&b, did).await, Some(0));

    // P rotates to k1, naming its last legitimate sequence (from its own bundles).
    let last = rotate::last_signed(&p.node.data_dir(), &p.key);
    assert_eq!(last.entries.get(&rho.app), Some(&s1));
    let now = atoll_discovery::now_secs();
    let r1 = rotate::sign_rotation(&p.key, last, now).unwrap();
    release::announce_signed(&p.node.d, r1.event.clone())
        .await
        .unwrap();
    publish::publish_profile(&p.node.d, &r1.next, "tester")
        .await
        .unwrap();
    eventually(
        "B accepts the rotation and rho's head is P's again",
        || async {
            key_index(&b, did).await == Some(1)
                && matches!(b.head(&rho).await, Some((s, _, _)) if s == s1)
        },
    )
    .await;
    let view = b
        .catalog
        .read({
            let rho = rho.clone();
            move |c| c.app(&rho)
        })
        .await
        .unwrap()
        .unwrap();
    let void = view
        .entries
        .iter()
        .find(|e| e.payload_id == thief_payload)
        .unwrap();
    assert_eq!(
        void.void.as_deref(),
        Some(format!("signed by retired key 0 after its last legitimate sequence {s1}").as_str())
    );
    assert_eq!(view.key_rotations, 1);

    // P's next version under k1, with an ordinary sequence, is B's head (blobs over iroh).
    let k1 = Keypair::derived([SEED; 32], 1, Derivation::Separated);
    let v2 = publish_as(&p, &k1, &make_app(apps.path(), "rho", "2.0.0", 10_000)).await;
    assert!(v2.sequence > s1 && v2.sequence < MAX_SAFE_INTEGER);
    eventually("B has rho 2.0.0 under the rotated key", || async {
        matches!(b.head(&rho).await, Some((s, _, true)) if s == v2.sequence)
    })
    .await;

    // The thief again: a rotation with its own key (no match for the commitment).
    let tk = Keypair::from_seed([66; 32]);
    let forged = Rotation {
        kind: RotationType,
        did,
        index: 2,
        key: tk.did(),
        next_key: key_commitment(&Keypair::from_seed([67; 32]).did()),
        last: LastSigned::default(),
        created_at: now,
    };
    let forged = Envelope::sign(&forged, &tk)
        .unwrap()
        .verify::<Rotation>()
        .unwrap();
    inject(
        &relay,
        &codec::encode(&Object::Rotation(forged), &thief, None).unwrap(),
    )
    .await;
    // ... and a new fast-forward with k0 (retired now).
    let mut late: Entry = v2.bundle_entry();
    late.sequence = MAX_SAFE_INTEGER - 1;
    let late = Envelope::sign(&late, &stolen)
        .unwrap()
        .verify_rotated()
        .unwrap();
    // Dated after the thief's first event at the same address (its key, rho's d tag): a
    // relay keeps only the later one, and within one second the lower id.
    let later = nostr_sdk::Timestamp::from(atoll_discovery::now_secs() + 30);
    inject(
        &relay,
        &codec::encode(&Object::Entry(late), &thief, Some(later)).unwrap(),
    )
    .await;
    eventually(
        "B refuses the thief's rotation and its retired key",
        || async {
            let codes = b.audit_codes().await;
            codes.iter().any(|c| c == "rotation-mismatch")
                && codes.iter().any(|c| c == "key-refused")
        },
    )
    .await;

    // A gap: P's rotation 3 arrives before rotation 2; it applies once 2 is in.
    let k2 = k1.next();
    // P's own node refuses it as a gap too and so never announces it: send it to the
    // relays past the pipeline.
    let r3 = rotate::sign_rotation(&k2, LastSigned::default(), now + 2).unwrap();
    let own = release::announce_signed(&p.node.d, r3.event.clone()).await;
    assert!(
        matches!(&own, Err(publish::PublishAppError::Refused(_))),
        "{own:?}"
    );
    let sent = p.node.d.relays().publish(&r3.event).await.unwrap();
    assert!(!sent.accepted.is_empty(), "{sent:?}");
    eventually("B refuses rotation 3 as a gap", || async {
        b.audit_codes().await.iter().any(|c| c == "rotation-gap")
    })
    .await;
    assert_eq!(key_index(&b, did).await, Some(1));
    let mut last = LastSigned::default();
    last.entries.insert(rho.app.clone(), v2.sequence);
    let r2 = rotate::sign_rotation(&k1, last, now + 1).unwrap();
    release::announce_signed(&p.node.d, r2.event.clone())
        .await
        .unwrap();
    eventually(
        "rotation 2 is accepted and the held rotation 3 applies",
        || async { key_index(&b, did).await == Some(3) },
    )
    .await;

    // A fork: another rotation 1 (signed by k1, which P holds: a second, different one).
    let fork = rotate::sign_rotation(&p.key, LastSigned::default(), now + 5).unwrap();
    inject(&relay, &fork.event).await;
    eventually("B refuses the fork", || async {
        b.audit_codes().await.iter().any(|c| c == "rotation-fork")
    })
    .await;
    // k1's entries were all within rotation 2's `last`: rho 2.0.0 stays the head.
    assert!(matches!(b.head(&rho).await, Some((s, _, true)) if s == v2.sequence));

    // B keeps syncing: P's next version under k3.
    let k3 = Keypair::derived([SEED; 32], 3, Derivation::Separated);
    publish::publish_profile(&p.node.d, &k3, "tester")
        .await
        .unwrap();
    let v3 = publish_as(&p, &k3, &make_app(apps.path(), "rho", "3.0.0", 10_000)).await;
    eventually("B has rho 3.0.0 under key 3", || async {
        matches!(b.head(&rho).await, Some((s, _, true)) if s == v3.sequence)
    })
    .await;
    let history = b
        .catalog
        .read(move |c| c.key_history(&did))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(history.current_key, k3.key_did());
    assert_eq!(history.rotations.len(), 3);
    // Rotation 1 voided the thief's entry (and k0's profile: the new key signed a new one).
    let voided: Vec<_> = history.rotations[0]
        .voided
        .iter()
        .map(|v| (v.kind.as_str(), v.sequence))
        .collect();
    assert!(voided.contains(&("entry", MAX_SAFE_INTEGER)), "{history:?}");
    assert_eq!(voided.iter().filter(|(k, _)| *k == "entry").count(), 1);
    b.catalog.read(|c| c.check()).await.unwrap();
    b.stop().await;
    p.node.stop().await;
}

/// A profile the catalog refuses (signed by the current key k0, but changing the key
/// commitment: a thief's) binds none of its Nostr keys: an entry the thief's Nostr key
/// then carries counts as a relay's copy, not the publisher's own (origin).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_profile_binds_no_nostr_key() {
    init_tracing();
    let relay = TestRelay::start().await;
    let apps = tempfile::tempdir().unwrap();
    let p = Publisher::start(SEED + 1, vec![relay.url()]).await;
    let b = Node::start("B", vec![relay.url()]).await;
    let did = p.key.did();
    let v1 = p
        .publish(&make_app(apps.path(), "tau", "1.0.0", 10_000))
        .await;
    let tau: AppRef = v1.app.parse().unwrap();
    let entries = |b: &Node| {
        let tau = tau.clone();
        let catalog = b.catalog.clone();
        async move {
            catalog
                .read(move |c| c.app(&tau))
                .await
                .unwrap()
                .map(|v| v.entries)
                .unwrap_or_default()
        }
    };
    // The publisher's own copy counts as the origin's (its profile binds its Nostr key).
    eventually("B has tau from its origin", || async {
        entries(&b)
            .await
            .iter()
            .any(|e| e.sequence == v1.sequence && e.from_origin)
    })
    .await;

    // The thief holds k0: a newer profile listing its own Nostr key, with its own next key.
    let stolen = Keypair::from_seed([SEED + 1; 32]);
    let thief = Keys::generate();
    let mut profile = publish::profile_for(&stolen, "tester", "00".repeat(32), Vec::new())
        .unwrap()
        .payload()
        .clone();
    profile.nostr_keys = vec![thief.public_key().to_hex()];
    profile.next_key = Some(key_commitment(&Keypair::from_seed([68; 32]).did()));
    profile.sequence += 1_000;
    let profile = Envelope::sign(&profile, &stolen)
        .unwrap()
        .verify_rotated()
        .unwrap();
    inject(
        &relay,
        &codec::encode(&Object::Publisher(profile), &thief, None).unwrap(),
    )
    .await;
    eventually("B refuses the commitment-changing profile", || async {
        b.catalog
            .read(move |c| c.key_history(&did))
            .await
            .unwrap()
            .is_some_and(|h| {
                h.flagged
                    .is_some_and(|f| f.contains("can only change through a rotation"))
            })
    })
    .await;

    // An entry signed by k0 (still the current key) and carried by the thief's Nostr key.
    let mut next = v1.bundle_entry();
    next.sequence = v1.sequence + 1;
    let next = Envelope::sign(&next, &stolen)
        .unwrap()
        .verify_rotated()
        .unwrap();
    inject(
        &relay,
        &codec::encode(&Object::Entry(next), &thief, None).unwrap(),
    )
    .await;
    eventually("B has the thief-carried entry", || async {
        entries(&b)
            .await
            .iter()
            .any(|e| e.sequence == v1.sequence + 1)
    })
    .await;
    let carried = entries(&b).await;
    let carried = carried
        .iter()
        .find(|e| e.sequence == v1.sequence + 1)
        .unwrap();
    assert!(
        !carried.from_origin,
        "the refused profile bound the thief's Nostr key: {carried:?}"
    );
    b.catalog.read(|c| c.check()).await.unwrap();
    b.stop().await;
    p.node.stop().await;
}

trait BundleEntry {
    fn bundle_entry(&self) -> Entry;
}

impl BundleEntry for publish::Published {
    /// The entry the bundle holds (as signed).
    fn bundle_entry(&self) -> Entry {
        let bytes = std::fs::read(self.bundle.join("entry.json")).unwrap();
        Envelope::from_slice(&bytes)
            .unwrap()
            .verify_rotated::<Entry>()
            .unwrap()
            .payload()
            .clone()
    }
}
