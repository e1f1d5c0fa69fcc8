//! Orchestrator configuration, with documented defaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::host::PodmanConfig;

/// Restart backoff: the n-th start in a row waits `base * 2^(n-1)` (at most `max`) after the
/// previous one; a container that stayed up `stable` resets the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First delay (default 1 s).
    pub base: Duration,
    /// Longest delay (default 5 min).
    pub max: Duration,
    /// Uptime after which a container counts as stable again (default 60 s).
    pub stable: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
            stable: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// Delay before start number `attempt` (1-based) of a streak.
    pub fn delay(&self, attempt: u32) -> Duration {
        if attempt <= 1 {
            return Duration::ZERO;
        }
        let factor = 1u32 << (attempt - 2).min(20);
        self.base.saturating_mul(factor).min(self.max)
    }
}

/// Everything the orchestrator needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// This node's id, a label value: the orchestrator only touches objects labelled with it.
    pub node: String,
    /// Data dir: app data lives in `<data>/apps/<app>/{volumes,secrets}`.
    pub data_dir: PathBuf,
    /// How to reach podman.
    pub podman: PodmanConfig,
    /// Time between two periodic reconcile passes (default 15 s); events wake it sooner.
    pub resync: Duration,
    /// Restart backoff.
    pub backoff: Backoff,
    /// How long install, start and restart wait for the app to become ready (default 5 min).
    pub ready_timeout: Duration,
    /// How long an updated app has to become ready before it is rolled back. `None` (the
    /// default) derives it from the health checks: start period + (retries + 2) intervals,
    /// at least 30 s.
    pub update_window: Option<Duration>,
    /// Follow the podman events stream to react at once (default true).
    pub follow_events: bool,
}

impl Config {
    /// A configuration with the defaults.
    pub fn new(node: &str, data_dir: &Path, podman: PodmanConfig) -> Self {
        Self {
            node: node.to_owned(),
            data_dir: data_dir.to_owned(),
            podman,
            resync: Duration::from_secs(15),
            backoff: Backoff::default(),
            ready_timeout: Duration::from_secs(300),
            update_window: None,
            follow_events: true,
        }
    }

    /// `<data>/apps/<app>`.
    pub fn app_dir(&self, app: &str) -> PathBuf {
        self.data_dir.join("apps").join(app)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(10),
            stable: Duration::from_secs(60),
        };
        let delays: Vec<u64> = (1..=7).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(delays, [0, 1, 2, 4, 8, 10, 10]);
        assert_eq!(b.delay(1000), Duration::from_secs(10));
    }
}
