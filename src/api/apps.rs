//! Apps: list and search, categories, one app's detail, icon blobs.

use std::collections::{BTreeMap, HashMap};

use atoll_catalog::{AppSummary, SearchQuery, Sort, TrustDecision};
use atoll_registry::{AppRef, Hash, Manifest};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::{clip, ApiError, ApiResult};
use super::extract::{Path, Query};
use super::limits::{MAX_CATEGORY_BYTES, MAX_PAGE, MAX_SEARCH_BYTES};
use super::ApiState;

/// Query string of `GET /apps`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    q: Option<String>,
    category: Option<String>,
    min_trust: Option<f64>,
    installed: Option<bool>,
    stale: Option<bool>,
    sort: Option<String>,
    page: Option<u32>,
    per_page: Option<u32>,
}

/// An app as the UI lists it.
#[derive(Debug, Serialize)]
pub struct AppOut {
    #[serde(rename = "ref")]
    app_ref: String,
    app: String,
    publisher: String,
    publisher_name: Option<String>,
    name: String,
    description: String,
    version: String,
    categories: Vec<String>,
    icon_url: Option<String>,
    trust: Value,
    installed: bool,
    /// The version that runs here (may be older than `version`, the latest).
    installed_version: Option<String>,
    stale: bool,
    yanked: bool,
    equivocated: bool,
    demo: bool,
    published_at: u64,
    /// The install/update guard's refusals of the head, as badges (`stale`, `yanked`,
    /// `equivocated`, `blocked`, `below-threshold`).
    badges: Vec<&'static str>,
    /// What an install or update of the head meets before the click (see
    /// [`super::guard::guard_json`]).
    guard: Value,
}

pub(super) fn trust_json(score: f64, decision: Option<TrustDecision>) -> Value {
    json!({
        "score": score,
        "pinned": decision == Some(TrustDecision::Pin),
        "blocked": decision == Some(TrustDecision::Block),
    })
}

fn icon_url(manifest: Option<&Manifest>, icons: &BTreeMap<String, Hash>) -> Option<String> {
    let path = manifest?.icon.as_ref()?;
    icons.get(path).map(|h| format!("/api/v1/blobs/{h}"))
}

pub(super) fn parse_ref(did: &str, app: &str) -> ApiResult<AppRef> {
    format!("{did}/{app}")
        .parse()
        .map_err(|e| ApiError::bad_request(format!("path: {e}")))
}

/// Build the list form of an app from its summary (and manifest, for the icon).
/// Operator decisions (pin / block) already looked up while building one response.
type Decisions = HashMap<atoll_registry::Did, Option<TrustDecision>>;

fn app_out(
    state: &ApiState,
    s: &AppSummary,
    catalog: &atoll_catalog::Catalog,
    decisions: &mut Decisions,
) -> ApiResult<AppOut> {
    let view = catalog.app(&s.app_ref).map_err(ApiError::internal)?;
    let (manifest, icons) = match &view {
        Some(v) if v.manifest_attached => {
            let m = catalog.manifest(&v.manifest).map_err(ApiError::internal)?;
            let icons = head_icons(catalog, &s.app_ref)?;
            (m, icons)
        }
        _ => (None, BTreeMap::new()),
    };
    let decision = *decisions.entry(s.app_ref.publisher).or_insert_with(|| {
        catalog
            .explain(&s.app_ref.publisher)
            .map(|x| x.decision)
            .unwrap_or(None)
    });
    let blocked = decision == Some(TrustDecision::Block);
    let facts = match &view {
        Some(v) => atoll_catalog::GuardFacts::of_view(v, blocked, state.install_threshold),
        None => atoll_catalog::GuardFacts::of(s, blocked, state.install_threshold),
    };
    Ok(AppOut {
        badges: super::guard::badges(&facts),
        guard: super::guard::guard_json(&facts),
        app_ref: s.app_ref.to_string(),
        app: s.app_ref.app.to_string(),
        publisher: s.app_ref.publisher.to_string(),
        publisher_name: s.publisher_name.clone(),
        name: s.name.clone(),
        description: s.description.clone(),
        version: s.version.clone(),
        categories: s.categories.clone(),
        icon_url: icon_url(manifest.as_ref(), &icons),
        trust: trust_json(s.trust, decision),
        installed: s.installed,
        installed_version: s.installed_version.clone(),
        stale: s.stale,
        yanked: s.yanked,
        equivocated: s.equivocated,
        demo: state.demo_publisher.as_ref() == Some(&s.app_ref.publisher),
        published_at: s.published_at,
    })
}

/// The icon artifacts (path → hash) of an app's head entry.
fn head_icons(catalog: &atoll_catalog::Catalog, app: &AppRef) -> ApiResult<BTreeMap<String, Hash>> {
    head_artifacts(catalog, app, atoll_registry::objects::ArtifactKind::Icon)
}

