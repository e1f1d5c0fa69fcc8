//! Hosts for the multi-host test: Linux network namespaces this test creates (as root)
//! and removes again, also after a failed assertion or a panic (on `Drop`), with a sweep
//! of what a killed earlier run left behind.
//!
//! ```text
//!            "internet" 10.231.0.0/24 (a bridge in its own namespace)
//!   ┌────────────┬─────────────┬──────────────┬──────────────────────────┐
//!  net .1       mirror .3    router .2       operator .10 (the root namespace: a veth end)
//!  Nostr relay  mirror node   │ MASQUERADE, no inbound
//!  iroh relay                 │ 10.232.0.0/24
//!                            pub .2 (publisher node, behind NAT)
//! ```
//!
//! No namespace has a default route, and the root namespace gets an `unreachable` route
//! for the NAT'd range: nothing the test sends can leave the machine.

use std::os::fd::AsFd;
use std::process::{Command, Output};

/// The "internet" range, and the addresses on it.
pub const NET_IP: &str = "10.231.0.1";
/// The router's outside address (what pub's connections come from).
pub const ROUTER_IP: &str = "10.231.0.2";
/// The mirror's address.
pub const MIRROR_IP: &str = "10.231.0.3";
/// The operator's address (in the root namespace).
pub const OPERATOR_IP: &str = "10.231.0.10";
/// The range behind the NAT.
pub const LAN: &str = "10.232.0.0/24";
/// The router's inside address.
pub const LAN_GW: &str = "10.232.0.1";
/// pub's address (behind the NAT).
pub const PUB_IP: &str = "10.232.0.2";

/// Names of this test's namespaces and root links start with this, then the test's pid.
const PREFIX: &str = "amh";

/// The hosts of one run; everything removed on drop.
pub struct Hosts {
    prefix: String,
    made: Vec<String>,
    root_link: Option<String>,
    root_route: bool,
    /// One set of hosts at a time in this process: the names and addresses are fixed.
    _one: std::sync::MutexGuard<'static, ()>,
    /// And one set on the machine: another test process (another target dir) waits
    /// here instead of colliding on the addresses. Released after `drop` removed all.
    _machine: std::fs::File,
}

/// The machine-wide lock file of [`Hosts`].
const MACHINE_LOCK: &str = "/tmp/atoll-multihost-netns.lock";

/// Which host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    /// Relays (Nostr, iroh).
    Net,
    /// The publisher, behind the NAT.
    Pub,
    /// The NAT router.
    Router,
    /// A node on the open network that mirrors.
    Mirror,
    /// The bridge ("the internet").
    Inet,
}

impl Host {
    fn short(self) -> &'static str {
        match self {
            Host::Net => "net",
            Host::Pub => "pub",
            Host::Router => "rtr",
            Host::Mirror => "mir",
            Host::Inet => "inet",
        }
    }
}

/// Run a command; panic with its output unless it succeeds.
pub fn run(args: &[&str]) -> Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Run a command and ignore how it ends (cleanup).
fn quiet(args: &[&str]) {
    let _ = Command::new(args[0]).args(&args[1..]).output();
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The pid in a name this test made (`amh<pid>-…` or `amh<pid>r`), if it is one.
fn owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let tail = &rest[digits.len()..];
    (tail.starts_with('-') || tail == "r")
        .then(|| digits.parse().ok())
        .flatten()
}

/// Remove the namespaces and root links of runs whose process is gone.
fn sweep_stale() {
    let list = run(&["ip", "netns", "list"]);
    let mut live_run = false;
    for line in String::from_utf8_lossy(&list.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        match owner(name) {
            Some(pid) if !pid_alive(pid) => {
                eprintln!("[netns] removing the stale namespace {name}");
                kill_all_in(name);
                quiet(&["ip", "netns", "del", name]);
            }
            Some(_) => live_run = true,
            None => {}
        }
    }
    let links = run(&["ip", "-o", "link", "show"]);
    for line in String::from_utf8_lossy(&links.stdout).lines() {
        // "7: amh123r@if6: <…>"
        let Some(name) = line.split(": ").nth(1) else {
            continue;
        };
        let name = name.split('@').next().unwrap_or("");
        match owner(name) {
            Some(pid) if !pid_alive(pid) => {
                eprintln!("[netns] removing the stale link {name}");
                quiet(&["ip", "link", "del", name]);
            }
            Some(_) => live_run = true,
            None => {}
        }
    }
    if !live_run {
        quiet(&["ip", "route", "del", "unreachable", LAN]);
    }
}

