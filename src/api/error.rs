//! API errors: one JSON shape for every failure,
//! `{"error": {"code": "not_found", "message": "…"}}`, with a matching HTTP status.
//! Handlers and extractors ([`super::extract`]) build [`ApiError`]s; [`json_errors`] is
//! the last line: any error answer that is not JSON yet (axum's own 404/405, a
//! rejection nobody mapped) is rewritten into the same shape.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An error answered by the API.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// More fields of the `error` object (e.g. a guard's `reasons`).
    details: serde_json::Map<String, serde_json::Value>,
}

impl ApiError {
    /// 400 with a message saying what is wrong and where.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    /// 401: no admin token sent: how to send it.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this call changes the node: send the admin token as `Authorization: Bearer <token>` (see `atoll node token`)",
        )
    }
    /// 401 for a token that was sent but is not this node's admin token: say where the
    /// right one is (not how to send one: the client already sends one).
    pub fn token_rejected() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the token was not accepted: it is not this node's admin token (one of another \
             node, or an old one); the right one is in the node's data dir, admin.token, and \
             `atoll node token` on the node's machine prints it",
        )
    }
    /// 403 with a reason.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    /// 404 naming what was not found.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    /// 413: the request body is larger than the node accepts.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }
    /// 409: the request conflicts with the current state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    /// 500; the message is logged and returned (no secrets ever reach it).
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(%err, "internal error answering an API call");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            err.to_string(),
        )
    }
    /// Any status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: serde_json::Map::new(),
        }
    }

    /// The same error with one more field in its `error` object (`code` and `message`
    /// cannot be replaced).
    pub fn with(mut self, key: &str, value: serde_json::Value) -> Self {
        if key != "code" && key != "message" {
            self.details.insert(key.to_owned(), value);
        }
        self
    }
}

/// The `code` of an error answer with `status`.
pub fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    }
}

/// At most `max` characters of `s`, for echoing client input in a message.
pub fn clip(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Rewrite every error answer that is not JSON into the one JSON shape, saying what
/// was wrong and where (405 keeps its `Allow` header).
pub async fn json_errors(req: Request<Body>, next: Next) -> Response {
    let method = req.method().clone();
    let path = clip(req.uri().path(), 120);
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return res;
    }
    let allow = res.headers().get(header::ALLOW).cloned();
    let message = match status {
        StatusCode::NOT_FOUND => {
            format!("nothing at {path}; the API is described at /api/v1/openapi.json")
        }
        StatusCode::METHOD_NOT_ALLOWED => format!(
            "method {method} is not allowed on {path}{}",
            allow
                .as_ref()
                .and_then(|a| a.to_str().ok())
                .map(|a| format!(" (allowed: {a})"))
                .unwrap_or_default()
        ),
        _ => format!(
            "{method} {path}: {}",
            status.canonical_reason().unwrap_or("error")
        ),
    };
    let mut out = ApiError::new(status, code_for(status), message).into_response();
    if let Some(a) = allow {
        out.headers_mut().insert(header::ALLOW, a);
    }
    out
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = self.details;
        error.insert("code".into(), json!(self.code));
        error.insert("message".into(), json!(self.message));
        let body = json!({ "error": error });
        (self.status, Json(body)).into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        Self::internal(format!("{err:#}"))
    }
}

/// Result of an API handler.
pub type ApiResult<T> = Result<T, ApiError>;
