//! Group ops that arrive together are added to the log together and the log computed once
//! (daemon/src/engine/op_batch.rs): the state reached is the state op by op, an op whose author
//! is made admin inside the batch goes in on the next pass (as a sync retries it), and the
//! group's upkeep runs once per batch.

mod common;

use std::sync::Arc;

use trellis_api::types::Event;
use trellis_daemon::engine::Engine;
use trellis_daemon::engine::ingest::{Origin, Outcome};
use trellis_daemon::groups::GroupRuntime;
use trellis_daemon::home::now_ms;
use trellis_proto::envelope::Envelope;
use trellis_proto::group::{GroupOp, LogOp, OpAction, Role};
use trellis_proto::{ContactCard, GroupId, OrgKeys, Payload, ProtoError};

fn peer() -> libp2p::PeerId {
    libp2p::identity::Keypair::generate_ed25519().public().to_peer_id()
}

fn org(n: u8) -> OrgKeys {
    OrgKeys::from_seeds([n; 32], [n.wrapping_add(100); 32])
}

/// A group op from `keys` in `gid` with sequence `seq`.
fn op(keys: &OrgKeys, gid: GroupId, seq: u64, parents: Vec<trellis_proto::ItemId>, action: OpAction) -> Envelope {
    common::clear_item(keys, gid, seq, now_ms(), &Payload::GroupOp(GroupOp { parents, action }))
}

fn log_op(env: &Envelope) -> LogOp {
    let Ok(Payload::GroupOp(op)) = env.reopen(None) else { panic!("not a group op") };
    LogOp { id: env.id, author: env.header.sender, timestamp_ms: env.header.timestamp_ms, seq: env.header.seq, op }
}

fn add(keys: &OrgKeys, role: Role) -> OpAction {
    OpAction::Add { member: keys.key_bundle(now_ms(), 3_600_000), role, share: None }
}

/// A member's engine in a group founded by another engine: the member's engine and keys, the
/// founder's keys, the group, and the founder's next sequence number there.
async fn member_of_group(dir: &std::path::Path) -> (Arc<Engine>, OrgKeys, OrgKeys, GroupId, u64) {
    let (f, f_keys, _) = common::offline_engine(dir, "founder").await;
    let (m, m_keys, _) = common::offline_engine(dir, "member").await;
    let gid = f.create_group("batched-ops", trellis_proto::group::GroupKind::Sector).await.unwrap();
    let card = ContactCard { name: "member".into(), bundle: m_keys.key_bundle(now_ms(), 3_600_000), addrs: vec![] };
    let token = f.invite("batched-ops", &card.to_text(), Role::Member).await.unwrap();
    m.join(&token).await.unwrap();
    let seq = f.store().next_own_seq(&gid, &f_keys.org_id()).unwrap();
    (m, m_keys, f_keys, gid, seq)
}

fn runtime(e: &Engine, gid: &GroupId) -> GroupRuntime {
    e.groups().with(gid, |g| g.clone()).unwrap()
}

