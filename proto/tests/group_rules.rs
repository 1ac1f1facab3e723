//! Regression tests for the group log rules (§6): deep op chains, and rekeys concurrent with a
//! removal.

use trellis_proto::group::{
    GroupKind, GroupLog, GroupOp, LogOp, NewEpochKey, OpAction, Role, SealedShare, SignedGenesis,
};
use trellis_proto::*;

fn keys(n: u8) -> OrgKeys {
    OrgKeys::from_seeds([n; 32], [n ^ 0xaa; 32])
}

#[test]
fn deep_chain_does_not_overflow_a_small_stack() {
    let founder = keys(1);
    let genesis = SignedGenesis::create(&founder, "g", GroupKind::Sector, 1, [1; 16], &[3; 32], [4; 32]).unwrap();
    let mut log = GroupLog::new(genesis).unwrap();
    let n = 20_000usize;
    // Ids decrease along the chain, so the first op visited in id order is the deepest one.
    let id = |i: usize| {
        let mut b = [0xffu8; 32];
        b[..8].copy_from_slice(&(u64::MAX - i as u64).to_be_bytes());
        ItemId(b)
    };
    for i in 0..n {
        log.insert(LogOp {
            id: id(i),
            author: founder.org_id(),
            timestamp_ms: i as u64,
            seq: i as u64 + 1,
            op: GroupOp {
                parents: if i == 0 { vec![] } else { vec![id(i - 1)] },
                action: OpAction::Rotate { new_key: NewEpochKey { key_id: [0; 16], shares: vec![] } },
            },
        })
        .unwrap();
    }
    let st = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || log.compute())
        .unwrap()
        .join()
        .expect("compute overflowed a 2 MiB stack");
    assert_eq!(st.applied.len(), n);
    assert_eq!(st.epoch(), n as u64);
}

fn op(id: u8, author: &OrgKeys, parents: &[ItemId], action: OpAction) -> LogOp {
    LogOp {
        id: ItemId([id; 32]),
        author: author.org_id(),
        timestamp_ms: id as u64,
        seq: id as u64,
        op: GroupOp { parents: parents.to_vec(), action },
    }
}

fn fake_key(key_id: u8, to: &[&OrgKeys]) -> NewEpochKey {
    NewEpochKey {
        key_id: [key_id; 16],
        shares: to.iter().map(|k| SealedShare { to: k.org_id(), enc: [0; 32], sealed: vec![0; 48] }).collect(),
    }
}

/// Admin A rotates concurrently with founder F removing X, sealing the new key to X as well.
/// When the rotation is ordered after the removal, X holds the current key: the state must say
/// that a rotation is needed (§6.6). Before the fix, shares to non-members were dropped from
/// the epoch's recipients and `needs_rotation` stayed false.
#[test]
fn rekey_concurrent_with_removal_is_flagged() {
    let (f, a, x) = (keys(1), keys(2), keys(3));
    let genesis = SignedGenesis::create(&f, "g", GroupKind::Sector, 1, [1; 16], &[3; 32], [4; 32]).unwrap();
    for (remove_id, rotate_id, flagged) in [(0x40u8, 0x50u8, true), (0x50, 0x40, false)] {
        let mut log = GroupLog::new(genesis.clone()).unwrap();
        let add_a =
            op(0x10, &f, &[], OpAction::Add { member: a.key_bundle(0, u64::MAX / 2), role: Role::Admin, share: None });
        let add_x = op(
            0x20,
            &f,
            &[add_a.id],
            OpAction::Add { member: x.key_bundle(0, u64::MAX / 2), role: Role::Member, share: None },
        );
        let remove = op(
            remove_id,
            &f,
            &[add_x.id],
            OpAction::Remove { member: x.org_id(), cutoff_seq: 0, new_key: fake_key(7, &[&f, &a]) },
        );
        let rotate = op(rotate_id, &a, &[add_x.id], OpAction::Rotate { new_key: fake_key(8, &[&f, &a, &x]) });
        for o in [add_a, add_x, remove.clone(), rotate.clone()] {
            log.insert(o).unwrap();
        }
        let st = log.compute();
        assert!(!st.members.contains_key(&x.org_id()));
        assert_eq!(st.applied.len(), 4, "void: {:?}", st.void);
        assert_eq!(st.epoch(), 2);
        let current = st.current_epoch().unwrap();
        assert_eq!(current.recipients.contains(&x.org_id()), flagged);
        assert_eq!(st.needs_rotation(), flagged);
    }
}

