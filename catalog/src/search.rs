//! Search: an FTS5 index over each app's name, description, categories, publisher name
//! and app id, with filters, three sort orders plus relevance, and paging.
//!
//! The index has one row per app (rowid = `apps.id`). It is maintained by the catalog
//! code, not by triggers: [`reindex_app`] runs whenever an app's head changes, a manifest
//! is attached, or its publisher's name changes. The text comes from the newest
//! non-conflicting entry whose manifest has been attached, so an app stays findable by
//! name while the manifest of a new version is still being fetched.

use atoll_registry::AppRef;
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::error::CatalogError;
use crate::store::{now, to_i64, Catalog};

/// Most results one page may hold.
pub const MAX_PAGE: u32 = 500;
/// Words of a query that are used (the rest are ignored).
pub const MAX_QUERY_WORDS: usize = 16;

/// Result order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    /// Highest publisher trust first, then by name.
    #[default]
    Trust,
    /// Newest `published_at` of the head entry first.
    Recency,
    /// By display name.
    Name,
    /// Best full-text match first (BM25); without words, the same as `Trust`.
    Relevance,
}

/// A search or listing.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    /// Free text; every word must match (as a prefix) in some field. Empty lists all.
    pub words: String,
    /// Only apps in this category.
    pub category: Option<String>,
    /// Only apps whose publisher's trust score is at least this.
    pub min_trust: Option<f64>,
    /// `Some(true)`: only installed apps; `Some(false)`: only apps not installed.
    pub installed: Option<bool>,
    /// `Some(true)`: only stale apps; `Some(false)`: hide stale apps.
    pub stale: Option<bool>,
    /// Order.
    pub sort: Sort,
    /// Results to skip.
    pub offset: u32,
    /// Page size (at most [`MAX_PAGE`]).
    pub limit: u32,
}

impl Default for SearchQuery {
    fn default() -> Self {
        Self {
            words: String::new(),
            category: None,
            min_trust: None,
            installed: None,
            stale: None,
            sort: Sort::Trust,
            offset: 0,
            limit: 50,
        }
    }
}

/// One app in a result list, as of its head entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppSummary {
    /// `<did>/<app>`.
    pub app_ref: AppRef,
    /// Display name (the app id until a manifest is attached).
    pub name: String,
    /// Description from the manifest ("" until one is attached).
    pub description: String,
    /// Categories from the manifest.
    pub categories: Vec<String>,
    /// Version of the head entry.
    pub version: String,
    /// Sequence of the head entry.
    pub sequence: u64,
    /// Publisher's display name, from its signed profile.
    pub publisher_name: Option<String>,
    /// Publisher's trust score in [0, 1].
    pub trust: f64,
    /// Head entry's `published_at`.
    pub published_at: u64,
    /// Head entry's `expires_at`.
    pub expires_at: u64,
    /// Past `expires_at`: shown, never auto-installed.
    pub stale: bool,
    /// The head entry withdraws its version.
    pub yanked: bool,
    /// The publisher signed conflicting entries for this app.
    pub equivocated: bool,
    /// In the desired state (installed).
    pub installed: bool,
    /// The version installed and running here (while an update is still preparing, loading
    /// its images, the old one that runs meanwhile), `None` when not installed. May differ
    /// from `version`, the head.
    pub installed_version: Option<String>,
}

