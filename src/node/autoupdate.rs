//! Auto-update: apps whose policy is `auto` (the operator's choice kept in the catalog,
//! else config `[auto_update]`) move to the newest verified version of their publisher by
//! themselves — only when the install/update guard ([`atoll_catalog::guard`]) allows that
//! head with no override: not stale, not yanked, not equivocated, its publisher not
//! blocked and still at the trust threshold. The orchestrator rolls the update back if the
//! new version fails its health checks; a version that failed is remembered in the catalog
//! (`update_failures`) and not tried again by itself, also after a restart (only a newer
//! head is), so a broken release is not reinstalled and rolled back every 30 s for months.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use atoll_catalog::guard::{self, Overrides};
use atoll_catalog::{Catalog, CatalogService, DesiredRun};
use atoll_registry::AppRef;
use tracing::{info, warn};

use super::config::AutoUpdate;
use crate::api::jobs::Jobs;
use crate::api::policy_of;
use crate::api::{Action, ActionRequest, AppOps};

/// How often installed apps are compared with the catalog.
pub const INTERVAL: Duration = Duration::from_secs(30);

/// Apps that should be updated now: policy `auto` (chosen in the catalog, else `config`),
/// a newer head the guard allows without overrides, not a version that failed before;
/// each with the head's version and sequence.
pub fn due(
    catalog: &Catalog,
    config: &BTreeMap<String, AutoUpdate>,
    threshold: f64,
) -> Vec<(AppRef, String, u64)> {
    // The orchestrator's records (one home for desired state); an update in progress
    // already records the newer version, so it is not started twice.
    let (Ok(desired), Ok(chosen)) = (catalog.installed_apps(), catalog.update_policies()) else {
        return Vec::new();
    };
    desired
        .into_iter()
        .filter(|d| d.wanted != DesiredRun::Removed)
        .filter_map(|d| d.app.clone().map(|app| (app, d)))
        .filter(|(app, _)| policy_of(&chosen, config, app) == AutoUpdate::Auto)
        .filter_map(|(app, d)| {
            let head = catalog.app(&app).ok().flatten()?.summary;
            let facts = catalog.guard_facts(&app, threshold).ok().flatten()?;
            let failed = catalog
                .update_failure(&app)
                .ok()
                .flatten()
                .is_some_and(|f| f.version == head.version);
            // Auto-update never overrides a guard.
            let newer = guard::check(&facts, Overrides::NONE).allowed()
                && !failed
                && semver::Version::parse(&head.version).is_ok_and(|v| v > d.version);
            newer.then_some((app, head.version, head.sequence))
        })
        .collect()
}

