//! Table tests of the reconcile decision: one row per situation, each naming the failure
//! modes of `docs/orchestrator.md` it covers. `every_failure_mode_has_a_row` checks that
//! each mode of the docs' table is covered by a row or named as decided elsewhere.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::*;
use crate::health::{HealthState, HealthStatus};
use crate::podman::types::{ContainerState, ListedContainer};
use crate::procfs::ProcState;
use crate::runtime::{ContainerFacts, RuntimeFacts};
use crate::store::{AppRecord, Wanted};
use crate::testutil;

/// Everything the decision sees, built up by a row.
struct World {
    record: AppRecord,
    /// Specs of every container (also for apps not wanted running: they label listings).
    specs: Vec<Desired>,
    listed: Vec<Observed>,
    facts: RuntimeFacts,
    network_exists: bool,
    now: Instant,
}

const BACKOFF: Duration = Duration::from_secs(4);

impl World {
    fn new(app: &str, wanted: Wanted) -> Self {
        let mut record = testutil::record(app);
        record.wanted = wanted;
        record.stopped_by_user = wanted == Wanted::Stopped;
        let specs = testutil::desired(&record, &BTreeMap::new());
        Self {
            record,
            specs,
            listed: Vec::new(),
            facts: RuntimeFacts::default(),
            network_exists: false,
            now: Instant::now(),
        }
    }

    fn spec(&self, container: &str) -> &Desired {
        self.specs
            .iter()
            .find(|d| d.container == container)
            .unwrap_or_else(|| panic!("no container {container}"))
    }

    /// A converged container: created and started by us, running, its process and conmon
    /// alive, configuration verified, healthy (if it has a check), nothing in backoff.
    fn up(&mut self, container: &str) -> &mut Self {
        let d = self.spec(container).clone();
        let n = self.listed.len() as i64 + 1;
        let id = format!("{:0>64}", format!("c{n}"));
        // As podman lists it: `Status` carries the health, `State` the state.
        let listed: ListedContainer = serde_json::from_value(serde_json::json!({
            "Id": id, "Names": [d.spec.name], "State": "running", "Status": "Up 3 minutes (healthy)",
            "Labels": d.spec.labels, "Pid": 1000 + n, "ImageID": d.spec.image, "ExitCode": 0,
            "StartedAt": 1,
        }))
        .unwrap();
        self.listed.push(Observed {
            listed,
            config: ConfigCheck::Verified,
            process: Process {
                pid: ProcState::Alive,
                conmon_alive: true,
                exit_file: false,
            },
            created_by_us: true,
        });
        let facts = self.facts.entry(&self.record.name, container);
        facts.id = Some(id.clone());
        facts.pid = 1000 + n;
        facts.state = Some(ContainerState::Running);
        facts.has_check = d.health.is_some();
        facts.health_key = Some((id, 1000 + n));
        facts.health = HealthState {
            status: HealthStatus::Healthy,
            ..HealthState::starting()
        };
        facts.starts = 1;
        facts.seen_running = true;
        self.network_exists = true;
        self
    }

    /// The last listed container of `container`.
    fn obs(&mut self, container: &str) -> &mut Observed {
        self.listed
            .iter_mut()
            .rev()
            .find(|o| o.listed.label(labels::CONTAINER) == Some(container))
            .unwrap_or_else(|| panic!("{container} not listed"))
    }

    /// It exited on its own (podman recorded the exit).
    fn exited(&mut self, container: &str, code: i32) -> &mut Self {
        let o = self.obs(container);
        o.listed.state = ContainerState::Exited;
        o.listed.exit_code = code;
        o.listed.pid = 0;
        o.process = Process::NOT_RUNNING;
        self
    }

    fn state(&mut self, container: &str, state: ContainerState) -> &mut Self {
        self.obs(container).listed.state = state;
        self
    }

