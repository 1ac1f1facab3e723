//! The byte layout PROTOCOL.md §3 describes, checked byte by byte against what the code writes:
//! postcard varints, enum variant indexes, fixed arrays without a length prefix, the envelope
//! framing `header || body || sig64`, the tagged signature message (§3.3) and the tagged hashes
//! behind item ids (§3.5), group ids and topics (§6.1). If one of these tests fails, either the
//! code or the specification changed the wire format.

use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use trellis_proto::envelope::{ENVELOPE_TAG, EnvelopeRandomness, INNER_TAG};
use trellis_proto::group::{GroupKind, SignedGenesis};
use trellis_proto::items::TrustStatement;
use trellis_proto::*;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn header() -> Header {
    Header {
        version: 1,
        kind: Kind::Advisory,
        group: GroupId([0x11; 32]),
        epoch: 3,
        sender: OrgId([0x22; 32]),
        seq: 300,
        timestamp_ms: 1_700_000_000_000,
        tlp: Tlp::Green,
    }
}

#[test]
fn header_layout() {
    let expected = [
        "01",             // version: u8, one raw byte
        "00",             // kind: variant index 0 (Advisory), varint
        &"11".repeat(32), // group: [u8; 32], no length prefix
        "03",             // epoch: varint
        &"22".repeat(32), // sender
        "ac02",           // seq 300: varint, 7 bits per byte, little end first
        "80d095ffbc31",   // timestamp_ms 1_700_000_000_000
        "01",             // tlp: variant index 1 (Green)
    ]
    .concat();
    assert_eq!(hex(&codec::encode(&header())), expected);
}

#[test]
fn kind_and_tlp_indexes() {
    let kinds: Vec<String> = Kind::ALL.iter().map(|k| hex(&codec::encode(k))).collect();
    assert_eq!(kinds, ["00", "01", "02", "03", "04", "05", "06", "07", "08"]);
    let tlps: Vec<String> = Tlp::ALL.iter().map(|t| hex(&codec::encode(t))).collect();
    assert_eq!(tlps, ["00", "01", "02", "03", "04"]);
}

#[test]
fn body_layouts() {
    assert_eq!(hex(&codec::encode(&Body::Clear(vec![0xaa; 3]))), "0003aaaaaa");
    let group = Body::Group { nonce: [0x33; 24], commitment: [0x44; 32], ciphertext: vec![0x55; 130] };
    let expected = ["01", &"33".repeat(24), &"44".repeat(32), "8201", &"55".repeat(130)].concat();
    assert_eq!(hex(&codec::encode(&group)), expected);
    let sealed = Body::Sealed {
        recipients: vec![trellis_proto::envelope::SealedKey {
            to: OrgId([0x66; 32]),
            enc: [0x77; 32],
            sealed: vec![0x88; 48],
        }],
        nonce: [0x33; 24],
        commitment: [0x44; 32],
        ciphertext: vec![0x55; 2],
    };
    let expected = [
        "02",
        "01", // one recipient
        &"66".repeat(32),
        &"77".repeat(32),
        "30", // 48 sealed bytes
        &"88".repeat(48),
        &"33".repeat(24),
        &"44".repeat(32),
        "02",
        "5555",
    ]
    .concat();
    assert_eq!(hex(&codec::encode(&sealed)), expected);
}

#[test]
fn payload_layout_options_and_u16() {
    let p = Payload::Trust(TrustStatement { subject: OrgId([0x99; 32]), level_milli: 700, comment: None });
    // variant 6, 32 raw bytes, u16 700 as varint bc 05, Option None as 00.
    assert_eq!(hex(&codec::encode(&p)), ["06", &"99".repeat(32), "bc05", "00"].concat());
    let p = Payload::Trust(TrustStatement { subject: OrgId([0x99; 32]), level_milli: 1, comment: Some("é".into()) });
    // Some = 01, then the string: varint length in bytes (2), then UTF-8.
    assert_eq!(hex(&codec::encode(&p)), ["06", &"99".repeat(32), "01", "01", "02", "c3a9"].concat());
}

