//! Fetch policy: the origin first, then mirrors (oldest announcement first), then HTTPS
//! bases; every source bounded by a connect timeout, a deadline that grows with the size,
//! and the size the signed entry names. Only verified bytes reach the store: iroh-blobs
//! checks every 1 KiB chunk against the BLAKE3 tree of the hash as it streams, so a source
//! that flips one bit is cut off at that chunk (what came before it is kept, and the next
//! source is asked only for what is missing). A source that sends nothing for the stall
//! timeout is left for the next one. Every step is reported to a [`BlobProgress`]: bytes
//! held of the total, the source, and for iroh whether the path is direct or relayed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atoll_registry::objects::BlobRef;
use atoll_registry::Hash;
use futures_util::StreamExt;
use iroh::{EndpointAddr, EndpointId, RelayUrl};
use iroh_blobs::api::remote::GetProgressItem;
use iroh_blobs::get::fsm::DecodeError;
use iroh_blobs::get::GetError;
use tokio_util::sync::CancellationToken;

use super::node::{BlobNode, BlobNodeError};
use super::progress::{BlobProgress, FetchPath};
use super::to_iroh;
use crate::config::FetchLimits;
use crate::https::HttpsError;
use crate::https::HttpsOrigin;
use crate::reject::{BlobSizeProblem, Reason, RejectionSource, SharedError};

/// What kind of source a blob may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// The publisher's node, named in the signed entry.
    Origin,
    /// A node that announced it holds the blob.
    Mirror,
    /// An HTTPS base URL named in the signed entry.
    Https,
}

impl SourceKind {
    /// `origin`, `mirror` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Origin => "origin",
            Self::Mirror => "mirror",
            Self::Https => "https",
        }
    }
}

/// One place to try.
#[derive(Debug, Clone)]
pub struct BlobSource {
    /// Origin, mirror or HTTPS.
    pub kind: SourceKind,
    /// The iroh node (origin or mirror).
    pub node: Option<EndpointId>,
    /// Its direct addresses.
    pub addrs: Vec<SocketAddr>,
    /// The iroh relay servers it is reachable through.
    pub relays: Vec<RelayUrl>,
    /// The HTTPS base URL.
    pub url: Option<String>,
}

impl BlobSource {
    /// An iroh node.
    pub fn node(kind: SourceKind, node: EndpointId, addrs: Vec<SocketAddr>) -> Self {
        Self {
            kind,
            node: Some(node),
            addrs,
            relays: Vec::new(),
            url: None,
        }
    }

    /// The same source, reachable through these iroh relays as well.
    pub fn with_relays(mut self, relays: Vec<RelayUrl>) -> Self {
        self.relays = relays;
        self
    }

    /// An HTTPS base.
    pub fn https(url: impl Into<String>) -> Self {
        Self {
            kind: SourceKind::Https,
            node: None,
            addrs: Vec::new(),
            relays: Vec::new(),
            url: Some(url.into()),
        }
    }

    /// How progress events name it: the kind and a short node id (`origin 3fa2b1c0…`),
    /// or the HTTPS base.
    pub fn label(&self) -> String {
        let kind = self.kind.as_str();
        match (&self.node, &self.url) {
            (Some(n), _) => format!("{kind} {}…", &hex::encode(n.as_bytes())[..8]),
            (None, Some(u)) => format!("{kind} {}", u.chars().take(120).collect::<String>()),
            (None, None) => kind.to_owned(),
        }
    }

    /// How logs and the audit log name it.
    pub fn name(&self) -> String {
        let kind = self.kind.as_str();
        match (&self.node, &self.url) {
            (Some(n), _) => format!("{kind} {}", hex::encode(n.as_bytes())),
            (None, Some(u)) => format!("{kind} {u}"),
            (None, None) => kind.to_owned(),
        }
    }
}

