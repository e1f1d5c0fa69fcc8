//! `atoll app publish|yank` and `atoll sync status`: the swarm side of the CLI.
//!
//! Publishing runs a short-lived discovery node on the data dir: the blobs go into
//! `<home>/blobs` (served by `atoll node` from then on, on the fixed iroh port), the
//! events go to the embedded relay's database (`<home>/relay`, served by `atoll node`)
//! and to every `--relay` given. While `atoll node` runs, it holds those files: stop it,
//! and `app publish` goes through its API instead (`super::upload`).
//!
//! All three read the node's configuration as `atoll node` does (`--config`, else
//! `<home>/atoll.toml`, else the defaults): its relays, embedded relay port and iroh
//! address, so what they publish names the addresses the node serves from.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use atoll_discovery::publish::{self, PublishOptions, Published};
use atoll_discovery::{Discovery, DiscoveryConfig, SyncStatus};
use atoll_registry::{AppId, KeyStore};
use clap::Args;
use serde::Serialize;

use super::output::{self, plain};
use crate::node::catalog_port::SwarmCatalog;
use crate::node::config::{Found, NodeConfig};

/// Which node configuration and relays to use.
#[derive(Debug, Clone, Args)]
pub struct RelayArgs {
    /// The node's configuration file, read as `atoll node` reads it [default:
    /// <home>/atoll.toml if it exists, else the defaults]: its relays, ports and data dir.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// An external relay (`ws://` or `wss://`), besides the configured ones; repeat for more.
    #[arg(long = "relay", value_name = "URL")]
    pub relays: Vec<String>,
    /// Do not use the embedded relay's database (only the external ones).
    #[arg(long)]
    pub no_embedded: bool,
}

/// `atoll app publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// App directory holding manifest.yml.
    pub dir: PathBuf,
    /// Name of the publisher key.
    #[arg(long)]
    pub key: String,
    /// Sequence [default: now in ms, above any earlier one].
    #[arg(long)]
    pub sequence: Option<u64>,
    /// Days until the entry is shown as stale.
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u64).range(1..=3650))]
    pub ttl_days: u64,
    /// An HTTPS base that also serves the blobs as `<base>/<blake3-hex>`; repeat for more.
    #[arg(long, value_name = "URL")]
    pub https: Vec<String>,
    #[command(flatten)]
    pub relays: RelayArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `atoll app yank`.
