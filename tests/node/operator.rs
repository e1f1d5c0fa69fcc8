//! What an operator looks for on an installed app, through the real node on rootless
//! podman: a two-container app (a quiet web server with a `show` credential in its config
//! file, a worker that writes to its volume and ticks on stdout and stderr).
//! - the install's last health line says 2/2 ready and its message names the app;
//! - logs: an empty log is "no output yet" (API and CLI), an unknown container a 404 naming
//!   the containers there are, `?follow=true` and `atoll logs -f` stream new lines and end
//!   when the container stops;
//! - credentials: only the `show` secret, only with the admin token, equal to what the app
//!   got, and never in the node's log;
//! - usage: CPU, memory and the volume's bytes next to the manifest's limits (API, CLI);
//! - restarts and the last failure after the worker is killed (API, `atoll status`);
//! - the Installed page in Chromium (tests/browser/operator.mjs) follows a stop and a start
//!   without a reload and keeps its open panels, and announces an app installed elsewhere
//!   meanwhile (shown on request, never re-rendered under the user's hands);
//! - an app without volumes is not said to keep data on uninstall, and a failure names
//!   another installed app by its name, not its install name.

use super::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

/// `operated` (web + worker) and `plain` (one container, no volumes), both on
/// hello-static's busybox image; their web ports in `<app>/port`.
fn operated_apps(dir: &Path) {
    build_images();
    let image = repo().join("apps/hello-static/images/web.oci.tar");
    for (id, manifest) in [
        (
            "operated",
            r#"id: operated
name: Operated
version: 1.0.0
description: A quiet web server and a worker that ticks.
categories: [test]
containers:
  - name: web
    image:
      archive: images/web.oci.tar
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports: [ { container: 8080, host: PORT, web: true } ]
    user: "1000:1000"
    read_only: true
    secrets:
      - { name: admin-password, length: 24, show: true }
    files:
      - path: /www/config.txt
        mode: "0440"
        template: |
          pass={{ secrets.admin-password }}
  - name: worker
    image:
      archive: images/web.oci.tar
    command: ["sh", "-c", "echo worker up; head -c 100000 /dev/zero > /data/blob; echo wrote; i=0; while true; do i=$((i+1)); echo tick $i; echo err $i >&2; sleep 1; done"]
    user: "0"
    init: true
    stop_grace: 2s
    memory: 32Mi
    cpus: 0.25
    volumes: [ { name: data, path: /data } ]
    secrets:
      - { name: internal-key, env: INTERNAL_KEY, length: 32 }
"#,
        ),
        (
            "clash",
            r#"id: clash
name: Clash
version: 1.0.0
description: Wants the host port of operated's web container.
categories: [test]
containers:
  - name: web
    image:
      archive: images/web.oci.tar
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports: [ { container: 8080, host: PORT, web: true } ]
"#,
        ),
        (
            "plain",
            r#"id: plain
name: Plain Page
version: 1.0.0
description: One container, no data.
categories: [test]
containers:
  - name: web
    image:
      archive: images/web.oci.tar
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports: [ { container: 8080, host: PORT, web: true } ]
"#,
        ),
    ] {
        let app = dir.join(id);
        fs::create_dir_all(app.join("images")).unwrap();
        fs::copy(&image, app.join("images/web.oci.tar")).unwrap();
        // clash takes operated's port (operated is written first).
        let port = match id {
            "clash" => fs::read_to_string(dir.join("operated/port"))
                .unwrap()
                .parse()
                .unwrap(),
            _ => free_port(),
        };
        fs::write(app.join("port"), port.to_string()).unwrap();
        fs::write(
            app.join("manifest.yml"),
            manifest.replace("PORT", &port.to_string()),
        )
        .unwrap();
    }
}

fn port_of(node: &Node, id: &str) -> u16 {
    fs::read_to_string(node._apps.path().join(id).join("port"))
        .unwrap()
        .parse()
        .unwrap()
}

