//! `atoll app publish|yank` through a running node: the CLI asks the node who it is
//! (`GET /api/v1/node`), signs the entry and its Nostr events here (the publisher key
//! never leaves this machine), and uploads them (`POST /api/v1/publish`, a tar stream of
//! the bundle and the events; `POST /api/v1/publish/event` for a yank). The node verifies
//! everything, stores the blobs, serves them as the origin and announces on its relays.

use std::path::Path;

use anyhow::{bail, Context, Result};
use atoll_discovery::codec::{self, Object};
use atoll_discovery::publish::{self, bundle_dir};
use atoll_registry::bundle::{self, SignOptions, ENTRY_FILE};
use atoll_registry::objects::Origin;
use atoll_registry::{manifest, KeyStore};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use super::client::{self, NodeAddr, NodeClient};
use super::output;
use super::sync::{PublishArgs, RelayArgs, YankArgs};
use crate::node::config::NodeConfig;

/// Uploads from this size on show a progress bar.
const PROGRESS_FROM: u64 = 4 << 20;

/// The running node to publish through: the one `--node` / `$ATOLL_NODE` names (it must
/// answer), else the home's own node if it runs (its configured listen address answers
/// with the home's node id). `None`: publish offline.
pub fn running_node(
    home: &Path,
    addr: &NodeAddr,
    relays: &RelayArgs,
) -> Result<Option<(NodeClient, Value)>> {
    if let Some(url) = client::given(addr) {
        client::check_transport(&url)?;
        let c = NodeClient::at(home, &url)?;
        let Some(info) = c.probe() else {
            bail!("no node answers at {url} (GET /api/v1/node); start it, or drop --node / $ATOLL_NODE to publish offline with the node stopped");
        };
        return Ok(Some((c, info)));
    }
    let Some(own) = super::sync::home_node_id(home, relays) else {
        return Ok(None);
    };
    let found = NodeConfig::find(home, relays.config.as_deref())?;
    let mut listen = found.config.listen;
    if listen.ip().is_unspecified() {
        listen.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let c = NodeClient::at(home, &format!("http://{listen}"))?;
    Ok(c.probe()
        .filter(|info| info["node_id"].as_str() == Some(own.as_str()))
        .map(|info| (c, info)))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn now_secs() -> u64 {
    atoll_discovery::now_secs()
}

/// Sign the app for the node `info` describes and upload it.
pub fn publish(home: &Path, c: &NodeClient, info: &Value, args: &PublishArgs) -> Result<()> {
    let key = KeyStore::new(home).load(&args.key)?;
    let node_id = info["node_id"]
        .as_str()
        .context("the node's GET /api/v1/node has no node_id")?
        .to_owned();
    let (m, _) = manifest::load(&args.dir).map_err(|e| anyhow::anyhow!(e))?;
    let out = bundle_dir(home, &m.id);
    let signed = bundle::sign_app(
        &args.dir,
        &key,
        &out,
        &SignOptions {
            sequence: args.sequence,
            published_at: None,
            ttl_secs: Some(args.ttl_days * 24 * 3600),
            origin: Origin {
                node_id: Some(node_id.clone()),
                addrs: strings(&info["addrs"]),
                https: args.https.clone(),
                relays: strings(&info["iroh_relays"]),
            },
        },
    )
    .with_context(|| format!("signing {}", args.dir.display()))?;
    let nostr = key.nostr_keys()?;
    // The outbox: as given, else the relays the node writes to that other hosts reach.
    let outbox = match super::sync::outbox_list(&args.outbox_relays)? {
        Some(list) => list,
        None => publish::outbox_of(strings(&info["outbox"])),
    };
    let profile = publish::profile_for(&key, &args.key, node_id, outbox)?;
    let now = now_secs();
    let profile_event = publish::sign_event(&Object::Publisher(profile), &nostr, now)?;
    let entry_at = now.max(signed.entry.published_at);
    let entry_event = publish::sign_event(&Object::Entry(signed.entry.clone()), &nostr, entry_at)?;
    // The tar is written next to the bundle, then streamed (its size known up front).
    let tar = tempfile::Builder::new()
        .prefix(".upload-")
        .suffix(".tar")
        .tempfile_in(&out)
        .context("creating the upload file")?;
    {
        let mut b = tar::Builder::new(tar.as_file());
        b.mode(tar::HeaderMode::Deterministic);
        b.append_path_with_name(&signed.entry_path, ENTRY_FILE)?;
        for (hash, path) in &signed.blobs {
            b.append_path_with_name(path, hash.to_hex())?;
        }
        for (name, event) in [
            (crate::api::upload::ENTRY_EVENT, &entry_event),
            (crate::api::upload::PROFILE_EVENT, &profile_event),
        ] {
            let json = codec::event_json(event);
            let mut h = tar::Header::new_gnu();
            h.set_size(json.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, json.as_bytes())?;
        }
        b.finish().context("writing the upload")?;
    }
    let file = tar.reopen().context("reading the upload back")?;
    let len = file.metadata()?.len();
    let bar = (!args.json && len >= PROGRESS_FROM).then(|| {
        let b = ProgressBar::new(len);
        b.set_style(
            ProgressStyle::with_template(
                "uploading {bar:30.cyan/blue} {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    });
    let body = match &bar {
        Some(b) => reqwest::blocking::Body::sized(b.wrap_read(file), len),
        None => reqwest::blocking::Body::sized(file, len),
    };
    let answer = c.post_body("/publish", "application/x-tar", body);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let answer = answer
        .with_context(|| format!("publishing {} through {}", args.dir.display(), c.base()))?;
    print(&answer, "published", args.json, c.base())
}

/// Re-sign the app's last entry as yanked and send it to the node.
pub fn yank(home: &Path, c: &NodeClient, args: &YankArgs) -> Result<()> {
    let key = KeyStore::new(home).load(&args.key)?;
    let entry = publish::yank_in_bundle(home, &args.app, &key, &args.reason)?;
    let at = now_secs().max(entry.published_at);
    let event = publish::sign_event(&Object::Entry(entry.clone()), &key.nostr_keys()?, at)?;
    let body = reqwest::blocking::Body::from(codec::event_json(&event));
    let mut answer = c
        .post_body("/publish/event", "application/json", body)
        .with_context(|| format!("yanking {} through {}", args.app, c.base()))?;
    answer["app"] = entry.app_ref().to_string().into();
    answer["version"] = entry.version.to_string().into();
    answer["sequence"] = entry.sequence.into();
    answer["entry_event"] = answer["event"].clone();
    print(&answer, "yanked", args.json, c.base())
}

fn print(v: &Value, what: &str, json: bool, node: &str) -> Result<()> {
    if json {
        return output::json(v);
    }
    println!(
        "{what} {} {} (sequence {}) through the node at {node}",
        v["app"].as_str().unwrap_or("?"),
        v["version"].as_str().unwrap_or("?"),
        v["sequence"]
    );
    println!(
        "  entry event:   {}",
        v["entry_event"].as_str().unwrap_or("")
    );
    if let Some(p) = v["profile_event"].as_str() {
        println!("  profile event: {p}");
    }
    println!("  relays:        {}", strings(&v["relays"]).join(", "));
    if let Some(o) = v["origin"].as_str() {
        println!("  origin node:   {o}");
    }
    let blobs = strings(&v["blobs"]);
    if !blobs.is_empty() {
        println!("  blobs:         {} in the node's store", blobs.len());
    }
    Ok(())
}
