//! The app manifest as authored in `apps/<id>/manifest.yml`. Unknown fields are rejected
//! everywhere. Fields that rootless policy forbids (`privileged`, host namespaces, bind
//! mounts) exist so that [`super::policy`] can reject them with a clear reason instead of a
//! bare "unknown field".

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::quantity::{ByteSize, Cpus, Duration};
use crate::did::Did;

/// `manifest.yml`: one app, one or more containers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// App id, a DNS label, unique within the publisher's namespace.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Semver version.
    pub version: semver::Version,
    /// What the app does.
    pub description: String,
    /// Path of the icon (SVG or PNG) relative to the app dir; travels as a blob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// Screenshots of the app (PNG, JPEG or WebP files relative to the app dir, each
    /// with an optional caption); travel as blobs like the icon.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub screenshots: Vec<Screenshot>,
    /// Categories for browsing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Named links (homepage, source, docs) to https URLs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub links: BTreeMap<String, String>,
    /// SPDX license expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// What changed in this version, shown before an update to it (plain text, at most
    /// 8192 characters; newlines and tabs allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_notes: Option<String>,
    /// The containers of the app.
    pub containers: Vec<Container>,
    /// Other apps this one needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Dependency>,
    /// Values the operator chooses at install time, used by file templates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<Setting>,
}

/// One screenshot: a PNG, JPEG or WebP file and what it shows (the page's alt text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Screenshot {
    /// Path of the image relative to the app dir (`.png`, `.jpg`, `.jpeg` or `.webp`).
    pub path: String,
    /// What it shows, for people who cannot see it (at most 200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
}

/// An install-time setting (`{{ settings.NAME }}` in file templates). Without a default
/// the operator must give a value at install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setting {
    /// Setting name, a DNS label.
    pub name: String,
    /// What it is, for the install dialog (at most 256 characters).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The value when the operator gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

impl Setting {
    /// Must the operator give a value (no default)?
    pub fn required(&self) -> bool {
        self.default.is_none()
    }
}

/// A config file rendered from its template at container create and mounted read-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateFile {
    /// Absolute path inside the container (not under a volume).
    pub path: String,
    /// Octal permission bits (`"0440"`); default `"0400"`. The owner is the container user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// The text, with `{{ secrets.NAME }}`, `{{ settings.NAME }}`, `{{ app.id }}`,
    /// `{{ app.version }}` and `{{ app.name }}` placeholders.
    pub template: String,
}

/// Mode of a file without `mode`.
pub const DEFAULT_FILE_MODE: u32 = 0o400;

impl TemplateFile {
    /// The permission bits (`None`: `mode` is not 3 or 4 octal digits within 0777).
    pub fn mode_bits(&self) -> Option<u32> {
        let Some(m) = &self.mode else {
            return Some(DEFAULT_FILE_MODE);
        };
        let digits = m.strip_prefix('0').filter(|d| d.len() == 3).unwrap_or(m);
        if digits.len() != 3 || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return None;
        }
        u32::from_str_radix(digits, 8).ok()
    }
}

/// One container of an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Container {
    /// Container name, a DNS label; also its network alias on the app-private network.
    pub name: String,
    /// Where the image comes from.
    pub image: ImageSource,
    /// Overrides the image's command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Overrides the image's entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Secrets generated once per install, given as environment variables and/or used by
    /// file templates. Secrets are app-wide: one name is one value in every container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<Secret>,
    /// Config files rendered from templates and mounted read-only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<TemplateFile>,
    /// Published ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    /// Named volumes (kept across updates and restarts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Health check, run by the orchestrator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// Time between SIGTERM and SIGKILL on stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace: Option<Duration>,
    /// How to make a consistent backup while the app runs (a dump command run with
    /// `podman exec`); without it on any container a backup stops the app for the snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupHook>,
    /// Run a tiny init as PID 1 (forwards signals, reaps zombies).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub init: bool,
    /// Extra capabilities (allowlisted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// Mount the root filesystem read-only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// `uid[:gid]` inside the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Memory limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSize>,
    /// CPU limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Cpus>,
    /// Containers of this app that must be started (and healthy) first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Forbidden by policy; present only to be rejected clearly.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    /// `app` (the default, app-private network) or `none`; `host` is forbidden by policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Forbidden when `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    /// Forbidden when `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipc: Option<String>,
}

/// An image: a registry reference pinned by digest, or a local archive that travels as a
/// blob. Exactly one of the two is set (checked by policy).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSource {
    /// `registry/name@sha256:<64 hex>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// An OCI or docker archive, path relative to the app dir.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<String>,
}

impl ImageSource {
    /// A local archive.
    pub fn archive(path: &str) -> Self {
        Self {
            reference: None,
            archive: Some(path.to_owned()),
        }
    }
}

/// A container's backup hook: `command` runs inside the running container (`podman exec`)
/// before the node snapshots the volumes, e.g. a database dump into a volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupHook {
    /// The command (argv, no shell unless it names one).
    pub command: Vec<String>,
    /// How long it may run (default 5m, at most 1h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

