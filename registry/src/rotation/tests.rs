use super::*;
use crate::envelope::Envelope;
use crate::keys::{derive_seed, derive_separated_seed, Derivation, Keypair};
use crate::objects::RotationType;

const ROOT: [u8; 32] = [7; 32];

fn rotation(key: &Keypair, last: LastSigned) -> Rotation {
    Rotation {
        kind: RotationType,
        did: key.did(),
        index: key.index(),
        key: key.key_did(),
        next_key: key.next_key_commitment(),
        last,
        created_at: 1_700_000_000,
    }
}

fn id(r: &Rotation) -> Hash {
    Hash::of(&crate::canonical::to_canonical_bytes(r).unwrap())
}

fn inception(k0: &Keypair) -> KeyState {
    let mut s = KeyState::new(k0.did());
    s.inception = Some(k0.next_key_commitment());
    s
}

#[test]
fn derivation_vectors() {
    // Pinned: a change here changes every publisher's keys after a rotation.
    assert_eq!(derive_seed(&ROOT, 0), ROOT);
    assert_eq!(
        hex::encode(derive_seed(&ROOT, 1)),
        "ca4ee1cfba5cf893e13ecae00b74f5de137a204120cb173e5080c05419357683"
    );
    assert_eq!(
        hex::encode(derive_seed(&ROOT, 2)),
        "ef30c96c1032ada92a98d042d2dd36b5f50d988156fd9088ac80d5132b2b0c5c"
    );
    let k1 = Keypair::from_root(ROOT, 1);
    assert_eq!(k1.did(), Keypair::from_seed(ROOT).did());
    assert_eq!(
        k1.key_did(),
        Keypair::from_seed(derive_seed(&ROOT, 1)).key_did()
    );
    assert_eq!(
        k1.key_did().to_string(),
        "did:key:z6MkpFgumW65sJHx32x1r2U929Psf6mSLjkMogmhruj56BmC"
    );
    assert_eq!(
        key_commitment(&k1.key_did()),
        "59f038293f5dfda4a5b35b16c9a171f85783b03b45cb08b8676d0c6d02a1b2c7"
    );
    // The commitment is domain-separated: not the plain BLAKE3 of the key bytes.
    assert_ne!(
        key_commitment(&k1.key_did()),
        Hash::of(&k1.key_did().public_bytes()).to_hex()
    );
    // The iroh key stays with the root; the Nostr key follows the current key.
    let k0 = Keypair::from_seed(ROOT);
    assert_eq!(k0.iroh_secret_bytes(), k1.iroh_secret_bytes());
    assert_ne!(
        k0.nostr_keys().unwrap().public_key(),
        k1.nostr_keys().unwrap().public_key()
    );
    assert_eq!(k0.next().key_did(), k1.key_did());
    assert_eq!(k0.next_key_commitment(), key_commitment(&k1.key_did()));
}

#[test]
fn a_rotated_key_signs_for_its_identity_and_only_verify_rotated_takes_it() {
    let k1 = Keypair::from_root(ROOT, 1);
    let r = rotation(&k1, LastSigned::default());
    let env = Envelope::sign(&r, &k1).unwrap();
    let v = env.verify::<Rotation>().unwrap();
    assert_eq!(*v.signer(), k1.key_did());
    let profile = crate::objects::PublisherProfile {
        kind: Default::default(),
        did: k1.did(),
        name: "p".into(),
        links: Default::default(),
        next_key: Some(k1.next_key_commitment()),
        nostr_keys: vec![],
        iroh_nodes: vec![],
        relays: vec![],
        sequence: 1,
        updated_at: 1,
    };
    let env = Envelope::sign(&profile, &k1).unwrap();
    assert!(env.verify::<crate::PublisherProfile>().is_err());
    let v = env.verify_rotated::<crate::PublisherProfile>().unwrap();
    assert_eq!(*v.signer(), k1.key_did());
    assert_eq!(v.did, k1.did());
}