/// SIGKILL every process in namespace `ns`.
fn kill_all_in(ns: &str) {
    let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() else {
        return;
    };
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        quiet(&["kill", "-9", pid]);
    }
}

impl Hosts {
    /// Make the namespaces, links, addresses, routes and the NAT. Panics (never skips)
    /// when it cannot: the test needs root and iproute2 + iptables.
    pub fn up() -> Hosts {
        assert!(
            rustix::process::geteuid().is_root(),
            "the multi-host test makes network namespaces: run it as root"
        );
        static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let one = ONE.lock().unwrap_or_else(|e| e.into_inner());
        let machine = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(MACHINE_LOCK)
            .unwrap_or_else(|e| panic!("opening {MACHINE_LOCK}: {e}"));
        rustix::fs::flock(&machine, rustix::fs::FlockOperation::LockExclusive)
            .unwrap_or_else(|e| panic!("locking {MACHINE_LOCK}: {e}"));
        sweep_stale();
        let mut h = Hosts {
            prefix: format!("{PREFIX}{}", std::process::id()),
            made: Vec::new(),
            root_link: None,
            root_route: false,
            _one: one,
            _machine: machine,
        };
        for host in [Host::Inet, Host::Net, Host::Router, Host::Mirror, Host::Pub] {
            let ns = h.ns(host);
            run(&["ip", "netns", "add", &ns]);
            h.made.push(ns.clone());
            h.ip(host, &["link", "set", "lo", "up"]);
            // IPv4 only: no link-local IPv6 chatter, no v6 address for iroh to try.
            h.exec(host, &["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
            h.exec(
                host,
                &["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"],
            );
        }
        h.ip(Host::Inet, &["link", "add", "br0", "type", "bridge"]);
        h.ip(Host::Inet, &["link", "set", "br0", "up"]);
        for (host, ifname, addr) in [
            (Host::Net, "eth0", NET_IP),
            (Host::Mirror, "eth0", MIRROR_IP),
            (Host::Router, "wan", ROUTER_IP),
        ] {
            let port = format!("p-{}", host.short());
            let peer_ns = h.ns(host);
            h.ip(
                Host::Inet,
                &[
                    "link", "add", &port, "type", "veth", "peer", "name", ifname, "netns", &peer_ns,
                ],
            );
            h.ip(Host::Inet, &["link", "set", &port, "master", "br0", "up"]);
            h.ip(host, &["addr", "add", &format!("{addr}/24"), "dev", ifname]);
            h.ip(host, &["link", "set", ifname, "up"]);
        }
        // The operator: a veth end in this test's own (the root) namespace, on the "internet".
        let root_link = format!("{}r", h.prefix);
        let me = std::process::id().to_string();
        h.ip(
            Host::Inet,
            &[
                "link", "add", "p-root", "type", "veth", "peer", "name", &root_link, "netns", &me,
            ],
        );
        h.root_link = Some(root_link.clone());
        h.ip(
            Host::Inet,
            &["link", "set", "p-root", "master", "br0", "up"],
        );
        run(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{root_link}.disable_ipv6=1"),
        ]);
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{OPERATOR_IP}/24"),
            "dev",
            &root_link,
        ]);
        run(&["ip", "link", "set", &root_link, "up"]);
        // pub's own addresses reach the operator in iroh's messages: never route them out.
        run(&["ip", "route", "add", "unreachable", LAN]);
        h.root_route = true;
        // Behind the NAT: pub, its router, MASQUERADE out, nothing new in.
        let pub_ns = h.ns(Host::Pub);
        h.ip(
            Host::Router,
            &[
                "link", "add", "lan", "type", "veth", "peer", "name", "eth0", "netns", &pub_ns,
            ],
        );
        h.ip(
            Host::Router,
            &["addr", "add", &format!("{LAN_GW}/24"), "dev", "lan"],
        );
        h.ip(Host::Router, &["link", "set", "lan", "up"]);
        h.ip(
            Host::Pub,
            &["addr", "add", &format!("{PUB_IP}/24"), "dev", "eth0"],
        );
        h.ip(Host::Pub, &["link", "set", "eth0", "up"]);
        h.ip(
            Host::Pub,
            &[
                "route",
                "add",
                "10.231.0.0/24",
                "via",
                LAN_GW,
                "dev",
                "eth0",
            ],
        );
        h.exec(Host::Router, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        for rule in [
            "-t nat -A POSTROUTING -s 10.232.0.0/24 -o wan -j MASQUERADE",
            "-P FORWARD DROP",
            "-A FORWARD -i lan -o wan -j ACCEPT",
            "-A FORWARD -i wan -o lan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
            "-P INPUT DROP",
            "-A INPUT -i lo -j ACCEPT",
            "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        ] {
            let mut args = vec!["iptables", "-w"];
            args.extend(rule.split(' '));
            h.exec(Host::Router, &args);
        }
        h
    }

