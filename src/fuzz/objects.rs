//! Valid signed objects of every type the swarm carries, the seeds of the codec and API
//! fuzzing, all signed by [`publisher`] (and the mirror announcement by the same key, as
//! a node key).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use atoll_discovery::announce::{MirrorAnnouncement, MirrorType};
use atoll_discovery::codec::Object;
use atoll_registry::objects::{
    Artifact, ArtifactKind, BlobRef, CuratedList, Endorsement, Entry, LastSigned, Origin,
    PublisherProfile, Rotation,
};
use atoll_registry::{Envelope, Hash, Keypair, Payload, Verified};

static PUBLISHER: LazyLock<Keypair> = LazyLock::new(|| Keypair::from_seed([21; 32]));
static NOSTR: LazyLock<nostr_sdk::Keys> =
    LazyLock::new(|| PUBLISHER.nostr_keys().expect("nostr keys"));

/// The authority of every seed (made once: deriving keys is slow in a debug build).
pub fn publisher() -> &'static Keypair {
    &PUBLISHER
}

/// Its Nostr transport key.
pub fn nostr_keys() -> &'static nostr_sdk::Keys {
    &NOSTR
}

/// Another identity (the subject of the endorsement).
pub fn other() -> Keypair {
    Keypair::from_seed([22; 32])
}

fn verified<T: Payload>(payload: &T) -> Verified<T> {
    Envelope::sign(payload, publisher())
        .and_then(|e| e.verify())
        .unwrap_or_else(|e| panic!("a seed of {} does not verify: {e}", T::TYPE))
}

/// An entry of app `hello` whose origin is iroh node `node_id`.
pub fn entry(node_id: Option<String>, sequence: u64) -> Entry {
    Entry {
        kind: Default::default(),
        app: "hello".parse().expect("an app id"),
        publisher: publisher().did(),
        version: "1.0.0".parse().expect("a version"),
        sequence,
        manifest: BlobRef {
            hash: Hash::of(b"manifest"),
            size: 100,
        },
        artifacts: vec![Artifact {
            path: "icon.svg".into(),
            kind: ArtifactKind::Icon,
            blob: BlobRef {
                hash: Hash::of(b"icon"),
                size: 10,
            },
        }],
        origin: Origin {
            node_id,
            addrs: vec!["127.0.0.1:1".into()],
            ..Origin::default()
        },
        published_at: 1_700_000_000,
        expires_at: 4_000_000_000,
        yanked: None,
    }
}

/// The profile of [`publisher`], listing its Nostr key.
pub fn profile() -> PublisherProfile {
    let nostr = nostr_keys().public_key().to_hex();
    PublisherProfile {
        kind: Default::default(),
        did: publisher().did(),
        name: "Fuzz Publisher".into(),
        links: BTreeMap::from([("homepage".into(), "https://example.org".into())]),
        nostr_keys: vec![nostr],
        iroh_nodes: vec![],
        relays: vec![],
        next_key: Some(atoll_registry::key_commitment(&other().did())),
        sequence: 1,
        updated_at: 1_700_000_000,
    }
}

/// One verified object of every type.
pub fn seeds() -> Vec<Object> {
    let endorsement = Endorsement {
        kind: Default::default(),
        signer: publisher().did(),
        subject: other().did(),
        weight: 0.5,
        reason: "good apps".into(),
        sequence: 1,
        created_at: 1_700_000_000,
    };
    let list = CuratedList {
        kind: Default::default(),
        signer: publisher().did(),
        name: "picks".parse().expect("a list name"),
        title: "Picks".into(),
        apps: vec![entry(None, 1).app_ref()],
        sequence: 1,
    };
    let mirror = MirrorAnnouncement {
        kind: MirrorType,
        node: publisher().did(),
        addrs: vec!["127.0.0.1:1".into()],
        relays: vec![],
        manifest: Hash::of(b"manifest"),
        blobs: vec![Hash::of(b"manifest"), Hash::of(b"icon")],
        announced_at_ms: 1_700_000_000_000,
    };
    // Key k1 (the publisher's key, which signs every seed) of identity `other`.
    let rotation = Rotation {
        kind: Default::default(),
        did: other().did(),
        index: 1,
        key: publisher().did(),
        next_key: atoll_registry::key_commitment(&Keypair::from_seed([23; 32]).did()),
        last: LastSigned {
            entries: BTreeMap::from([("hello".parse().expect("an app id"), 2)]),
            profile: Some(1),
            endorsements: BTreeMap::new(),
        },
        created_at: 1_700_000_000,
    };
    vec![
        Object::Entry(verified(&entry(Some(hex::encode([7u8; 32])), 3))),
        Object::Publisher(verified(&profile())),
        Object::Endorsement(verified(&endorsement)),
        Object::List(verified(&list)),
        Object::Mirror(verified(&mirror)),
        Object::Rotation(verified(&rotation)),
    ]
}

/// App `tiny` of [`publisher`] with its manifest, for a catalog the API finds it in.
pub fn catalog_app() -> (Verified<Entry>, atoll_registry::Manifest) {
    let yaml = format!(
        "id: tiny\nname: Tiny\nversion: 1.0.0\ndescription: d\ncontainers:\n  - name: web\n    image:\n      reference: \"x/y@sha256:{}\"\n",
        "0".repeat(64)
    );
    let m = atoll_registry::manifest::parse(&yaml, std::path::Path::new("m.yml"))
        .expect("a valid manifest");
    let bytes = m.canonical_bytes().expect("a blob");
    let e = Entry {
        app: "tiny".parse().expect("an app id"),
        manifest: BlobRef {
            hash: Hash::of(&bytes),
            size: bytes.len() as u64,
        },
        artifacts: vec![],
        ..entry(None, 1)
    };
    (verified(&e), m)
}
