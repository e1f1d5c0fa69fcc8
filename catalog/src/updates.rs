//! Updates people control (migration 007): the operator's auto-update policy per app, the
//! last failed update of an app (its version and the orchestrator's reason, so it is not
//! offered as a plain update again nor retried by auto-update), and the guard facts of a
//! chosen, possibly older, version of an app (install or roll back to it).

use std::collections::BTreeMap;
use std::str::FromStr;

use atoll_registry::{AppRef, Hash};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::error::{CatalogError, Missing};
use crate::guard::GuardFacts;
use crate::query::EntryStatus;
use crate::store::{now, to_i64, Catalog};
use crate::trust::TrustDecision;

/// Auto-update policy of one installed app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdatePolicy {
    /// Never update by itself, never say.
    Off,
    /// Show that an update is available; never apply it by itself.
    Notify,
    /// Update by itself (rolled back if the new version fails its health checks).
    Auto,
}

impl UpdatePolicy {
    /// `off`, `notify` or `auto`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Notify => "notify",
            Self::Auto => "auto",
        }
    }
}

/// Not `off`, `notify` or `auto`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("auto-update policy {0:?}: must be off, notify or auto")]
pub struct UnknownPolicy(pub String);

impl FromStr for UpdatePolicy {
    type Err = UnknownPolicy;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "off" => Self::Off,
            "notify" => Self::Notify,
            "auto" => Self::Auto,
            _ => return Err(UnknownPolicy(s.chars().take(40).collect())),
        })
    }
}

/// The last update of an app that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateFailure {
    /// The version it tried to move to.
    pub version: String,
    /// Why it failed (e.g. `GET /broken-health: HTTP 404`).
    pub reason: String,
    /// The version it went back to (`None`: the rollback failed too).
    pub restored: Option<String>,
    /// Unix seconds.
    pub failed_at: u64,
}

/// Longest failure reason kept (bytes; longer ones are cut at a char boundary).
pub const MAX_FAILURE_REASON: usize = 2000;

fn app_id(conn: &Connection, app: &AppRef) -> Result<i64, CatalogError> {
    conn.prepare_cached(
        "SELECT a.id FROM apps a JOIN publishers p ON p.id = a.publisher_id
         WHERE p.did = ?1 AND a.app = ?2",
    )?
    .query_row(
        params![app.publisher.to_string(), app.app.to_string()],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| CatalogError::NotFound(Box::new(Missing::App(app.clone()))))
}

