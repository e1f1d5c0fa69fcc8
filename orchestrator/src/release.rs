//! A release: one verified app version ready to run — its manifest, the manifest's hash, and
//! where its artifacts (image archives) are, each with the BLAKE3 hash the signed entry names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use atoll_registry::manifest::Manifest;
use atoll_registry::objects::ArtifactKind;
use atoll_registry::{Entry, Hash, Verified};
use serde::{Deserialize, Serialize};

use crate::error::ReleaseError;

/// One app version, ready to install or update to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    /// The manifest (already checked by the rootless policy when it was parsed).
    pub manifest: Manifest,
    /// BLAKE3 of the manifest's canonical bytes.
    pub manifest_hash: Hash,
    /// Directory the manifest's archive paths are relative to (app dir or blob dir).
    pub artifact_dir: PathBuf,
    /// Expected BLAKE3 of each image archive, by its path in the manifest.
    pub artifacts: BTreeMap<String, Hash>,
    /// `<did>/<app>` when the release came from a signed entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Release {
    /// A release from a verified catalog entry and its manifest blob. The manifest must be
    /// the one the entry names (its hash is checked); archive hashes come from the entry.
    pub fn from_entry(
        entry: &Verified<Entry>,
        manifest: Manifest,
        artifact_dir: &Path,
    ) -> Result<Self, ReleaseError> {
        let hash = manifest
            .hash()
            .map_err(|e| ReleaseError::Manifest(e.into()))?;
        if hash != entry.manifest.hash {
            return Err(ReleaseError::ManifestMismatch {
                expected: entry.manifest.hash,
                actual: hash,
            });
        }
        let artifacts = entry
            .artifacts
            .iter()
            .filter(|a| a.kind == ArtifactKind::Image)
            .map(|a| (a.path.clone(), a.blob.hash))
            .collect();
        let release = Self {
            manifest,
            manifest_hash: hash,
            artifact_dir: artifact_dir.to_owned(),
            artifacts,
            source: Some(entry.app_ref().to_string()),
        };
        release.validate()?;
        Ok(release)
    }

    /// A release from a manifest and the archive hashes a publisher signed.
    pub fn new(
        manifest: Manifest,
        artifact_dir: &Path,
        artifacts: BTreeMap<String, Hash>,
    ) -> Result<Self, ReleaseError> {
        let hash = manifest
            .hash()
            .map_err(|e| ReleaseError::Manifest(e.into()))?;
        let release = Self {
            manifest,
            manifest_hash: hash,
            artifact_dir: artifact_dir.to_owned(),
            artifacts,
            source: None,
        };
        release.validate()?;
        Ok(release)
    }

    /// A release from a local app dir (`manifest.yml` + archives), trusting the archives as
    /// they are now: their hashes are taken from the files. For development, the demo and
    /// tests; a node installs from signed entries ([`Release::from_entry`]).
    pub fn from_app_dir(dir: &Path) -> Result<Self, ReleaseError> {
        let (manifest, _) = atoll_registry::manifest::load(dir)?;
        let mut artifacts = BTreeMap::new();
        for c in &manifest.containers {
            if let Some(archive) = &c.image.archive {
                let path = dir.join(archive);
                let bytes = std::fs::read(&path).map_err(|source| ReleaseError::Io {
                    path: path.clone(),
                    source,
                })?;
                artifacts.insert(archive.clone(), Hash::of(&bytes));
            }
        }
        Self::new(manifest, dir, artifacts)
    }

    /// The version.
    pub fn version(&self) -> &semver::Version {
        &self.manifest.version
    }

    /// Checks the orchestrator relies on beyond the manifest policy: dependencies name
    /// containers of the app and form no cycle; no host port is published twice.
    pub fn validate(&self) -> Result<(), ReleaseError> {
        let names: BTreeSet<&str> = self
            .manifest
            .containers
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        for c in &self.manifest.containers {
            for d in &c.depends_on {
                if !names.contains(d.as_str()) {
                    return Err(ReleaseError::UnknownDependency {
                        container: c.name.clone(),
                        dependency: d.clone(),
                    });
                }
            }
        }
        crate::order::start_order(&self.manifest)
            .map_err(|container| ReleaseError::DependencyCycle { container })?;
        let mut ports = BTreeSet::new();
        for c in &self.manifest.containers {
            for p in &c.ports {
                if !ports.insert((p.host, p.protocol)) {
                    return Err(ReleaseError::DuplicatePort(p.host));
                }
            }
        }
        Ok(())
    }
}
