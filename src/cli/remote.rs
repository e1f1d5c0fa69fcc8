//! The CLI's end of the remote admin channel (`crate::node::admin`): `--node
//! iroh://<endpoint id>?addr=IP:PORT[&addr=IP:PORT][&relay=URL]`.
//!
//! The CLI has an iroh identity of its own, `<home>/cli-iroh.key` (0600, made on first
//! use; `atoll node admin-id` prints its endpoint id for the node's `[admin] iroh_keys`).
//! A [`Tunnel`] connects to the node with it (offline: no address lookup, the relay only
//! when the URL names one) and forwards: it listens on a Unix socket in a fresh 0700
//! directory — so only this user's processes can use it, and no browser can — and pipes
//! every connection made to it into a new bi-directional stream of the iroh connection.
//! The CLI's HTTP client talks to that socket, so requests, streamed bodies and
//! server-sent events pass through unchanged. No admin token is read or sent: the
//! CLI's key authenticates it.

use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use iroh::endpoint::{presets, Connection, ConnectionError};
use iroh::{Endpoint, EndpointAddr, EndpointId, RelayMode, RelayUrl, SecretKey, TransportAddr};
use tokio::net::{UnixListener, UnixStream};

use crate::node::admin::{ALPN, REFUSED};
use crate::node::config::parse_endpoint_id;

/// The CLI's iroh secret key, in the home.
pub const CLI_KEY_FILE: &str = "cli-iroh.key";
/// How long connecting to the node may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long closing the connection may take when the CLI is done.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// The URL form, for error messages.
pub const URL_FORM: &str = "iroh://<endpoint id: 64 hex>?addr=IP:PORT[&addr=IP:PORT][&relay=URL]";

