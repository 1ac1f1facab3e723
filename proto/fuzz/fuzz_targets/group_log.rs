//! Fuzz target `group_log`: the fuzz input is read as a small program that writes a membership
//! op log (authors, actions, targets, roles and parent links drawn from the bytes, including
//! unknown parents and bad key bundles). The log is computed twice, from opposite insertion
//! orders, and must give the same state (§6.4) and keep the rules' invariants: every op is
//! applied, void or pending; the group always has an admin; epochs count up by one.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use trellis_proto::group::{
    GroupKind, GroupLog, GroupOp, LogOp, NewEpochKey, OpAction, Role, SealedShare, SignedGenesis,
};
use trellis_proto::ids::tagged_hash;
use trellis_proto::keys::SignedKeyBundle;
use trellis_proto::{ItemId, OrgId, OrgKeys};

const ORGS: usize = 6;
const MAX_OPS: usize = 24;

struct World {
    orgs: Vec<OrgId>,
    /// Per org: bundles created at 0, 1000, 2000 ms, and one with a broken signature.
    bundles: Vec<Vec<SignedKeyBundle>>,
    genesis: SignedGenesis,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let keys: Vec<OrgKeys> = (0..ORGS as u8).map(|i| OrgKeys::from_seeds([i + 1; 32], [i + 101; 32])).collect();
    let bundles = keys
        .iter()
        .map(|k| {
            let mut v: Vec<SignedKeyBundle> = (0..3).map(|t| k.key_bundle(t * 1000, u64::MAX / 2)).collect();
            let mut broken = v[0].clone();
            broken.sig.0[5] ^= 1;
            v.push(broken);
            v
        })
        .collect();
    let genesis = SignedGenesis::create(&keys[0], "fuzz", GroupKind::Sector, 0, [1; 16], &[3; 32], [4; 32])
        .expect("genesis");
    World { orgs: keys.iter().map(|k| k.org_id()).collect(), bundles, genesis }
});

struct Bytes<'a>(&'a [u8]);
impl Bytes<'_> {
    fn next(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }
}

fn role(b: u8) -> Role {
    match b % 3 {
        0 => Role::Admin,
        1 => Role::Member,
        _ => Role::Reader,
    }
}

fn key(w: &World, key_id: u8, mask: u8) -> NewEpochKey {
    NewEpochKey {
        key_id: [key_id; 16],
        shares: (0..ORGS)
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| SealedShare { to: w.orgs[i], enc: [0; 32], sealed: vec![0; 48] })
            .collect(),
    }
}

fn build(data: &[u8]) -> Vec<LogOp> {
    let w = &*WORLD;
    let mut input = Bytes(data);
    let mut ops: Vec<LogOp> = Vec::new();
    while ops.len() < MAX_OPS {
        let start = input.0;
        let (Some(author), Some(kind), Some(nparents)) = (input.next(), input.next(), input.next()) else {
            break;
        };
        let mut parents = Vec::new();
        for _ in 0..nparents % 4 {
            let Some(p) = input.next() else { break };
            if p == 0xff {
                parents.push(ItemId([0xee; 32])); // never known: the op stays pending
            } else if !ops.is_empty() {
                parents.push(ops[p as usize % ops.len()].id);
            }
        }
        let (a, b) = (input.next().unwrap_or(0), input.next().unwrap_or(0));
        let target = a as usize % ORGS;
        let action = match kind % 6 {
            0 => OpAction::Add {
                member: w.bundles[target][b as usize % 4].clone(),
                role: role(b >> 2),
                share: (b & 0x80 != 0).then(|| key(w, b >> 4, 1 << target)),
            },
            1 => OpAction::Remove { member: w.orgs[target], cutoff_seq: b as u64, new_key: key(w, b, !(1 << target)) },
            2 => OpAction::SetRole { member: w.orgs[target], role: role(b) },
            3 => OpAction::Leave { cutoff_seq: b as u64 },
            4 => OpAction::Rotate { new_key: key(w, a, b) },
            _ => OpAction::UpdateKey { bundle: w.bundles[author as usize % ORGS][b as usize % 4].clone() },
        };
        let used = &start[..start.len() - input.0.len()];
        let index = (ops.len() as u64).to_be_bytes();
        ops.push(LogOp {
            id: ItemId(tagged_hash("fuzz/op", &[&index, used])),
            author: w.orgs[author as usize % ORGS],
            timestamp_ms: ops.len() as u64,
            seq: ops.len() as u64 + 1,
            op: GroupOp { parents, action },
        });
    }
    ops
}

fuzz_target!(|data: &[u8]| {
    let ops = build(data);
    let mut forward = GroupLog::new(WORLD.genesis.clone()).expect("genesis verifies");
    let mut backward = forward.clone();
    for op in &ops {
        forward.insert(op.clone()).expect("within limits");
    }
    for op in ops.iter().rev() {
        backward.insert(op.clone()).expect("within limits");
    }
    let s = forward.compute();
    assert_eq!(s, backward.compute(), "state depends on insertion order");
    assert_eq!(s.applied.len() + s.void.len() + s.pending.len(), ops.len());
    assert!(!s.admins().is_empty(), "the group lost its last admin");
    for (i, e) in s.epochs.iter().enumerate() {
        assert_eq!(e.number, i as u64);
    }
    for h in &s.heads {
        assert!(s.applied.contains(h));
    }
});
