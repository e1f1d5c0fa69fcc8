//! Start order of an app's containers: dependencies first (`depends_on`), manifest order
//! otherwise. Stop order is the reverse.

use atoll_registry::manifest::{Container, Manifest};

/// Containers in start order, or the name of a container on a dependency cycle.
pub fn start_order(manifest: &Manifest) -> Result<Vec<&Container>, String> {
    let mut out: Vec<&Container> = Vec::with_capacity(manifest.containers.len());
    let mut pending: Vec<&Container> = manifest.containers.iter().collect();
    while !pending.is_empty() {
        let before = pending.len();
        let mut i = 0;
        while i < pending.len() {
            let c = pending[i];
            let ready = c.depends_on.iter().all(|d| {
                out.iter().any(|o| &o.name == d)
                    || !manifest.containers.iter().any(|m| &m.name == d)
            });
            if ready {
                out.push(pending.remove(i));
            } else {
                i += 1;
            }
        }
        if pending.len() == before {
            return Err(pending[0].name.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A manifest with the given containers and dependencies (set after parsing, so
    /// cycles the policy would refuse can be built).
    fn manifest(containers: &[(&str, &[&str])]) -> Manifest {
        let mut yaml =
            String::from("id: x\nname: X\nversion: 1.0.0\ndescription: d\ncontainers:\n");
        for (name, _) in containers {
            yaml.push_str(&format!(
                "  - name: {name}\n    image: {{ archive: images/{name}.oci.tar }}\n"
            ));
        }
        let mut m = atoll_registry::manifest::parse(&yaml, std::path::Path::new("t.yml")).unwrap();
        for (c, (_, deps)) in m.containers.iter_mut().zip(containers) {
            c.depends_on = deps.iter().map(|d| d.to_string()).collect();
        }
        m
    }

    #[test]
    fn dependencies_start_first() {
        let m = manifest(&[("front", &["api"]), ("api", &["db"]), ("db", &[])]);
        let order: Vec<_> = start_order(&m)
            .unwrap()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(order, ["db", "api", "front"]);
    }

    #[test]
    fn cycles_are_reported() {
        let m = manifest(&[("a", &["b"]), ("b", &["a"])]);
        assert!(start_order(&m).is_err());
    }
}
