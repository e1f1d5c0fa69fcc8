//! Installed apps and actions on them. The node plugs in what actually runs apps
//! ([`AppOps`], the orchestrator) and what syncs ([`NetworkInfo`], discovery); the API
//! checks the request, starts a job and streams its progress.

use std::future::Future;
use std::pin::Pin;

use atoll_catalog::guard::{self, Overrides};
use atoll_catalog::UpdatePolicy;
use atoll_registry::AppRef;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::{clip, ApiError, ApiResult};
use super::extract::{Json as JsonBody, Path};
use super::jobs::JobHandle;
use super::{AdminPeer, ApiState};

/// A boxed future (the traits below are used as trait objects).
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An action on an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Install and start.
    Install,
    /// Start (and keep running).
    Start,
    /// Stop (and keep stopped: never restarted by itself).
    Stop,
    /// Stop, then start.
    Restart,
    /// Move to the newest verified version (rolled back if unhealthy).
    Update,
    /// Remove containers and state; data kept unless `purge`.
    Uninstall,
}

impl Action {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "install" => Self::Install,
            "start" => Self::Start,
            "stop" => Self::Stop,
            "restart" => Self::Restart,
            "update" => Self::Update,
            "uninstall" => Self::Uninstall,
            _ => return None,
        })
    }
}

/// Body of `POST /actions/{action}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// `<did>/<app>`.
    pub app: String,
    /// Uninstall: delete the app's data too.
    #[serde(default)]
    pub purge: bool,
    /// Install or update although the publisher's trust is below the threshold (audited).
    #[serde(default)]
    pub override_trust: bool,
    /// Install or update although the head is stale, past its `expires_at` (audited).
    #[serde(default)]
    pub override_stale: bool,
    /// The operator's note on an override, kept in the audit log (at most 1024 bytes, no
    /// control characters).
    #[serde(default)]
    pub note: Option<String>,
    /// Install: values of the manifest's settings (the others take their defaults). Kept
    /// with the install; an update keeps them.
    #[serde(default)]
    pub settings: std::collections::BTreeMap<String, String>,
    /// Install: also install the app's missing dependencies first, in order, in the same
    /// job (each from a publisher that passes the guard: no override applies to them).
    /// Without it an install with missing dependencies is a 409 `missing-dependencies`.
    #[serde(default)]
    pub with_deps: bool,
    /// Install or update to this version instead of the head (a still valid one: not
    /// yanked, not void, its manifest fetched; the guard applies to it as to a head).
    #[serde(default)]
    pub version: Option<String>,
    /// Update: try again a version whose last update failed (rolled back).
    #[serde(default)]
    pub retry: bool,
    /// Update: go back to an older version (its data may not go back: the API refuses an
    /// older version without it, with a warning).
    #[serde(default)]
    pub downgrade: bool,
    /// Set by the API, never by the client: the entry (payload id) of the chosen
    /// `version` the job installs instead of the head.
    #[serde(skip)]
    pub checked_entry: Option<atoll_registry::Hash>,
    /// Install: host ports other than the manifest's, by container port (`{"8080": 18090}`
    /// publishes the container's port 8080 on 127.0.0.1:18090). Kept with the install:
    /// updates, restarts and restores publish the same ports.
    #[serde(default)]
    pub ports: std::collections::BTreeMap<u16, u16>,
    /// Install: delete the data kept from an earlier install (volumes, secrets) first, so
    /// the app starts fresh instead of reusing it.
    #[serde(default)]
    pub fresh: bool,
    /// Set by the API, never by the client: the dependencies to install first, in order,
    /// each with the head sequence the guard allowed.
    #[serde(skip)]
    pub dependencies: Vec<(AppRef, u64)>,
    /// Set by the guard, never by the client: the head sequence the guard allowed. The job
    /// refuses to install anything else (a newer head that arrived meanwhile is checked
    /// again by a new request).
    #[serde(skip)]
    pub checked_sequence: Option<u64>,
}

