//! A third-party relay that validates nothing (the PyPI `nostr-relay`, in its own process,
//! configured with no storage validators: it stores bad signatures, bad ids, dates in 2100
//! and 200 KB events alike) feeding a node hostile events:
//!
//! - future-dated events (junk, and a valid object dated 2100) do not push the relay's
//!   cursor past now + skew, and a live event published after a restart still arrives;
//! - events with a bad id or signature, and oversized ones, are counted under `rejected`
//!   and recorded once each, however many restarts and catch-ups deliver them again;
//! - nothing is logged unbounded (no line over 16 KiB at debug, none over 2 KiB at
//!   warn/error), though the hostile events are 200 KB;
//! - a cursor poisoned by an older atoll heals: it is reset, shown, and the relay's events
//!   come back.
//!
//! Logs are captured per thread, so this test runs on a current-thread runtime.

use std::io::Write;
use std::sync::{Arc, Mutex};

use atoll_discovery::codec::{self, Object};
use atoll_discovery::port::MAX_CURSOR_SKEW_SECS;
use atoll_registry::{AppRef, Entry, Envelope};
use nostr_sdk::{EventBuilder, JsonUtil, Keys, Kind, Tag, Timestamp};

use crate::interop::{free_port, relay_bin_dir, PyRelay};
use crate::support::{eventually, make_app, publish_raw, Node, Publisher};

/// 2100-01-01.
const FAR: u64 = 4_102_444_800;

/// Every log line written on this thread.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

fn json(event: &nostr_sdk::Event) -> serde_json::Value {
    serde_json::from_str(&event.as_json()).unwrap()
}

fn atoll_event(keys: &Keys, d: &str, content: String) -> nostr_sdk::Event {
    EventBuilder::new(Kind::ApplicationSpecificData, content)
        .tags([Tag::identifier(d), Tag::hashtag("atoll")])
        .sign_with_keys(keys)
        .unwrap()
}

fn now() -> u64 {
    atoll_discovery::now_secs()
}

async fn cursor(node: &Node, url: &str) -> u64 {
    let url = url.to_owned();
    node.catalog
        .read(move |c| c.sync_cursor(&url))
        .await
        .unwrap()
        .unwrap_or(0)
}

