//! The catalog service: one writer thread batching requests, read-only connections.

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::task::Poll;

use atoll_catalog::{CatalogError, CatalogService, IngestOutcome, Provenance, SearchQuery};
use atoll_registry::{AppRef, Hash};

use crate::common::*;

fn relay() -> Provenance {
    Provenance::Relay("ws://127.0.0.1:7777".into())
}

fn app_ref(app: &str) -> AppRef {
    AppRef {
        publisher: key(1).did(),
        app: app.parse().unwrap(),
    }
}

fn words(w: &str) -> SearchQuery {
    SearchQuery {
        words: w.into(),
        ..Default::default()
    }
}

/// Poll `f` once, so a `write` has queued its request before the test goes on.
async fn poll_once<F: Future>(f: &mut Pin<Box<F>>) {
    std::future::poll_fn(|cx| {
        assert!(f.as_mut().poll(cx).is_pending(), "the write finished early");
        Poll::Ready(())
    })
    .await
}

/// A write that holds the writer thread (inside its batch's transaction) until released:
/// returns the pending write, a receiver that fires once it runs, and its release.
fn hold_writer(
    service: &CatalogService,
    app: &'static str,
) -> (
    tokio::task::JoinHandle<Result<IngestOutcome, CatalogError>>,
    tokio::sync::oneshot::Receiver<()>,
    mpsc::Sender<()>,
) {
    let (started_tx, started) = tokio::sync::oneshot::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let service = service.clone();
    let held = tokio::spawn(async move {
        service
            .write(move |cat| {
                let outcome = cat.ingest(&signed(&key(1), app, 1), &relay())?;
                let _ = started_tx.send(());
                // The test keeps the sender until it releases the writer.
                let _ = release_rx.recv();
                Ok(outcome)
            })
            .await
    });
    (held, started, release)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_writers_from_tasks_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let service = CatalogService::open(dir.path().join("catalog.db")).unwrap();
    let writers: Vec<_> = (0..200)
        .map(|i| {
            let service = service.clone();
            tokio::spawn(async move {
                service
                    .write(move |cat| {
                        cat.ingest(&signed(&key(1), &format!("app-{i}"), 1), &relay())
                    })
                    .await
            })
        })
        .collect();
    for w in writers {
        assert_eq!(
            w.await.unwrap().unwrap(),
            IngestOutcome::New { sequence: 1 }
        );
    }
    let report = service.read_blocking(|cat| cat.check()).unwrap();
    assert_eq!(report.entries, 200);
    let found = service.read_blocking(|cat| cat.search(&words("app-199")));
    assert_eq!(found.unwrap().items.len(), 1);
    // And from plain threads, through the blocking variants.
    let threads: Vec<_> = (200..240)
        .map(|i| {
            let service = service.clone();
            std::thread::spawn(move || {
                service.write_blocking(move |cat| {
                    cat.ingest(&signed(&key(1), &format!("app-{i}"), 1), &relay())
                })
            })
        })
        .collect();
    for t in threads {
        assert_eq!(
            t.join().unwrap().unwrap(),
            IngestOutcome::New { sequence: 1 }
        );
    }
    // A read connection that already used the search index sees the later writes in it.
    let found = service.read_blocking(|cat| cat.search(&words("app-239")));
    assert_eq!(found.unwrap().items.len(), 1);
    let report = service.read_blocking(|cat| cat.check());
    assert_eq!(report.unwrap().entries, 240);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_request_does_not_lose_the_other_writes_of_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let service = CatalogService::open(dir.path().join("catalog.db")).unwrap();
    let (held, started, release) = hold_writer(&service, "first");
    started.await.unwrap();
    // Queued while the writer is busy, these three form the next batch together.
    let mut a = Box::pin(service.write(|cat| cat.ingest(&signed(&key(1), "a", 1), &relay())));
    let mut b = Box::pin(service.write(|cat| {
        // A real write, then a real failure: the write must be rolled back.
        cat.ingest(&signed(&key(1), "b", 1), &relay())?;
        cat.set_blob_held(&Hash::of(b"no such blob"), true)
    }));
    let mut c = Box::pin(service.write(|cat| cat.ingest(&signed(&key(1), "c", 1), &relay())));
    poll_once(&mut a).await;
    poll_once(&mut b).await;
    poll_once(&mut c).await;
    release.send(()).unwrap();
    assert_eq!(
        held.await.unwrap().unwrap(),
        IngestOutcome::New { sequence: 1 }
    );
    assert_eq!(a.await.unwrap(), IngestOutcome::New { sequence: 1 });
    let err = b.await.unwrap_err();
    assert!(matches!(err, CatalogError::NotFound(_)), "{err:?}");
    assert_eq!(c.await.unwrap(), IngestOutcome::New { sequence: 1 });
    let (first, a, b, c) = service
        .read(|cat| {
            Ok((
                cat.app(&app_ref("first"))?.is_some(),
                cat.app(&app_ref("a"))?.is_some(),
                cat.app(&app_ref("b"))?.is_some(),
                cat.app(&app_ref("c"))?.is_some(),
            ))
        })
        .await
        .unwrap();
    assert_eq!((first, a, b, c), (true, true, false, true));
    assert_eq!(service.read(|cat| cat.check()).await.unwrap().entries, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_sees_a_committed_write() {
    let dir = tempfile::tempdir().unwrap();
    let service = CatalogService::open(dir.path().join("catalog.db")).unwrap();
    assert!(service
        .read(|cat| cat.app(&app_ref("hello")))
        .await
        .unwrap()
        .is_none());
    service
        .write(|cat| cat.ingest(&signed(&key(1), "hello", 1), &relay()))
        .await
        .unwrap();
    let view = service
        .read(|cat| cat.app(&app_ref("hello")))
        .await
        .unwrap();
    assert_eq!(view.unwrap().summary.sequence, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_do_not_wait_for_a_long_write() {
    let dir = tempfile::tempdir().unwrap();
    let service = CatalogService::open(dir.path().join("catalog.db")).unwrap();
    let (held, started, release) = hold_writer(&service, "slow");
    started.await.unwrap();
    // The writer is inside its transaction, holding the write lock, until released: a
    // read completes meanwhile (or this test would never end) and sees the last
    // committed state, without the uncommitted entry.
    for _ in 0..(2 * atoll_catalog::service::READERS) {
        let during = service.read(|cat| cat.app(&app_ref("slow"))).await.unwrap();
        assert!(during.is_none());
    }
    assert!(service
        .read_blocking(|cat| cat.app(&app_ref("slow")))
        .unwrap()
        .is_none());
    release.send(()).unwrap();
    held.await.unwrap().unwrap();
    let after = service.read(|cat| cat.app(&app_ref("slow"))).await.unwrap();
    assert!(after.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_writer_fails_every_write_and_never_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let service = CatalogService::open(dir.path().join("catalog.db")).unwrap();
    service
        .write(|cat| cat.ingest(&signed(&key(1), "kept", 1), &relay()))
        .await
        .unwrap();
    // A request that panics stops the writer thread; its caller is told, not left waiting.
    let err = service
        .write(|_cat| -> Result<(), CatalogError> { panic!("a bug in a write request") })
        .await
        .unwrap_err();
    assert!(matches!(err, CatalogError::ServiceStopped), "{err:?}");
    let err = service
        .write(|cat| cat.ingest(&signed(&key(1), "late", 1), &relay()))
        .await
        .unwrap_err();
    assert!(matches!(err, CatalogError::ServiceStopped), "{err:?}");
    let blocking = service.clone();
    let err = tokio::task::spawn_blocking(move || {
        blocking.write_blocking(|cat| cat.ingest(&signed(&key(1), "late", 1), &relay()))
    })
    .await
    .unwrap()
    .unwrap_err();
    assert!(matches!(err, CatalogError::ServiceStopped), "{err:?}");
    // What was committed before stays readable.
    let (kept, late) = service
        .read(|cat| Ok((cat.app(&app_ref("kept"))?, cat.app(&app_ref("late"))?)))
        .await
        .unwrap();
    assert!(kept.is_some() && late.is_none());
}

#[test]
fn a_closed_and_reopened_service_keeps_its_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let service = CatalogService::open(&path).unwrap();
    assert_eq!(service.path(), path);
    let other = service.clone();
    service
        .write_blocking(|cat| cat.ingest(&signed(&key(1), "hello", 1), &relay()))
        .unwrap();
    // Dropping the last handle lets the writer finish and joins it.
    drop(service);
    drop(other);
    let service = CatalogService::open(&path).unwrap();
    let view = service
        .read_blocking(|cat| cat.app(&app_ref("hello")))
        .unwrap();
    assert!(view.is_some());
}
