//! Reading an image archive without unpacking it: find the image id (the config digest) of
//! an OCI image layout (`index.json` -> manifest -> config) or a docker archive
//! (`manifest.json` -> `Config`). Lets the orchestrator skip loading an image podman already
//! has, and check that podman holds exactly that image after loading.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::ImageError;

/// Largest JSON member read from an archive.
const MAX_JSON: u64 = 4 * 1024 * 1024;

struct Member {
    offset: u64,
    size: u64,
}

/// Index the regular files of a tar archive by name.
fn index(file: &mut std::fs::File, path: &Path) -> Result<HashMap<String, Member>, ImageError> {
    let bad = |reason| ImageError::Archive {
        path: path.to_owned(),
        reason,
    };
    let io = |source| ImageError::Io {
        path: path.to_owned(),
        source,
    };
    let mut members = HashMap::new();
    let mut offset = 0u64;
    let mut long_name: Option<String> = None;
    let mut header = [0u8; 512];
    loop {
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        match file.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(io(e)),
        }
        if header.iter().all(|b| *b == 0) {
            break;
        }
        let size = octal(&header[124..136]).ok_or_else(|| bad("a tar header has a bad size"))?;
        let kind = header[156];
        let data = offset + 512;
        let name = match long_name.take() {
            Some(n) => n,
            None => {
                let name = cstr(&header[0..100]);
                let prefix = if &header[257..262] == b"ustar" {
                    cstr(&header[345..500])
                } else {
                    String::new()
                };
                if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}/{name}")
                }
            }
        };
        match kind {
            b'L' => {
                // GNU long name: the data is the next member's name.
                if size > 4096 {
                    return Err(bad("a long name is too long"));
                }
                let mut buf = vec![0u8; size as usize];
                file.read_exact(&mut buf).map_err(io)?;
                long_name = Some(cstr(&buf));
            }
            b'0' | 0 => {
                let clean = name.trim_start_matches("./").to_owned();
                members.insert(clean, Member { offset: data, size });
            }
            _ => {}
        }
        offset = data + size.div_ceil(512) * 512;
    }
    Ok(members)
}

fn cstr(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn octal(field: &[u8]) -> Option<u64> {
    let s = cstr(field);
    let s = s.trim_matches(|c: char| c == ' ' || c == '\0');
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

fn read_json(
    file: &mut std::fs::File,
    path: &Path,
    members: &HashMap<String, Member>,
    name: &str,
) -> Result<Option<serde_json::Value>, ImageError> {
    let Some(m) = members.get(name) else {
        return Ok(None);
    };
    if m.size > MAX_JSON {
        return Err(ImageError::Archive {
            path: path.to_owned(),
            reason: "a JSON member is too large",
        });
    }
    let io = |source| ImageError::Io {
        path: path.to_owned(),
        source,
    };
    file.seek(SeekFrom::Start(m.offset)).map_err(io)?;
    let mut buf = vec![0u8; m.size as usize];
    file.read_exact(&mut buf).map_err(io)?;
    Ok(serde_json::from_slice(&buf).ok())
}

fn digest_hex(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// The image id (64 hex digits) the archive holds.
pub fn image_id(path: &Path) -> Result<String, ImageError> {
    inspect(path).map(|(id, _)| id)
}

/// The architecture the archive's image is built for (its OCI config's `architecture`,
/// e.g. `amd64`, `arm64`), `None` when the config does not say.
pub fn architecture(path: &Path) -> Result<Option<String>, ImageError> {
    inspect(path).map(|(_, arch)| arch)
}

/// The architecture name OCI images use for this host (Go's GOARCH names).
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// The config's `architecture`, read from the member `name`.
fn config_architecture(
    file: &mut std::fs::File,
    path: &Path,
    members: &HashMap<String, Member>,
    name: &str,
) -> Result<Option<String>, ImageError> {
    Ok(read_json(file, path, members, name)?
        .and_then(|c| c["architecture"].as_str().map(str::to_owned))
        .filter(|a| !a.is_empty()))
}

/// Image id and architecture.
fn inspect(path: &Path) -> Result<(String, Option<String>), ImageError> {
    let bad = |reason| ImageError::Archive {
        path: path.to_owned(),
        reason,
    };
    let mut file = std::fs::File::open(path).map_err(|source| ImageError::Io {
        path: path.to_owned(),
        source,
    })?;
    let members = index(&mut file, path)?;
    if let Some(index) = read_json(&mut file, path, &members, "index.json")? {
        // OCI layout: index -> (maybe a nested index) -> manifest -> config digest.
        let mut digest = index["manifests"][0]["digest"]
            .as_str()
            .ok_or_else(|| bad("index.json names no manifest"))?
            .to_owned();
        for _ in 0..3 {
            let hex = digest_hex(&digest).ok_or_else(|| bad("a digest is not sha256"))?;
            let doc = read_json(&mut file, path, &members, &format!("blobs/sha256/{hex}"))?
                .ok_or_else(|| bad("a manifest blob is missing"))?;
            if let Some(config) = doc["config"]["digest"].as_str() {
                let id = digest_hex(config)
                    .map(str::to_owned)
                    .ok_or_else(|| bad("the config digest is not sha256"))?;
                let arch =
                    config_architecture(&mut file, path, &members, &format!("blobs/sha256/{id}"))?;
                return Ok((id, arch));
            }
            digest = doc["manifests"][0]["digest"]
                .as_str()
                .ok_or_else(|| bad("a nested index names no manifest"))?
                .to_owned();
        }
        return Err(bad("indexes nest too deep"));
    }
    if let Some(manifest) = read_json(&mut file, path, &members, "manifest.json")? {
        // docker archive: Config is "<hex>.json" or "blobs/sha256/<hex>".
        let config = manifest[0]["Config"]
            .as_str()
            .ok_or_else(|| bad("manifest.json names no config"))?;
        let name = config.rsplit('/').next().unwrap_or(config);
        let hex = name.strip_suffix(".json").unwrap_or(name);
        if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let config = config.trim_start_matches("./").to_owned();
            let arch = config_architecture(&mut file, path, &members, &config)?;
            return Ok((hex.to_owned(), arch));
        }
        return Err(bad("the config name is not a sha256 digest"));
    }
    Err(bad(
        "neither index.json (OCI) nor manifest.json (docker) found",
    ))
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sample_archive_gives_its_config_digest() {
        let archive =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../apps/hello-static/images/web.oci.tar");
        if !archive.exists() {
            panic!(
                "{} is missing: run scripts/build-images.sh",
                archive.display()
            );
        }
        let id = image_id(&archive).unwrap();
        assert_eq!(id.len(), 64);
        // The sample images are built for the host they run on.
        assert_eq!(
            architecture(&archive).unwrap().as_deref(),
            Some(host_architecture())
        );
    }

    #[test]
    fn garbage_is_refused() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), b"not a tar").unwrap();
        assert!(image_id(tmp.path()).is_err());
    }
}
