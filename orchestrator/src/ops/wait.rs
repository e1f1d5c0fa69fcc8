//! Waiting for an app to converge: ready (every container running and healthy), stopped, or
//! removed. Wakes on every runtime change; fails fast when a container becomes unhealthy or
//! keeps failing after the wait began.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use std::sync::Arc;

use crate::error::{Pending, Unfinished, WaitError};
use crate::orchestrator::Orchestrator;
use crate::progress::{scale, ProgressSink, Stage};
use crate::store::AppRecord;

/// What to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Ready,
    Stopped,
    Removed,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Stopped => "stopped",
            Self::Removed => "removed",
        }
    }
}

/// Failure counters when the wait began.
#[derive(Debug, Clone, Default)]
pub(crate) struct Baseline(HashMap<String, (u64, u64)>);

/// Exits and start failures tolerated while waiting for ready.
const FAILURES: u64 = 3;

enum Verdict {
    /// Reached, with the app's container count (0: removed).
    Done(usize),
    Failed(WaitError),
    Pending {
        done: usize,
        total: usize,
        state: Pending,
    },
}

impl Orchestrator {
    pub(crate) fn baseline(&self, app: &str) -> Baseline {
        let rt = self.shared().runtime();
        Baseline(
            rt.containers
                .iter()
                .filter(|((a, _), _)| a == app)
                .map(|((_, c), e)| (c.clone(), (e.failures, e.unhealthy)))
                .collect(),
        )
    }

    async fn evaluate(&self, app: &str, target: Target, base: &Baseline) -> Verdict {
        let record: Option<AppRecord> = match self.shared().store.get(app).await {
            Ok(r) => r,
            Err(e) => {
                return Verdict::Pending {
                    done: 0,
                    total: 1,
                    state: Pending(vec![Unfinished::Store(Arc::new(e))]),
                }
            }
        };
        let Some(record) = record else {
            return if target == Target::Removed {
                Verdict::Done(0)
            } else {
                Verdict::Failed(WaitError::Gone {
                    app: app.to_owned(),
                })
            };
        };
        let rt = self.shared().runtime();
        let app_error = rt.app_errors.get(app);
        if let Some(e) = app_error.filter(|e| e.is_permanent()) {
            return Verdict::Failed(WaitError::Blocked { error: e.clone() });
        }
        let containers = &record.release.manifest.containers;
        let total = containers.len();
        let mut done = 0;
        let mut states = Vec::new();
        for c in containers {
            let e = rt.get(app, &c.name);
            let (f0, u0) = base.0.get(&c.name).copied().unwrap_or((0, 0));
            match target {
                Target::Ready => {
                    let Some(e) = e else {
                        states.push(Unfinished::NotCreated(c.name.clone()));
                        continue;
                    };
                    if e.unhealthy > u0 {
                        return Verdict::Failed(WaitError::Unhealthy {
                            container: c.name.clone(),
                            last: e.health.last.clone(),
                        });
                    }
                    if let Some(reason) = e
                        .last_failure
                        .as_ref()
                        .filter(|_| e.failures >= f0 + FAILURES)
                    {
                        return Verdict::Failed(WaitError::Failing {
                            container: c.name.clone(),
                            reason: reason.clone(),
                        });
                    }
                    if e.ready() {
                        done += 1;
                    } else {
                        states.push(Unfinished::NotReady {
                            container: c.name.clone(),
                            state: e.state.clone(),
                            health: e.health_status(),
                            last_failure: e.last_failure.clone(),
                        });
                    }
                }
                Target::Stopped => {
                    let running =
                        e.is_some_and(|e| e.state.as_ref().is_some_and(|s| s.is_running_like()));
                    if running {
                        states.push(Unfinished::StillRunning(c.name.clone()));
                    } else {
                        done += 1;
                    }
                }
                Target::Removed => {
                    states.push(Unfinished::NotRemoved(c.name.clone()));
                }
            }
        }
        if let Some(e) = app_error {
            states.push(Unfinished::LastError(e.clone()));
        }
        if done == total && target != Target::Removed {
            return Verdict::Done(total);
        }
        Verdict::Pending {
            done,
            total,
            state: Pending(states),
        }
    }

    /// Wait until `app` reaches `target` or `timeout` passes; progress goes to `sink`
    /// within `lo..=hi`.
    pub(crate) async fn wait(
        &self,
        app: &str,
        target: Target,
        timeout: Duration,
        base: &Baseline,
        sink: &ProgressSink,
        (lo, hi): (u8, u8),
    ) -> Result<(), WaitError> {
        let deadline = Instant::now() + timeout;
        let mut changes = self.shared().changed.subscribe();
        let mut last_done = usize::MAX;
        let stage = if target == Target::Ready {
            Stage::Health
        } else {
            Stage::Containers
        };
        loop {
            changes.borrow_and_update();
            match self.evaluate(app, target, base).await {
                Verdict::Done(total) => {
                    // The last line says what was reached, not the count before it.
                    if total > 0 && last_done != total {
                        sink.emit(
                            stage,
                            hi,
                            format!("{total}/{total} containers {}", target.name()),
                        );
                    }
                    return Ok(());
                }
                Verdict::Failed(e) => return Err(e),
                Verdict::Pending { done, total, state } => {
                    if done != last_done {
                        last_done = done;
                        sink.emit(
                            stage,
                            scale(lo, hi, done as u64, total as u64),
                            format!("{done}/{total} containers {}", target.name()),
                        );
                    }
                    tokio::select! {
                        changed = changes.changed() => {
                            if changed.is_err() {
                                return Err(WaitError::Closed);
                            }
                        }
                        () = tokio::time::sleep_until(deadline.into()) => {
                            return Err(WaitError::Timeout {
                                app: app.to_owned(),
                                target: target.name(),
                                waited: timeout,
                                state,
                            });
                        }
                    }
                }
            }
        }
    }
}
