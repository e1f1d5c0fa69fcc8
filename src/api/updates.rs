//! Updates people control: the version that runs next to the one available, a failed
//! update remembered with its reason (not offered as a plain update again; a retry is
//! explicit), the auto-update policy per app (`PUT /installed/{did}/{app}/auto-update`),
//! the release notes and permission diff before an update
//! (`GET /installed/{did}/{app}/update-preview`), and "update all" in dependency order
//! (`POST /actions/update-all`).

use std::collections::{BTreeMap, BTreeSet};

use atoll_catalog::{Catalog, InstalledRow, UpdateFailure, UpdatePolicy};
use atoll_registry::{AppRef, Hash};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::apps::parse_ref;
use super::error::{clip, ApiError, ApiResult};
use super::extract::{Json as JsonBody, Path, Query};
use super::{Action, ActionRequest, ApiState};
use crate::node::runtime::install_name;

/// The version that actually runs and its manifest: the installed row's, except while an
/// update is still preparing (the row then holds the new release, phase `preparing`, and
/// `previous` the old one, whose containers run until the new images are loaded).
pub(super) fn running(row: &InstalledRow) -> (semver::Version, Hash) {
    let previous = serde_json::from_str::<Value>(&row.record)
        .ok()
        .filter(|r| r.get("phase").and_then(Value::as_str) == Some("preparing"))
        .and_then(|r| r.get("previous").cloned())
        .and_then(|p| {
            let release = p.get("release")?;
            let version = release.get("manifest")?.get("version")?.as_str()?;
            let hash = release.get("manifest_hash")?.as_str()?;
            Some((version.parse().ok()?, hash.parse().ok()?))
        });
    previous.unwrap_or((row.version.clone(), row.manifest_hash))
}

/// The effective auto-update policy of `app`: the operator's choice kept in the catalog,
/// else the config file's `[auto_update]`, else `notify`.
pub fn policy_of(
    chosen: &BTreeMap<AppRef, UpdatePolicy>,
    config: &BTreeMap<String, UpdatePolicy>,
    app: &AppRef,
) -> UpdatePolicy {
    chosen
        .get(app)
        .or_else(|| config.get(&app.to_string()))
        .copied()
        .unwrap_or(UpdatePolicy::Notify)
}

/// The words of a failed update: `update to 1.2.0 failed: <reason> (rolled back to 1.1.0)`.
pub fn failure_words(f: &UpdateFailure) -> String {
    let back = match &f.restored {
        Some(v) => format!("rolled back to {v}"),
        None => "the rollback failed too".to_owned(),
    };
    format!("update to {} failed: {} ({back})", f.version, f.reason)
}

/// The 409 of a plain update to a version whose last update failed.
pub(super) fn failed_before(app: &AppRef, f: &UpdateFailure) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "update-failed-before",
        format!(
            "{app}: {}; to try {} again send retry: true (CLI --retry)",
            failure_words(f),
            f.version
        ),
    )
    .with("failed_update", json!(f))
}

/// The 409 of an update to an older version without `downgrade`.
pub(super) fn downgrade_refused(app: &AppRef, running: &str, target: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "downgrade",
        format!(
            "{app} runs {running}; {target} is older. Going back may leave data the older \
             version cannot read: a backup of the data is taken first and put back if {target} \
             fails its health checks, but what {running} changed is not undone. Send \
             downgrade: true (CLI --downgrade) to go back to {target}"
        ),
    )
}

/// Body of `PUT /installed/{did}/{app}/auto-update`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    /// `off`, `notify` or `auto`.
    policy: String,
}

