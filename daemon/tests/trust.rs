//! Trust-weighted propagation under attack (issue "Trust-weighted propagation"): a group of
//! honest nodes plus member organizations that flood (1,000+ items/s each, published by bare
//! libp2p nodes holding the members' real keys) and publish false advisories that their own
//! clique endorses. Measured in one run, against the same network before the attack:
//! honest advisories' delivery time to all honest nodes, how much of the flood each honest node
//! relayed (bounded by the flooders' quota), and the confidence honest nodes give to the clique's
//! advisories versus honest ones.
//!
//! `trust_under_attack` (small, in `cargo test`) asserts the qualitative properties only.
//! `trust_experiment_30_nodes` is the benchmark, run by:
//!   cargo test --release -p trellis-daemon --test trust -- --ignored --nocapture

mod common;

use std::time::{Duration, Instant};

use common::{TestNode, converged_members, join, start_with, wait_for};
use trellis_api::types::{
    AdvisoryView, CreateGroup, Created, EndorseRequest, InviteRequest, InviteToken, SetTrust, TrustView,
};
use trellis_daemon::home::{Identity, now_ms};
use trellis_daemon::node::{Node, NodeConfig, NodeHandle, build_swarm};
use trellis_proto::envelope::{Envelope, EnvelopeRandomness, PublishRequest, Recipients};
use trellis_proto::group::open_epoch_share;
use trellis_proto::invite::Invite;
use trellis_proto::items::{Endorsement, EndorsementKind};
use trellis_proto::{ContactCard, GroupId, ItemId, OrgKeys, Payload, Tlp};

