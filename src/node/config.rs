//! `atoll node` configuration: a TOML file whose every field has a documented default,
//! so an empty file (or none) gives a working local node.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Default HTTP port (on 127.0.0.1: loopback only).
pub const DEFAULT_PORT: u16 = 7878;

/// The config file `atoll node` and the CLI read from the home when no `--config` is given.
pub const HOME_CONFIG: &str = "atoll.toml";

/// A configuration and where it came from.
#[derive(Debug, Clone)]
pub struct Found {
    /// The configuration.
    pub config: NodeConfig,
    /// The file it was read from; `None`: the defaults (no file).
    pub file: Option<PathBuf>,
    /// The data directory: `data_dir` of the config, else the home.
    pub data_dir: PathBuf,
}

/// The node's configuration (see `docs/atoll.example.toml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// Data directory (catalog, blobs, keys, relay database, app data).
    /// Default: `--home`, else `$ATOLL_HOME`, else `~/.local/share/atoll`.
    pub data_dir: Option<PathBuf>,
    /// HTTP API + web UI address. Default `127.0.0.1:7878`.
    pub listen: SocketAddr,
    /// Nostr relays.
    pub relays: RelayConfig,
    /// iroh endpoint.
    pub iroh: IrohSection,
    /// Trust policy.
    pub trust: TrustConfig,
    /// Rootless podman.
    pub podman: PodmanSection,
    /// Auto-update policy per app ref (`<did>/<app>`): `off`, `notify` (default) or `auto`.
    pub auto_update: BTreeMap<String, AutoUpdate>,
}

/// Which relays the node uses.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelayConfig {
    /// Run the embedded relay (LMDB, persistent) on 127.0.0.1. Default true.
    pub embedded: bool,
    /// Port of the embedded relay; 0 picks a free one. Default 7879.
    pub embedded_port: u16,
    /// External relays (`ws://` or `wss://`), used as well as or instead of the embedded one.
    pub external: Vec<String>,
}

/// iroh endpoint settings. Offline by default: no relay servers, no DNS/pkarr discovery.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IrohSection {
    /// Address to bind. Default `127.0.0.1:7880`: a fixed port, so the addresses this
    /// node's entries name stay valid across restarts.
    pub bind: SocketAddr,
    /// Use n0's relay servers and DNS/pkarr discovery (for use across the internet).
    pub internet: bool,
    /// Serve blobs this node fetched and announce that it holds them. Default true.
    pub mirror: bool,
    /// Fetch every entry's image archives while syncing, not only when an app is
    /// installed: a mirror that serves whole apps while their publisher is offline.
    /// Default false.
    pub prefetch_images: bool,
}

/// Trust policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrustConfig {
    /// Install needs a publisher score at least this (or an explicit operator override).
    pub install_threshold: f64,
}

/// How the node reaches rootless podman.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PodmanSection {
    /// When the node runs as root: the non-root user whose podman runs the apps
    /// (default `$ATOLL_PODMAN_USER`, else `atoll`). Ignored when not root.
    pub user: Option<String>,
}

/// Auto-update policy of one app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AutoUpdate {
    /// Never update by itself, never say.
    Off,
    /// Show that an update is available.
    Notify,
    /// Update by itself (rolled back if the new version fails its health checks).
    Auto,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            data_dir: None,
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            relays: RelayConfig::default(),
            iroh: IrohSection::default(),
            trust: TrustConfig::default(),
            podman: PodmanSection::default(),
            auto_update: BTreeMap::new(),
        }
    }
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            embedded: true,
            embedded_port: 7879,
            external: Vec::new(),
        }
    }
}

impl Default for IrohSection {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 7880)),
            internet: false,
            mirror: true,
            prefetch_images: false,
        }
    }
}

impl Default for TrustConfig {
    fn default() -> Self {
        Self {
            install_threshold: 0.5,
        }
    }
}

impl NodeConfig {
    /// The node's configuration as both `atoll node` and the CLI (`sync status`,
    /// `app publish`) find it: `--config FILE` if given, else `<home>/atoll.toml` if it
    /// exists, else the defaults.
    pub fn find(home: &Path, flag: Option<&Path>) -> Result<Found> {
        let in_home = home.join(HOME_CONFIG);
        let file = match flag {
            Some(f) => Some(f.to_owned()),
            None if in_home.is_file() => Some(in_home),
            None => None,
        };
        let config = match &file {
            Some(f) => Self::load(f)?,
            None => Self::default(),
        };
        let data_dir = config.data_dir.clone().unwrap_or_else(|| home.to_owned());
        Ok(Found {
            config,
            file,
            data_dir,
        })
    }

