//! A malicious peer answering catch-up sync (issue "Nothing lost", scenario 5): a bare libp2p
//! node subscribed to the group's topic answers every sync request with garbage and forged
//! envelopes and claims there is always `more`. The honest node rejects every item with its
//! reason, stops asking when a round makes no progress (no endless loop), stays responsive,
//! and still catches up from an honest member. Oversized frames are refused before allocation
//! by the codec (unit test in `src/wire.rs`).

mod common;

use std::time::Duration;

use common::{start_with, wait_for};
use trellis_api::types::{CreateGroup, Created, Status};
use trellis_daemon::home::Identity;
use trellis_daemon::node::{NetEvent, Node, NodeConfig, build_swarm};
use trellis_daemon::wire::Response;
use trellis_proto::envelope::{Envelope, EnvelopeRandomness, PublishRequest, Recipients};
use trellis_proto::{GroupId, Tlp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_sync_responder_is_bounded_and_honest_sync_completes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let a = start_with(p, "a", vec![], Some(false)).await;
    let b = start_with(p, "b", vec![a.addr.clone()], Some(false)).await;
    let c: Created = a
        .client
        .post("/v1/groups", &CreateGroup { name: "g".into(), kind: trellis_api::types::GroupKind::Sector })
        .await
        .unwrap();
    let group = GroupId::parse(&c.id).unwrap();
    common::join(&a, &b, "g", "member").await;

    // Items for B to catch up on: B goes offline, A publishes.
    b.shutdown().await;
    for i in 0..20 {
        a.publish("g", "green", &format!("catch-up {i}"), vec![]).await.unwrap();
    }

    // The malicious responder: garbage, a forged envelope (A's item with a flipped signature
    // byte), and `more: true` forever.
    let a_keys = Identity::load(&p.join("a")).unwrap().keys;
    let mut forged = Envelope::build(
        &a_keys,
        &PublishRequest {
            group,
            epoch: 0,
            seq: 9999,
            timestamp_ms: trellis_daemon::home::now_ms(),
            tlp: Tlp::Clear,
            payload: &common::advisory_payload("forged", "x"),
            recipients: Recipients::Clear,
        },
        &EnvelopeRandomness { nonce: [1; 24], content_key: [2; 32], hpke_seed: [3; 32] },
    )
    .unwrap()
    .bytes;
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let kp = libp2p::identity::Keypair::generate_ed25519();
    let cfg = NodeConfig { bootstrap: vec![], mdns: false, discovery: false };
    let (node, m, mut events) = Node::new(build_swarm(kp, &cfg).unwrap(), &cfg);
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(node.run(async {
        let _ = stop_rx.await;
    }));
    m.listen("/ip4/127.0.0.1/tcp/0".parse().unwrap()).await.unwrap();
    m.subscribe(group).await;
    let m_addr = loop {
        let info = m.info().await;
        if let Some(a) = info.listen_addrs.first() {
            break format!("{a}/p2p/{}", info.peer_id);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let requests = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = std::sync::Arc::clone(&requests);
    let responder = m.clone();
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if let NetEvent::InboundRequest { channel, .. } = ev {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let items = vec![b"\x01 garbage, not an envelope".to_vec(), forged.clone(), vec![0xff; 300]];
                responder.respond(channel, Response::Items { items, more: true, next: None }).await;
            }
        }
    });

    // B comes back, connected to the attacker and to A.
    let b = start_with(p, "b", vec![m_addr, a.addr.clone()], Some(false)).await;
    wait_for("B rejects the attacker's items with their reasons", || async {
        let s: Status = b.client.get("/v1/status").await.unwrap();
        s.rejects.get("bad_signature").copied().unwrap_or(0) >= 1
            && s.rejects.get("malformed").copied().unwrap_or(0) + s.rejects.get("unknown_version").copied().unwrap_or(0)
                >= 1
    })
    .await;
    wait_for("honest catch-up from A completes despite the attacker", || async {
        b.titles().await.iter().filter(|t| t.starts_with("catch-up ")).count() == 20
    })
    .await;
    // The endless `more` does not make B ask in a loop: a round without progress ends the sync.
    let before = requests.load(std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = requests.load(std::sync::atomic::Ordering::Relaxed);
    assert!(after - before <= 4, "B kept asking the endless responder: {} requests in 3 s", after - before);
    assert!(!b.titles().await.iter().any(|t| t == "forged"), "a forged item was stored");
    let _ = stop.send(());
    a.shutdown().await;
    b.shutdown().await;
}

