//! Signed envelopes from anywhere: [`Envelope::from_slice`], then [`Envelope::verify`] as
//! every payload type (entry, profile, endorsement, list, rotation), and [`verify_batch`].
//!
//! Cases start from valid signed envelopes of every payload type, edit the payload's
//! fields (arbitrary values, huge numbers, deep nesting, fields dropped or added), sign
//! it again or not (with its authority's key, another key, several, none, broken
//! signatures), encode it (canonical or not) and maybe break the bytes.
//!
//! Properties: no panic; `from_slice` refuses only as `TooLarge` or `Malformed`; a payload
//! of another type is `WrongType`; nothing is ever accepted that its authority did not
//! sign (no forgery); what is accepted passes its checks, is in normal form and
//! round-trips through its canonical bytes; `verify_batch` agrees with `verify`.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::LazyLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestRunner;
use serde_json::Value;

use super::kit::{self, Mutation};
use crate::canonical::to_canonical_bytes;
use crate::envelope::{SignatureEntry, MAX_ENVELOPE_BYTES};
use crate::objects::{
    Artifact, ArtifactKind, BlobRef, CuratedList, Endorsement, Entry, LastSigned, Origin,
    PublisherProfile, Rotation, Yank,
};
use crate::{verify_batch, Did, Envelope, EnvelopeError, Hash, Keypair, Payload};

/// Cases per property in CI (`PROPTEST_CASES` overrides).
const CASES: u32 = 2500;
/// Cases of the property that signs and verifies every case (ed25519 in a debug build
/// is the slow part of the whole fuzz run).
const SIGNED_CASES: u32 = 1000;

/// Every field name of the payload types and the envelope.
pub const FIELDS: &[&str] = &[
    "type",
    "app",
    "publisher",
    "version",
    "sequence",
    "manifest",
    "hash",
    "size",
    "artifacts",
    "path",
    "kind",
    "origin",
    "node_id",
    "addrs",
    "https",
    "relays",
    "published_at",
    "expires_at",
    "yanked",
    "reason",
    "did",
    "name",
    "links",
    "nostr_keys",
    "iroh_nodes",
    "updated_at",
    "signer",
    "subject",
    "weight",
    "created_at",
    "title",
    "apps",
    "payload",
    "signatures",
    "sig",
    "index",
    "key",
    "next_key",
    "last",
    "entries",
    "profile",
    "endorsements",
];

/// The keys cases sign with: the authority of every seed, two others, and nine more
/// (too many signers). Made once: deriving a key is slow in a debug build.
static KEYS: LazyLock<Vec<Keypair>> =
    LazyLock::new(|| (1..=12u8).map(|n| Keypair::from_seed([n; 32])).collect());

/// The seeds' authority and the two other keys.
pub fn keys() -> &'static [Keypair] {
    &KEYS[..3]
}

/// A valid entry envelope, the batch companion of every case.
static COMPANION: LazyLock<Envelope> = LazyLock::new(|| {
    let entry: Entry = serde_json::from_value(seed_payloads()[1].clone()).expect("an entry");
    Envelope::sign(&entry, &KEYS[0]).expect("signs")
});

