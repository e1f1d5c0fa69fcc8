//! Settings, config file templates and credentials shown once, on real podman: the
//! container reads the rendered file (busybox httpd serves it), the file's owner and mode
//! on the host, a changed setting recreates the container, the generated credential comes
//! back once; and an archive built for another CPU is refused before anything is loaded.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use atoll_orchestrator::{
    DesiredState, ImageError, InstallError, InstallRequest, ProgressSink, Release,
};
use atoll_registry::manifest::{Secret, Setting, TemplateFile};

use crate::harness::{eventually, free_port, http_get, release_with, Env};

const TEMPLATE: &str = "user={{ settings.admin-user }}\npass={{ secrets.admin-password }}\n\
                        greeting={{ settings.greeting }}\napp={{ app.name }} {{ app.id }} {{ app.version }}\n";

/// hello-static as uid 1000 with two settings, a `show` secret used only in a file, and
/// that file under the served dir.
fn templated(version: &str, greeting_default: &str) -> Release {
    release_with("hello-static", |m| {
        m.version = version.parse().unwrap();
        m.settings = vec![
            Setting {
                name: "admin-user".into(),
                description: "The admin account's name".into(),
                default: None,
            },
            Setting {
                name: "greeting".into(),
                description: "Said on the page".into(),
                default: Some(greeting_default.into()),
            },
        ];
        let c = &mut m.containers[0];
        c.user = Some("1000:1000".into());
        c.secrets = vec![Secret {
            name: "admin-password".into(),
            env: None,
            length: 24,
            show: true,
        }];
        c.files = vec![TemplateFile {
            path: "/www/config.txt".into(),
            mode: Some("0440".into()),
            template: TEMPLATE.into(),
        }];
    })
}

