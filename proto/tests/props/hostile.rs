//! One hostile member of each kind against the group rules (§6.9): a hostile admin, member and
//! reader, an admin that was removed and a member that left, all emitting arbitrary ops
//! (backdated parents, unknown parents, any action) next to honest ones. Several replicas take
//! the ops in random orders, each missing a random part until a final exchange, and admit them
//! the way a node does (refused ops that may become valid are retried, like a sync). Checked:
//! - every replica ends with the same members and roles and the same current epoch key;
//! - that key was started by an op that stands, by an org that was admin at that point;
//! - no applied membership op has an author that was not admin at that point;
//! - nothing a departed org sends after its cutoff is accepted, and a leaver's cutoff is bounded
//!   by its leave op's own sequence number;
//! - the founder, while still admin, removes every hostile org that is still a member;
//! - the log a replica holds, loaded in one go as after a restart, gives the same state.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use proptest::prelude::*;
use proptest::sample::Index;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use trellis_proto::group::{
    GroupKind, GroupLog, GroupOp, GroupState, LogOp, NewEpochKey, OpAction, Role, SealedShare, SignedGenesis,
};
use trellis_proto::ids::tagged_hash;
use trellis_proto::keys::SignedKeyBundle;
use trellis_proto::*;

const F: usize = 0; // founder, honest
const A: usize = 1; // honest admin
const H: usize = 2; // hostile admin
const M: usize = 3; // hostile member
const R: usize = 4; // hostile reader
const X: usize = 5; // admin removed by the founder, hostile
const D: usize = 6; // member that leaves, hostile
const ORGS: usize = 7;
const HOSTILE: [usize; 5] = [H, M, R, X, D];
const REPLICAS: usize = 3;

struct World {
    keys: Vec<OrgKeys>,
    bundles: Vec<SignedKeyBundle>,
    genesis: SignedGenesis,
}

impl World {
    fn org(&self, i: usize) -> OrgId {
        self.keys[i].org_id()
    }
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let keys: Vec<OrgKeys> = (0..ORGS as u8).map(|i| OrgKeys::from_seeds([i + 31; 32], [i + 131; 32])).collect();
    let bundles = keys.iter().map(|k| k.key_bundle(0, u64::MAX / 2)).collect();
    let genesis =
        SignedGenesis::create(&keys[F], "hostile", GroupKind::Sector, 0, [9; 16], &[0x22; 32], [8; 32]).unwrap();
    World { keys, bundles, genesis }
});

fn fake_key(tag: u8, to: impl Iterator<Item = OrgId>) -> NewEpochKey {
    NewEpochKey {
        key_id: [tag; 16],
        shares: to.map(|to| SealedShare { to, enc: [0; 32], sealed: vec![0; 48] }).collect(),
    }
}

fn op(tag: &str, n: u64, author: usize, seq: u64, parents: Vec<ItemId>, action: OpAction) -> LogOp {
    LogOp {
        id: ItemId(tagged_hash(tag, &[&n.to_be_bytes()])),
        author: WORLD.org(author),
        timestamp_ms: seq,
        seq,
        op: GroupOp { parents, action },
    }
}

/// The honest history: the founder admits everyone, removes X; D leaves; A rotates once,
/// concurrently with the removal.
fn honest() -> Vec<LogOp> {
    let w = &*WORLD;
    let mut ops: Vec<LogOp> = Vec::new();
    for (n, (who, role)) in
        [(A, Role::Admin), (H, Role::Admin), (M, Role::Member), (R, Role::Reader), (X, Role::Admin), (D, Role::Member)]
            .into_iter()
            .enumerate()
    {
        let parents = ops.last().map(|o| vec![o.id]).unwrap_or_default();
        ops.push(op(
            "h/add",
            n as u64,
            F,
            1 + n as u64,
            parents,
            OpAction::Add { member: w.bundles[who].clone(), role, share: None },
        ));
    }
    let head = ops.last().unwrap().id;
    ops.push(op(
        "h/rmx",
        0,
        F,
        10,
        vec![head],
        OpAction::Remove {
            member: w.org(X),
            cutoff_seq: 3,
            new_key: fake_key(1, [F, A, H, M, R, D].into_iter().map(|i| w.org(i))),
        },
    ));
    ops.push(op("h/leave", 0, D, 5, vec![head], OpAction::Leave { cutoff_seq: u64::MAX }));
    ops.push(op(
        "h/rotate",
        0,
        A,
        1,
        vec![head],
        OpAction::Rotate { new_key: fake_key(2, (0..ORGS).filter(|i| *i != X).map(|i| w.org(i))) },
    ));
    ops
}

