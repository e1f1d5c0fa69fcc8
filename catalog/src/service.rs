//! The catalog as a service: one writer thread owns the write connection, a small pool of
//! read-only WAL connections serves queries, and a cloneable [`CatalogService`] handle
//! reaches both from async code (without blocking a runtime worker on SQLite) or from
//! plain threads.
//!
//! **Writes** are closures sent to the writer thread with their own reply channel. The
//! thread takes what is queued (up to [`MAX_BATCH`] requests) and runs it in one
//! `BEGIN IMMEDIATE` transaction, each request in its own savepoint: a request that fails
//! is rolled back to its savepoint and gets its error, the others are kept. Replies are
//! sent only after `COMMIT`, so a caller that got `Ok` knows its write is durable (as far
//! as `synchronous = NORMAL` in WAL mode goes). Batching amortises the commit over many
//! small writers (relay cursors, ingest, blob holders) without any caller waiting longer
//! than one batch.
//!
//! **Reads** run on one of [`READERS`] read-only connections (`query_only`), in
//! `spawn_blocking` for [`CatalogService::read`]. In WAL mode they see the last committed
//! state and never wait for the writer.
//!
//! If the writer thread stops (a request panicked), every pending and later write gets
//! [`CatalogError::ServiceStopped`]; nothing hangs.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::error::{CatalogError, OpenError};
use crate::store::Catalog;

/// Most write requests run in one transaction.
pub const MAX_BATCH: usize = 64;

/// Read-only connections in the pool.
pub const READERS: usize = 4;

/// Savepoint that brackets one request inside the batch's transaction.
const REQUEST_SAVEPOINT: &str = "atoll_service_request";

/// A queued write request: its closure and its reply channel.
struct Request<T, F> {
    f: F,
    reply: oneshot::Sender<Result<T, CatalogError>>,
}

/// A request that has run: its result, to be sent once the batch's fate is known.
struct Ran<T> {
    result: Result<T, CatalogError>,
    reply: oneshot::Sender<Result<T, CatalogError>>,
}

/// A write request, type-erased for the queue.
trait Job: Send {
    /// Run the request's closure on the writer's connection.
    fn run(self: Box<Self>, catalog: &mut Catalog) -> Box<dyn Finish>;
    /// Reply with `error` without running the request.
    fn fail(self: Box<Self>, error: CatalogError);
}

/// A request that has run, type-erased.
trait Finish: Send {
    /// Whether the closure succeeded (its savepoint is then kept).
    fn ok(&self) -> bool;
    /// Reply: the closure's own result, or the batch's error if the batch was lost.
    fn finish(self: Box<Self>, batch_error: Option<&Arc<rusqlite::Error>>);
}

impl<T, F> Job for Request<T, F>
where
    F: FnOnce(&mut Catalog) -> Result<T, CatalogError> + Send + 'static,
    T: Send + 'static,
{
    fn run(self: Box<Self>, catalog: &mut Catalog) -> Box<dyn Finish> {
        let Request { f, reply } = *self;
        Box::new(Ran {
            result: f(catalog),
            reply,
        })
    }

    fn fail(self: Box<Self>, error: CatalogError) {
        // The caller may have stopped waiting; the error is then unobserved.
        let _ = self.reply.send(Err(error));
    }
}

impl<T: Send + 'static> Finish for Ran<T> {
    fn ok(&self) -> bool {
        self.result.is_ok()
    }

    fn finish(self: Box<Self>, batch_error: Option<&Arc<rusqlite::Error>>) {
        let out = match (self.result, batch_error) {
            (Ok(_), Some(e)) => Err(batch_failure(e)),
            (result, _) => result,
        };
        // The caller may have stopped waiting; its result is then unobserved.
        let _ = self.reply.send(out);
    }
}

/// Cloneable handle: one writer thread owning the write connection, plus read-only WAL
/// connections.
#[derive(Clone, Debug)]
pub struct CatalogService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    jobs: Mutex<Option<mpsc::Sender<Box<dyn Job>>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    readers: Pool,
}

