//! Long actions (install, update, …) run as jobs. Each job keeps every progress event it
//! emitted, so a client that connects late, or reconnects, replays the whole story and
//! then follows live over server-sent events. A job's percent never goes backwards.
//!
//! Credentials an install generated (secrets marked `show: true`) are held by the job,
//! never put in its events (which anyone who can read the API may follow): the last event
//! only names them, and [`Jobs::take_credentials`] hands the values out once, to a caller
//! with the admin token (`POST /jobs/{job}/credentials`), then forgets them.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use atoll_discovery::blobs::FetchProgress;
use atoll_orchestrator::secrets::Credential;
use axum::response::sse::{Event, KeepAlive, Sse};
use serde::Serialize;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::{Stream, StreamExt};

/// One progress event of a job.
#[derive(Debug, Clone, Serialize)]
pub struct JobProgress {
    /// Stage name (`fetch`, `images`, `containers`, `health`, …).
    pub stage: String,
    /// 0–100, never lower than the job's previous event.
    pub percent: u8,
    /// What is happening, for people.
    pub message: String,
    /// True on the last event.
    pub done: bool,
    /// Set when the job failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// On `fetch` events: one blob's transfer (bytes held of its total, source, path,
    /// state: held, connecting, fetching, stalled, failed, done).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetch: Option<FetchProgress>,
    /// In a job that installs several apps (an app with its dependencies): the app this
    /// step is about (`<did>/<app>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// On the last event of a job that ended well: where the app's web UI answers now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
    /// On the last event of a job that generated or kept credentials: their names (never
    /// their values) and where to read the values once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialNotice>,
}

/// What the last event of a job says about its credentials.
#[derive(Debug, Clone, Serialize)]
pub struct CredentialNotice {
    /// Names of the credentials generated, to read once at `read`.
    pub generated: Vec<String>,
    /// Names of the credentials kept from an earlier install (not shown again).
    pub kept: Vec<String>,
    /// `POST` here (admin token) for the values, once.
    pub read: String,
}

/// The credentials a job holds.
enum Held {
    /// None were handed to the job.
    Nothing,
    /// Values not read yet, and the names of those kept.
    Unread(Vec<Credential>, Vec<String>),
    /// Read once; gone.
    Read,
}

struct Job {
    history: Vec<JobProgress>,
    tx: broadcast::Sender<JobProgress>,
    credentials: Held,
}

/// Why [`Jobs::take_credentials`] gives nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeError {
    /// No such job.
    NoJob,
    /// The job has not ended.
    NotDone,
    /// The credentials were read already.
    AlreadyRead,
}

/// The credentials of a finished job, handed out once.
#[derive(Debug, Clone, Serialize)]
pub struct JobCredentials {
    /// The job.
    pub job: String,
    /// Each generated credential with its value.
    pub credentials: Vec<Credential>,
    /// Names of the credentials kept from an earlier install.
    pub kept: Vec<String>,
}

/// The jobs of this node process.
#[derive(Clone, Default)]
pub struct Jobs {
    inner: Arc<Mutex<HashMap<String, Job>>>,
}

/// The sending side of one job.
#[derive(Clone)]
pub struct JobHandle {
    id: String,
    jobs: Jobs,
    /// A part of a job ([`JobHandle::part`]): the percent range its 0-100 maps into and
    /// the app its steps are about.
    part: Option<(u8, u8, String)>,
}

impl Jobs {
    /// Start a new job and return its handle.
    pub fn create(&self) -> JobHandle {
        let mut raw = [0u8; 12];
        // A failed random source only makes ids guessable, not wrong: fall back to time.
        if getrandom::fill(&mut raw).is_err() {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            raw.copy_from_slice(&t.to_le_bytes()[..12]);
        }
        let id = hex::encode(raw);
        let (tx, _) = broadcast::channel(256);
        if let Ok(mut map) = self.inner.lock() {
            map.insert(
                id.clone(),
                Job {
                    history: Vec::new(),
                    tx,
                    credentials: Held::Nothing,
                },
            );
        }
        JobHandle {
            id,
            jobs: self.clone(),
            part: None,
        }
    }

