//! End-to-end protocol flows over the pure API: found a group, add members, publish at each TLP,
//! open as members and non-members, remove with rekey.

use trellis_proto::envelope::EnvelopeRandomness;
use trellis_proto::group::{
    GroupKind, GroupLog, GroupOp, LogOp, OpAction, Role, SignedGenesis, open_epoch_share, open_genesis_key,
    seal_epoch_key,
};
use trellis_proto::items::Advisory;
use trellis_proto::*;

fn keys(n: u8) -> OrgKeys {
    OrgKeys::from_seeds([n; 32], [n ^ 0xaa; 32])
}

fn rand(n: u8) -> EnvelopeRandomness {
    EnvelopeRandomness { nonce: [n; 24], content_key: [n.wrapping_add(1); 32], hpke_seed: [n.wrapping_add(2); 32] }
}

fn advisory(title: &str) -> Payload {
    let mut a = Advisory::text(title, "s", 1);
    a.aliases = vec!["CVE-2021-44228".into()];
    Payload::Advisory(a)
}

fn op_env(author: &OrgKeys, group: GroupId, seq: u64, op: GroupOp) -> (Envelope, LogOp) {
    let payload = Payload::GroupOp(op.clone());
    let env = Envelope::build(
        author,
        &PublishRequest {
            group,
            epoch: 0,
            seq,
            timestamp_ms: 10 + seq,
            tlp: Tlp::Clear,
            payload: &payload,
            recipients: Recipients::Clear,
        },
        &rand(seq as u8),
    )
    .unwrap();
    let log =
        LogOp { id: env.id, author: author.org_id(), timestamp_ms: env.header.timestamp_ms, seq: env.header.seq, op };
    (env, log)
}

#[test]
fn found_add_publish_remove_rekey() {
    let (a, b, c) = (keys(1), keys(2), keys(3));
    let k0 = [42u8; 32];
    let genesis = SignedGenesis::create(&a, "water", GroupKind::Sector, 5, [1; 16], &k0, [3; 32]).unwrap();
    assert_eq!(open_genesis_key(&genesis, &a), Some(k0));
    assert_eq!(open_genesis_key(&genesis, &b), None);
    let mut log = GroupLog::new(genesis.clone()).unwrap();
    let gid = log.id;

    let add = |who: &OrgKeys, parents: Vec<ItemId>, seq: u64| {
        let share = seal_epoch_key(&gid, &k0, &[(who.org_id(), who.encryption().public())], [9; 32]).0;
        op_env(
            &a,
            gid,
            seq,
            GroupOp {
                parents,
                action: OpAction::Add {
                    member: who.key_bundle(0, u64::MAX / 2),
                    role: Role::Member,
                    share: Some(share),
                },
            },
        )
    };
    let (env_b, op_b) = add(&b, vec![], 1);
    let (env_c, op_c) = add(&c, vec![op_b.id], 2);
    log.insert(op_c.clone()).unwrap();
    assert!(log.compute().pending.contains(&op_c.id));
    log.insert(op_b.clone()).unwrap();
    let st = log.compute();
    assert_eq!(st.members.len(), 3);
    assert_eq!(st.heads, vec![op_c.id]);
    // B opens its share from the Add op.
    let Payload::GroupOp(GroupOp { action: OpAction::Add { share: Some(s), .. }, .. }) =
        env_b.open(None, &[]).unwrap().payload
    else {
        panic!()
    };
    assert_eq!(open_epoch_share(&gid, &s.key_id, &s.shares, &b), Some(k0));
    let _ = env_c;

    // GREEN from B readable with k0, not without.
    let adv = advisory("log4shell");
    let green = Envelope::build(
        &b,
        &PublishRequest {
            group: gid,
            epoch: 0,
            seq: 1,
            timestamp_ms: 20,
            tlp: Tlp::Green,
            payload: &adv,
            recipients: Recipients::Group { epoch_key: &k0 },
        },
        &rand(7),
    )
    .unwrap();
    let got = Envelope::decode_verified(&green.bytes).unwrap();
    assert_eq!(got.id, green.id);
    assert_eq!(got.open(None, &[k0]).unwrap().payload, adv);
    assert_eq!(got.open(None, &[[1; 32]]), Err(ProtoError::NoKey));

    // AMBER to C only.
    let to = [(c.org_id(), c.encryption().public())];
    let amber = Envelope::build(
        &b,
        &PublishRequest {
            group: gid,
            epoch: 0,
            seq: 2,
            timestamp_ms: 21,
            tlp: Tlp::Amber,
            payload: &adv,
            recipients: Recipients::Sealed { to: &to },
        },
        &rand(8),
    )
    .unwrap();
    let got = Envelope::decode_verified(&amber.bytes).unwrap();
    assert_eq!(got.open(Some(&c), &[]).unwrap().payload, adv);
    assert_eq!(got.open(Some(&a), &[k0]), Err(ProtoError::NoKey));

    // A removes C with a new key for A and B.
    let k1 = [43u8; 32];
    let nk = seal_epoch_key(
        &gid,
        &k1,
        &[(a.org_id(), a.encryption().public()), (b.org_id(), b.encryption().public())],
        [4; 32],
    )
    .0;
    let (_, op_rm) = op_env(
        &a,
        gid,
        3,
        GroupOp {
            parents: vec![op_c.id],
            action: OpAction::Remove { member: c.org_id(), cutoff_seq: 0, new_key: nk.clone() },
        },
    );
    log.insert(op_rm).unwrap();
    let st = log.compute();
    assert_eq!(st.epoch(), 1);
    assert!(!st.members.contains_key(&c.org_id()));
    assert!(!st.needs_rotation());
    assert_eq!(open_epoch_share(&gid, &nk.key_id, &nk.shares, &c), None);
    assert_eq!(open_epoch_share(&gid, &nk.key_id, &nk.shares, &b), Some(k1));
    assert_eq!(st.check_sender(&c.org_id(), Kind::Advisory, 1), Err(ProtoError::NotAMember(c.org_id())));
}

