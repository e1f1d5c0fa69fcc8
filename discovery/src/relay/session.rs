//! One sync session per relay: connect with exponential backoff, catch up (NIP-77
//! negentropy where the relay supports it, else a REQ with `since` = the relay's cursor),
//! stay subscribed for live events, and start over when the connection drops.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nostr_sdk::pool::relay::RelayNotification;
use nostr_sdk::{
    Relay, RelayMessage, RelayStatus, SubscribeOptions, SubscriptionId, SyncDirection, SyncOptions,
};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::pool::PoolMessage;
use super::seen::SeenLog;
use crate::codec::atoll_filter;
use crate::config::ReconnectPolicy;
use crate::port::CatalogPort;

/// Seconds subtracted from a `since` cursor, for clock skew and late publication.
pub const CURSOR_SLACK_SECS: u64 = 600;
/// Waiting for a relay to answer a negentropy open.
const NEGENTROPY_TIMEOUT: Duration = Duration::from_secs(5);
/// Connecting to a relay.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How a relay is reconciled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// Not yet known.
    Unknown,
    /// NIP-77 negentropy.
    Negentropy,
    /// REQ with a `since` cursor.
    Since,
}

/// What `atoll sync status` shows about one relay.
#[derive(Debug, Clone, Serialize)]
pub struct RelayState {
    /// The relay URL.
    pub url: String,
    /// Why the node uses it.
    pub source: super::RelaySource,
    /// Connected now.
    pub connected: bool,
    /// How it is reconciled.
    pub mode: SyncMode,
    /// Its `since` cursor (unix seconds), if any: the newest `created_at` the pipeline
    /// accepted from it, never beyond now + `MAX_CURSOR_SKEW_SECS`.
    pub cursor: Option<u64>,
    /// The cursor was found ahead of the clock at start, with this value, and reset to 0.
    pub cursor_reset_from: Option<u64>,
    /// Events received from it.
    pub events: u64,
    /// Completed catch-ups (initial sync plus one per reconnect).
    pub catch_ups: u64,
    /// Connection attempts that failed.
    pub failed_connects: u64,
    /// Bytes received from it.
    pub bytes_received: u64,
    /// The last error, if any.
    pub last_error: Option<String>,
    /// The live subscription: its EOSE ends a catch-up.
    #[serde(skip)]
    pub(crate) live: Option<SubscriptionId>,
}

impl RelayState {
    pub(crate) fn new(url: &str, source: super::RelaySource) -> Self {
        Self {
            url: url.to_owned(),
            source,
            connected: false,
            mode: SyncMode::Unknown,
            cursor: None,
            cursor_reset_from: None,
            events: 0,
            catch_ups: 0,
            failed_connects: 0,
            bytes_received: 0,
            last_error: None,
            live: None,
        }
    }
}

pub(crate) type SharedRelayState = Arc<Mutex<RelayState>>;

fn update(state: &SharedRelayState, f: impl FnOnce(&mut RelayState)) {
    if let Ok(mut s) = state.lock() {
        f(&mut s);
    }
}