/// One valid payload of every type, every optional part used, all by `keys()[0]`.
pub fn seed_payloads() -> Vec<Value> {
    let (a, b) = (&keys()[0], &keys()[1]);
    let hex = |n: u8| hex::encode([n; 32]);
    let entry = Entry {
        kind: Default::default(),
        app: "hello".parse().expect("an app id"),
        publisher: a.did(),
        version: "1.2.3-rc.1+b5".parse().expect("a version"),
        sequence: 7,
        manifest: BlobRef {
            hash: Hash::of(b"manifest"),
            size: 1234,
        },
        artifacts: vec![
            Artifact {
                path: "icon.svg".into(),
                kind: ArtifactKind::Icon,
                blob: BlobRef {
                    hash: Hash::of(b"icon"),
                    size: 10,
                },
            },
            Artifact {
                path: "images/web.oci.tar".into(),
                kind: ArtifactKind::Image,
                blob: BlobRef {
                    hash: Hash::of(b"image"),
                    size: 1 << 20,
                },
            },
        ],
        origin: Origin {
            node_id: Some(hex(9)),
            addrs: vec!["127.0.0.1:7880".into()],
            https: vec!["https://example.org/blobs".into()],
            relays: vec!["https://relay.example.org".into()],
        },
        published_at: 1_700_000_000,
        expires_at: 1_800_000_000,
        yanked: Some(Yank {
            reason: "broken".into(),
        }),
    };
    let minimal = Entry {
        artifacts: vec![],
        origin: Origin::default(),
        yanked: None,
        ..entry.clone()
    };
    let profile = PublisherProfile {
        kind: Default::default(),
        did: a.did(),
        name: "Ålice 😀".into(),
        links: BTreeMap::from([("homepage".into(), "https://example.org".into())]),
        nostr_keys: vec![hex(4)],
        iroh_nodes: vec![hex(5)],
        relays: vec!["wss://relay.example.org".into()],
        next_key: Some(crate::key_commitment(&keys()[2].did())),
        sequence: 3,
        updated_at: 1_700_000_000,
    };
    let endorsement = Endorsement {
        kind: Default::default(),
        signer: a.did(),
        subject: b.did(),
        weight: -0.25,
        reason: "ships good apps".into(),
        sequence: 2,
        created_at: 1_700_000_000,
    };
    let list = CuratedList {
        kind: Default::default(),
        signer: a.did(),
        name: "favourites".parse().expect("a list name"),
        title: "Favourites".into(),
        apps: vec![entry.app_ref()],
        sequence: 1,
    };
    // Key k1 (`a`, the signer of every seed) of identity `b`, committing to k2.
    let rotation = Rotation {
        kind: Default::default(),
        did: b.did(),
        index: 1,
        key: a.did(),
        next_key: crate::key_commitment(&keys()[2].did()),
        last: LastSigned {
            entries: BTreeMap::from([("hello".parse().expect("an app id"), 7)]),
            profile: Some(3),
            endorsements: BTreeMap::from([(a.did(), 2)]),
        },
        created_at: 1_700_000_000,
    };
    let value = |v: Result<Value, serde_json::Error>| v.expect("a payload is JSON");
    vec![
        value(serde_json::to_value(&entry)),
        value(serde_json::to_value(&minimal)),
        value(serde_json::to_value(&profile)),
        value(serde_json::to_value(&endorsement)),
        value(serde_json::to_value(&list)),
        value(serde_json::to_value(&rotation)),
    ]
}

/// Who signs the (edited) payload.
#[derive(Debug, Clone)]
pub enum Signing {
    /// The seed's own signature (over the unedited payload).
    Original,
    /// Signed again by these of [`keys`] (in order; repeats allowed).
    Keys(Vec<usize>),
    /// A signature field that is not a signature (text, or too short / long).
    Broken(String),
    /// Nine valid signers (more than allowed).
    TooMany,
}

fn signing() -> impl Strategy<Value = Signing> {
    prop_oneof![
        2 => Just(Signing::Original),
        5 => proptest::collection::vec(prop_oneof![4 => Just(0usize), 1 => 1..3usize], 0..4)
            .prop_map(Signing::Keys),
        1 => prop_oneof![
            kit::text(),
            Just(URL_SAFE_NO_PAD.encode([0u8; 63])),
            Just(URL_SAFE_NO_PAD.encode([0u8; 65])),
            Just(URL_SAFE_NO_PAD.encode([0u8; 64])),
            Just(base64::engine::general_purpose::STANDARD.encode([0xffu8; 64])),
        ]
        .prop_map(Signing::Broken),
        1 => Just(Signing::TooMany),
    ]
}

/// An envelope as bytes, and what was really signed: (signer, canonical payload bytes).
#[derive(Debug, Clone)]
pub struct Case {
    /// The bytes handed to `from_slice`.
    pub bytes: kit::Bytes,
    /// Every (DID, canonical payload) pair that carries a real signature of that DID.
    pub signed: Vec<(Did, kit::Bytes)>,
}

/// Sign `payload` (any JSON) as `key` would.
fn signature(key: &Keypair, canonical: &[u8]) -> SignatureEntry {
    SignatureEntry {
        did: key.did(),
        sig: URL_SAFE_NO_PAD.encode(key.sign(canonical).to_bytes()),
    }
}

