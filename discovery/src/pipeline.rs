//! The sync pipeline, as an actor: event → Nostr signature → envelope → DID signature and
//! namespace → catalog rules → blob fetch → manifest policy → accepted.
//!
//! The first stages are [`crate::codec::decode`]; the catalog rules are the
//! [`CatalogPort`]; the blob stage runs in spawned jobs (at most [`MAX_JOBS`] at once) so
//! that a large image never holds up the event stream. Every rejection is counted and
//! recorded; nothing an event contains can stop the actor.

pub mod decide;
mod job;
mod origin;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use atoll_registry::{Did, Entry, Hash, Rotation, Verified};
use nostr_sdk::{Event, EventId, PublicKey};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub(crate) use job::JobCtx;
use job::{JobInput, JobOutcome};

use crate::blobs::{retry_delay, ProgressSender};
use crate::codec::{self, Decoded, Object, ObjectType};
use crate::config::FetchLimits;
use crate::mirrors::MirrorBook;
use crate::node::FetchEntryError;
use crate::port::{
    EntryVerdict, ObjectVerdict, PortError, RotationVerdict, Source, MAX_CURSOR_SKEW_SECS,
};
use crate::reject::{Reason, Rejection, RejectionSource};
use crate::relay::guard::Refusal;
use crate::relay::PoolMessage;
use decide::{EntryFacts, EventDecision, EventFacts};

/// Events handled (and entries ingested into the catalog) per batch, at most.
const BATCH: usize = 256;
/// Blob jobs running at once.
pub const MAX_JOBS: usize = 4;
/// Blob jobs start at the latest this long after the node, even if a relay never answers.
const INITIAL_SYNC_GRACE: Duration = Duration::from_secs(10);
/// Entries remembered while their carrying key is not (yet) bound to their publisher.
const MAX_UNBOUND: usize = 4096;
/// Rotations held because they arrived before their predecessor (a gap), at most.
const MAX_GAPPED: usize = 1024;
/// Event ids remembered for deduplication before the set is cleared.
const SEEN_CAPACITY: usize = 200_000;
/// Sources that are not relays (no cursor): replays of the local event database, and
/// events handed in by [`crate::Discovery::ingest_event`] name their own.
const LOCAL: &str = "local";

/// One event to process, and how it came.
#[derive(Clone, Copy)]
pub(crate) struct Delivery<'a> {
    /// Relay URL (or another source name).
    pub relay: &'a str,
    /// The event.
    pub event: &'a Event,
    /// Its id, signature and size were checked by the relay transport (and nostr-sdk).
    pub checked: bool,
    /// Delivered live, after the relay's catch-up: its cursor may move at once.
    pub live: bool,
}

/// The cursor of one relay, as the pipeline moves it.
#[derive(Debug, Default)]
struct RelayCursor {
    /// Newest `created_at` accepted from the relay (capped at now + skew).
    newest: u64,
    /// To store at the end of the batch.
    store: Option<u64>,
}

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
    /// Refused for now, with why: it depends on an object not yet here (a key rotation
    /// whose predecessor is missing). Held, not remembered as processed, and applied
    /// when what it waits for arrives.
    Held(Reason),
    /// The catalog failed (storage, not input): it will be processed again on a replay.
    Deferred,
}

