//! The throwaway node and its surroundings: the node under attack (the real discovery
//! stack — relay pool, pipeline, iroh endpoint and blob store — over the real SQLite
//! catalog, through the node's own catalog adapter), an honest relay and an honest
//! publisher node (the origin), and the hostile peers. Everything lives in one temporary
//! directory and binds 127.0.0.1:0; [`Lab::shutdown`] stops it all and the directory is
//! removed when the lab drops.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use atoll_catalog::{AppView, CatalogService};
use atoll_discovery::codec::{self, Object};
use atoll_discovery::relay::EmbeddedRelay;
use atoll_discovery::{publish, CounterSnapshot, Discovery, DiscoveryConfig, EmbeddedRelayConfig};
use atoll_registry::bundle::{self, SignOptions};
use atoll_registry::objects::Origin;
use atoll_registry::{AppRef, Entry, Envelope, Hash, Keypair, Verified};
use base64::Engine;
use nostr_sdk::{Event, EventBuilder, JsonUtil, Keys, Kind, Tag, Timestamp};
use tempfile::TempDir;

use super::guard::Api;
use super::origin::HostileOrigin;
use super::relay::HostileRelay;
use super::verdict::Observation;
use crate::node::catalog_port::SwarmCatalog;

/// The longest any one wait of an attack may take: a bound, not a threshold (the
/// pipeline normally answers in well under a second).
pub const BOUND: Duration = Duration::from_secs(30);

/// How long a silent source is given before the node leaves it, in the throwaway node
/// (the node's default is 20 s; shorter here so that the suite runs in seconds).
pub const STALL: Duration = Duration::from_secs(2);

/// Discovery over a catalog file, in one directory.
pub struct Peer {
    /// The discovery node.
    pub d: Discovery,
    /// Its catalog.
    pub catalog: CatalogService,
    /// Its discovery data dir.
    pub data: PathBuf,
    catalog_path: PathBuf,
}

impl Peer {
    async fn start(dir: &Path, mut cfg: DiscoveryConfig) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let catalog_path = dir.join("catalog.db");
        let catalog = {
            let path = catalog_path.clone();
            tokio::task::spawn_blocking(move || CatalogService::open(&path))
                .await
                .context("opening a catalog")?
                .context("opening a catalog")?
        };
        cfg.data_dir = dir.join("data");
        let data = cfg.data_dir.clone();
        let port = Arc::new(SwarmCatalog::new(catalog.clone()));
        let d = Discovery::start(cfg, port)
            .await
            .context("starting discovery")?;
        Ok(Self {
            d,
            catalog,
            data,
            catalog_path,
        })
    }
}

/// A release the honest publisher made: the verified entry, its blobs, its bundle.
#[derive(Debug, Clone)]
pub struct Release {
    /// `<did>/<app>`.
    pub app: AppRef,
    /// The signed entry.
    pub entry: Verified<Entry>,
    /// Its blobs (manifest first) as (hash, size).
    pub blobs: Vec<(Hash, u64)>,
}

/// What the node under attack has stored: every row an attack could leave behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored(BTreeSet<String>);

impl Stored {
    /// What `self` holds that `before` did not, less what `allowed` names.
    pub fn added_since(&self, before: &Stored, allowed: &[String]) -> Vec<String> {
        self.0
            .difference(&before.0)
            .filter(|s| !allowed.iter().any(|a| a == *s))
            .cloned()
            .collect()
    }
}

/// The node's counters and rows when an attack began.
pub struct Baseline {
    counters: CounterSnapshot,
    stored: Stored,
}

impl Baseline {
    /// Refusals recorded since, by code.
    fn since(&self, now: &CounterSnapshot) -> BTreeMap<String, u64> {
        now.rejected
            .iter()
            .filter_map(|(code, n)| {
                let d = n.saturating_sub(self.counters.rejected(code));
                (d > 0).then(|| (code.clone(), d))
            })
            .collect()
    }
}