#[test]
fn the_first_rotation_needs_the_inception_commitment() {
    let k0 = Keypair::from_seed(ROOT);
    let k1 = k0.next();
    let r1 = rotation(&k1, LastSigned::default());
    // No commitment known yet: a gap (retried later), not a mismatch.
    let bare = KeyState::new(k0.did());
    assert!(matches!(
        bare.decide(&r1, &id(&r1)),
        Err(RotationRefusal::Gap {
            no_commitment: true,
            ..
        })
    ));
    let mut s = inception(&k0);
    assert_eq!(s.decide(&r1, &id(&r1)), Ok(RotationDecision::Accept));
    s.apply(&r1, id(&r1));
    assert_eq!(s.index(), 1);
    assert_eq!(s.current_key(), k1.key_did());
    assert_eq!(s.decide(&r1, &id(&r1)), Ok(RotationDecision::Duplicate));
}

#[test]
fn a_thief_with_the_current_key_cannot_rotate() {
    let k0 = Keypair::from_seed(ROOT);
    let s = inception(&k0);
    // The thief knows k0 but not the root's derivation... and a key of its own choosing
    // does not hash to the commitment.
    let thief = Keypair::from_seed([9; 32]);
    let mut r = rotation(&k0.next(), LastSigned::default());
    r.key = thief.key_did();
    r.next_key = key_commitment(&Keypair::from_seed([10; 32]).did());
    let err = s.decide(&r, &id(&r)).unwrap_err();
    assert!(
        matches!(err, RotationRefusal::CommitmentMismatch { index: 1, .. }),
        "{err}"
    );
    assert_eq!(err.code(), "rotation-mismatch");
}

#[test]
fn gaps_forks_and_reused_keys_are_refused() {
    let k0 = Keypair::from_seed(ROOT);
    let (k1, k2) = (k0.next(), k0.next().next());
    let mut s = inception(&k0);
    let r2 = rotation(&k2, LastSigned::default());
    let gap = s.decide(&r2, &id(&r2)).unwrap_err();
    assert!(gap.is_gap(), "{gap}");
    let r1 = rotation(&k1, LastSigned::default());
    s.apply(&r1, id(&r1));
    // The gap closes once the missing rotation is in.
    assert_eq!(s.decide(&r2, &id(&r2)), Ok(RotationDecision::Accept));
    // A different rotation 1: a fork.
    let mut other = r1.clone();
    other.created_at += 1;
    assert_eq!(
        s.decide(&other, &id(&other)),
        Err(RotationRefusal::Fork { index: 1 })
    );
    // Rotation 2 committing to a key used before (k0): reuse.
    let mut reuse = r2.clone();
    reuse.next_key = key_commitment(&k0.did());
    assert!(matches!(
        s.decide(&reuse, &id(&reuse)),
        Err(RotationRefusal::KeyReused { index: 2, .. })
    ));
    // Committing to itself: reuse too.
    let mut itself = r2.clone();
    itself.next_key = key_commitment(&k2.key_did());
    assert!(matches!(
        s.decide(&itself, &id(&itself)),
        Err(RotationRefusal::KeyReused { .. })
    ));
    // Another identity's rotation.
    let stranger = rotation(&Keypair::from_root([3; 32], 1), LastSigned::default());
    assert!(matches!(
        s.decide(&stranger, &id(&stranger)),
        Err(RotationRefusal::OtherIdentity { .. })
    ));
}

#[test]
fn retired_keys_sign_only_up_to_what_the_rotation_names() {
    let k0 = Keypair::from_seed(ROOT);
    let k1 = k0.next();
    let app: AppId = "hello".parse().unwrap();
    let other: AppId = "other".parse().unwrap();
    let subject = Keypair::from_seed([4; 32]).did();
    let mut s = inception(&k0);
    // Before a rotation k0 signs anything; k1 nothing.
    assert_eq!(s.may_sign(&k0.did(), Signed::Entry(&app, u64::MAX)), Ok(()));
    assert!(matches!(
        s.may_sign(&k1.key_did(), Signed::Profile(1)),
        Err(SignerRefusal::NotAKey { .. })
    ));
    let mut last = LastSigned::default();
    last.entries.insert(app.clone(), 5);
    last.profile = Some(3);
    last.endorsements.insert(subject, 2);
    let r1 = rotation(&k1, last);
    s.apply(&r1, id(&r1));
    assert_eq!(s.may_sign(&k0.did(), Signed::Entry(&app, 5)), Ok(()));
    assert_eq!(
        s.may_sign(&k0.did(), Signed::Entry(&app, (1 << 53) - 1)),
        Err(SignerRefusal::Retired {
            index: 0,
            last: Some(5)
        })
    );
    assert_eq!(
        s.may_sign(&k0.did(), Signed::Entry(&other, 1)),
        Err(SignerRefusal::Retired {
            index: 0,
            last: None
        })
    );
    assert_eq!(s.may_sign(&k0.did(), Signed::Profile(3)), Ok(()));
    assert!(s.may_sign(&k0.did(), Signed::Profile(4)).is_err());
    assert_eq!(
        s.may_sign(&k0.did(), Signed::Endorsement(&subject, 2)),
        Ok(())
    );
    assert!(s
        .may_sign(&k0.did(), Signed::Endorsement(&subject, 3))
        .is_err());
    assert!(s.may_sign(&k0.did(), Signed::Other).is_err());
    // The new key signs anything, from sequence 1 up.
    assert_eq!(s.may_sign(&k1.key_did(), Signed::Entry(&other, 1)), Ok(()));
    let msg = SignerRefusal::Retired {
        index: 0,
        last: Some(5),
    }
    .to_string();
    assert_eq!(
        msg,
        "signed by retired key 0 after its last legitimate sequence 5"
    );
}