impl ActionRequest {
    /// A request the node makes itself (an auto-update, a dependency of a `with_deps`
    /// install): no overrides, no settings, for the head `sequence` the guard allowed.
    pub fn by_node(app: &AppRef, sequence: u64) -> Self {
        ActionRequest {
            app: app.to_string(),
            purge: false,
            override_trust: false,
            override_stale: false,
            note: None,
            settings: Default::default(),
            with_deps: false,
            version: None,
            retry: false,
            downgrade: false,
            checked_entry: None,
            ports: Default::default(),
            fresh: false,
            dependencies: Vec::new(),
            checked_sequence: Some(sequence),
        }
    }
}

/// One installed app as it actually runs (the orchestrator's view), for `GET /installed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveApp {
    /// The catalog app it was installed from (`None`: a local app dir).
    pub app: Option<AppRef>,
    /// Overall state.
    pub state: atoll_orchestrator::AppState,
    /// The first container health that is not `healthy` (else `healthy`); `None` when no
    /// container runs.
    pub health: Option<atoll_orchestrator::HealthStatus>,
    /// Its containers, in manifest order.
    pub containers: Vec<atoll_orchestrator::ContainerStatus>,
    /// Why the orchestrator's last pass over it failed, if it did.
    pub last_error: Option<String>,
}

impl LiveApp {
    /// The state as the API names it: `running` for ready, else the orchestrator's name.
    fn state_name(&self) -> Value {
        match self.state {
            atoll_orchestrator::AppState::Ready => json!("running"),
            other => json!(other),
        }
    }
}

/// What runs apps (the orchestrator).
pub trait AppOps: Send + Sync {
    /// Carry out an action, reporting progress on `job` and ending it with success or failure.
    fn run(
        &self,
        action: Action,
        app: AppRef,
        req: ActionRequest,
        job: JobHandle,
    ) -> BoxFut<'_, ()>;
    /// Actual state of the installed apps.
    fn installed(&self) -> BoxFut<'_, anyhow::Result<Vec<LiveApp>>>;
    /// The last `tail` log lines of one container of an app (`None`: of each container).
    fn logs(
        &self,
        app: AppRef,
        container: Option<String>,
        tail: usize,
    ) -> BoxFut<'_, ApiResult<Vec<super::logs::LogEntry>>> {
        let _ = (container, tail);
        Box::pin(async move { Err(no_runtime(&app)) })
    }
    /// Follow the log of one container of an app (`None`: of each): its last `tail`
    /// lines, then each new line, until the containers stop or the receiver is dropped.
    fn follow_logs(
        &self,
        app: AppRef,
        container: Option<String>,
        tail: usize,
    ) -> BoxFut<'_, ApiResult<tokio::sync::mpsc::Receiver<super::logs::LogEntry>>> {
        let _ = (container, tail);
        Box::pin(async move { Err(no_runtime(&app)) })
    }
    /// The generated credentials (secrets marked `show`) of an installed app, with values.
    fn credentials(
        &self,
        app: AppRef,
    ) -> BoxFut<'_, ApiResult<Vec<atoll_orchestrator::secrets::Credential>>> {
        Box::pin(async move { Err(no_runtime(&app)) })
    }
    /// CPU, memory and disk of an installed app's containers, next to their limits.
    fn usage(&self, app: AppRef) -> BoxFut<'_, ApiResult<atoll_orchestrator::AppUsage>> {
        Box::pin(async move { Err(no_runtime(&app)) })
    }
    /// Where the app's web UI answers, if it has one and runs.
    fn web_url(&self, app: &AppRef) -> BoxFut<'_, Option<String>>;
    /// The data `app` has on disk, installed or not (volumes with sizes, secret names).
    fn data_of(&self, app: &AppRef) -> BoxFut<'_, Option<atoll_orchestrator::AppData>> {
        let _ = app;
        Box::pin(async { None })
    }
    /// Data kept on disk by apps that are not installed, by install name.
    fn kept_data(&self) -> BoxFut<'_, anyhow::Result<Vec<atoll_orchestrator::AppData>>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    /// Delete the kept data of `app` (not installed).
    fn delete_data(
        &self,
        app: AppRef,
    ) -> BoxFut<'_, Result<atoll_orchestrator::AppData, atoll_orchestrator::DeleteDataError>> {
        Box::pin(async move {
            Err(atoll_orchestrator::DeleteDataError::NotFound(
                app.to_string(),
            ))
        })
    }
}

