//! Warnings shown before an install or update (`warnings` in `GET /apps/{did}/{app}`, and
//! printed by `atoll install|update`): a list of typed items, each `{kind, message, …}`,
//! so that new kinds (a publisher's rotated key) slot in beside the existing ones. They
//! warn; they do not refuse (the install guards refuse).

use atoll_catalog::{Catalog, SameAppId};
use atoll_registry::AppRef;
use serde::Serialize;

/// One warning about installing or updating an app.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum InstallWarning {
    /// Another publisher has an app with the same id, installed here or seen first: this
    /// one may be a look-alike (or the other one is).
    SameAppId {
        /// In words, for the UI and the CLI.
        message: String,
        /// The other app's ref (`<did>/<app>`).
        other: String,
        /// Its publisher's display name, if known.
        publisher_name: Option<String>,
        /// This node has the other one installed.
        installed: bool,
    },
    /// The publisher's key rotated (or a profile tried to change its key commitment):
    /// check the key history before installing or updating.
    KeyRotated {
        /// In words, for the UI and the CLI.
        message: String,
        /// The publisher's current key index.
        index: u64,
        /// Versions of this publisher voided by its rotations (signed by a retired key).
        voided: usize,
        /// The identity is flagged as possibly compromised.
        flagged: bool,
    },
}

impl InstallWarning {
    fn same_app_id(app: &AppRef, o: &SameAppId) -> Self {
        let other = format!("{}/{}", o.publisher, app.app);
        let who = match &o.publisher_name {
            Some(n) => format!("{n:?} ({})", o.publisher.short()),
            None => o.publisher.short(),
        };
        let what = if o.installed {
            "is installed here"
        } else {
            "was seen here first"
        };
        Self::SameAppId {
            message: format!(
                "another publisher, {who}, has an app with the same id {:?}, which {what}: this is a different app from a different publisher",
                app.app.as_str()
            ),
            other,
            publisher_name: o.publisher_name.clone(),
            installed: o.installed,
        }
    }
}

/// The warnings for installing or updating `app`.
pub fn install_warnings(
    c: &Catalog,
    app: &AppRef,
) -> Result<Vec<InstallWarning>, atoll_catalog::CatalogError> {
    let mut out: Vec<InstallWarning> = c
        .same_app_id(app)?
        .iter()
        .map(|o| InstallWarning::same_app_id(app, o))
        .collect();
    if let Some(h) = c.key_history(&app.publisher)? {
        if let Some(w) = InstallWarning::key_rotated(&h) {
            out.push(w);
        }
    }
    Ok(out)
}

impl InstallWarning {
    /// The key-rotation warning of a key history, if the key rotated or is flagged.
    fn key_rotated(h: &atoll_catalog::KeyHistory) -> Option<Self> {
        let last = h.rotations.last();
        if last.is_none() && h.flagged.is_none() {
            return None;
        }
        let voided: usize = h
            .rotations
            .iter()
            .map(|r| r.voided.iter().filter(|v| v.kind == "entry").count())
            .sum();
        let mut message = String::new();
        if let Some(r) = last {
            message.push_str(&format!(
                "the publisher's key rotated (now key {}, rotation signed at unix time {})",
                h.index, r.created_at
            ));
            if voided > 0 {
                message.push_str(&format!(
                    "; {voided} version(s) signed by a retired key are void"
                ));
            }
        }
        if let Some(flag) = &h.flagged {
            if !message.is_empty() {
                message.push_str("; ");
            }
            message.push_str(&format!("possible key compromise: {flag}"));
        }
        message.push_str(": check the key history before installing or updating");
        Some(Self::KeyRotated {
            message,
            index: h.index,
            voided,
            flagged: h.flagged.is_some(),
        })
    }
}