/// Forward every event the relay delivers to the pipeline, tagged live once the catch-up
/// of the connection has ended, and tell it when a catch-up is complete. The pipeline
/// moves the cursor: only events it accepted count.
pub(crate) async fn forward(
    mut notes: broadcast::Receiver<RelayNotification>,
    url: String,
    tx: mpsc::Sender<PoolMessage>,
    state: SharedRelayState,
    cancel: CancellationToken,
) {
    // The live subscription whose EOSE has come: its events are real time.
    let mut live_sub: Option<SubscriptionId> = None;
    loop {
        let note = tokio::select! {
            _ = cancel.cancelled() => return,
            n = notes.recv() => n,
        };
        match note {
            Ok(RelayNotification::Message {
                message:
                    RelayMessage::Event {
                        event,
                        subscription_id,
                    },
            }) => {
                update(&state, |s| s.events += 1);
                let inbound = PoolMessage::Event {
                    relay: url.clone(),
                    event: Box::new(event.into_owned()),
                    live: live_sub.as_ref() == Some(subscription_id.as_ref()),
                };
                if tx.send(inbound).await.is_err() {
                    return;
                }
            }
            Ok(RelayNotification::Message {
                message: RelayMessage::EndOfStoredEvents(id),
            }) => {
                let mut complete = false;
                update(&state, |s| {
                    if s.live.as_ref() == Some(id.as_ref()) {
                        s.catch_ups += 1;
                        complete = true;
                    }
                });
                // Every stored event of this catch-up came before this EOSE and has been
                // handed to the pipeline (refusals too, by the transport): it is complete.
                if complete {
                    live_sub = Some(id.into_owned());
                    let done = PoolMessage::CaughtUp { relay: url.clone() };
                    if tx.send(done).await.is_err() {
                        return;
                    }
                }
            }
            Ok(RelayNotification::Shutdown) => return,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(n)) => {
                // The events are in the client database already: replay it.
                tracing::warn!(relay = %url, missed = n, "pipeline lagged behind the relay; replaying the local event database");
                if tx.send(PoolMessage::Replay).await.is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Keep one relay connected and synced until cancelled.
pub(crate) async fn run(
    relay: Relay,
    seen: Arc<Mutex<SeenLog>>,
    negentropy: bool,
    reconnect: ReconnectPolicy,
    port: Arc<dyn CatalogPort>,
    state: SharedRelayState,
    cancel: CancellationToken,
) {
    let url = relay.url().to_string();
    let mut statuses = relay.notifications();
    let mut failures: u32 = 0;
    let mut negentropy_ok = negentropy;
    while !cancel.is_cancelled() {
        let _ = relay.unsubscribe_all().await;
        let connected = tokio::select! {
            _ = cancel.cancelled() => break,
            r = relay.try_connect(CONNECT_TIMEOUT) => r,
        };
        if let Err(e) = connected {
            let wait = reconnect.delay(failures);
            failures = failures.saturating_add(1);
            tracing::debug!(relay = %url, error = %e, wait_ms = wait.as_millis() as u64, "relay connect failed");
            update(&state, |s| {
                s.connected = false;
                s.failed_connects += 1;
                s.last_error = Some(e.to_string());
            });
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(wait) => continue,
            }
        }
        failures = 0;
        update(&state, |s| s.connected = true);
        let mode = catch_up(
            &relay,
            &seen,
            &url,
            &mut negentropy_ok,
            port.as_ref(),
            &state,
        )
        .await;
        update(&state, |s| {
            s.mode = mode;
            s.bytes_received = relay.stats().bytes_received() as u64;
        });
        // Stay until the connection drops.
        loop {
            let note = tokio::select! {
                _ = cancel.cancelled() => {
                    relay.disconnect();
                    return;
                }
                n = statuses.recv() => n,
            };
            match note {
                Ok(RelayNotification::RelayStatus { status }) => {
                    if matches!(
                        status,
                        RelayStatus::Disconnected | RelayStatus::Terminated | RelayStatus::Banned
                    ) {
                        break;
                    }
                }
                Ok(RelayNotification::Shutdown) | Err(broadcast::error::RecvError::Closed) => {
                    return
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    update(&state, |s| {
                        s.bytes_received = relay.stats().bytes_received() as u64
                    });
                }
            }
        }
        update(&state, |s| s.connected = false);
        tracing::info!(relay = %url, "relay connection lost; reconnecting");
        let wait = reconnect.delay(0);
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    relay.disconnect();
}

/// Reconcile, then subscribe for live events. Returns the mode used.
async fn catch_up(
    relay: &Relay,
    seen: &Mutex<SeenLog>,
    url: &str,
    negentropy_ok: &mut bool,
    port: &dyn CatalogPort,
    state: &SharedRelayState,
) -> SyncMode {
    let now = crate::now_secs();
    let mut mode = SyncMode::Since;
    if *negentropy_ok {
        let opts = SyncOptions::default()
            .direction(SyncDirection::Down)
            .initial_timeout(NEGENTROPY_TIMEOUT);
        let items = seen.lock().map(|s| s.items()).unwrap_or_default();
        match relay.sync_with_items(atoll_filter(), items, &opts).await {
            Ok(rec) => {
                tracing::debug!(relay = %url, received = rec.received.len(), "negentropy reconciliation done");
                mode = SyncMode::Negentropy;
            }
            Err(e) => {
                tracing::info!(relay = %url, error = %e, "relay does not reconcile with NIP-77; using since cursors");
                *negentropy_ok = false;
                update(state, |s| s.last_error = Some(format!("negentropy: {e}")));
            }
        }
    }
    let since = match mode {
        SyncMode::Negentropy => now.saturating_sub(CURSOR_SLACK_SECS),
        // Never ahead of the clock, even if the clock went back since it was stored.
        _ => match port.cursor(url).await {
            Ok(Some(c)) => c.min(now).saturating_sub(CURSOR_SLACK_SECS),
            Ok(None) => 0,
            Err(e) => {
                tracing::warn!(relay = %url, error = %e, "cannot read the relay cursor; syncing everything");
                0
            }
        },
    };
    let mut filter = atoll_filter();
    if since > 0 {
        filter = filter.since(nostr_sdk::Timestamp::from(since));
    }
    let id = SubscriptionId::generate();
    update(state, |s| s.live = Some(id.clone()));
    if let Err(e) = relay
        .subscribe_with_id(id, filter, SubscribeOptions::default())
        .await
    {
        tracing::warn!(relay = %url, error = %e, "subscribe failed");
        update(state, |s| s.last_error = Some(format!("subscribe: {e}")));
    }
    mode
}