impl CatalogService {
    /// Open (or create and migrate) the catalog at `path` on a new writer thread, and
    /// open the read-only connections.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        let write = Catalog::open(path.as_ref())?;
        let path = write.path().to_owned();
        let readers = (0..READERS)
            .map(|_| Catalog::open_read_only(&path))
            .collect::<Result<Vec<_>, _>>()?;
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        let writer = std::thread::Builder::new()
            .name("catalog-writer".into())
            .spawn(move || run_writer(write, rx))
            .map_err(|source| OpenError::Io {
                path: path.clone(),
                source,
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                jobs: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(writer)),
                readers: Pool::new(readers),
            }),
        })
    }

    /// The catalog file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Run `f` on the writer thread inside the batch's transaction (a savepoint per
    /// request). Resolves after the batch is committed.
    pub async fn write<T, F>(&self, f: F) -> Result<T, CatalogError>
    where
        F: FnOnce(&mut Catalog) -> Result<T, CatalogError> + Send + 'static,
        T: Send + 'static,
    {
        let reply = self.submit(f)?;
        reply.await.unwrap_or(Err(CatalogError::ServiceStopped))
    }

    /// Run `f` on a read-only connection, off the async worker threads (spawn_blocking).
    pub async fn read<T, F>(&self, f: F) -> Result<T, CatalogError>
    where
        F: FnOnce(&Catalog) -> Result<T, CatalogError> + Send + 'static,
        T: Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.readers.with(f))
            .await
            .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))
    }

    /// [`CatalogService::write`] for code that is not on an async runtime (CLI commands,
    /// tests, blocking tasks). Must not be called from an async worker thread.
    pub fn write_blocking<T, F>(&self, f: F) -> Result<T, CatalogError>
    where
        F: FnOnce(&mut Catalog) -> Result<T, CatalogError> + Send + 'static,
        T: Send + 'static,
    {
        let reply = self.submit(f)?;
        reply
            .blocking_recv()
            .unwrap_or(Err(CatalogError::ServiceStopped))
    }

    /// [`CatalogService::read`] for code that is not on an async runtime.
    pub fn read_blocking<T, F>(&self, f: F) -> Result<T, CatalogError>
    where
        F: FnOnce(&Catalog) -> Result<T, CatalogError> + Send + 'static,
        T: Send + 'static,
    {
        self.inner.readers.with(f)
    }

    /// Queue `f` for the writer; the receiver resolves after its batch.
    fn submit<T, F>(&self, f: F) -> Result<oneshot::Receiver<Result<T, CatalogError>>, CatalogError>
    where
        F: FnOnce(&mut Catalog) -> Result<T, CatalogError> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Request { f, reply });
        let jobs = self
            .inner
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        jobs.as_ref()
            .ok_or(CatalogError::ServiceStopped)?
            .send(job)
            .map_err(|_| CatalogError::ServiceStopped)?;
        Ok(rx)
    }
}

impl Drop for Inner {
    /// The last handle is gone: let the writer finish what is queued, then join it.
    fn drop(&mut self) {
        self.jobs
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let writer = self
            .writer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(writer) = writer {
            // A request that held the last handle drops it on the writer thread itself.
            if writer.thread().id() != std::thread::current().id() && writer.join().is_err() {
                tracing::error!("the catalog writer thread had panicked");
            }
        }
    }
}

/// The writer thread: batches until every handle is dropped (or a request panics).
fn run_writer(mut catalog: Catalog, jobs: mpsc::Receiver<Box<dyn Job>>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| run_batch(&mut catalog, batch)));
        if outcome.is_err() {
            tracing::error!(
                "a catalog write request panicked; the catalog writer stops and later writes fail"
            );
            // Dropping the receiver makes every later `submit` fail with ServiceStopped;
            // the panicking batch's replies were dropped during unwinding.
            return;
        }
    }
    tracing::debug!("catalog writer stopped");
}