/// Run forever (until the task is aborted): every [`INTERVAL`], update what is due.
pub async fn run(
    catalog: CatalogService,
    ops: Arc<dyn AppOps>,
    jobs: Jobs,
    policy: BTreeMap<String, AutoUpdate>,
    threshold: f64,
) {
    // Policies can be set to `auto` at runtime (API, CLI, UI): the loop always runs.
    let policy = Arc::new(policy);
    // The head version each app last failed to update to without a rollback the catalog
    // remembers (e.g. its blobs could not be fetched): not retried in this run either.
    let mut failed: HashMap<AppRef, String> = HashMap::new();
    let mut tick = tokio::time::interval(INTERVAL);
    loop {
        tick.tick().await;
        let p = policy.clone();
        let apps = match catalog.read(move |c| Ok(due(c, &p, threshold))).await {
            Ok(apps) => apps,
            Err(e) => {
                warn!(error = %e, "auto-update cannot read the catalog; it stops");
                return;
            }
        };
        for (app, version, sequence) in apps {
            if failed.get(&app) == Some(&version) {
                continue;
            }
            let job = jobs.create();
            // The job id, so its events can be followed (`GET /api/v1/jobs/{job}/events`).
            info!(%app, job = job.id(), "auto-update: a newer verified version is available");
            let req = ActionRequest::by_node(&app, sequence);
            ops.run(Action::Update, app.clone(), req, job).await;
            let p = policy.clone();
            let still_due = catalog
                .read(move |c| Ok(due(c, &p, threshold)))
                .await
                .unwrap_or_default();
            if still_due.iter().any(|(a, v, _)| *a == app && *v == version) {
                warn!(%app, %version, "auto-update to this version failed; it is not retried until a newer version is published");
                failed.insert(app, version);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use atoll_catalog::{InstalledRow, Provenance};
    use atoll_registry::objects::{BlobRef, EntryType, Origin};
    use atoll_registry::{Entry, Envelope, Keypair, Manifest};

    fn manifest(version: &str) -> Manifest {
        let yaml = format!(
            "id: tiny\nname: Tiny\nversion: {version}\ndescription: d\ncontainers:\n  - name: web\n    image:\n      reference: \"x/y@sha256:{}\"\n",
            "0".repeat(64)
        );
        atoll_registry::manifest::parse(&yaml, std::path::Path::new("m.yml")).unwrap()
    }

    fn publish(c: &mut Catalog, key: &Keypair, version: &str, seq: u64) -> Entry {
        publish_with(c, key, version, seq, 4_000_000_000, None)
    }

    fn publish_with(
        c: &mut Catalog,
        key: &Keypair,
        version: &str,
        seq: u64,
        expires_at: u64,
        yanked: Option<&str>,
    ) -> Entry {
        let m = manifest(version);
        let bytes = m.canonical_bytes().unwrap();
        let entry = Entry {
            kind: EntryType,
            app: "tiny".parse().unwrap(),
            publisher: key.did(),
            version: version.parse().unwrap(),
            sequence: seq,
            manifest: BlobRef {
                hash: atoll_registry::Hash::of(&bytes),
                size: bytes.len() as u64,
            },
            artifacts: vec![],
            origin: Origin::default(),
            published_at: 1_700_000_000,
            expires_at,
            yanked: yanked.map(|r| atoll_registry::objects::Yank { reason: r.into() }),
        };
        let v = Envelope::sign(&entry, key)
            .unwrap()
            .verify_rotated::<Entry>()
            .unwrap();
        c.ingest(&v, &Provenance::Local("test".into())).unwrap();
        c.attach_manifest(&m).unwrap();
        entry
    }

    #[test]
    fn only_auto_apps_with_a_newer_trusted_head_are_due() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Catalog::open(dir.path().join("catalog.db")).unwrap();
        let key = Keypair::from_seed([5; 32]);
        let v1 = publish(&mut c, &key, "1.0.0", 1);
        let app = AppRef {
            publisher: key.did(),
            app: "tiny".parse().unwrap(),
        };
        let mut row = InstalledRow {
            name: "tiny-1".into(),
            app: Some(app.clone()),
            version: v1.version.clone(),
            manifest_hash: v1.manifest.hash,
            wanted: DesiredRun::Running,
            stopped_by_user: false,
            record: "{}".into(),
            updated_at: 1,
        };
        c.put_installed(&row).unwrap();
        c.pin(&key.did(), "test").unwrap();
        c.recompute_trust().unwrap();
        let auto = BTreeMap::from([(app.to_string(), AutoUpdate::Auto)]);
        let notify = BTreeMap::from([(app.to_string(), AutoUpdate::Notify)]);
        assert!(due(&c, &auto, 0.5).is_empty(), "nothing newer yet");
        publish(&mut c, &key, "1.1.0", 2);
        assert_eq!(
            due(&c, &auto, 0.5)
                .into_iter()
                .map(|(a, _, _)| a)
                .collect::<Vec<_>>(),
            vec![app.clone()]
        );
        assert!(due(&c, &notify, 0.5).is_empty(), "notify never updates");
        row.wanted = DesiredRun::Removed;
        c.put_installed(&row).unwrap();
        assert!(
            due(&c, &auto, 0.5).is_empty(),
            "an app being removed is not updated"
        );
        row.wanted = DesiredRun::Running;
        c.put_installed(&row).unwrap();
        c.unpin(&key.did()).unwrap();
        c.recompute_trust().unwrap();
        assert!(
            due(&c, &auto, 0.5).is_empty(),
            "an untrusted publisher is not followed"
        );
    }

    /// The operator's policy kept in the catalog wins over the config file, and a version
    /// whose update failed (remembered in the catalog, so also after a restart) is not
    /// due again; a newer one is.
    #[test]
    fn chosen_policy_wins_and_a_failed_version_is_not_retried() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let mut c = Catalog::open(&path).unwrap();
        let key = Keypair::from_seed([7; 32]);
        let v1 = publish(&mut c, &key, "1.0.0", 1);
        let app = AppRef {
            publisher: key.did(),
            app: "tiny".parse().unwrap(),
        };
        c.put_installed(&InstalledRow {
            name: "tiny-1".into(),
            app: Some(app.clone()),
            version: v1.version.clone(),
            manifest_hash: v1.manifest.hash,
            wanted: DesiredRun::Running,
            stopped_by_user: false,
            record: "{}".into(),
            updated_at: 1,
        })
        .unwrap();
        c.pin(&key.did(), "test").unwrap();
        c.recompute_trust().unwrap();
        publish(&mut c, &key, "1.1.0", 2);
        let config_auto = BTreeMap::from([(app.to_string(), AutoUpdate::Auto)]);
        let none = BTreeMap::new();
        assert!(due(&c, &none, 0.5).is_empty(), "the default is notify");
        c.set_update_policy(&app, AutoUpdate::Auto).unwrap();
        assert_eq!(due(&c, &none, 0.5).len(), 1, "chosen auto");
        c.set_update_policy(&app, AutoUpdate::Notify).unwrap();
        assert!(
            due(&c, &config_auto, 0.5).is_empty(),
            "the chosen notify wins over the config's auto"
        );
        c.set_update_policy(&app, AutoUpdate::Auto).unwrap();
        c.record_update_failure(&app, "1.1.0", "GET /broken-health: HTTP 404", Some("1.0.0"))
            .unwrap();
        drop(c);
        let mut c = Catalog::open(&path).unwrap();
        assert_eq!(
            c.update_policies().unwrap().get(&app),
            Some(&AutoUpdate::Auto),
            "kept across a restart"
        );
        assert!(
            due(&c, &none, 0.5).is_empty(),
            "a failed version is not retried by itself"
        );
        let f = c.update_failure(&app).unwrap().unwrap();
        assert_eq!(
            (f.version.as_str(), f.reason.as_str(), f.restored.as_deref()),
            ("1.1.0", "GET /broken-health: HTTP 404", Some("1.0.0"))
        );
        publish(&mut c, &key, "1.2.0", 3);
        assert_eq!(
            due(&c, &none, 0.5)
                .into_iter()
                .map(|(_, v, _)| v)
                .collect::<Vec<_>>(),
            vec!["1.2.0"],
            "a newer head is due"
        );
        assert!(c.clear_update_failure(&app).unwrap());
        assert_eq!(c.update_failure(&app).unwrap(), None);
    }

    /// Auto-update applies no head the install/update guard refuses, and never overrides.
    #[test]
    fn no_refused_head_is_due() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Catalog::open(dir.path().join("catalog.db")).unwrap();
        let key = Keypair::from_seed([6; 32]);
        let v1 = publish(&mut c, &key, "1.0.0", 1);
        let app = AppRef {
            publisher: key.did(),
            app: "tiny".parse().unwrap(),
        };
        c.put_installed(&InstalledRow {
            name: "tiny-1".into(),
            app: Some(app.clone()),
            version: v1.version.clone(),
            manifest_hash: v1.manifest.hash,
            wanted: DesiredRun::Running,
            stopped_by_user: false,
            record: "{}".into(),
            updated_at: 1,
        })
        .unwrap();
        c.pin(&key.did(), "test").unwrap();
        c.recompute_trust().unwrap();
        let auto = BTreeMap::from([(app.to_string(), AutoUpdate::Auto)]);
        let due_versions = |c: &Catalog| -> Vec<String> {
            due(c, &auto, 0.5).into_iter().map(|(_, v, _)| v).collect()
        };
        // Stale: past its expiry.
        publish_with(&mut c, &key, "1.1.0", 2, 1_700_000_100, None);
        assert!(due_versions(&c).is_empty(), "a stale head is not applied");
        // Fresh again: due, with the sequence the job must find.
        publish(&mut c, &key, "1.2.0", 3);
        assert_eq!(due(&c, &auto, 0.5), vec![(app.clone(), "1.2.0".into(), 3)]);
        // Blocked: never, whatever its trust was.
        c.block(&key.did(), "test").unwrap();
        c.recompute_trust().unwrap();
        assert!(
            due_versions(&c).is_empty(),
            "a blocked publisher is not followed"
        );
        c.unblock(&key.did()).unwrap();
        c.pin(&key.did(), "test").unwrap();
        c.recompute_trust().unwrap();
        assert_eq!(due_versions(&c), vec!["1.2.0"]);
        // Yanked.
        publish_with(&mut c, &key, "1.2.0", 4, 4_000_000_000, Some("broken"));
        assert!(due_versions(&c).is_empty(), "a yanked head is not applied");
        // Equivocated: two different entries with one sequence.
        publish(&mut c, &key, "1.3.0", 5);
        assert_eq!(due_versions(&c), vec!["1.3.0"]);
        publish(&mut c, &key, "1.3.1", 5);
        assert!(
            due_versions(&c).is_empty(),
            "an equivocated app is not updated by itself"
        );
    }
}