/// `PUT /installed/{did}/{app}/auto-update`: set the app's auto-update policy (kept in
/// the catalog; it wins over the config file).
pub async fn set_policy(
    State(state): State<ApiState>,
    Path((did, app)): Path<(String, String)>,
    body: Result<JsonBody<PolicyBody>, ApiError>,
) -> ApiResult<Json<Value>> {
    let app = parse_ref(&did, &app)?;
    let JsonBody(body) = body?;
    let policy: UpdatePolicy =
        body.policy
            .parse()
            .map_err(|e: atoll_catalog::updates::UnknownPolicy| {
                ApiError::bad_request(format!("policy: {e}"))
            })?;
    let of = app.clone();
    state
        .write_catalog(move |c| {
            if c.installed_app(&install_name(&of))
                .map_err(ApiError::internal)?
                .is_none()
            {
                return Err(ApiError::conflict(format!("{of} is not installed")));
            }
            c.set_update_policy(&of, policy).map_err(ApiError::internal)
        })
        .await?;
    tracing::info!(%app, policy = policy.as_str(), "auto-update policy set");
    Ok(Json(
        json!({ "app": app.to_string(), "auto_update": policy }),
    ))
}

/// Query of `GET /installed/{did}/{app}/update-preview`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewQuery {
    /// The target version (default: the head).
    version: Option<String>,
}

/// `GET /installed/{did}/{app}/update-preview?version=`: what an update to the head (or
/// `version`) brings: its release notes, the permission diff against the version that
/// runs, whether it goes down (data warning), a failed earlier attempt, and the guard.
pub async fn preview(
    State(state): State<ApiState>,
    Path((did, app)): Path<(String, String)>,
    Query(q): Query<PreviewQuery>,
) -> ApiResult<Json<Value>> {
    let app = parse_ref(&did, &app)?;
    let threshold = state.install_threshold;
    let target = q
        .version
        .as_deref()
        .map(|v| {
            v.parse::<semver::Version>()
                .map_err(|e| ApiError::bad_request(format!("version {:?}: {e}", clip(v, 40))))
        })
        .transpose()?;
    state
        .read_catalog(move |c| preview_of(c, &app, target.as_ref(), threshold))
        .await
        .map(Json)
}

fn preview_of(
    c: &Catalog,
    app: &AppRef,
    target: Option<&semver::Version>,
    threshold: f64,
) -> ApiResult<Value> {
    let row = c
        .installed_app(&install_name(app))
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::conflict(format!("{app} is not installed")))?;
    let (run_version, run_hash) = running(&row);
    let view = c
        .app(app)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("no app {app} in this node's catalog")))?;
    let target = match target {
        Some(v) => v.clone(),
        None => view
            .summary
            .version
            .parse()
            .map_err(|e| ApiError::internal(anyhow::anyhow!("head version: {e}")))?,
    };
    let chosen = c
        .version_facts(app, &target, threshold)
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "{app} has no version {target} in this node's catalog"
            ))
        })?;
    let new = if chosen.manifest_attached {
        c.manifest(&chosen.manifest).map_err(ApiError::internal)?
    } else {
        None
    };
    let old = c.manifest(&run_hash).map_err(ApiError::internal)?;
    let diff = match (&old, &new) {
        (Some(o), Some(n)) => json!(super::diff::permissions(o, n)),
        _ => Value::Null,
    };
    let failure = c
        .update_failure(app)
        .map_err(ApiError::internal)?
        .filter(|f| f.version == target.to_string());
    let decision = atoll_catalog::guard::check(&chosen.facts, atoll_catalog::Overrides::NONE);
    Ok(json!({
        "app": app.to_string(),
        "installed_version": run_version.to_string(),
        "version": target.to_string(),
        "direction": match target.cmp(&run_version) {
            std::cmp::Ordering::Greater => "up",
            std::cmp::Ordering::Less => "down",
            std::cmp::Ordering::Equal => "same",
        },
        "release_notes": new.as_ref().and_then(|m| m.release_notes.clone()),
        "manifest_fetched": new.is_some(),
        "permissions": diff,
        "failed_update": failure,
        "guard": super::guard::guard_json(&chosen.facts),
        "allowed": decision.allowed(),
        "data_warning": (target < run_version).then(|| format!(
            "{target} is older than {run_version}: the data may not go back. A backup is taken \
             first and restored if {target} fails, but {target} may not read what {run_version} \
             wrote."
        )),
    }))
}