#[test]
fn mutation_of_any_byte_is_rejected() {
    let b = keys(2);
    let adv = advisory("x");
    let env = Envelope::build(
        &b,
        &PublishRequest {
            group: GroupId([1; 32]),
            epoch: 0,
            seq: 1,
            timestamp_ms: 1,
            tlp: Tlp::Clear,
            payload: &adv,
            recipients: Recipients::Clear,
        },
        &rand(1),
    )
    .unwrap();
    for i in 0..env.bytes.len() {
        let mut m = env.bytes.clone();
        m[i] ^= 0x01;
        assert!(Envelope::decode_verified(&m).is_err(), "byte {i} flip accepted");
    }
    let mut longer = env.bytes.clone();
    longer.push(0);
    assert!(matches!(Envelope::decode(&longer), Err(ProtoError::TrailingBytes(1))));
}

/// A stored item is read again with the key `open` returned, for each body form, and only with it.
#[test]
fn reopen_with_the_key_that_opened() {
    let (a, b) = (keys(1), keys(2));
    let gid = GroupId([7; 32]);
    let epoch_key = [42u8; 32];
    let to = [(b.org_id(), b.encryption().public())];
    let forms = [
        (Tlp::Clear, Recipients::Clear),
        (Tlp::Green, Recipients::Group { epoch_key: &epoch_key }),
        (Tlp::Amber, Recipients::Sealed { to: &to }),
    ];
    for (i, (tlp, recipients)) in forms.into_iter().enumerate() {
        let payload = advisory(&format!("reopen {i}"));
        let req = PublishRequest {
            group: gid,
            epoch: 0,
            seq: i as u64 + 1,
            timestamp_ms: 10,
            tlp,
            payload: &payload,
            recipients,
        };
        let env = Envelope::build(&a, &req, &rand(i as u8)).unwrap();
        let env = Envelope::decode(&env.bytes).unwrap();
        let opened = env.open(Some(&b), &[epoch_key]).unwrap();
        match tlp {
            Tlp::Clear => assert_eq!(opened.key, None),
            Tlp::Green => assert_eq!(opened.key, Some(BodyKey::Epoch(epoch_key))),
            _ => assert_eq!(opened.key, Some(BodyKey::Content(rand(i as u8).content_key))),
        }
        assert_eq!(env.reopen(opened.key.as_ref()).unwrap(), payload, "{tlp:?}");
        if tlp == Tlp::Clear {
            continue;
        }
        // No key, a wrong key, or a key of the other form: no payload.
        assert!(matches!(env.reopen(None), Err(ProtoError::NoKey)));
        let wrong = match opened.key.unwrap() {
            BodyKey::Epoch(_) => [BodyKey::Epoch([1; 32]), BodyKey::Content(epoch_key)],
            BodyKey::Content(k) => [BodyKey::Content([1; 32]), BodyKey::Epoch(k)],
        };
        for w in wrong {
            assert!(env.reopen(Some(&w)).is_err(), "{tlp:?} opened with {w:?}");
        }
    }
}
