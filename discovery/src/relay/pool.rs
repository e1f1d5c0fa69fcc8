//! The relay pool: one nostr-sdk client (events kept in LMDB, which NIP-77 reconciles
//! against), one sync session per relay — relays may be added and removed while it runs —
//! and publishing to every relay but outbox ones.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use nostr_database::{MemoryDatabase, MemoryDatabaseOptions};
use nostr_sdk::pool::relay::RelayLimits;
use nostr_sdk::{Client, ClientOptions, Event, Filter, PublicKey, RelayOptions, Timestamp};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::guard::{GuardedTransport, Refusal};
use super::seen::SeenLog;
use super::session::{self, RelayState, SharedRelayState};
use super::source::RelaySource;
use crate::codec::atoll_filter;
use crate::config::ReconnectPolicy;
use crate::port::CatalogPort;

/// Room for relay notifications before the pipeline must catch up (then it replays).
const NOTIFICATION_CHANNEL: usize = 16 * 1024;

/// Events kept in memory for replays (the pipeline keeps up long before this).
const MEMORY_EVENTS: usize = 100_000;

/// How long a publication waits for a first relay connection.
const PUBLISH_CONNECT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// What the pool hands to the pipeline.
#[derive(Debug)]
pub enum PoolMessage {
    /// An event a relay delivered. Its id, signature and size were checked by the
    /// transport ([`super::guard`]) and again by nostr-sdk.
    Event {
        /// The relay URL.
        relay: String,
        /// The event.
        event: Box<Event>,
        /// Delivered live, after the catch-up of the connection ended: the relay's cursor
        /// may advance to it at once.
        live: bool,
    },
    /// The transport refused an event (or frame) of a relay: count and record it.
    Refused(Box<Refusal>),
    /// A relay's catch-up is complete: every stored event it sent came before this, so its
    /// cursor may advance to the newest event the pipeline accepted from it.
    CaughtUp {
        /// The relay URL.
        relay: String,
    },
    /// Events were missed by the pipeline: re-read the local event database.
    Replay,
}

/// Why the pool could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayPoolError {
    /// The client's event database could not be opened.
    #[error("event database {path}: {detail}")]
    Database {
        /// Its directory.
        path: String,
        /// Why.
        detail: String,
    },
    /// A relay URL is invalid.
    #[error("relay {url}: {detail}")]
    Relay {
        /// The URL.
        url: String,
        /// Why.
        detail: String,
    },
    /// The pool runs [`MAX_RELAYS`] relays already.
    #[error("at most {max} relays may be used at once")]
    TooMany {
        /// [`MAX_RELAYS`].
        max: usize,
    },
    /// The embedded relay is part of the node: it cannot be removed.
    #[error(
        "{url} is this node's embedded relay; it cannot be removed (set [relays] embedded = false)"
    )]
    Embedded {
        /// Its URL.
        url: String,
    },
    /// A lock was poisoned by a panic elsewhere.
    #[error("the relay pool is broken (a task panicked)")]
    Poisoned,
}

/// Why a publication failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// No relay is configured.
    #[error("no relay is configured")]
    NoRelay,
    /// No relay accepted the event.
    #[error("no relay accepted the event: {}", failed.iter().map(|(u, e)| format!("{u}: {e}")).collect::<Vec<_>>().join("; "))]
    Rejected {
        /// Each relay's answer.
        failed: Vec<(String, String)>,
    },
}

/// Which relays took an event.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PublishReport {
    /// Nostr event id (hex).
    pub event_id: String,
    /// Relays that accepted it.
    pub accepted: Vec<String>,
    /// Relays that refused it or could not be reached, with why.
    pub failed: Vec<(String, String)>,
}

/// Most relays one pool runs at once (embedded, configured, operator's and outbox ones).
pub const MAX_RELAYS: usize = 64;

/// How long removing a relay waits for its session to stop.
const SESSION_STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// What [`RelayPool::add`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RelayChange {
    /// A new session started (it syncs from the relay's cursor).
    Added,
    /// The relay was in the pool already; its source was updated.
    SourceChanged,
    /// The relay was in the pool already with that source.
    Unchanged,
}

/// One relay's session: its state and how to stop it.
#[derive(Debug)]
struct Session {
    state: SharedRelayState,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

/// What every session needs to start.
struct SessionCtx {
    negentropy: bool,
    reconnect: ReconnectPolicy,
    port: Arc<dyn CatalogPort>,
    tx: mpsc::Sender<PoolMessage>,
}

impl std::fmt::Debug for SessionCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCtx")
            .field("negentropy", &self.negentropy)
            .finish_non_exhaustive()
    }
}

