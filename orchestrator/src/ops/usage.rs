//! What an installed app uses, next to its limits: CPU and resident memory of each running
//! container's processes (from `/proc`: `podman stats` is unsupported on cgroups v1
//! rootless, PODMAN-NOTES.md), and the disk its volume dirs take. Also the app's generated
//! credentials, on request.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::error::{DataError, QueryError};
use crate::labels;
use crate::orchestrator::Orchestrator;
use crate::podman::types::ContainerState;
use crate::procfs;
use crate::secrets::{self, Credential};

/// How long CPU use is measured over.
pub const CPU_WINDOW: Duration = Duration::from_millis(500);

/// One volume of a container and the bytes its files take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeUsage {
    /// Manifest name.
    pub name: String,
    /// Bytes of the regular files under it (apparent size).
    pub bytes: u64,
    /// Files under it.
    pub files: u64,
}

/// One container's use and limits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerUsage {
    /// Manifest name.
    pub name: String,
    /// podman says it runs.
    pub running: bool,
    /// Share of one CPU over [`CPU_WINDOW`], in percent (`None`: not running, or `/proc`
    /// unreadable).
    pub cpu_percent: Option<f64>,
    /// The manifest's CPU limit, in CPUs.
    pub cpu_limit: Option<f64>,
    /// Resident memory of its processes, in bytes.
    pub memory_bytes: Option<u64>,
    /// The manifest's memory limit, in bytes.
    pub memory_limit: Option<u64>,
    /// Processes counted.
    pub processes: usize,
    /// Its volumes.
    pub volumes: Vec<VolumeUsage>,
    /// Bytes of all its volumes.
    pub disk_bytes: u64,
}

/// An app's use, per container.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppUsage {
    /// Install name.
    pub name: String,
    /// In manifest order.
    pub containers: Vec<ContainerUsage>,
    /// Bytes of all the app's volumes.
    pub disk_bytes: u64,
    /// How CPU and memory were measured.
    pub measured: &'static str,
}

/// Apparent size and file count of a directory tree (symlinks not followed).
fn dir_size(dir: &Path) -> Result<(u64, u64), DataError> {
    let mut bytes = 0;
    let mut files = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(DataError::Io {
                    op: "read",
                    path: d,
                    source,
                })
            }
        };
        for e in entries.flatten() {
            let Ok(meta) = e.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(e.path());
            } else if meta.is_file() {
                bytes += meta.len();
                files += 1;
            }
        }
    }
    Ok((bytes, files))
}

impl Orchestrator {
    /// CPU, memory and disk of an installed app, per container, with the manifest's limits.
    /// Takes [`CPU_WINDOW`] to measure CPU.
    pub async fn usage(&self, name: &str) -> Result<AppUsage, QueryError> {
        let shared = self.shared();
        let Some(record) = shared.store.get(name).await? else {
            return Err(QueryError::NotInstalled(name.to_owned()));
        };
        let listed = self.listed(&[(labels::APP, name)]).await?;
        let app_dir = shared.config.app_dir(name);
        let manifest = &record.release.manifest;
        let pids: Vec<Option<i64>> = manifest
            .containers
            .iter()
            .map(|c| {
                let full = labels::container_name(name, &c.name);
                listed
                    .iter()
                    .find(|l| l.name() == full && l.state == ContainerState::Running)
                    .map(|l| l.pid)
            })
            .collect();
        let sample = |pids: &[Option<i64>]| {
            let trees: Vec<Option<procfs::TreeSample>> =
                pids.iter().map(|p| p.and_then(procfs::tree)).collect();
            (procfs::cpu_total(), trees)
        };
        let (t0, first) = sample(&pids);
        tokio::time::sleep(CPU_WINDOW).await;
        let (t1, second) = sample(&pids);
        let mut containers = Vec::new();
        let mut total_disk = 0;
        for (i, c) in manifest.containers.iter().enumerate() {
            let mut volumes = Vec::new();
            let mut disk = 0;
            for v in &c.volumes {
                let (bytes, files) = dir_size(&crate::volumes::path(&app_dir, &v.name))?;
                disk += bytes;
                volumes.push(VolumeUsage {
                    name: v.name.clone(),
                    bytes,
                    files,
                });
            }
            total_disk += disk;
            let cpu = match (t0, t1, first[i], second[i]) {
                (Some((a, cpus)), Some((b, _)), Some(x), Some(y)) if b > a => {
                    let per_cpu = (b - a) as f64 / f64::from(cpus);
                    Some((y.ticks.saturating_sub(x.ticks) as f64 / per_cpu * 1000.0).round() / 10.0)
                }
                _ => None,
            };
            containers.push(ContainerUsage {
                name: c.name.clone(),
                running: pids[i].is_some(),
                cpu_percent: cpu,
                cpu_limit: c.cpus.map(|x| f64::from(x.0) / 1000.0),
                memory_bytes: second[i].map(|s| s.rss_bytes),
                memory_limit: c.memory.map(|m| m.0),
                processes: second[i].map_or(0, |s| s.processes),
                volumes,
                disk_bytes: disk,
            });
        }
        Ok(AppUsage {
            name: name.to_owned(),
            containers,
            disk_bytes: total_disk,
            measured: "CPU and resident memory of each container's processes from /proc \
                       (podman stats is unsupported on cgroups v1 rootless); disk is the \
                       size of the files in its volume dirs",
        })
    }

    /// The generated secrets of an installed app that its manifest marks `show: true`,
    /// with their values (never logged: see [`secrets::SecretString`]). Other secrets are
    /// never returned; a `show` secret not generated yet is left out.
    pub async fn credentials(&self, name: &str) -> Result<Vec<Credential>, QueryError> {
        let shared = self.shared();
        let Some(record) = shared.store.get(name).await? else {
            return Err(QueryError::NotInstalled(name.to_owned()));
        };
        let app_dir = shared.config.app_dir(name);
        let manifest = &record.release.manifest;
        let mut out = Vec::new();
        for (s, show) in manifest.app_secrets() {
            if !show {
                continue;
            }
            let Some(value) = secrets::read(&app_dir, &s.name)? else {
                continue;
            };
            let container = manifest
                .containers
                .iter()
                .find(|c| c.secrets.iter().any(|x| x.name == s.name && x.show))
                .map(|c| c.name.clone())
                .unwrap_or_default();
            out.push(Credential {
                name: s.name.clone(),
                container,
                value,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn dir_sizes_count_files_in_subdirs_and_a_missing_dir_is_empty() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a/b")).unwrap();
        std::fs::write(d.path().join("x"), [0u8; 100]).unwrap();
        std::fs::write(d.path().join("a/b/y"), [0u8; 23]).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("link")).unwrap();
        assert_eq!(dir_size(d.path()).unwrap(), (123, 2));
        assert_eq!(dir_size(&d.path().join("none")).unwrap(), (0, 0));
    }
}
