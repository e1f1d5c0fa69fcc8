//! `atoll app publish|yank` and `atoll sync status`: the swarm side of the CLI.
//!
//! Publishing runs a short-lived discovery node on the data dir: the blobs go into
//! `<home>/blobs` (served by `atoll node` from then on, on the fixed iroh port), the
//! events go to the embedded relay's database (`<home>/relay`, served by `atoll node`)
//! and to every `--relay` given. While `atoll node` runs, it holds those files: stop it,
//! and `app publish` goes through its API instead (`super::upload`).
//!
//! All three read the node's configuration as `atoll node` does (`--config`, else
//! `<home>/atoll.toml`, else the defaults): its relays (with the operator's runtime
//! choices, `atoll sync relay`, on top), embedded relay port and iroh address, so what
//! they publish names the addresses the node serves from.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use atoll_discovery::publish::{self, PublishOptions, Published};
use atoll_discovery::{Discovery, DiscoveryConfig};
use atoll_registry::{AppId, KeyStore};
use clap::Args;
use serde::Serialize;
use serde_json::Value;

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
    /// A relay (`ws://` or `wss://`) the signed publisher profile names as this
    /// publisher's outbox, where nodes that trust it also read; repeat for more (at most
    /// 8) [default: the relays published to that other hosts can reach, i.e. not
    /// loopback].
    #[arg(long = "outbox-relay", value_name = "URL")]
    pub outbox_relays: Vec<String>,
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
    /// Add, remove and list the node's Nostr relays (persisted; at once on a running node).
    Relay(super::relay::RelayCommandArgs),
    /// The running node's audit log: refused input and install/update guard overrides
    /// (who, which app and version, which guard, the note).
    Audit(AuditArgs),
}

/// `atoll sync audit`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Only rows of this kind (`override`, `rollback`, `equivocation`, `bad-signature`, ...).
    #[arg(long, value_parser = parse_kind)]
    pub kind: Option<atoll_catalog::AuditKind>,
    /// Newest rows shown (1 to 1000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_kind(s: &str) -> Result<atoll_catalog::AuditKind, String> {
    atoll_catalog::AuditKind::from_stored(s).map_err(|_| {
        let all: Vec<_> = atoll_catalog::AuditKind::ALL
            .iter()
            .map(|k| k.as_str())
            .collect();
        format!("not one of {}", all.join(", "))
    })
}

fn audit(home: &Path, node: &super::client::NodeAddr, args: &AuditArgs) -> Result<()> {
    let c = super::client::NodeClient::new(home, node)?;
    let mut path = format!("/audit?limit={}", args.limit);
    if let Some(k) = args.kind {
        // A known kind name: plain ASCII, nothing to escape in a query string.
        path.push_str("&kind=");
        path.push_str(k.as_str());
    }
    let rows = c.get(&path)?;
    if args.json {
        return output::json(&rows);
    }
    let rows = rows.as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        println!("the audit log has no such rows");
    }
    for r in rows {
        println!(
            "{:<6} {:<12} {:<14} {:<28} {}",
            r["id"],
            r["at"],
            r["kind"].as_str().unwrap_or("?"),
            r["source"].as_str().unwrap_or("-"),
            r["reason"].as_str().unwrap_or("")
        );
    }
    Ok(())
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

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub(crate) async fn start(home: &Path, relays: &RelayArgs) -> Result<Discovery> {
    let mut cfg = config(home, relays)?;
    let db = cfg.data_dir.join("catalog.db");
    let service = atoll_catalog::CatalogService::open(&db)
        .with_context(|| format!("opening {}", db.display()))?;
    // The relays the node would use: its runtime choices on top of the config, and every
    // `--relay` given here whatever they say.
    let choices = service
        .read(|c| c.relay_choices())
        .await
        .context("reading the relays chosen at runtime")?;
    crate::node::relays::startup(&mut cfg, &choices);
    for url in &relays.relays {
        if !cfg.relays.contains(url) {
            cfg.relays.push(url.clone());
        }
    }
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
    let outbox = outbox_list(&args.outbox_relays)?;
    let opts = PublishOptions {
        sequence: args.sequence,
        ttl_secs: Some(args.ttl_days * 24 * 3600),
        https: args.https.clone(),
        publisher_name: None,
        outbox,
    };
    runtime()?.block_on(async {
        let d = start(home, &args.relays).await?;
        let out = publish::publish_app(&d, home, &args.dir, &key, &args.key, &opts).await;
        d.shutdown().await;
        let out = out.with_context(|| format!("publishing {}", args.dir.display()))?;
        print_published(&out, args.json)
    })
}

