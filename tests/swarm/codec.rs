//! The event format on its own: tags, round trip, and the early pipeline stages.

use atoll_discovery::codec::{self, DTag, Object, ObjectType, MAX_EVENT_BYTES};
use atoll_discovery::Reason;
use atoll_registry::objects::{BlobRef, EntryType, Origin};
use atoll_registry::{Entry, Envelope, Hash, Keypair, Verified};
use nostr_sdk::{JsonUtil, Keys};

pub fn sample_entry(key: &Keypair, app: &str, sequence: u64) -> Verified<Entry> {
    let entry = Entry {
        kind: EntryType,
        app: app.parse().unwrap(),
        publisher: key.did(),
        version: "1.2.3".parse().unwrap(),
        sequence,
        manifest: BlobRef {
            hash: Hash::of(app.as_bytes()),
            size: 100,
        },
        artifacts: vec![],
        origin: Origin::default(),
        published_at: 1_700_000_000,
        expires_at: 4_000_000_000,
        yanked: None,
    };
    Envelope::sign(&entry, key).unwrap().verify().unwrap()
}

#[test]
fn entry_event_has_the_documented_tags_and_round_trips() {
    let key = Keypair::from_seed([9; 32]);
    let entry = sample_entry(&key, "hello", 7);
    let keys = key.nostr_keys().unwrap();
    let event = codec::encode(&Object::Entry(entry.clone()), &keys, None).unwrap();
    assert_eq!(event.kind.as_u16(), 30078);
    let tags: Vec<Vec<String>> = event.tags.iter().map(|t| t.clone().to_vec()).collect();
    let d = format!("atoll:entry:{}:hello", key.did());
    assert!(tags.contains(&vec!["d".into(), d.clone()]));
    assert!(tags.contains(&vec!["t".into(), "atoll".into()]));
    assert!(tags.contains(&vec!["i".into(), key.did().to_string()]));
    assert!(tags.contains(&vec!["x".into(), entry.manifest.hash.to_hex()]));
    assert!(tags.contains(&vec!["v".into(), "1.2.3".into()]));
    assert!(tags.iter().any(|t| t[0] == "alt"));
    // Valid NIP-01: id and signature verify, JSON round-trips.
    event.verify().unwrap();
    let back = codec::decode_json(&event.as_json()).unwrap().unwrap();
    assert_eq!(back.event_id, event.id);
    match back.object {
        Object::Entry(e) => assert_eq!(e.payload_id(), entry.payload_id()),
        other => panic!("{other:?}"),
    }
    let parsed = DTag::parse(&d).unwrap();
    assert_eq!(parsed.kind, ObjectType::Entry);
    assert_eq!(parsed.to_string(), d);
}

#[test]
fn early_stages_reject_with_precise_reasons() {
    let key = Keypair::from_seed([9; 32]);
    let other = Keypair::from_seed([10; 32]);
    let keys = Keys::generate();
    // Filed under another app's d tag: namespace.
    let entry = sample_entry(&key, "hello", 1);
    let mut event_json: serde_json::Value = serde_json::from_str(
        &codec::encode(&Object::Entry(entry), &keys, None)
            .unwrap()
            .as_json(),
    )
    .unwrap();
    let content = event_json["content"].as_str().unwrap().to_owned();
    let wrong_d = nostr_sdk::EventBuilder::new(nostr_sdk::Kind::ApplicationSpecificData, content)
        .tags([
            nostr_sdk::Tag::identifier(format!("atoll:entry:{}:other", key.did())),
            nostr_sdk::Tag::hashtag("atoll"),
        ])
        .sign_with_keys(&keys)
        .unwrap();
    assert!(matches!(codec::decode(&wrong_d), Err(Reason::Namespace(_))));
    // Under another DID: namespace too.
    let wrong_did = nostr_sdk::EventBuilder::new(
        nostr_sdk::Kind::ApplicationSpecificData,
        wrong_d.content.clone(),
    )
    .tags([
        nostr_sdk::Tag::identifier(format!("atoll:entry:{}:hello", other.did())),
        nostr_sdk::Tag::hashtag("atoll"),
    ])
    .sign_with_keys(&keys)
    .unwrap();
    assert!(matches!(
        codec::decode(&wrong_did),
        Err(Reason::Namespace(_))
    ));
    // A bad Nostr id/signature.
    event_json["content"] = serde_json::Value::String("changed".into());
    assert_eq!(
        codec::decode_json(&event_json.to_string()).err(),
        Some(Reason::NostrSignature)
    );
    // Too large, before any parsing.
    let huge = format!("{{\"pad\":\"{}\"}}", "y".repeat(MAX_EVENT_BYTES));
    assert!(matches!(
        codec::decode_json(&huge),
        Err(Reason::Oversized { .. })
    ));
    // Not an atoll event at all: ignored, not rejected.
    let note = nostr_sdk::EventBuilder::text_note("hello nostr")
        .sign_with_keys(&keys)
        .unwrap();
    assert!(codec::decode(&note).unwrap().is_none());
    // Bad d tags.
    for bad in [
        "atoll:entry",
        "atoll:nope:did:key:z6Mk",
        "other:entry:x",
        "atoll:entry:did:key:zzz",
    ] {
        assert!(
            matches!(DTag::parse(bad), Err(Reason::Malformed(_))),
            "{bad}"
        );
    }
}