impl BlobSource {
    /// The source as a rejection names it (the same text as [`BlobSource::name`]).
    pub fn rejection_source(&self) -> RejectionSource {
        match (&self.node, &self.url) {
            (Some(n), _) => RejectionSource::Node {
                kind: self.kind,
                id: hex::encode(n.as_bytes()),
            },
            (None, Some(u)) if self.kind == SourceKind::Https => RejectionSource::Https(u.clone()),
            (None, Some(u)) => RejectionSource::Node {
                kind: self.kind,
                id: u.clone(),
            },
            (None, None) => RejectionSource::Node {
                kind: self.kind,
                id: String::new(),
            },
        }
    }
}

/// A blob that is now complete and verified in the local store.
#[derive(Debug, Clone)]
pub struct FetchOutcome {
    /// The source that completed it (`local` if it was already there).
    pub source: String,
    /// Payload bytes moved over the network.
    pub bytes: u64,
    /// Sources that sent bytes not matching the hash (each is a recorded rejection).
    pub rejected: Vec<Reason>,
}

/// Why a blob could not be fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// No source delivered it; worth trying again later (e.g. when a mirror appears).
    #[error("blob {hash} is unavailable; tried: {}", joined(tried))]
    Unavailable {
        /// The blob.
        hash: Hash,
        /// What each source said.
        tried: Vec<FailedAttempt>,
        /// Sources that sent corrupt bytes.
        rejected: Vec<Reason>,
    },
    /// The blob is not the size the signed entry names: the entry is wrong, not a source.
    #[error("{0}")]
    Size(Reason),
    /// The node is shutting down.
    #[error("cancelled")]
    Cancelled,
}

/// One source's failed attempt at a blob.
#[derive(Debug, Clone)]
pub struct FailedAttempt {
    /// The source, as [`BlobSource::name`] names it (or `local store`).
    pub source: String,
    /// What went wrong.
    pub failure: AttemptFailure,
}

impl std::fmt::Display for FailedAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.source, self.failure)
    }
}

