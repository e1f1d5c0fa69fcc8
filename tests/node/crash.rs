//! Crash safety of install, update and uninstall, on real rootless podman: for every step
//! boundary (a failpoint, `ATOLL_FAILPOINT=<op>:<boundary>`, makes the node say it got
//! there and wait) the test starts the operation through the API, SIGKILLs the node at
//! the failpoint, starts it again on the same data dir and checks that
//!
//! * no ghost is listed: every app `/installed` lists has its containers running;
//! * no running app is missing from the list: every container of this node belongs to a
//!   listed app;
//! * the operation completed (the restarted node finishes installs and updates; the loop
//!   finishes uninstalls);
//! * uninstalling and installing again works.
//!
//! A SIGKILLed node leaves the podman API service it started behind (parent pid 1) and the
//! restarted node uses it, as on a real host; at the end of a test it is killed (its tag
//! is unique to the test) and nothing of the test is left.

use super::*;

/// One app of its own per test (unique id, unique host port).
fn crash_app(dir: &Path, id: &str, port: u16, version: &str) {
    build_images();
    let app = dir.join(id);
    fs::create_dir_all(app.join("images")).unwrap();
    let image = app.join("images/web.oci.tar");
    if !image.exists() {
        fs::copy(repo().join("apps/hello-static/images/web.oci.tar"), &image).unwrap();
    }
    fs::write(
        app.join("manifest.yml"),
        format!(
            r#"id: {id}
name: Crash {id}
version: {version}
description: An app the crash tests install, update and uninstall.
categories: [test]
containers:
  - name: web
    image:
      archive: images/web.oci.tar
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    env: {{ VERSION: "{version}" }}
    ports: [ {{ container: 8080, host: {port}, web: true }} ]
    health:
      http: {{ port: 8080, path: / }}
      interval: 5s
      timeout: 2s
      retries: 3
      start_period: 5s
    stop_grace: 2s
    init: true
"#
        ),
    )
    .unwrap();
}