#[derive(Debug, Args)]
pub struct YankArgs {
    /// The app id.
    pub app: AppId,
    /// Name of the publisher key.
    #[arg(long)]
    pub key: String,
    /// Why, shown to users.
    #[arg(long, default_value = "withdrawn by the publisher")]
    pub reason: String,
    #[command(flatten)]
    pub relays: RelayArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `atoll sync status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Connect to the relays and report live (counters, NIP-77 or `since`), instead of
    /// reading only what the catalog recorded.
    #[arg(long)]
    pub live: bool,
    #[command(flatten)]
    pub relays: RelayArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Sync commands.
#[derive(Debug, clap::Subcommand)]
pub enum SyncCommand {
    /// Relays, cursors, counters and the newest rejections.
    Status(StatusArgs),
}

/// The node's configuration with the command line's relays on top.
fn node_config(home: &Path, relays: &RelayArgs) -> Result<Found> {
    let mut found = NodeConfig::find(home, relays.config.as_deref())?;
    let r = &mut found.config.relays;
    if relays.no_embedded {
        r.embedded = false;
    }
    for url in &relays.relays {
        if !r.external.contains(url) {
            r.external.push(url.clone());
        }
    }
    found
        .config
        .check()
        .context("the relays to use (config and --relay / --no-embedded)")?;
    Ok(found)
}

fn config(home: &Path, relays: &RelayArgs) -> Result<DiscoveryConfig> {
    let found = node_config(home, relays)?;
    Ok(found.config.discovery(&found.data_dir))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

async fn start(home: &Path, relays: &RelayArgs) -> Result<Discovery> {
    let cfg = config(home, relays)?;
    let db = cfg.data_dir.join("catalog.db");
    let service = atoll_catalog::CatalogService::open(&db)
        .with_context(|| format!("opening {}", db.display()))?;
    Discovery::start(cfg, Arc::new(SwarmCatalog::new(service)))
        .await
        .context(
            "starting the discovery node (is `atoll node` running on this data dir? stop it first)",
        )
}

fn print_published(p: &Published, json: bool) -> Result<()> {
    if json {
        return output::json(p);
    }
    let what = if p.yanked { "yanked" } else { "published" };
    println!("{what} {} {} (sequence {})", p.app, p.version, p.sequence);
    println!("  entry event:   {}", p.entry_event);
    println!("  profile event: {}", p.profile_event);
    println!("  relays:        {}", p.relays.join(", "));
    println!("  origin node:   {}", p.origin);
    if !p.blobs.is_empty() {
        println!("  blobs:         {} in the local store", p.blobs.len());
    }
    Ok(())
}

/// `atoll app publish`.
pub fn publish(home: &Path, args: PublishArgs) -> Result<()> {
    let key = KeyStore::new(home).load(&args.key)?;
    let opts = PublishOptions {
        sequence: args.sequence,
        ttl_secs: Some(args.ttl_days * 24 * 3600),
        https: args.https.clone(),
        publisher_name: None,
    };
    runtime()?.block_on(async {
        let d = start(home, &args.relays).await?;
        let out = publish::publish_app(&d, home, &args.dir, &key, &args.key, &opts).await;
        d.shutdown().await;
        let out = out.with_context(|| format!("publishing {}", args.dir.display()))?;
        print_published(&out, args.json)
    })
}

/// `atoll app yank`.
pub fn yank(home: &Path, args: YankArgs) -> Result<()> {
    let key = KeyStore::new(home).load(&args.key)?;
    runtime()?.block_on(async {
        let d = start(home, &args.relays).await?;
        let out = publish::yank_app(&d, home, &args.app, &key, &args.key, &args.reason).await;
        d.shutdown().await;
        let out = out.with_context(|| format!("yanking {}", args.app))?;
        print_published(&out, args.json)
    })
}

/// `sync status` without `--live`: what the catalog recorded, for the relays the node's
/// configuration names.
#[derive(Serialize)]
struct OfflineStatus {
    /// The node key's id (hex), if the node ever started.
    node_id: Option<String>,
    /// The config file read (`None`: the defaults).
    config: Option<PathBuf>,
    relays: Vec<RelayCursor>,
    rejections: Vec<atoll_catalog::AuditRecord>,
}

#[derive(Serialize)]
struct RelayCursor {
    /// The relay's URL; `None` for an embedded relay on a port picked at each start.
    url: Option<String>,
    embedded: bool,
    /// Unix seconds up to which the relay was read, if recorded.
    cursor: Option<u64>,
}

/// Run a sync command.
pub fn run(home: &Path, cmd: SyncCommand) -> Result<()> {
    match cmd {
        SyncCommand::Status(args) => {
            let home = crate::home::existing(home)?;
            if args.live {
                live_status(home, &args)
            } else {
                offline_status(home, &args)
            }
        }
    }
}

fn live_status(home: &Path, args: &StatusArgs) -> Result<()> {
    runtime()?.block_on(async {
        let d = start(home, &args.relays).await?;
        d.relays().wait_synced(Duration::from_secs(15)).await;
        let status = d.status().await;
        d.shutdown().await;
        if args.json {
            return output::json(&status);
        }
        print_status(&status);
        Ok(())
    })
}

fn print_status(s: &SyncStatus) {
    println!("node {} on {}", s.node_id, s.blob_addrs.join(", "));
    for r in &s.relays {
        let mode = serde_json::to_value(r.mode)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        println!(
            "  relay {}  {}  mode {mode}  cursor {}  events {}  bytes in {}{}",
            plain(&r.url, 200),
            if r.connected { "connected" } else { "offline" },
            r.cursor.map_or("-".into(), |c| c.to_string()),
            r.events,
            r.bytes_received,
            r.last_error
                .as_deref()
                .map_or(String::new(), |e| format!("  ({})", plain(e, 200)))
        );
        if let Some(bad) = r.cursor_reset_from {
            println!("    cursor was {bad}, ahead of the clock: reset for a full catch-up");
        }
    }
    let c = &s.counters;
    println!(
        "  events {}  stored {}  accepted {}  duplicates {}  blobs {} ({} bytes)",
        c.events_seen,
        c.objects_stored,
        c.entries_accepted,
        c.duplicates,
        c.blobs_fetched,
        c.blob_bytes_fetched
    );
    for (code, n) in &c.rejected {
        println!("  rejected {code}: {n}");
    }
    for r in s.recent_rejections.iter().rev().take(10) {
        println!("  - {}", plain(&r.to_string(), 300));
    }
}

/// The iroh node id of the home's node (hex), if it ever started.
pub(super) fn home_node_id(home: &Path, relays: &RelayArgs) -> Option<String> {
    let found = node_config(home, relays).ok()?;
    node_id_of(&found.data_dir)
}

fn node_id_of(data: &Path) -> Option<String> {
    std::fs::read_to_string(data.join(atoll_discovery::identity::NODE_KEY_FILE))
        .ok()
        .and_then(|seed| {
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(seed.trim(), &mut bytes).ok()?;
            Some(hex::encode(
                atoll_discovery::identity::NodeKey::from_seed(bytes)
                    .did()
                    .public_bytes(),
            ))
        })
}

fn offline_status(home: &Path, args: &StatusArgs) -> Result<()> {
    let found = node_config(home, &args.relays)?;
    let data = &found.data_dir;
    let catalog = super::catalog::open_existing(data)?;
    let node_id = node_id_of(data);
    let r = &found.config.relays;
    let mut relays = Vec::new();
    if r.embedded {
        let url = (r.embedded_port != 0).then(|| format!("ws://127.0.0.1:{}", r.embedded_port));
        relays.push((url, true));
    }
    relays.extend(r.external.iter().map(|u| (Some(u.clone()), false)));
    let relays = relays
        .into_iter()
        .map(|(url, embedded)| {
            let cursor = url.clone().and_then(|u| {
                catalog
                    .read_blocking(move |c| c.sync_cursor(&u))
                    .ok()
                    .flatten()
            });
            RelayCursor {
                url,
                embedded,
                cursor,
            }
        })
        .collect();
    let status = OfflineStatus {
        node_id,
        config: found.file.clone(),
        relays,
        rejections: catalog.read_blocking(|c| c.audit_log(20))?,
    };
    if args.json {
        return output::json(&status);
    }
    println!(
        "node {}",
        status.node_id.as_deref().unwrap_or("(no node key yet)")
    );
    println!(
        "config {}",
        status.config.as_ref().map_or_else(
            || format!(
                "(none: the defaults; no {})",
                home.join(crate::node::config::HOME_CONFIG).display()
            ),
            |p| p.display().to_string()
        )
    );
    for r in &status.relays {
        let url = r.url.as_deref().map_or_else(
            || "embedded relay (port picked at each start; see --live)".to_owned(),
            |u| plain(u, 200),
        );
        println!(
            "  relay {url}{}  cursor {}",
            if r.embedded && r.url.is_some() {
                " (embedded)"
            } else {
                ""
            },
            r.cursor
                .map_or_else(|| "none yet".to_owned(), |c| c.to_string())
        );
    }
    if status.rejections.is_empty() {
        println!("no rejected input recorded");
    } else {
        println!("newest rejections:");
    }
    for r in &status.rejections {
        println!(
            "  - [{}] {}{}",
            plain(r.kind.as_str(), 40),
            plain(&r.reason, 300),
            r.subject
                .as_deref()
                .map_or(String::new(), |s| format!(" (about {})", plain(s, 120)))
        );
    }
    println!("(run with --live to connect and report counters and sync modes)");
    Ok(())
}
