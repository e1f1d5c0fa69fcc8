//! Key rotation in the API's app view: the publisher's key history (rotations, what each
//! voided) and, per version, whether it is void and which key signed it. Kept apart so
//! that the app routes only call [`add_key_state`].

use atoll_catalog::{AppView, Catalog};
use atoll_registry::AppRef;
use serde_json::{json, Value};

use super::ApiError;

/// Add `rotated`, `key_history` and each version's `void` / `signer` to the app detail
/// `v` (whose `versions` are `view.entries`, in order).
pub fn add_key_state(
    v: &mut Value,
    c: &Catalog,
    app: &AppRef,
    view: &AppView,
) -> Result<(), ApiError> {
    let history = c.key_history(&app.publisher).map_err(ApiError::internal)?;
    v["rotated"] = json!(view.key_rotations > 0);
    v["key_history"] = json!(history);
    if let Some(versions) = v["versions"].as_array_mut() {
        for (out, e) in versions.iter_mut().zip(&view.entries) {
            out["void"] = json!(e.void);
            out["signer"] = json!(e.signer);
        }
    }
    Ok(())
}
