//! Trust that lives: a bounded, debounced recompute of every score when its inputs change
//! in a running node (an endorsement or report arrives over the swarm or through the API,
//! a penalty is recorded), so scores change without a restart.
//!
//! The first change wakes the task; it waits [`DEBOUNCE`] so that the changes arriving
//! meanwhile (a relay's catch-up delivers many at once) join the same run; it then runs
//! one recompute on the catalog's writer. At most one runs at a time (one task), and two
//! runs start at least [`MIN_INTERVAL`] apart: a flood of endorsements costs at most one
//! recompute per interval, however many arrive. Changes during a run mark it dirty
//! again, so the last change is always followed by a run. Pin and block recompute at
//! once (the operator waits for the answer) and need no poke.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use atoll_catalog::CatalogService;
use tokio::sync::Notify;

/// How long the first change waits for more to join its run.
pub const DEBOUNCE: Duration = Duration::from_secs(2);

/// Least time between the starts of two runs.
pub const MIN_INTERVAL: Duration = Duration::from_secs(5);

/// A handle that asks for a recompute (cheap to clone; pokes never block).
#[derive(Debug, Clone, Default)]
pub struct TrustRecompute {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    wake: Notify,
    pokes: AtomicU64,
    runs: AtomicU64,
}

impl TrustRecompute {
    /// A handle whose task is not started yet ([`TrustRecompute::run`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Something trust depends on changed: a recompute follows within the debounce.
    pub fn poke(&self) {
        self.inner.pokes.fetch_add(1, Ordering::Relaxed);
        // One stored permit: pokes before the task waits again are one wake-up.
        self.inner.wake.notify_one();
    }

    /// Changes seen so far (logs and tests).
    pub fn pokes(&self) -> u64 {
        self.inner.pokes.load(Ordering::Relaxed)
    }

    /// Recomputes run so far.
    pub fn runs(&self) -> u64 {
        self.inner.runs.load(Ordering::Relaxed)
    }

    /// The task: until the node stops (abort it), one debounced recompute per burst of
    /// pokes, at most one per [`MIN_INTERVAL`].
    pub async fn run(self, catalog: CatalogService) {
        self.run_with(catalog, DEBOUNCE, MIN_INTERVAL).await;
    }

    async fn run_with(self, catalog: CatalogService, debounce: Duration, interval: Duration) {
        loop {
            self.inner.wake.notified().await;
            tokio::time::sleep(debounce).await;
            let started = tokio::time::Instant::now();
            let t = std::time::Instant::now();
            match catalog.write(|c| c.recompute_trust()).await {
                Ok(stats) => tracing::info!(
                    dids = stats.dids,
                    endorsements = stats.endorsements,
                    trusted = stats.trusted,
                    ms = t.elapsed().as_millis() as u64,
                    "trust recomputed after changes"
                ),
                Err(atoll_catalog::CatalogError::ServiceStopped) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "trust recompute failed; the next change retries")
                }
            }
            self.inner.runs.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep_until(started + interval).await;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn a_burst_of_pokes_is_one_recompute_and_a_later_poke_another() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = CatalogService::open(dir.path().join("catalog.db")).unwrap();
        let r = TrustRecompute::new();
        let (debounce, interval) = (Duration::from_millis(50), Duration::from_millis(200));
        let task = tokio::spawn(r.clone().run_with(catalog, debounce, interval));
        for _ in 0..1000 {
            r.poke();
        }
        while r.runs() < 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Nothing poked since: however long we wait, no second run.
        tokio::time::sleep(interval * 3).await;
        assert_eq!(r.runs(), 1, "1000 pokes in one burst make one run");
        r.poke();
        while r.runs() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(r.pokes(), 1001);
        task.abort();
    }
}