/// What the default [`AppOps`] methods answer: no app runs here.
fn no_runtime(app: &AppRef) -> ApiError {
    ApiError::not_found(format!(
        "{} is not running on this node (no container runtime)",
        app.app
    ))
}

/// What syncs with the network (discovery).
pub trait NetworkInfo: Send + Sync {
    /// Relays, peers, sync state and this node's addresses, as JSON.
    fn snapshot(&self) -> BoxFut<'_, Value>;
    /// A verified blob held by this node, if it is at most `max` bytes.
    fn blob(&self, hash: atoll_registry::Hash, max: u64) -> BoxFut<'_, Option<Vec<u8>>>;
    /// What a publisher needs to sign an origin for this node: node id, advertised iroh
    /// addresses, iroh relays, Nostr relays.
    fn node_info(&self) -> BoxFut<'_, Value>;
    /// Verify an uploaded release, then store, ingest and announce it.
    fn publish_release(&self, upload: super::upload::Unpacked) -> BoxFut<'_, ApiResult<Value>>;
    /// Verify one signed Nostr event (JSON), then ingest and announce it.
    fn publish_event(&self, event: String) -> BoxFut<'_, ApiResult<Value>>;
    /// The keys this node can sign endorsements with (name, did). None by default.
    fn signing_keys(&self) -> BoxFut<'_, Value> {
        Box::pin(async { Value::Array(Vec::new()) })
    }
    /// Sign an endorsement or report with one of [`NetworkInfo::signing_keys`] and
    /// announce it. Not offered by default.
    fn endorse(&self, req: crate::node::endorse::EndorseRequest) -> BoxFut<'_, ApiResult<Value>> {
        let _ = req;
        Box::pin(async { Err(ApiError::not_found("this node signs no endorsements")) })
    }
}