fn build(seed: &Value, edited: Value, how: &Signing, style: u8, mutations: &[Mutation]) -> Case {
    let keys = keys();
    let seed_canonical = to_canonical_bytes(seed).unwrap_or_default();
    let canonical = to_canonical_bytes(&edited).unwrap_or_default();
    let mut signed = vec![(keys[0].did(), seed_canonical.clone())];
    let signatures = match how {
        Signing::Original => vec![signature(&keys[0], &seed_canonical)],
        Signing::Keys(which) => which
            .iter()
            .map(|&i| {
                signed.push((keys[i].did(), canonical.clone()));
                signature(&keys[i], &canonical)
            })
            .collect(),
        Signing::Broken(sig) => vec![SignatureEntry {
            did: keys[0].did(),
            sig: sig.clone(),
        }],
        Signing::TooMany => KEYS[3..]
            .iter()
            .map(|k| {
                signed.push((k.did(), canonical.clone()));
                signature(k, &canonical)
            })
            .collect(),
    };
    let envelope = Envelope {
        payload: edited,
        signatures,
    };
    let bytes = match style % 3 {
        0 => envelope.to_canonical_bytes().unwrap_or_default(),
        1 => serde_json::to_vec_pretty(&envelope).unwrap_or_default(),
        _ => serde_json::to_vec(&envelope).unwrap_or_default(),
    };
    Case {
        bytes: kit::Bytes(kit::apply(&bytes, mutations)),
        signed: signed
            .into_iter()
            .map(|(d, b)| (d, kit::Bytes(b)))
            .collect(),
    }
}

/// Cases: a seed, 0–3 field edits, a way of signing, an encoding, 0–2 byte mutations.
pub fn cases() -> impl Strategy<Value = Case> {
    let seeds = seed_payloads();
    (
        any::<Index>(),
        proptest::collection::vec(kit::edit(FIELDS), 0..=3),
        signing(),
        any::<u8>(),
        prop_oneof![
            3 => Just(vec![]),
            1 => proptest::collection::vec(kit::mutation(), 1..=2),
        ],
    )
        .prop_map(move |(i, edits, how, style, mutations)| {
            let seed = &seeds[i.index(seeds.len())];
            let edited = kit::edit_tree(seed, &edits);
            build(seed, edited, &how, style, &mutations)
        })
}

/// Check `envelope` as a `T`: a refusal is typed; an acceptance was really signed by the
/// authority, passes its checks, is in normal form and round-trips.
fn check_as<T: Payload + PartialEq + Debug>(
    envelope: &Envelope,
    signed: &[(Did, kit::Bytes)],
) -> Result<Option<crate::Verified<T>>, TestCaseError> {
    let is_type = envelope.payload_type() == Some(T::TYPE);
    match envelope.verify::<T>() {
        Err(e) => {
            prop_assert_eq!(
                matches!(e, EnvelopeError::WrongType { .. }),
                !is_type,
                "{} refused as {:?}",
                T::TYPE,
                e
            );
            prop_assert!(
                !matches!(
                    e,
                    EnvelopeError::WrongKey { .. }
                        | EnvelopeError::TooLarge(_)
                        | EnvelopeError::Malformed(_)
                ),
                "{} refused as {:?}",
                T::TYPE,
                e
            );
            prop_assert!(!e.to_string().is_empty());
            Ok(None)
        }
        Ok(v) => {
            prop_assert!(is_type);
            let authority = *v.authority();
            prop_assert!(
                signed
                    .iter()
                    .any(|(did, bytes)| *did == authority && **bytes == *v.canonical_payload()),
                "accepted a {} that {} never signed",
                T::TYPE,
                authority
            );
            prop_assert!(v.check().is_ok());
            let normal = serde_json::to_value(v.payload())
                .ok()
                .and_then(|x| to_canonical_bytes(&x).ok());
            prop_assert_eq!(normal.as_deref(), Some(v.canonical_payload()));
            let bytes = v
                .envelope_bytes()
                .map_err(|e| TestCaseError::fail(format!("no canonical bytes: {e}")))?;
            let again = Envelope::from_slice(&bytes)
                .and_then(|e| e.verify::<T>())
                .map_err(|e| {
                    TestCaseError::fail(format!("its canonical bytes are refused: {e}"))
                })?;
            prop_assert_eq!(again.payload(), v.payload());
            prop_assert_eq!(again.payload_id(), v.payload_id());
            Ok(Some(v))
        }
    }
}

