//! Attacks by a mirror that alters what it hands on (a relay re-serving events, a blob
//! source): an added dependency (extraneous dependencies), another version's manifest or
//! artifacts (mix-and-match), and a mirror that lies, withholds or stalls while the
//! origin still serves the update (malicious mirrors preventing updates).

use std::sync::Arc;

use anyhow::{ensure, Result};
use atoll_discovery::announce::{MirrorAnnouncement, MirrorType};
use atoll_discovery::codec::Object;
use atoll_registry::bundle::SignOptions;
use atoll_registry::objects::{ArtifactKind, BlobRef};
use atoll_registry::{Envelope, Hash};

use super::lab::{
    carrier, entry_d, envelope_event, event_of, now_ms, origin, rows_of, sign_entry, tampered, Lab,
};
use super::origin::Behaviour;
use super::provider::{HostileProvider, Mode};
use super::verdict::Observation;
use super::BoxFut;

/// A signed entry with an extra image added, and a manifest altered on its way to add a
/// container.
pub fn extraneous_dependencies(lab: &Lab) -> BoxFut<'_, Result<Observation>> {
    Box::pin(async move {
        let id = lab.app_id("dep");
        let v1 = lab.publish(&id, "1.0.0").await?;
        ensure!(lab.synced(&v1).await, "the node never synced {id} 1.0.0");
        // A release served only by the HTTPS origin, which will alter its manifest.
        let id2 = lab.app_id("dep");
        let rel = lab.sign(
            &lab.key,
            &id2,
            "1.0.0",
            SignOptions {
                origin: origin(None, vec![lab.origin.base().to_owned()]),
                ..SignOptions::default()
            },
        )?;
        let manifest = lab.blob_bytes(&id2, "1.0.0", &rel.entry.manifest.hash)?;
        let mut altered: serde_json::Value = serde_json::from_slice(&manifest)?;
        if let Some(containers) = altered.get_mut("containers").and_then(|c| c.as_array_mut()) {
            let mut extra = containers.first().cloned().unwrap_or_default();
            extra["name"] = "miner".into();
            containers.push(extra);
        }
        let altered = serde_json::to_vec(&altered)?;
        let altered_hash = Hash::of(&altered);
        lab.origin.set(
            &rel.entry.manifest.hash,
            Behaviour::Serve(Arc::new(altered)),
        );
        for (hash, _) in rel.blobs.iter().skip(1) {
            let bytes = lab.blob_bytes(&id2, "1.0.0", hash)?;
            lab.origin.set(hash, Behaviour::Serve(Arc::new(bytes)));
        }
        let base = lab.begin()?;
        let mut added = v1.entry.payload().clone();
        let mut image = added
            .artifacts
            .iter()
            .find(|a| a.kind == ArtifactKind::Image)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("the release has no image"))?;
        image.path = "images/extra.oci.tar".into();
        image.blob = BlobRef {
            hash: Hash::of(b"an extraneous image"),
            size: 19,
        };
        added.artifacts.push(image);
        added.sequence = now_ms();
        lab.serve(&envelope_event(
            &carrier(),
            &entry_d(&v1.app),
            &tampered(&v1.entry, &added)?,
        )?);
        lab.serve(&event_of(&Object::Entry(rel.entry.clone()), &carrier())?);
        let mut obs = Observation::default();
        lab.refused(&base, "did-signature").await;
        lab.refused(&base, "blob-size").await;
        obs.fact(
            "the head stays at the signed 1.0.0",
            lab.head(&v1.app).await == Some(v1.entry.payload_id()),
        );
        let attached = lab
            .view(&rel.app)
            .await
            .is_some_and(|v| v.manifest_attached);
        obs.fact(
            "the altered manifest is never attached nor stored",
            !attached && !lab.holds(&altered_hash).await,
        );
        lab.finish_without_manifest(
            &base,
            &mut obs,
            &rel,
            "the publisher's genuine entry, until a source serves its manifest",
        )
        .await?;
        Ok(obs)
    })
}

