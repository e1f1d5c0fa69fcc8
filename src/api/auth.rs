//! Request guards: the Host header must name this node (a DNS-rebinding page cannot
//! reach the API), and every mutating call must carry the admin token. The token travels
//! in a header, so a cross-site form cannot send it (no CSRF).
//!
//! A request that came over the remote admin channel (`crate::node::admin`) carries an
//! [`AdminPeer`] extension instead: the peer's iroh key, checked against
//! `[admin] iroh_keys` when its connection was accepted, is its authentication, so it
//! needs no token. Its Host check is skipped too: that check keeps browsers on the
//! node's host from being turned against the API, and no browser can open an iroh
//! connection (the CLI's end is a Unix socket only its user can open). Only the node
//! itself inserts the extension; nothing a client sends can.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, Method, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{clip, ApiError};
use super::ApiState;
use crate::node::token;

/// The iroh endpoint id an admin-channel request came from (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminPeer(pub iroh::EndpointId);

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
    if let Some(AdminPeer(peer)) = req.extensions().get::<AdminPeer>() {
        tracing::debug!(peer = %peer.fmt_short(), method = %req.method(), "admin-channel request");
        return next.run(req).await;
    }
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
        let given = given.trim();
        if given.is_empty() {
            return ApiError::unauthorized().into_response();
        }
        if !token::matches(&state.admin_token, given) {
            return ApiError::token_rejected().into_response();
        }
    }
    next.run(req).await
}