/// The screenshots of an app's head entry, in manifest order: `{url, caption}`.
fn screenshots(
    catalog: &atoll_catalog::Catalog,
    app: &AppRef,
    manifest: Option<&Manifest>,
) -> ApiResult<Value> {
    let Some(m) = manifest.filter(|m| !m.screenshots.is_empty()) else {
        return Ok(json!([]));
    };
    let blobs = head_artifacts(
        catalog,
        app,
        atoll_registry::objects::ArtifactKind::Screenshot,
    )?;
    Ok(json!(m
        .screenshots
        .iter()
        .filter_map(|s| blobs.get(&s.path).map(|h| json!({
            "url": format!("/api/v1/blobs/{h}"),
            "caption": s.caption,
        })))
        .collect::<Vec<_>>()))
}

/// The artifacts of `kind` (path → hash) of an app's head entry. The stored envelope was
/// verified when it was ingested; reading it back does not verify it again.
fn head_artifacts(
    catalog: &atoll_catalog::Catalog,
    app: &AppRef,
    kind: atoll_registry::objects::ArtifactKind,
) -> ApiResult<BTreeMap<String, Hash>> {
    let Some(bytes) = catalog.head_envelope(app).map_err(ApiError::internal)? else {
        return Ok(BTreeMap::new());
    };
    let envelope = atoll_registry::Envelope::from_slice(&bytes).map_err(ApiError::internal)?;
    let entry: atoll_registry::Entry =
        serde_json::from_value(envelope.payload).map_err(ApiError::internal)?;
    Ok(entry
        .artifacts
        .iter()
        .filter(|a| a.kind == kind)
        .map(|a| (a.path.clone(), a.blob.hash))
        .collect())
}

/// `GET /apps`
pub async fn list(
    State(state): State<ApiState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let sort = match q.sort.as_deref() {
        None | Some("trust") => Sort::Trust,
        Some("recent") => Sort::Recency,
        Some("name") => Sort::Name,
        Some("relevance") => Sort::Relevance,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "sort: {:?} is not one of trust, recent, name, relevance",
                clip(other, 40)
            )))
        }
    };
    if q.q.as_ref().is_some_and(|w| w.len() > MAX_SEARCH_BYTES) {
        return Err(ApiError::bad_request(format!(
            "q: at most {MAX_SEARCH_BYTES} bytes of search text"
        )));
    }
    if q.category
        .as_ref()
        .is_some_and(|c| c.len() > MAX_CATEGORY_BYTES)
    {
        return Err(ApiError::bad_request(format!(
            "category: at most {MAX_CATEGORY_BYTES} bytes"
        )));
    }
    if let Some(t) = q.min_trust {
        if !(0.0..=1.0).contains(&t) {
            return Err(ApiError::bad_request("min_trust: must be between 0 and 1"));
        }
    }
    let per_page = q.per_page.unwrap_or(24);
    if !(1..=200).contains(&per_page) {
        return Err(ApiError::bad_request("per_page: must be 1 to 200"));
    }
    let page = q.page.unwrap_or(1);
    if !(1..=MAX_PAGE).contains(&page) {
        return Err(ApiError::bad_request(format!(
            "page: must be 1 to {MAX_PAGE}"
        )));
    }
    let query = SearchQuery {
        words: q.q.unwrap_or_default(),
        category: q.category.filter(|c| !c.is_empty()),
        min_trust: q.min_trust,
        installed: q.installed,
        stale: q.stale,
        sort,
        offset: (page - 1).saturating_mul(per_page),
        limit: per_page,
    };
    let st = state.clone();
    state
        .read_catalog(move |c| {
            let res = c.search(&query).map_err(ApiError::internal)?;
            let mut decisions = Decisions::new();
            let items = res
                .items
                .iter()
                .map(|s| app_out(&st, s, c, &mut decisions))
                .collect::<ApiResult<Vec<_>>>()?;
            Ok(Json(json!({
                "items": items,
                "page": page,
                "per_page": per_page,
                "has_more": res.has_more,
            })))
        })
        .await
}

/// `GET /categories`: every category with the number of apps in it.
pub async fn categories(State(state): State<ApiState>) -> ApiResult<Json<Value>> {
    state
        .read_catalog(|c| {
            let page = c
                .search(&SearchQuery {
                    limit: atoll_catalog::search::MAX_PAGE,
                    ..SearchQuery::default()
                })
                .map_err(ApiError::internal)?;
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for a in &page.items {
                for cat in &a.categories {
                    *counts.entry(cat.clone()).or_default() += 1;
                }
            }
            Ok(Json(json!(counts
                .into_iter()
                .map(|(name, count)| json!({"name": name, "count": count}))
                .collect::<Vec<_>>())))
        })
        .await
}

