//! Host-port overrides at install: the API and CLI name a container port and the host
//! port to publish it on; the orchestrator keys its overrides by the manifest's host port.
//! The CLI's `HOST=CONTAINER` form is parsed here too.

use std::collections::BTreeMap;

use atoll_registry::Manifest;

/// The orchestrator's overrides (manifest host port → host port) for `wanted` (container
/// port → host port), or what is wrong, naming the port.
pub fn resolve(
    manifest: &Manifest,
    wanted: &BTreeMap<u16, u16>,
) -> Result<BTreeMap<u16, u16>, String> {
    let published: Vec<(u16, u16)> = manifest
        .containers
        .iter()
        .flat_map(|c| c.ports.iter())
        .map(|p| (p.container, p.host))
        .collect();
    let mut out = BTreeMap::new();
    for (&container, &host) in wanted {
        if host == 0 {
            return Err(format!(
                "container port {container}: host port 0 is not a port"
            ));
        }
        let hosts: Vec<u16> = published
            .iter()
            .filter(|(c, _)| *c == container)
            .map(|(_, h)| *h)
            .collect();
        match hosts.as_slice() {
            [] => {
                let list: Vec<String> = published.iter().map(|(c, _)| c.to_string()).collect();
                return Err(format!(
                    "container port {container} is not published by {} (it publishes: {})",
                    manifest.id,
                    if list.is_empty() {
                        "none".to_owned()
                    } else {
                        list.join(", ")
                    }
                ));
            }
            [manifest_host] => {
                if *manifest_host != host {
                    out.insert(*manifest_host, host);
                }
            }
            _ => {
                return Err(format!(
                    "container port {container} is published by more than one container of {}; \
                     it cannot be overridden by container port",
                    manifest.id
                ))
            }
        }
    }
    let mut seen = BTreeMap::new();
    for p in &published {
        let host = out.get(&p.1).copied().unwrap_or(p.1);
        if let Some(other) = seen.insert(host, p.0) {
            return Err(format!(
                "host port {host} would publish both container port {other} and {}",
                p.0
            ));
        }
    }
    Ok(out)
}

/// One CLI `--port HOST=CONTAINER` argument.
pub fn parse_arg(arg: &str) -> Result<(u16, u16), String> {
    let bad = || {
        format!(
            "--port {arg:?}: expected HOST=CONTAINER with two port numbers (e.g. --port 18090=8080)"
        )
    };
    let (host, container) = arg.split_once('=').ok_or_else(bad)?;
    let host: u16 = host.trim().parse().map_err(|_| bad())?;
    let container: u16 = container.trim().parse().map_err(|_| bad())?;
    if host == 0 || container == 0 {
        return Err(bad());
    }
    Ok((host, container))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cli_ports_parse_or_name_the_argument() {
        assert_eq!(parse_arg("18090=8080"), Ok((18090, 8080)));
        for bad in [
            "18090",
            "x=8080",
            "18090=",
            "0=8080",
            "70000=80",
            "18090:8080",
        ] {
            let e = parse_arg(bad).unwrap_err();
            assert!(
                e.contains(&format!("{bad:?}")) && e.contains("HOST=CONTAINER"),
                "{e}"
            );
        }
    }
}
