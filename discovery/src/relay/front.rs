//! The embedded relay's front door: the node accepts relay connections itself, bounds
//! them, checks every client message, and hands only well-formed ones to
//! nostr-relay-builder's `LocalRelay` (over an in-process pipe, `take_connection`).
//!
//! `LocalRelay` 0.44.1 closes a connection on the first message it cannot parse, without
//! a word, and has no message size limit (tungstenite's 64 MiB default); it has no option
//! for either. Here:
//!
//! * at most [`MAX_CONNECTIONS`] connections, [`MAX_CONNECTIONS_PER_IP`] from one address;
//!   the WebSocket handshake must finish within [`HANDSHAKE_TIMEOUT`];
//! * a client message is at most [`MAX_CLIENT_MESSAGE`] bytes (more: a `NOTICE`, then the
//!   connection closes, since the rest of the frame cannot be skipped);
//! * a message that is not a NIP-01 client message is answered with a `NOTICE`
//!   (`invalid: …`) and the connection keeps serving; after [`MAX_INVALID_MESSAGES`] of
//!   them it is closed;
//! * an `EVENT` larger than [`MAX_EVENT_BYTES`] is answered `OK false` and not stored.
//!
//! The relay's own limits apply behind this: subscriptions per connection and events per
//! minute per connection ([`crate::EmbeddedRelayConfig`]).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use nostr_relay_builder::LocalRelay;
use nostr_sdk::{ClientMessage, JsonUtil, RelayMessage};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

use crate::codec::MAX_EVENT_BYTES;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 256;
/// Connections served at once from one IP address.
pub const MAX_CONNECTIONS_PER_IP: usize = 32;
/// Largest client message (an `EVENT` of [`MAX_EVENT_BYTES`], or a NIP-77 message of
/// nostr-sdk's 60 kB frame limit, fit with room to spare).
pub const MAX_CLIENT_MESSAGE: usize = 512 * 1024;
/// Time a client has to complete the WebSocket handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Invalid messages one connection may send before it is closed.
pub const MAX_INVALID_MESSAGES: u32 = 32;
/// Characters of a parse error quoted back in a `NOTICE`.
const NOTICE_DETAIL: usize = 160;
/// Buffer of the in-process pipe to the relay.
const PIPE_BUFFER: usize = 256 * 1024;
/// How long the relay's side of a closed connection may take to end.
const SESSION_END: Duration = Duration::from_secs(2);

/// Connections per address, released when a connection ends.
#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

#[derive(Debug, Clone, Default)]
struct Slots(Arc<Mutex<Counts>>);

/// A taken connection slot.
struct Slot {
    slots: Slots,
    ip: IpAddr,
}

impl Slots {
    fn take(&self, ip: IpAddr) -> Option<Slot> {
        let mut c = self.0.lock().ok()?;
        let mine = c.by_ip.get(&ip).copied().unwrap_or(0);
        if c.total >= MAX_CONNECTIONS || mine >= MAX_CONNECTIONS_PER_IP {
            return None;
        }
        c.total += 1;
        c.by_ip.insert(ip, mine + 1);
        Some(Slot {
            slots: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut c) = self.slots.0.lock() {
            c.total = c.total.saturating_sub(1);
            if let Some(n) = c.by_ip.get_mut(&self.ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    c.by_ip.remove(&self.ip);
                }
            }
        }
    }
}

/// Accept connections on `listener` for `relay` until `cancel`.
pub(crate) async fn serve(listener: TcpListener, relay: LocalRelay, cancel: CancellationToken) {
    let slots = Slots::default();
    loop {
        let (tcp, addr) = tokio::select! {
            _ = cancel.cancelled() => break,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "embedded relay cannot accept a connection");
                    // Out of file descriptors, for example: do not spin.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Some(slot) = slots.take(addr.ip()) else {
            tracing::debug!(%addr, "embedded relay at its connection limit; connection refused");
            drop(tcp);
            continue;
        };
        let relay = relay.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(tcp, addr, relay, cancel).await {
                tracing::debug!(%addr, error = %e, "embedded relay connection ended");
            }
            drop(slot);
        });
    }
}

fn notice(text: String) -> Message {
    Message::Text(RelayMessage::notice(text).as_json().into())
}

