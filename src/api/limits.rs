//! Per-request limits: the body is read whole, at most [`MAX_BODY_BYTES`] within
//! [`BODY_READ_TIMEOUT`], before any handler sees it (413 / 408 otherwise); a handler
//! has [`HANDLER_TIMEOUT`] to produce its answer's head (503 otherwise) — a job's event
//! stream answers at once and then streams, so it is not cut. Field limits for what the
//! API stores or echoes are here too. Connection limits are in [`super::server`].

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio_stream::StreamExt;

use super::error::ApiError;

/// Largest request body. Every body the API takes is a small JSON object.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Time the whole request body has to arrive.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a handler has to answer (the head of its answer).
pub const HANDLER_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest query string.
pub const MAX_QUERY_BYTES: usize = 2048;
/// Longest search text (`q`).
pub const MAX_SEARCH_BYTES: usize = 256;
/// Longest category filter.
pub const MAX_CATEGORY_BYTES: usize = 64;
/// Highest page number of `GET /apps`.
pub const MAX_PAGE: u32 = 10_000;
/// Most log lines one call returns.
pub const MAX_LOG_TAIL: usize = 5000;

enum BodyError {
    TooLarge,
    Unreadable(String),
}

async fn read_body(body: Body) -> Result<Vec<u8>, BodyError> {
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| BodyError::Unreadable(e.to_string()))?;
        if out.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(BodyError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn too_large() -> ApiError {
    ApiError::too_large(format!(
        "body: larger than {MAX_BODY_BYTES} bytes, the most this node accepts"
    ))
}

/// Read a whole body: at most [`MAX_BODY_BYTES`] (413), complete within
/// [`BODY_READ_TIMEOUT`] (408).
pub async fn read_limited(body: Body) -> Result<Vec<u8>, ApiError> {
    match tokio::time::timeout(BODY_READ_TIMEOUT, read_body(body)).await {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("body: not complete within {BODY_READ_TIMEOUT:?}"),
        )),
        Ok(Err(BodyError::TooLarge)) => Err(too_large()),
        Ok(Err(BodyError::Unreadable(e))) => {
            Err(ApiError::bad_request(format!("body: cannot be read: {e}")))
        }
        Ok(Ok(b)) => Ok(b),
    }
}

/// The route whose body streams to its handler, bounded there by `[api]
/// max_upload_bytes` and an idle timeout instead of the limits above (a release upload).
pub const STREAMED_ROUTE: &str = "/api/v1/publish";

/// Read the body within its limits, then run the handler within its deadline.
pub async fn bound(req: Request<Body>, next: Next) -> Response {
    if req.method() == axum::http::Method::POST
        && (req.uri().path() == STREAMED_ROUTE || req.uri().path() == super::backups::IMPORT_ROUTE)
    {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return too_large().into_response();
    }
    let bytes = match read_limited(body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let req = Request::from_parts(parts, Body::from(bytes));
    match tokio::time::timeout(HANDLER_TIMEOUT, next.run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("the node did not answer within {HANDLER_TIMEOUT:?}; try again"),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::body::Bytes;

    fn status(e: ApiError) -> StatusCode {
        e.into_response().status()
    }

    #[tokio::test]
    async fn a_chunked_body_over_the_limit_is_413() {
        let chunks = (0..5).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 16 * 1024])));
        let body = Body::from_stream(tokio_stream::iter(chunks));
        let err = read_limited(body).await.unwrap_err();
        assert_eq!(status(err), StatusCode::PAYLOAD_TOO_LARGE);
        let fits = Body::from(vec![b'x'; MAX_BODY_BYTES]);
        assert_eq!(read_limited(fits).await.unwrap().len(), MAX_BODY_BYTES);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_never_ends_is_408() {
        // One byte, then nothing, for ever: the deadline counts the whole body.
        let first = tokio_stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"{"))]);
        let body = Body::from_stream(first.chain(tokio_stream::pending()));
        let err = read_limited(body).await.unwrap_err();
        assert_eq!(status(err), StatusCode::REQUEST_TIMEOUT);
    }
}
