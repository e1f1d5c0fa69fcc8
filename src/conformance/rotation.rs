//! Attacks with a stolen signing key, and the recovery by key rotation (issue 12): a
//! thief signs sequence 2^53−1 to freeze an app (fast-forward), and a thief holding the
//! current key tries to rotate to a key of its own and goes on signing (key compromise).
//! Each attack has an identity of its own: a rotation changes its key state for good.

use std::collections::BTreeMap;

use anyhow::{ensure, Result};
use atoll_discovery::codec::Object;
use atoll_discovery::publish::rotate::sign_rotation;
use atoll_registry::objects::{LastSigned, RotationType, MAX_SAFE_INTEGER};
use atoll_registry::{AppRef, Envelope, Hash, Keypair, Rotation};

use super::lab::{carrier, event_of, now_ms, rows_of, sign_entry, stranger, Lab, Release};
use super::verdict::Observation;
use super::BoxFut;

/// A fresh identity (its root secret is its first key).
fn identity() -> Result<Keypair> {
    stranger()
}

/// What `key` signed legitimately: `release`'s sequence for its app.
fn last(release: &Release) -> LastSigned {
    LastSigned {
        entries: BTreeMap::from([(release.app.app.clone(), release.entry.sequence)]),
        ..LastSigned::default()
    }
}

/// Rotate `key` to its next key, naming `release` as the last it signed, announced
/// through the publisher's node (its own pipeline first, then the honest relay), as
/// `atoll key rotate` does.
async fn rotate(lab: &Lab, key: &Keypair, release: &Release) -> Result<Keypair> {
    let signed = sign_rotation(key, last(release), atoll_discovery::now_secs())?;
    atoll_discovery::publish::release::announce_signed(&lab.publisher.d, signed.event).await?;
    Ok(key.next())
}

/// Is `payload` stored void (signed by a retired key past its last legitimate sequence)?
async fn void(lab: &Lab, app: &AppRef, payload: Hash) -> bool {
    lab.view(app).await.is_some_and(|v| {
        v.entries
            .iter()
            .any(|e| e.payload_id == payload && e.void.is_some())
    })
}

/// The thief's copy of `key` signs `release`'s app at sequence 2^53−1.
fn frozen(lab: &Lab, release: &Release, key: &Keypair) -> Result<Hash> {
    let mut evil = release.entry.payload().clone();
    evil.sequence = MAX_SAFE_INTEGER;
    let evil = sign_entry(&evil, key)?;
    lab.serve(&event_of(&Object::Entry(evil.clone()), &carrier())?);
    Ok(evil.payload_id())
}

/// A thief with the first key signs sequence 2^53−1; the publisher rotates (naming its
/// last legitimate sequence) and publishes on with an ordinary sequence.
pub fn fast_forward(lab: &Lab) -> BoxFut<'_, Result<Observation>> {
    Box::pin(async move {
        let k0 = identity()?;
        let id = lab.app_id("ff");
        let v1 = lab.publish_as(&k0, &id, "1.0.0").await?;
        ensure!(lab.synced(&v1).await, "the node never synced {id} 1.0.0");
        let base = lab.begin()?;
        let evil = frozen(lab, &v1, &k0)?;
        ensure!(
            lab.wait(|| async { lab.head(&v1.app).await == Some(evil) })
                .await,
            "the node never took the thief's entry (signed by the then current key)"
        );
        let k1 = rotate(lab, &k0, &v1).await?;
        let mut obs = Observation::default();
        let voided = lab
            .wait(|| async {
                void(lab, &v1.app, evil).await
                    && lab.head(&v1.app).await == Some(v1.entry.payload_id())
            })
            .await;
        obs.fact(
            "the rotation voids the thief's 2^53−1 entry and the head falls back to 1.0.0",
            voided,
        );
        let v2 = lab.publish_as(&k1, &id, "2.0.0").await?;
        obs.fact(
            "the publisher's 2.0.0 under its new key, an ordinary sequence, becomes head",
            lab.synced(&v2).await,
        );
        obs.keeping("the thief's entry, void, as evidence");
        lab.finish(
            &base,
            &mut obs,
            &rows_of(&v2),
            &[format!("entry {}", evil.to_hex())],
        )
        .await?;
        Ok(obs)
    })
}

/// A thief holding the current key (not the root secret) tries to rotate to a key of its
/// own, and signs a fast-forward; the publisher rotates with the committed key, and the
/// retired key's later entries are refused.
pub fn key_compromise(lab: &Lab) -> BoxFut<'_, Result<Observation>> {
    Box::pin(async move {
        let k0 = identity()?;
        let id = lab.app_id("kc");
        let v1 = lab.publish_as(&k0, &id, "1.0.0").await?;
        ensure!(lab.synced(&v1).await, "the node never synced {id} 1.0.0");
        let k1 = rotate(lab, &k0, &v1).await?;
        let rotated = lab
            .wait(|| async {
                lab.view(&v1.app)
                    .await
                    .is_some_and(|v| v.key_rotations == 1)
            })
            .await;
        ensure!(
            rotated,
            "the node never accepted the publisher's first rotation"
        );
        let v2 = lab.publish_as(&k1, &id, "2.0.0").await?;
        ensure!(lab.synced(&v2).await, "the node never synced {id} 2.0.0");
        let base = lab.begin()?;
        // The thief holds k1 alone (not the root): the "next key" it derives from it is
        // not the committed k2.
        let thief = k1.current_key_only().next();
        let forged = Rotation {
            kind: RotationType,
            did: k0.did(),
            index: 2,
            key: thief.key_did(),
            next_key: thief.next_key_commitment(),
            last: LastSigned::default(),
            created_at: atoll_discovery::now_secs(),
        };
        let forged = Envelope::sign(&forged, &thief)?.verify::<Rotation>()?;
        lab.serve(&event_of(&Object::Rotation(forged), &thief.nostr_keys()?)?);
        let evil = frozen(lab, &v2, &k1)?;
        let mut obs = Observation::default();
        lab.refused(&base, "rotation-mismatch").await;
        ensure!(
            lab.wait(|| async { lab.head(&v2.app).await == Some(evil) })
                .await,
            "the node never took the thief's entry (signed by the then current key)"
        );
        let k2 = rotate(lab, &k1, &v2).await?;
        let recovered = lab
            .wait(|| async {
                void(lab, &v2.app, evil).await
                    && lab.head(&v2.app).await == Some(v2.entry.payload_id())
            })
            .await;
        obs.fact(
            "the committed rotation voids the thief's entry; the head falls back to 2.0.0",
            recovered,
        );
        let mut later = v2.entry.payload().clone();
        later.sequence = now_ms();
        let later = sign_entry(&later, &k1)?;
        lab.serve(&event_of(&Object::Entry(later), &carrier())?);
        lab.refused(&base, "signing-key").await;
        let v3 = lab.publish_as(&k2, &id, "3.0.0").await?;
        obs.fact(
            "the publisher's 3.0.0 under the committed key becomes head",
            lab.synced(&v3).await,
        );
        obs.fact(
            "the identity's key state moved by the publisher's rotations only",
            lab.view(&v2.app)
                .await
                .is_some_and(|v| v.key_rotations == 2),
        );
        obs.keeping("the thief's entry, void, as evidence");
        lab.finish(
            &base,
            &mut obs,
            &rows_of(&v3),
            &[format!("entry {}", evil.to_hex())],
        )
        .await?;
        Ok(obs)
    })
}
