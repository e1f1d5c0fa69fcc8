//! Labels and names. Everything atoll creates carries [`MANAGED`] and [`NODE`]; the
//! orchestrator only ever lists, changes or removes objects carrying its own node label.

/// `true` on everything atoll creates.
pub const MANAGED: &str = "io.atoll.managed";
/// The node id that owns the object.
pub const NODE: &str = "io.atoll.node";
/// The install name of the app.
pub const APP: &str = "io.atoll.app";
/// The container's name in the manifest.
pub const CONTAINER: &str = "io.atoll.container";
/// BLAKE3 of the manifest.
pub const MANIFEST: &str = "io.atoll.manifest";
/// The app version.
pub const VERSION: &str = "io.atoll.version";
/// BLAKE3 of the container's full spec (drift detection).
pub const CONFIG_HASH: &str = "io.atoll.config-hash";
/// Stop grace in seconds (to stop an orphan whose manifest is gone).
pub const STOP_GRACE: &str = "io.atoll.stop-grace";

/// Longest install name (a DNS label).
pub const MAX_APP_NAME: usize = 63;

/// Is `name` usable as an install name (a DNS label of at most [`MAX_APP_NAME`])?
pub fn valid_app_name(name: &str) -> bool {
    name.len() <= MAX_APP_NAME && atoll_registry::names::is_dns_label(name)
}

/// podman name of an app's container. `_` cannot occur in either part, so names of
/// different apps never collide.
pub fn container_name(app: &str, container: &str) -> String {
    format!("atoll_{app}_{container}")
}

/// podman name of an app's private network.
pub fn network_name(app: &str) -> String {
    format!("atoll_{app}")
}

/// The network alias `<app id>-<container>` a container answers to (on its own app's
/// network and on those of the apps it depends on), by which a dependent app reaches a
/// dependency's container. `None` when it would not be one DNS label (over 63 bytes):
/// such a container is reachable by its short name within its own app only.
pub fn qualified_alias(app_id: &str, container: &str) -> Option<String> {
    let alias = format!("{app_id}-{container}");
    atoll_registry::names::is_dns_label(&alias).then_some(alias)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_different_apps_never_collide() {
        assert_ne!(container_name("a-b", "c"), container_name("a", "b-c"));
        assert!(valid_app_name("hello-static"));
        assert!(!valid_app_name("Hello"));
        assert!(valid_app_name(&"a".repeat(63)));
        assert!(!valid_app_name(&"a".repeat(64)));
        assert_eq!(
            qualified_alias("mariadb", "server").as_deref(),
            Some("mariadb-server")
        );
        assert_eq!(qualified_alias(&"a".repeat(40), &"b".repeat(30)), None);
    }
}
