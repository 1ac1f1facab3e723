//! A malicious peer answering catch-up sync (issue "Nothing lost", scenario 5): a bare libp2p
//! node subscribed to the group's topic answers every sync request with garbage and forged
//! envelopes and claims there is always `more`. The honest node rejects every item with its
//! reason, stops asking when a round makes no progress (no endless loop), stays responsive,
//! and still catches up from an honest member. Oversized frames are refused before allocation
//! by the codec (unit test in `src/wire.rs`).

mod common;

use std::time::Duration;

use common::{start_with, wait_for};
use trellis_daemon::api::types::{CreateGroup, Created, Status};
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
    let c: Created =
        a.client.post("/v1/groups", &CreateGroup { name: "g".into(), kind: "sector".into() }).await.unwrap();
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
                responder.respond(channel, Response::Items { items, more: true }).await;
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
