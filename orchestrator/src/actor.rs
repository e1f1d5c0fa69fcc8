//! The reconcile actor: one task owns the [`Reconciler`] and runs a pass when asked (an
//! operation), when woken (podman events, health changes), when a backoff expires, and
//! periodically. Passes never overlap. A second task follows the podman events stream and
//! reconnects (starting the service again if needed) whenever it breaks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::labels;
use crate::progress::ProgressSink;
use crate::reconcile::{PassReport, Reconciler};
use crate::shared::Shared;

/// What the handle asks of the actor.
pub(crate) enum ActorCommand {
    /// Run a pass (soon) and report it; `sink` gets progress for one app.
    Pass {
        sink: Option<(String, ProgressSink)>,
        reply: oneshot::Sender<PassReport>,
    },
    /// Stop an app's running containers now (a restart), then pass.
    Restart {
        app: String,
        reply: oneshot::Sender<PassReport>,
    },
}

/// The actor loop. Ends when every handle is gone.
pub(crate) async fn run(shared: Arc<Shared>, mut rx: mpsc::Receiver<ActorCommand>) {
    let mut rec = Reconciler::new(shared.clone());
    let mut next_wake: Option<Instant> = None;
    let mut periodic = Instant::now();
    loop {
        let due = next_wake.map_or(periodic, |w| w.min(periodic));
        let mut replies = Vec::new();
        let mut sinks = HashMap::new();
        let mut restarts = Vec::new();
        let mut take = |cmd: ActorCommand,
                        replies: &mut Vec<oneshot::Sender<PassReport>>,
                        sinks: &mut HashMap<String, ProgressSink>| match cmd
        {
            ActorCommand::Pass { sink, reply } => {
                if let Some((app, s)) = sink {
                    sinks.insert(app, s);
                }
                replies.push(reply);
            }
            ActorCommand::Restart { app, reply } => {
                restarts.push(app);
                replies.push(reply);
            }
        };
        tokio::select! {
            cmd = rx.recv() => match cmd {
                None => break,
                Some(cmd) => {
                    take(cmd, &mut replies, &mut sinks);
                    while let Ok(more) = rx.try_recv() {
                        take(more, &mut replies, &mut sinks);
                    }
                }
            },
            () = shared.wake.notified() => {
                // Let a burst of events settle into one pass.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            () = tokio::time::sleep_until(due.into()) => {}
        }
        for app in restarts {
            rec.stop_for_restart(&app).await;
        }
        let report = rec.pass(&sinks).await;
        next_wake = report.next_wake;
        periodic = Instant::now() + shared.config.resync;
        for reply in replies {
            let _ = reply.send(report.clone());
        }
    }
}

/// Follow the events stream of our containers and wake the actor on each one.
pub(crate) async fn follow_events(shared: Arc<Shared>) {
    let node = shared.config.node.clone();
    let mut pause = Duration::from_millis(100);
    loop {
        if let Err(e) = shared.service.ensure().await {
            tracing::warn!(error = %e, "podman service unavailable; retrying");
        } else {
            match shared.podman.events(&[(labels::NODE, node.as_str())]).await {
                Ok(mut stream) => {
                    pause = Duration::from_millis(100);
                    while let Some(event) = stream.next().await {
                        match event {
                            Ok(e) if e.kind == "container" => {
                                tracing::trace!(action = %e.action, id = %e.actor.id, "podman event");
                                shared.wake.notify_one();
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::debug!(error = %e, "events stream broke off");
                                break;
                            }
                        }
                    }
                    // The stream ended: the service may have died. A pass checks at once.
                    shared.wake.notify_one();
                }
                Err(e) => tracing::debug!(error = %e, "cannot open the events stream"),
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}
