//! Orphans: containers and networks labelled with our node id whose app is not installed
//! (left by a crash mid-uninstall, or by an older node state). Removed with their grace.

use std::collections::{HashMap, HashSet};

use super::{PassReport, Reconciler};
use crate::error::ReconcileError;
use crate::labels;
use crate::podman::types::{ListedContainer, Network};

impl Reconciler {
    pub(super) async fn remove_orphans(
        &mut self,
        containers: Vec<ListedContainer>,
        networks: &HashMap<String, Network>,
        known: &HashSet<String>,
        report: &mut PassReport,
    ) -> Result<(), ReconcileError> {
        let mut first_error = None;
        for c in containers {
            tracing::info!(container = %c.name(), app = c.label(labels::APP).unwrap_or("?"), "removing orphan container");
            if let Err(e) = self.stop_remove(&c, report).await {
                first_error.get_or_insert(e);
            }
        }
        for (name, n) in networks {
            let app = n.labels.get(labels::APP).map(String::as_str).unwrap_or("");
            if !known.contains(app) {
                tracing::info!(network = %name, "removing orphan network");
                if let Err(e) = self.shared.podman.remove_network(name).await {
                    first_error.get_or_insert(e.into());
                }
                report.actions += 1;
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
