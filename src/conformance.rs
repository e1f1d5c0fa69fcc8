//! `atoll conformance`: the attack suite that ships with the node. It starts a throwaway
//! node (the real discovery stack over the real SQLite catalog, in a temporary directory,
//! every socket on 127.0.0.1:0) with hostile peers in process — a relay that serves
//! forged, oversized, malformed or only old events, an iroh provider that stalls or
//! answers with junk, an HTTPS origin that lies, stalls or never ends — and runs TUF's
//! attack list adapted to atoll, plus atoll's own. Each attack is judged by
//! [`verdict::judge`]: the refusals the node recorded, facts checked afterwards, and
//! nothing of the attack left stored (but the bounded audit record of the refusal).
//!
//! One file per attack family: [`forgery`], [`tamper`], [`history`], [`rotation`],
//! [`transfer`], [`events`]; the throwaway node is [`lab`] (its HTTP API: [`guard`]), its hostile peers [`relay`], [`provider`],
//! [`origin`]. `docs/security.md` ("Threat model") maps each attack to its defence.

pub mod events;
pub mod forgery;
pub mod guard;
pub mod history;
pub mod lab;
pub mod origin;
pub mod provider;
pub mod relay;
pub mod rotation;
pub mod tamper;
pub mod transfer;
pub mod verdict;

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use anyhow::Result;

use lab::Lab;
use verdict::{judge, Observation, Report, Row};

/// A boxed future borrowing the lab.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One attack of the suite.
pub struct Attack {
    /// Stable id (what `--json` and the CI test name).
    pub id: &'static str,
    /// The attack.
    pub name: &'static str,
    /// `tuf` (TUF's attack list, adapted) or `atoll`.
    pub list: &'static str,
    /// The refusal expected, in words.
    pub expected: &'static str,
    /// The reason codes the node must record (each at least once).
    pub refusals: &'static [&'static str],
    run: for<'a> fn(&'a Lab) -> BoxFut<'a, Result<Observation>>,
}

/// Every attack, in the order they run.
pub fn attacks() -> Vec<Attack> {
    vec![
        Attack {
            id: "arbitrary-installation",
            name: "an entry for <did>/<app> (a new app, a newer version) not signed by that DID",
            list: "tuf",
            expected: "refused as did-signature; no such app, the head does not move",
            refusals: &["did-signature"],
            run: forgery::arbitrary_installation,
        },
        Attack {
            id: "endless-data",
            name: "a blob source that never stops sending",
            list: "tuf",
            expected: "cut at the signed size and refused as blob-size; no byte kept",
            refusals: &["blob-size"],
            run: transfer::endless_data,
        },
        Attack {
            id: "extraneous-dependencies",
            name: "an entry a mirror altered to add an image; a manifest altered to add a container",
            list: "tuf",
            expected: "refused as did-signature and blob-size; never attached or stored",
            refusals: &["did-signature", "blob-size"],
            run: tamper::extraneous_dependencies,
        },
        Attack {
            id: "fast-forward",
            name: "a thief with the current key signs sequence 2^53-1 to freeze the app",
            list: "tuf",
            expected: "voided by the publisher's rotation; the head falls back and updates go on",
            refusals: &[],
            run: rotation::fast_forward,
        },
        Attack {
            id: "indefinite-freeze",
            name: "a relay that serves only an old entry, whose validity ran out",
            list: "tuf",
            expected: "recorded as expired; shown stale, never fetched; install refused (stale)",
            refusals: &["expired"],
            run: history::indefinite_freeze,
        },
        Attack {
            id: "key-compromise",
            name: "a thief with the current key rotates to its own key and signs on",
            list: "tuf",
            expected: "its rotation refused as rotation-mismatch, the retired key's entries as signing-key; recovered by rotation",
            refusals: &["rotation-mismatch", "signing-key"],
            run: rotation::key_compromise,
        },
        Attack {
            id: "malicious-mirrors",
            name: "a relay that withholds the update and serves a doctored one; a mirror that answers with junk",
            list: "tuf",
            expected: "did-signature for the doctored entry, blob-corrupt for the junk; the update still arrives",
            refusals: &["did-signature", "blob-corrupt"],
            run: tamper::malicious_mirrors,
        },
        Attack {
            id: "mix-and-match",
            name: "an entry with another version's manifest or artifacts",
            list: "tuf",
            expected: "refused as did-signature (altered) or manifest-mismatch (signed so); the head stays",
            refusals: &["did-signature", "manifest-mismatch"],
            run: tamper::mix_and_match,
        },
        Attack {
            id: "rollback",
            name: "a genuine entry with a sequence below the head's",
            list: "tuf",
            expected: "refused as rollback; the head stays",
            refusals: &["rollback"],
            run: history::rollback,
        },
        Attack {
            id: "slow-retrieval",
            name: "an origin that accepts the request and then sends nothing",
            list: "tuf",
            expected: "left after the stall timeout; the blobs come from the next source",
            refusals: &[],
            run: transfer::slow_retrieval,
        },
        Attack {
            id: "wrong-software",
            name: "one app's entry or blobs offered as another's",
            list: "tuf",
            expected: "refused as namespace (another app's address) or manifest-mismatch (another app's manifest)",
            refusals: &["namespace", "manifest-mismatch"],
            run: forgery::wrong_software,
        },
        Attack {
            id: "equivocation",
            name: "two different entries with the same sequence, both signed",
            list: "atoll",
            expected: "recorded as equivocation; the app is flagged; install refused (equivocated)",
            refusals: &["equivocation"],
            run: history::equivocation,
        },
        Attack {
            id: "oversized-event",
            name: "an event over 128 KiB",
            list: "atoll",
            expected: "refused as oversized; the node keeps syncing",
            refusals: &["oversized"],
            run: events::oversized_event,
        },
        Attack {
            id: "malformed-event",
            name: "an event that is not an envelope; one with a forged Nostr signature",
            list: "atoll",
            expected: "refused as malformed and nostr-signature; the node keeps syncing",
            refusals: &["malformed", "nostr-signature"],
            run: events::malformed_event,
        },
        Attack {
            id: "replay-other-publisher",
            name: "an entry carried by another DID's Nostr key, or edited to name another DID",
            list: "atoll",
            expected: "the edited one refused as did-signature; the carried one stays its signer's",
            refusals: &["did-signature"],
            run: forgery::replay_other_publisher,
        },
    ]
}

/// Start the throwaway node, run every attack on it, stop it and remove it.
pub async fn run() -> Result<Report> {
    let started = Instant::now();
    let lab = Lab::start().await?;
    let mut rows = Vec::new();
    for attack in attacks() {
        let t = Instant::now();
        let obs = match (attack.run)(&lab).await {
            Ok(obs) => obs,
            Err(e) => Observation {
                error: Some(format!("{e:#}")),
                ..Observation::default()
            },
        };
        let verdict = judge(attack.refusals, &obs);
        tracing::info!(attack = attack.id, status = %verdict.status, "conformance attack done");
        rows.push(Row {
            id: attack.id,
            attack: attack.name,
            list: attack.list,
            expected: attack.expected,
            happened: obs.summary(),
            status: verdict.status,
            failures: verdict.failures,
            seconds: t.elapsed().as_secs_f64(),
        });
    }
    lab.shutdown().await;
    Ok(Report::new(rows, started.elapsed().as_secs_f64()))
}
