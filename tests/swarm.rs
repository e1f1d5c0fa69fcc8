//! The discovery test binary (one binary: each links iroh + nostr). Scenarios:
//!
//! ```text
//!            relay (in-process, LMDB)            nostr-relay (Python, separate process)
//!        /    |     |     |     \                        |
//!   publisher n2   n3    n4   n5 (late)           publisher ── n1
//! ```
//! - `net`: five nodes converge on three apps, a new version, a late joiner; the origin goes
//!   offline and a mirror serves; a mirror with tampered bytes is rejected.
//! - `hostile`: forged, replayed, equivocating, expired, oversized and malformed input is
//!   rejected with the right recorded reason, and the node keeps working.
//! - `limits`: a peer past its share of iroh connections is refused `busy`; others are served.
//! - `refused`: an alias-bomb manifest from a brand-new key over real iroh is refused once
//!   and leaves nothing; a bad update gives way to the previous version.
//! - `relayed`: an origin that advertises only an unreachable address serves its blobs
//!   through its self-hosted iroh relay (the real `iroh-relay --dev`, a child process;
//!   `support/iroh_relay.rs` launches it), to a node with no relays of its own.
//! - `rotation`: a key rotation after a theft voids the thief's fast-forward to 2^53−1 and
//!   the app updates normally; a thief's rotation, a gap and a fork are refused.
//! - `front`: the embedded relay answers bad messages with a NOTICE, caps connections.
//! - `interop`: a third-party relay in its own process, and an independent BIP-340 check;
//!   the same relay without validation feeding future-dated, forged and oversized events.
//! - `outbox`: a trusted publisher's outbox relay is read (and dropped when it is
//!   blocked); relays added and removed at runtime, persisted across a restart.
//! - `progress`: an install's fetch reports bytes of the total, the source and the path; a
//!   source that stalls is named and left for the next one.
//! - `codec`, `https`: the event format and HTTPS origins on their own.
//! - `decide`: the pipeline's decision for one event (pure), table-driven.
//!
//! It lives in the root package because the nodes run over the real catalog, through the
//! node's adapter (`atoll::node::catalog_port`); `atoll-discovery` does not depend on it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "swarm/codec.rs"]
mod codec;
#[path = "swarm/decide.rs"]
mod decide;
#[path = "swarm/front.rs"]
mod front;
#[path = "swarm/hostile.rs"]
mod hostile;
#[path = "swarm/https.rs"]
mod https;
#[path = "swarm/interop.rs"]
mod interop;
#[path = "support/iroh_relay.rs"]
mod iroh_relay;
#[path = "swarm/limits.rs"]
mod limits;
#[path = "swarm/net.rs"]
mod net;
#[path = "swarm/outbox.rs"]
mod outbox;
#[path = "swarm/progress.rs"]
mod progress;
#[path = "swarm/refused.rs"]
mod refused;
#[path = "swarm/relayed.rs"]
mod relayed;
#[path = "swarm/rotation.rs"]
mod rotation;
#[path = "swarm/support.rs"]
mod support;
#[path = "swarm/unvalidated.rs"]
mod unvalidated;
