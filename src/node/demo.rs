//! `atoll node --demo`: a local demo publisher signs the sample apps in `apps/` and
//! publishes them through this node's swarm (announced on its relays, blobs served by its
//! iroh endpoint), so the node syncs them like any other publisher's; the demo publisher is
//! pinned so the marketplace is populated and installable at once. The UI marks its apps
//! (and only its apps: others the node syncs are not demo apps) as demo apps.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use atoll_catalog::CatalogService;
use atoll_discovery::publish::{self, PublishOptions};
use atoll_discovery::Discovery;
use atoll_registry::{manifest, KeyStore, Keypair};
use tracing::info;

/// Name of the demo publisher's key in the node's key store.
pub const DEMO_KEY: &str = "demo-publisher";

/// What the demo published.
pub struct DemoPublished {
    /// Directories holding the published blobs.
    pub blob_dirs: Vec<PathBuf>,
    /// The demo publisher: only its apps are demo apps.
    pub publisher: atoll_registry::Did,
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

/// Publish the sample apps with the demo publisher and pin it.
pub async fn publish(
    d: &Discovery,
    catalog: &CatalogService,
    data: &Path,
    apps: &Path,
) -> Result<DemoPublished> {
    let key = demo_key(data)?;
    let dirs = app_dirs(apps)?;
    ensure_images(apps, &dirs)?;
    let opts = PublishOptions {
        publisher_name: Some("atoll demo publisher".into()),
        ..PublishOptions::default()
    };
    let mut blob_dirs = Vec::new();
    for dir in dirs {
        let (m, _) = manifest::load(&dir)?;
        match publish::publish_app(d, data, &dir, &key, DEMO_KEY, &opts).await {
            Ok(p) => {
                info!(app = %p.app, version = %p.version, relays = ?p.relays, "demo app published");
            }
            // A node restarted within a second of its last run may find its relay keeping
            // the announcement it made then (same address, same second): the node still
            // starts and serves the bundle it has.
            Err(e) => tracing::warn!(
                dir = %dir.display(),
                error = %e,
                "demo app not announced again; relays keep its earlier announcement"
            ),
        }
        blob_dirs.push(publish::bundle_dir(data, &m.id));
    }
    let did = key.did();
    catalog
        .write(move |c| {
            c.pin(&did, "the local demo publisher (atoll node --demo)")?;
            c.recompute_trust()
        })
        .await
        .context("pinning the demo publisher")?;
    Ok(DemoPublished {
        blob_dirs,
        publisher: key.did(),
    })
}