#[tokio::test(flavor = "current_thread")]
async fn a_relay_that_validates_nothing_cannot_blind_flood_or_crash_a_node() {
    let logs = Capture::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _logs = tracing::subscriber::set_default(subscriber);

    let bin = relay_bin_dir();
    let relay_dir = tempfile::tempdir().unwrap();
    let mut relay = PyRelay::start_with(&bin, relay_dir.path(), free_port(), &[]);
    relay.wait_listening().await;
    let url = relay.url();
    let apps = tempfile::tempdir().unwrap();
    let publisher = Publisher::start(6, vec![url.clone()]).await;
    let v1 = publisher
        .publish(&make_app(apps.path(), "sigma", "1.0.0", 20_000))
        .await;
    let sigma: AppRef = v1.app.parse().unwrap();

    // The hostile events, straight onto the relay (it stores all of them).
    let attacker = Keys::generate();
    let junk = EventBuilder::new(Kind::ApplicationSpecificData, "junk dated 2100")
        .tags([Tag::identifier("atoll:entry:junk"), Tag::hashtag("atoll")])
        .custom_created_at(Timestamp::from(FAR))
        .sign_with_keys(&attacker)
        .unwrap();
    let entry = {
        let bytes = std::fs::read(v1.bundle.join("entry.json")).unwrap();
        Envelope::from_slice(&bytes)
            .unwrap()
            .verify::<Entry>()
            .unwrap()
    };
    // A valid signed object, carried by someone else and dated 2100: accepted (a
    // duplicate of the publisher's entry), but the cursor stops at now + skew.
    let carried = codec::encode(
        &Object::Entry(entry),
        &Keys::generate(),
        Some(Timestamp::from(FAR)),
    )
    .unwrap();
    let big = "y".repeat(200_000);
    let mut bad_id = json(&atoll_event(&attacker, "atoll:entry:bad-id", big.clone()));
    bad_id["content"] = serde_json::Value::String(format!("{big}!"));
    let mut bad_sig = json(&atoll_event(&attacker, "atoll:entry:bad-sig", big.clone()));
    bad_sig["sig"] = json(&atoll_event(&Keys::generate(), "x", "x".into()))["sig"].clone();
    let oversized = json(&atoll_event(&attacker, "atoll:entry:oversized", big));
    for event in [json(&junk), json(&carried), bad_id, bad_sig, oversized] {
        let (ok, why) = publish_raw(&url, &event).await;
        assert!(ok, "the relay stores anything: {why}");
    }

    let mut node = Node::start("n1", vec![url.clone()]).await;
    let want = publisher.node.head(&sigma).await.unwrap();
    eventually("n1 syncs sigma and counts every hostile event", || async {
        let c = node.d.counters();
        node.head(&sigma).await == Some((want.0, want.1, true))
            && c.rejected("nostr-signature") >= 2
            && c.rejected("oversized") >= 1
            && c.rejected("malformed") >= 1
    })
    .await;
    assert!(node.d.relays().wait_synced(crate::support::DEADLINE).await);
    let c = cursor(&node, &url).await;
    assert!(c > 0 && c <= now() + MAX_CURSOR_SKEW_SECS, "cursor {c}");
    // One audit row per bad event: malformed, bad id, bad signature, oversized.
    assert_eq!(node.audit_len().await, 4, "{:?}", node.audit_codes().await);

    // Restarts and catch-ups deliver them again: counted again, recorded once.
    for round in 0..3 {
        node = node.restart(vec![url.clone()]).await;
        assert!(node.d.relays().wait_synced(crate::support::DEADLINE).await);
        eventually(
            &format!("round {round}: the junk is delivered again"),
            || async { node.d.counters().rejected("malformed") >= 1 },
        )
        .await;
        let c = cursor(&node, &url).await;
        assert!(
            c <= now() + MAX_CURSOR_SKEW_SECS,
            "round {round}: cursor {c}"
        );
        assert_eq!(node.audit_len().await, 4, "round {round}");
    }
    // A live event published after the restarts arrives.
    let v2 = publisher
        .publish(&make_app(apps.path(), "sigma", "2.0.0", 20_000))
        .await;
    let want = publisher.node.head(&sigma).await.unwrap();
    assert_eq!(want.0, v2.sequence);
    eventually("n1 gets sigma 2.0.0 live", || async {
        node.head(&sigma).await == Some((want.0, want.1, true))
    })
    .await;
    assert!(cursor(&node, &url).await <= now() + MAX_CURSOR_SKEW_SECS);

    // A cursor an older atoll left in 2100 heals: reset, shown, and a full catch-up.
    let relay_url = url.clone();
    let n2 = Node::start_prepared("n2", vec![url.clone()], move |db| {
        drop(atoll_catalog::Catalog::open(db).unwrap());
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.execute(
            "INSERT INTO sync_cursors (relay, since, updated_at) VALUES (?1, ?2, 0)",
            rusqlite::params![relay_url, FAR as i64],
        )
        .unwrap();
    })
    .await;
    let state = n2.d.status().await.relays.remove(0);
    assert_eq!(state.cursor_reset_from, Some(FAR), "{state:?}");
    eventually(
        "n2 catches up in full despite the poisoned cursor",
        || async { n2.head(&sigma).await == Some((want.0, want.1, true)) },
    )
    .await;
    let record_url = url.clone();
    let record = n2
        .catalog
        .read(move |c| c.sync_cursor_record(&record_url))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.reset_from, Some(FAR));
    assert!(record.since <= now() + MAX_CURSOR_SKEW_SECS, "{record:?}");
    assert!(n2.audit_codes().await.iter().any(|c| c == "cursor-reset"));

    n2.stop().await;
    node.stop().await;
    publisher.node.stop().await;
    drop(relay);

    // 200 KB hostile events, and no log line anywhere near that.
    let lines = logs.lines();
    assert!(!lines.is_empty());
    let longest = lines.iter().map(String::len).max().unwrap_or(0);
    assert!(longest < 16 * 1024, "a {longest}-byte log line");
    for line in &lines {
        if line.contains(" WARN ") || line.contains(" ERROR ") {
            let start: String = line.chars().take(200).collect();
            assert!(line.len() < 2048, "a long warning: {start}");
        }
    }
}
