//! Trust recompute benchmark: 100k DIDs, 1M endorsements (5% reports), 20 anchors.
//!
//! The graph is written with plain SQL (signing a million endorsements would only measure
//! ed25519); the recompute reads it back from SQLite like any other.
//! `cargo bench -p atoll-catalog --bench trust` (ATOLL_BENCH_DIDS / ATOLL_BENCH_EDGES).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use atoll_catalog::Catalog;
use atoll_registry::Keypair;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn main() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let dids = env("ATOLL_BENCH_DIDS", 100_000);
    let edges = env("ATOLL_BENCH_EDGES", 1_000_000);
    println!("trust bench: {dids} DIDs, {edges} endorsements");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let mut cat = Catalog::open(&path).unwrap();

    let t = Instant::now();
    let did_of = |i: usize| {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
        Keypair::from_seed(seed).did()
    };
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        let tx = conn.transaction().unwrap();
        {
            let mut p = tx
                .prepare("INSERT INTO publishers (id, did, first_seen) VALUES (?1, ?2, 0)")
                .unwrap();
            for i in 0..dids {
                p.execute(rusqlite::params![i as i64 + 1, did_of(i).to_string()])
                    .unwrap();
            }
            let mut e = tx
                .prepare(
                    "INSERT OR IGNORE INTO endorsements
                     (signer_id, subject_id, weight, reason, sequence, created_at, payload_id, envelope)
                     VALUES (?1, ?2, ?3, '', 1, 0, x'00', x'')",
                )
                .unwrap();
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
            let mut written = 0;
            while written < edges {
                let u = rng.below(dids as u64) as i64 + 1;
                let v = rng.below(dids as u64) as i64 + 1;
                if u == v {
                    continue;
                }
                let w = if rng.below(20) == 0 {
                    -((rng.below(100) + 1) as f64) / 100.0
                } else {
                    (rng.below(100) + 1) as f64 / 100.0
                };
                written += e.execute(rusqlite::params![u, v, w]).unwrap();
            }
        }
        tx.commit().unwrap();
    }
    for i in 0..20 {
        cat.pin(&did_of(i * (dids / 20).max(1)), "bench anchor")
            .unwrap();
    }
    println!(
        "  setup: graph written in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    let mut times = Vec::new();
    let mut stats = None;
    for _ in 0..3 {
        let t = Instant::now();
        stats = Some(cat.recompute_trust().unwrap());
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let stats = stats.unwrap();
    println!(
        "  graph: {} DIDs, {} endorsements read, {} anchors, {} DIDs with a score > 0",
        stats.dids, stats.endorsements, stats.anchors, stats.trusted
    );
    println!(
        "RESULT trust recompute (read graph + propagate + write scores): median {:.2}s, best {:.2}s over 3 runs",
        times[1], times[0]
    );
    let t = Instant::now();
    let ex = cat.explain(&did_of(dids / 2 + 7)).unwrap();
    println!(
        "  explain one DID: {:.2} ms ({} hops)",
        t.elapsed().as_secs_f64() * 1e3,
        ex.path.len().saturating_sub(1)
    );
    print!("{ex}");
}
