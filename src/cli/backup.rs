//! `atoll backup create|list|show|restore|delete|export|import`: an app's backups through
//! the running node's API. `restore` says what it replaces and needs `--yes`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde_json::{json, Value};

use super::client::{NodeAddr, NodeClient};
use super::output;

/// Backup commands.
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Back up an installed app now (stopped for the snapshot and started again, unless
    /// its manifest declares a backup command).
    Create {
        /// App reference `<did>/<app>`, or the app id alone when one installed app has it.
        app: String,
        /// Print progress as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// List the backups (all apps, or one app's), newest first.
    List {
        /// Only the backups of this app (`<did>/<app>`, or an install name).
        app: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a backup and what restoring it would replace now.
    Show {
        /// Backup id (or a unique prefix of at least 8 hex digits).
        id: String,
    },
    /// Put a backup's data back. The app must be stopped; an app this node does not have
    /// is installed from the catalog after its data is back. The data it replaces is
    /// backed up first.
    Restore {
        /// Backup id.
        id: String,
        /// Replace the current data (without it, only says what would be replaced).
        #[arg(long)]
        yes: bool,
        /// Print progress as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Delete a backup.
    Delete {
        /// Backup id.
        id: String,
    },
    /// Export a backup to one new file (it holds the app's secrets: keep it safe).
    Export {
        /// Backup id.
        id: String,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Import an exported backup (verified whole before anything is stored).
    Import {
        /// The file.
        file: PathBuf,
    },
}

fn when(secs: u64) -> String {
    // Unix seconds, and how long ago: no calendar dependency.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let ago = now.saturating_sub(secs);
    let rel = match ago {
        0..=119 => format!("{ago}s ago"),
        120..=7199 => format!("{}m ago", ago / 60),
        7200..=172_799 => format!("{}h ago", ago / 3600),
        _ => format!("{}d ago", ago / 86_400),
    };
    format!("{secs} ({rel})")
}

fn print_replaces(b: &Value) {
    let r = &b["replaces"];
    let c = &r["current"];
    println!(
        "restoring backup {} of {} {} made at {}",
        b["id"].as_str().unwrap_or("?"),
        b["app"].as_str().unwrap_or("?"),
        b["version"].as_str().unwrap_or("?"),
        when(b["created_at"].as_u64().unwrap_or(0))
    );
    println!(
        "  puts back {} files, {} bytes, {} secrets",
        b["files"], b["bytes"], b["secrets"]
    );
    println!(
        "  replaces  {} files, {} bytes, {} secrets (newest change {})",
        c["files"],
        c["bytes"],
        c["secrets"],
        c["newest_mtime"].as_u64().map_or("-".to_owned(), when)
    );
    if r["current_is_newer"] == true {
        println!("  the current data has changes made after this backup");
    }
}

fn follow(c: &NodeClient, job: &Value, what: &str, json: bool) -> Result<Value> {
    let events = job["events"]
        .as_str()
        .context("the node did not say where the job's events are")?;
    let last = c.follow(events, json)?;
    if let Some(err) = last["error"].as_str() {
        bail!("{what} failed: {err}");
    }
    if last["done"] != true {
        bail!("{what}: the node stopped reporting before the job ended");
    }
    if !json {
        println!("{what}: {}", last["message"].as_str().unwrap_or("done"));
    }
    Ok(last)
}

/// Run a backup command.
pub fn run(home: &Path, addr: &NodeAddr, cmd: BackupCommand) -> Result<()> {
    let c = NodeClient::new(home, addr)?;
    match cmd {
        BackupCommand::Create { app, json } => {
            let app = super::resolve::via_node(&c, &app, super::resolve::Scope::Installed)?;
            let job = c.post("/backups", &json!({ "app": app.to_string() }))?;
            follow(&c, &job, "backup", json).map(|_| ())
        }
        BackupCommand::List { app, json } => {
            let list = c.get("/backups")?;
            let items: Vec<Value> = list["items"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|b| {
                    app.as_deref().is_none_or(|a| {
                        b["source"].as_str() == Some(a) || b["app"].as_str() == Some(a)
                    })
                })
                .collect();
            if json {
                return output::json(&json!(items));
            }
            if items.is_empty() {
                println!("no backups");
            }
            for b in items {
                println!(
                    "{}  {:<24} {:<9} {:<11} {:>6} files {:>12} bytes  {}{}",
                    &b["id"].as_str().unwrap_or("?")
                        [..12.min(b["id"].as_str().unwrap_or("?").len())],
                    b["app"].as_str().unwrap_or("?"),
                    b["version"].as_str().unwrap_or("?"),
                    b["reason"].as_str().unwrap_or("?"),
                    b["files"],
                    b["bytes"],
                    when(b["created_at"].as_u64().unwrap_or(0)),
                    if b["installed"] == false {
                        "  (app not installed)"
                    } else {
                        ""
                    }
                );
            }
            Ok(())
        }
        BackupCommand::Show { id } => {
            let b = c.get(&format!("/backups/{id}"))?;
            output::json(&b)
        }
        BackupCommand::Restore { id, yes, json } => {
            let b = c.get(&format!("/backups/{id}"))?;
            if !json {
                print_replaces(&b);
            }
            if !yes {
                bail!("nothing was changed: pass --yes to replace the current data (it is backed up first)");
            }
            let full = b["id"].as_str().unwrap_or(&id).to_owned();
            let job = c.post(&format!("/backups/{full}/restore"), &json!({}))?;
            follow(&c, &job, "restore", json).map(|_| ())
        }
        BackupCommand::Delete { id } => {
            let gone = c.delete(&format!("/backups/{id}"), &json!({}))?;
            println!(
                "deleted backup {} of {}",
                gone["deleted"]["id"].as_str().unwrap_or(&id),
                gone["deleted"]["app"].as_str().unwrap_or("?")
            );
            Ok(())
        }
        BackupCommand::Export { id, out } => {
            if out.symlink_metadata().is_ok() {
                bail!(
                    "{} exists: not overwritten (name a new file)",
                    out.display()
                );
            }
            let tmp = out.with_extension("part");
            let mut f = std::fs::File::create(&tmp)
                .with_context(|| format!("creating {}", tmp.display()))?;
            let n = c.post_download(&format!("/backups/{id}/export"), &mut f);
            let n = n.and_then(|n| {
                f.flush()?;
                f.sync_all()?;
                Ok(n)
            });
            match n {
                Ok(n) => {
                    std::fs::rename(&tmp, &out)
                        .with_context(|| format!("writing {}", out.display()))?;
                    println!("exported backup {id} to {} ({n} bytes)", out.display());
                    Ok(())
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    Err(e)
                }
            }
        }
        BackupCommand::Import { file } => {
            let f = std::fs::File::open(&file)
                .with_context(|| format!("opening {}", file.display()))?;
            let b = c.post_body(
                "/backups/import",
                "application/x-tar",
                reqwest::blocking::Body::new(f),
            )?;
            println!(
                "imported backup {} of {} {} ({} files, {} bytes); restore it with `atoll backup restore {} --yes`",
                b["id"].as_str().unwrap_or("?"),
                b["app"].as_str().unwrap_or("?"),
                b["version"].as_str().unwrap_or("?"),
                b["files"],
                b["bytes"],
                b["id"].as_str().unwrap_or("?")
            );
            Ok(())
        }
    }
}
