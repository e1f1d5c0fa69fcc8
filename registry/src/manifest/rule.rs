//! The rootless policy's rules as a typed value: which rule a manifest field breaks, with
//! the values that matter. `Display` gives the message people read ("host port 80 is
//! privileged; rootless apps must use 1024-65535").

use super::policy::CAPABILITY_ALLOWLIST;

/// One rule of the rootless policy, broken by a manifest field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rule {
    /// An id or name that is not a DNS label.
    #[error("{what} {value:?} is not DNS-safe: use 1-63 of a-z, 0-9 and '-', not starting or ending with '-'")]
    NotDnsLabel {
        /// What kind of name (`app id`, `volume name`, …).
        what: &'static str,
        /// The value given.
        value: String,
    },
    /// A required text left empty.
    #[error("must not be empty")]
    Empty,
    /// A text longer than allowed.
    #[error("{chars} characters, at most {max}")]
    TooLong {
        /// Its length.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// Control characters other than newline and tab.
    #[error("contains control characters")]
    ControlCharacters,
    /// More items than allowed.
    #[error("at most {max} {what}")]
    TooMany {
        /// The limit.
        max: usize,
        /// What is counted (`categories`, `ports`, …).
        what: &'static str,
    },
    /// No container, or more than allowed.
    #[error("needs 1 to {max} containers")]
    Containers {
        /// The limit.
        max: usize,
    },
    /// A path that leaves the app dir.
    #[error("{0:?} must be a relative path inside the app dir (no '..', no leading '/')")]
    NotRelativePath(String),
    /// A screenshot that is not a PNG, JPEG or WebP file (by its extension).
    #[error("{0:?} is not a screenshot type: use a .png, .jpg, .jpeg or .webp file")]
    ScreenshotType(String),
    /// A mount path that is not absolute or climbs with `..`.
    #[error("{0:?} must be an absolute path without '..'")]
    NotAbsolutePath(String),
    /// A link that is not an http(s) URL.
    #[error("{0:?} is not an http(s) URL of at most 512 characters")]
    NotHttpUrl(String),
    /// A command or entrypoint with no argument or too many.
    #[error("needs 1 to {max} arguments")]
    ArgumentCount {
        /// The limit.
        max: usize,
    },
    /// An argument too long or holding NUL.
    #[error("arguments must be at most {max} bytes, without NUL")]
    ArgumentBytes {
        /// The limit.
        max: usize,
    },
    /// Two containers with one name.
    #[error("container name {0:?} is used twice")]
    ContainerTwice(String),
    /// Port 0.
    #[error("port 0 is not a port")]
    PortZero,
    /// A host port below 1024.
    #[error("host port {0} is privileged; rootless apps must use 1024-65535")]
    PrivilegedPort(u16),
    /// A host port already published by another port of the app.
    #[error("host port {port} is already published by {by}")]
    PortTwice {
        /// The port.
        port: u16,
        /// The field that published it first.
        by: String,
    },
    /// More than one web port.
    #[error("{0} ports are marked web: true; at most one may be")]
    WebPorts(usize),
    /// An image reference not pinned by digest.
    #[error("{0:?} is not pinned by digest: write it as name@sha256:<64 hex>")]
    NotPinned(String),
    /// An image with both or neither of reference and archive.
    #[error("needs exactly one of reference or archive")]
    ImageSource,
    /// A privileged container.
    #[error("privileged containers are not allowed")]
    Privileged,
    /// The host network.
    #[error("the host network is not allowed; apps get an app-private network")]
    HostNetwork,
    /// An unknown network mode.
    #[error("{0:?} is not a network mode (use app or none)")]
    NetworkMode(String),
    /// Sharing the host's pid or ipc namespace.
    #[error("sharing the host's {0} namespace is not allowed")]
    HostNamespace(&'static str),
    /// Any other pid or ipc setting.
    #[error("{value:?} is not allowed; leave {namespace} unset (private)")]
    Namespace {
        /// `pid` or `ipc`.
        namespace: &'static str,
        /// The value given.
        value: String,
    },
    /// An environment variable name outside `[A-Z_][A-Z0-9_]*`.
    #[error("variable names are A-Z, 0-9 and '_', not starting with a digit")]
    EnvName,
    /// An environment value too long or holding NUL.
    #[error("value must be at most {max} bytes, without NUL")]
    EnvValue {
        /// The limit.
        max: usize,
    },
    /// A variable set by env and a secret, or by two secrets.
    #[error("{0} is set twice (env or another secret)")]
    EnvTwice(String),
    /// A generated secret's length outside 16..=256.
    #[error("{0} is outside 16..=256")]
    SecretLength(u32),
    /// A host bind mount.
    #[error(
        "host bind mounts are not allowed; use a named volume (kept under the app's data dir)"
    )]
    BindMount,
    /// One path mounted twice.
    #[error("{0} is mounted twice")]
    MountedTwice(String),
    /// A health check with none or several of http, tcp, command.
    #[error("needs exactly one of http, tcp or command")]
    HealthKind,
    /// A health check path that is not an absolute URL path.
    #[error("must start with '/' and hold no spaces")]
    HealthPath,
    /// A health interval outside 1 s to 1 h.
    #[error("must be between 1s and 1h")]
    HealthInterval,
    /// A health timeout of 0 or above the interval.
    #[error("must be more than 0 and at most the interval")]
    HealthTimeout,
    /// Health retries outside 1 to 100.
    #[error("must be 1 to 100")]
    HealthRetries,
    /// A health start period above 1 h.
    #[error("must be at most 1h")]
    HealthStartPeriod,
    /// A stop grace above 10 minutes.
    #[error("must be at most 10m")]
    StopGrace,
    /// A backup timeout below 1s or above 1h.
    #[error("must be 1s to 1h")]
    BackupTimeout,
    /// A capability outside the allowlist.
    #[error("capability {0:?} is not allowed; allowed: {list}", list = CAPABILITY_ALLOWLIST.join(", "))]
    Capability(String),
    /// A user that is not `uid[:gid]` or a name.
    #[error("{0:?} is not uid[:gid] or a user name")]
    User(String),
    /// A memory limit below 4 MiB or above 1 TiB.
    #[error("must be at least 4Mi and at most 1Ti")]
    Memory,
    /// A CPU limit of 0 or above 64.
    #[error("must be more than 0 and at most 64")]
    Cpus,
    /// A container depending on itself.
    #[error("a container cannot depend on itself")]
    SelfDependency,
    /// A dependency on a container the app does not have.
    #[error("no container named {0:?} in this app")]
    NoSuchContainer(String),
    /// Containers depending on each other in a cycle.
    #[error("depends_on forms a cycle through {0:?}")]
    Cycle(String),
    /// Two settings with one name.
    #[error("setting {0:?} is declared twice")]
    SettingTwice(String),
    /// A setting value (or default) too long or with control characters.
    #[error("must be at most {max} bytes without control characters (no newlines)")]
    SettingValue {
        /// The limit.
        max: usize,
    },
    /// One secret name declared with two lengths.
    #[error("secret {name:?} is declared with length {first} elsewhere: a secret is one value for the whole app")]
    SecretConflict {
        /// The secret.
        name: String,
        /// The length of its first declaration.
        first: u32,
    },
    /// A file path that is not a clean absolute path, or is under /proc, /sys or /dev.
    #[error("{0:?} must be an absolute file path without '.', '..' or '//', at most 256 bytes, not under /proc, /sys or /dev")]
    FilePath(String),
    /// A file at or under a volume's mount point (the volume, as `"name" (mounted at
    /// /path)`).
    #[error("is inside volume {0}; files go outside volumes")]
    FileUnderVolume(String),
    /// One path given to two files (or a file under another file).
    #[error("{0} is written twice (or inside another file's path)")]
    FileTwice(String),
    /// A mode that is not octal permission bits readable by the owner.
    #[error(
        "{0:?} is not a file mode: use octal like \"0440\" (at most 0777, readable by its owner)"
    )]
    FileMode(String),
    /// A template larger than allowed.
    #[error("{bytes} bytes, at most {max}")]
    TemplateTooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// A `{{` that opens no valid placeholder.
    #[error(transparent)]
    Template(#[from] super::template::TemplateError),
    /// A placeholder naming a secret or setting the app does not declare.
    #[error("template line {line}: {placeholder} names no {} of this app", if placeholder.contains("secrets.") { "secret" } else { "setting" })]
    UnknownPlaceholder {
        /// Line of the template.
        line: usize,
        /// The placeholder, `{{ secrets.NAME }}` or `{{ settings.NAME }}`.
        placeholder: String,
    },
}
