use std::collections::BTreeMap;

use crate::files::Rendered;
use crate::labels;
use crate::testutil::{desired, desired_with_files, record, secret};

#[test]
fn hello_static_publishes_on_loopback_with_our_labels() {
    let mut r = record("hello-static");
    r.ports.insert(18080, 28080);
    let d = desired(&r, &BTreeMap::new()).remove(0);
    let spec = &d.spec;
    assert_eq!(spec.name, "atoll_hello-static_web");
    assert_eq!(spec.portmappings.len(), 1);
    assert_eq!(spec.portmappings[0].host_ip, "127.0.0.1");
    assert_eq!(spec.portmappings[0].host_port, 28080);
    assert_eq!(d.published_tcp.get(&8080), Some(&28080));
    assert_eq!(spec.labels[labels::APP], "hello-static");
    assert_eq!(spec.labels[labels::NODE], "node-1");
    assert_eq!(spec.labels[labels::MANAGED], "true");
    assert_eq!(spec.labels[labels::CONFIG_HASH], d.config_hash);
    assert_eq!(spec.labels[labels::STOP_GRACE], "5");
    assert_eq!(spec.stop_timeout, 5);
    assert_eq!(spec.restart_policy, "no");
    assert!(spec.init && spec.read_only_filesystem && spec.no_new_privileges);
    assert_eq!(spec.cap_drop, ["ALL"]);
    assert!(spec.networks.contains_key("atoll_hello-static"));
    let json = serde_json::to_value(spec).unwrap();
    assert_eq!(json["netns"]["nsmode"], "bridge");
    assert_eq!(json["networks"]["atoll_hello-static"]["aliases"][0], "web");
}

#[test]
fn config_hash_is_stable_and_tracks_every_input() {
    let r = record("hello-static");
    let a = desired(&r, &BTreeMap::new()).remove(0);
    let b = desired(&r, &BTreeMap::new()).remove(0);
    assert_eq!(a.config_hash, b.config_hash);

    let mut env = r.clone();
    env.release.manifest.containers[0]
        .env
        .insert("GREETING".into(), "changed".into());
    assert_ne!(
        desired(&env, &BTreeMap::new())[0].config_hash,
        a.config_hash
    );

    let mut port = r.clone();
    port.ports.insert(18080, 28081);
    assert_ne!(
        desired(&port, &BTreeMap::new())[0].config_hash,
        a.config_hash
    );

    let mut image = r.clone();
    image.images.insert("web".into(), "f".repeat(64));
    assert_ne!(
        desired(&image, &BTreeMap::new())[0].config_hash,
        a.config_hash
    );
}

#[test]
fn secrets_reach_the_env_but_never_debug_output() {
    let r = record("notebook");
    let mut secrets = BTreeMap::new();
    secrets.insert("notebook-key".to_owned(), secret("s3cr3tvalue0123456789"));
    let d = desired(&r, &secrets).remove(0);
    assert_eq!(d.spec.env["NOTEBOOK_KEY"].expose(), "s3cr3tvalue0123456789");
    let json = serde_json::to_string(&d.spec).unwrap();
    assert!(json.contains("s3cr3tvalue0123456789"));
    assert!(!format!("{d:?}").contains("s3cr3tvalue0123456789"));
    assert!(!d.config_hash.contains("s3cr3t"));
    // The volume is a bind mount under the app's data dir.
    assert_eq!(d.spec.mounts[0].source, "/data/apps/notebook/volumes/data");
    assert_eq!(d.spec.mounts[0].destination, "/data");
    assert_eq!(d.spec.mounts[0].options, ["rbind", "rw"]);
    // A different secret is a different container.
    let mut other = BTreeMap::new();
    other.insert("notebook-key".to_owned(), secret("another0123456789abcd"));
    assert_ne!(desired(&r, &other)[0].config_hash, d.config_hash);
}

#[test]
fn two_tier_starts_the_api_first() {
    let r = record("two-tier");
    let d = desired(&r, &BTreeMap::new());
    let names: Vec<_> = d.iter().map(|d| d.container.as_str()).collect();
    assert_eq!(names, ["api", "front"]);
    assert_eq!(d[1].depends_on, ["api"]);
    assert!(d[0].spec.portmappings.is_empty());
}

#[test]
fn rendered_files_are_read_only_mounts_and_a_new_content_is_a_new_container() {
    let r = record("hello-static");
    let plain = desired(&r, &BTreeMap::new()).remove(0);
    let files = |name: &str| {
        let mut f = BTreeMap::new();
        f.insert(
            "web".to_owned(),
            vec![Rendered {
                destination: "/www/config.txt".into(),
                source: format!("/data/apps/hello-static/files/web/{name}").into(),
            }],
        );
        f
    };
    let a = desired_with_files(&r, &BTreeMap::new(), &files("00-config.txt-aaaa")).remove(0);
    let m = a.spec.mounts.last().unwrap();
    assert_eq!(m.destination, "/www/config.txt");
    assert_eq!(
        m.source,
        "/data/apps/hello-static/files/web/00-config.txt-aaaa"
    );
    assert_eq!(m.options, ["rbind", "ro"]);
    assert_ne!(a.config_hash, plain.config_hash);
    // The file name carries its content's digest: new content, new hash, recreated.
    let b = desired_with_files(&r, &BTreeMap::new(), &files("00-config.txt-bbbb")).remove(0);
    assert_ne!(a.config_hash, b.config_hash);
}

#[test]
fn containers_answer_as_app_id_dash_container_and_dependents_join_dependency_networks() {
    let mut r = record("two-tier");
    r.name = "two-tier-1a2b3c4d".into();
    let plain = desired(&r, &BTreeMap::new());
    let api = serde_json::to_value(&plain[0].spec).unwrap();
    assert_eq!(
        api["networks"]["atoll_two-tier-1a2b3c4d"]["aliases"],
        serde_json::json!(["api", "two-tier-api"])
    );
    assert_eq!(plain[0].spec.networks.len(), 1);

    // Depending on an installed app: also on its network, by the qualified name only.
    r.links = vec!["mariadb-99aa88bb".into()];
    let linked = desired(&r, &BTreeMap::new());
    let front = serde_json::to_value(&linked[1].spec).unwrap();
    assert_eq!(
        front["networks"]["atoll_mariadb-99aa88bb"]["aliases"],
        serde_json::json!(["two-tier-front"])
    );
    assert_eq!(
        front["networks"]["atoll_two-tier-1a2b3c4d"]["aliases"],
        serde_json::json!(["front", "two-tier-front"])
    );
    // The attachment is part of the config: a container without it is recreated.
    assert_ne!(linked[1].config_hash, plain[1].config_hash);
}
