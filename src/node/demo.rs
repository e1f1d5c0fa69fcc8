//! `atoll node --demo`: a local demo publisher signs the sample apps in `apps/`, the node
//! ingests them like any verified entry, and pins the demo publisher so the marketplace
//! is populated and installable at once. The UI says these are demo apps.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use atoll_catalog::{Catalog, Provenance};
use atoll_registry::bundle::{self, SignOptions};
use atoll_registry::objects::PublisherProfile;
use atoll_registry::{manifest, Envelope, KeyStore, Keypair};
use tracing::info;

/// Name of the demo publisher's key in the node's key store.
pub const DEMO_KEY: &str = "demo-publisher";

/// What the demo published.
pub struct Published {
    /// Directories holding the published blobs.
    pub blob_dirs: Vec<PathBuf>,
}

fn demo_key(data: &Path) -> Result<Keypair> {
    let store = KeyStore::new(data);
    match store.load(DEMO_KEY) {
        Ok(k) => Ok(k),
        Err(atoll_registry::KeyError::NotFound { .. }) => {
            store.create(DEMO_KEY)?;
            Ok(store.load(DEMO_KEY)?)
        }
        Err(e) => Err(e.into()),
    }
}

fn app_dirs(apps: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(apps)
        .with_context(|| format!("reading sample apps in {}", apps.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(manifest::MANIFEST_FILE).is_file())
        .collect();
    dirs.sort();
    anyhow::ensure!(
        !dirs.is_empty(),
        "no apps (dirs with manifest.yml) in {}",
        apps.display()
    );
    Ok(dirs)
}

/// Build the sample images if any archive is missing (offline, from busybox-static).
fn ensure_images(apps: &Path, dirs: &[PathBuf]) -> Result<()> {
    let missing = dirs.iter().any(|d| {
        manifest::load(d)
            .map(|(m, _)| m.local_files().iter().any(|(f, _)| !d.join(f).exists()))
            .unwrap_or(false)
    });
    if !missing {
        return Ok(());
    }
    let script = apps.join("../scripts/build-images.sh");
    eprintln!(
        "atoll node: building the sample images ({})",
        script.display()
    );
    let status = std::process::Command::new("bash")
        .arg(&script)
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    anyhow::ensure!(status.success(), "{} failed", script.display());
    Ok(())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Sign (or reuse) the sample apps' bundles and ingest them; pin the demo publisher.
pub fn publish(catalog: &mut Catalog, data: &Path, apps: &Path) -> Result<Published> {
    let key = demo_key(data)?;
    let dirs = app_dirs(apps)?;
    ensure_images(apps, &dirs)?;
    let profile = PublisherProfile {
        kind: Default::default(),
        did: key.did(),
        name: "atoll demo publisher".into(),
        links: Default::default(),
        nostr_keys: vec![key.nostr_keys()?.public_key().to_hex()],
        iroh_nodes: vec![],
        // Seconds since the epoch: a restart re-signs the profile with a higher sequence.
        sequence: unix_now(),
        updated_at: unix_now(),
    };
    let profile = Envelope::sign(&profile, &key)?.verify::<PublisherProfile>()?;
    let local = Provenance::Local(apps.display().to_string());
    catalog.ingest_profile(&profile, &local)?;
    let mut blob_dirs = Vec::new();
    for dir in dirs {
        let (m, _) = manifest::load(&dir)?;
        let out = data.join("bundles").join(&m.id);
        let entry_path = out.join(bundle::ENTRY_FILE);
        let reuse = bundle::verify_bundle(&entry_path).ok().filter(|b| {
            b.manifest == m && b.entry.publisher == key.did() && !b.entry.is_expired(unix_now())
        });
        let verified = match reuse {
            Some(b) => b,
            None => {
                bundle::sign_app(&dir, &key, &out, &SignOptions::default())
                    .with_context(|| format!("signing {}", dir.display()))?;
                bundle::verify_bundle(&entry_path)?
            }
        };
        let outcome = catalog.ingest(&verified.entry, &local)?;
        catalog.attach_manifest(&verified.manifest)?;
        info!(app = %m.id, outcome = outcome.name(), "demo app published");
        blob_dirs.push(out);
    }
    catalog.pin(&key.did(), "the local demo publisher (atoll node --demo)")?;
    catalog.recompute_trust()?;
    Ok(Published { blob_dirs })
}
