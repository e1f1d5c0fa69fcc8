//! Hostile input, sent through the relay by an attacker's Nostr key (and, for a forged
//! Nostr signature, straight into the pipeline, since relays refuse those).

use atoll_discovery::codec::{Object, MAX_EVENT_BYTES};
use atoll_discovery::{Ingested, Reason};
use atoll_registry::{AppRef, Entry, Envelope, Keypair, Verified};
use nostr_sdk::{EventBuilder, JsonUtil, Keys, Kind, Tag};

use crate::support::{eventually, init_tracing, make_app, Node, Publisher, TestRelay};

fn resign(entry: &Entry, key: &Keypair) -> Verified<Entry> {
    Envelope::sign(entry, key).unwrap().verify().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_inputs_are_rejected_with_their_reason_and_the_node_keeps_going() {
    init_tracing();
    let relay = TestRelay::start().await;
    let apps = tempfile::tempdir().unwrap();
    let publisher = Publisher::start(3, vec![relay.url()]).await;
    let observer = Node::start("observer", vec![relay.url()]).await;
    let attacker = Keys::generate();
    let publisher_keys = publisher.key.nostr_keys().unwrap();

    let v1 = publisher
        .publish(&make_app(apps.path(), "eps", "1.0.0", 20_000))
        .await;
    let app: AppRef = v1.app.parse().unwrap();
    let head_v1 = publisher.node.head(&app).await.unwrap();
    eventually("observer has eps 1.0.0", || async {
        observer.head(&app).await == Some((head_v1.0, head_v1.1, true))
    })
    .await;
    let entry: Entry = {
        let bytes = std::fs::read(v1.bundle.join("entry.json")).unwrap();
        Envelope::from_slice(&bytes)
            .unwrap()
            .verify::<Entry>()
            .unwrap()
            .payload()
            .clone()
    };
    let send = |object: Object, keys: Keys| {
        let node = &publisher.node;
        async move {
            node.d.announce(&object, &keys).await.unwrap();
        }
    };

    // 1. Forged entry: claims the publisher's DID, signed by someone else.
    let mut forged = entry.clone();
    forged.sequence += 1_000;
    forged.version = "9.9.9".parse().unwrap();
    let mut env = Envelope::sign(&entry, &publisher.key).unwrap();
    env.payload = serde_json::to_value(&forged).unwrap();
    let thief = Keypair::from_seed([66; 32]);
    let sig = thief.sign(&atoll_registry::canonical::to_canonical_bytes(&env.payload).unwrap());
    env.signatures[0].sig = base64_url(&sig.to_bytes());
    assert!(env.verify::<Entry>().is_err());
    let forged_event = raw_atoll_event(
        &attacker,
        &format!("atoll:entry:{}:eps", publisher.key.did()),
        &String::from_utf8(env.to_canonical_bytes().unwrap()).unwrap(),
    );
    publisher
        .node
        .d
        .relays()
        .publish(&forged_event)
        .await
        .unwrap();

    // 2. A newer version, then a replay of an older, never-seen sequence.
    let mut v2 = entry.clone();
    v2.sequence += 10;
    v2.published_at += 1;
    let v2 = resign(&v2, &publisher.key);
    send(Object::Entry(v2.clone()), publisher_keys.clone()).await;
    eventually("observer moves to the newer sequence", || async {
        observer.head(&app).await.map(|h| h.0) == Some(v2.sequence)
    })
    .await;
    let mut old = entry.clone();
    old.sequence += 5;
    let old = resign(&old, &publisher.key);
    send(Object::Entry(old), attacker.clone()).await;

    // 3. Equivocation: a different entry with the head's sequence, from the publisher.
    let mut twin = v2.payload().clone();
    twin.published_at += 7;
    let twin = resign(&twin, &publisher.key);
    send(Object::Entry(twin), attacker.clone()).await;

    // 4. An entry past its expiry.
    let mut stale = entry.clone();
    stale.app = "zeta".parse().unwrap();
    stale.published_at = atoll_discovery::now_secs() - 1_000;
    stale.expires_at = atoll_discovery::now_secs() - 10;
    send(
        Object::Entry(resign(&stale, &publisher.key)),
        attacker.clone(),
    )
    .await;

    // 5. Oversized (the embedded relay refuses to store it, so it goes straight in too)
    // and 6. malformed events.
    let big = raw_atoll_event(
        &attacker,
        &format!("atoll:entry:{}:big", publisher.key.did()),
        &"x".repeat(MAX_EVENT_BYTES + 1),
    );
    let refused = publisher.node.d.relays().publish(&big).await.unwrap_err();
    assert!(
        refused.to_string().contains("more than 131072"),
        "{refused}"
    );
    assert!(matches!(
        observer.d.ingest_event(big.clone(), "test").await,
        Ingested::Rejected(Reason::Oversized { .. })
    ));
    let junk = raw_atoll_event(
        &attacker,
        &format!("atoll:entry:{}:junk", publisher.key.did()),
        "this is not a signed envelope",
    );
    publisher.node.d.relays().publish(&junk).await.unwrap();

    // 7. A forged Nostr signature (relays refuse it, so it goes straight in).
    let mut json: serde_json::Value = serde_json::from_str(&junk.as_json()).unwrap();
    json["content"] = serde_json::Value::String("tampered".into());
    let bad_sig = nostr_sdk::Event::from_json(json.to_string()).unwrap();
    assert_eq!(
        observer.d.ingest_event(bad_sig, "test").await,
        Ingested::Rejected(Reason::NostrSignature)
    );

    let expected = [
        "did-signature",
        "rollback",
        "equivocation",
        "expired",
        "oversized",
        "malformed",
        "nostr-signature",
    ];
    eventually(
        "every hostile input is recorded with its reason",
        || async {
            let c = observer.d.counters();
            expected.iter().all(|code| c.rejected(code) >= 1)
        },
    )
    .await;
    let audit = observer.audit_codes().await;
    for code in expected {
        assert!(
            audit.iter().any(|c| c == code),
            "{code} not in the audit log: {audit:?}"
        );
    }
    // The forged entry did not move the head, nor did the replay or the twin.
    assert_eq!(observer.head(&app).await.map(|h| h.0), Some(v2.sequence));
    // A bad signature claiming the publisher's DID is no proof against it: no forged
    // penalty (the twin it did sign is an equivocation penalty).
    let did = publisher.key.did();
    let ex = observer
        .catalog
        .read(move |c| c.explain(&did))
        .await
        .unwrap();
    assert!(
        ex.penalties
            .iter()
            .all(|p| p.kind != atoll_catalog::PenaltyKind::Forged),
        "{ex}"
    );

    // And the node still works.
    let v3 = publisher
        .publish(&make_app(apps.path(), "eps", "3.0.0", 20_000))
        .await;
    let head_v3 = publisher.node.head(&app).await.unwrap();
    assert_eq!(head_v3.0, v3.sequence);
    eventually("observer still syncs after hostile input", || async {
        observer.head(&app).await == Some((head_v3.0, head_v3.1, true))
    })
    .await;
    observer.stop().await;
    publisher.node.stop().await;
}

fn raw_atoll_event(keys: &Keys, d: &str, content: &str) -> nostr_sdk::Event {
    EventBuilder::new(Kind::ApplicationSpecificData, content)
        .tags([Tag::identifier(d), Tag::hashtag("atoll")])
        .sign_with_keys(keys)
        .unwrap()
}

fn base64_url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}