/// `GET /installed`
pub async fn installed(State(state): State<ApiState>) -> ApiResult<Json<Value>> {
    // Desired state is the orchestrator's record, kept in the catalog: one home.
    let (desired, chosen) = state
        .read_catalog(|c| {
            Ok((
                c.installed_apps().map_err(ApiError::internal)?,
                c.update_policies().map_err(ApiError::internal)?,
            ))
        })
        .await?;
    let actual = state.ops.installed().await.unwrap_or_default();
    let mut out = Vec::new();
    for d in desired {
        // Rows of apps the catalog does not have (a local app dir) are not the marketplace's.
        let Some(app_ref) = d.app.clone() else {
            continue;
        };
        let r = app_ref.to_string();
        let live = actual.iter().find(|a| a.app.as_ref() == Some(&app_ref));
        let app = app_ref.clone();
        let threshold = state.install_threshold;
        let (summary, facts, failure, blocked) = state
            .read_catalog(move |c| {
                let view = c.app(&app).map_err(ApiError::internal)?;
                let facts = c.guard_facts(&app, threshold).map_err(ApiError::internal)?;
                let blocked = c.is_blocked(&app.publisher).map_err(ApiError::internal)?;
                let failure = c.update_failure(&app).map_err(ApiError::internal)?;
                Ok((view, facts, failure, blocked))
            })
            .await?;
        // One source of truth for "installed": the version that runs (during an update
        // being proven, the one it would roll back to).
        let (version, _) = super::updates::running(&d);
        let (name, head) = summary
            .map(|v| (v.summary.name.clone(), v.summary.version.clone()))
            .unwrap_or_else(|| (app_ref.app.to_string(), version.to_string()));
        let policy = super::updates::policy_of(&chosen, &state.auto_update, &app_ref);
        let newer = semver::Version::parse(&head).is_ok_and(|h| h > version);
        // A failed version is not offered as a plain update again (a retry is explicit).
        let failure = failure.filter(|f| f.version != version.to_string());
        let failed_head = failure.as_ref().is_some_and(|f| f.version == head);
        let update = (newer && policy != UpdatePolicy::Off && !failed_head).then_some(head.clone());
        out.push(json!({
            "ref": r,
            "name": name,
            "version": version.to_string(),
            "installed_version": version.to_string(),
            "available_version": newer.then_some(head),
            "wanted": d.wanted,
            "stopped_by_user": d.stopped_by_user,
            "state": live.map_or(json!("unknown"), LiveApp::state_name),
            "health": live.map(|l| json!(l.health)),
            "containers": live.map(|l| json!(l.containers)),
            "last_error": live.and_then(|l| l.last_error.clone()),
            "web_url": state.ops.web_url(&app_ref).await,
            "update_available": update,
            "failed_update": failure.as_ref().map(|f| {
                let mut v = json!(f);
                v["message"] = json!(super::updates::failure_words(f));
                v
            }),
            // The guard on the head an update would move to (see `GET /apps/{did}/{app}`).
            "badges": facts.as_ref().map(super::guard::badges).unwrap_or_default(),
            "update_guard": facts.as_ref().map(super::guard::guard_json),
            "auto_update": policy,
            // Blocking a publisher stops nothing by itself (the operator's choice).
            "publisher_blocked": blocked,
            "publisher_blocked_message": blocked.then(|| blocked_message(&r)),
            "auto_update_source": if chosen.contains_key(&app_ref) {
                "chosen"
            } else if state.auto_update.contains_key(&r) {
                "config"
            } else {
                "default"
            },
            // What an uninstall keeps or deletes (the uninstall dialog says it).
            "data": state.ops.data_of(&app_ref).await.as_ref().map(super::data::data_json),
        }));
    }
    Ok(Json(json!(out)))
}

/// What an installed app of a blocked publisher means and what the operator can do.
fn blocked_message(app: &str) -> String {
    format!(
        "its publisher is blocked on this node: it keeps running (a block stops nothing by \
         itself) but is never updated; stop it (atoll stop {app}) or uninstall it (atoll \
         uninstall {app}), or unblock the publisher if the block was a mistake"
    )
}

