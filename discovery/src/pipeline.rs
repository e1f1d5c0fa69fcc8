//! The sync pipeline, as an actor: event → Nostr signature → envelope → DID signature and
//! namespace → catalog rules → blob fetch → manifest policy → accepted.
//!
//! The first stages are [`crate::codec::decode`]; the catalog rules are the
//! [`CatalogPort`]; the blob stage runs in spawned jobs (at most [`MAX_JOBS`] at once) so
//! that a large image never holds up the event stream. Every rejection is counted and
//! recorded; nothing an event contains can stop the actor.

mod job;
mod origin;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use atoll_registry::{Did, Entry, Hash, Verified};
use nostr_sdk::{Event, EventId, PublicKey};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub(crate) use job::Ctx;
use job::{JobInput, JobOutcome};

use crate::blobs::retry_delay;
use crate::codec::{self, Inbound as Decoded, Object, ObjectType};
use crate::config::FetchLimits;
use crate::mirrors::MirrorBook;
use crate::node::FetchEntryError;
use crate::port::{EntryVerdict, Source};
use crate::reject::{Reason, Rejection};
use crate::relay::Inbound;

/// Events handled (and entries ingested into the catalog) per batch, at most.
const BATCH: usize = 256;
/// Blob jobs running at once.
pub const MAX_JOBS: usize = 4;
/// Blob jobs start at the latest this long after the node, even if a relay never answers.
const INITIAL_SYNC_GRACE: Duration = Duration::from_secs(10);
/// Entries remembered while their carrying key is not (yet) bound to their publisher.
const MAX_UNBOUND: usize = 4096;
/// Event ids remembered for deduplication before the set is cleared.
const SEEN_CAPACITY: usize = 200_000;

/// What the pipeline did with one event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ingested {
    /// Not an atoll event.
    Ignored,
    /// Seen before (same event id, or the same signed object).
    Duplicate,
    /// A signed object was stored; entries go on to the blob stage.
    Stored(ObjectType),
    /// Refused, with why.
    Rejected(Reason),
    /// The catalog failed (storage, not input): it will be processed again on a replay.
    Deferred,
}

/// Commands from the [`crate::Discovery`] handle.
pub(crate) enum Command {
    Ingest {
        event: Box<Event>,
        source: String,
        reply: oneshot::Sender<Ingested>,
    },
    FetchEntry {
        entry: Box<Verified<Entry>>,
        reply: oneshot::Sender<Result<(), FetchEntryError>>,
    },
    Status {
        reply: oneshot::Sender<PipelineStatus>,
    },
}

/// The pipeline's queue, for `sync status`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PipelineStatus {
    /// Entries whose blobs are being fetched now.
    pub fetching: usize,
    /// Entries waiting for a source (retried on a timer and when a mirror appears).
    pub waiting: usize,
    /// (blob, node) pairs announced by mirrors.
    pub mirrors_known: usize,
    /// Why the waiting entries wait, by `<did>/<app>`.
    pub waiting_reasons: Vec<(String, String)>,
}

/// An entry waiting for the next catalog batch.
struct QueuedEntry {
    relay: String,
    pubkey: PublicKey,
    event_id: EventId,
    subject: String,
    entry: Verified<Entry>,
    source: Source,
}

struct Pending {
    entry: Verified<Entry>,
    /// A mirror for one of its blobs appeared while a job ran: retry at once.
    nudged: bool,
    attempts: u32,
    retry_at: Instant,
    last_error: String,
}

pub(crate) struct Pipeline {
    ctx: Ctx,
    https: bool,
    images: bool,
    limits: FetchLimits,
    mirrors: MirrorBook,
    bound: HashMap<Did, (u64, Vec<String>)>,
    /// Entries carried by a Nostr key no profile bound (yet), by that key: when the
    /// publisher's profile arrives later and binds it, they are re-ingested as the origin's.
    unbound: HashMap<PublicKey, Vec<Verified<Entry>>>,
    unbound_len: usize,
    seen: HashSet<EventId>,
    pending: HashMap<Hash, Pending>,
    running: HashSet<Hash>,
    jobs: JoinSet<(Hash, JobOutcome)>,
    /// Entries decoded in the current batch, ingested together.
    queued: Vec<QueuedEntry>,
    /// Blob jobs wait for the first catch-up of every relay, so that the node knows the
    /// newest versions and every announced mirror before it fetches anything.
    synced: bool,
    started: Instant,
}