fn subid_start(file: &str, user: &str) -> u32 {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines()
        .find_map(|l| {
            let mut f = l.split(':');
            (f.next() == Some(user)).then(|| f.next().unwrap().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("{user} has no range in {file}"))
}

/// The one rendered file of the app's `web` container.
fn rendered(app_dir: &Path) -> PathBuf {
    let dir = app_dir.join("files/web");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

fn config_txt(port: u16) -> String {
    let (code, body) = http_get(port, "/config.txt").expect("httpd answers");
    assert_eq!(code, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_fill_a_mounted_file_and_the_credential_is_shown_once() {
    let env = Env::new("tmpl");
    let orch = env.orchestrator().await;
    let port = free_port();
    let sink = ProgressSink::none();
    let install = |r: Release| InstallRequest::new(r).name("site").port(18080, port);

    // Bad settings are refused before anything is recorded or created.
    let err = orch
        .install(install(templated("1.0.0", "hello")), &sink)
        .await
        .unwrap_err();
    assert!(matches!(err, InstallError::Settings(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "setting \"admin-user\" of hello-static is required (it has no default): The admin account's name"
    );
    let err = orch
        .install(
            install(templated("1.0.0", "hello"))
                .setting("admin-user", "alice")
                .setting("colour", "blue"),
            &sink,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no setting \"colour\""), "{err}");
    let err = orch
        .install(
            install(templated("1.0.0", "hello")).setting("admin-user", "alice\n[evil]"),
            &sink,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no newlines"), "{err}");
    assert!(orch.ps().await.unwrap().is_empty());
    assert!(env.labelled().is_empty(), "{:?}", env.labelled());

    // Install: the credential comes back once, in the report; the file holds the values.
    let report = orch
        .install(
            install(templated("1.0.0", "hello")).setting("admin-user", "alice"),
            &sink,
        )
        .await
        .unwrap();
    assert_eq!(report.credentials.len(), 1, "{report:?}");
    let cred = &report.credentials[0];
    assert_eq!(
        (cred.name.as_str(), cred.container.as_str()),
        ("admin-password", "web")
    );
    let password = cred.value.expose().to_owned();
    assert_eq!(password.len(), 24);
    assert!(report.kept.is_empty());
    assert!(
        !format!("{report:?}").contains(&password),
        "credential in Debug output"
    );
    let expected = |greeting: &str, version: &str| {
        format!(
            "user=alice\npass={password}\ngreeting={greeting}\napp=site hello-static {version}\n"
        )
    };
    assert_eq!(config_txt(port), expected("hello", "1.0.0"));

    // On the host: a 0700 dir of the podman user; the file belongs to the host uid the
    // container's uid 1000 maps to, mode 0440 as the manifest says. No other host user
    // reaches it.
    let app_dir = env.data.join("apps/site");
    let dir = std::fs::metadata(app_dir.join("files/web")).unwrap();
    assert_eq!((dir.mode() & 0o777, dir.uid()), (0o700, env.uid));
    let file = rendered(&app_dir);
    let meta = std::fs::metadata(&file).unwrap();
    let uid = subid_start("/etc/subuid", &env.user) + 999;
    let gid = subid_start("/etc/subgid", &env.user) + 999;
    assert_eq!(
        (meta.mode() & 0o777, meta.uid(), meta.gid()),
        (0o440, uid, gid)
    );
    // Mounted read-only: the container cannot change it.
    let name = "atoll_site_web";
    let out = env.podman(&["exec", name, "sh", "-c", "echo x > /www/config.txt"]);
    assert!(
        !out.status.success(),
        "the file is writable in the container"
    );
    assert_eq!(
        env.podman_ok(&["exec", name, "cat", "/www/config.txt"]),
        expected("hello", "1.0.0")
    );

    // A changed setting is a new file, so a new container.
    let before = env.inspect(name).unwrap()["Id"].clone();
    let mut record = env.store.get("site").await.unwrap().unwrap();
    record.settings.insert("admin-user".into(), "bob".into());
    env.store.put(&record).await.unwrap();
    let body = eventually("the container serves the new setting", || {
        http_get(port, "/config.txt")
            .filter(|(c, b)| *c == 200 && b.starts_with("user=bob"))
            .map(|(_, b)| b)
    })
    .await;
    assert_eq!(body, expected("hello", "1.0.0").replacen("alice", "bob", 1));
    assert_ne!(env.inspect(name).unwrap()["Id"], before, "not recreated");
    let old = file;
    let file = rendered(&app_dir);
    assert_ne!(old, file, "the old rendering stays");
    record.settings.insert("admin-user".into(), "alice".into());
    env.store.put(&record).await.unwrap();
    eventually("back to alice", || {
        http_get(port, "/config.txt").filter(|(_, b)| b.starts_with("user=alice"))
    })
    .await;

    // An update keeps the values given and the secret (nothing new to show); a setting
    // left to its default takes the new version's default.
    let up = orch
        .update("site", templated("1.1.0", "bonjour"), &sink)
        .await
        .unwrap();
    assert!(up.credentials.is_empty());
    assert_eq!(config_txt(port), expected("bonjour", "1.1.0"));

    // Reinstall after an uninstall that kept the data: the secret is kept, not shown.
    orch.uninstall("site", false, &sink).await.unwrap();
    let again = orch
        .install(
            install(templated("1.1.0", "hello")).setting("admin-user", "alice"),
            &sink,
        )
        .await
        .unwrap();
    assert!(again.credentials.is_empty());
    assert_eq!(again.kept, ["admin-password"]);
    assert_eq!(config_txt(port), expected("hello", "1.1.0"));

    orch.uninstall("site", true, &sink).await.unwrap();
    assert!(!app_dir.exists());
    assert!(env.labelled().is_empty(), "{:?}", env.labelled());
    orch.shutdown().await;
}

/// hello-static with its archive's config rewritten to `arch` (GNU tar), in `tmp`.
fn foreign_release(tmp: &Path, arch: &str) -> Release {
    let src = crate::harness::app_dir("hello-static");
    let layout = tmp.join("layout");
    std::fs::create_dir_all(&layout).unwrap();
    let tar = |args: &[&std::ffi::OsStr]| {
        let ok = std::process::Command::new("tar")
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "tar {args:?}");
    };
    let archive = src.join("images/web.oci.tar");
    tar(&[
        "-xf".as_ref(),
        archive.as_os_str(),
        "-C".as_ref(),
        layout.as_os_str(),
    ]);
    let host = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "amd64"
    };
    for e in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let p = e.unwrap().path();
        if std::fs::metadata(&p).unwrap().len() < 4096 {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            let from = format!("\"architecture\":\"{host}\"");
            if text.contains(&from) {
                let to = format!("\"architecture\":\"{arch}\"");
                std::fs::write(&p, text.replace(&from, &to)).unwrap();
            }
        }
    }
    let app = tmp.join("app");
    std::fs::create_dir_all(app.join("images")).unwrap();
    for f in ["manifest.yml", "icon.svg"] {
        std::fs::copy(src.join(f), app.join(f)).unwrap();
    }
    let out = app.join("images/web.oci.tar");
    tar(&[
        "-cf".as_ref(),
        out.as_os_str(),
        "-C".as_ref(),
        layout.as_os_str(),
        ".".as_ref(),
    ]);
    Release::from_app_dir(&app).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_for_another_architecture_is_refused_before_loading() {
    let env = Env::new("arch");
    let orch = env.orchestrator().await;
    let tmp = tempfile::tempdir().unwrap();
    let foreign = if cfg!(target_arch = "aarch64") {
        "amd64"
    } else {
        "arm64"
    };
    let release = foreign_release(tmp.path(), foreign);
    let err = orch
        .install(
            InstallRequest::new(release).port(18080, free_port()),
            &ProgressSink::none(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, InstallError::Image(ImageError::Architecture { .. })),
        "{err}"
    );
    let host = if foreign == "arm64" { "amd64" } else { "arm64" };
    assert_eq!(
        err.to_string(),
        format!("archive images/web.oci.tar is built for {foreign}; this host runs {host}")
    );
    let images = env.podman_ok(&["images", "-q"]);
    assert!(images.trim().is_empty(), "loaded: {images}");
    assert!(orch.ps().await.unwrap().is_empty());
    assert!(env.labelled().is_empty());
    orch.shutdown().await;
}
