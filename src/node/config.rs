//! `atoll node` configuration: a TOML file whose every field has a documented default,
//! so an empty file (or none) gives a working local node.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
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
    /// HTTP API limits.
    pub api: ApiSection,
    /// Auto-update policy per app ref (`<did>/<app>`): `off`, `notify` (default) or `auto`.
    pub auto_update: BTreeMap<String, AutoUpdate>,
    /// The remote admin channel (iroh ALPN `atoll/admin/1`).
    pub admin: AdminSection,
    /// Scheduled backups of the installed apps and their retention.
    pub backups: BackupsSection,
}

/// Default of `[backups] keep`.
pub const DEFAULT_BACKUP_KEEP: usize = 7;

/// `[backups]`: scheduled backups and how many automatic ones to keep.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupsSection {
    /// Back up every installed app when its newest backup is older than this (`30m`,
    /// `24h`, `7d`). Default none: no scheduled backups (updates and uninstalls still
    /// back up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    /// Automatic backups (scheduled, pre-update) kept per app, newest first; older ones
    /// are deleted after each scheduled backup. Manual, uninstall and pre-restore
    /// backups are kept until deleted. Default 7.
    pub keep: usize,
}

impl Default for BackupsSection {
    fn default() -> Self {
        Self {
            every: None,
            keep: DEFAULT_BACKUP_KEEP,
        }
    }
}

impl BackupsSection {
    /// `every` as a duration (`None`: no schedule, or not valid: see [`NodeConfig::check`]).
    pub fn every_duration(&self) -> Option<std::time::Duration> {
        self.every.as_deref().and_then(|e| parse_interval(e).ok())
    }
}

/// `<n>s`, `<n>m`, `<n>h` or `<n>d`, at least a minute.
pub fn parse_interval(text: &str) -> Result<std::time::Duration> {
    let (n, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = n
        .parse()
        .with_context(|| format!("{text:?} is not a number and a unit (s, m, h, d)"))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => anyhow::bail!("{text:?}: the unit must be s, m, h or d"),
    };
    anyhow::ensure!(secs >= 60, "{text:?} is less than a minute");
    Ok(std::time::Duration::from_secs(secs))
}

/// Who may administer the node from another host, over iroh.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSection {
    /// iroh endpoint ids (64 hex; `atoll node admin-id` prints a CLI's) that may use the
    /// node's whole HTTP API, mutating calls included, over the admin channel. Default
    /// none: the channel refuses everyone.
    pub iroh_keys: Vec<String>,
}

impl AdminSection {
    /// The endpoint ids of `iroh_keys`; an error names the first bad one by its index.
    pub fn endpoint_ids(&self) -> Result<Vec<iroh::EndpointId>> {
        self.iroh_keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                parse_endpoint_id(k).with_context(|| {
                    format!(
                        "admin.iroh_keys[{i}] = {:?} is not an iroh endpoint id \
                         (64 hex characters, as `atoll node admin-id` prints)",
                        k.chars().take(80).collect::<String>()
                    )
                })
            })
            .collect()
    }
}

/// An iroh endpoint id from its 64 hex characters.
pub fn parse_endpoint_id(text: &str) -> Result<iroh::EndpointId> {
    let mut bytes = [0u8; 32];
    anyhow::ensure!(
        text.len() == 64,
        "{} characters, not 64",
        text.chars().count()
    );
    hex::decode_to_slice(text, &mut bytes).context("not hex")?;
    iroh::EndpointId::from_bytes(&bytes).context("not an ed25519 public key")
}

/// Default socket of the embedded relay (loopback only).
pub const DEFAULT_EMBEDDED_BIND: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 7879);

