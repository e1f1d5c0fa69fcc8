//! The parts of libpod's JSON answers that atoll reads. Unknown fields are ignored; fields
//! podman sends as `null` decode to their default.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A container's state as podman reports it (`State` of a listing, `State.Status` of an
/// inspect). A state this version does not know keeps podman's text in [`Self::Unknown`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ContainerState {
    /// `configured`: defined, never initialised.
    Configured,
    /// `created`: ready to start (also what a reboot leaves behind).
    Created,
    /// `initialized`: the runtime set it up, not started.
    Initialized,
    /// `running`.
    Running,
    /// `paused`.
    Paused,
    /// `stopping`: a stop is in progress.
    Stopping,
    /// `stopped`.
    Stopped,
    /// `exited`.
    Exited,
    /// `removing`.
    Removing,
    /// Anything else, as podman wrote it (empty when podman sent none).
    Unknown(String),
}

impl Default for ContainerState {
    /// What a listing without a `State` decodes to.
    fn default() -> Self {
        Self::Unknown(String::new())
    }
}

impl ContainerState {
    /// podman's word for a state.
    pub fn parse(text: &str) -> Self {
        match text {
            "configured" => Self::Configured,
            "created" => Self::Created,
            "initialized" => Self::Initialized,
            "running" => Self::Running,
            "paused" => Self::Paused,
            "stopping" => Self::Stopping,
            "stopped" => Self::Stopped,
            "exited" => Self::Exited,
            "removing" => Self::Removing,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// The state as podman writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Configured => "configured",
            Self::Created => "created",
            Self::Initialized => "initialized",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Exited => "exited",
            Self::Removing => "removing",
            Self::Unknown(text) => text,
        }
    }

    /// `running`, `stopping` or `paused`: podman believes a process exists.
    pub fn is_running_like(&self) -> bool {
        matches!(self, Self::Running | Self::Stopping | Self::Paused)
    }

    /// `created`, `configured` or `initialized`: never started in its current life.
    pub fn is_created(&self) -> bool {
        matches!(self, Self::Created | Self::Configured | Self::Initialized)
    }

    /// `exited` or `stopped`: its process ended.
    pub fn is_ended(&self) -> bool {
        matches!(self, Self::Exited | Self::Stopped)
    }
}

impl std::fmt::Display for ContainerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ContainerState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ContainerState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(d)?))
    }
}

/// One entry of `GET /containers/json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ListedContainer {
    /// Full container id.
    #[serde(rename = "Id")]
    pub id: String,
    /// Names (one).
    #[serde(rename = "Names", default, deserialize_with = "null_default")]
    pub names: Vec<String>,
    /// The state (the list's `Status` carries the health instead, see PODMAN-NOTES.md).
    #[serde(rename = "State", default)]
    pub state: ContainerState,
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
    /// The state.
    #[serde(rename = "Status", default)]
    pub status: ContainerState,
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
pub struct CreateAnswer {
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
        assert_eq!(list[0].state, ContainerState::Running);
    }

    #[test]
    fn states_decode_and_unknown_ones_keep_their_text() {
        for word in [
            "configured",
            "created",
            "initialized",
            "running",
            "paused",
            "stopping",
            "stopped",
            "exited",
            "removing",
        ] {
            let state = ContainerState::parse(word);
            assert!(!matches!(state, ContainerState::Unknown(_)), "{word}");
            assert_eq!(state.as_str(), word);
        }
        let json = r#"[{"Id":"abc","State":"hibernating"}]"#;
        let list: Vec<ListedContainer> = serde_json::from_str(json).unwrap();
        assert_eq!(list[0].state, ContainerState::Unknown("hibernating".into()));
        assert_eq!(
            serde_json::to_string(&list[0].state).unwrap(),
            r#""hibernating""#
        );
        let json = r#"[{"Id":"abc"}]"#;
        let list: Vec<ListedContainer> = serde_json::from_str(json).unwrap();
        assert_eq!(list[0].state, ContainerState::Unknown(String::new()));
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