/// Load `<home>/cli-iroh.key`, creating it (0600) on first use.
pub fn load_or_create_key(home: &Path) -> Result<SecretKey> {
    let path = home.join(CLI_KEY_FILE);
    match std::fs::metadata(&path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                bail!(
                    "{} has mode {mode:o}, readable by others; fix it with `chmod 600 {}`",
                    path.display(),
                    path.display()
                );
            }
            let text = atoll_registry::fsread::open_regular(&path, 4096)
                .and_then(|f| f.read_string())
                .with_context(|| format!("reading {}", path.display()))?;
            let mut seed = [0u8; 32];
            hex::decode_to_slice(text.trim(), &mut seed).map_err(|_| {
                anyhow::anyhow!("{} does not hold 64 hex characters", path.display())
            })?;
            Ok(SecretKey::from_bytes(&seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(home)
                .with_context(|| format!("creating {}", home.display()))?;
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            std::io::Write::write_all(&mut f, format!("{}\n", hex::encode(seed)).as_bytes())
                .and_then(|()| f.sync_all())
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(SecretKey::from_bytes(&seed))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The endpoint id of a key, as `[admin] iroh_keys` lists it.
pub fn id_hex(id: &EndpointId) -> String {
    hex::encode(id.as_bytes())
}

/// Where a node's admin channel is: its endpoint id and how to dial it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrohTarget {
    /// The node's endpoint id.
    pub id: EndpointId,
    /// Its direct addresses.
    pub addrs: Vec<SocketAddr>,
    /// The iroh relay server it is reachable through.
    pub relay: Option<RelayUrl>,
}

impl IrohTarget {
    /// Parse `iroh://<endpoint id>?addr=IP:PORT[&addr=..][&relay=URL]`; `None` when the
    /// text is not an `iroh://` URL at all.
    pub fn parse(url: &str) -> Option<Result<Self>> {
        let rest = url.strip_prefix("iroh://")?;
        Some(Self::parse_rest(rest).with_context(|| {
            format!(
                "--node {:?} is not a valid iroh URL (the form is {URL_FORM})",
                url.chars().take(200).collect::<String>()
            )
        }))
    }

    fn parse_rest(rest: &str) -> Result<Self> {
        let (id, query) = rest.split_once('?').unwrap_or((rest, ""));
        let id = parse_endpoint_id(id.trim_end_matches('/'))
            .context("the endpoint id (the node's `node_id` in `atoll sync status`)")?;
        let mut target = Self {
            id,
            addrs: Vec::new(),
            relay: None,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .with_context(|| format!("{pair:?} is not key=value"))?;
            match key {
                "addr" => target.addrs.push(
                    value
                        .parse()
                        .with_context(|| format!("addr={value:?} is not IP:PORT"))?,
                ),
                "relay" => {
                    anyhow::ensure!(target.relay.is_none(), "relay is given twice");
                    anyhow::ensure!(
                        value.starts_with("http://") || value.starts_with("https://"),
                        "relay={value:?} is not an http:// or https:// URL"
                    );
                    target.relay = Some(
                        value
                            .parse()
                            .with_context(|| format!("relay={value:?} is not a URL"))?,
                    );
                }
                other => bail!("unknown parameter {other:?} (addr or relay)"),
            }
        }
        anyhow::ensure!(
            !target.addrs.is_empty() || target.relay.is_some(),
            "no address: give the node's iroh address with ?addr=IP:PORT (or &relay=URL)"
        );
        Ok(target)
    }

    fn endpoint_addr(&self) -> EndpointAddr {
        let mut addrs: Vec<TransportAddr> =
            self.addrs.iter().copied().map(TransportAddr::Ip).collect();
        addrs.extend(self.relay.iter().cloned().map(TransportAddr::Relay));
        EndpointAddr::from_parts(self.id, addrs)
    }

    fn where_(&self) -> String {
        let mut at: Vec<String> = self.addrs.iter().map(ToString::to_string).collect();
        at.extend(self.relay.iter().map(|r| format!("relay {r}")));
        format!("node {} at {}", self.id.fmt_short(), at.join(", "))
    }
}

/// The iroh connection to the node, made again when it closed (idle) unless refused.
struct Link {
    endpoint: Endpoint,
    target: IrohTarget,
    conn: tokio::sync::Mutex<Option<Connection>>,
    /// Why the last attempt failed, for the CLI's error message.
    failure: Mutex<Option<Failure>>,
}

#[derive(Debug, Clone)]
enum Failure {
    Refused,
    Unreachable(String),
}

impl Link {
    async fn connect(&self) -> Result<Connection, Failure> {
        let attempt = self.endpoint.connect(self.target.endpoint_addr(), ALPN);
        match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(Failure::Unreachable(e.to_string())),
            Err(_) => Err(Failure::Unreachable(format!(
                "no answer within {CONNECT_TIMEOUT:?}"
            ))),
        }
    }

    /// A new stream, connecting (again) first if needed.
    async fn open(
        &self,
    ) -> Result<(iroh::endpoint::SendStream, iroh::endpoint::RecvStream), Failure> {
        let mut conn = self.conn.lock().await;
        if let Some(c) = conn.as_ref() {
            match c.close_reason() {
                None => {
                    if let Ok(s) = c.open_bi().await {
                        return Ok(s);
                    }
                    return Err(closed(c));
                }
                Some(e) if refused(&e) => return Err(Failure::Refused),
                Some(_) => {}
            }
        }
        let c = self.connect().await?;
        let s = c.open_bi().await.map_err(|_| closed(&c))?;
        *conn = Some(c);
        Ok(s)
    }

    fn fail(&self, why: Failure) {
        if let Ok(mut f) = self.failure.lock() {
            *f = Some(why);
        }
    }

    async fn pipe(&self, mut local: UnixStream) {
        let (send, recv) = match self.open().await {
            Ok(s) => s,
            Err(why) => return self.fail(why),
        };
        let mut remote = tokio::io::join(recv, send);
        if tokio::io::copy_bidirectional(&mut local, &mut remote)
            .await
            .is_err()
        {
            if let Some(c) = self.conn.lock().await.as_ref() {
                if c.close_reason().is_some() {
                    self.fail(closed(c));
                }
            }
        }
    }
}

fn refused(e: &ConnectionError) -> bool {
    matches!(e, ConnectionError::ApplicationClosed(c) if c.error_code == REFUSED)
}

/// Why a closed connection closed.
fn closed(c: &Connection) -> Failure {
    match c.close_reason() {
        Some(e) if refused(&e) => Failure::Refused,
        Some(ConnectionError::ApplicationClosed(c)) => Failure::Unreachable(format!(
            "the node closed the connection: {}",
            String::from_utf8_lossy(&c.reason)
                .chars()
                .take(200)
                .collect::<String>()
        )),
        Some(e) => Failure::Unreachable(e.to_string()),
        None => Failure::Unreachable("the stream could not be opened".to_owned()),
    }
}

/// A forwarder from a private Unix socket to the node's admin channel; it runs in a
/// background runtime for as long as it lives.
pub struct Tunnel {
    socket: PathBuf,
    link: Arc<Link>,
    me: EndpointId,
    rt: Option<tokio::runtime::Runtime>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tunnel")
            .field("socket", &self.socket)
            .finish()
    }
}

