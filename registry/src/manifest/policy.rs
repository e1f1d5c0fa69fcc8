//! Rootless-safe policy: what a manifest may ask of a node. Every rule reports the field
//! path it concerns; [`super::load`] adds file and line.

use std::collections::{BTreeMap, BTreeSet};

use super::schema::{Container, Manifest};
use crate::names::is_dns_label;

/// Capabilities an app may add. Everything else (SYS_ADMIN, NET_ADMIN, SYS_PTRACE, …) is refused.
pub const CAPABILITY_ALLOWLIST: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Bounds on sizes and counts.
pub mod limits {
    /// Containers per app.
    pub const CONTAINERS: usize = 16;
    /// Ports per container.
    pub const PORTS: usize = 32;
    /// Volumes per container.
    pub const VOLUMES: usize = 16;
    /// Env vars per container.
    pub const ENV: usize = 128;
    /// Bytes of one env value.
    pub const ENV_VALUE: usize = 8 * 1024;
    /// Arguments of a command or entrypoint.
    pub const ARGS: usize = 128;
    /// Bytes of one argument.
    pub const ARG: usize = 4096;
    /// Characters of the display name.
    pub const NAME: usize = 64;
    /// Characters of the description.
    pub const DESCRIPTION: usize = 4096;
    /// Categories.
    pub const CATEGORIES: usize = 8;
    /// Links.
    pub const LINKS: usize = 16;
    /// Secrets per container.
    pub const SECRETS: usize = 16;
    /// App dependencies.
    pub const DEPENDENCIES: usize = 32;
    /// Longest stop grace.
    pub const STOP_GRACE_MS: u64 = 10 * 60 * 1000;
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Field path, e.g. `containers[0].ports[1].host`.
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

struct Checker {
    out: Vec<Violation>,
}

impl Checker {
    fn fail(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.out.push(Violation {
            field: field.into(),
            message: message.into(),
        });
    }

    fn label(&mut self, field: String, what: &str, value: &str) {
        if !is_dns_label(value) {
            self.fail(
                field,
                format!("{what} {value:?} is not DNS-safe: use 1-63 of a-z, 0-9 and '-', not starting or ending with '-'"),
            );
        }
    }

    fn text(&mut self, field: &str, value: &str, max: usize) {
        let n = value.chars().count();
        if n > max {
            self.fail(field, format!("{n} characters, at most {max}"));
        }
        if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            self.fail(field, "contains control characters");
        }
    }

    fn relative_path(&mut self, field: String, path: &str) {
        let bad = path.is_empty()
            || path.len() > 256
            || path.starts_with('/')
            || path.split('/').any(|p| p == ".." || p.is_empty())
            || path.contains('\\');
        if bad {
            self.fail(
                field,
                format!(
                    "{path:?} must be a relative path inside the app dir (no '..', no leading '/')"
                ),
            );
        }
    }

    fn args(&mut self, field: String, args: &[String]) {
        if args.is_empty() || args.len() > limits::ARGS {
            self.fail(
                field.clone(),
                format!("needs 1 to {} arguments", limits::ARGS),
            );
        }
        if args
            .iter()
            .any(|a| a.len() > limits::ARG || a.contains('\0'))
        {
            self.fail(
                field,
                format!(
                    "arguments must be at most {} bytes, without NUL",
                    limits::ARG
                ),
            );
        }
    }
}

fn is_env_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_uppercase() || c == b'_')
        && b.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
        && s.len() <= 128
}

