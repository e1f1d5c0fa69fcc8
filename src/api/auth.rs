//! Request guards: the Host header must name this node (a DNS-rebinding page cannot
//! reach the API), and every mutating call must carry the admin token. The token travels
//! in a header, so a cross-site form cannot send it (no CSRF).

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, Method, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{clip, ApiError};
use super::ApiState;
use crate::node::token;

fn host_allowed(host: &str, state: &ApiState) -> bool {
    let port = state.listen.port();
    let name = host.rsplit_once(':').map_or(host, |(h, p)| {
        if p.parse::<u16>() == Ok(port) {
            h
        } else {
            "\u{0}"
        }
    });
    matches!(name, "127.0.0.1" | "localhost" | "[::1]") || name == state.listen.ip().to_string()
}

/// Check Host for every request and the admin token for every non-GET request.
pub async fn guard(State(state): State<ApiState>, req: Request<Body>, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !host_allowed(host, &state) {
        return ApiError::forbidden(format!(
            "Host {:?} is not this node; use http://{}",
            clip(host, 100),
            state.listen
        ))
        .into_response();
    }
    let reads = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !reads {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or("");
        if !token::matches(&state.admin_token, given.trim()) {
            return ApiError::unauthorized().into_response();
        }
    }
    next.run(req).await
}
