//! `atoll install|start|stop|restart|update|uninstall|ps|logs`: operate apps through the
//! running node's API (the node owns podman and the desired state), with a progress bar
//! fed by the job's server-sent events, or `--json` lines for scripts.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use super::output;
use crate::node::token;

/// How to reach the node.
#[derive(Debug, Args)]
pub struct NodeAddr {
    /// The node's API [default: $ATOLL_NODE, else http://127.0.0.1:7878].
    #[arg(long, global = true, value_name = "URL")]
    pub node: Option<String>,
}

/// Operational commands.
#[derive(Debug, Subcommand)]
pub enum OpCommand {
    /// Install an app (`<did>/<app>`) and start it.
    Install {
        /// App reference `<did>/<app>`.
        app: String,
        /// Install although the publisher's trust is below the node's threshold.
        #[arg(long)]
        override_trust: bool,
        /// Print progress as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Start an installed app (and keep it running).
    Start {
        /// App reference `<did>/<app>`.
        app: String,
        /// Print progress as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Stop an app (it stays stopped until started again).
    Stop {
        /// App reference `<did>/<app>`.
        app: String,
        /// Print progress as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Stop and start an app.
    Restart {
        /// App reference `<did>/<app>`.
        app: String,
        /// Print progress as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Update an app to its newest verified version (rolled back if unhealthy).
    Update {
        /// App reference `<did>/<app>`.
        app: String,
        /// Print progress as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Remove an app's containers and state; its data is kept unless --purge.
    Uninstall {
        /// App reference `<did>/<app>`.
        app: String,
        /// Also delete the app's data.
        #[arg(long)]
        purge: bool,
        /// Print progress as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// List installed apps with their state and health.
    Ps {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show an installed app's recent logs.
    Logs {
        /// App reference `<did>/<app>`.
        app: atoll_registry::AppRef,
        /// Number of lines (1 to 5000).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=5000))]
        tail: u64,
    },
}

struct Client {
    base: String,
    http: reqwest::blocking::Client,
    token: Result<String, String>,
}

impl Client {
    fn new(home: &Path, addr: &NodeAddr) -> Result<Self> {
        let base = addr
            .node
            .clone()
            .or_else(|| std::env::var("ATOLL_NODE").ok())
            .unwrap_or_else(|| "http://127.0.0.1:7878".to_owned());
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(None)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
            token: token::read(&token::path(home)).map_err(|e| {
                let why = crate::home::existing(home).err().unwrap_or(e);
                format!("{why:#}")
            }),
        })
    }

    fn unreachable(&self, e: reqwest::Error) -> anyhow::Error {
        anyhow::anyhow!(
            "no node answers at {} ({e}); start one with `atoll node`, or pass --node URL",
            self.base
        )
    }

    fn answer(resp: reqwest::blocking::Response) -> Result<Value> {
        let status = resp.status();
        let body: Value = resp.json().unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        match body["error"]["message"].as_str() {
            Some(m) => bail!("{m} (HTTP {})", status.as_u16()),
            None => bail!("the node answered HTTP {}", status.as_u16()),
        }
    }

    fn get(&self, path: &str) -> Result<Value> {
        let resp = self
            .http
            .get(format!("{}/api/v1{path}", self.base))
            .send()
            .map_err(|e| self.unreachable(e))?;
        Self::answer(resp)
    }

    fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let token = self.token.as_deref().map_err(|e| {
            anyhow::anyhow!(
                "no admin token ({e}): this command must run with the node's data dir (--home / ATOLL_HOME)"
            )
        })?;
        let resp = self
            .http
            .post(format!("{}/api/v1{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .map_err(|e| self.unreachable(e))?;
        Self::answer(resp)
    }

    /// Follow a job's events until it is done; returns the last event.
    fn follow(&self, events: &str, json: bool) -> Result<Value> {
        let resp = self
            .http
            .get(format!("{}{events}", self.base))
            .send()
            .map_err(|e| self.unreachable(e))?;
        let bar = (!json).then(|| {
            let b = ProgressBar::new(100);
            b.set_style(
                ProgressStyle::with_template("{bar:30.cyan/blue} {pos:>3}% {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b
        });
        let mut last = Value::Null;
        for line in BufReader::new(resp).lines() {
            let line = line.context("reading the job's events")?;
            let Some(data) = line.strip_prefix("data:") else {
                continue;
            };
            let Ok(ev) = serde_json::from_str::<Value>(data.trim()) else {
                continue;
            };
            if let Some(b) = &bar {
                b.set_position(ev["percent"].as_u64().unwrap_or(0));
                b.set_message(format!(
                    "{}: {}",
                    ev["stage"].as_str().unwrap_or(""),
                    ev["message"].as_str().unwrap_or("")
                ));
            } else {
                println!("{ev}");
            }
            let done = ev["done"] == true;
            last = ev;
            if done {
                break;
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        Ok(last)
    }
}

fn act(c: &Client, action: &str, body: Value, json: bool) -> Result<()> {
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
    Ok(())
}

/// Run an operational command.
pub fn run(home: &Path, addr: &NodeAddr, cmd: OpCommand) -> Result<()> {
    let c = Client::new(home, addr)?;
    match cmd {
        OpCommand::Install {
            app,
            override_trust,
            json,
        } => act(
            &c,
            "install",
            json!({"app": app, "override_trust": override_trust}),
            json,
        ),
        OpCommand::Start { app, json } => act(&c, "start", json!({"app": app}), json),
        OpCommand::Stop { app, json } => act(&c, "stop", json!({"app": app}), json),
        OpCommand::Restart { app, json } => act(&c, "restart", json!({"app": app}), json),
        OpCommand::Update { app, json } => act(&c, "update", json!({"app": app}), json),
        OpCommand::Uninstall { app, purge, json } => {
            act(&c, "uninstall", json!({"app": app, "purge": purge}), json)
        }
        OpCommand::Ps { json } => {
            let list = c.get("/installed")?;
            if json {
                return output::json(&list);
            }
            let rows = list.as_array().cloned().unwrap_or_default();
            if rows.is_empty() {
                println!("no apps installed");
            }
            for a in rows {
                println!(
                    "{:<20} {:<10} {:<8} {:<10} {}",
                    a["name"].as_str().unwrap_or("?"),
                    a["version"].as_str().unwrap_or("?"),
                    a["state"].as_str().unwrap_or("?"),
                    a["health"].as_str().unwrap_or("-"),
                    a["web_url"].as_str().unwrap_or("")
                );
            }
            Ok(())
        }
        OpCommand::Logs { app, tail } => {
            let logs = c.get(&format!("/installed/{app}/logs?tail={tail}"))?;
            for l in logs["lines"].as_array().cloned().unwrap_or_default() {
                println!("{}", l.as_str().unwrap_or(""));
            }
            Ok(())
        }
    }
}
