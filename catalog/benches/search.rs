//! Search benchmark: 100k apps with attached manifests; full-text search p50/p99 against a
//! `LIKE '%word%'` full scan over the same text in the same run. Target: p99 <= 0.1x.
//!
//! Descriptions draw words from a 3,000-word vocabulary with a Zipf distribution; queries
//! draw one or two words the same way (common words are searched more, and match more).
//! `cargo bench -p atoll-catalog --bench search` (ATOLL_BENCH_N to change the count).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use atoll_catalog::{Catalog, Provenance, SearchQuery, Sort};
use atoll_registry::objects::{BlobRef, EntryType, Origin};
use atoll_registry::{Entry, Envelope, Hash, Keypair, Manifest};

const VOCAB: usize = 3000;
const QUERIES: usize = 400;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf(1) sampler over `0..n` by inverse CDF on the harmonic numbers.
struct Zipf(Vec<f64>);
impl Zipf {
    fn new(n: usize) -> Self {
        let mut c = Vec::with_capacity(n);
        let mut s = 0.0;
        for k in 1..=n {
            s += 1.0 / k as f64;
            c.push(s);
        }
        Self(c.into_iter().map(|x| x / s).collect())
    }
    fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.0.partition_point(|&c| c < u).min(self.0.len() - 1)
    }
}