/// Issue 16.1: honest catch-up completes behind 2,000 RED items. A holds 2,000 RED items of its
/// own (addressed to itself, so B is no recipient) ahead of 20 GREEN items in its sequence
/// order. B, offline meanwhile, catches up from A alone. Before, A cut each answer at 2,000 items
/// and then dropped the RED ones, so B got `items: [], more: true` for ever and never the GREEN
/// items behind them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_catch_up_completes_behind_2000_red_items() {
    use trellis_daemon::store::{Readable, Store, StoredItem};
    use trellis_proto::Kind;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let a = start_with(p, "a", vec![], Some(false)).await;
    let b = start_with(p, "b", vec![a.addr.clone()], Some(false)).await;
    let c: Created = a
        .client
        .post("/v1/groups", &CreateGroup { name: "g".into(), kind: trellis_api::types::GroupKind::Sector })
        .await
        .unwrap();
    let group = GroupId::parse(&c.id).unwrap();
    common::join(&a, &b, "g", "member").await;
    b.shutdown().await;
    a.shutdown().await;

    // 2,000 RED items of A in A's store, right after its last sequence number.
    let a_keys = Identity::load(&p.join("a")).unwrap().keys;
    let me = (a_keys.org_id(), a_keys.key_bundle(0, 1).bundle.x25519);
    let store = Store::open(&p.join("a").join(trellis_daemon::home::STORE_FILE)).unwrap();
    let first =
        store.seq_ranges(&group).unwrap().iter().find(|(s, _)| *s == a_keys.org_id()).unwrap().1.last().unwrap().1 + 1;
    let envs: Vec<Envelope> = (0..2000u64)
        .map(|i| {
            Envelope::build(
                &a_keys,
                &PublishRequest {
                    group,
                    epoch: 0,
                    seq: first + i,
                    timestamp_ms: trellis_daemon::home::now_ms(),
                    tlp: Tlp::Red,
                    payload: &common::advisory_payload(&format!("red {i}"), "x"),
                    recipients: Recipients::Sealed { to: &[me] },
                },
                &EnvelopeRandomness { nonce: [i as u8; 24], content_key: [3; 32], hpke_seed: [4; 32] },
            )
            .unwrap()
        })
        .collect();
    let items: Vec<StoredItem> =
        envs.iter().map(|e| StoredItem { bytes: e.bytes.clone(), received_ms: 0, readable: Readable::No }).collect();
    let rows: Vec<_> = envs
        .iter()
        .zip(&items)
        .map(|(e, it)| (group, Kind::Advisory, e.header.sender, e.header.seq, e.id, it))
        .collect();
    store.insert_items(&rows).unwrap();
    store.close();
    drop(store);

    // A publishes 20 GREEN items: they come after the RED block in A's sequence order.
    let a = start_with(p, "a", vec![], Some(false)).await;
    for i in 0..20 {
        a.publish("g", "green", &format!("behind red {i}"), vec![]).await.unwrap();
    }
    let b = start_with(p, "b", vec![a.addr.clone()], Some(false)).await;
    wait_for("B catches up on the 20 items behind 2,000 RED ones", || async {
        b.titles().await.iter().filter(|t| t.starts_with("behind red ")).count() == 20
    })
    .await;
    assert!(!b.titles().await.iter().any(|t| t.starts_with("red ")), "RED reached a non-recipient");
    a.shutdown().await;
    b.shutdown().await;
}

