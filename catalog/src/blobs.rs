//! The blob index: every blob an accepted entry names (manifest, icon, image archives),
//! whether this node holds it, and which nodes announced they hold it.

use atoll_registry::Hash;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::error::{CatalogError, Missing};
use crate::store::{now, to_i64, Catalog};

/// What a blob is to the entry that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobKind {
    /// The app's manifest.
    Manifest,
    /// The app's icon.
    Icon,
    /// An image archive.
    Image,
}

crate::stored::stored_names!(BlobKind, "blob kind", {
    Manifest => "manifest",
    Icon => "icon",
    Image => "image",
});

/// What the catalog knows of a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlobInfo {
    /// BLAKE3.
    pub hash: Hash,
    /// Exact size the signed entry names.
    pub size: u64,
    /// What it is.
    pub kind: BlobKind,
    /// This node holds the bytes.
    pub held: bool,
    /// Named by the head entry of some app (rule 4: bytes are accepted only for these).
    pub wanted: bool,
    /// Nodes or URLs that announced holding it.
    pub holders: Vec<String>,
}

impl Catalog {
    /// What is known of a blob; None if no stored entry names it.
    pub fn blob(&self, hash: &Hash) -> Result<Option<BlobInfo>, CatalogError> {
        let row = self
            .conn
            .prepare_cached("SELECT size, kind, held FROM blobs WHERE hash = ?1")?
            .query_row([hash.as_bytes()], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, BlobKind>(1)?,
                    r.get::<_, bool>(2)?,
                ))
            })
            .optional()?;
        let Some((size, kind, held)) = row else {
            return Ok(None);
        };
        // The head names it as its manifest, or lists it among its artifacts.
        let wanted: bool = self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM entries WHERE manifest_hash = ?1 AND status = 'head')
                     OR EXISTS (SELECT 1 FROM entry_artifacts x JOIN entries e ON e.id = x.entry_id
                                WHERE x.hash = ?1 AND e.status = 'head')",
            )?
            .query_row([hash.as_bytes()], |r| r.get(0))?;
        let holders = self
            .conn
            .prepare_cached(
                "SELECT holder FROM blob_holders WHERE hash = ?1 ORDER BY seen_at DESC",
            )?
            .query_map([hash.as_bytes()], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(Some(BlobInfo {
            hash: *hash,
            size: size.max(0) as u64,
            kind,
            held,
            wanted,
            holders,
        }))
    }

    /// The signed envelopes of the head entries that list `hash` among their artifacts
    /// (icon or image archive), at most `limit` of them. The API reads the artifact's path
    /// and kind from them to serve an icon only as the type it was published as.
    pub fn head_envelopes_naming_artifact(
        &self,
        hash: &Hash,
        limit: u32,
    ) -> Result<Vec<Vec<u8>>, CatalogError> {
        let rows = self
            .conn
            .prepare_cached(
                "SELECT e.envelope FROM entry_artifacts x JOIN entries e ON e.id = x.entry_id
                 WHERE x.hash = ?1 AND e.status = 'head' ORDER BY e.id LIMIT ?2",
            )?
            .query_map(params![hash.as_bytes(), limit], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Record whether this node holds a blob's (verified) bytes.
    pub fn set_blob_held(&mut self, hash: &Hash, held: bool) -> Result<(), CatalogError> {
        let n = self.conn.execute(
            "UPDATE blobs SET held = ?2 WHERE hash = ?1",
            params![hash.as_bytes(), held],
        )?;
        if n == 0 {
            return Err(CatalogError::NotFound(Box::new(Missing::Blob(*hash))));
        }
        Ok(())
    }

    /// Record that a node (id or URL) announced holding a blob.
    pub fn add_blob_holder(&mut self, hash: &Hash, holder: &str) -> Result<(), CatalogError> {
        let now = now();
        self.write(|tx| {
            let known: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM blobs WHERE hash = ?1)",
                [hash.as_bytes()],
                |r| r.get(0),
            )?;
            if !known {
                return Err(CatalogError::NotFound(Box::new(Missing::Blob(*hash))));
            }
            tx.execute(
                "INSERT INTO blob_holders (hash, holder, seen_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (hash, holder) DO UPDATE SET seen_at = ?3",
                params![hash.as_bytes(), holder, to_i64(now)],
            )?;
            Ok(())
        })
    }
}
