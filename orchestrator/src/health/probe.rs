//! One health probe. HTTP and TCP checks name a container port: a published port is probed
//! on 127.0.0.1 of the host (what users reach); an unpublished one inside the container's
//! network namespace (root enters `/proc/<pid>/ns/net` on a dedicated thread), or, when not
//! root, with busybox-style `wget`/`nc` run by `podman exec`. Command checks run through
//! the API's `/healthcheck`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::time::Duration;

use atoll_registry::manifest::Health;

use std::sync::Arc;

use super::{ProbeEnv, ProbeFailure, ProbePass, ProbeTarget};

/// Run one check.
pub async fn run(
    check: &Health,
    target: &ProbeTarget,
    env: &ProbeEnv,
    timeout: Duration,
) -> Result<ProbePass, ProbeFailure> {
    if let Some(http) = &check.http {
        return port_probe(target, env, http.port, Some(http.path.clone()), timeout).await;
    }
    if let Some(tcp) = &check.tcp {
        return port_probe(target, env, tcp.port, None, timeout).await;
    }
    if check.command.is_some() {
        let run = env
            .podman
            .run_healthcheck(&target.id, timeout + Duration::from_secs(10))
            .await
            .map_err(|e| ProbeFailure::Podman(Arc::new(e)))?;
        return match run.log.last() {
            Some(l) if l.exit_code == 0 => Ok(ProbePass::Command {
                output: l.output.trim().to_owned(),
            }),
            Some(l) => Err(ProbeFailure::Command {
                code: l.exit_code,
                output: l.output.trim().to_owned(),
            }),
            None if run.status == "healthy" => Ok(ProbePass::Healthy),
            None => Err(ProbeFailure::CommandStatus { status: run.status }),
        };
    }
    Err(ProbeFailure::NoCheck)
}

async fn port_probe(
    target: &ProbeTarget,
    env: &ProbeEnv,
    port: u16,
    path: Option<String>,
    timeout: Duration,
) -> Result<ProbePass, ProbeFailure> {
    let (addr, netns) = match target.published_tcp.get(&port) {
        Some(host_port) => (SocketAddr::from((Ipv4Addr::LOCALHOST, *host_port)), None),
        None if env.can_setns => (
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            Some(target.pid),
        ),
        None => return exec_probe(target, env, port, path, timeout).await,
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    // A dedicated thread: entering a network namespace changes the calling thread for good.
    let spawned = std::thread::Builder::new()
        .name("atoll-health-probe".into())
        .spawn(move || {
            let _ = tx.send(blocking_probe(addr, path.as_deref(), netns, timeout));
        });
    if let Err(e) = spawned {
        return Err(ProbeFailure::Thread(Arc::new(e)));
    }
    match tokio::time::timeout(timeout + Duration::from_secs(1), rx).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(ProbeFailure::ThreadGone),
        Err(_) => Err(ProbeFailure::Timeout(timeout)),
    }
}

fn blocking_probe(
    addr: SocketAddr,
    path: Option<&str>,
    netns: Option<i64>,
    timeout: Duration,
) -> Result<ProbePass, ProbeFailure> {
    if let Some(pid) = netns {
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).map_err(|e| {
            ProbeFailure::ProcessGone {
                pid,
                source: Arc::new(e),
            }
        })?;
        rustix::thread::move_into_link_name_space(
            ns.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .map_err(ProbeFailure::SetNs)?;
    }
    let port = addr.port();
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| ProbeFailure::Connect {
            port,
            source: Arc::new(e),
        })?;
    let Some(path) = path else {
        return Ok(ProbePass::PortOpen { port });
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: localhost\r\nUser-Agent: atoll-health\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| ProbeFailure::Send(Arc::new(e)))?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 4096 {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => return Err(ProbeFailure::Read(Arc::new(e))),
        }
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or("");
    let path = path.to_owned();
    match status_code(line) {
        Some(code) if (200..400).contains(&code) => Ok(ProbePass::Http { path, code }),
        Some(code) => Err(ProbeFailure::HttpStatus { path, code }),
        None => Err(ProbeFailure::NotHttp {
            path,
            line: line.chars().take(200).collect(),
        }),
    }
}

/// `HTTP/1.1 200 OK` -> 200.
fn status_code(line: &str) -> Option<u16> {
    let mut parts = line.split_whitespace();
    let proto = parts.next()?;
    if !proto.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

async fn exec_probe(
    target: &ProbeTarget,
    env: &ProbeEnv,
    port: u16,
    path: Option<String>,
    timeout: Duration,
) -> Result<ProbePass, ProbeFailure> {
    let secs = timeout.as_secs().max(1).to_string();
    let mut cmd = env.host.command();
    cmd.args(["exec", &target.id]);
    match &path {
        Some(p) => cmd.args([
            "wget",
            "-q",
            "-O",
            "/dev/null",
            "-T",
            &secs,
            &format!("http://127.0.0.1:{port}{p}"),
        ]),
        None => cmd.args(["nc", "-z", "-w", &secs, "127.0.0.1", &port.to_string()]),
    };
    let out = tokio::time::timeout(
        timeout + Duration::from_secs(10),
        cmd.kill_on_drop(true).output(),
    )
    .await
    .map_err(|_| ProbeFailure::ExecTimeout(timeout))?
    .map_err(|e| ProbeFailure::ExecSpawn(Arc::new(e)))?;
    if out.status.success() {
        Ok(ProbePass::Exec { port })
    } else {
        Err(ProbeFailure::Exec {
            port,
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse() {
        assert_eq!(status_code("HTTP/1.0 200 OK"), Some(200));
        assert_eq!(status_code("HTTP/1.1 404 Not Found"), Some(404));
        assert_eq!(status_code("SSH-2.0"), None);
    }

    #[test]
    fn http_probe_of_a_local_server() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let server = std::thread::spawn(move || {
            for code in [200, 503] {
                if let Ok((mut s, _)) = listener.accept() {
                    let mut buf = [0u8; 512];
                    let _ = s.read(&mut buf);
                    let _ = write!(s, "HTTP/1.0 {code} X\r\n\r\n");
                }
            }
        });
        let t = Duration::from_secs(5);
        assert!(blocking_probe(addr, Some("/"), None, t).is_ok());
        assert!(blocking_probe(addr, Some("/"), None, t).is_err());
        let _ = server.join();
        assert!(blocking_probe(addr, None, None, Duration::from_millis(200)).is_err());
    }
}