/// The podman CLI as the rootless user the node uses.
pub(crate) fn podman(args: &[&str]) -> Output {
    let user = std::env::var("ATOLL_PODMAN_USER").unwrap_or_else(|_| "atoll".to_owned());
    let uid = Command::new("id").args(["-u", &user]).output().unwrap();
    let uid = String::from_utf8_lossy(&uid.stdout).trim().to_owned();
    Command::new("runuser")
        .args(["-u", &user, "--", "env", "-C", "/"])
        .arg(format!("XDG_RUNTIME_DIR=/run/user/{uid}"))
        .arg("podman")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A node's containers and networks in podman, found by its node label.
pub(crate) struct Podman {
    /// (install name, state) per container.
    pub(crate) containers: Vec<(String, String)>,
    pub(crate) networks: Vec<String>,
}

/// What podman holds of the node whose data dir is `home` (the node id is derived from
/// the data dir path, as `start_orchestrator` in src/node.rs does).
pub(crate) fn podman_of(home: &Path) -> Podman {
    let id = atoll_registry::Hash::of(home.display().to_string().as_bytes()).to_hex();
    let label = format!("label=io.atoll.node=atoll-{}", &id[..10]);
    let out = podman(&["ps", "-a", "--filter", &label, "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&out.stdout).unwrap_or(json!([]));
    let containers = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["Labels"]["io.atoll.app"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                c["State"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let out = podman(&["network", "ls", "--filter", &label, "--format", "{{.Name}}"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let networks = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    Podman {
        containers,
        networks,
    }
}

/// A test's node: one home and apps dir, restarted on them, one podman tag.
struct Crash {
    home: Arc<tempfile::TempDir>,
    apps: Arc<tempfile::TempDir>,
    tag: String,
    id: &'static str,
    node: Option<Node>,
}

impl Crash {
    fn new(id: &'static str, port: u16) -> Crash {
        let apps = tempfile::tempdir().unwrap();
        crash_app(apps.path(), id, port, "1.0.0");
        Crash {
            home: Arc::new(tempfile::tempdir().unwrap()),
            apps: Arc::new(apps),
            tag: format!("atoll-crash-{}-{id}", std::process::id()),
            id,
            node: None,
        }
    }

    /// Start the node (after a crash or a clean stop), with `failpoint` switched on, and
    /// wait until its app is in the catalog at `version`. Returns the app's ref.
    fn start(&mut self, failpoint: Option<&str>, version: &str) -> String {
        assert!(self.node.is_none());
        let node = Node::start_in(
            self.home.clone(),
            self.apps.clone(),
            &[],
            Some(&self.tag),
            failpoint,
        );
        let mut found = None;
        for _ in 0..1200 {
            let (_, apps) = node.get("/api/v1/apps");
            found = apps["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["app"] == self.id && a["version"] == version && a["description"] != "")
                .and_then(|a| a["ref"].as_str().map(str::to_owned));
            if found.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.node = Some(node);
        found.unwrap_or_else(|| panic!("{} {version} never reached the catalog", self.id))
    }

    fn node(&self) -> &Node {
        self.node.as_ref().unwrap()
    }

    /// Start an action and follow its job to the end; the last event.
    fn act(&self, action: &str, app: &str) -> Value {
        let job = self.begin(action, app);
        follow(self.node(), job["events"].as_str().unwrap())
    }

    /// Start an action (uninstall purges); its job.
    fn begin(&self, action: &str, app: &str) -> Value {
        let node = self.node();
        let body = if action == "uninstall" {
            json!({ "app": app, "purge": true })
        } else {
            json!({ "app": app })
        };
        let (s, job) = node.post(
            &format!("/api/v1/actions/{action}"),
            Some(&node.token),
            &body.to_string(),
        );
        assert_eq!(s, 202, "{action}: {job}");
        job
    }

    /// Start an action, wait until the node reports the failpoint, SIGKILL it.
    fn crash_at(&mut self, action: &str, app: &str, failpoint: &str) {
        let job = self.begin(action, app);
        let Ok(reached) = self
            .node()
            .failpoints
            .recv_timeout(Duration::from_secs(240))
        else {
            // Say how the job ended instead.
            let last = follow(self.node(), job["events"].as_str().unwrap());
            panic!("{action} never reached failpoint {failpoint}: {last}");
        };
        assert_eq!(reached, failpoint);
        let mut node = self.node.take().unwrap();
        node.child.kill().unwrap(); // SIGKILL
        node.child.wait().unwrap();
        // What the dead node left (its podman API service, if it started it) stays for the
        // next start, as on a real host.
        node.reap_tagged = false;
    }

    /// Stop the node with SIGTERM (it exits 0).
    fn stop(&mut self) {
        let mut node = self.node.take().unwrap();
        let status = node.terminate();
        assert!(status.success(), "node exited with {status}");
    }

    /// Wait (hang guard only) until `/installed` shows `app` as `want`: `Some(version)`
    /// running at that version, or `None` not listed; then check the list against podman.
    fn settle(&self, app: &str, want: Option<&str>) -> Value {
        let mut last = Value::Null;
        for _ in 0..2400 {
            let (s, list) = self.node().get("/api/v1/installed");
            assert_eq!(s, 200, "{list}");
            let row = list
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["ref"] == app)
                .cloned();
            let done = match (want, &row) {
                (None, None) => true,
                (Some(v), Some(r)) => r["version"] == v && r["state"] == "running",
                _ => false,
            };
            last = list;
            if done {
                self.assert_list_matches_podman(&last);
                return last;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{app} never became {want:?}: {last}");
    }

    /// No ghost (listed without its containers running) and no app running that the list
    /// misses.
    fn assert_list_matches_podman(&self, list: &Value) {
        let mut listed = 0;
        for row in list.as_array().unwrap() {
            let containers = row["containers"].as_array().cloned().unwrap_or_default();
            assert!(
                !containers.is_empty(),
                "listed without containers (a ghost): {row}"
            );
            for c in &containers {
                assert!(
                    c["id"].is_string() && c["state"] == "running",
                    "listed but not running (a ghost): {row}"
                );
                listed += 1;
            }
        }
        let held = podman_of(self.home.path());
        assert!(
            held.containers.iter().all(|(_, state)| state == "running"),
            "podman holds containers of the node that are not running: {:?}",
            held.containers
        );
        assert_eq!(
            held.containers.len(),
            listed,
            "podman runs {:?}, the node lists {list}",
            held.containers
        );
    }

    /// Nothing of the node is left in podman.
    fn assert_nothing_in_podman(&self) {
        let held = podman_of(self.home.path());
        assert!(
            held.containers.is_empty() && held.networks.is_empty(),
            "left in podman: {:?} {:?}",
            held.containers,
            held.networks
        );
    }

    /// Uninstall, check nothing is left, install again (running at `version`).
    fn reinstall(&self, app: &str, version: &str) {
        let last = self.act("uninstall", app);
        assert!(last["error"].is_null(), "uninstall failed: {last}");
        self.settle(app, None);
        self.assert_nothing_in_podman();
        let last = self.act("install", app);
        assert!(last["error"].is_null(), "reinstall failed: {last}");
        self.settle(app, Some(version));
    }

    /// Uninstall, stop the node, check nothing is left: no container or network, and no
    /// process once the service a SIGKILLed node orphaned is gone.
    fn finish(&mut self, app: &str) {
        let last = self.act("uninstall", app);
        assert!(last["error"].is_null(), "uninstall failed: {last}");
        self.settle(app, None);
        self.assert_nothing_in_podman();
        let mut node = self.node.take().unwrap();
        let status = node.terminate();
        assert!(status.success(), "node exited with {status}");
        kill_tagged(&self.tag);
        node.assert_no_podman_left();
    }
}

impl Drop for Crash {
    fn drop(&mut self) {
        drop(self.node.take());
        kill_tagged(&self.tag);
        // Last resort after a failed run: nothing of this node stays in podman (a
        // container left running keeps podman's shared DNS helper alive for later tests).
        let id =
            atoll_registry::Hash::of(self.home.path().display().to_string().as_bytes()).to_hex();
        let label = format!("label=io.atoll.node=atoll-{}", &id[..10]);
        let ids = podman(&["ps", "-aq", "--filter", &label]);
        for c in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            podman(&["rm", "-f", "-t", "0", c]);
        }
        let nets = podman(&["network", "ls", "-q", "--filter", &label]);
        for n in String::from_utf8_lossy(&nets.stdout).split_whitespace() {
            podman(&["network", "rm", "-f", n]);
        }
    }
}

#[test]
fn install_survives_a_crash_at_every_step() {
    let _podman = podman_user();
    let mut t = Crash::new("crash-install", 18101);
    for fp in [
        "install:after-record",
        "install:after-images",
        "install:after-prepared",
        "install:after-containers",
    ] {
        let app = t.start(Some(fp), "1.0.0");
        t.crash_at("install", &app, fp);
        t.start(None, "1.0.0");
        // The restarted node finishes the install.
        t.settle(&app, Some("1.0.0"));
        t.reinstall(&app, "1.0.0");
        t.finish(&app);
    }
}

#[test]
fn update_survives_a_crash_at_every_step() {
    let _podman = podman_user();
    let mut t = Crash::new("crash-update", 18102);
    let app = t.start(None, "1.0.0");
    let last = t.act("install", &app);
    assert!(last["error"].is_null(), "install failed: {last}");
    t.settle(&app, Some("1.0.0"));
    t.stop();
    let boundaries = [
        "update:after-record",
        "update:after-images",
        "update:after-prepared",
        "update:after-containers",
    ];
    for (i, fp) in boundaries.into_iter().enumerate() {
        // A newer version, published by the node's next start.
        let version = format!("1.0.{}", i + 1);
        crash_app(t.apps.path(), t.id, 18102, &version);
        t.start(Some(fp), &version);
        t.crash_at("update", &app, fp);
        t.start(None, &version);
        // The restarted node proves the new version and keeps it.
        t.settle(&app, Some(&version));
        t.reinstall(&app, &version);
        if i + 1 < boundaries.len() {
            t.stop();
        }
    }
    t.finish(&app);
}

#[test]
fn uninstall_survives_a_crash_at_every_step() {
    let _podman = podman_user();
    let mut t = Crash::new("crash-uninstall", 18103);
    for fp in ["uninstall:after-record", "uninstall:before-forget"] {
        let app = t.start(Some(fp), "1.0.0");
        let last = t.act("install", &app);
        assert!(last["error"].is_null(), "install failed: {last}");
        t.settle(&app, Some("1.0.0"));
        t.crash_at("uninstall", &app, fp);
        t.start(None, "1.0.0");
        // The loop of the restarted node finishes the uninstall.
        t.settle(&app, None);
        t.assert_nothing_in_podman();
        let last = t.act("install", &app);
        assert!(last["error"].is_null(), "reinstall failed: {last}");
        t.settle(&app, Some("1.0.0"));
        t.finish(&app);
    }
}
