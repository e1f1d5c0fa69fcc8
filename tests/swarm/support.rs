//! Shared parts of the swarm tests: a relay, nodes with a real SQLite catalog, generated
//! apps, and bounded waits.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use atoll::node::catalog_port::SwarmCatalog;
use atoll_catalog::CatalogService;
use atoll_discovery::relay::EmbeddedRelay;
use atoll_discovery::{publish, Discovery, DiscoveryConfig, EmbeddedRelayConfig};
use atoll_registry::{AppRef, Hash, Keypair};
use tempfile::TempDir;

/// How long any convergence may take before a test fails (a bound, not a threshold).
pub const DEADLINE: Duration = Duration::from_secs(90);

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ATOLL_TEST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// An in-process relay (the embedded relay, LMDB in a temp dir).
pub struct TestRelay {
    pub relay: EmbeddedRelay,
    _dir: TempDir,
}

impl TestRelay {
    pub async fn start() -> Self {
        let dir = TempDir::new().unwrap();
        let cfg = EmbeddedRelayConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            ..EmbeddedRelayConfig::default()
        };
        let relay = EmbeddedRelay::start(&cfg, dir.path()).await.unwrap();
        Self { relay, _dir: dir }
    }

    pub fn url(&self) -> String {
        self.relay.url().to_owned()
    }
}

impl Drop for TestRelay {
    fn drop(&mut self) {
        self.relay.shutdown();
    }
}

/// A node: discovery + its SQLite catalog (the service, as `atoll node` runs it) + its
/// data dir.
pub struct Node {
    pub name: &'static str,
    pub d: Discovery,
    pub catalog: CatalogService,
    pub dir: TempDir,
}

/// Discovery on the catalog file in `dir`, through the node's adapter.
async fn start_discovery(cfg: DiscoveryConfig, dir: &Path) -> (Discovery, CatalogService) {
    let catalog = CatalogService::open(dir.join("catalog.db")).unwrap();
    let port = Arc::new(SwarmCatalog::new(catalog.clone()));
    (Discovery::start(cfg, port).await.unwrap(), catalog)
}

impl Node {
    pub async fn start(name: &'static str, relays: Vec<String>) -> Self {
        Self::start_with(name, relays, |_| {}).await
    }

    /// A node whose catalog file `prepare` may write before the node starts.
    pub async fn start_prepared(
        name: &'static str,
        relays: Vec<String>,
        prepare: impl FnOnce(&Path),
    ) -> Self {
        let dir = TempDir::new().unwrap();
        prepare(&dir.path().join("catalog.db"));
        Self::start_in(name, dir, relays, |_| {}).await
    }

    pub async fn start_with(
        name: &'static str,
        relays: Vec<String>,
        tweak: impl FnOnce(&mut DiscoveryConfig),
    ) -> Self {
        Self::start_in(name, TempDir::new().unwrap(), relays, tweak).await
    }

    async fn start_in(
        name: &'static str,
        dir: TempDir,
        relays: Vec<String>,
        tweak: impl FnOnce(&mut DiscoveryConfig),
    ) -> Self {
        let mut cfg = DiscoveryConfig::test(dir.path().join("data"), relays);
        tweak(&mut cfg);
        let (d, catalog) = start_discovery(cfg, dir.path()).await;
        Self {
            name,
            d,
            catalog,
            dir,
        }
    }

    /// Stop and start again on the same data dir and catalog file.
    pub async fn restart(self, relays: Vec<String>) -> Self {
        self.restart_with(relays, |_| {}).await
    }

    /// [`Node::restart`] with `tweak` applied to the configuration.
    pub async fn restart_with(
        self,
        relays: Vec<String>,
        tweak: impl FnOnce(&mut DiscoveryConfig),
    ) -> Self {
        let Node {
            name,
            d,
            catalog,
            dir,
        } = self;
        d.shutdown().await;
        drop(d);
        drop(catalog);
        let mut cfg = DiscoveryConfig::test(dir.path().join("data"), relays);
        tweak(&mut cfg);
        let (d, catalog) = start_discovery(cfg, dir.path()).await;
        Self {
            name,
            d,
            catalog,
            dir,
        }
    }

    /// The catalog's view of `app` and its head entry, if it has one.
    async fn head_view(
        &self,
        app: &AppRef,
    ) -> Option<(atoll_catalog::AppView, atoll_catalog::EntryRecord)> {
        let app = app.clone();
        let view = self.catalog.read(move |c| c.app(&app)).await.unwrap()?;
        let head = view
            .entries
            .iter()
            .find(|e| e.status == atoll_catalog::EntryStatus::Head)?
            .clone();
        Some((view, head))
    }

