//! Ingest benchmark (issue "Benchmarks at scale"): how many received envelopes per second one node
//! validates (decode, signatures, membership, replay), decrypts and durably stores, from a
//! pre-generated stream of 4 KiB GREEN advisories, next to the raw ed25519 `verify_strict` rate
//! measured in the same run on the same bytes. The items go through the daemon's own receive
//! pipeline (`trellis_daemon::pipeline::receive_batch`, what a gossip worker runs on each batch it
//! takes from the validation queue, and `Engine::prepare_many`, what catch-up sync runs). Run:
//!   cargo test --release -p trellis-daemon --test ingest_bench ingest_rate -- --ignored --nocapture
//! (one benchmark at a time: run together, the two in this file share the cores and distort
//! each other's figures).

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use trellis_daemon::engine::Engine;
use trellis_daemon::engine::ingest::Origin;
use trellis_daemon::home::now_ms;
use trellis_daemon::pipeline;
use trellis_proto::Tlp;
use trellis_proto::envelope::{Envelope, EnvelopeRandomness, PublishRequest, Recipients};
use trellis_proto::group::open_genesis_key;

/// An engine whose Swarm task is not run (this measures the node's own work on each item, not
/// the network), with a fresh identity and one group it founded.
async fn offline_engine(
    dir: &std::path::Path,
) -> (Arc<Engine>, trellis_proto::OrgKeys, trellis_proto::keys::SignedNodeBinding, trellis_proto::GroupId) {
    let (engine, keys, binding) = common::offline_engine(dir, "n").await;
    let gid = engine.create_group("bench", trellis_proto::group::GroupKind::Sector).await.unwrap();
    (engine, keys, binding, gid)
}

/// Items per path and run: one transaction per item is slow (one fsync each), so fewer.
const SINGLE: usize = 1000;
const BATCHED: usize = 4000;
/// Independent runs (fresh store each); figures are their median with min and max.
const RUNS: usize = 5;
/// The daemon's gossip path: this many workers (one per core, at least two), each taking up to
/// `GROUP_COMMIT` waiting messages (daemon/src/pipeline.rs).
const WORKERS: usize = 2;
const GROUP_COMMIT: usize = pipeline::GROUP_COMMIT;

/// A fresh engine and a pre-generated stream of GREEN 4 KiB advisories from its group's founder.
async fn engine_and_stream(dir: &std::path::Path, n: usize) -> (Arc<Engine>, Vec<Vec<u8>>) {
    let (engine, keys, _binding, gid) = offline_engine(dir).await;
    let key = engine.groups().with(&gid, |g| open_genesis_key(&g.log.genesis, &keys).unwrap()).unwrap();
    let summary = "x".repeat(3900);
    let stream = (0..n)
        .map(|i| {
            let recipients = Recipients::Group { epoch_key: &key };
            signed_advisory(&keys, gid, i, Tlp::Green, recipients, &format!("ingest {i}"), &summary).bytes
        })
        .collect();
    (engine, stream)
}

/// Advisory number `i` of a stream from `keys` in `gid` (sequence numbers from 10 on).
fn signed_advisory(
    keys: &trellis_proto::OrgKeys,
    gid: trellis_proto::GroupId,
    i: usize,
    tlp: Tlp,
    recipients: Recipients<'_>,
    title: &str,
    summary: &str,
) -> Envelope {
    Envelope::build(
        keys,
        &PublishRequest {
            group: gid,
            epoch: 0,
            seq: 10 + i as u64,
            timestamp_ms: now_ms(),
            tlp,
            payload: &common::advisory_payload(title, summary),
            recipients,
        },
        &EnvelopeRandomness { nonce: [i as u8; 24], content_key: [0; 32], hpke_seed: [0; 32] },
    )
    .unwrap()
}

/// Items per second of `f` over `n` items.
fn rate(n: usize, f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    n as f64 / t.elapsed().as_secs_f64()
}

