//! HTTPS origins against a local TLS server with a self-signed certificate.

use std::sync::Arc;
use std::time::Duration;

use atoll_discovery::https::{HttpsError, HttpsOrigin};
use atoll_registry::objects::BlobRef;
use atoll_registry::Hash;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves `/<good>` with `body`, `/<evil>` with other bytes, and redirects `/<moved>` to
/// another host.
async fn serve(
    body: Vec<u8>,
    good: Hash,
    evil: Hash,
    moved: Hash,
) -> (u16, rustls::RootCertStore, tokio::task::JoinHandle<()>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let body = body.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let n = tls.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (head, payload) = if path == format!("/{}", good.to_hex()) {
                    (
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                            body.len()
                        ),
                        body,
                    )
                } else if path == format!("/{}", evil.to_hex()) {
                    let evil = vec![7u8; body.len()];
                    (
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                            evil.len()
                        ),
                        evil,
                    )
                } else if path == format!("/{}", moved.to_hex()) {
                    (format!("HTTP/1.1 302 Found\r\nlocation: https://127.0.0.2:{port}/{}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n", good.to_hex()), vec![])
                } else {
                    (
                        "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                            .to_owned(),
                        vec![],
                    )
                };
                let _ = tls.write_all(head.as_bytes()).await;
                let _ = tls.write_all(&payload).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, roots, task)
}

#[tokio::test]
async fn https_origin_accepts_only_verified_bounded_same_host_bytes() {
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let good = Hash::of(&body);
    let evil = Hash::of(b"evil");
    let moved = Hash::of(b"moved");
    let (port, roots, server) = serve(body.clone(), good, evil, moved).await;
    let tmp = tempfile::tempdir().unwrap();
    let origin = HttpsOrigin::with_roots(tmp.path(), roots).unwrap();
    let base = format!("https://localhost:{port}");
    let deadline = Duration::from_secs(20);

    let want = BlobRef {
        hash: good,
        size: body.len() as u64,
    };
    let file = origin.fetch_to_temp(&base, &want, deadline).await.unwrap();
    assert_eq!(std::fs::read(file.path()).unwrap(), body);
    let path = file.path().to_owned();
    drop(file);
    assert!(!path.exists(), "temporary file is removed");

    // Same size, wrong bytes.
    let want = BlobRef {
        hash: evil,
        size: body.len() as u64,
    };
    let err = origin
        .fetch_to_temp(&base, &want, deadline)
        .await
        .unwrap_err();
    assert!(matches!(err, HttpsError::Mismatch { .. }), "{err}");

    // More bytes than the entry names.
    let want = BlobRef {
        hash: good,
        size: 1_000,
    };
    let err = origin
        .fetch_to_temp(&base, &want, deadline)
        .await
        .unwrap_err();
    assert!(matches!(err, HttpsError::TooLarge { .. }), "{err}");

    // A redirect to another host is refused.
    let want = BlobRef {
        hash: moved,
        size: body.len() as u64,
    };
    let err = origin
        .fetch_to_temp(&base, &want, deadline)
        .await
        .unwrap_err();
    assert!(matches!(err, HttpsError::Request { .. }), "{err}");
    assert!(err.to_string().contains("another host"), "{err}");

    // Plain http is not an origin.
    assert!(matches!(
        origin
            .fetch_to_temp("http://localhost:1", &want, deadline)
            .await,
        Err(HttpsError::Url(_))
    ));
    server.abort();
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "no temporary files left"
    );
}
