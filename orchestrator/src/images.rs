//! Images: an archive that arrived as a blob is hash-checked (BLAKE3, against the signed
//! entry) before podman ever sees it, then loaded through `/images/load` unless podman
//! already has its image id; a registry reference (pinned by digest) is pulled. Progress is
//! reported while hashing and uploading.

pub mod archive;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use atoll_registry::manifest::Container;
use atoll_registry::Hash;

use crate::error::ImageError;
use crate::podman::Podman;
use crate::progress::{scale, ProgressSink, Stage};
use crate::release::Release;

/// Where one container's image comes from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Archive(String),
    Reference(String),
}

fn source(c: &Container) -> Result<Source, ImageError> {
    match (&c.image.archive, &c.image.reference) {
        (Some(a), _) => Ok(Source::Archive(a.clone())),
        (None, Some(r)) => Ok(Source::Reference(r.clone())),
        (None, None) => Err(ImageError::NoSource {
            container: c.name.clone(),
        }),
    }
}

/// The archive's path under the artifact dir; refuses absolute paths and `..`.
fn archive_path(release: &Release, archive: &str) -> Result<PathBuf, ImageError> {
    let rel = Path::new(archive);
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(ImageError::BadPath {
            archive: archive.to_owned(),
        });
    }
    Ok(release.artifact_dir.join(rel))
}

/// BLAKE3 of a file, reporting `(done, total)` bytes.
fn hash_file(path: &Path, mut progress: impl FnMut(u64, u64)) -> Result<Hash, ImageError> {
    let io = |source| ImageError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let total = file.metadata().map_err(io)?.len();
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1024 * 1024];
    let mut done = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        done += n as u64;
        progress(done, total);
    }
    Ok(Hash::from(hasher.finalize()))
}

/// Make every image of `release` available; returns the image id per container. Progress
/// goes to `sink` within the overall range `lo..=hi`.
pub async fn ensure_all(
    podman: &Podman,
    release: &Release,
    sink: &ProgressSink,
    (lo, hi): (u8, u8),
) -> Result<BTreeMap<String, String>, ImageError> {
    let mut sources: BTreeMap<Source, Vec<String>> = BTreeMap::new();
    for c in &release.manifest.containers {
        sources.entry(source(c)?).or_default().push(c.name.clone());
    }
    check_architectures(release).await?;
    let count = sources.len() as u64;
    let mut out = BTreeMap::new();
    for (i, (src, containers)) in sources.into_iter().enumerate() {
        let i = i as u64;
        let part_lo = scale(lo, hi, i, count);
        let part_hi = scale(lo, hi, i + 1, count);
        let id = ensure_source(podman, release, &src, sink, (part_lo, part_hi)).await?;
        for c in containers {
            out.insert(c, id.clone());
        }
    }
    Ok(out)
}

/// Every archive's architecture, before any image is loaded: an image built for another
/// CPU is refused naming both. Archives that cannot be read are left to the hash and image
/// id checks, which say why.
pub async fn check_architectures(release: &Release) -> Result<(), ImageError> {
    let mut seen = std::collections::BTreeSet::new();
    for c in &release.manifest.containers {
        let Ok(Source::Archive(archive)) = source(c) else {
            continue;
        };
        if !seen.insert(archive.clone()) {
            continue;
        }
        let path = archive_path(release, &archive)?;
        let arch = tokio::task::spawn_blocking(move || archive::architecture(&path))
            .await
            .ok()
            .and_then(Result::ok)
            .flatten();
        let host = archive::host_architecture();
        if let Some(built) = arch.filter(|a| a != host) {
            return Err(ImageError::Architecture {
                archive,
                built,
                host,
            });
        }
    }
    Ok(())
}

/// Make one container's image available again (the reconcile loop found it missing).
pub async fn ensure_one(
    podman: &Podman,
    release: &Release,
    c: &Container,
) -> Result<String, ImageError> {
    ensure_source(
        podman,
        release,
        &source(c)?,
        &ProgressSink::none(),
        (0, 100),
    )
    .await
}