/// A hostile op: author (an index into HOSTILE), action kind, parent picks (`None`: an id nobody
/// has), target, parameter, sequence number.
type Step = (u8, u8, Vec<Option<Index>>, u8, u8, u8);

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let parent = prop_oneof![9 => any::<Index>().prop_map(Some), 1 => Just(None)];
    proptest::collection::vec(
        (
            0..HOSTILE.len() as u8,
            0..6u8,
            proptest::collection::vec(parent, 1..3),
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
        ),
        1..24,
    )
}

fn hostile(steps: &[Step], honest: &[LogOp]) -> Vec<LogOp> {
    let w = &*WORLD;
    let mut all: Vec<ItemId> = honest.iter().map(|o| o.id).collect();
    let mut ops = Vec::new();
    for (n, (who, kind, picks, target, param, seq)) in steps.iter().enumerate() {
        let author = HOSTILE[*who as usize];
        let parents = picks
            .iter()
            .map(|p| match p {
                Some(i) => all[i.index(all.len())],
                None => ItemId([0xee; 32]),
            })
            .collect();
        let target = *target as usize % ORGS;
        let role = [Role::Admin, Role::Member, Role::Reader][*param as usize % 3];
        let action = match kind {
            0 => OpAction::Add { member: w.bundles[target].clone(), role, share: None },
            1 => OpAction::Remove {
                member: w.org(target),
                cutoff_seq: u64::MAX,
                new_key: fake_key(0x80 | *param, (0..ORGS).map(|i| w.org(i))),
            },
            2 => OpAction::SetRole { member: w.org(target), role },
            3 => OpAction::Leave { cutoff_seq: u64::MAX },
            4 => OpAction::Rotate { new_key: fake_key(0x80 | *param, (0..ORGS).map(|i| w.org(i))) },
            _ => OpAction::UpdateKey { bundle: w.keys[author].key_bundle(1 + *param as u64, u64::MAX / 2) },
        };
        let o = op("x/op", n as u64, author, 100 + *seq as u64, parents, action);
        all.push(o.id);
        ops.push(o);
    }
    ops
}

/// A node's view: its log and state, taking ops as ingest does.
struct Replica {
    log: GroupLog,
    state: GroupState,
}

impl Replica {
    fn new() -> Replica {
        let log = GroupLog::new(WORLD.genesis.clone()).unwrap();
        let state = log.compute();
        Replica { log, state }
    }

    /// Offer ops until none is taken any more; ops refused for a reason that may change (the
    /// author's role is not known yet) are offered again, as the next sync would.
    fn offer(&mut self, ops: &[LogOp]) {
        loop {
            let mut taken = 0;
            for o in ops {
                if self.log.contains(&o.id) {
                    continue;
                }
                if self.log.admit(&self.state, o).is_ok() {
                    self.log.insert(o.clone()).unwrap();
                    self.state = self.log.compute();
                    taken += 1;
                }
            }
            if taken == 0 {
                return;
            }
        }
    }
}

