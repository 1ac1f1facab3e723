//! The receive pipeline (daemon/src/pipeline.rs) against forged items mixed into honest batches,
//! and the reactions thread (daemon/src/reactions.rs) when its queue is full.

mod common;

use std::sync::Arc;
use std::time::Duration;

use libp2p::gossipsub::MessageAcceptance;
use trellis_daemon::engine::Engine;
use trellis_daemon::engine::ingest::{Origin, Outcome};
use trellis_daemon::home::now_ms;
use trellis_daemon::pipeline;
use trellis_daemon::validation::verdict_in;
use trellis_proto::envelope::{Body, ENVELOPE_TAG, Envelope, Header, Kind, Recipients};
use trellis_proto::group::open_genesis_key;
use trellis_proto::{GroupId, OrgKeys, Payload, ProtoError, Tlp, codec, crypto};

async fn engine_with_group(dir: &std::path::Path) -> (Arc<Engine>, OrgKeys, GroupId, [u8; 32]) {
    let (engine, keys, _binding) = common::offline_engine(dir, "n").await;
    let gid = engine.create_group("receive-pipeline", trellis_proto::group::GroupKind::Sector).await.unwrap();
    let key = engine.groups().with(&gid, |g| open_genesis_key(&g.log.genesis, &keys).unwrap()).unwrap();
    (engine, keys, gid, key)
}

fn green(keys: &OrgKeys, gid: GroupId, key: &[u8; 32], seq: u64, payload: &Payload) -> Envelope {
    common::item(keys, gid, seq, now_ms(), payload, Tlp::Green, Recipients::Group { epoch_key: key })
}

/// A GREEN envelope with a valid outer signature around a body whose inner signature is garbage:
/// only its sender can make one, and only nodes holding the key can tell.
fn bad_inner(keys: &OrgKeys, gid: GroupId, key: &[u8; 32], seq: u64, payload: &Payload) -> Envelope {
    let header = Header {
        version: trellis_proto::PROTOCOL_VERSION,
        kind: Kind::Advisory,
        group: gid,
        epoch: 0,
        sender: keys.org_id(),
        seq,
        timestamp_ms: now_ms(),
        tlp: Tlp::Green,
    };
    let header_bytes = codec::encode(&header);
    // The inner record (§5.4): the encoded payload as a byte string, then 64 signature bytes.
    let payload_bytes = codec::encode(payload);
    let mut inner = Vec::new();
    let mut n = payload_bytes.len();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            inner.push(b);
            break;
        }
        inner.push(b | 0x80);
    }
    inner.extend_from_slice(&payload_bytes);
    inner.extend_from_slice(&[7u8; 64]);
    let nonce = [seq as u8; 24];
    let body = Body::Group {
        nonce,
        commitment: crypto::commitment(key, &nonce),
        ciphertext: crypto::seal_body(key, &nonce, &header_bytes, &inner),
    };
    let mut bytes = header_bytes;
    bytes.extend_from_slice(&codec::encode(&body));
    let sig = keys.sign(ENVELOPE_TAG, &bytes);
    bytes.extend_from_slice(&sig);
    Envelope::decode(&bytes).unwrap()
}