fn median_min_max(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: cargo test --release -p trellis-daemon --test ingest_bench ingest_rate -- --ignored --nocapture"]
async fn ingest_rate_vs_raw_verify() {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut figures: Vec<[f64; 7]> = Vec::new();
    let mut size = 0;
    for run in 0..RUNS {
        let dir = tempfile::tempdir().unwrap();
        let (engine, stream) = engine_and_stream(dir.path(), SINGLE + 2 * BATCHED).await;
        size = stream[0].len();
        let (single, rest) = stream.split_at(SINGLE);
        let (gossip, sync) = rest.split_at(BATCHED);
        let (single, gossip, sync) = (single.to_vec(), gossip.to_vec(), sync.to_vec());
        let e = Arc::clone(&engine);
        let row = tokio::task::spawn_blocking(move || {
            // Reference: ed25519 `verify_strict` of the same signed bytes, on one core and on all.
            let decoded: Vec<Envelope> = gossip.iter().map(|b| Envelope::decode(b).unwrap()).collect();
            let verify_1 = rate(decoded.len(), || decoded.iter().for_each(|e| e.verify_signature().unwrap()));
            let verify_all = rate(decoded.len(), || {
                std::thread::scope(|s| {
                    for part in decoded.chunks(decoded.len().div_ceil(cores)) {
                        s.spawn(move || part.iter().for_each(|e| e.verify_signature().unwrap()));
                    }
                })
            });
            // One item per durable transaction.
            let single_rate = rate(single.len(), || {
                for b in &single {
                    e.ingest(b, Origin::Sync(libp2p::PeerId::random())).unwrap();
                }
            });
            // The daemon's gossip path: WORKERS threads, each taking up to GROUP_COMMIT waiting
            // messages and running them through the receive pipeline (signatures of the batch
            // checked together, stored by group commit). (Fed as sync items: the stream comes from
            // one publisher far faster than its gossip quota allows, and the quota check itself
            // is a counter update.)
            let next = std::sync::atomic::AtomicUsize::new(0);
            // Thread time spent in the pipeline, summed over the workers (nanoseconds).
            let t_pipeline = AtomicU64::new(0);
            let commits_before = e.store().commit_counts();
            let gossip_rate = rate(gossip.len(), || {
                std::thread::scope(|s| {
                    for _ in 0..WORKERS {
                        s.spawn(|| {
                            loop {
                                let at = next.fetch_add(GROUP_COMMIT, std::sync::atomic::Ordering::Relaxed);
                                if at >= gossip.len() {
                                    break;
                                }
                                let jobs: Vec<&[u8]> = gossip[at..(at + GROUP_COMMIT).min(gossip.len())]
                                    .iter()
                                    .map(|b| b.as_slice())
                                    .collect();
                                let peer = libp2p::PeerId::random();
                                let t = Instant::now();
                                for r in pipeline::receive_batch(&e, &jobs, Origin::Sync(peer)) {
                                    r.unwrap();
                                }
                                t_pipeline.fetch_add(t.elapsed().as_nanos() as u64, Relaxed);
                            }
                        });
                    }
                })
            });
            let commits_after = e.store().commit_counts();
            let per_commit = (commits_after.1 - commits_before.1) as f64 / (commits_after.0 - commits_before.0) as f64;
            // Catch-up sync as the daemon does it: batches of 500, validated on all cores
            // (`prepare_many`), each stored in one transaction.
            let sync_rate = rate(sync.len(), || {
                for chunk in sync.chunks(500) {
                    let peer = libp2p::PeerId::random();
                    let slices: Vec<&[u8]> = chunk.iter().map(|b| b.as_slice()).collect();
                    let prepared: Vec<_> =
                        e.prepare_many(&slices, Origin::Sync(peer)).into_iter().map(|r| r.unwrap()).collect();
                    for r in e.commit(prepared) {
                        r.unwrap();
                    }
                }
            });
            let per_item = |t: &AtomicU64| t.load(Relaxed) as f64 / 1000.0 / gossip.len() as f64;
            [verify_1, verify_all, single_rate, gossip_rate, sync_rate, per_item(&t_pipeline), per_commit]
        })
        .await
        .unwrap();
        let stored: Vec<trellis_api::types::AdvisoryView> = engine.advisories(None).unwrap();
        assert_eq!(stored.len(), SINGLE + 2 * BATCHED, "every item stored and readable");
        eprintln!("run {}: {:?}", run + 1, row.map(|v| v.round()));
        figures.push(row);
    }
    let col = |i: usize| median_min_max(figures.iter().map(|r| r[i]).collect());
    let ratio = |i: usize| median_min_max(figures.iter().map(|r| r[i] / r[0]).collect());
    println!(
        "envelope size {size} bytes; {RUNS} runs of {SINGLE} + {BATCHED} + {BATCHED} items; median [min–max]; {cores} cores"
    );
    let show = |name: &str, i: usize| {
        let (m, lo, hi) = col(i);
        let (rm, rlo, rhi) = ratio(i);
        println!("{name}: {m:.0}/s [{lo:.0}–{hi:.0}] = {rm:.2} [{rlo:.2}–{rhi:.2}] x raw verify on one core");
    };
    show("raw ed25519 verify_strict, one core", 0);
    show("raw ed25519 verify_strict, all cores", 1);
    show("ingest, one transaction per item", 2);
    show("ingest, gossip path (2 workers, batches of up to 64, group commit)", 3);
    show("ingest, sync path (500 per transaction, validated on all cores)", 4);
    let (p, plo, phi) = col(5);
    let (c, clo, chi) = col(6);
    println!(
        "gossip path: thread time per item in the pipeline {p:.0} µs [{plo:.0}–{phi:.0}] (validating, storing, and \
         waiting for the other worker's transaction and the fsync); items per storing transaction {c:.1} [{clo:.1}–{chi:.1}]"
    );
}

/// The bytes two nodes exchange in one sync round when they already agree on 100,000 items:
/// the request (node binding + per-sender range vector) and the empty reply, as framed on the
/// wire by the sync codec (transport overhead not included). Run:
///   cargo test --release -p trellis-daemon --test ingest_bench agree -- --ignored --nocapture
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: cargo test --release -p trellis-daemon --test ingest_bench agree -- --ignored --nocapture"]
async fn agree_on_100k_items_sync_bytes() {
    use trellis_daemon::wire::{Request, RequestBody, Response, SYNC_BATCH_BYTES, SYNC_BATCH_ITEMS, SYNC_SCAN_ITEMS};
    const ITEMS: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let (engine, keys, binding, gid) = offline_engine(dir.path()).await;
    let e2 = Arc::clone(&engine);
    let t = Instant::now();
    tokio::task::spawn_blocking(move || {
        for chunk_start in (0..ITEMS).step_by(1000) {
            let prepared: Vec<_> = (chunk_start..chunk_start + 1000)
                .map(|i| {
                    let env = signed_advisory(&keys, gid, i, Tlp::Clear, Recipients::Clear, &format!("agree {i}"), "x");
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
    let have = engine.store().seq_ranges(&gid).unwrap();
    let request = Request { binding, body: RequestBody::Sync { group: gid, have: have.clone(), after: None } };
    let t = Instant::now();
    let index = trellis_proto::wire::HaveIndex::new(&have).unwrap();
    let limits = trellis_daemon::store::BatchLimits {
        max_items: SYNC_BATCH_ITEMS,
        max_bytes: SYNC_BATCH_BYTES,
        max_skipped: SYNC_SCAN_ITEMS,
    };
    let batch = engine.store().items_missing_from(&gid, &index, None, limits, |_| true).unwrap();
    let (items, more, next) = (batch.items, batch.more, batch.next);
    let answer_ms = t.elapsed().as_secs_f64() * 1000.0;
    assert!(items.is_empty() && !more, "nodes that agree exchange no items");
    let request_bytes = postcard::to_allocvec(&request).unwrap().len() + 4;
    let response_bytes = postcard::to_allocvec(&Response::Items { items, more, next }).unwrap().len() + 4;
    println!(
        "two nodes agreeing on {ITEMS} items: request {request_bytes} B, reply {response_bytes} B per sync round (framed, before noise/yamux/TCP); responder work {answer_ms:.1} ms"
    );
}

/// The validation stages alone (no storing), on one core: the receive pipeline's batches of up
/// to `GROUP_COMMIT` (signatures checked together) against batches of one (each signature
/// checked alone), next to the raw `verify_strict` rate of the same bytes. Separates the CPU
/// work from the disk, whose fsync time varies by ten times on a shared machine. Run:
///   cargo test --release -p trellis-daemon --test ingest_bench validate_rate -- --ignored --nocapture
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: cargo test --release -p trellis-daemon --test ingest_bench validate_rate -- --ignored --nocapture"]
async fn validate_rate_batched_vs_single() {
    const N: usize = 2048;
    let mut figures: Vec<[f64; 3]> = Vec::new();
    for _ in 0..RUNS {
        let dir = tempfile::tempdir().unwrap();
        let (engine, stream) = engine_and_stream(dir.path(), N).await;
        let e = Arc::clone(&engine);
        let row = tokio::task::spawn_blocking(move || {
            let decoded: Vec<Envelope> = stream.iter().map(|b| Envelope::decode(b).unwrap()).collect();
            let verify_1 = rate(N, || decoded.iter().for_each(|e| e.verify_signature().unwrap()));
            let peer = libp2p::PeerId::random();
            let slices: Vec<&[u8]> = stream.iter().map(|b| b.as_slice()).collect();
            let single = rate(N, || {
                for s in &slices {
                    assert!(pipeline::validate(&e, &[*s], Origin::Sync(peer)).pop().unwrap().is_ok());
                }
            });
            let batched = rate(N, || {
                for c in slices.chunks(GROUP_COMMIT) {
                    assert!(pipeline::validate(&e, c, Origin::Sync(peer)).iter().all(Result::is_ok));
                }
            });
            [verify_1, single, batched]
        })
        .await
        .unwrap();
        eprintln!("run: {:?}", row.map(|v| v.round()));
        figures.push(row);
    }
    let col = |i: usize| median_min_max(figures.iter().map(|r| r[i]).collect());
    let ratio = |i: usize| median_min_max(figures.iter().map(|r| r[i] / r[0]).collect());
    for (name, i) in [
        ("raw ed25519 verify_strict, one core", 0),
        ("validation stages 1-5, batches of one, one core", 1),
        ("validation stages 1-5, batches of 64, one core", 2),
    ] {
        let ((m, lo, hi), (rm, rlo, rhi)) = (col(i), ratio(i));
        println!("{name}: {m:.0}/s [{lo:.0}–{hi:.0}] = {rm:.2} [{rlo:.2}–{rhi:.2}] x raw verify on one core");
    }
}
