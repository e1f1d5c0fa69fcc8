//! Reading one app: its head summary, every version seen with its sources, and the exact
//! signed bytes of any stored entry.

use atoll_registry::{AppRef, Hash};
use rusqlite::OptionalExtension;
use serde::Serialize;

use crate::error::CatalogError;
use crate::ingest::decode_hash;
use crate::provenance::Provenance;
use crate::search::{split_categories, AppSummary};
use crate::store::{now, to_i64, Catalog};

/// Where a stored entry stands among its app's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryStatus {
    /// The app's current entry (highest accepted sequence).
    Head,
    /// An older accepted entry.
    Superseded,
    /// Lost an equivocation (same sequence, different payload); kept as evidence.
    Conflict,
}

crate::stored::stored_names!(EntryStatus, "entry status", {
    Head => "head",
    Superseded => "superseded",
    Conflict => "conflict",
});

/// One stored entry of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryRecord {
    /// Its sequence.
    pub sequence: u64,
    /// Its version.
    pub version: String,
    /// Where it stands among the app's entries.
    pub status: EntryStatus,
    /// BLAKE3 of the canonical payload.
    pub payload_id: Hash,
    /// The manifest blob it names.
    pub manifest: Hash,
    /// Unix seconds.
    pub published_at: u64,
    /// Unix seconds.
    pub expires_at: u64,
    /// The publisher's reason, if this entry yanks its version.
    pub yanked: Option<String>,
    /// Fetched from the publisher's origin at least once.
    pub from_origin: bool,
    /// Every place it was seen.
    pub sources: Vec<Provenance>,
    /// The key that signed it when not the publisher's own DID (a rotated key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// Set when the entry is void: signed by a retired key after its last legitimate
    /// sequence (never a head, kept as evidence). Says why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub void: Option<String>,
}

/// An app with its history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppView {
    /// The head, as in search results.
    #[serde(flatten)]
    pub summary: AppSummary,
    /// Manifest hash of the head entry.
    pub manifest: Hash,
    /// True once the head's manifest has been attached.
    pub manifest_attached: bool,
    /// Every entry seen, highest sequence first.
    pub entries: Vec<EntryRecord>,
    /// The publisher's key rotations accepted (0: its first key still signs).
    pub key_rotations: u64,
}

