//! `atoll install|start|stop|restart|update|uninstall|ps|logs|status|credentials`: operate apps through the
//! running node's API (the node owns podman and the desired state), with a progress bar
//! fed by the job's server-sent events, or `--json` lines for scripts.

use std::path::Path;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde_json::{json, Value};

use super::client::{NodeAddr, NodeClient};
use super::output;
use super::resolve::{self, Scope};

/// Operational commands.
#[derive(Debug, Subcommand)]
pub enum OpCommand {
    /// Install an app (`<did>/<app>`) and start it. The node's install/update guard may
    /// refuse it (stale, yanked, equivocated, blocked, below the trust threshold) and says
    /// why; only stale and the trust threshold can be overridden, and every override is
    /// written to the audit log (`atoll sync audit`).
    #[command(disable_version_flag = true)]
    Install {
        /// App reference `<did>/<app>`, or the app id alone when one publisher's app has it.
        app: String,
        /// A value for one of the app's settings (repeatable); the others take their
        /// defaults. Kept with the install; an update keeps them.
        #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_setting)]
        set: Vec<(String, String)>,
        /// Also install the app's missing dependencies first (each from a publisher the
        /// node trusts, in order, in the same job). Without it an install with missing
        /// dependencies is refused, listing them.
        #[arg(long)]
        with_deps: bool,
        /// Install this version instead of the newest (a still valid one: not yanked or
        /// void; see the versions in `atoll catalog show`).
        #[arg(long, value_name = "X.Y.Z")]
        version: Option<String>,
        /// Publish container port CONTAINER on host port HOST instead of the manifest's
        /// (repeatable; on 127.0.0.1). Kept with the install for updates and restarts.
        #[arg(long = "port", value_name = "HOST=CONTAINER", value_parser = parse_port)]
        port: Vec<(u16, u16)>,
        /// Delete the data an earlier install of the app left (volumes, secrets) first,
        /// instead of reusing it.
        #[arg(long)]
        fresh: bool,
        #[command(flatten)]
        overrides: Overrides,
        /// Print progress as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Start an installed app (and keep it running).
    Start {
        /// App reference `<did>/<app>`, or the app id alone when one publisher's app has it.
        app: String,
        /// Print progress as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Stop an app (it stays stopped until started again).
    Stop {
        /// App reference `<did>/<app>`, or the app id alone when one publisher's app has it.
        app: String,
        /// Print progress as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Stop and start an app.
    Restart {
        /// App reference `<did>/<app>`, or the app id alone when one publisher's app has it.
        app: String,
        /// Print progress as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Update an app to its newest verified version (rolled back if unhealthy), if the
    /// install/update guard allows that version (see `install`). Prints the release notes
    /// and the permission changes first and asks (--yes skips the question).
    #[command(disable_version_flag = true)]
    Update {
        /// App reference `<did>/<app>`, or the app id alone when one publisher's app has it
        /// (none with --all).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        app: Option<String>,
        /// Update every app with an update available, dependencies before dependents; a
        /// failed one stops only the apps that depend on it.
        #[arg(long)]
        all: bool,
        /// Move to this version instead of the newest (an older one needs --downgrade).
        #[arg(long, value_name = "X.Y.Z", conflicts_with = "all")]
        version: Option<String>,
        /// Try again a version whose last update failed (rolled back).
        #[arg(long, conflicts_with = "all")]
        retry: bool,
        /// Go back to an older --version (a backup is taken first; the data the newer
        /// version wrote may not be readable by the older one).
        #[arg(long, requires = "version")]
        downgrade: bool,
        /// Do not ask before updating.
        #[arg(long, short)]
        yes: bool,
        #[command(flatten)]
        overrides: Overrides,
        /// Print progress as JSON lines (asks nothing).
        #[arg(long)]
        json: bool,
    },
    /// Show an installed app's auto-update policy, or set it: `off` (never, and no
    /// update shown), `notify` (shown as available, never applied by itself) or `auto`
    /// (applied by itself; a version that failed is not retried). Kept by the node.
    AutoUpdate {
        /// App reference `<did>/<app>`, or the app id alone when one publisher's app has it.
        app: String,
        /// The new policy.
        #[arg(value_parser = ["off", "notify", "auto"])]
        policy: Option<String>,
    },
    /// Remove an app's containers and state; its data is kept unless --purge.
    Uninstall {
        /// App reference `<did>/<app>`, or the app id alone when one publisher's app has it.
        app: String,
        /// Also delete the app's data.
        #[arg(long)]
        purge: bool,
        /// Print progress as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// List installed apps: ref (the app id alone when unique), version, state, health,
    /// the update available (or -), and a mark on apps of a blocked publisher.
    Ps {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show an installed app's recent logs (of each container, or of one), or follow them.
    Logs {
        /// App reference `<did>/<app>`, or the app id alone when one publisher's app has it.
        app: String,
        /// Number of lines (1 to 5000), of each container.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=5000))]
        tail: u64,
        /// Only this container's log (a name of the app's manifest).
        #[arg(long, value_name = "NAME")]
        container: Option<String>,
        /// Keep printing new lines as they are written, until the containers stop (or Ctrl-C).
        #[arg(long, short)]
        follow: bool,
    },
    /// Show one installed app: state, health, restarts and the last failure of each
    /// container, and its CPU, memory and disk use next to its limits.
    Status {
        /// App reference `<did>/<app>`, or the app id alone when one publisher's app has it.
        app: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the credentials an installed app generated (secrets its manifest marks `show`).
    /// Needs the admin token.
    Credentials {
        /// App reference `<did>/<app>`, or the app id alone when one publisher's app has it.
        app: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The install/update guard's overrides (audited by the node).
#[derive(Debug, clap::Args)]
pub struct Overrides {
    /// Go ahead although the publisher's trust is below the node's threshold.
    #[arg(long)]
    override_trust: bool,
    /// Go ahead although the version is stale (past its signed expiry).
    #[arg(long)]
    override_stale: bool,
    /// Why: kept with the override in the node's audit log.
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,
}

impl Overrides {
    fn body(&self, app: &str) -> Value {
        let mut b = json!({
            "app": app,
            "override_trust": self.override_trust,
            "override_stale": self.override_stale,
        });
        if let Some(n) = &self.note {
            b["note"] = n.clone().into();
        }
        b
    }
}

/// Before an install: say that it reuses the data an earlier install left, if any.
fn kept_data_note(c: &NodeClient, app: &str) {
    let Ok(detail) = c.get(&format!("/apps/{app}")) else {
        return;
    };
    let kept = &detail["kept_data"];
    if kept.is_null() {
        return;
    }
    println!(
        "reusing the data an earlier install of {app} left ({}); install with --fresh to \
         delete it first",
        super::data::describe(kept)
    );
}

/// `HOST=CONTAINER` of `--port`.
fn parse_port(s: &str) -> Result<(u16, u16), String> {
    crate::api::ports::parse_arg(s)
}

/// `NAME=VALUE` of `--set`.
fn parse_setting(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not NAME=VALUE"))?;
    if name.is_empty() {
        return Err(format!("{s:?} names no setting"));
    }
    Ok((name.to_owned(), value.to_owned()))
}

pub(super) fn act(c: &NodeClient, action: &str, body: Value, json: bool) -> Result<()> {
    let job = c.post(&format!("/actions/{action}"), &body)?;
    let events = job["events"]
        .as_str()
        .context("the node did not say where the job's events are")?;
    let last = c.follow(events, json)?;
    if let Some(err) = last["error"].as_str() {
        bail!("{action} failed: {err}");
    }
    if last["done"] != true {
        bail!("{action}: the node stopped reporting before the job ended");
    }
    if !json {
        println!("{action}: {}", last["message"].as_str().unwrap_or("done"));
    }
    let generated = last["credentials"]["generated"]
        .as_array()
        .is_some_and(|g| !g.is_empty());
    if generated {
        let id = job["job"].as_str().context("the node named no job")?;
        let read = c
            .post(&format!("/jobs/{id}/credentials"), &json!({}))
            .context("reading the credentials this install generated")?;
        if json {
            println!("{read}");
        } else {
            println!(
                "Credentials generated by this {action}: save them now, they are not shown again."
            );
            for cred in read["credentials"].as_array().cloned().unwrap_or_default() {
                println!(
                    "  {} (container {}): {}",
                    cred["name"].as_str().unwrap_or("?"),
                    cred["container"].as_str().unwrap_or("?"),
                    cred["value"].as_str().unwrap_or("")
                );
            }
        }
    }
    Ok(())
}

/// Before an install: what it takes. Refuses (listing them, saying to add `--with-deps`)
/// when dependencies are missing and `with_deps` is not set, or when they cannot be met;
/// with it, says which apps are installed first. The node checks again.
fn dependencies(c: &NodeClient, app: &str, with_deps: bool, json: bool) -> Result<()> {
    let Some((did, id)) = app.split_once('/') else {
        return Ok(()); // the node names what is wrong with the reference
    };
    // No plan (an app or manifest the node does not know yet): the node's answer says it.
    let Ok(plan) = c.get(&format!("/apps/{did}/{id}/plan")) else {
        return Ok(());
    };
    if plan["ok"] == false {
        bail!(
            "install {app} refused before anything was installed: {}",
            plan["error"]
                .as_str()
                .unwrap_or("its dependencies cannot be met")
        );
    }
    let deps = plan["dependencies"].as_array().cloned().unwrap_or_default();
    if deps.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = deps
        .iter()
        .map(|d| {
            format!(
                "  {} {} by {} (trust {:.2}), needed by {}",
                d["app"].as_str().unwrap_or("?"),
                d["version"].as_str().unwrap_or("?"),
                d["publisher_name"]
                    .as_str()
                    .or(d["publisher"].as_str())
                    .unwrap_or("?"),
                d["trust"].as_f64().unwrap_or(0.0),
                d["needed_by"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    if !with_deps {
        bail!(
            "{app} needs {} not installed:\n{}\nadd --with-deps to install {} first",
            if deps.len() == 1 { "an app" } else { "apps" },
            lines.join("\n"),
            if deps.len() == 1 { "it" } else { "them" }
        );
    }
    if !json {
        println!(
            "installing first (dependencies, in order):\n{}",
            lines.join("\n")
        );
    }
    Ok(())
}

/// Run an operational command.
pub fn run(home: &Path, addr: &NodeAddr, cmd: OpCommand) -> Result<()> {
    let c = NodeClient::new(home, addr)?;
    let installed = |app: &str| resolve::via_node(&c, app, Scope::Installed).map(|r| r.to_string());
    match cmd {
        OpCommand::Install {
            app,
            set,
            with_deps,
            version,
            port,
            fresh,
            overrides,
            json,
        } => {
            let app = resolve::via_node(&c, &app, Scope::Catalog)?.to_string();
            super::warnings::print(&c, &app);
            dependencies(&c, &app, with_deps, json)?;
            let mut body = overrides.body(&app);
            body["with_deps"] = with_deps.into();
            if let Some(v) = version {
                body["version"] = v.into();
            }
            if !port.is_empty() {
                let map: std::collections::BTreeMap<String, u16> = port
                    .into_iter()
                    .map(|(host, container)| (container.to_string(), host))
                    .collect();
                body["ports"] = json!(map);
            }
            if fresh {
                body["fresh"] = true.into();
            } else if !json {
                kept_data_note(&c, &app);
            }
            if !set.is_empty() {
                let map: std::collections::BTreeMap<String, String> = set.into_iter().collect();
                body["settings"] = json!(map);
            }
            act(&c, "install", body, json)
        }
        OpCommand::Start { app, json } => act(&c, "start", json!({"app": installed(&app)?}), json),
        OpCommand::Stop { app, json } => act(&c, "stop", json!({"app": installed(&app)?}), json),
        OpCommand::Restart { app, json } => {
            act(&c, "restart", json!({"app": installed(&app)?}), json)
        }
        OpCommand::Update {
            app,
            all,
            version,
            retry,
            downgrade,
            yes,
            overrides,
            json,
        } => {
            let Some(app) = app.filter(|_| !all) else {
                return super::updates::update_all(&c, yes, json);
            };
            let app = installed(&app)?;
            // Nothing newer: say so and succeed (a chosen --version may go anywhere).
            if version.is_none() && !retry {
                if let Some(version) = up_to_date(&c, &app)? {
                    if json {
                        println!(
                            "{}",
                            json!({"app": app, "up_to_date": true, "version": version})
                        );
                    } else {
                        println!("{app} is up to date (version {version}): nothing to update");
                    }
                    return Ok(());
                }
            }
            super::warnings::print(&c, &app);
            if !json && !super::updates::confirm(&c, &app, version.as_deref(), yes)? {
                println!("not updated");
                return Ok(());
            }
            let mut body = overrides.body(&app);
            body["retry"] = retry.into();
            body["downgrade"] = downgrade.into();
            if let Some(v) = version {
                body["version"] = v.into();
            }
            act(&c, "update", body, json)
        }
        OpCommand::AutoUpdate { app, policy } => {
            super::updates::auto_update(&c, &installed(&app)?, policy.as_deref())
        }
        OpCommand::Uninstall { app, purge, json } => act(
            &c,
            "uninstall",
            json!({"app": installed(&app)?, "purge": purge}),
            json,
        ),
        OpCommand::Ps { json } => {
            let list = c.get("/installed")?;
            if json {
                return output::json(&list);
            }
            ps(&list);
            Ok(())
        }
        OpCommand::Logs {
            app,
            tail,
            container,
            follow,
        } => {
            let app = resolve::via_node(&c, &app, Scope::Installed)?;
            super::inspect::logs(&c, &app, container.as_deref(), tail, follow)
        }
        OpCommand::Status { app, json } => {
            let app = resolve::via_node(&c, &app, Scope::Installed)?;
            super::inspect::status(&c, &app, json)
        }
        OpCommand::Credentials { app, json } => {
            let app = resolve::via_node(&c, &app, Scope::Installed)?;
            super::inspect::credentials(&c, &app, json)
        }
    }
}

/// The installed version when it is already the catalog's newest (an update would do
/// nothing), else `None`.
fn up_to_date(c: &NodeClient, app: &str) -> Result<Option<String>> {
    let list = c.get("/installed")?;
    let Some(entry) = list
        .as_array()
        .and_then(|l| l.iter().find(|a| a["ref"].as_str() == Some(app)))
    else {
        return Ok(None); // the node says what is wrong
    };
    let Ok(head) = c.get(&format!("/apps/{app}")) else {
        return Ok(None);
    };
    let parse = |v: &Value| v.as_str().and_then(|s| semver::Version::parse(s).ok());
    Ok(match (parse(&entry["version"]), parse(&head["version"])) {
        (Some(have), Some(newest)) if have >= newest => Some(have.to_string()),
        _ => None,
    })
}

/// `atoll ps`: a header, then one row per installed app.
fn ps(list: &Value) {
    let rows = list.as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        println!("no apps installed");
        return;
    }
    let refs: Vec<atoll_registry::AppRef> = rows
        .iter()
        .filter_map(|a| a["ref"].as_str()?.parse().ok())
        .collect();
    let table: Vec<[String; 6]> = rows
        .iter()
        .map(|a| {
            let r = a["ref"].as_str().unwrap_or("?");
            let shown = r
                .parse::<atoll_registry::AppRef>()
                .map_or_else(|_| r.to_owned(), |p| resolve::short(&p, &refs));
            let mut state = a["state"].as_str().unwrap_or("?").to_owned();
            if a["publisher_blocked"] == true {
                state.push_str(" (publisher blocked)");
            }
            [
                output::plain(&shown, 200),
                output::plain(a["version"].as_str().unwrap_or("?"), 40),
                state,
                a["health"].as_str().unwrap_or("-").to_owned(),
                output::plain(a["update_available"].as_str().unwrap_or("-"), 40),
                output::plain(a["web_url"].as_str().unwrap_or(""), 200),
            ]
        })
        .collect();
    let header = ["APP", "VERSION", "STATE", "HEALTH", "UPDATE", "URL"].map(str::to_owned);
    let width = |i: usize| {
        std::iter::once(&header)
            .chain(&table)
            .map(|r| r[i].chars().count())
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..5).map(width).collect();
    for row in std::iter::once(&header).chain(&table) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate().take(5) {
            line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
        }
        line.push_str(&row[5]);
        println!("{}", line.trim_end());
    }
    if rows.iter().any(|a| a["publisher_blocked"] == true) {
        println!(
            "\nan app marked \"publisher blocked\" keeps running but is never updated: stop or \
             uninstall it (`atoll stop <app>`, `atoll uninstall <app>`), or unblock its publisher"
        );
    }
}
