//! `atoll key rotate NAME`: sign rotation n+1 with the next key (derived from the key
//! file's root secret), and a new profile with it; publish both through the running node
//! (`POST /api/v1/publish/event`) when one answers, else offline on the data dir; then
//! advance the key file's index (atomically, only once the rotation is out).
//!
//! `last` (what the retiring key signed legitimately) is read from this home's bundles
//! ([`atoll_discovery::publish::rotate::last_signed`]) and `--last APP=SEQ`, never from a
//! node's catalog, which may hold a thief's entries signed with the same key.

use std::path::Path;

use anyhow::{bail, Context, Result};
use atoll_discovery::codec::{self, Object};
use atoll_discovery::publish::rotate::{self, Rotated, SignedRotation};
use atoll_discovery::publish::{self, release};
use atoll_registry::objects::LastSigned;
use atoll_registry::{AppId, KeyStore, Keypair};
use clap::Args;
use serde_json::Value;

use super::client::{NodeAddr, NodeClient};
use super::output;
use super::sync::RelayArgs;

/// `atoll key rotate`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// Key name.
    pub name: String,
    /// The last sequence the current key legitimately signed for an app, besides (or
    /// above) what this home's bundles record: `APP=SEQ`; repeat for more. Entries of the
    /// current key above it, or for apps not named, become void.
    #[arg(long = "last", value_name = "APP=SEQ")]
    pub last: Vec<String>,
    /// The last profile sequence the current key legitimately signed (default: none; the
    /// new key signs a new profile at once).
    #[arg(long, value_name = "SEQ")]
    pub last_profile: Option<u64>,
    #[command(flatten)]
    pub relays: RelayArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Run `atoll key rotate`.
pub fn run(home: &Path, addr: &NodeAddr, args: &RotateArgs) -> Result<()> {
    let store = KeyStore::new(home);
    let key = store.load(&args.name)?;
    let last = last_of(home, &key, args)?;
    let now = atoll_discovery::now_secs();
    let signed = rotate::sign_rotation(&key, last, now).context("signing the rotation")?;
    let mut out = match super::upload::running_node(home, addr, &args.relays)? {
        Some((node, info)) => through_node(&node, &info, &signed, &args.name)?,
        None => offline(home, &args.relays, &key, &signed, &args.name)?,
    };
    let next = store.advance(&args.name, key.index()).with_context(|| {
        format!(
            "the rotation is published; advancing key file {:?}",
            args.name
        )
    })?;
    out.index = next.index();
    if args.json {
        return output::json(&out);
    }
    println!("rotated key {:?} to index {}", args.name, out.index);
    println!("  identity:       {}", out.did);
    println!("  key now:        {}", out.key);
    println!("  next key:       committed ({}…)", &out.next_key[..16]);
    for (app, seq) in &out.last.entries {
        println!("  last by old key: {app} sequence {seq}");
    }
    println!("  rotation event: {}", out.rotation_event);
    println!("  profile event:  {}", out.profile_event);
    println!("  relays:         {}", out.relays.join(", "));
    Ok(())
}

fn last_of(home: &Path, key: &Keypair, args: &RotateArgs) -> Result<LastSigned> {
    let mut last = rotate::last_signed(home, key);
    for item in &args.last {
        let Some((app, seq)) = item.split_once('=') else {
            bail!("--last {item:?}: expected APP=SEQ");
        };
        let app: AppId = app
            .parse()
            .map_err(|e| anyhow::anyhow!("--last {item:?}: {e}"))?;
        let seq: u64 = seq
            .parse()
            .with_context(|| format!("--last {item:?}: the sequence is not a number"))?;
        let slot = last.entries.entry(app).or_insert(0);
        *slot = (*slot).max(seq);
    }
    last.profile = args.last_profile;
    Ok(last)
}

fn rotated(signed: &SignedRotation, profile_event: String, relays: Vec<String>) -> Rotated {
    let r = &signed.rotation;
    Rotated {
        did: r.did.to_string(),
        index: r.index,
        key: r.key.to_string(),
        next_key: r.next_key.clone(),
        last: r.last.clone(),
        rotation_event: signed.event.id.to_hex(),
        profile_event,
        relays,
    }
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

fn through_node(
    c: &NodeClient,
    info: &Value,
    signed: &SignedRotation,
    name: &str,
) -> Result<Rotated> {
    let post = |event: &codec::NostrEvent, what: &str| {
        let body = reqwest::blocking::Body::from(codec::event_json(event));
        c.post_body("/publish/event", "application/json", body)
            .with_context(|| format!("publishing the {what} through {}", c.base()))
    };
    let answer = post(&signed.event, "rotation")?;
    let node_id = info["node_id"]
        .as_str()
        .context("the node's GET /api/v1/node has no node_id")?
        .to_owned();
    let outbox = publish::outbox_of(strings(&info["outbox"]));
    let profile = publish::profile_for(&signed.next, name, node_id, outbox)?;
    let event = publish::sign_event(
        &Object::Publisher(profile),
        &signed.next.nostr_keys()?,
        atoll_discovery::now_secs(),
    )?;
    let profile_answer = post(&event, "new profile")?;
    Ok(rotated(
        signed,
        profile_answer["event"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        strings(&answer["relays"]),
    ))
}

fn offline(
    home: &Path,
    relays: &RelayArgs,
    current: &Keypair,
    signed: &SignedRotation,
    name: &str,
) -> Result<Rotated> {
    super::sync::runtime()?.block_on(async {
        let d = super::sync::start(home, relays).await?;
        let out = async {
            // The current key's profile first: it carries the commitment the rotation
            // reveals (derived from the root, so republishing never changes it), and a
            // node accepts a rotation only once it knows that commitment. A refusal (a
            // thief's profile with a higher sequence, say) does not stop the rotation,
            // which voids that profile anyway.
            if let Err(e) = publish::publish_profile(&d, current, name).await {
                eprintln!("note: the current profile was not republished before rotating: {e}");
            }
            let relays = release::announce_signed(&d, signed.event.clone())
                .await
                .context("announcing the rotation")?;
            let (_, profile_event) = publish::publish_profile(&d, &signed.next, name)
                .await
                .context("announcing the new profile")?;
            Ok::<_, anyhow::Error>(rotated(signed, profile_event, relays))
        }
        .await;
        d.shutdown().await;
        out
    })
}

/// The key history lines of `atoll trust explain`.
pub fn print_history(h: &atoll_catalog::KeyHistory) {
    println!("keys: index {}, current key {}", h.index, h.current_key);
    if let Some(flag) = &h.flagged {
        println!("  FLAGGED (possible key compromise): {flag}");
    }
    if h.rotations.is_empty() {
        println!("  never rotated; the first key signs (next key committed)");
    }
    for r in &h.rotations {
        println!(
            "  rotation {} at {}: key {} (last by the old key: {})",
            r.index,
            r.created_at,
            r.key,
            if r.last.entries.is_empty() {
                "no entries".to_owned()
            } else {
                r.last
                    .entries
                    .iter()
                    .map(|(a, s)| format!("{a}={s}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
        for v in &r.voided {
            let what = if v.subject.is_empty() {
                v.kind.clone()
            } else {
                format!("{} {}", v.kind, v.subject)
            };
            println!("    void: {what} sequence {}: {}", v.sequence, v.reason);
        }
    }
}
