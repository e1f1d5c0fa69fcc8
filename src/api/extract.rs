//! The API's extractors: axum's `Query`, `Path` and `Json`, whose rejections answer in
//! the one JSON error shape and say which part of the request was wrong
//! (`query string: …`, `path: …`, `body: …`).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::{clip, ApiError};
use super::limits::MAX_QUERY_BYTES;

/// Longest rejection text echoed back (it may quote the client's input).
const MAX_ECHO: usize = 300;

/// A deserialized query string (at most [`MAX_QUERY_BYTES`]).
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let len = parts.uri.query().map_or(0, str::len);
        if len > MAX_QUERY_BYTES {
            return Err(ApiError::bad_request(format!(
                "query string: {len} bytes, at most {MAX_QUERY_BYTES} are accepted"
            )));
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Self(v))
            .map_err(|e| {
                ApiError::bad_request(format!("query string: {}", clip(&e.body_text(), MAX_ECHO)))
            })
    }
}

/// Deserialized path parameters.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Self(v)),
            Err(e) if e.status().is_server_error() => Err(ApiError::internal(e.body_text())),
            Err(e) => Err(ApiError::bad_request(format!(
                "path: {}",
                clip(&e.body_text(), MAX_ECHO)
            ))),
        }
    }
}

/// A JSON request body (its size and read time are bounded by [`super::limits`]).
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        axum::Json::<T>::from_request(req, state)
            .await
            .map(|axum::Json(v)| Self(v))
            .map_err(|e| ApiError::bad_request(format!("body: {}", clip(&e.body_text(), MAX_ECHO))))
    }
}
