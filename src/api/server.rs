//! The HTTP server under the API: our own accept loop on hyper's HTTP/1 connection
//! builder, because `axum::serve` has no read timeouts and no connection cap.
//!
//! * At most [`MAX_CONNECTIONS`] connections are served at once. A permit is taken
//!   *before* `accept`, so connections beyond the cap wait in the kernel's listen backlog
//!   (costing this process nothing) until a slot frees; they are never all held open.
//! * A connection waiting for a request — its first or the next one on a kept-alive
//!   connection — must deliver the complete request head within
//!   [`HEADER_READ_TIMEOUT`], or hyper closes it. The same timer is the idle keep-alive
//!   timeout: hyper starts it as soon as a connection waits for a request head.
//! * A client that stops reading what the server writes for [`WRITE_STALL_TIMEOUT`] is
//!   dropped ([`stall`]). Long-lived job-event streams stay open: they write a
//!   keep-alive comment every 15 s, so only a client that never reads trips this.
//! * Request heads are bounded by [`MAX_HEAD_BYTES`] and [`MAX_HEADERS`]; the body and
//!   the handler have their own limits ([`super::limits`]).
//! * Shutdown stops accepting, lets every connection finish its request (idle ones close
//!   at once), and gives up on the stragglers — a job-event stream of a job still
//!   running — after [`SHUTDOWN_GRACE`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use super::stall::StallGuard;

/// Most connections served at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 256;
/// Time a connection has to send a complete request head, counted from the moment it
/// waits for one (so also the idle keep-alive timeout).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a client may go without reading anything while the server has bytes for it.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request head (request line and headers); bigger ones get 431 from hyper.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most header fields in one request.
pub const MAX_HEADERS: usize = 64;
/// How long shutdown waits for open connections before dropping them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Pause after a failed `accept` (out of file descriptors, …) so the loop cannot spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The HTTP/1 settings of every connection: head timeout (= idle keep-alive timeout)
/// and head limits.
fn http1_builder() -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true)
        .max_header_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS);
    builder
}

/// Serve one HTTP/1.1 connection over `io` (an iroh stream of the admin channel) with
/// the same head, idle and write-stall limits as a TCP connection; the body and handler
/// limits are the router's.
pub async fn serve_io<I>(io: I, router: Router) -> Result<(), hyper::Error>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(StallGuard::new(io, WRITE_STALL_TIMEOUT));
    http1_builder()
        .serve_connection(io, TowerToHyperService::new(router))
        .await
}

/// Serve `router` on `listener` until `shutdown` resolves, then shut down gracefully.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = GracefulShutdown::new();
    let builder = http1_builder();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Take a slot first: while every slot is busy, new connections stay in the backlog.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    warn!(error = %e, "accepting an HTTP connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let io = TokioIo::new(StallGuard::new(stream, WRITE_STALL_TIMEOUT));
        let conn = builder.serve_connection(io, TowerToHyperService::new(router.clone()));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                // Timeouts, resets and malformed requests: the client's problem, not ours.
                debug!(%peer, error = %e, "HTTP connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => info!("HTTP connections closed"),
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            warn!(grace = ?SHUTDOWN_GRACE, "HTTP connections still open at shutdown; dropping them");
        }
    }
}
