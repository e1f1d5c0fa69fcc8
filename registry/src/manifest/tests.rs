#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Every policy rule has a manifest that breaks it; every error names its field.

use std::path::Path;

use super::*;

const DIGEST: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn base() -> String {
    format!(
        r#"id: demo-app
name: Demo App
version: 1.2.3
description: A demo.
icon: icon.svg
categories: [web, demo]
links:
  homepage: https://example.org
license: MIT
containers:
  - name: api
    image:
      archive: images/api.oci.tar
    command: ["httpd", "-f", "-p", "8080"]
    env:
      GREETING: hello
    secrets:
      - name: api-key
        env: API_KEY
        length: 32
      - name: admin-password
        length: 24
        show: true
    ports:
      - container: 8080
        host: 18080
        web: true
    volumes:
      - name: data
        path: /data
    health:
      http:
        port: 8080
        path: /
      interval: 5s
      timeout: 2s
      retries: 3
      start_period: 5s
    stop_grace: 5s
    init: true
    capabilities: [NET_BIND_SERVICE]
    memory: 32Mi
    cpus: 0.5
    files:
      - path: /etc/demo/config
        mode: "0440"
        template: |
          [auth]
          user = {{{{ settings.admin-user }}}}
          pass = {{{{ secrets.admin-password }}}}
      - path: /etc/demo/app
        template: "{{{{ app.name }}}} {{{{ app.id }}}} {{{{ app.version }}}}\n"
  - name: web
    image:
      reference: "docker.io/library/busybox@sha256:{DIGEST}"
    depends_on: [api]
    ports:
      - container: 80
        host: 18081
dependencies:
  - publisher: did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp
    app: other
    version: ">=1.0, <2"
settings:
  - name: admin-user
    description: The admin account's name
    default: admin
  - name: site-name
    description: Shown in the title
"#
    )
}

fn parse_str(text: &str) -> Result<Manifest, ManifestError> {
    parse(text, Path::new("apps/demo-app/manifest.yml"))
}

#[test]
fn the_base_manifest_is_valid_and_parsed_right() {
    let m = parse_str(&base()).expect("base manifest is valid");
    let api = &m.containers[0];
    assert_eq!(api.memory, Some(quantity::ByteSize(32 << 20)));
    assert_eq!(api.cpus, Some(quantity::Cpus(500)));
    assert_eq!(
        api.health.as_ref().unwrap().interval,
        quantity::Duration(5000)
    );
    assert_eq!(api.image, ImageSource::archive("images/api.oci.tar"));
    assert_eq!(m.web_port().unwrap().1.host, 18080);
    assert_eq!(m.local_files().len(), 2);
    // The canonical form parses back to the same manifest (the blob round trip).
    let blob = m.canonical_bytes().unwrap();
    assert_eq!(Manifest::from_blob(&blob).unwrap(), m);
    assert_eq!(m.hash().unwrap(), crate::hash::Hash::of(&blob));
}

