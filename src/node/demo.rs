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

/// The other versions of a sample app (`<dir>/versions/<version>.yml`), oldest first.
fn extra_versions(dir: &Path) -> Result<Vec<(semver::Version, PathBuf)>> {
    let vdir = dir.join("versions");
    if !vdir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(&vdir).with_context(|| format!("reading {}", vdir.display()))? {
        let path = e?.path();
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".yml"))
        else {
            continue;
        };
        let v = semver::Version::parse(stem)
            .with_context(|| format!("{}: the file name must be a version", path.display()))?;
        out.push((v, path));
    }
    out.sort();
    Ok(out)
}

/// An app dir for one extra version: the version's manifest beside the app's own files
/// (images, icon), linked (or copied) under `<data>/demo-versions/<id>-<version>/`.
fn stage_version(
    data: &Path,
    app: &Path,
    yml: &Path,
    version: &semver::Version,
) -> Result<PathBuf> {
    let id = app
        .file_name()
        .and_then(|n| n.to_str())
        .context("sample app dir without a name")?;
    let dir = data.join("demo-versions").join(format!("{id}-{version}"));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::copy(yml, dir.join(manifest::MANIFEST_FILE))
        .with_context(|| format!("copying {}", yml.display()))?;
    let (m, _) = manifest::load(&dir)?;
    anyhow::ensure!(
        m.version == *version,
        "{}: says version {}, its file name {version}",
        yml.display(),
        m.version
    );
    for (f, _) in m.local_files() {
        let (src, dst) = (app.join(&f), dir.join(&f));
        if dst.exists() {
            continue;
        }
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::hard_link(&src, &dst)
            .or_else(|_| std::fs::copy(&src, &dst).map(|_| ()))
            .with_context(|| format!("staging {}", src.display()))?;
    }
    Ok(dir)
}

/// Put the entry just published for `id` into the catalog at once (the relays keep only
/// an app's newest entry, so older versions published in one run would not sync back).
async fn import_published(catalog: &CatalogService, data: &Path, id: &str) -> Result<()> {
    let entry = publish::bundle_dir(data, id).join(atoll_registry::bundle::ENTRY_FILE);
    let verified = atoll_registry::bundle::verify_bundle(&entry)?;
    let provenance = atoll_catalog::Provenance::Local(entry.display().to_string());
    catalog
        .write(move |c| {
            c.ingest(&verified.entry, &provenance)?;
            c.attach_manifest(&verified.manifest).map(|_| ())
        })
        .await
        .with_context(|| format!("adding the demo's {id} to the catalog"))
}

/// Publish the sample apps with the demo publisher and pin it; with `versions`, each
/// app's other versions after it, oldest first (the newest is then its head).
pub async fn publish(
    d: &Discovery,
    catalog: &CatalogService,
    data: &Path,
    apps: &Path,
    versions: bool,
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
        if versions {
            for (v, yml) in extra_versions(&dir)? {
                import_published(catalog, data, &m.id).await?;
                let staged = stage_version(data, &dir, &yml, &v)?;
                publish::publish_app(d, data, &staged, &key, DEMO_KEY, &opts)
                    .await
                    .with_context(|| format!("publishing {} {v}", m.id))?;
                info!(app = %m.id, version = %v, "demo app version published");
            }
            import_published(catalog, data, &m.id).await?;
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
