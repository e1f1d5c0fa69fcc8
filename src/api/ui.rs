//! The web UI: three static files compiled into the binary (no build step), served with
//! a strict Content-Security-Policy so that even a bug that let network text become HTML
//! could not run a script.

use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};

const INDEX: &str = include_str!("../ui/index.html");
const APP_JS: &str = include_str!("../ui/app.js");
const STYLE: &str = include_str!("../ui/style.css");

/// CSP for the UI: scripts and styles only from this origin, images from this origin.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

fn file(body: &'static str, kind: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `/` → `/ui/`.
pub async fn root() -> Redirect {
    Redirect::temporary("/ui/")
}
/// `/ui/`.
pub async fn index() -> Response {
    file(INDEX, "text/html; charset=utf-8")
}
/// `/ui/app.js`.
pub async fn app_js() -> Response {
    file(APP_JS, "text/javascript; charset=utf-8")
}
/// `/ui/style.css`.
pub async fn style() -> Response {
    file(STYLE, "text/css; charset=utf-8")
}
