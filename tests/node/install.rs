//! Install and uninstall outcomes through the real node and podman: a port conflict (the
//! manifest's host port bound first) names the override that fixes it; an install with a
//! host-port override (API `ports`, CLI `--port HOST=CONTAINER`) answers there, also after
//! a restart; the job's percent never goes back and its last event names the app's URL;
//! an uninstall keeping data says so and how to delete it, the data is listed (`GET /data`,
//! `atoll data list`) and offered on the app page before a reinstall; a purge deletes it
//! and removes the app's image from podman; a restore of the uninstalled app's last backup
//! publishes the same port again. Then the same in Chromium
//! (tests/browser/install.mjs): outcomes kept until dismissed, the uninstall dialog with
//! the data choice, kept data deleted from the Installed page, a fresh reinstall. The app's
//! screenshot (an optional manifest field, a blob like the icon) is served and shown.

use super::*;

/// A port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

/// hello-static's image with a data volume (a note written at start) and a generated
/// secret, publishing container port 8080 on the host port written to `port`.
fn porty_app(dir: &Path) {
    build_images();
    let app = dir.join("porty");
    fs::create_dir_all(app.join("images")).unwrap();
    fs::copy(
        repo().join("apps/hello-static/images/web.oci.tar"),
        app.join("images/web.oci.tar"),
    )
    .unwrap();
    fs::write(app.join("shot.png"), PNG).unwrap();
    let port = free_port();
    fs::write(app.join("port"), port.to_string()).unwrap();
    fs::write(
        app.join("manifest.yml"),
        format!(
            r#"id: porty
name: Porty
version: 1.0.0
description: Serves a page and keeps a note in its data volume.
categories: [test]
screenshots:
  - {{ path: shot.png, caption: "Porty's page" }}
containers:
  - name: web
    image:
      archive: images/web.oci.tar
    command: ["sh", "-c", "echo kept-note > /data/note.txt && exec httpd -f -p 8080 -h /www"]
    ports: [ {{ container: 8080, host: {port}, web: true }} ]
    volumes: [ {{ name: data, path: /data }} ]
    secrets: [ {{ name: porty-key, env: PORTY_KEY, length: 16 }} ]
    user: "0"
    read_only: true
    health:
      http: {{ port: 8080, path: / }}
      interval: 2s
      timeout: 2s
      retries: 3
      start_period: 2s
    stop_grace: 1s
"#
        ),
    )
    .unwrap();
}

fn answers(port: u16) -> bool {
    reqwest::blocking::get(format!("http://127.0.0.1:{port}/"))
        .is_ok_and(|r| r.status().as_u16() == 200)
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_monotonic(events: &[Value]) {
    let percents: Vec<u64> = events
        .iter()
        .map(|e| e["percent"].as_u64().unwrap())
        .collect();
    assert!(
        percents.windows(2).all(|w| w[0] <= w[1]),
        "the job's percent went back: {percents:?}"
    );
}

/// The id of the image porty runs (hello-static's web image), if podman has it.
fn porty_image() -> Option<String> {
    let out = crate::crash::podman(&[
        "images",
        "--filter",
        "reference=localhost/atoll/hello-static-web",
        "--format",
        "{{.ID}}",
    ]);
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!id.is_empty()).then_some(id)
}

