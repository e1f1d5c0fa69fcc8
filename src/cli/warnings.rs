//! Warnings before `atoll install|update`: the node's `warnings` for the app
//! (`GET /api/v1/apps/{did}/{app}`, see `crate::api::warnings`), printed on stderr. They
//! do not stop the command (the node's guards refuse what must not be installed).

use super::client::NodeClient;
use super::output;

/// Print each warning the node gives for `app` as `warning: …` on stderr. An app the
/// node does not know, or a node that cannot answer, prints nothing here (the action
/// itself then says what is wrong).
pub fn print(c: &NodeClient, app: &str) {
    let Ok(detail) = c.get(&format!("/apps/{app}")) else {
        return;
    };
    for w in detail["warnings"].as_array().into_iter().flatten() {
        eprintln!(
            "warning: [{}] {}",
            output::plain(w["kind"].as_str().unwrap_or("?"), 40),
            output::plain(w["message"].as_str().unwrap_or(""), 400)
        );
    }
}
