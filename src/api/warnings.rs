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
    Ok(c.same_app_id(app)?
        .iter()
        .map(|o| InstallWarning::same_app_id(app, o))
        .collect())
}