#[test]
fn rotation_payload_checks() {
    let k1 = Keypair::from_root(ROOT, 1);
    let good = rotation(&k1, LastSigned::default());
    let sign = |r: &Rotation| Envelope::sign(r, &k1).unwrap().verify::<Rotation>();
    assert!(sign(&good).is_ok());
    let mut zero = good.clone();
    zero.index = 0;
    assert!(sign(&zero)
        .unwrap_err()
        .to_string()
        .contains("index: must be at least 1"));
    let mut upper = good.clone();
    upper.next_key = upper.next_key.to_uppercase();
    assert!(sign(&upper).unwrap_err().to_string().contains("next_key"));
    let mut huge = good.clone();
    huge.last.entries.insert("a".parse().unwrap(), 1 << 60);
    assert!(sign(&huge).unwrap_err().to_string().contains("2^53-1"));
    let mut many = good.clone();
    for i in 0..=MAX_LAST_ITEMS {
        many.last
            .entries
            .insert(format!("a{i}").parse().unwrap(), 1);
    }
    assert!(sign(&many).is_err());
}

#[test]
fn separated_keys_derive_k0_too_so_a_stolen_k0_cannot_rotate() {
    // The formula, by hand: BLAKE3 derive_key over root ‖ index (8 bytes big-endian).
    for index in [0u64, 1, 7] {
        let mut h =
            blake3::Hasher::new_derive_key("atoll 2026-12 identity key from root secret v1");
        h.update(&ROOT);
        h.update(&index.to_be_bytes());
        assert_eq!(
            derive_separated_seed(&ROOT, index),
            *h.finalize().as_bytes()
        );
    }
    let k0 = Keypair::derived(ROOT, 0, Derivation::Separated);
    assert_ne!(derive_separated_seed(&ROOT, 0), ROOT, "k0 is not the root");
    assert_ne!(k0.did(), Keypair::from_seed(ROOT).did());
    assert_eq!(k0.did(), k0.key_did());
    let k1 = k0.next();
    assert_eq!((k1.did(), k1.index()), (k0.did(), 1));
    assert_eq!(
        k1.key_did(),
        Keypair::from_seed(derive_separated_seed(&ROOT, 1)).key_did()
    );
    // A thief with k0 alone signs as k0 but derives another "next" key: the rotation it
    // could sign does not match k0's commitment.
    let stolen = k0.current_key_only();
    assert_eq!(stolen.key_did(), k0.key_did());
    assert_ne!(stolen.next().key_did(), k1.key_did());
    assert_ne!(stolen.next_key_commitment(), k0.next_key_commitment());
    let s = inception(&k0);
    let grab = rotation(&stolen.next(), LastSigned::default());
    assert_eq!(grab.did, k0.did(), "the thief claims the identity");
    assert!(
        matches!(
            s.decide(&grab, &id(&grab)),
            Err(RotationRefusal::CommitmentMismatch { .. })
        ),
        "{:?}",
        s.decide(&grab, &id(&grab))
    );
    let own = rotation(&k1, LastSigned::default());
    assert_eq!(s.decide(&own, &id(&own)), Ok(RotationDecision::Accept));
}