/// The relay pool handle. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RelayPool {
    client: Client,
    seen: Arc<Mutex<SeenLog>>,
    clock: Arc<Mutex<HashMap<(PublicKey, String), u64>>>,
    sessions: Arc<Mutex<Vec<Session>>>,
    /// Serialises adds and removes (each awaits the client between its steps).
    changes: Arc<tokio::sync::Mutex<()>>,
    ctx: Arc<SessionCtx>,
    cancel: CancellationToken,
}

/// The normal form of a relay URL (as nostr-sdk names it, so two spellings of one relay
/// compare equal), or why it is not one.
pub fn normal_url(url: &str) -> Result<String, RelayPoolError> {
    let relay_err = |detail: String| RelayPoolError::Relay {
        url: url.chars().take(100).collect(),
        detail,
    };
    atoll_registry::relay_url::check_relay_url(url).map_err(|e| relay_err(e.to_string()))?;
    nostr_sdk::RelayUrl::parse(url)
        .map(|u| u.to_string())
        .map_err(|e| relay_err(e.to_string()))
}

impl RelayPool {
    /// Open the event database in `db_dir`, add `relays` (URL and why) and start one
    /// session per relay; events go to `tx`.
    pub async fn start(
        db_dir: &Path,
        relays: &[(String, RelaySource)],
        negentropy: bool,
        reconnect: ReconnectPolicy,
        port: Arc<dyn CatalogPort>,
        tx: mpsc::Sender<PoolMessage>,
        cancel: CancellationToken,
    ) -> Result<Self, RelayPoolError> {
        let db_err = |detail: String| RelayPoolError::Database {
            path: db_dir.display().to_string(),
            detail,
        };
        std::fs::create_dir_all(db_dir).map_err(|e| db_err(e.to_string()))?;
        let seen = SeenLog::open(&db_dir.join("seen.log")).map_err(|e| db_err(e.to_string()))?;
        tracing::debug!(events = seen.len(), "processed events known");
        let seen = Arc::new(Mutex::new(seen));
        // Events in flight live in memory only: what counts as "have" for NIP-77 is what the
        // pipeline processed (the seen log), so nothing stored-but-unprocessed is skipped.
        let db = MemoryDatabase::with_opts(MemoryDatabaseOptions {
            events: true,
            max_events: Some(MEMORY_EVENTS),
        });
        let client = Client::builder()
            .database(db)
            .websocket_transport(GuardedTransport::new(tx.clone()))
            .opts(ClientOptions::new().autoconnect(false))
            .build();
        let pool = Self {
            client,
            seen,
            clock: Arc::new(Mutex::new(HashMap::new())),
            sessions: Arc::new(Mutex::new(Vec::new())),
            changes: Arc::new(tokio::sync::Mutex::new(())),
            ctx: Arc::new(SessionCtx {
                negentropy,
                reconnect,
                port,
                tx,
            }),
            cancel,
        };
        for (url, source) in relays {
            pool.add(url, source.clone()).await?;
        }
        Ok(pool)
    }

