//! From a manifest container to a libpod SpecGenerator, plus the config hash that detects
//! drift. Everything that shapes a container goes through [`build`], so the hash covers it.
//!
//! Choices (rootless, PODMAN-NOTES.md): ports on 127.0.0.1 only; an app-private bridge
//! network where each container is reachable by its manifest name and by
//! `<app id>-<container>` (the name a dependent app uses: a dependent's containers also
//! join the network of each app it depends on, [`AppRecord::links`]); all capabilities dropped
//! except the manifest's (allowlisted by policy); no new privileges; restart policy `no`
//! (the orchestrator owns restarts, so a reboot never resurrects a user-stopped app);
//! health checks run by the orchestrator (a command check is also stored in the container so
//! `/healthcheck` can run it); bounded `k8s-file` logs; rendered config files mounted
//! read-only, their content in the mount source name (so in the hash).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use atoll_registry::manifest::{Container, Health, Protocol};
use serde::Serialize;

use crate::labels;
use crate::secrets::SecretString;
use crate::store::AppRecord;

/// Bumped when the way specs are built changes, so existing containers are recreated.
const SPEC_VERSION: &str = "atoll-spec-1";
/// Default stop grace when the manifest names none.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);
/// Largest container log kept by podman (k8s-file rotates it).
const LOG_SIZE: u64 = 16 * 1024 * 1024;

/// An environment value: plain, or a secret (redacted in `Debug`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum EnvValue {
    /// From the manifest.
    Plain(String),
    /// A generated secret.
    Secret(SecretString),
}

impl EnvValue {
    /// The value.
    pub fn expose(&self) -> &str {
        match self {
            Self::Plain(s) => s,
            Self::Secret(s) => s.expose(),
        }
    }
}

/// One published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortMapping {
    /// Always `127.0.0.1`.
    pub host_ip: String,
    /// Host port.
    pub host_port: u16,
    /// Container port.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// One bind mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// Path in the container.
    pub destination: String,
    /// Always `bind`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Host dir.
    pub source: String,
    /// `rbind` plus `rw` or `ro`.
    pub options: Vec<String>,
}

/// The libpod SpecGenerator fields atoll sets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerSpec {
    /// podman name.
    pub name: String,
    /// Image id.
    pub image: String,
    /// Command override.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Entrypoint override.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Environment (manifest env and secrets).
    pub env: BTreeMap<String, EnvValue>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Seconds between SIGTERM and SIGKILL.
    pub stop_timeout: u64,
    /// Run an init as PID 1.
    pub init: bool,
    /// Read-only root filesystem.
    pub read_only_filesystem: bool,
    /// `uid[:gid]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Hostname (the manifest container name).
    pub hostname: String,
    /// Published ports.
    pub portmappings: Vec<PortMapping>,
    /// Bind mounts.
    pub mounts: Vec<Mount>,
    /// Network namespace mode.
    pub netns: serde_json::Value,
    /// Networks with aliases.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, serde_json::Value>,
    /// Capabilities dropped.
    pub cap_drop: Vec<String>,
    /// Capabilities added.
    pub cap_add: Vec<String>,
    /// No new privileges.
    pub no_new_privileges: bool,
    /// Always `no`: the orchestrator owns restarts.
    pub restart_policy: String,
    /// Memory and CPU limits (ignored with a warning on cgroups v1 rootless).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_limits: Option<serde_json::Value>,
    /// A command health check, so `/healthcheck` can run it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthconfig: Option<serde_json::Value>,
    /// Log driver options.
    pub log_configuration: serde_json::Value,
}

/// One container as it should be.
#[derive(Debug, Clone)]
pub struct Desired {
    /// Manifest name.
    pub container: String,
    /// The spec (its labels include the config hash).
    pub spec: ContainerSpec,
    /// The config hash.
    pub config_hash: String,
    /// Stop grace.
    pub grace: Duration,
    /// Health check.
    pub health: Option<Health>,
    /// Containers that must be ready first.
    pub depends_on: Vec<String>,
    /// Published TCP ports: container port -> host port.
    pub published_tcp: BTreeMap<u16, u16>,
}

/// Inputs of [`build`] that are not in the manifest.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// This node.
    pub node: &'a str,
    /// The app's data dir.
    pub app_dir: &'a Path,
    /// Secret values by secret name.
    pub secrets: &'a BTreeMap<String, SecretString>,
    /// Rendered config files by container name ([`crate::files::render`]).
    pub files: &'a BTreeMap<String, Vec<crate::files::Rendered>>,
}

/// The stop grace of a container.
pub fn grace(c: &Container) -> Duration {
    c.stop_grace.map(|d| d.as_std()).unwrap_or(DEFAULT_GRACE)
}

