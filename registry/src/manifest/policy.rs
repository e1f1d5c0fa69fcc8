//! Rootless-safe policy: what a manifest may ask of a node. Every rule reports the field
//! path it concerns; [`super::load`] adds file and line.

use std::collections::{BTreeMap, BTreeSet};

use super::rule::Rule;
use super::schema::{Container, Manifest};
use super::template::{self, Placeholder};
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

/// Screenshot file types, by extension (the node serves each as its type, checking the
/// file starts like one).
pub const SCREENSHOT_TYPES: &[&str] = &["png", "jpg", "jpeg", "webp"];

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
    /// Characters of the release notes.
    pub const RELEASE_NOTES: usize = 8192;
    /// Categories.
    pub const CATEGORIES: usize = 8;
    /// Most screenshots.
    pub const SCREENSHOTS: usize = 8;
    /// Longest screenshot caption, in characters.
    pub const SCREENSHOT_CAPTION: usize = 200;
    /// Links.
    pub const LINKS: usize = 16;
    /// Secrets per container.
    pub const SECRETS: usize = 16;
    /// App dependencies.
    pub const DEPENDENCIES: usize = 32;
    /// Longest stop grace.
    pub const STOP_GRACE_MS: u64 = 10 * 60 * 1000;
    /// Longest `backup.timeout`.
    pub const BACKUP_TIMEOUT_MS: u64 = 60 * 60 * 1000;
    /// Largest memory limit of a container (1 TiB).
    pub const MEMORY: u64 = 1 << 40;
    /// Settings per app.
    pub const SETTINGS: usize = 32;
    /// Characters of a setting's description.
    pub const SETTING_DESCRIPTION: usize = 256;
    /// Bytes of a setting value (or default).
    pub const SETTING_VALUE: usize = 1024;
    /// Template files per container.
    pub const FILES: usize = 16;
    /// Bytes of one template.
    pub const TEMPLATE: usize = 64 * 1024;
}

/// Is `v` a usable setting value: at most [`limits::SETTING_VALUE`] bytes, no control
/// characters (so no newline can be injected into a config file)?
pub fn setting_value_ok(v: &str) -> bool {
    v.len() <= limits::SETTING_VALUE && !v.chars().any(char::is_control)
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Field path, e.g. `containers[0].ports[1].host`.
    pub field: String,
    /// The rule it breaks.
    pub rule: Rule,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.rule)
    }
}

struct Checker {
    out: Vec<Violation>,
}

impl Checker {
    fn fail(&mut self, field: impl Into<String>, rule: Rule) {
        self.out.push(Violation {
            field: field.into(),
            rule,
        });
    }

    fn label(&mut self, field: String, what: &'static str, value: &str) {
        if !is_dns_label(value) {
            self.fail(
                field,
                Rule::NotDnsLabel {
                    what,
                    value: value.chars().take(128).collect(),
                },
            );
        }
    }

    fn text(&mut self, field: &str, value: &str, max: usize) {
        let n = value.chars().count();
        if n > max {
            self.fail(field, Rule::TooLong { chars: n, max });
        }
        if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            self.fail(field, Rule::ControlCharacters);
        }
    }

    fn relative_path(&mut self, field: String, path: &str) {
        let bad = path.is_empty()
            || path.len() > 256
            || path.starts_with('/')
            || path.split('/').any(|p| p == ".." || p.is_empty())
            || path.contains('\\');
        if bad {
            self.fail(field, Rule::NotRelativePath(bounded(path)));
        }
    }

    fn args(&mut self, field: String, args: &[String]) {
        if args.is_empty() || args.len() > limits::ARGS {
            self.fail(field.clone(), Rule::ArgumentCount { max: limits::ARGS });
        }
        if args
            .iter()
            .any(|a| a.len() > limits::ARG || a.contains('\0'))
        {
            self.fail(field, Rule::ArgumentBytes { max: limits::ARG });
        }
    }
}