/// `a; b; c`.
pub(crate) fn joined(tried: &[FailedAttempt]) -> String {
    tried
        .iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why one source did not deliver a blob.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AttemptFailure {
    /// The transfer ended, but the blob is not complete in the store.
    #[error("ended without the whole blob")]
    Incomplete,
    /// It sent bytes that do not match the hash (recorded as a rejection).
    #[error("corrupt")]
    Corrupt,
    /// It sent more than the signed size (recorded as a rejection).
    #[error("too large")]
    TooLarge,
    /// An HTTPS source while HTTPS origins are off.
    #[error("HTTPS origins are disabled")]
    HttpsDisabled,
    /// A source with neither a node nor a URL.
    #[error("no address")]
    NoAddress,
    /// The iroh connection was not up in time.
    #[error("connect timed out")]
    ConnectTimeout,
    /// The iroh connection failed (iroh's message).
    #[error("connect: {0}")]
    Connect(String),
    /// The transfer stream ended early.
    #[error("stream ended after {0} bytes")]
    StreamEnded(u64),
    /// The deadline for the blob's size passed.
    #[error("deadline of {0} s passed")]
    Deadline(u64),
    /// The source sent no bytes for the stall timeout.
    #[error("stalled: no bytes for {secs} s after {after} bytes")]
    Stalled {
        /// The stall timeout, in seconds.
        secs: u64,
        /// Bytes it had sent in this attempt.
        after: u64,
    },
    /// The blob transfer failed.
    #[error("{0}")]
    Transfer(#[source] SharedError<GetError>),
    /// The HTTPS fetch failed.
    #[error("{0}")]
    Https(#[source] SharedError<HttpsError>),
    /// The local store failed.
    #[error("{0}")]
    Store(#[source] SharedError<BlobNodeError>),
}

enum Attempt {
    Failed(AttemptFailure),
    Corrupt(String),
    TooLarge(u64),
}

impl From<AttemptFailure> for Attempt {
    fn from(f: AttemptFailure) -> Self {
        Self::Failed(f)
    }
}

/// One attempt at one source: the path its bytes took (once connected), and the outcome
/// (payload bytes moved).
struct Tried {
    path: Option<FetchPath>,
    result: Result<u64, Attempt>,
}

/// Fetches blobs into a [`BlobNode`]'s store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Fetcher {
    node: BlobNode,
    https: Option<HttpsOrigin>,
    limits: FetchLimits,
    /// Nodes that could not be reached lately: tried after the others.
    unreachable: Arc<Mutex<HashMap<EndpointId, Instant>>>,
}

/// How long an unreachable node is tried last.
const UNREACHABLE_FOR: Duration = Duration::from_secs(60);

impl Fetcher {
    /// A fetcher into `node`'s store; `https` enables HTTPS origins.
    pub fn new(node: BlobNode, https: Option<HttpsOrigin>, limits: FetchLimits) -> Self {
        Self {
            node,
            https,
            limits,
            unreachable: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The node it stores into.
    pub fn node(&self) -> &BlobNode {
        &self.node
    }

    /// Get `want` from the first source that delivers verified bytes, in the order given.
    pub async fn fetch(
        &self,
        want: &BlobRef,
        sources: &[BlobSource],
        cancel: &CancellationToken,
    ) -> Result<FetchOutcome, FetchError> {
        let progress = BlobProgress::silent(want.hash, want.size);
        self.fetch_reporting(want, sources, cancel, &progress).await
    }

    /// [`Fetcher::fetch`], reporting every step to `progress`: held locally, connecting to
    /// a source, bytes held of the total (with the path), a source stalled or failed and
    /// left, done.
    pub async fn fetch_reporting(
        &self,
        want: &BlobRef,
        sources: &[BlobSource],
        cancel: &CancellationToken,
        progress: &BlobProgress,
    ) -> Result<FetchOutcome, FetchError> {
        if let Some(outcome) = self.local(want).await? {
            progress.held_locally();
            return Ok(outcome);
        }
        let mut tried = Vec::new();
        let mut rejected = Vec::new();
        let mut order: Vec<&BlobSource> = sources.iter().collect();
        if let Ok(mut down) = self.unreachable.lock() {
            down.retain(|_, since| since.elapsed() < UNREACHABLE_FOR);
            order.sort_by_key(|s| s.node.is_some_and(|n| down.contains_key(&n)));
        }
        for source in order.into_iter().take(self.limits.max_sources) {
            if source.node == Some(self.node.node_id()) {
                continue;
            }
            let local = self.local_bytes(want).await;
            progress.connecting(source, local);
            let Tried { path, result } = tokio::select! {
                _ = cancel.cancelled() => return Err(FetchError::Cancelled),
                a = self.attempt(want, source, local, progress) => a,
            };
            let name = source.name();
            let failure = match result {
                Ok(bytes) => {
                    if let Some(mut outcome) = self.local(want).await? {
                        tracing::debug!(blob = %want.hash, from = %name, bytes, path = path.map(FetchPath::as_str), "blob fetched and verified");
                        progress.done(source, path);
                        outcome.source = name;
                        outcome.bytes = bytes;
                        outcome.rejected = rejected;
                        return Ok(outcome);
                    }
                    AttemptFailure::Incomplete
                }
                Err(Attempt::Failed(why)) => {
                    tracing::debug!(blob = %want.hash, from = %name, %why, "source failed");
                    why
                }
                Err(Attempt::Corrupt(detail)) => {
                    tracing::warn!(blob = %want.hash, from = %name, %detail, "source sent bytes that do not match the hash");
                    rejected.push(Reason::BlobCorrupt {
                        hash: want.hash.to_hex(),
                        from: source.rejection_source(),
                        detail,
                    });
                    AttemptFailure::Corrupt
                }
                Err(Attempt::TooLarge(n)) => {
                    // Blame the source, not the entry: a liar can announce any size.
                    tracing::warn!(blob = %want.hash, from = %name, bytes = n, "source sent more than the signed size");
                    rejected.push(Reason::BlobSize {
                        hash: want.hash.to_hex(),
                        problem: BlobSizeProblem::SourceSentMore {
                            from: source.rejection_source(),
                            sent: n,
                            signed: want.size,
                        },
                    });
                    AttemptFailure::TooLarge
                }
            };
            let stalled = matches!(failure, AttemptFailure::Stalled { .. });
            if stalled {
                tracing::info!(blob = %want.hash, from = %name, why = %failure, "source stalled; trying the next one");
            }
            progress.left(source, path, stalled, &failure.to_string());
            tried.push(FailedAttempt {
                source: name,
                failure,
            });
        }
        Err(FetchError::Unavailable {
            hash: want.hash,
            tried,
            rejected,
        })
    }

    /// `Some` if the blob is complete locally with the right size.
    async fn local(&self, want: &BlobRef) -> Result<Option<FetchOutcome>, FetchError> {
        match self.node.complete_size(&want.hash).await {
            Ok(Some(size)) if size == want.size => Ok(Some(FetchOutcome {
                source: "local".into(),
                bytes: 0,
                rejected: Vec::new(),
            })),
            Ok(Some(size)) => Err(FetchError::Size(Reason::BlobSize {
                hash: want.hash.to_hex(),
                problem: BlobSizeProblem::Differs {
                    held: size,
                    signed: want.size,
                },
            })),
            Ok(None) => Ok(None),
            Err(e) => Err(FetchError::Unavailable {
                hash: want.hash,
                tried: vec![FailedAttempt {
                    source: "local store".into(),
                    failure: AttemptFailure::Store(SharedError::new(e)),
                }],
                rejected: Vec::new(),
            }),
        }
    }

    /// Verified bytes of `want` in the local store (a source is asked only for the rest).
    async fn local_bytes(&self, want: &BlobRef) -> u64 {
        self.node
            .store()
            .remote()
            .local(to_iroh(&want.hash))
            .await
            .map(|l| l.local_bytes())
            .unwrap_or(0)
    }

    async fn attempt(
        &self,
        want: &BlobRef,
        source: &BlobSource,
        local: u64,
        progress: &BlobProgress,
    ) -> Tried {
        match (source.kind, &source.node, &source.url) {
            (SourceKind::Https, _, Some(url)) => Tried {
                path: Some(FetchPath::Https),
                result: match &self.https {
                    Some(https) => self.fetch_https(https, url, want, source, progress).await,
                    None => Err(AttemptFailure::HttpsDisabled.into()),
                },
            },
            (_, Some(node), _) => self.fetch_node(want, *node, source, local, progress).await,
            _ => Tried {
                path: None,
                result: Err(AttemptFailure::NoAddress.into()),
            },
        }
    }

    async fn fetch_node(
        &self,
        want: &BlobRef,
        node: EndpointId,
        source: &BlobSource,
        local: u64,
        progress: &BlobProgress,
    ) -> Tried {
        // Its direct addresses and relays: iroh tries them together, holds the relayed
        // path while it punches holes, and moves to a direct one when that works.
        let mut addr = EndpointAddr::new(node);
        for a in &source.addrs {
            addr = addr.with_ip_addr(*a);
        }
        for r in &source.relays {
            addr = addr.with_relay_url(r.clone());
        }
        let endpoint = self.node.endpoint();
        let conn = tokio::time::timeout(
            self.limits.connect_timeout,
            endpoint.connect(addr, iroh_blobs::ALPN),
        )
        .await
        .map_err(|_| AttemptFailure::ConnectTimeout)
        .and_then(|r| r.map_err(|e| AttemptFailure::Connect(e.to_string())));
        let conn = match conn {
            Ok(c) => c,
            Err(why) => {
                self.mark_unreachable(node, true);
                return Tried {
                    path: None,
                    result: Err(why.into()),
                };
            }
        };
        self.mark_unreachable(node, false);
        let mut stream = self
            .node
            .store()
            .remote()
            .fetch(conn.clone(), to_iroh(&want.hash))
            .stream()
            .boxed();
        let deadline = self.limits.deadline(want.size);
        let stall = self.limits.stall_timeout;
        let result = tokio::time::timeout(deadline, async {
            let mut last = 0;
            loop {
                let item = match tokio::time::timeout(stall, stream.next()).await {
                    Ok(Some(item)) => item,
                    Ok(None) => break,
                    Err(_) => {
                        return Err(Attempt::Failed(AttemptFailure::Stalled {
                            secs: stall.as_secs(),
                            after: last,
                        }))
                    }
                };
                match item {
                    GetProgressItem::Progress(n) => {
                        last = n;
                        if n > want.size {
                            return Err(Attempt::TooLarge(n));
                        }
                        progress.bytes(source, local.saturating_add(n), || path_of(&conn));
                    }
                    GetProgressItem::Done(stats) => return Ok(stats.payload_bytes_read),
                    GetProgressItem::Error(e) => return Err(classify(e)),
                }
            }
            Err(Attempt::Failed(AttemptFailure::StreamEnded(last)))
        })
        .await
        .unwrap_or_else(|_| {
            Err(Attempt::Failed(AttemptFailure::Deadline(
                deadline.as_secs(),
            )))
        });
        if matches!(result, Err(Attempt::Failed(AttemptFailure::Stalled { .. }))) {
            // Tried last for a while, like a node that could not be reached.
            self.mark_unreachable(node, true);
        }
        let path = path_of(&conn);
        conn.close(0u32.into(), b"done");
        Tried { path, result }
    }

    /// Note that `node` could not (`down`) or could be reached.
    fn mark_unreachable(&self, node: EndpointId, down: bool) {
        if let Ok(mut map) = self.unreachable.lock() {
            if down {
                map.insert(node, Instant::now());
            } else {
                map.remove(&node);
            }
        }
    }

    async fn fetch_https(
        &self,
        https: &HttpsOrigin,
        base: &str,
        want: &BlobRef,
        source: &BlobSource,
        progress: &BlobProgress,
    ) -> Result<u64, Attempt> {
        let deadline = self.limits.deadline(want.size);
        let stall = self.limits.stall_timeout;
        let on_bytes = |n: u64| progress.bytes(source, n, || Some(FetchPath::Https));
        let file = https
            .fetch_to_temp_reporting(base, want, deadline, stall, &on_bytes)
            .await
            .map_err(|e| match e {
                crate::https::HttpsError::Mismatch { actual, .. } => {
                    Attempt::Corrupt(format!("the body hashes to {actual}"))
                }
                crate::https::HttpsError::TooLarge { got, .. } => Attempt::TooLarge(got),
                crate::https::HttpsError::Stalled { secs, after, .. } => {
                    Attempt::Failed(AttemptFailure::Stalled { secs, after })
                }
                other => Attempt::Failed(AttemptFailure::Https(SharedError::new(other))),
            })?;
        let hash = self
            .node
            .add_path(file.path())
            .await
            .map_err(|e| Attempt::Failed(AttemptFailure::Store(SharedError::new(e))))?;
        if hash != want.hash {
            return Err(Attempt::Corrupt(format!("the body hashes to {hash}")));
        }
        Ok(want.size)
    }
}

/// Whether the connection's selected path is a direct IP path or goes through a relay.
fn path_of(conn: &iroh::endpoint::Connection) -> Option<FetchPath> {
    let paths = conn.paths();
    let selected = paths.iter().find(|p| p.is_selected())?;
    if selected.is_relay() {
        Some(FetchPath::Relayed)
    } else if selected.is_ip() {
        Some(FetchPath::Direct)
    } else {
        None
    }
}

fn classify(e: GetError) -> Attempt {
    match e {
        GetError::Decode {
            source: DecodeError::LeafHashMismatch { .. } | DecodeError::ParentHashMismatch { .. },
            ..
        } => Attempt::Corrupt(e.to_string()),
        other => Attempt::Failed(AttemptFailure::Transfer(SharedError::new(other))),
    }
}

/// A short pause between retries of an unavailable blob.
pub(crate) fn retry_delay(limits: &FetchLimits, attempt: u32) -> Duration {
    let base = limits.retry_interval;
    base.saturating_mul(attempt.clamp(1, 8))
}
