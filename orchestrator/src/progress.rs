//! Progress events of long operations: a stage, an overall percentage and a message, ending
//! in [`Stage::Done`] or [`Stage::Failed`].

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::mpsc;

/// The operation a progress event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    /// `install`.
    Install,
    /// `start`.
    Start,
    /// `stop`.
    Stop,
    /// `restart`.
    Restart,
    /// `update`.
    Update,
    /// `uninstall`.
    Uninstall,
    /// `backup`.
    Backup,
    /// `restore` of a backup.
    Restore,
}

/// What an operation is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Checking the request.
    Verify,
    /// Hash-checking and loading (or pulling) images.
    Images,
    /// Secrets, volume dirs.
    Prepare,
    /// Creating, starting, stopping or removing containers.
    Containers,
    /// Waiting for health checks.
    Health,
    /// Going back to the previous version.
    Rollback,
    /// Removing data (purge) or putting a backup's data back.
    Data,
    /// Making a backup (stopping for it, running backup commands, copying).
    Backup,
    /// Finished successfully (always the last event of a successful operation).
    Done,
    /// Failed (always the last event of a failed operation; the message is the error).
    Failed,
}

/// One progress event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// The app.
    pub app: String,
    /// The operation.
    pub op: Operation,
    /// What it is doing.
    pub stage: Stage,
    /// Overall completion, 0-100.
    pub percent: u8,
    /// For people.
    pub message: String,
}

/// Where an operation sends its progress. Sending never blocks and never fails: a receiver
/// that went away just stops receiving. Percentages of one operation never go backwards.
#[derive(Debug, Clone)]
pub struct ProgressSink {
    tx: Option<mpsc::UnboundedSender<Progress>>,
    app: String,
    op: Operation,
    last: Arc<AtomicU8>,
}

impl ProgressSink {
    /// A sink that drops everything.
    pub fn none() -> Self {
        Self {
            tx: None,
            app: String::new(),
            op: Operation::Install,
            last: Arc::default(),
        }
    }

    /// A sink and the receiver of its events.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<Progress>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Self {
                tx: Some(tx),
                app: String::new(),
                op: Operation::Install,
                last: Arc::default(),
            },
            rx,
        )
    }

    /// The same destination, for one operation on one app.
    pub(crate) fn bind(&self, app: &str, op: Operation) -> Self {
        Self {
            tx: self.tx.clone(),
            app: app.to_owned(),
            op,
            last: Arc::default(),
        }
    }

    /// Emit an event (a percentage below the last one is raised to it).
    pub fn emit(&self, stage: Stage, percent: u8, message: impl Into<String>) {
        let message = message.into();
        let percent = self
            .last
            .fetch_max(percent.min(100), Ordering::SeqCst)
            .max(percent.min(100));
        tracing::debug!(app = %self.app, op = ?self.op, ?stage, percent, "{message}");
        if let Some(tx) = &self.tx {
            let _ = tx.send(Progress {
                app: self.app.clone(),
                op: self.op,
                stage,
                percent,
                message,
            });
        }
    }

    /// Emit an event at the current percentage.
    pub fn note(&self, stage: Stage, message: impl Into<String>) {
        self.emit(stage, self.last.load(Ordering::SeqCst), message);
    }

    /// Emit the final event for a result.
    pub(crate) fn finish<T, E: std::fmt::Display>(&self, result: &Result<T, E>, ok: &str) {
        match result {
            Ok(_) => self.emit(Stage::Done, 100, ok),
            Err(e) => self.emit(Stage::Failed, 100, e.to_string()),
        }
    }
}

/// Map a fraction of a stage onto the overall percentage range `lo..=hi`.
pub(crate) fn scale(lo: u8, hi: u8, done: u64, total: u64) -> u8 {
    if total == 0 {
        return hi;
    }
    let span = u64::from(hi.saturating_sub(lo));
    let p = u64::from(lo) + span * done.min(total) / total;
    u8::try_from(p).unwrap_or(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_scale_into_their_range() {
        assert_eq!(scale(10, 60, 0, 100), 10);
        assert_eq!(scale(10, 60, 50, 100), 35);
        assert_eq!(scale(10, 60, 200, 100), 60);
        assert_eq!(scale(10, 60, 0, 0), 60);
    }
}