/// A value from the manifest, as quoted in a rule: at most 256 characters.
fn bounded(s: &str) -> String {
    s.chars().take(256).collect()
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
        c.fail("name", Rule::Empty);
    }
    c.text("name", &m.name, limits::NAME);
    c.text("description", &m.description, limits::DESCRIPTION);
    if let Some(notes) = &m.release_notes {
        c.text("release_notes", notes, limits::RELEASE_NOTES);
    }
    if let Some(icon) = &m.icon {
        c.relative_path("icon".into(), icon);
    }
    if m.screenshots.len() > limits::SCREENSHOTS {
        c.fail(
            "screenshots",
            Rule::TooMany {
                max: limits::SCREENSHOTS,
                what: "screenshots",
            },
        );
    }
    for (i, s) in m.screenshots.iter().enumerate() {
        let field = format!("screenshots[{i}].path");
        c.relative_path(field.clone(), &s.path);
        let ext = s
            .path
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        if !SCREENSHOT_TYPES.contains(&ext.as_str()) {
            c.fail(field, Rule::ScreenshotType(bounded(&s.path)));
        }
        if let Some(caption) = &s.caption {
            c.text(
                &format!("screenshots[{i}].caption"),
                caption,
                limits::SCREENSHOT_CAPTION,
            );
        }
    }
    if m.categories.len() > limits::CATEGORIES {
        c.fail(
            "categories",
            Rule::TooMany {
                max: limits::CATEGORIES,
                what: "categories",
            },
        );
    }
    for (i, cat) in m.categories.iter().enumerate() {
        c.label(format!("categories[{i}]"), "category", cat);
    }
    if m.links.len() > limits::LINKS {
        c.fail(
            "links",
            Rule::TooMany {
                max: limits::LINKS,
                what: "links",
            },
        );
    }
    for (k, v) in &m.links {
        if !(v.starts_with("https://") || v.starts_with("http://")) || v.len() > 512 {
            c.fail(format!("links.{k}"), Rule::NotHttpUrl(bounded(v)));
        }
    }
    if let Some(l) = &m.license {
        c.text("license", l, 128);
    }
    if m.containers.is_empty() || m.containers.len() > limits::CONTAINERS {
        c.fail(
            "containers",
            Rule::Containers {
                max: limits::CONTAINERS,
            },
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
                Rule::ContainerTwice(bounded(&ct.name)),
            );
        }
        container(&mut c, &at, ct, &names);
        for (j, p) in ct.ports.iter().enumerate() {
            let pf = format!("{at}.ports[{j}]");
            if p.container == 0 {
                c.fail(format!("{pf}.container"), Rule::PortZero);
            }
            if p.host < 1024 {
                c.fail(format!("{pf}.host"), Rule::PrivilegedPort(p.host));
            }
            if let Some(first) = host_ports.insert((p.host, p.protocol), pf.clone()) {
                c.fail(
                    format!("{pf}.host"),
                    Rule::PortTwice {
                        port: p.host,
                        by: first,
                    },
                );
            }
            web_ports += usize::from(p.web);
        }
    }
    if web_ports > 1 {
        c.fail("containers", Rule::WebPorts(web_ports));
    }
    dependency_cycles(&mut c, m);
    if m.dependencies.len() > limits::DEPENDENCIES {
        c.fail(
            "dependencies",
            Rule::TooMany {
                max: limits::DEPENDENCIES,
                what: "dependencies",
            },
        );
    }
    for (i, d) in m.dependencies.iter().enumerate() {
        c.label(format!("dependencies[{i}].app"), "app id", &d.app);
    }
    settings(&mut c, m);
    app_secrets(&mut c, m);
    for (i, ct) in m.containers.iter().enumerate() {
        files(&mut c, m, &format!("containers[{i}]"), ct);
    }
    c.out
}