/// (what breaks, text to replace, replacement, field that must be named, words in the message)
const RULES: &[(&str, &str, &str, &str, &str)] = &[
    ("privileged", "    init: true\n", "    init: true\n    privileged: true\n", "containers[0].privileged", "privileged"),
    ("host network", "    init: true\n", "    init: true\n    network: host\n", "containers[0].network", "host network"),
    ("unknown network mode", "    init: true\n", "    init: true\n    network: bridge\n", "containers[0].network", "not a network mode"),
    ("host pid", "    init: true\n", "    init: true\n    pid: host\n", "containers[0].pid", "host's pid"),
    ("host ipc", "    init: true\n", "    init: true\n    ipc: host\n", "containers[0].ipc", "host's ipc"),
    ("host bind mount", "        path: /data\n", "        path: /data\n        bind: /etc\n", "containers[0].volumes[0].bind", "bind mounts"),
    ("capability off the allowlist", "[NET_BIND_SERVICE]", "[SYS_ADMIN]", "containers[0].capabilities[0]", "SYS_ADMIN"),
    ("privileged host port", "host: 18080", "host: 80", "containers[0].ports[0].host", "1024"),
    ("host port used twice", "host: 18081", "host: 18080", "containers[1].ports[0].host", "already published"),
    ("container port 0", "container: 8080", "container: 0", "containers[0].ports[0].container", "port 0"),
    ("two web ports", "        host: 18081\n", "        host: 18081\n        web: true\n", "containers", "web: true"),
    ("app id not DNS-safe", "id: demo-app", "id: Demo_App", "id", "DNS-safe"),
    ("container name not DNS-safe", "- name: web", "- name: Web", "containers[1].name", "DNS-safe"),
    ("container name used twice", "- name: web", "- name: api", "containers[1].name", "used twice"),
    ("volume name not DNS-safe", "name: data", "name: my_data", "containers[0].volumes[0].name", "DNS-safe"),
    ("relative mount path", "path: /data", "path: data", "containers[0].volumes[0].path", "absolute"),
    ("secret name not DNS-safe", "name: api-key", "name: API KEY", "containers[0].secrets[0].name", "DNS-safe"),
    ("category not DNS-safe", "[web, demo]", "[Web Apps]", "categories[0]", "DNS-safe"),
    ("image not pinned by digest", "docker.io/library/busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "docker.io/library/busybox:latest", "containers[1].image.reference", "pinned"),
    ("archive path escapes the app dir", "archive: images/api.oci.tar", "archive: ../../etc/passwd", "containers[0].image.archive", "relative"),
    ("absolute icon path", "icon: icon.svg", "icon: /etc/passwd", "icon", "relative"),
    ("name too long", "name: Demo App", "name: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "name", "at most 64"),
    ("env name invalid", "GREETING: hello", "greeting: hello", "containers[0].env.greeting", "variable names"),
    ("secret too short", "length: 32", "length: 8", "containers[0].secrets[0].length", "16..=256"),
    ("secret env set twice", "env: API_KEY", "env: GREETING", "containers[0].secrets[0].env", "set twice"),
    ("two health check kinds", "      interval: 5s", "      tcp: {port: 8080}\n      interval: 5s", "containers[0].health", "exactly one"),
    ("health timeout above interval", "timeout: 2s", "timeout: 10s", "containers[0].health.timeout", "interval"),
    ("health retries 0", "retries: 3", "retries: 0", "containers[0].health.retries", "1 to 100"),
    ("health interval too short", "interval: 5s", "interval: 100ms", "containers[0].health.interval", "between 1s"),
    ("depends_on unknown container", "[api]", "[db]", "containers[1].depends_on[0]", "no container"),
    ("depends_on itself", "[api]", "[web]", "containers[1].depends_on[0]", "itself"),
    ("depends_on cycle", "    init: true\n", "    init: true\n    depends_on: [web]\n", "depends_on", "cycle"),
    ("memory too small", "memory: 32Mi", "memory: 1Ki", "containers[0].memory", "4Mi"),
    ("cpus zero", "cpus: 0.5", "cpus: 0", "containers[0].cpus", "more than 0"),
    ("link not http(s)", "https://example.org", "ftp://example.org", "links.homepage", "URL"),
    ("stop grace too long", "stop_grace: 5s", "stop_grace: 1h", "containers[0].stop_grace", "10m"),
    ("backup command empty", "    stop_grace: 5s\n", "    stop_grace: 5s\n    backup:\n      command: []\n", "containers[0].backup.command", "arguments"),
    ("backup timeout too long", "    stop_grace: 5s\n", "    stop_grace: 5s\n    backup:\n      command: [sync]\n      timeout: 2h\n", "containers[0].backup.timeout", "1s to 1h"),
    ("user with shell characters", "    init: true\n", "    init: true\n    user: \"root;rm\"\n", "containers[0].user", "uid"),
    ("empty command", "command: [\"httpd\", \"-f\", \"-p\", \"8080\"]", "command: []", "containers[0].command", "arguments"),
    ("image with both sources", "      archive: images/api.oci.tar\n", "      archive: images/api.oci.tar\n      reference: x\n", "containers[0].image", "exactly one"),
    ("dependency app id", "app: other", "app: Other!", "dependencies[0].app", "DNS-safe"),
    ("file path relative", "path: /etc/demo/config", "path: etc/demo/config", "containers[0].files[0].path", "absolute file path"),
    ("file path with ..", "path: /etc/demo/config", "path: /etc/../config", "containers[0].files[0].path", "absolute file path"),
    ("file path with //", "path: /etc/demo/config", "path: /etc//config", "containers[0].files[0].path", "absolute file path"),
    ("file under /proc", "path: /etc/demo/config", "path: /proc/self/environ", "containers[0].files[0].path", "/proc"),
    ("file path is a directory", "path: /etc/demo/config", "path: /", "containers[0].files[0].path", "absolute file path"),
    ("file under a volume", "path: /etc/demo/config", "path: /data/config", "containers[0].files[0].path", "inside volume \"data\""),
    ("file at a volume's mount point", "path: /etc/demo/config", "path: /data", "containers[0].files[0].path", "inside volume"),
    ("file written twice", "path: /etc/demo/app", "path: /etc/demo/config", "containers[0].files[1].path", "written twice"),
    ("file under another file", "path: /etc/demo/app", "path: /etc/demo/config/x", "containers[0].files[1].path", "written twice"),
    ("file mode not octal", "mode: \"0440\"", "mode: \"0999\"", "containers[0].files[0].mode", "not a file mode"),
    ("file mode with setuid", "mode: \"0440\"", "mode: \"4755\"", "containers[0].files[0].mode", "not a file mode"),
    ("file mode the owner cannot read", "mode: \"0440\"", "mode: \"0040\"", "containers[0].files[0].mode", "readable by its owner"),
    ("unknown secret in a template", "{{ secrets.admin-password }}", "{{ secrets.nope }}", "containers[0].files[0].template", "template line 3: {{ secrets.nope }} names no secret"),
    ("unknown setting in a template", "{{ settings.admin-user }}", "{{ settings.nope }}", "containers[0].files[0].template", "template line 2: {{ settings.nope }} names no setting"),
    ("unknown app field in a template", "{{ app.name }}", "{{ app.title }}", "containers[0].files[1].template", "not a placeholder"),
    ("logic in a template", "{{ settings.admin-user }}", "{{ if settings.admin-user }}", "containers[0].files[0].template", "template line 2: {{ if settings.admin-user }} is not a placeholder"),
    ("unclosed placeholder", "{{ app.version }}", "{{ app.version", "containers[0].files[1].template", "not closed"),
    ("setting name not DNS-safe", "  - name: site-name", "  - name: Site_Name", "settings[1].name", "DNS-safe"),
    ("setting declared twice", "  - name: site-name", "  - name: admin-user", "settings[1].name", "declared twice"),
    ("setting default with a newline", "default: admin", "default: \"ad\\nmin\"", "settings[0].default", "no newlines"),
    ("setting default with a tab", "default: admin", "default: \"ad\\tmin\"", "settings[0].default", "control characters"),
    ("setting description with control characters", "description: Shown in the title", "description: \"Shown\\u0007\"", "settings[1].description", "control characters"),
    ("secret env not a variable name", "env: API_KEY", "env: api-key", "containers[0].secrets[0].env", "variable names"),
    ("one secret with two lengths", "    depends_on: [api]\n", "    depends_on: [api]\n    secrets:\n      - name: admin-password\n        length: 32\n", "containers[1].secrets[0].length", "one value for the whole app"),
];

#[test]
fn every_rule_rejects_its_bad_manifest_naming_the_field() {
    let base = base();
    for (what, from, to, field, words) in RULES {
        assert!(base.contains(from), "{what}: base lacks {from:?}");
        let bad = base.replacen(from, to, 1);
        let err = parse_str(&bad).expect_err(what);
        let problems = err.problems();
        let hit = problems
            .iter()
            .find(|p| p.field.ends_with(field) || p.field == *field);
        let hit = hit.unwrap_or_else(|| panic!("{what}: no problem names {field}: {err}"));
        assert!(
            hit.message.contains(words),
            "{what}: {:?} lacks {words:?}",
            hit.message
        );
        let shown = err.to_string();
        assert!(
            shown.contains("apps/demo-app/manifest.yml"),
            "{what}: no file in {shown}"
        );
        assert!(shown.contains(field), "{what}: no field in {shown}");
    }
}

#[test]
fn too_many_containers_and_oversized_text_are_bounded() {
    let mut many = base();
    let extra: String = (0..16)
        .map(|i| format!("  - name: extra{i}\n    image:\n      archive: images/x.tar\n"))
        .collect();
    many = many.replacen("dependencies:", &format!("{extra}dependencies:"), 1);
    let err = parse_str(&many).unwrap_err();
    assert!(err
        .problems()
        .iter()
        .any(|p| p.field == "containers" && p.message.contains("1 to 16")));

    let long = base().replacen(
        "description: A demo.",
        &format!("description: {}", "x".repeat(5000)),
        1,
    );
    let err = parse_str(&long).unwrap_err();
    assert!(err.problems().iter().any(|p| p.field == "description"));

    let huge = "#".repeat(300 * 1024);
    assert!(matches!(
        parse_str(&huge),
        Err(ManifestError::TooLarge { .. })
    ));
}

/// `release_notes`: optional, kept in the signed form, bounded, one clear error naming it.
#[test]
fn release_notes_are_optional_bounded_and_signed() {
    let plain = parse_str(&base()).unwrap();
    assert_eq!(plain.release_notes, None);
    let with = base().replacen(
        "description: A demo.",
        "description: A demo.\nrelease_notes: \"Fixes the login.\\nNew: dark mode.\"",
        1,
    );
    let m = parse_str(&with).unwrap();
    assert_eq!(
        m.release_notes.as_deref(),
        Some("Fixes the login.\nNew: dark mode.")
    );
    assert_ne!(
        m.hash().unwrap(),
        plain.hash().unwrap(),
        "the notes are signed"
    );
    let long = base().replacen(
        "description: A demo.",
        &format!("description: A demo.\nrelease_notes: {}", "x".repeat(9000)),
        1,
    );
    let err = parse_str(&long).unwrap_err();
    let problems = err.problems();
    let p = problems
        .iter()
        .find(|p| p.field == "release_notes")
        .unwrap_or_else(|| panic!("no release_notes problem in {err}"));
    assert!(p.message.contains("8192"), "{}", p.message);
    let bell = base().replacen(
        "description: A demo.",
        "description: A demo.\nrelease_notes: \"ding\\u0007\"",
        1,
    );
    let err = parse_str(&bell).unwrap_err();
    assert!(
        err.problems().iter().any(|p| p.field == "release_notes"),
        "{err}"
    );
}

#[test]
fn settings_files_and_shown_secrets_parse_and_sign() {
    let m = parse_str(&base()).unwrap();
    let api = &m.containers[0];
    assert_eq!(api.secrets[1].env, None);
    assert!(api.secrets[1].show);
    assert_eq!(api.files[0].mode_bits(), Some(0o440));
    assert_eq!(api.files[1].mode_bits(), Some(DEFAULT_FILE_MODE));
    assert!(api.files[0]
        .template
        .starts_with("[auth]\nuser = {{ settings.admin-user }}\n"));
    assert_eq!(m.settings[0].default.as_deref(), Some("admin"));
    assert!(!m.settings[0].required() && m.settings[1].required());
    let names: Vec<_> = m
        .app_secrets()
        .iter()
        .map(|(s, show)| (s.name.clone(), *show))
        .collect();
    assert_eq!(
        names,
        [("api-key".into(), false), ("admin-password".into(), true)]
    );
    // The new fields are signed: they are in the canonical blob and survive its round trip.
    let blob = String::from_utf8(m.canonical_bytes().unwrap()).unwrap();
    assert!(
        blob.contains(r#""show":true"#) && blob.contains(r#""mode":"0440""#),
        "{blob}"
    );
    assert!(blob.contains(r#""settings":[{"default":"admin""#), "{blob}");
    assert_eq!(Manifest::from_blob(blob.as_bytes()).unwrap(), m);
    // A secret used only in files has no env in the blob.
    assert!(!blob.contains(r#""env":null"#));
}

#[test]
fn a_template_error_names_the_manifest_line_of_the_template_line() {
    let bad = base().replacen("{{ secrets.admin-password }}", "{{ secrets.nope }}", 1);
    let err = parse_str(&bad).unwrap_err();
    let p = err
        .problems()
        .into_iter()
        .find(|p| p.field == "containers[0].files[0].template")
        .unwrap();
    let expected = bad
        .lines()
        .position(|l| l.contains("secrets.nope"))
        .unwrap()
        + 1;
    assert_eq!(p.line, Some(expected), "{p}");
}

#[test]
fn templates_and_files_are_bounded() {
    let huge = format!("template: \"{}\"\n  - name: web", "x".repeat(65 * 1024));
    let big = base().replacen(
        "template: \"{{ app.name }} {{ app.id }} {{ app.version }}\\n\"\n  - name: web",
        &huge,
        1,
    );
    assert_ne!(big, base());
    let err = parse_str(&big).unwrap_err();
    assert!(
        err.problems()
            .iter()
            .any(|p| p.field == "containers[0].files[1].template"
                && p.message.contains("at most 65536")),
        "{err}"
    );
    let files: String = (0..17)
        .map(|i| format!("      - path: /etc/x{i}\n        template: x\n"))
        .collect();
    let many = base().replacen("    files:\n", &format!("    files:\n{files}"), 1);
    let err = parse_str(&many).unwrap_err();
    assert!(err
        .problems()
        .iter()
        .any(|p| p.field == "containers[0].files" && p.message.contains("at most 16 files")));
}

#[test]
fn policy_errors_carry_the_line() {
    let bad = base().replacen("host: 18080", "host: 80", 1);
    let err = parse_str(&bad).unwrap_err();
    let p = &err.problems()[0];
    assert_eq!(p.field, "containers[0].ports[0].host");
    let expected = bad.lines().position(|l| l.contains("host: 80")).unwrap() + 1;
    assert_eq!(p.line, Some(expected));
    assert!(err
        .to_string()
        .contains(&format!("line {expected}: containers[0].ports[0].host")));
}

#[test]
fn schema_errors_name_field_path_and_line() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "    init: true\n",
            "    init: true\n    hostname: x\n",
            "containers[0]",
            "unknown field `hostname`",
        ),
        (
            "license: MIT\n",
            "license: MIT\ncolour: blue\n",
            "",
            "unknown field `colour`",
        ),
        ("version: 1.2.3", "version: one", "version", ""),
        (
            "memory: 32Mi",
            "memory: 32Qi",
            "containers[0].memory",
            "unknown size unit",
        ),
        (
            "stop_grace: 5s",
            "stop_grace: 5",
            "containers[0].stop_grace",
            "not a duration",
        ),
        (
            "host: 18080",
            "host: 99999",
            "containers[0].ports[0].host",
            "",
        ),
        (
            "publisher: did:key:z6Mk",
            "publisher: did:web:z6Mk",
            "dependencies[0].publisher",
            "did:key",
        ),
        (
            "version: \">=1.0, <2\"",
            "version: \"banana\"",
            "dependencies[0].version",
            "",
        ),
    ];
    for (from, to, field, words) in cases {
        let bad = base().replacen(from, to, 1);
        assert_ne!(bad, base(), "{from}");
        let err = parse_str(&bad).expect_err(to);
        let ManifestError::Schema { problem, .. } = &err else {
            panic!("{to}: expected a schema error, got {err}");
        };
        assert!(
            problem.field.starts_with(field),
            "{to}: field {:?} is not {field:?}",
            problem.field
        );
        assert!(
            problem.kind.to_string().contains(words),
            "{to}: {:?} lacks {words:?}",
            problem.kind
        );
        assert!(problem.line.is_some(), "{to}: no line in {err}");
    }
}

#[test]
fn a_manifest_blob_must_be_its_canonical_json() {
    let m = parse_str(&base()).unwrap();
    let blob = m.canonical_bytes().unwrap();
    // The author's YAML is not a blob, even though it parses to the same manifest.
    let err = Manifest::from_blob(base().as_bytes()).unwrap_err();
    assert!(err.to_string().contains("canonical JSON"), "{err}");
    // Pretty-printed JSON of the same manifest is not the signed form either.
    let pretty =
        serde_json::to_vec_pretty(&serde_json::from_slice::<serde_json::Value>(&blob).unwrap())
            .unwrap();
    let err = Manifest::from_blob(&pretty).unwrap_err();
    assert!(err.to_string().contains("canonical JSON form"), "{err}");
    // Trailing bytes after the document are refused.
    let mut trailing = blob.clone();
    trailing.extend_from_slice(b" {}");
    assert!(Manifest::from_blob(&trailing).is_err());
}

#[test]
fn an_alias_bomb_blob_is_refused_without_expanding_it() {
    // The remote crash of issue 9: a blob whose YAML aliases expand to gigabytes. As JSON
    // only, it is a syntax error at its first byte.
    let mut yaml = String::from("description: &s \"");
    yaml.push_str(&"x".repeat(200 * 1024));
    yaml.push_str("\"\ncommand: [");
    yaml.push_str(&vec!["*s"; 128].join(", "));
    yaml.push_str("]\n");
    let err = Manifest::from_blob(yaml.as_bytes()).unwrap_err();
    assert!(matches!(err, ManifestError::Schema { .. }), "{err}");
}

/// The local alias bomb of issue 9: a 200 KB anchored string, 128 aliases of it in a
/// command, the container anchored and repeated 200 times (about 5 GB once expanded). It is
/// refused at its first anchor, naming the line, before serde_yaml sees it.
fn local_bomb() -> String {
    let mut yaml = String::from("id: bomb\nname: Bomb\nversion: 1.0.0\ndescription: &s \"");
    yaml.push_str(&"x".repeat(200 * 1024));
    yaml.push_str("\"\ncontainers:\n  - &c\n    name: web\n    image:\n      archive: a.tar\n");
    yaml.push_str("    command: [");
    yaml.push_str(&vec!["*s"; 128].join(", "));
    yaml.push_str("]\n");
    for _ in 0..200 {
        yaml.push_str("  - *c\n");
    }
    yaml
}

#[test]
fn yaml_anchors_and_aliases_are_refused_naming_the_line() {
    let bomb = local_bomb();
    assert!(bomb.len() < MAX_MANIFEST_BYTES as usize);
    let err = parse_str(&bomb).unwrap_err();
    let ManifestError::Schema { problem, .. } = &err else {
        panic!("expected a schema error, got {err}");
    };
    assert_eq!(problem.line, Some(4), "{err}");
    assert!(problem.kind.to_string().contains("anchors (&s)"), "{err}");
    assert!(err.to_string().contains("manifest.yml: line 4: "), "{err}");
    // The message is bounded: it does not echo the 200 KB value.
    assert!(err.to_string().len() < 400, "{}", err.to_string().len());

    // A lone alias (to an anchor defined nowhere) and a merge key are refused too.
    let alias = base().replacen("license: MIT", "license: *lic", 1);
    let p = &parse_str(&alias).unwrap_err().problems()[0];
    let line = alias.lines().position(|l| l.contains("*lic")).unwrap() + 1;
    assert_eq!(p.line, Some(line), "{p}");

    // Stars and ampersands inside values are not aliases.
    let fine = base().replacen(
        r#"command: ["httpd", "-f", "-p", "8080"]"#,
        r#"command: ["sh", "-c", "ls *.txt && echo a&b"]"#,
        1,
    );
    parse_str(&fine).unwrap();
}

#[test]
fn deep_nesting_is_refused() {
    let deep = format!(
        "id: x\nlinks: {}1{}\n",
        "[".repeat(MAX_YAML_DEPTH + 1),
        "]".repeat(MAX_YAML_DEPTH + 1)
    );
    let err = parse_str(&deep).unwrap_err();
    assert!(err.to_string().contains("nested deeper than"), "{err}");
    // A quarter MiB of '[' (unclosed): refused, whichever parser stops it first.
    let huge = "[".repeat(255 * 1024);
    assert!(matches!(
        parse_str(&huge),
        Err(ManifestError::Schema { .. })
    ));
}

#[test]
fn load_refuses_fifos_devices_and_links_out_of_the_app_dir() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("app");
    std::fs::create_dir(&app).unwrap();
    let file = app.join(MANIFEST_FILE);

    symlink("/dev/zero", &file).unwrap();
    let err = load(&app).unwrap_err();
    assert!(
        err.to_string()
            .contains("is a symbolic link leaving the app directory"),
        "{err}"
    );
    let err = load(Path::new("/dev/zero")).unwrap_err();
    assert!(
        err.to_string()
            .contains("is a character device, not a regular file"),
        "{err}"
    );

    std::fs::remove_file(&file).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &file,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let err = load(&app).unwrap_err();
    assert!(
        err.to_string().contains("is a FIFO, not a regular file"),
        "{err}"
    );

    std::fs::remove_file(&file).unwrap();
    std::fs::File::create(&file)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    assert!(matches!(load(&app), Err(ManifestError::TooLarge { .. })));

    std::fs::write(&file, base()).unwrap();
    assert_eq!(load(&app).unwrap().0.id, "demo-app");
    assert_eq!(load(&file).unwrap().0.id, "demo-app");
}

#[test]
fn screenshots_are_bounded_in_count_type_path_and_caption() {
    let with = |list: &str| {
        base().replacen(
            "icon: icon.svg\n",
            &format!("icon: icon.svg\nscreenshots:\n{list}"),
            1,
        )
    };
    let ok = parse_str(&with(
        "  - { path: shots/one.png, caption: The main page }\n  - { path: two.webp }\n",
    ))
    .unwrap();
    assert_eq!(ok.screenshots.len(), 2);
    assert_eq!(ok.screenshots[0].caption.as_deref(), Some("The main page"));
    // Signed like the icon: each is an artifact of its own kind.
    let files = ok.local_files();
    assert!(files.contains(&(
        "shots/one.png".into(),
        crate::objects::ArtifactKind::Screenshot
    )));
    assert!(files.contains(&("two.webp".into(), crate::objects::ArtifactKind::Screenshot)));

    let problem = |text: &str, field: &str, words: &str| {
        let err = parse_str(text).unwrap_err();
        let hit = err.problems().iter().find(|p| p.field == field).cloned();
        let hit = hit.unwrap_or_else(|| panic!("no problem names {field}: {err}"));
        assert!(
            hit.message.contains(words),
            "{field}: {:?} lacks {words:?}",
            hit.message
        );
    };
    problem(
        &with("  - { path: shot.gif }\n"),
        "screenshots[0].path",
        "not a screenshot type: use a .png, .jpg, .jpeg or .webp file",
    );
    problem(
        &with("  - { path: ../out.png }\n"),
        "screenshots[0].path",
        "relative path inside the app dir",
    );
    problem(
        &with(&format!(
            "  - {{ path: a.png, caption: {} }}\n",
            "x".repeat(201)
        )),
        "screenshots[0].caption",
        "201",
    );
    let nine: String = (0..9)
        .map(|i| format!("  - {{ path: s{i}.png }}\n"))
        .collect();
    problem(&with(&nine), "screenshots", "8");
    let err = parse_str(&with("  - { path: a.png, title: x }\n")).unwrap_err();
    assert!(err.to_string().contains("title"), "{err}");
}