/// A flooding member: its org keys, the group key, and a bare node to publish with.
struct Flooder {
    keys: OrgKeys,
    key: [u8; 32],
    node: NodeHandle,
    seq: u64,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Flooder {
    fn envelope(&mut self, group: GroupId, payload: &Payload) -> Vec<u8> {
        self.seq += 1;
        let mut rand = EnvelopeRandomness { nonce: [0; 24], content_key: [0; 32], hpke_seed: [0; 32] };
        rand.nonce[..8].copy_from_slice(&self.seq.to_be_bytes());
        rand.nonce[8..16].copy_from_slice(&self.keys.org_id().0[..8]);
        Envelope::build(
            &self.keys,
            &PublishRequest {
                group,
                epoch: 0,
                seq: self.seq,
                timestamp_ms: now_ms(),
                tlp: Tlp::Green,
                payload,
                recipients: Recipients::Group { epoch_key: &self.key },
            },
            &rand,
        )
        .expect("envelope")
        .bytes
    }
}

/// Admit a flooder org (no daemon of its own) and build its bare publishing node.
async fn admit_flooder(
    dir: &std::path::Path,
    admin: &TestNode,
    group: GroupId,
    name: &str,
    dial: &[String],
) -> Flooder {
    let home = dir.join(name);
    let keys = Identity::create(&home, name, now_ms()).expect("identity").keys;
    let card = ContactCard { name: name.into(), bundle: keys.key_bundle(now_ms(), 3_600_000), addrs: vec![] }.to_text();
    let tok: InviteToken = admin
        .client
        .post("/v1/groups/bench/invite", &InviteRequest { card, role: trellis_api::types::Role::Member })
        .await
        .unwrap();
    let inv = Invite::parse(&tok.token, &keys.org_id()).expect("invite");
    let opened = inv.add_op.open(None, &[]).expect("op");
    let Payload::GroupOp(op) = opened.payload else { panic!("not an op") };
    let trellis_proto::group::OpAction::Add { share: Some(share), .. } = op.action else { panic!("no share") };
    let key = open_epoch_share(&group, &share.key_id, &share.shares, &keys).expect("share");
    let kp = libp2p::identity::Keypair::generate_ed25519();
    let cfg =
        NodeConfig { bootstrap: dial.iter().map(|a| a.parse().unwrap()).collect(), mdns: false, discovery: false };
    let (node, handle, mut events) = Node::new(build_swarm(kp, &cfg).unwrap(), &cfg);
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(node.run(async {
        let _ = stop_rx.await;
    }));
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    handle.listen("/ip4/127.0.0.1/tcp/0".parse().unwrap()).await.unwrap();
    handle.subscribe(group).await;
    Flooder { keys, key, node: handle, seq: 0, _stop: stop }
}

/// Delivery time of each of `ids` to every node: publish time → the slowest node's store time.
async fn delivery_ms(nodes: &[&TestNode], ids: &[String]) -> Vec<u64> {
    let mut worst = vec![0u64; ids.len()];
    for n in nodes {
        let list: Vec<AdvisoryView> = n.advisories().await;
        for (i, id) in ids.iter().enumerate() {
            let a = list.iter().find(|a| &a.id == id).expect("delivered");
            worst[i] = worst[i].max(a.received_ms.saturating_sub(a.published_ms));
        }
    }
    worst.sort();
    worst
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The outcome of one experiment.
#[derive(Debug)]
struct Report {
    baseline: Vec<u64>,
    attack: Vec<u64>,
    flood_sent_per_flooder: u64,
    flood_seconds: f64,
    /// Per honest node, per flooder: items relayed, and that node's final quota for it.
    relayed: Vec<(u64, f64)>,
    honest_confidence: Vec<f64>,
    clique_confidence: Vec<f64>,
}

async fn experiment(honest: usize, flooders: usize, per_flooder: u64, rate_per_s: u64) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let first = start_with(p, "h0", vec![], Some(false)).await;
    let mut nodes = vec![first];
    for i in 1..honest {
        // A chain plus a link back to the first node keeps the mesh connected without discovery.
        let boot = vec![nodes[0].addr.clone(), nodes[i - 1].addr.clone()];
        nodes.push(start_with(p, &format!("h{i}"), boot, Some(false)).await);
    }
    let c: Created = nodes[0]
        .client
        .post("/v1/groups", &CreateGroup { name: "bench".into(), kind: trellis_api::types::GroupKind::Sector })
        .await
        .unwrap();
    let group = GroupId::parse(&c.id).unwrap();
    for n in &nodes[1..] {
        join(&nodes[0], n, "bench", "member").await;
    }
    let refs: Vec<&TestNode> = nodes.iter().collect();
    converged_members(&refs, "bench", honest).await;
    // The honest organizations know each other (a sector's established members): each operator
    // trusts the others at 0.8. The attackers join later as new members, at the group default.
    let mut orgs = Vec::new();
    for n in &refs {
        orgs.push(n.org().await);
    }
    for n in &refs {
        for o in &orgs {
            let _: TrustView =
                n.client.post("/v1/trust", &SetTrust { org: o.clone(), level: Some(0.8) }).await.unwrap();
        }
    }

    // Baseline: honest advisories, no attack.
    let mut base_ids = Vec::new();
    for i in 0..10 {
        let publisher = &nodes[i % honest];
        base_ids.push(publisher.publish("bench", "green", &format!("baseline {i}"), vec![]).await.unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for n in &refs {
        wait_for("baseline delivered", || async { n.advisories().await.len() >= base_ids.len() }).await;
    }
    let baseline = delivery_ms(&refs, &base_ids).await;

    // The attackers join: members of the group, each connected to two honest nodes.
    let mut fl = Vec::new();
    for f in 0..flooders {
        let dial = vec![nodes[f % honest].addr.clone(), nodes[(f + 1) % honest].addr.clone()];
        fl.push(admit_flooder(p, &nodes[0], group, &format!("flooder{f}"), &dial).await);
    }
    converged_members(&refs, "bench", honest + flooders).await;
    wait_for("flooders meshed", || async {
        let mut ok = true;
        for f in &fl {
            ok &= f.node.info().await.topic_peers.values().any(|p| !p.is_empty());
        }
        ok
    })
    .await;

    // The clique's false advisories, endorsed by the other clique members.
    let mut clique_ids = Vec::new();
    for (f, flooder) in fl.iter_mut().enumerate() {
        let bytes =
            flooder.envelope(group, &common::advisory_payload(&format!("false advisory {f}"), "claimed by the clique"));
        clique_ids.push(ItemId::of_envelope(&bytes));
        flooder.node.publish(group, bytes).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (i, id) in clique_ids.iter().enumerate() {
        for (f, flooder) in fl.iter_mut().enumerate() {
            if f != i {
                let e = Payload::Endorsement(Endorsement { item: *id, kind: EndorsementKind::Confirm, comment: None });
                let bytes = flooder.envelope(group, &e);
                flooder.node.publish(group, bytes).await;
            }
        }
    }

    // The flood, with honest advisories published during it.
    let started = Instant::now();
    let mut attack_ids = Vec::new();
    let batch = (rate_per_s / 20).max(1);
    let mut sent = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    while sent < per_flooder {
        tick.tick().await;
        for (f, flooder) in fl.iter_mut().enumerate() {
            for k in 0..batch {
                let bytes =
                    flooder.envelope(group, &common::advisory_payload(&format!("flood {f}-{}", sent + k), "flood"));
                flooder.node.publish(group, bytes).await;
            }
        }
        sent += batch;
        if sent % (batch * 4) == 0 && attack_ids.len() < 10 {
            let i = attack_ids.len();
            let publisher = &nodes[i % honest];
            attack_ids.push(publisher.publish("bench", "green", &format!("during attack {i}"), vec![]).await.unwrap());
        }
    }
    let flood_seconds = started.elapsed().as_secs_f64();
    while attack_ids.len() < 10 {
        let i = attack_ids.len();
        attack_ids
            .push(nodes[i % honest].publish("bench", "green", &format!("during attack {i}"), vec![]).await.unwrap());
    }
    // One honest endorsement of each honest advisory, as members do for what they confirm.
    for (i, id) in attack_ids.iter().enumerate() {
        let endorser = &nodes[(i + 1) % honest];
        wait_for("advisory reached the endorser", || async { endorser.advisories().await.iter().any(|a| &a.id == id) })
            .await;
        let _: Created = endorser
            .client
            .post(
                &format!("/v1/advisories/{id}/endorse"),
                &EndorseRequest { kind: trellis_api::types::EndorsementKind::Confirm, comment: None },
            )
            .await
            .unwrap();
    }
    for n in &refs {
        wait_for("honest advisories delivered during the attack", || async {
            let l = n.advisories().await;
            attack_ids.iter().all(|id| l.iter().any(|a| &a.id == id))
        })
        .await;
    }
    let attack = delivery_ms(&refs, &attack_ids).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let flooder_orgs: Vec<String> = fl.iter().map(|f| f.keys.org_id().to_text()).collect();
    let mut relayed = Vec::new();
    let mut honest_confidence = Vec::new();
    let mut clique_confidence = Vec::new();
    let clique_texts: Vec<String> = clique_ids.iter().map(|i| i.to_text()).collect();
    for n in &refs {
        let trust: Vec<TrustView> = n.client.get("/v1/trust").await.unwrap();
        for org in &flooder_orgs {
            if let Some(t) = trust.iter().find(|t| &t.org == org) {
                relayed.push((t.relayed_items, t.quota_per_s));
            }
        }
        for a in n.advisories().await {
            if attack_ids.contains(&a.id) {
                honest_confidence.push(a.confidence);
            } else if clique_texts.contains(&a.id) {
                clique_confidence.push(a.confidence);
            }
        }
    }
    for n in nodes {
        n.shutdown().await;
    }
    Report {
        baseline,
        attack,
        flood_sent_per_flooder: sent,
        flood_seconds,
        relayed,
        honest_confidence,
        clique_confidence,
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_under_attack() {
    let r = experiment(5, 2, 1000, 1000).await;
    eprintln!("{r:?}");
    // Honest items all delivered (the experiment waits for it) and the flood was real.
    assert!(r.flood_sent_per_flooder >= 1000);
    // No honest node relayed more of a flooder than the quota a member starts with allows:
    // its burst plus its rate over the flood (trust only falls from there).
    let (rate, burst) = trellis_daemon::engine::trust::quota(0.5);
    let bound = (burst + rate * (r.flood_seconds + 3.0)).ceil() as u64;
    for (relayed, _) in &r.relayed {
        assert!(*relayed <= bound, "a node relayed {relayed} flood items, above the quota bound {bound}");
    }
    // When the flood outran the quota (a quiet machine: bound < flood), the bound means most of
    // the flood was dropped at the first hop. On a loaded machine the flooders may send no faster
    // than the quota lets through, and then the bound alone is the claim; the test says which.
    eprintln!(
        "flood {} items per flooder in {:.1} s; quota bound {bound} items: {}",
        r.flood_sent_per_flooder,
        r.flood_seconds,
        if bound * 2 < r.flood_sent_per_flooder {
            "most of the flood was dropped at the first hop"
        } else {
            "the flood was not faster than the quota"
        }
    );
    // The clique's self-endorsed advisories end below honest, honestly endorsed ones.
    assert!(!r.clique_confidence.is_empty() && !r.honest_confidence.is_empty(), "{r:?}");
    assert!(
        mean(&r.clique_confidence) < mean(&r.honest_confidence),
        "clique {:?} vs honest {:?}",
        r.clique_confidence,
        r.honest_confidence
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: cargo test --release -p trellis-daemon --test trust -- --ignored --nocapture"]
async fn trust_experiment_30_nodes() {
    let r = experiment(27, 3, 3000, 1000).await;
    let (rate, burst) = trellis_daemon::engine::trust::quota(0.5);
    println!(
        "nodes: 27 honest + 3 flooders; flood: {} items per flooder in {:.2} s",
        r.flood_sent_per_flooder, r.flood_seconds
    );
    println!(
        "honest delivery to all honest nodes, baseline: p50 {} ms, p99 {} ms; under attack: p50 {} ms, p99 {} ms (ratio p50 {:.2}, p99 {:.2})",
        pct(&r.baseline, 0.5),
        pct(&r.baseline, 0.99),
        pct(&r.attack, 0.5),
        pct(&r.attack, 0.99),
        pct(&r.attack, 0.5) as f64 / pct(&r.baseline, 0.5).max(1) as f64,
        pct(&r.attack, 0.99) as f64 / pct(&r.baseline, 0.99).max(1) as f64
    );
    let fractions: Vec<f64> = r.relayed.iter().map(|(n, _)| *n as f64 / r.flood_sent_per_flooder as f64).collect();
    println!(
        "flood relayed per honest node and flooder: max {:.4} of the flood ({} items), mean {:.4}; starting quota {:.0}/s burst {:.0} => bound {:.0} items",
        fractions.iter().cloned().fold(0.0, f64::max),
        r.relayed.iter().map(|(n, _)| *n).max().unwrap_or(0),
        mean(&fractions),
        rate,
        burst,
        burst + rate * r.flood_seconds
    );
    println!(
        "confidence: clique mean {:.3} (n={}), honest mean {:.3} (n={})",
        mean(&r.clique_confidence),
        r.clique_confidence.len(),
        mean(&r.honest_confidence),
        r.honest_confidence.len()
    );
}
