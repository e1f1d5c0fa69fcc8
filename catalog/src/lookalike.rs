//! The same app id from other publishers: `<didA>/wiki` known or installed first, then
//! `<didB>/wiki` appears. Each is a separate app (the ref names the publisher), but a
//! person choosing "wiki" in the marketplace may mistake one for the other, so the node
//! warns before it installs or updates one while another exists ([`Catalog::same_app_id`]).

use atoll_registry::{AppRef, Did};
use rusqlite::params;
use serde::{Deserialize, Serialize};

use crate::error::{CatalogError, Stored};
use crate::store::Catalog;

/// Another publisher's app with the same app id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SameAppId {
    /// That publisher.
    pub publisher: Did,
    /// Its display name, if known.
    pub publisher_name: Option<String>,
    /// This node installed it (and it is not removed).
    pub installed: bool,
    /// This node saw it before (or in the same second as) the app asked about.
    pub seen_first: bool,
}

/// Most other publishers listed.
const MAX_LISTED: u32 = 20;

/// Most refs [`Catalog::apps_with_id`] returns.
pub const MAX_WITH_ID: u32 = 50;

/// One publisher's app with a given app id (see [`Catalog::apps_with_id`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithId {
    /// The full ref.
    #[serde(rename = "ref")]
    pub app_ref: AppRef,
    /// The publisher's display name, if known.
    pub publisher_name: Option<String>,
    /// This node installed it (and it is not removed).
    pub installed: bool,
}

impl Catalog {
    /// Every publisher's app with the app id `app` that has a head (at most
    /// [`MAX_WITH_ID`], installed first, then by DID): what a bare app id may name.
    pub fn apps_with_id(&self, app: &str) -> Result<Vec<WithId>, CatalogError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT p.did, p.name,
                    EXISTS (SELECT 1 FROM installed i WHERE i.app_id = a.id AND i.wanted != 'removed')
             FROM apps a JOIN publishers p ON p.id = a.publisher_id
             WHERE a.app = ?1 AND a.head_entry_id IS NOT NULL
             ORDER BY 3 DESC, p.did LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![app, MAX_WITH_ID], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, bool>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (did, publisher_name, installed) = row?;
            let app_ref: AppRef = format!("{did}/{app}")
                .parse()
                .map_err(|e| CatalogError::decode(Stored::Did, e))?;
            out.push(WithId {
                app_ref,
                publisher_name,
                installed,
            });
        }
        Ok(out)
    }

    /// Other publishers' apps named like `app.app` that this node installed or saw
    /// before `app` (at most 20, installed first). Empty when `app` is the first one.
    pub fn same_app_id(&self, app: &AppRef) -> Result<Vec<SameAppId>, CatalogError> {
        let first = |alias: &str| {
            format!("(SELECT min(e.first_seen) FROM entries e WHERE e.app_id = {alias}.id)")
        };
        let sql = format!(
            "SELECT p.did, p.name,
                    EXISTS (SELECT 1 FROM installed i WHERE i.app_id = a.id AND i.wanted != 'removed'),
                    coalesce({} <= (SELECT {} FROM apps me JOIN publishers mp ON mp.id = me.publisher_id
                                   WHERE mp.did = ?1 AND me.app = ?2), 1)
             FROM apps a JOIN publishers p ON p.id = a.publisher_id
             WHERE a.app = ?2 AND p.did != ?1
             ORDER BY 3 DESC, {} LIMIT ?3",
            first("a"),
            first("me"),
            first("a"),
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![app.publisher.to_string(), app.app.as_str(), MAX_LISTED],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, bool>(2)?,
                    r.get::<_, bool>(3)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (did, publisher_name, installed, seen_first) = row?;
            if !installed && !seen_first {
                continue;
            }
            out.push(SameAppId {
                publisher: did
                    .parse()
                    .map_err(|e| CatalogError::decode(Stored::Did, e))?,
                publisher_name,
                installed,
                seen_first,
            });
        }
        Ok(out)
    }
}