fn detail(e: impl std::fmt::Display) -> String {
    e.to_string().chars().take(NOTICE_DETAIL).collect()
}

/// What to do with one client message.
enum Check {
    /// Hand it to the relay.
    Forward,
    /// Answer this instead; `true` if the message was invalid (counts towards closing).
    Answer(Message, bool),
}

fn check(text: &str) -> Check {
    match ClientMessage::from_json(text.as_bytes()) {
        Err(e) => Check::Answer(
            notice(format!(
                "invalid: not a NIP-01 client message: {}",
                detail(e)
            )),
            true,
        ),
        Ok(ClientMessage::Event(event)) => {
            if text.len() > MAX_EVENT_BYTES {
                let size = event.as_json().len();
                if size > MAX_EVENT_BYTES {
                    let ok = RelayMessage::ok(
                        event.id,
                        false,
                        format!("invalid: event is {size} bytes, more than {MAX_EVENT_BYTES}"),
                    );
                    return Check::Answer(Message::Text(ok.as_json().into()), false);
                }
            }
            Check::Forward
        }
        Ok(_) => Check::Forward,
    }
}

/// Why a connection ended early.
#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("handshake timed out")]
    HandshakeTimeout,
    #[error("websocket: {0}")]
    Ws(#[from] WsError),
}

async fn connection(
    tcp: TcpStream,
    addr: SocketAddr,
    relay: LocalRelay,
    cancel: CancellationToken,
) -> Result<(), ConnError> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_CLIENT_MESSAGE))
        .max_frame_size(Some(MAX_CLIENT_MESSAGE));
    let client = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        tokio_tungstenite::accept_async_with_config(tcp, Some(config)),
    )
    .await
    .map_err(|_| ConnError::HandshakeTimeout)??;
    let (pipe, relay_end) = tokio::io::duplex(PIPE_BUFFER);
    let inner = tokio::spawn(async move {
        if let Err(e) = relay.take_connection(relay_end, addr).await {
            tracing::debug!(%addr, error = %e, "embedded relay session ended");
        }
    });
    let pipe = WebSocketStream::from_raw_socket(pipe, Role::Client, None).await;
    let result = relay_loop(client, pipe, &cancel).await;
    // The pipe is closed: the relay's session ends by itself; do not wait for ever.
    let abort = inner.abort_handle();
    if tokio::time::timeout(SESSION_END, inner).await.is_err() {
        abort.abort();
    }
    result
}

async fn relay_loop(
    client: WebSocketStream<TcpStream>,
    pipe: WebSocketStream<tokio::io::DuplexStream>,
    cancel: &CancellationToken,
) -> Result<(), ConnError> {
    let (mut to_client, mut from_client) = client.split();
    let (mut to_relay, mut from_relay) = pipe.split();
    let mut invalid: u32 = 0;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            m = from_client.next() => match m {
                Some(Ok(Message::Text(text))) => match check(text.as_str()) {
                    Check::Forward => to_relay.send(Message::Text(text)).await?,
                    Check::Answer(answer, bad) => {
                        to_client.send(answer).await?;
                        invalid += u32::from(bad);
                        if invalid >= MAX_INVALID_MESSAGES {
                            to_client
                                .send(notice(format!(
                                    "error: {MAX_INVALID_MESSAGES} invalid messages; closing"
                                )))
                                .await?;
                            break;
                        }
                    }
                },
                Some(Ok(Message::Binary(_))) => {
                    to_client
                        .send(notice("invalid: binary messages are not processed by this relay".into()))
                        .await?;
                }
                Some(Ok(Message::Close(_))) | None => break,
                // Pings are answered by the WebSocket layer.
                Some(Ok(_)) => {}
                Some(Err(WsError::Capacity(e))) => {
                    // The rest of the frame cannot be skipped: say why, then close.
                    let _ = to_client
                        .send(notice(format!(
                            "invalid: {} (the limit is {MAX_CLIENT_MESSAGE} bytes); closing",
                            detail(e)
                        )))
                        .await;
                    break;
                }
                Some(Err(e)) => return Err(e.into()),
            },
            m = from_relay.next() => match m {
                Some(Ok(Message::Text(text))) => to_client.send(Message::Text(text)).await?,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = to_client.close().await;
    let _ = to_relay.close().await;
    Ok(())
}
