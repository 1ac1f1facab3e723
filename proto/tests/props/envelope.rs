//! Envelope properties (§3, §5): every single-byte change and every truncation of a valid
//! envelope is refused; a sender who re-signs a changed encrypted envelope still cannot make it
//! open (AAD, commitment, AEAD tag); a member cannot forward another's decrypted item under its
//! own name or into another group (inner signature, §5.4); and decoders never panic on
//! arbitrary or spliced input.

use proptest::prelude::*;
use proptest::sample::Index;
use trellis_proto::envelope::{ENVELOPE_TAG, EnvelopeRandomness, Header};
use trellis_proto::group::{GroupOp, SignedGenesis};
use trellis_proto::invite::Invite;
use trellis_proto::limits::{MAX_ENVELOPE_BYTES, MAX_PAYLOAD_BYTES};
use trellis_proto::*;

use super::strategies::{group_id, payload};

pub fn keys(n: u8) -> OrgKeys {
    OrgKeys::from_seeds([n; 32], [n ^ 0x33; 32])
}

const EPOCH_KEY: [u8; 32] = [0x42; 32];

/// Make a generated payload pass `check_limits` (a title, bounded score and trust level).
fn valid(mut p: Payload) -> Payload {
    match &mut p {
        Payload::Advisory(a) => {
            a.title.push('t');
            if let Some(s) = &mut a.severity {
                s.score_tenths %= 101;
            }
        }
        Payload::Trust(t) => t.level_milli %= 1001,
        Payload::Revision(r) => {
            r.revision = r.revision.max(2);
            r.advisory.title.push('t');
            if let Some(s) = &mut r.advisory.severity {
                s.score_tenths %= 101;
            }
            if let Some(w) = &mut r.withdrawn {
                w.push('w');
            }
        }
        _ => {}
    }
    p
}

/// Which body to build: 0 CLEAR, 1 GREEN, 2 AMBER, 3 AMBER+STRICT, 4 RED (control kinds are
/// always CLEAR, §4.8).
fn build(p: &Payload, label: u8, seq: u64, group: GroupId) -> Envelope {
    let sender = keys(1);
    let me = keys(2);
    let to = [(me.org_id(), me.encryption().public())];
    let (tlp, recipients) = match label % 5 {
        _ if p.kind().is_control() => (Tlp::Clear, Recipients::Clear),
        0 => (Tlp::Clear, Recipients::Clear),
        1 => (Tlp::Green, Recipients::Group { epoch_key: &EPOCH_KEY }),
        2 => (Tlp::Amber, Recipients::Sealed { to: &to }),
        3 => (Tlp::AmberStrict, Recipients::Sealed { to: &to }),
        _ => (Tlp::Red, Recipients::Sealed { to: &to }),
    };
    Envelope::build(
        &sender,
        &PublishRequest { group, epoch: 3, seq, timestamp_ms: 1_700_000_000_000 + seq, tlp, payload: p, recipients },
        &EnvelopeRandomness { nonce: [seq as u8; 24], content_key: [label; 32], hpke_seed: [7; 32] },
    )
    .expect("a valid payload builds")
}

fn envelope() -> impl Strategy<Value = (Payload, Envelope)> {
    (payload(), any::<u8>(), any::<u64>(), group_id()).prop_map(|(p, label, seq, group)| {
        let p = valid(p);
        let env = build(&p, label, seq, group);
        (p, env)
    })
}

fn open(env: &Envelope) -> Result<Payload, ProtoError> {
    env.open(Some(&keys(2)), &[[1; 32], EPOCH_KEY]).map(|o| o.payload)
}

