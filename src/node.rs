//! `atoll node`: runs everything — catalog, HTTP API + web UI, and (as they are wired)
//! the embedded relay, iroh endpoint, sync and the reconcile loop — until SIGINT/SIGTERM.

pub mod admin;
mod autoupdate;
pub mod backups;
pub mod catalog_port;
pub mod config;
mod demo;
pub mod desired;
pub mod endorse;
mod fetch_report;
mod local;
pub mod outbox;
mod publish;
pub mod relays;
pub mod runtime;
pub(crate) mod swarm;
pub mod token;
pub mod trust_recompute;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use atoll_catalog::CatalogService;
use tracing::{info, warn};

use crate::api::{self, ApiState, AppOps};
pub use config::NodeConfig;
/// The API fuzzing (`crate::fuzz::api`) runs the real router over these.
#[cfg(test)]
pub(crate) use {local::NoRuntime, swarm::Swarm};

/// How to run the node.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// The configuration.
    pub config: NodeConfig,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Publish the sample apps with a local demo publisher whose DID is pinned.
    pub demo: bool,
    /// With `demo`: also publish the sample apps' other versions (`apps/<id>/versions/`).
    pub demo_versions: bool,
    /// Where the sample apps are (for `--demo`).
    pub apps_dir: PathBuf,
}

/// Open the catalog service of a data dir (blocking: opening migrates the file).
pub fn open_catalog(data_dir: &Path) -> Result<CatalogService> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating data dir {}", data_dir.display()))?;
    if crate::home::is_root() {
        // The rootless podman user must reach the apps' volumes and secrets below it; it
        // may traverse the directory, not list it (secrets and keys keep their own 0600/0700).
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o711))
            .with_context(|| format!("making {} traversable", data_dir.display()))?;
    }
    let path = data_dir.join("catalog.db");
    CatalogService::open(&path).with_context(|| format!("opening catalog {}", path.display()))
}

