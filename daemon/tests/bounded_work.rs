//! Bounded work per peer (issue 16), played against the real engine and store: an engine whose
//! Swarm task is not run (the attacker's bytes are handed to the same functions the network
//! handlers call), with a fresh identity, one group it founded, and a second org added as a
//! member.
//!
//! - direct delivery is under the publisher's quota (a member cannot pile up RED items);
//! - a have-list is bounded and indexed, and the responder's work is counted, not timed;
//! - at most `MAX_REQUESTS_PER_PEER` requests of one peer are answered at a time;
//! - the quota map stays under its cap under 100,000 forged sender ids;
//! - the validation queue ranks by the forwarding peer, so a flood of forged "high-trust"
//!   messages from an unknown peer cannot push out an item a member's node forwards.

mod common;

use std::sync::Arc;
use std::time::Instant;

use libp2p::PeerId;
use libp2p::gossipsub::MessageId;
use trellis_daemon::engine::Engine;
use trellis_daemon::engine::ingest::Origin;
use trellis_daemon::home::{Identity, now_ms};
use trellis_daemon::node::{Node, NodeConfig, build_swarm};
use trellis_daemon::store::{BatchLimits, Readable, Store, StoredItem};
use trellis_daemon::validation::{Job, ValidationQueue};
use trellis_daemon::wire::{MAX_HAVE_RANGES, Request, RequestBody, Response, SYNC_BATCH_ITEMS};
use trellis_proto::envelope::{Envelope, EnvelopeRandomness, PublishRequest, Recipients};
use trellis_proto::keys::{ContactCard, NodeBinding};
use trellis_proto::wire::HaveIndex;
use trellis_proto::{GroupId, Kind, OrgId, OrgKeys, ProtoError, Tlp};

struct Setup {
    engine: Arc<Engine>,
    me: OrgKeys,
    member: OrgKeys,
    gid: GroupId,
    _dir: tempfile::TempDir,
}

/// An offline engine (the founder of one group) with `member` added as a member.
async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("n");
    let identity = Identity::create(&home, "responder", now_ms()).unwrap();
    let me = Identity::load(&home).unwrap().keys;
    let store = Store::open(&home.join("store.redb")).unwrap();
    let kp = libp2p::identity::Keypair::generate_ed25519();
    let peer = kp.public().to_peer_id();
    let binding = NodeBinding::sign(&me, kp.public().encode_protobuf(), now_ms(), 3_600_000);
    let cfg = NodeConfig { bootstrap: vec![], mdns: false, discovery: false };
    let (node, handle, _events) = Node::new(build_swarm(kp, &cfg).unwrap(), &cfg);
    drop(node);
    let engine = Engine::new(home, identity, binding, store, handle, peer).unwrap();
    let gid = engine.create_group("g", trellis_proto::group::GroupKind::Sector).await.unwrap();
    let member = OrgKeys::from_seeds([21; 32], [22; 32]);
    let card = ContactCard { name: "member".into(), bundle: member.key_bundle(now_ms(), 3_600_000), addrs: vec![] };
    engine.invite(&gid.to_text(), &card.to_text(), trellis_proto::group::Role::Member).await.unwrap();
    Setup { engine, me, member, gid, _dir: dir }
}

fn envelope(from: &OrgKeys, gid: GroupId, seq: u64, tlp: Tlp, to: &[(OrgId, [u8; 32])], title: &str) -> Envelope {
    let payload = common::advisory_payload(title, "x");
    let recipients = if tlp == Tlp::Clear { Recipients::Clear } else { Recipients::Sealed { to } };
    Envelope::build(
        from,
        &PublishRequest { group: gid, epoch: 0, seq, timestamp_ms: now_ms(), tlp, payload: &payload, recipients },
        &EnvelopeRandomness { nonce: [seq as u8; 24], content_key: [seq as u8; 32], hpke_seed: [1; 32] },
    )
    .unwrap()
}

fn recipient(keys: &OrgKeys) -> (OrgId, [u8; 32]) {
    (keys.org_id(), keys.key_bundle(0, 1).bundle.x25519)
}

