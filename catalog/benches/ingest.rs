//! Ingest benchmark: 100k signed entries, verified with `verify_batch` and stored one
//! transaction per batch, as a ratio to the raw ed25519 verify rate of the same machine in
//! the same run (single thread). Target: ratio >= 0.6.
//!
//! `cargo bench -p atoll-catalog --bench ingest` (ATOLL_BENCH_N to change the count).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use atoll_catalog::{Catalog, Provenance};
use atoll_registry::objects::{BlobRef, EntryType, Origin};
use atoll_registry::{verify_batch, Entry, Envelope, Hash, Keypair};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

const BATCH: usize = 1000;

fn main() {
    let n: usize = std::env::var("ATOLL_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let publishers = (n / 100).max(1);
    println!("ingest bench: {n} entries from {publishers} publishers, batches of {BATCH}");

    // Setup (not timed): sign every entry and keep the wire bytes, as they arrive from a relay.
    let t = Instant::now();
    let keys: Vec<Keypair> = (0..publishers)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            Keypair::from_seed(seed)
        })
        .collect();
    let wire: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let key = &keys[i % publishers];
            let e = Entry {
                kind: EntryType,
                app: format!("app-{}", i / publishers).parse().unwrap(),
                publisher: key.did(),
                version: "1.0.0".parse().unwrap(),
                sequence: 1,
                manifest: BlobRef {
                    hash: Hash::of(&(i as u64).to_le_bytes()),
                    size: 1234,
                },
                artifacts: vec![],
                origin: Origin {
                    node_id: Some("ab".repeat(32)),
                    addrs: vec!["127.0.0.1:4433".into()],
                    https: vec![],
                    relays: vec![],
                },
                published_at: 1_700_000_000,
                expires_at: 4_000_000_000,
                yanked: None,
            };
            Envelope::sign(&e, key)
                .unwrap()
                .to_canonical_bytes()
                .unwrap()
        })
        .collect();
    println!(
        "  setup: signed {n} entries in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    // Raw ed25519: verify_strict of each signature over its canonical payload, one by one.
    let raw: Vec<_> = wire
        .iter()
        .map(|bytes| {
            let env = Envelope::from_slice(bytes).unwrap();
            let payload = atoll_registry::canonical::to_canonical_bytes(&env.payload).unwrap();
            let sig: [u8; 64] = URL_SAFE_NO_PAD
                .decode(&env.signatures[0].sig)
                .unwrap()
                .try_into()
                .unwrap();
            (
                *env.signatures[0].did.verifying_key(),
                ed25519_dalek::Signature::from_bytes(&sig),
                payload,
            )
        })
        .collect();
    let t = Instant::now();
    for (key, sig, msg) in &raw {
        key.verify_strict(msg, sig).unwrap();
    }
    let raw_secs = t.elapsed().as_secs_f64();
    let raw_rate = n as f64 / raw_secs;
    println!(
        "  raw ed25519 verify_strict: {raw_rate:>9.0} /s  ({:.1} µs each)",
        raw_secs * 1e6 / n as f64
    );

    // The pipeline: parse the wire bytes, verify_batch, ingest_batch (one transaction each).
    let dir = tempfile::tempdir().unwrap();
    let mut cat = Catalog::open(dir.path().join("catalog.db")).unwrap();
    let relay = Provenance::Relay("ws://127.0.0.1:7777".into());
    let (mut verify_secs, mut store_secs) = (0.0, 0.0);
    let t = Instant::now();
    let mut stored = 0;
    for chunk in wire.chunks(BATCH) {
        let t1 = Instant::now();
        let envelopes: Vec<Envelope> = chunk
            .iter()
            .map(|b| Envelope::from_slice(b).unwrap())
            .collect();
        let verified: Vec<_> = verify_batch::<Entry>(&envelopes)
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        let t2 = Instant::now();
        let outcomes = cat.ingest_batch(&verified, &relay).unwrap();
        stored += outcomes.iter().filter(|o| o.is_head()).count();
        verify_secs += (t2 - t1).as_secs_f64();
        store_secs += t2.elapsed().as_secs_f64();
    }
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(stored, n);
    let rate = n as f64 / secs;
    println!(
        "  parse + verify_batch:      {:>9.0} /s  ({:.1} µs each)",
        n as f64 / verify_secs,
        verify_secs * 1e6 / n as f64
    );
    println!(
        "  store (ingest_batch):      {:>9.0} /s  ({:.1} µs each)",
        n as f64 / store_secs,
        store_secs * 1e6 / n as f64
    );
    println!(
        "  ingest end to end:         {rate:>9.0} /s  ({:.1}s for {n})",
        secs
    );
    println!(
        "RESULT ingest/raw-verify ratio = {:.2}  (target >= 0.60: {})",
        rate / raw_rate,
        if rate / raw_rate >= 0.6 {
            "met"
        } else {
            "NOT met"
        }
    );
    drop(cat);
}