/// Commands from the [`crate::Discovery`] handle.
pub(crate) enum PipelineCommand {
    Ingest {
        event: Box<Event>,
        source: String,
        reply: oneshot::Sender<Ingested>,
    },
    FetchEntry {
        entry: Box<Verified<Entry>>,
        progress: ProgressSender,
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

impl Pending {
    /// Due now.
    fn new(entry: Verified<Entry>, why: &str) -> Self {
        Self {
            entry,
            nudged: false,
            attempts: 0,
            retry_at: Instant::now(),
            last_error: why.into(),
        }
    }
}

pub(crate) struct Pipeline {
    ctx: JobCtx,
    https: bool,
    images: bool,
    limits: FetchLimits,
    mirrors: MirrorBook,
    bound: HashMap<Did, (u64, Vec<String>)>,
    /// Entries carried by a Nostr key no profile bound (yet), by that key: when the
    /// publisher's profile arrives later and binds it, they are re-ingested as the origin's.
    unbound: HashMap<PublicKey, Vec<Verified<Entry>>>,
    unbound_len: usize,
    /// Rotations refused as a gap, by (identity, index): tried again when the rotation
    /// before them is accepted.
    gapped: HashMap<(Did, u64), (String, EventId, Verified<Rotation>)>,
    /// Event ids processed in this run, and whether they were accepted (stored, or a
    /// duplicate of a stored object): only accepted events move a relay's cursor.
    seen: HashMap<EventId, bool>,
    /// Inputs the relay transport refused in this run (by audit key).
    refused: HashSet<Hash>,
    cursors: HashMap<String, RelayCursor>,
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
    pub(crate) fn new(ctx: JobCtx, https: bool, images: bool, limits: FetchLimits) -> Self {
        Self {
            ctx,
            https,
            images,
            limits,
            mirrors: MirrorBook::default(),
            bound: HashMap::new(),
            unbound: HashMap::new(),
            unbound_len: 0,
            gapped: HashMap::new(),
            seen: HashMap::new(),
            refused: HashSet::new(),
            cursors: HashMap::new(),
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
        mut inbound: mpsc::Receiver<PoolMessage>,
        mut commands: mpsc::Receiver<PipelineCommand>,
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
                    let mut msgs = vec![msg];
                    let mut events = 1;
                    while events < BATCH {
                        match inbound.try_recv() {
                            Ok(m) => {
                                events += usize::from(matches!(m, PoolMessage::Event { .. }));
                                msgs.push(m);
                            }
                            Err(_) => break,
                        }
                    }
                    self.on_inbound(msgs).await;
                }
                Some(cmd) = commands.recv() => self.on_command(cmd).await,
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

    /// Messages from the relay sessions, in order: runs of events go to the catalog as one
    /// batch; a completed catch-up or a replay ends a run.
    async fn on_inbound(&mut self, msgs: Vec<PoolMessage>) {
        let mut run: Vec<(String, Box<Event>, bool)> = Vec::new();
        for msg in msgs {
            match msg {
                PoolMessage::Event { relay, event, live } => run.push((relay, event, live)),
                PoolMessage::Refused(r) => self.on_refused(*r).await,
                PoolMessage::CaughtUp { relay } => {
                    self.run_batch(&std::mem::take(&mut run)).await;
                    let c = self.cursors.entry(relay).or_default();
                    if c.newest > 0 {
                        c.store = Some(c.newest);
                    }
                }
                PoolMessage::Replay => {
                    self.run_batch(&std::mem::take(&mut run)).await;
                    self.replay().await;
                }
            }
        }
        self.run_batch(&run).await;
        self.store_cursors().await;
    }

    async fn run_batch(&mut self, run: &[(String, Box<Event>, bool)]) {
        if run.is_empty() {
            return;
        }
        let batch: Vec<Delivery<'_>> = run
            .iter()
            .map(|(relay, event, live)| Delivery {
                relay,
                event,
                checked: true,
                live: *live,
            })
            .collect();
        self.on_batch(&batch).await;
    }

    /// Write the cursors that moved (only ever to events the pipeline accepted).
    async fn store_cursors(&mut self) {
        for (relay, c) in self.cursors.iter_mut() {
            let Some(since) = c.store.take() else {
                continue;
            };
            match self.ctx.port.set_cursor(relay, since).await {
                Ok(()) => self.ctx.relays.cursor_stored(relay, since),
                Err(e) => {
                    tracing::warn!(%relay, error = %e, "cannot store the relay cursor")
                }
            }
        }
    }

    /// An event (or frame) the relay transport refused: count it once per run, record it
    /// once, and let NIP-77 skip it next time if its id is its own.
    async fn on_refused(&mut self, r: Refusal) {
        let c = &self.ctx.counters;
        c.events_seen(1);
        if self.refused.len() >= SEEN_CAPACITY {
            self.refused.clear();
        }
        if !self.refused.insert(r.key) {
            c.duplicates(1);
            return;
        }
        let mut rejection = Rejection::new(&r.reason, RejectionSource::Relay(r.relay)).keyed(r.key);
        rejection.event_id = r.event_id.map(|id| id.to_hex());
        rejection.subject = r.subject;
        self.ctx.reject(rejection, &r.reason, false).await;
        if let (true, Some(id), Some(at)) = (r.id_verified, r.event_id, r.created_at) {
            self.remember(id, false);
            self.ctx.relays.record_processed(id, at);
        }
    }

    fn remember(&mut self, id: EventId, accepted: bool) {
        if self.seen.len() >= SEEN_CAPACITY {
            self.seen.clear();
        }
        self.seen.insert(id, accepted);
    }

    async fn replay(&mut self) {
        let events = self.ctx.relays.stored_events().await;
        if !events.is_empty() {
            tracing::debug!(events = events.len(), "replaying the local event database");
        }
        for chunk in events.chunks(BATCH) {
            // Every event in the client database came through the relay transport (or
            // was signed by this node).
            let batch: Vec<Delivery<'_>> = chunk
                .iter()
                .map(|event| Delivery {
                    relay: LOCAL,
                    event,
                    checked: true,
                    live: false,
                })
                .collect();
            self.on_batch(&batch).await;
        }
    }

    async fn on_command(&mut self, cmd: PipelineCommand) {
        match cmd {
            PipelineCommand::Ingest {
                event,
                source,
                reply,
            } => {
                let out = self.on_event(&source, &event).await;
                let _ = reply.send(out);
            }
            PipelineCommand::FetchEntry {
                entry,
                progress,
                reply,
            } => {
                let mut input = self.job_input(*entry, true);
                input.progress = progress;
                let ctx = self.ctx.clone();
                tokio::spawn(async move {
                    let (_, outcome) = job::run(ctx, input).await;
                    let _ = reply.send(match outcome {
                        JobOutcome::Accepted => Ok(()),
                        JobOutcome::Rejected(r, _) => Err(FetchEntryError::Refused(r)),
                        JobOutcome::Unavailable(why) => Err(FetchEntryError::Unavailable(why)),
                        JobOutcome::Cancelled => Err(FetchEntryError::Stopped),
                    });
                });
            }
            PipelineCommand::Status { reply } => {
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

    /// One event from anywhere (its id and signature are checked here). Never panics,
    /// never stops the actor.
    pub(crate) async fn on_event(&mut self, relay: &str, event: &Event) -> Ingested {
        let delivery = Delivery {
            relay,
            event,
            checked: false,
            live: false,
        };
        self.on_batch(&[delivery])
            .await
            .pop()
            .unwrap_or(Ingested::Deferred)
    }

    /// Events in arrival order; their entries go to the catalog in one batch.
    pub(crate) async fn on_batch(&mut self, events: &[Delivery<'_>]) -> Vec<Ingested> {
        let mut out: Vec<(Ingested, bool)> = Vec::with_capacity(events.len());
        for d in events {
            out.push(self.process(d).await);
        }
        let mut done: HashMap<EventId, Ingested> = self.flush_entries().await.into_iter().collect();
        let now = crate::now_secs();
        for (d, (result, own_id)) in events.iter().zip(out.iter_mut()) {
            let event = d.event;
            if matches!(result, Ingested::Stored(ObjectType::Entry)) {
                if let Some(r) = done.remove(&event.id) {
                    *result = r;
                }
            }
            let accepted = match result {
                Ingested::Stored(_) => true,
                Ingested::Duplicate => self.seen.get(&event.id).copied().unwrap_or(true),
                _ => false,
            };
            match result {
                // Not processed: a replay brings it again.
                Ingested::Deferred | Ingested::Held(_) => {
                    self.seen.remove(&event.id);
                }
                Ingested::Duplicate => {}
                _ if *own_id => self.remember(event.id, accepted),
                _ => {}
            }
            if accepted && d.relay != LOCAL {
                // A relay's cursor moves only to events it delivered that were accepted,
                // and never beyond the clock (plus a small skew).
                let at = event
                    .created_at
                    .as_secs()
                    .min(now.saturating_add(MAX_CURSOR_SKEW_SECS));
                if let Some(c) = self.cursors.get_mut(d.relay) {
                    c.newest = c.newest.max(at);
                    if d.live {
                        c.store = Some(c.newest);
                    }
                } else if self.ctx.relays.is_relay(d.relay) {
                    let c = self.cursors.entry(d.relay.to_owned()).or_default();
                    c.newest = at;
                    if d.live {
                        c.store = Some(at);
                    }
                }
            }
            // Mirror announcements and profiles feed in-memory state (the mirror book,
            // the bound Nostr keys): fetch them again after a restart rather than mark
            // them seen.
            let forget = event.tags.identifier().is_some_and(|d| {
                d.starts_with("atoll:mirror:") || d.starts_with("atoll:publisher:")
            });
            if *own_id && !forget && !matches!(result, Ingested::Deferred | Ingested::Held(_)) {
                self.ctx.relays.record_processed(event.id, event.created_at);
            }
        }
        out.into_iter().map(|(r, _)| r).collect()
    }

    /// The event stages of one event. Returns what happened, and whether the event's id
    /// is known to be its own (then it may be remembered as processed).
    async fn process(&mut self, d: &Delivery<'_>) -> (Ingested, bool) {
        let (relay, event) = (d.relay, d.event);
        let c = &self.ctx.counters;
        c.events_seen(1);
        // A known id is a duplicate only if the event really hashes to it (cheap); the
        // signature was checked when the id was first seen.
        if self.seen.contains_key(&event.id) && (d.checked || event.verify_id()) {
            c.duplicates(1);
            return (Ingested::Duplicate, true);
        }
        let decoded = if d.checked {
            codec::decode_checked(event)
        } else {
            codec::decode(event)
        };
        let own_id = decide::id_is_own(&decoded, || d.checked || event.verify().is_ok());
        let result = match decoded {
            Ok(None) => self.execute(EventDecision::Ignore, ObjectType::Entry).await,
            Err(reason) => {
                let facts = EventFacts {
                    event_id: event.id,
                    sig: *event.sig.as_ref(),
                    d_tag: event.tags.identifier().map(str::to_owned),
                    from: self.delivered_by(relay),
                };
                let decision = decide::decode_refused(reason, &facts, own_id);
                self.execute(decision, ObjectType::Entry).await
            }
            Ok(Some(decoded)) => self.on_object(relay, decoded).await,
        };
        if own_id {
            // Provisional for entries (the catalog batch decides): a second copy in the
            // same batch is a duplicate.
            self.remember(event.id, matches!(result, Ingested::Stored(_)));
        }
        (result, own_id)
    }

    /// Who delivered an event, as a rejection names it.
    fn delivered_by(&self, relay: &str) -> RejectionSource {
        if self.ctx.relays.is_relay(relay) {
            RejectionSource::Relay(relay.to_owned())
        } else {
            RejectionSource::Local(relay.to_owned())
        }
    }

    /// Carry out a decision about an object of type `kind` (the blob jobs of entries are
    /// queued by the caller).
    async fn execute(&self, decision: EventDecision, kind: ObjectType) -> Ingested {
        let c = &self.ctx.counters;
        match decision {
            EventDecision::Ignore => {
                c.events_ignored(1);
                Ingested::Ignored
            }
            EventDecision::Refuse {
                reason,
                rejection,
                in_catalog,
            } => {
                self.ctx.reject(*rejection, &reason, in_catalog).await;
                Ingested::Rejected(reason)
            }
            EventDecision::FetchBlobs | EventDecision::Record => {
                c.objects_stored(1);
                Ingested::Stored(kind)
            }
            EventDecision::RecordStale { reason, rejection } => {
                c.objects_stored(1);
                self.ctx.reject(*rejection, &reason, false).await;
                Ingested::Rejected(reason)
            }
            EventDecision::Skip => {
                c.duplicates(1);
                Ingested::Duplicate
            }
            EventDecision::Defer => Ingested::Deferred,
        }
    }

    async fn on_object(&mut self, relay: &str, d: Decoded) -> Ingested {
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
                self.store_object(&Object::Mirror(m), relay, d.event_id)
                    .await;
                Ingested::Stored(kind)
            }
            Object::Publisher(p) => {
                let (out, verdict) = self
                    .store_verdict(&Object::Publisher(p.clone()), relay, d.event_id)
                    .await;
                // Its Nostr keys are bound only once the catalog took the profile (stored
                // now, or the very one it holds): a refused one (a changed key commitment,
                // a retired signer, an older sequence) binds nothing.
                let accepted =
                    matches!(verdict, Some(ObjectVerdict::Stored | ObjectVerdict::Known));
                let newer = self
                    .bound
                    .get(&p.did)
                    .is_none_or(|(seq, _)| p.sequence > *seq);
                if accepted && newer {
                    self.bound.insert(p.did, (p.sequence, p.nostr_keys.clone()));
                    self.upgrade_to_origin(relay, &p.did, &p.nostr_keys).await;
                }
                out
            }
            Object::Rotation(r) => self.on_rotation(relay, d.event_id, r).await,
            other => self.store_object(&other, relay, d.event_id).await,
        }
    }

    /// A key rotation, then any held rotations it makes applicable (n+1, n+2, ...).
    async fn on_rotation(
        &mut self,
        relay: &str,
        event_id: EventId,
        rotation: Verified<Rotation>,
    ) -> Ingested {
        let did = rotation.did;
        let mut index = rotation.index;
        let first = self.apply_rotation(relay, event_id, rotation).await;
        let mut accepted = matches!(first, Ingested::Stored(_));
        while accepted {
            let Some((relay, event_id, next)) = self.gapped.remove(&(did, index + 1)) else {
                break;
            };
            index += 1;
            tracing::info!(%did, index, "a held key rotation applies now");
            accepted = matches!(
                self.apply_rotation(&relay, event_id, next).await,
                Ingested::Stored(_)
            );
        }
        first
    }

    async fn apply_rotation(
        &mut self,
        relay: &str,
        event_id: EventId,
        rotation: Verified<Rotation>,
    ) -> Ingested {
        let source = Source::Relay(relay.to_owned());
        let verdict = self.ctx.port.ingest_rotation(&rotation, &source).await;
        let decision = match verdict {
            Err(e) => {
                tracing::warn!(error = %e, "catalog did not take a key rotation");
                EventDecision::Defer
            }
            Ok(RotationVerdict::Duplicate) => EventDecision::Skip,
            Ok(RotationVerdict::Accepted { voided, new_heads }) => {
                for id in &voided {
                    self.pending.remove(id);
                }
                for entry in new_heads {
                    self.queue_blobs(entry, "queued (head restored by a key rotation)");
                }
                // The profile binding may have been voided with the retired key.
                self.bound.remove(&rotation.did);
                EventDecision::Record
            }
            Ok(RotationVerdict::Refused(refusal)) => {
                let gap = refusal.is_gap();
                let reason = Reason::Rotation(refusal);
                let mut r = Rejection::new(&reason, self.delivered_by(relay));
                r.event_id = Some(event_id.to_hex());
                r.subject = Some(Object::Rotation(rotation.clone()).d_tag().to_string());
                self.execute(
                    EventDecision::Refuse {
                        reason: reason.clone(),
                        rejection: Box::new(r),
                        in_catalog: true,
                    },
                    ObjectType::Rotation,
                )
                .await;
                if gap {
                    // Not remembered as processed: held, and applied once the missing
                    // rotation arrives (or on the next delivery or replay).
                    if self.gapped.len() < MAX_GAPPED {
                        self.gapped.insert(
                            (rotation.did, rotation.index),
                            (relay.to_owned(), event_id, rotation),
                        );
                    }
                    return Ingested::Held(reason);
                }
                return Ingested::Rejected(reason);
            }
        };
        self.execute(decision, ObjectType::Rotation).await
    }

    /// Ingest the queued entries in one catalog batch and act on each verdict. Returns the
    /// outcome per queued entry, in order.
    async fn flush_entries(&mut self) -> Vec<(EventId, Ingested)> {
        let queued = std::mem::take(&mut self.queued);
        if queued.is_empty() {
            return Vec::new();
        }
        let batch: Vec<(Verified<Entry>, Source)> = queued
            .iter()
            .map(|q| (q.entry.clone(), q.source.clone()))
            .collect();
        let verdicts = self.ctx.port.ingest_entries(&batch).await;
        let mut out = Vec::with_capacity(queued.len());
        for (q, v) in queued.into_iter().zip(verdicts) {
            let event_id = q.event_id;
            out.push((event_id, self.apply_entry(q, v).await));
        }
        out
    }

    async fn apply_entry(
        &mut self,
        q: QueuedEntry,
        verdict: Result<EntryVerdict, PortError>,
    ) -> Ingested {
        if let Err(e) = &verdict {
            tracing::error!(error = %e, app = %q.entry.app_ref(), "catalog failed; the event will be replayed");
        }
        let facts = EntryFacts {
            event_id: q.event_id,
            subject: q.subject,
            from: self.delivered_by(&q.relay),
            expires_at: q.entry.expires_at,
        };
        let decision = decide::entry_verdict(&verdict, &facts, crate::now_secs());
        if decision == EventDecision::FetchBlobs {
            self.queue_blobs(q.entry, "queued");
        }
        self.execute(decision, ObjectType::Entry).await
    }

    /// Queue the blob job of an app's new head (replacing any of the app's older ones).
    fn queue_blobs(&mut self, entry: Verified<Entry>, why: &str) {
        let app = entry.app_ref();
        self.pending.retain(|_, p| p.entry.app_ref() != app);
        self.pending
            .insert(entry.payload_id(), Pending::new(entry, why));
    }

    async fn store_object(&self, object: &Object, relay: &str, event_id: EventId) -> Ingested {
        self.store_verdict(object, relay, event_id).await.0
    }

    /// Store an object; also the catalog's verdict (none if the catalog failed).
    async fn store_verdict(
        &self,
        object: &Object,
        relay: &str,
        event_id: EventId,
    ) -> (Ingested, Option<ObjectVerdict>) {
        let stored = self
            .ctx
            .port
            .ingest_object(object, &Source::Relay(relay.to_owned()))
            .await;
        if let Err(e) = &stored {
            tracing::warn!(error = %e, "catalog did not take an object");
        }
        let decision = decide::object_stored(&stored, |reason| {
            let mut r = Rejection::new(reason, self.delivered_by(relay));
            r.event_id = Some(event_id.to_hex());
            r.subject = Some(object.d_tag().to_string());
            Box::new(r)
        });
        let out = self.execute(decision, object.kind()).await;
        (out, stored.ok())
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
            progress: ProgressSender::none(),
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
            JobOutcome::Accepted | JobOutcome::Cancelled => {
                self.pending.remove(&id);
            }
            JobOutcome::Rejected(_, restored) => {
                self.pending.remove(&id);
                // The refused entry was the head: the previous one is again, and its
                // blobs are fetched (at once if they are held already).
                if let Some(entry) = restored {
                    self.pending.insert(
                        entry.payload_id(),
                        Pending::new(*entry, "queued (previous head restored)"),
                    );
                }
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
                    p.last_error = why.to_string();
                }
            }
        }
    }
}
