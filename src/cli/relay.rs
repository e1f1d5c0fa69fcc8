//! `atoll sync relay add URL | remove URL | list [--json]`: the node's Nostr relays.
//!
//! When a node answers (`--node`, `$ATOLL_NODE`, else the local default), the change goes
//! through its API (`/api/v1/relays`, admin token of the home) and takes effect at once.
//! When none runs, the command edits the persisted choices in the catalog of the data
//! dir directly (the same rules), and the node applies them at its next start; `list`
//! then shows what the node would use, without connection states.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use atoll_catalog::RelayChoice;
use atoll_discovery::relay::normal_url;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::client::{NodeAddr, NodeClient};
use super::output::{self, plain};
use crate::node::config::NodeConfig;
use crate::node::outbox;

/// `atoll sync relay`.
#[derive(Debug, Args)]
pub struct RelayCommandArgs {
    /// The node's configuration file [default: <home>/atoll.toml if it exists]: its
    /// configured relays and data dir (used when no node runs).
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: RelayCommand,
}

/// Relay subcommands.
#[derive(Debug, Subcommand)]
pub enum RelayCommand {
    /// Use a relay (`ws://` or `wss://`) besides the configured ones, or re-enable a
    /// configured or outbox relay that was removed. Persisted.
    Add {
        /// The relay URL.
        url: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop using a relay (a configured or outbox relay is disabled until added again).
    /// Persisted. The embedded relay cannot be removed.
    Remove {
        /// The relay URL.
        url: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every relay with its source (config, operator, outbox of <did>) and state.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Run `atoll sync relay`.
pub fn run(home: &Path, node: &NodeAddr, args: RelayCommandArgs) -> Result<()> {
    let client = NodeClient::new(home, node)?;
    let running = client.get_if_running("/relays")?;
    match (args.command, running) {
        (RelayCommand::List { json }, Some(list)) => print_list(&list, json, true),
        (RelayCommand::Add { url, json }, Some(_)) => {
            print_change(&client.post("/relays", &json!({ "url": url }))?, json)
        }
        (RelayCommand::Remove { url, json }, Some(_)) => {
            print_change(&client.delete("/relays", &json!({ "url": url }))?, json)
        }
        (cmd, None) => offline(home, args.config.as_deref(), cmd),
    }
}

fn print_list(list: &Value, json: bool, live: bool) -> Result<()> {
    if json {
        return output::json(list);
    }
    let relays = list["relays"].as_array().cloned().unwrap_or_default();
    if relays.is_empty() {
        println!("no relays");
    }
    for r in &relays {
        let mut line = format!(
            "{}  {}  {}",
            plain(r["url"].as_str().unwrap_or(""), 200),
            plain(r["state"].as_str().unwrap_or(""), 20),
            plain(r["reason"].as_str().unwrap_or(""), 400)
        );
        if let Some(c) = r["cursor"].as_u64() {
            line.push_str(&format!("  cursor {c}"));
        }
        if let Some(e) = r["last_error"].as_str() {
            line.push_str(&format!("  ({})", plain(e, 200)));
        }
        println!("{line}");
    }
    if !live {
        println!("(no node answers: the relays the node uses at its next start)");
    }
    Ok(())
}

fn print_change(report: &Value, json: bool) -> Result<()> {
    if json {
        return output::json(report);
    }
    println!(
        "{}: {}",
        plain(report["url"].as_str().unwrap_or(""), 200),
        plain(report["message"].as_str().unwrap_or(""), 300)
    );
    Ok(())
}

/// No node runs: read or edit the persisted choices of the data dir.
fn offline(home: &Path, config: Option<&Path>, cmd: RelayCommand) -> Result<()> {
    let home = crate::home::existing(home)?;
    let found = NodeConfig::find(home, config)?;
    let configured: Vec<String> = found
        .config
        .relays
        .external
        .iter()
        .map(|u| normal_url(u).map_err(anyhow::Error::from))
        .collect::<Result<_>>()
        .context("the configured relays")?;
    let embedded = found
        .config
        .relays
        .embedded
        .then(|| found.config.relays.embedded_url())
        .flatten();
    let catalog = crate::node::open_catalog(&found.data_dir)?;
    let checked = |url: &str| normal_url(url).map_err(|e| anyhow::anyhow!("{e}"));
    match cmd {
        RelayCommand::Add { url, json } => {
            let url = checked(&url)?;
            let message = if configured.contains(&url) {
                let u = url.clone();
                if catalog.write_blocking(move |c| c.clear_relay_choice(&u))? {
                    "re-enabled (a configured relay)"
                } else {
                    "already used (a configured relay)"
                }
            } else {
                let u = url.clone();
                if catalog
                    .write_blocking(move |c| c.set_relay_choice(&u, RelayChoice::Added, ""))?
                {
                    "added"
                } else {
                    "already added"
                }
            };
            let message = format!("{message}; the node uses it from its next start");
            print_change(&json!({ "url": url, "message": message }), json)
        }
        RelayCommand::Remove { url, json } => {
            let url = checked(&url)?;
            anyhow::ensure!(
                Some(&url) != embedded.as_ref(),
                "{url} is this node's embedded relay; it cannot be removed (set [relays] embedded = false in the config)"
            );
            let u = url.clone();
            let current = catalog.read_blocking(move |c| c.relay_choice(&u))?;
            let u = url.clone();
            let message = match current {
                Some(RelayChoice::Disabled) => "already disabled".to_owned(),
                Some(RelayChoice::Added) => {
                    catalog.write_blocking(move |c| c.clear_relay_choice(&u))?;
                    "removed".to_owned()
                }
                None => {
                    catalog.write_blocking(move |c| {
                        c.set_relay_choice(&u, RelayChoice::Disabled, "")
                    })?;
                    "disabled: not used, even if the config or a trusted publisher's outbox names it".to_owned()
                }
            };
            let message = format!("{message}; from the node's next start");
            print_change(&json!({ "url": url, "message": message }), json)
        }
        RelayCommand::List { json } => {
            let mut relays: Vec<Value> = embedded
                .iter()
                .map(|u| json!({ "url": u, "state": "enabled", "reason": "embedded" }))
                .collect();
            relays.extend(
                persisted(&found, &catalog)?
                    .into_iter()
                    .map(|r| json!({ "url": r.url, "state": r.state, "reason": r.reason })),
            );
            print_list(&json!({ "relays": relays }), json, false)
        }
    }
}

/// A relay the node uses (or would) by its config and persisted state.
pub(super) struct PersistedRelay {
    /// The URL (normalised).
    pub url: String,
    /// `enabled` or `disabled`.
    pub state: &'static str,
    /// The source in words.
    pub reason: String,
}

/// The relays a node on `found`'s data dir uses from its next start, without the
/// embedded relay: configured (or disabled), added by the operator, and the outbox
/// relays of trusted publishers, as the running node computes them.
pub(super) fn persisted(
    found: &crate::node::config::Found,
    catalog: &atoll_catalog::CatalogService,
) -> Result<Vec<PersistedRelay>> {
    let configured: Vec<String> = found
        .config
        .relays
        .external
        .iter()
        .map(|u| normal_url(u).unwrap_or_else(|_| u.clone()))
        .collect();
    let threshold = found.config.trust.install_threshold;
    let choices = catalog.read_blocking(|c| c.relay_choices())?;
    let publishers = catalog.read_blocking(move |c| c.outbox_publishers(threshold))?;
    let norm = |u: &str| normal_url(u).unwrap_or_else(|_| u.to_owned());
    let disabled: HashSet<String> = choices
        .iter()
        .filter(|c| c.choice == RelayChoice::Disabled)
        .map(|c| norm(&c.url))
        .collect();
    let mut out = Vec::new();
    let mut row = |url: &str, state: &'static str, reason: String| {
        out.push(PersistedRelay {
            url: url.to_owned(),
            state,
            reason,
        });
    };
    for u in &configured {
        if disabled.contains(u) {
            row(u, "disabled", "config, disabled by the operator".into());
        } else {
            row(u, "enabled", "config".into());
        }
    }
    let mut skip: HashSet<String> = configured.iter().cloned().collect();
    skip.extend(disabled.iter().cloned());
    if let Some(url) = found
        .config
        .relays
        .embedded
        .then(|| found.config.relays.embedded_url())
        .flatten()
    {
        skip.insert(url);
    }
    for c in &choices {
        let u = norm(&c.url);
        match c.choice {
            RelayChoice::Added if !configured.contains(&u) => {
                skip.insert(u.clone());
                row(&u, "enabled", "operator".into());
            }
            RelayChoice::Disabled if !configured.contains(&u) => {
                row(&u, "disabled", "disabled by the operator".into());
            }
            _ => {}
        }
    }
    for (url, reasons) in outbox::select(&publishers, &skip, threshold) {
        let source = atoll_discovery::relay::RelaySource::Outbox {
            publishers: reasons,
        };
        row(&url, "enabled", source.to_string());
    }
    Ok(out)
}
