//! The relay connection itself is the pipeline's first stage: every frame a relay sends
//! is bounded and checked here, before nostr-sdk sees it.
//!
//! nostr-sdk drops an event whose id or signature does not verify (or that is too large)
//! and logs the whole message at ERROR, without telling anyone: such events would never be
//! counted, and a hostile relay could write hundreds of kilobytes into the log per event.
//! So the node connects through [`GuardedTransport`] (its own WebSocket client, with a
//! bounded message size) and, for each text frame:
//!
//! * a frame that is not a relay message is dropped and reported as `malformed`;
//! * an `EVENT` whose id or BIP-340 signature does not verify is dropped and reported as
//!   `nostr-signature`; a verified one larger than [`MAX_EVENT_BYTES`] as `oversized`;
//! * `NOTICE`, `OK`, `CLOSED` and `NEG-ERR` texts are cut to [`MAX_RELAY_TEXT`] characters;
//! * everything else passes unchanged, so nostr-sdk only ever sees verified, bounded events
//!   (it verifies them again: it cannot be told not to).
//!
//! Reports go to the pipeline as [`PoolMessage::Refused`], in frame order, before the frames
//! that follow (an `EOSE` after a refused event is seen after its report).

use std::time::Duration;

use atoll_registry::Hash;
use futures_util::{Sink, SinkExt, StreamExt};
use nostr_sdk::pool::transport::error::TransportError;
use nostr_sdk::pool::transport::websocket::{WebSocketSink, WebSocketStream, WebSocketTransport};
use nostr_sdk::pool::ConnectionMode;
use nostr_sdk::util::BoxedFuture;
use nostr_sdk::{Event, EventId, JsonUtil, RelayMessage, Timestamp, Url};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream as Ws};

use super::pool::PoolMessage;
use crate::codec::MAX_EVENT_BYTES;
use crate::reject::{Malformed, Reason};

/// Largest WebSocket message (and frame) accepted from a relay: a relay that sends more is
/// disconnected (the largest valid message is an `EVENT` of [`MAX_EVENT_BYTES`], or a
/// NIP-77 message of a relay's frame limit, typically 60 kB).
pub const MAX_RELAY_MESSAGE: usize = 1024 * 1024;
/// Longest relay text (`NOTICE`, `OK`, `CLOSED`, `NEG-ERR`) passed on, in characters.
pub const MAX_RELAY_TEXT: usize = 256;
/// Characters of a refused frame shown in logs.
const LOG_PREVIEW: usize = 120;

/// An event (or frame) a relay sent that the transport refused.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The relay URL.
    pub relay: String,
    /// Why.
    pub reason: Reason,
    /// The event id the event claims (verified only if `id_verified`).
    pub event_id: Option<EventId>,
    /// Id and signature verify: the event is what it says (it was refused for its size).
    pub id_verified: bool,
    /// Its `created_at`, if it is an event.
    pub created_at: Option<Timestamp>,
    /// Its `d` tag, bounded, if any.
    pub subject: Option<String>,
    /// Names the refused input in the audit log (the same input twice is one row).
    pub key: Hash,
}

/// nostr-sdk's WebSocket transport, with a bounded message size and every frame checked.
#[derive(Debug, Clone)]
pub(crate) struct GuardedTransport {
    reports: mpsc::Sender<PoolMessage>,
}

impl GuardedTransport {
    /// Report refusals to `reports` (the pipeline's inbound queue).
    pub(crate) fn new(reports: mpsc::Sender<PoolMessage>) -> Self {
        Self { reports }
    }
}

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error("relay URL {0} has no host or port")]
    Address(String),
    #[error("connect: {0}")]
    Tcp(#[from] std::io::Error),
    #[error("websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("connect timed out")]
    Timeout,
}

/// The relay name used everywhere else (nostr-sdk's `RelayUrl` has no trailing slash).
fn relay_name(url: &Url) -> String {
    let s = url.as_str();
    if url.path() == "/" {
        s.strip_suffix('/').unwrap_or(s).to_owned()
    } else {
        s.to_owned()
    }
}

