//! Manifests: the searchable text of an app arrives with its manifest blob, after the entry.
//!
//! Flow: `ingest(entry)` as soon as the signed entry arrives; fetch the manifest blob
//! (whose BLAKE3 the entry names); parse it with `Manifest::from_blob`; then
//! [`Catalog::attach_manifest`]. The catalog re-derives the canonical bytes, accepts the
//! manifest only if their hash and size match an entry it holds (rule 4) and the entry's
//! app id and version match the manifest's, and re-checks the rootless policy. Until then
//! the app is listed under its app id with an empty description.

use atoll_registry::manifest::policy;
use atoll_registry::{Hash, Manifest};
use rusqlite::{params, Connection, OptionalExtension};

use crate::error::CatalogError;
use crate::search;
use crate::store::Catalog;

/// What [`Catalog::attach_manifest`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Attached {
    /// The manifest's hash.
    pub hash: Hash,
    /// Entries that name this manifest.
    pub entries: usize,
    /// Apps whose search text was refreshed.
    pub apps: usize,
}

impl Catalog {
    /// Attach a verified manifest to the entries that name its hash.
    pub fn attach_manifest(&mut self, manifest: &Manifest) -> Result<Attached, CatalogError> {
        self.write(|tx| attach_in(tx, manifest))
    }

    /// Attach many manifests in one transaction (all or nothing).
    pub fn attach_manifests(
        &mut self,
        manifests: &[Manifest],
    ) -> Result<Vec<Attached>, CatalogError> {
        self.write(|tx| manifests.iter().map(|m| attach_in(tx, m)).collect())
    }

    /// The attached manifest with this hash, if any.
    pub fn manifest(&self, hash: &Hash) -> Result<Option<Manifest>, CatalogError> {
        let body: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT body FROM manifests WHERE hash = ?1")?
            .query_row([hash.as_bytes()], |r| r.get(0))
            .optional()?;
        body.map(|b| Manifest::from_blob(&b).map_err(|e| CatalogError::Decode(e.to_string())))
            .transpose()
    }
}

pub(crate) fn attach_in(tx: &Connection, manifest: &Manifest) -> Result<Attached, CatalogError> {
    let violations = policy::check(manifest);
    if let Some(v) = violations.first() {
        return Err(CatalogError::Manifest(format!(
            "{} violates the rootless policy at {}: {}",
            manifest.id, v.field, v.message
        )));
    }
    let body = manifest.canonical_bytes()?;
    let hash = Hash::of(&body);
    let named: Vec<(i64, String, String, i64)> = tx
        .prepare_cached(
            "SELECT e.app_id, a.app, e.version, e.manifest_size
             FROM entries e JOIN apps a ON a.id = e.app_id WHERE e.manifest_hash = ?1",
        )?
        .query_map([hash.as_bytes()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    if named.is_empty() {
        return Err(CatalogError::Manifest(format!(
            "no entry in the catalog names manifest {hash}"
        )));
    }
    let version = manifest.version.to_string();
    for (_, app, v, size) in &named {
        if *app != manifest.id || *v != version || usize::try_from(*size).ok() != Some(body.len()) {
            return Err(CatalogError::Manifest(format!(
                "manifest {hash} is {} {version} ({} bytes), but an entry naming it is {app} {v} ({size} bytes)",
                manifest.id,
                body.len()
            )));
        }
    }
    let categories: Vec<String> = manifest
        .categories
        .iter()
        .map(|c| c.trim().to_lowercase())
        .filter(|c| !c.is_empty())
        .collect();
    tx.prepare_cached(
        "INSERT OR REPLACE INTO manifests (hash, name, description, categories, license, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        hash.as_bytes(),
        manifest.name,
        manifest.description,
        categories.join(" "),
        manifest.license,
        body
    ])?;
    tx.prepare_cached("UPDATE blobs SET held = 1 WHERE hash = ?1")?
        .execute([hash.as_bytes()])?;
    let mut apps: Vec<i64> = named.iter().map(|n| n.0).collect();
    apps.sort_unstable();
    apps.dedup();
    for &app in &apps {
        search::reindex_app(tx, app, false)?;
    }
    Ok(Attached {
        hash,
        entries: named.len(),
        apps: apps.len(),
    })
}