    fn process(
        &mut self,
        container: &str,
        pid: ProcState,
        conmon_alive: bool,
        exit_file: bool,
    ) -> &mut Self {
        self.obs(container).process = Process {
            pid,
            conmon_alive,
            exit_file,
        };
        self
    }

    fn facts(&mut self, container: &str) -> &mut ContainerFacts {
        self.facts.entry(&self.record.name, container)
    }

    fn health(&mut self, container: &str, status: HealthStatus) -> &mut Self {
        self.facts(container).health.status = status;
        self
    }

    fn plan(&self) -> Plan {
        let slots: Vec<ContainerSlot> = match self.record.wanted {
            Wanted::Running => self
                .specs
                .iter()
                .map(|d| ContainerSlot {
                    container: d.container.clone(),
                    // As spec::build: no spec without a recorded image id.
                    desired: self
                        .record
                        .images
                        .contains_key(&d.container)
                        .then(|| d.clone()),
                })
                .collect(),
            Wanted::Stopped | Wanted::Removed { .. } => Vec::new(),
        };
        decide(&AppFacts {
            record: &self.record,
            slots: &slots,
            listed: &self.listed,
            facts: &self.facts,
            network_exists: self.network_exists,
            now: self.now,
        })
    }
}

/// An action in a line, for the tables.
fn brief(a: &PlanAction) -> String {
    match a {
        PlanAction::EnsureNetwork => "ensure-network".into(),
        PlanAction::Remove { container, why, .. } => match why {
            RemoveWhy::Stray => format!("remove {container}: stray"),
            RemoveWhy::Duplicate => format!("remove {container}: duplicate"),
            RemoveWhy::Recreate(r) => format!("remove {container}: recreate ({r})"),
            RemoveWhy::Uninstall => format!("remove {container}: uninstall"),
        },
        PlanAction::RemoveZombie {
            container,
            zombie,
            counted,
            ..
        } => {
            let kind = match zombie {
                Zombie::ProcessGone { .. } => "process gone",
                Zombie::ConmonGone { .. } => "conmon gone",
            };
            let counted = if *counted { "counted" } else { "not counted" };
            format!("zombie {container}: {kind}, {counted}")
        }
        PlanAction::CountExit { container, code } => format!("count-exit {container} {code}"),
        PlanAction::Create { container } => format!("create {container}"),
        PlanAction::Start { container, id } => match id {
            Some(_) => format!("start {container}"),
            None => format!("start {container} (new)"),
        },
        PlanAction::StopUnhealthy { container, .. } => format!("stop-unhealthy {container}"),
        PlanAction::Stop { container, .. } => format!("stop {container}"),
        PlanAction::Wait { container, why } => match why {
            WaitWhy::BeingRemoved => format!("wait {container}: being removed"),
            WaitWhy::ConmonRecordingExit => format!("wait {container}: conmon records the exit"),
            WaitWhy::PodmanRecordingExit => format!("wait {container}: podman records the exit"),
            WaitWhy::Stopping => format!("wait {container}: stopping"),
            WaitWhy::Dependencies(on) => format!("wait {container}: for {}", on.join(",")),
            WaitWhy::Backoff(_) => format!("wait {container}: backoff"),
        },
        PlanAction::MarkNoImage { container } => format!("no-image {container}"),
        PlanAction::RemoveNetwork => "remove-network".into(),
        PlanAction::FinishUninstall { purge } => format!("finish-uninstall purge={purge}"),
    }
}

/// When the plan asks to look again.
#[derive(Debug, PartialEq, Eq)]
enum Wake {
    Not,
    /// A container in transition: [`TRANSITION_RECHECK`] from now.
    Soon,
    /// When the backoff of the row expires ([`BACKOFF`] from now).
    Backoff,
}

struct Row {
    /// The failure modes of docs/orchestrator.md this row covers (or what it shows).
    modes: &'static [&'static str],
    app: &'static str,
    wanted: Wanted,
    world: fn(&mut World),
    actions: &'static [&'static str],
    wake: Wake,
}

