//! Outbox relays: the node also reads from the relays that the signed profiles of the
//! publishers it trusts name (NIP-65 style), so a publisher that moves relays is still
//! found. Trusted: pinned, or not blocked with a score of at least the install threshold.
//! Bounded: at most [`PER_PUBLISHER`] relays of each publisher and [`TOTAL`] in all; a
//! relay the node uses anyway (embedded, config, operator) or one the operator disabled
//! is skipped and does not count. Recomputed every [`INTERVAL`] by the node's relay task
//! (`super::relays`), so a profile or a trust change takes effect within it, and a
//! publisher that stops being trusted loses its relays.

use std::collections::HashSet;
use std::time::Duration;

use atoll_catalog::{OutboxPublisher, TrustDecision};
use atoll_discovery::relay::{normal_url, OutboxReason};

/// Most relays taken from one publisher's profile.
pub const PER_PUBLISHER: usize = 3;
/// Most outbox relays in all.
pub const TOTAL: usize = 16;
/// How often the outbox is recomputed from the catalog (profiles, pins, scores).
pub const INTERVAL: Duration = Duration::from_secs(3);

/// Why `p` is trusted, in words.
fn why(p: &OutboxPublisher, threshold: f64) -> String {
    match p.decision {
        Some(TrustDecision::Pin) => "pinned".to_owned(),
        _ => format!("score {:.2} >= {threshold:.2}", p.score),
    }
}

/// The outbox relays to read from, each with the publishers naming it, in the order of
/// `publishers` (pinned first, then by score). `skip`: normalised URLs the node uses for
/// another reason or must not use.
pub fn select(
    publishers: &[OutboxPublisher],
    skip: &HashSet<String>,
    threshold: f64,
) -> Vec<(String, Vec<OutboxReason>)> {
    let mut out: Vec<(String, Vec<OutboxReason>)> = Vec::new();
    for p in publishers {
        let reason = OutboxReason {
            did: p.did.to_string(),
            why: why(p, threshold),
        };
        let mut taken = 0;
        for url in &p.relays {
            if taken == PER_PUBLISHER {
                break;
            }
            // Stored URLs were checked; one nostr-sdk still refuses is skipped.
            let Ok(url) = normal_url(url) else { continue };
            if skip.contains(&url) {
                continue;
            }
            if let Some((_, reasons)) = out.iter_mut().find(|(u, _)| *u == url) {
                if !reasons.iter().any(|r| r.did == reason.did) {
                    reasons.push(reason.clone());
                }
                taken += 1;
            } else if out.len() < TOTAL {
                out.push((url, vec![reason.clone()]));
                taken += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use atoll_registry::Keypair;

    fn publisher(seed: u8, pinned: bool, relays: &[String]) -> OutboxPublisher {
        OutboxPublisher {
            did: Keypair::from_seed([seed; 32]).did(),
            name: None,
            decision: pinned.then_some(TrustDecision::Pin),
            score: if pinned { 1.0 } else { 0.6 },
            relays: relays.to_vec(),
        }
    }

    fn urls(prefix: &str, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("wss://{prefix}{i}.example.org"))
            .collect()
    }

    #[test]
    fn bounded_per_publisher_and_in_all() {
        let pubs: Vec<OutboxPublisher> = (0..10)
            .map(|i| publisher(i, i == 0, &urls(&format!("p{i}-"), 5)))
            .collect();
        let sel = select(&pubs, &HashSet::new(), 0.5);
        assert_eq!(sel.len(), TOTAL);
        // Three of the first publisher, in its order, marked pinned.
        assert_eq!(sel[0].0, "wss://p0-0.example.org");
        assert_eq!(sel[2].0, "wss://p0-2.example.org");
        assert_eq!(sel[0].1[0].why, "pinned");
        assert_eq!(sel[3].0, "wss://p1-0.example.org");
        assert_eq!(sel[3].1[0].why, "score 0.60 >= 0.50");
        assert!(!sel.iter().any(|(u, _)| u == "wss://p0-3.example.org"));
    }

    #[test]
    fn shared_and_skipped_relays() {
        let shared = "wss://shared.example.org".to_owned();
        let a = publisher(1, true, &[shared.clone(), "wss://cfg.example.org".into()]);
        let b = publisher(2, false, std::slice::from_ref(&shared));
        let skip = HashSet::from(["wss://cfg.example.org".to_owned()]);
        let sel = select(&[a, b], &skip, 0.5);
        assert_eq!(sel.len(), 1, "{sel:?}");
        assert_eq!(sel[0].0, shared);
        assert_eq!(sel[0].1.len(), 2, "both publishers are named");
    }
}
