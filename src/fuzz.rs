//! Property-based fuzzing (proptest, stable toolchain) of what the node takes from
//! outside: Nostr events as a relay sends them ([`codec`], `atoll_discovery::codec`,
//! whose crate has no unit-test binary of its own) and the HTTP API's request bodies
//! through the real router ([`api`]). Failures found are kept in `proptest-regressions/`
//! (replayed first on every run) and as named tests in [`regressions`]. More cases:
//! `PROPTEST_CASES=100000 cargo test -p atoll --lib fuzz`. See docs/security.md, "Fuzzing".
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod codec;
#[path = "../registry/src/fuzz/kit.rs"]
mod kit;
mod objects;
mod regressions;
