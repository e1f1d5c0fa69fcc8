//! App dependencies as the API shows them ([`atoll_catalog::resolve`]): the install plan
//! (`GET /apps/{did}/{app}/plan`), the 409 of an install whose dependencies are missing
//! (`missing-dependencies`, unless `with_deps`) or cannot be met (`unresolvable-dependencies`),
//! and the 409 of an uninstall of an app that another installed app needs, or of an update
//! to a version such an app does not accept (`needed-by`).

use atoll_catalog::resolve::{Plan, ResolveError};
use atoll_catalog::Catalog;
use atoll_registry::AppRef;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::apps::parse_ref;
use super::error::{ApiError, ApiResult};
use super::extract::Path;
use super::ApiState;

/// The plan as JSON: `dependencies` to install first, in order (ref, app, publisher,
/// publisher_name, version, trust, requirement, needed_by), `satisfied` by installed apps,
/// and the app's `direct` dependencies.
pub(super) fn plan_json(plan: &Plan) -> Value {
    json!({
        "dependencies": plan.install.iter().map(|s| json!({
            "ref": s.app.to_string(),
            "app": s.app.app.to_string(),
            "publisher": s.app.publisher.to_string(),
            "publisher_name": s.publisher_name,
            "version": s.version.to_string(),
            "trust": s.trust,
            "requirement": s.requirement,
            "needed_by": s.needed_by.to_string(),
        })).collect::<Vec<_>>(),
        "satisfied": plan.satisfied.iter().map(|s| json!({
            "ref": s.app.to_string(),
            "version": s.version.to_string(),
            "needed_by": s.needed_by.to_string(),
        })).collect::<Vec<_>>(),
        "direct": plan.direct.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

/// The 409 of an install whose dependencies cannot be met.
pub(super) fn unresolvable(app: &AppRef, e: &ResolveError) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "unresolvable-dependencies",
        format!("install {app} refused before anything was installed: {e}"),
    )
}

/// The 409 of an install (without `with_deps`) whose plan installs dependencies first.
pub(super) fn missing(app: &AppRef, plan: &Plan) -> ApiError {
    let names: Vec<String> = plan
        .install
        .iter()
        .map(|s| {
            format!(
                "{} {} by {} (trust {:.2})",
                s.app.app,
                s.version,
                s.publisher_name
                    .as_deref()
                    .unwrap_or("an unnamed publisher"),
                s.trust
            )
        })
        .collect();
    ApiError::new(
        StatusCode::CONFLICT,
        "missing-dependencies",
        format!(
            "{app} needs {} not installed: {}; send with_deps: true (CLI --with-deps) to \
             install them first",
            if names.len() == 1 { "an app" } else { "apps" },
            names.join(", ")
        ),
    )
    .with("missing", plan_json(plan)["dependencies"].clone())
}

/// The 409 of an uninstall of an app that installed apps depend on, or `None`.
pub(super) fn needed_by(catalog: &Catalog, app: &AppRef) -> ApiResult<Option<ApiError>> {
    let dependents = catalog.dependents(app).map_err(ApiError::internal)?;
    if dependents.is_empty() {
        return Ok(None);
    }
    let names: Vec<String> = dependents.iter().map(|(_, a, _)| a.to_string()).collect();
    Ok(Some(
        ApiError::new(
            StatusCode::CONFLICT,
            "needed-by",
            format!(
                "uninstall {app} refused: {} depends on it; uninstall {} first",
                names.join(", "),
                if names.len() == 1 { "it" } else { "them" }
            ),
        )
        .with("needed_by", json!(names)),
    ))
}

/// The 409 of an update of `app` to `version` that an installed dependent's requirement
/// does not accept, or `None`.
pub(super) fn update_breaks(
    catalog: &Catalog,
    app: &AppRef,
    version: &str,
) -> ApiResult<Option<ApiError>> {
    let Ok(v) = version.parse::<semver::Version>() else {
        return Ok(None);
    };
    let broken: Vec<String> = catalog
        .dependents(app)
        .map_err(ApiError::internal)?
        .into_iter()
        .filter(|(_, _, req)| !req.matches(&v))
        .map(|(_, a, req)| format!("{a} needs {req}"))
        .collect();
    if broken.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        ApiError::new(
            StatusCode::CONFLICT,
            "needed-by",
            format!(
                "update {app} to {version} refused: {}; update {} first",
                broken.join(", "),
                if broken.len() == 1 { "it" } else { "them" }
            ),
        )
        .with("needed_by", json!(broken)),
    ))
}

/// `GET /apps/{did}/{app}/plan`: what installing the app's head takes. `ok` false with
/// `error` when the dependencies cannot be met; 404 when the app or its manifest is not
/// known yet.
pub async fn plan(
    State(state): State<ApiState>,
    Path((did, app)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let app_ref = parse_ref(&did, &app)?;
    let threshold = state.install_threshold;
    state
        .read_catalog(move |c| {
            let plan = c
                .dependency_plan(&app_ref, threshold)
                .map_err(ApiError::internal)?
                .ok_or_else(|| {
                    ApiError::not_found(format!(
                        "no app {app_ref} with a fetched manifest in this node's catalog"
                    ))
                })?;
            Ok(Json(match plan {
                Ok(p) => {
                    let mut v = plan_json(&p);
                    v["ok"] = json!(true);
                    v["app"] = json!(app_ref.to_string());
                    v
                }
                Err(e) => json!({
                    "ok": false,
                    "app": app_ref.to_string(),
                    "error": e.to_string(),
                }),
            }))
        })
        .await
}
