//! Settings and credentials through the real node: a demo-published app with a required
//! setting, a `show` secret used only in a config file template, and that file served by
//! its container. The API refuses bad settings before a job starts; the install job's
//! events name the credential but never hold its value; `POST /jobs/{job}/credentials`
//! gives it once, with the admin token only; the CLI's `--set` installs and prints a new
//! credential, and says a kept one is not shown again; the install dialog in Chromium
//! (tests/browser/settings.mjs) asks for the settings and shows the credential until dismissed.

use super::*;

/// An app with hello-static's image serving its rendered config file on `port`.
fn templated_app(dir: &Path) {
    build_images();
    let app = dir.join("configured");
    fs::create_dir_all(app.join("images")).unwrap();
    fs::copy(
        repo().join("apps/hello-static/images/web.oci.tar"),
        app.join("images/web.oci.tar"),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    fs::write(app.join("port"), port.to_string()).unwrap();
    fs::write(
        app.join("manifest.yml"),
        format!(
            r#"id: configured
name: Configured
version: 1.0.0
description: Serves the config file its settings and secret fill.
categories: [test]
settings:
  - name: admin-user
    description: The admin account's name
  - name: greeting
    description: Said on the page
    default: hello
containers:
  - name: web
    image:
      archive: images/web.oci.tar
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports: [ {{ container: 8080, host: {port}, web: true }} ]
    user: "1000:1000"
    read_only: true
    secrets:
      - {{ name: admin-password, length: 24, show: true }}
    files:
      - path: /www/config.txt
        mode: "0440"
        template: |
          user={{{{ settings.admin-user }}}}
          pass={{{{ secrets.admin-password }}}}
          greeting={{{{ settings.greeting }}}}
"#
        ),
    )
    .unwrap();
}

fn config_txt(port: u16) -> String {
    let r = reqwest::blocking::get(format!("http://127.0.0.1:{port}/config.txt")).unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.text().unwrap()
}

fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn settings_fill_the_config_and_the_credential_is_shown_once() {
    let _podman = podman_user();
    let node = Node::start(templated_app, &[]);
    let port: u16 = fs::read_to_string(node._apps.path().join("configured/port"))
        .unwrap()
        .parse()
        .unwrap();
    let (_, apps) = node.get("/api/v1/apps");
    let item = &apps["items"][0];
    assert_eq!(item["app"], "configured", "{apps}");
    let app = format!("{}/configured", item["publisher"].as_str().unwrap());
    // The detail's manifest carries the settings the install dialog asks for.
    // (The app is listed before its manifest blob is attached: wait for it.)
    let mut detail = Value::Null;
    for _ in 0..300 {
        detail = node.get(&format!("/api/v1/apps/{app}")).1;
        if !detail["manifest"].is_null() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        detail["manifest"]["settings"][0]["name"], "admin-user",
        "{detail}"
    );
    let t = Some(node.token.as_str());

    // Bad settings: refused before any job, naming the setting.
    let install = |settings: Value| json!({ "app": app, "settings": settings }).to_string();
    let (s, e) = node.post("/api/v1/actions/install", t, &install(json!({})));
    assert_eq!(s, 400, "{e}");
    assert_error_shape(&e, "bad_request");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("setting \"admin-user\" of configured is required"),
        "{e}"
    );
    let (s, e) = node.post(
        "/api/v1/actions/install",
        t,
        &install(json!({"admin-user": "alice", "colour": "blue"})),
    );
    assert_eq!(s, 400, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("colour"),
        "{e}"
    );
    let (s, e) = node.post(
        "/api/v1/actions/install",
        t,
        &install(json!({"admin-user": "alice\nroot"})),
    );
    assert_eq!(s, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no newlines"),
        "{e}"
    );
    let (_, installed) = node.get("/api/v1/installed");
    assert_eq!(installed, json!([]));

    // Install: the last event names the credential; the value is read once, with the token.
    let (s, job) = node.post(
        "/api/v1/actions/install",
        t,
        &install(json!({"admin-user": "alice"})),
    );
    assert_eq!(s, 202, "{job}");
    let events = follow_all(&node, job["events"].as_str().unwrap());
    let last = events.last().unwrap();
    assert!(last["error"].is_null(), "install failed: {last}");
    assert_eq!(
        last["credentials"]["generated"],
        json!(["admin-password"]),
        "{last}"
    );
    assert!(
        last["message"].as_str().unwrap().contains("save it now"),
        "{last}"
    );
    let id = job["job"].as_str().unwrap();
    let read = format!("/api/v1/jobs/{id}/credentials");
    assert_eq!(last["credentials"]["read"], read.as_str());
    let (s, e) = node.post(&read, None, "{}");
    assert_eq!(s, 401, "{e}");
    let (s, creds) = node.post(&read, t, "{}");
    assert_eq!(s, 200, "{creds}");
    let cred = &creds["credentials"][0];
    assert_eq!(cred["name"], "admin-password");
    assert_eq!(cred["container"], "web");
    let password = cred["value"].as_str().unwrap().to_owned();
    assert_eq!(password.len(), 24);
    let (s, e) = node.post(&read, t, "{}");
    assert_eq!(s, 410, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not shown again"),
        "{e}"
    );
    // The events (readable without the token) never held it.
    let replay = follow_all(&node, job["events"].as_str().unwrap());
    assert!(!format!("{replay:?}").contains(&password));
    assert_eq!(
        config_txt(port),
        format!("user=alice\npass={password}\ngreeting=hello\n")
    );
    // Settings are given at install only.
    let (s, e) = node.post(
        "/api/v1/actions/update",
        t,
        &json!({"app": app, "settings": {"admin-user": "x"}}).to_string(),
    );
    assert_eq!(s, 400, "{e}");

    // Uninstall keeping data, reinstall with the CLI: the secret is kept, not shown again.
    let (s, job) = node.post(
        "/api/v1/actions/uninstall",
        t,
        &json!({"app": app}).to_string(),
    );
    assert_eq!(s, 202, "{job}");
    assert!(follow(&node, job["events"].as_str().unwrap())["error"].is_null());
    let out = node.cli(&[
        "--node",
        &node.url,
        "install",
        &app,
        "--set",
        "admin-user=bob",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = stdout_of(&out);
    assert!(said.contains("kept admin-password"), "{said}");
    assert!(!said.contains(&password), "{said}");
    assert_eq!(
        config_txt(port),
        format!("user=bob\npass={password}\ngreeting=hello\n")
    );
    // A bad --set is the CLI's own error.
    let out = node.cli(&[
        "--node",
        &node.url,
        "install",
        &app,
        "--set",
        "no-equals-sign",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NAME=VALUE"));

    // Purged and installed again: a new credential, printed once by the CLI.
    let out = node.cli(&["--node", &node.url, "uninstall", &app, "--purge"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = node.cli(&[
        "--node",
        &node.url,
        "install",
        &app,
        "--set",
        "admin-user=carol",
        "--set",
        "greeting=hi",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = stdout_of(&out);
    assert!(
        said.contains("save them now, they are not shown again"),
        "{said}"
    );
    let line = said
        .lines()
        .find(|l| l.contains("admin-password (container web): "))
        .unwrap_or_else(|| panic!("{said}"));
    let new_password = line.rsplit(": ").next().unwrap().trim().to_owned();
    assert_eq!(new_password.len(), 24);
    assert_ne!(new_password, password);
    assert_eq!(
        config_txt(port),
        format!("user=carol\npass={new_password}\ngreeting=hi\n")
    );
    let out = node.cli(&["--node", &node.url, "uninstall", &app, "--purge"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The UI: the install dialog's fields, the credential box, kept until dismissed.
    let shots = repo().join("test-artifacts");
    let browser = Command::new("node")
        .arg(repo().join("tests/browser/settings.mjs"))
        .env(
            "ATOLL_URL",
            format!("{}/ui/#token={}", node.url, node.token),
        )
        .env("ATOLL_SHOTS", &shots)
        .env("SETTINGS_APP", &app)
        .env("SETTINGS_PORT", port.to_string())
        .current_dir(repo().join("tests/browser"))
        .status()
        .expect("running node (Node.js) for the browser test: run .ci/run to install it");
    let (s, job) = node.post(
        "/api/v1/actions/uninstall",
        t,
        &json!({"app": app, "purge": true}).to_string(),
    );
    if s == 202 {
        follow(&node, job["events"].as_str().unwrap());
    }
    assert!(
        browser.success(),
        "settings browser test failed; screenshots in {}",
        shots.display()
    );
}
