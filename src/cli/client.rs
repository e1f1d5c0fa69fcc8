//! [`NodeClient`]: how the CLI talks to a running node's HTTP API (`--node URL`, else
//! `$ATOLL_NODE`, else the local default), with the home's admin token for mutating calls.
//! `--node iroh://…` reaches a node on another host over its remote admin channel
//! ([`super::remote`]): no token then, the CLI's iroh key authenticates it.

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
    /// The node's API [default: $ATOLL_NODE, else http://127.0.0.1:7878]; a node on
    /// another host: iroh://<endpoint id>?addr=IP:PORT[&addr=IP:PORT][&relay=URL] (its
    /// [admin] iroh_keys must list `atoll node admin-id`).
    #[arg(long, global = true, value_name = "URL")]
    pub node: Option<String>,
}

/// A connection to a running node's HTTP API, with the admin token of the home when it has one.
pub(crate) struct NodeClient {
    base: String,
    http: reqwest::blocking::Client,
    token: Result<String, String>,
    /// Where `token` was read from (named when the node does not accept it).
    token_file: std::path::PathBuf,
    /// The admin channel an `iroh://` node is reached through (dropped after `http`).
    tunnel: Option<super::remote::Tunnel>,
}

/// The node named by `--node`, else by `$ATOLL_NODE`, if any.
pub(crate) fn given(addr: &NodeAddr) -> Option<String> {
    addr.node
        .clone()
        .or_else(|| std::env::var("ATOLL_NODE").ok().filter(|v| !v.is_empty()))
}

/// Is `base` a URL the admin token may travel to: `https://`, or `http://` to this
/// machine (loopback)? Anything else would send the token across a network in clear.
pub(crate) fn check_transport(base: &str) -> Result<()> {
    let Some(rest) = base.strip_prefix("http://") else {
        return Ok(());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        return Ok(());
    }
    bail!(
        "refusing to send the admin token to {base}: plain http:// to another machine would carry it across the network in clear; \
         reach a remote node with --node iroh://<endpoint-id>?addr=IP:PORT (the node's admin channel), \
         or through an SSH tunnel (ssh -L 7878:127.0.0.1:7878 HOST, then --node http://127.0.0.1:7878)"
    )
}

impl NodeClient {
    pub(crate) fn new(home: &Path, addr: &NodeAddr) -> Result<Self> {
        let base = given(addr).unwrap_or_else(|| "http://127.0.0.1:7878".to_owned());
        Self::at(home, &base)
    }

