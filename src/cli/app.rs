//! `atoll app validate|sign|verify` (and `publish|yank`, in `sync.rs`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use atoll_registry::bundle::{self, SignOptions};
use atoll_registry::{manifest, KeyStore, ManifestError};
use clap::Subcommand;
use serde::Serialize;

use super::output;

/// App commands.
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Check a manifest against the schema and the rootless policy.
    Validate {
        /// App directory (holding manifest.yml) or a manifest file.
        dir: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign an app: write entry.json, the manifest blob and artifact blobs, named by hash.
    Sign {
        /// App directory holding manifest.yml.
        dir: PathBuf,
        /// Name of the publisher key to sign with.
        #[arg(long)]
        key: String,
        /// Output directory [default: <home>/bundles/<app-id>].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Sequence number [default: now in ms, above any entry already in --out].
        #[arg(long)]
        sequence: Option<u64>,
        /// Days until the entry is shown as stale.
        #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u64).range(1..=3650))]
        ttl_days: u64,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Verify a signed entry and the blobs beside it.
    Verify {
        /// Path of entry.json.
        entry: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign an app, put its blobs in the node's store and announce it on the relays: through
    /// the running node (`--node`, `$ATOLL_NODE`, else the home's node if it runs), else
    /// offline on the data dir.
    Publish(super::sync::PublishArgs),
    /// Withdraw the app's current version (signed, announced like a new version), through
    /// the running node when one answers, else offline.
    Yank(super::sync::YankArgs),
}

#[derive(Serialize)]
struct ProblemOut {
    field: String,
    line: Option<usize>,
    message: String,
}

#[derive(Serialize)]
struct ValidateOut {
    ok: bool,
    file: PathBuf,
    app: Option<String>,
    version: Option<String>,
    problems: Vec<ProblemOut>,
}

/// Run an app command.
pub fn run(home: &Path, addr: &super::client::NodeAddr, cmd: AppCommand) -> Result<()> {
    match cmd {
        AppCommand::Validate { dir, json } => validate(&dir, json),
        AppCommand::Sign {
            dir,
            key,
            out,
            sequence,
            ttl_days,
            json,
        } => sign(home, &dir, &key, out, sequence, ttl_days, json),
        AppCommand::Verify { entry, json } => verify(&entry, json),
        AppCommand::Publish(args) => match super::upload::running_node(home, addr, &args.relays)? {
            Some((node, info)) => super::upload::publish(home, &node, &info, &args),
            None => super::sync::publish(home, args),
        },
        AppCommand::Yank(args) => match super::upload::running_node(home, addr, &args.relays)? {
            Some((node, _)) => super::upload::yank(home, &node, &args),
            None => super::sync::yank(home, args),
        },
    }
}

fn validate(dir: &Path, json: bool) -> Result<()> {
    let file = if dir.is_dir() {
        dir.join(manifest::MANIFEST_FILE)
    } else {
        dir.to_owned()
    };
    // An app dir: the manifest and the local files it names (a link out of the app dir, a
    // FIFO, an oversized file are problems). A manifest file given alone: the manifest only.
    let checked = if dir.is_dir() {
        bundle::check_app(dir)
    } else {
        manifest::load(dir)
    };
    match checked {
        Ok((m, file)) => {
            if json {
                output::json(&ValidateOut {
                    ok: true,
                    file,
                    app: Some(m.id.clone()),
                    version: Some(m.version.to_string()),
                    problems: vec![],
                })?;
            } else {
                println!(
                    "ok: {} {} ({} container(s)) in {}",
                    m.id,
                    m.version,
                    m.containers.len(),
                    file.display()
                );
            }
            Ok(())
        }
        Err(err) => {
            if json {
                let problems = err
                    .problems()
                    .into_iter()
                    .map(|p| ProblemOut {
                        field: p.field,
                        line: p.line,
                        message: p.message,
                    })
                    .collect();
                output::json(&ValidateOut {
                    ok: false,
                    file,
                    app: None,
                    version: None,
                    problems,
                })?;
                anyhow::bail!("manifest is invalid");
            }
            Err(err).context("manifest is invalid")
        }
    }
}

#[derive(Serialize)]
struct SignOut {
    app: String,
    version: String,
    publisher: String,
    sequence: u64,
    expires_at: u64,
    entry: PathBuf,
    manifest: String,
    blobs: Vec<String>,
}

fn sign(
    home: &Path,
    dir: &Path,
    key_name: &str,
    out: Option<PathBuf>,
    sequence: Option<u64>,
    ttl_days: u64,
    json: bool,
) -> Result<()> {
    let key = KeyStore::new(home).load(key_name)?;
    let out = match out {
        Some(o) => o,
        None => {
            let (m, _) = manifest::load(dir).map_err(|e: ManifestError| anyhow::anyhow!(e))?;
            home.join("bundles").join(&m.id)
        }
    };
    let opts = SignOptions {
        sequence,
        ttl_secs: Some(ttl_days * 24 * 3600),
        ..SignOptions::default()
    };
    let signed = bundle::sign_app(dir, &key, &out, &opts)
        .with_context(|| format!("signing {}", dir.display()))?;
    let e = &signed.entry;
    let report = SignOut {
        app: e.app.to_string(),
        version: e.version.to_string(),
        publisher: e.publisher.to_string(),
        sequence: e.sequence,
        expires_at: e.expires_at,
        entry: signed.entry_path.clone(),
        manifest: e.manifest.hash.to_hex(),
        blobs: signed.blobs.iter().map(|(h, _)| h.to_hex()).collect(),
    };
    if json {
        return output::json(&report);
    }
    println!(
        "signed {} {} as {}",
        report.app, report.version, report.publisher
    );
    println!("  sequence: {}", report.sequence);
    println!("  entry:    {}", report.entry.display());
    println!("  manifest: {}", report.manifest);
    println!(
        "  blobs:    {} file(s) in {}",
        report.blobs.len(),
        out.display()
    );
    Ok(())
}

#[derive(Serialize)]
struct VerifyOut {
    ok: bool,
    app: String,
    version: String,
    publisher: String,
    sequence: u64,
    manifest: String,
    artifacts: usize,
    expired: bool,
}

fn verify(entry: &Path, json: bool) -> Result<()> {
    let ok = bundle::verify_bundle(entry)
        .with_context(|| format!("verification of {} failed", entry.display()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let e = &ok.entry;
    let report = VerifyOut {
        ok: true,
        app: e.app.to_string(),
        version: e.version.to_string(),
        publisher: e.publisher.to_string(),
        sequence: e.sequence,
        manifest: e.manifest.hash.to_hex(),
        artifacts: e.artifacts.len(),
        expired: e.is_expired(now),
    };
    if json {
        return output::json(&report);
    }
    println!(
        "verified: {} {} signed by {} (sequence {})",
        report.app, report.version, report.publisher, report.sequence
    );
    println!(
        "  manifest {} and {} artifact(s) match their hashes",
        report.manifest, report.artifacts
    );
    if report.expired {
        println!("  warning: the entry is past its expiry (stale)");
    }
    Ok(())
}
