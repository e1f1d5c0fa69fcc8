//! `atoll trust pin|unpin|block|unblock|list|explain|endorsements`: the operator's trust
//! anchors and why each publisher has its score. Every change recomputes the scores.
//! `trust endorse|report` sign endorsements ([`super::endorse`]).

use std::path::Path;

use anyhow::Result;
use atoll_catalog::{Catalog, CatalogError, TrustDecision};
use atoll_registry::Did;
use clap::Subcommand;
use serde::Serialize;

use super::{catalog, output};

/// Trust commands.
#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Trust a publisher fully: it becomes an anchor (score 1) and its endorsements count.
    Pin {
        /// The publisher's did:key.
        did: Did,
        /// Why (kept with the decision; one line, at most 1024 bytes).
        #[arg(long, default_value = "")]
        note: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a pin.
    Unpin {
        /// The publisher's did:key.
        did: Did,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Distrust a publisher: score 0, and its endorsements count for nothing.
    Block {
        /// The publisher's did:key.
        did: Did,
        /// Why (kept with the decision; one line, at most 1024 bytes).
        #[arg(long, default_value = "")]
        note: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a block.
    Unblock {
        /// The publisher's did:key.
        did: Did,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Your pins and blocks, then the highest scores.
    List {
        /// Most rows to show.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Why a publisher has its score: the path from your pins, reports and penalties.
    Explain {
        /// The publisher's did:key.
        did: Did,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Who endorses whom: the endorsements and reports a publisher gave and received.
    Endorsements {
        /// The publisher's did:key.
        did: Did,
        /// Most rows per side.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Vouch for a publisher: sign an endorsement with your key and publish it (through
    /// the running node, else offline). `--weight 0` withdraws an earlier one.
    Endorse(super::endorse::EndorseArgs),
    /// Report a publisher: a negative endorsement (`--weight` is its positive strength).
    Report(super::endorse::EndorseArgs),
}

/// One trust decision, run on the catalog's writer: whether it changed anything.
type Change = Box<dyn FnOnce(&mut Catalog, &Did) -> Result<bool, CatalogError> + Send>;

#[derive(Serialize)]
struct ChangeOut {
    did: String,
    action: &'static str,
    changed: bool,
    score: f64,
    stats: atoll_catalog::TrustStats,
}

/// Run a trust command.
pub fn run(home: &Path, addr: &super::client::NodeAddr, cmd: TrustCommand) -> Result<()> {
    if let TrustCommand::Pin { note, .. } | TrustCommand::Block { note, .. } = &cmd {
        // Before opening anything, as the catalog would refuse it anyway.
        atoll_catalog::trust::check_note(note)?;
    }
    // Reading needs a catalog already; a decision needs at least an existing home (a
    // mistyped --home must not become a new home holding one pin).
    let (did, action, json, change): (Did, _, _, Change) = match cmd {
        TrustCommand::Pin { did, note, json } => (
            did,
            "pinned",
            json,
            Box::new(move |c, d| c.pin(d, &note).map(|()| true)),
        ),
        TrustCommand::Unpin { did, json } => (did, "unpinned", json, Box::new(|c, d| c.unpin(d))),
        TrustCommand::Block { did, note, json } => (
            did,
            "blocked",
            json,
            Box::new(move |c, d| c.block(d, &note).map(|()| true)),
        ),
        TrustCommand::Unblock { did, json } => {
            (did, "unblocked", json, Box::new(|c, d| c.unblock(d)))
        }
        TrustCommand::Endorse(args) => return super::endorse::run(home, addr, args, false),
        TrustCommand::Report(args) => return super::endorse::run(home, addr, args, true),
        TrustCommand::Endorsements { did, limit, json } => {
            return endorsements(home, &did, limit, json)
        }
        TrustCommand::List { limit, json } => {
            let cat = catalog::open_existing(home)?;
            let rows = cat.read_blocking(move |c| c.trust_list(limit))?;
            if json {
                return output::json(&rows);
            }
            if rows.is_empty() {
                println!("no trust decisions yet: pin a publisher you trust with `atoll trust pin <did>`");
            }
            for r in &rows {
                // A pin kept while blocked applies again after unblock: say so.
                let decision = match r.decision {
                    Some(TrustDecision::Block) if r.pinned => "block (pin kept)",
                    d => d.map_or("", TrustDecision::as_str),
                };
                println!(
                    "{:>5.2}  {:<6} {:<24} {}{}",
                    r.score,
                    decision,
                    r.name.as_deref().unwrap_or("-"),
                    r.did,
                    if r.penalties > 0 {
                        format!("  ({} penalties)", r.penalties)
                    } else {
                        String::new()
                    }
                );
            }
            return Ok(());
        }
        TrustCommand::Explain { did, json } => {
            let cat = catalog::open_existing(home)?;
            let (ex, keys) =
                cat.read_blocking(move |c| Ok((c.explain(&did)?, c.key_history(&did)?)))?;
            if json {
                let mut v = serde_json::to_value(&ex)?;
                v["key_history"] = serde_json::to_value(&keys)?;
                return output::json(&v);
            }
            print!("{ex}");
            if let Some(h) = &keys {
                super::rotate::print_history(h);
            }
            return Ok(());
        }
    };
    let cat = catalog::open(crate::home::existing(home)?)?;
    let of = did;
    let (changed, stats, score) = cat.write_blocking(move |c| {
        let changed = change(c, &of)?;
        let stats = c.recompute_trust()?;
        Ok((changed, stats, c.trust_score(&of)?))
    })?;
    let out = ChangeOut {
        did: did.to_string(),
        action,
        changed,
        score,
        stats,
    };
    if json {
        return output::json(&out);
    }
    if changed {
        println!("{action} {did}; its score is now {:.2}", out.score);
    } else {
        println!(
            "{did} was not {}; nothing changed",
            action.trim_start_matches("un")
        );
    }
    println!(
        "scores recomputed: {} of {} publishers trusted from {} anchors",
        stats.trusted, stats.dids, stats.anchors
    );
    Ok(())
}

/// `trust endorsements DID`: given and received, newest first.
fn endorsements(home: &Path, did: &Did, limit: u32, json: bool) -> Result<()> {
    let cat = catalog::open_existing(home)?;
    let of = *did;
    let e = cat.read_blocking(move |c| c.endorsements_of(&of, limit))?;
    if json {
        return output::json(&e);
    }
    let who = |d: &Did, n: &Option<String>| match n {
        Some(n) => format!("{} ({})", output::plain(n, 64), d.short()),
        None => d.short(),
    };
    println!("{did}");
    println!("  received ({}):", e.received.len());
    for r in &e.received {
        println!(
            "    {:+.2}  from {}  {}",
            r.weight,
            who(&r.signer, &r.signer_name),
            output::plain(&r.reason, 200)
        );
    }
    println!("  given ({}):", e.given.len());
    for r in &e.given {
        println!(
            "    {:+.2}  to {}  {}",
            r.weight,
            who(&r.subject, &r.subject_name),
            output::plain(&r.reason, 200)
        );
    }
    Ok(())
}