    /// Add a relay while the pool runs: a new session connects and catches up from the
    /// relay's stored cursor. A relay already in the pool keeps its session and takes
    /// `source`. Refused: a URL that is not a relay URL, more than [`MAX_RELAYS`].
    pub async fn add(&self, url: &str, source: RelaySource) -> Result<RelayChange, RelayPoolError> {
        let url = normal_url(url)?;
        let _serial = self.changes.lock().await;
        {
            let sessions = self.sessions.lock().map_err(|_| RelayPoolError::Poisoned)?;
            for s in sessions.iter() {
                let Ok(mut st) = s.state.lock() else { continue };
                if st.url == url {
                    if st.source == source {
                        return Ok(RelayChange::Unchanged);
                    }
                    if st.source == RelaySource::Embedded {
                        return Ok(RelayChange::Unchanged);
                    }
                    st.source = source;
                    return Ok(RelayChange::SourceChanged);
                }
            }
            if sessions.len() >= MAX_RELAYS {
                return Err(RelayPoolError::TooMany { max: MAX_RELAYS });
            }
        }
        let relay_err = |detail: String| RelayPoolError::Relay {
            url: url.clone(),
            detail,
        };
        // The transport bounds every message and refuses (and reports) what is too large
        // or does not verify; nostr-sdk's own limits would drop events silently.
        let opts = RelayOptions::new()
            .reconnect(false)
            .write(source.writes())
            .limits(RelayLimits::disable())
            .notification_channel_size(NOTIFICATION_CHANNEL);
        self.client
            .pool()
            .add_relay(url.as_str(), opts)
            .await
            .map_err(|e| relay_err(e.to_string()))?;
        let relay = self
            .client
            .relay(url.as_str())
            .await
            .map_err(|e| relay_err(e.to_string()))?;
        let state: SharedRelayState = Arc::new(Mutex::new(RelayState::new(&url, source.clone())));
        let port = &self.ctx.port;
        // A cursor ahead of the clock would hide every event of this relay: heal it.
        let reset = match port.heal_cursor(&url).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(relay = %url, error = %e, "cannot check the relay cursor");
                None
            }
        };
        let cursor = port.cursor(&url).await.ok().flatten();
        if let Ok(mut s) = state.lock() {
            s.cursor_reset_from = reset;
            s.cursor = cursor;
        }
        let cancel = self.cancel.child_token();
        let fwd = tokio::spawn(session::forward(
            relay.notifications(),
            url.clone(),
            self.ctx.tx.clone(),
            state.clone(),
            cancel.clone(),
        ));
        let run = tokio::spawn(session::run(
            relay,
            self.seen.clone(),
            self.ctx.negentropy,
            self.ctx.reconnect.clone(),
            port.clone(),
            state.clone(),
            cancel.clone(),
        ));
        let session = Session {
            state,
            cancel,
            tasks: vec![fwd, run],
        };
        match self.sessions.lock() {
            Ok(mut s) => s.push(session),
            Err(_) => {
                session.cancel.cancel();
                return Err(RelayPoolError::Poisoned);
            }
        }
        tracing::info!(relay = %url, %source, "relay added");
        Ok(RelayChange::Added)
    }

    /// Remove a relay while the pool runs: its session stops and the connection closes;
    /// its cursor stays stored (a later add resumes from it). Returns whether it was in
    /// the pool. The embedded relay cannot be removed.
    pub async fn remove(&self, url: &str) -> Result<bool, RelayPoolError> {
        let url = normal_url(url)?;
        let _serial = self.changes.lock().await;
        let session = {
            let mut sessions = self.sessions.lock().map_err(|_| RelayPoolError::Poisoned)?;
            let Some(i) = sessions
                .iter()
                .position(|s| s.state.lock().is_ok_and(|s| s.url == url))
            else {
                return Ok(false);
            };
            if sessions[i]
                .state
                .lock()
                .is_ok_and(|s| s.source == RelaySource::Embedded)
            {
                return Err(RelayPoolError::Embedded { url });
            }
            sessions.remove(i)
        };
        session.cancel.cancel();
        for t in session.tasks {
            if tokio::time::timeout(SESSION_STOP_WAIT, t).await.is_err() {
                tracing::warn!(relay = %url, "relay session did not stop in time");
            }
        }
        if let Err(e) = self.client.force_remove_relay(url.as_str()).await {
            tracing::debug!(relay = %url, error = %e, "relay already gone from the client");
        }
        self.flush_processed();
        tracing::info!(relay = %url, "relay removed");
        Ok(true)
    }

    /// The URL of every relay in the pool and why it is there.
    pub fn relays(&self) -> Vec<(String, RelaySource)> {
        self.states()
            .into_iter()
            .map(|s| (s.url, s.source))
            .collect()
    }

    /// The `created_at` for a new event of `pubkey` at address `d`: now, but always after
    /// the previous one from this node (relays keep only the newest per address, and
    /// break ties by id, so two publications in one second would race).
    pub async fn next_created_at(&self, pubkey: &PublicKey, d: &str) -> Timestamp {
        let key = (*pubkey, d.to_owned());
        let known = self.clock.lock().ok().and_then(|c| c.get(&key).copied());
        let last = match known {
            Some(t) => t,
            // First time in this process: start after what the event database holds
            // (an earlier run may have published at this address a moment ago).
            None => {
                let filter = Filter::new()
                    .author(*pubkey)
                    .kind(crate::codec::KIND)
                    .identifier(d)
                    .limit(1);
                match self.client.database().query(filter).await {
                    Ok(events) => events
                        .into_iter()
                        .map(|e| e.created_at.as_secs())
                        .max()
                        .unwrap_or(0),
                    Err(_) => 0,
                }
            }
        };
        let now = crate::now_secs();
        let mut clock = match self.clock.lock() {
            Ok(c) => c,
            Err(_) => return Timestamp::from(now.max(last + 1)),
        };
        let slot = clock.entry(key).or_insert(last);
        *slot = now.max(slot.saturating_add(1)).max(last.saturating_add(1));
        Timestamp::from(*slot)
    }

    /// Send an event to every relay; succeeds if at least one accepted it.
    pub async fn publish(&self, event: &Event) -> Result<PublishReport, PublishError> {
        if !self.states().iter().any(|s| s.source.writes()) {
            return Err(PublishError::NoRelay);
        }
        // Sessions connect in the background: give them a moment on a fresh start.
        let deadline = tokio::time::Instant::now() + PUBLISH_CONNECT_WAIT;
        while !self
            .states()
            .iter()
            .any(|s| s.connected && s.source.writes())
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let mut report = PublishReport {
            event_id: event.id.to_hex(),
            ..PublishReport::default()
        };
        match self.client.send_event(event).await {
            Ok(out) => {
                report.accepted = out.success.iter().map(|u| u.to_string()).collect();
                report.failed = out
                    .failed
                    .iter()
                    .map(|(u, e)| (u.to_string(), e.clone()))
                    .collect();
            }
            Err(e) => report.failed.push(("*".into(), e.to_string())),
        }
        report.accepted.sort();
        if report.accepted.is_empty() {
            return Err(PublishError::Rejected {
                failed: report.failed,
            });
        }
        Ok(report)
    }

    /// Wait until every relay has finished its first catch-up (or `timeout` passes).
    /// Returns whether all did.
    pub async fn wait_synced(&self, timeout: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.states().iter().all(|s| s.catch_ups > 0) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Is `url` one of the relays of this pool (and not another source name)?
    pub(crate) fn is_relay(&self, url: &str) -> bool {
        self.sessions.lock().is_ok_and(|sessions| {
            sessions
                .iter()
                .any(|s| s.state.lock().is_ok_and(|s| s.url == url))
        })
    }

    /// The pipeline stored a relay's cursor.
    pub(crate) fn cursor_stored(&self, url: &str, since: u64) {
        let Ok(sessions) = self.sessions.lock() else {
            return;
        };
        for s in sessions.iter() {
            if let Ok(mut s) = s.state.lock() {
                if s.url == url {
                    s.cursor = Some(s.cursor.map_or(since, |c| c.max(since)));
                }
            }
        }
    }

    /// The state of every relay.
    pub fn states(&self) -> Vec<RelayState> {
        self.sessions
            .lock()
            .map(|sessions| {
                sessions
                    .iter()
                    .filter_map(|s| s.state.lock().ok().map(|s| s.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The pipeline processed this event: it need not be fetched again.
    pub fn record_processed(&self, id: nostr_sdk::EventId, at: Timestamp) {
        if let Ok(mut s) = self.seen.lock() {
            s.record(id, at);
        }
    }

    /// Write the processed events recorded since the last call.
    pub fn flush_processed(&self) {
        if let Ok(mut s) = self.seen.lock() {
            if let Err(e) = s.flush() {
                tracing::warn!(error = %e, "cannot write the seen log");
            }
        }
    }

    /// Bytes sent to and received from all relays since the pool started.
    pub async fn traffic(&self) -> (u64, u64) {
        let relays = self.client.relays().await;
        relays.values().fold((0, 0), |(s, r), relay| {
            let st = relay.stats();
            (s + st.bytes_sent() as u64, r + st.bytes_received() as u64)
        })
    }

    /// Every atoll event in the local event database (for replays).
    pub async fn stored_events(&self) -> Vec<Event> {
        match self.client.database().query(atoll_filter()).await {
            Ok(events) => events.into_iter().collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the local event database");
                Vec::new()
            }
        }
    }

    /// Stop every session and close the connections.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        let tasks: Vec<JoinHandle<()>> = self
            .sessions
            .lock()
            .map(|mut s| s.iter_mut().flat_map(|s| s.tasks.drain(..)).collect())
            .unwrap_or_default();
        for t in tasks {
            let _ = t.await;
        }
        self.flush_processed();
        self.client.shutdown().await;
    }
}