#[test]
fn envelope_framing_signature_and_id() {
    let keys = OrgKeys::from_seeds([1; 32], [2; 32]);
    let payload = Payload::Trust(TrustStatement { subject: OrgId([0x99; 32]), level_milli: 1, comment: None });
    let env = Envelope::build(
        &keys,
        &PublishRequest {
            group: GroupId([0x11; 32]),
            epoch: 0,
            seq: 1,
            timestamp_ms: 5,
            tlp: Tlp::Clear,
            payload: &payload,
            recipients: Recipients::Clear,
        },
        &EnvelopeRandomness { nonce: [0; 24], content_key: [0; 32], hpke_seed: [0; 32] },
    )
    .unwrap();
    let h = codec::encode(&env.header);
    let b = codec::encode(&env.body);
    assert_eq!(env.bytes.len(), h.len() + b.len() + 64);
    assert_eq!(&env.bytes[..h.len()], &h[..]);
    assert_eq!(&env.bytes[h.len()..h.len() + b.len()], &b[..]);
    assert_eq!(env.header_bytes(), &h[..]);
    // CLEAR body = variant 0, varint length, the encoded payload.
    assert_eq!(b[0], 0);
    assert_eq!(&b[2..], &codec::encode(&payload)[..]);

    // §3.3: ed25519 verify_strict over len(tag) as one byte || tag || header || body.
    let mut message = vec![ENVELOPE_TAG.len() as u8];
    message.extend_from_slice(ENVELOPE_TAG.as_bytes());
    message.extend_from_slice(env.signed_bytes());
    let vk = VerifyingKey::from_bytes(keys.org_id().as_bytes()).unwrap();
    let sig = Signature::from_bytes(env.bytes[env.bytes.len() - 64..].try_into().unwrap());
    vk.verify_strict(&message, &sig).unwrap();
    assert_eq!(ENVELOPE_TAG, "trellis/envelope/v1");
    assert_eq!(INNER_TAG, "trellis/inner/v1");

    // §3.5: item id = SHA-256(u32be(len tag) || tag || u64be(len bytes) || bytes).
    let tag = b"trellis/item/v1";
    let mut hasher = Sha256::new();
    hasher.update((tag.len() as u32).to_be_bytes());
    hasher.update(tag);
    hasher.update((env.bytes.len() as u64).to_be_bytes());
    hasher.update(&env.bytes);
    let want: [u8; 32] = hasher.finalize().into();
    assert_eq!(env.id, ItemId(want));
}

#[test]
fn group_id_and_topic() {
    let founder = OrgKeys::from_seeds([1; 32], [2; 32]);
    let g = SignedGenesis::create(&founder, " water ", GroupKind::Sector, 5, [1; 16], &[3; 32], [4; 32]).unwrap();
    assert_eq!(g.genesis.name, "water");
    let bytes = codec::encode(&g);
    let tag = b"trellis/group/v1";
    let mut hasher = Sha256::new();
    hasher.update((tag.len() as u32).to_be_bytes());
    hasher.update(tag);
    hasher.update((bytes.len() as u64).to_be_bytes());
    hasher.update(&bytes);
    let want: [u8; 32] = hasher.finalize().into();
    assert_eq!(g.group_id(), GroupId(want));
    let topic = g.group_id().topic();
    assert_eq!(topic, format!("trellis/1/g/{}", g.group_id().to_text()));
    assert_eq!(topic.len(), "trellis/1/g/".len() + 52);
    assert!(!topic.contains("water"));
}

#[test]
fn version_byte_is_checked_first() {
    assert_eq!(Envelope::decode(&[2, 0, 0]).map(|_| ()), Err(ProtoError::UnknownVersion(2)));
    assert!(matches!(Envelope::decode(&[]), Err(ProtoError::Decode(_))));
    let big = vec![1u8; trellis_proto::limits::MAX_ENVELOPE_BYTES + 1];
    assert!(matches!(Envelope::decode(&big), Err(ProtoError::Oversize { .. })));
}

#[test]
fn non_minimal_varints_are_accepted_by_the_decoder() {
    // postcard 1.x accepts over-long varints (§3.2 says why this is harmless): 0x80 0x00 is 0.
    let mut bytes = codec::encode(&header());
    // epoch (3) sits after version, kind and the 32-byte group: re-encode it as 0x83 0x00.
    let at = 1 + 1 + 32;
    assert_eq!(bytes[at], 0x03);
    bytes.splice(at..at + 1, [0x83, 0x00]);
    let back: Header = codec::decode(&bytes, 1000).unwrap();
    assert_eq!(back, header());
    assert_ne!(codec::encode(&back), bytes);
}
