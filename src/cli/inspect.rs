//! `atoll status|logs|credentials <app>`: what an operator looks for on one installed app:
//! its state, restarts and last failure per container, its resource use next to its
//! limits, its logs (one container or each, followed live with `-f`), and its generated
//! credentials on request. Text from the node is printed through [`output::plain`].

use std::io::{BufRead, BufReader};

use anyhow::{bail, Context, Result};
use atoll_registry::AppRef;
use serde_json::Value;

use super::client::NodeClient;
use super::output::{self, plain};

/// `did:key:z6Mk…` shortened for people: its first 16 and last 6 characters.
pub fn short_did(did: &str) -> String {
    let n = did.chars().count();
    if n <= 24 {
        return did.to_owned();
    }
    let head: String = did.chars().take(16).collect();
    let tail: String = did.chars().skip(n - 6).collect();
    format!("{head}…{tail}")
}

/// `12.3 MiB` of a byte count.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("?")
}

/// The `GET /installed` row of `app`, or an error saying it is not installed.
fn installed_row(c: &NodeClient, app: &AppRef) -> Result<Value> {
    let list = c.get("/installed")?;
    let want = app.to_string();
    list.as_array()
        .and_then(|rows| rows.iter().find(|r| r["ref"] == want.as_str()))
        .cloned()
        .with_context(|| format!("{} is not installed on this node", app.app))
}

/// One container's line of `atoll status`, and its last failure on the next.
fn container_lines(c: &Value) -> Vec<String> {
    let mut state = text(c, "state").to_owned();
    if let Some(code) = c["exit_code"].as_i64() {
        state.push_str(&format!(" (exit code {code})"));
    }
    let mut out = vec![format!(
        "  container {}: {}, health {}, restarts {}",
        plain(text(c, "name"), 63),
        state,
        text(c, "health"),
        c["restarts"].as_u64().unwrap_or(0)
    )];
    if let Some(f) = c["last_failure"].as_str() {
        out.push(format!("    last failure: {}", plain(f, 300)));
    }
    out
}

/// One container's usage line: CPU and memory next to their limits, then its disk.
fn usage_line(u: &Value) -> String {
    let cpu = match u["cpu_percent"].as_f64() {
        Some(p) => format!("CPU {p:.1}%"),
        None => "CPU -".to_owned(),
    };
    let cpu_limit = u["cpu_limit"].as_f64().map_or_else(
        || " (no limit)".to_owned(),
        |l| format!(" of limit {l} CPU"),
    );
    let mem = u["memory_bytes"]
        .as_u64()
        .map_or_else(|| "-".to_owned(), bytes);
    let mem_limit = u["memory_limit"]
        .as_u64()
        .map_or_else(|| "no limit".to_owned(), bytes);
    let volumes: Vec<String> = u["volumes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|v| {
            format!(
                "{} {}",
                plain(text(v, "name"), 63),
                bytes(v["bytes"].as_u64().unwrap_or(0))
            )
        })
        .collect();
    let disk = if volumes.is_empty() {
        "no volumes".to_owned()
    } else {
        format!("disk {}", volumes.join(", "))
    };
    format!(
        "  {}: {cpu}{cpu_limit} · memory {mem} / {mem_limit} · {disk}",
        plain(text(u, "name"), 63)
    )
}

/// `atoll status <app>`
pub fn status(c: &NodeClient, app: &AppRef, json: bool) -> Result<()> {
    let row = installed_row(c, app)?;
    let usage = c.get(&format!("/installed/{app}/usage"));
    if json {
        let mut out = row.clone();
        out["usage"] = usage.unwrap_or(Value::Null);
        return output::json(&out);
    }
    let health = row["health"].as_str().map(|h| format!(", {h}"));
    println!(
        "{} {}: {}{}",
        plain(text(&row, "name"), 80),
        text(&row, "version"),
        text(&row, "state"),
        health.unwrap_or_default()
    );
    println!(
        "  app {} by {}",
        app.app,
        short_did(&app.publisher.to_string())
    );
    if let Some(u) = row["web_url"].as_str() {
        println!("  open {}", plain(u, 200));
    }
    if row["stopped_by_user"] == true {
        println!("  stopped by the operator: it stays stopped until started");
    }
    for ct in row["containers"].as_array().cloned().unwrap_or_default() {
        for l in container_lines(&ct) {
            println!("{l}");
        }
    }
    if let Some(e) = row["last_error"].as_str() {
        println!("  last error: {}", plain(e, 300));
    }
    match usage {
        Ok(u) => {
            println!("usage (limits from its manifest):");
            for ct in u["containers"].as_array().cloned().unwrap_or_default() {
                println!("{}", usage_line(&ct));
            }
        }
        Err(e) => println!("usage: not available ({e:#})"),
    }
    Ok(())
}

