//! The permission diff between two manifests of an app (the version installed and the one
//! an update would move to): what the new version asks for that the old one did not
//! (ports, volumes, capabilities, secrets, config files, settings, containers,
//! dependencies), what it no longer asks for, and what changed per container (memory, CPU,
//! user, read-only root, init, network).

use std::collections::BTreeSet;

use atoll_registry::Manifest;
use serde::Serialize;

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "lowercase")]
pub enum Change {
    /// Asked for by the new version only.
    Added {
        /// `port`, `volume`, `capability`, `secret`, `file`, `setting`, `container`,
        /// `dependency`.
        what: &'static str,
        /// What, in words (`18080→8080/tcp (web)`).
        value: String,
    },
    /// Asked for by the old version only.
    Removed {
        /// As in [`Change::Added`].
        what: &'static str,
        /// As in [`Change::Added`].
        value: String,
    },
    /// A container's setting that differs.
    Changed {
        /// `memory`, `cpus`, `user`, `read_only`, `init`, `network`.
        what: &'static str,
        /// The container.
        container: String,
        /// Old value (`none` when unset).
        from: String,
        /// New value.
        to: String,
    },
}

fn text<T: Serialize>(v: &Option<T>) -> String {
    match v {
        None => "none".into(),
        Some(v) => match serde_json::to_value(v) {
            Ok(serde_json::Value::String(s)) => s,
            Ok(other) => other.to_string(),
            Err(_) => "?".into(),
        },
    }
}

/// What a manifest asks for, as `(kind, words)` pairs.
fn asks(m: &Manifest) -> BTreeSet<(&'static str, String)> {
    let mut out = BTreeSet::new();
    for c in &m.containers {
        out.insert(("container", c.name.clone()));
        for p in &c.ports {
            let web = if p.web { ", web" } else { "" };
            let proto = serde_json::to_value(p.protocol)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            out.insert((
                "port",
                format!("{}→{}/{proto} ({}{web})", p.host, p.container, c.name),
            ));
        }
        for v in &c.volumes {
            let ro = if v.read_only { ", read-only" } else { "" };
            out.insert((
                "volume",
                format!("{} at {} ({}{ro})", v.name, v.path, c.name),
            ));
        }
        for cap in &c.capabilities {
            out.insert(("capability", format!("{cap} ({})", c.name)));
        }
        for s in &c.secrets {
            out.insert(("secret", s.name.clone()));
        }
        for f in &c.files {
            out.insert(("file", format!("{} ({})", f.path, c.name)));
        }
    }
    for s in &m.settings {
        out.insert(("setting", s.name.clone()));
    }
    for d in &m.dependencies {
        let publisher = d
            .publisher
            .as_ref()
            .map(|p| format!("{p}/"))
            .unwrap_or_default();
        out.insert(("dependency", format!("{publisher}{} {}", d.app, d.version)));
    }
    out
}

/// The differences from `old` to `new`: additions, removals, then per-container changes
/// (of containers both have), each group in a fixed order.
pub fn permissions(old: &Manifest, new: &Manifest) -> Vec<Change> {
    let (a, b) = (asks(old), asks(new));
    let mut out: Vec<Change> = b
        .difference(&a)
        .map(|(what, value)| Change::Added {
            what,
            value: value.clone(),
        })
        .collect();
    out.extend(a.difference(&b).map(|(what, value)| Change::Removed {
        what,
        value: value.clone(),
    }));
    for n in &new.containers {
        let Some(o) = old.containers.iter().find(|o| o.name == n.name) else {
            continue;
        };
        let pairs: [(&'static str, String, String); 6] = [
            ("memory", text(&o.memory), text(&n.memory)),
            ("cpus", text(&o.cpus), text(&n.cpus)),
            ("user", text(&o.user), text(&n.user)),
            (
                "read_only",
                o.read_only.to_string(),
                n.read_only.to_string(),
            ),
            ("init", o.init.to_string(), n.init.to_string()),
            (
                "network",
                o.network.clone().unwrap_or_else(|| "app-private".into()),
                n.network.clone().unwrap_or_else(|| "app-private".into()),
            ),
        ];
        for (what, from, to) in pairs {
            if from != to {
                out.push(Change::Changed {
                    what,
                    container: n.name.clone(),
                    from,
                    to,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn manifest(extra: &str, memory: &str) -> Manifest {
        let yaml = format!(
            "id: tiny\nname: Tiny\nversion: 1.0.0\ndescription: d\ncontainers:\n  - name: web\n    image:\n      reference: \"x/y@sha256:{}\"\n    memory: {memory}\n    ports: [ {{ container: 8080, host: 18080, protocol: tcp, web: true }} ]\n{extra}",
            "0".repeat(64)
        );
        atoll_registry::manifest::parse(&yaml, std::path::Path::new("m.yml")).unwrap()
    }

    #[test]
    fn added_removed_and_changed() {
        let old = manifest("", "32Mi");
        let new = manifest(
            "    volumes: [ { name: data, path: /data } ]\n    capabilities: [NET_BIND_SERVICE]\n",
            "64Mi",
        );
        assert_eq!(permissions(&old, &old), vec![]);
        let d = permissions(&old, &new);
        assert!(d.contains(&Change::Added {
            what: "volume",
            value: "data at /data (web)".into()
        }));
        assert!(d.contains(&Change::Added {
            what: "capability",
            value: "NET_BIND_SERVICE (web)".into()
        }));
        assert!(
            d.iter().any(
                |c| matches!(c, Change::Changed { what: "memory", from, to, .. } if from != to)
            ),
            "{d:?}"
        );
        let back = permissions(&new, &old);
        assert!(back.contains(&Change::Removed {
            what: "volume",
            value: "data at /data (web)".into()
        }));
    }
}
