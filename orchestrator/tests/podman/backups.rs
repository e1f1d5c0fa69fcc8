//! Backups on real rootless podman: a notebook whose container user is 1000 (so its files
//! belong to a subordinate uid) is backed up (stopped and started again), restored onto
//! itself once stopped (refused while it runs), exported, imported into another store
//! (truncated and tampered files refused, storing nothing); an update to a version that
//! rewrites the data and fails its health check rolls back containers and data; a disk
//! that fills during a backup leaves no partial backup and the app's data intact.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use atoll_orchestrator::backup::{archive, BackupStore, Consistency, FileKind, Reason};
use atoll_orchestrator::{BackupError, InstallRequest, ProgressSink, UpdateError};

use crate::harness::{free_port, http_get, release_with, Env};

const APP: &str = "notebook";

/// One visit: the notes count.
fn visit(port: u16) -> u32 {
    let (code, body) = http_get(port, "/cgi-bin/index.cgi").expect("notebook answers");
    assert_eq!(code, 200, "{body}");
    let open = "<span id=\"count\">";
    let start = body.find(open).expect("count") + open.len();
    body[start..].split('<').next().unwrap().parse().unwrap()
}

fn as_user_1000(m: &mut atoll_registry::Manifest) {
    m.containers[0].user = Some("1000:1000".into());
}