/// The `--outbox-relay` list, checked as the profile will be (`None`: not given).
pub(super) fn outbox_list(urls: &[String]) -> Result<Option<Vec<String>>> {
    use atoll_registry::relay_url::{check_relay_url, MAX_PROFILE_RELAYS};
    if urls.is_empty() {
        return Ok(None);
    }
    anyhow::ensure!(
        urls.len() <= MAX_PROFILE_RELAYS,
        "--outbox-relay: at most {MAX_PROFILE_RELAYS}, {} given",
        urls.len()
    );
    let mut out: Vec<String> = Vec::new();
    for u in urls {
        check_relay_url(u).map_err(|e| anyhow::anyhow!("--outbox-relay {}: {e}", plain(u, 100)))?;
        if !out.contains(u) {
            out.push(u.clone());
        }
    }
    Ok(Some(out))
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
    /// The iroh endpoint as configured (its relays' state needs `--live`).
    iroh: OfflineIroh,
    rejections: Vec<atoll_catalog::AuditRecord>,
}

#[derive(Serialize)]
struct OfflineIroh {
    bind: String,
    /// `[iroh] advertise` (empty: the bound socket is named).
    advertise: Vec<String>,
    relays: Vec<String>,
    internet: bool,
}

#[derive(Serialize)]
struct RelayCursor {
    /// The relay's URL; `None` for an embedded relay on a port picked at each start.
    url: Option<String>,
    embedded: bool,
    /// Why the node uses it: `embedded`, `config`, `operator`, `outbox of <did> (why)`.
    reason: String,
    /// `enabled`, or `disabled` by the operator.
    state: &'static str,
    /// Unix seconds up to which the relay was read, if recorded.
    cursor: Option<u64>,
}

/// Run a sync command.
pub fn run(home: &Path, node: &super::client::NodeAddr, cmd: SyncCommand) -> Result<()> {
    match cmd {
        SyncCommand::Relay(args) => super::relay::run(home, node, args),
        SyncCommand::Audit(args) => audit(home, node, &args),
        SyncCommand::Status(args) => {
            let home = crate::home::existing(home)?;
            if !args.live {
                return offline_status(home, &args);
            }
            // The home's node, when it runs, holds the relay port and the blob store: ask it
            // (the one --node names, else the home's own, recognised by its node id).
            match super::upload::running_node(home, node, &args.relays)? {
                Some((c, _)) => running_status(&c.get("/network")?, &args),
                None => live_status(home, &args),
            }
        }
    }
}

fn live_status(home: &Path, args: &StatusArgs) -> Result<()> {
    runtime()?.block_on(async {
        let d = start(home, &args.relays).await?;
        d.relays().wait_synced(Duration::from_secs(15)).await;
        if !d.blobs().relay_urls().is_empty() {
            // Say whether the home relay connects, not only that it has not yet.
            let _ = tokio::time::timeout(Duration::from_secs(10), d.blobs().home_relay_connected())
                .await;
        }
        let status = crate::node::swarm::status_json(&d.status().await);
        d.shutdown().await;
        if args.json {
            return output::json(&status);
        }
        print_status(&status);
        Ok(())
    })
}

/// `sync status --live` while the node runs: its own live state, from its API.
fn running_status(net: &Value, args: &StatusArgs) -> Result<()> {
    let status = &net["sync_status"];
    if !status.is_object() {
        anyhow::bail!(
            "the running node does not report its sync status (an older atoll?): stop it to \
             use --live on its data dir, or use `atoll sync status` without --live"
        );
    }
    if args.json {
        return output::json(status);
    }
    println!("(live, from the running node)");
    print_status(status);
    Ok(())
}