/// Direct delivery (RED) takes from the same per-publisher quota as gossip: a member that
/// delivers 1,000 RED items as fast as the node takes them gets at most its burst plus its rate
/// over the elapsed time accepted, and the rest refused `OverQuota`. (Before, direct delivery
/// had no quota: all 1,000 were accepted, and a member could pile up RED items every sync
/// answer must step over.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_delivery_is_under_the_publisher_quota() {
    let s = setup().await;
    let to = [recipient(&s.me)];
    let items: Vec<Vec<u8>> =
        (0..1000).map(|i| envelope(&s.member, s.gid, 100 + i, Tlp::Red, &to, &format!("red {i}")).bytes).collect();
    let peer = PeerId::random();
    let engine = Arc::clone(&s.engine);
    let trust = engine.trust_of(&s.member.org_id());
    let (rate, burst) = trellis_daemon::engine::trust::quota(trust);
    let (accepted, over, elapsed) = tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let (mut accepted, mut over) = (0u64, 0u64);
        for b in &items {
            match engine.prepare(b, Origin::Direct(peer)) {
                Ok(_) => accepted += 1,
                Err(ProtoError::OverQuota) => over += 1,
                Err(e) => panic!("unexpected refusal: {e}"),
            }
        }
        (accepted, over, t.elapsed().as_secs_f64())
    })
    .await
    .unwrap();
    let bound = burst + rate * elapsed + 1.0;
    assert!(accepted as f64 <= bound, "{accepted} RED deliveries accepted, quota allows {bound:.0}");
    assert!(over > 0, "none of 1,000 deliveries was over quota");
    assert_eq!(accepted + over, 1000);
}

/// A have-list is bounded: one over `MAX_HAVE_RANGES` ranges (a 1 MiB request holds about
/// 120,000 small ones) is refused before any store access; one at the bound is sorted once and
/// answered by a merge walk whose work is counted: every stored entry is looked at once,
/// whatever the number of ranges (before, each stored entry scanned the whole list: 65,536 ×
/// items comparisons). The answer's CPU time is printed; BENCHMARKS.md has the figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn have_list_work_is_bounded() {
    let s = setup().await;
    // 4,000 stored items of the member with gaps: sequences 1, 3, 5, ...
    let rows: Vec<(Envelope, StoredItem)> = (0..4000u64)
        .map(|i| {
            let e = envelope(&s.member, s.gid, 1 + 2 * i, Tlp::Clear, &[], &format!("item {i}"));
            let item = StoredItem { bytes: e.bytes.clone(), received_ms: now_ms(), readable: Readable::No };
            (e, item)
        })
        .collect();
    let refs: Vec<_> =
        rows.iter().map(|(e, it)| (e.header.group, Kind::Advisory, e.header.sender, e.header.seq, e.id, it)).collect();
    s.engine.store().insert_items(&refs).unwrap();

    // Over the bound: a 1 MiB request's worth of ranges is refused by the decoder.
    let attacker = OrgKeys::from_seeds([31; 32], [32; 32]);
    let kp = libp2p::identity::Keypair::generate_ed25519();
    let binding = NodeBinding::sign(&attacker, kp.public().encode_protobuf(), now_ms(), 3_600_000);
    let huge: Vec<(u64, u64)> = (0..120_000u64).map(|i| (4 * i, 4 * i + 1)).collect();
    let request = Request {
        binding: binding.clone(),
        body: RequestBody::Sync { group: s.gid, have: vec![(s.member.org_id(), huge)], after: None },
    };
    let bytes = trellis_proto::wire::encode_request(&request);
    assert!(bytes.len() <= trellis_daemon::wire::MAX_REQUEST_BYTES, "the request fits a frame: {}", bytes.len());
    assert!(matches!(
        trellis_proto::wire::decode_request(&bytes),
        Err(ProtoError::FieldTooLong { field: "have-list ranges", .. })
    ));

    // At the bound: 65,536 ranges, shuffled, holding every even sequence (none of the stored
    // items): the answer sends 2,000 items, having looked at 2,001 entries at most.
    let mut ranges: Vec<(u64, u64)> = (0..MAX_HAVE_RANGES as u64).map(|i| (2 * i, 2 * i)).collect();
    ranges.reverse();
    let have = vec![(s.member.org_id(), ranges)];
    let t = Instant::now();
    let index = HaveIndex::new(&have).unwrap();
    let limits = BatchLimits { max_items: SYNC_BATCH_ITEMS, max_bytes: 4 << 20, max_skipped: 10_000 };
    let batch = s.engine.store().items_missing_from(&s.gid, &index, None, limits, |_| true).unwrap();
    let first_ms = t.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(batch.items.len(), SYNC_BATCH_ITEMS);
    assert!(batch.more);
    assert!(batch.examined <= SYNC_BATCH_ITEMS + 1, "looked at {} entries for 2,000 items", batch.examined);
    // The rest, after the cursor: everything arrives once (the founder's own ops, not in the
    // have-list, come too).
    let (mut total, mut next) = (batch.items.len(), batch.next);
    loop {
        let b = s.engine.store().items_missing_from(&s.gid, &index, next, limits, |_| true).unwrap();
        total += b.items.len();
        if !b.more {
            break;
        }
        next = b.next;
    }
    assert!((4000..=4010).contains(&total), "{total}");
    // A have-list holding everything: each held range is one seek, no item is read.
    let all = vec![(s.member.org_id(), (0..4000u64).map(|i| (1 + 2 * i, 1 + 2 * i)).collect::<Vec<_>>())];
    let index = HaveIndex::new(&all).unwrap();
    let t = Instant::now();
    let held = s.engine.store().items_missing_from(&s.gid, &index, None, limits, |_| true).unwrap();
    let held_ms = t.elapsed().as_secs_f64() * 1000.0;
    assert!(held.items.len() <= 10 && !held.more);
    assert!(held.examined <= 4000 + 10 + 1, "looked at {} entries", held.examined);
    println!(
        "have-list of {MAX_HAVE_RANGES} ranges: index + first answer {first_ms:.1} ms; all-held answer over 4,000 ranges {held_ms:.1} ms"
    );
}

