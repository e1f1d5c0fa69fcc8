//! Attacks by someone without the publisher's key: an entry for `<did>/<app>` not signed
//! by that DID (arbitrary installation), one app's entry or blobs offered as another's
//! (wrong software), and an entry replayed under another publisher.

use anyhow::{ensure, Result};
use atoll_discovery::codec::Object;
use atoll_registry::{AppRef, Envelope};

use super::lab::{
    carrier, entry_d, envelope_event, event_of, forged, now_ms, rows_of, sign_entry, stranger,
    tampered, Lab,
};
use super::verdict::Observation;
use super::BoxFut;

/// A thief signs a new app and a newer version under the publisher's DID.
pub fn arbitrary_installation(lab: &Lab) -> BoxFut<'_, Result<Observation>> {
    Box::pin(async move {
        let id = lab.app_id("arb");
        let v1 = lab.publish(&id, "1.0.0").await?;
        ensure!(lab.synced(&v1).await, "the node never synced {id} 1.0.0");
        let base = lab.begin()?;
        let thief = stranger()?;
        let keys = carrier();
        let mut new_app = v1.entry.payload().clone();
        new_app.app = format!("{id}-evil").parse()?;
        new_app.sequence = now_ms();
        lab.serve(&envelope_event(
            &keys,
            &entry_d(&new_app.app_ref()),
            &forged(&new_app, &thief)?,
        )?);
        let mut newer = v1.entry.payload().clone();
        newer.version = "9.9.9".parse()?;
        newer.sequence = now_ms() + 1;
        lab.serve(&envelope_event(
            &keys,
            &entry_d(&v1.app),
            &forged(&newer, &thief)?,
        )?);
        let mut obs = Observation::default();
        lab.refused_n(&base, "did-signature", 2).await;
        obs.fact(
            format!("no app {}", new_app.app),
            lab.view(&new_app.app_ref()).await.is_none(),
        );
        let (status, _) = lab.api.install(&new_app.app_ref()).await?;
        obs.fact(
            format!("the API refuses to install it ({status}) before any runtime is touched"),
            status == 404 && !lab.api.reached_runtime(),
        );
        obs.fact(
            "the head stays at the publisher's 1.0.0",
            lab.head(&v1.app).await == Some(v1.entry.payload_id()),
        );
        lab.finish(&base, &mut obs, &[], &[]).await?;
        Ok(obs)
    })
}

/// App A's entry under app B's address, and a stranger's entry for B naming A's manifest
/// and blobs.
pub fn wrong_software(lab: &Lab) -> BoxFut<'_, Result<Observation>> {
    Box::pin(async move {
        let a = lab.publish(&lab.app_id("wsa"), "1.0.0").await?;
        let b = lab.publish(&lab.app_id("wsb"), "1.0.0").await?;
        ensure!(
            lab.synced(&a).await && lab.synced(&b).await,
            "the node never synced the two apps"
        );
        let base = lab.begin()?;
        let env = Envelope::from_slice(&a.entry.envelope_bytes()?)?;
        lab.serve(&envelope_event(&carrier(), &entry_d(&b.app), &env)?);
        let thief = stranger()?;
        let mut as_b = a.entry.payload().clone();
        as_b.publisher = thief.did();
        as_b.app = b.app.app.clone();
        as_b.sequence = now_ms();
        let as_b = sign_entry(&as_b, &thief)?;
        lab.serve(&event_of(&Object::Entry(as_b.clone()), &carrier())?);
        let mut obs = Observation::default();
        lab.refused(&base, "namespace").await;
        lab.refused(&base, "manifest-mismatch").await;
        // The refused entry's rows go in the same write as the refusal; let it land.
        lab.wait(|| async { lab.view(&as_b.app_ref()).await.is_none() })
            .await;
        obs.fact(
            "the head of B stays B's own",
            lab.head(&b.app).await == Some(b.entry.payload_id()),
        );
        obs.fact(
            format!("no app {}", as_b.app_ref()),
            lab.view(&as_b.app_ref()).await.is_none(),
        );
        let (status, _) = lab.api.install(&as_b.app_ref()).await?;
        obs.fact(
            format!("the API refuses to install it ({status}) before any runtime is touched"),
            status == 404 && !lab.api.reached_runtime(),
        );
        lab.finish(&base, &mut obs, &[], &[]).await?;
        Ok(obs)
    })
}

/// The publisher's next entry carried by another DID's Nostr key, and its entry edited
/// to name another DID.
pub fn replay_other_publisher(lab: &Lab) -> BoxFut<'_, Result<Observation>> {
    Box::pin(async move {
        let id = lab.app_id("rep");
        let v1 = lab.publish(&id, "1.0.0").await?;
        ensure!(lab.synced(&v1).await, "the node never synced {id} 1.0.0");
        let base = lab.begin()?;
        let other = stranger()?;
        let other_keys = other.nostr_keys()?;
        let profile = atoll_discovery::publish::profile_for(
            &other,
            "other publisher",
            lab.victim.d.node_id(),
            Vec::new(),
        )?;
        lab.serve(&event_of(&Object::Publisher(profile), &other_keys)?);
        let mut v2 = v1.entry.payload().clone();
        v2.sequence = now_ms();
        v2.published_at += 1;
        let v2 = sign_entry(&v2, &lab.key)?;
        lab.serve(&event_of(&Object::Entry(v2.clone()), &other_keys)?);
        let mut moved = v1.entry.payload().clone();
        moved.publisher = other.did();
        moved.sequence = now_ms() + 1;
        lab.serve(&envelope_event(
            &other_keys,
            &entry_d(&moved.app_ref()),
            &tampered(&v1.entry, &moved)?,
        )?);
        let mut obs = Observation::default();
        lab.refused(&base, "did-signature").await;
        let carried = lab
            .wait(|| async { lab.head(&v1.app).await == Some(v2.payload_id()) })
            .await;
        obs.fact(
            "the carried entry counts as the publisher's own, never the carrier's",
            carried,
        );
        let theirs: AppRef = format!("{}/{}", other.did(), id).parse()?;
        obs.fact(
            format!("no app {theirs}"),
            lab.view(&theirs).await.is_none(),
        );
        // The publisher's entry is its own, whoever carried it; the carrier's profile is a
        // valid object of its own and stays.
        let legit = rows_of(&super::lab::Release {
            app: v1.app.clone(),
            entry: v2,
            blobs: v1.blobs.clone(),
        });
        let profile = vec![format!("publisher {}", other.did())];
        obs.keeping("the carrier's own valid profile");
        lab.finish(&base, &mut obs, &legit, &profile).await?;
        Ok(obs)
    })
}