/// Print a status as [`crate::node::swarm::status_json`] gives it.
fn print_status(s: &Value) {
    let text = |v: &Value, max: usize| plain(v.as_str().unwrap_or(""), max);
    let num = |v: &Value| v.as_u64().map_or("-".to_owned(), |n| n.to_string());
    let list = |v: &Value| {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    println!(
        "node {} on {}",
        text(&s["node_id"], 100),
        list(&s["blob_addrs"])
    );
    print_iroh(&s["iroh"]);
    for r in s["relays"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        println!(
            "  relay {}  [{}]  {}  mode {}  cursor {}  events {}  bytes in {}{}",
            text(&r["url"], 200),
            text(&r["source_text"], 400),
            if r["connected"] == true {
                "connected"
            } else {
                "offline"
            },
            text(&r["mode"], 40),
            num(&r["cursor"]),
            num(&r["events"]),
            num(&r["bytes_received"]),
            r["last_error"]
                .as_str()
                .map_or(String::new(), |e| format!("  ({})", plain(e, 200)))
        );
        if let Some(bad) = r["cursor_reset_from"].as_u64() {
            println!("    cursor was {bad}, ahead of the clock: reset for a full catch-up");
        }
    }
    let c = &s["counters"];
    println!(
        "  events {}  stored {}  accepted {}  duplicates {}  blobs {} ({} bytes)",
        num(&c["events_seen"]),
        num(&c["objects_stored"]),
        num(&c["entries_accepted"]),
        num(&c["duplicates"]),
        num(&c["blobs_fetched"]),
        num(&c["blob_bytes_fetched"])
    );
    if let Some(rejected) = c["rejected"].as_object() {
        for (code, n) in rejected {
            println!("  rejected {}: {}", plain(code, 80), num(n));
        }
    }
    let recent = s["recent_rejections"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for r in recent.iter().rev().take(10) {
        println!("  - {}", text(&r["text"], 300));
    }
}

fn print_iroh(i: &Value) {
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(|s| plain(s, 200)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let advertised = strs(&i["advertised"]);
    println!(
        "  iroh bound {}  advertised {}{}",
        strs(&i["bound"]).join(", "),
        if advertised.is_empty() {
            "(none)".to_owned()
        } else {
            advertised.join(", ")
        },
        if i["internet"] == true {
            "  internet (n0 address lookup)"
        } else {
            ""
        }
    );
    let homes = i["home_relays"].as_array().cloned().unwrap_or_default();
    for url in strs(&i["relays"]) {
        let home = homes
            .iter()
            .find(|h| h["url"].as_str().map(|u| plain(u, 200)) == Some(url.clone()));
        println!(
            "  iroh relay {url}  {}",
            match home {
                Some(h) if h["connected"] == true => "home relay, connected".to_owned(),
                Some(h) => format!(
                    "home relay, not connected{}",
                    h["last_error"]
                        .as_str()
                        .map_or(String::new(), |e| format!(" ({})", plain(e, 200)))
                ),
                None if homes.is_empty() => {
                    "not connected (no home relay: unreachable, or not chosen yet)".to_owned()
                }
                None => "not the home relay".to_owned(),
            }
        );
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
        let url = r.embedded_url();
        relays.push((url, true, "embedded".to_owned(), "enabled"));
    }
    for p in super::relay::persisted(&found, &catalog)? {
        relays.push((Some(p.url), false, p.reason, p.state));
    }
    let relays = relays
        .into_iter()
        .map(|(url, embedded, reason, state)| {
            let cursor = url.clone().and_then(|u| {
                catalog
                    .read_blocking(move |c| c.sync_cursor(&u))
                    .ok()
                    .flatten()
            });
            RelayCursor {
                url,
                embedded,
                reason,
                state,
                cursor,
            }
        })
        .collect();
    let status = OfflineStatus {
        node_id,
        config: found.file.clone(),
        relays,
        iroh: OfflineIroh {
            bind: found.config.iroh.bind.to_string(),
            advertise: found
                .config
                .iroh
                .advertise
                .iter()
                .map(ToString::to_string)
                .collect(),
            relays: found.config.iroh.relays.clone(),
            internet: found.config.iroh.internet,
        },
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
            "  relay {url}  [{}]{}  cursor {}",
            plain(&r.reason, 400),
            if r.state == "disabled" {
                "  disabled"
            } else {
                ""
            },
            r.cursor
                .map_or_else(|| "none yet".to_owned(), |c| c.to_string())
        );
    }
    let i = &status.iroh;
    println!(
        "  iroh bind {}  advertise {}{}",
        i.bind,
        if i.advertise.is_empty() {
            "(the bound socket)".to_owned()
        } else {
            i.advertise.join(", ")
        },
        if i.internet { "  internet" } else { "" }
    );
    for url in &i.relays {
        println!(
            "  iroh relay {}  (connection state: see --live)",
            plain(url, 200)
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
    println!("(run with --live to connect and report counters and sync modes; `atoll sync relay list` shows a running node's relays with their state)");
    Ok(())
}
