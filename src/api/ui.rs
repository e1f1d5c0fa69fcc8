//! The web UI: a few static files compiled into the binary (no build step), served with
//! a strict Content-Security-Policy so that even a bug that let network text become HTML
//! could not run a script.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

const INDEX: &str = include_str!("../ui/index.html");

/// The UI's static files by name (scripts load in the order index.html lists them).
const FILES: &[(&str, &str, &str)] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../ui/style.css"),
    ),
    ("core.js", JS, include_str!("../ui/core.js")),
    ("guard.js", JS, include_str!("../ui/guard.js")),
    ("jobs.js", JS, include_str!("../ui/jobs.js")),
    ("install.js", JS, include_str!("../ui/install.js")),
    ("market.js", JS, include_str!("../ui/market.js")),
    ("app-page.js", JS, include_str!("../ui/app-page.js")),
    ("installed.js", JS, include_str!("../ui/installed.js")),
    ("operate.js", JS, include_str!("../ui/operate.js")),
    ("updates.js", JS, include_str!("../ui/updates.js")),
    ("trust.js", JS, include_str!("../ui/trust.js")),
    ("network.js", JS, include_str!("../ui/network.js")),
    ("main.js", JS, include_str!("../ui/main.js")),
    ("favicon.svg", SVG, include_str!("../ui/favicon.svg")),
];
const SVG: &str = "image/svg+xml";
const JS: &str = "text/javascript; charset=utf-8";

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

/// `/` and `/ui` → `/ui/`.
pub async fn root() -> Redirect {
    Redirect::temporary("/ui/")
}
/// `/ui/`.
pub async fn index() -> Response {
    file(INDEX, "text/html; charset=utf-8")
}
/// `/ui/{name}`: one of [`FILES`], or 404.
pub async fn asset(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, body)) => file(body, kind),
        None => (StatusCode::NOT_FOUND, "no such UI file").into_response(),
    }
}

/// `/favicon.ico`: the marketplace's icon (an SVG, also linked from the page), for
/// clients that ask for it there.
pub async fn favicon() -> Response {
    file(include_str!("../ui/favicon.svg"), SVG)
}
