//! After the actions of a pass: refresh the runtime table from a fresh listing (ids,
//! PIDs, states) and keep one health-check task per running container.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::{HealthTask, Reconciler};
use crate::error::ReconcileError;
use crate::health::{self, HealthState, HealthStatus, ProbeTarget};
use crate::labels;
use crate::podman::types::ContainerState;
use crate::procfs;
use crate::runtime::Failure;

impl Reconciler {
    /// Refresh the runtime table from a fresh listing and (re)start health tasks.
    pub(super) async fn refresh(&mut self) -> Result<(), ReconcileError> {
        let records = self.shared.store.list().await?;
        let listed = self.list(&[]).await?;
        let node = self.shared.config.node.clone();
        let mut wanted_keys = HashSet::new();
        for record in &records {
            for c in &record.release.manifest.containers {
                let key = (record.name.clone(), c.name.clone());
                wanted_keys.insert(key.clone());
                let name = labels::container_name(&record.name, &c.name);
                let current = listed
                    .iter()
                    .find(|l| l.name() == name && l.label(labels::NODE) == Some(node.as_str()));
                let published_tcp: BTreeMap<u16, u16> = c
                    .ports
                    .iter()
                    .filter(|p| p.protocol == atoll_registry::manifest::Protocol::Tcp)
                    .map(|p| (p.container, record.host_port(p.host)))
                    .collect();
                let mut start_task = None;
                {
                    let mut rt = self.shared.runtime();
                    let entry = rt.entry(&record.name, &c.name);
                    entry.has_check = c.health.is_some();
                    match current {
                        Some(l) => {
                            let alive = l.state.is_running_like() && procfs::state(l.pid).alive();
                            let running = l.state == ContainerState::Running;
                            entry.id = Some(l.id.clone());
                            entry.pid = l.pid;
                            entry.state = Some(l.state.clone());
                            entry.exit_code = (!l.state.is_running_like()).then_some(l.exit_code);
                            // Set here, cleared only when we stop it or count its exit
                            // (a container that just died is still `running` for a moment).
                            if running && alive {
                                entry.seen_running = true;
                            }
                            if entry.ready() {
                                if let Some(started) = entry.last_start {
                                    if started.elapsed() >= self.shared.config.backoff.stable {
                                        entry.streak = 0;
                                        entry.not_before = None;
                                    }
                                }
                            }
                            if running && alive {
                                if let Some(h) = &c.health {
                                    let k = (l.id.clone(), l.pid);
                                    let task_ok = self
                                        .health
                                        .get(&key)
                                        .is_some_and(|t| t.key == k && !t.handle.is_finished());
                                    if !task_ok {
                                        entry.health = HealthState::starting();
                                        entry.health_key = Some(k.clone());
                                        start_task = Some((h.clone(), k, published_tcp));
                                    }
                                }
                            }
                        }
                        None => {
                            entry.id = None;
                            entry.pid = 0;
                            entry.state = None;
                            entry.exit_code = None;
                            entry.seen_running = false;
                        }
                    }
                }
                let keep = current
                    .is_some_and(|l| l.state == ContainerState::Running && c.health.is_some());
                if let Some((check, k, published_tcp)) = start_task {
                    self.spawn_health(key.clone(), check, k, published_tcp);
                } else if !keep {
                    if let Some(task) = self.health.remove(&key) {
                        task.handle.abort();
                    }
                }
            }
        }
        // Forget what is no longer wanted.
        self.health.retain(|k, t| {
            let keep = wanted_keys.contains(k);
            if !keep {
                t.handle.abort();
            }
            keep
        });
        {
            let mut rt = self.shared.runtime();
            rt.containers.retain(|k, _| wanted_keys.contains(k));
            let apps: HashSet<&String> = records.iter().map(|r| &r.name).collect();
            rt.app_errors
                .retain(|a, _| a.is_empty() || apps.contains(a));
        }
        let live: HashSet<&str> = listed.iter().map(|l| l.id.as_str()).collect();
        self.verified.retain(|id, _| live.contains(id.as_str()));
        self.conmon.retain(|(id, _), _| live.contains(id.as_str()));
        self.created.retain(|id| live.contains(id.as_str()));
        Ok(())
    }

    fn spawn_health(
        &mut self,
        key: (String, String),
        check: atoll_registry::manifest::Health,
        task_key: (String, i64),
        published_tcp: BTreeMap<u16, u16>,
    ) {
        if let Some(old) = self.health.remove(&key) {
            old.handle.abort();
        }
        let target = ProbeTarget {
            id: task_key.0.clone(),
            pid: task_key.1,
            published_tcp,
        };
        let shared = Arc::downgrade(&self.shared);
        let (app, container) = key.clone();
        let report_key = task_key.clone();
        let handle = health::spawn(check, target, self.shared.probe_env.clone(), move |state| {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let changed = {
                let mut rt = shared.runtime();
                let Some(entry) = rt.containers.get_mut(&(app.clone(), container.clone())) else {
                    return;
                };
                if entry.health_key.as_ref() != Some(&report_key) {
                    return;
                }
                let before = entry.health.status;
                if state.status == HealthStatus::Unhealthy && before != HealthStatus::Unhealthy {
                    entry.unhealthy += 1;
                    let last = state.last.clone();
                    let output = last.as_ref().map(ToString::to_string).unwrap_or_default();
                    tracing::warn!(%app, %container, %output, "container became unhealthy");
                    entry.last_failure = Some(Failure::Unhealthy { last });
                }
                entry.health = state;
                before != entry.health.status
            };
            if changed {
                shared.wake.notify_one();
                shared.bump();
            }
        });
        self.health.insert(
            key,
            HealthTask {
                key: task_key,
                handle,
            },
        );
    }
}
