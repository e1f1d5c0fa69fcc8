//! `atoll trust endorse|report DID --weight W --reason TEXT --key NAME`: sign an
//! `atoll/endorse/v1` here (the key never leaves this machine) and publish it through the
//! running node (`POST /api/v1/publish/event`, with the key's profile first when the node
//! holds none binding its Nostr key), or offline on the data dir when no node runs, as
//! `app publish` does.
//!
//! Both take a positive magnitude: `endorse --weight 0.8` signs +0.8, `report --weight
//! 0.8` signs −0.8 (a negative `--weight` is refused, so a sign can never be flipped by
//! mistake). `endorse --weight 0` withdraws an earlier endorsement or report: the newer
//! one replaces it and counts for nothing.

use std::path::Path;

use anyhow::{bail, Context, Result};
use atoll_discovery::codec::{self, Object};
use atoll_discovery::publish;
use atoll_discovery::publish::endorse::{
    publish_endorsement, sign_endorsement, EndorsementPublished,
};
use atoll_registry::{Did, Endorsement, KeyStore, Keypair, Verified};
use clap::Args;
use serde_json::Value;

use super::client::{NodeAddr, NodeClient};
use super::output;
use super::sync::RelayArgs;

/// `atoll trust endorse` / `atoll trust report`.
#[derive(Debug, Args)]
pub struct EndorseArgs {
    /// The publisher's did:key.
    pub did: Did,
    /// Strength in [0, 1] (a report signs it negative; `endorse --weight 0` withdraws).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub weight: f64,
    /// Why, in words (at most 1024 bytes; shown to everyone who syncs it).
    #[arg(long, default_value = "")]
    pub reason: String,
    /// Name of the key that signs (see `atoll key list`).
    #[arg(long)]
    pub key: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub relays: RelayArgs,
}

/// The signed weight for a magnitude given on the command line.
pub fn signed_weight(magnitude: f64, report: bool) -> Result<f64> {
    let what = if report { "report" } else { "endorse" };
    if !magnitude.is_finite() || !(0.0..=1.0).contains(&magnitude) {
        bail!(
            "--weight {magnitude}: give a number from 0 to 1 (`trust {what}` sets the sign itself)"
        );
    }
    if report && magnitude == 0.0 {
        bail!("--weight 0: a report needs a weight above 0 (withdraw one with `trust endorse --weight 0`)");
    }
    Ok(if report { -magnitude } else { magnitude })
}

/// Run `endorse` (`report` false) or `report`.
pub fn run(home: &Path, addr: &NodeAddr, args: EndorseArgs, report: bool) -> Result<()> {
    let weight = signed_weight(args.weight, report)?;
    let key = KeyStore::new(home).load(&args.key)?;
    if key.did() == args.did {
        bail!(
            "key {:?} is {}: nobody can {} themselves",
            args.key,
            args.did,
            if report { "report" } else { "endorse" }
        );
    }
    let out = match super::upload::running_node(home, addr, &args.relays)? {
        Some((c, info)) => through_node(&c, &info, &key, &args, weight)?,
        None => offline(home, &key, &args, weight)?,
    };
    if args.json {
        return output::json(&out);
    }
    let what = match weight {
        w if w > 0.0 => "endorsed",
        w if w < 0.0 => "reported",
        _ => "withdrew the endorsement of",
    };
    println!(
        "{} {what} {} with weight {:.2} (sequence {})",
        args.key, out.subject, out.weight, out.sequence
    );
    println!("  event:  {}", out.event);
    if let Some(p) = &out.profile_event {
        println!("  profile event: {p}");
    }
    println!("  relays: {}", out.relays.join(", "));
    Ok(())
}

fn sign(
    key: &Keypair,
    args: &EndorseArgs,
    weight: f64,
    after: Option<u64>,
) -> Result<Verified<Endorsement>> {
    sign_endorsement(key, args.did, weight, &args.reason, after).context("signing the endorsement")
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

/// Sign here, send to the node.
fn through_node(
    c: &NodeClient,
    info: &Value,
    key: &Keypair,
    args: &EndorseArgs,
    weight: f64,
) -> Result<EndorsementPublished> {
    let signer = key.did().to_string();
    // The node's copy of our last endorsement of the subject: the new one must be higher.
    let held = c.get(&format!("/trust/{}/endorsements", args.did))?;
    let after = held["received"]
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|r| r["signer"].as_str() == Some(signer.as_str()))
        })
        .and_then(|r| r["sequence"].as_u64());
    let signed = sign(key, args, weight, after)?;
    let nostr = key.nostr_keys()?;
    let now = atoll_discovery::now_secs();
    let event = publish::sign_event(&Object::Endorsement(signed.clone()), &nostr, now)?;
    let send = |json: String| {
        c.post_body(
            "/publish/event",
            "application/json",
            reqwest::blocking::Body::from(json),
        )
    };
    let mut profile_event = None;
    let answer = match send(codec::event_json(&event)) {
        Ok(a) => a,
        // The node takes an endorsement only from a Nostr key a profile of the signer binds.
        Err(e) if e.to_string().contains("publish the profile first") => {
            let node_id = info["node_id"]
                .as_str()
                .context("the node's GET /api/v1/node has no node_id")?;
            let outbox = publish::outbox_of(strings(&info["outbox"]));
            let profile = publish::profile_for(key, &args.key, node_id.to_owned(), outbox)?;
            let p = publish::sign_event(&Object::Publisher(profile), &nostr, now)?;
            let sent = send(codec::event_json(&p)).context("publishing the key's profile")?;
            profile_event = sent["event"].as_str().map(str::to_owned);
            send(codec::event_json(&event))?
        }
        Err(e) => return Err(e.context(format!("publishing the endorsement through {}", c.base()))),
    };
    Ok(EndorsementPublished {
        signer,
        subject: args.did.to_string(),
        weight,
        sequence: signed.sequence,
        event: answer["event"].as_str().unwrap_or_default().to_owned(),
        profile_event,
        relays: strings(&answer["relays"]),
    })
}

/// No node runs: start the swarm on the data dir for the announcement, as `app yank` does.
fn offline(
    home: &Path,
    key: &Keypair,
    args: &EndorseArgs,
    weight: f64,
) -> Result<EndorsementPublished> {
    let (signer, subject) = (key.did(), args.did);
    let after = super::catalog::open(crate::home::existing(home)?)?
        .read_blocking(move |c| c.endorsement_sequence(&signer, &subject))?;
    let signed = sign(key, args, weight, after)?;
    let out = super::sync::runtime()?.block_on(async {
        let d = super::sync::start(home, &args.relays).await?;
        // Caught up first, so that the event is dated after the one it replaces at the
        // same relay address (an endorsement of the same subject a moment ago).
        d.relays()
            .wait_synced(std::time::Duration::from_secs(10))
            .await;
        let out = publish_endorsement(&d, key, &args.key, &signed, true).await;
        d.shutdown().await;
        out.context("publishing the endorsement")
    })?;
    // The home's catalog took it: its scores follow now, as a running node's would.
    super::catalog::open(home)?.write_blocking(|c| c.recompute_trust())?;
    Ok(out)
}
