//! One resolver of app references for every command: a full `<did>/<app>`, or the bare
//! app id (`wiki`) when exactly one publisher's app has it. Commands on installed apps
//! (start, stop, logs, backup, …) look among the installed apps first; `install` and
//! `catalog show` among the catalog's. Two publishers' apps with the id: an error listing
//! the full refs to choose from; none: an error saying so.

use anyhow::{bail, Result};
use atoll_catalog::WithId;
use atoll_registry::AppRef;

use super::client::NodeClient;

/// Where a bare app id is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Installed apps (a command on an installed app).
    Installed,
    /// Every app in the catalog, installed ones first (install, show).
    Catalog,
}

/// `arg` as a full ref when it is one, else the bare app id it is.
enum Arg {
    Full(AppRef),
    Id(String),
}

fn parse(arg: &str) -> Result<Arg> {
    if arg.contains('/') {
        return match arg.parse::<AppRef>() {
            Ok(r) => Ok(Arg::Full(r)),
            Err(e) => bail!("app {arg:?}: {e} (give <did>/<app>, or the app id alone)"),
        };
    }
    if !atoll_registry::names::is_dns_label(arg) {
        bail!(
            "app {arg:?} is neither <did>/<app> nor an app id (lowercase letters, digits and '-')"
        );
    }
    Ok(Arg::Id(arg.to_owned()))
}

/// Pick the one ref the bare app id `id` names among `matches` (every publisher's app
/// with that id, as [`atoll_catalog::Catalog::apps_with_id`] lists them).
pub(crate) fn pick(id: &str, matches: &[WithId], scope: Scope) -> Result<AppRef> {
    let installed: Vec<&WithId> = matches.iter().filter(|m| m.installed).collect();
    let candidates: Vec<&WithId> = match scope {
        Scope::Installed => installed,
        Scope::Catalog => matches.iter().collect(),
    };
    match candidates.as_slice() {
        [one] => Ok(one.app_ref.clone()),
        [] if scope == Scope::Installed && !matches.is_empty() => bail!(
            "no installed app {id:?}; the catalog has {} (install it first with `atoll install {}`)",
            list(matches),
            if matches.len() == 1 {
                id.to_owned()
            } else {
                matches[0].app_ref.to_string()
            }
        ),
        [] => bail!(
            "no app {id:?} {}: check the app id (`atoll ps`, `atoll catalog search`)",
            if scope == Scope::Installed {
                "is installed on this node"
            } else {
                "in this node's catalog"
            }
        ),
        many => bail!(
            "app id {id:?} is ambiguous: {} publishers have it; name one by its full ref:\n{}",
            many.len(),
            many.iter()
                .map(|m| format!("  {}", line(m)))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

fn line(m: &WithId) -> String {
    match &m.publisher_name {
        Some(n) => format!(
            "{}  ({}{})",
            m.app_ref,
            super::output::plain(n, 64),
            if m.installed { ", installed" } else { "" }
        ),
        None if m.installed => format!("{}  (installed)", m.app_ref),
        None => m.app_ref.to_string(),
    }
}

fn list(matches: &[WithId]) -> String {
    matches
        .iter()
        .map(|m| m.app_ref.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Resolve `arg` through the running node (`GET /resolve/{id}`).
pub(crate) fn via_node(c: &NodeClient, arg: &str, scope: Scope) -> Result<AppRef> {
    match parse(arg)? {
        Arg::Full(r) => Ok(r),
        Arg::Id(id) => {
            let v = c.get(&format!("/resolve/{id}"))?;
            let matches: Vec<WithId> = serde_json::from_value(v["matches"].clone())
                .map_err(|e| anyhow::anyhow!("the node's answer to /resolve/{id}: {e}"))?;
            pick(&id, &matches, scope)
        }
    }
}

/// Resolve `arg` in a catalog opened by this process (offline commands).
pub(crate) fn via_catalog(
    cat: &atoll_catalog::CatalogService,
    arg: &str,
    scope: Scope,
) -> Result<AppRef> {
    match parse(arg)? {
        Arg::Full(r) => Ok(r),
        Arg::Id(id) => {
            let of = id.clone();
            let matches = cat.read_blocking(move |c| c.apps_with_id(&of))?;
            pick(&id, &matches, scope)
        }
    }
}

/// The shortest form of `app` that names it among `all` refs (the bare app id when no
/// other publisher's app has it, else the full ref).
pub(crate) fn short(app: &AppRef, all: &[AppRef]) -> String {
    let unique = all
        .iter()
        .filter(|o| o.app == app.app && o.publisher != app.publisher)
        .count()
        == 0;
    if unique {
        app.app.to_string()
    } else {
        app.to_string()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn with_id(seed: u8, installed: bool) -> WithId {
        let did = atoll_registry::Keypair::from_seed([seed; 32]).did();
        WithId {
            app_ref: format!("{did}/wiki").parse().unwrap(),
            publisher_name: Some(format!("pub {seed}")),
            installed,
        }
    }

    #[test]
    fn a_unique_id_resolves_and_installed_apps_come_first_for_ops() {
        let (a, b) = (with_id(1, true), with_id(2, false));
        let both = [a.clone(), b.clone()];
        assert_eq!(pick("wiki", &both, Scope::Installed).unwrap(), a.app_ref);
        let err = pick("wiki", &both, Scope::Catalog).unwrap_err().to_string();
        assert!(err.contains("ambiguous"), "{err}");
        assert!(err.contains(&a.app_ref.to_string()) && err.contains(&b.app_ref.to_string()));
        assert_eq!(
            pick("wiki", std::slice::from_ref(&b), Scope::Catalog).unwrap(),
            b.app_ref
        );
        let err = pick("wiki", std::slice::from_ref(&b), Scope::Installed)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no installed app") && err.contains("atoll install wiki"),
            "{err}"
        );
        let err = pick("wiki", &[], Scope::Catalog).unwrap_err().to_string();
        assert!(
            err.contains("no app \"wiki\" in this node's catalog"),
            "{err}"
        );
    }

    #[test]
    fn the_short_form_is_the_id_only_when_unique() {
        let (a, b) = (with_id(1, true).app_ref, with_id(2, true).app_ref);
        assert_eq!(short(&a, std::slice::from_ref(&a)), "wiki");
        assert_eq!(short(&a, &[a.clone(), b.clone()]), a.to_string());
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        assert!(parse("Wiki!").is_err());
        assert!(parse("did:key:nope/wiki").is_err());
        assert!(matches!(parse("wiki").unwrap(), Arg::Id(_)));
    }
}
