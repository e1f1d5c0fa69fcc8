//! Where and as whom podman runs: the rootless user, its runtime dir, the API socket, and
//! optionally a separate storage (an isolated podman instance, used by the tests).
//!
//! From root, podman processes are started with the user's uid/gid (supplementary groups
//! dropped), a minimal environment, `HOME` and `XDG_RUNTIME_DIR` of that user, and `cwd /`.
//! That is what `runuser -u USER -- env -C / XDG_RUNTIME_DIR=… podman` does, minus the
//! extra `runuser` process: the supervisor then owns the podman PID itself.

use std::path::{Path, PathBuf};

use crate::error::HostError;

/// Environment variable set on every podman process this crate starts. Its value is
/// [`PodmanConfig::tag`], so an operator (or a test) can find every process of an instance.
pub const TAG_ENV: &str = "ATOLL_PODMAN_TAG";

/// A separate podman storage: `--root`, `--runroot` and `--tmpdir`. Each set is an isolated
/// podman instance (own containers, networks, rootless network namespace, events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageDirs {
    /// Persistent storage (images, containers, the libpod database).
    pub root: PathBuf,
    /// Runtime state (wiped by a reboot).
    pub runroot: PathBuf,
    /// libpod's tmp dir (exit files, events, the `alive` marker; wiped by a reboot).
    pub tmpdir: PathBuf,
}

/// How to reach podman. [`PodmanConfig::rootless`] gives the production defaults.
#[derive(Debug, Clone)]
pub struct PodmanConfig {
    /// The rootless user that owns the containers; `None` runs podman as the current user.
    pub user: Option<String>,
    /// API socket; default `/run/user/<uid>/podman/podman.sock`.
    pub socket: Option<PathBuf>,
    /// A separate storage; `None` uses the user's default storage.
    pub storage: Option<StorageDirs>,
    /// Value of [`TAG_ENV`] on every podman process started (default `atoll`).
    pub tag: String,
    /// The podman binary (default `podman`, from `PATH`).
    pub binary: PathBuf,
}

impl PodmanConfig {
    /// Rootless podman of `user`, default socket and storage.
    pub fn rootless(user: &str) -> Self {
        Self {
            user: Some(user.to_owned()),
            socket: None,
            storage: None,
            tag: "atoll".to_owned(),
            binary: PathBuf::from("podman"),
        }
    }

    /// Rootless podman of `$ATOLL_PODMAN_USER` (default `atoll`) when running as root, or of
    /// the current user otherwise; the tag is `$ATOLL_PODMAN_TAG` when set and not empty
    /// (so an instance's processes can be told apart from another node's).
    pub fn from_env() -> Self {
        let user = std::env::var("ATOLL_PODMAN_USER").unwrap_or_else(|_| "atoll".to_owned());
        let mut cfg = Self::rootless(&user);
        if let Some(tag) = std::env::var(TAG_ENV).ok().filter(|t| !t.is_empty()) {
            cfg.tag = tag;
        }
        if !rustix::process::geteuid().is_root() {
            cfg.user = None;
        }
        cfg
    }
}

/// A resolved podman host: user ids, paths, and how to start podman processes.
#[derive(Debug, Clone)]
pub struct PodmanHost {
    user: String,
    uid: u32,
    gid: u32,
    home: PathBuf,
    runtime_dir: PathBuf,
    socket: PathBuf,
    storage: Option<StorageDirs>,
    switch_user: bool,
    tag: String,
    binary: PathBuf,
}

/// One `/etc/passwd` entry.
struct Passwd {
    name: String,
    uid: u32,
    gid: u32,
    home: PathBuf,
}

fn passwd_entries() -> Result<Vec<Passwd>, HostError> {
    let path = Path::new("/etc/passwd");
    let text = std::fs::read_to_string(path).map_err(|source| HostError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(Passwd {
                name: f[0].to_owned(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: PathBuf::from(f[5]),
            })
        })
        .collect())
}