/// At most `MAX_REQUESTS_PER_PEER` requests of one peer are answered at a time; one more is
/// refused at once, other peers are not affected, and a finished request frees its slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_per_peer_are_bounded() {
    let s = setup().await;
    let (p, q) = (PeerId::random(), PeerId::random());
    let mut slots: Vec<_> = (0..trellis_daemon::engine::sync::MAX_REQUESTS_PER_PEER)
        .map(|_| s.engine.peer_limits().enter(p).expect("within the bound"))
        .collect();
    assert!(s.engine.peer_limits().enter(p).is_none(), "one more concurrent request of one peer is refused");
    let c = s.engine.peer_limits().enter(q).expect("another peer is served");
    slots.pop();
    assert!(s.engine.peer_limits().enter(p).is_some(), "a finished request frees its slot");
    drop((slots, c));
}

/// 100,000 gossip items claiming 100,000 different (forged) senders leave no quota bucket:
/// the pre-signature quota check only peeks. Quota taken by verified members is capped too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_map_stays_bounded_under_forged_senders() {
    let s = setup().await;
    let base = envelope(&s.member, s.gid, 500, Tlp::Clear, &[], "forged sender");
    let sender = s.member.org_id();
    let at = base.bytes.windows(32).position(|w| w == sender.as_bytes()).expect("sender in header");
    let engine = Arc::clone(&s.engine);
    tokio::task::spawn_blocking(move || {
        let peer = PeerId::random();
        let mut bytes = base.bytes.clone();
        for i in 0..100_000u32 {
            bytes[at..at + 4].copy_from_slice(&i.to_be_bytes());
            bytes[at + 4] = 0xa5;
            let r = engine.prepare(&bytes, Origin::Gossip(peer));
            assert!(r.is_err(), "a forged envelope was accepted");
        }
    })
    .await
    .unwrap();
    assert_eq!(s.engine.quota_buckets(), 0, "forged sender ids created quota buckets");
    // Buckets of verified publishers (taken after the checks) are capped as well.
    for i in 0..(trellis_daemon::engine::trust::MAX_QUOTA_BUCKETS as u32 + 5000) {
        let mut id = [0u8; 32];
        id[..4].copy_from_slice(&i.to_be_bytes());
        s.engine.take_quota(&OrgId(id));
    }
    assert!(s.engine.quota_buckets() <= trellis_daemon::engine::trust::MAX_QUOTA_BUCKETS);
}