    /// The swarm settings of this configuration for a node on `data_dir`.
    pub fn discovery(&self, data_dir: &Path) -> atoll_discovery::DiscoveryConfig {
        let mut d = atoll_discovery::DiscoveryConfig::new(data_dir);
        d.embedded_relay = self
            .relays
            .embedded
            .then(|| atoll_discovery::EmbeddedRelayConfig {
                port: self.relays.embedded_port,
                ..Default::default()
            });
        d.relays = self.relays.external.clone();
        d.iroh = atoll_discovery::IrohConfig {
            bind: self.iroh.bind,
            internet: self.iroh.internet,
        };
        d.mirror = self.iroh.mirror;
        d.prefetch_images = self.iroh.prefetch_images;
        d
    }

    /// Load a TOML file; errors name the file and the offending key.
    pub fn load(path: &Path) -> Result<Self> {
        // A config is a few KiB: refuse links, FIFOs and anything over 1 MiB unread.
        let text = atoll_registry::fsread::open_regular(path, 1 << 20)
            .and_then(|f| f.read_string())
            .with_context(|| format!("reading config {}", path.display()))?;
        let cfg: NodeConfig = toml::from_str(&text)
            .with_context(|| format!("config {} is invalid", path.display()))?;
        cfg.check()
            .with_context(|| format!("config {} is invalid", path.display()))?;
        Ok(cfg)
    }

    /// Semantic checks beyond the schema.
    pub fn check(&self) -> Result<()> {
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.trust.install_threshold),
            "trust.install_threshold must be in [0, 1], got {}",
            self.trust.install_threshold
        );
        for (i, r) in self.relays.external.iter().enumerate() {
            anyhow::ensure!(
                r.starts_with("ws://") || r.starts_with("wss://"),
                "relays.external[{i}] = {r:?} is not a ws:// or wss:// URL"
            );
        }
        anyhow::ensure!(
            self.relays.embedded || !self.relays.external.is_empty(),
            "no relays: enable relays.embedded or list relays.external"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn empty_file_gives_documented_defaults() {
        let c: NodeConfig = toml::from_str("").unwrap();
        assert_eq!(c.listen.to_string(), format!("127.0.0.1:{DEFAULT_PORT}"));
        assert!(c.relays.embedded);
        assert!(!c.iroh.internet);
        c.check().unwrap();
    }

    #[test]
    fn the_example_config_parses() {
        let text = include_str!("../../docs/atoll.example.toml");
        let c: NodeConfig = toml::from_str(text).unwrap();
        c.check().unwrap();
    }

    #[test]
    fn found_in_the_home_unless_a_file_is_given() {
        let home = tempfile::tempdir().unwrap();
        let f = NodeConfig::find(home.path(), None).unwrap();
        assert!(f.file.is_none());
        assert_eq!(f.data_dir, home.path());
        std::fs::write(
            home.path().join(HOME_CONFIG),
            "[relays]\nexternal = [\"ws://127.0.0.1:9\"]\n",
        )
        .unwrap();
        let f = NodeConfig::find(home.path(), None).unwrap();
        assert_eq!(f.config.relays.external, ["ws://127.0.0.1:9"]);
        let other = home.path().join("other.toml");
        std::fs::write(&other, "data_dir = \"/elsewhere\"\n").unwrap();
        let f = NodeConfig::find(home.path(), Some(&other)).unwrap();
        assert!(f.config.relays.external.is_empty());
        assert_eq!(f.data_dir, Path::new("/elsewhere"));
        let d = f.config.discovery(&f.data_dir);
        assert_eq!(d.embedded_relay.map(|e| e.port), Some(7879));
    }

    #[test]
    fn bad_config_names_the_key() {
        let err = toml::from_str::<NodeConfig>("[relays]\nembeded = true\n").unwrap_err();
        assert!(err.to_string().contains("embeded"), "{err}");
        let c: NodeConfig = toml::from_str("[trust]\ninstall_threshold = 2.0\n").unwrap();
        assert!(c
            .check()
            .unwrap_err()
            .to_string()
            .contains("install_threshold"));
        let c: NodeConfig = toml::from_str("[relays]\nexternal = [\"http://x\"]\n").unwrap();
        assert!(c
            .check()
            .unwrap_err()
            .to_string()
            .contains("relays.external[0]"));
    }
}