fn permissions(m: &Manifest) -> Value {
    let mut ports = Vec::new();
    let mut volumes = Vec::new();
    let mut caps = Vec::new();
    let mut secrets = Vec::new();
    let mut files = Vec::new();
    for c in &m.containers {
        files.extend(c.files.iter().map(|f| format!("{} ({})", f.path, c.name)));
        for p in &c.ports {
            ports.push(json!({"container": p.container, "host": p.host, "protocol": p.protocol, "web": p.web, "in": c.name}));
        }
        volumes.extend(
            c.volumes
                .iter()
                .map(|v| format!("{} at {} ({})", v.name, v.path, c.name)),
        );
        caps.extend(c.capabilities.iter().cloned());
        for s in &c.secrets {
            if !secrets.contains(&s.name) {
                secrets.push(s.name.clone());
            }
        }
    }
    json!({
        "containers": m.containers.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
        "ports": ports,
        "volumes": volumes,
        "capabilities": caps,
        "secrets": secrets,
        "files": files,
        "settings": m.settings.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
        "read_only": m.containers.iter().all(|c| c.read_only),
        "network": "app-private",
        // What each container runs with: limits, user and network (from the manifest).
        "container_limits": m.containers.iter().map(|c| json!({
            "name": c.name,
            "memory_bytes": c.memory.map(|b| b.0),
            "cpus": c.cpus.map(|x| f64::from(x.0) / 1000.0),
            "user": c.user,
            "network": match c.network.as_deref() {
                Some("none") => "none",
                _ => "app-private",
            },
        })).collect::<Vec<_>>(),
    })
}