fn settings(c: &mut Checker, m: &Manifest) {
    if m.settings.len() > limits::SETTINGS {
        c.fail(
            "settings",
            Rule::TooMany {
                max: limits::SETTINGS,
                what: "settings",
            },
        );
    }
    for (i, s) in m.settings.iter().enumerate() {
        let at = format!("settings[{i}]");
        c.label(format!("{at}.name"), "setting name", &s.name);
        if m.settings[..i].iter().any(|o| o.name == s.name) {
            c.fail(format!("{at}.name"), Rule::SettingTwice(bounded(&s.name)));
        }
        let n = s.description.chars().count();
        if n > limits::SETTING_DESCRIPTION {
            c.fail(
                format!("{at}.description"),
                Rule::TooLong {
                    chars: n,
                    max: limits::SETTING_DESCRIPTION,
                },
            );
        }
        if s.description.chars().any(char::is_control) {
            c.fail(format!("{at}.description"), Rule::ControlCharacters);
        }
        if let Some(d) = &s.default {
            if !setting_value_ok(d) {
                c.fail(
                    format!("{at}.default"),
                    Rule::SettingValue {
                        max: limits::SETTING_VALUE,
                    },
                );
            }
        }
    }
}

/// A secret is app-wide: every declaration of one name must agree on its length.
fn app_secrets(c: &mut Checker, m: &Manifest) {
    let mut first: BTreeMap<&str, u32> = BTreeMap::new();
    for (i, ct) in m.containers.iter().enumerate() {
        for (j, s) in ct.secrets.iter().enumerate() {
            match first.get(s.name.as_str()) {
                Some(&len) if len != s.length => c.fail(
                    format!("containers[{i}].secrets[{j}].length"),
                    Rule::SecretConflict {
                        name: bounded(&s.name),
                        first: len,
                    },
                ),
                Some(_) => {}
                None => {
                    first.insert(&s.name, s.length);
                }
            }
        }
    }
}

fn file_path_ok(p: &str) -> bool {
    let Some(rel) = p.strip_prefix('/') else {
        return false;
    };
    !rel.is_empty()
        && p.len() <= 256
        && !p.chars().any(|ch| ch.is_control() || ch == '\\')
        && rel.split('/').all(|part| !matches!(part, "" | "." | ".."))
        && !["proc", "sys", "dev"].contains(&rel.split('/').next().unwrap_or(""))
}

/// Is `path` at or under `dir` (both clean absolute paths)?
fn inside(path: &str, dir: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    dir.is_empty() || path == dir || path.starts_with(&format!("{dir}/"))
}

fn files(c: &mut Checker, m: &Manifest, at: &str, ct: &Container) {
    if ct.files.len() > limits::FILES {
        c.fail(
            format!("{at}.files"),
            Rule::TooMany {
                max: limits::FILES,
                what: "files",
            },
        );
    }
    for (j, f) in ct.files.iter().enumerate() {
        let ff = format!("{at}.files[{j}]");
        if !file_path_ok(&f.path) {
            c.fail(format!("{ff}.path"), Rule::FilePath(bounded(&f.path)));
        } else {
            if let Some(v) = ct.volumes.iter().find(|v| inside(&f.path, &v.path)) {
                c.fail(
                    format!("{ff}.path"),
                    Rule::FileUnderVolume(format!(
                        "{:?} (mounted at {})",
                        bounded(&v.name),
                        bounded(&v.path)
                    )),
                );
            }
            if ct.files[..j]
                .iter()
                .any(|o| inside(&f.path, &o.path) || inside(&o.path, &f.path))
            {
                c.fail(format!("{ff}.path"), Rule::FileTwice(bounded(&f.path)));
            }
        }
        match f.mode_bits() {
            Some(bits) if bits & 0o400 != 0 => {}
            _ => c.fail(
                format!("{ff}.mode"),
                Rule::FileMode(bounded(f.mode.as_deref().unwrap_or(""))),
            ),
        }
        let tf = format!("{ff}.template");
        if f.template.len() > limits::TEMPLATE {
            c.fail(
                tf.clone(),
                Rule::TemplateTooLarge {
                    bytes: f.template.len(),
                    max: limits::TEMPLATE,
                },
            );
            continue;
        }
        if f.template.contains('\0') {
            c.fail(tf.clone(), Rule::ControlCharacters);
        }
        match template::placeholders(&f.template) {
            Err(e) => c.fail(tf, Rule::Template(e)),
            Ok(found) => {
                for (line, p) in found {
                    let missing = match &p {
                        Placeholder::Secret(n) => !m
                            .containers
                            .iter()
                            .any(|x| x.secrets.iter().any(|s| &s.name == n)),
                        Placeholder::Setting(n) => !m.settings.iter().any(|s| &s.name == n),
                        _ => false,
                    };
                    if missing {
                        c.fail(
                            tf.clone(),
                            Rule::UnknownPlaceholder {
                                line,
                                placeholder: p.to_string(),
                            },
                        );
                    }
                }
            }
        }
    }
}