const RUNNING: Wanted = Wanted::Running;
const STOPPED: Wanted = Wanted::Stopped;

fn rows() -> Vec<Row> {
    vec![
        Row {
            modes: &[NODE_RESTART, API_SERVICE_DIES, LIST_STATUS],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                w.up("web");
            },
            actions: &[],
            wake: Wake::Not,
        },
        Row {
            modes: &["first install: network, create, start"],
            app: "two-tier",
            wanted: RUNNING,
            world: |_| {},
            actions: &[
                "ensure-network",
                "create api",
                "start api (new)",
                "wait front: for api",
            ],
            wake: Wake::Not,
        },
        Row {
            modes: &[HEALTH_WITHOUT_SYSTEMD],
            app: "two-tier",
            wanted: RUNNING,
            world: |w| {
                w.up("api").health("api", HealthStatus::Starting);
            },
            actions: &["wait front: for api"],
            wake: Wake::Not,
        },
        Row {
            modes: &[
                HEALTH_WITHOUT_SYSTEMD,
                "a health result of an earlier PID does not count",
            ],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                w.up("web").health("web", HealthStatus::Unhealthy);
                w.facts("web").health_key = Some(("old".into(), 1));
            },
            actions: &[],
            wake: Wake::Not,
        },
        Row {
            modes: &[RESTART_WITHOUT_T, HEALTH_WITHOUT_SYSTEMD],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                w.up("web").health("web", HealthStatus::Unhealthy);
            },
            actions: &["stop-unhealthy web", "start web"],
            wake: Wake::Not,
        },
        Row {
            modes: &[
                RESTART_WITHOUT_T,
                CRASH_LOOP,
                "unhealthy in backoff: not restarted yet",
            ],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                w.up("web").health("web", HealthStatus::Unhealthy);
                let at = w.now + BACKOFF;
                w.facts("web").not_before = Some(at);
            },
            actions: &["wait web: backoff"],
            wake: Wake::Backoff,
        },
        Row {
            modes: &[SIGTERM_IGNORED],
            app: "two-tier",
            wanted: STOPPED,
            world: |w| {
                w.up("api").up("front");
            },
            actions: &["stop front", "stop api"],
            wake: Wake::Not,
        },
        Row {
            modes: &[RESTART_ALWAYS_REBOOT, SHM_LOCK],
            app: "hello-static",
            wanted: STOPPED,
            world: |w| {
                w.up("web").state("web", ContainerState::Created);
                w.obs("web").created_by_us = false;
            },
            actions: &[],
            wake: Wake::Not,
        },
        Row {
            modes: &[RESTART_ALWAYS_REBOOT, REBOOT_CREATED, SHM_LOCK],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                w.up("web").state("web", ContainerState::Created);
                w.obs("web").created_by_us = false;
                w.facts.containers.clear();
            },
            actions: &[
                "remove web: recreate (left `created` by a reboot)",
                "create web",
                "start web (new)",
            ],
            wake: Wake::Not,
        },
        Row {
            modes: &["a container we created is started, not recreated"],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                w.up("web").state("web", ContainerState::Created);
                w.facts("web").seen_running = false;
            },
            actions: &["start web"],
            wake: Wake::Not,
        },
        Row {
            modes: &[ZOMBIES, RM_F_RETRY, RUNC_STATE_DIR],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                w.up("web").process("web", ProcState::Missing, false, false);
            },
            actions: &[
                "zombie web: process gone, counted",
                "create web",
                "start web (new)",
            ],
            wake: Wake::Not,
        },
        Row {
            modes: &[ZOMBIES, "a process that is itself a zombie (Z)"],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                w.up("web").process("web", ProcState::Zombie, false, false);
            },
            actions: &[
                "zombie web: process gone, counted",
                "create web",
                "start web (new)",
            ],
            wake: Wake::Not,
        },
        Row {
            modes: &[ZOMBIES, "conmon dead while the process lives"],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                w.up("web").process("web", ProcState::Alive, false, false);
            },
            actions: &[
                "zombie web: conmon gone, counted",
                "create web",
                "start web (new)",
            ],
            wake: Wake::Not,
        },
        Row {
            modes: &[ZOMBIE_STOP_DIFFERS],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                w.up("web").state("web", ContainerState::Stopping).process(
                    "web",
                    ProcState::Missing,
                    false,
                    false,
                );
            },
            actions: &[
                "zombie web: process gone, counted",
                "create web",
                "start web (new)",
            ],
            wake: Wake::Not,
        },
        Row {
            modes: &[ZOMBIES, "zombie of a stopped app: removed, not counted"],
            app: "hello-static",
            wanted: STOPPED,
            world: |w| {
                w.up("web").process("web", ProcState::Missing, false, false);
            },
            actions: &["zombie web: process gone, not counted"],
            wake: Wake::Not,
        },
        Row {
            modes: &[
                ZOMBIES,
                "a dead PID with a live conmon is left for conmon to record",
            ],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                w.up("web").process("web", ProcState::Missing, true, false);
            },
            actions: &["wait web: conmon records the exit"],
            wake: Wake::Soon,
        },
        Row {
            modes: &[
                CRASHED,
                "the exit file is written: podman is recording a normal crash",
            ],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                w.up("web").process("web", ProcState::Missing, false, true);
            },
            actions: &["wait web: podman records the exit"],
            wake: Wake::Soon,
        },
        Row {
            modes: &[ZOMBIE_STOP_DIFFERS],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                w.up("web")
                    .exited("web", -1)
                    .state("web", ContainerState::Stopped);
            },
            actions: &[
                "count-exit web -1",
                "remove web: recreate (its last run ended without conmon)",
                "create web",
                "start web (new)",
            ],
            wake: Wake::Not,
        },
        Row {
            modes: &[CRASHED, CRASH_LOOP],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                w.up("web").exited("web", 137);
            },
            actions: &["count-exit web 137", "start web"],
            wake: Wake::Not,
        },
        Row {
            modes: &[CRASH_LOOP],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                w.up("web").exited("web", 1);
                let at = w.now + BACKOFF;
                w.facts("web").not_before = Some(at);
            },
            actions: &["count-exit web 1", "wait web: backoff"],
            wake: Wake::Backoff,
        },
        Row {
            modes: &[CRASH_LOOP, "an exit already counted is not counted again"],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                w.up("web").exited("web", 1);
                w.facts("web").seen_running = false;
                let at = w.now - Duration::from_millis(1);
                w.facts("web").not_before = Some(at);
            },
            actions: &["start web"],
            wake: Wake::Not,
        },
        Row {
            modes: &["an exit of a container we stopped is not a failure"],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                w.up("web").exited("web", 143);
                w.facts("web").seen_running = false;
            },
            actions: &["start web"],
            wake: Wake::Not,
        },
        Row {
            modes: &[DRIFT],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                w.up("web").obs("web").config = ConfigCheck::Drifted("env FOO differs".into());
            },
            actions: &[
                "remove web: recreate (env FOO differs)",
                "create web",
                "start web (new)",
            ],
            wake: Wake::Not,
        },
        Row {
            modes: &[DRIFT, "a new spec (config-hash label) recreates"],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                w.up("web")
                    .obs("web")
                    .listed
                    .labels
                    .insert(labels::CONFIG_HASH.into(), "older".into());
            },
            actions: &[
                "remove web: recreate (its spec changed)",
                "create web",
                "start web (new)",
            ],
            wake: Wake::Not,
        },
        Row {
            modes: &[FAILED_UPDATE],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                // desired state is back at the previous release; the failed version's
                // container is still there.
                w.up("web")
                    .obs("web")
                    .listed
                    .labels
                    .insert(labels::CONFIG_HASH.into(), "the-failed-version".into());
            },
            actions: &[
                "remove web: recreate (its spec changed)",
                "create web",
                "start web (new)",
            ],
            wake: Wake::Not,
        },
        Row {
            modes: &["the container vanished between listing and inspect"],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                w.up("web").obs("web").config = ConfigCheck::Vanished;
            },
            actions: &["create web", "start web (new)"],
            wake: Wake::Not,
        },
        Row {
            modes: &["a stop in progress is waited for"],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                w.up("web").state("web", ContainerState::Stopping);
            },
            actions: &["wait web: stopping"],
            wake: Wake::Soon,
        },
        Row {
            modes: &["a removal in progress is waited for"],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                w.up("web")
                    .exited("web", 0)
                    .state("web", ContainerState::Removing);
                w.facts("web").seen_running = false;
            },
            actions: &["wait web: being removed"],
            wake: Wake::Soon,
        },
        Row {
            modes: &["a state podman has and we do not know: treated as not running"],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                w.up("web")
                    .exited("web", 0)
                    .state("web", ContainerState::Unknown("hibernating".into()));
                w.facts("web").seen_running = false;
            },
            actions: &["start web"],
            wake: Wake::Not,
        },
        Row {
            modes: &["a container the manifest no longer has is removed first"],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                w.up("web");
                let mut extra = w.obs("web").clone();
                extra.listed.id = "f".repeat(64);
                extra.listed.names = vec!["atoll_hello-static_old".into()];
                extra
                    .listed
                    .labels
                    .insert(labels::CONTAINER.into(), "old".into());
                w.listed.insert(0, extra);
            },
            actions: &["remove old: stray"],
            wake: Wake::Not,
        },
        Row {
            modes: &["a second container in a slot is removed"],
            app: "hello-static",
            wanted: RUNNING,
            world: |w| {
                w.up("web");
                let mut extra = w.obs("web").clone();
                extra.listed.id = "e".repeat(64);
                extra.listed.names = vec!["atoll_hello-static_web-copy".into()];
                w.listed.push(extra);
            },
            actions: &["remove web: duplicate"],
            wake: Wake::Not,
        },
        Row {
            modes: &[
                ARCHIVES,
                "no image id recorded yet: the container is not created",
            ],
            app: "two-tier",
            wanted: RUNNING,
            world: |w| {
                w.up("front");
                w.record.images.remove("api");
            },
            // front runs ready already: a missing dependency does not stop it.
            actions: &["no-image api"],
            wake: Wake::Not,
        },
        Row {
            modes: &[UNINSTALL_BLOCKED, UNINSTALL_NO_GHOST],
            app: "two-tier",
            wanted: Wanted::Removed { purge: false },
            world: |w| {
                w.up("api").up("front");
            },
            actions: &[
                "remove front: uninstall",
                "remove api: uninstall",
                "remove-network",
                "finish-uninstall purge=false",
            ],
            wake: Wake::Not,
        },
        Row {
            modes: &[UNINSTALL_NO_GHOST],
            app: "hello-static",
            wanted: Wanted::Removed { purge: true },
            world: |_| {},
            actions: &["finish-uninstall purge=true"],
            wake: Wake::Not,
        },
    ]
}