    /// The credentials of a finished job, once: a second call, or a call before the job
    /// ended, gets an error and no value.
    pub fn take_credentials(&self, id: &str) -> Result<JobCredentials, TakeError> {
        let mut map = self.inner.lock().map_err(|_| TakeError::NoJob)?;
        let job = map.get_mut(id).ok_or(TakeError::NoJob)?;
        if !job.history.last().is_some_and(|p| p.done) {
            return Err(TakeError::NotDone);
        }
        match std::mem::replace(&mut job.credentials, Held::Read) {
            Held::Read => Err(TakeError::AlreadyRead),
            Held::Nothing => Ok(JobCredentials {
                job: id.to_owned(),
                credentials: Vec::new(),
                kept: Vec::new(),
            }),
            Held::Unread(credentials, kept) => Ok(JobCredentials {
                job: id.to_owned(),
                credentials,
                kept,
            }),
        }
    }

    /// How a finished job ended: its last message, or its error; `None` while it runs or
    /// if there is no such job.
    pub fn outcome(&self, id: &str) -> Option<Result<String, String>> {
        let map = self.inner.lock().ok()?;
        let last = map.get(id)?.history.last()?;
        last.done.then(|| match &last.error {
            Some(e) => Err(e.clone()),
            None => Ok(last.message.clone()),
        })
    }

    /// Server-sent events of a job: its history, then live events until done.
    pub fn stream(
        &self,
        id: &str,
    ) -> Option<Sse<impl Stream<Item = Result<Event, Infallible>> + use<>>> {
        let map = self.inner.lock().ok()?;
        let job = map.get(id)?;
        // Subscribe and copy the history under one lock: no event is missed or doubled.
        let rx = job.tx.subscribe();
        let history = job.history.clone();
        drop(map);
        let past = tokio_stream::iter(history);
        let live = BroadcastStream::new(rx).filter_map(|r| r.ok());
        let events = past
            .chain(live)
            .take_while_inclusive(|p: &JobProgress| !p.done)
            .map(|p| Ok(Event::default().data(serde_json::to_string(&p).unwrap_or_default())));
        Some(Sse::new(events).keep_alive(KeepAlive::default()))
    }
}

trait TakeWhileInclusive: Stream + Sized {
    fn take_while_inclusive<F: FnMut(&Self::Item) -> bool>(
        self,
        f: F,
    ) -> TakeWhileInclusiveStream<Self, F> {
        TakeWhileInclusiveStream {
            inner: self,
            f,
            done: false,
        }
    }
}
impl<S: Stream> TakeWhileInclusive for S {}

/// Yields items while `f` holds, and the first item for which it does not.
pub struct TakeWhileInclusiveStream<S, F> {
    inner: S,
    f: F,
    done: bool,
}

impl<S: Stream + Unpin, F: FnMut(&S::Item) -> bool + Unpin> Stream
    for TakeWhileInclusiveStream<S, F>
{
    type Item = S::Item;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<S::Item>> {
        if self.done {
            return std::task::Poll::Ready(None);
        }
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.inner).poll_next(cx) {
            std::task::Poll::Ready(Some(item)) => {
                if !(this.f)(&item) {
                    this.done = true;
                }
                std::task::Poll::Ready(Some(item))
            }
            other => other,
        }
    }
}

impl JobHandle {
    /// The job id clients use to follow it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Hold the credentials an install or update generated (and the names of those it
    /// kept) until they are read once; the job's last event names them.
    pub fn hold_credentials(&self, credentials: Vec<Credential>, kept: Vec<String>) {
        if credentials.is_empty() && kept.is_empty() {
            return;
        }
        if let Ok(mut map) = self.jobs.inner.lock() {
            if let Some(job) = map.get_mut(&self.id) {
                // A job installing dependencies first holds each install's credentials.
                job.credentials = match std::mem::replace(&mut job.credentials, Held::Nothing) {
                    Held::Unread(mut c, mut k) => {
                        c.extend(credentials);
                        k.extend(kept);
                        Held::Unread(c, k)
                    }
                    _ => Held::Unread(credentials, kept),
                };
            }
        }
    }

    fn notice(&self) -> Option<CredentialNotice> {
        let map = self.jobs.inner.lock().ok()?;
        match &map.get(&self.id)?.credentials {
            Held::Unread(c, kept) => Some(CredentialNotice {
                generated: c.iter().map(|c| c.name.clone()).collect(),
                kept: kept.clone(),
                read: format!("/api/v1/jobs/{}/credentials", self.id),
            }),
            _ => None,
        }
    }