/// Founder F and admin A remove each other concurrently, and A's removal has the smaller id, so
/// it is ordered first and F's removal is void by rule 3. Rule 4 must still let the more senior
/// founder stand (§6.5). Before the fix only *applied* ops were examined, so the tie-break by id
/// decided and the founder was removed.
#[test]
fn mutual_removal_keeps_the_founder_even_when_ordered_second() {
    let (f, a) = (keys(1), keys(2));
    let genesis = SignedGenesis::create(&f, "g", GroupKind::Sector, 1, [1; 16], &[3; 32], [4; 32]).unwrap();
    let mut log = GroupLog::new(genesis).unwrap();
    let add_a =
        op(0x10, &f, &[], OpAction::Add { member: a.key_bundle(0, u64::MAX / 2), role: Role::Admin, share: None });
    let a_removes_f =
        op(0x20, &a, &[add_a.id], OpAction::Remove { member: f.org_id(), cutoff_seq: 0, new_key: fake_key(7, &[&a]) });
    let f_removes_a =
        op(0x30, &f, &[add_a.id], OpAction::Remove { member: a.org_id(), cutoff_seq: 0, new_key: fake_key(8, &[&f]) });
    for o in [add_a, a_removes_f.clone(), f_removes_a.clone()] {
        log.insert(o).unwrap();
    }
    let st = log.compute();
    assert!(st.is_admin(&f.org_id()));
    assert!(!st.members.contains_key(&a.org_id()));
    assert_eq!(st.applied.last(), Some(&f_removes_a.id));
    assert!(st.void[&a_removes_f.id].contains("more senior"), "{:?}", st.void);
    assert_eq!(st.epoch(), 1);
}

/// Member X plants a self-promotion naming no parents (so it sorts first), which is void since
/// X is no admin then. Later X is promoted for real, and X and the older admin A remove each
/// other. Seniority must come from applied ops only, so A stands (§6.5). Before the fix the
/// void op counted and X won.
#[test]
fn void_self_promotion_buys_no_seniority() {
    let (f, a, x) = (keys(1), keys(2), keys(3));
    let genesis = SignedGenesis::create(&f, "g", GroupKind::Sector, 1, [1; 16], &[3; 32], [4; 32]).unwrap();
    let mut log = GroupLog::new(genesis).unwrap();
    let plant = op(0x01, &x, &[], OpAction::SetRole { member: x.org_id(), role: Role::Admin });
    let add_a =
        op(0x10, &f, &[], OpAction::Add { member: a.key_bundle(0, u64::MAX / 2), role: Role::Admin, share: None });
    let add_x = op(
        0x20,
        &f,
        &[add_a.id],
        OpAction::Add { member: x.key_bundle(0, u64::MAX / 2), role: Role::Member, share: None },
    );
    let promote = op(0x30, &a, &[add_x.id], OpAction::SetRole { member: x.org_id(), role: Role::Admin });
    let a_removes_x = op(
        0x40,
        &a,
        &[promote.id],
        OpAction::Remove { member: x.org_id(), cutoff_seq: 0, new_key: fake_key(7, &[&f, &a]) },
    );
    let x_removes_a = op(
        0x50,
        &x,
        &[promote.id],
        OpAction::Remove { member: a.org_id(), cutoff_seq: 0, new_key: fake_key(8, &[&f, &x]) },
    );
    for o in [plant.clone(), add_a, add_x, promote, a_removes_x.clone(), x_removes_a.clone()] {
        log.insert(o).unwrap();
    }
    let st = log.compute();
    assert!(st.void.contains_key(&plant.id));
    assert!(st.is_admin(&a.org_id()), "void: {:?}", st.void);
    assert!(!st.members.contains_key(&x.org_id()));
    assert!(st.applied.contains(&a_removes_x.id));
    assert!(st.void.contains_key(&x_removes_a.id));
}
