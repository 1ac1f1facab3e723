//! Micro-benchmarks of the cryptographic paths of `trellis-proto` (BENCHMARKS.md, section
//! "trellis-proto micro-benchmarks"): signing, raw ed25519 `verify_strict` as the reference cost,
//! sealing and opening one epoch-key share, building and opening a 4 KiB GREEN advisory, the
//! whole "validate one received envelope" path (`decode_verified` + `open`), and a rekey to 1000
//! recipients. Ratios against raw verification are what the report quotes: absolute times depend
//! on the machine.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::{Signer, SigningKey};
use trellis_proto::envelope::{ENVELOPE_TAG, EnvelopeRandomness};
use trellis_proto::group::{GroupOp, OpAction, open_epoch_share, seal_epoch_key};
use trellis_proto::items::{Advisory, Category};
use trellis_proto::keys::EncryptionSecret;
use trellis_proto::*;

fn keys(n: u8) -> OrgKeys {
    OrgKeys::from_seeds([n; 32], [n ^ 0x5a; 32])
}

fn randomness(n: u8) -> EnvelopeRandomness {
    EnvelopeRandomness { nonce: [n; 24], content_key: [n ^ 1; 32], hpke_seed: [n ^ 2; 32] }
}

/// An advisory whose encoded payload is about 4 KiB.
fn advisory_4k() -> Payload {
    Payload::Advisory(Advisory {
        reference_id: "ACME-2025-0001".into(),
        title: "Remote code execution in the ACME SCADA gateway".into(),
        summary: "x".repeat(4096 - 200),
        category: Category::Vulnerability,
        severity: None,
        aliases: vec!["CVE-2025-12345".into()],
        affected: vec![],
        references: vec!["https://acme.example/advisories/0001".into()],
        remediation: Some("Upgrade to 4.2.1.".into()),
        published_ms: 1_700_000_000_000,
        updated_ms: 1_700_000_000_000,
        source: None,
    })
}

fn green_envelope(sender: &OrgKeys, epoch_key: &[u8; 32], payload: &Payload) -> Envelope {
    Envelope::build(
        sender,
        &PublishRequest {
            group: GroupId([3; 32]),
            epoch: 0,
            seq: 1,
            timestamp_ms: 1_700_000_000_000,
            tlp: Tlp::Green,
            payload,
            recipients: Recipients::Group { epoch_key },
        },
        &randomness(9),
    )
    .expect("build GREEN envelope")
}

/// `n` distinct recipients: org ids and X25519 public keys.
fn recipients(n: usize) -> Vec<(OrgId, [u8; 32])> {
    (0..n)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            seed[31] = 0xee;
            let org = OrgId(SigningKey::from_bytes(&seed).verifying_key().to_bytes());
            (org, EncryptionSecret::from_bytes(seed).public())
        })
        .collect()
}

fn signatures(c: &mut Criterion) {
    let k = keys(1);
    let epoch_key = [7u8; 32];
    let env = green_envelope(&k, &epoch_key, &advisory_4k());
    let signed = env.signed_bytes().to_vec();
    // The exact message the envelope signature covers: len(tag) || tag || bytes (§3.3).
    let mut message = vec![ENVELOPE_TAG.len() as u8];
    message.extend_from_slice(ENVELOPE_TAG.as_bytes());
    message.extend_from_slice(&signed);
    let raw_sig = k.signing().sign(&message);
    let vk = k.signing().verifying_key();

    c.bench_function("sign envelope (4 KiB, tagged)", |b| {
        b.iter(|| black_box(k.sign(ENVELOPE_TAG, black_box(&signed))))
    });
    c.bench_function("ed25519 verify_strict raw (4 KiB)", |b| {
        b.iter(|| vk.verify_strict(black_box(&message), black_box(&raw_sig)).expect("valid"))
    });
}

fn epoch_shares(c: &mut Criterion) {
    let me = keys(2);
    let group = GroupId([4; 32]);
    let key = [8u8; 32];
    let to = [(me.org_id(), me.encryption().public())];
    let sealed = seal_epoch_key(&group, &key, &to, [5; 32]).0;
    c.bench_function("seal_epoch_key 1 recipient", |b| {
        b.iter(|| seal_epoch_key(&group, black_box(&key), &to, [5; 32]).0)
    });
    c.bench_function("open_epoch_share 1 recipient", |b| {
        b.iter(|| open_epoch_share(&group, &sealed.key_id, black_box(&sealed.shares), &me).expect("open"))
    });
}

fn green_items(c: &mut Criterion) {
    let k = keys(3);
    let epoch_key = [9u8; 32];
    let payload = advisory_4k();
    let env = green_envelope(&k, &epoch_key, &payload);
    let keys_held = [[1u8; 32], epoch_key];
    c.bench_function("build GREEN 4 KiB advisory (encrypt + 2 signatures)", |b| {
        b.iter(|| green_envelope(&k, &epoch_key, black_box(&payload)))
    });
    c.bench_function("open GREEN 4 KiB advisory (decrypt + inner verify)", |b| {
        b.iter(|| env.open(None, black_box(&keys_held)).expect("open"))
    });
    c.bench_function("validate received GREEN 4 KiB (decode_verified + open)", |b| {
        b.iter(|| {
            let e = Envelope::decode_verified(black_box(&env.bytes)).expect("valid");
            e.open(None, &keys_held).expect("open")
        })
    });
}

fn rekey(c: &mut Criterion) {
    let admin = keys(4);
    let group = GroupId([5; 32]);
    let to = recipients(1000);
    let key = [10u8; 32];
    let new_key = seal_epoch_key(&group, &key, &to, [6; 32]).0;
    let payload = Payload::GroupOp(GroupOp { parents: vec![ItemId([1; 32])], action: OpAction::Rotate { new_key } });
    let env = Envelope::build(
        &admin,
        &PublishRequest {
            group,
            epoch: 1,
            seq: 1,
            timestamp_ms: 1,
            tlp: Tlp::Clear,
            payload: &payload,
            recipients: Recipients::Clear,
        },
        &randomness(1),
    )
    .expect("build Rotate envelope");
    println!("Rotate GroupOp envelope with 1000 shares: {} bytes on the wire", env.bytes.len());
    let mut g = c.benchmark_group("rekey");
    g.sample_size(10);
    g.bench_function("seal_epoch_key 1000 recipients", |b| {
        b.iter(|| seal_epoch_key(&group, black_box(&key), &to, [6; 32]).0)
    });
    g.bench_function("validate Rotate envelope 1000 shares (decode_verified + open)", |b| {
        b.iter(|| {
            let e = Envelope::decode_verified(black_box(&env.bytes)).expect("valid");
            e.open(None, &[]).expect("open")
        })
    });
    g.finish();
}

criterion_group!(benches, signatures, epoch_shares, green_items, rekey);
criterion_main!(benches);
