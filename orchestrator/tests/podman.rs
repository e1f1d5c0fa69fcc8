//! The orchestrator against real rootless podman (the user `ATOLL_PODMAN_USER`, default
//! `atoll`), on the sample apps of `apps/`. Each test runs its own isolated podman instance
//! (see `podman/harness.rs`) and removes everything it created.
//!
//! Needs `sudo scripts/setup-host.sh` and `scripts/build-images.sh`; fails (never skips)
//! without them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "podman/backups.rs"]
mod backups;
#[path = "podman/faults.rs"]
mod faults;
#[path = "podman/gate.rs"]
mod gate;
#[path = "podman/harness.rs"]
mod harness;
#[path = "podman/lifecycle.rs"]
mod lifecycle;
#[path = "podman/links.rs"]
mod links;
#[path = "podman/templates.rs"]
mod templates;