/// Version 2's entry with version 1's manifest or artifacts, and an entry naming 3.0.0
/// with version 1's manifest.
pub fn mix_and_match(lab: &Lab) -> BoxFut<'_, Result<Observation>> {
    Box::pin(async move {
        let id = lab.app_id("mix");
        let v1 = lab.publish(&id, "1.0.0").await?;
        let v2 = lab.publish(&id, "2.0.0").await?;
        ensure!(lab.synced(&v2).await, "the node never synced {id} 2.0.0");
        let base = lab.begin()?;
        let keys = carrier();
        let mut e = v2.entry.payload().clone();
        e.manifest = v1.entry.manifest;
        e.sequence = now_ms();
        lab.serve(&envelope_event(
            &keys,
            &entry_d(&v2.app),
            &tampered(&v2.entry, &e)?,
        )?);
        let mut e = v2.entry.payload().clone();
        e.artifacts = v1.entry.artifacts.clone();
        e.sequence = now_ms() + 1;
        lab.serve(&envelope_event(
            &keys,
            &entry_d(&v2.app),
            &tampered(&v2.entry, &e)?,
        )?);
        let mut e = v2.entry.payload().clone();
        e.version = "3.0.0".parse()?;
        e.manifest = v1.entry.manifest;
        e.artifacts = v1.entry.artifacts.clone();
        e.sequence = now_ms() + 2;
        let signed = sign_entry(&e, &lab.key)?;
        lab.serve(&event_of(&Object::Entry(signed), &keys)?);
        let mut obs = Observation::default();
        lab.refused_n(&base, "did-signature", 2).await;
        lab.refused(&base, "manifest-mismatch").await;
        let back = lab
            .wait(|| async { lab.head(&v2.app).await == Some(v2.entry.payload_id()) })
            .await;
        obs.fact("the head stays at the signed 2.0.0", back);
        lab.finish(&base, &mut obs, &[], &[]).await?;
        Ok(obs)
    })
}

/// The update is withheld by one relay (it serves only the old entry and a doctored
/// update) and a mirror that answers with junk is announced for its blobs; the honest
/// relay and the origin still deliver it. Then a release whose origin is down: the junk
/// mirror is asked, left, and the next source (an HTTPS base) delivers.
pub fn malicious_mirrors(lab: &Lab) -> BoxFut<'_, Result<Observation>> {
    Box::pin(async move {
        let id = lab.app_id("mir");
        let v1 = lab.publish(&id, "1.0.0").await?;
        ensure!(lab.synced(&v1).await, "the node never synced {id} 1.0.0");
        let liar = HostileProvider::start(Mode::Junk).await?;
        let down = HostileProvider::start(Mode::Stall).await?;
        let down_origin = Some((down.node_id(), down.addrs()));
        down.shutdown().await;
        let id2 = lab.app_id("mir");
        let rel = lab.sign(
            &lab.key,
            &id2,
            "1.0.0",
            SignOptions {
                origin: origin(down_origin, vec![lab.origin.base().to_owned()]),
                ..SignOptions::default()
            },
        )?;
        for (hash, _) in &rel.blobs {
            let bytes = lab.blob_bytes(&id2, "1.0.0", hash)?;
            lab.origin.set(hash, Behaviour::Serve(Arc::new(bytes)));
        }
        let base = lab.begin()?;
        let keys = carrier();
        lab.serve(&event_of(&Object::Entry(v1.entry.clone()), &keys)?);
        let v2 = lab.publish(&id, "2.0.0").await?;
        lab.serve(&mirror_event(&liar, &v2)?);
        let mut doctored = v2.entry.payload().clone();
        doctored.version = "2.0.1".parse()?;
        doctored.sequence = now_ms();
        lab.serve(&envelope_event(
            &keys,
            &entry_d(&v2.app),
            &tampered(&v2.entry, &doctored)?,
        )?);
        let mut obs = Observation::default();
        lab.refused(&base, "did-signature").await;
        obs.fact(
            "the update 2.0.0 arrives from the origin, verified",
            lab.synced(&v2).await,
        );
        lab.serve(&mirror_event(&liar, &rel)?);
        lab.serve(&event_of(&Object::Entry(rel.entry.clone()), &keys)?);
        let synced = lab.synced(&rel).await;
        obs.fact(
            format!(
                "with the origin down, the junk mirror is asked ({} requests), left, and the \
                 HTTPS base delivers",
                liar.asked()
            ),
            synced && liar.asked() > 0,
        );
        liar.shutdown().await;
        for (hash, _) in &rel.blobs {
            lab.origin.forget(hash);
        }
        let mut legit = rows_of(&v2);
        legit.extend(rows_of(&rel));
        lab.finish(&base, &mut obs, &legit, &[]).await?;
        Ok(obs)
    })
}

/// A mirror announcement by `mirror` for every blob of `release`.
fn mirror_event(
    mirror: &HostileProvider,
    release: &super::lab::Release,
) -> Result<nostr_sdk::Event> {
    let announcement = MirrorAnnouncement {
        kind: MirrorType,
        node: mirror.key().did(),
        addrs: mirror.addrs(),
        relays: Vec::new(),
        manifest: release.entry.manifest.hash,
        blobs: release.blobs.iter().map(|(h, _)| *h).collect(),
        announced_at_ms: now_ms(),
    };
    let signed = Envelope::sign(&announcement, mirror.key().keypair())?.verify()?;
    event_of(&Object::Mirror(signed), &mirror.key().nostr_keys()?)
}
