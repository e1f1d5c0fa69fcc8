//! Reconciling one app: gather the inputs of the pure decision (`decide.rs`): the specs
//! (after preparing the app's secrets and volumes, whose values enter the specs), the
//! configuration check and `/proc` facts of each listed container; call [`decide`]; then
//! execute its actions (`execute.rs`).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use super::decide::{self, decide, AppFacts, ConfigCheck, ContainerSlot, Observed, Process};
use super::{PassReport, Reconciler};
use crate::error::ReconcileError;
use crate::podman::types::{ListedContainer, Network};
use crate::progress::ProgressSink;
use crate::spec::{self, Inputs};
use crate::store::{AppRecord, Phase, Wanted};
use crate::{drift, files, labels, procfs, secrets, settings, volumes};

impl Reconciler {
    pub(super) async fn reconcile_app(
        &mut self,
        record: &AppRecord,
        actual: Vec<ListedContainer>,
        networks: &HashMap<String, Network>,
        sink: &ProgressSink,
        report: &mut PassReport,
    ) -> Result<(), ReconcileError> {
        if record.phase == Phase::Preparing && !matches!(record.wanted, Wanted::Removed { .. }) {
            // Its images are being loaded (or will be, by `resume`): nothing to create yet,
            // and an update's old containers are left running as they are.
            return Ok(());
        }
        let slots = match record.wanted {
            Wanted::Running => self.slots(record).await?,
            Wanted::Stopped | Wanted::Removed { .. } => Vec::new(),
        };
        // An app being removed loses its containers whatever they do: no need to look.
        let removing = matches!(record.wanted, Wanted::Removed { .. });
        let mut listed = Vec::with_capacity(actual.len());
        for l in actual {
            let slot = l
                .label(labels::CONTAINER)
                .and_then(|c| slots.iter().find(|s| s.container == c))
                .and_then(|s| s.desired.as_ref());
            listed.push(self.observe(l, slot, !removing).await?);
        }
        let plan = {
            let facts = self.shared.runtime();
            decide(&AppFacts {
                record,
                slots: &slots,
                listed: &listed,
                facts: &facts,
                network_exists: networks.contains_key(&labels::network_name(&record.name)),
                now: Instant::now(),
            })
        };
        report.next_wake = super::earliest(report.next_wake, plan.wake);
        self.execute(record, &slots, plan, networks, sink, report)
            .await
    }

    /// Prepare the app's secrets and volumes, and build its specs in start order.
    async fn slots(&self, record: &AppRecord) -> Result<Vec<ContainerSlot>, ReconcileError> {
        let manifest = &record.release.manifest;
        let app_dir = self.shared.config.app_dir(&record.name);
        let mut secret_values = BTreeMap::new();
        for (s, _) in manifest.app_secrets() {
            secret_values.insert(s.name.clone(), secrets::ensure(&app_dir, s)?);
        }
        for c in &manifest.containers {
            let vols: Vec<String> = c.volumes.iter().map(|v| v.name.clone()).collect();
            volumes::prepare(&self.shared.host, &app_dir, &vols, c.user.as_deref()).await?;
        }
        // Config files are rendered (when their content changed) before the specs that
        // mount them are built: a new content is a new mount source, so a new config hash.
        let setting_values = settings::resolve(manifest, &record.settings);
        let values = files::Values {
            record,
            secrets: &secret_values,
            settings: &setting_values,
        };
        let mut rendered = BTreeMap::new();
        for c in &manifest.containers {
            let out = files::render(&self.shared.host, &app_dir, c, &values).await?;
            rendered.insert(c.name.clone(), out);
        }
        let inputs = Inputs {
            node: &self.shared.config.node,
            app_dir: &app_dir,
            secrets: &secret_values,
            files: &rendered,
        };
        Ok(decide::ordered(manifest)
            .into_iter()
            .map(|c| ContainerSlot {
                container: c.name.clone(),
                desired: spec::build(record, c, &inputs),
            })
            .collect())
    }

    /// What the decision needs to know about a listed container: its inspected
    /// configuration (once per id, when it is its slot's container and its config-hash
    /// label matches) and, when podman says it runs (and `look_at_process`), its process
    /// and conmon.
    async fn observe(
        &mut self,
        l: ListedContainer,
        desired: Option<&spec::Desired>,
        look_at_process: bool,
    ) -> Result<Observed, ReconcileError> {
        let config = match desired {
            Some(d)
                if l.name() == d.spec.name
                    && l.label(labels::CONFIG_HASH) == Some(d.config_hash.as_str()) =>
            {
                self.check_config(&l, d).await?
            }
            _ => ConfigCheck::NotChecked,
        };
        let inspect_process = !matches!(config, ConfigCheck::Drifted(_) | ConfigCheck::Vanished);
        let process = if look_at_process && l.state.is_running_like() && inspect_process {
            let conmon = self.conmon_pid(&l).await?;
            let conmon_alive = conmon.is_some_and(|p| procfs::state(p).alive());
            let pid = procfs::state(l.pid);
            Process {
                pid,
                conmon_alive,
                exit_file: !pid.alive()
                    && !conmon_alive
                    && self.shared.host.exits_dir().join(&l.id).exists(),
            }
        } else {
            Process::NOT_RUNNING
        };
        let created_by_us = self.created.contains(&l.id);
        Ok(Observed {
            listed: l,
            config,
            process,
            created_by_us,
        })
    }

    /// Compare a container's inspected configuration with its spec (cached per id).
    async fn check_config(
        &mut self,
        l: &ListedContainer,
        d: &spec::Desired,
    ) -> Result<ConfigCheck, ReconcileError> {
        if self.verified.get(&l.id) == Some(&d.config_hash) {
            return Ok(ConfigCheck::Verified);
        }
        let Some(inspect) = self.shared.podman.inspect_container(&l.id).await? else {
            return Ok(ConfigCheck::Vanished);
        };
        let image_env = self.image_env(&inspect.image).await?;
        if let Some(reason) = drift::check(&inspect, d, &image_env) {
            return Ok(ConfigCheck::Drifted(reason));
        }
        self.verified.insert(l.id.clone(), d.config_hash.clone());
        self.conmon
            .insert((l.id.clone(), inspect.state.pid), inspect.state.conmon_pid);
        Ok(ConfigCheck::Verified)
    }
}