fn members_events(rx: &mut tokio::sync::broadcast::Receiver<Event>) -> usize {
    let mut n = 0;
    while let Ok(ev) = rx.try_recv() {
        if matches!(ev, Event::Membership { .. }) {
            n += 1;
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_ops_reaches_the_state_op_by_op_reaches() {
    let dir = tempfile::tempdir().unwrap();
    let (m, keys, f_keys, gid, seq) = member_of_group(dir.path()).await;
    let before = runtime(&m, &gid);
    // The founder adds twelve orgs one after another, the last of them as an admin, who then
    // adds one more: that op's author is an admin only once the batch is in.
    let mut ops = Vec::new();
    let mut parents = before.state.heads.clone();
    for i in 0..12u8 {
        let role = if i == 11 { Role::Admin } else { Role::Member };
        let env = op(&f_keys, gid, seq + u64::from(i), parents.clone(), add(&org(10 + i), role));
        parents = vec![env.id];
        ops.push(env);
    }
    let by_new_admin = op(&org(21), gid, 1, parents.clone(), add(&org(40), Role::Reader));
    // Given in an order that puts it first.
    let mut batch = vec![by_new_admin.clone()];
    batch.extend(ops.iter().cloned());

    // Op by op, in the order they were given, until nothing more goes in (a sync's passes).
    let mut expected = before.clone();
    for env in ops.iter().chain([&by_new_admin]) {
        expected.absorb_op(log_op(env), &keys).unwrap();
    }
    // All at once on the runtime: the same state.
    let mut together = before.clone();
    together.absorb_ops(batch.iter().map(log_op).collect(), &keys);
    assert_eq!(together.state, expected.state);
    assert_eq!(together.all_keys(), expected.all_keys());

    // Through the engine, as a sync answer.
    let mut events = m.events().subscribe();
    let p = peer();
    let bytes: Vec<&[u8]> = batch.iter().map(|e| e.bytes.as_slice()).collect();
    let first = m.ingest_ops(&bytes, Origin::Sync(p));
    assert_eq!(first[0], Err(ProtoError::NotAMember(org(21).org_id())), "its author is not in the group yet");
    assert!(first[1..].iter().all(|r| *r == Ok(Outcome::Stored)), "{first:?}");
    assert_eq!(members_events(&mut events), 1, "one membership change for the whole batch");
    let again = m.ingest_ops(&bytes[..1], Origin::Sync(p));
    assert_eq!(again, vec![Ok(Outcome::Stored)]);
    let after = runtime(&m, &gid);
    assert_eq!(after.state, expected.state);
    assert_eq!(after.state.members.len(), before.state.members.len() + 13);
    // A second delivery changes nothing.
    assert!(m.ingest_ops(&bytes, Origin::Sync(p)).iter().all(|r| *r == Err(ProtoError::Duplicate)));
    assert_eq!(runtime(&m, &gid).state, expected.state);
}

/// A batch with a removal in it goes op by op: its result is the state op by op reaches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_removes_goes_op_by_op() {
    let dir = tempfile::tempdir().unwrap();
    let (m, keys, f_keys, gid, seq) = member_of_group(dir.path()).await;
    let before = runtime(&m, &gid);
    let a = op(&f_keys, gid, seq, before.state.heads.clone(), add(&org(50), Role::Member));
    let b = op(&f_keys, gid, seq + 1, vec![a.id], add(&org(51), Role::Member));
    let key =
        trellis_proto::group::NewEpochKey { key_id: trellis_proto::group::epoch_key_id(&[9; 32]), shares: vec![] };
    let remove = OpAction::Remove { member: org(50).org_id(), cutoff_seq: 0, new_key: key };
    let c = op(&f_keys, gid, seq + 2, vec![b.id], remove);
    let mut expected = before.clone();
    for env in [&a, &b, &c] {
        expected.absorb_op(log_op(env), &keys).unwrap();
    }
    let mut events = m.events().subscribe();
    let bytes: Vec<&[u8]> = [&a, &b, &c].iter().map(|e| e.bytes.as_slice()).collect();
    let r = m.ingest_ops(&bytes, Origin::Sync(peer()));
    assert!(r.iter().all(|r| *r == Ok(Outcome::Stored)), "{r:?}");
    assert_eq!(runtime(&m, &gid).state, expected.state);
    assert!(members_events(&mut events) >= 2, "op by op: a membership change per op");
}

/// A node joining a group receives its history at once: its own Add op waits (pending) for its
/// ancestors, the history goes in as one batch, and the state it computes is the founder's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_takes_the_history_in_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (f, _, _) = common::offline_engine(dir.path(), "founder").await;
    let (j, j_keys, _) = common::offline_engine(dir.path(), "joiner").await;
    let gid = f.create_group("joined-late", trellis_proto::group::GroupKind::Sector).await.unwrap();
    let card = |keys: &OrgKeys, name: &str| {
        ContactCard { name: name.into(), bundle: keys.key_bundle(now_ms(), 3_600_000), addrs: vec![] }.to_text()
    };
    for i in 0..8u8 {
        let role = if i % 3 == 0 { Role::Admin } else { Role::Member };
        f.invite("joined-late", &card(&org(60 + i), &format!("org {i}")), role).await.unwrap();
    }
    let token = f.invite("joined-late", &card(&j_keys, "joiner"), Role::Member).await.unwrap();
    j.join(&token).await.unwrap();
    assert_eq!(runtime(&j, &gid).state.pending.len(), 1, "the joiner's Add waits for its ancestors");

    let ids = f.store().group_item_ids(&gid, trellis_proto::Kind::GroupOp).unwrap();
    let history: Vec<Vec<u8>> = ids.iter().map(|id| f.store().get_item(id).unwrap().unwrap().bytes).collect();
    let bytes: Vec<&[u8]> = history.iter().map(Vec::as_slice).collect();
    let mut events = j.events().subscribe();
    let r = j.ingest_ops(&bytes, Origin::Sync(peer()));
    assert!(r.iter().all(|r| matches!(r, Ok(Outcome::Stored) | Err(ProtoError::Duplicate))), "{r:?}");
    assert_eq!(members_events(&mut events), 1, "one membership change for the whole history");
    let (jr, fr) = (runtime(&j, &gid), runtime(&f, &gid));
    assert!(jr.state.pending.is_empty());
    assert_eq!(jr.state, fr.state, "the same ops, the same state");
    assert_eq!(jr.state.members.len(), 10);
}

/// How long a joiner takes in a history of `N` ops, in one batch and op by op (a measurement:
/// `cargo test -p trellis-daemon --test op_batch -- --ignored --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement"]
async fn history_in_one_batch_against_op_by_op() {
    const N: u64 = 400;
    let dir = tempfile::tempdir().unwrap();
    let (m, _, f_keys, gid, seq) = member_of_group(dir.path()).await;
    let mut parents = runtime(&m, &gid).state.heads.clone();
    let mut history = Vec::new();
    for i in 0..N {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&(1000 + i).to_le_bytes());
        let keys = OrgKeys::from_seeds(seed, [7; 32]);
        let env = op(&f_keys, gid, seq + i, parents.clone(), add(&keys, Role::Member));
        parents = vec![env.id];
        history.push(env);
    }
    let bytes: Vec<&[u8]> = history.iter().map(|e| e.bytes.as_slice()).collect();
    let mut one_by_one = runtime(&m, &gid);
    let t = std::time::Instant::now();
    let r = m.ingest_ops(&bytes, Origin::Sync(peer()));
    let batch = t.elapsed();
    assert!(r.iter().all(|r| *r == Ok(Outcome::Stored)));
    let t = std::time::Instant::now();
    // Any org's keys: only the state is compared.
    let keys = OrgKeys::from_seeds([1; 32], [2; 32]);
    for env in &history {
        one_by_one.absorb_op(log_op(env), &keys).unwrap();
    }
    let logs = t.elapsed();
    assert_eq!(one_by_one.state, runtime(&m, &gid).state);
    println!(
        "{N} ops: stored and applied in one batch in {batch:?}; op by op, the log computations alone take {logs:?}"
    );
}
