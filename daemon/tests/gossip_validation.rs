//! In-process nodes on port 0: the gossip validation path. A raw libp2p peer (not a Trellis
//! node, so it can send anything) connects to member B and publishes on the group's topic a
//! forged signature, an envelope from a non-member, a replayed sequence number signed by a real
//! member, an oversize message and garbage. B must reject each with its reason, store none of
//! them, and relay none of them to A and C (whose reject counters stay clean), while a genuine
//! advisory still flows.

mod common;

use common::{join as join_role, start_with, wait_for};

use trellis_api::types::{AdvisoryView, CreateGroup, Created, PublishAdvisory};
use trellis_daemon::home::Identity;
use trellis_daemon::node::{Node, NodeConfig, build_swarm};
use trellis_proto::envelope::{Envelope, EnvelopeRandomness, PublishRequest, Recipients};
use trellis_proto::limits::MAX_ENVELOPE_BYTES;
use trellis_proto::{GroupId, OrgKeys, Tlp};

fn clear_envelope(keys: &OrgKeys, group: GroupId, seq: u64, title: &str) -> Vec<u8> {
    let payload = common::advisory_payload(title, "x");
    let now = trellis_daemon::home::now_ms();
    Envelope::build(
        keys,
        &PublishRequest {
            group,
            epoch: 0,
            seq,
            timestamp_ms: now,
            tlp: Tlp::Clear,
            payload: &payload,
            recipients: Recipients::Clear,
        },
        &EnvelopeRandomness { nonce: [1; 24], content_key: [2; 32], hpke_seed: [3; 32] },
    )
    .unwrap()
    .bytes
}

/// A bare libp2p node dialling `addr`, subscribed to the group's topic and meshed.
async fn attacker(addr: &str, group: GroupId) -> (trellis_daemon::node::NodeHandle, tokio::sync::oneshot::Sender<()>) {
    let kp = libp2p::identity::Keypair::generate_ed25519();
    let cfg = NodeConfig { bootstrap: vec![addr.parse().unwrap()], mdns: false, discovery: false };
    let (node, m, mut events) = Node::new(build_swarm(kp, &cfg).unwrap(), &cfg);
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(node.run(async {
        let _ = stop_rx.await;
    }));
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    m.listen("/ip4/127.0.0.1/tcp/0".parse().unwrap()).await.unwrap();
    m.subscribe(group).await;
    wait_for("attacker meshed with B", || async {
        let info = m.info().await;
        info.topic_peers.values().any(|p| !p.is_empty())
    })
    .await;
    (m, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_gossip_is_rejected_and_not_relayed() {
    let dir = tempfile::tempdir().unwrap();
    // Discovery off: the attackers must reach A and C only through B, so what A and C see is
    // what B relayed.
    let a = start_with(dir.path(), "a", vec![], Some(false)).await;
    let b = start_with(dir.path(), "b", vec![a.addr.clone()], Some(false)).await;
    let c = start_with(dir.path(), "c", vec![b.addr.clone()], Some(false)).await;
    let created: Created = a
        .client
        .post("/v1/groups", &CreateGroup { name: "water".into(), kind: trellis_api::types::GroupKind::Sector })
        .await
        .unwrap();
    let group = GroupId::parse(&created.id).unwrap();
    join_role(&a, &b, "water", "member").await;
    join_role(&a, &c, "water", "member").await;

    // Each attack comes from a fresh bare libp2p node connected to B only: B's peer scoring
    // graylists a peer after a couple of invalid messages, so one peer could not deliver all five.
    let outsider = OrgKeys::from_seeds([9; 32], [10; 32]);
    let a_keys = Identity::load(&a.home).unwrap().keys;
    let mut forged = clear_envelope(&a_keys, group, 1000, "forged");
    let last = forged.len() - 1;
    forged[last] ^= 0x55;
    let attacks: Vec<Vec<u8>> = vec![
        // 1. A non-member's well-formed envelope.
        clear_envelope(&outsider, group, 1, "outsider says"),
        // 2. A forged signature.
        forged,
        // 3. A replayed sequence number: A's seq 1 is its first invite op; a different item with
        //    the same (sender, seq), validly signed by A's key.
        clear_envelope(&a_keys, group, 1, "equivocation"),
        // 4. Oversize and 5. garbage.
        vec![1u8; MAX_ENVELOPE_BYTES + 100],
        b"\x01 this is not an envelope at all".to_vec(),
    ];
    let mut attackers = Vec::new();
    for bytes in attacks {
        let (m, stop) = attacker(&b.addr, group).await;
        m.publish(group, bytes).await;
        attackers.push((m, stop));
    }

    let wanted = ["not_a_member", "bad_signature", "replayed_sequence", "oversize", "malformed"];
    wait_for("B to reject all five", || async {
        let s = b.status().await;
        wanted.iter().all(|r| s.rejects.get(*r).copied().unwrap_or(0) >= 1)
    })
    .await;

    // A genuine advisory still flows to everyone.
    let ok: Created = a
        .client
        .post("/v1/advisories", &PublishAdvisory::text("water", trellis_api::types::Tlp::Green, "genuine", "s"))
        .await
        .unwrap();
    for n in [&b, &c] {
        wait_for("genuine advisory", || async {
            let l: Vec<AdvisoryView> = n.client.get("/v1/advisories").await.unwrap();
            l.iter().any(|x| x.id == ok.id)
        })
        .await;
    }
    // Nothing of the attack was stored by B or relayed to A or C.
    for n in [&a, &b, &c] {
        let l: Vec<AdvisoryView> = n.client.get("/v1/advisories").await.unwrap();
        assert_eq!(
            l.len(),
            1,
            "only the genuine advisory is stored: {:?}",
            l.iter().map(|x| &x.title).collect::<Vec<_>>()
        );
    }
    for n in [&a, &c] {
        let s = n.status().await;
        for r in wanted {
            assert_eq!(s.rejects.get(r), None, "{r} reached a node through B: B relayed it");
        }
    }
    for (_, stop) in attackers {
        let _ = stop.send(());
    }
    for n in [a, b, c] {
        n.shutdown().await;
    }
}
