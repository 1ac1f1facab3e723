//! A hostile member against a node's group handling (PROTOCOL.md §6.9), with engines whose
//! network is not run: items are handed to them as a peer would send them, so each attack is
//! exact and each outcome can be read off the node's own state and store.

mod common;

use std::sync::Arc;

use trellis_daemon::engine::Engine;
use trellis_daemon::engine::ingest::Origin;
use trellis_daemon::home::now_ms;
use trellis_proto::envelope::Envelope;
use trellis_proto::group::{GroupOp, OpAction, Role};
use trellis_proto::items::{Revocation, RevokedKey};
use trellis_proto::{ContactCard, GroupId, ItemId, Kind, OrgKeys, Payload, ProtoError};

fn peer() -> libp2p::PeerId {
    libp2p::identity::Keypair::generate_ed25519().public().to_peer_id()
}

/// A CLEAR item of `payload` from `keys` in `gid` with sequence `seq`.
fn clear(keys: &OrgKeys, gid: GroupId, seq: u64, timestamp_ms: u64, payload: Payload) -> Envelope {
    common::clear_item(keys, gid, seq, timestamp_ms, &payload)
}

fn card(keys: &OrgKeys, name: &str) -> String {
    ContactCard { name: name.into(), bundle: keys.key_bundle(now_ms(), 3_600_000), addrs: vec![] }.to_text()
}

/// Every group op `from` holds, as wire bytes, oldest first.
fn ops_of(from: &Engine, gid: &GroupId) -> Vec<Vec<u8>> {
    let ids = from.store().group_item_ids(gid, Kind::GroupOp).unwrap();
    ids.iter().map(|id| from.store().get_item(id).unwrap().unwrap().bytes).collect()
}

/// Hand `items` to `to` as a catch-up sync from one peer would, until nothing more goes in.
fn sync_into(to: &Arc<Engine>, items: &[Vec<u8>]) {
    let p = peer();
    for _ in 0..items.len() + 1 {
        let stored = items
            .iter()
            .filter(|b| {
                to.ingest(b, Origin::Sync(p)).is_ok_and(|o| o != trellis_daemon::engine::ingest::Outcome::Duplicate)
            })
            .count();
        if stored == 0 {
            break;
        }
    }
}

fn heads(e: &Engine, gid: &GroupId) -> Vec<ItemId> {
    e.groups().with(gid, |g| g.state.heads.clone()).unwrap()
}

fn role_of(e: &Engine, gid: &GroupId, keys: &OrgKeys) -> Option<Role> {
    e.groups().with(gid, |g| g.state.role(&keys.org_id())).unwrap()
}

/// Issue 7: an invite made by an admin other than the founder. The newcomer's node cannot know
/// yet that the inviter is an admin; the join must succeed, and admission follows once the log
/// arrives. Before the fix the join failed with "not a member" and left a half-joined group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_from_any_admin_works() {
    let dir = tempfile::tempdir().unwrap();
    let (f, _, _) = common::offline_engine(dir.path(), "founder").await;
    let (a, a_keys, _) = common::offline_engine(dir.path(), "second-admin").await;
    let (c, c_keys, _) = common::offline_engine(dir.path(), "newcomer").await;
    let gid = f.create_group("water", trellis_proto::group::GroupKind::Sector).await.unwrap();
    let token = f.invite("water", &card(&a_keys, "second-admin"), trellis_proto::group::Role::Admin).await.unwrap();
    a.join(&token).await.unwrap();
    sync_into(&a, &ops_of(&f, &gid));
    assert_eq!(role_of(&a, &gid, &a_keys), Some(Role::Admin));

    let token = a.invite("water", &card(&c_keys, "newcomer"), trellis_proto::group::Role::Member).await.unwrap();
    let info = c.join(&token).await.expect("an invite from a non-founding admin must be accepted");
    assert_eq!(info.name, "water");
    // Until the log arrives the newcomer does not see itself admitted; after it, it does.
    let mut log = ops_of(&f, &gid);
    log.extend(ops_of(&a, &gid));
    sync_into(&c, &log);
    assert_eq!(role_of(&c, &gid, &c_keys), Some(Role::Member));
    let (_, key) = c.groups().with(&gid, |g| g.current_key()).unwrap().expect("the newcomer holds the current key");
    assert_eq!(Some(key), f.groups().with(&gid, |g| g.current_key()).unwrap().map(|k| k.1));
}

