//! The reconcile decision for one app, as a pure function: [`decide`] takes what the pass
//! gathered (the desired record, the specs built from it, the app's listed containers with
//! the facts observed about each, the runtime facts table, whether the app's network exists,
//! the clock as a value) and returns a [`Plan`]: typed [`PlanAction`]s in the order they are to
//! be run, and when to look again. No podman, no `/proc`, no clock: the table-driven tests
//! in `decide/tests.rs` cover each failure mode of `docs/orchestrator.md` without podman.
//! The reconciler (`app.rs`) gathers the inputs and executes the actions.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use atoll_registry::manifest::Manifest;

use crate::health::HealthStatus;
use crate::labels;
use crate::order;
use crate::podman::types::{ContainerState, ListedContainer};
use crate::procfs::ProcState;
use crate::runtime::{ContainerFacts, RuntimeFacts, Zombie};
use crate::spec::Desired;
use crate::store::{AppRecord, Wanted};

/// How soon to look again at a container in transition.
pub(crate) const TRANSITION_RECHECK: Duration = Duration::from_millis(500);

/// One container of the app's start order with its spec.
#[derive(Debug, Clone)]
pub(crate) struct ContainerSlot {
    /// Manifest container name.
    pub container: String,
    /// The spec; `None` when the record has no image id for it.
    pub desired: Option<Desired>,
}

/// What was observed about one listed container beyond its listing.
#[derive(Debug, Clone)]
pub(crate) struct Observed {
    /// The listing.
    pub listed: ListedContainer,
    /// Its inspected configuration compared with the spec.
    pub config: ConfigCheck,
    /// `/proc` and conmon facts (read only when podman says it runs).
    pub process: Process,
    /// This process created it (one found `created` that we did not create was reset by a
    /// reboot).
    pub created_by_us: bool,
}

/// The inspected configuration of a listed container compared with its spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConfigCheck {
    /// Not inspected: it is not the container of its slot's name, or its config-hash label
    /// already differs from the spec.
    NotChecked,
    /// Matches the spec (checked now, or earlier for this container id).
    Verified,
    /// Differs from the spec (changed by hand): why.
    Drifted(String),
    /// It disappeared between the listing and the inspect.
    Vanished,
}

/// What `/proc` says about a listed container's process and its conmon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Process {
    /// The container's process.
    pub pid: ProcState,
    /// conmon's process is alive.
    pub conmon_alive: bool,
    /// conmon wrote the container's exit file (podman is about to record the exit).
    pub exit_file: bool,
}

impl Process {
    /// What is recorded for a container podman does not say runs (never read).
    pub const NOT_RUNNING: Self = Self {
        pid: ProcState::Missing,
        conmon_alive: false,
        exit_file: false,
    };
}

/// The inputs of the decision for one app.
#[derive(Debug)]
pub(crate) struct AppFacts<'a> {
    /// The desired record.
    pub record: &'a AppRecord,
    /// The specs in start order (only for an app wanted running; empty otherwise).
    pub slots: &'a [ContainerSlot],
    /// The app's listed containers.
    pub listed: &'a [Observed],
    /// The runtime facts table.
    pub facts: &'a RuntimeFacts,
    /// The app's network exists (and carries our node label).
    pub network_exists: bool,
    /// Now.
    pub now: Instant,
}

/// Why a container is removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RemoveWhy {
    /// The manifest no longer has (or never had) this container.
    Stray,
    /// Another container with our labels for the same slot (podman names are unique).
    Duplicate,
    /// It is not what the spec says: recreated.
    Recreate(Recreate),
    /// The app is being uninstalled.
    Uninstall,
}

/// Why an existing container is recreated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recreate {
    /// Its config-hash label is not the spec's.
    SpecChanged,
    /// Its inspected configuration differs from the spec (changed by hand).
    Drift(String),
    /// Found `created` without us having created it: podman reset it after a reboot, and
    /// its first start would come up without port forwarding (podman 4.3.1).
    LeftCreatedByReboot,
    /// Ended with exit code −1: podman gave up waiting for conmon's exit file (a zombie
    /// stopped by hand); its network was never torn down.
    EndedWithoutConmon,
}