impl Tunnel {
    /// Connect to the node with the home's CLI key and start forwarding.
    pub fn open(home: &Path, target: IrohTarget) -> Result<Self> {
        let key = load_or_create_key(home)?;
        let me = key.public();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("atoll-admin-tunnel")
            .enable_all()
            .build()
            .context("starting the iroh runtime")?;
        let dir = tempfile::Builder::new()
            .prefix("atoll-admin-")
            .tempdir()
            .context("creating the admin channel's socket directory")?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .context("making the socket directory private")?;
        let socket = dir.path().join("node.sock");
        let relay = match &target.relay {
            Some(u) => RelayMode::Custom(u.clone().into()),
            None => RelayMode::Disabled,
        };
        let (link, listener) = rt.block_on(async {
            let endpoint = Endpoint::builder(presets::Minimal)
                .relay_mode(relay)
                .clear_address_lookup()
                .secret_key(key)
                .bind()
                .await
                .context("starting this CLI's iroh endpoint")?;
            let link = Arc::new(Link {
                endpoint,
                target,
                conn: tokio::sync::Mutex::new(None),
                failure: Mutex::new(None),
            });
            let conn = link.connect().await.map_err(|why| {
                let msg = describe(&why, &me, &link.target);
                anyhow::anyhow!(msg)
            })?;
            *link.conn.lock().await = Some(conn);
            let listener = UnixListener::bind(&socket)
                .with_context(|| format!("listening on {}", socket.display()))?;
            Ok::<_, anyhow::Error>((link, listener))
        })?;
        let forward = link.clone();
        rt.spawn(async move {
            while let Ok((local, _)) = listener.accept().await {
                let link = forward.clone();
                tokio::spawn(async move { link.pipe(local).await });
            }
        });
        Ok(Self {
            socket,
            link,
            me,
            rt: Some(rt),
            _dir: dir,
        })
    }

    /// The Unix socket the HTTP client connects to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Why a request through the tunnel failed, as the CLI says it.
    pub fn explain(&self, e: &reqwest::Error) -> String {
        let failure = self.link.failure.lock().ok().and_then(|f| f.clone());
        match failure {
            Some(why) => describe(&why, &self.me, &self.link.target),
            None => format!(
                "the request to {} over the admin channel failed: {e}",
                self.link.target.where_()
            ),
        }
    }
}