/// Issue 2: a reader floods membership ops it can never make. None is stored or relayed, the
/// log stays small, and the admin's removal of that reader goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_readers_flood_of_void_ops_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (f, _, _) = common::offline_engine(dir.path(), "founder").await;
    let (r, r_keys, _) = common::offline_engine(dir.path(), "reader").await;
    let gid = f.create_group("water", trellis_proto::group::GroupKind::Sector).await.unwrap();
    let token = f.invite("water", &card(&r_keys, "reader"), trellis_proto::group::Role::Reader).await.unwrap();
    r.join(&token).await.unwrap();
    let before = f.groups().with(&gid, |g| g.log.len()).unwrap();
    let parents = heads(&f, &gid);
    let p = peer();
    for seq in 1..=2_000u64 {
        let op = GroupOp {
            parents: parents.clone(),
            action: OpAction::SetRole { member: r_keys.org_id(), role: Role::Admin },
        };
        let env = clear(&r_keys, gid, seq, now_ms(), Payload::GroupOp(op));
        let got = f.ingest(&env.bytes, Origin::Gossip(p));
        assert_eq!(got, Err(ProtoError::NotAnAdmin(r_keys.org_id())), "op {seq}");
    }
    assert_eq!(f.groups().with(&gid, |g| g.log.len()).unwrap(), before, "void ops were stored");
    f.remove_member("water", &r_keys.org_id().to_text()).await.expect("the admin removes the flooding reader");
    assert_eq!(role_of(&f, &gid, &r_keys), None);
}

/// Issue 2: a node whose store holds a group it cannot load (here a record with a damaged
/// genesis) still starts, leaves that group out with an error, and runs the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_that_cannot_load_does_not_stop_a_start() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("n");
    let good = {
        let (e, _, _) = common::offline_engine(dir.path(), "n").await;
        let good = e.create_group("good", trellis_proto::group::GroupKind::Sector).await.unwrap();
        let bad = e.create_group("bad", trellis_proto::group::GroupKind::Sector).await.unwrap();
        let mut rec = e.store().groups().unwrap().into_iter().find(|(id, _)| *id == bad).unwrap().1;
        rec.genesis.sig.0[0] ^= 1;
        e.store().put_group(&bad, &rec).unwrap();
        e.store().close();
        good
    };
    let identity = trellis_daemon::home::Identity::load(&home).unwrap();
    let keys = trellis_daemon::home::Identity::load(&home).unwrap().keys;
    let store = trellis_daemon::store::Store::open(&home.join("store.redb")).unwrap();
    let kp = libp2p::identity::Keypair::generate_ed25519();
    let binding = trellis_proto::keys::NodeBinding::sign(&keys, kp.public().encode_protobuf(), now_ms(), 3_600_000);
    let cfg = trellis_daemon::node::NodeConfig { bootstrap: vec![], mdns: false, discovery: false };
    let (_node, handle, _events) =
        trellis_daemon::node::Node::new(trellis_daemon::node::build_swarm(kp.clone(), &cfg).unwrap(), &cfg);
    let e: Arc<Engine> = Engine::new(home, identity, binding, store, handle, kp.public().to_peer_id())
        .expect("a node with one damaged group must still start");
    assert_eq!(e.group_ids(), vec![good]);
}

