//! HTTP/1.1 over the API's unix socket (hyper 1). One connection per request: the socket is
//! local and cheap, and a request never inherits a half-broken connection after the service
//! was restarted.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::net::UnixStream;

use crate::error::PodmanError;

/// Prefix of every libpod endpoint, pinned to the version these machines run.
pub const API_PREFIX: &str = "/v4.3.1/libpod";

/// A request body.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// Default deadline of an API call that does not wait on a container.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A libpod API client bound to one socket. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    socket: Arc<PathBuf>,
}

/// An empty body.
pub fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

/// A JSON body.
pub fn json_body<T: Serialize>(value: &T) -> Body {
    // Serialising our own plain structs cannot fail; an empty body would be refused loudly.
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    Full::new(Bytes::from(bytes))
        .map_err(|never| match never {})
        .boxed()
}

/// Percent-encode a query value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `{"label":["k=v",…]}`, encoded for a `filters=` query parameter.
pub fn label_filter(labels: &[(&str, &str)]) -> String {
    let list: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let json = serde_json::json!({ "label": list });
    encode(&json.to_string())
}

impl Client {
    /// A client for the socket at `socket`.
    pub fn new(socket: &Path) -> Self {
        Self {
            socket: Arc::new(socket.to_owned()),
        }
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Send a request and return the response head with its streaming body. Only the
    /// connection and the head are bounded by `timeout`.
    pub async fn open(
        &self,
        method: Method,
        path: &str,
        body: Body,
        content_type: &'static str,
        timeout: Duration,
    ) -> Result<Response<Incoming>, PodmanError> {
        let label = (method.clone(), path.to_owned());
        tokio::time::timeout(timeout, self.open_inner(method, path, body, content_type))
            .await
            .map_err(|_| PodmanError::Timeout {
                method: label.0,
                path: label.1,
                after: timeout,
            })?
    }

    async fn open_inner(
        &self,
        method: Method,
        path: &str,
        body: Body,
        content_type: &'static str,
    ) -> Result<Response<Incoming>, PodmanError> {
        let http = |source| PodmanError::Http {
            method: method.clone(),
            path: path.to_owned(),
            source,
        };
        let stream =
            UnixStream::connect(&*self.socket)
                .await
                .map_err(|source| PodmanError::Connect {
                    socket: (*self.socket).clone(),
                    source,
                })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(http)?;
        tokio::spawn(async move {
            // Ends when the response body has been read or dropped.
            let _ = conn.await;
        });
        let request = Request::builder()
            .method(method.clone())
            .uri(format!("{API_PREFIX}{path}"))
            .header(hyper::header::HOST, "podman")
            .header(hyper::header::CONTENT_TYPE, content_type)
            .body(body)
            .map_err(|_| PodmanError::BadPath {
                path: path.to_owned(),
            })?;
        sender.send_request(request).await.map_err(http)
    }

    /// Send a request, read the whole answer, and turn error statuses (>= 400) into
    /// [`PodmanError::Api`]. Returns the status and the body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Body,
        timeout: Duration,
    ) -> Result<(StatusCode, Bytes), PodmanError> {
        let label = (method.clone(), path.to_owned());
        let fut = async {
            let response = self
                .open_inner(method.clone(), path, body, "application/json")
                .await?;
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|source| PodmanError::Http {
                    method: method.clone(),
                    path: path.to_owned(),
                    source,
                })?
                .to_bytes();
            Ok::<_, PodmanError>((status, bytes))
        };
        let (status, bytes) =
            tokio::time::timeout(timeout, fut)
                .await
                .map_err(|_| PodmanError::Timeout {
                    method: label.0.clone(),
                    path: label.1.clone(),
                    after: timeout,
                })??;
        if status.as_u16() >= 400 {
            return Err(api_error(&label.0, &label.1, status, &bytes));
        }
        Ok((status, bytes))
    }

    /// GET and decode JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, PodmanError> {
        let (_, bytes) = self
            .call(Method::GET, path, empty(), DEFAULT_TIMEOUT)
            .await?;
        decode(path, &bytes)
    }

    /// POST JSON and decode the JSON answer.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, PodmanError> {
        let (_, bytes) = self
            .call(Method::POST, path, json_body(body), DEFAULT_TIMEOUT)
            .await?;
        decode(path, &bytes)
    }
}

/// Decode a JSON answer.
pub fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, PodmanError> {
    serde_json::from_slice(bytes).map_err(|source| PodmanError::Decode {
        what: what.to_owned(),
        source,
    })
}

/// libpod error bodies are `{"cause": …, "message": …, "response": status}`.
pub fn api_error(method: &Method, path: &str, status: StatusCode, body: &[u8]) -> PodmanError {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        message: Option<String>,
    }
    let message = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.message)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(500).collect());
    PodmanError::Api {
        method: method.clone(),
        path: path.to_owned(),
        status: status.as_u16(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(encode("x=y z/{}"), "x%3Dy%20z%2F%7B%7D");
        assert_eq!(
            label_filter(&[("io.atoll.node", "n1")]),
            encode(r#"{"label":["io.atoll.node=n1"]}"#)
        );
    }

    #[test]
    fn api_errors_carry_podmans_message() {
        let e = api_error(
            &Method::DELETE,
            "/containers/x",
            StatusCode::INTERNAL_SERVER_ERROR,
            br#"{"cause":"x","message":"cannot remove container","response":500}"#,
        );
        assert_eq!(e.status(), Some(500));
        assert!(e.to_string().contains("cannot remove container"));
        let e = api_error(&Method::GET, "/x", StatusCode::NOT_FOUND, b"plain");
        assert!(e.is_not_found());
    }
}