fn clip(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Catalog {
    /// Set `app`'s auto-update policy (it must be in the catalog).
    pub fn set_update_policy(
        &mut self,
        app: &AppRef,
        policy: UpdatePolicy,
    ) -> Result<(), CatalogError> {
        self.write(|tx| {
            let id = app_id(tx, app)?;
            tx.prepare_cached(
                "INSERT INTO update_policy (app_id, policy, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(app_id) DO UPDATE SET policy = excluded.policy,
                    updated_at = excluded.updated_at",
            )?
            .execute(params![id, policy.as_str(), to_i64(now())])?;
            Ok(())
        })
    }

    /// The auto-update policies the operator set (apps without one follow the config).
    pub fn update_policies(&self) -> Result<BTreeMap<AppRef, UpdatePolicy>, CatalogError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT p.did, a.app, u.policy FROM update_policy u JOIN apps a ON a.id = u.app_id
             JOIN publishers p ON p.id = a.publisher_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (did, app, policy) = row?;
            let at = || crate::error::Stored::Installed {
                app: app.chars().take(64).collect(),
                field: "auto-update policy",
            };
            let app_ref = AppRef::from_str(&format!("{did}/{app}"))
                .map_err(|e| CatalogError::decode(at(), e))?;
            let policy = policy
                .parse::<UpdatePolicy>()
                .map_err(|e| CatalogError::decode(at(), e))?;
            out.insert(app_ref, policy);
        }
        Ok(out)
    }

    /// Remember that updating `app` to `version` failed for `reason`, going back to
    /// `restored` (replaces an earlier failure of the app).
    pub fn record_update_failure(
        &mut self,
        app: &AppRef,
        version: &str,
        reason: &str,
        restored: Option<&str>,
    ) -> Result<(), CatalogError> {
        self.write(|tx| {
            let id = app_id(tx, app)?;
            tx.prepare_cached(
                "INSERT INTO update_failures (app_id, version, reason, restored, failed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(app_id) DO UPDATE SET version = excluded.version,
                    reason = excluded.reason, restored = excluded.restored,
                    failed_at = excluded.failed_at",
            )?
            .execute(params![
                id,
                clip(version, 100),
                clip(reason, MAX_FAILURE_REASON),
                restored.map(|r| clip(r, 100)),
                to_i64(now())
            ])?;
            Ok(())
        })
    }

    /// Forget `app`'s failed update (after a successful update or install). True if one
    /// was recorded.
    pub fn clear_update_failure(&mut self, app: &AppRef) -> Result<bool, CatalogError> {
        self.write(|tx| {
            let Ok(id) = app_id(tx, app) else {
                return Ok(false);
            };
            Ok(tx
                .prepare_cached("DELETE FROM update_failures WHERE app_id = ?1")?
                .execute([id])?
                > 0)
        })
    }

    /// `app`'s last failed update, if one is recorded.
    pub fn update_failure(&self, app: &AppRef) -> Result<Option<UpdateFailure>, CatalogError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT u.version, u.reason, u.restored, u.failed_at FROM update_failures u
                 JOIN apps a ON a.id = u.app_id JOIN publishers p ON p.id = a.publisher_id
                 WHERE p.did = ?1 AND a.app = ?2",
            )?
            .query_row(
                params![app.publisher.to_string(), app.app.to_string()],
                |r| {
                    Ok(UpdateFailure {
                        version: r.get(0)?,
                        reason: r.get(1)?,
                        restored: r.get(2)?,
                        failed_at: r.get::<_, i64>(3)?.max(0) as u64,
                    })
                },
            )
            .optional()?)
    }

    /// The entry of `app` at `version` an install or rollback would use (the highest
    /// accepted sequence of that version), with the guard's facts about it: the app's
    /// publisher, trust and equivocation as for the head, and that entry's own expiry,
    /// retired key and whether any entry yanks the version. `None`: no accepted entry of
    /// the app has this version.
    pub fn version_facts(
        &self,
        app: &AppRef,
        version: &semver::Version,
        threshold: f64,
    ) -> Result<Option<VersionFacts>, CatalogError> {
        let Some(view) = self.app(app)? else {
            return Ok(None);
        };
        let wanted = version.to_string();
        let of_version: Vec<_> = view
            .entries
            .iter()
            .filter(|e| e.version == wanted && e.status != EntryStatus::Conflict)
            .collect();
        // Entries are highest sequence first.
        let Some(entry) = of_version
            .iter()
            .find(|e| e.void.is_none())
            .or(of_version.first())
        else {
            return Ok(None);
        };
        let blocked = self.explain(&app.publisher)?.decision == Some(TrustDecision::Block);
        let mut facts = GuardFacts::of_view(&view, blocked, threshold);
        facts.version = wanted.clone();
        facts.expires_at = entry.expires_at;
        facts.stale = to_i64(entry.expires_at) <= to_i64(now());
        facts.yanked = of_version.iter().any(|e| e.yanked.is_some());
        facts.retired_key = entry.void.is_some();
        let attached = self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM manifests WHERE hash = ?1)")?
            .query_row([entry.manifest.as_bytes()], |r| r.get(0))?;
        Ok(Some(VersionFacts {
            sequence: entry.sequence,
            payload_id: entry.payload_id,
            manifest: entry.manifest,
            manifest_attached: attached,
            head: entry.status == EntryStatus::Head,
            facts,
        }))
    }
}

/// A chosen version of an app: its entry and what the guard knows about it.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionFacts {
    /// The entry's sequence.
    pub sequence: u64,
    /// The entry's payload id (its envelope: [`Catalog::entry_envelope`]).
    pub payload_id: Hash,
    /// Its manifest.
    pub manifest: Hash,
    /// Whether its manifest is in the catalog.
    pub manifest_attached: bool,
    /// It is the app's head.
    pub head: bool,
    /// For [`crate::guard::check`].
    pub facts: GuardFacts,
}
