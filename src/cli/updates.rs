//! Updates people control, in the terminal: before `atoll update` the release notes and
//! the permission diff of the target version (and a failed earlier attempt, and the data
//! warning before going down), then a question (`--yes` skips it); `atoll update --all` in
//! dependency order; `atoll auto-update <app> [off|notify|auto]`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::client::NodeClient;
use super::output::plain;

/// Print what an update of `app` (to `version`, default the head) brings and ask. True:
/// go ahead. Refused outright (nothing to ask) when the target is the version that runs.
pub fn confirm(c: &NodeClient, app: &str, version: Option<&str>, yes: bool) -> Result<bool> {
    let mut path = format!("/installed/{app}/update-preview");
    if let Some(v) = version {
        path.push_str(&format!("?version={v}"));
    }
    // No preview (not installed, unknown version): the action itself says what is wrong.
    let Ok(p) = c.get(&path) else {
        return Ok(true);
    };
    let from = p["installed_version"].as_str().unwrap_or("?");
    let to = p["version"].as_str().unwrap_or("?");
    if p["direction"] == "same" {
        return Ok(true); // the node answers that it already runs it
    }
    println!("{app}: {from} → {to}");
    print_preview(&p);
    if yes || p["allowed"] == false {
        // Refused by the guard: the node says why (and which override lifts it).
        return Ok(true);
    }
    let question = if p["direction"] == "down" {
        format!("Go back to {to} (the data may not go back)? [y/N] ")
    } else {
        format!("Update to {to}? [y/N] ")
    };
    ask(&question)
}

/// The release notes, permission changes, failed attempt and data warning of a preview.
pub fn print_preview(p: &Value) {
    match p["release_notes"].as_str() {
        Some(n) => {
            println!("Release notes:");
            for l in n.lines() {
                println!("  {}", plain(l, 400));
            }
        }
        None if p["manifest_fetched"] == false => {
            println!("Release notes: not fetched yet (the node fetches them with the update)")
        }
        None => println!("Release notes: none given"),
    }
    match p["permissions"].as_array() {
        Some(d) if d.is_empty() => println!("Permissions: unchanged"),
        Some(d) => {
            println!("Permissions:");
            for ch in d {
                println!("  {}", change_line(ch));
            }
        }
        None => println!("Permissions: unknown (manifest not fetched yet)"),
    }
    if let Some(f) = p["failed_update"].as_object() {
        println!(
            "warning: the last update to {} failed: {} ({})",
            plain(f.get("version").and_then(Value::as_str).unwrap_or("?"), 40),
            plain(f.get("reason").and_then(Value::as_str).unwrap_or("?"), 400),
            match f.get("restored").and_then(Value::as_str) {
                Some(v) => format!("rolled back to {}", plain(v, 40)),
                None => "the rollback failed too".into(),
            }
        );
    }
    if let Some(w) = p["data_warning"].as_str() {
        println!("warning: {}", plain(w, 400));
    }
}

/// `+ volume data at /data (web)`, `- port …`, `~ web memory: 32Mi → 64Mi`.
fn change_line(ch: &Value) -> String {
    let s = |k: &str| plain(ch[k].as_str().unwrap_or("?"), 200);
    match ch["change"].as_str() {
        Some("added") => format!("+ {} {}", s("what"), s("value")),
        Some("removed") => format!("- {} {}", s("what"), s("value")),
        _ => format!(
            "~ {} {}: {} → {}",
            s("container"),
            s("what"),
            s("from"),
            s("to")
        ),
    }
}

/// Ask on stdin (a terminal, or a line piped in); only `y`/`yes` goes ahead.
fn ask(question: &str) -> Result<bool> {
    print!("{question}");
    std::io::stdout().flush().ok();
    let mut line = String::new();
    let n = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the answer")?;
    if n == 0 {
        println!();
        bail!(
            "no answer{}: nothing was changed; pass --yes to update without the question",
            if std::io::stdin().is_terminal() {
                ""
            } else {
                " (stdin is not a terminal)"
            }
        );
    }
    Ok(matches!(line.trim().to_lowercase().as_str(), "y" | "yes"))
}

/// `atoll update --all`: list what would be updated, ask, then follow the one job.
pub fn update_all(c: &NodeClient, yes: bool, json: bool) -> Result<()> {
    let list = c.get("/installed")?;
    let due: Vec<&Value> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["update_available"].is_string())
        .collect();
    if !json {
        for a in list.as_array().into_iter().flatten() {
            if let Some(m) = a["failed_update"]["message"].as_str() {
                println!(
                    "{}: {} (not retried by --all; `atoll update {} --retry`)",
                    plain(a["name"].as_str().unwrap_or("?"), 64),
                    plain(m, 400),
                    a["ref"].as_str().unwrap_or("?")
                );
            }
        }
        if due.is_empty() {
            println!("every installed app is up to date");
            return Ok(());
        }
        println!("updates available (applied dependencies first):");
        for a in &due {
            println!(
                "  {} {} → {}",
                plain(a["name"].as_str().unwrap_or("?"), 64),
                a["installed_version"].as_str().unwrap_or("?"),
                a["update_available"].as_str().unwrap_or("?")
            );
        }
        if !yes && !ask(&format!("Update {} app(s)? [y/N] ", due.len()))? {
            println!("nothing was updated");
            return Ok(());
        }
    }
    super::ops::act(c, "update-all", json!({}), json)
}

/// `atoll auto-update <app> [off|notify|auto]`: set the policy, or show it.
pub fn auto_update(c: &NodeClient, app: &str, policy: Option<&str>) -> Result<()> {
    if let Some(p) = policy {
        let out = c.put(
            &format!("/installed/{app}/auto-update"),
            &json!({ "policy": p }),
        )?;
        println!(
            "auto-update of {app}: {}",
            out["auto_update"].as_str().unwrap_or(p)
        );
        return Ok(());
    }
    let list = c.get("/installed")?;
    let Some(a) = list
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["ref"] == app)
    else {
        bail!("{app} is not installed on this node");
    };
    println!(
        "auto-update of {app}: {} ({})",
        a["auto_update"].as_str().unwrap_or("?"),
        match a["auto_update_source"].as_str() {
            Some("chosen") => "chosen with `atoll auto-update`, the API or the UI",
            Some("config") => "from the config file's [auto_update]",
            _ => "the default",
        }
    );
    println!(
        "installed {}{}",
        a["installed_version"].as_str().unwrap_or("?"),
        match a["available_version"].as_str() {
            Some(v) => format!(", {v} available"),
            None => ", up to date".into(),
        }
    );
    if let Some(m) = a["failed_update"]["message"].as_str() {
        println!("{}", plain(m, 400));
    }
    Ok(())
}
