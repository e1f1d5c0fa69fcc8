//! Install options and screenshots at the CLI, without a node: `--port HOST=CONTAINER`
//! syntax errors name the argument (before any request); a signed sample app carries its
//! screenshot as an artifact of its own kind that `app verify` checks; a screenshot of a
//! type the node does not serve, or over its size limit, is refused naming the field.

use super::*;

#[test]
fn bad_port_arguments_are_named_before_any_request() {
    let home = tempfile::tempdir().unwrap();
    let app = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK/hello-static";
    for bad in [
        "18090",
        "x=8080",
        "18090=",
        "0=8080",
        "70000=8080",
        "18090:8080",
    ] {
        let out = atoll(
            home.path(),
            &[
                "--node",
                "http://127.0.0.1:9",
                "install",
                app,
                "--port",
                bad,
            ],
        );
        let err = fails(&out, 2, &format!("--port {bad:?}: expected HOST=CONTAINER"));
        assert!(err.contains("e.g. --port 18090=8080"), "{err}");
    }
}

#[test]
fn screenshots_are_signed_verified_and_bounded() {
    ensure_images();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    ok(&atoll(h, &["key", "new", "pub"]));
    let (entry, _) = signed_copy(h, "signed");
    let signed: serde_json::Value = serde_json::from_slice(&fs::read(&entry).unwrap()).unwrap();
    let shots: Vec<&serde_json::Value> = signed["payload"]["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "screenshot")
        .collect();
    assert_eq!(shots.len(), 1, "{signed}");
    assert_eq!(shots[0]["path"], "screenshot.png");
    let r = json(&atoll(
        h,
        &["app", "verify", entry.to_str().unwrap(), "--json"],
    ));
    assert_eq!(r["ok"], true, "{r}");

    // A copy of hello-static with a bad screenshot: a GIF, then a PNG over 2 MiB.
    let dir = h.join("app");
    fs::create_dir_all(dir.join("images")).unwrap();
    let src = repo().join("apps/hello-static");
    for f in ["icon.svg", "screenshot.png", "images/web.oci.tar"] {
        fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let manifest = fs::read_to_string(src.join("manifest.yml")).unwrap();
    fs::write(
        dir.join("manifest.yml"),
        manifest.replace("path: screenshot.png", "path: screenshot.gif"),
    )
    .unwrap();
    fails(
        &atoll(h, &["app", "validate", dir.to_str().unwrap()]),
        1,
        "screenshots[0].path: \"screenshot.gif\" is not a screenshot type",
    );
    fs::write(dir.join("manifest.yml"), &manifest).unwrap();
    let mut big = fs::read(src.join("screenshot.png")).unwrap();
    big.resize(2 * 1024 * 1024 + 1, 0);
    fs::write(dir.join("screenshot.png"), big).unwrap();
    let out = atoll(
        h,
        &[
            "app",
            "sign",
            dir.to_str().unwrap(),
            "--key",
            "pub",
            "--out",
            h.join("big").to_str().unwrap(),
        ],
    );
    let err = fails(&out, 1, "screenshot.png");
    assert!(err.contains("2097152"), "{err}");
}