/// Issue 5: a member signs two different group ops with one sequence number and sends one to
/// each half of the group. A node that holds the first keeps the second too (it is evidence,
/// counted, and the author's trust pays for it), so an honest op naming the second as parent
/// is not pending for ever there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equivocating_twins_do_not_split_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let (f, f_keys, _) = common::offline_engine(dir.path(), "founder").await;
    let (m, m_keys, _) = common::offline_engine(dir.path(), "member").await;
    let gid = f.create_group("water", trellis_proto::group::GroupKind::Sector).await.unwrap();
    let token = f.invite("water", &card(&m_keys, "member"), trellis_proto::group::Role::Member).await.unwrap();
    m.join(&token).await.unwrap();
    let parents = heads(&f, &gid);
    let twin = |created: u64| {
        let op = GroupOp {
            parents: parents.clone(),
            action: OpAction::UpdateKey { bundle: m_keys.key_bundle(now_ms() + created, 3_600_000) },
        };
        clear(&m_keys, gid, 5, now_ms(), Payload::GroupOp(op))
    };
    let (t1, t2) = (twin(1), twin(2));
    assert_ne!(t1.id, t2.id);
    let p = peer();
    f.ingest(&t1.bytes, Origin::Gossip(p)).unwrap();
    // The twin is not a replay to be refused: it is kept.
    f.ingest(&t2.bytes, Origin::Gossip(p)).expect("the second twin is kept as evidence");
    assert_eq!(f.ingest(&t2.bytes, Origin::Gossip(p)), Ok(trellis_daemon::engine::ingest::Outcome::Duplicate));
    f.groups().read(|g| {
        assert!(g[&gid].log.contains(&t1.id) && g[&gid].log.contains(&t2.id));
        assert!(g[&gid].state.pending.is_empty());
    });
    // An op of another admin that follows the second twin is ordered, not pending.
    let (a, a_keys, _) = common::offline_engine(dir.path(), "other-admin").await;
    let _ = a;
    let follows = GroupOp {
        parents: vec![t2.id],
        action: OpAction::Add { member: a_keys.key_bundle(now_ms(), 3_600_000), role: Role::Reader, share: None },
    };
    let env = clear(&f_keys, gid, 50, now_ms(), Payload::GroupOp(follows));
    f.ingest(&env.bytes, Origin::Sync(p)).unwrap();
    f.groups().read(|g| {
        assert!(g[&gid].state.applied.contains(&env.id), "pending: {:?}", g[&gid].state.pending);
    });
    assert!(f.reject_counts().get("equivocation").copied().unwrap_or(0) >= 1);

    // A node that got only the first twin (by sequence-range sync, which never carries the
    // second) learns it lacks a parent, and a peer answers for it by id: group ops of that
    // group only, to members.
    let (b, b_keys, b_binding) = common::offline_engine(dir.path(), "late").await;
    let token = f.invite("water", &card(&b_keys, "late"), trellis_proto::group::Role::Member).await.unwrap();
    b.join(&token).await.unwrap();
    let held: Vec<Vec<u8>> = ops_of(&f, &gid).into_iter().filter(|bytes| bytes != &t2.bytes).collect();
    sync_into(&b, &held);
    let missing = b.groups().with(&gid, |g| g.log.missing_parents(64)).unwrap();
    assert_eq!(missing, vec![t2.id], "the op following the second twin waits for it");
    let b_peer =
        libp2p::identity::PublicKey::try_decode_protobuf(&b_binding.binding.transport_key).unwrap().to_peer_id();
    let advisory = f
        .publish_advisory(&trellis_api::types::PublishAdvisory::text(
            "water",
            trellis_api::types::Tlp::Clear,
            "not an op",
            "x",
        ))
        .await;
    let mut ids = missing.clone();
    ids.extend(advisory.ok());
    let request = trellis_daemon::wire::Request {
        binding: b_binding,
        body: trellis_daemon::wire::RequestBody::Ops { group: gid, ids },
    };
    let trellis_daemon::wire::Response::Items { items, .. } = f.answer(b_peer, request) else { panic!("refused") };
    assert_eq!(items, vec![t2.bytes.clone()], "only the asked group op comes back");
    sync_into(&b, &items);
    b.groups().read(|g| {
        assert!(g[&gid].log.missing_parents(64).is_empty());
        assert!(g[&gid].state.pending.is_empty());
    });
}

/// Issue 10: a holder of a stolen signing key publishes a second revocation that moves the
/// effective time far into the future, to make its forgeries valid. The earliest time wins,
/// also after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_earliest_revocation_wins() {
    let dir = tempfile::tempdir().unwrap();
    let (f, _, _) = common::offline_engine(dir.path(), "founder").await;
    let (m, m_keys, _) = common::offline_engine(dir.path(), "member").await;
    let gid = f.create_group("water", trellis_proto::group::GroupKind::Sector).await.unwrap();
    let token = f.invite("water", &card(&m_keys, "member"), trellis_proto::group::Role::Member).await.unwrap();
    m.join(&token).await.unwrap();
    let now = now_ms();
    let p = peer();
    let rev = |eff: u64| {
        Payload::Revocation(Revocation { key: RevokedKey::Signing, effective_ms: eff, reason: "stolen".into() })
    };
    f.ingest(&clear(&m_keys, gid, 1, now - 1_000, rev(now - 60_000)).bytes, Origin::Gossip(p)).unwrap();
    f.ingest(&clear(&m_keys, gid, 2, now - 500, rev(now + 365 * 86_400_000)).bytes, Origin::Gossip(p)).unwrap();
    let forged = clear(&m_keys, gid, 3, now - 30_000, common::advisory_payload("forged", "after the revocation"));
    assert_eq!(f.ingest(&forged.bytes, Origin::Gossip(p)), Err(ProtoError::ExpiredKey));
    assert_eq!(f.revoked_from(&m_keys.org_id()), Some(now - 60_000));
}