/// Build the desired container for `c` of `record`. `None` if the record has no image id
/// for it (images not loaded yet).
pub fn build(record: &AppRecord, c: &Container, inputs: &Inputs<'_>) -> Option<Desired> {
    let app = record.name.as_str();
    let image = record.images.get(&c.name)?.clone();
    let release = &record.release;
    let grace = grace(c);
    let stop_timeout = grace.as_millis().div_ceil(1000) as u64;

    let mut env: BTreeMap<String, EnvValue> = c
        .env
        .iter()
        .map(|(k, v)| (k.clone(), EnvValue::Plain(v.clone())))
        .collect();
    for s in &c.secrets {
        if let (Some(var), Some(v)) = (&s.env, inputs.secrets.get(&s.name)) {
            env.insert(var.clone(), EnvValue::Secret(v.clone()));
        }
    }

    let mut labels = BTreeMap::new();
    labels.insert(labels::MANAGED.to_owned(), "true".to_owned());
    labels.insert(labels::NODE.to_owned(), inputs.node.to_owned());
    labels.insert(labels::APP.to_owned(), app.to_owned());
    labels.insert(labels::CONTAINER.to_owned(), c.name.clone());
    labels.insert(labels::MANIFEST.to_owned(), release.manifest_hash.to_hex());
    labels.insert(labels::VERSION.to_owned(), release.version().to_string());
    labels.insert(labels::STOP_GRACE.to_owned(), stop_timeout.to_string());

    let mut published_tcp = BTreeMap::new();
    let portmappings = c
        .ports
        .iter()
        .map(|p| {
            let host = record.host_port(p.host);
            if p.protocol == Protocol::Tcp {
                published_tcp.insert(p.container, host);
            }
            PortMapping {
                host_ip: "127.0.0.1".to_owned(),
                host_port: host,
                container_port: p.container,
                protocol: match p.protocol {
                    Protocol::Tcp => "tcp".to_owned(),
                    Protocol::Udp => "udp".to_owned(),
                },
            }
        })
        .collect();

    let files = inputs.files.get(&c.name).map(Vec::as_slice).unwrap_or(&[]);
    let file_mounts = files.iter().map(|f| Mount {
        destination: f.destination.clone(),
        kind: "bind".to_owned(),
        source: f.source.display().to_string(),
        options: vec!["rbind".to_owned(), "ro".to_owned()],
    });
    let mounts = c
        .volumes
        .iter()
        .map(|v| Mount {
            destination: v.path.clone(),
            kind: "bind".to_owned(),
            source: crate::volumes::path(inputs.app_dir, &v.name)
                .display()
                .to_string(),
            options: vec![
                "rbind".to_owned(),
                if v.read_only { "ro" } else { "rw" }.to_owned(),
            ],
        })
        .chain(file_mounts)
        .collect();

    let isolated = c.network.as_deref() == Some("none");
    let (netns, networks) = if isolated {
        (serde_json::json!({ "nsmode": "none" }), BTreeMap::new())
    } else {
        let qualified = labels::qualified_alias(&release.manifest.id, &c.name);
        let mut own = vec![c.name.clone()];
        own.extend(qualified.clone());
        let mut n = BTreeMap::new();
        n.insert(
            labels::network_name(app),
            serde_json::json!({ "aliases": own }),
        );
        // A dependent also joins each dependency's network, answering there only by its
        // qualified name (its short names stay its own app's).
        for link in &record.links {
            n.insert(
                labels::network_name(link),
                serde_json::json!({ "aliases": qualified.iter().collect::<Vec<_>>() }),
            );
        }
        (serde_json::json!({ "nsmode": "bridge" }), n)
    };

    let resource_limits = match (c.memory, c.cpus) {
        (None, None) => None,
        (memory, cpus) => {
            let mut r = serde_json::Map::new();
            if let Some(m) = memory {
                r.insert("memory".into(), serde_json::json!({ "limit": m.0 }));
            }
            if let Some(cpu) = cpus {
                r.insert(
                    "cpu".into(),
                    serde_json::json!({ "quota": u64::from(cpu.0) * 100, "period": 100_000 }),
                );
            }
            Some(serde_json::Value::Object(r))
        }
    };

    let healthconfig = c.health.as_ref().and_then(|h| {
        let cmd = h.command.as_ref()?;
        let mut test = vec!["CMD".to_owned()];
        test.extend(cmd.iter().cloned());
        Some(serde_json::json!({
            "Test": test,
            "Interval": h.interval.0 * 1_000_000,
            "Timeout": h.timeout.0 * 1_000_000,
            "Retries": h.retries,
            "StartPeriod": h.start_period.0 * 1_000_000,
        }))
    });

    let mut spec = ContainerSpec {
        name: labels::container_name(app, &c.name),
        image,
        command: c.command.clone(),
        entrypoint: c.entrypoint.clone(),
        env,
        labels,
        stop_timeout,
        init: c.init,
        read_only_filesystem: c.read_only,
        user: c.user.clone(),
        hostname: c.name.clone(),
        portmappings,
        mounts,
        netns,
        networks,
        cap_drop: vec!["ALL".to_owned()],
        cap_add: c.capabilities.iter().map(|s| s.to_uppercase()).collect(),
        no_new_privileges: true,
        restart_policy: "no".to_owned(),
        resource_limits,
        healthconfig,
        log_configuration: serde_json::json!({ "driver": "k8s-file", "size": LOG_SIZE }),
    };
    let config_hash = hash(&spec);
    spec.labels
        .insert(labels::CONFIG_HASH.to_owned(), config_hash.clone());
    Some(Desired {
        container: c.name.clone(),
        spec,
        config_hash,
        grace,
        health: c.health.clone(),
        depends_on: c.depends_on.clone(),
        published_tcp,
    })
}

/// BLAKE3 over the spec's JSON (maps are ordered, so it is stable). Secret values go into
/// the hash input, never into the output (a hash of 32+ random characters reveals nothing).
fn hash(spec: &ContainerSpec) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(SPEC_VERSION.as_bytes());
    hasher.update(&serde_json::to_vec(spec).unwrap_or_default());
    hasher.finalize().to_hex()[..32].to_owned()
}

#[cfg(test)]
mod tests;
