//! Attacks on an app's history with entries the publisher really signed: an older
//! sequence replayed (rollback), two entries with one sequence (equivocation), and only
//! old entries served until they expire (indefinite freeze).

use anyhow::{ensure, Result};
use atoll_discovery::codec::Object;
use atoll_registry::bundle::SignOptions;

use super::lab::{carrier, event_of, origin, sign_entry, Lab};
use super::verdict::Observation;
use super::BoxFut;

/// A never-seen entry with a sequence below the head's.
pub fn rollback(lab: &Lab) -> BoxFut<'_, Result<Observation>> {
    Box::pin(async move {
        let id = lab.app_id("rb");
        let v1 = lab.publish(&id, "1.0.0").await?;
        let v2 = lab.publish(&id, "2.0.0").await?;
        ensure!(lab.synced(&v2).await, "the node never synced {id} 2.0.0");
        let base = lab.begin()?;
        let mut old = v1.entry.payload().clone();
        old.sequence = v1.entry.sequence + 1;
        old.published_at += 1;
        let old = sign_entry(&old, &lab.key)?;
        lab.serve(&event_of(&Object::Entry(old), &carrier())?);
        lab.serve(&event_of(&Object::Entry(v1.entry.clone()), &carrier())?);
        let mut obs = Observation::default();
        lab.refused(&base, "rollback").await;
        obs.fact(
            "the head stays at 2.0.0",
            lab.head(&v2.app).await == Some(v2.entry.payload_id()),
        );
        lab.finish(&base, &mut obs, &[], &[]).await?;
        Ok(obs)
    })
}

/// A second, different entry with the head's sequence, signed by the publisher.
pub fn equivocation(lab: &Lab) -> BoxFut<'_, Result<Observation>> {
    Box::pin(async move {
        let id = lab.app_id("eq");
        let v1 = lab.publish(&id, "1.0.0").await?;
        ensure!(lab.synced(&v1).await, "the node never synced {id} 1.0.0");
        let base = lab.begin()?;
        let mut twin = v1.entry.payload().clone();
        twin.published_at += 7;
        let twin = sign_entry(&twin, &lab.key)?;
        lab.serve(&event_of(&Object::Entry(twin.clone()), &carrier())?);
        let mut obs = Observation::default();
        lab.refused(&base, "equivocation").await;
        let flagged = lab
            .wait(|| async {
                lab.view(&v1.app)
                    .await
                    .is_some_and(|v| v.summary.equivocated && !v.summary.auto_installable())
            })
            .await;
        obs.fact(
            "the app is flagged equivocated, so never installed or updated by itself",
            flagged,
        );
        refused_install(lab, &mut obs, &v1.app, "equivocated").await?;
        obs.keeping("the other twin, as evidence");
        let allowed = vec![format!("entry {}", twin.payload_id().to_hex())];
        lab.finish(&base, &mut obs, &[], &allowed).await?;
        Ok(obs)
    })
}

/// The hostile relay serves only an old entry, whose validity has run out, and nothing
/// newer.
pub fn indefinite_freeze(lab: &Lab) -> BoxFut<'_, Result<Observation>> {
    Box::pin(async move {
        let id = lab.app_id("frz");
        let now = atoll_discovery::now_secs();
        let node = Some((
            lab.publisher.d.node_id(),
            lab.publisher
                .d
                .blobs()
                .addrs()
                .iter()
                .map(ToString::to_string)
                .collect(),
        ));
        let old = lab.sign(
            &lab.key,
            &id,
            "1.0.0",
            SignOptions {
                published_at: Some(now - 2_000),
                ttl_secs: Some(1_000),
                origin: origin(node, Vec::new()),
                ..SignOptions::default()
            },
        )?;
        let base = lab.begin()?;
        lab.serve(&event_of(&Object::Entry(old.entry.clone()), &carrier())?);
        let mut obs = Observation::default();
        lab.refused(&base, "expired").await;
        let view = lab.view(&old.app).await;
        obs.fact(
            "the entry is shown stale, never installed or updated by itself",
            view.as_ref()
                .is_none_or(|v| v.summary.stale && !v.summary.auto_installable()),
        );
        refused_install(lab, &mut obs, &old.app, "stale").await?;
        obs.fact(
            "its blobs are never fetched",
            !lab.holds(&old.entry.manifest.hash).await,
        );
        obs.keeping("the genuine old entry, marked stale");
        let allowed: Vec<String> = super::lab::rows_of(&old)
            .into_iter()
            .filter(|r| !r.starts_with("manifest "))
            .collect();
        lab.finish(&base, &mut obs, &[], &allowed).await?;
        Ok(obs)
    })
}

/// The API's install guard refuses `app` with `reason` before any runtime is touched.
async fn refused_install(
    lab: &Lab,
    obs: &mut Observation,
    app: &atoll_registry::AppRef,
    reason: &str,
) -> Result<()> {
    let (status, reasons) = lab.api.install(app).await?;
    obs.fact(
        format!(
            "the API refuses to install it ({status}: {}) before any runtime is touched",
            reasons.join(", ")
        ),
        status == 403 && reasons.iter().any(|r| r == reason) && !lab.api.reached_runtime(),
    );
    Ok(())
}