fn blobs(data: &Path) -> usize {
    std::fs::read_dir(data.join("backups/blobs")).map_or(0, |r| r.count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_restore_export_import_and_rollback_keep_the_data() {
    let env = Env::new("backup");
    let mut config = env.config();
    config.update_window = Some(Duration::from_secs(20));
    let orch = env.orchestrator_with(config).await;
    let port = free_port();
    let sink = ProgressSink::none();
    let v1 = release_with(APP, as_user_1000);
    orch.install(InstallRequest::new(v1).port(18081, port), &sink)
        .await
        .unwrap();
    for n in 1..=3 {
        assert_eq!(visit(port), n);
    }
    env.podman_ok(&[
        "exec",
        "atoll_notebook_web",
        "sh",
        "-c",
        "mkdir -p /data/sub && echo hi > /data/sub/f && chmod 640 /data/sub/f && ln -s notes.txt /data/link",
    ]);

    // A manual backup of the running app stops it for the snapshot and starts it again.
    let t = Instant::now();
    let b = orch.backup(APP, Reason::Manual, &sink).await.unwrap();
    eprintln!(
        "measured: backup of {} files, {} bytes in {:?}",
        b.files,
        b.bytes,
        t.elapsed()
    );
    assert_eq!(b.consistency, Consistency::Stopped);
    assert_eq!((b.files, b.secrets), (2, 1), "{b:?}");
    let record = orch.backups().get(&b.id).unwrap();
    let entry = |p: &str| record.files.iter().find(|f| f.path == p).unwrap().clone();
    assert_eq!(
        entry("data/notes.txt").uid,
        1000,
        "owners are container uids"
    );
    assert_eq!(entry("data/sub/f").mode, 0o640);
    assert_eq!(
        entry("data/link").kind,
        FileKind::Symlink {
            target: "notes.txt".into()
        }
    );
    assert_eq!(visit(port), 4, "the app runs again after its backup");

    // A restore onto the running app is refused; nothing changes.
    let e = orch.restore(&b.id, &sink).await.unwrap_err();
    assert!(matches!(e, BackupError::Running { .. }), "{e}");
    assert!(e.to_string().contains("stop it first"), "{e}");
    assert_eq!(visit(port), 5);

    // Stopped: the preview says what it replaces; the restore backs that up first.
    orch.stop(APP, &sink).await.unwrap();
    let (_, replaces) = orch.restore_preview(&b.id).await.unwrap();
    assert_eq!(replaces.current.files, 2);
    assert!(
        replaces.current.bytes > replaces.backup_bytes - 32,
        "{replaces:?}"
    );
    let before = blobs(&env.data);
    let t = Instant::now();
    let report = orch.restore(&b.id, &sink).await.unwrap();
    eprintln!(
        "measured: restore of {} bytes in {:?}",
        b.bytes,
        t.elapsed()
    );
    let pre = report.pre_restore.clone().expect("a pre-restore backup");
    assert!(
        blobs(&env.data) > before,
        "the replaced notes are new bytes"
    );
    let app_dir = env.data.join("apps").join(APP);
    let notes = app_dir.join("volumes/data/notes.txt");
    let sub = orch.host().subuid_start().unwrap();
    assert_eq!(std::fs::metadata(&notes).unwrap().uid(), sub + 999);
    assert_eq!(
        std::fs::read_link(app_dir.join("volumes/data/link")).unwrap(),
        Path::new("notes.txt")
    );
    orch.start(APP, &sink).await.unwrap();
    assert_eq!(visit(port), 4, "three restored visits and this one");

    // Identical data is stored once: a backup of unchanged data adds no blob.
    orch.stop(APP, &sink).await.unwrap();
    let once = orch.backup(APP, Reason::Manual, &sink).await.unwrap();
    assert_eq!(once.consistency, Consistency::NotRunning);
    let before = blobs(&env.data);
    let twice = orch.backup(APP, Reason::Manual, &sink).await.unwrap();
    assert_eq!(blobs(&env.data), before);
    for id in [&twice.id, &once.id, &pre] {
        if orch.backups().get(id).is_ok() {
            orch.delete_backup(id).await.unwrap();
        }
    }
    orch.backups().complete(&record).unwrap();
    orch.start(APP, &sink).await.unwrap();
    assert_eq!(visit(port), 5);

    // Export and import into another node's store; bad files store nothing.
    let mut file = Vec::new();
    archive::export(orch.backups(), &record, &mut file).unwrap();
    let other = tempfile::tempdir().unwrap();
    let store = BackupStore::new(other.path());
    let cut = &file[..file.len() / 2];
    let e = archive::import(&store, cut).unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
    let mut tampered = file.clone();
    let at = tampered.windows(8).position(|w| w == b"visit at").unwrap();
    tampered[at] = b'V';
    let e = archive::import(&store, tampered.as_slice()).unwrap_err();
    assert!(e.to_string().contains("altered"), "{e}");
    assert!(store.records().unwrap().is_empty());
    assert_eq!(blobs(other.path()), 0, "nothing of a refused file is kept");
    let imported = archive::import(&store, file.as_slice()).unwrap();
    assert_eq!(imported.id(), record.id());
    store.complete(&imported).unwrap();

    // An update to a version that rewrites the data and fails its health check: the
    // containers and the data roll back.
    let bad = release_with(APP, |m| {
        as_user_1000(m);
        m.version = "1.1.0".parse().unwrap();
        m.containers[0].command = Some(vec![
            "sh".into(),
            "-c".into(),
            "echo migrated > /data/notes.txt; exec httpd -f -p 8080 -h /www".into(),
        ]);
        if let Some(h) = m.containers[0].health.as_mut() {
            if let Some(http) = h.http.as_mut() {
                http.path = "/missing".into();
            }
        }
    });
    let e = orch.update(APP, bad, &sink).await.unwrap_err();
    assert!(matches!(e, UpdateError::RolledBack { .. }), "{e}");
    assert_eq!(visit(port), 6, "the notes from before the update are back");
    let list = orch.list_backups().await.unwrap();
    assert!(
        list.iter()
            .any(|b| b.reason == Reason::PreUpdate && b.installed),
        "{list:?}"
    );

    // Retention: only the newest `keep` automatic backups stay; manual ones are kept.
    orch.stop(APP, &sink).await.unwrap();
    for _ in 0..3 {
        orch.backup(APP, Reason::Scheduled, &sink).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await; // distinct times, distinct ids
    }
    let automatic = |l: &[atoll_orchestrator::backup::BackupSummary]| {
        l.iter().filter(|b| b.reason.is_automatic()).count()
    };
    let all = orch.list_backups().await.unwrap();
    assert_eq!(
        automatic(&all),
        4,
        "three scheduled, one pre-update: {all:?}"
    );
    let manual = all.iter().filter(|b| b.reason == Reason::Manual).count();
    assert_eq!(orch.prune_backups(APP, 2).await.unwrap(), 2);
    let left = orch.list_backups().await.unwrap();
    assert_eq!(automatic(&left), 2);
    assert_eq!(
        left.iter().filter(|b| b.reason == Reason::Manual).count(),
        manual
    );
    assert!(
        left.iter().any(|b| b.reason == Reason::Scheduled),
        "the newest are kept: {left:?}"
    );
    orch.backups().complete(&record).unwrap();
    orch.start(APP, &sink).await.unwrap();

    // Uninstall keeps a last backup, listed as of an app no longer installed.
    orch.uninstall(APP, true, &sink).await.unwrap();
    orch.install(
        InstallRequest::new(release_with(APP, as_user_1000)).port(18081, port),
        &sink,
    )
    .await
    .unwrap();
    orch.uninstall(APP, false, &sink).await.unwrap();
    let list = orch.list_backups().await.unwrap();
    assert!(
        list.iter()
            .any(|b| b.reason == Reason::Uninstall && !b.installed),
        "{list:?}"
    );
    assert!(env.labelled().is_empty(), "{:?}", env.labelled());
    orch.shutdown().await;
}

/// Unmounts the tmpfs even when the test fails.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_that_fills_during_a_backup_leaves_no_partial_backup() {
    let env = Env::new("backup-full");
    let orch = env.orchestrator().await;
    let port = free_port();
    let sink = ProgressSink::none();
    orch.install(
        InstallRequest::new(release_with(APP, |_| {})).port(18081, port),
        &sink,
    )
    .await
    .unwrap();
    assert_eq!(visit(port), 1);
    let backups = env.data.join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs"])
        .arg(&backups)
        .status()
        .unwrap();
    assert!(status.success(), "mounting a tmpfs needs root");
    let _mounted = Mounted(backups.clone());
    let first = orch.backup(APP, Reason::Manual, &sink).await.unwrap();
    assert_eq!(visit(port), 2);
    // 3 MiB of new data (the container user is root: the podman user owns its files).
    let big = env.data.join("apps").join(APP).join("volumes/data/big");
    std::fs::write(&big, vec![7u8; 3 << 20]).unwrap();
    std::os::unix::fs::chown(&big, Some(env.uid), Some(env.uid)).unwrap();
    let e = orch.backup(APP, Reason::Manual, &sink).await.unwrap_err();
    assert!(e.is_no_space(), "{e}");
    assert!(e.to_string().contains("no space left"), "{e}");
    let list = orch.list_backups().await.unwrap();
    assert_eq!(list.len(), 1, "only the earlier backup is listed: {list:?}");
    assert_eq!(list[0].id, first.id);
    let record = orch.backups().get(&first.id).unwrap();
    orch.backups().complete(&record).unwrap();
    assert_eq!(
        blobs(&env.data),
        record.blobs().len(),
        "no blob of the failed one is left"
    );
    assert_eq!(std::fs::read_dir(backups.join("tmp")).unwrap().count(), 0);
    // The app runs again on its data, the big file included.
    assert_eq!(visit(port), 3);
    assert_eq!(std::fs::metadata(big).unwrap().len(), 3 << 20);
    drop(_mounted);
    orch.uninstall(APP, true, &sink).await.unwrap();
    assert!(env.labelled().is_empty(), "{:?}", env.labelled());
    orch.shutdown().await;
}