/// `GET /apps/{did}/{app}`
pub async fn detail(
    State(state): State<ApiState>,
    Path((did, app)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let app_ref = parse_ref(&did, &app)?;
    let st = state.clone();
    let ops = state.ops.clone();
    let mut out = state
        .read_catalog(move |c| {
            let view = c
                .app(&app_ref)
                .map_err(ApiError::internal)?
                .ok_or_else(|| ApiError::not_found(format!("no app {app_ref} in this node's catalog")))?;
            let summary = app_out(&st, &view.summary, c, &mut Decisions::new())?;
            let manifest = if view.manifest_attached {
                c.manifest(&view.manifest).map_err(ApiError::internal)?
            } else {
                None
            };
            let explanation = c.explain(&app_ref.publisher).map_err(ApiError::internal)?;
            let head = c.head_envelope(&app_ref).map_err(ApiError::internal)?;
            let entry = head
                .as_deref()
                .and_then(|b| atoll_registry::Envelope::from_slice(b).ok())
                .and_then(|e| e.verify_rotated::<atoll_registry::Entry>().ok());
            let mirrors = c
                .blob(&view.manifest)
                .map_err(ApiError::internal)?
                .map(|b| b.holders)
                .unwrap_or_default();
            let mut v = serde_json::to_value(&summary).map_err(ApiError::internal)?;
            v["versions"] = json!(view.entries.iter().map(|e| json!({
                "version": e.version, "sequence": e.sequence, "status": e.status,
                "published_at": e.published_at, "expires_at": e.expires_at,
                "yanked": e.yanked, "manifest": e.manifest.to_hex(),
                "from_origin": e.from_origin,
                "sources": e.sources.iter().map(|s| format!("{}: {}", s.kind(), s.source())).collect::<Vec<_>>(),
            })).collect::<Vec<_>>());
            v["signature"] = json!({
                "valid": entry.is_some(),
                "did": app_ref.publisher.to_string(),
                "payload_id": entry.as_ref().map(|e| e.payload_id().to_hex()),
            });
            v["manifest_hash"] = json!(view.manifest.to_hex());
            v["origin"] = json!(entry.as_ref().map(|e| &e.origin));
            v["mirrors"] = json!(mirrors);
            v["permissions"] = manifest.as_ref().map(permissions).unwrap_or(Value::Null);
            v["license"] = json!(manifest.as_ref().and_then(|m| m.license.clone()));
            v["screenshots"] = screenshots(c, &app_ref, manifest.as_ref())?;
            v["links"] = json!(manifest.as_ref().map(|m| m.links.clone()).unwrap_or_default());
            v["manifest"] = serde_json::to_value(&manifest).map_err(ApiError::internal)?;
            v["trust_explanation"] = super::trust::explanation_json(&explanation);
            v["warnings"] = json!(super::warnings::install_warnings(c, &app_ref).map_err(ApiError::internal)?);
            super::rotation::add_key_state(&mut v, c, &app_ref, &view)?;
            Ok(v)
        })
        .await?;
    if let Some(r) = out["ref"].as_str().and_then(|s| s.parse::<AppRef>().ok()) {
        out["web_url"] = json!(ops.web_url(&r).await);
        // Data an earlier install left: a reinstall reuses it unless it starts fresh.
        if out["installed"] != json!(true) {
            out["kept_data"] = match ops.data_of(&r).await {
                Some(d) if !d.is_empty() => super::data::data_json(&d),
                _ => Value::Null,
            };
        }
    }
    Ok(Json(out))
}

/// Icon types the node serves, by the extension of the icon's path in the manifest,
/// with the leading bytes a raster file of that type starts with (SVG is text; the
/// sandboxing CSP keeps its scripts from running).
const ICON_TYPES: &[(&str, &str, &[u8])] = &[
    ("svg", "image/svg+xml", b""),
    ("png", "image/png", b"\x89PNG\r\n\x1a\n"),
    ("webp", "image/webp", b"RIFF"), // and "WEBP" at offset 8
    ("jpg", "image/jpeg", b"\xff\xd8\xff"),
    ("jpeg", "image/jpeg", b"\xff\xd8\xff"),
    ("gif", "image/gif", b"GIF8"),
];

/// The path and kind an accepted head entry published `hash` under as its icon or a
/// screenshot, if any.
fn icon_path(
    catalog: &atoll_catalog::Catalog,
    hash: &Hash,
) -> ApiResult<Option<(String, atoll_registry::objects::ArtifactKind)>> {
    use atoll_registry::objects::ArtifactKind;
    let envelopes = catalog
        .head_envelopes_naming_artifact(hash, 16)
        .map_err(ApiError::internal)?;
    for bytes in envelopes {
        let envelope = atoll_registry::Envelope::from_slice(&bytes).map_err(ApiError::internal)?;
        let entry: atoll_registry::Entry =
            serde_json::from_value(envelope.payload).map_err(ApiError::internal)?;
        let shown = entry.artifacts.iter().find(|a| {
            matches!(a.kind, ArtifactKind::Icon | ArtifactKind::Screenshot) && a.blob.hash == *hash
        });
        if let Some(a) = shown {
            return Ok(Some((a.path.clone(), a.kind)));
        }
    }
    Ok(None)
}

/// `GET /blobs/{hash}`: only a blob some app's head entry publishes as its icon, served
/// with the type of the icon's file extension (svg, png, webp, jpeg, gif; a raster file
/// must start like one), a CSP that sandboxes an SVG's scripts, and `nosniff`.
/// Anything else — a manifest, an image archive, an unknown blob — is 404.
pub async fn blob(
    State(state): State<ApiState>,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let hash: Hash = hash
        .parse()
        .map_err(|e| ApiError::bad_request(format!("path: {e}")))?;
    let (path, artifact) = state
        .read_catalog(move |c| icon_path(c, &hash))
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "blob {hash} is not the icon or a screenshot of any app"
            ))
        })?;
    let screenshot = artifact == atoll_registry::objects::ArtifactKind::Screenshot;
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let (_, kind, magic) = ICON_TYPES
        .iter()
        .find(|(e, _, _)| {
            *e == ext
                && (!screenshot || atoll_registry::manifest::policy::SCREENSHOT_TYPES.contains(e))
        })
        .copied()
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "{:?} of blob {hash}: this node serves only svg, png, webp, jpeg and gif icons and png, webp and jpeg screenshots",
                clip(&path, 80)
            ))
        })?;
    let max = artifact.max_bytes();
    let from_swarm = state.net.blob(hash, max).await;
    let bytes = match from_swarm {
        Some(b) => Some(b),
        None => {
            let dirs = state.blob_dirs.clone();
            tokio::task::spawn_blocking(move || {
                dirs.iter().find_map(|d| {
                    let p = d.join(hash.to_hex());
                    let meta = std::fs::metadata(&p).ok()?;
                    if !meta.is_file() || meta.len() > max {
                        return None;
                    }
                    std::fs::read(p).ok().filter(|b| Hash::of(b) == hash)
                })
            })
            .await
            .map_err(ApiError::internal)?
        }
    }
    .ok_or_else(|| ApiError::not_found(format!("blob {hash} is not held by this node")))?;
    let webp = kind != "image/webp" || bytes.get(8..12) == Some(b"WEBP".as_slice());
    if !bytes.starts_with(magic) || !webp {
        return Err(ApiError::not_found(format!(
            "icon blob {hash} is published as {kind} but does not hold one"
        )));
    }
    Ok((
        [
            (header::CONTENT_TYPE, kind),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; sandbox",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        bytes,
    )
        .into_response())
}
