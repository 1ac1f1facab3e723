//! Ingest benchmark (issue "Benchmarks at scale"): how many received envelopes per second one node
//! validates (decode, signature, membership, replay), decrypts and durably stores, from a
//! pre-generated stream of 4 KiB GREEN advisories, next to the raw ed25519 `verify_strict` rate
//! measured in the same run on the same bytes. Run:
//!   cargo test --release -p trellis-daemon --test ingest_bench -- --ignored --nocapture

mod common;

use std::sync::Arc;
use std::time::Instant;

use trellis_daemon::engine::Engine;
use trellis_daemon::engine::ingest::Origin;
use trellis_daemon::home::{Identity, now_ms};
use trellis_daemon::node::{Node, NodeConfig, build_swarm};
use trellis_daemon::store::Store;
use trellis_proto::Tlp;
use trellis_proto::envelope::{Envelope, EnvelopeRandomness, PublishRequest, Recipients};
use trellis_proto::group::open_genesis_key;

const N: usize = 3000;

/// An engine whose Swarm task is not run (this measures the node's own work on each item, not
/// the network), with a fresh identity and one group it founded.
async fn offline_engine(
    dir: &std::path::Path,
) -> (Arc<Engine>, trellis_proto::OrgKeys, trellis_proto::keys::SignedNodeBinding, trellis_proto::GroupId) {
    let home = dir.join("n");
    let identity = Identity::create(&home, "bench", now_ms()).unwrap();
    let keys = Identity::load(&home).unwrap().keys;
    let store = Store::open(&home.join("store.redb")).unwrap();
    let kp = libp2p::identity::Keypair::generate_ed25519();
    let peer = kp.public().to_peer_id();
    let binding = trellis_proto::keys::NodeBinding::sign(&keys, kp.public().encode_protobuf(), now_ms(), 3_600_000);
    let cfg = NodeConfig { bootstrap: vec![], mdns: false, discovery: false };
    let (node, handle, _events) = Node::new(build_swarm(kp, &cfg).unwrap(), &cfg);
    drop(node);
    let engine = Engine::new(home, identity, binding.clone(), store, handle, peer).unwrap();
    let gid = engine.create_group("bench", "sector").await.unwrap();
    (engine, keys, binding, gid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: cargo test --release -p trellis-daemon --test ingest_bench -- --ignored --nocapture"]
async fn ingest_rate_vs_raw_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, keys, _binding, gid) = offline_engine(dir.path()).await;
    let key = {
        let groups = engine.groups.read().unwrap();
        let g = groups.get(&gid).unwrap();
        open_genesis_key(&g.log.genesis, &keys).unwrap()
    };
    let stream: Vec<Vec<u8>> = (0..N)
        .map(|i| {
            Envelope::build(
                &keys,
                &PublishRequest {
                    group: gid,
                    epoch: 0,
                    seq: 10 + i as u64,
                    timestamp_ms: now_ms(),
                    tlp: Tlp::Green,
                    payload: &common::advisory_payload(&format!("ingest {i}"), &"x".repeat(3900)),
                    recipients: Recipients::Group { epoch_key: &key },
                },
                &EnvelopeRandomness { nonce: [i as u8; 24], content_key: [0; 32], hpke_seed: [0; 32] },
            )
            .unwrap()
            .bytes
        })
        .collect();
    let size = stream[0].len();

    // Raw ed25519 verify_strict of the same signed bytes.
    let decoded: Vec<Envelope> = stream.iter().map(|b| Envelope::decode(b).unwrap()).collect();
    let t = Instant::now();
    for e in &decoded {
        e.verify_signature().unwrap();
    }
    let verify_rate = N as f64 / t.elapsed().as_secs_f64();

    // One item at a time, each in its own durable transaction (the gossip path).
    let half = N / 2;
    let e2 = Arc::clone(&engine);
    let first: Vec<Vec<u8>> = stream[..half].to_vec();
    let t = Instant::now();
    tokio::task::spawn_blocking(move || {
        for b in &first {
            e2.ingest(b, Origin::Sync(libp2p::PeerId::random())).unwrap();
        }
    })
    .await
    .unwrap();
    let single_rate = half as f64 / t.elapsed().as_secs_f64();

    // Batches of 500 in one transaction each (the catch-up sync path).
    let e3 = Arc::clone(&engine);
    let rest: Vec<Vec<u8>> = stream[half..].to_vec();
    let t = Instant::now();
    tokio::task::spawn_blocking(move || {
        for chunk in rest.chunks(500) {
            let prepared: Vec<_> =
                chunk.iter().map(|b| e3.prepare(b, Origin::Sync(libp2p::PeerId::random())).unwrap()).collect();
            for r in e3.commit(prepared) {
                r.unwrap();
            }
        }
    })
    .await
    .unwrap();
    let batch_rate = (N - half) as f64 / t.elapsed().as_secs_f64();
    let stored: Vec<trellis_daemon::api::types::AdvisoryView> = engine.advisories(None).unwrap();
    assert_eq!(stored.len(), N, "every item stored and readable");
    println!("envelope size {size} bytes, {N} items");
    println!("raw ed25519 verify_strict: {verify_rate:.0}/s");
    println!(
        "ingest, one transaction per item (gossip path): {single_rate:.0}/s = {:.2} x raw verify",
        single_rate / verify_rate
    );
    println!(
        "ingest, 500 per transaction (sync path): {batch_rate:.0}/s = {:.2} x raw verify",
        batch_rate / verify_rate
    );
}