impl BackupHook {
    /// The timeout, or the default of 5 minutes.
    pub fn timeout(&self) -> std::time::Duration {
        self.timeout
            .map_or(std::time::Duration::from_secs(300), |t| t.as_std())
    }
}

/// A generated secret, made once per install (mode 0600) and reused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    /// Secret name, a DNS label.
    pub name: String,
    /// Environment variable that receives it (none: the secret is used in files only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Length in characters (alphanumeric).
    #[serde(default = "default_secret_length")]
    pub length: u32,
    /// An operator credential: shown once, after the install that generated it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub show: bool,
}

fn default_secret_length() -> u32 {
    32
}

/// Transport protocol of a port.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

/// A port published on 127.0.0.1 of the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    /// Port inside the container.
    pub container: u16,
    /// Port on the host (>= 1024).
    pub host: u16,
    /// tcp (default) or udp.
    #[serde(default)]
    pub protocol: Protocol,
    /// This port serves the app's web UI.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub web: bool,
}

/// A named volume mounted at `path`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// Volume name, a DNS label; stored under the app's data dir.
    pub name: String,
    /// Mount point inside the container (absolute).
    pub path: String,
    /// Mount read-only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// A host path: forbidden by policy; present only to be rejected clearly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
}

/// How the orchestrator checks that a container is healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// HTTP GET that must answer 2xx/3xx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheck>,
    /// TCP connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpCheck>,
    /// Command run inside the container; exit 0 is healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Time between checks.
    #[serde(default = "default_interval")]
    pub interval: Duration,
    /// Time one check may take.
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    /// Consecutive failures before unhealthy.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Failures during this time after start do not count.
    #[serde(default = "default_start_period")]
    pub start_period: Duration,
}

fn default_interval() -> Duration {
    Duration(10_000)
}
fn default_timeout() -> Duration {
    Duration(3_000)
}
fn default_retries() -> u32 {
    3
}
fn default_start_period() -> Duration {
    Duration(0)
}

/// HTTP health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    /// Container port.
    pub port: u16,
    /// Request path.
    #[serde(default = "default_path")]
    pub path: String,
}

fn default_path() -> String {
    "/".to_owned()
}

/// TCP health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpCheck {
    /// Container port.
    pub port: u16,
}

/// Another app this app needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    /// Its publisher. May be omitted in an authored manifest, meaning the manifest's own
    /// publisher: signing fills in the signer's DID ([`Manifest::name_dependency_publishers`]),
    /// so a signed manifest always names one (a blob without it is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<Did>,
    /// Its app id.
    pub app: String,
    /// Acceptable versions (semver requirement, e.g. `>=1.2, <2`).
    pub version: semver::VersionReq,
}

impl Dependency {
    /// Its publisher, `own` (the publisher of the manifest naming it) when omitted.
    pub fn publisher_or(&self, own: &Did) -> Did {
        self.publisher.unwrap_or(*own)
    }
}

impl Manifest {
    /// Fill in `signer` as the publisher of every dependency that omits one (an omitted
    /// publisher means the manifest's own). Signing calls it, so the signed form always
    /// names each dependency's publisher.
    pub fn name_dependency_publishers(&mut self, signer: &Did) {
        for d in &mut self.dependencies {
            d.publisher.get_or_insert(*signer);
        }
    }

    /// Every local file the manifest names (icon, image archives), with its kind.
    pub fn local_files(&self) -> Vec<(String, crate::objects::ArtifactKind)> {
        let mut out = Vec::new();
        if let Some(icon) = &self.icon {
            out.push((icon.clone(), crate::objects::ArtifactKind::Icon));
        }
        for s in &self.screenshots {
            if !out.iter().any(|(p, _)| p == &s.path) {
                out.push((s.path.clone(), crate::objects::ArtifactKind::Screenshot));
            }
        }
        for c in &self.containers {
            if let Some(path) = &c.image.archive {
                if !out.iter().any(|(p, _)| p == path) {
                    out.push((path.clone(), crate::objects::ArtifactKind::Image));
                }
            }
        }
        out
    }

    /// Every secret of the app once, by name (the first declaration of each), with whether
    /// any container marks it `show`.
    pub fn app_secrets(&self) -> Vec<(&Secret, bool)> {
        let mut out: Vec<(&Secret, bool)> = Vec::new();
        for s in self.containers.iter().flat_map(|c| c.secrets.iter()) {
            match out.iter_mut().find(|(o, _)| o.name == s.name) {
                Some((_, show)) => *show |= s.show,
                None => out.push((s, s.show)),
            }
        }
        out
    }

    /// The container whose port is the web UI, with that port.
    pub fn web_port(&self) -> Option<(&Container, &Port)> {
        self.containers
            .iter()
            .find_map(|c| c.ports.iter().find(|p| p.web).map(|p| (c, p)))
    }
}
