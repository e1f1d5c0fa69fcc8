use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::testutil::{desired, record, secret};

#[test]
fn hello_static_container_unit() {
    let mut r = record("hello-static");
    r.ports.insert(18080, 28080);
    let d = desired(&r, &BTreeMap::new());
    let units = render(
        &r,
        "node-1",
        &d,
        Path::new("/data/apps/hello-static/quadlet"),
    );
    let names: Vec<_> = units.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "atoll-hello-static.network",
            "atoll-hello-static-web.container"
        ]
    );
    let net = &units[0].content;
    assert!(net.contains("[Network]\n"));
    assert!(net.contains("Label=io.atoll.node=node-1\n"));
    let c = &units[1].content;
    for line in [
        "[Unit]\n",
        "Description=atoll hello-static: web\n",
        "[Container]\n",
        "ContainerName=atoll_hello-static_web\n",
        "Exec=\"httpd\" \"-f\" \"-p\" \"8080\" \"-h\" \"/www\"\n",
        "Environment=\"GREETING=hello\"\n",
        "PublishPort=127.0.0.1:28080:8080/tcp\n",
        "Network=atoll-hello-static.network\n",
        "PodmanArgs=--network-alias=web\n",
        "User=0\n",
        "ReadOnly=true\n",
        "RunInit=true\n",
        "NoNewPrivileges=true\n",
        "DropCapability=all\n",
        "PodmanArgs=--stop-timeout=5\n",
        "# The HTTP/TCP health check is run by atoll, not by podman.\n",
        "[Service]\nRestart=always\nTimeoutStopSec=35\n",
        "[Install]\nWantedBy=default.target\n",
    ] {
        assert!(c.contains(line), "missing {line:?} in:\n{c}");
    }
    assert!(c.contains(&format!(
        "Label=\"io.atoll.config-hash={}\"\n",
        d[0].config_hash
    )));
    assert!(c.contains(&format!("Image={}\n", d[0].spec.image)));
    assert!(!units.iter().any(|u| u.secret));
}

#[test]
fn secrets_go_to_an_env_file_not_the_unit() {
    let r = record("notebook");
    let mut secrets = BTreeMap::new();
    secrets.insert("notebook-key".to_owned(), secret("topsecretvalue12345678"));
    let d = desired(&r, &secrets);
    let units = render(&r, "node-1", &d, Path::new("/data/apps/notebook/quadlet"));
    let unit = units
        .iter()
        .find(|u| u.name.ends_with(".container"))
        .unwrap();
    assert!(!unit.content.contains("topsecretvalue"));
    assert!(unit.content.contains(
        "PodmanArgs=--env-file=\"/data/apps/notebook/quadlet/atoll-notebook-web.env\"\n"
    ));
    assert!(unit
        .content
        .contains("Volume=/data/apps/notebook/volumes/data:/data:rw\n"));
    assert!(unit
        .content
        .contains("Environment=\"NOTEBOOK_TITLE=Visitor notebook\"\n"));
    let env = units.iter().find(|u| u.secret).unwrap();
    assert_eq!(env.name, "atoll-notebook-web.env");
    assert_eq!(env.content, "NOTEBOOK_KEY=topsecretvalue12345678\n");
}

#[test]
fn dependencies_become_requires_and_after() {
    let r = record("two-tier");
    let d = desired(&r, &BTreeMap::new());
    let units = render(&r, "node-1", &d, Path::new("/x"));
    let front = units
        .iter()
        .find(|u| u.name == "atoll-two-tier-front.container")
        .unwrap();
    assert!(front
        .content
        .contains("Requires=atoll-two-tier-api.service\nAfter=atoll-two-tier-api.service\n"));
    let api = units
        .iter()
        .find(|u| u.name == "atoll-two-tier-api.container")
        .unwrap();
    assert!(!api.content.contains("PublishPort="));
    assert!(!api.content.contains("Requires="));
}

#[test]
fn values_are_quoted_for_systemd() {
    assert_eq!(quote("a b"), "\"a b\"");
    assert_eq!(quote("100%"), "\"100%%\"");
    assert_eq!(quote("say \"hi\" \\o/"), "\"say \\\"hi\\\" \\\\o/\"");
}
