use std::path::PathBuf;

use atoll_catalog::Catalog;
use atoll_registry::objects::{BlobRef, EntryType, Origin, Yank};
use atoll_registry::{Entry, Envelope, Hash, Keypair, Manifest, Verified};

pub const FAR: u64 = 4_000_000_000;
pub const ORIGIN_NODE: &str = "1111111111111111111111111111111111111111111111111111111111111111";

pub struct Store {
    pub _dir: tempfile::TempDir,
    pub path: PathBuf,
    pub cat: Catalog,
}

pub fn store() -> Store {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let cat = Catalog::open(&path).unwrap();
    Store {
        _dir: dir,
        path,
        cat,
    }
}

pub fn key(n: u8) -> Keypair {
    Keypair::from_seed([n; 32])
}

pub fn manifest_yaml(
    app: &str,
    version: &str,
    name: &str,
    description: &str,
    categories: &[&str],
) -> String {
    format!(
        "id: {app}\nname: {name}\nversion: {version}\ndescription: {description}\ncategories: [{}]\ncontainers:\n  - name: web\n    image:\n      reference: docker.io/library/busybox@sha256:{}\n",
        categories.join(", "),
        "a".repeat(64)
    )
}

pub fn manifest(
    app: &str,
    version: &str,
    name: &str,
    description: &str,
    categories: &[&str],
) -> Manifest {
    atoll_registry::manifest::parse(
        &manifest_yaml(app, version, name, description, categories),
        std::path::Path::new("test.yml"),
    )
    .unwrap()
}

pub fn entry(key: &Keypair, app: &str, sequence: u64) -> Entry {
    Entry {
        kind: EntryType,
        app: app.parse().unwrap(),
        publisher: key.did(),
        version: format!("1.0.{sequence}").parse().unwrap(),
        sequence,
        manifest: BlobRef {
            hash: Hash::of(format!("{app}-{sequence}").as_bytes()),
            size: 100,
        },
        artifacts: vec![],
        origin: Origin {
            node_id: Some(ORIGIN_NODE.into()),
            addrs: vec![],
            https: vec![],
            relays: vec![],
        },
        published_at: 1_700_000_000 + sequence,
        expires_at: FAR,
        yanked: None,
    }
}

/// An entry whose manifest blob is `m`.
pub fn entry_for(key: &Keypair, m: &Manifest, sequence: u64) -> Entry {
    let body = m.canonical_bytes().unwrap();
    let mut e = entry(key, &m.id, sequence);
    e.version = m.version.clone();
    e.manifest = BlobRef {
        hash: Hash::of(&body),
        size: body.len() as u64,
    };
    e
}

pub fn sign(e: &Entry, key: &Keypair) -> Verified<Entry> {
    Envelope::sign(e, key).unwrap().verify::<Entry>().unwrap()
}

pub fn signed(key: &Keypair, app: &str, sequence: u64) -> Verified<Entry> {
    sign(&entry(key, app, sequence), key)
}

pub fn yank(mut e: Entry, reason: &str) -> Entry {
    e.yanked = Some(Yank {
        reason: reason.into(),
    });
    e
}