/// Which relays the node uses.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelayConfig {
    /// Run the embedded relay (LMDB, persistent). Default true.
    pub embedded: bool,
    /// Socket of the embedded relay (`0.0.0.0:7879` serves other hosts); port 0 picks a
    /// free one. Default `127.0.0.1:7879`: read it with [`RelayConfig::embedded_bind`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedded_bind: Option<SocketAddr>,
    /// The old form of `embedded_bind`: `127.0.0.1:<port>`. Still accepted; not together
    /// with `embedded_bind`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedded_port: Option<u16>,
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
    /// The direct addresses (`IP:PORT`) written into the entries this node signs and its
    /// mirror announcements: what other hosts reach it at. Default none: the bound socket
    /// (for a `0.0.0.0`/`[::]` bind, the interface addresses the endpoint finds).
    pub advertise: Vec<SocketAddr>,
    /// Self-hosted iroh relay servers (`http://` or `https://`), at most
    /// [`atoll_registry::objects::MAX_RELAY_URLS`]: the node keeps a home relay among
    /// them and names them in its entries, so nodes that cannot dial it directly (NAT)
    /// reach it through a relay and hole punching. Default none.
    pub relays: Vec<String>,
    /// Use n0's relay servers (unless `relays` is set) and DNS/pkarr discovery (for use
    /// across the internet).
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

/// Default of `[api] max_upload_bytes`: 1 GiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 1 << 30;

/// HTTP API limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSection {
    /// Largest release `POST /api/v1/publish` takes (the whole tar stream: entry,
    /// events and blobs), counted while it streams; larger uploads get 413. Default 1 GiB.
    pub max_upload_bytes: u64,
}

impl Default for ApiSection {
    fn default() -> Self {
        Self {
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
        }
    }
}

/// Auto-update policy of one app: the config file's default; the operator's choice made
/// in the API, CLI or UI is kept in the catalog and wins ([`atoll_catalog::UpdatePolicy`]).
pub type AutoUpdate = atoll_catalog::UpdatePolicy;

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            data_dir: None,
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            relays: RelayConfig::default(),
            iroh: IrohSection::default(),
            trust: TrustConfig::default(),
            podman: PodmanSection::default(),
            api: ApiSection::default(),
            auto_update: BTreeMap::new(),
            admin: AdminSection::default(),
            backups: BackupsSection::default(),
        }
    }
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            embedded: true,
            embedded_bind: None,
            embedded_port: None,
            external: Vec::new(),
        }
    }
}

impl RelayConfig {
    /// The embedded relay's socket: `embedded_bind`, else `127.0.0.1:<embedded_port>`,
    /// else [`DEFAULT_EMBEDDED_BIND`].
    pub fn embedded_bind(&self) -> SocketAddr {
        match (self.embedded_bind, self.embedded_port) {
            (Some(bind), _) => bind,
            (None, Some(port)) => SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            (None, None) => DEFAULT_EMBEDDED_BIND,
        }
    }

    /// The URL the node's own clients use for the embedded relay when its port is fixed
    /// (loopback for an unspecified bind, as the relay itself reports it).
    pub fn embedded_url(&self) -> Option<String> {
        let bind = self.embedded_bind();
        (bind.port() != 0).then(|| {
            let ip = match bind.ip() {
                std::net::IpAddr::V4(ip) if ip.is_unspecified() => Ipv4Addr::LOCALHOST.into(),
                std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
                    std::net::Ipv6Addr::LOCALHOST.into()
                }
                ip => ip,
            };
            format!("ws://{}", SocketAddr::new(ip, bind.port()))
        })
    }
}

