//! The podman CLI with JSON output: a fallback for listing when the API cannot be reached,
//! so `ps` still tells the truth while the service restarts.

use super::types::ListedContainer;
use crate::error::PodmanError;
use crate::host::PodmanHost;

/// `podman ps --all --format json --filter label=k=v …`.
pub async fn list_containers(
    host: &PodmanHost,
    labels: &[(&str, &str)],
) -> Result<Vec<ListedContainer>, PodmanError> {
    let mut args = vec![
        "ps".to_owned(),
        "--all".into(),
        "--format".into(),
        "json".into(),
    ];
    for (k, v) in labels {
        args.push("--filter".into());
        args.push(format!("label={k}={v}"));
    }
    let output = host
        .command()
        .args(&args)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| PodmanError::CliSpawn {
            args: args.join(" "),
            source,
        })?;
    if !output.status.success() {
        return Err(PodmanError::CliFailed {
            args: args.join(" "),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    super::client::decode("podman ps --format json", &output.stdout)
}