/// The apps an "update all" moves, deps before dependents: each installed app (not being
/// removed) whose policy is not `off`, with a newer head the guard allows without an
/// override and that did not fail before. Returns them in order with the installed apps
/// each depends on.
fn update_all_plan(
    c: &Catalog,
    config: &BTreeMap<String, UpdatePolicy>,
    threshold: f64,
) -> ApiResult<Vec<(AppRef, BTreeSet<AppRef>)>> {
    let chosen = c.update_policies().map_err(ApiError::internal)?;
    let mut due = Vec::new();
    for row in c.installed_apps().map_err(ApiError::internal)? {
        let Some(app) = row.app.clone() else { continue };
        if row.wanted == atoll_catalog::DesiredRun::Removed
            || policy_of(&chosen, config, &app) == UpdatePolicy::Off
        {
            continue;
        }
        let Some(view) = c.app(&app).map_err(ApiError::internal)? else {
            continue;
        };
        let (run, hash) = running(&row);
        let newer = semver::Version::parse(&view.summary.version).is_ok_and(|h| h > run);
        let failed = c
            .update_failure(&app)
            .map_err(ApiError::internal)?
            .is_some_and(|f| f.version == view.summary.version);
        let allowed = c
            .guard_facts(&app, threshold)
            .map_err(ApiError::internal)?
            .is_some_and(|f| {
                atoll_catalog::guard::check(&f, atoll_catalog::Overrides::NONE).allowed()
            });
        if !(newer && allowed && !failed) {
            continue;
        }
        // What it depends on now (its running manifest) and will (the head's).
        let mut deps = BTreeSet::new();
        for h in [Some(hash), view.manifest_attached.then_some(view.manifest)]
            .into_iter()
            .flatten()
        {
            if let Some(m) = c.manifest(&h).map_err(ApiError::internal)? {
                deps.extend(
                    atoll_catalog::resolve::dependencies_of(&app.publisher, &m.dependencies)
                        .into_iter()
                        .map(|(d, _)| d),
                );
            }
        }
        due.push((app, deps));
    }
    Ok(order(due))
}

/// Dependencies before dependents (Kahn's order over the apps in `due`; a dependency not in
/// `due` is not waited for; a cycle, which the resolver refuses anyway, keeps list order).
fn order(mut due: Vec<(AppRef, BTreeSet<AppRef>)>) -> Vec<(AppRef, BTreeSet<AppRef>)> {
    let names: BTreeSet<AppRef> = due.iter().map(|(a, _)| a.clone()).collect();
    let mut out: Vec<(AppRef, BTreeSet<AppRef>)> = Vec::new();
    let mut placed: BTreeSet<AppRef> = BTreeSet::new();
    while !due.is_empty() {
        let ready = due
            .iter()
            .position(|(_, deps)| {
                deps.iter()
                    .all(|d| !names.contains(d) || placed.contains(d))
            })
            .unwrap_or(0);
        let (app, deps) = due.remove(ready);
        placed.insert(app.clone());
        out.push((app, deps));
    }
    out
}