impl Default for IrohSection {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 7880)),
            advertise: Vec::new(),
            relays: Vec::new(),
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
                bind: self.relays.embedded_bind(),
                ..Default::default()
            });
        d.relays = self.relays.external.clone();
        d.iroh = atoll_discovery::IrohConfig {
            bind: self.iroh.bind,
            advertise: self.iroh.advertise.clone(),
            relays: self.iroh.relays.clone(),
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
            self.api.max_upload_bytes > 0,
            "api.max_upload_bytes must be above 0"
        );
        anyhow::ensure!(
            self.relays.embedded || !self.relays.external.is_empty(),
            "no relays: enable relays.embedded or list relays.external"
        );
        anyhow::ensure!(
            self.relays.embedded_bind.is_none() || self.relays.embedded_port.is_none(),
            "relays.embedded_bind and relays.embedded_port are both set: keep embedded_bind \
             (embedded_port is its old form, 127.0.0.1:PORT)"
        );
        self.admin.endpoint_ids()?;
        if let Some(every) = &self.backups.every {
            parse_interval(every).context("backups.every")?;
        }
        anyhow::ensure!(self.backups.keep >= 1, "backups.keep must be at least 1");
        self.check_iroh()
    }

    /// `[iroh]`: advertised addresses a peer can dial, relay URLs an endpoint can use.
    fn check_iroh(&self) -> Result<()> {
        let iroh = &self.iroh;
        anyhow::ensure!(
            iroh.advertise.len() <= atoll_discovery::MAX_ADDRS,
            "iroh.advertise: at most {} addresses, found {}",
            atoll_discovery::MAX_ADDRS,
            iroh.advertise.len()
        );
        for (i, a) in iroh.advertise.iter().enumerate() {
            anyhow::ensure!(
                !a.ip().is_unspecified() && !a.ip().is_multicast() && a.port() != 0,
                "iroh.advertise[{i}] = \"{a}\" is not an address other hosts can dial \
                 (an unspecified or multicast IP, or port 0): name the IP:PORT they reach \
                 this node at"
            );
        }
        let max = atoll_registry::objects::MAX_RELAY_URLS;
        anyhow::ensure!(
            iroh.relays.len() <= max,
            "iroh.relays: at most {max} relay URLs, found {}",
            iroh.relays.len()
        );
        for (i, r) in iroh.relays.iter().enumerate() {
            if let Err(why) = atoll_discovery::blobs::parse_relay_url(r) {
                anyhow::bail!(
                    "iroh.relays[{i}] = {:?}: {why}",
                    r.chars().take(80).collect::<String>()
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn backup_intervals_parse_and_bad_ones_are_named() {
        assert_eq!(parse_interval("24h").unwrap().as_secs(), 86_400);
        assert_eq!(parse_interval("90s").unwrap().as_secs(), 90);
        for bad in ["", "24", "1w", "30s", "h"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
        let c: NodeConfig = toml::from_str("[backups]\nevery = \"2x\"").unwrap();
        let e = format!("{:#}", c.check().unwrap_err());
        assert!(e.contains("backups.every"), "{e}");
    }

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
        assert_eq!(
            d.embedded_relay.map(|e| e.bind.to_string()).as_deref(),
            Some("127.0.0.1:7879")
        );
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

    #[test]
    fn admin_keys_are_checked_naming_the_index() {
        let good = hex::encode(iroh::SecretKey::generate().public().as_bytes());
        let c: NodeConfig =
            toml::from_str(&format!("[admin]\niroh_keys = [\"{good}\"]\n")).unwrap();
        c.check().unwrap();
        assert_eq!(c.admin.endpoint_ids().unwrap()[0].as_bytes(), &{
            let mut b = [0u8; 32];
            hex::decode_to_slice(&good, &mut b).unwrap();
            b
        });
        for bad in ["abc", &"zz".repeat(32), &format!("{good}00")] {
            let c: NodeConfig =
                toml::from_str(&format!("[admin]\niroh_keys = [\"{good}\", \"{bad}\"]\n")).unwrap();
            let err = format!("{:#}", c.check().unwrap_err());
            assert!(err.contains("admin.iroh_keys[1]"), "{err}");
            assert!(err.contains("admin-id"), "{err}");
        }
    }
}

#[cfg(test)]
mod reach_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parsed(text: &str) -> NodeConfig {
        toml::from_str(text).unwrap()
    }

    fn problem(text: &str) -> String {
        parsed(text).check().unwrap_err().to_string()
    }

    #[test]
    fn embedded_bind_replaces_embedded_port_which_still_reads() {
        let c = parsed("");
        assert_eq!(c.relays.embedded_bind().to_string(), "127.0.0.1:7879");
        assert_eq!(
            c.relays.embedded_url().as_deref(),
            Some("ws://127.0.0.1:7879")
        );
        let c = parsed("[relays]\nembedded_bind = \"0.0.0.0:7979\"\n");
        c.check().unwrap();
        assert_eq!(c.relays.embedded_bind().to_string(), "0.0.0.0:7979");
        // Dialled on loopback by the node itself, as the relay reports it.
        assert_eq!(
            c.relays.embedded_url().as_deref(),
            Some("ws://127.0.0.1:7979")
        );
        let d = c.discovery(Path::new("/d"));
        assert_eq!(d.embedded_relay.unwrap().bind.to_string(), "0.0.0.0:7979");
        let c = parsed("[relays]\nembedded_port = 7001\n");
        c.check().unwrap();
        assert_eq!(c.relays.embedded_bind().to_string(), "127.0.0.1:7001");
        let c = parsed("[relays]\nembedded_port = 0\n");
        assert_eq!(c.relays.embedded_url(), None);
        let err = problem("[relays]\nembedded_port = 7001\nembedded_bind = \"127.0.0.1:7002\"\n");
        assert!(
            err.contains("embedded_bind") && err.contains("embedded_port"),
            "{err}"
        );
        let err = toml::from_str::<NodeConfig>("[relays]\nembedded_bind = \"7879\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("embedded_bind"), "{err}");
    }

    #[test]
    fn advertise_and_relays_reach_the_discovery_config() {
        let c = parsed(
            "[iroh]\nbind = \"0.0.0.0:7880\"\nadvertise = [\"192.0.2.7:7880\", \"[2001:db8::1]:7880\"]\n\
             relays = [\"http://10.0.0.1:3340\", \"https://relay.example.org\"]\n",
        );
        c.check().unwrap();
        let d = c.discovery(Path::new("/d"));
        assert_eq!(d.iroh.bind.to_string(), "0.0.0.0:7880");
        assert_eq!(
            d.iroh
                .advertise
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["192.0.2.7:7880", "[2001:db8::1]:7880"]
        );
        assert_eq!(
            d.iroh.relays,
            ["http://10.0.0.1:3340", "https://relay.example.org"]
        );
        assert!(!d.iroh.internet);
    }

    #[test]
    fn bad_advertise_and_relay_values_name_key_and_index() {
        for (text, key) in [
            (
                "advertise = [\"192.0.2.1:7880\", \"0.0.0.0:7880\"]",
                "iroh.advertise[1]",
            ),
            ("advertise = [\"[::]:7880\"]", "iroh.advertise[0]"),
            ("advertise = [\"192.0.2.1:0\"]", "iroh.advertise[0]"),
            ("relays = [\"ws://10.0.0.1:3340\"]", "iroh.relays[0]"),
            (
                "relays = [\"https://ok.example\", \"http://\"]",
                "iroh.relays[1]",
            ),
            ("relays = [\"http://a b\"]", "iroh.relays[0]"),
            (
                "relays = [\"http://a\", \"http://b\", \"http://c\", \"http://d\", \
                 \"http://e\", \"http://f\", \"http://g\", \"http://h\", \"http://i\"]",
                "iroh.relays:",
            ),
        ] {
            let err = problem(&format!("[iroh]\n{text}\n"));
            assert!(err.contains(key), "{text}: {err}");
        }
        // Not an IP:PORT at all: the schema names the key.
        let err = toml::from_str::<NodeConfig>("[iroh]\nadvertise = [\"host.example:7880\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("advertise"), "{err}");
    }
}