fn is_pinned_reference(r: &str) -> bool {
    let Some((name, digest)) = r.rsplit_once("@sha256:") else {
        return false;
    };
    !name.is_empty()
        && name.len() <= 255
        && !name.chars().any(|c| c.is_whitespace() || c.is_control())
        && digest.len() == 64
        && digest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Check a manifest against every rule; an empty list means it may be published.
pub fn check(m: &Manifest) -> Vec<Violation> {
    let mut c = Checker { out: Vec::new() };
    c.label("id".into(), "app id", &m.id);
    if m.name.trim().is_empty() {
        c.fail("name", "must not be empty");
    }
    c.text("name", &m.name, limits::NAME);
    c.text("description", &m.description, limits::DESCRIPTION);
    if let Some(icon) = &m.icon {
        c.relative_path("icon".into(), icon);
    }
    if m.categories.len() > limits::CATEGORIES {
        c.fail(
            "categories",
            format!("at most {} categories", limits::CATEGORIES),
        );
    }
    for (i, cat) in m.categories.iter().enumerate() {
        c.label(format!("categories[{i}]"), "category", cat);
    }
    if m.links.len() > limits::LINKS {
        c.fail("links", format!("at most {} links", limits::LINKS));
    }
    for (k, v) in &m.links {
        if !(v.starts_with("https://") || v.starts_with("http://")) || v.len() > 512 {
            c.fail(
                format!("links.{k}"),
                format!("{v:?} is not an http(s) URL of at most 512 characters"),
            );
        }
    }
    if let Some(l) = &m.license {
        c.text("license", l, 128);
    }
    if m.containers.is_empty() || m.containers.len() > limits::CONTAINERS {
        c.fail(
            "containers",
            format!("needs 1 to {} containers", limits::CONTAINERS),
        );
    }
    let names: Vec<&str> = m.containers.iter().map(|x| x.name.as_str()).collect();
    let mut host_ports: BTreeMap<(u16, super::schema::Protocol), String> = BTreeMap::new();
    let mut web_ports = 0;
    for (i, ct) in m.containers.iter().enumerate() {
        let at = format!("containers[{i}]");
        if names[..i].contains(&ct.name.as_str()) {
            c.fail(
                format!("{at}.name"),
                format!("container name {:?} is used twice", ct.name),
            );
        }
        container(&mut c, &at, ct, &names);
        for (j, p) in ct.ports.iter().enumerate() {
            let pf = format!("{at}.ports[{j}]");
            if p.container == 0 {
                c.fail(format!("{pf}.container"), "port 0 is not a port");
            }
            if p.host < 1024 {
                c.fail(
                    format!("{pf}.host"),
                    format!(
                        "host port {} is privileged; rootless apps must use 1024-65535",
                        p.host
                    ),
                );
            }
            if let Some(first) = host_ports.insert((p.host, p.protocol), pf.clone()) {
                c.fail(
                    format!("{pf}.host"),
                    format!("host port {} is already published by {first}", p.host),
                );
            }
            web_ports += usize::from(p.web);
        }
    }
    if web_ports > 1 {
        c.fail(
            "containers",
            format!("{web_ports} ports are marked web: true; at most one may be"),
        );
    }
    dependency_cycles(&mut c, m);
    if m.dependencies.len() > limits::DEPENDENCIES {
        c.fail("dependencies", format!("at most {}", limits::DEPENDENCIES));
    }
    for (i, d) in m.dependencies.iter().enumerate() {
        c.label(format!("dependencies[{i}].app"), "app id", &d.app);
    }
    c.out
}

fn container(c: &mut Checker, at: &str, ct: &Container, names: &[&str]) {
    c.label(format!("{at}.name"), "container name", &ct.name);
    match (&ct.image.reference, &ct.image.archive) {
        (Some(r), None) if !is_pinned_reference(r) => c.fail(
            format!("{at}.image.reference"),
            format!("{r:?} is not pinned by digest: write it as name@sha256:<64 hex>"),
        ),
        (None, Some(p)) => c.relative_path(format!("{at}.image.archive"), p),
        (Some(_), None) => {}
        _ => c.fail(
            format!("{at}.image"),
            "needs exactly one of reference or archive",
        ),
    }
    if ct.privileged {
        c.fail(
            format!("{at}.privileged"),
            "privileged containers are not allowed",
        );
    }
    if let Some(n) = &ct.network {
        match n.as_str() {
            "app" | "none" => {}
            "host" => c.fail(
                format!("{at}.network"),
                "the host network is not allowed; apps get an app-private network",
            ),
            other => c.fail(
                format!("{at}.network"),
                format!("{other:?} is not a network mode (use app or none)"),
            ),
        }
    }
    for (field, v) in [("pid", &ct.pid), ("ipc", &ct.ipc)] {
        if let Some(v) = v {
            let msg = if v == "host" {
                format!("sharing the host's {field} namespace is not allowed")
            } else {
                format!("{v:?} is not allowed; leave {field} unset (private)")
            };
            c.fail(format!("{at}.{field}"), msg);
        }
    }
    if let Some(cmd) = &ct.command {
        c.args(format!("{at}.command"), cmd);
    }
    if let Some(ep) = &ct.entrypoint {
        c.args(format!("{at}.entrypoint"), ep);
    }
    if ct.env.len() > limits::ENV {
        c.fail(
            format!("{at}.env"),
            format!("at most {} variables", limits::ENV),
        );
    }
    for (k, v) in &ct.env {
        if !is_env_name(k) {
            c.fail(
                format!("{at}.env.{k}"),
                "variable names are A-Z, 0-9 and '_', not starting with a digit",
            );
        }
        if v.len() > limits::ENV_VALUE || v.contains('\0') {
            c.fail(
                format!("{at}.env.{k}"),
                format!(
                    "value must be at most {} bytes, without NUL",
                    limits::ENV_VALUE
                ),
            );
        }
    }
    if ct.secrets.len() > limits::SECRETS {
        c.fail(
            format!("{at}.secrets"),
            format!("at most {} secrets", limits::SECRETS),
        );
    }
    for (j, s) in ct.secrets.iter().enumerate() {
        let sf = format!("{at}.secrets[{j}]");
        c.label(format!("{sf}.name"), "secret name", &s.name);
        if !is_env_name(&s.env) {
            c.fail(
                format!("{sf}.env"),
                "variable names are A-Z, 0-9 and '_', not starting with a digit",
            );
        }
        if ct.env.contains_key(&s.env) || ct.secrets[..j].iter().any(|o| o.env == s.env) {
            c.fail(
                format!("{sf}.env"),
                format!("{} is set twice (env or another secret)", s.env),
            );
        }
        if !(16..=256).contains(&s.length) {
            c.fail(
                format!("{sf}.length"),
                format!("{} is outside 16..=256", s.length),
            );
        }
    }
    if ct.ports.len() > limits::PORTS {
        c.fail(
            format!("{at}.ports"),
            format!("at most {} ports", limits::PORTS),
        );
    }
    if ct.volumes.len() > limits::VOLUMES {
        c.fail(
            format!("{at}.volumes"),
            format!("at most {} volumes", limits::VOLUMES),
        );
    }
    let mut mounts = BTreeSet::new();
    for (j, v) in ct.volumes.iter().enumerate() {
        let vf = format!("{at}.volumes[{j}]");
        c.label(format!("{vf}.name"), "volume name", &v.name);
        if v.bind.is_some() {
            c.fail(format!("{vf}.bind"), "host bind mounts are not allowed; use a named volume (kept under the app's data dir)");
        }
        if !v.path.starts_with('/') || v.path.split('/').any(|p| p == "..") || v.path.len() > 256 {
            c.fail(
                format!("{vf}.path"),
                format!("{:?} must be an absolute path without '..'", v.path),
            );
        }
        if !mounts.insert(v.path.as_str()) {
            c.fail(format!("{vf}.path"), format!("{} is mounted twice", v.path));
        }
    }
    if let Some(h) = &ct.health {
        let hf = format!("{at}.health");
        let kinds = usize::from(h.http.is_some())
            + usize::from(h.tcp.is_some())
            + usize::from(h.command.is_some());
        if kinds != 1 {
            c.fail(hf.clone(), "needs exactly one of http, tcp or command");
        }
        if let Some(http) = &h.http {
            if !http.path.starts_with('/')
                || http.path.len() > 1024
                || http
                    .path
                    .chars()
                    .any(|ch| ch.is_whitespace() || ch.is_control())
            {
                c.fail(
                    format!("{hf}.http.path"),
                    "must start with '/' and hold no spaces",
                );
            }
            if http.port == 0 {
                c.fail(format!("{hf}.http.port"), "port 0 is not a port");
            }
        }
        if let Some(cmd) = &h.command {
            c.args(format!("{hf}.command"), cmd);
        }
        if h.interval.0 < 1000 || h.interval.0 > 3_600_000 {
            c.fail(format!("{hf}.interval"), "must be between 1s and 1h");
        }
        if h.timeout.0 == 0 || h.timeout > h.interval {
            c.fail(
                format!("{hf}.timeout"),
                "must be more than 0 and at most the interval",
            );
        }
        if h.retries == 0 || h.retries > 100 {
            c.fail(format!("{hf}.retries"), "must be 1 to 100");
        }
        if h.start_period.0 > 3_600_000 {
            c.fail(format!("{hf}.start_period"), "must be at most 1h");
        }
    }
    if let Some(g) = ct.stop_grace {
        if g.0 > limits::STOP_GRACE_MS {
            c.fail(format!("{at}.stop_grace"), "must be at most 10m");
        }
    }
    for (j, cap) in ct.capabilities.iter().enumerate() {
        let bare = cap.strip_prefix("CAP_").unwrap_or(cap);
        if !CAPABILITY_ALLOWLIST.contains(&bare) {
            c.fail(
                format!("{at}.capabilities[{j}]"),
                format!(
                    "capability {cap:?} is not allowed; allowed: {}",
                    CAPABILITY_ALLOWLIST.join(", ")
                ),
            );
        }
    }
    if let Some(u) = &ct.user {
        let ok = !u.is_empty()
            && u.len() <= 64
            && u.split(':').count() <= 2
            && u.split(':').all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            });
        if !ok {
            c.fail(
                format!("{at}.user"),
                format!("{u:?} is not uid[:gid] or a user name"),
            );
        }
    }
    if let Some(mem) = ct.memory {
        if mem.0 < 4 << 20 {
            c.fail(format!("{at}.memory"), "must be at least 4Mi");
        }
    }
    if let Some(cpus) = ct.cpus {
        if cpus.0 == 0 || cpus.0 > 64_000 {
            c.fail(format!("{at}.cpus"), "must be more than 0 and at most 64");
        }
    }
    for (j, d) in ct.depends_on.iter().enumerate() {
        if d == &ct.name {
            c.fail(
                format!("{at}.depends_on[{j}]"),
                "a container cannot depend on itself",
            );
        } else if !names.contains(&d.as_str()) {
            c.fail(
                format!("{at}.depends_on[{j}]"),
                format!("no container named {d:?} in this app"),
            );
        }
    }
}

