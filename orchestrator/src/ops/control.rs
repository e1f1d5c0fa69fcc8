//! `start`, `stop` and `restart`.

use std::time::Duration;

use super::wait::{Baseline, Target};
use crate::error::ControlError;
use crate::orchestrator::Orchestrator;
use crate::progress::{Operation, ProgressSink, Stage};
use crate::spec;
use crate::store::{now_secs, AppRecord, Wanted};

impl Orchestrator {
    async fn record_for_control(&self, name: &str) -> Result<AppRecord, ControlError> {
        let record = self
            .shared()
            .store
            .get(name)
            .await?
            .ok_or_else(|| ControlError::NotInstalled(name.to_owned()))?;
        if matches!(record.wanted, Wanted::Removed { .. }) {
            return Err(ControlError::Removing(name.to_owned()));
        }
        Ok(record)
    }

    /// Start a stopped app (clearing the stopped-by-user flag) and wait until it is ready.
    pub async fn start(&self, name: &str, progress: &ProgressSink) -> Result<(), ControlError> {
        let sink = progress.bind(name, Operation::Start);
        let result = self.start_inner(name, &sink).await;
        sink.finish(&result, "started");
        result
    }

    async fn start_inner(&self, name: &str, sink: &ProgressSink) -> Result<(), ControlError> {
        let shared = self.shared();
        let _lock = shared.lock_app(name).await;
        let mut record = self.record_for_control(name).await?;
        record.wanted = Wanted::Running;
        record.stopped_by_user = false;
        record.updated_at = now_secs();
        shared.store.put(&record).await?;
        shared.reset_backoff(name);
        let base = self.baseline(name);
        sink.emit(Stage::Containers, 10, "starting containers");
        self.pass(Some((name.to_owned(), sink.clone()))).await;
        self.settle(
            name,
            Target::Ready,
            shared.config.ready_timeout,
            &base,
            sink,
        )
        .await
    }

    /// Stop an app (each container gets its grace, then SIGKILL) and mark it stopped by the
    /// user: nothing starts it again until `start` (not the loop, a reboot or an update).
    pub async fn stop(&self, name: &str, progress: &ProgressSink) -> Result<(), ControlError> {
        let sink = progress.bind(name, Operation::Stop);
        let result = self.stop_inner(name, &sink).await;
        sink.finish(&result, "stopped");
        result
    }

    async fn stop_inner(&self, name: &str, sink: &ProgressSink) -> Result<(), ControlError> {
        let shared = self.shared();
        let _lock = shared.lock_app(name).await;
        let mut record = self.record_for_control(name).await?;
        record.wanted = Wanted::Stopped;
        record.stopped_by_user = true;
        record.updated_at = now_secs();
        shared.store.put(&record).await?;
        let grace: Duration = record
            .release
            .manifest
            .containers
            .iter()
            .map(spec::grace)
            .sum();
        let base = self.baseline(name);
        sink.emit(Stage::Containers, 10, "stopping containers");
        self.pass(Some((name.to_owned(), sink.clone()))).await;
        self.settle(
            name,
            Target::Stopped,
            grace + Duration::from_secs(60),
            &base,
            sink,
        )
        .await
    }

    /// Restart an app: stop its containers (reverse dependency order, with their grace) and
    /// start them again; a stopped app is started. Waits until it is ready.
    pub async fn restart(&self, name: &str, progress: &ProgressSink) -> Result<(), ControlError> {
        let sink = progress.bind(name, Operation::Restart);
        let result = self.restart_inner(name, &sink).await;
        sink.finish(&result, "restarted");
        result
    }

    async fn restart_inner(&self, name: &str, sink: &ProgressSink) -> Result<(), ControlError> {
        let record = self.record_for_control(name).await?;
        if record.wanted != Wanted::Running {
            return self.start_inner(name, sink).await;
        }
        let shared = self.shared();
        let _lock = shared.lock_app(name).await;
        let base = self.baseline(name);
        sink.emit(Stage::Containers, 10, "stopping containers");
        self.restart_pass(name).await;
        self.settle(
            name,
            Target::Ready,
            shared.config.ready_timeout,
            &base,
            sink,
        )
        .await
    }

    /// Wait (progress 50–99 %) until the app reaches `target` after a pass; a miss is
    /// [`ControlError::NotReached`].
    async fn settle(
        &self,
        name: &str,
        target: Target,
        timeout: Duration,
        base: &Baseline,
        sink: &ProgressSink,
    ) -> Result<(), ControlError> {
        self.wait(name, target, timeout, base, sink, (50, 99))
            .await
            .map_err(|reason| ControlError::NotReached {
                app: name.to_owned(),
                reason,
            })
    }
}