impl Pipeline {
    pub(crate) fn new(ctx: Ctx, https: bool, images: bool, limits: FetchLimits) -> Self {
        Self {
            ctx,
            https,
            images,
            limits,
            mirrors: MirrorBook::default(),
            bound: HashMap::new(),
            unbound: HashMap::new(),
            unbound_len: 0,
            seen: HashSet::new(),
            pending: HashMap::new(),
            running: HashSet::new(),
            jobs: JoinSet::new(),
            queued: Vec::new(),
            synced: false,
            started: Instant::now(),
        }
    }

    /// Run until cancelled.
    pub(crate) async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut commands: mpsc::Receiver<Command>,
        cancel: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Whatever the local event database holds was received before: run it again (the
        // catalog deduplicates), so nothing stored but unprocessed is lost over a restart.
        self.replay().await;
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                Some(msg) = inbound.recv() => {
                    let mut batch = Vec::new();
                    let mut replay = false;
                    let mut next = Some(msg);
                    while let Some(msg) = next.take() {
                        match msg {
                            Inbound::Event { relay, event } => batch.push((relay, event)),
                            Inbound::Replay => replay = true,
                        }
                        if batch.len() < BATCH && !replay {
                            next = inbound.try_recv().ok();
                        }
                    }
                    let refs: Vec<(&str, &Event)> =
                        batch.iter().map(|(r, e)| (r.as_str(), e.as_ref())).collect();
                    self.on_batch(&refs);
                    if replay {
                        self.replay().await;
                    }
                }
                Some(cmd) = commands.recv() => self.on_command(cmd),
                Some(done) = self.jobs.join_next(), if !self.jobs.is_empty() => {
                    match done {
                        Ok((id, outcome)) => self.on_job_done(id, outcome),
                        Err(e) => tracing::error!(error = %e, "blob job failed"),
                    }
                    self.start_jobs();
                }
                _ = tick.tick() => {
                    self.ctx.relays.flush_processed();
                    if !self.synced {
                        let caught_up = self.ctx.relays.states().iter().all(|s| s.catch_ups > 0);
                        self.synced = (caught_up && inbound.is_empty())
                            || self.started.elapsed() >= INITIAL_SYNC_GRACE;
                    }
                    self.start_jobs();
                }
            }
        }
        self.jobs.abort_all();
    }

    async fn replay(&mut self) {
        let events = self.ctx.relays.stored_events().await;
        if !events.is_empty() {
            tracing::debug!(events = events.len(), "replaying the local event database");
        }
        for chunk in events.chunks(BATCH) {
            let refs: Vec<(&str, &Event)> = chunk.iter().map(|e| ("local", e)).collect();
            self.on_batch(&refs);
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Ingest {
                event,
                source,
                reply,
            } => {
                let out = self.on_event(&source, &event);
                let _ = reply.send(out);
            }
            Command::FetchEntry { entry, reply } => {
                let input = self.job_input(*entry, true);
                let ctx = self.ctx.clone();
                tokio::spawn(async move {
                    let (_, outcome) = job::run(ctx, input).await;
                    let _ = reply.send(match outcome {
                        JobOutcome::Accepted => Ok(()),
                        JobOutcome::Rejected(r) => Err(FetchEntryError::Refused(r)),
                        JobOutcome::Unavailable(why) => Err(FetchEntryError::Unavailable(why)),
                        JobOutcome::Cancelled => Err(FetchEntryError::Stopped),
                    });
                });
            }
            Command::Status { reply } => {
                let _ = reply.send(PipelineStatus {
                    fetching: self.running.len(),
                    waiting: self.pending.len(),
                    mirrors_known: self.mirrors.len(),
                    waiting_reasons: self
                        .pending
                        .values()
                        .map(|p| (p.entry.app_ref().to_string(), p.last_error.clone()))
                        .collect(),
                });
            }
        }
    }

    /// One event from anywhere. Never panics, never stops the actor.
    pub(crate) fn on_event(&mut self, relay: &str, event: &Event) -> Ingested {
        self.on_batch(&[(relay, event)])
            .pop()
            .unwrap_or(Ingested::Deferred)
    }

    /// Events in arrival order; their entries go to the catalog in one batch.
    pub(crate) fn on_batch(&mut self, events: &[(&str, &Event)]) -> Vec<Ingested> {
        let mut out: Vec<Ingested> = events
            .iter()
            .map(|(relay, event)| self.process(relay, event))
            .collect();
        let mut done: HashMap<EventId, Ingested> = self.flush_entries().into_iter().collect();
        for ((_, event), result) in events.iter().zip(out.iter_mut()) {
            if matches!(result, Ingested::Stored(ObjectType::Entry)) {
                if let Some(r) = done.remove(&event.id) {
                    *result = r;
                }
            }
            // Mirror announcements and profiles feed in-memory state (the mirror book,
            // the bound Nostr keys): fetch them again after a restart rather than mark
            // them seen.
            let forget = event.tags.identifier().is_some_and(|d| {
                d.starts_with("atoll:mirror:") || d.starts_with("atoll:publisher:")
            });
            let valid_id = !matches!(
                result,
                Ingested::Deferred
                    | Ingested::Rejected(Reason::NostrSignature)
                    | Ingested::Rejected(Reason::Oversized { .. })
            );
            if valid_id && !forget {
                self.ctx.relays.record_processed(event.id, event.created_at);
            }
        }
        out
    }

    fn process(&mut self, relay: &str, event: &Event) -> Ingested {
        let c = &self.ctx.counters;
        c.events_seen(1);
        // A known id is a duplicate only if the event really hashes to it (cheap); the
        // signature was checked when the id was first seen.
        let decoded = if self.seen.contains(&event.id) && event.verify_id() {
            c.duplicates(1);
            return Ingested::Duplicate;
        } else if !event.verify_id() {
            Err(Reason::NostrSignature)
        } else {
            codec::decode(event)
        };
        if !matches!(
            decoded,
            Err(Reason::NostrSignature) | Err(Reason::Oversized { .. })
        ) {
            // The id is now known to be this event's own: remember it.
            if self.seen.len() >= SEEN_CAPACITY {
                self.seen.clear();
            }
            self.seen.insert(event.id);
        }
        match decoded {
            Ok(None) => {
                c.events_ignored(1);
                Ingested::Ignored
            }
            Err(reason) => {
                let mut r = Rejection::new(&reason, relay);
                r.event_id = Some(event.id.to_hex());
                r.subject = event
                    .tags
                    .identifier()
                    .map(|d| d.chars().take(200).collect());
                self.ctx.reject(r, &reason, false);
                Ingested::Rejected(reason)
            }
            Ok(Some(decoded)) => self.on_object(relay, decoded),
        }
    }

    fn on_object(&mut self, relay: &str, d: Decoded) -> Ingested {
        let kind = d.object.kind();
        let subject = d.object.d_tag().to_string();
        match d.object {
            Object::Entry(entry) => {
                let source = self.source_of(relay, &d.pubkey, &entry.publisher, &entry);
                if matches!(source, Source::Relay(_)) {
                    self.remember_unbound(d.pubkey, &entry);
                }
                self.queued.push(QueuedEntry {
                    relay: relay.to_owned(),
                    pubkey: d.pubkey,
                    event_id: d.event_id,
                    subject,
                    entry,
                    source,
                });
                Ingested::Stored(kind)
            }
            Object::Mirror(m) => {
                if m.node == self.ctx.node_key.did() {
                    return Ingested::Duplicate;
                }
                let blobs: HashSet<Hash> = self.mirrors.learn(&m).into_iter().collect();
                // Entries waiting for one of these blobs: try now.
                let now = Instant::now();
                for p in self.pending.values_mut() {
                    let wanted = std::iter::once(&p.entry.manifest.hash)
                        .chain(p.entry.artifacts.iter().map(|a| &a.blob.hash));
                    if wanted.into_iter().any(|h| blobs.contains(h)) {
                        p.retry_at = now;
                        p.nudged = true;
                    }
                }
                self.store_object(&Object::Mirror(m), relay);
                Ingested::Stored(kind)
            }
            Object::Publisher(p) => {
                let newer = self
                    .bound
                    .get(&p.did)
                    .is_none_or(|(seq, _)| p.sequence > *seq);
                if newer {
                    self.bound.insert(p.did, (p.sequence, p.nostr_keys.clone()));
                }
                let out = self.store_object(&Object::Publisher(p.clone()), relay);
                if newer {
                    self.upgrade_to_origin(relay, &p.did, &p.nostr_keys);
                }
                out
            }
            other => self.store_object(&other, relay),
        }
    }

    /// Ingest the queued entries in one catalog batch and act on each verdict. Returns the
    /// outcome per queued entry, in order.
    fn flush_entries(&mut self) -> Vec<(EventId, Ingested)> {
        let queued = std::mem::take(&mut self.queued);
        if queued.is_empty() {
            return Vec::new();
        }
        let batch: Vec<(Verified<Entry>, Source)> = queued
            .iter()
            .map(|q| (q.entry.clone(), q.source.clone()))
            .collect();
        let verdicts = self.ctx.port.ingest_entries(&batch);
        queued
            .into_iter()
            .zip(verdicts)
            .map(|(q, v)| (q.event_id, self.apply_entry(q, v)))
            .collect()
    }

    fn apply_entry(
        &mut self,
        q: QueuedEntry,
        verdict: Result<EntryVerdict, crate::port::PortError>,
    ) -> Ingested {
        let QueuedEntry {
            relay,
            event_id,
            subject,
            entry,
            ..
        } = q;
        let kind = ObjectType::Entry;
        let verdict = match verdict {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, app = %entry.app_ref(), "catalog failed; the event will be replayed");
                self.seen.remove(&event_id);
                return Ingested::Deferred;
            }
        };
        let relay = relay.as_str();
        match verdict {
            EntryVerdict::Head | EntryVerdict::EquivocationWon => {
                self.ctx.counters.objects_stored(1);
                let id = entry.payload_id();
                let app = entry.app_ref();
                self.pending.retain(|_, p| p.entry.app_ref() != app);
                self.pending.insert(
                    id,
                    Pending {
                        entry,
                        nudged: false,
                        attempts: 0,
                        retry_at: Instant::now(),
                        last_error: "queued".into(),
                    },
                );
                Ingested::Stored(kind)
            }
            EntryVerdict::YankedHead => {
                self.ctx.counters.objects_stored(1);
                Ingested::Stored(kind)
            }
            EntryVerdict::StaleHead => {
                self.ctx.counters.objects_stored(1);
                let reason = Reason::Expired {
                    expires_at: entry.expires_at,
                    now: crate::now_secs(),
                };
                let mut r = Rejection::new(&reason, relay);
                r.event_id = Some(event_id.to_hex());
                r.subject = Some(subject);
                self.ctx.reject(r, &reason, false);
                Ingested::Rejected(reason)
            }
            EntryVerdict::Duplicate => {
                self.ctx.counters.duplicates(1);
                Ingested::Duplicate
            }
            EntryVerdict::Refused(reason) => {
                let mut r = Rejection::new(&reason, relay);
                r.event_id = Some(event_id.to_hex());
                r.subject = Some(subject);
                self.ctx.reject(r, &reason, true);
                Ingested::Rejected(reason)
            }
        }
    }

    fn store_object(&self, object: &Object, relay: &str) -> Ingested {
        match self
            .ctx
            .port
            .ingest_object(object, &Source::Relay(relay.to_owned()))
        {
            Ok(true) => {
                self.ctx.counters.objects_stored(1);
                Ingested::Stored(object.kind())
            }
            Ok(false) => {
                self.ctx.counters.duplicates(1);
                Ingested::Duplicate
            }
            Err(e) => {
                tracing::warn!(error = %e, "catalog did not take an object");
                Ingested::Duplicate
            }
        }
    }

    fn job_input(&self, entry: Verified<Entry>, images: bool) -> JobInput {
        let manifest_sources = self
            .mirrors
            .sources(&entry, &entry.manifest.hash, self.https);
        let artifacts = entry
            .artifacts
            .iter()
            .map(|a| {
                (
                    a.clone(),
                    self.mirrors.sources(&entry, &a.blob.hash, self.https),
                )
            })
            .collect();
        JobInput {
            entry,
            manifest_sources,
            artifacts,
            images,
        }
    }

    fn start_jobs(&mut self) {
        if !self.synced {
            return;
        }
        let now = Instant::now();
        let mut due: Vec<(Instant, Hash)> = self
            .pending
            .iter()
            .filter(|(id, p)| p.retry_at <= now && !self.running.contains(*id))
            .map(|(id, p)| (p.retry_at, *id))
            .collect();
        due.sort();
        for (_, id) in due {
            if self.running.len() >= MAX_JOBS {
                break;
            }
            let Some(p) = self.pending.get(&id) else {
                continue;
            };
            let input = self.job_input(p.entry.clone(), self.images);
            if let Some(p) = self.pending.get_mut(&id) {
                p.nudged = false;
            }
            self.running.insert(id);
            self.jobs.spawn(job::run(self.ctx.clone(), input));
        }
    }

    fn on_job_done(&mut self, id: Hash, outcome: JobOutcome) {
        self.running.remove(&id);
        match outcome {
            JobOutcome::Accepted | JobOutcome::Rejected(_) | JobOutcome::Cancelled => {
                self.pending.remove(&id);
            }
            JobOutcome::Unavailable(why) => {
                if let Some(p) = self.pending.get_mut(&id) {
                    p.attempts = p.attempts.saturating_add(1);
                    p.retry_at = if std::mem::take(&mut p.nudged) {
                        Instant::now()
                    } else {
                        Instant::now() + retry_delay(&self.limits, p.attempts)
                    };
                    tracing::info!(app = %p.entry.app_ref(), attempt = p.attempts, %why, "blobs unavailable; waiting for a source");
                    p.last_error = why;
                }
            }
        }
    }
}