/// depends_on must form no cycle (the orchestrator starts containers in that order).
fn dependency_cycles(c: &mut Checker, m: &Manifest) {
    let index: BTreeMap<&str, usize> = m
        .containers
        .iter()
        .enumerate()
        .map(|(i, x)| (x.name.as_str(), i))
        .collect();
    // 0 = unvisited, 1 = on stack, 2 = done
    let mut state = vec![0u8; m.containers.len()];
    fn visit(
        i: usize,
        m: &Manifest,
        index: &BTreeMap<&str, usize>,
        state: &mut [u8],
    ) -> Option<usize> {
        state[i] = 1;
        for d in &m.containers[i].depends_on {
            let Some(&j) = index.get(d.as_str()) else {
                continue;
            };
            if j == i {
                continue;
            }
            match state[j] {
                1 => return Some(j),
                0 => {
                    if let Some(x) = visit(j, m, index, state) {
                        return Some(x);
                    }
                }
                _ => {}
            }
        }
        state[i] = 2;
        None
    }
    for i in 0..m.containers.len() {
        if state[i] == 0 {
            if let Some(j) = visit(i, m, &index, &mut state) {
                c.fail(
                    format!("containers[{j}].depends_on"),
                    format!(
                        "depends_on forms a cycle through {:?}",
                        m.containers[j].name
                    ),
                );
                return;
            }
        }
    }
}