impl AppSummary {
    /// May the orchestrator install or update to this head without an operator override?
    /// (Trust thresholds are the caller's policy.)
    pub fn auto_installable(&self) -> bool {
        !self.stale && !self.yanked && !self.equivocated
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchPage {
    /// The apps on this page.
    pub items: Vec<AppSummary>,
    /// True if there are results after this page.
    pub has_more: bool,
}

/// Turn free text into an FTS5 query: each word (letters and digits only, so no FTS
/// syntax gets through) becomes a quoted prefix term; terms are ANDed.
pub fn fts_query(words: &str) -> Option<String> {
    let terms: Vec<String> = words
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(MAX_QUERY_WORDS)
        .map(|w| format!("\"{}\"*", w.to_lowercase()))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

const SUMMARY_COLUMNS: &str = "a.id, p.did, a.app, a.name, e.version, e.sequence, p.name, a.trust,
     e.published_at, e.expires_at, e.yanked IS NOT NULL, a.equivocated,
     EXISTS (SELECT 1 FROM installed i WHERE i.app_id = a.id),
     (SELECT CASE WHEN json_extract(i.record, '$.phase') = 'preparing'
        THEN coalesce(json_extract(i.record, '$.previous.release.manifest.version'), i.version)
        ELSE i.version END
      FROM installed i WHERE i.app_id = a.id LIMIT 1)";

impl Catalog {
    /// Search or list the catalog.
    pub fn search(&self, q: &SearchQuery) -> Result<SearchPage, CatalogError> {
        let now = to_i64(now());
        let fts = fts_query(&q.words);
        let mut args: Vec<Value> = Vec::new();
        let mut sql = String::with_capacity(512);
        sql.push_str("SELECT ");
        sql.push_str(SUMMARY_COLUMNS);
        let relevance = q.sort == Sort::Relevance && fts.is_some();
        if relevance {
            sql.push_str(
                " FROM app_search JOIN apps a ON a.id = app_search.rowid
                  JOIN publishers p ON p.id = a.publisher_id
                  JOIN entries e ON e.id = a.head_entry_id
                  WHERE app_search MATCH ?",
            );
        } else {
            sql.push_str(
                " FROM apps a JOIN publishers p ON p.id = a.publisher_id
                  JOIN entries e ON e.id = a.head_entry_id WHERE 1",
            );
            if fts.is_some() {
                sql.push_str(
                    " AND a.id IN (SELECT rowid FROM app_search WHERE app_search MATCH ?)",
                );
            }
        }
        if let Some(f) = fts {
            args.push(Value::Text(f));
        }
        if let Some(c) = &q.category {
            sql.push_str(" AND a.id IN (SELECT app_id FROM app_categories WHERE category = ?)");
            args.push(Value::Text(c.trim().to_lowercase()));
        }
        if let Some(t) = q.min_trust {
            sql.push_str(" AND a.trust >= ?");
            args.push(Value::Real(t));
        }
        match q.installed {
            Some(true) => {
                sql.push_str(" AND EXISTS (SELECT 1 FROM installed i WHERE i.app_id = a.id)")
            }
            Some(false) => {
                sql.push_str(" AND NOT EXISTS (SELECT 1 FROM installed i WHERE i.app_id = a.id)")
            }
            None => {}
        }
        match q.stale {
            Some(true) => {
                sql.push_str(" AND e.expires_at <= ?");
                args.push(Value::Integer(now));
            }
            Some(false) => {
                sql.push_str(" AND e.expires_at > ?");
                args.push(Value::Integer(now));
            }
            None => {}
        }
        sql.push_str(match q.sort {
            _ if relevance => " ORDER BY app_search.rank, a.trust DESC, a.id",
            Sort::Trust | Sort::Relevance => " ORDER BY a.trust DESC, a.name, a.id",
            Sort::Recency => " ORDER BY a.published_at DESC, a.id",
            Sort::Name => " ORDER BY a.name, a.id",
        });
        let limit = q.limit.clamp(1, MAX_PAGE);
        sql.push_str(" LIMIT ? OFFSET ?");
        args.push(Value::Integer(i64::from(limit) + 1));
        args.push(Value::Integer(i64::from(q.offset)));

        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| summary_row(r, now))?;
        let mut items = Vec::new();
        for row in rows {
            items.push(row?);
        }
        let has_more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let mut text = self
            .conn
            .prepare_cached("SELECT description, categories FROM app_search WHERE rowid = ?1")?;
        for (id, item) in &mut items {
            if let Some((d, c)) = text
                .query_row([*id], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .optional()?
            {
                item.description = d;
                item.categories = split_categories(&c);
            }
        }
        Ok(SearchPage {
            items: items.into_iter().map(|(_, s)| s).collect(),
            has_more,
        })
    }
}

pub(crate) fn split_categories(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

fn summary_row(r: &rusqlite::Row<'_>, now: i64) -> rusqlite::Result<(i64, AppSummary)> {
    let did: String = r.get(1)?;
    let app: String = r.get(2)?;
    let app_ref: AppRef = format!("{did}/{app}").parse().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
    })?;
    let expires_at: i64 = r.get(9)?;
    Ok((
        r.get(0)?,
        AppSummary {
            app_ref,
            name: r.get(3)?,
            description: String::new(),
            categories: Vec::new(),
            version: r.get(4)?,
            sequence: r.get::<_, i64>(5)?.max(0) as u64,
            publisher_name: r.get(6)?,
            trust: r.get(7)?,
            published_at: r.get::<_, i64>(8)?.max(0) as u64,
            expires_at: expires_at.max(0) as u64,
            stale: expires_at <= now,
            yanked: r.get(10)?,
            equivocated: r.get(11)?,
            installed: r.get(12)?,
            installed_version: r.get(13)?,
        },
    ))
}

/// Rebuild the search row, categories and sort keys of one app. `fresh`: the app was
/// created in this transaction, so it has no old rows to delete.
///
/// Every lookup here is a single-table statement on purpose: the bundled SQLite is built
/// with STAT4, and with it a cached statement that joins or orders on a bound parameter
/// is re-prepared whenever the binding changes — which doubled the cost of an ingest.
pub(crate) fn reindex_app(tx: &Connection, app_id: i64, fresh: bool) -> Result<(), CatalogError> {
    let (app, publisher_id, head): (String, i64, Option<i64>) = tx
        .prepare_cached("SELECT app, publisher_id, head_entry_id FROM apps WHERE id = ?1")?
        .query_row([app_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let publisher: String = tx
        .prepare_cached("SELECT coalesce(name, '') FROM publishers WHERE id = ?1")?
        .query_row([publisher_id], |r| r.get(0))?;
    let published_at: i64 = match head {
        Some(h) => tx
            .prepare_cached("SELECT published_at FROM entries WHERE id = ?1")?
            .query_row([h], |r| r.get(0))
            .optional()?
            .unwrap_or(0),
        None => 0,
    };
    // The newest accepted entry whose manifest has been attached.
    let mut candidates: Vec<(i64, Vec<u8>)> = tx
        .prepare_cached("SELECT sequence, manifest_hash FROM entries WHERE app_id = ?1 AND status != 'conflict'")?
        .query_map([app_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    candidates.sort_unstable_by_key(|c| std::cmp::Reverse(c.0));
    let mut manifest: Option<(String, String, String)> = None;
    let mut find =
        tx.prepare_cached("SELECT name, description, categories FROM manifests WHERE hash = ?1")?;
    for (_, hash) in &candidates {
        manifest = find
            .query_row([hash], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        if manifest.is_some() {
            break;
        }
    }
    let (name, description, categories) =
        manifest.unwrap_or_else(|| (app.clone(), String::new(), String::new()));
    tx.prepare_cached("UPDATE apps SET name = ?2, published_at = ?3 WHERE id = ?1")?
        .execute(params![app_id, name, published_at])?;
    if !fresh {
        tx.prepare_cached("DELETE FROM app_categories WHERE app_id = ?1")?
            .execute([app_id])?;
        tx.prepare_cached("DELETE FROM app_search WHERE rowid = ?1")?
            .execute([app_id])?;
    }
    let mut add = tx.prepare_cached(
        "INSERT OR IGNORE INTO app_categories (category, app_id) VALUES (?1, ?2)",
    )?;
    for c in split_categories(&categories) {
        add.execute(params![c, app_id])?;
    }
    tx.prepare_cached(
        "INSERT INTO app_search (rowid, name, description, categories, publisher, app)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        app_id,
        name,
        description,
        categories,
        publisher,
        app
    ])?;
    Ok(())
}

/// Reindex every app of one publisher (after its display name changed).
pub(crate) fn reindex_publisher(tx: &Connection, publisher: i64) -> Result<(), CatalogError> {
    let ids: Vec<i64> = tx
        .prepare_cached("SELECT id FROM apps WHERE publisher_id = ?1")?
        .query_map([publisher], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in ids {
        reindex_app(tx, id, false)?;
    }
    Ok(())
}