#[test]
fn decisions() {
    let mut failures = Vec::new();
    for (i, row) in rows().iter().enumerate() {
        let mut w = World::new(row.app, row.wanted);
        (row.world)(&mut w);
        let plan = w.plan();
        let got: Vec<String> = plan.actions.iter().map(brief).collect();
        let wake = match plan.wake {
            None => Wake::Not,
            Some(at) if at == w.now + TRANSITION_RECHECK => Wake::Soon,
            Some(at) if at == w.now + BACKOFF => Wake::Backoff,
            Some(at) => panic!(
                "row {i} ({:?}): unexpected wake {:?}",
                row.modes,
                at - w.now
            ),
        };
        if got != row.actions || wake != row.wake {
            failures.push(format!(
                "row {i} {:?}:\n  expected {:?} {:?}\n  got      {got:?} {wake:?}",
                row.modes, row.actions, row.wake
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The decision reads only its inputs: the same inputs give the same plan.
#[test]
fn decisions_are_repeatable() {
    for row in rows() {
        let mut w = World::new(row.app, row.wanted);
        (row.world)(&mut w);
        assert_eq!(w.plan(), w.plan(), "{:?}", row.modes);
    }
}

/// Actions carry what the executor needs: the listed container to remove or stop, the id
/// to start, the zombie's reason, the exit code.
#[test]
fn actions_name_the_containers_they_act_on() {
    let mut w = World::new("hello-static", RUNNING);
    w.up("web").process("web", ProcState::Alive, false, false);
    let id = w.obs("web").listed.id.clone();
    let plan = w.plan();
    let PlanAction::RemoveZombie { listed, zombie, .. } = &plan.actions[0] else {
        panic!("{:?}", plan.actions);
    };
    assert_eq!(listed.id, id);
    assert_eq!(
        zombie.to_string(),
        format!(
            "conmon of PID {} is gone: podman cannot see this container any more",
            listed.pid
        )
    );
    let mut w = World::new("hello-static", RUNNING);
    w.up("web").health("web", HealthStatus::Unhealthy);
    let id = w.obs("web").listed.id.clone();
    let plan = w.plan();
    assert!(matches!(&plan.actions[..], [
        PlanAction::StopUnhealthy { id: a, .. },
        PlanAction::Start { id: Some(b), .. },
    ] if *a == id && *b == id));
}

/// [`UNINSTALL_BLOCKED`]: once a removal fails, the network and the record stay (the app is
/// listed as `removing`, and a later pass finishes); a failed container's later actions
/// are skipped, other containers go on.
#[test]
fn a_failed_action_gates_what_follows() {
    let mut w = World::new("two-tier", Wanted::Removed { purge: false });
    w.up("api").up("front");
    let plan = w.plan();
    let mut gate = Gate::default();
    assert!(plan.actions.iter().all(|a| gate.allows(a)));
    gate.failed(plan.actions[0].container());
    let allowed: Vec<String> = plan
        .actions
        .iter()
        .skip(1)
        .filter(|a| gate.allows(a))
        .map(brief)
        .collect();
    assert_eq!(allowed, ["remove api: uninstall"]);

    let mut w = World::new("two-tier", RUNNING);
    w.up("api").up("front");
    w.obs("api").config = ConfigCheck::Drifted("env differs".into());
    w.obs("front").config = ConfigCheck::Drifted("env differs".into());
    w.health("api", HealthStatus::Healthy);
    let plan = w.plan();
    let mut gate = Gate::default();
    gate.failed(plan.actions[0].container());
    let allowed: Vec<String> = plan
        .actions
        .iter()
        .filter(|a| gate.allows(a))
        .map(brief)
        .collect();
    assert_eq!(
        allowed,
        [
            // front goes on (it is recreated too, then waits for api, whose start is skipped).
            "remove front: recreate (env differs)",
            "wait front: for api"
        ]
    );
}

// The failure modes of docs/orchestrator.md's table, by their first words.
const LIST_STATUS: &str = "List `Status` carries the health; `State` is the state";
const RESTART_WITHOUT_T: &str = "`/restart` without `t` SIGKILLs at once";
const API_SERVICE_DIES: &str = "The API service dies; containers keep running";
const HEALTH_WITHOUT_SYSTEMD: &str = "Health checks never run without systemd";
const SIGTERM_IGNORED: &str = "A container ignoring SIGTERM is killed at the end of the grace";
const RESTART_ALWAYS_REBOOT: &str =
    "`--restart=always` restarts through conmon, but a reboot leaves containers `Created`";
const ZOMBIES: &str = "Zombies: kill -9 of the process and conmon";
const REBOOT_CREATED: &str =
    "after a reboot, the first start of a container left `Created` comes up";
const ZOMBIE_STOP_DIFFERS: &str = "`podman stop` of a zombie does not wedge it in `stopping`";
const RM_F_RETRY: &str = "`rm -f` of a zombie fails the first time";
const RUNC_STATE_DIR: &str = "removing a zombie leaves its runc state dir";
const SHM_LOCK: &str = "after a reboot podman logs `Refreshing container";
const DRIFT: &str = "Drift: a container changed by hand";
const NODE_RESTART: &str = "Node restart";
const CRASH_LOOP: &str = "A container that exits at once, every time (crash loop)";
const CRASHED: &str = "A crashed container (process killed, conmon alive)";
const FAILED_UPDATE: &str = "Failed update";
const UNINSTALL_BLOCKED: &str = "An uninstall that cannot finish";
const UNINSTALL_NO_GHOST: &str = "Uninstall leaves nothing and no ghost";
const ARCHIVES: &str = "Nothing can be pulled; images travel as archives";

/// Modes of the table that no per-app decision sees, and where they are handled.
const DECIDED_ELSEWHERE: &[(&str, &str)] = &[
    (
        "crun fails on cgroups v1 hybrid",
        "host setup (scripts/setup-host.sh)",
    ),
    (
        "As root the default nofile ulimit fails",
        "host setup; podman runs as the rootless user",
    ),
    ("No logind", "PodmanHost::resolve"),
    (
        "From root, podman must run as the user with `cd /`",
        "PodmanHost::command",
    ),
    (
        "Port publishing needs `/dev/net/tun`",
        "host setup; spec publishes on 127.0.0.1",
    ),
    (
        "`--memory`/`--cpus` ignored",
        "spec (limits set, warnings logged)",
    ),
    (
        "The Docker-compatible API creates containers with StopTimeout 0",
        "podman client (libpod API only)",
    ),
    ("Quadlet needs podman", "quadlet::render"),
    (
        "a killed service leaves its socket file",
        "service supervisor",
    ),
    (
        "with its stderr piped to the dead process",
        "service supervisor (the service logs to a file)",
    ),
    (
        "Config files from templates",
        "files::render before the specs (a new content is a new mount source, so a new config hash)",
    ),
    (
        "An archive built for another architecture",
        "images::check_architectures before any load",
    ),
    (
        "a TCP health check of a **published** port passes",
        "the app's manifest: a command check that speaks the protocol (gate: mosquitto)",
    ),
    (
        "gives **no tmpfs** on `/tmp`",
        "the app's manifest: read_only: false or its temp dirs in a volume (gate: mosquitto, adminer, mediawiki)",
    ),
];

#[test]
fn every_failure_mode_has_a_row() {
    let doc = include_str!("../../../../docs/orchestrator.md");
    let table = doc
        .split("## Failure modes and their tests")
        .nth(1)
        .and_then(|t| t.split("\n### ").next())
        .expect("docs/orchestrator.md has its failure-mode table");
    let covered: Vec<&str> = rows()
        .iter()
        .flat_map(|r| r.modes.iter().copied())
        .collect();
    let mut missing = Vec::new();
    for line in table
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| Failure mode"))
    {
        let mode = line
            .trim_start_matches("| ")
            .split(" | ")
            .next()
            .unwrap_or_default();
        let decided = covered.iter().any(|m| mode.contains(m));
        let elsewhere = DECIDED_ELSEWHERE.iter().any(|(m, _)| mode.contains(m));
        if !decided && !elsewhere {
            missing.push(mode.to_owned());
        }
    }
    assert!(
        missing.is_empty(),
        "failure modes without a row: {missing:#?}"
    );
}
