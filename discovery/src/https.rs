//! Optional HTTPS origins: `GET <base>/<blake3-hex>`, streamed to a temporary file while
//! hashed, bounded by the signed size, a deadline and a stall timeout (no bytes for that
//! long ends the fetch); redirects only within the same host.
//! The bytes count only if their BLAKE3 is the hash the publisher signed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use atoll_registry::objects::BlobRef;
use atoll_registry::Hash;
use tokio::io::AsyncWriteExt;

/// Why an HTTPS fetch failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpsError {
    /// The base is not an `https://` URL.
    #[error("not an https:// base URL: {0}")]
    Url(String),
    /// The TLS setup failed.
    #[error("TLS setup: {0}")]
    Tls(String),
    /// The request failed (connection, TLS, redirect to another host, timeout).
    #[error("request to {url}: {detail}")]
    Request {
        /// The URL.
        url: String,
        /// Why.
        detail: String,
    },
    /// Not a 200.
    #[error("{url} answered {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// More bytes than the entry names.
    #[error("{url} sent {got} bytes or more, the entry names {max}")]
    TooLarge {
        /// The URL.
        url: String,
        /// Bytes received (or announced).
        got: u64,
        /// The signed size.
        max: u64,
    },
    /// The body does not hash to the signed hash.
    #[error("{url}: the body hashes to {actual}, the entry names {expected}")]
    Mismatch {
        /// The URL.
        url: String,
        /// The signed hash.
        expected: Hash,
        /// What the body hashes to.
        actual: Hash,
    },
    /// No bytes (or no answer) for the stall timeout.
    #[error("{url}: stalled: no bytes for {secs} s after {after} bytes")]
    Stalled {
        /// The URL.
        url: String,
        /// The stall timeout, in seconds.
        secs: u64,
        /// Body bytes received before it stalled.
        after: u64,
    },
    /// Local file error.
    #[error("temporary file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A temporary file removed when dropped.
#[derive(Debug)]
pub struct TempBlob {
    path: PathBuf,
}

impl TempBlob {
    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempBlob {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// An HTTPS client for origins. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpsOrigin {
    client: reqwest::Client,
    temp_dir: PathBuf,
}

impl HttpsOrigin {
    /// A client trusting the Mozilla root store (webpki-roots); temporary files go to
    /// `temp_dir`.
    pub fn new(temp_dir: impl Into<PathBuf>) -> Result<Self, HttpsError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        Self::with_roots(temp_dir, roots)
    }

    /// A client trusting exactly `roots` (tests use a self-signed root).
    pub fn with_roots(
        temp_dir: impl Into<PathBuf>,
        roots: rustls::RootCertStore,
    ) -> Result<Self, HttpsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| HttpsError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            let first = attempt.previous().first().and_then(|u| u.host_str());
            let same_host = first.is_some() && attempt.url().host_str() == first;
            if attempt.previous().len() > 3 {
                attempt.error("more than 3 redirects")
            } else if attempt.url().scheme() != "https" || !same_host {
                attempt.error("redirect to another host or scheme refused")
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .https_only(true)
            .redirect(policy)
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| HttpsError::Tls(e.to_string()))?;
        Ok(Self {
            client,
            temp_dir: temp_dir.into(),
        })
    }

    /// `<base>/<hex>`.
    pub fn url(base: &str, hash: &Hash) -> Result<String, HttpsError> {
        if !base.starts_with("https://") {
            return Err(HttpsError::Url(base.chars().take(120).collect()));
        }
        Ok(format!("{}/{}", base.trim_end_matches('/'), hash.to_hex()))
    }

    /// Download `want` from `base` into a temporary file, verified against its hash and size.
    pub async fn fetch_to_temp(
        &self,
        base: &str,
        want: &BlobRef,
        deadline: Duration,
    ) -> Result<TempBlob, HttpsError> {
        self.fetch_to_temp_reporting(base, want, deadline, deadline, &|_| {})
            .await
    }

    /// [`HttpsOrigin::fetch_to_temp`], telling `on_bytes` the body bytes received so far as
    /// they arrive, and giving up with [`HttpsError::Stalled`] when the answer or the next
    /// body bytes do not come within `stall`.
    pub async fn fetch_to_temp_reporting(
        &self,
        base: &str,
        want: &BlobRef,
        deadline: Duration,
        stall: Duration,
        on_bytes: &(dyn Fn(u64) + Sync),
    ) -> Result<TempBlob, HttpsError> {
        let url = Self::url(base, &want.hash)?;
        tokio::time::timeout(deadline, self.download(&url, want, stall, on_bytes))
            .await
            .unwrap_or_else(|_| {
                Err(HttpsError::Request {
                    url: url.clone(),
                    detail: format!("deadline of {} s passed", deadline.as_secs()),
                })
            })
    }

    async fn download(
        &self,
        url: &str,
        want: &BlobRef,
        stall: Duration,
        on_bytes: &(dyn Fn(u64) + Sync),
    ) -> Result<TempBlob, HttpsError> {
        let request_err = |e: reqwest::Error| HttpsError::Request {
            url: url.to_owned(),
            detail: error_chain(&e),
        };
        let stalled = |after: u64| HttpsError::Stalled {
            url: url.to_owned(),
            secs: stall.as_secs(),
            after,
        };
        let mut resp = tokio::time::timeout(stall, self.client.get(url).send())
            .await
            .map_err(|_| stalled(0))?
            .map_err(request_err)?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(HttpsError::Status {
                url: url.to_owned(),
                status: resp.status().as_u16(),
            });
        }
        if let Some(len) = resp.content_length() {
            if len > want.size {
                return Err(HttpsError::TooLarge {
                    url: url.to_owned(),
                    got: len,
                    max: want.size,
                });
            }
        }
        tokio::fs::create_dir_all(&self.temp_dir)
            .await
            .map_err(|source| HttpsError::Io {
                path: self.temp_dir.clone(),
                source,
            })?;
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| HttpsError::Tls(e.to_string()))?;
        let temp = TempBlob {
            path: self.temp_dir.join(format!(
                "https-{}-{}.part",
                want.hash.to_hex(),
                hex::encode(nonce)
            )),
        };
        let io = |source| HttpsError::Io {
            path: temp.path.clone(),
            source,
        };
        let mut file = tokio::fs::File::create(&temp.path).await.map_err(io)?;
        let mut hasher = blake3::Hasher::new();
        let mut got: u64 = 0;
        loop {
            let next = tokio::time::timeout(stall, resp.chunk())
                .await
                .map_err(|_| stalled(got))?;
            let Some(chunk) = next.map_err(request_err)? else {
                break;
            };
            got += chunk.len() as u64;
            if got > want.size {
                return Err(HttpsError::TooLarge {
                    url: url.to_owned(),
                    got,
                    max: want.size,
                });
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(io)?;
            on_bytes(got);
        }
        file.flush().await.map_err(io)?;
        let actual = Hash::from(hasher.finalize());
        if actual != want.hash || got != want.size {
            return Err(HttpsError::Mismatch {
                url: url.to_owned(),
                expected: want.hash,
                actual,
            });
        }
        Ok(temp)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}