    /// A client of the node at `base` (`http(s)://…` or `iroh://…`).
    pub(crate) fn at(home: &Path, base: &str) -> Result<Self> {
        let builder = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(None)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(target) = super::remote::IrohTarget::parse(base) {
            let tunnel = super::remote::Tunnel::open(home, target?)?;
            let http = builder
                .unix_socket(tunnel.socket())
                // Below the node's idle timeout, so a kept-alive stream is never reused
                // just as the node closes it.
                .pool_idle_timeout(Duration::from_secs(5))
                .build()
                .context("building the HTTP client")?;
            return Ok(Self {
                // The Host of these requests: the node does not check it for the channel.
                base: "http://atoll-node".to_owned(),
                http,
                token: Err("not used over the admin channel".to_owned()),
                token_file: token::path(home),
                tunnel: Some(tunnel),
            });
        }
        let http = builder.build().context("building the HTTP client")?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
            token: token::read(&token::path(home)).map_err(|e| {
                let why = crate::home::existing(home).err().unwrap_or(e);
                format!("{why:#}")
            }),
            token_file: token::path(home),
            tunnel: None,
        })
    }

    pub(crate) fn unreachable(&self, e: reqwest::Error) -> anyhow::Error {
        if let Some(t) = &self.tunnel {
            return anyhow::anyhow!("{}", t.explain(&e));
        }
        anyhow::anyhow!(
            "no node answers at {} ({e}); start one with `atoll node`, or pass --node URL",
            self.base
        )
    }

    /// Authorize a mutating request: the admin token, or nothing over the admin channel
    /// (the CLI's iroh key is its authentication).
    pub(crate) fn authorize(
        &self,
        req: reqwest::blocking::RequestBuilder,
    ) -> Result<reqwest::blocking::RequestBuilder> {
        if self.tunnel.is_some() {
            return Ok(req);
        }
        check_transport(&self.base)?;
        let token = self.token.as_deref().map_err(|e| {
            anyhow::anyhow!(
                "no admin token ({e}): this command must run with the node's data dir (--home / ATOLL_HOME), \
                 or reach the node over its admin channel (--node iroh://…)"
            )
        })?;
        Ok(req.bearer_auth(token))
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

    /// [`Self::answer`] of a request that carried the admin token: a 401 then means the
    /// node did not accept this home's token, so name the file it came from.
    fn answer_authorized(&self, resp: reqwest::blocking::Response) -> Result<Value> {
        let rejected = resp.status() == reqwest::StatusCode::UNAUTHORIZED && self.tunnel.is_none();
        let answer = Self::answer(resp);
        if rejected {
            return answer.map_err(|e| {
                anyhow::anyhow!(
                    "{e:#}; this CLI sent the token of {}: run it with the node's data dir \
                     (--home / ATOLL_HOME) so it sends that node's token",
                    self.token_file.display()
                )
            });
        }
        answer
    }

    pub(crate) fn get(&self, path: &str) -> Result<Value> {
        let resp = self
            .http
            .get(format!("{}/api/v1{path}", self.base))
            .send()
            .map_err(|e| self.unreachable(e))?;
        Self::answer(resp)
    }

    /// A `GET` whose answer streams (a followed log): the response once its head says
    /// success, else the node's error.
    pub(crate) fn get_stream(&self, path: &str) -> Result<reqwest::blocking::Response> {
        let resp = self
            .http
            .get(format!("{}/api/v1{path}", self.base))
            .send()
            .map_err(|e| self.unreachable(e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Self::answer(resp).map(|_| unreachable!("an error status is never Ok"))
    }

    /// The node's base URL.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// Does a node answer at all (a quick `GET /api/v1/node`)? Its answer if so.
    pub(crate) fn probe(&self) -> Option<Value> {
        let resp = self
            .http
            .get(format!("{}/api/v1/node", self.base))
            .timeout(Duration::from_secs(5))
            .send()
            .ok()?;
        Self::answer(resp).ok()
    }

    /// POST a body of `content_type` (streamed from `body`, which may be a reader of a
    /// large file), authorized as [`Self::authorize`] says.
    pub(crate) fn post_body(
        &self,
        path: &str,
        content_type: &str,
        body: reqwest::blocking::Body,
    ) -> Result<Value> {
        let req = self.http.post(format!("{}/api/v1{path}", self.base));
        let resp = self
            .authorize(req)?
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .map_err(|e| self.unreachable(e))?;
        self.answer_authorized(resp)
    }

    /// POST (admin token) and copy a successful answer's body to `out`; returns its bytes.
    pub(crate) fn post_download(&self, path: &str, out: &mut dyn std::io::Write) -> Result<u64> {
        let req = self.http.post(format!("{}/api/v1{path}", self.base));
        let mut resp = self
            .authorize(req)?
            .send()
            .map_err(|e| self.unreachable(e))?;
        if !resp.status().is_success() {
            return self.answer_authorized(resp).map(|_| 0);
        }
        resp.copy_to(out)
            .context("the download broke off before its end")
    }

    pub(crate) fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(reqwest::Method::POST, path, body)
    }

    /// A `DELETE` with a JSON body (admin token).
    pub(crate) fn delete(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(reqwest::Method::DELETE, path, body)
    }

    /// A `PUT` with a JSON body (admin token).
    pub(crate) fn put(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(reqwest::Method::PUT, path, body)
    }

    /// A `GET`, or `None` when no node answers at all (nothing listens).
    pub(crate) fn get_if_running(&self, path: &str) -> Result<Option<Value>> {
        match self.http.get(format!("{}/api/v1{path}", self.base)).send() {
            Ok(resp) => Self::answer(resp).map(Some),
            Err(e) if e.is_connect() => Ok(None),
            Err(e) => Err(self.unreachable(e)),
        }
    }

    fn send(&self, method: reqwest::Method, path: &str, body: &Value) -> Result<Value> {
        let req = self
            .http
            .request(method, format!("{}/api/v1{path}", self.base));
        let resp = self
            .authorize(req)?
            .json(body)
            .send()
            .map_err(|e| self.unreachable(e))?;
        self.answer_authorized(resp)
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
                // In a job installing several apps, each step names its app.
                let app = ev["app"]
                    .as_str()
                    .and_then(|a| a.rsplit('/').next())
                    .map(|a| format!("{a}: "))
                    .unwrap_or_default();
                b.set_message(format!(
                    "{app}{}: {}",
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

#[cfg(test)]
mod tests {
    use super::check_transport;

    #[test]
    fn the_token_goes_only_to_loopback_or_tls() {
        for ok in [
            "http://127.0.0.1:7878",
            "http://localhost:7878/",
            "http://[::1]:7878",
            "http://127.0.0.2",
            "https://node.example.org",
        ] {
            assert!(check_transport(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://192.168.1.5:7878",
            "http://node.example.org",
            "http://[2001:db8::1]:7878",
        ] {
            let e = check_transport(bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains("iroh://") && e.contains("ssh -L"), "{bad}: {e}");
        }
    }
}