fn resign(signed: &[u8]) -> Vec<u8> {
    let mut b = signed.to_vec();
    b.extend_from_slice(&keys(1).sign(ENVELOPE_TAG, signed));
    b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn valid_envelopes_decode_verify_and_open((p, env) in envelope()) {
        let got = Envelope::decode_verified(&env.bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&got, &env);
        prop_assert_eq!(got.id, ItemId::of_envelope(&env.bytes));
        prop_assert_eq!(open(&got), Ok(p));
    }

    #[test]
    fn any_single_byte_change_is_rejected(
        (_, env) in envelope(),
        changes in proptest::collection::vec((any::<Index>(), 1..=255u8), 16),
    ) {
        for (at, xor) in changes {
            let i = at.index(env.bytes.len());
            let mut m = env.bytes.clone();
            m[i] ^= xor;
            prop_assert!(
                Envelope::decode_verified(&m).is_err(),
                "byte {} of {} ^= {:#04x} accepted", i, m.len(), xor
            );
        }
    }

    #[test]
    fn any_truncation_or_extension_is_rejected(
        (_, env) in envelope(),
        cut in any::<Index>(),
        extra in proptest::collection::vec(any::<u8>(), 1..8),
    ) {
        let cut = cut.index(env.bytes.len());
        prop_assert!(Envelope::decode(&env.bytes[..cut]).is_err(), "cut at {}", cut);
        let mut longer = env.bytes.clone();
        longer.extend_from_slice(&extra);
        prop_assert_eq!(
            Envelope::decode(&longer).map(|_| ()),
            Err(ProtoError::TrailingBytes(extra.len()))
        );
    }

    /// Even the sender, re-signing a changed GREEN or single-recipient sealed envelope, cannot
    /// make it open: the header is the AAD, the nonce is bound by the commitment, the recipient
    /// entry by HPKE, and the ciphertext by the AEAD tag.
    #[test]
    fn resigned_changes_to_encrypted_envelopes_do_not_open(
        (p, env) in envelope(),
        changes in proptest::collection::vec((any::<Index>(), 1..=255u8), 8),
    ) {
        prop_assume!(!matches!(env.body, Body::Clear(_)));
        let signed = env.signed_bytes();
        prop_assert_eq!(open(&Envelope::decode_verified(&resign(signed)).unwrap()), Ok(p));
        for (at, xor) in changes {
            let i = at.index(signed.len());
            let mut m = signed.to_vec();
            m[i] ^= xor;
            if let Ok(e) = Envelope::decode_verified(&resign(&m)) {
                prop_assert!(open(&e).is_err(), "byte {} ^= {:#04x} re-signed still opens", i, xor);
            }
        }
    }

    /// A member holding the epoch key decrypts another member's GREEN item and republishes the
    /// same plaintext under its own name, in another group or at another sequence: the inner
    /// signature, made over the original header, no longer verifies (§5.4).
    #[test]
    fn decrypted_items_cannot_be_forwarded((_, env) in envelope(), other_group in group_id(), seq in any::<u64>()) {
        let Body::Group { nonce, commitment, ciphertext } = &env.body else {
            return Ok(());
        };
        let inner = trellis_proto::crypto::open_body(&EPOCH_KEY, nonce, commitment, env.header_bytes(), ciphertext)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let forger = keys(9);
        for (group, sender, seq) in [
            (env.header.group, forger.org_id(), env.header.seq),
            (other_group, env.header.sender, env.header.seq),
            (env.header.group, env.header.sender, seq.max(env.header.seq + 1)),
        ] {
            let header = Header { group, sender, seq, ..env.header.clone() };
            let header_bytes = codec::encode(&header);
            let body = Body::Group {
                nonce: *nonce,
                commitment: *commitment,
                ciphertext: trellis_proto::crypto::seal_body(&EPOCH_KEY, nonce, &header_bytes, &inner),
            };
            let mut bytes = header_bytes;
            bytes.extend_from_slice(&codec::encode(&body));
            // Signed by whoever the header names, if we hold that key (the forger, or the
            // original sender replaying its own item elsewhere).
            let signer = if sender == forger.org_id() { &forger } else { &keys(1) };
            let sig = signer.sign(ENVELOPE_TAG, &bytes);
            bytes.extend_from_slice(&sig);
            let e = Envelope::decode_verified(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(open(&e), Err(ProtoError::BadSignature));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Envelope::decode(&bytes);
        let _ = Envelope::decode_verified(&bytes);
        // The same bytes behind a valid version byte get past the first check.
        let mut v1 = vec![PROTOCOL_VERSION];
        v1.extend_from_slice(&bytes);
        if let Ok(e) = Envelope::decode(&v1) {
            let _ = e.verify_signature();
            let _ = e.open(Some(&keys(2)), &[EPOCH_KEY]);
        }
        if let Ok(p) = codec::decode::<Payload>(&bytes, MAX_PAYLOAD_BYTES) {
            let _ = p.check_limits();
        }
        let _ = codec::decode::<Header>(&bytes, MAX_ENVELOPE_BYTES);
        let _ = codec::decode::<Body>(&bytes, MAX_ENVELOPE_BYTES);
        let _ = codec::decode::<GroupOp>(&bytes, MAX_ENVELOPE_BYTES);
        if let Ok(g) = codec::decode::<SignedGenesis>(&bytes, MAX_ENVELOPE_BYTES) {
            let _ = g.verify();
        }
        let text = codec::base64url(&bytes);
        let _ = ContactCard::parse(&format!("{}{text}", ContactCard::PREFIX), 0);
        let _ = Invite::parse(&format!("{}{text}", Invite::PREFIX), &keys(2).org_id());
        let _ = OrgId::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn spliced_envelopes_never_panic_and_never_verify(
        (_, env) in envelope(),
        at in any::<Index>(),
        len in 0usize..40,
        with in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let start = at.index(env.bytes.len());
        let end = (start + len).min(env.bytes.len());
        let mut m = env.bytes.clone();
        m.splice(start..end, with.iter().copied());
        if let Ok(e) = Envelope::decode(&m) {
            let _ = open(&e);
        }
        if m != env.bytes {
            prop_assert!(Envelope::decode_verified(&m).is_err());
        }
    }
}