/// `POST /actions/{action}`: check, start a job, answer 202 with its id.
pub async fn start_action(
    State(state): State<ApiState>,
    Path(action): Path<String>,
    peer: Option<axum::Extension<AdminPeer>>,
    body: Result<JsonBody<ActionRequest>, ApiError>,
) -> ApiResult<impl IntoResponse> {
    let action = Action::parse(&action).ok_or_else(|| {
        ApiError::not_found(format!(
            "action {:?} does not exist (install, start, stop, restart, update, uninstall)",
            clip(&action, 40)
        ))
    })?;
    let JsonBody(req) = body?;
    let app: AppRef = req
        .app
        .parse()
        .map_err(|e| ApiError::bad_request(format!("app: {e}")))?;
    if let Some(note) = &req.note {
        atoll_catalog::trust::check_note(note).map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    if action != Action::Install && !req.settings.is_empty() {
        return Err(ApiError::bad_request(
            "settings: given at install only (an update keeps the install's values)",
        ));
    }
    let chosen = match &req.version {
        Some(_) if !matches!(action, Action::Install | Action::Update) => {
            return Err(ApiError::bad_request(
                "version: given with install or update only",
            ))
        }
        Some(v) => Some(
            v.parse::<semver::Version>()
                .map_err(|e| ApiError::bad_request(format!("version {:?}: {e}", clip(v, 40))))?,
        ),
        None => None,
    };
    if (req.retry || req.downgrade) && action != Action::Update {
        return Err(ApiError::bad_request(
            "retry, downgrade: given with update only",
        ));
    }
    if action != Action::Install && (!req.ports.is_empty() || req.fresh) {
        return Err(ApiError::bad_request(
            "ports, fresh: given at install only (an update keeps the install's ports)",
        ));
    }
    let threshold = state.install_threshold;
    let check = app.clone();
    let settings = req.settings.clone();
    let ports = req.ports.clone();
    // (downgrade, retry), for the checks inside the catalog read.
    let req_flags = (req.downgrade, req.retry);
    let (installed, facts, sequence, deps, target) = state
        .read_catalog(move |c| {
            let view = c.app(&check).map_err(ApiError::internal)?.ok_or_else(|| {
                ApiError::not_found(format!("no app {check} in this node's catalog"))
            })?;
            // A chosen version (install or roll back to it): its own entry and facts.
            let picked = match &chosen {
                Some(v) => {
                    let p = c
                        .version_facts(&check, v, threshold)
                        .map_err(ApiError::internal)?
                        .ok_or_else(|| {
                            ApiError::not_found(format!(
                                "{check} has no version {v} in this node's catalog (see the \
                                 versions in GET /apps/{{did}}/{{app}})"
                            ))
                        })?;
                    if !p.manifest_attached {
                        return Err(ApiError::conflict(format!(
                            "the manifest of {check} {v} has not been fetched by this node"
                        )));
                    }
                    Some(p)
                }
                None => None,
            };
            let manifest_hash = picked.as_ref().map_or(view.manifest, |p| p.manifest);
            // Settings are checked against the manifest installed before a job starts
            // (the orchestrator checks them again against what it installs).
            if action == Action::Install && (view.manifest_attached || picked.is_some()) {
                if let Some(m) = c.manifest(&manifest_hash).map_err(ApiError::internal)? {
                    atoll_orchestrator::settings::check(&m, &settings)
                        .map_err(|e| ApiError::bad_request(format!("settings: {e}")))?;
                    super::ports::resolve(&m, &ports)
                        .map_err(|e| ApiError::bad_request(format!("ports: {e}")))?;
                }
            }
            let (facts, sequence, target) = match picked {
                Some(p) => (
                    p.facts.clone(),
                    p.sequence,
                    Some((p.facts.version.clone(), (!p.head).then_some(p.payload_id))),
                ),
                None => (
                    c.guard_facts(&check, threshold)
                        .map_err(ApiError::internal)?
                        .ok_or_else(|| {
                            ApiError::not_found(format!("no app {check} in this node's catalog"))
                        })?,
                    view.summary.sequence,
                    None,
                ),
            };
            let target_version = facts.version.clone();
            let installed = view.summary.installed;
            if action == Action::Update && installed {
                let row = c
                    .installed_app(&crate::node::runtime::install_name(&check))
                    .map_err(ApiError::internal)?;
                if let Some(row) = row {
                    let (run, _) = super::updates::running(&row);
                    if let Ok(to) = target_version.parse::<semver::Version>() {
                        if chosen.is_some() && to == run {
                            return Err(ApiError::conflict(format!("{check} already runs {run}")));
                        }
                        if to < run && !req_flags.0 {
                            return Err(super::updates::downgrade_refused(
                                &check,
                                &run.to_string(),
                                &target_version,
                            ));
                        }
                    }
                }
                if let Some(f) = c.update_failure(&check).map_err(ApiError::internal)? {
                    if f.version == target_version && !req_flags.1 {
                        return Err(super::updates::failed_before(&check, &f));
                    }
                }
            }
            // Dependencies: all checked before anything is installed or removed.
            let deps = match action {
                Action::Install if !installed => c
                    .dependency_plan(&check, threshold)
                    .map_err(ApiError::internal)?,
                Action::Uninstall if installed => match super::deps::needed_by(c, &check)? {
                    Some(refusal) => return Err(refusal),
                    None => None,
                },
                Action::Update if installed => {
                    match super::deps::update_breaks(c, &check, &target_version)? {
                        Some(refusal) => return Err(refusal),
                        None => None,
                    }
                }
                _ => None,
            };
            Ok((installed, facts, sequence, deps, target))
        })
        .await?;
    match action {
        Action::Install if installed => {
            return Err(ApiError::conflict(format!(
                "{} is already installed",
                app.app
            )))
        }
        Action::Install => {}
        _ if !installed => return Err(ApiError::conflict(format!("{} is not installed", app.app))),
        _ => {}
    }
    let mut req = req;
    if matches!(action, Action::Install | Action::Update) {
        // The one guard of every install and update path (auto-update calls it too).
        let sent = Overrides {
            stale: req.override_stale,
            trust: req.override_trust,
        };
        let decision = guard::check(&facts, sent);
        let name = if action == Action::Install {
            "install"
        } else {
            "update"
        };
        if !decision.allowed() {
            return Err(super::guard::refusal(name, &app, &decision, &facts));
        }
        let who = match &peer {
            Some(axum::Extension(AdminPeer(id))) => format!("remote admin {id}"),
            None => "api (admin token)".to_owned(),
        };
        if !decision.overridden.is_empty() {
            let (a, version, note) = (app.clone(), facts.version.clone(), req.note.clone());
            let overridden = decision.overridden.clone();
            state
                .write_catalog(move |c| {
                    for r in overridden {
                        c.record_override(&who, name, &a, &version, r, note.as_deref())
                            .map_err(ApiError::internal)?;
                    }
                    Ok(())
                })
                .await?;
            tracing::warn!(%app, version = %facts.version, overridden = ?decision.overridden, "install/update guard overridden by the operator (audited)");
        }
        // The job uses exactly the entry that was checked (the head, or a chosen version).
        req.checked_sequence = Some(sequence);
        req.checked_entry = target.as_ref().and_then(|(_, e)| *e);
    }
    // Dependencies after the app's own guard: a refused app is refused as such.
    match deps {
        Some(Err(e)) => return Err(super::deps::unresolvable(&app, &e)),
        Some(Ok(plan)) => {
            if !plan.install.is_empty() && !req.with_deps {
                return Err(super::deps::missing(&app, &plan));
            }
            req.dependencies = plan
                .install
                .iter()
                .map(|s| (s.app.clone(), s.sequence))
                .collect();
        }
        None => {}
    }
    let job = state.jobs.create();
    let id = job.id().to_owned();
    let ops = state.ops.clone();
    tokio::spawn(async move { ops.run(action, app, req, job).await });
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "job": id, "events": format!("/api/v1/jobs/{id}/events") })),
    ))
}

/// `POST /jobs/{job}/credentials`: the credentials a finished install generated, once
/// (admin token; never in the job's events).
pub async fn job_credentials(
    State(state): State<ApiState>,
    Path(job): Path<String>,
) -> ApiResult<Json<super::jobs::JobCredentials>> {
    use super::jobs::TakeError;
    state
        .jobs
        .take_credentials(&job)
        .map(Json)
        .map_err(|e| match e {
            TakeError::NoJob => {
                ApiError::not_found(format!("no job {:?} on this node", clip(&job, 40)))
            }
            TakeError::NotDone => ApiError::conflict("the job has not ended yet"),
            TakeError::AlreadyRead => ApiError::new(
                StatusCode::GONE,
                "gone",
                "the credentials of this job were read already; they are not shown again",
            ),
        })
}

/// `GET /jobs/{job}/events`
pub async fn job_events(
    State(state): State<ApiState>,
    Path(job): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    state
        .jobs
        .stream(&job)
        .map(IntoResponse::into_response)
        .ok_or_else(|| ApiError::not_found(format!("no job {:?} on this node", clip(&job, 40))))
}