/// Run the node until `shutdown` resolves. Reports the bound address through `bound`.
pub async fn run(
    opts: NodeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<()> {
    let data = opts.data_dir.clone();
    let token = token::load_or_create(&data)?;
    // Uploads a crash interrupted: never verified, never stored.
    let _ = std::fs::remove_dir_all(data.join("tmp"));
    let catalog = {
        let data = data.clone();
        tokio::task::spawn_blocking(move || open_catalog(&data))
            .await
            .context("opening the catalog")??
    };
    let admin = admin::AdminChannel::new(opts.config.admin.endpoint_ids()?);
    let recompute = trust_recompute::TrustRecompute::new();
    let recompute_task = tokio::spawn(recompute.clone().run(catalog.clone()));
    // Endorsements taken while the node was stopped (offline `trust endorse`, `catalog
    // import`) count from the start.
    recompute.poke();
    let discovery = start_discovery(&opts, catalog.clone(), &admin, recompute.clone()).await?;
    let relays = relays::NodeRelays::new(
        discovery.clone(),
        catalog.clone(),
        &opts.config.relays.external,
        opts.config.trust.install_threshold,
    );
    let relay_task = tokio::spawn(relays.clone().run());
    let mut blob_dirs = vec![data.join("bundles")];
    let mut demo_publisher = None;
    if opts.demo {
        let published = demo::publish(
            &discovery,
            &catalog,
            &data,
            &opts.apps_dir,
            opts.demo_versions,
        )
        .await
        .context("publishing the demo apps")?;
        blob_dirs.extend(published.blob_dirs);
        demo_publisher = Some(published.publisher);
    }
    let blob_dirs = Arc::new(blob_dirs);
    let desired = open_desired_state(&data).await?;
    let (ops, orch, node_apps): (Arc<dyn AppOps>, _, _) =
        match start_orchestrator(&opts, desired).await {
            Ok(orch) => {
                let apps = Arc::new(runtime::NodeApps::new(
                    orch.clone(),
                    catalog.clone(),
                    &data,
                    blob_dirs.clone(),
                    Some(discovery.clone()),
                ));
                (apps.clone(), Some(orch), Some(apps))
            }
            Err(e) => {
                warn!("no container runtime: {e:#}");
                eprintln!("atoll node: warning: apps cannot be installed: {e:#}");
                (
                    Arc::new(local::NoRuntime::new(format!("{e:#}"))),
                    None,
                    None,
                )
            }
        };
    // Scheduled backups ([backups] every), with their retention.
    let scheduled = orch
        .clone()
        .map(|orch| tokio::spawn(backups::schedule(orch, opts.config.backups.clone())));
    // Finish the installs and updates a crash interrupted (uninstalls finish by themselves).
    let resume = orch.clone().map(|orch| {
        tokio::spawn(async move {
            orch.resume(&atoll_orchestrator::ProgressSink::none()).await;
        })
    });
    let listener = tokio::net::TcpListener::bind(opts.config.listen)
        .await
        .with_context(|| format!("listening on {}", opts.config.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let jobs = api::jobs::Jobs::default();
    let updater = tokio::spawn(autoupdate::run(
        catalog.clone(),
        ops.clone(),
        jobs.clone(),
        opts.config.auto_update.clone(),
        opts.config.trust.install_threshold,
    ));
    let state = ApiState {
        catalog: catalog.clone(),
        jobs,
        admin_token: Arc::new(token),
        listen: addr,
        demo: opts.demo,
        demo_publisher,
        blob_dirs,
        ops,
        net: Arc::new(
            swarm::Swarm::new(discovery.clone(), catalog.clone())
                .with_keys(atoll_registry::KeyStore::new(&data)),
        ),
        relays,
        upload: api::UploadConfig {
            tmp_dir: data.join("tmp"),
            max_bytes: opts.config.api.max_upload_bytes,
        },
        install_threshold: opts.config.trust.install_threshold,
        auto_update: Arc::new(opts.config.auto_update.clone()),
        backups: node_apps,
    };
    info!(%addr, data = %data.display(), demo = opts.demo, "node listening");
    eprintln!(
        "atoll node: marketplace on http://{addr}/ (data in {})",
        data.display()
    );
    eprintln!(
        "atoll node: admin token in {} (mode 0600); `atoll node token` prints it",
        token::path(&data).display()
    );
    eprintln!(
        "atoll node: remote admin channel on iroh node {} for {} allowed key(s) ([admin] iroh_keys)",
        discovery.node_id(),
        admin.allowed()
    );
    if let Some(tx) = bound {
        let _ = tx.send(addr);
    }
    let router = api::router(state);
    admin.serve(router.clone());
    api::server::serve(listener, router, shutdown).await;
    updater.abort();
    if let Some(s) = scheduled {
        s.abort();
    }
    relay_task.abort();
    recompute_task.abort();
    if let Some(resume) = resume {
        resume.abort();
    }
    if let Some(orch) = orch {
        // Apps keep running; the next start adopts them.
        orch.shutdown().await;
    }
    discovery.shutdown().await;
    info!("node stopped");
    Ok(())
}

/// Start the swarm: embedded relay, relay pool, iroh endpoint (serving blobs and the
/// admin channel) and blob store, pipeline.
async fn start_discovery(
    opts: &NodeOptions,
    service: atoll_catalog::CatalogService,
    admin: &admin::AdminChannel,
    recompute: trust_recompute::TrustRecompute,
) -> Result<atoll_discovery::Discovery> {
    let mut d = opts.config.discovery(&opts.data_dir);
    d.protocols.push(admin.protocol());
    // The operator's runtime choices (persisted) on top of the config.
    let choices = service
        .read(|c| c.relay_choices())
        .await
        .context("reading the relays chosen at runtime")?;
    relays::startup(&mut d, &choices);
    let port = catalog_port::SwarmCatalog::new(service).with_recompute(recompute);
    atoll_discovery::Discovery::start(d, Arc::new(port))
        .await
        .context("starting sync (embedded relay, iroh endpoint)")
}

/// The orchestrator's desired state, in the catalog file; an old `orchestrator.db` is
/// imported first (once: it is renamed afterwards).
async fn open_desired_state(data: &Path) -> Result<Arc<desired::CatalogDesired>> {
    let path = data.join("catalog.db");
    let data = data.to_owned();
    tokio::task::spawn_blocking(move || {
        let service = atoll_catalog::CatalogService::open(&path)
            .with_context(|| format!("opening catalog {}", path.display()))?;
        if let Some(n) = desired::import_orchestrator_db(&data, &service)? {
            info!(records = n, "imported orchestrator.db into the catalog");
        }
        Ok(Arc::new(desired::CatalogDesired::new(service)))
    })
    .await
    .context("opening desired state")?
}

/// Start the embedded orchestrator on the rootless podman this node may use.
async fn start_orchestrator(
    opts: &NodeOptions,
    desired: Arc<desired::CatalogDesired>,
) -> Result<atoll_orchestrator::Orchestrator> {
    let mut podman = atoll_orchestrator::PodmanConfig::from_env();
    if let (Some(user), Some(_)) = (&opts.config.podman.user, &podman.user) {
        podman.user = Some(user.clone());
    }
    // Containers are labelled with the node: one node never touches another's.
    let id = atoll_registry::Hash::of(opts.data_dir.display().to_string().as_bytes()).to_hex();
    let config =
        atoll_orchestrator::Config::new(&format!("atoll-{}", &id[..10]), &opts.data_dir, podman);
    atoll_orchestrator::Orchestrator::open(config, desired)
        .await
        .context(
            "starting the orchestrator on rootless podman (was `sudo scripts/setup-host.sh` run?)",
        )
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
    eprintln!("atoll node: shutting down");
}
