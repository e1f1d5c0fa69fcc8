//! The node's HTTP API (`/api/v1`, axum) and the web UI it serves.
//!
//! Reads are open to whoever reaches the listen address (loopback by default); every
//! POST (and DELETE) needs the admin token ([`auth`]). Errors share one JSON shape ([`error`]), also
//! for rejected query strings, paths and bodies ([`extract`]). Long actions run as jobs
//! whose progress streams as server-sent events ([`jobs`]). Every request is bounded:
//! connections, head and idle time by the server ([`server`]), body size, body read time
//! and handler time per request ([`limits`]).

mod apps;
mod auth;
pub mod backups;
mod credentials;
mod data;
mod deps;
mod diff;
mod endorse;
mod error;
mod extract;
mod guard;
pub mod jobs;
pub mod limits;
pub mod logs;
mod network;
mod ops;
pub mod ports;
mod publish;
mod relays;
mod resolve;
mod rotation;
pub mod server;
mod stall;
mod trust;
mod ui;
mod updates;
pub mod upload;
mod usage;
pub mod warnings;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use atoll_catalog::{Catalog, CatalogService};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

pub use auth::AdminPeer;
pub use error::{ApiError, ApiResult};
pub use ops::{Action, ActionRequest, AppOps, BoxFut, LiveApp, NetworkInfo};
pub use publish::UploadConfig;
pub use updates::policy_of;

/// Shared state of every handler.
#[derive(Clone)]
pub struct ApiState {
    /// The catalog service (its writer thread and read-only connections).
    pub catalog: CatalogService,
    /// Running and finished jobs.
    pub jobs: jobs::Jobs,
    /// The admin token mutating calls must carry.
    pub admin_token: Arc<String>,
    /// The address the API listens on (for the Host check).
    pub listen: SocketAddr,
    /// Demo mode: the UI shows a banner saying some apps are demo apps.
    pub demo: bool,
    /// The demo publisher (in demo mode): only its apps are flagged `demo`.
    pub demo_publisher: Option<atoll_registry::Did>,
    /// Directories holding blobs named by hex hash (icons are served from here).
    pub blob_dirs: Arc<Vec<PathBuf>>,
    /// What runs apps.
    pub ops: Arc<dyn AppOps>,
    /// What syncs with the network.
    pub net: Arc<dyn NetworkInfo>,
    /// The node's Nostr relays (runtime add / remove, outbox).
    pub relays: Arc<crate::node::relays::NodeRelays>,
    /// Install needs at least this trust score (or an override).
    pub install_threshold: f64,
    /// Where release uploads go and how large they may be.
    pub upload: UploadConfig,
    /// Backups of the installed apps (`None`: no container runtime).
    pub backups: Option<Arc<crate::node::runtime::NodeApps>>,
    /// The config file's auto-update policy per app ref (the operator's choices kept in the
    /// catalog win; `off` hides available updates).
    pub auto_update: Arc<std::collections::BTreeMap<String, crate::node::config::AutoUpdate>>,
}

impl ApiState {
    /// Run a query on one of the catalog's read-only connections, off the async workers.
    pub async fn read_catalog<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Catalog) -> ApiResult<T> + Send + 'static,
    {
        self.catalog
            .read(move |c| Ok(f(c)))
            .await
            .map_err(ApiError::internal)?
    }

    /// Run a change on the catalog's writer thread (in its batch's transaction).
    pub async fn write_catalog<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Catalog) -> ApiResult<T> + Send + 'static,
    {
        self.catalog
            .write(move |c| Ok(f(c)))
            .await
            .map_err(ApiError::internal)?
    }
}

const OPENAPI: &str = include_str!("api/openapi.json");

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!(
        "no API path {}; see /api/v1/openapi.json",
        error::clip(uri.path(), 120)
    ))
}

/// The whole HTTP surface: `/api/v1/…`, `/ui/…`, `/` → `/ui/`. Layers, outermost
/// first: every error answer in the JSON shape, the Host and token guard, then the body
/// and handler limits (so a request without the token is refused before its body is read).
pub fn router(state: ApiState) -> Router {
    let api = Router::new()
        .route("/status", get(network::status))
        .route("/apps", get(apps::list))
        .route("/categories", get(apps::categories))
        .route("/apps/{did}/{app}", get(apps::detail))
        .route("/apps/{did}/{app}/plan", get(deps::plan))
        .route("/blobs/{hash}", get(apps::blob))
        .route("/resolve/{app}", get(resolve::app_id))
        .route("/installed", get(ops::installed))
        .route("/installed/{did}/{app}/logs", get(logs::logs))
        .route(
            "/installed/{did}/{app}/credentials",
            post(credentials::show),
        )
        .route("/installed/{did}/{app}/usage", get(usage::usage))
        .route(
            "/installed/{did}/{app}/auto-update",
            axum::routing::put(updates::set_policy),
        )
        .route(
            "/installed/{did}/{app}/update-preview",
            get(updates::preview),
        )
        .route("/actions/update-all", post(updates::update_all))
        .route("/data", get(data::list))
        .route("/data/{did}/{app}", axum::routing::delete(data::delete))
        .route("/actions/{action}", post(ops::start_action))
        .route("/jobs/{job}/events", get(ops::job_events))
        .route("/jobs/{job}/credentials", post(ops::job_credentials))
        .route("/trust", get(trust::list))
        .route("/trust/{did}/explain", get(trust::explain))
        .route("/trust/{did}/endorsements", get(endorse::of))
        .route("/trust/keys", get(endorse::keys))
        .route("/trust/endorse", post(endorse::endorse))
        .route("/trust/{op}", post(trust::change))
        .route("/network", get(network::network))
        .route("/audit", get(network::audit))
        .route(
            "/relays",
            get(relays::list).post(relays::add).delete(relays::remove),
        )
        .route("/node", get(publish::node))
        .route("/publish", post(publish::release))
        .route("/publish/event", post(publish::event))
        .route("/backups", get(backups::list).post(backups::create))
        .route("/backups/import", post(backups::import))
        .route("/backups/{id}", get(backups::show).delete(backups::delete))
        .route("/backups/{id}/restore", post(backups::restore))
        .route("/backups/{id}/export", post(backups::export))
        .route("/openapi.json", get(openapi))
        .fallback(not_found);
    let routes = Router::new()
        .nest("/api/v1", api)
        .route("/", get(ui::root))
        .route("/ui/", get(ui::index))
        .route("/ui", get(ui::root))
        .route("/favicon.ico", get(ui::favicon))
        .route("/ui/{name}", get(ui::asset))
        .layer(axum::middleware::from_fn(limits::bound))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        .with_state(state);
    // Around the whole router (not each route), so it also sees what axum adds last,
    // such as the `Allow` header of a 405.
    Router::new()
        .fallback_service(routes)
        .layer(axum::middleware::from_fn(error::json_errors))
}
