//! The parts of libpod's JSON answers that atoll reads. Unknown fields are ignored; fields
//! podman sends as `null` decode to their default.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One entry of `GET /containers/json`.
#[derive(Debug, Clone, Deserialize)]
pub struct ListedContainer {
    /// Full container id.
    #[serde(rename = "Id")]
    pub id: String,
    /// Names (one).
    #[serde(rename = "Names", default, deserialize_with = "null_default")]
    pub names: Vec<String>,
    /// `created`, `running`, `exited`, `stopping`, `paused`, `configured`, … (the list's
    /// `Status` carries the health instead, see PODMAN-NOTES.md).
    #[serde(rename = "State", default)]
    pub state: String,
    /// Labels (ours and the image's).
    #[serde(rename = "Labels", default, deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
    /// PID of the container's process on the host (0 when not running).
    #[serde(rename = "Pid", default)]
    pub pid: i64,
    /// Image id.
    #[serde(rename = "ImageID", default)]
    pub image_id: String,
    /// Exit code of the last run.
    #[serde(rename = "ExitCode", default)]
    pub exit_code: i32,
    /// Unix time of the last start.
    #[serde(rename = "StartedAt", default)]
    pub started_at: i64,
}

impl ListedContainer {
    /// The container's name.
    pub fn name(&self) -> &str {
        self.names.first().map(String::as_str).unwrap_or("")
    }

    /// A label's value.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

/// `GET /containers/{id}/json`.
#[derive(Debug, Clone, Deserialize)]
pub struct ContainerInspect {
    /// Full id.
    #[serde(rename = "Id")]
    pub id: String,
    /// Name.
    #[serde(rename = "Name", default)]
    pub name: String,
    /// Image id.
    #[serde(rename = "Image", default)]
    pub image: String,
    /// Runtime state.
    #[serde(rename = "State")]
    pub state: InspectState,
    /// Configuration.
    #[serde(rename = "Config")]
    pub config: InspectConfig,
    /// Host configuration.
    #[serde(rename = "HostConfig", default)]
    pub host_config: InspectHostConfig,
    /// Mounts.
    #[serde(rename = "Mounts", default, deserialize_with = "null_default")]
    pub mounts: Vec<InspectMount>,
}

/// `State` of an inspected container.
#[derive(Debug, Clone, Deserialize)]
pub struct InspectState {
    /// `running`, `exited`, …
    #[serde(rename = "Status", default)]
    pub status: String,
    /// Container process PID on the host (0 when not running).
    #[serde(rename = "Pid", default)]
    pub pid: i64,
    /// conmon's PID on the host.
    #[serde(rename = "ConmonPid", default)]
    pub conmon_pid: i64,
    /// Exit code of the last run.
    #[serde(rename = "ExitCode", default)]
    pub exit_code: i32,
    /// RFC 3339 start time.
    #[serde(rename = "StartedAt", default)]
    pub started_at: String,
    /// Runtime error, if any.
    #[serde(rename = "Error", default)]
    pub error: String,
}

/// `Config` of an inspected container.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct InspectConfig {
    /// `KEY=value` strings (ours, the image's and podman's own).
    #[serde(rename = "Env", default, deserialize_with = "null_default")]
    pub env: Vec<String>,
    /// Labels.
    #[serde(rename = "Labels", default, deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
    /// Command.
    #[serde(rename = "Cmd", default, deserialize_with = "null_default")]
    pub cmd: Vec<String>,
    /// Stop timeout in seconds.
    #[serde(rename = "StopTimeout", default)]
    pub stop_timeout: u64,
}

/// `HostConfig` of an inspected container.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct InspectHostConfig {
    /// `"8080/tcp" -> [{HostIp, HostPort}]`.
    #[serde(rename = "PortBindings", default, deserialize_with = "null_default")]
    pub port_bindings: BTreeMap<String, Option<Vec<PortBinding>>>,
}