/// The validation queue ranks a message by the org behind the peer that forwarded it. An unknown
/// peer floods 10,000 forged messages claiming the highest-trust publisher there is (this node's
/// own org, trust 1.0); then a member's node forwards one honest item. The honest item enters the
/// full queue and is the first one out: it waits for no forged message. (Ranked by the claimed
/// publisher, the forged messages would all outrank it and it would be dropped.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_high_trust_flood_does_not_delay_an_honest_item() {
    let s = setup().await;
    let forger = PeerId::random();
    let honest_peer = PeerId::random();
    s.engine.peer_book().bind(honest_peer, s.member.org_id());
    let queue = ValidationQueue::new(4096);
    let mut forged = envelope(&s.me, s.gid, 9_000, Tlp::Clear, &[], "forged").bytes;
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let mut dropped = 0;
    for i in 0..10_000u32 {
        let job = Job { source: forger, msg_id: MessageId::from(i.to_be_bytes().to_vec()), data: forged.clone() };
        if queue.push(s.engine.forwarder_trust(&forger), job).is_some() {
            dropped += 1;
        }
    }
    assert_eq!(queue.len(), 4096);
    assert_eq!(dropped, 10_000 - 4096);
    let honest = envelope(&s.member, s.gid, 1, Tlp::Clear, &[], "honest").bytes;
    let job = Job { source: honest_peer, msg_id: MessageId::from(b"honest".to_vec()), data: honest.clone() };
    let evicted = queue.push(s.engine.forwarder_trust(&honest_peer), job).expect("the full queue drops one");
    assert_eq!(evicted.source, forger, "a forged message made room");
    let first = queue.try_pop().expect("the queue holds the honest item");
    assert_eq!(first.data, honest, "the honest item is validated before any forged one");
    // And it validates.
    assert!(s.engine.prepare(&first.data, Origin::Gossip(honest_peer)).is_ok());
}

/// The responder leaves RED out before counting: 2,500 RED items stored ahead of the items a
/// requester lacks do not fill the batch; the answer skips them and sends what follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn red_items_do_not_fill_a_sync_batch() {
    let s = setup().await;
    let to = [recipient(&s.me)];
    let mut rows = Vec::new();
    for i in 0..2500u64 {
        let e = envelope(&s.member, s.gid, 10 + i, Tlp::Red, &to, &format!("red {i}"));
        rows.push(e);
    }
    for i in 0..5u64 {
        rows.push(envelope(&s.member, s.gid, 3000 + i, Tlp::Clear, &[], &format!("after {i}")));
    }
    let items: Vec<StoredItem> = rows
        .iter()
        .map(|e| StoredItem { bytes: e.bytes.clone(), received_ms: now_ms(), readable: Readable::No })
        .collect();
    let refs: Vec<_> = rows
        .iter()
        .zip(&items)
        .map(|(e, it)| (e.header.group, Kind::Advisory, e.header.sender, e.header.seq, e.id, it))
        .collect();
    s.engine.store().insert_items(&refs).unwrap();
    // A requester of the member's org (through its node binding) that holds the founder's ops.
    let kp = libp2p::identity::Keypair::generate_ed25519();
    let peer = kp.public().to_peer_id();
    let binding = NodeBinding::sign(&s.member, kp.public().encode_protobuf(), now_ms(), 3_600_000);
    let have = vec![(s.me.org_id(), vec![(0, 1000)])];
    let mut after = None;
    let mut got = Vec::new();
    for _ in 0..5 {
        let req =
            Request { binding: binding.clone(), body: RequestBody::Sync { group: s.gid, have: have.clone(), after } };
        match s.engine.answer(peer, req) {
            Response::Items { items, more, next } => {
                got.extend(items);
                if !more {
                    break;
                }
                after = next;
            }
            other => panic!("{other:?}"),
        }
    }
    let titles: Vec<u64> = got.iter().map(|b| Envelope::decode(b).unwrap().header.seq).collect();
    assert_eq!(titles, vec![3000, 3001, 3002, 3003, 3004], "the items after the RED block arrive, no RED");
}