impl Catalog {
    /// How many apps have a head entry, and how many publishers they come from.
    pub fn counts(&self) -> Result<(u64, u64), CatalogError> {
        let (apps, publishers): (i64, i64) = self.conn.query_row(
            "SELECT COUNT(*), COUNT(DISTINCT publisher_id) FROM apps WHERE head_entry_id IS NOT NULL",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((apps.max(0) as u64, publishers.max(0) as u64))
    }

    /// The app `<did>/<app>`, if known.
    pub fn app(&self, app: &AppRef) -> Result<Option<AppView>, CatalogError> {
        let now = to_i64(now());
        let row = self
            .conn
            .prepare_cached(
                "SELECT a.id, a.name, e.version, e.sequence, p.name, a.trust, e.published_at, e.expires_at,
                        e.yanked IS NOT NULL, a.equivocated,
                        EXISTS (SELECT 1 FROM installed i WHERE i.app_id = a.id),
                        e.manifest_hash, EXISTS (SELECT 1 FROM manifests m WHERE m.hash = e.manifest_hash),
                        -- The version that runs: while an update prepares (loads its images), the old one.
                        (SELECT CASE WHEN json_extract(i.record, '$.phase') = 'preparing'
        THEN coalesce(json_extract(i.record, '$.previous.release.manifest.version'), i.version)
        ELSE i.version END
                         FROM installed i WHERE i.app_id = a.id LIMIT 1)
                 FROM apps a JOIN publishers p ON p.id = a.publisher_id
                 JOIN entries e ON e.id = a.head_entry_id
                 WHERE p.did = ?1 AND a.app = ?2",
            )?
            .query_row([app.publisher.to_string(), app.app.to_string()], |r| {
                let expires_at: i64 = r.get(7)?;
                Ok((
                    r.get::<_, i64>(0)?,
                    AppSummary {
                        app_ref: app.clone(),
                        name: r.get(1)?,
                        description: String::new(),
                        categories: Vec::new(),
                        version: r.get(2)?,
                        sequence: r.get::<_, i64>(3)?.max(0) as u64,
                        publisher_name: r.get(4)?,
                        trust: r.get(5)?,
                        published_at: r.get::<_, i64>(6)?.max(0) as u64,
                        expires_at: expires_at.max(0) as u64,
                        stale: expires_at <= now,
                        yanked: r.get(8)?,
                        equivocated: r.get(9)?,
                        installed: r.get(10)?,
                        installed_version: r.get(13)?,
                    },
                    r.get::<_, Vec<u8>>(11)?,
                    r.get::<_, bool>(12)?,
                ))
            })
            .optional()?;
        let Some((id, mut summary, manifest, manifest_attached)) = row else {
            return Ok(None);
        };
        if let Some((d, c)) = self
            .conn
            .prepare_cached("SELECT description, categories FROM app_search WHERE rowid = ?1")?
            .query_row([id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .optional()?
        {
            summary.description = d;
            summary.categories = split_categories(&c);
        }
        let mut entries = Vec::new();
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, sequence, version, status, payload_id, manifest_hash, published_at, expires_at,
                    yanked, from_origin, signer, void
             FROM entries WHERE app_id = ?1 ORDER BY sequence DESC, id DESC",
        )?;
        let mut sources = self
            .conn
            .prepare_cached("SELECT kind, source FROM entry_sources WHERE entry_id = ?1 ORDER BY first_seen, kind, source")?;
        let rows = stmt.query_map([id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, EntryStatus>(3)?,
                r.get::<_, Vec<u8>>(4)?,
                r.get::<_, Vec<u8>>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, i64>(7)?,
                r.get::<_, Option<String>>(8)?,
                r.get::<_, bool>(9)?,
                r.get::<_, Option<String>>(10)?,
                r.get::<_, Option<String>>(11)?,
            ))
        })?;
        for row in rows {
            let (
                eid,
                sequence,
                version,
                status,
                pid,
                mh,
                published_at,
                expires_at,
                yanked,
                from_origin,
                signer,
                void,
            ) = row?;
            let srcs = sources
                .query_map([eid], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })?
                .filter_map(|s| s.ok().and_then(|(k, s)| Provenance::from_parts(&k, s)))
                .collect();
            entries.push(EntryRecord {
                sequence: sequence.max(0) as u64,
                version,
                status,
                payload_id: decode_hash(pid)?,
                manifest: decode_hash(mh)?,
                published_at: published_at.max(0) as u64,
                expires_at: expires_at.max(0) as u64,
                yanked,
                from_origin,
                sources: srcs,
                signer,
                void,
            });
        }
        let key_rotations: i64 = self.conn.prepare_cached(
            "SELECT count(*) FROM key_rotations WHERE publisher_id = (SELECT publisher_id FROM apps WHERE id = ?1)",
        )?
        .query_row([id], |r| r.get(0))?;
        Ok(Some(AppView {
            summary,
            manifest: decode_hash(manifest)?,
            manifest_attached,
            entries,
            key_rotations: key_rotations.max(0) as u64,
        }))
    }

    /// The exact signed envelope bytes (canonical JSON) of a stored entry, by payload id,
    /// to serve or forward unchanged.
    pub fn entry_envelope(&self, payload_id: &Hash) -> Result<Option<Vec<u8>>, CatalogError> {
        Ok(self
            .conn
            .prepare_cached("SELECT envelope FROM entries WHERE payload_id = ?1")?
            .query_row([payload_id.as_bytes()], |r| r.get(0))
            .optional()?)
    }

    /// Why a stored entry is void (signed by a retired key after its last legitimate
    /// sequence), by payload id; `None` if it is valid or unknown.
    pub fn void_reason(&self, payload_id: &Hash) -> Result<Option<String>, CatalogError> {
        Ok(self
            .conn
            .prepare_cached("SELECT void FROM entries WHERE payload_id = ?1")?
            .query_row([payload_id.as_bytes()], |r| r.get(0))
            .optional()?
            .flatten())
    }

    /// The signed envelope bytes of an app's head entry.
    pub fn head_envelope(&self, app: &AppRef) -> Result<Option<Vec<u8>>, CatalogError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT e.envelope FROM apps a JOIN publishers p ON p.id = a.publisher_id
                 JOIN entries e ON e.id = a.head_entry_id WHERE p.did = ?1 AND a.app = ?2",
            )?
            .query_row([app.publisher.to_string(), app.app.to_string()], |r| {
                r.get(0)
            })
            .optional()?)
    }
}
