//! Settings of a discovery node, with documented defaults that work offline on 127.0.0.1.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Everything a [`crate::Discovery`] node needs to start.
#[derive(Debug, Clone)]
pub struct DiscoveryConfig {
    /// Data directory: `node.key`, `blobs/` (iroh-blobs store), `nostr/` (client event
    /// database), `relay/` (embedded relay database).
    pub data_dir: PathBuf,
    /// The embedded relay; `None` runs none. Default: on, 127.0.0.1:7879.
    pub embedded_relay: Option<EmbeddedRelayConfig>,
    /// External relays (`ws://` or `wss://`), synced as well as the embedded one.
    pub relays: Vec<String>,
    /// Relays the operator added at runtime (persisted by the node), started with the
    /// others and shown as `operator` ([`crate::relay::RelaySource::Operator`]).
    pub operator_relays: Vec<String>,
    /// Try NIP-77 negentropy reconciliation before falling back to `since`. Default true.
    pub negentropy: bool,
    /// The iroh endpoint.
    pub iroh: IrohConfig,
    /// Serve blobs this node fetched and announce that it holds them. Default true.
    pub mirror: bool,
    /// Fetch image archives while syncing (not only manifests and icons). Default false:
    /// images are fetched when an app is installed ([`crate::Discovery::fetch_entry`]).
    pub prefetch_images: bool,
    /// Accept HTTPS origins named by entries. Default true.
    pub https_origins: bool,
    /// The roots HTTPS origins are checked against; `None` (the default, and what the
    /// node always uses) is the Mozilla root store. Only `atoll conformance` sets it, to
    /// trust the certificate of its own hostile HTTPS origin in its throwaway node.
    pub https_roots: Option<rustls::RootCertStore>,
    /// Limits and deadlines of blob fetches.
    pub fetch: FetchLimits,
    /// How relay sessions wait before reconnecting.
    pub reconnect: ReconnectPolicy,
    /// How often the blob store deletes blobs that only refused entries named. Default
    /// 60 s.
    pub blob_gc_interval: Duration,
    /// Protocols the iroh endpoint serves besides iroh-blobs (the binary's remote admin
    /// channel). Default none.
    pub protocols: Vec<crate::blobs::ExtraProtocol>,
}

impl DiscoveryConfig {
    /// Defaults under `data_dir`: embedded relay on 127.0.0.1:7879, offline iroh on
    /// 127.0.0.1:7880, mirroring on.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            embedded_relay: Some(EmbeddedRelayConfig::default()),
            relays: Vec::new(),
            operator_relays: Vec::new(),
            negentropy: true,
            iroh: IrohConfig::default(),
            mirror: true,
            prefetch_images: false,
            https_origins: true,
            https_roots: None,
            fetch: FetchLimits::default(),
            reconnect: ReconnectPolicy::default(),
            blob_gc_interval: crate::blobs::DEFAULT_GC_INTERVAL,
            protocols: Vec::new(),
        }
    }

    /// For tests and benchmarks: no embedded relay, every port chosen by the OS, the
    /// given relays, images prefetched, short deadlines, a blob collection every second.
    pub fn test(data_dir: impl Into<PathBuf>, relays: Vec<String>) -> Self {
        Self {
            embedded_relay: None,
            relays,
            iroh: IrohConfig {
                bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                ..IrohConfig::default()
            },
            prefetch_images: true,
            fetch: FetchLimits {
                connect_timeout: Duration::from_secs(3),
                retry_interval: Duration::from_secs(1),
                ..FetchLimits::default()
            },
            reconnect: ReconnectPolicy {
                initial: Duration::from_millis(100),
                max: Duration::from_secs(2),
            },
            blob_gc_interval: Duration::from_secs(1),
            ..Self::new(data_dir)
        }
    }
}

/// The relay the node runs itself (nostr-relay-builder, LMDB, persistent).
#[derive(Debug, Clone)]
pub struct EmbeddedRelayConfig {
    /// Socket to listen on; port 0 picks a free one. Default 127.0.0.1:7879 (loopback
    /// only; `0.0.0.0:7879` serves other hosts too).
    pub bind: SocketAddr,
    /// Events per minute one connection may publish. Default 6000.
    pub events_per_minute: u32,
}

impl Default for EmbeddedRelayConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 7879)),
            events_per_minute: 6000,
        }
    }
}

/// The iroh endpoint.
#[derive(Debug, Clone)]
pub struct IrohConfig {
    /// Socket to bind. Default 127.0.0.1:7880 (a fixed port, so that the addresses an
    /// entry names stay valid across restarts of the publisher's node).
    pub bind: SocketAddr,
    /// The direct addresses (`IP:PORT`) this node names in the entries it signs and the
    /// mirror announcements it makes, instead of its bound sockets: what other hosts reach
    /// it at (a public address, a port forward). Default none: the bound sockets (for an
    /// unspecified bind, the interface addresses the endpoint found).
    pub advertise: Vec<SocketAddr>,
    /// Self-hosted iroh relay servers (`http://` or `https://` URLs): the endpoint keeps a
    /// home relay among them (so nodes that cannot dial it directly reach it through the
    /// relay and hole punching), and names them in entries and announcements. Used with
    /// or without `internet`; when set they replace n0's relays. Default none.
    pub relays: Vec<String>,
    /// Use n0's relay servers (unless `relays` is set) and DNS/pkarr address lookup
    /// (internet use). Default false: no address lookup, peers dialled by node id +
    /// direct addresses + relay URLs learned from signed events.
    pub internet: bool,
}

impl Default for IrohConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 7880)),
            advertise: Vec::new(),
            relays: Vec::new(),
            internet: false,
        }
    }
}

/// Limits and deadlines of blob fetches.
#[derive(Debug, Clone)]
pub struct FetchLimits {
    /// Dialling one source. Default 10 s.
    pub connect_timeout: Duration,
    /// Fixed part of the deadline for one blob from one source. Default 30 s.
    pub base_deadline: Duration,
    /// Slowest acceptable rate: the deadline grows by size / this. Default 256 KiB/s.
    pub min_rate: u64,
    /// Sources tried per blob, at most. Default 8.
    pub max_sources: usize,
    /// A source that sends no bytes for this long is left for the next one (and tried
    /// last for a while). Default 20 s.
    pub stall_timeout: Duration,
    /// How often a blob that no source could deliver is tried again. Default 30 s.
    pub retry_interval: Duration,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            base_deadline: Duration::from_secs(30),
            min_rate: 256 * 1024,
            max_sources: 8,
            stall_timeout: Duration::from_secs(20),
            retry_interval: Duration::from_secs(30),
        }
    }
}

impl FetchLimits {
    /// The deadline for a blob of `size` bytes from one source.
    pub fn deadline(&self, size: u64) -> Duration {
        self.base_deadline + Duration::from_secs(size / self.min_rate.max(1))
    }
}

/// How long a relay session waits before it reconnects: exponential backoff with jitter.
#[derive(Debug, Clone)]
pub struct ReconnectPolicy {
    /// First wait. Default 1 s.
    pub initial: Duration,
    /// Longest wait. Default 60 s.
    pub max: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

impl ReconnectPolicy {
    /// The wait before attempt `n` (0-based), with up to 25% jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self
            .initial
            .saturating_mul(2u32.saturating_pow(attempt.min(16)))
            .min(self.max);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let jitter = base / 4 * (nanos % 1000) / 1000;
        base.saturating_sub(base / 8) + jitter
    }
}
