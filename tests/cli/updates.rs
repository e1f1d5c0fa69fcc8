//! Issue 14, updates people control, in the terminal without a node: the sample app's
//! other versions (`apps/hello-static/versions/`) validate and carry release notes; notes
//! over the limit are refused naming the field and the limit; `catalog list` names the
//! latest and the installed version; `update`, `install` and `auto-update` refuse bad
//! flags and values before anything is sent.

use super::*;

/// A copy of hello-static with `versions/<version>.yml` as its manifest.
fn version_dir(h: &Path, version: &str) -> PathBuf {
    let src = repo().join("apps/hello-static");
    let dir = h.join(format!("hello-static-{version}"));
    fs::create_dir_all(dir.join("images")).unwrap();
    fs::copy(
        src.join("versions").join(format!("{version}.yml")),
        dir.join("manifest.yml"),
    )
    .unwrap();
    fs::copy(src.join("icon.svg"), dir.join("icon.svg")).unwrap();
    fs::copy(
        src.join("images/web.oci.tar"),
        dir.join("images/web.oci.tar"),
    )
    .unwrap();
    dir
}

#[test]
fn sample_versions_release_notes_and_update_flags() {
    ensure_images();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    for version in ["1.1.0", "1.2.0"] {
        let dir = version_dir(h, version);
        let v = json(&atoll(
            h,
            &["app", "validate", dir.to_str().unwrap(), "--json"],
        ));
        assert_eq!(v["ok"], true, "{version}: {v}");
    }

    // Notes over 8192 characters: refused, naming the field and the limit.
    let dir = version_dir(h, "1.1.0");
    let m = fs::read_to_string(dir.join("manifest.yml")).unwrap();
    let long = m.replacen(
        "release_notes: |\n",
        &format!("release_notes: |\n  {}\n", "x".repeat(9000)),
        1,
    );
    fs::write(dir.join("manifest.yml"), long).unwrap();
    let err = fails(
        &atoll(h, &["app", "validate", dir.to_str().unwrap()]),
        1,
        "release_notes",
    );
    assert!(err.contains("8192"), "{err}");

    // catalog list: LATEST and INSTALLED ("-": not installed here).
    ok(&atoll(h, &["key", "new", "pub"]));
    let dir = version_dir(h, "1.2.0");
    let out = h.join("bundle");
    ok(&atoll(
        h,
        &[
            "app",
            "sign",
            dir.to_str().unwrap(),
            "--key",
            "pub",
            "--out",
            out.to_str().unwrap(),
        ],
    ));
    let entry = out.join("entry.json");
    ok(&atoll(h, &["catalog", "import", entry.to_str().unwrap()]));
    let list = ok(&atoll(h, &["catalog", "list"]));
    let mut lines = list.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        &header[..4],
        ["NAME", "LATEST", "INSTALLED", "TRUST"],
        "{list}"
    );
    let row = lines.find(|l| l.contains("hello-static")).unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cols[2..4], ["1.2.0", "-"], "{list}");

    // Flags refused before anything is sent (clap's usage error, exit 2).
    let app = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK/hello-static";
    fails(&atoll(h, &["update", app, "--downgrade"]), 2, "--version");
    fails(
        &atoll(h, &["update", "--all", app]),
        2,
        "cannot be used with",
    );
    fails(
        &atoll(h, &["auto-update", app, "sometimes"]),
        2,
        "[possible values: off, notify, auto]",
    );
    fails(&atoll(h, &["update"]), 2, "<APP>");
}
