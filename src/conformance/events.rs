//! Attacks with events no honest relay would pass on: oversized, malformed (not an
//! envelope) and with a forged Nostr signature. The hostile relay serves them verbatim;
//! the node's relay transport and pipeline refuse them, and it keeps syncing.

use anyhow::Result;
use atoll_discovery::codec::MAX_EVENT_BYTES;
use atoll_registry::AppRef;
use nostr_sdk::JsonUtil;

use super::lab::{carrier, entry_d, raw_event, rows_of, Lab, Release};
use super::verdict::Observation;
use super::BoxFut;

/// An event over the 128 KiB limit.
pub fn oversized_event(lab: &Lab) -> BoxFut<'_, Result<Observation>> {
    Box::pin(async move {
        let app: AppRef = format!("{}/{}", lab.key.did(), lab.app_id("big")).parse()?;
        let base = lab.begin()?;
        let big = raw_event(&carrier(), &entry_d(&app), &"x".repeat(MAX_EVENT_BYTES + 1))?;
        lab.serve(&big);
        let mut obs = Observation::default();
        lab.refused(&base, "oversized").await;
        let after = still_syncs(lab, &mut obs).await?;
        lab.finish(&base, &mut obs, &rows_of(&after), &[]).await?;
        Ok(obs)
    })
}

/// An event whose content is not a signed envelope, and one whose Nostr signature does
/// not verify.
pub fn malformed_event(lab: &Lab) -> BoxFut<'_, Result<Observation>> {
    Box::pin(async move {
        let app: AppRef = format!("{}/{}", lab.key.did(), lab.app_id("junk")).parse()?;
        let base = lab.begin()?;
        let junk = raw_event(&carrier(), &entry_d(&app), "this is not a signed envelope")?;
        lab.serve(&junk);
        let mut json: serde_json::Value = serde_json::from_str(&junk.as_json())?;
        json["content"] = "tampered after signing".into();
        lab.hostile.serve(json.to_string());
        let mut obs = Observation::default();
        lab.refused(&base, "malformed").await;
        lab.refused(&base, "nostr-signature").await;
        let after = still_syncs(lab, &mut obs).await?;
        lab.finish(&base, &mut obs, &rows_of(&after), &[]).await?;
        Ok(obs)
    })
}

/// Publish an ordinary app and check that the node still syncs it.
async fn still_syncs(lab: &Lab, obs: &mut Observation) -> Result<Release> {
    let rel = lab.publish(&lab.app_id("after"), "1.0.0").await?;
    obs.fact("the node keeps syncing", lab.synced(&rel).await);
    Ok(rel)
}