/// The responder's work for the largest have-list a request may carry (65,536 ranges, about
/// 600 KiB encoded, shuffled) against 20,000 stored items with gaps: checking and indexing the
/// list, then answering (2,000 items, and the all-held case where every range is one seek).
/// Five runs; median, min and max. Run:
///   cargo test -p trellis-daemon --test bounded_work have_list_cpu -- --ignored --nocapture
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: cargo test -p trellis-daemon --test bounded_work have_list_cpu -- --ignored --nocapture"]
async fn have_list_cpu() {
    let s = setup().await;
    const STORED: u64 = 20_000;
    for chunk in (0..STORED).collect::<Vec<_>>().chunks(2000) {
        let rows: Vec<(Envelope, StoredItem)> = chunk
            .iter()
            .map(|&i| {
                let e = envelope(&s.member, s.gid, 1 + 2 * i, Tlp::Clear, &[], &format!("item {i}"));
                let item = StoredItem { bytes: e.bytes.clone(), received_ms: now_ms(), readable: Readable::No };
                (e, item)
            })
            .collect();
        let refs: Vec<_> = rows
            .iter()
            .map(|(e, it)| (e.header.group, Kind::Advisory, e.header.sender, e.header.seq, e.id, it))
            .collect();
        s.engine.store().insert_items(&refs).unwrap();
    }
    let limits = BatchLimits { max_items: SYNC_BATCH_ITEMS, max_bytes: 4 << 20, max_skipped: 10_000 };
    // Ranges that hold none of the stored items (even numbers), in reverse order.
    let mut gaps: Vec<(u64, u64)> = (0..MAX_HAVE_RANGES as u64).map(|i| (2 * i, 2 * i)).collect();
    gaps.reverse();
    let missing = vec![(s.member.org_id(), gaps)];
    // Ranges that hold every stored item, one each, plus padding up to the bound.
    let mut held: Vec<(u64, u64)> = (0..STORED).map(|i| (1 + 2 * i, 1 + 2 * i)).collect();
    held.extend((0..MAX_HAVE_RANGES as u64 - STORED).map(|i| (1_000_000 + 2 * i, 1_000_000 + 2 * i)));
    let all = vec![(s.member.org_id(), held)];
    let encoded = trellis_proto::wire::encode_request(&Request {
        binding: s.engine.binding().clone(),
        body: RequestBody::Sync { group: s.gid, have: missing.clone(), after: None },
    });
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let t = Instant::now();
        let index = trellis_proto::wire::decode_request(&encoded).map(|_| HaveIndex::new(&missing).unwrap()).unwrap();
        let batch = s.engine.store().items_missing_from(&s.gid, &index, None, limits, |_| true).unwrap();
        a.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(batch.items.len(), SYNC_BATCH_ITEMS);
        let t = Instant::now();
        let index = HaveIndex::new(&all).unwrap();
        let batch = s.engine.store().items_missing_from(&s.gid, &index, None, limits, |_| true).unwrap();
        b.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(batch.items.len() < 10);
    }
    let stats = |mut v: Vec<f64>| {
        v.sort_by(|x, y| x.total_cmp(y));
        format!("median {:.1} ms (min {:.1}, max {:.1})", v[2], v[0], v[4])
    };
    println!("request of {} bytes, {MAX_HAVE_RANGES} ranges, {STORED} stored items", encoded.len());
    println!("decode + index + answer of 2,000 items: {}", stats(a));
    println!("index + answer when all is held (20,000 seeks): {}", stats(b));
}

/// Issue 15.8: a failure of this node's own (here its store, closed under the validator, as a
/// full or failing disk would) is `Local`, reported `Ignore` to gossipsub: the peer that relayed
/// a good item is not penalised for it. Before, it was `Invalid` and so `Reject`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_store_failure_does_not_penalise_the_relay() {
    use libp2p::gossipsub::MessageAcceptance;
    use trellis_daemon::validation::{Seen, verdict};
    let s = setup().await;
    let env = envelope(&s.member, s.gid, 7, Tlp::Clear, &[], "a good item");
    let peer = PeerId::random();
    assert!(s.engine.prepare(&env.bytes, Origin::Gossip(peer)).is_ok(), "the item itself is fine");
    s.engine.store().close();
    let r = s.engine.prepare(&env.bytes, Origin::Gossip(peer)).map(|_| trellis_daemon::engine::ingest::Outcome::Stored);
    assert!(matches!(r, Err(ProtoError::Local(_))), "{r:?}");
    assert_eq!(verdict(&r, Seen::of(&env.bytes)), MessageAcceptance::Ignore);
    // The same holds when the storing transaction fails.
    let s2 = setup().await;
    let env = envelope(&s2.member, s2.gid, 8, Tlp::Clear, &[], "another good item");
    let prepared = s2.engine.prepare(&env.bytes, Origin::Gossip(peer)).unwrap();
    s2.engine.store().close();
    let r = s2.engine.commit(vec![prepared]).pop().unwrap();
    assert!(matches!(r, Err(ProtoError::Local(_))), "{r:?}");
    assert_eq!(verdict(&r, Seen::Clear), MessageAcceptance::Ignore);
}
