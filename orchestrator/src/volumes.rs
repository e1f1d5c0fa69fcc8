//! Volumes: bind mounts of `<data>/apps/<app>/volumes/<name>`, so app data lives under the
//! app's own data dir, survives updates, restarts and reinstalls, and is deleted only by a
//! purge. Each dir is owned by the host uid the container's user maps to in the rootless
//! user namespace (container root = the podman user; uid n > 0 = subuid start + n - 1).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::DataError;
use crate::host::PodmanHost;

/// `<app dir>/volumes/<name>`.
pub fn path(app_dir: &Path, volume: &str) -> PathBuf {
    app_dir.join("volumes").join(volume)
}

/// Numeric `uid[:gid]` of a container user (`None`: the image default, taken as root).
fn parse_user(user: Option<&str>) -> Result<(u32, u32), DataError> {
    let Some(user) = user else {
        return Ok((0, 0));
    };
    let bad = |reason| DataError::User {
        user: user.to_owned(),
        reason,
    };
    let (u, g) = user.split_once(':').unwrap_or((user, user));
    let uid: u32 = u
        .parse()
        .map_err(|_| bad("only numeric users can own volumes and files"))?;
    let gid: u32 = g
        .parse()
        .map_err(|_| bad("only numeric groups can own volumes and files"))?;
    Ok((uid, gid))
}

/// Make sure every volume dir of a container exists, owned by the container user.
pub async fn prepare(
    host: &PodmanHost,
    app_dir: &Path,
    volumes: &[String],
    user: Option<&str>,
) -> Result<(), DataError> {
    if volumes.is_empty() {
        return Ok(());
    }
    let io = |op: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| DataError::Io { op, path, source }
    };
    let (cuid, cgid) = parse_user(user)?;
    // The podman user must be able to traverse to the volume dirs to mount them.
    for dir in [
        app_dir.parent().unwrap_or(app_dir),
        app_dir,
        &app_dir.join("volumes"),
    ] {
        if !dir.is_dir() {
            std::fs::create_dir_all(dir).map_err(io("create", dir))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))
                .map_err(io("chmod", dir))?;
        }
    }
    for name in volumes {
        let dir = path(app_dir, name);
        if dir.is_dir() {
            continue;
        }
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io("chmod", &dir))?;
        chown(host, &dir, cuid, cgid).await?;
    }
    Ok(())
}

/// Give a file or dir to the host uid the container user (`uid[:gid]`, `None`: root) maps to.
pub(crate) async fn give_to_container_user(
    host: &PodmanHost,
    path: &Path,
    user: Option<&str>,
) -> Result<(), DataError> {
    let (cuid, cgid) = parse_user(user)?;
    chown(host, path, cuid, cgid).await
}

async fn chown(host: &PodmanHost, dir: &Path, cuid: u32, cgid: u32) -> Result<(), DataError> {
    let map = |id: u32, base: u32, start: Option<u32>| -> Result<u32, DataError> {
        if id == 0 {
            return Ok(base);
        }
        start
            .and_then(|s| s.checked_add(id - 1))
            .ok_or_else(|| DataError::User {
                user: format!("{cuid}:{cgid}"),
                reason: "the podman user has no subordinate id range for it",
            })
    };
    if host.switches_user() {
        let uid = map(cuid, host.uid(), host.subuid_start())?;
        let gid = map(cgid, host.gid(), host.subgid_start())?;
        return std::os::unix::fs::chown(dir, Some(uid), Some(gid)).map_err(|source| {
            DataError::Io {
                op: "chown",
                path: dir.to_owned(),
                source,
            }
        });
    }
    if cuid == 0 && cgid == 0 {
        return Ok(()); // we are the podman user: our files are the container root's
    }
    // As the podman user itself, only its user namespace can give files to subordinate ids.
    let status = host
        .command()
        .args(["unshare", "chown", &format!("{cuid}:{cgid}")])
        .arg(dir)
        .status()
        .await
        .map_err(|source| DataError::Io {
            op: "podman unshare chown",
            path: dir.to_owned(),
            source,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(DataError::Io {
            op: "podman unshare chown",
            path: dir.to_owned(),
            source: std::io::Error::other(status.to_string()),
        })
    }
}

/// Check that the podman user can traverse every ancestor of `dir` (o+x, or owned by it).
pub fn check_traversable(dir: &Path, uid: u32) -> Result<(), DataError> {
    use std::os::unix::fs::MetadataExt;
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if let Ok(meta) = std::fs::metadata(d) {
            let ok = meta.mode() & 0o001 != 0 || (meta.uid() == uid && meta.mode() & 0o100 != 0);
            if !ok {
                return Err(DataError::NotTraversable {
                    path: d.to_owned(),
                    uid,
                });
            }
        }
        cur = d.parent();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_parse() {
        assert_eq!(parse_user(None).ok(), Some((0, 0)));
        assert_eq!(parse_user(Some("1000")).ok(), Some((1000, 1000)));
        assert_eq!(parse_user(Some("1000:100")).ok(), Some((1000, 100)));
        assert!(parse_user(Some("nobody")).is_err());
    }
}
