//! A hostile HTTPS origin in process (`GET /<blake3-hex>`, as entries name HTTPS bases),
//! on 127.0.0.1 with a throwaway self-signed certificate that only the conformance node
//! trusts. Per blob it serves the right bytes, lies (other bytes of the signed size),
//! stalls (a few bytes, then silence) or never ends (bytes forever, no length).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atoll_registry::Hash;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What the origin does when asked for one blob.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Send these bytes (honest when they are the blob).
    Serve(Arc<Vec<u8>>),
    /// Send a few bytes, then nothing, keeping the connection open.
    Stall,
    /// Send bytes until the client hangs up, announcing no length.
    Endless,
}

/// Why the origin could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OriginError {
    /// Making the certificate or the TLS configuration.
    #[error("hostile HTTPS origin: TLS setup: {0}")]
    Tls(String),
    /// Binding the socket.
    #[error("hostile HTTPS origin: binding 127.0.0.1:0: {0}")]
    Bind(#[from] std::io::Error),
}

/// A running hostile HTTPS origin. Stops when dropped.
pub struct HostileOrigin {
    base: String,
    roots: rustls::RootCertStore,
    blobs: Arc<Mutex<HashMap<String, Behaviour>>>,
    task: JoinHandle<()>,
}

impl HostileOrigin {
    /// Listen on 127.0.0.1:0 with a fresh certificate for `localhost`.
    pub async fn start() -> Result<Self, OriginError> {
        let tls = |e: &dyn std::fmt::Display| OriginError::Tls(e.to_string());
        let cert =
            rcgen::generate_simple_self_signed(vec!["localhost".into()]).map_err(|e| tls(&e))?;
        let der = cert.cert.der().clone();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls(&e))?
            .with_no_client_auth()
            .with_single_cert(vec![der.clone()], key)
            .map_err(|e| tls(&e))?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).map_err(|e| tls(&e))?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("https://localhost:{}", listener.local_addr()?.port());
        let blobs: Arc<Mutex<HashMap<String, Behaviour>>> = Arc::default();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let task = tokio::spawn(serve(listener, acceptor, blobs.clone()));
        Ok(Self {
            base,
            roots,
            blobs,
            task,
        })
    }

    /// The base URL entries name (`https://localhost:<port>`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The root store that trusts this origin's certificate (and nothing else).
    pub fn roots(&self) -> rustls::RootCertStore {
        self.roots.clone()
    }

    /// Answer requests for `hash` with `behaviour`.
    pub fn set(&self, hash: &Hash, behaviour: Behaviour) {
        if let Ok(mut b) = self.blobs.lock() {
            b.insert(hash.to_hex(), behaviour);
        }
    }
}

impl HostileOrigin {
    /// Answer requests for `hash` with 404 again (the attack is over).
    pub fn forget(&self, hash: &Hash) {
        if let Ok(mut b) = self.blobs.lock() {
            b.remove(&hash.to_hex());
        }
    }
}

impl Drop for HostileOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    blobs: Arc<Mutex<HashMap<String, Behaviour>>>,
) {
    let mut conns = tokio::task::JoinSet::new();
    while let Ok((tcp, _)) = listener.accept().await {
        let acceptor = acceptor.clone();
        let blobs = blobs.clone();
        conns.spawn(async move {
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                return;
            };
            let mut buf = vec![0u8; 4096];
            let n = tls.read(&mut buf).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = head.split_whitespace().nth(1).unwrap_or("/");
            let behaviour = blobs
                .lock()
                .ok()
                .and_then(|b| b.get(path.trim_start_matches('/')).cloned());
            match behaviour {
                Some(Behaviour::Serve(body)) => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = tls.write_all(head.as_bytes()).await;
                    let _ = tls.write_all(&body).await;
                    let _ = tls.shutdown().await;
                }
                Some(Behaviour::Stall) => {
                    let _ = tls
                        .write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nabc")
                        .await;
                    let _ = tls.flush().await;
                    // Silence until the client gives up (the task ends with the origin).
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                Some(Behaviour::Endless) => {
                    let _ = tls
                        .write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n")
                        .await;
                    let chunk = vec![0x5a_u8; 64 * 1024];
                    while tls.write_all(&chunk).await.is_ok() {}
                }
                None => {
                    let _ = tls
                        .write_all(
                            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
                    let _ = tls.shutdown().await;
                }
            }
        });
    }
}
