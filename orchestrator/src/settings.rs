//! Install-time settings: the values an operator gives (`--set NAME=VALUE`, the API's
//! `settings`, the install dialog) for the settings a manifest declares. Only the values
//! given are stored with the install ([`crate::store::AppRecord::settings`]); a setting
//! left out takes the manifest's default when files are rendered, so a new version's
//! default applies to an install that never chose its own value. An update keeps the
//! values given.

use std::collections::BTreeMap;

use atoll_registry::manifest::policy::{limits, setting_value_ok};
use atoll_registry::manifest::Manifest;

/// A setting value that cannot be used with a manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A value for a setting the manifest does not declare.
    #[error("{app} has no setting {name:?} ({})", known_list(known))]
    Unknown {
        /// The app id.
        app: String,
        /// The name given.
        name: String,
        /// The settings it has.
        known: Vec<String>,
    },
    /// No value for a setting without a default.
    #[error(
        "setting {name:?} of {app} is required (it has no default){}",
        describe(description)
    )]
    Missing {
        /// The app id.
        app: String,
        /// The setting.
        name: String,
        /// Its description.
        description: String,
    },
    /// A value too long or with control characters.
    #[error("the value of setting {name:?} must be at most {max} bytes, without control characters (no newlines)")]
    BadValue {
        /// The setting.
        name: String,
        /// The limit.
        max: usize,
    },
    /// More values than a manifest may declare settings.
    #[error("{count} settings given, at most {max}")]
    TooMany {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        "it has no settings".to_owned()
    } else {
        format!("its settings: {}", known.join(", "))
    }
}

fn describe(d: &str) -> String {
    if d.is_empty() {
        String::new()
    } else {
        format!(": {d}")
    }
}

/// Check the values given at install against `manifest`: every name declared, every value
/// within bounds, every setting without a default given.
pub fn check(manifest: &Manifest, given: &BTreeMap<String, String>) -> Result<(), SettingsError> {
    if given.len() > limits::SETTINGS {
        return Err(SettingsError::TooMany {
            count: given.len(),
            max: limits::SETTINGS,
        });
    }
    for (name, value) in given {
        if !manifest.settings.iter().any(|s| &s.name == name) {
            return Err(SettingsError::Unknown {
                app: manifest.id.clone(),
                name: name.chars().take(64).collect(),
                known: manifest.settings.iter().map(|s| s.name.clone()).collect(),
            });
        }
        if !setting_value_ok(value) {
            return Err(SettingsError::BadValue {
                name: name.clone(),
                max: limits::SETTING_VALUE,
            });
        }
    }
    for s in &manifest.settings {
        if s.required() && !given.contains_key(&s.name) {
            return Err(SettingsError::Missing {
                app: manifest.id.clone(),
                name: s.name.clone(),
                description: s.description.clone(),
            });
        }
    }
    Ok(())
}

/// The stored values an update to `manifest` keeps: those of settings it still declares
/// (checked as at install, so a new required setting is an error before anything changes).
pub fn carry(
    manifest: &Manifest,
    stored: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, SettingsError> {
    let kept: BTreeMap<String, String> = stored
        .iter()
        .filter(|(k, _)| manifest.settings.iter().any(|s| &s.name == *k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    check(manifest, &kept)?;
    Ok(kept)
}

/// Every setting's value: the one given, else the default (a required setting without a
/// value, which [`check`] refuses, is left out).
pub fn resolve(manifest: &Manifest, given: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    manifest
        .settings
        .iter()
        .filter_map(|s| {
            given
                .get(&s.name)
                .or(s.default.as_ref())
                .map(|v| (s.name.clone(), v.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        let text = r#"
id: demo
name: Demo
version: 1.0.0
description: d
containers:
  - name: web
    image: { archive: images/web.oci.tar }
settings:
  - name: admin-user
    description: The admin account's name
    default: admin
  - name: site
    description: The site's title
"#;
        atoll_registry::manifest::parse(text, "m.yml".as_ref()).unwrap()
    }

    fn given(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn values_are_checked_before_anything_is_made() {
        let m = manifest();
        check(&m, &given(&[("site", "Home")])).unwrap();
        let e = check(&m, &given(&[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "setting \"site\" of demo is required (it has no default): The site's title"
        );
        let e = check(&m, &given(&[("site", "x"), ("colour", "blue")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "demo has no setting \"colour\" (its settings: admin-user, site)"
        );
        let e = check(&m, &given(&[("site", "a\nb")])).unwrap_err();
        assert!(e.to_string().contains("no newlines"), "{e}");
        let long = "x".repeat(1025);
        assert!(check(&m, &given(&[("site", &long)])).is_err());
    }

    #[test]
    fn defaults_fill_what_was_not_given_and_updates_keep_the_rest() {
        let m = manifest();
        let values = resolve(&m, &given(&[("site", "Home")]));
        assert_eq!(values, given(&[("admin-user", "admin"), ("site", "Home")]));
        let kept = carry(&m, &given(&[("site", "Home"), ("gone", "x")])).unwrap();
        assert_eq!(kept, given(&[("site", "Home")]));
        assert!(matches!(
            carry(&m, &given(&[])),
            Err(SettingsError::Missing { .. })
        ));
    }
}