/// One host binding of a port.
#[derive(Debug, Clone, Deserialize)]
pub struct PortBinding {
    /// Host address.
    #[serde(rename = "HostIp", default)]
    pub host_ip: String,
    /// Host port (a string).
    #[serde(rename = "HostPort", default)]
    pub host_port: String,
}

/// One mount of an inspected container.
#[derive(Debug, Clone, Deserialize)]
pub struct InspectMount {
    /// `bind`, `volume`, `tmpfs`.
    #[serde(rename = "Type", default)]
    pub kind: String,
    /// Host path.
    #[serde(rename = "Source", default)]
    pub source: String,
    /// Path in the container.
    #[serde(rename = "Destination", default)]
    pub destination: String,
    /// Writable?
    #[serde(rename = "RW", default)]
    pub rw: bool,
}

/// `GET /images/{id}/json`.
#[derive(Debug, Clone, Deserialize)]
pub struct ImageInspect {
    /// Image id.
    #[serde(rename = "Id")]
    pub id: String,
    /// Config.
    #[serde(rename = "Config", default)]
    pub config: ImageConfig,
}

/// `Config` of an image.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImageConfig {
    /// Default environment.
    #[serde(rename = "Env", default, deserialize_with = "null_default")]
    pub env: Vec<String>,
}

/// `POST /containers/create` answer.
#[derive(Debug, Clone, Deserialize)]
pub struct Created {
    /// New container id.
    #[serde(rename = "Id")]
    pub id: String,
    /// Warnings (e.g. resource limits ignored on cgroups v1 rootless).
    #[serde(rename = "Warnings", default, deserialize_with = "null_default")]
    pub warnings: Vec<String>,
}

/// `GET /containers/{id}/healthcheck` answer.
#[derive(Debug, Clone, Deserialize)]
pub struct HealthRun {
    /// `healthy`, `unhealthy`, `starting`.
    #[serde(rename = "Status", default)]
    pub status: String,
    /// The runs, newest last.
    #[serde(rename = "Log", default, deserialize_with = "null_default")]
    pub log: Vec<HealthLog>,
}

/// One health check run.
#[derive(Debug, Clone, Deserialize)]
pub struct HealthLog {
    /// Exit code of the command.
    #[serde(rename = "ExitCode", default)]
    pub exit_code: i32,
    /// Its output.
    #[serde(rename = "Output", default)]
    pub output: String,
}

/// One network of `GET /networks/json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Network {
    /// Name.
    pub name: String,
    /// Labels.
    #[serde(default, deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
}

/// One line of the events stream.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    /// `container`, `image`, `network`, …
    #[serde(rename = "Type", default)]
    pub kind: String,
    /// `create`, `start`, `died`, `health_status`, `remove`, …
    #[serde(rename = "Action", default)]
    pub action: String,
    /// The object.
    #[serde(rename = "Actor", default)]
    pub actor: EventActor,
}

/// The object of an event.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventActor {
    /// Its id.
    #[serde(rename = "ID", default)]
    pub id: String,
    /// Its labels and a few attributes (`name`, `containerExitCode`, …).
    #[serde(rename = "Attributes", default, deserialize_with = "null_default")]
    pub attributes: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn list_entries_decode_with_nulls() {
        let json = r#"[{"Id":"abc","Names":["n"],"State":"running","Labels":null,"Pid":42,
            "ImageID":"img","ExitCode":0,"StartedAt":1,"Status":"healthy","Ports":null}]"#;
        let list: Vec<ListedContainer> = serde_json::from_str(json).unwrap();
        assert_eq!(list[0].name(), "n");
        assert_eq!(list[0].pid, 42);
        assert!(list[0].labels.is_empty());
    }

    #[test]
    fn events_decode() {
        let json = r#"{"status":"died","id":"c3","Type":"container","Action":"died",
            "Actor":{"ID":"c3","Attributes":{"containerExitCode":"143","io.atoll.app":"a"}},
            "time":1}"#;
        let e: Event = serde_json::from_str(json).unwrap();
        assert_eq!(e.action, "died");
        assert_eq!(e.actor.attributes["io.atoll.app"], "a");
    }
}