/// `POST /actions/update-all`: one job that updates every app with an update available,
/// dependencies before dependents, each as its own job (followable by its id); an app
/// whose dependency failed to update is not updated; the others go on.
pub async fn update_all(State(state): State<ApiState>) -> ApiResult<impl IntoResponse> {
    let config = state.auto_update.clone();
    let threshold = state.install_threshold;
    let plan = state
        .read_catalog(move |c| {
            let plan = update_all_plan(c, &config, threshold)?;
            let mut out = Vec::new();
            for (app, deps) in plan {
                let view = c.app(&app).map_err(ApiError::internal)?;
                if let Some(v) = view {
                    out.push((app, deps, v.summary.sequence, v.summary.version));
                }
            }
            Ok(out)
        })
        .await?;
    let job = state.jobs.create();
    let id = job.id().to_owned();
    let apps: Vec<Value> = plan
        .iter()
        .map(|(a, _, _, v)| json!({ "app": a.to_string(), "version": v }))
        .collect();
    let (ops, jobs) = (state.ops.clone(), state.jobs.clone());
    tokio::spawn(async move {
        let total = plan.len();
        if total == 0 {
            job.succeed("every installed app is up to date");
            return;
        }
        let mut failed: BTreeSet<AppRef> = BTreeSet::new();
        let mut lines = Vec::new();
        for (i, (app, deps, sequence, version)) in plan.into_iter().enumerate() {
            let pct = (i * 99 / total) as u8;
            if let Some(dep) = deps.iter().find(|d| failed.contains(*d)) {
                failed.insert(app.clone());
                lines.push(format!(
                    "{} not updated: its dependency {} failed to update",
                    app.app, dep.app
                ));
                job.step("skipped", pct, lines.last().cloned().unwrap_or_default());
                continue;
            }
            let child = jobs.create();
            job.step(
                "update",
                pct,
                format!(
                    "updating {} to {version} ({} of {total}; job {})",
                    app.app,
                    i + 1,
                    child.id()
                ),
            );
            let child_id = child.id().to_owned();
            let mut req = ActionRequest::by_node(&app, sequence);
            req.version = None;
            ops.run(Action::Update, app.clone(), req, child).await;
            match jobs.outcome(&child_id) {
                Some(Ok(msg)) => lines.push(format!("{}: {msg}", app.app)),
                Some(Err(e)) => {
                    failed.insert(app.clone());
                    lines.push(format!("{} failed: {e}", app.app));
                }
                None => lines.push(format!("{}: no outcome", app.app)),
            }
        }
        let summary = lines.join("; ");
        if failed.is_empty() {
            job.succeed(format!("updated {total} app(s): {summary}"));
        } else {
            job.fail(format!(
                "{} of {total} not updated: {summary}",
                failed.len()
            ));
        }
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "job": id,
            "events": format!("/api/v1/jobs/{id}/events"),
            "apps": apps,
        })),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn r(n: &str) -> AppRef {
        let did = atoll_registry::Keypair::from_seed([3; 32]).did();
        format!("{did}/{n}").parse().unwrap()
    }

    /// While an update prepares, the old version runs; once prepared, the new one.
    #[test]
    fn the_running_version() {
        let (old, new) = (Hash::of(b"old"), Hash::of(b"new"));
        let row = |record: String| InstalledRow {
            name: "x".into(),
            app: None,
            version: "1.1.0".parse().unwrap(),
            manifest_hash: new,
            wanted: atoll_catalog::DesiredRun::Running,
            stopped_by_user: false,
            record,
            updated_at: 0,
        };
        let previous = format!(
            r#""previous":{{"release":{{"manifest":{{"version":"1.0.0"}},"manifest_hash":"{}"}}}}"#,
            old.to_hex()
        );
        let preparing = row(format!(r#"{{"phase":"preparing",{previous}}}"#));
        assert_eq!(running(&preparing), ("1.0.0".parse().unwrap(), old));
        let proving = row(format!("{{{previous}}}"));
        assert_eq!(running(&proving), ("1.1.0".parse().unwrap(), new));
        assert_eq!(running(&row("{}".into())), ("1.1.0".parse().unwrap(), new));
    }

    #[test]
    fn dependencies_come_first() {
        let due = vec![
            (r("adminer"), BTreeSet::from([r("mariadb")])),
            (r("hello"), BTreeSet::new()),
            (r("mariadb"), BTreeSet::new()),
            (r("wiki"), BTreeSet::from([r("mariadb"), r("adminer")])),
        ];
        let names: Vec<String> = order(due)
            .into_iter()
            .map(|(a, _)| a.app.to_string())
            .collect();
        assert_eq!(names, ["hello", "mariadb", "adminer", "wiki"]);
    }
}