/// `atoll credentials <app>`: needs the admin token; prints each value once asked.
pub fn credentials(c: &NodeClient, app: &AppRef, json: bool) -> Result<()> {
    let read = c.post(
        &format!("/installed/{app}/credentials"),
        &serde_json::json!({}),
    )?;
    if json {
        return output::json(&read);
    }
    let list = read["credentials"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!(
            "{} has no generated credentials to show (no secret of its manifest is marked show)",
            app.app
        );
    }
    for cred in list {
        println!(
            "{} (container {}): {}",
            plain(text(&cred, "name"), 63),
            plain(text(&cred, "container"), 63),
            text(&cred, "value")
        );
    }
    Ok(())
}

/// `atoll logs <app> [--container NAME] [-f] [--tail N]`
pub fn logs(
    c: &NodeClient,
    app: &AppRef,
    container: Option<&str>,
    tail: u64,
    follow: bool,
) -> Result<()> {
    let mut path = format!("/installed/{app}/logs?tail={tail}");
    if let Some(name) = container {
        path.push_str(&format!("&container={}", encode(name)));
    }
    // With one container the lines are its own; with each, a line names its container.
    let line = |e: &Value| match container {
        Some(_) => plain(text(e, "text"), 4000),
        None => format!(
            "{}: {}",
            plain(text(e, "container"), 63),
            plain(text(e, "text"), 4000)
        ),
    };
    if !follow {
        let logs = c.get(&path)?;
        let entries = logs["entries"].as_array().cloned().unwrap_or_default();
        if entries.is_empty() {
            eprintln!("no output yet");
        }
        for e in entries {
            println!("{}", line(&e));
        }
        return Ok(());
    }
    path.push_str("&follow=true");
    let resp = c.get_stream(&path)?;
    let mut event = String::new();
    let mut any = false;
    for l in BufReader::new(resp).lines() {
        let l = l.context("reading the followed log")?;
        if let Some(name) = l.strip_prefix("event:") {
            event = name.trim().to_owned();
            continue;
        }
        let Some(data) = l.strip_prefix("data:") else {
            if l.is_empty() {
                event.clear();
            }
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(data.trim()) else {
            continue;
        };
        if event == "end" {
            if !any {
                eprintln!("no output yet");
            }
            eprintln!("{}", plain(text(&v, "reason"), 200));
            return Ok(());
        }
        any = true;
        println!("{}", line(&v));
    }
    bail!("the node closed the followed log before its end")
}

/// Percent-encode a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_dids_read_well() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(33_554_432), "32.0 MiB");
        assert_eq!(
            short_did("did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"),
            "did:key:z6MkiTBz…mDooWp"
        );
        assert_eq!(encode("web db"), "web%20db");
    }

    #[test]
    fn a_container_line_carries_restarts_and_the_last_failure() {
        let c = serde_json::json!({"name": "web", "state": "exited", "health": "none",
            "restarts": 3, "exit_code": 1, "last_failure": "exited with code 1"});
        let lines = container_lines(&c);
        assert_eq!(
            lines[0],
            "  container web: exited (exit code 1), health none, restarts 3"
        );
        assert_eq!(lines[1], "    last failure: exited with code 1");
        let u = serde_json::json!({"name": "web", "cpu_percent": 1.25, "cpu_limit": 0.25,
            "memory_bytes": 1_048_576, "memory_limit": 33_554_432,
            "volumes": [{"name": "data", "bytes": 2048}]});
        assert_eq!(
            usage_line(&u),
            "  web: CPU 1.2% of limit 0.25 CPU · memory 1.0 MiB / 32.0 MiB · disk data 2.0 KiB"
        );
    }
}
