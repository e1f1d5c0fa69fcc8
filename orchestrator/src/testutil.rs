//! Helpers for unit tests: records and specs from the sample apps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::release::Release;
use crate::secrets::SecretString;
use crate::spec::{self, Desired, Inputs};
use crate::store::{AppRecord, Wanted};

/// `apps/<id>` of the workspace.
pub fn app_dir(id: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../apps")
        .join(id)
}

/// A record of a sample app, with fake image ids. Needs the built archives
/// (scripts/build-images.sh) for the hashes.
pub fn record(id: &str) -> AppRecord {
    let release = Release::from_app_dir(&app_dir(id))
        .unwrap_or_else(|e| panic!("{e} (run scripts/build-images.sh)"));
    let images = release
        .manifest
        .containers
        .iter()
        .map(|c| (c.name.clone(), format!("{:0>64}", c.name.len())))
        .collect();
    AppRecord {
        name: id.to_owned(),
        release,
        ports: BTreeMap::new(),
        settings: BTreeMap::new(),
        links: Vec::new(),
        wanted: Wanted::Running,
        stopped_by_user: false,
        images,
        previous: None,
        phase: Default::default(),
        updated_at: 0,
    }
}

/// A fixed secret value for tests.
pub fn secret(value: &str) -> SecretString {
    let tmp = std::env::temp_dir().join(format!("atoll-testutil-{}-{value}", std::process::id()));
    let s = atoll_registry::manifest::Secret {
        name: "s".into(),
        env: Some("S".into()),
        length: 32,
        show: false,
    };
    let _ = std::fs::create_dir_all(tmp.join("secrets"));
    std::fs::write(tmp.join("secrets/s"), value).unwrap_or_else(|e| panic!("{e}"));
    let out = crate::secrets::ensure(&tmp, &s).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_dir_all(&tmp);
    out
}

/// Desired specs of every container of a record, in start order.
pub fn desired(record: &AppRecord, secrets: &BTreeMap<String, SecretString>) -> Vec<Desired> {
    desired_with_files(record, secrets, &BTreeMap::new())
}

/// As [`desired`], with rendered config files.
pub fn desired_with_files(
    record: &AppRecord,
    secrets: &BTreeMap<String, SecretString>,
    files: &BTreeMap<String, Vec<crate::files::Rendered>>,
) -> Vec<Desired> {
    let dir = PathBuf::from("/data/apps").join(&record.name);
    let inputs = Inputs {
        node: "node-1",
        app_dir: &dir,
        secrets,
        files,
    };
    crate::order::start_order(&record.release.manifest)
        .unwrap_or_else(|c| panic!("cycle at {c}"))
        .into_iter()
        .map(|c| {
            spec::build(record, c, &inputs).unwrap_or_else(|| panic!("no image for {}", c.name))
        })
        .collect()
}