    /// The namespace name of `host` in this run.
    pub fn ns(&self, host: Host) -> String {
        format!("{}-{}", self.prefix, host.short())
    }

    /// `ip -n <ns> ARGS`.
    fn ip(&self, host: Host, args: &[&str]) -> Output {
        let ns = self.ns(host);
        let mut all = vec!["ip", "-n", ns.as_str()];
        all.extend_from_slice(args);
        run(&all)
    }

    /// `ip netns exec <ns> ARGS`.
    pub fn exec(&self, host: Host, args: &[&str]) -> Output {
        let ns = self.ns(host);
        let mut all = vec!["ip", "netns", "exec", ns.as_str()];
        all.extend_from_slice(args);
        run(&all)
    }

    /// A command that runs `program` in `host`'s namespace.
    pub fn command(&self, host: Host, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(host), program]);
        c
    }

    /// Run `f` on a thread that moved into `host`'s network namespace (sockets it opens,
    /// and threads it starts, are there).
    pub fn within<T: Send + 'static>(
        &self,
        host: Host,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> T {
        let path = format!("/run/netns/{}", self.ns(host));
        std::thread::spawn(move || {
            let fd = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            rustix::thread::move_into_link_name_space(
                fd.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .unwrap_or_else(|e| panic!("setns {path}: {e}"));
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    }

    /// Everything of this run that is still there (namespaces, the root link, the route).
    pub fn leftovers(prefix: &str) -> Vec<String> {
        let mut left = Vec::new();
        let list = run(&["ip", "netns", "list"]);
        for line in String::from_utf8_lossy(&list.stdout).lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            if name.starts_with(&format!("{prefix}-")) {
                left.push(format!("namespace {name}"));
            }
        }
        let links = run(&["ip", "-o", "link", "show"]);
        for line in String::from_utf8_lossy(&links.stdout).lines() {
            if line.contains(&format!(" {prefix}r")) {
                left.push(format!("link {line}"));
            }
        }
        let routes = run(&["ip", "route", "show", "type", "unreachable"]);
        if String::from_utf8_lossy(&routes.stdout).contains("10.232.0.0/24") {
            left.push("route unreachable 10.232.0.0/24".into());
        }
        left
    }

    /// This run's name prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for ns in self.made.iter().rev() {
            kill_all_in(ns);
            quiet(&["ip", "netns", "del", ns]);
        }
        if let Some(link) = self.root_link.take() {
            quiet(&["ip", "link", "del", &link]);
        }
        if self.root_route {
            quiet(&["ip", "route", "del", "unreachable", LAN]);
        }
    }
}
