//! [`NodeClient`]: how the CLI talks to a running node's HTTP API (`--node URL`, else
//! `$ATOLL_NODE`, else the local default), with the home's admin token for mutating calls.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::node::token;

/// How to reach the node.
#[derive(Debug, Args)]
pub struct NodeAddr {
    /// The node's API [default: $ATOLL_NODE, else http://127.0.0.1:7878].
    #[arg(long, global = true, value_name = "URL")]
    pub node: Option<String>,
}

/// A connection to a running node's HTTP API, with the admin token of the home when it has one.
pub(crate) struct NodeClient {
    base: String,
    http: reqwest::blocking::Client,
    token: Result<String, String>,
}

impl NodeClient {
    pub(crate) fn new(home: &Path, addr: &NodeAddr) -> Result<Self> {
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

    pub(crate) fn unreachable(&self, e: reqwest::Error) -> anyhow::Error {
        anyhow::anyhow!(
            "no node answers at {} ({e}); start one with `atoll node`, or pass --node URL",
            self.base
        )
    }

    pub(crate) fn answer(resp: reqwest::blocking::Response) -> Result<Value> {
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

    pub(crate) fn get(&self, path: &str) -> Result<Value> {
        let resp = self
            .http
            .get(format!("{}/api/v1{path}", self.base))
            .send()
            .map_err(|e| self.unreachable(e))?;
        Self::answer(resp)
    }

    pub(crate) fn post(&self, path: &str, body: &Value) -> Result<Value> {
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
    pub(crate) fn follow(&self, events: &str, json: bool) -> Result<Value> {
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
                // A source left (stalled or failed) stays on screen above the bar.
                if matches!(ev["fetch"]["state"].as_str(), Some("stalled" | "failed")) {
                    b.println(ev["message"].as_str().unwrap_or(""));
                }
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