impl std::fmt::Display for Recreate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SpecChanged => f.write_str("its spec changed"),
            Self::Drift(reason) => f.write_str(reason),
            Self::LeftCreatedByReboot => f.write_str("left `created` by a reboot"),
            Self::EndedWithoutConmon => f.write_str("its last run ended without conmon"),
        }
    }
}

/// Why nothing is done to a container in this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WaitWhy {
    /// podman is removing it.
    BeingRemoved,
    /// Its process ended; conmon is recording the exit.
    ConmonRecordingExit,
    /// conmon wrote the exit file; podman is recording the exit.
    PodmanRecordingExit,
    /// A stop is in progress.
    Stopping,
    /// Containers it depends on are not ready yet.
    Dependencies(Vec<String>),
    /// Restart backoff: no start before this instant.
    Backoff(Instant),
}

/// One step of a plan. Actions naming a container run in order; once one of them fails,
/// the later actions for the same container are skipped. [`PlanAction::EnsureNetwork`]
/// failing ends the app's plan; [`PlanAction::RemoveNetwork`] and
/// [`PlanAction::FinishUninstall`] run only if nothing before them failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PlanAction {
    /// Create the app's network (refusing a foreign one of that name).
    EnsureNetwork,
    /// Stop with its grace (if it really runs) and remove.
    Remove {
        /// Manifest container name (its label).
        container: String,
        /// The container.
        listed: ListedContainer,
        /// Why.
        why: RemoveWhy,
    },
    /// Force-remove a zombie (`rm -f`, retried once). `counted`: it was wanted running, so
    /// it counts as a failure and is recreated.
    RemoveZombie {
        /// Manifest container name.
        container: String,
        /// The container.
        listed: ListedContainer,
        /// Why it is a zombie.
        zombie: Zombie,
        /// Counted as a failure of a container wanted running.
        counted: bool,
    },
    /// An exit we did not cause: count it as a failure (the next start is a restart).
    CountExit {
        /// Manifest container name.
        container: String,
        /// Its exit code.
        code: i32,
    },
    /// Create the container from its spec.
    Create {
        /// Manifest container name.
        container: String,
    },
    /// Start it (`id`: an existing container; `None`: the one just created), counting the
    /// start for backoff.
    Start {
        /// Manifest container name.
        container: String,
        /// The existing container, or `None` for the one created just before.
        id: Option<String>,
    },
    /// Stop an unhealthy container with its grace before it is started again (never
    /// podman's `/restart`, which SIGKILLs without `t`).
    StopUnhealthy {
        /// Manifest container name.
        container: String,
        /// The container.
        id: String,
    },
    /// Stop a running container of an app wanted stopped.
    Stop {
        /// Manifest container name.
        container: String,
        /// The container.
        listed: ListedContainer,
    },
    /// Nothing to do for it now.
    Wait {
        /// Manifest container name.
        container: String,
        /// Why.
        why: WaitWhy,
    },
    /// The container cannot be reconciled: no image id is recorded for it.
    MarkNoImage {
        /// Manifest container name.
        container: String,
    },
    /// Remove the app's network (uninstall).
    RemoveNetwork,
    /// Forget the app once nothing with its label is left (uninstall; `purge`: delete its
    /// data dir too).
    FinishUninstall {
        /// Delete the data dir.
        purge: bool,
    },
}

impl PlanAction {
    /// The manifest container the action is about (`None`: the app as a whole).
    pub fn container(&self) -> Option<&str> {
        match self {
            Self::Remove { container, .. }
            | Self::RemoveZombie { container, .. }
            | Self::CountExit { container, .. }
            | Self::Create { container }
            | Self::Start { container, .. }
            | Self::StopUnhealthy { container, .. }
            | Self::Stop { container, .. }
            | Self::Wait { container, .. }
            | Self::MarkNoImage { container } => Some(container),
            Self::EnsureNetwork | Self::RemoveNetwork | Self::FinishUninstall { .. } => None,
        }
    }
}