/// One forged item (a flipped bit in its outer signature) and one with a bad inner signature among
/// 40 honest ones, all in one batch: the honest ones are stored, the two are refused and not
/// stored, and the verdicts are the ones PROTOCOL.md §4.7 gives (the forgery `Reject`, since every
/// relay checks the outer signature; the bad inner signature `Ignore`, since a relay without the
/// key cannot see it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_forged_item_among_honest_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, keys, gid, key) = engine_with_group(dir.path()).await;
    let (forged_at, bad_inner_at) = (7, 23);
    let items: Vec<Envelope> = (0..40u64)
        .map(|i| {
            let payload = common::advisory_payload(&format!("item {i}"), "honest");
            if i == bad_inner_at {
                return bad_inner(&keys, gid, &key, 10 + i, &payload);
            }
            let mut env = green(&keys, gid, &key, 10 + i, &payload);
            if i == forged_at {
                let n = env.bytes.len();
                env.bytes[n - 10] ^= 1;
                env = Envelope::decode(&env.bytes).unwrap();
            }
            env
        })
        .collect();
    let peer = libp2p::PeerId::random();
    let e = Arc::clone(&engine);
    let bytes: Vec<Vec<u8>> = items.iter().map(|e| e.bytes.clone()).collect();
    let (staged, stored) = tokio::task::spawn_blocking(move || {
        let with_origin: Vec<(&[u8], Origin)> = bytes.iter().map(|b| (b.as_slice(), Origin::Gossip(peer))).collect();
        let staged: Vec<_> = pipeline::validate_staged(&e, &with_origin)
            .into_iter()
            .map(|r| r.map(|_| ()).map_err(|r| (r.error.clone(), verdict_in(&r.error, r.seen, r.in_body))))
            .collect();
        let slices: Vec<&[u8]> = bytes.iter().map(|b| b.as_slice()).collect();
        (staged, pipeline::receive_batch(&e, &slices, Origin::Gossip(peer)))
    })
    .await
    .unwrap();
    for (i, (s, r)) in staged.iter().zip(&stored).enumerate() {
        match i as u64 {
            i if i == forged_at => {
                assert_eq!(s, &Err((ProtoError::BadSignature, MessageAcceptance::Reject)), "forged outer signature");
                assert_eq!(r, &Err(ProtoError::BadSignature));
            }
            i if i == bad_inner_at => {
                assert_eq!(s, &Err((ProtoError::BadSignature, MessageAcceptance::Ignore)), "bad inner signature");
                assert_eq!(r, &Err(ProtoError::BadSignature));
            }
            _ => {
                assert_eq!(s, &Ok(()), "honest item {i}");
                assert_eq!(r, &Ok(Outcome::Stored), "honest item {i}");
            }
        }
    }
    for (i, env) in items.iter().enumerate() {
        let held = engine.store().get_item(&env.id).unwrap().is_some();
        assert_eq!(held, i as u64 != forged_at && i as u64 != bad_inner_at, "item {i} stored?");
    }
    // The forged items did not take the sequence numbers they claimed.
    assert_eq!(engine.store().group_item_ids(&gid, Kind::Advisory).unwrap().len(), 38);
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../proto/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Advisories stored while the reactions queue is full still raise their SBOM matches: the ones
/// left out are counted and matched from the store once the reactions thread runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_reactions_queue_loses_no_match() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, keys, gid, key) = engine_with_group(dir.path()).await;
    let sbom = trellis_api::types::SbomAdd {
        name: "npm-app".into(),
        document: String::from_utf8(fixture("cyclonedx-npm-app.json")).unwrap(),
        lenient: false,
    };
    engine.sbom_add(&sbom).unwrap();
    let osv = trellis_proto::formats::osv::import(&fixture("osv-synthetic-npm.json")).unwrap().advisory;
    // Room for two; the reactions thread is not running yet.
    engine.reactions().set_capacity(2);
    let mut events = engine.events().subscribe();
    let mut ids = Vec::new();
    for i in 0..5u64 {
        let mut adv = osv.clone();
        adv.title = format!("{} ({i})", adv.title);
        let env = green(&keys, gid, &key, 10 + i, &Payload::Advisory(adv));
        ids.push(env.id.to_text());
        assert_eq!(engine.ingest(&env.bytes, Origin::Sync(libp2p::PeerId::random())), Ok(Outcome::Stored));
    }
    assert_eq!(engine.reactions().counts().0, 3, "three advisories did not fit in the queue");
    // What matching on demand finds for each advisory (`affected`), standing matches only.
    let mut want: std::collections::BTreeMap<String, usize> = Default::default();
    for m in engine.affected().unwrap().into_iter().filter(|m| !m.suppressed) {
        *want.entry(m.advisory).or_default() += 1;
    }
    assert_eq!(want.len(), 5, "every advisory matches the SBOM: {want:?}");
    let thread = trellis_daemon::reactions::start(Arc::clone(&engine)).unwrap();
    // One thread per engine at a time.
    assert!(trellis_daemon::reactions::start(Arc::clone(&engine)).is_err());
    let mut matched: std::collections::BTreeMap<String, usize> = Default::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while ids.iter().any(|id| matched.get(id).copied().unwrap_or(0) < want[id]) {
        let ev = tokio::time::timeout_at(deadline, events.recv()).await.expect("every match in time").unwrap();
        if let trellis_api::types::Event::Affected { affected } = ev {
            *matched.entry(affected.advisory.clone()).or_default() += 1;
        }
    }
    thread.stop();
    // Stopped, the thread holds the engine no more.
    assert_eq!(Arc::strong_count(&engine), 1);
}