/// Roles replayed along the applied ops: who was admin when each op applied.
fn check_authority(log: &GroupLog, s: &GroupState) -> Result<(), TestCaseError> {
    let w = &*WORLD;
    let mut roles: BTreeMap<OrgId, Role> = [(w.org(F), Role::Admin)].into_iter().collect();
    for id in &s.applied {
        let o = log.get(id).unwrap();
        let admin = roles.get(&o.author) == Some(&Role::Admin);
        match &o.op.action {
            OpAction::Add { member, role, .. } => {
                prop_assert!(admin, "an Add applied from a non-admin");
                roles.insert(member.bundle.org, *role);
            }
            OpAction::Remove { member, .. } => {
                prop_assert!(admin, "a Remove applied from a non-admin");
                roles.remove(member);
            }
            OpAction::SetRole { member, role } => {
                prop_assert!(admin, "a SetRole applied from a non-admin");
                roles.insert(*member, *role);
            }
            OpAction::Rotate { .. } => prop_assert!(admin, "a Rotate applied from a non-admin"),
            OpAction::Leave { .. } => {
                prop_assert!(roles.contains_key(&o.author), "a Leave applied from a non-member");
                roles.remove(&o.author);
            }
            OpAction::UpdateKey { .. } => prop_assert!(roles.contains_key(&o.author)),
        }
        if let Some(e) = s.epochs.iter().find(|e| e.started_by == Some(*id)) {
            prop_assert!(admin, "epoch {} started by a non-admin", e.number);
        }
    }
    let members: BTreeMap<OrgId, Role> = s.members.iter().map(|(o, m)| (*o, m.role)).collect();
    prop_assert_eq!(members, roles);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn one_hostile_member_of_each_kind_cannot_break_the_group(steps in steps(), seed in any::<u64>(), drop_mask in any::<u64>()) {
        let w = &*WORLD;
        let honest = honest();
        let hostile = hostile(&steps, &honest);
        let mut all: Vec<LogOp> = honest.iter().chain(&hostile).cloned().collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut replicas: Vec<Replica> = (0..REPLICAS).map(|_| Replica::new()).collect();
        // Partitioned phase: each replica gets the ops in its own order, missing some.
        for (k, r) in replicas.iter_mut().enumerate() {
            all.shuffle(&mut rng);
            let part: Vec<LogOp> =
                all.iter().enumerate().filter(|(i, _)| (drop_mask >> ((i + 7 * k) % 64)) & 1 == 0).map(|(_, o)| o.clone()).collect();
            r.offer(&part);
        }
        // The partition heals: everyone offers everything.
        for r in replicas.iter_mut() {
            all.shuffle(&mut rng);
            r.offer(&all);
        }
        // The founder, if still an admin, removes every hostile org still a member.
        let mut removals = Vec::new();
        for (n, h) in HOSTILE.iter().enumerate() {
            let st = &replicas[0].state;
            if !st.is_admin(&w.org(F)) || !st.members.contains_key(&w.org(*h)) {
                continue;
            }
            let parents = removals.last().map(|o: &LogOp| vec![o.id]).unwrap_or_else(|| st.heads.clone());
            let rm = op("h/final", n as u64, F, 1000 + n as u64, parents, OpAction::Remove {
                member: w.org(*h),
                cutoff_seq: 0,
                new_key: fake_key(0x40 + n as u8, [F, A].into_iter().map(|i| w.org(i))),
            });
            prop_assert_eq!(replicas[0].log.admit(st, &rm), Ok(()), "the founder's removal of {} was refused", h);
            replicas[0].log.insert(rm.clone()).unwrap();
            replicas[0].state = replicas[0].log.compute();
            removals.push(rm);
        }
        all.extend(removals.iter().cloned());
        for r in replicas.iter_mut() {
            all.shuffle(&mut rng);
            r.offer(&all);
        }

        let first = &replicas[0].state;
        let founder_admin = first.is_admin(&w.org(F));
        for (k, r) in replicas.iter().enumerate() {
            let s = &r.state;
            let roles = |s: &GroupState| s.members.iter().map(|(o, m)| (*o, m.role)).collect::<BTreeMap<_, _>>();
            prop_assert_eq!(roles(s), roles(first), "replica {} disagrees on members", k);
            prop_assert_eq!(s.current_epoch().map(|e| e.key_id), first.current_epoch().map(|e| e.key_id), "replica {} disagrees on the key", k);
            check_authority(&r.log, s)?;
            if let Some(by) = s.current_epoch().and_then(|e| e.started_by) {
                prop_assert!(s.applied.contains(&by));
            }
            // The removal of each hostile org by the still-admin founder stands.
            if founder_admin {
                for rm in &removals {
                    prop_assert!(s.applied.contains(&rm.id), "replica {}: the founder's removal is {:?}", k, s.void.get(&rm.id));
                }
                for h in HOSTILE {
                    prop_assert!(!s.members.contains_key(&w.org(h)), "replica {}: hostile org {} is still a member", k, h);
                }
            }
            // Departed orgs: nothing after the cutoff. A leaver's cutoff is its leave's own
            // sequence at most; a removed org's is what the remover wrote (a hostile admin may
            // write anything: that is an admin's power, §8).
            for (org, d) in &s.departed {
                let last = s
                    .applied
                    .iter()
                    .rev()
                    .filter_map(|id| r.log.get(id))
                    .find(|o| match &o.op.action {
                        OpAction::Leave { .. } => o.author == *org,
                        OpAction::Remove { member, .. } => member == org,
                        _ => false,
                    })
                    .unwrap();
                let honest_remover = last.author == w.org(F) || last.author == w.org(A);
                if matches!(last.op.action, OpAction::Leave { .. }) {
                    prop_assert!(d.cutoff_seq <= last.seq, "a leaver kept items up to {} past its leave at {}", d.cutoff_seq, last.seq);
                }
                if matches!(last.op.action, OpAction::Leave { .. }) || honest_remover {
                    prop_assert_eq!(s.check_sender(org, Kind::Advisory, d.cutoff_seq + 1), Err(ProtoError::NotAMember(*org)));
                    prop_assert_eq!(s.check_sender(org, Kind::GroupOp, d.cutoff_seq + 1), Err(ProtoError::NotAMember(*org)));
                }
            }
            // Loaded in one go (a restart), the same state.
            let mut fresh = GroupLog::new(w.genesis.clone()).unwrap();
            for o in r.log.ops() {
                fresh.insert(o.clone()).unwrap();
            }
            prop_assert_eq!(&fresh.compute(), s);
        }
    }
}