    /// Was the head of `app` seen from the publisher's own (bound) Nostr key?
    pub async fn head_from_origin(&self, app: &AppRef) -> bool {
        self.head_view(app)
            .await
            .is_some_and(|(_, e)| e.from_origin)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// (sequence, payload id, manifest attached) of an app's head.
    pub async fn head(&self, app: &AppRef) -> Option<(u64, Hash, bool)> {
        let (view, e) = self.head_view(app).await?;
        Some((e.sequence, e.payload_id, view.manifest_attached))
    }

    /// True if the store holds every blob, complete and verified.
    pub async fn holds(&self, blobs: &[(Hash, u64)]) -> bool {
        for (h, size) in blobs {
            if self.d.blobs().complete_size(h).await.unwrap() != Some(*size) {
                return false;
            }
        }
        true
    }

    pub async fn audit_codes(&self) -> Vec<String> {
        self.catalog
            .read(|c| c.audit_log(1000))
            .await
            .unwrap()
            .into_iter()
            .map(|r| {
                r.reason
                    .strip_prefix('[')
                    .and_then(|s| s.split_once(']'))
                    .map(|(code, _)| code.to_owned())
                    .unwrap_or_else(|| r.kind.as_str().to_owned())
            })
            .collect()
    }

    /// Audit rows about `subject`.
    pub async fn audit_rows_about(&self, subject: &str) -> usize {
        self.catalog
            .read(|c| c.audit_log(100_000))
            .await
            .unwrap()
            .iter()
            .filter(|r| r.subject.as_deref() == Some(subject))
            .count()
    }

    /// Rows in the audit log.
    pub async fn audit_len(&self) -> u64 {
        self.catalog.read(|c| c.audit_len()).await.unwrap()
    }

    pub async fn stop(self) {
        self.d.shutdown().await;
    }
}

/// A raw WebSocket client, to speak NIP-01 frames by hand.
pub type RawWs =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn raw_ws(url: &str) -> RawWs {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// Send one text frame.
pub async fn send_text(ws: &mut RawWs, text: String) {
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(text.into()))
        .await
        .unwrap();
}

/// The next text frame, parsed as JSON (`None` if the connection closed first).
pub async fn next_json(ws: &mut RawWs) -> Option<serde_json::Value> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let next = tokio::time::timeout(DEADLINE, ws.next())
            .await
            .expect("timed out waiting for a relay frame");
        match next {
            Some(Ok(Message::Text(t))) => return Some(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

/// Publish raw event JSON on a relay and wait for its `OK`; returns (accepted, message).
pub async fn publish_raw(url: &str, event: &serde_json::Value) -> (bool, String) {
    let mut ws = raw_ws(url).await;
    send_text(&mut ws, serde_json::json!(["EVENT", event]).to_string()).await;
    loop {
        let msg = next_json(&mut ws).await.expect("relay closed before OK");
        if msg[0] == "OK" {
            return (
                msg[2].as_bool().unwrap(),
                msg[3].as_str().unwrap_or("").to_owned(),
            );
        }
    }
}

/// A publisher: a key and its node.
pub struct Publisher {
    pub key: Keypair,
    pub node: Node,
}

impl Publisher {
    pub async fn start(seed: u8, relays: Vec<String>) -> Self {
        Self {
            key: Keypair::from_seed([seed; 32]),
            node: Node::start("publisher", relays).await,
        }
    }

    pub async fn publish(&self, app_dir: &Path) -> publish::Published {
        publish::publish_app(
            &self.node.d,
            &self.node.data_dir(),
            app_dir,
            &self.key,
            "tester",
            &Default::default(),
        )
        .await
        .unwrap()
    }
}

/// A generated app: manifest, icon and a pseudo-random "image archive" of `image_len`
/// bytes (the manifest policy does not look inside archives).
pub fn make_app(root: &Path, id: &str, version: &str, image_len: usize) -> PathBuf {
    let dir = root.join(id);
    std::fs::create_dir_all(dir.join("images")).unwrap();
    std::fs::write(
        dir.join("manifest.yml"),
        format!(
            "id: {id}\nname: Test {id}\nversion: {version}\ndescription: a generated test app\n\
             icon: icon.svg\ncategories: [test]\nlicense: MIT\ncontainers:\n  - name: web\n    \
             image:\n      archive: images/web.oci.tar\n    command: [\"httpd\", \"-f\"]\n    \
             ports: [ {{ container: 8080, host: 18080, protocol: tcp, web: true }} ]\n    \
             capabilities: []\n    memory: 32Mi\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("icon.svg"),
        format!("<svg xmlns=\"http://www.w3.org/2000/svg\"><title>{id} {version}</title></svg>"),
    )
    .unwrap();
    let mut bytes = Vec::with_capacity(image_len);
    let mut x = blake3::hash(format!("{id}{version}").as_bytes());
    while bytes.len() < image_len {
        bytes.extend_from_slice(x.as_bytes());
        x = blake3::hash(x.as_bytes());
    }
    bytes.truncate(image_len);
    std::fs::write(dir.join("images/web.oci.tar"), bytes).unwrap();
    dir
}

/// The blobs (hash, size) of a published entry, from its bundle.
pub fn blobs_of(p: &publish::Published) -> Vec<(Hash, u64)> {
    let bytes = std::fs::read(p.bundle.join("entry.json")).unwrap();
    let entry = atoll_registry::Envelope::from_slice(&bytes)
        .unwrap()
        .verify::<atoll_registry::Entry>()
        .unwrap();
    std::iter::once((entry.manifest.hash, entry.manifest.size))
        .chain(entry.artifacts.iter().map(|a| (a.blob.hash, a.blob.size)))
        .collect()
}

/// Poll `check` every 50 ms until it holds or [`DEADLINE`] passes.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