/// The throwaway node, its honest surroundings and its hostile peers.
pub struct Lab {
    /// The node under attack.
    pub victim: Peer,
    /// The honest publisher's node (origin of its blobs).
    pub publisher: Peer,
    /// The honest publisher's key.
    pub key: Keypair,
    /// The relay that serves what attacks give it.
    pub hostile: HostileRelay,
    /// The HTTPS origin attacks script.
    pub origin: HostileOrigin,
    /// The node's HTTP API (its install checks), in front of the node under attack.
    pub api: Api,
    honest: EmbeddedRelay,
    apps: PathBuf,
    next: AtomicU32,
    // Last: removed after everything above has stopped.
    dir: TempDir,
}

impl Lab {
    /// Start everything in a fresh temporary directory.
    pub async fn start() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("atoll-conformance-")
            .tempdir()
            .context("creating the throwaway node's directory")?;
        let relay_cfg = EmbeddedRelayConfig {
            bind: ([127, 0, 0, 1], 0).into(),
            ..EmbeddedRelayConfig::default()
        };
        let honest = EmbeddedRelay::start(&relay_cfg, &dir.path().join("relay"))
            .await
            .context("starting the honest relay")?;
        let hostile = HostileRelay::start()
            .await
            .context("starting the hostile relay")?;
        let origin = HostileOrigin::start().await?;
        let publisher = Peer::start(
            &dir.path().join("publisher"),
            lab_config(vec![honest.url().to_owned()]),
        )
        .await
        .context("the honest publisher's node")?;
        let mut cfg = lab_config(vec![honest.url().to_owned(), hostile.url().to_owned()]);
        cfg.https_roots = Some(origin.roots());
        let victim = Peer::start(&dir.path().join("node"), cfg)
            .await
            .context("the throwaway node")?;
        let api = Api::start(&victim, dir.path().join("node").join("uploads")).await?;
        let apps = dir.path().join("apps");
        Ok(Self {
            api,
            victim,
            publisher,
            key: Keypair::generate().context("making the publisher key")?,
            hostile,
            origin,
            honest,
            apps,
            next: AtomicU32::new(0),
            dir,
        })
    }

    /// Stop every node and peer (the directory goes when the lab drops).
    pub async fn shutdown(self) {
        self.api.shutdown().await;
        self.victim.d.shutdown().await;
        self.publisher.d.shutdown().await;
        self.honest.shutdown();
        drop(self.hostile);
        drop(self.origin);
        drop(self.dir);
    }

    /// A fresh app id with `stem` in it (attacks never share apps).
    pub fn app_id(&self, stem: &str) -> String {
        format!("{stem}-{}", self.next.fetch_add(1, Ordering::SeqCst))
    }

    /// Generate an app directory: manifest, icon and a pseudo-random image archive.
    pub fn make_app(&self, id: &str, version: &str) -> Result<PathBuf> {
        make_app(&self.apps.join(format!("{id}-{version}")), id, version)
    }

    /// The honest publisher publishes `id` at `version` (its node is the origin; the
    /// honest relay carries it).
    pub async fn publish(&self, id: &str, version: &str) -> Result<Release> {
        self.publish_as(&self.key, id, version).await
    }

    /// [`Lab::publish`] by another identity (or another key of one), from the same node.
    pub async fn publish_as(&self, key: &Keypair, id: &str, version: &str) -> Result<Release> {
        let dir = self.make_app(id, version)?;
        let published = publish::publish_app(
            &self.publisher.d,
            &self.publisher.data,
            &dir,
            key,
            "conformance",
            &Default::default(),
        )
        .await
        .with_context(|| format!("publishing {id} {version}"))?;
        let bytes = std::fs::read(published.bundle.join(bundle::ENTRY_FILE))
            .context("reading the published entry")?;
        // Signed by the identity's current key, which may be a rotated one.
        let entry = Envelope::from_slice(&bytes)?.verify_rotated::<Entry>()?;
        Ok(release_of(entry))
    }

    /// Sign `id` at `version` with `key` and an explicit origin, without announcing it.
    pub fn sign(
        &self,
        key: &Keypair,
        id: &str,
        version: &str,
        opts: SignOptions,
    ) -> Result<Release> {
        let dir = self.make_app(id, version)?;
        let out = self.apps.join(format!("{id}-{version}-bundle"));
        let signed = bundle::sign_app(&dir, key, &out, &opts)
            .with_context(|| format!("signing {id} {version}"))?;
        Ok(release_of(signed.entry))
    }

    /// The bytes of a blob of a release signed with [`Lab::sign`] or published.
    pub fn blob_bytes(&self, id: &str, version: &str, hash: &Hash) -> Result<Vec<u8>> {
        for out in [
            self.apps.join(format!("{id}-{version}-bundle")),
            publish::bundle_dir(&self.publisher.data, id),
        ] {
            let path = out.join(hash.to_hex());
            if path.exists() {
                return std::fs::read(&path).with_context(|| format!("reading {}", path.display()));
            }
        }
        anyhow::bail!("blob {hash} of {id} {version} is in no bundle")
    }

    /// Wait until the node under attack has `release` as head, manifest attached, and
    /// holds all its blobs.
    pub async fn synced(&self, release: &Release) -> bool {
        let want = release.entry.payload_id();
        self.wait(|| async {
            let head = self.view(&release.app).await.is_some_and(|v| {
                v.manifest_attached
                    && v.entries.iter().any(|e| {
                        e.payload_id == want && e.status == atoll_catalog::EntryStatus::Head
                    })
            });
            let mut all = head;
            for (hash, _) in &release.blobs {
                all = all && self.holds(hash).await;
            }
            all
        })
        .await
    }

    /// Poll `check` every 50 ms until it holds (true) or [`BOUND`] passes (false).
    pub async fn wait<F, Fut>(&self, mut check: F) -> bool
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + BOUND;
        loop {
            if check().await {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The node's view of an app (`None`: it has no such app).
    pub async fn view(&self, app: &AppRef) -> Option<AppView> {
        let app = app.clone();
        self.victim
            .catalog
            .read(move |c| c.app(&app))
            .await
            .ok()
            .flatten()
    }

    /// The payload id of the node's head entry of `app`.
    pub async fn head(&self, app: &AppRef) -> Option<Hash> {
        let view = self.view(app).await?;
        view.entries
            .iter()
            .find(|e| e.status == atoll_catalog::EntryStatus::Head)
            .map(|e| e.payload_id)
    }

    /// Wait until `code` was recorded `n` times since `base` (true), or give up.
    pub async fn refused_n(&self, base: &Baseline, code: &str, n: u64) -> bool {
        self.wait(|| async {
            base.since(&self.victim.d.counters())
                .get(code)
                .is_some_and(|c| *c >= n)
        })
        .await
    }

    /// Does the node's blob store hold `hash` (complete or partial)?
    pub async fn holds(&self, hash: &Hash) -> bool {
        !matches!(self.victim.d.blobs().complete_size(hash).await, Ok(None))
    }

    /// Serve `event` on the hostile relay.
    pub fn serve(&self, event: &Event) {
        self.hostile.serve(event.as_json());
    }

    /// Begin an attack: the node's counters and stored rows now.
    pub fn begin(&self) -> Result<Baseline> {
        Ok(Baseline {
            counters: self.victim.d.counters(),
            stored: self.stored()?,
        })
    }

    /// Wait until the node has recorded `code` at least once since `base`.
    pub async fn refused(&self, base: &Baseline, code: &str) -> bool {
        self.wait(|| async { base.since(&self.victim.d.counters()).contains_key(code) })
            .await
    }

    /// [`Lab::finish`] for an attack after which `rel`'s genuine entry stays listed
    /// without its manifest (kept by design, `why`): the origin goes quiet (404) first, so
    /// its retries stop counting.
    pub async fn finish_without_manifest(
        &self,
        base: &Baseline,
        obs: &mut Observation,
        rel: &Release,
        why: &str,
    ) -> Result<()> {
        for (hash, _) in &rel.blobs {
            self.origin.forget(hash);
        }
        obs.keeping(why);
        let allowed: Vec<String> = rows_of(rel)
            .into_iter()
            .filter(|r| !r.starts_with("manifest "))
            .collect();
        self.finish(base, obs, &[], &allowed).await
    }

    /// End an attack: what the node recorded since `base`, and what it stored since: rows
    /// in `legit` belong to the honest side of the scenario (an update that had to get
    /// through); rows in `by_design` are the attack's and stay on purpose (a genuine entry
    /// kept stale or as evidence), shown as kept; anything else is a leftover. Labels as
    /// [`Lab::stored`] makes them.
    pub async fn finish(
        &self,
        base: &Baseline,
        obs: &mut Observation,
        legit: &[String],
        by_design: &[String],
    ) -> Result<()> {
        // A download still running (an image after its manifest) streams to a temporary
        // file that goes when it ends; one still there after the bound is a leftover.
        self.wait(|| async { self.temp_files().is_ok_and(|n| n == 0) })
            .await;
        obs.refused = base.since(&self.victim.d.counters());
        let added = self.stored()?.added_since(&base.stored, legit);
        let (kept, leftovers): (Vec<String>, Vec<String>) =
            added.into_iter().partition(|r| by_design.contains(r));
        obs.kept = kept;
        obs.leftovers = leftovers;
        if self.temp_files()? > 0 {
            obs.leftovers.push("a temporary download file".to_owned());
        }
        Ok(())
    }

    /// Every row of the node's catalog an attack could leave, labelled (`entry <payload
    /// id>`, `app <did>/<app>`, `publisher <did>`, `manifest <hash>`, `blob <hash>`).
    pub fn stored(&self) -> Result<Stored> {
        let conn = rusqlite::Connection::open_with_flags(
            &self.victim.catalog_path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .context("opening the throwaway catalog read-only")?;
        let mut out = BTreeSet::new();
        for (label, sql) in [
            ("entry", "SELECT lower(hex(payload_id)) FROM entries"),
            (
                "app",
                "SELECT p.did || '/' || a.app FROM apps a JOIN publishers p ON p.id = a.publisher_id",
            ),
            ("publisher", "SELECT did FROM publishers"),
            ("manifest", "SELECT lower(hex(hash)) FROM manifests"),
            ("blob", "SELECT lower(hex(hash)) FROM blobs"),
        ] {
            let mut stmt = conn.prepare(sql)?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            for row in rows {
                out.insert(format!("{label} {}", row?));
            }
        }
        Ok(Stored(out))
    }

    /// Files in the node's download directory (HTTPS bodies are streamed there).
    fn temp_files(&self) -> Result<usize> {
        match std::fs::read_dir(self.victim.data.join("tmp")) {
            Ok(dir) => Ok(dir.count()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e).context("reading the download directory"),
        }
    }
}

/// The labels [`Lab::stored`] gives the rows a (legitimate) entry brings in.
pub fn rows_of(release: &Release) -> Vec<String> {
    let mut rows = vec![
        format!("entry {}", release.entry.payload_id().to_hex()),
        format!("app {}", release.app),
        format!("publisher {}", release.app.publisher),
        format!("manifest {}", release.entry.manifest.hash.to_hex()),
    ];
    rows.extend(
        release
            .blobs
            .iter()
            .map(|(h, _)| format!("blob {}", h.to_hex())),
    );
    rows
}

/// A fresh attacker key (a brand-new DID and its Nostr key).
pub fn stranger() -> Result<Keypair> {
    Keypair::generate().context("making an attacker key")
}

/// The event of a signed object, carried by `keys`, dated now.
pub fn event_of(object: &Object, keys: &Keys) -> Result<Event> {
    Ok(codec::encode(object, keys, Some(Timestamp::now()))?)
}

/// An envelope of `entry` that names its publisher as signer but carries `thief`'s
/// signature over the payload: what someone without the publisher's key can make.
pub fn forged(entry: &Entry, thief: &Keypair) -> Result<Envelope> {
    let payload = serde_json::to_value(entry)?;
    let canonical = atoll_registry::canonical::to_canonical_bytes(&payload)?;
    let sig = thief.sign(&canonical);
    Ok(Envelope {
        payload,
        signatures: vec![atoll_registry::envelope::SignatureEntry {
            did: entry.publisher,
            sig: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig.to_bytes()),
        }],
    })
}

/// `signed`'s envelope with its payload replaced by `edited` and the signature kept: what
/// a mirror that alters a signed object hands on.
pub fn tampered(signed: &Verified<Entry>, edited: &Entry) -> Result<Envelope> {
    let mut env = Envelope::from_slice(&signed.envelope_bytes()?)?;
    env.payload = serde_json::to_value(edited)?;
    Ok(env)
}

/// The `d` tag of an entry event for `did`/`app`.
pub fn entry_d(app: &AppRef) -> String {
    format!("atoll:entry:{}:{}", app.publisher, app.app)
}

/// An event carrying `env` (any envelope) under the `d` tag `d`.
pub fn envelope_event(keys: &Keys, d: &str, env: &Envelope) -> Result<Event> {
    let content = String::from_utf8(env.to_canonical_bytes()?)?;
    raw_event(keys, d, &content)
}

/// An atoll event with any content and `d` tag, carried by `keys`.
pub fn raw_event(keys: &Keys, d: &str, content: &str) -> Result<Event> {
    Ok(EventBuilder::new(Kind::ApplicationSpecificData, content)
        .tags([Tag::identifier(d), Tag::hashtag(codec::TOPIC)])
        .custom_created_at(Timestamp::now())
        .sign_with_keys(keys)?)
}

/// `entry` signed by `key` (its publisher's current key, or any key of it).
pub fn sign_entry(entry: &Entry, key: &Keypair) -> Result<Verified<Entry>> {
    Ok(Envelope::sign(entry, key)?.verify_rotated::<Entry>()?)
}

/// Unix milliseconds now (a fresh sequence).
pub fn now_ms() -> u64 {
    atoll_discovery::now_millis()
}

/// A fresh Nostr key for carrying events.
pub fn carrier() -> Keys {
    Keys::generate()
}

/// The origin of an entry: iroh node and addresses, HTTPS bases.
pub fn origin(node: Option<(String, Vec<String>)>, https: Vec<String>) -> Origin {
    let (node_id, addrs) = match node {
        Some((id, addrs)) => (Some(id), addrs),
        None => (None, Vec::new()),
    };
    Origin {
        node_id,
        addrs,
        https,
        relays: Vec::new(),
    }
}

fn release_of(entry: Verified<Entry>) -> Release {
    let blobs = std::iter::once((entry.manifest.hash, entry.manifest.size))
        .chain(entry.artifacts.iter().map(|a| (a.blob.hash, a.blob.size)))
        .collect();
    Release {
        app: entry.app_ref(),
        entry,
        blobs,
    }
}

/// Settings of every node in the lab: no embedded relay, OS-chosen ports, short
/// deadlines (the stall timeout is [`STALL`]).
fn lab_config(relays: Vec<String>) -> DiscoveryConfig {
    let mut cfg = DiscoveryConfig::test(PathBuf::new(), relays);
    cfg.fetch.stall_timeout = STALL;
    cfg.fetch.base_deadline = Duration::from_secs(10);
    cfg
}

/// A generated app in `dir`: manifest, icon and a 20 kB pseudo-random "image archive"
/// (the manifest policy does not look inside archives).
fn make_app(dir: &Path, id: &str, version: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir.join("images"))
        .with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join("manifest.yml"),
        format!(
            "id: {id}\nname: Conformance {id}\nversion: {version}\ndescription: an app of the \
             attack suite\nicon: icon.svg\ncategories: [test]\nlicense: MIT\ncontainers:\n  - \
             name: web\n    image:\n      archive: images/web.oci.tar\n    command: [\"httpd\", \
             \"-f\"]\n    ports: [ {{ container: 8080, host: 18080, protocol: tcp, web: true }} \
             ]\n    capabilities: []\n    memory: 32Mi\n"
        ),
    )?;
    std::fs::write(
        dir.join("icon.svg"),
        format!("<svg xmlns=\"http://www.w3.org/2000/svg\"><title>{id} {version}</title></svg>"),
    )?;
    let mut bytes = Vec::with_capacity(20_000);
    let mut x = blake3::hash(format!("{id}{version}").as_bytes());
    while bytes.len() < 20_000 {
        bytes.extend_from_slice(x.as_bytes());
        x = blake3::hash(x.as_bytes());
    }
    bytes.truncate(20_000);
    std::fs::write(dir.join("images/web.oci.tar"), bytes)?;
    Ok(dir.to_owned())
}