async fn open(url: &Url) -> Result<Ws<MaybeTlsStream<TcpStream>>, ConnectError> {
    let host = url
        .host_str()
        .ok_or_else(|| ConnectError::Address(url.to_string()))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| ConnectError::Address(url.to_string()))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let tcp = TcpStream::connect((host, port)).await?;
    tcp.set_nodelay(true)?;
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_RELAY_MESSAGE))
        .max_frame_size(Some(MAX_RELAY_MESSAGE));
    let (ws, _) =
        tokio_tungstenite::client_async_tls_with_config(url.as_str(), tcp, Some(config), None)
            .await?;
    Ok(ws)
}

impl WebSocketTransport for GuardedTransport {
    fn support_ping(&self) -> bool {
        true
    }

    fn connect<'a>(
        &'a self,
        url: &'a Url,
        _mode: &'a ConnectionMode,
        timeout: Duration,
    ) -> BoxedFuture<'a, Result<(WebSocketSink, WebSocketStream), TransportError>> {
        Box::pin(async move {
            let ws = tokio::time::timeout(timeout, open(url))
                .await
                .map_err(|_| TransportError::backend(ConnectError::Timeout))?
                .map_err(TransportError::backend)?;
            let (tx, rx) = ws.split();
            let relay = relay_name(url);
            let reports = self.reports.clone();
            let stream = rx.filter_map(move |item| {
                let relay = relay.clone();
                let reports = reports.clone();
                async move { inspect(item, &relay, &reports).await }
            });
            let sink: WebSocketSink = Box::new(GuardSink(tx));
            let stream: WebSocketStream = Box::pin(stream);
            Ok((sink, stream))
        })
    }
}

/// The sending half, mapping message and error types (not `sink_map_err`: nostr-sdk
/// notes that it can panic, rust-nostr issue 984).
struct GuardSink(futures_util::stream::SplitSink<Ws<MaybeTlsStream<TcpStream>>, WsMessage>);

impl Sink<async_wsocket::Message> for GuardSink {
    type Error = TransportError;

    fn poll_ready(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready_unpin(cx).map_err(TransportError::backend)
    }

    fn start_send(
        mut self: std::pin::Pin<&mut Self>,
        item: async_wsocket::Message,
    ) -> Result<(), Self::Error> {
        self.0
            .start_send_unpin(item.into())
            .map_err(TransportError::backend)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_flush_unpin(cx).map_err(TransportError::backend)
    }

    fn poll_close(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_close_unpin(cx).map_err(TransportError::backend)
    }
}

async fn inspect(
    item: Result<WsMessage, tokio_tungstenite::tungstenite::Error>,
    relay: &str,
    reports: &mpsc::Sender<PoolMessage>,
) -> Option<Result<async_wsocket::Message, TransportError>> {
    use async_wsocket::Message;
    let msg = match item {
        Ok(m) => m,
        Err(e) => return Some(Err(TransportError::backend(e))),
    };
    Some(Ok(match msg {
        WsMessage::Text(text) => match check_text(text.as_str(), relay) {
            Verdict::Pass => Message::Text(text.as_str().to_owned()),
            Verdict::Replace(json) => Message::Text(json),
            Verdict::Drop(refusal) => {
                if let Some(r) = refusal {
                    // The pipeline may be gone (shutdown): then nobody needs the report.
                    let _ = reports.send(PoolMessage::Refused(Box::new(r))).await;
                }
                return None;
            }
        },
        WsMessage::Binary(b) => Message::Binary(b.to_vec()),
        WsMessage::Ping(b) => Message::Ping(b.to_vec()),
        WsMessage::Pong(b) => Message::Pong(b.to_vec()),
        WsMessage::Close(frame) => {
            Message::Close(frame.map(|f| async_wsocket::message::CloseFrame {
                code: f.code.into(),
                reason: truncate(f.reason.as_str(), MAX_RELAY_TEXT),
            }))
        }
        WsMessage::Frame(_) => return None,
    }))
}

