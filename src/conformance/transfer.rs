//! Attacks on blob transfer: a source that never stops sending (endless data) and one
//! that goes silent (slow retrieval). Every byte is checked against the size and BLAKE3
//! the publisher signed; a silent source is left after the stall timeout.

use anyhow::Result;
use atoll_discovery::codec::Object;
use atoll_registry::bundle::SignOptions;

use super::lab::{carrier, event_of, origin, rows_of, stranger, Lab};
use super::origin::Behaviour;
use super::provider::{HostileProvider, Mode};
use super::verdict::Observation;
use super::BoxFut;

/// An entry whose only source, an HTTPS origin, sends bytes forever.
pub fn endless_data(lab: &Lab) -> BoxFut<'_, Result<Observation>> {
    Box::pin(async move {
        let attacker = stranger()?;
        let id = lab.app_id("endless");
        let rel = lab.sign(
            &attacker,
            &id,
            "1.0.0",
            SignOptions {
                origin: origin(None, vec![lab.origin.base().to_owned()]),
                ..SignOptions::default()
            },
        )?;
        for (hash, _) in &rel.blobs {
            lab.origin.set(hash, Behaviour::Endless);
        }
        let base = lab.begin()?;
        lab.serve(&event_of(&Object::Entry(rel.entry.clone()), &carrier())?);
        let mut obs = Observation::default();
        lab.refused(&base, "blob-size").await;
        let mut held = false;
        for (hash, _) in &rel.blobs {
            held |= lab.holds(hash).await;
        }
        obs.fact("no byte of the endless stream is kept", !held);
        lab.finish_without_manifest(
            &base,
            &mut obs,
            &rel,
            "the signed entry, listed without a manifest until a source behaves",
        )
        .await?;
        Ok(obs)
    })
}

/// An entry whose origin (an iroh provider) accepts the request and then says nothing;
/// its HTTPS origin serves the right bytes.
pub fn slow_retrieval(lab: &Lab) -> BoxFut<'_, Result<Observation>> {
    Box::pin(async move {
        let staller = HostileProvider::start(Mode::Stall).await?;
        let id = lab.app_id("slow");
        let rel = lab.sign(
            &lab.key,
            &id,
            "1.0.0",
            SignOptions {
                origin: origin(
                    Some((staller.node_id(), staller.addrs())),
                    vec![lab.origin.base().to_owned()],
                ),
                ..SignOptions::default()
            },
        )?;
        for (hash, _) in &rel.blobs {
            let bytes = lab.blob_bytes(&id, "1.0.0", hash)?;
            lab.origin
                .set(hash, Behaviour::Serve(std::sync::Arc::new(bytes)));
        }
        let base = lab.begin()?;
        let started = std::time::Instant::now();
        lab.serve(&event_of(&Object::Entry(rel.entry.clone()), &carrier())?);
        let mut obs = Observation::default();
        let synced = lab.synced(&rel).await;
        obs.fact(
            format!(
                "the silent origin is left after the stall timeout ({} s) and the blobs come \
                 from the next source, verified, in {:.1} s",
                super::lab::STALL.as_secs(),
                started.elapsed().as_secs_f64()
            ),
            synced,
        );
        staller.shutdown().await;
        lab.finish(&base, &mut obs, &rows_of(&rel), &[]).await?;
        Ok(obs)
    })
}