fn describe(why: &Failure, me: &EndpointId, target: &IrohTarget) -> String {
    match why {
        Failure::Refused => format!(
            "the node refused this CLI: this CLI's id {} is not in the node's [admin] iroh_keys \
             (add it there and restart the node; `atoll node admin-id` prints it)",
            id_hex(me)
        ),
        Failure::Unreachable(e) => format!(
            "cannot reach the {} over iroh (ALPN atoll/admin/1): {e}",
            target.where_()
        ),
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            let link = self.link.clone();
            rt.block_on(async move {
                if let Some(c) = link.conn.lock().await.as_ref() {
                    c.close(0u32.into(), b"done");
                }
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, link.endpoint.close()).await;
            });
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn id() -> String {
        id_hex(&SecretKey::generate().public())
    }

    #[test]
    fn iroh_urls_parse_or_say_what_is_wrong() {
        let id = id();
        let t = IrohTarget::parse(&format!(
            "iroh://{id}?addr=127.0.0.1:7880&addr=[::1]:7880&relay=http://127.0.0.1:3340"
        ))
        .unwrap()
        .unwrap();
        assert_eq!(id_hex(&t.id), id);
        assert_eq!(t.addrs.len(), 2);
        assert_eq!(t.relay.unwrap().to_string(), "http://127.0.0.1:3340/");
        assert!(IrohTarget::parse("http://127.0.0.1:7878").is_none());
        for (bad, says) in [
            (format!("iroh://{id}"), "no address"),
            ("iroh://abc?addr=127.0.0.1:1".to_owned(), "endpoint id"),
            (format!("iroh://{id}?addr=nowhere"), "addr=\"nowhere\""),
            (
                format!("iroh://{id}?addr=127.0.0.1:1&port=2"),
                "unknown parameter",
            ),
            (format!("iroh://{id}?relay=ws://x"), "http:// or https://"),
            (format!("iroh://{id}?addr"), "key=value"),
        ] {
            let err = format!("{:#}", IrohTarget::parse(&bad).unwrap().unwrap_err());
            assert!(err.contains(says) && err.contains(URL_FORM), "{bad}: {err}");
        }
    }

    /// An endpoint on 127.0.0.1 serving `channel` (with a small router), as a node does.
    fn serve(
        rt: &tokio::runtime::Runtime,
        channel: crate::node::admin::AdminChannel,
    ) -> (iroh::protocol::Router, String) {
        use axum::routing::{get, post};
        let api = axum::Router::new()
            .route(
                "/api/v1/ping",
                get(|| async { axum::Json(serde_json::json!("pong")) }),
            )
            .route(
                "/api/v1/who",
                post(
                    |axum::Extension(crate::api::AdminPeer(peer)): axum::Extension<
                        crate::api::AdminPeer,
                    >| async move { axum::Json(serde_json::json!(id_hex(&peer))) },
                ),
            );
        channel.serve(api);
        rt.block_on(async {
            let ep = Endpoint::builder(presets::Minimal)
                .relay_mode(RelayMode::Disabled)
                .clear_address_lookup()
                .clear_ip_transports()
                .bind_addr("127.0.0.1:0")
                .unwrap()
                .bind()
                .await
                .unwrap();
            let url = format!("iroh://{}?addr={}", id_hex(&ep.id()), ep.bound_sockets()[0]);
            let router = iroh::protocol::Router::builder(ep)
                .accept(ALPN, channel)
                .spawn();
            (router, url)
        })
    }

    #[test]
    fn an_allowed_key_is_served_without_a_token_and_another_is_refused_by_id() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (allowed, stranger) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let me = load_or_create_key(allowed.path()).unwrap().public();
        let other = load_or_create_key(stranger.path()).unwrap().public();
        let (router, url) = serve(&rt, crate::node::admin::AdminChannel::new([me]));
        let addr = |home: &Path| {
            super::super::client::NodeClient::new(
                home,
                &super::super::client::NodeAddr {
                    node: Some(url.clone()),
                },
            )
        };
        let c = addr(allowed.path()).unwrap();
        assert_eq!(c.get("/ping").unwrap(), "pong");
        // A mutating call: no token in the home, the request carries the peer's id.
        let who = c.post("/who", &serde_json::json!({})).unwrap();
        assert_eq!(who, serde_json::json!(id_hex(&me)));
        drop(c);
        let c = addr(stranger.path()).unwrap();
        let err = format!("{:#}", c.get("/ping").unwrap_err());
        assert!(
            err.contains(&format!(
                "this CLI's id {} is not in the node's [admin] iroh_keys",
                id_hex(&other)
            )),
            "{err}"
        );
        drop(c);
        // The allowed key still works after the refusal.
        let c = addr(allowed.path()).unwrap();
        assert_eq!(c.get("/ping").unwrap(), "pong");
        drop(c);
        rt.block_on(router.shutdown()).unwrap();
    }

    #[test]
    fn the_cli_key_is_made_once_0600() {
        let home = tempfile::tempdir().unwrap();
        let a = load_or_create_key(home.path()).unwrap();
        let path = home.path().join(CLI_KEY_FILE);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            load_or_create_key(home.path()).unwrap().public(),
            a.public()
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_create_key(home.path()).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }
}