/// What to do with one text frame.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Hand it on unchanged.
    Pass,
    /// Hand on this (bounded) message instead.
    Replace(String),
    /// Drop it, reporting why (or silently).
    Drop(Option<Refusal>),
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn long(s: &str) -> bool {
    s.len() > MAX_RELAY_TEXT
}

/// Check one text frame from `relay`.
pub(crate) fn check_text(text: &str, relay: &str) -> Verdict {
    let message = match RelayMessage::from_json(text) {
        Ok(m) => m,
        Err(e) => {
            let reason = Reason::Malformed(Malformed::Frame {
                size: text.len(),
                detail: truncate(&e.to_string(), 160),
            });
            tracing::debug!(%relay, preview = %truncate(text, LOG_PREVIEW), "malformed frame from a relay");
            return Verdict::Drop(Some(Refusal {
                relay: relay.to_owned(),
                reason,
                event_id: None,
                id_verified: false,
                created_at: None,
                subject: None,
                key: atoll_registry::audit::key(
                    "relay-frame",
                    &[Hash::of(text.as_bytes()).as_bytes()],
                ),
            }));
        }
    };
    let replace = |m: RelayMessage<'_>| Verdict::Replace(m.as_json());
    match message {
        RelayMessage::Event { event, .. } => check_event(&event, text.len(), relay),
        RelayMessage::Notice(m) if long(&m) => {
            replace(RelayMessage::notice(truncate(&m, MAX_RELAY_TEXT)))
        }
        RelayMessage::Ok {
            event_id,
            status,
            message,
        } if long(&message) => replace(RelayMessage::ok(
            event_id,
            status,
            truncate(&message, MAX_RELAY_TEXT),
        )),
        RelayMessage::Closed {
            subscription_id,
            message,
        } if long(&message) => replace(RelayMessage::closed(
            subscription_id.into_owned(),
            truncate(&message, MAX_RELAY_TEXT),
        )),
        RelayMessage::NegErr {
            subscription_id,
            message,
        } if long(&message) => replace(RelayMessage::NegErr {
            subscription_id,
            message: truncate(&message, MAX_RELAY_TEXT).into(),
        }),
        _ => Verdict::Pass,
    }
}

/// The checks of an event frame: id and signature, then size.
fn check_event(event: &Event, frame_len: usize, relay: &str) -> Verdict {
    let subject = event.tags.identifier().map(|d| truncate(d, 200));
    let refusal = |reason: Reason, id_verified: bool, key: Hash| Refusal {
        relay: relay.to_owned(),
        reason,
        event_id: Some(event.id),
        id_verified,
        created_at: Some(event.created_at),
        subject: subject.clone(),
        key,
    };
    if !(event.verify_id() && event.verify_signature()) {
        tracing::debug!(%relay, id = %event.id, "event with a bad id or signature from a relay");
        // The claimed id is not the event's own: name the bytes that were refused.
        let key = atoll_registry::audit::key(
            "unverified-event",
            &[event.id.as_bytes(), event.sig.as_ref()],
        );
        return Verdict::Drop(Some(refusal(Reason::NostrSignature, false, key)));
    }
    // The relay's framing is at most a little longer than the event: measure exactly
    // only when it could be too large.
    if frame_len > MAX_EVENT_BYTES {
        let size = event.as_json().len();
        if size > MAX_EVENT_BYTES {
            let key = event_key(&event.id);
            return Verdict::Drop(Some(refusal(
                Reason::Oversized {
                    size,
                    max: MAX_EVENT_BYTES,
                },
                true,
                key,
            )));
        }
    }
    if event.is_expired() {
        // NIP-40: nostr-sdk would drop it (logging it whole); no atoll event expires so.
        tracing::debug!(%relay, id = %event.id, "expired (NIP-40) event from a relay dropped");
        return Verdict::Drop(None);
    }
    Verdict::Pass
}

/// The audit key of a verified event.
pub fn event_key(id: &EventId) -> Hash {
    atoll_registry::audit::key("event", &[id.as_bytes()])
}