/// Run one batch in one transaction, a savepoint per request; reply after `COMMIT`.
fn run_batch(catalog: &mut Catalog, batch: Vec<Box<dyn Job>>) {
    if let Err(e) = catalog.conn.execute_batch("BEGIN IMMEDIATE") {
        let e = Arc::new(e);
        tracing::warn!(error = %e, "a catalog write batch could not begin");
        for job in batch {
            job.fail(batch_failure(&e));
        }
        return;
    }
    let mut done: Vec<Box<dyn Finish>> = Vec::with_capacity(batch.len());
    let mut lost: Option<Arc<rusqlite::Error>> = None;
    let mut pending = batch.into_iter();
    for job in pending.by_ref() {
        if let Err(e) = catalog
            .conn
            .execute_batch(&format!("SAVEPOINT {REQUEST_SAVEPOINT}"))
        {
            job.fail(e.into());
            continue;
        }
        let ran = job.run(catalog);
        let ok = ran.ok();
        done.push(ran);
        // Some SQLite errors (disk full, I/O) roll the whole transaction back: then
        // every request of the batch so far is lost, and the batch ends here.
        if catalog.conn.is_autocommit() {
            lost = Some(Arc::new(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                Some("SQLite rolled the write batch back".into()),
            )));
            break;
        }
        let end = if ok {
            format!("RELEASE {REQUEST_SAVEPOINT}")
        } else {
            format!("ROLLBACK TO {REQUEST_SAVEPOINT}; RELEASE {REQUEST_SAVEPOINT}")
        };
        if let Err(e) = catalog.conn.execute_batch(&end) {
            lost = Some(Arc::new(e));
            break;
        }
    }
    let batch_error = match lost {
        Some(e) => Some(e),
        None => catalog.conn.execute_batch("COMMIT").err().map(Arc::new),
    };
    if let Some(e) = &batch_error {
        tracing::warn!(error = %e, "a catalog write batch was not committed");
        if !catalog.conn.is_autocommit() {
            // Best effort: the error that matters is already reported to every request.
            let _ = catalog.conn.execute_batch("ROLLBACK");
        }
    }
    for ran in done {
        ran.finish(batch_error.as_ref());
    }
    if let Some(e) = &batch_error {
        for job in pending {
            job.fail(batch_failure(e));
        }
    }
}

/// The error a successful request gets when its batch was not committed.
fn batch_failure(e: &Arc<rusqlite::Error>) -> CatalogError {
    use rusqlite::ErrorCode;
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => CatalogError::Busy,
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            CatalogError::Corrupt(e.to_string())
        }
        _ => CatalogError::BatchFailed { source: e.clone() },
    }
}

/// The read-only connections, handed out one per read.
#[derive(Debug)]
struct Pool {
    idle: Mutex<Vec<Catalog>>,
    freed: Condvar,
}

impl Pool {
    fn new(readers: Vec<Catalog>) -> Self {
        Self {
            idle: Mutex::new(readers),
            freed: Condvar::new(),
        }
    }

    /// Run `f` on an idle connection, waiting for one if all are in use.
    fn with<T>(
        &self,
        f: impl FnOnce(&Catalog) -> Result<T, CatalogError>,
    ) -> Result<T, CatalogError> {
        let catalog = {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if let Some(c) = idle.pop() {
                    break c;
                }
                idle = self
                    .freed
                    .wait(idle)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        // Return the connection even if `f` panics.
        struct Back<'a>(&'a Pool, Option<Catalog>);
        impl Drop for Back<'_> {
            fn drop(&mut self) {
                if let Some(c) = self.1.take() {
                    self.0
                        .idle
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(c);
                    self.0.freed.notify_one();
                }
            }
        }
        let back = Back(self, Some(catalog));
        // `back` holds the connection until it is dropped after `f`.
        let catalog = back.1.as_ref().ok_or(CatalogError::ServiceStopped)?;
        f(catalog)
    }
}
