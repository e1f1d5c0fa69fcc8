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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::testutil::{desired, record};

    /// An inspect answer that matches `d` exactly, as podman gives it.
    fn matching(d: &Desired) -> serde_json::Value {
        let spec = &d.spec;
        let mut env: Vec<String> = vec![
            "PATH=/bin".into(),
            "TERM=xterm".into(),
            "container=podman".into(),
            "HOME=/root".into(),
            "HOSTNAME=abc".into(),
        ];
        env.extend(spec.env.iter().map(|(k, v)| format!("{k}={}", v.expose())));
        let mut labels = spec.labels.clone();
        labels.insert(
            "org.opencontainers.image.title".into(),
            "from the image".into(),
        );
        let ports: BTreeMap<String, serde_json::Value> = spec
            .portmappings
            .iter()
            .map(|p| {
                (
                    format!("{}/{}", p.container_port, p.protocol),
                    serde_json::json!([{ "HostIp": p.host_ip, "HostPort": p.host_port.to_string() }]),
                )
            })
            .collect();
        serde_json::json!({
            "Id": "abc",
            "Image": spec.image,
            "State": { "Status": "running", "Pid": 1, "ConmonPid": 2 },
            "Config": { "Env": env, "Labels": labels, "Cmd": spec.command, "StopTimeout": spec.stop_timeout },
            "HostConfig": { "PortBindings": ports },
            "Mounts": spec.mounts.iter().map(|m| serde_json::json!({
                "Type": "bind", "Source": m.source, "Destination": m.destination, "RW": true
            })).collect::<Vec<_>>(),
        })
    }

    fn inspect(v: serde_json::Value) -> ContainerInspect {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_faithful_container_has_no_drift() {
        let d = desired(&record("hello-static"), &BTreeMap::new()).remove(0);
        assert_eq!(
            check(&inspect(matching(&d)), &d, &["PATH=/bin".into()]),
            None
        );
    }

    #[test]
    fn hand_edits_are_drift_and_never_show_values() {
        let d = desired(&record("hello-static"), &BTreeMap::new()).remove(0);
        let image_env = ["PATH=/bin".to_owned()];
        let edit = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut v = matching(&d);
            f(&mut v);
            check(&inspect(v), &d, &image_env)
        };
        let changed = edit(&|v| {
            let env = v["Config"]["Env"].as_array_mut().unwrap();
            for e in env.iter_mut() {
                if e.as_str().unwrap().starts_with("GREETING=") {
                    *e = "GREETING=tampered".into();
                }
            }
        });
        assert_eq!(changed.as_deref(), Some("env GREETING differs"));
        let added = edit(&|v| {
            v["Config"]["Env"]
                .as_array_mut()
                .unwrap()
                .push("EXTRA=1".into())
        });
        assert_eq!(added.as_deref(), Some("env EXTRA was added"));
        let image = edit(&|v| v["Image"] = "f".repeat(64).into());
        assert!(image.unwrap().starts_with("image is"));
        let port = edit(&|v| v["HostConfig"]["PortBindings"] = serde_json::json!({}));
        assert_eq!(port.as_deref(), Some("published ports differ"));
        let grace = edit(&|v| v["Config"]["StopTimeout"] = 0.into());
        assert_eq!(grace.as_deref(), Some("stop timeout differs"));
        let label = edit(&|v| v["Config"]["Labels"]["io.atoll.app"] = "other".into());
        assert_eq!(label.as_deref(), Some("label io.atoll.app differs"));
    }

    #[test]
    fn secret_values_never_appear_in_reasons() {
        let mut secrets = BTreeMap::new();
        secrets.insert(
            "notebook-key".to_owned(),
            crate::testutil::secret("verysecretvalue1234"),
        );
        let d = desired(&record("notebook"), &secrets).remove(0);
        let mut v = matching(&d);
        for e in v["Config"]["Env"].as_array_mut().unwrap() {
            if e.as_str().unwrap().starts_with("NOTEBOOK_KEY=") {
                *e = "NOTEBOOK_KEY=guessed".into();
            }
        }
        let reason = check(&inspect(v), &d, &["PATH=/bin".into()]).unwrap();
        assert_eq!(reason, "env NOTEBOOK_KEY differs");
        assert!(!reason.contains("verysecret") && !reason.contains("guessed"));
    }
}