fn container(c: &mut Checker, at: &str, ct: &Container, names: &[&str]) {
    c.label(format!("{at}.name"), "container name", &ct.name);
    match (&ct.image.reference, &ct.image.archive) {
        (Some(r), None) if !is_pinned_reference(r) => {
            c.fail(format!("{at}.image.reference"), Rule::NotPinned(bounded(r)))
        }
        (None, Some(p)) => c.relative_path(format!("{at}.image.archive"), p),
        (Some(_), None) => {}
        _ => c.fail(format!("{at}.image"), Rule::ImageSource),
    }
    if ct.privileged {
        c.fail(format!("{at}.privileged"), Rule::Privileged);
    }
    if let Some(n) = &ct.network {
        match n.as_str() {
            "app" | "none" => {}
            "host" => c.fail(format!("{at}.network"), Rule::HostNetwork),
            other => c.fail(format!("{at}.network"), Rule::NetworkMode(bounded(other))),
        }
    }
    for (field, v) in [("pid", &ct.pid), ("ipc", &ct.ipc)] {
        if let Some(v) = v {
            let rule = if v == "host" {
                Rule::HostNamespace(field)
            } else {
                Rule::Namespace {
                    namespace: field,
                    value: bounded(v),
                }
            };
            c.fail(format!("{at}.{field}"), rule);
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
            Rule::TooMany {
                max: limits::ENV,
                what: "variables",
            },
        );
    }
    for (k, v) in &ct.env {
        if !is_env_name(k) {
            c.fail(format!("{at}.env.{k}"), Rule::EnvName);
        }
        if v.len() > limits::ENV_VALUE || v.contains('\0') {
            c.fail(
                format!("{at}.env.{k}"),
                Rule::EnvValue {
                    max: limits::ENV_VALUE,
                },
            );
        }
    }
    if ct.secrets.len() > limits::SECRETS {
        c.fail(
            format!("{at}.secrets"),
            Rule::TooMany {
                max: limits::SECRETS,
                what: "secrets",
            },
        );
    }
    for (j, s) in ct.secrets.iter().enumerate() {
        let sf = format!("{at}.secrets[{j}]");
        c.label(format!("{sf}.name"), "secret name", &s.name);
        if let Some(env) = &s.env {
            if !is_env_name(env) {
                c.fail(format!("{sf}.env"), Rule::EnvName);
            }
            if ct.env.contains_key(env)
                || ct.secrets[..j].iter().any(|o| o.env.as_ref() == Some(env))
            {
                c.fail(format!("{sf}.env"), Rule::EnvTwice(bounded(env)));
            }
        }
        if !(16..=256).contains(&s.length) {
            c.fail(format!("{sf}.length"), Rule::SecretLength(s.length));
        }
    }
    if ct.ports.len() > limits::PORTS {
        c.fail(
            format!("{at}.ports"),
            Rule::TooMany {
                max: limits::PORTS,
                what: "ports",
            },
        );
    }
    if ct.volumes.len() > limits::VOLUMES {
        c.fail(
            format!("{at}.volumes"),
            Rule::TooMany {
                max: limits::VOLUMES,
                what: "volumes",
            },
        );
    }
    let mut mounts = BTreeSet::new();
    for (j, v) in ct.volumes.iter().enumerate() {
        let vf = format!("{at}.volumes[{j}]");
        c.label(format!("{vf}.name"), "volume name", &v.name);
        if v.bind.is_some() {
            c.fail(format!("{vf}.bind"), Rule::BindMount);
        }
        if !v.path.starts_with('/') || v.path.split('/').any(|p| p == "..") || v.path.len() > 256 {
            c.fail(
                format!("{vf}.path"),
                Rule::NotAbsolutePath(bounded(&v.path)),
            );
        }
        if !mounts.insert(v.path.as_str()) {
            c.fail(format!("{vf}.path"), Rule::MountedTwice(bounded(&v.path)));
        }
    }
    if let Some(h) = &ct.health {
        let hf = format!("{at}.health");
        let kinds = usize::from(h.http.is_some())
            + usize::from(h.tcp.is_some())
            + usize::from(h.command.is_some());
        if kinds != 1 {
            c.fail(hf.clone(), Rule::HealthKind);
        }
        if let Some(http) = &h.http {
            if !http.path.starts_with('/')
                || http.path.len() > 1024
                || http
                    .path
                    .chars()
                    .any(|ch| ch.is_whitespace() || ch.is_control())
            {
                c.fail(format!("{hf}.http.path"), Rule::HealthPath);
            }
            if http.port == 0 {
                c.fail(format!("{hf}.http.port"), Rule::PortZero);
            }
        }
        if let Some(cmd) = &h.command {
            c.args(format!("{hf}.command"), cmd);
        }
        if h.interval.0 < 1000 || h.interval.0 > 3_600_000 {
            c.fail(format!("{hf}.interval"), Rule::HealthInterval);
        }
        if h.timeout.0 == 0 || h.timeout > h.interval {
            c.fail(format!("{hf}.timeout"), Rule::HealthTimeout);
        }
        if h.retries == 0 || h.retries > 100 {
            c.fail(format!("{hf}.retries"), Rule::HealthRetries);
        }
        if h.start_period.0 > 3_600_000 {
            c.fail(format!("{hf}.start_period"), Rule::HealthStartPeriod);
        }
    }
    if let Some(b) = &ct.backup {
        c.args(format!("{at}.backup.command"), &b.command);
        if b.timeout
            .is_some_and(|t| t.0 < 1000 || t.0 > limits::BACKUP_TIMEOUT_MS)
        {
            c.fail(format!("{at}.backup.timeout"), Rule::BackupTimeout);
        }
    }
    if let Some(g) = ct.stop_grace {
        if g.0 > limits::STOP_GRACE_MS {
            c.fail(format!("{at}.stop_grace"), Rule::StopGrace);
        }
    }
    for (j, cap) in ct.capabilities.iter().enumerate() {
        let bare = cap.strip_prefix("CAP_").unwrap_or(cap);
        if !CAPABILITY_ALLOWLIST.contains(&bare) {
            c.fail(
                format!("{at}.capabilities[{j}]"),
                Rule::Capability(bounded(cap)),
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
            c.fail(format!("{at}.user"), Rule::User(bounded(u)));
        }
    }
    if let Some(mem) = ct.memory {
        // Bounded above too: the blob writes it as a JSON number, and one above 2^53
        // would not survive canonical JSON (found by the manifest fuzzing).
        if mem.0 < 4 << 20 || mem.0 > limits::MEMORY {
            c.fail(format!("{at}.memory"), Rule::Memory);
        }
    }
    if let Some(cpus) = ct.cpus {
        if cpus.0 == 0 || cpus.0 > 64_000 {
            c.fail(format!("{at}.cpus"), Rule::Cpus);
        }
    }
    for (j, d) in ct.depends_on.iter().enumerate() {
        if d == &ct.name {
            c.fail(format!("{at}.depends_on[{j}]"), Rule::SelfDependency);
        } else if !names.contains(&d.as_str()) {
            c.fail(
                format!("{at}.depends_on[{j}]"),
                Rule::NoSuchContainer(bounded(d)),
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
                    Rule::Cycle(bounded(&m.containers[j].name)),
                );
                return;
            }
        }
    }
}
