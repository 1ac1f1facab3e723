//! Fuzz target `envelope_decode`: arbitrary bytes through the receive path of a node —
//! `Envelope::decode`, signature verification, and `open` with a fixed epoch key and a fixed
//! recipient identity — plus `codec::decode::<Payload>` on the same bytes. Nothing may panic,
//! and whatever decodes must be self-consistent (exact bytes kept, payloads round-trip).

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use trellis_proto::limits::MAX_PAYLOAD_BYTES;
use trellis_proto::{Envelope, OrgKeys, Payload, codec};

/// The epoch key the seed corpus's GREEN items are encrypted with (see README.md).
const EPOCH_KEY: [u8; 32] = [7; 32];
/// The identity the seed corpus's AMBER items are sealed to.
static ME: LazyLock<OrgKeys> = LazyLock::new(|| OrgKeys::from_seeds([2; 32], [3; 32]));

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = Envelope::decode(data) {
        assert_eq!(env.bytes, data, "decode must keep the exact bytes");
        assert_eq!(env.signed_bytes().len() + 64, data.len());
        assert!(env.header_bytes().len() < env.signed_bytes().len());
        let verified = env.verify_signature().is_ok();
        if verified {
            let again = Envelope::decode_verified(data).expect("verified once, verifies again");
            assert_eq!(again.id, env.id);
        }
        let _ = env.recipients();
        if let Ok(opened) = env.open(Some(&ME), &[[1; 32], EPOCH_KEY]) {
            assert_eq!(opened.payload.kind(), env.header.kind);
            let bytes = codec::encode(&opened.payload);
            let back: Payload = codec::decode(&bytes, MAX_PAYLOAD_BYTES).expect("round trip");
            assert_eq!(back, opened.payload);
        }
    }
    if let Ok(p) = codec::decode::<Payload>(data, MAX_PAYLOAD_BYTES) {
        let _ = p.check_limits();
        let back: Payload = codec::decode(&codec::encode(&p), MAX_PAYLOAD_BYTES).expect("round trip");
        assert_eq!(back, p);
    }
});