/// The whole check of one case.
pub fn check(case: &Case) -> Result<(), TestCaseError> {
    let envelope = match Envelope::from_slice(&case.bytes) {
        Ok(e) => e,
        Err(EnvelopeError::TooLarge(n)) => {
            prop_assert!(n > MAX_ENVELOPE_BYTES);
            return Ok(());
        }
        Err(EnvelopeError::Malformed(_)) => {
            prop_assert!(case.bytes.len() <= MAX_ENVELOPE_BYTES);
            return Ok(());
        }
        Err(other) => return Err(TestCaseError::fail(format!("from_slice: {other:?}"))),
    };
    let accepted = [
        check_as::<Entry>(&envelope, &case.signed)?.is_some(),
        check_as::<PublisherProfile>(&envelope, &case.signed)?.is_some(),
        check_as::<Endorsement>(&envelope, &case.signed)?.is_some(),
        check_as::<CuratedList>(&envelope, &case.signed)?.is_some(),
        check_as::<Rotation>(&envelope, &case.signed)?.is_some(),
    ];
    prop_assert!(accepted.iter().filter(|a| **a).count() <= 1);
    // The batch verifier agrees with the single one, next to a valid entry (whose
    // result a bad signature in the batch must not change).
    let pair = [envelope.clone(), COMPANION.clone()];
    match envelope.payload_type() {
        Some(Entry::TYPE) => batch_agrees::<Entry>(&pair, true)?,
        Some(PublisherProfile::TYPE) => batch_agrees::<PublisherProfile>(&pair, false)?,
        Some(Endorsement::TYPE) => batch_agrees::<Endorsement>(&pair, false)?,
        Some(CuratedList::TYPE) => batch_agrees::<CuratedList>(&pair, false)?,
        Some(Rotation::TYPE) => batch_agrees::<Rotation>(&pair, false)?,
        _ => {}
    }
    Ok(())
}

fn batch_agrees<T: Payload>(pair: &[Envelope; 2], second_ok: bool) -> Result<(), TestCaseError> {
    let batch = verify_batch::<T>(pair);
    prop_assert_eq!(
        batch[0].is_ok(),
        pair[0].verify::<T>().is_ok(),
        "verify_batch disagrees with verify as {}",
        T::TYPE
    );
    prop_assert_eq!(
        batch[1].is_ok(),
        second_ok,
        "a valid {} in the batch",
        T::TYPE
    );
    Ok(())
}

#[test]
fn fuzz_envelopes_edited_signed_and_mutated() {
    let mut runner = TestRunner::new(kit::config(SIGNED_CASES, file!()));
    if let Err(e) = runner.run(&cases(), |case| check(&case)) {
        panic!("envelopes: {e}");
    }
}

#[test]
fn fuzz_envelope_bytes_mutated() {
    let keys = keys();
    let seeds: Vec<Vec<u8>> = seed_payloads()
        .iter()
        .map(|p| {
            let c = to_canonical_bytes(p).unwrap_or_default();
            let e = Envelope {
                payload: p.clone(),
                signatures: vec![signature(&keys[0], &c)],
            };
            e.to_canonical_bytes().unwrap_or_default()
        })
        .collect();
    let signed: Vec<(Did, kit::Bytes)> = seed_payloads()
        .iter()
        .map(|p| {
            (
                keys[0].did(),
                kit::Bytes(to_canonical_bytes(p).unwrap_or_default()),
            )
        })
        .collect();
    let mut runner = TestRunner::new(kit::config(CASES, file!()));
    let strategy = kit::mutated(seeds);
    if let Err(e) = runner.run(&strategy, |bytes| {
        check(&Case {
            bytes,
            signed: signed.clone(),
        })
    }) {
        panic!("envelope bytes: {e}");
    }
}

#[test]
fn every_seed_verifies_as_its_own_type() {
    let keys = keys();
    for p in seed_payloads() {
        let c = to_canonical_bytes(&p).unwrap();
        let case = build(&p, p.clone(), &Signing::Keys(vec![0]), 0, &[]);
        let env = Envelope::from_slice(&case.bytes).unwrap();
        let ok = [
            env.verify::<Entry>().is_ok(),
            env.verify::<PublisherProfile>().is_ok(),
            env.verify::<Endorsement>().is_ok(),
            env.verify::<CuratedList>().is_ok(),
            env.verify::<Rotation>().is_ok(),
        ];
        assert_eq!(ok.iter().filter(|a| **a).count(), 1, "{p}");
        assert!(case.signed.contains(&(keys[0].did(), kit::Bytes(c))));
    }
}