#[test]
fn ports_outcomes_and_kept_data() {
    let _podman = podman_user();
    let node = Node::start(porty_app, &[]);
    let manifest_port: u16 = fs::read_to_string(node._apps.path().join("porty/port"))
        .unwrap()
        .parse()
        .unwrap();
    let (_, apps) = node.get("/api/v1/apps");
    let item = &apps["items"][0];
    assert_eq!(item["app"], "porty", "{apps}");
    let app = format!("{}/porty", item["publisher"].as_str().unwrap());
    let mut detail = Value::Null;
    for _ in 0..300 {
        detail = node.get(&format!("/api/v1/apps/{app}")).1;
        if !detail["manifest"].is_null() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(detail["kept_data"].is_null(), "{detail}");
    // The screenshot: listed with its caption, served like the icon.
    assert_eq!(
        detail["screenshots"][0]["caption"], "Porty's page",
        "{detail}"
    );
    let shot = reqwest::blocking::get(format!(
        "{}{}",
        node.url,
        detail["screenshots"][0]["url"].as_str().unwrap()
    ))
    .unwrap();
    assert_eq!(shot.status().as_u16(), 200);
    assert_eq!(shot.headers()["content-type"], "image/png");
    assert_eq!(shot.headers()["x-content-type-options"], "nosniff");
    assert_eq!(shot.bytes().unwrap().as_ref(), PNG);
    let t = Some(node.token.as_str());
    let install = |body: Value| {
        let (s, job) = node.post("/api/v1/actions/install", t, &body.to_string());
        assert_eq!(s, 202, "{job}");
        let events = follow_all(&node, job["events"].as_str().unwrap());
        assert_monotonic(&events);
        events.last().unwrap().clone()
    };

    // A real conflict: the manifest's host port is taken; the message offers the override.
    let holder = std::net::TcpListener::bind(("127.0.0.1", manifest_port)).unwrap();
    let last = install(json!({ "app": app }));
    let error = last["error"].as_str().unwrap_or_else(|| panic!("{last}"));
    assert!(
        error.contains(&format!("host port {manifest_port} is in use"))
            && error.contains("--port <free port>=8080")
            && error.contains("port field on the app's page")
            && error.contains(r#""ports": {"8080": <free port>}"#),
        "{error}"
    );
    let (_, installed) = node.get("/api/v1/installed");
    assert_eq!(installed, json!([]));

    // Bad overrides are refused before a job, naming the port.
    let (s, e) = node.post(
        "/api/v1/actions/install",
        t,
        &json!({ "app": app, "ports": { "9999": 18999 } }).to_string(),
    );
    assert_eq!(s, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ports: container port 9999 is not published by porty (it publishes: 8080)"),
        "{e}"
    );
    let (s, e) = node.post(
        "/api/v1/actions/start",
        t,
        &json!({ "app": app, "ports": { "8080": 18999 } }).to_string(),
    );
    assert_eq!(s, 400, "{e}");
    let out = node.cli(&["--node", &node.url, "install", &app, "--port", "8080"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"--port "8080": expected HOST=CONTAINER"#),
        "{err}"
    );

    // The override: the app answers on the port chosen, the outcome names its URL, and a
    // restart keeps it.
    let chosen = free_port();
    let last = install(json!({ "app": app, "ports": { "8080": chosen } }));
    assert!(last["error"].is_null(), "{last}");
    let url = format!("http://127.0.0.1:{chosen}/");
    assert_eq!(last["web_url"], url.as_str(), "{last}");
    assert!(answers(chosen));
    let (s, job) = node.post(
        "/api/v1/actions/restart",
        t,
        &json!({ "app": app }).to_string(),
    );
    assert_eq!(s, 202, "{job}");
    let last = follow(&node, job["events"].as_str().unwrap());
    assert!(last["error"].is_null(), "{last}");
    assert_eq!(last["web_url"], url.as_str(), "{last}");
    assert!(answers(chosen));
    let (_, installed) = node.get("/api/v1/installed");
    let data = &installed[0]["data"];
    assert_eq!(data["volumes"][0]["name"], "data", "{installed}");
    assert_eq!(data["volumes"][0]["bytes"], 10, "{installed}");
    assert_eq!(data["secrets"], json!(["porty-key"]), "{installed}");

    // Uninstall keeping the data: said, listed, offered before a reinstall.
    let said = ok(&node.cli(&["--node", &node.url, "uninstall", &app]));
    assert!(
        said.contains("its data is kept (volumes data (10 B); secrets porty-key)")
            && said.contains(&format!("`atoll data delete {app}`")),
        "{said}"
    );
    let (_, kept) = node.get("/api/v1/data");
    let row = &kept["items"][0];
    assert_eq!(row["ref"], app.as_str(), "{kept}");
    assert_eq!(row["name"], "Porty", "{kept}");
    assert_eq!(row["bytes"], 10, "{kept}");
    let listed = ok(&node.cli(&["--node", &node.url, "data", "list"]));
    assert!(
        listed.contains("Porty") && listed.contains("volumes data (10 B); secrets porty-key"),
        "{listed}"
    );
    let (_, detail) = node.get(&format!("/api/v1/apps/{app}"));
    assert_eq!(
        detail["kept_data"]["secrets"],
        json!(["porty-key"]),
        "{detail}"
    );

    // Reinstall with the CLI's --port: it says it reuses the data; the app answers there.
    let second = free_port();
    let said = ok(&node.cli(&[
        "--node",
        &node.url,
        "install",
        &app,
        "--port",
        &format!("{second}=8080"),
    ]));
    assert!(
        said.contains("reusing the data an earlier install") && said.contains("--fresh"),
        "{said}"
    );
    assert!(
        said.contains(&format!("running at http://127.0.0.1:{second}/")),
        "{said}"
    );
    assert!(answers(second));
    assert!(!answers(chosen));
    drop(holder);

    // Uninstalled, then restored from its last backup: installed again on the same port.
    let (s, job) = node.post(
        "/api/v1/actions/uninstall",
        t,
        &json!({ "app": app }).to_string(),
    );
    assert_eq!(s, 202, "{job}");
    assert!(follow(&node, job["events"].as_str().unwrap())["error"].is_null());
    assert!(!answers(second));
    let (_, backups) = node.get("/api/v1/backups");
    let last = backups["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["source"] == app.as_str() && b["reason"] == "uninstall")
        .unwrap_or_else(|| panic!("no uninstall backup: {backups}"));
    let (s, job) = node.post(
        &format!("/api/v1/backups/{}/restore", last["id"].as_str().unwrap()),
        t,
        "{}",
    );
    assert_eq!(s, 202, "{job}");
    let done = follow(&node, job["events"].as_str().unwrap());
    assert!(done["error"].is_null(), "{done}");
    assert!(
        answers(second),
        "the restored install does not answer on {second}"
    );

    // Purge: data deleted, and the app's image removed from podman.
    assert!(porty_image().is_some(), "porty's image is not in podman");
    let said = ok(&node.cli(&["--node", &node.url, "uninstall", &app, "--purge"]));
    assert!(said.contains("uninstalled and its data deleted"), "{said}");
    assert_eq!(porty_image(), None, "the purge left the app's image");
    let (_, kept) = node.get("/api/v1/data");
    assert_eq!(kept["items"], json!([]), "{kept}");
    let said = ok(&node.cli(&["--node", &node.url, "data", "list"]));
    assert!(said.contains("no data kept"), "{said}");
    let (s, e) = reqwest::blocking::Client::new()
        .delete(format!("{}/api/v1/data/{app}", node.url))
        .bearer_auth(&node.token)
        .send()
        .map(|r| {
            (
                r.status().as_u16(),
                r.json::<Value>().unwrap_or(Value::Null),
            )
        })
        .unwrap();
    assert_eq!(s, 404, "{e}");

    // The UI: outcomes kept, the uninstall dialog, kept data, a fresh reinstall, a conflict.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    let shots = repo().join("test-artifacts");
    let browser = Command::new("node")
        .arg(repo().join("tests/browser/install.mjs"))
        .env(
            "ATOLL_URL",
            format!("{}/ui/#token={}", node.url, node.token),
        )
        .env("ATOLL_SHOTS", &shots)
        .env("INSTALL_APP", &app)
        .env("INSTALL_MANIFEST_PORT", manifest_port.to_string())
        .env("INSTALL_PORT", free_port().to_string())
        .env("INSTALL_BUSY_PORT", busy_port.to_string())
        .current_dir(repo().join("tests/browser"))
        .status()
        .expect("running node (Node.js) for the browser test: run .ci/run to install it");
    drop(busy);
    // Whatever the browser left: uninstalled and purged.
    let (s, job) = node.post(
        "/api/v1/actions/uninstall",
        t,
        &json!({"app": app, "purge": true}).to_string(),
    );
    if s == 202 {
        follow(&node, job["events"].as_str().unwrap());
    }
    let _ = reqwest::blocking::Client::new()
        .delete(format!("{}/api/v1/data/{app}", node.url))
        .bearer_auth(&node.token)
        .send();
    assert!(browser.success(), "tests/browser/install.mjs failed");
}