async fn ensure_source(
    podman: &Podman,
    release: &Release,
    src: &Source,
    sink: &ProgressSink,
    (lo, hi): (u8, u8),
) -> Result<String, ImageError> {
    match src {
        Source::Archive(archive) => {
            let path = archive_path(release, archive)?;
            let expected =
                *release
                    .artifacts
                    .get(archive)
                    .ok_or_else(|| ImageError::Unverified {
                        archive: archive.clone(),
                    })?;
            let mid = scale(lo, hi, 1, 3);
            sink.emit(Stage::Images, lo, format!("verifying {archive}"));
            let join_err = |e: tokio::task::JoinError| ImageError::Io {
                path: path.clone(),
                source: std::io::Error::other(e.to_string()),
            };
            let actual = {
                let path = path.clone();
                let sink = sink.clone();
                let name = archive.clone();
                tokio::task::spawn_blocking(move || {
                    let mut last = lo;
                    hash_file(&path, |done, total| {
                        let p = scale(lo, mid, done, total);
                        if p != last {
                            last = p;
                            sink.emit(Stage::Images, p, format!("verifying {name}"));
                        }
                    })
                })
                .await
                .map_err(join_err)??
            };
            if actual != expected {
                return Err(ImageError::HashMismatch {
                    path,
                    expected,
                    actual,
                });
            }
            let image_id = {
                let path = path.clone();
                tokio::task::spawn_blocking(move || archive::image_id(&path))
                    .await
                    .map_err(join_err)??
            };
            let podman_err = |source| ImageError::Podman {
                what: archive.clone(),
                source,
            };
            if podman.image_exists(&image_id).await.map_err(podman_err)? {
                sink.emit(
                    Stage::Images,
                    hi,
                    format!("{archive}: image {} already loaded", &image_id[..12]),
                );
                return Ok(image_id);
            }
            let mut last = mid;
            podman
                .load_image(&path, |sent, total| {
                    let p = scale(mid, hi, sent, total);
                    if p != last {
                        last = p;
                        sink.emit(Stage::Images, p, format!("loading {archive}"));
                    }
                })
                .await
                .map_err(podman_err)?;
            if !podman.image_exists(&image_id).await.map_err(podman_err)? {
                return Err(ImageError::Missing {
                    what: archive.clone(),
                    image_id,
                });
            }
            sink.emit(
                Stage::Images,
                hi,
                format!("{archive}: loaded image {}", &image_id[..12]),
            );
            Ok(image_id)
        }
        Source::Reference(reference) => {
            let podman_err = |source| ImageError::Podman {
                what: reference.clone(),
                source,
            };
            if let Some(image) = podman.inspect_image(reference).await.map_err(podman_err)? {
                sink.emit(Stage::Images, hi, format!("{reference}: already present"));
                return Ok(image.id);
            }
            sink.emit(Stage::Images, lo, format!("pulling {reference}"));
            let id = podman
                .pull_image(reference, |line| {
                    sink.emit(Stage::Images, lo, format!("{reference}: {line}"));
                })
                .await
                .map_err(podman_err)?;
            sink.emit(Stage::Images, hi, format!("{reference}: pulled"));
            Ok(id)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn archive_paths_cannot_escape() {
        let release = Release::from_app_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../apps/hello-static"),
        )
        .unwrap();
        assert!(archive_path(&release, "images/web.oci.tar").is_ok());
        assert!(archive_path(&release, "../x.tar").is_err());
        assert!(archive_path(&release, "/etc/passwd").is_err());
    }

    /// The sample app with its archive's config rewritten to another architecture (the tar
    /// is rebuilt with GNU tar; the reader does not need the digests to match).
    fn foreign_app(arch: &str) -> tempfile::TempDir {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../apps/hello-static");
        let tmp = tempfile::tempdir().unwrap();
        let layout = tmp.path().join("layout");
        std::fs::create_dir_all(&layout).unwrap();
        let ok = std::process::Command::new("tar")
            .arg("-xf")
            .arg(src.join("images/web.oci.tar"))
            .arg("-C")
            .arg(&layout)
            .status()
            .unwrap()
            .success();
        assert!(ok, "tar -x");
        for e in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
            let p = e.unwrap().path();
            if std::fs::metadata(&p).unwrap().len() > 4096 {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            let host = format!("\"architecture\":\"{}\"", archive::host_architecture());
            if text.contains(&host) {
                std::fs::write(
                    &p,
                    text.replace(&host, &format!("\"architecture\":\"{arch}\"")),
                )
                .unwrap();
            }
        }
        let app = tmp.path().join("app");
        std::fs::create_dir_all(app.join("images")).unwrap();
        std::fs::copy(src.join("manifest.yml"), app.join("manifest.yml")).unwrap();
        std::fs::copy(src.join("icon.svg"), app.join("icon.svg")).unwrap();
        let ok = std::process::Command::new("tar")
            .arg("-cf")
            .arg(app.join("images/web.oci.tar"))
            .arg("-C")
            .arg(&layout)
            .arg(".")
            .status()
            .unwrap()
            .success();
        assert!(ok, "tar -c");
        tmp
    }

    #[tokio::test]
    async fn an_archive_for_another_architecture_is_refused_naming_both() {
        let foreign = if archive::host_architecture() == "arm64" {
            "amd64"
        } else {
            "arm64"
        };
        let tmp = foreign_app(foreign);
        let release = Release::from_app_dir(&tmp.path().join("app")).unwrap();
        let err = check_architectures(&release).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "archive images/web.oci.tar is built for {foreign}; this host runs {}",
                archive::host_architecture()
            )
        );
        // The sample app as built is for this host.
        let own = Release::from_app_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../apps/hello-static"),
        )
        .unwrap();
        check_architectures(&own).await.unwrap();
    }
}