    /// The same job seen as one part of it: the steps sent through the part are about
    /// `app` and their 0-100 percent fill `from..to` of the job's (so a job installing
    /// several apps in turn stays monotonic). Only the whole job's handle ends it.
    pub fn part(&self, from: u8, to: u8, app: &str) -> JobHandle {
        JobHandle {
            id: self.id.clone(),
            jobs: self.jobs.clone(),
            part: Some((from.min(to), to.min(99), app.to_owned())),
        }
    }

    /// Record and broadcast one event (its percent raised to the previous event's).
    pub fn emit(&self, mut p: JobProgress) {
        if let Some((from, to, app)) = &self.part {
            if !p.done {
                let span = u16::from(to.saturating_sub(*from));
                p.percent = (u16::from(*from) + u16::from(p.percent.min(100)) * span / 100) as u8;
                p.app = Some(app.clone());
            }
        }
        if let Ok(mut map) = self.jobs.inner.lock() {
            if let Some(job) = map.get_mut(&self.id) {
                if let Some(last) = job.history.last() {
                    p.percent = p.percent.max(last.percent);
                }
                job.history.push(p.clone());
                let _ = job.tx.send(p);
            }
        }
    }

    /// A progress step.
    pub fn step(&self, stage: &str, percent: u8, message: impl Into<String>) {
        self.emit(JobProgress {
            stage: stage.to_owned(),
            percent,
            message: message.into(),
            done: false,
            error: None,
            fetch: None,
            credentials: None,
            app: None,
            web_url: None,
        });
    }

    /// A `fetch` step: one blob's transfer.
    pub fn fetch(&self, percent: u8, message: impl Into<String>, fetch: FetchProgress) {
        self.emit(JobProgress {
            stage: "fetch".to_owned(),
            percent,
            message: message.into(),
            done: false,
            error: None,
            fetch: Some(fetch),
            credentials: None,
            app: None,
            web_url: None,
        });
    }

    /// The job ended well.
    pub fn succeed(&self, message: impl Into<String>) {
        self.succeed_at(message, None);
    }

    /// The job ended well, and the app's web UI answers at `web_url`.
    pub fn succeed_at(&self, message: impl Into<String>, web_url: Option<String>) {
        let credentials = self.notice();
        self.emit(JobProgress {
            stage: "done".into(),
            percent: 100,
            message: message.into(),
            done: true,
            error: None,
            fetch: None,
            credentials,
            app: None,
            web_url,
        });
    }

    /// The job failed.
    pub fn fail(&self, error: impl Into<String>) {
        let error = error.into();
        self.emit(JobProgress {
            stage: "failed".into(),
            percent: 100,
            message: error.clone(),
            done: true,
            error: Some(error),
            fetch: None,
            // Credentials of dependencies installed before the failure are still shown.
            credentials: self.notice(),
            app: None,
            web_url: None,
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn history(jobs: &Jobs, id: &str) -> Vec<JobProgress> {
        jobs.inner.lock().unwrap()[id].history.clone()
    }

    #[test]
    fn a_jobs_percent_never_goes_backwards() {
        let jobs = Jobs::default();
        let job = jobs.create();
        job.step("fetch", 5, "a");
        job.step("verify", 1, "b");
        job.step("images", 30, "c");
        job.step("containers", 10, "d");
        job.fail("e");
        let percents: Vec<u8> = history(&jobs, job.id()).iter().map(|p| p.percent).collect();
        assert_eq!(percents, [5, 5, 30, 30, 100]);
    }

    #[test]
    fn parts_of_a_job_fill_their_range_in_turn_and_name_their_app() {
        let jobs = Jobs::default();
        let job = jobs.create();
        let first = job.part(0, 49, "did:key:z6Mk/dep");
        first.step("fetch", 0, "a");
        first.step("ready", 100, "b");
        let second = job.part(49, 99, "did:key:z6Mk/app");
        second.step("fetch", 0, "c");
        second.step("ready", 50, "d");
        job.succeed("done");
        let h = history(&jobs, job.id());
        let percents: Vec<u8> = h.iter().map(|p| p.percent).collect();
        assert_eq!(percents, [0, 49, 49, 74, 100]);
        let apps: Vec<Option<&str>> = h.iter().map(|p| p.app.as_deref()).collect();
        assert_eq!(
            apps,
            [
                Some("did:key:z6Mk/dep"),
                Some("did:key:z6Mk/dep"),
                Some("did:key:z6Mk/app"),
                Some("did:key:z6Mk/app"),
                None
            ]
        );
        assert!(h.last().unwrap().done);
    }
}