fn word(i: usize) -> String {
    const SYL: [&str; 16] = [
        "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ba", "de", "fo", "gu", "pa", "ri", "so",
        "te",
    ];
    let mut s = String::new();
    let mut x = i + 17;
    for _ in 0..3 {
        s.push_str(SYL[x % 16]);
        x /= 16;
    }
    s.push_str(&format!("{}", i % 7));
    s
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let n: usize = std::env::var("ATOLL_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let publishers = (n / 100).max(1);
    println!("search bench: {n} apps from {publishers} publishers, {QUERIES} queries");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let mut cat = Catalog::open(&path).unwrap();
    let base = atoll_registry::manifest::parse(
        &format!(
            "id: base\nname: Base\nversion: 1.0.0\ndescription: base\ncontainers:\n  - name: web\n    image:\n      reference: docker.io/library/busybox@sha256:{}\n",
            "a".repeat(64)
        ),
        std::path::Path::new("base.yml"),
    )
    .unwrap();
    let zipf = Zipf::new(VOCAB);
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let categories = [
        "web", "media", "games", "office", "dev", "chat", "notes", "photos", "music", "wiki",
        "mail", "files", "home", "finance", "science", "security", "maps", "news", "video",
        "books",
    ];

    let t = Instant::now();
    let keys: Vec<Keypair> = (0..publishers)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            Keypair::from_seed(seed)
        })
        .collect();
    let relay = Provenance::Relay("ws://127.0.0.1:7777".into());
    for start in (0..n).step_by(2000) {
        let mut entries = Vec::new();
        let mut manifests = Vec::new();
        for i in start..(start + 2000).min(n) {
            let key = &keys[i % publishers];
            let mut m: Manifest = base.clone();
            m.id = format!("app-{}", i / publishers);
            m.name = format!(
                "{} {}",
                word(zipf.sample(&mut rng)),
                word(zipf.sample(&mut rng))
            );
            m.description = (0..12)
                .map(|_| word(zipf.sample(&mut rng)))
                .collect::<Vec<_>>()
                .join(" ");
            m.categories = vec![categories[(rng.next() % 20) as usize].to_string()];
            let body = m.canonical_bytes().unwrap();
            let e = Entry {
                kind: EntryType,
                app: m.id.parse().unwrap(),
                publisher: key.did(),
                version: m.version.clone(),
                sequence: 1,
                manifest: BlobRef {
                    hash: Hash::of(&body),
                    size: body.len() as u64,
                },
                artifacts: vec![],
                origin: Origin::default(),
                published_at: 1_700_000_000 + (rng.next() % 10_000_000),
                expires_at: 4_000_000_000,
                yanked: None,
            };
            entries.push(Envelope::sign(&e, key).unwrap().verify::<Entry>().unwrap());
            manifests.push(m);
        }
        cat.ingest_batch(&entries, &relay).unwrap();
        cat.attach_manifests(&manifests).unwrap();
    }
    // Spread trust: pin a few publishers, let each publisher endorse a few others.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("BEGIN").unwrap();
        let mut e = conn
            .prepare(
                "INSERT OR IGNORE INTO endorsements (signer_id, subject_id, weight, reason, sequence, created_at, payload_id, envelope)
                 VALUES (?1, ?2, ?3, '', 1, 0, x'00', x'')",
            )
            .unwrap();
        for u in 1..=publishers as i64 {
            for _ in 0..3 {
                let v = (rng.next() % publishers as u64) as i64 + 1;
                if v != u {
                    e.execute(rusqlite::params![
                        u,
                        v,
                        (rng.next() % 100 + 1) as f64 / 100.0
                    ])
                    .unwrap();
                }
            }
        }
        drop(e);
        conn.execute_batch("COMMIT").unwrap();
    }
    for i in 0..5 {
        cat.pin(&keys[i * publishers / 5].did(), "").unwrap();
    }
    cat.recompute_trust().unwrap();
    println!(
        "  setup: {n} apps ingested, manifests attached, trust computed in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    let queries: Vec<Vec<String>> = (0..QUERIES)
        .map(|i| {
            (0..1 + i % 2)
                .map(|_| word(zipf.sample(&mut rng)))
                .collect()
        })
        .collect();
    let like = rusqlite::Connection::open(&path).unwrap();
    let like_sql = |words: usize| {
        let cond = (1..=words)
            .map(|k| {
                format!("(m.name LIKE ?{k} OR m.description LIKE ?{k} OR m.categories LIKE ?{k})")
            })
            .collect::<Vec<_>>()
            .join(" AND ");
        format!(
            "SELECT a.id FROM apps a JOIN entries e ON e.id = a.head_entry_id
             JOIN manifests m ON m.hash = e.manifest_hash WHERE {cond}
             ORDER BY a.trust DESC, a.name, a.id LIMIT 20"
        )
    };
    // Warm both paths once.
    cat.search(&SearchQuery {
        words: queries[0].join(" "),
        limit: 20,
        ..Default::default()
    })
    .unwrap();

    for sort in [Sort::Trust, Sort::Relevance] {
        let mut fts = Vec::new();
        let mut hits = 0;
        for q in &queries {
            let t = Instant::now();
            let page = cat
                .search(&SearchQuery {
                    words: q.join(" "),
                    sort,
                    limit: 20,
                    ..Default::default()
                })
                .unwrap();
            fts.push(t.elapsed().as_secs_f64() * 1e3);
            hits += page.items.len();
        }
        fts.sort_by(f64::total_cmp);
        println!(
            "  FTS5 search (sort {sort:?}, 20 per page): p50 {:.3} ms  p99 {:.3} ms  ({} results shown in total)",
            percentile(&fts, 0.5),
            percentile(&fts, 0.99),
            hits
        );
        if sort == Sort::Trust {
            let mut scan = Vec::new();
            for q in &queries {
                let t = Instant::now();
                let mut stmt = like.prepare_cached(&like_sql(q.len())).unwrap();
                let args: Vec<String> = q.iter().map(|w| format!("%{w}%")).collect();
                let rows: Vec<i64> = stmt
                    .query_map(rusqlite::params_from_iter(args), |r| r.get(0))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                scan.push(t.elapsed().as_secs_f64() * 1e3);
                std::hint::black_box(rows);
            }
            scan.sort_by(f64::total_cmp);
            println!(
                "  LIKE full scan (same queries, same order): p50 {:.3} ms  p99 {:.3} ms",
                percentile(&scan, 0.5),
                percentile(&scan, 0.99)
            );
            let ratio = percentile(&fts, 0.99) / percentile(&scan, 0.99);
            println!(
                "RESULT search p99 / LIKE-scan p99 = {ratio:.3}  (p50 ratio {:.3}; target p99 <= 0.10: {})",
                percentile(&fts, 0.5) / percentile(&scan, 0.5),
                if ratio <= 0.1 { "met" } else { "NOT met" }
            );
        }
    }
}