/// The rule for running a plan whose actions may fail: once an action for a container
/// fails, that container's later actions are skipped; the app-wide closing actions
/// ([`PlanAction::RemoveNetwork`], [`PlanAction::FinishUninstall`]) run only when nothing failed
/// before them.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    failed: HashSet<String>,
    any_failed: bool,
}

impl Gate {
    /// May `action` run, given what failed so far?
    pub fn allows(&self, action: &PlanAction) -> bool {
        match action.container() {
            Some(c) => !self.failed.contains(c),
            None => {
                !(self.any_failed
                    && matches!(
                        action,
                        PlanAction::RemoveNetwork | PlanAction::FinishUninstall { .. }
                    ))
            }
        }
    }

    /// Record that an action failed (`container`: the one it was about, see
    /// [`PlanAction::container`]).
    pub fn failed(&mut self, container: Option<&str>) {
        self.any_failed = true;
        if let Some(c) = container {
            self.failed.insert(c.to_owned());
        }
    }
}

/// The decision for one app.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// What to do, in order.
    pub actions: Vec<PlanAction>,
    /// When to look again (a container in transition, a backoff expiring).
    pub wake: Option<Instant>,
}

impl Plan {
    fn push(&mut self, action: PlanAction) {
        self.actions.push(action);
    }

    fn wake_at(&mut self, at: Instant) {
        self.wake = super::earliest(self.wake, Some(at));
    }
}

/// What a container needs (the verdict on the one occupying its slot).
#[derive(Debug)]
enum Assessment {
    /// Running and healthy (or without a check).
    Ready,
    /// Running, health not passed yet.
    Running,
    /// Running, failed its checks.
    Unhealthy,
    /// Exists, not running.
    Stopped,
    /// Does not exist.
    Missing,
    /// Exists but is not what the spec says.
    Recreate(Recreate),
    /// podman says running, the process (or its conmon) is gone.
    Zombie(Zombie),
    /// In transition; look again soon.
    Wait(WaitWhy),
}

/// Containers in start order (manifest order if the dependencies are broken).
pub(crate) fn ordered(manifest: &Manifest) -> Vec<&atoll_registry::manifest::Container> {
    order::start_order(manifest).unwrap_or_else(|_| manifest.containers.iter().collect())
}

/// Does any container of the manifest use the app network?
pub(crate) fn needs_network(manifest: &Manifest) -> bool {
    manifest
        .containers
        .iter()
        .any(|c| c.network.as_deref() != Some("none"))
}

/// The decision for one app.
pub(crate) fn decide(view: &AppFacts<'_>) -> Plan {
    match view.record.wanted {
        Wanted::Running => decide_running(view),
        Wanted::Stopped => decide_stopped(view),
        Wanted::Removed { purge } => decide_removed(view, purge),
    }
}

/// The listed containers by their container label (sorted, so plans are deterministic).
fn by_container(listed: &[Observed]) -> BTreeMap<&str, Vec<&Observed>> {
    let mut out: BTreeMap<&str, Vec<&Observed>> = BTreeMap::new();
    for o in listed {
        out.entry(o.listed.label(labels::CONTAINER).unwrap_or_default())
            .or_default()
            .push(o);
    }
    out
}

/// Reverse start order, then containers the manifest does not have.
fn stop_order<'a>(
    manifest: &'a Manifest,
    groups: &BTreeMap<&'a str, Vec<&Observed>>,
) -> Vec<&'a str> {
    let mut order: Vec<&str> = ordered(manifest)
        .into_iter()
        .rev()
        .map(|c| c.name.as_str())
        .collect();
    let extra: Vec<&str> = groups
        .keys()
        .filter(|k| !order.contains(k))
        .copied()
        .collect();
    order.extend(extra);
    order
}

