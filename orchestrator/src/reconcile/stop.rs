//! The stop half of a restart (an operation asks for it before a pass). Stopped and removed
//! apps are decided in `decide.rs` like every other.

use super::decide::ordered;
use super::{PassReport, Reconciler};
use crate::{labels, procfs};

impl Reconciler {
    /// Stop an app's running containers (reverse start order) and clear their backoff, so
    /// the next pass starts them again at once: a restart.
    pub(crate) async fn stop_for_restart(&mut self, app: &str) {
        let Ok(Some(record)) = self.shared.store.get(app).await else {
            return;
        };
        let Ok(list) = self.list(&[(labels::APP, app)]).await else {
            return;
        };
        let mut report = PassReport::default();
        for c in ordered(&record.release.manifest).into_iter().rev() {
            for l in list
                .iter()
                .filter(|l| l.label(labels::CONTAINER) == Some(c.name.as_str()))
            {
                if l.state.is_running_like() && procfs::state(l.pid).alive() {
                    if let Err(e) = self.stop(app, &c.name, l, &mut report).await {
                        tracing::warn!(%app, container = %c.name, error = %e, "stop for restart failed");
                    }
                }
            }
        }
        self.shared.reset_backoff(app);
    }
}
