//! Drift: a container that carries our labels but is not what the spec says (recreated or
//! edited by hand, labels copied). The config-hash label catches spec changes; this check
//! catches a container whose labels claim a hash its configuration does not have. It runs
//! once per container id (a container's configuration cannot change without a new id).

use std::collections::{BTreeMap, BTreeSet};

use crate::labels;
use crate::podman::types::ContainerInspect;
use crate::spec::Desired;

/// Variables podman itself adds to every container.
const PODMAN_ENV: &[&str] = &["container", "HOME", "HOSTNAME", "TERM", "PATH"];

fn env_map(list: &[String]) -> BTreeMap<&str, &str> {
    list.iter()
        .map(|kv| kv.split_once('=').unwrap_or((kv.as_str(), "")))
        .collect()
}

/// Why the container differs from `desired`, or `None` if it matches. Reasons name
/// variables, never their values (they may be secrets).
pub fn check(actual: &ContainerInspect, desired: &Desired, image_env: &[String]) -> Option<String> {
    let spec = &desired.spec;
    if actual.image != spec.image {
        return Some(format!(
            "image is {}, not {}",
            short(&actual.image),
            short(&spec.image)
        ));
    }
    let env = env_map(&actual.config.env);
    for (k, v) in &spec.env {
        match env.get(k.as_str()) {
            Some(a) if *a == v.expose() => {}
            Some(_) => return Some(format!("env {k} differs")),
            None => return Some(format!("env {k} is missing")),
        }
    }
    let image_keys: BTreeSet<&str> = env_map(image_env).into_keys().collect();
    for k in env.keys() {
        if !spec.env.contains_key(*k) && !image_keys.contains(k) && !PODMAN_ENV.contains(k) {
            return Some(format!("env {k} was added"));
        }
    }
    for (k, v) in &spec.labels {
        if actual.config.labels.get(k) != Some(v) {
            return Some(format!("label {k} differs"));
        }
    }
    if let Some(cmd) = &spec.command {
        if &actual.config.cmd != cmd {
            return Some("command differs".to_owned());
        }
    }
    if actual.config.stop_timeout != spec.stop_timeout {
        return Some("stop timeout differs".to_owned());
    }
    let mut want_ports: BTreeSet<(String, String)> = BTreeSet::new();
    for p in &spec.portmappings {
        want_ports.insert((
            format!("{}/{}", p.container_port, p.protocol),
            format!("{}:{}", p.host_ip, p.host_port),
        ));
    }
    let mut have_ports = BTreeSet::new();
    for (port, bindings) in &actual.host_config.port_bindings {
        for b in bindings.iter().flatten() {
            have_ports.insert((port.clone(), format!("{}:{}", b.host_ip, b.host_port)));
        }
    }
    if want_ports != have_ports {
        return Some("published ports differ".to_owned());
    }
    for m in &spec.mounts {
        if !actual
            .mounts
            .iter()
            .any(|a| a.destination == m.destination && a.source == m.source)
        {
            return Some(format!("mount {} differs", m.destination));
        }
    }
    if actual.config.labels.get(labels::CONFIG_HASH) != Some(&desired.config_hash) {
        return Some("config hash differs".to_owned());
    }
    None
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