fn decide_running(view: &AppFacts<'_>) -> Plan {
    let mut plan = Plan::default();
    let record = view.record;
    let manifest = &record.release.manifest;
    if needs_network(manifest) && !view.network_exists {
        plan.push(PlanAction::EnsureNetwork);
    }
    let mut groups = by_container(view.listed);
    let wanted: HashSet<&str> = manifest
        .containers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let strays: Vec<&str> = groups
        .keys()
        .filter(|k| !wanted.contains(*k))
        .copied()
        .collect();
    for k in strays {
        for o in groups.remove(k).unwrap_or_default() {
            plan.push(PlanAction::Remove {
                container: k.to_owned(),
                listed: o.listed.clone(),
                why: RemoveWhy::Stray,
            });
        }
    }
    let mut ready: HashSet<&str> = HashSet::new();
    for slot in view.slots {
        let name = slot.container.as_str();
        let Some(d) = &slot.desired else {
            plan.push(PlanAction::MarkNoImage {
                container: name.to_owned(),
            });
            continue;
        };
        let list = groups.remove(name).unwrap_or_default();
        let (keep, extra): (Vec<_>, Vec<_>) = list
            .into_iter()
            .partition(|o| o.listed.name() == d.spec.name);
        for o in extra {
            plan.push(PlanAction::Remove {
                container: name.to_owned(),
                listed: o.listed.clone(),
                why: RemoveWhy::Duplicate,
            });
        }
        let facts = view.facts.get(&record.name, name);
        let mut current = keep.into_iter().next();
        let verdict = match current {
            None => Assessment::Missing,
            Some(o) => classify(d, o, facts, &mut plan),
        };
        let mut restart = false;
        match verdict {
            Assessment::Ready => {
                ready.insert(name);
                continue;
            }
            Assessment::Running => continue,
            Assessment::Wait(why) => {
                plan.push(PlanAction::Wait {
                    container: name.to_owned(),
                    why,
                });
                plan.wake_at(view.now + TRANSITION_RECHECK);
                continue;
            }
            Assessment::Recreate(why) => {
                if let Some(o) = current.take() {
                    plan.push(PlanAction::Remove {
                        container: name.to_owned(),
                        listed: o.listed.clone(),
                        why: RemoveWhy::Recreate(why),
                    });
                }
            }
            Assessment::Zombie(zombie) => {
                if let Some(o) = current.take() {
                    plan.push(PlanAction::RemoveZombie {
                        container: name.to_owned(),
                        listed: o.listed.clone(),
                        zombie,
                        counted: true,
                    });
                }
            }
            Assessment::Missing => current = None,
            Assessment::Unhealthy => restart = true,
            Assessment::Stopped => {}
        }
        if !d.depends_on.iter().all(|dep| ready.contains(dep.as_str())) {
            plan.push(PlanAction::Wait {
                container: name.to_owned(),
                why: WaitWhy::Dependencies(d.depends_on.clone()),
            });
            continue;
        }
        if let Some(at) = facts.and_then(|f| f.not_before) {
            if at > view.now {
                plan.push(PlanAction::Wait {
                    container: name.to_owned(),
                    why: WaitWhy::Backoff(at),
                });
                plan.wake_at(at);
                continue;
            }
        }
        match current {
            Some(o) => {
                if restart {
                    plan.push(PlanAction::StopUnhealthy {
                        container: name.to_owned(),
                        id: o.listed.id.clone(),
                    });
                }
                plan.push(PlanAction::Start {
                    container: name.to_owned(),
                    id: Some(o.listed.id.clone()),
                });
            }
            None => {
                plan.push(PlanAction::Create {
                    container: name.to_owned(),
                });
                plan.push(PlanAction::Start {
                    container: name.to_owned(),
                    id: None,
                });
            }
        }
    }
    plan
}