/// The bytes two nodes exchange in one sync round when they already agree on 100,000 items:
/// the request (node binding + per-sender range vector) and the empty reply, as framed on the
/// wire by the sync codec (transport overhead not included). Run:
///   cargo test --release -p trellis-daemon --test ingest_bench agree -- --ignored --nocapture
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: cargo test --release -p trellis-daemon --test ingest_bench agree -- --ignored --nocapture"]
async fn agree_on_100k_items_sync_bytes() {
    use trellis_daemon::wire::{Request, RequestBody, Response, SYNC_BATCH_BYTES, SYNC_BATCH_ITEMS};
    const ITEMS: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let (engine, keys, binding, gid) = offline_engine(dir.path()).await;
    let e2 = Arc::clone(&engine);
    let t = Instant::now();
    tokio::task::spawn_blocking(move || {
        for chunk_start in (0..ITEMS).step_by(1000) {
            let prepared: Vec<_> = (chunk_start..chunk_start + 1000)
                .map(|i| {
                    let env = Envelope::build(
                        &keys,
                        &PublishRequest {
                            group: gid,
                            epoch: 0,
                            seq: 10 + i as u64,
                            timestamp_ms: now_ms(),
                            tlp: Tlp::Clear,
                            payload: &common::advisory_payload(&format!("agree {i}"), "x"),
                            recipients: Recipients::Clear,
                        },
                        &EnvelopeRandomness { nonce: [0; 24], content_key: [0; 32], hpke_seed: [0; 32] },
                    )
                    .unwrap();
                    e2.prepare(&env.bytes, Origin::Sync(libp2p::PeerId::random())).unwrap()
                })
                .collect();
            for r in e2.commit(prepared) {
                r.unwrap();
            }
        }
    })
    .await
    .unwrap();
    eprintln!("stored {ITEMS} items in {:.1} s", t.elapsed().as_secs_f64());
    // The peer holds exactly the same items: its request carries our own range vector.
    let have = engine.store.seq_ranges(&gid).unwrap();
    let request = Request { binding, body: RequestBody::Sync { group: gid, have } };
    let t = Instant::now();
    let (items, more) = engine
        .store
        .items_missing_from(
            &gid,
            match &request.body {
                RequestBody::Sync { have, .. } => have,
                _ => unreachable!(),
            },
            SYNC_BATCH_BYTES,
            SYNC_BATCH_ITEMS,
        )
        .unwrap();
    let answer_ms = t.elapsed().as_secs_f64() * 1000.0;
    assert!(items.is_empty() && !more, "nodes that agree exchange no items");
    let request_bytes = postcard::to_allocvec(&request).unwrap().len() + 4;
    let response_bytes = postcard::to_allocvec(&Response::Items { items, more }).unwrap().len() + 4;
    println!(
        "two nodes agreeing on {ITEMS} items: request {request_bytes} B, reply {response_bytes} B per sync round (framed, before noise/yamux/TCP); responder work {answer_ms:.1} ms"
    );
}
