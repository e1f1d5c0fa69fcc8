//! `atoll data list|delete`: the data apps uninstalled without `--purge` left on the
//! running node (volumes with sizes, generated secrets). A reinstall of the app reuses it
//! unless it is installed with `--fresh`; `delete` removes it.

use std::path::Path;

use anyhow::Result;
use clap::Subcommand;
use serde_json::{json, Value};

use super::client::{NodeAddr, NodeClient};
use super::output;

/// Kept-data commands.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// List the data kept from apps that are not installed.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete the data kept from an app that is not installed (cannot be undone; its
    /// backups stay).
    Delete {
        /// App reference `<did>/<app>`.
        app: String,
    },
}

/// "data (12.0 KiB), cache (0 B); secrets notebook-key".
pub(super) fn describe(d: &Value) -> String {
    let vols: Vec<String> = d["volumes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|v| {
            format!(
                "{} ({})",
                v["name"].as_str().unwrap_or("?"),
                crate::node::runtime::human_bytes(v["bytes"].as_u64().unwrap_or(0))
            )
        })
        .collect();
    let secrets: Vec<&str> = d["secrets"]
        .as_array()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = if vols.is_empty() {
        "no volumes".to_owned()
    } else {
        format!("volumes {}", vols.join(", "))
    };
    if !secrets.is_empty() {
        out.push_str(&format!("; secrets {}", secrets.join(", ")));
    }
    out
}

/// Run a kept-data command.
pub fn run(home: &Path, addr: &NodeAddr, cmd: DataCommand) -> Result<()> {
    let c = NodeClient::new(home, addr)?;
    match cmd {
        DataCommand::List { json } => {
            let list = c.get("/data")?;
            if json {
                return output::json(&list);
            }
            let items = list["items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                println!("no data kept from uninstalled apps");
            }
            for d in items {
                println!(
                    "{}  {}  {}",
                    output::plain(d["name"].as_str().unwrap_or("?"), 40),
                    output::plain(
                        d["ref"]
                            .as_str()
                            .or(d["install_name"].as_str())
                            .unwrap_or("?"),
                        120
                    ),
                    describe(&d)
                );
            }
            Ok(())
        }
        DataCommand::Delete { app } => {
            let gone = c.delete(&format!("/data/{app}"), &json!({}))?;
            println!("deleted the data kept from {app}: {}", describe(&gone));
            Ok(())
        }
    }
}
