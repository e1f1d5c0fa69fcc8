//! Property-based fuzzing (proptest, stable toolchain) of what this crate parses from
//! outside the process: manifests (author YAML and network blobs) and signed envelopes.
//! Each property runs thousands of cases in CI; failures found are kept in
//! `proptest-regressions/` (replayed first on every run) and as named tests in
//! [`regressions`]. More cases: `PROPTEST_CASES=100000 cargo test -p atoll-registry fuzz`.
//! See docs/security.md, "Fuzzing".
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod envelope;
pub(crate) mod kit;
mod manifest;
mod regressions;