/// Issue 16.3: a burst of well-signed items from a non-member, relayed by one peer, starts at
/// most one sync with that peer per interval, for the group the items name only. B is in two
/// groups; the relaying peer (a bare libp2p node subscribed to `g1`) sends 60 items of an
/// outsider naming `g1` and counts the sync requests B sends it. Before, each item started a
/// sync with that peer for every group B is in: 60 for `g1` and 60 for `g2`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_member_burst_starts_at_most_one_sync_per_peer_per_interval() {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use trellis_daemon::wire::RequestBody;
    use trellis_proto::OrgKeys;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let a = start_with(p, "a", vec![], Some(false)).await;
    let b = start_with(p, "b", vec![a.addr.clone()], Some(false)).await;
    let mut groups = Vec::new();
    for name in ["g1", "g2"] {
        let c: Created = a
            .client
            .post("/v1/groups", &CreateGroup { name: name.into(), kind: trellis_api::types::GroupKind::Sector })
            .await
            .unwrap();
        groups.push(GroupId::parse(&c.id).unwrap());
        common::join(&a, &b, name, "member").await;
    }
    let (g1, g2) = (groups[0], groups[1]);

    let kp = libp2p::identity::Keypair::generate_ed25519();
    let cfg = NodeConfig { bootstrap: vec![b.addr.parse().unwrap()], mdns: false, discovery: false };
    let (node, m, mut events) = Node::new(build_swarm(kp, &cfg).unwrap(), &cfg);
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(node.run(async {
        let _ = stop_rx.await;
    }));
    let syncs: Arc<Mutex<HashMap<GroupId, usize>>> = Arc::default();
    let seen = Arc::clone(&syncs);
    let responder = m.clone();
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if let NetEvent::InboundRequest { request, channel, .. } = ev {
                if let RequestBody::Sync { group, .. } = request.body {
                    *seen.lock().unwrap().entry(group).or_default() += 1;
                }
                responder.respond(channel, Response::Refused("no".into())).await;
            }
        }
    });
    m.listen("/ip4/127.0.0.1/tcp/0".parse().unwrap()).await.unwrap();
    m.subscribe(g1).await;
    wait_for("the relay is meshed with B", || async { m.info().await.topic_peers.values().any(|p| !p.is_empty()) })
        .await;
    // B syncs g1 with a peer that subscribes to it: wait for that one first.
    wait_for("B's sync on subscription", || async { syncs.lock().unwrap().get(&g1).copied().unwrap_or(0) >= 1 }).await;
    let before: usize = syncs.lock().unwrap().values().sum();
    let start = std::time::Instant::now();

    let outsider = OrgKeys::from_seeds([9; 32], [10; 32]);
    for seq in 1..=60u64 {
        let env = Envelope::build(
            &outsider,
            &PublishRequest {
                group: g1,
                epoch: 0,
                seq,
                timestamp_ms: trellis_daemon::home::now_ms(),
                tlp: Tlp::Clear,
                payload: &common::advisory_payload(&format!("outsider {seq}"), "x"),
                recipients: Recipients::Clear,
            },
            &EnvelopeRandomness { nonce: [1; 24], content_key: [2; 32], hpke_seed: [3; 32] },
        )
        .unwrap();
        m.publish(g1, env.bytes).await;
    }
    wait_for("B refuses the outsider's items", || async {
        b.status().await.rejects.get("not_a_member").copied().unwrap_or(0) >= 60
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let counts = syncs.lock().unwrap().clone();
    let after: usize = counts.values().sum();
    assert_eq!(counts.get(&g2).copied().unwrap_or(0), 0, "a g1 item started a sync of g2: {counts:?}");
    // One sync triggered by the burst, plus the periodic syncs of g1 (every 10 s) in the window.
    let periodic = start.elapsed().as_secs() as usize / 10 + 1;
    assert!(after - before <= 1 + periodic, "60 items started {} syncs: {counts:?}", after - before);
    let _ = stop.send(());
    a.shutdown().await;
    b.shutdown().await;
}