impl PodmanHost {
    /// Resolve the user and paths; checks that the runtime dir exists.
    pub fn resolve(cfg: &PodmanConfig) -> Result<Self, HostError> {
        let euid = rustix::process::geteuid().as_raw();
        let entries = passwd_entries()?;
        let (entry, switch_user) = match &cfg.user {
            Some(name) => {
                let e = entries
                    .into_iter()
                    .find(|e| &e.name == name)
                    .ok_or_else(|| HostError::UserNotFound { user: name.clone() })?;
                let switch = e.uid != euid;
                if switch && euid != 0 {
                    return Err(HostError::NeedRoot { user: name.clone() });
                }
                (e, switch)
            }
            None => {
                let e = entries.into_iter().find(|e| e.uid == euid).ok_or_else(|| {
                    HostError::UserNotFound {
                        user: format!("uid {euid}"),
                    }
                })?;
                (e, false)
            }
        };
        let runtime_dir = if switch_user {
            PathBuf::from(format!("/run/user/{}", entry.uid))
        } else {
            std::env::var_os("XDG_RUNTIME_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(format!("/run/user/{}", entry.uid)))
        };
        if !runtime_dir.is_dir() {
            return Err(HostError::RuntimeDirMissing { path: runtime_dir });
        }
        let socket = cfg
            .socket
            .clone()
            .unwrap_or_else(|| runtime_dir.join("podman/podman.sock"));
        Ok(Self {
            user: entry.name,
            uid: entry.uid,
            gid: entry.gid,
            home: entry.home,
            runtime_dir,
            socket,
            storage: cfg.storage.clone(),
            switch_user,
            tag: cfg.tag.clone(),
            binary: cfg.binary.clone(),
        })
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The user's uid (container uid 0 maps to it).
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The user's gid.
    pub fn gid(&self) -> u32 {
        self.gid
    }

    /// `XDG_RUNTIME_DIR` of the user.
    pub fn runtime_dir(&self) -> &Path {
        &self.runtime_dir
    }

    /// The API socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The separate storage, if any.
    pub fn storage(&self) -> Option<&StorageDirs> {
        self.storage.as_ref()
    }

    /// Where conmon writes a container's exit code (`<tmpdir>/exits/<id>`) before it exits.
    pub fn exits_dir(&self) -> PathBuf {
        match &self.storage {
            Some(s) => s.tmpdir.join("exits"),
            None => self.runtime_dir.join("libpod/tmp/exits"),
        }
    }

    /// Do we start podman as another user (we are root)?
    pub fn switches_user(&self) -> bool {
        self.switch_user
    }

    /// The instance tag ([`TAG_ENV`]).
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// Global podman arguments selecting the storage.
    pub fn global_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(s) = &self.storage {
            for (flag, path) in [
                ("--root", &s.root),
                ("--runroot", &s.runroot),
                ("--tmpdir", &s.tmpdir),
            ] {
                args.push(flag.to_owned());
                args.push(path.display().to_string());
            }
        }
        args
    }

    /// A `podman` command with the global arguments, run as the podman user.
    pub fn command(&self) -> tokio::process::Command {
        tokio::process::Command::from(self.std_command())
    }

    /// [`PodmanHost::command`] as a blocking `std` command (for streams read with blocking
    /// I/O, e.g. the tar stream of a backup).
    pub fn std_command(&self) -> std::process::Command {
        use std::os::unix::process::CommandExt;
        let mut cmd = std::process::Command::new(&self.binary);
        cmd.args(self.global_args())
            .current_dir("/")
            .stdin(std::process::Stdio::null());
        if self.switch_user {
            cmd.env_clear()
                .env(
                    "PATH",
                    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                )
                .env("HOME", &self.home)
                .env("USER", &self.user)
                .env("LOGNAME", &self.user)
                .env("LANG", "C.UTF-8")
                .uid(self.uid)
                .gid(self.gid);
        }
        cmd.env("XDG_RUNTIME_DIR", &self.runtime_dir)
            .env(TAG_ENV, &self.tag);
        cmd
    }

    /// First host uid of the user's subordinate range (`/etc/subuid`): container uid `n > 0`
    /// maps to `start + n - 1`.
    pub fn subuid_start(&self) -> Option<u32> {
        subid_start(Path::new("/etc/subuid"), &self.user, self.uid)
    }

    /// First host gid of the user's subordinate group range (`/etc/subgid`).
    pub fn subgid_start(&self) -> Option<u32> {
        subid_start(Path::new("/etc/subgid"), &self.user, self.uid)
    }
}

fn subid_start(file: &Path, user: &str, uid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        let mut f = line.split(':');
        let who = f.next()?;
        let start = f.next()?.parse().ok()?;
        (who == user || who == uid.to_string()).then_some(start)
    })
}
