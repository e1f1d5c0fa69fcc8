//! The embedded relay's front door, spoken to frame by frame: malformed messages get a
//! NIP-01 `NOTICE` and the connection keeps serving; oversized events and messages are
//! refused; connections are capped per address.

use atoll_discovery::codec::MAX_EVENT_BYTES;
use atoll_discovery::relay::front::{
    MAX_CLIENT_MESSAGE, MAX_CONNECTIONS_PER_IP, MAX_INVALID_MESSAGES,
};
use futures_util::SinkExt;
use nostr_sdk::{EventBuilder, JsonUtil, Keys, Kind, Tag};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{init_tracing, next_json, raw_ws, send_text, TestRelay};

fn is_notice(msg: &serde_json::Value, starts: &str) -> bool {
    msg[0] == "NOTICE" && msg[1].as_str().is_some_and(|t| t.starts_with(starts))
}

/// REQ and read to EOSE: the connection still serves.
async fn still_serves(ws: &mut crate::support::RawWs, id: &str) {
    send_text(
        ws,
        serde_json::json!(["REQ", id, {"kinds": [30078], "limit": 5}]).to_string(),
    )
    .await;
    loop {
        let msg = next_json(ws)
            .await
            .expect("the relay closed the connection");
        if msg[0] == "EOSE" && msg[1] == id {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_embedded_relay_answers_bad_messages_with_a_notice_and_keeps_serving() {
    init_tracing();
    let relay = TestRelay::start().await;
    let mut ws = raw_ws(&relay.url()).await;

    for junk in [
        "this is not json",
        "[\"EVENT\", {\"id\": 1}]",
        "[\"REQ\"]",
        "{}",
    ] {
        send_text(&mut ws, junk.into()).await;
        let msg = next_json(&mut ws)
            .await
            .expect("closed after a malformed frame");
        assert!(is_notice(&msg, "invalid:"), "{junk:?} -> {msg}");
        still_serves(&mut ws, "s1").await;
    }
    // Pings are answered (nostr-sdk clients ping to keep connections alive).
    ws.send(Message::Ping(b"alive?".to_vec().into()))
        .await
        .unwrap();
    loop {
        use futures_util::StreamExt;
        match tokio::time::timeout(crate::support::DEADLINE, ws.next()).await {
            Ok(Some(Ok(Message::Pong(p)))) => {
                assert_eq!(&p[..], b"alive?");
                break;
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("no pong: {other:?}"),
        }
    }
    ws.send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    let msg = next_json(&mut ws).await.unwrap();
    assert!(is_notice(&msg, "invalid:"), "{msg}");

    // An event over the limit is answered OK false and not stored.
    let keys = Keys::generate();
    let big = EventBuilder::new(Kind::ApplicationSpecificData, "x".repeat(MAX_EVENT_BYTES))
        .tags([Tag::identifier("atoll:entry:big"), Tag::hashtag("atoll")])
        .sign_with_keys(&keys)
        .unwrap();
    send_text(&mut ws, format!("[\"EVENT\",{}]", big.as_json())).await;
    let msg = next_json(&mut ws).await.unwrap();
    assert_eq!(msg[0], "OK", "{msg}");
    assert_eq!(msg[2], false, "{msg}");
    assert!(
        msg[3].as_str().unwrap().starts_with("invalid: event is"),
        "{msg}"
    );
    still_serves(&mut ws, "s2").await;

    // Too many invalid messages on one connection: it is closed, with a word.
    let mut ws = raw_ws(&relay.url()).await;
    for _ in 0..MAX_INVALID_MESSAGES {
        send_text(&mut ws, "nope".into()).await;
    }
    let mut notices = Vec::new();
    while let Some(msg) = next_json(&mut ws).await {
        notices.push(msg);
    }
    let (last, invalid) = notices.split_last().unwrap();
    assert!(is_notice(last, "error:"), "{last}");
    assert_eq!(invalid.len(), MAX_INVALID_MESSAGES as usize);
    assert!(invalid.iter().all(|m| is_notice(m, "invalid:")));

    // A message over the size limit: a NOTICE, then the connection closes (the rest of
    // the frame cannot be skipped).
    let mut ws = raw_ws(&relay.url()).await;
    send_text(&mut ws, "x".repeat(MAX_CLIENT_MESSAGE + 1)).await;
    let msg = next_json(&mut ws).await.expect("a NOTICE before closing");
    assert!(is_notice(&msg, "invalid:"), "{msg}");
    assert!(next_json(&mut ws).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_embedded_relay_caps_connections_per_address() {
    init_tracing();
    let relay = TestRelay::start().await;
    let mut open = Vec::new();
    for i in 0..MAX_CONNECTIONS_PER_IP {
        let mut ws = raw_ws(&relay.url()).await;
        still_serves(&mut ws, &format!("c{i}")).await;
        open.push(ws);
    }
    // One more from the same address is refused (the TCP connection is closed before
    // the handshake).
    assert!(tokio_tungstenite::connect_async(relay.url()).await.is_err());
    // A slot comes free when a connection ends.
    let mut first = open.remove(0);
    first.close(None).await.unwrap();
    drop(first);
    let deadline = tokio::time::Instant::now() + crate::support::DEADLINE;
    let mut again = loop {
        if let Ok((ws, _)) = tokio_tungstenite::connect_async(relay.url()).await {
            break ws;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a freed slot was not reused"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    still_serves(&mut again, "again").await;
}