/// The verdict on the container occupying a slot. An exit we did not cause is counted
/// (a [`PlanAction::CountExit`] pushed to `plan`) on the way.
fn classify(
    d: &Desired,
    o: &Observed,
    facts: Option<&ContainerFacts>,
    plan: &mut Plan,
) -> Assessment {
    let l = &o.listed;
    if l.label(labels::CONFIG_HASH) != Some(d.config_hash.as_str()) {
        return Assessment::Recreate(Recreate::SpecChanged);
    }
    match &o.config {
        ConfigCheck::Drifted(reason) => {
            return Assessment::Recreate(Recreate::Drift(reason.clone()))
        }
        ConfigCheck::Vanished => return Assessment::Missing,
        ConfigCheck::Verified | ConfigCheck::NotChecked => {}
    }
    let ours = facts.is_some_and(|f| f.seen_running && f.id.as_deref() == Some(l.id.as_str()));
    if ours && !l.state.is_running_like() {
        plan.push(PlanAction::CountExit {
            container: d.container.clone(),
            code: l.exit_code,
        });
    }
    if !l.state.is_running_like() {
        return match &l.state {
            ContainerState::Removing => Assessment::Wait(WaitWhy::BeingRemoved),
            s if s.is_created() && !o.created_by_us => {
                Assessment::Recreate(Recreate::LeftCreatedByReboot)
            }
            s if s.is_ended() && l.exit_code == -1 => {
                Assessment::Recreate(Recreate::EndedWithoutConmon)
            }
            _ => Assessment::Stopped,
        };
    }
    let p = o.process;
    if !p.pid.alive() {
        if p.conmon_alive {
            return Assessment::Wait(WaitWhy::ConmonRecordingExit);
        }
        // conmon writes the exit file before it exits: with the file there, podman is
        // just about to record the exit (a normal crash), not a zombie.
        if p.exit_file {
            return Assessment::Wait(WaitWhy::PodmanRecordingExit);
        }
        return Assessment::Zombie(Zombie::ProcessGone {
            state: l.state.clone(),
            pid: l.pid,
            process: p.pid,
        });
    }
    if !p.conmon_alive {
        return Assessment::Zombie(Zombie::ConmonGone { pid: l.pid });
    }
    if l.state == ContainerState::Stopping {
        return Assessment::Wait(WaitWhy::Stopping);
    }
    if d.health.is_none() {
        return Assessment::Ready;
    }
    let Some(f) = facts else {
        return Assessment::Running;
    };
    if f.health_key.as_ref() != Some(&(l.id.clone(), l.pid)) {
        return Assessment::Running;
    }
    match f.health.status {
        HealthStatus::Healthy => Assessment::Ready,
        HealthStatus::Unhealthy => Assessment::Unhealthy,
        HealthStatus::Starting | HealthStatus::None => Assessment::Running,
    }
}

fn decide_stopped(view: &AppFacts<'_>) -> Plan {
    let mut plan = Plan::default();
    let manifest = &view.record.release.manifest;
    let mut groups = by_container(view.listed);
    for name in stop_order(manifest, &groups) {
        let known = manifest.containers.iter().any(|c| c.name == name);
        for o in groups.remove(name).unwrap_or_default() {
            let container = name.to_owned();
            let listed = o.listed.clone();
            if !known {
                plan.push(PlanAction::Remove {
                    container,
                    listed,
                    why: RemoveWhy::Stray,
                });
            } else if o.listed.state.is_running_like() {
                if o.process.pid.alive() {
                    plan.push(PlanAction::Stop { container, listed });
                } else if !o.process.conmon_alive {
                    let zombie = Zombie::ProcessGone {
                        state: o.listed.state.clone(),
                        pid: o.listed.pid,
                        process: o.process.pid,
                    };
                    plan.push(PlanAction::RemoveZombie {
                        container,
                        listed,
                        zombie,
                        counted: false,
                    });
                }
            }
        }
    }
    plan
}

fn decide_removed(view: &AppFacts<'_>, purge: bool) -> Plan {
    let mut plan = Plan::default();
    let mut groups = by_container(view.listed);
    for name in stop_order(&view.record.release.manifest, &groups) {
        for o in groups.remove(name).unwrap_or_default() {
            plan.push(PlanAction::Remove {
                container: name.to_owned(),
                listed: o.listed.clone(),
                why: RemoveWhy::Uninstall,
            });
        }
    }
    if view.network_exists {
        plan.push(PlanAction::RemoveNetwork);
    }
    plan.push(PlanAction::FinishUninstall { purge });
    plan
}

#[cfg(test)]
mod tests;