/// The ref of app `id`, once its manifest is attached (listed before that).
fn app_ref(node: &Node, id: &str) -> String {
    for _ in 0..300 {
        let (_, apps) = node.get("/api/v1/apps");
        if let Some(item) = apps["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["app"] == id)
        {
            let r = format!("{}/{id}", item["publisher"].as_str().unwrap());
            if !node.get(&format!("/api/v1/apps/{r}")).1["manifest"].is_null() {
                return r;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{id} was not listed with its manifest");
}

fn act(node: &Node, action: &str, app: &str) -> Vec<Value> {
    let (s, job) = node.post(
        &format!("/api/v1/actions/{action}"),
        Some(&node.token),
        &json!({ "app": app }).to_string(),
    );
    assert_eq!(s, 202, "{action}: {job}");
    let events = follow_all(node, job["events"].as_str().unwrap());
    let last = events.last().unwrap();
    assert!(last["error"].is_null(), "{action} failed: {last}");
    events
}

fn row(node: &Node, app: &str) -> Value {
    let (_, list) = node.get("/api/v1/installed");
    list.as_array()
        .unwrap()
        .iter()
        .find(|r| r["ref"] == app)
        .cloned()
        .unwrap_or_else(|| panic!("{app} not in {list}"))
}

fn container<'a>(row: &'a Value, name: &str) -> &'a Value {
    row["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name} in {row}"))
}

fn out_of(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Lines of a followed log (SSE) until `want` of them carry `tick`; returns them.
fn followed_ticks(node: &Node, path: &str, want: usize) -> Vec<Value> {
    let resp = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
        .get(format!("{}{path}", node.url))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let mut ticks = Vec::new();
    for line in BufReader::new(resp).lines() {
        let line = line.unwrap();
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let v: Value = serde_json::from_str(data.trim()).unwrap();
        if v["text"].as_str().unwrap_or("").starts_with("tick ") {
            ticks.push(v);
            if ticks.len() == want {
                break;
            }
        }
    }
    ticks
}

/// Uninstalls (purging) the apps still installed when the test ends, also when it fails:
/// a failed test must not leave containers behind. Never panics (it may run while a panic
/// unwinds).
struct Purge<'a>(&'a Node);

impl Drop for Purge<'_> {
    fn drop(&mut self) {
        let http = reqwest::blocking::Client::new();
        let url = |path: &str| format!("{}/api/v1{path}", self.0.url);
        let installed = || -> Vec<String> {
            let list: Value = http
                .get(url("/installed"))
                .send()
                .and_then(|r| r.json())
                .unwrap_or(Value::Null);
            list.as_array()
                .map(|l| {
                    l.iter()
                        .filter_map(|r| r["ref"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        for app in installed() {
            let _ = http
                .post(url("/actions/uninstall"))
                .bearer_auth(&self.0.token)
                .json(&json!({ "app": app, "purge": true }))
                .send();
        }
        for _ in 0..600 {
            if installed().is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn tick_number(v: &Value) -> u64 {
    v["text"].as_str().unwrap()[5..].parse().unwrap()
}

#[test]
fn operator_sees_live_state_logs_credentials_and_usage() {
    let _podman = podman_user();
    let node = Node::start(operated_apps, &[]);
    let _purge = Purge(&node);
    let app = app_ref(&node, "operated");
    let plain = app_ref(&node, "plain");
    let t = Some(node.token.as_str());

    // Install: the last health line says what was reached; the message names the app.
    let events = act(&node, "install", &app);
    let health: Vec<&str> = events
        .iter()
        .filter(|e| e["stage"] == "health")
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert_eq!(health.last(), Some(&"2/2 containers ready"), "{health:?}");
    let done = events.last().unwrap()["message"].as_str().unwrap();
    assert!(done.starts_with("Operated 1.0.0 is running"), "{done}");
    assert!(
        !done.contains("operated-") && !done.contains("did:key"),
        "{done}"
    );

    // A failure naming another installed app names it as people know it.
    let clash = app_ref(&node, "clash");
    let (s, job) = node.post(
        "/api/v1/actions/install",
        t,
        &json!({ "app": clash }).to_string(),
    );
    assert_eq!(s, 202, "{job}");
    let failed = follow(&node, job["events"].as_str().unwrap());
    let why = failed["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{failed}"));
    assert!(why.contains("installed app Operated"), "{why}");
    assert!(!why.contains("operated-"), "{why}");

    // Restarts and the last failure are in /installed from the start.
    let r = row(&node, &app);
    assert_eq!(container(&r, "worker")["restarts"], 0, "{r}");
    assert!(container(&r, "worker")["last_failure"].is_null(), "{r}");

    // Logs: the quiet web server has none yet; an unknown container names the real ones.
    let (s, l) = node.get(&format!("/api/v1/installed/{app}/logs?container=web"));
    assert_eq!(s, 200, "{l}");
    assert_eq!(l["entries"], json!([]), "{l}");
    let (out, err) = out_of(&node.cli(&["--node", &node.url, "logs", &app, "--container", "web"]));
    assert_eq!(out, "");
    assert!(err.contains("no output yet"), "{err}");
    let (s, e) = node.get(&format!("/api/v1/installed/{app}/logs?container=nope"));
    assert_eq!(s, 404, "{e}");
    assert_error_shape(&e, "not_found");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("operated has no container \"nope\"; its containers: web, worker"),
        "{msg}"
    );
    let (s, e) = node.get(&format!(
        "/api/v1/installed/{app}/logs?container=nope&follow=true"
    ));
    assert_eq!(s, 404, "{e}");
    let cli = node.cli(&["--node", &node.url, "logs", &app, "--container", "nope"]);
    assert!(!cli.status.success());
    assert!(out_of(&cli).1.contains("its containers: web, worker"));

    // The worker's log, both streams, of one container or of each.
    let mut seen = Value::Null;
    for _ in 0..100 {
        seen = node
            .get(&format!("/api/v1/installed/{app}/logs?container=worker"))
            .1;
        if seen["entries"].as_array().unwrap().len() >= 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let entries = seen["entries"].as_array().unwrap();
    assert_eq!(entries[0]["text"], "worker up", "{seen}");
    assert!(entries.iter().all(|e| e["container"] == "worker"));
    assert!(entries.iter().any(|e| e["stream"] == "stderr"), "{seen}");
    let (out, _) = out_of(&node.cli(&[
        "--node",
        &node.url,
        "logs",
        &app,
        "--container",
        "worker",
        "--tail",
        "1000",
    ]));
    assert_eq!(out.lines().next(), Some("worker up"), "{out}");
    let (out, _) = out_of(&node.cli(&["--node", &node.url, "logs", &app]));
    assert!(out.contains("worker: worker up"), "{out}");

    // Followed: lines written after the request arrive, in order.
    let ticks = followed_ticks(
        &node,
        &format!("/api/v1/installed/{app}/logs?container=worker&tail=1&follow=true"),
        3,
    );
    assert!(tick_number(&ticks[2]) > tick_number(&ticks[0]), "{ticks:?}");

    // Credentials: the show secret only, with the token only, what the app got.
    let creds_path = format!("/api/v1/installed/{app}/credentials");
    let (s, e) = node.post(&creds_path, None, "{}");
    assert_eq!(s, 401, "{e}");
    let (s, creds) = node.post(&creds_path, t, "{}");
    assert_eq!(s, 200, "{creds}");
    let list = creds["credentials"].as_array().unwrap();
    assert_eq!(list.len(), 1, "only show secrets: {creds}");
    assert_eq!(list[0]["name"], "admin-password");
    assert_eq!(list[0]["container"], "web");
    let password = list[0]["value"].as_str().unwrap().to_owned();
    assert_eq!(password.len(), 24);
    let served = reqwest::blocking::get(format!(
        "http://127.0.0.1:{}/config.txt",
        port_of(&node, "operated")
    ))
    .unwrap()
    .text()
    .unwrap();
    assert_eq!(served, format!("pass={password}\n"));
    let (out, _) = out_of(&node.cli(&["--node", &node.url, "credentials", &app]));
    assert_eq!(out, format!("admin-password (container web): {password}\n"));

    // Usage next to the limits.
    let (s, u) = node.get(&format!("/api/v1/installed/{app}/usage"));
    assert_eq!(s, 200, "{u}");
    let worker = u["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "worker")
        .unwrap();
    assert_eq!(worker["running"], true, "{u}");
    assert_eq!(worker["memory_limit"], 32 * 1024 * 1024, "{u}");
    assert_eq!(worker["cpu_limit"], 0.25, "{u}");
    assert!(worker["memory_bytes"].as_u64().unwrap() > 0, "{u}");
    assert!(worker["cpu_percent"].as_f64().is_some(), "{u}");
    assert!(worker["processes"].as_u64().unwrap() >= 2, "{u}");
    assert_eq!(worker["volumes"][0]["name"], "data", "{u}");
    assert_eq!(worker["volumes"][0]["bytes"], 100_000, "{u}");
    assert_eq!(u["disk_bytes"], 100_000, "{u}");
    let web = &u["containers"][0];
    assert_eq!(web["name"], "web");
    assert!(
        web["memory_limit"].is_null() && web["volumes"] == json!([]),
        "{u}"
    );

    // A crash: the orchestrator restarts the worker and says what happened.
    let id = container(&row(&node, &app), "worker")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let killed = crash::podman(&["kill", "--signal", "KILL", &id]);
    assert!(killed.status.success(), "{killed:?}");
    let mut r = Value::Null;
    for _ in 0..300 {
        r = row(&node, &app);
        let w = container(&r, "worker");
        if w["restarts"].as_u64().unwrap_or(0) >= 1 && w["state"] == "running" {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let w = container(&r, "worker");
    assert_eq!(w["restarts"], 1, "{r}");
    let failure = w["last_failure"].as_str().unwrap_or_else(|| panic!("{r}"));
    assert!(failure.contains("137"), "{failure}");
    let (out, _) = out_of(&node.cli(&["--node", &node.url, "status", &app]));
    assert!(out.starts_with("Operated 1.0.0: running"), "{out}");
    assert!(
        out.contains("container worker: running, health none, restarts 1"),
        "{out}"
    );
    assert!(out.contains(&format!("last failure: {failure}")), "{out}");
    assert!(out.contains("of limit 0.25 CPU"), "{out}");
    assert!(out.contains("/ 32.0 MiB"), "{out}");
    assert!(out.contains("disk data 97.7 KiB"), "{out}");
    let status = json_of(&node.cli(&["--node", &node.url, "status", &app, "--json"]));
    assert_eq!(status["usage"]["disk_bytes"], 100_000, "{status}");

    // The Installed page: live state across a stop and a start, panels kept.
    let shots = repo().join("test-artifacts");
    let browser = Command::new("node")
        .arg(repo().join("tests/browser/operator.mjs"))
        .env(
            "ATOLL_URL",
            format!("{}/ui/#token={}", node.url, node.token),
        )
        .env("ATOLL_SHOTS", &shots)
        .env("OPERATED_APP", &app)
        .env("OPERATED_PORT", port_of(&node, "operated").to_string())
        .env("NEW_APP", &plain)
        .current_dir(repo().join("tests/browser"))
        .status()
        .expect("running node (Node.js) for the browser test: run .ci/run to install it");
    assert!(
        browser.success(),
        "operator browser test failed; screenshots in {}",
        shots.display()
    );

    // `atoll logs -f` prints new lines and ends when the container stops.
    let mut child = Command::new(env!("CARGO_BIN_EXE_atoll"))
        .args(["--home", node.home.path().to_str().unwrap()])
        .args(["--node", &node.url, "logs", &app, "--container", "worker"])
        .args(["-f", "--tail", "1"])
        .env_remove("ATOLL_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    while lines
        .iter()
        .filter(|l: &&String| l.starts_with("tick "))
        .count()
        < 2
    {
        lines.push(
            rx.recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("atoll logs -f printed only {lines:?}")),
        );
    }
    act(&node, "stop", &app);
    let mut ended = None;
    for _ in 0..300 {
        if let Some(s) = child.try_wait().unwrap() {
            ended = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let Some(ended) = ended else {
        let _ = child.kill();
        panic!("atoll logs -f went on after the container stopped");
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(ended.success(), "{err}");
    assert!(err.contains("the log ended"), "{err}");
    let stopped = row(&node, &app);
    assert_eq!(stopped["state"], "stopped", "{stopped}");
    assert!(stopped["health"].is_null(), "{stopped}");

    // Uninstall: data kept said only of an app that has data.
    let events = act(&node, "uninstall", &app);
    let msg = events.last().unwrap()["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Operated uninstalled; its data is kept (volumes data"),
        "{msg}"
    );
    // The browser test installed Plain Page through the API while the page was open.
    assert_eq!(row(&node, &plain)["state"], "running");
    let events = act(&node, "uninstall", &plain);
    let msg = events.last().unwrap()["message"].as_str().unwrap();
    assert_eq!(msg, "Plain Page uninstalled; it had no data to keep");
    let (s, job) = node.post(
        "/api/v1/actions/install",
        t,
        &json!({ "app": app }).to_string(),
    );
    assert_eq!(s, 202, "{job}");
    follow(&node, job["events"].as_str().unwrap());
    let (s, job) = node.post(
        "/api/v1/actions/uninstall",
        t,
        &json!({ "app": app, "purge": true }).to_string(),
    );
    assert_eq!(s, 202, "{job}");
    let last = follow(&node, job["events"].as_str().unwrap());
    let msg = last["message"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with("Operated uninstalled and its data deleted (volumes data"),
        "{last}"
    );

    // The credential never reached the node's log.
    let log = node.log.lock().unwrap();
    assert!(
        log.iter()
            .any(|l| l.contains("credentials shown to the operator")),
        "the read is not logged at all"
    );
    assert!(
        !log.iter().any(|l| l.contains(&password)),
        "the credential is in the node's log"
    );
}

fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "{}", out_of(out).1);
    serde_json::from_slice(&out.stdout).unwrap()
}
